"""Impact of a rule change: replay scenarios and a built-in grid of constraints through two rule bases
and list every recommendation that changed, with the rules responsible.

A rule is responsible for a change when it fired under one rule base and not the other, or when it
fired and its definition differs between the two. Both engines live in one process (the runtime
registers versioned ruleset names). Renderers are pure functions of the ``DiffReport``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.decide.tally import format_value
from engine.errors import ConstraintError, Problem, RuleFileError
from engine.language.ir import Location, Rule, RuleBase
from engine.language.loader import load_rules
from engine.pipeline import Engine
from engine.render.views import Report as Recommendation
from engine.tools.scenarios import load_scenarios, scenario_constraints

CHOICES = ("tool", "method", "gpu", "platform", "workflow", "export", "serve", "merge")
COMPARED = (*CHOICES, "gpu_count", "total_usd", "warnings")

# The built-in grid: every model × method × GPU count, crossed with one situation each (~200 combinations).
GRID_MODELS = ("llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b")
GRID_METHODS = ("auto", "lora", "qlora", "full")
GRID_GPU_COUNTS = (None, 2)
GRID_SITUATIONS: tuple[dict[str, Any], ...] = (
    {},
    {"experience": "beginner", "budget_usd": 20},
    {"experience": "advanced", "priority": "research", "budget_usd": 1000},
    {"priority": "speed", "deploy": "gguf"},
    {"priority": "memory", "interface": "yaml"},
    {"priority": "reproducibility", "team": True, "deploy": "vllm"},
    {"alignment": "dpo"},
    {"alignment": "rlhf", "deploy": "lorax"},
    {"compliance": True},
    {"preemptible_ok": True, "priority": "cost", "merge_adapters": True},
    {"serverless": True, "new_model": True, "interface": "web"},
)


@dataclass(frozen=True)
class Case:
    """One constraint set to replay: where it came from and the constraints."""

    label: str
    constraints: Mapping[str, Any]


@dataclass(frozen=True)
class Change:
    """A recommendation that differs: the fields that changed (old, new) and the rules responsible."""

    case: Case
    fields: Mapping[str, tuple[Any, Any]]
    fired_only_old: tuple[str, ...]
    fired_only_new: tuple[str, ...]
    changed_rules: tuple[str, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        """Every rule responsible, sorted."""
        return tuple(sorted({*self.fired_only_old, *self.fired_only_new, *self.changed_rules}))


@dataclass
class DiffReport:
    """The outcome of replaying ``compared`` cases through two rule bases."""

    old: str
    new: str
    compared: int
    changes: list[Change] = field(default_factory=list)
    rules_added: tuple[str, ...] = ()
    rules_removed: tuple[str, ...] = ()
    rules_modified: tuple[str, ...] = ()
    entries_modified: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        """Whether no recommendation changed."""
        return not self.changes


def built_in_grid() -> list[Case]:
    """The fixed grid every diff replays (3 models × 4 methods × 2 GPU counts × 11 situations)."""
    cases = []
    for model, method, count, situation in itertools.product(
        GRID_MODELS, GRID_METHODS, GRID_GPU_COUNTS, GRID_SITUATIONS
    ):
        constraints: dict[str, Any] = {"model": model, "method": method, "train_hours": 3, **situation}
        if count is not None:
            constraints["gpu_count"] = count
        cases.append(Case("grid", constraints))
    return cases


def scenario_cases(files: Iterable[Path]) -> list[Case]:
    """The constraints of every scenario in ``files`` (profiles merged in), de-duplicated."""
    cases: list[Case] = []
    seen: set[str] = set()
    problems: list[Problem] = []
    for doc, index, scenario in load_scenarios(sorted(set(files))):
        constraints, found = scenario_constraints(doc, index, scenario)
        problems.extend(found)
        key = repr(sorted(constraints.items()))
        if key in seen:
            continue
        seen.add(key)
        line, _ = doc.where(("scenarios", index))
        cases.append(Case(f"{Path(doc.file).name}:{line} {scenario['name']}", constraints))
    if problems:   # a profile that does not read is not "no constraints": it would compare the wrong plans
        raise RuleFileError(problems)
    return cases


def summarize(rec: Recommendation) -> dict[str, Any]:
    """The parts of a recommendation a diff compares."""
    out: dict[str, Any] = {name: rec.choice(name) for name in CHOICES}
    out["gpu_count"] = rec.derived.get("chosen_gpu_count")
    cost = rec.estimates.get("cost")
    total = cost.value.get("total_usd") if cost is not None else None
    out["total_usd"] = round(float(total), 2) if total is not None else None
    out["warnings"] = tuple(sorted({w.id for w in rec.warnings}))
    return out


def _evaluate(engine: Engine, constraints: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    try:
        rec = engine.recommend(constraints)
    except ConstraintError as exc:
        return {"error": str(exc)}, set()
    return summarize(rec), {step.rule.id for step in rec.trace}


def _comparable(rule: Rule) -> Rule:
    """The rule without positions, so moving a rule (or the rules directory) is not a change."""
    return dataclasses.replace(rule, loc=_NOWHERE, when=_strip(rule.when), where=_strip(rule.where),
                               plan=tuple(_strip(c) for c in rule.plan))


_NOWHERE = Location("", 0, 0)


def _strip(cond: Any) -> Any:
    if cond is None:
        return None
    loc = _NOWHERE
    if hasattr(cond, "items"):
        return dataclasses.replace(cond, loc=loc, items=tuple(_strip(i) for i in cond.items))
    return dataclasses.replace(cond, loc=loc)


def rule_changes(old: RuleBase, new: RuleBase) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Rule ids added, removed and modified from ``old`` to ``new``."""
    before = {r.id: _comparable(r) for r in old.rules()}
    after = {r.id: _comparable(r) for r in new.rules()}
    added = tuple(sorted(after.keys() - before.keys()))
    removed = tuple(sorted(before.keys() - after.keys()))
    modified = tuple(sorted(i for i in before.keys() & after.keys() if before[i] != after[i]))
    return added, removed, modified


