"""Relations between facts that the pipeline guarantees, so that lint does not enumerate worlds the engine can
never produce (which would show as false overlaps). They state what engine/pipeline/ and engine/decide/space.py
do with a pin and a budget, and cannot be read off the schema; tests/tools/test_lint_registry.py runs the engine and
checks that every recommendation satisfies each of them, and that each names facts the schema declares (an
invariant over an unknown fact would be dropped without a word)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Invariant:
    """A relation between facts that the pipeline guarantees, so worlds violating it are impossible."""

    facts: tuple[str, ...]
    holds: Callable[[Mapping[str, Any]], bool]
    why: str


# How engine/pipeline/ derives facts, as far as rules can observe it.
INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        ("method", "chosen_method"),
        lambda w: w["method"] in (None, "auto") or w["chosen_method"] in (None, w["method"]),
        "a pinned method is the chosen method",
    ),
    Invariant(
        ("tool", "chosen_tool"),
        lambda w: w["tool"] is None or w["chosen_tool"] in (None, w["tool"]),
        "a pinned tool is the chosen tool",
    ),
    Invariant(
        ("platform", "chosen_platform"),
        lambda w: w["platform"] is None or w["chosen_platform"] in (None, w["platform"]),
        "a pinned platform is the chosen platform",
    ),
    Invariant(
        ("gpu", "chosen_gpu"),
        lambda w: w["gpu"] is None or w["chosen_gpu"] in (None, w["gpu"]),
        "a pinned GPU is the chosen GPU",
    ),
    Invariant(
        ("within_budget", "budget_usd"),
        lambda w: w["within_budget"] is not False or w["budget_usd"] is not None,
        "within_budget is false only against a budget",
    ),
)
