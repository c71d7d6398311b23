"""Comparison operators of the rule language: one registry entry each, read by the loader (which operands are
allowed), the compiler (durable-rules JSON) and the docs. Conditions are evaluated in Python in one place,
engine/language/conditions.py, which tests/language/test_conditions.py checks against durable-rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Json = Any


@dataclass(frozen=True)
class Operator:
    """A comparison: how explanations write it, what operand it takes, its negation, how it compiles."""

    name: str
    text: str                   # how explanations write it: "gpu_count > 1"
    operand: str                # "scalar", "number", "list", "pair", "bool"
    negation: str
    compile: Callable[[str, Json], Json]


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in (
        Operator("eq", "==", "scalar", "ne", lambda k, v: {k: v}),
        Operator("ne", "!=", "scalar", "eq", lambda k, v: {"$neq": {k: v}}),
        Operator("gt", ">", "number", "lte", lambda k, v: {"$gt": {k: v}}),
        Operator("gte", ">=", "number", "lt", lambda k, v: {"$gte": {k: v}}),
        Operator("lt", "<", "number", "gte", lambda k, v: {"$lt": {k: v}}),
        Operator("lte", "<=", "number", "gt", lambda k, v: {"$lte": {k: v}}),
        Operator("in", "in", "list", "not_in",
                 lambda k, v: {"$or": [{k: item} for item in v]} if len(v) > 1 else {k: v[0]}),
        Operator("not_in", "not in", "list", "in",
                 lambda k, v: {"$and": [{"$neq": {k: item}} for item in v]} if len(v) > 1
                 else {"$neq": {k: v[0]}}),
        Operator("contains", "contains", "scalar", "lacks", lambda k, v: {"$iany": {k: {"$i": v}}}),
        Operator("lacks", "lacks", "scalar", "contains", lambda k, v: {"$iall": {k: {"$neq": {"$i": v}}}}),
        Operator("exists", "is given", "bool", "exists", lambda k, v: {"$ex": {k: 1}} if v else {"$nex": {k: 1}}),
    )
}

COMBINATORS = ("all", "any", "not")
