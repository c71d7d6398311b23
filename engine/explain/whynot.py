"""Why not: for an option that was not chosen, the rules that would have favoured it and the
conditions they failed, with the actual values (evaluated on the IR by engine/language/conditions.py, the
Python evaluator that agrees with the compiled rules, not by the engine)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.decide.tally import format_value
from engine.language.conditions import holds, subject_value
from engine.language.decisions import DECISIONS
from engine.language.ir import CatalogEntry, Comparison, Condition, FactRef, Rule, RuleBase
from engine.language.operators import OPERATORS


def describe(cond: Comparison) -> str:
    """A comparison as people read it: ``gpu_count > 1``."""
    value = f"{{{cond.value.fact}}}" if isinstance(cond.value, FactRef) else format_value(cond.value)
    return f"{cond.subject} {OPERATORS[cond.op].text} {value}"


def failed(cond: Condition | None, values: Mapping[str, Any]) -> list[str]:
    """The parts of a ``when`` that fail on the facts ``values``, each with the actual value."""
    if cond is None or holds(cond, values):
        return []
    if isinstance(cond, Comparison):
        actual = subject_value(cond, values)
        shown = "not given" if actual is None else format_value(actual)
        return [f"needs {describe(cond)} ({cond.subject} is {shown})"]
    if cond.kind == "all":
        return [text for item in cond.items for text in failed(item, values)]
    if cond.kind == "any":
        return [" or ".join(t for item in cond.items for t in failed(item, values))]
    return ["needs the opposite of: " + "; ".join(_all_comparisons(cond.items[0]))]


def _all_comparisons(cond: Condition) -> list[str]:
    if isinstance(cond, Comparison):
        return [describe(cond)]
    return [text for item in cond.items for text in _all_comparisons(item)]


def missed_rules(rulebase: RuleBase, decision: str, option: str, ctx: Mapping[str, Any],
                 fired: set[tuple[str, str | None]]) -> list[str]:
    """Rules that would have scored or required ``option`` but did not fire, and what they needed."""
    spec = DECISIONS[decision]
    entry = rulebase.catalogs[spec.catalog].by_id(option)
    out: list[str] = []
    for rule in rulebase.rules_in_stage(spec.stage):
        if not _favours(rule, decision, option, entry, ctx):
            continue
        if (rule.id, option) in fired or (rule.id, None) in fired:
            continue
        reasons = failed(rule.when, ctx)
        if reasons:
            out.append(f"rule {rule.id} would favour it but {'; '.join(reasons)}")
    return out


def _favours(rule: Rule, decision: str, option: str, entry: CatalogEntry | None, ctx: Mapping[str, Any]) -> bool:
    for action in rule.actions:
        if action.decision != decision or action.kind not in ("score", "require"):
            continue
        if action.kind == "score" and action.points <= 0:
            continue
        if action.option == option:
            return True
        if action.option is None and entry is not None and rule.join == entry.catalog:
            return holds(rule.where, ctx, entry=entry)
    return False
