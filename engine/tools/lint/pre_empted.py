"""Check family pre_empted: a rule whose every favoured option is always taken away by other rules of its stage
whenever it fires, so it never changes a recommendation."""

from __future__ import annotations

from engine.tools.lint.context import Context
from engine.tools.lint.findings import Lint
from engine.tools.lint.model import MAX_WORLDS, Case, RuleModel, excluders, removed

LINTS = (
    Lint("pre-empted", "warning", "a rule whose every favoured option is always excluded by other rules when it "
         "fires"),
)


def always_removed(ctx: Context, model: RuleModel, case: Case, decision: str, option: str) -> list[str] | None:
    """The rules that take ``option`` away in every world of ``case`` (None: not always, or undecidable)."""
    rivals = [
        m for m in excluders(ctx.models.values(), decision, option)
        if m.rule.stage == model.rule.stage and m is not model
    ]
    facts = case.box.keys() | {f for m in rivals for f in m.facts}
    if not rivals or ctx.space.size(case.box, facts) > MAX_WORLDS:
        return None
    responsible: set[str] = set()
    everywhere = {m.rule.id for m in rivals}
    for world in ctx.space.worlds(case.box, facts):
        by = {m.rule.id for m in rivals if removed(decision, option, world, [m])}
        if not by:
            return None
        responsible |= by
        everywhere &= by
    # the rules that take it away in every world say it best; else every rule that takes part
    return [m.rule.id for m in rivals if m.rule.id in (everywhere or responsible)]


def check(ctx: Context) -> None:
    """A pre-empted finding per rule that only favours options and is always overruled."""
    for model in ctx.models.values():
        favours = [t for t in model.universe if t[0] == "require" or (t[0] == "score" and t[3] > 0)]
        if not model.cases or len(favours) != len(model.universe):
            continue  # a rule that also warns, excludes or scores down always has some effect
        blockers: set[str] = set()
        for case in model.cases:
            for decision, option in sorted({(t[1], t[2]) for t in case.targets}):
                removed_by = always_removed(ctx, model, case, decision, option)
                if removed_by is None:
                    break
                blockers.update(removed_by)
            else:
                continue
            break
        else:
            ctx.add(
                model.rule.loc,
                "pre-empted",
                [model.rule.id, *sorted(blockers)],
                f"whenever '{model.rule.id}' fires, the options it favours are already excluded by "
                f"{', '.join(sorted(blockers))}, so it never changes a recommendation",
                "narrow the excluding rule or delete this one",
            )
