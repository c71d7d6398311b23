"""Check family pairs: two rules of one stage compared over every world where both fire. Redundancy (one does
everything the other does wherever it fires: duplicate, subsumed) and disagreement (they act against each
other on an option: conflict, overlap)."""

from __future__ import annotations

import itertools

from engine.tools.lint.context import Context
from engine.tools.lint.findings import Lint
from engine.tools.lint.model import MAX_WORLDS, PLAN_PREFIX, RuleModel, Target, describe, meet, targets_at

LINTS = (
    Lint("duplicate", "error", "two rules that fire in exactly the same situations with the same effects"),
    Lint("conflict", "error", "overlapping rules that exclude and require the same option, or require two "
         "different options"),
    Lint("subsumed", "warning", "whenever rule A fires, rule B fires with at least A's effects: A adds nothing, "
         "or double-counts a score"),
    Lint("overlap", "warning", "overlapping rules where one excludes an option (or requires another) and the "
         "other scores it up: the exclusion wins, so the score is dead there (unless the excluding rule says "
         "why in `overrides_scores`)"),
)


def check(ctx: Context) -> None:
    """Every pair of rules of one stage that can fire."""
    models = [m for m in ctx.models.values() if m.cases]
    for a, b in itertools.combinations(models, 2):
        if a.rule.stage != b.rule.stage:
            continue
        _redundancy(ctx, a, b)
        _disagreement(ctx, a, b)


def implies(ctx: Context, a: RuleModel, b: RuleModel) -> bool | None:
    """Whether b does everything a does, wherever a fires (None: too many worlds to decide)."""
    facts = a.facts | b.facts
    for case in a.cases:
        if ctx.space.size(case.box, facts) > MAX_WORLDS:
            return None
        for world in ctx.space.worlds(case.box, facts):
            if not case.targets <= targets_at(b, world):
                return False
    return True


def _redundancy(ctx: Context, a: RuleModel, b: RuleModel) -> None:
    a_in_b = a.universe <= b.universe and implies(ctx, a, b)
    b_in_a = b.universe <= a.universe and implies(ctx, b, a)
    if a_in_b and b_in_a:
        ctx.add(
            b.rule.loc,
            "duplicate",
            [a.rule.id, b.rule.id],
            f"'{b.rule.id}' has the same conditions and actions as '{a.rule.id}' "
            f"({a.rule.loc.file}:{a.rule.loc.line}); both fire together and count twice",
            "delete one of them or merge their sources into one rule",
        )
        return
    for inner, outer in ((a, b), (b, a)):
        if a_in_b if inner is a else b_in_a:
            scored = any(t[0] == "score" for t in inner.universe)
            consequence = "its score is added a second time" if scored else "it adds nothing"
            ctx.add(
                inner.rule.loc,
                "subsumed",
                [inner.rule.id, outer.rule.id],
                f"whenever '{inner.rule.id}' fires, '{outer.rule.id}' ({outer.rule.loc.file}:"
                f"{outer.rule.loc.line}) fires too with the same actions, so {consequence}",
                f"delete '{inner.rule.id}', or give it a different action if the narrower case "
                f"deserves more",
            )


def _disagreement(ctx: Context, a: RuleModel, b: RuleModel) -> None:
    decisions = {t[1] for t in a.universe if t[0] != "warn"} & {
        t[1] for t in b.universe if t[0] != "warn"
    }
    if not decisions:
        return
    worst: tuple[int, str, str, str] | None = None
    for ca, cb in itertools.product(a.cases, b.cases):
        both = meet(ca.box, cb.box)
        if both is None or not ctx.space.satisfiable(both):
            continue
        for ta, tb in itertools.product(ca.targets, cb.targets):
            verdict = _disagree(ta, tb, a.rule.overrides_scores) or _disagree(tb, ta, b.rule.overrides_scores)
            if verdict is None:
                continue
            if any(f.startswith(PLAN_PREFIX) for f in both):
                # limited to some plans: the planner chooses the others (the score counts there, the
                # required option has plans the exclusion does not touch)
                continue
            rank = 2 if verdict[0] == "conflict" else 1
            if worst is None or rank > worst[0]:
                worst = (rank, verdict[0], verdict[1], describe(ctx.space, both))
        if worst is not None and worst[0] == 2:
            break
    if worst is None:
        return
    _, lint_id, what, when = worst
    later = b if (b.rule.loc.file, b.rule.loc.line) >= (a.rule.loc.file, a.rule.loc.line) else a
    other = a if later is b else b
    if lint_id == "conflict":
        ctx.add(
            later.rule.loc,
            "conflict",
            [other.rule.id, later.rule.id],
            f"{what} when {when}: no option is left consistent with both",
            "make the conditions exclusive (add the opposite test to one rule) or drop one action",
        )
    else:
        ctx.add(
            later.rule.loc,
            "overlap",
            [other.rule.id, later.rule.id],
            f"{what} when {when}; the exclusion wins, so the score never counts there",
            "if the exclusion is meant to win, exclude the overlap from the scoring rule's conditions",
        )


def _disagree(x: Target, y: Target, overrides_scores: str = "") -> tuple[str, str] | None:
    """How target x (an exclusion or requirement) clashes with y, as (lint id, description); an overlap
    with a score is no finding when x's rule says why it is meant to win (``overrides_scores``)."""
    if overrides_scores and y[0] == "score":
        return None
    return _clash(x, y)


def _clash(x: Target, y: Target) -> tuple[str, str] | None:
    kx, dx, ox, _ = x
    ky, dy, oy, py = y
    if dx != dy or kx not in ("exclude", "require"):
        return None
    if kx == "exclude" and ky == "require" and ox == oy:
        return "conflict", f"one excludes {dx} '{ox}' and the other requires it"
    if kx == "require" and ky == "require" and ox != oy:
        return "conflict", f"they require different {dx} options ('{ox}' and '{oy}')"
    if kx == "exclude" and ky == "score" and ox == oy and py > 0:
        return "overlap", f"one excludes {dx} '{ox}' and the other scores it {py:+g}"
    if kx == "require" and ky == "score" and ox != oy and py > 0:
        return "overlap", f"one requires {dx} '{ox}' and the other scores '{oy}' {py:+g}"
    return None
