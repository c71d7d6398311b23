"""YAML scenario tests for rule bases: constraints → expected choices, fired / not-fired rules and
warnings; with rule coverage (rules fired ÷ rules defined, per file)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConstraintError, Problem, RuleFileError
from engine.explain.advisories import ENGINE_WARNINGS
from engine.inputs.profiles import read_profile
from engine.language.ir import RuleBase
from engine.language.loader import PROJECT_ROOT
from engine.language.schema import check_shape
from engine.language.suggest import did_you_mean
from engine.language.yamlsource import Document, iter_yaml_files, read_yaml
from engine.pipeline import Engine
from engine.render.views import Report as Recommendation

_CHOICES = ("tool", "method", "gpu", "sharding", "platform", "tier", "workflow", "export", "serve", "merge")


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


def profile_path(doc: Document, index: int, scenario: Mapping[str, Any]) -> tuple[Path | None, list[Problem]]:
    """The file a scenario's ``profile:`` names, relative to the project (as `facts/profiles/x.yaml`); a
    path that leads outside the project (absolute, ``..``, a link out), or to anything but a YAML file,
    is a problem at the scenario's ``profile`` key and is never opened."""
    if "profile" not in scenario:
        return None, []
    where = ("scenarios", index, "profile")
    raw = str(scenario["profile"])
    candidate = Path(raw)
    if candidate.is_absolute() or raw.startswith(("/", "\\")) or "\x00" in raw or len(raw) > 1000:
        return None, [doc.problem(where, f"profile {raw[:80]!r}: give the path relative to the project "
                                         "(e.g. facts/profiles/beginner.yaml)")]
    try:
        target = (PROJECT_ROOT / candidate).resolve()
        inside = target.is_relative_to(PROJECT_ROOT)
        regular = inside and target.suffix in (".yaml", ".yml") and target.is_file()
    except OSError as exc:
        return None, [doc.problem(where, f"profile {raw[:80]!r} is not usable: {exc.strerror or exc}")]
    if not inside:
        return None, [doc.problem(where, f"profile {raw[:80]!r} is outside the project; profiles are read only "
                                         f"from inside {PROJECT_ROOT.name}/ (e.g. facts/profiles/)")]
    if not regular:
        return None, [doc.problem(where, f"profile {raw[:80]!r} is not a YAML file in the project")]
    return target, []


def scenario_constraints(doc: Document, index: int, scenario: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                                          list[Problem]]:
    """A scenario's constraints: its profile's, then its own on top; the problems reading the profile."""
    constraints: dict[str, Any] = {}
    path, problems = profile_path(doc, index, scenario)
    if path is not None:
        profile, problems = read_profile(path)
        if profile is not None:
            constraints.update(profile.constraints)
    constraints.update(scenario.get("constraints", {}))
    return constraints, problems


def load_scenarios(paths: Iterable[Path]) -> list[tuple[Document, int, dict[str, Any]]]:
    """Every scenario in the given files or folders; RuleFileError lists all problems (a profile path
    that leads outside the project among them)."""
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
            for i, scenario in enumerate(doc.data["scenarios"]):
                problems.extend(profile_path(doc, i, scenario)[1])
                out.append((doc, i, scenario))
    if problems:
        raise RuleFileError(problems)
    return out


def run_scenario(engine: Engine, doc: Document, index: int, scenario: dict[str, Any]) -> ScenarioResult:
    """Evaluate one scenario and compare it with its expectations."""
    line, col = doc.where(("scenarios", index))
    where = f"{doc.file}:{line}:{col}"
    name = str(scenario["name"])
    constraints, problems = scenario_constraints(doc, index, scenario)
    if problems:
        return ScenarioResult(name, where, [str(p) for p in problems])
    try:
        rec = engine.recommend(constraints)
    except ConstraintError as exc:
        return ScenarioResult(name, where, [str(exc)])
    data = rec.to_dict()
    fired = {step.rule.id for step in rec.trace}
    failures = [failure for key, value in scenario["expect"].items()
                for failure in _EXPECTATIONS[key](rec, data, fired, key, value)]
    return ScenarioResult(name, where, failures, fired)


