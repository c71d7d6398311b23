"""A plain-Python baseline for the benchmark: the same choice-stage rules (read from the IR, evaluated
with the operator registry's Python functions, no rules engine) and the same tool tally rules
(exclusions beat requirements beat scores; ties by catalog order). Used to price durable-rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.ir import Comparison, Condition, FactRef, Group, Rule, RuleBase
from engine.operators import OPERATORS

Test = Callable[[Mapping[str, Any], Mapping[str, Any] | None], bool]


def _compile(cond: Condition | None, on_entry: bool) -> Test:  # noqa: PLR0911 - one return per shape
    if cond is None:
        return lambda ctx, entry: True
    if isinstance(cond, Group):
        parts = [_compile(c, on_entry) for c in cond.items]
        if cond.kind == "all":
            return lambda ctx, entry: all(p(ctx, entry) for p in parts)
        if cond.kind == "any":
            return lambda ctx, entry: any(p(ctx, entry) for p in parts)
        inner = parts[0]
        return lambda ctx, entry: not inner(ctx, entry)
    assert isinstance(cond, Comparison)
    evaluate = OPERATORS[cond.op].evaluate
    subject, value = cond.subject, cond.value
    if on_entry:
        if isinstance(value, FactRef):
            ref = value.fact
            return lambda ctx, entry: evaluate(entry.get(subject) if entry else None, ctx.get(ref))
        return lambda ctx, entry: evaluate(entry.get(subject) if entry else None, value)
    return lambda ctx, entry: evaluate(ctx.get(subject), value)


class PlainToolChooser:
    """Chooses the tool from the choice-stage facts, in plain Python."""

    def __init__(self, rulebase: RuleBase) -> None:
        tools = rulebase.catalogs["tools"]
        self.tool_ids = list(tools.ids())
        self.entries = {e.id: {"id": e.id, **e.attrs} for e in tools.entries}
        self.rules: list[tuple[Rule, Test, Test | None]] = []
        for rule in rulebase.rules_in_stage("choice"):
            if any(a.decision == "tool" for a in rule.actions):
                where = _compile(rule.where, True) if rule.join else None
                self.rules.append((rule, _compile(rule.when, False), where))

    def choose(self, ctx: Mapping[str, Any]) -> str | None:
        """The tool id, or None when every tool is excluded."""
        score = dict.fromkeys(self.tool_ids, 0.0)
        excluded: set[str] = set()
        required: list[str] = []
        for rule, when, where in self.rules:
            if not when(ctx, None):
                continue
            targets: list[str | None] = (
                [t for t in self.tool_ids if where(ctx, self.entries[t])] if where is not None else [None])
            for target in targets:
                for action in rule.actions:
                    if action.decision != "tool":
                        continue
                    option = action.option if action.option is not None else target
                    if option not in score:
                        continue
                    if action.kind == "exclude":
                        excluded.add(option)
                    elif action.kind == "require":
                        required.append(option)
                    elif action.kind == "score":
                        score[option] += action.points
        for option in required:
            excluded.update(t for t in self.tool_ids if t != option)
        pinned = ctx.get("tool")
        if pinned:
            return str(pinned)
        live = [t for t in self.tool_ids if t not in excluded]
        if not live:
            return None
        return min(live, key=lambda t: (-score[t], self.tool_ids.index(t)))
