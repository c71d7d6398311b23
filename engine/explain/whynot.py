"""Why not: for an option that was not chosen, the rules that would have favoured it and the
conditions they failed, with the actual values (evaluated on the IR in Python, not by the engine)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.decide.tally import format_value
from engine.language.decisions import DECISIONS
from engine.language.ir import CatalogEntry, Comparison, Condition, FactRef, Group, Rule, RuleBase
from engine.language.operators import OPERATORS, comparison_holds
from engine.runtime.compiler import ENTRY_KEY


def holds(cond: Condition | None, values: Mapping[str, Any], refs: Mapping[str, Any]) -> bool:
    """Whether a condition holds for ``values`` (facts, or an entry's attributes); refs resolve {fact: x}."""
    if cond is None:
        return True
    if isinstance(cond, Group):
        if cond.kind == "all":
            return all(holds(c, values, refs) for c in cond.items)
        if cond.kind == "any":
            return any(holds(c, values, refs) for c in cond.items)
        return not holds(cond.items[0], values, refs)
    expected = refs.get(cond.value.fact) if isinstance(cond.value, FactRef) else cond.value
    actual = values.get(ENTRY_KEY if cond.subject == "id" and ENTRY_KEY in values else cond.subject)
    return comparison_holds(cond.op, actual, expected)


def describe(cond: Comparison) -> str:
    """A comparison as people read it: ``gpu_count > 1``."""
    value = f"{{{cond.value.fact}}}" if isinstance(cond.value, FactRef) else format_value(cond.value)
    return f"{cond.subject} {OPERATORS[cond.op].text} {value}"


def failed(cond: Condition | None, values: Mapping[str, Any]) -> list[str]:
    """The parts of a condition that fail, each with the actual value."""
    if cond is None or holds(cond, values, values):
        return []
    if isinstance(cond, Comparison):
        actual = values.get(cond.subject)
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


def entry_values(entry: CatalogEntry) -> dict[str, Any]:
    """An entry's attributes as a condition reads them (its id under the compiled entry key)."""
    return {**entry.attrs, ENTRY_KEY: entry.id}


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
            return holds(rule.where, entry_values(entry), ctx)
    return False
