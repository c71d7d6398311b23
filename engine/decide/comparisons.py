"""The comparisons behind a plan: for every option of every plan axis, its best plan and the first term of
the objective on which it loses to the chosen plan, or the checks and rules that reject its nearest-to-viable
plans. Made from the planner's grid (engine/decide/planner.py) when first read, then the grid is released."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.decide.objective import Objective
from engine.decide.records import AXES, OFFER_AXES, Effect, Plan, Rejection
from engine.decide.tally import format_value

if TYPE_CHECKING:
    from engine.decide.planner import Grid, Mask

CHECKS = ("rule", "not-offered", "node-size", "memory-fit", "session-limit")   # the order failures are told in
NEIGHBOUR_AXES = ("gradient_checkpointing", "gpu_count")   # explained by changing the chosen plan on that axis alone


@dataclass
class PlanResult:
    """The planner's answer: the best plan and, computed when first read, the best plan per option of every
    axis and why each other option lost (the grid is kept until then, and released after)."""

    best: Plan | None
    objective: Objective
    candidates: int
    viable: int
    effects: tuple[Effect, ...] = ()
    cheapest_over_budget: Plan | None = None    # set when no plan is within budget: the least over
    blocked_reasons: list[Rejection] = field(default_factory=list)   # no viable plan: what rejects the nearest
    cheapest: Plan | None = None                # the viable plan with the lowest cost term (scenario checks)
    _grid: Grid | None = field(default=None, repr=False)
    _explained: tuple[dict[str, dict[Any, Plan]], dict[str, list[Rejection]]] | None = field(default=None,
                                                                                             repr=False)

    @property
    def alternatives(self) -> dict[str, dict[Any, Plan]]:
        """axis -> option -> the best plan with that option (viable plans only)."""
        return self._explain()[0]

    @property
    def rejections(self) -> dict[str, list[Rejection]]:
        """axis -> why not each option the chosen plan does not have."""
        return self._explain()[1]

    def _explain(self) -> tuple[dict[str, dict[Any, Plan]], dict[str, list[Rejection]]]:
        if self._explained is None:
            grid = self._grid
            assert grid is not None
            order = grid.ordered(grid.viable)
            alternatives: dict[str, dict[Any, Plan]] = {}
            rejections: dict[str, list[Rejection]] = {}
            for axis in AXES:
                codes = grid.axis_codes(axis)
                best_of: dict[Any, Plan] = {}
                if order.size:
                    _, first = np.unique(codes[order], return_index=True)
                    for position in sorted(first):
                        plan = grid.plan(int(order[position]))
                        best_of[plan.get(axis)] = plan
                alternatives[axis] = best_of
                if axis in NEIGHBOUR_AXES and self.best is not None and axis not in grid.pinned:
                    rejections[axis] = _neighbours(grid, axis, self.best)
                else:
                    rejections[axis] = _rejections(grid, axis, best_of, self.best)
            self._explained = (alternatives, rejections)
            self._grid = None   # the arrays are not needed any more
        return self._explained


def _rejections(grid: Grid, axis: str, best_of: Mapping[Any, Plan], chosen: Plan | None) -> list[Rejection]:
    """Why not each other option: first those with a viable plan, best first (so the first is the runner-up),
    then those without, in catalog order."""
    ranked = [o for o in best_of if o in grid.values[axis]]
    out: list[Rejection] = []
    for option in [*ranked, *(o for o in grid.values[axis] if o not in best_of)]:
        if chosen is not None and chosen.get(axis) == option:
            continue
        if option in best_of:
            if chosen is not None:
                out.append(_lost(grid, axis, option, best_of[option], chosen))
            continue
        if axis in grid.pinned and grid.pinned[axis] != option:
            out.append(Rejection(axis, option, "pinned", f"{axis} is pinned to {_v(grid.pinned[axis])}"))
            continue
        out.extend(_failures(grid, axis, option, grid.sides_of(((axis, option),))))
    return out


def _neighbours(grid: Grid, axis: str, chosen: Plan) -> list[Rejection]:
    """Why not each other value of ``axis``: the chosen plan with only that value changed (for the GPU count,
    with the strategy that suits the count), on the same offer: the comparison it loses, or what rejects it."""
    s, o = chosen.setup, chosen.offer
    fixed = [(a, getattr(s, a)) for a in ("tool", "method", "gradient_checkpointing", "gpu_count")
             if a != axis] + [(a, getattr(o, a)) for a in OFFER_AXES]
    if axis != "gpu_count":
        fixed.append(("sharding", s.sharding))
    out: list[Rejection] = []
    for option in grid.values[axis]:
        if option == chosen.get(axis):
            continue
        rows, cols = grid.sides_of((*fixed, (axis, option)))
        shown = ("on" if option else "off") if isinstance(option, bool) else _v(option)
        subject = f"the same plan with {axis.replace('_', ' ')} {shown}"
        if not rows.any() or not cols.any():
            out.append(Rejection(axis, option, "not-offered", f"{subject}: no such set-up is planned"))
            continue
        viable = np.flatnonzero(grid.viable & np.outer(rows, cols))
        best = grid.first(viable, grid.objective.terms)
        if best is not None:
            out.append(_lost(grid, axis, option, grid.plan(best), chosen, subject=subject))
            continue
        for rejection in _failures(grid, axis, option, (rows, cols)):
            out.append(Rejection(axis, option, rejection.check, f"{subject}: {rejection.message}", rejection.rules,
                                 rejection.plan))
    return out


def _lost(grid: Grid, axis: str, option: Any, plan: Plan, chosen: Plan, *,
          subject: str = "its best plan") -> Rejection:
    """The first objective term on which the option's best plan is worse than the chosen plan."""
    for term in grid.objective.terms:
        mine, theirs = _term(plan, term, grid.budget), _term(chosen, term, grid.budget)
        if term == "order" or mine is None or theirs is None or round(mine, 6) == round(theirs, 6):
            continue  # equal as the grid compares them (to 6 decimals)
        message = _compare(grid, term, plan, chosen, subject=subject)
        return Rejection(axis, option, f"objective:{term}", message, plan=plan, viable=True)
    return Rejection(axis, option, "objective:order", f"{subject} ({describe(plan)}) ties with the chosen plan "
                     "on every term; the catalog order breaks the tie", plan=plan, viable=True)