def entry_changes(old: RuleBase, new: RuleBase) -> tuple[str, ...]:
    """Catalog entries (``catalog/id``) whose attributes or source differ, or that exist on one side only."""
    out: list[str] = []
    for name in sorted(old.catalogs.keys() | new.catalogs.keys()):
        a = {
            e.id: (dict(e.attrs), e.source)
            for e in (old.catalogs[name].entries if name in old.catalogs else ())
        }
        b = {
            e.id: (dict(e.attrs), e.source)
            for e in (new.catalogs[name].entries if name in new.catalogs else ())
        }
        out.extend(f"{name}/{i}" for i in sorted(a.keys() | b.keys()) if a.get(i) != b.get(i))
    return tuple(out)


def diff_rules(
    old_dir: str | Path,
    new_dir: str | Path,
    scenario_files: Sequence[Path] | None = None,
    *,
    grid: bool = True,
) -> DiffReport:
    """Replay scenarios (default: both rule bases' tests/) and the built-in grid through both rule bases."""
    old_rb, new_rb = load_rules(old_dir), load_rules(new_dir)
    old_engine, new_engine = Engine.for_rules(old_dir), Engine.for_rules(new_dir)
    files = (
        list(scenario_files)
        if scenario_files
        else [Path(f) for f in (*old_rb.scenario_files, *new_rb.scenario_files)]
    )
    cases = scenario_cases(files) + (built_in_grid() if grid else [])
    added, removed, modified = rule_changes(old_rb, new_rb)
    report = DiffReport(
        str(old_dir),
        str(new_dir),
        len(cases),
        rules_added=added,
        rules_removed=removed,
        rules_modified=modified,
        entries_modified=entry_changes(old_rb, new_rb),
    )
    for case in cases:
        before, fired_before = _evaluate(old_engine, case.constraints)
        after, fired_after = _evaluate(new_engine, case.constraints)
        if before == after:
            continue
        keys = [k for k in (*COMPARED, "error") if before.get(k) != after.get(k)]
        report.changes.append(
            Change(
                case,
                {k: (before.get(k), after.get(k)) for k in keys},
                tuple(sorted(fired_before - fired_after)),
                tuple(sorted(fired_after - fired_before)),
                tuple(sorted(set(modified) & (fired_before | fired_after))),
            )
        )
    return report


# -- views ----------------------------------------------------------------------------------------------
def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return format_value(value)


def _constraints(constraints: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in sorted(constraints.items()))


