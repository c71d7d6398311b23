"""Check family cycles: a rule that reads a fact derived in a later stage (the loader rejects this too; lint
reports it defensively, for a rule base built without the loader)."""

from __future__ import annotations

from engine.language.ir import STAGES
from engine.tools.lint.context import Context
from engine.tools.lint.findings import Lint

LINTS = (
    Lint("cycle", "error", "a rule reads a fact derived in a later stage, from decisions its own stage feeds "
         "(the loader rejects this too; lint reports it defensively)"),
)


def check(ctx: Context) -> None:
    """A cycle finding per rule and fact derived after the rule's stage."""
    from engine.explain.recommendation import referenced_facts

    for rule in ctx.rb.rules():
        for fact in sorted(referenced_facts(rule)):
            spec = ctx.rb.facts.get(fact)
            if spec is None or spec.derived_stage is None:
                continue
            if STAGES.index(spec.derived_stage) > STAGES.index(rule.stage):
                ctx.add(
                    rule.loc,
                    "cycle",
                    [rule.id],
                    f"reads '{fact}', derived before the {spec.derived_stage} stage from decisions the "
                    f"{rule.stage} stage feeds, so the fact depends on this rule's own outcome",
                    f"move the rule to the {spec.derived_stage} stage or read a fact derived earlier",
                )