def _term(plan: Plan, term: str, budget: float | None) -> float | None:
    if term == "within_budget":
        if budget is None or plan.total_usd is None:
            return None
        return max(0.0, plan.total_usd - budget)
    if term == "score":
        return -plan.score
    if term == "cost":
        return plan.total_usd if plan.total_usd is not None else plan.usd_per_mtok
    if term == "hours":
        return plan.hours if plan.hours is not None else 1e6 / plan.tokens_per_hour
    return None


def _compare(grid: Grid, term: str, plan: Plan, chosen: Plan, *, subject: str = "its best plan") -> str:
    if term == "within_budget" and plan.total_usd is not None and chosen.total_usd is not None:
        verdict = ("within it" if chosen.total_usd <= (grid.budget or 0.0) + 1e-9
                   else f"{chosen.total_usd - (grid.budget or 0.0):.2f} USD over")
        return (f"{subject} ({describe(plan)}) costs {plan.total_usd:.2f} USD, "
                f"{plan.total_usd - (grid.budget or 0.0):.2f} USD over the budget of {format_value(grid.budget)} USD; "
                f"the chosen plan costs {chosen.total_usd:.2f} USD ({verdict})")
    if term == "score":
        theirs, ours = _points(grid, plan), _points(grid, chosen)
        only_ours = [f"{rule} {points:+g}" for rule, points in ours.items() if points != theirs.get(rule)]
        only_theirs = [f"{rule} {points:+g}" for rule, points in theirs.items() if points != ours.get(rule)]
        diff = "; ".join(part for part in (
            f"the chosen plan has {', '.join(only_ours)}" if only_ours else "",
            f"it has {', '.join(only_theirs)}" if only_theirs else "") if part)
        return (f"{subject} ({describe(plan)}) scores {format_value(plan.score)} against "
                f"{format_value(chosen.score)} for the chosen plan ({diff})")
    if term == "cost":
        if plan.total_usd is not None and chosen.total_usd is not None:
            return (f"{subject} ({describe(plan)}) costs {plan.total_usd:.2f} USD against "
                    f"{chosen.total_usd:.2f} USD for the chosen plan")
        return (f"{subject} ({describe(plan)}) costs {plan.usd_per_mtok:.3f} USD per million training tokens "
                f"against {chosen.usd_per_mtok:.3f} USD for the chosen plan")
    if plan.hours is not None and chosen.hours is not None:
        return f"{subject} ({describe(plan)}) takes {plan.hours:.1f} h against {chosen.hours:.1f} h"
    return (f"{subject} ({describe(plan)}) trains {plan.tokens_per_hour / 1e6:.1f} M tokens/h against "
            f"{chosen.tokens_per_hour / 1e6:.1f} M tokens/h")


