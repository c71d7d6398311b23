"""The one Python evaluator of rule conditions (the IR's Comparison/Group), with the semantics of the compiled
durable-rules patterns (engine/runtime/compiler.py; tests/test_conditions.py checks the two agree):

- a comparison reads its subject from the ctx (``when``), from a catalog entry (``where``; ``id`` is the entry's
  id) or from a plan's values (``plan:``); ``{fact: x}`` operands read fact ``x`` from the ctx;
- a value a condition cannot see is missing: None, and anything other than a scalar or a list of scalars (the
  runtime asserts only those, ``visible``);
- a comparison with a missing subject or a missing ``{fact: x}`` operand fails (``exists: false`` holds), and
  ``not`` is logical negation, so its negation holds;
- a list is tested with contains/lacks; any other comparison of a list fails (``ne`` too);
- values compare only with values of their type: a bool is not 1, "2" is not 2 (numbers compare by value,
  ``1 == 1.0``); durable-rules' C core coerces such mixtures, which the loader and the typed facts keep out of
  ``when`` (tests/test_conditions.py lists where it still differs);
- ``all`` of nothing holds, ``any`` of nothing fails.

Why-not, the reference planner (and through it the benchmark's baseline) and ``tuneplan check`` evaluate
conditions through here; the runtime asserts what ``visible`` lets through."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.language.ir import CatalogEntry, Comparison, Condition, FactRef, Group

_SCALARS = (str, int, float, bool)


def visible(value: Any) -> Any:
    """``value`` as a condition sees it: a scalar, a list of scalars, or None (missing) for anything else.
    The runtime asserts exactly these values (engine/runtime/session.py)."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
        return value
    return None


def subject_value(comparison: Comparison, ctx: Mapping[str, Any], *, entry: CatalogEntry | None = None,
                  plan: Mapping[str, Any] | None = None) -> Any:
    """The value ``comparison`` tests (None when missing): a plan value, an entry attribute or a fact."""
    name = comparison.subject
    if plan is not None:
        return visible(plan.get(name))
    if entry is not None:
        return entry.id if name == "id" else visible(entry.attrs.get(name))
    return visible(ctx.get(name))


def operand_value(comparison: Comparison, ctx: Mapping[str, Any]) -> Any:
    """What ``comparison`` compares with: its literal, or the ctx's value of a ``{fact: x}`` operand."""
    if isinstance(comparison.value, FactRef):
        return visible(ctx.get(comparison.value.fact))
    return comparison.value


def comparison_holds(comparison: Comparison, ctx: Mapping[str, Any], *, entry: CatalogEntry | None = None,
                     plan: Mapping[str, Any] | None = None) -> bool:
    """Whether one comparison holds (see the module's text for missing values)."""
    actual = subject_value(comparison, ctx, entry=entry, plan=plan)
    op = comparison.op
    if op == "exists":
        return (actual is not None) == bool(comparison.value)
    expected = operand_value(comparison, ctx)
    listed = op in ("contains", "lacks")
    # a list is tested with contains/lacks, which test only lists; any other comparison of a list fails, ne too
    if actual is None or expected is None or isinstance(actual, list) != listed:
        return False
    if listed:
        return any(_same(item, expected) for item in actual) == (op == "contains")
    if op in ("eq", "ne"):
        return _same(actual, expected) == (op == "eq")
    if op in ("in", "not_in"):
        inside = isinstance(expected, tuple | list) and any(_same(actual, item) for item in expected)
        return inside == (op == "in")
    return _ordered(op, actual, expected)


_ORDER = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}


def _ordered(op: str, a: Any, b: Any) -> bool:
    """gt/gte/lt/lte: numbers with numbers (not bools), strings with strings; anything else fails."""
    numbers = _number(a) and _number(b)
    if not numbers and not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool(_ORDER[op](a, b))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _same(a: Any, b: Any) -> bool:
    """Equality as the rules mean it: a bool equals only a bool (Python's ``True == 1`` does not carry over),
    a string only a string, numbers compare by value (``1 == 1.0``), lists never equal a scalar."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return False
    return bool(a == b)


def holds(cond: Condition | Sequence[Condition] | None, ctx: Mapping[str, Any], *,
          entry: CatalogEntry | None = None, plan: Mapping[str, Any] | None = None) -> bool:
    """Whether a condition holds: ``when`` on the ctx, ``where`` on ``entry`` (``{fact: x}`` from the ctx),
    a rule's ``plan:`` tests on ``plan`` (a sequence of conditions must all hold; None always holds)."""
    if cond is None:
        return True
    if isinstance(cond, Comparison):
        return comparison_holds(cond, ctx, entry=entry, plan=plan)
    if isinstance(cond, Group):
        if cond.kind == "all":
            return all(holds(item, ctx, entry=entry, plan=plan) for item in cond.items)
        if cond.kind == "any":
            return any(holds(item, ctx, entry=entry, plan=plan) for item in cond.items)
        return not holds(cond.items[0], ctx, entry=entry, plan=plan)
    return all(holds(item, ctx, entry=entry, plan=plan) for item in cond)


@dataclass(frozen=True)
class Failure:
    """A comparison that decided that a condition fails, and the value it read (None: not given).
    ``negated``: the comparison sits under an odd number of ``not`` and failed by holding."""

    comparison: Comparison
    actual: Any
    negated: bool = False


def first_failure(cond: Condition | Sequence[Condition] | None, ctx: Mapping[str, Any], *,
                  entry: CatalogEntry | None = None, plan: Mapping[str, Any] | None = None) -> Failure | None:
    """The first comparison (in written order) that makes ``cond`` fail, with the value it read; None when
    ``cond`` holds (or when only an empty ``any`` fails it). In an ``all`` that is the first failing item's; in
    an ``any``, where every branch failed, the first branch's; under ``not``, the first comparison that held."""
    if holds(cond, ctx, entry=entry, plan=plan):
        return None
    return _blame(cond, ctx, entry, plan, negated=False)


def _blame(cond: Condition | Sequence[Condition] | None, ctx: Mapping[str, Any], entry: CatalogEntry | None,
           plan: Mapping[str, Any] | None, *, negated: bool) -> Failure | None:
    """The first comparison that comes out wrong (false, or true under an odd number of ``not``) in ``cond``,
    which itself comes out wrong. Whatever the group, its first wrong item is to blame: a wrong ``all`` has a
    false item, a wrong ``any`` only false ones, and under ``not`` the reverse."""
    if cond is None:
        return None
    if isinstance(cond, Comparison):
        return Failure(cond, subject_value(cond, ctx, entry=entry, plan=plan), negated)
    if isinstance(cond, Group) and cond.kind == "not":
        return _blame(cond.items[0], ctx, entry, plan, negated=not negated)
    items = cond.items if isinstance(cond, Group) else tuple(cond)
    for item in items:
        if holds(item, ctx, entry=entry, plan=plan) == negated:
            return _blame(item, ctx, entry, plan, negated=negated)
    return None
