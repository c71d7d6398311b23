"""Profiles are read one way (engine/inputs/profiles.py) by recommend, check, diagram, the scenario tests and
diff: a profile that does not read is a located problem everywhere, never an empty set of constraints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import RuleFileError
from engine.inputs.profiles import SHAPE, profile_facts, read_profile
from engine.tools.diff import scenario_cases
from engine.tools.scenarios import load_scenarios, scenario_constraints

ROOT = Path(__file__).resolve().parents[2]


def test_a_profile_reads_with_or_without_constraints_key(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("model: llama-3.1-8b\nmethod: lora\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("constraints: {model: llama-3.1-8b, method: lora}\n", encoding="utf-8")
    assert profile_facts(tmp_path / "a.yaml") == profile_facts(tmp_path / "b.yaml") == \
        {"model": "llama-3.1-8b", "method": "lora"}
    profile, _ = read_profile(tmp_path / "b.yaml")
    assert profile is not None and profile.prefix == ("constraints",)


@pytest.mark.parametrize(("text", "line"), [("- model\n- method\n", 1), ("constraints:\n  - model\n", 1)])
def test_a_profile_that_is_not_a_mapping_is_a_located_problem(tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    profile, problems = read_profile(tmp_path / "p.yaml")
    assert profile is None and [(p.line, p.message) for p in problems] == [(line, SHAPE)]


def test_a_missing_profile_names_its_path(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError) as info:
        profile_facts(tmp_path / "absent.yaml")
    assert all(str(tmp_path / "absent.yaml") in str(p) for p in info.value.problems)


def test_a_scenario_whose_profile_does_not_read_is_a_problem_for_diff_not_no_constraints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.tools.scenarios

    project = tmp_path / "project"
    monkeypatch.setattr(engine.tools.scenarios, "PROJECT_ROOT", project)
    (project / "rules" / "tests").mkdir(parents=True)
    (project / "facts" / "profiles").mkdir(parents=True)
    (project / "facts" / "profiles" / "bad.yaml").write_text("- not a mapping\n", encoding="utf-8")
    scenarios = project / "rules" / "tests" / "s.yaml"
    scenarios.write_text("scenarios:\n  - name: from a bad profile\n    profile: facts/profiles/bad.yaml\n"
                         "    constraints: {method: lora}\n    expect: {method: lora}\n", encoding="utf-8")
    ((doc, index, scenario),) = load_scenarios([scenarios])
    _, problems = scenario_constraints(doc, index, scenario)
    assert [p.message for p in problems] == [SHAPE]
    with pytest.raises(RuleFileError):
        scenario_cases([scenarios])


def test_recommend_with_a_missing_profile_exits_1_with_the_path(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "engine.cli.main", "recommend", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True, check=False, timeout=300, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert str(tmp_path / "nope.yaml") in done.stderr and "Traceback" not in done.stderr