def _field_change(name: str, old: Any, new: Any) -> str:
    if name == "warnings":
        gone = sorted(set(old or ()) - set(new or ()))
        came = sorted(set(new or ()) - set(old or ()))
        return "warnings: " + "; ".join(
            ([f"- {', '.join(gone)}"] if gone else []) + ([f"+ {', '.join(came)}"] if came else [])
        )
    return f"{name}: {_value(old)} → {_value(new)}"


def _responsible(change: Change) -> str:
    parts = [f"{r} (fired only before)" for r in change.fired_only_old]
    parts += [f"{r} (fired only after)" for r in change.fired_only_new]
    parts += [
        f"{r} (changed)"
        for r in change.changed_rules
        if r not in change.fired_only_old and r not in change.fired_only_new
    ]
    return ", ".join(parts) or "none fired differently (a catalog or engine change)"


def _header(report: DiffReport) -> list[str]:
    lines = []
    for label, ids in (
        ("rules added", report.rules_added),
        ("rules removed", report.rules_removed),
        ("rules changed", report.rules_modified),
        ("catalog entries changed", report.entries_modified),
    ):
        if ids:
            lines.append(f"{label}: {', '.join(ids)}")
    return lines


def summary_line(report: DiffReport) -> str:
    """``N of M recommendations changed`` or ``no change``."""
    if report.unchanged:
        return f"no change: {report.compared} recommendations compared"
    return f"{len(report.changes)} of {report.compared} recommendations changed"


def render_text(report: DiffReport) -> str:
    """The report for a terminal."""
    lines = [f"diff {report.old} → {report.new}", *_header(report)]
    for i, change in enumerate(report.changes, 1):
        lines.append(f"{i}. [{change.case.label}] {_constraints(change.case.constraints)}")
        lines.extend(f"     {_field_change(k, *v)}" for k, v in change.fields.items())
        lines.append(f"     rules: {_responsible(change)}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def render_markdown(report: DiffReport) -> str:
    """The report for a review (a pull request comment)."""
    lines = [f"## Rule change impact: `{report.old}` → `{report.new}`", "", f"**{summary_line(report)}**", ""]
    lines.extend(f"- {line}" for line in _header(report))
    if report.changes:
        lines += [
            "",
            "| # | case | constraints | what changed | rules responsible |",
            "|---|---|---|---|---|",
        ]
        for i, change in enumerate(report.changes, 1):
            what = "<br>".join(_field_change(k, *v) for k, v in change.fields.items())
            lines.append(
                f"| {i} | {change.case.label} | {_constraints(change.case.constraints)} | {what} | "
                f"{_responsible(change)} |"
            )
    return "\n".join(lines) + "\n"


def render_json(report: DiffReport) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {
        "old": report.old,
        "new": report.new,
        "compared": report.compared,
        "changed": len(report.changes),
        "rules_added": list(report.rules_added),
        "rules_removed": list(report.rules_removed),
        "rules_changed": list(report.rules_modified),
        "entries_changed": list(report.entries_modified),
        "changes": [
            {
                "case": c.case.label,
                "constraints": dict(c.case.constraints),
                "fields": {k: {"old": _jsonable(v[0]), "new": _jsonable(v[1])} for k, v in c.fields.items()},
                "fired_only_old": list(c.fired_only_old),
                "fired_only_new": list(c.fired_only_new),
                "changed_rules": list(c.changed_rules),
            }
            for c in report.changes
        ],
    }


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def diff_outputs(old_dir: str, new_dir: str, scenario_files: list[str] | None, grid: bool,
                 output: str) -> tuple[list[Any], str, str, bool]:
    """`tuneplan diff` as plain data, for a worker process (engine/tools/isolate.py): (problems, the report in
    ``output`` format, the summary line, whether nothing changed). Problems of either rule base come back
    as data (the caller raises them), so that only a crash or a limit is an isolation error."""
    import json

    try:
        report = diff_rules(old_dir, new_dir, [Path(p) for p in scenario_files] if scenario_files else None,
                            grid=grid)
    except RuleFileError as exc:
        return list(exc.problems), "", "", True
    if output == "json":
        text = json.dumps(render_json(report), indent=2, ensure_ascii=False) + "\n"
    elif output == "markdown":
        text = render_markdown(report)
    else:
        text = render_text(report)
    return [], text, summary_line(report), report.unchanged