def _points(grid: Grid, plan: Plan) -> dict[str, float]:
    """The rules that scored a plan, with their points (summed per rule)."""
    out: dict[str, float] = {}
    for e in grid.effects:
        if e.kind == "score" and _applies(e, plan):
            out[e.rule.id] = out.get(e.rule.id, 0.0) + e.points
    return out


def _applies(effect: Effect, plan: Plan) -> bool:
    if any(plan.get(axis) != value for axis, value in effect.plan):
        return False
    if effect.decision not in AXES:
        return False
    return bool((plan.get(effect.decision) == effect.option) != (effect.kind == "require"))


def scoring_effects(effects: Sequence[Effect], plan: Plan) -> list[Effect]:
    """The score effects that count for ``plan``."""
    return [e for e in effects if e.kind == "score" and _applies(e, plan)]


def _failures(grid: Grid, axis: str, option: Any, sides: tuple[Mask, Mask]) -> list[Rejection]:
    """Why no plan with this option is viable: rules that exclude every one of its plans, if any; else the
    failures of its nearest-to-viable plans (fewest failed checks), one per kind of check."""
    rows, cols = sides
    if not rows.any() or not cols.any():
        return [Rejection(axis, option, "not-offered", _not_offered(grid, axis, option))]
    everywhere = grid.covering(rows, cols)
    if everywhere:
        plan = grid.plan(int(np.flatnonzero(np.outer(rows, cols))[0]))
        return [Rejection(axis, option, everywhere[0].rule.id, "; ".join(_rule_text(e) for e in everywhere),
                          tuple(dict.fromkeys(e.rule.id for e in everywhere)), plan)]
    cells = np.outer(rows, cols)
    checks, fails = grid.failures
    fewest = int(np.min(np.where(cells, fails, 99)))
    near = cells & (fails == fewest)
    out: list[Rejection] = []
    for name in CHECKS:
        if name not in checks:
            continue
        group = near & checks[name]
        if not group.any():
            continue
        flat = _nearest(grid, group, name)
        plan = grid.plan(flat)
        i, j = divmod(flat, grid.shape[1])
        if name == "rule":
            flat = _fewest_rules(grid, group, axis)
            plan = grid.plan(flat)
            i, j = divmod(flat, grid.shape[1])
            effects = [e for e in grid.excluded_by if grid.effect_hits(e, i, j)]
            text = "; ".join(_rule_text(e) for e in effects)
            out.append(Rejection(axis, option, effects[0].rule.id if effects else "rule", text,
                                 tuple(dict.fromkeys(e.rule.id for e in effects)), plan))
        else:
            out.append(Rejection(axis, option, name, _check_text(grid, name, plan), (), plan))
        if len(out) == 3:
            break
    return out


def nearest_failures(grid: Grid) -> list[Rejection]:
    """When no plan is viable: what rejects the plans nearest to viable (fewest failed checks), per kind."""
    if grid.shape[0] == 0 or grid.shape[1] == 0:
        what = "set-up" if grid.shape[0] == 0 else "GPU offer"
        pins = ", ".join(f"{a} = {_v(v)}" for a, v in grid.pinned.items())
        return [Rejection("plan", None, "not-offered", f"no {what} is left{f' with {pins}' if pins else ''}")]
    return _failures(grid, "plan", None, (np.ones(grid.shape[0], dtype=bool), np.ones(grid.shape[1], dtype=bool)))