Check = Callable[[Recommendation, dict[str, Any], set[str], str, Any], list[str]]


def _choice(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    return [] if rec.choice(key) == value else [f"{key}: expected {value}, got {rec.choice(key)}"]


def _platform_in(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = rec.choice("platform")
    return [] if got in value else [f"platform: expected one of {', '.join(value)}, got {got}"]


def _gpu_count(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = data["hardware"]["count"]
    return [] if got == value else [f"gpu_count: expected {value}, got {got}"]


def _excluded(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    out = []
    for decision, ids in value.items():
        excluded = {o.id for o in rec.decisions[decision].excluded()} if decision in rec.decisions else set()
        out += [f"excluded: expected {decision} '{option}' to be excluded" for option in ids if option not in excluded]
    return out


def _fired(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    return [f"fired: rule '{rule_id}' did not fire" for rule_id in value if rule_id not in fired]


def _not_fired(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    return [f"not_fired: rule '{rule_id}' fired" for rule_id in value if rule_id in fired]


def _warnings(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    warned = {w["id"] for w in data["warnings"]}
    known = set(ENGINE_WARNINGS) | {a.warning for r in rec.rulebase.rules() for a in r.actions if a.kind == "warn"}
    return [f"warnings: '{w}' is no warning of the engine or the rules{did_you_mean(w, known)}" if w not in known
            else f"warnings: expected '{w}', got {', '.join(sorted(warned)) or 'none'}"
            for w in value if w not in warned]


def _within_budget(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = data["cost"].get("within_budget")
    return [] if got == value else [f"within_budget: expected {value}, got {got}"]


def _per_gpu_max(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = data.get("memory", {}).get("per_gpu_gib")
    return [] if got is not None and got <= value else [f"per_gpu_gib: expected at most {value}, got {got}"]


def _platform_not_in(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = rec.choice("platform")
    return [] if got not in value else [f"platform: expected none of {', '.join(value)}, got {got}"]


def _checkpointing(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = rec.plan.setup.gradient_checkpointing if rec.plan else None
    return [] if got == value else [f"gradient_checkpointing: expected {value}, got {got}"]


def _total_max(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = data["cost"].get("total_usd")
    return [] if got is not None and got <= value + 1e-9 else [f"total_usd: expected at most {value}, got {got}"]


def _vram_max(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = data["hardware"].get("vram_gib")
    return [] if got is not None and got <= value else [f"vram_gib: expected at most {value} GiB, got {got}"]


def _blocked(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    got = bool(rec.blocked)
    return [] if got == value else [f"blocked: expected {value}, got {got}"]


def _cheapest(rec: Recommendation, data: dict[str, Any], fired: set[str], key: str, value: Any) -> list[str]:
    """The chosen plan costs no more than the cheapest viable plan of the whole search (total, or per token)."""
    planning, plan = rec.planning, rec.plan
    if planning is None or plan is None or planning.cheapest is None:
        return [] if not value else ["cheapest: no plan was chosen"]
    cheap = planning.cheapest

    def cost(p: Any) -> float:
        return float(p.total_usd if p.total_usd is not None else p.usd_per_mtok)

    is_cheapest = cost(plan) <= cost(cheap) + 0.005
    if is_cheapest == value:
        return []
    return [f"cheapest: expected {value}; the chosen plan costs {cost(plan):.2f}, the cheapest viable plan "
            f"{cost(cheap):.2f}"]


# one check per expectation key (the scenarios schema lists the same keys)
_EXPECTATIONS: dict[str, Check] = {
    **dict.fromkeys(_CHOICES, _choice), "platform_in": _platform_in, "gpu_count": _gpu_count,
    "excluded": _excluded, "fired": _fired, "not_fired": _not_fired, "warnings": _warnings,
    "within_budget": _within_budget, "per_gpu_gib_max": _per_gpu_max, "platform_not_in": _platform_not_in,
    "gradient_checkpointing": _checkpointing, "total_usd_max": _total_max, "vram_gib_max": _vram_max,
    "blocked": _blocked, "cheapest": _cheapest,
}


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
