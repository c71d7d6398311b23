"""tuneplan diff: identical rule bases report no change; an edited rule shows the changed recommendations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from engine.tools.diff import built_in_grid, diff_rules

ROOT = Path(__file__).resolve().parents[2]


def narrow_speed_rule(rules_dir: Path) -> None:
    """A real edit: tool-speed-single-gpu no longer covers priority = memory."""
    path = rules_dir / "sets" / "tool.yaml"
    text = path.read_text(encoding="utf-8")
    old = "    when: {priority: {in: [speed, memory]}}\n    where: {best_for: {contains: speed}}\n    plan: {gpu_count: 1}"
    assert text.count(old) == 1
    path.write_text(text.replace(old, old.replace("{in: [speed, memory]}", "speed")), encoding="utf-8")


def test_identical_copy_reports_no_change(rules_copy: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = cli("diff", str(ROOT / "rules"), str(rules_copy), "--exit-code")
    assert code == 0
    assert out.splitlines()[0] == f"diff {ROOT / 'rules'} → {rules_copy}"
    assert out.splitlines()[-1].startswith("no change: ")
    assert "rules changed" not in out


def test_edited_rule_shows_the_change_and_the_rule(rules_copy: Path) -> None:
    narrow_speed_rule(rules_copy)
    report = diff_rules(ROOT / "rules", rules_copy)
    assert report.rules_modified == ("tool-speed-single-gpu",)
    assert report.changes
    first = report.changes[0]
    assert first.case.constraints["priority"] == "memory"
    assert first.fields["tool"] == ("unsloth", "axolotl")
    assert "tool-speed-single-gpu" in first.fired_only_old
    assert first.changed_rules == ("tool-speed-single-gpu",)  # the only rule edited (and it fired before)
    assert all("tool-speed-single-gpu" in c.rules for c in report.changes)


def test_text_markdown_and_json_views(rules_copy: Path, cli: Callable[..., tuple[int, str, str]]) -> None:
    narrow_speed_rule(rules_copy)
    code, out, _ = cli("diff", str(ROOT / "rules"), str(rules_copy), "--exit-code")
    assert code == 1
    assert "rules changed: tool-speed-single-gpu" in out
    assert "     tool: unsloth → axolotl" in out
    assert "     rules: tool-speed-single-gpu (fired only before)" in out
    count = len(diff_rules(ROOT / "rules", rules_copy).changes)
    assert out.splitlines()[-1] == f"{count} of {len(built_in_grid()) + _scenarios()} recommendations changed"
    code, md, _ = cli("diff", str(ROOT / "rules"), str(rules_copy), "--format", "markdown")
    assert code == 0
    assert "| # | case | constraints | what changed | rules responsible |" in md
    assert "tool: unsloth → axolotl" in md
    code, data, _ = cli("diff", str(ROOT / "rules"), str(rules_copy), "--format", "json")
    parsed = json.loads(data)
    assert parsed["changed"] == count
    assert parsed["changes"][0]["fields"]["tool"] == {"old": "unsloth", "new": "axolotl"}


def _scenarios() -> int:
    from engine.language.loader import load_rules
    from engine.tools.diff import scenario_cases

    return len(scenario_cases(Path(f) for f in load_rules(ROOT / "rules").scenario_files))


def test_scenarios_option_replays_only_those_with_no_grid(
    rules_copy: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    narrow_speed_rule(rules_copy)
    scenario = rules_copy.parent / "memory.yaml"
    scenario.write_text(
        "description: memory first\nscenarios:\n  - name: memory picks unsloth\n"
        "    constraints: {model: llama-3.1-8b, priority: memory, interface: yaml}\n    expect: {tool: "
        "unsloth}\n",
        encoding="utf-8",
    )
    code, out, _ = cli(
        "diff", str(ROOT / "rules"), str(rules_copy), "--scenarios", str(scenario), "--no-grid"
    )
    assert code == 0
    assert (
        "1. [memory.yaml:3 memory picks unsloth] interface=yaml, model=llama-3.1-8b, priority=memory" in out
    )
    assert out.splitlines()[-1] == "1 of 1 recommendations changed"