def _fewest_rules(grid: Grid, group: Mask, axis: str) -> int:
    """The plan of a rule-rejected group that the fewest rules exclude, rules about ``axis`` itself counting as
    half (they explain the option best); the first in catalog order among equals."""
    flat = np.flatnonzero(group)
    count = np.zeros(flat.size, dtype=np.float64)
    i, j = np.divmod(flat, grid.shape[1])
    for effect in grid.excluded_by:
        weight = 0.5 if effect.decision == axis else 1.0
        if effect.kind == "require":
            count += weight * grid.effect_mask(effect)[i, j]
        else:
            e_rows, e_cols = grid.sides_of((*effect.plan, (effect.decision, effect.option)))
            count += weight * (e_rows[i] & e_cols[j])
    return int(flat[int(np.argmin(count))])


def _nearest(grid: Grid, group: Mask, check: str) -> int:
    """The most telling plan of a group that fails one check: the one closest to passing it (smallest memory
    gap, largest machine, longest session), the first in catalog order among equals."""
    flat = np.flatnonzero(group)
    _, j = np.divmod(flat, grid.shape[1])
    if check == "memory-fit":
        need = np.array(grid.estimates.need_gib).reshape(-1, 1)
        usable = np.array(grid.offer_facts.usable_gib).reshape(1, -1)
        gap = (need - usable).ravel()[flat]
        return int(flat[int(np.argmin(gap))])
    if check == "node-size":
        return int(flat[int(np.argmax(grid.space.max_gpus.ravel()[j]))])
    if check == "session-limit":
        return int(flat[int(np.argmax(grid.space.max_hours.ravel()[j]))])
    return int(flat[0])   # the first in catalog order (tool, method, count, strategy; platform, GPU, tier)


def _rule_text(effect: Effect) -> str:
    where = effect.where()
    return f"{effect.because}{f' (rule {effect.rule.id}, for plans with {where})' if where else ''}"


def _check_text(grid: Grid, check: str, plan: Plan) -> str:
    s, o = plan.setup, plan.offer
    if check == "memory-fit":
        return (f"does not fit: {describe(plan)} needs {plan.per_gpu_gib:.1f} GiB per GPU, and one {o.gpu} holds "
                f"{plan.usable_gib:.1f} GiB after the headroom")
    if check == "node-size":
        return (f"{s.gpu_count} GPUs do not fit one machine: {o.platform} offers at most {o.max_gpus} × {o.gpu} "
                f"({describe(plan)})")
    if check == "session-limit":
        return (f"the run takes {plan.hours:.1f} h and a {o.platform} {o.tier} session ends after "
                f"{format_value(o.max_hours)} h ({describe(plan)})")
    return check


def _not_offered(grid: Grid, axis: str, option: Any) -> str:
    if axis in ("platform", "tier") and option in grid.owned_ids:
        return "it holds only GPUs you own: give owned_gpu (and owned_gpu_count) to plan on them"
    where = ", ".join(f"{a} = {_v(v)}" for a, v in grid.pinned.items() if a in OFFER_AXES)
    if axis in OFFER_AXES:
        return f"no price record offers it{f' with {where}' if where else ''}"
    return f"no set-up uses it{f' with {where}' if where else ''}"


def describe(plan: Plan) -> str:
    """A plan in a few words: tool, method, checkpointing, GPUs, strategy, platform and tier, price."""
    s, o = plan.setup, plan.offer
    ckpt = "checkpointing on" if s.gradient_checkpointing else "checkpointing off"
    strategy = "" if s.gpu_count == 1 else f" {s.sharding}"
    price = "0 USD/GPU-hour" if o.usd_per_gpu_hour == 0 else f"{o.usd_per_gpu_hour:g} USD/GPU-hour"
    billed = f" ({plan.billed_gpus} billed: whole instances)" if plan.billed_gpus > s.gpu_count else ""
    return (f"{s.tool}, {s.method}, {ckpt}, {s.gpu_count} × {o.gpu}{strategy} on {o.platform} {o.tier} at "
            f"{price}{billed}")


def _v(value: Any) -> str:
    return format_value(value)
