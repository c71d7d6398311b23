"""Every YAML scenario in rules/tests/ passes against the shipped rules, and coverage stays high."""

from __future__ import annotations

import pytest

from engine.ir import RuleBase
from engine.loader import load_rules
from engine.scenarios import ScenarioResult, coverage, load_scenarios, run_all

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
