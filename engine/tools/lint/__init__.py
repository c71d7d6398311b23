"""Verify a rule base over the facts' domains, in the spirit of decision-table analysis.

The rules are modelled as boxes over finite fact domains (``model``: every fact's domain, a rule's ``when`` as a
union of boxes, the worlds of a box under the pipeline's ``invariants``); satisfiability, overlap, implication
and coverage are then decided exactly. Gaps are found differently: a sampled grid of constraints runs through
the real engine (``gaps``).

Each check family is one module (``FAMILIES``, in the order they run) with a ``check`` and the lint ids it
produces (``LINTS``); ``REGISTRY`` holds every id once with its level, description and family, and feeds
``tuneplan lint --ignore``, docs/expert-tools.md and the tests. A finding is data (``findings.Finding``) and
prints as ``file:line:col: [level] id: rules: message (fix: ...)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from types import ModuleType

from engine.language.ir import RuleBase
from engine.tools.lint import cycles, never_fires, pairs, pre_empted, prices, sources, unreachable, unused
from engine.tools.lint import gaps as gap_family
from engine.tools.lint.context import Context
from engine.tools.lint.findings import Finding, Registered, Registry
from engine.tools.lint.gaps import gap_grid
from engine.tools.lint.model import MAX_WORLDS, build_domains

__all__ = ["FAMILIES", "LINTS", "MAX_WORLDS", "REGISTRY", "STATIC", "Finding", "Registered", "build_domains",
           "family_of", "gap_grid", "has_errors", "lint_rulebase"]

STATIC: tuple[ModuleType, ...] = (cycles, never_fires, pairs, pre_empted, unreachable, unused, sources, prices)
FAMILIES: tuple[ModuleType, ...] = (*STATIC, gap_family)   # the gap family runs the engine; gaps=False skips it


def family_of(module: ModuleType) -> str:
    """A check family's name: its module's name in engine/tools/lint/."""
    return module.__name__.rsplit(".", 1)[-1]


REGISTRY = Registry((family_of(m), m.LINTS) for m in FAMILIES)
LINTS: dict[str, str] = {lint_id: entry.description for lint_id, entry in REGISTRY.items()}  # id -> description


def lint_rulebase(
    rulebase: RuleBase,
    *,
    today: dt.date | None = None,
    gaps: bool = True,
    gap_samples: int = 1500,
    seed: int = 0,
) -> list[Finding]:
    """Every finding for the rule base, sorted by file and line."""
    if today is None:
        today = dt.date.today()
    ctx = Context(rulebase, today, REGISTRY)
    for module in STATIC:
        ctx.family = family_of(module)
        module.check(ctx)
    if gaps:
        ctx.family = family_of(gap_family)
        gap_family.check(ctx, gap_samples, seed)
    return sorted(set(ctx.findings))


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding is an error (the CLI then exits 1)."""
    return any(f.level == "error" for f in findings)
