"""What one rule may cost durable-rules' C core, measured on the IR (the loader reports a rule past a limit
with its location). The sizes are those of the rule's compiled patterns (engine/runtime/compiler.py builds
them; tests/test_limits.py checks that the two agree on every rule).

Issue 17 measured on durable-rules 2.0.28: an `any` of 61 comparisons, 256 branches, nesting 20 deep, an `in`
of 512 values crashed or hung the C core, as did one rule expanding into tens of thousands of variants. The
limits keep well inside them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.language.ir import Comparison, Condition, FactRef, Rule
from engine.language.operators import OPERATORS

MAX_TERMS_PER_PATTERN = 40     # comparisons in one pattern after `in`/`not_in` lists are expanded
MAX_NESTING = 8                # nested all/any/not levels in one pattern
MAX_VARIANTS = 32              # compiled copies of a rule (contains/lacks {fact: x} expands per enum value)


@dataclass(frozen=True)
class RuleCost:
    """How big a rule is once compiled: its variants, and the largest and deepest pattern."""

    variants: int
    terms: int
    depth: int

    def problems(self) -> list[str]:
        """What exceeds the C core's safe limits, said with the number and what to do."""
        out = []
        if self.variants > MAX_VARIANTS:
            out.append(f"it compiles into {self.variants} copies (contains/lacks with {{fact: ...}} repeat it per "
                       f"value); at most {MAX_VARIANTS} are safe: compare with literal values or split the rule")
        if self.terms > MAX_TERMS_PER_PATTERN:
            out.append(f"one of its conditions compiles into {self.terms} comparisons (every item of an in/not_in "
                       f"list counts); durable-rules crashes or hangs past about 60, so at most "
                       f"{MAX_TERMS_PER_PATTERN} are allowed: use between/gte/lte for ranges or split the rule")
        if self.depth > MAX_NESTING:
            out.append(f"its conditions nest {self.depth} levels deep; at most {MAX_NESTING} are allowed "
                       f"(durable-rules crashed at 20): flatten the all/any/not groups")
        return out


def list_refs(cond: Condition | None) -> list[str]:
    """Facts a rule's ``where`` tests list membership against (``contains/lacks {fact: x}``): the compiler
    repeats the rule once per enum value of each."""
    if cond is None:
        return []
    if isinstance(cond, Comparison):
        return [cond.value.fact] if cond.op in ("contains", "lacks") and isinstance(cond.value, FactRef) else []
    return [fact for item in cond.items for fact in list_refs(item)]


def rule_cost(rule: Rule, facts: Mapping[str, Any]) -> RuleCost:
    """The compiled size of a rule (``facts``: the fact specs, for the per-value expansion)."""
    count = 1
    for fact in sorted(set(list_refs(rule.where))):
        spec = facts.get(fact)
        count *= max(1, len(spec.values)) if spec is not None else 1
        if count > MAX_VARIANTS:
            return RuleCost(count, 0, 0)   # not compiled at all: too big already
    patterns = [[rule.when] if rule.when is not None else []]
    patterns += [[c for c in rule.plan if c.subject == axis] for axis in rule.plan_axes]
    if rule.join is not None:
        patterns.append([rule.where] if rule.where is not None else [])
    terms, depth = 0, 0
    for conditions in patterns:      # each pattern: its kind test and its conditions, in one $and when several
        sizes = [_size(c, negate=False, depth=1 if conditions else 0) for c in conditions]
        terms = max(terms, 1 + sum(n for n, _ in sizes))
        depth = max(depth, 1 if conditions else 0, *(d for _, d in sizes))
    return RuleCost(count, terms, depth)


def tree_size(term: Any, depth: int) -> tuple[int, int]:
    """Comparisons and depth of a compiled term (``$and``/``$or`` nodes nest)."""
    if isinstance(term, dict) and any(k in ("$and", "$or") for k in term):
        total, deepest = 0, depth
        for key, items in term.items():
            if key in ("$and", "$or"):
                for item in items:
                    n, d = tree_size(item, depth + 1)
                    total, deepest = total + n, max(deepest, d)
        return total, deepest
    return 1, depth


def _size(cond: Condition, *, negate: bool, depth: int) -> tuple[int, int]:
    """Comparisons and depth ``cond`` compiles into at ``depth`` (negation pushed to the leaves)."""
    if isinstance(cond, Comparison):
        op = OPERATORS[OPERATORS[cond.op].negation] if negate else OPERATORS[cond.op]
        value = not cond.value if negate and cond.op == "exists" else cond.value
        operand = {"x": value.fact} if isinstance(value, FactRef) else value
        if negate and cond.op != "exists":   # compiled as {$or: [{$nex: key}, comparison]}
            n, d = tree_size(op.compile(cond.subject, operand), depth + 1)
            return 1 + n, max(depth + 1, d)
        return tree_size(op.compile(cond.subject, operand), depth)
    if cond.kind == "not":
        return _size(cond.items[0], negate=not negate, depth=depth)
    if len(cond.items) == 1:
        return _size(cond.items[0], negate=negate, depth=depth)
    sizes = [_size(item, negate=negate, depth=depth + 1) for item in cond.items]
    return sum(n for n, _ in sizes), max([depth, *(d for _, d in sizes)])   # `where: {}` is a group of none
