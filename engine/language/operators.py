"""Comparison operators of the rule language: one registry entry each, read by the loader (which
operands are allowed), the compiler (durable-rules JSON), why-not (Python evaluation) and docs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Json = Any


@dataclass(frozen=True)
class Operator:
    """A comparison: how to evaluate it in Python, compile it, negate it, and what operand it takes."""

    name: str
    text: str                   # how explanations write it: "gpu_count > 1"
    operand: str                # "scalar", "number", "list", "pair", "bool"
    negation: str
    evaluate: Callable[[Any, Any], bool]
    compile: Callable[[str, Json], Json]


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        if actual is None or expected is None:
            return False
        if _num(actual) != _num(expected):
            return False
        return fn(actual, expected)
    return check


def _contains(actual: Any, expected: Any) -> bool:
    return isinstance(actual, list) and expected in actual


def _in(actual: Any, expected: Any) -> bool:
    return actual is not None and actual in expected


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("eq", "==", "scalar", "ne", lambda a, b: a is not None and a == b,
                 lambda k, v: {k: v}),
        Operator("ne", "!=", "scalar", "eq", lambda a, b: a is not None and a != b,
                 lambda k, v: {"$neq": {k: v}}),
        Operator("gt", ">", "number", "lte", _cmp(lambda a, b: a > b), lambda k, v: {"$gt": {k: v}}),
        Operator("gte", ">=", "number", "lt", _cmp(lambda a, b: a >= b), lambda k, v: {"$gte": {k: v}}),
        Operator("lt", "<", "number", "gte", _cmp(lambda a, b: a < b), lambda k, v: {"$lt": {k: v}}),
        Operator("lte", "<=", "number", "gt", _cmp(lambda a, b: a <= b), lambda k, v: {"$lte": {k: v}}),
        Operator("in", "in", "list", "not_in", _in,
                 lambda k, v: {"$or": [{k: item} for item in v]} if len(v) > 1 else {k: v[0]}),
        Operator("not_in", "not in", "list", "in", lambda a, b: a is not None and a not in b,
                 lambda k, v: {"$and": [{"$neq": {k: item}} for item in v]} if len(v) > 1
                 else {"$neq": {k: v[0]}}),
        Operator("contains", "contains", "scalar", "lacks", _contains,
                 lambda k, v: {"$iany": {k: {"$i": v}}}),
        Operator("lacks", "lacks", "scalar", "contains", lambda a, b: isinstance(a, list) and b not in a,
                 lambda k, v: {"$iall": {k: {"$neq": {"$i": v}}}}),
        Operator("exists", "is given", "bool", "exists", lambda a, b: (a is not None) == bool(b),
                 lambda k, v: {"$ex": {k: 1}} if v else {"$nex": {k: 1}}),
    )
}

COMBINATORS = ("all", "any", "not")


def comparison_holds(op: str, actual: Any, expected: Any, *, negate: bool = False) -> bool:
    """Whether ``actual <op> expected`` holds; under ``not`` it is the logical negation, so a test on a
    fact that was not given fails and its negation holds (the compiler encodes the same)."""
    result = OPERATORS[op].evaluate(actual, expected)
    return not result if negate else result
