"""Every YAML scenario in rules/tests/ passes against the shipped rules, and coverage stays high."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.errors import RuleFileError
from engine.language.ir import RuleBase
from engine.language.loader import PROJECT_ROOT, load_rules
from engine.language.yamlsource import Document
from engine.tools.scenarios import ScenarioResult, coverage, load_scenarios, profile_path, run_all

_RESULTS: list[ScenarioResult] = []


def _results(rulebase: RuleBase) -> list[ScenarioResult]:
    if not _RESULTS:
        _RESULTS.extend(run_all(rulebase))
    return _RESULTS


def _names() -> list[str]:
    from pathlib import Path
    rb = load_rules()
    return [str(s["name"]) for _, _, s in load_scenarios(Path(f) for f in rb.scenario_files)]


@pytest.mark.parametrize("name", _names())
def test_scenario(rulebase: RuleBase, name: str) -> None:
    (result,) = [r for r in _results(rulebase) if r.name == name]
    assert result.failures == [], f"{result.location}: {name}"


def test_shipped_rules_reach_90_percent_coverage(rulebase: RuleBase) -> None:
    cov = coverage(rulebase, _results(rulebase))
    assert cov.meets(90), f"{cov.fired}/{cov.defined} rules fired; never: {[r for _, r in cov.never_fired]}"


# -- issue 17, high 5: a scenario's profile is read only from inside the project -------------------------

@pytest.mark.parametrize("profile, message", [
    ("/etc/shadow", "give the path relative to the project"),
    ("../../../../../../etc/passwd", "is outside the project"),
    ("facts/../../../../../../etc/hostname", "is outside the project"),
    ("facts/profiles/missing.yaml", "is not a YAML file in the project"),
    ("README.md", "is not a YAML file in the project"),
    ("facts/" + "p" * 300 + ".yaml", "is not usable"),
])
def test_a_profile_outside_the_project_is_refused_at_its_key_and_never_read(tmp_path: Path, profile: str,
                                                                           message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("scenarios:\n  - name: leak\n    profile: " + json.dumps(profile) +
                    "\n    expect: {tool: unsloth}\n", encoding="utf-8")
    with pytest.raises(RuleFileError) as info:
        load_scenarios([path])
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (3, 5) and message in problem.message
    assert "root:" not in problem.message   # nothing of the file is quoted


def test_a_fifo_or_a_link_out_as_profile_is_refused_without_blocking(tmp_path: Path) -> None:
    inside = PROJECT_ROOT / "facts" / "profiles"
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    link = inside / "zz-test-link-out.yaml"
    secret = tmp_path / "secret.yaml"
    secret.write_text("model: llama-3.1-8b\n")
    link.symlink_to(secret)
    try:
        path = tmp_path / "s.yaml"
        path.write_text("scenarios:\n  - name: link\n    profile: facts/profiles/zz-test-link-out.yaml\n"
                        "    expect: {tool: unsloth}\n", encoding="utf-8")
        with pytest.raises(RuleFileError) as info:
            load_scenarios([path])
        assert "is outside the project" in info.value.problems[0].message
    finally:
        link.unlink()
    doc = Document(str(tmp_path / "s.yaml"), {"scenarios": []}, {})
    _, problems = profile_path(doc, 0, {"profile": os.path.relpath(fifo, PROJECT_ROOT)})
    assert problems   # outside the project, and never opened (opening a FIFO would block)


def test_an_expected_warning_that_nothing_can_raise_is_named_so(rulebase: RuleBase, tmp_path: Path) -> None:
    """A misspelt warning id in `expect: warnings` cannot pass by accident as "not raised": engine warnings come
    from their registry (engine/explain/advisories.py), rule warnings from the rules' `warn:` actions."""
    from engine.pipeline import Engine
    from engine.tools.scenarios import run_scenario

    path = tmp_path / "s.yaml"
    path.write_text("scenarios:\n  - name: misspelt\n    constraints: {model: llama-3.1-8b, train_hours: 20, budget_usd: 1}\n"
                    "    expect: {warnings: [over-budget-plna, warn-over-budget]}\n", encoding="utf-8")
    ((doc, index, scenario),) = load_scenarios([path])
    result = run_scenario(Engine.for_rules(), doc, index, scenario)
    assert result.failures == ["warnings: 'over-budget-plna' is no warning of the engine or the rules "
                               "(did you mean 'over-budget-plan'?)"]
