"""Check family unreachable: an option of a decision that the rules of the decision's stage exclude in every
situation, so it is never chosen."""

from __future__ import annotations

from engine.language.decisions import DECISIONS
from engine.tools.lint.context import Context
from engine.tools.lint.findings import Lint
from engine.tools.lint.model import MAX_WORLDS, excluders, removed

LINTS = (
    Lint("unreachable-option", "warning", "a decision option some rule excludes in every situation"),
)


def check(ctx: Context) -> None:
    """An unreachable-option finding per catalog entry of a decision that is always taken away."""
    for name, spec in DECISIONS.items():
        catalog = ctx.rb.catalogs.get(spec.catalog)
        if catalog is None:
            continue
        for entry in catalog.entries:
            if spec.kind and entry.get("kind") != spec.kind:
                continue
            rivals = [m for m in excluders(ctx.models.values(), name, entry.id) if m.rule.stage == spec.stage]
            if not rivals:
                continue
            facts = {f for m in rivals for f in m.facts}
            if ctx.space.size({}, facts) > MAX_WORLDS:
                continue
            if all(removed(name, entry.id, w, rivals) for w in ctx.space.worlds({}, facts)):
                ctx.add(
                    entry.loc,
                    "unreachable-option",
                    sorted(m.rule.id for m in rivals),
                    f"{name} option '{entry.id}' is excluded in every situation, so it is never chosen",
                    "narrow the excluding rules, or delete the entry if it is kept only for reference",
                )
