"""What an evaluation records: one ``Firing`` per rule that fired. A plain record, so that the planner and
the explanations read firings without loading durable-rules (engine/runtime/session.py does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Firing:
    """One rule that fired: which, the ctx fact it matched, and the catalog entry it joined (if any)."""

    rule_id: str
    ctx: Mapping[str, Any]
    entry_id: str | None
    plan: tuple[tuple[str, Any], ...] = ()   # the plan-attribute values it matched, (axis, value) by axis
