"""Check family never_fires: a rule whose conditions cannot hold over the declared domains (or the plan axes'
values), or whose ``where`` matches no entry of the catalog it joins."""

from __future__ import annotations

from engine.tools.lint.context import Context
from engine.tools.lint.findings import Lint
from engine.tools.lint.model import plan_condition, to_boxes

LINTS = (
    Lint("never-fires", "error", "`when` or `plan` cannot hold over the domains (`gpu_count > 2000` against max "
         "1024, or `gpu_count > 4` and `< 2`), or `where` matches no catalog entry"),
)


def check(ctx: Context) -> None:
    """A never-fires finding per rule that no world satisfies."""
    for model in ctx.models.values():
        rule = model.rule
        if not model.when_satisfiable:
            detail = (
                f"; no value of the declared domain passes {'; '.join(model.empty_tests)}"
                if model.empty_tests
                else "; its tests contradict each other"
            )
            plan_only = bool(rule.plan) and bool(to_boxes(rule.when, ctx.space.domains)) and not to_boxes(
                plan_condition(rule), ctx.space.domains)
            part, over = ("'plan'", "the plan axes' values") if plan_only else ("'when'", "the facts' domains")
            ctx.add(
                rule.loc,
                "never-fires",
                [rule.id],
                f"{part} can never hold over {over}{detail}",
                f"correct the values or operators so that some {'plans' if plan_only else 'constraints'} "
                f"satisfy {part}",
            )
        elif not model.cases and rule.join is not None:
            ctx.add(
                rule.loc,
                "never-fires",
                [rule.id],
                f"'where' matches no entry of catalog '{rule.join}', so the rule never fires",
                f"correct the attribute values in 'where' against rules/catalog ({rule.join})",
            )
