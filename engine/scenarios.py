"""YAML scenario tests for rule bases: constraints → expected choices, fired / not-fired rules and
warnings; with rule coverage (rules fired ÷ rules defined, per file)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConstraintError, Problem, RuleFileError
from engine.ir import RuleBase
from engine.loader import PROJECT_ROOT
from engine.pipeline import Engine
from engine.schema import check_shape
from engine.yamlsource import Document, iter_yaml_files, read_yaml

_CHOICES = ("tool", "method", "gpu", "platform", "workflow", "export", "serve", "merge")


@dataclass
class ScenarioResult:
    """One scenario's outcome: its failures (empty when it passed) and the rules it fired."""

    name: str
    location: str
    failures: list[str]
    fired: set[str] = field(default_factory=set)

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


@dataclass
class Coverage:
    """Rules fired by at least one scenario, per rule-set file."""

    per_file: dict[str, tuple[int, int]]          # file -> (fired, defined)
    never_fired: list[tuple[str, str]]            # (file:line, rule id)

    @property
    def fired(self) -> int:
        """Rules fired by some scenario."""
        return sum(f for f, _ in self.per_file.values())

    @property
    def defined(self) -> int:
        """Rules defined."""
        return sum(d for _, d in self.per_file.values())

    def meets(self, min_percent: float) -> bool:
        """fired / defined ≥ min_percent / 100, compared exactly (no rounding)."""
        return self.fired * 100 >= min_percent * self.defined


def load_scenarios(paths: Iterable[Path]) -> list[tuple[Document, int, dict[str, Any]]]:
    """Every scenario in the given files or folders; RuleFileError lists all problems."""
    problems: list[Problem] = []
    out: list[tuple[Document, int, dict[str, Any]]] = []
    for path in iter_yaml_files(list(paths)):
        doc, found = read_yaml(path)
        problems.extend(found)
        if doc is None:
            continue
        shape = check_shape(doc, "scenarios")
        problems.extend(shape)
        if not shape:
            out.extend((doc, i, s) for i, s in enumerate(doc.data["scenarios"]))
    if problems:
        raise RuleFileError(problems)
    return out


def run_scenario(engine: Engine, doc: Document, index: int, scenario: dict[str, Any]) -> ScenarioResult:
    """Evaluate one scenario and compare it with its expectations."""
    line, col = doc.where(("scenarios", index))
    where = f"{doc.file}:{line}:{col}"
    name = str(scenario["name"])
    constraints: dict[str, Any] = {}
    if "profile" in scenario:
        profile_doc, problems = read_yaml(PROJECT_ROOT / str(scenario["profile"]))
        if profile_doc is None:
            return ScenarioResult(name, where, [str(p) for p in problems])
        data = profile_doc.data
        constraints.update(data.get("constraints", data) if isinstance(data, dict) else {})
    constraints.update(scenario.get("constraints", {}))
    try:
        rec = engine.recommend(constraints)
    except ConstraintError as exc:
        return ScenarioResult(name, where, [str(exc)])
    data = rec.to_dict()
    fired = {step.rule.id for step in rec.trace}
    failures: list[str] = []
    expect = scenario["expect"]
    for key in _CHOICES:
        if key in expect and rec.choice(key) != expect[key]:
            failures.append(f"{key}: expected {expect[key]}, got {rec.choice(key)}")
    if "platform_in" in expect and rec.choice("platform") not in expect["platform_in"]:
        failures.append(f"platform: expected one of {', '.join(expect['platform_in'])}, got {rec.choice('platform')}")
    if "gpu_count" in expect and data["hardware"]["count"] != expect["gpu_count"]:
        failures.append(f"gpu_count: expected {expect['gpu_count']}, got {data['hardware']['count']}")
    for decision, ids in expect.get("excluded", {}).items():
        excluded = {o.id for o in rec.decisions[decision].excluded()} if decision in rec.decisions else set()
        for option in ids:
            if option not in excluded:
                failures.append(f"excluded: expected {decision} '{option}' to be excluded")
    for rule_id in expect.get("fired", []):
        if rule_id not in fired:
            failures.append(f"fired: rule '{rule_id}' did not fire")
    for rule_id in expect.get("not_fired", []):
        if rule_id in fired:
            failures.append(f"not_fired: rule '{rule_id}' fired")
    warned = {w["id"] for w in data["warnings"]}
    for warning in expect.get("warnings", []):
        if warning not in warned:
            failures.append(f"warnings: expected '{warning}', got {', '.join(sorted(warned)) or 'none'}")
    if "within_budget" in expect and data["cost"].get("within_budget") != expect["within_budget"]:
        failures.append(f"within_budget: expected {expect['within_budget']}, got {data['cost'].get('within_budget')}")
    if "per_gpu_gib_max" in expect:
        per_gpu = data.get("memory", {}).get("per_gpu_gib")
        if per_gpu is None or per_gpu > expect["per_gpu_gib_max"]:
            failures.append(f"per_gpu_gib: expected at most {expect['per_gpu_gib_max']}, got {per_gpu}")
    return ScenarioResult(name, where, failures, fired)


def run_all(rulebase: RuleBase, paths: Iterable[Path] | None = None) -> list[ScenarioResult]:
    """Run the scenarios in ``paths`` (default: the rule base's tests/) against ``rulebase``."""
    engine = Engine.for_rules(rulebase.root)
    files = [Path(p) for p in paths] if paths else [Path(f) for f in rulebase.scenario_files]
    return [run_scenario(engine, doc, i, s) for doc, i, s in load_scenarios(files)]


def coverage(rulebase: RuleBase, results: Iterable[ScenarioResult]) -> Coverage:
    """Which rules the scenarios fired, per rule-set file."""
    fired = set().union(*(r.fired for r in results))
    per_file: dict[str, tuple[int, int]] = {}
    never: list[tuple[str, str]] = []
    for ruleset in rulebase.rulesets:
        ids = [r.id for r in ruleset.rules]
        per_file[ruleset.file] = (sum(1 for i in ids if i in fired), len(ids))
        never.extend((f"{r.loc.file}:{r.loc.line}", r.id) for r in ruleset.rules if r.id not in fired)
    return Coverage(per_file, never)
