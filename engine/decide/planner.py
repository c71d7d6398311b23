"""The planner: every candidate plan (set-up x offer) priced by the estimators, judged by the rules' effects
and the engine's checks, ordered by the declared objective; the best plan wins and every other option of
every plan axis keeps the comparison that rejected it.

The candidates form a grid, set-ups by offers, held as numpy arrays: a rule's effect is a mask over one side
(or both), a check is a comparison of two vectors, and the objective is one lexicographic sort of the viable
cells. Nothing here knows what the rules mean; it applies what they concluded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.decide.objective import Objective
from engine.decide.records import AXES, OFFER_AXES, SETUP_AXES, Effect, Offer, Plan, Rejection, Setup
from engine.decide.tally import format_value

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

CHECKS = ("rule", "not-offered", "node-size", "memory-fit", "session-limit")   # the order failures are told in


@dataclass(frozen=True)
class Estimates:
    """What the estimators say about each set-up (index-aligned with the set-ups)."""

    need_gib: Sequence[float]            # per-GPU memory with the CUDA context
    compute_seconds: Sequence[float]     # seconds per token on GPUs of 1 dense TFLOPS (divide by the GPU's TFLOPS)
    floor_seconds: Sequence[float]       # seconds per token however fast the GPU (launch-bound steps)


@dataclass(frozen=True)
class OfferFacts:
    """What the planner needs to know of each offer's GPU (index-aligned with the offers)."""

    usable_gib: Sequence[float]
    tflops: Sequence[float]


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


@dataclass(eq=False)
class Space:
    """The candidates' static side: set-ups and offers with their axis codes and offer numbers as arrays
    (built once per set of pins and owned GPUs, shared by every grid over them)."""

    setups: Sequence[Setup]
    offers: Sequence[Offer]
    values: Mapping[str, tuple[Any, ...]]       # axis -> its values in tie-break order

    def __post_init__(self) -> None:
        ns, no = len(self.setups), len(self.offers)
        self.shape = (ns, no)
        self.codes: dict[str, npt.NDArray[np.int64]] = {}
        values: dict[str, tuple[Any, ...]] = {}
        for axis in AXES:
            items: Sequence[Any] = self.setups if axis in SETUP_AXES else self.offers
            # a pinned value outside the axis's declared values (3 GPUs) is a value of this space too, so
            # that the rules' effects on it (matched by value) reach its plans
            extra = tuple(dict.fromkeys(getattr(x, axis) for x in items if getattr(x, axis) not in self.values[axis]))
            values[axis] = (*self.values[axis], *extra)
            index = {v: i for i, v in enumerate(values[axis])}
            self.codes[axis] = np.array([index[getattr(x, axis)] for x in items], dtype=np.int64)
        self.values = values
        self.counts = np.array([s.gpu_count for s in self.setups], dtype=np.int64).reshape(ns, 1)
        self.max_gpus = np.array([o.max_gpus for o in self.offers], dtype=np.int64).reshape(1, no)
        self.instance = np.array([o.instance_gpus for o in self.offers], dtype=np.int64).reshape(1, no)
        self.price = np.array([o.usd_per_gpu_hour for o in self.offers], dtype=np.float64).reshape(1, no)
        self.max_hours = np.array([math.inf if o.max_hours is None else o.max_hours for o in self.offers],
                                  dtype=np.float64).reshape(1, no)
        self.node_ok: Mask = self.counts <= self.max_gpus
        self.billed = np.maximum(self.counts, self.instance)
        self._masks: dict[tuple[str, Any], Mask] = {}

    def side_mask(self, axis: str, value: Any) -> Mask:
        """The set-ups (or offers, for an offer axis) whose ``axis`` is ``value`` (1-D, memoised)."""
        key = (axis, value)
        mask = self._masks.get(key)
        if mask is None:
            index = self.values[axis].index(value) if value in self.values[axis] else -1
            mask = self.codes[axis] == index
            self._masks[key] = mask
        return mask


@dataclass
class Grid:
    """One recommendation's candidate plans and their estimates; built, judged and ordered once."""

    space: Space
    estimates: Estimates
    offer_facts: OfferFacts
    effects: Sequence[Effect]
    objective: Objective
    hours_given: float | None = None
    tokens: float | None = None                  # dataset_tokens x epochs
    budget: float | None = None
    pinned: Mapping[str, Any] = field(default_factory=dict)
    lifted: frozenset[str] = frozenset()         # decisions whose pinned option ignores the rules' exclusions
    owned_ids: frozenset[str] = frozenset()      # the platform and tier that stand for owned GPUs

    def __post_init__(self) -> None:
        sp = self.space
        self.setups, self.offers, self.values, self.shape = sp.setups, sp.offers, sp.values, sp.shape
        self._sides: dict[tuple[tuple[str, Any], ...], tuple[Mask, Mask]] = {}
        self._exclusions: tuple[list[Effect], Mask, Mask] | None = None
        ns, no = self.shape
        need = np.array(self.estimates.need_gib, dtype=np.float64).reshape(ns, 1)
        usable = np.array(self.offer_facts.usable_gib, dtype=np.float64).reshape(1, no)
        self.fits: Mask = need <= usable
        self.node_ok: Mask = np.broadcast_to(sp.node_ok, self.shape)
        self.billed = sp.billed
        tflops = np.array(self.offer_facts.tflops, dtype=np.float64).reshape(1, no)
        seconds = np.maximum(np.array(self.estimates.compute_seconds, dtype=np.float64).reshape(ns, 1) / tflops,
                             np.array(self.estimates.floor_seconds, dtype=np.float64).reshape(ns, 1))
        self.tokens_per_hour: Floats = 3600.0 / seconds
        self.usd_per_mtok: Floats = sp.billed * sp.price / self.tokens_per_hour * 1e6
        self.hours: Floats | None = None
        self.total: Floats | None = None
        if self.hours_given is not None:
            self.hours = np.full(self.shape, float(self.hours_given))
        elif self.tokens is not None:
            self.hours = self.tokens * seconds / 3600.0
        if self.hours is not None:
            self.total = self.hours * sp.billed * sp.price
        self.session_ok: Mask = (np.ones(self.shape, dtype=bool) if self.hours is None
                                 else self.hours <= sp.max_hours)
        self.over: Floats = np.zeros(self.shape)
        if self.budget is not None and self.total is not None:
            self.over = np.maximum(self.total - self.budget, 0.0)
        self._apply_effects()
        self.viable: Mask = self.allowed & self.fits & self.node_ok & self.session_ok

    # -- the rules' effects --------------------------------------------------------------------
    def sides_of(self, pairs: Sequence[tuple[str, Any]]) -> tuple[Mask, Mask]:
        """(set-ups, offers) whose plans have every (axis, value) of ``pairs``: the cells are their product.
        Memoised per grid (the explanations ask for the same effects' sides once per option); read-only."""
        key = tuple(pairs)
        known = self._sides.get(key)
        if known is not None:
            return known
        rows = np.ones(self.shape[0], dtype=bool)
        cols = np.ones(self.shape[1], dtype=bool)
        for axis, value in pairs:
            if axis in SETUP_AXES:
                rows = rows & self.space.side_mask(axis, value)
            else:
                cols = cols & self.space.side_mask(axis, value)
        rows.flags.writeable = False
        cols.flags.writeable = False
        self._sides[key] = (rows, cols)
        return rows, cols

    def covering(self, rows: Mask, cols: Mask) -> list[Effect]:
        """The exclusions (not requirements) that apply to every plan of rows x cols, in effect order:
        one vector test against all of them (their sides stacked once per grid)."""
        if self._exclusions is None:
            chosen = [e for e in self.excluded_by if e.kind != "require"]
            sides = [self.sides_of((*e.plan, (e.decision, e.option))) for e in chosen]
            self._exclusions = (chosen, np.array([r for r, _ in sides], dtype=bool).reshape(len(chosen), -1),
                                np.array([c for _, c in sides], dtype=bool).reshape(len(chosen), -1))
        effects, e_rows, e_cols = self._exclusions
        if not effects:
            return []
        covers = ~(rows & ~e_rows).any(axis=1) & ~(cols & ~e_cols).any(axis=1)
        return [effects[k] for k in np.flatnonzero(covers)]

    def mask_of(self, pairs: Sequence[tuple[str, Any]]) -> Mask:
        """The cells whose plan has every (axis, value) of ``pairs``."""
        rows, cols = self.sides_of(pairs)
        return np.outer(rows, cols)

    def effect_mask(self, effect: Effect) -> Mask:
        """The cells an effect applies to: its option (for exclude/score) within the plans it matched."""
        if effect.kind == "require":  # every other option of the decision, within the matched plans
            return self.mask_of(effect.plan) & ~self.mask_of(((effect.decision, effect.option),))
        return self.mask_of((*effect.plan, (effect.decision, effect.option)))

    def effect_hits(self, effect: Effect, i: int, j: int) -> bool:
        """Whether an effect applies to cell (i, j), without building its mask."""
        rows, cols = self.sides_of(effect.plan)
        if not (rows[i] and cols[j]):
            return False
        r, c = self.sides_of(((effect.decision, effect.option),))
        hit = bool(r[i] and c[j])
        return not hit if effect.kind == "require" else hit

    def _apply_effects(self) -> None:
        """Scores and exclusions of every effect: a 1-D vector when an effect concerns one side only (most do),
        a 2-D mask when it ties set-up and offer values together."""
        ns, no = self.shape
        self.excluded_by: list[Effect] = []
        score = [np.zeros(ns), np.zeros(no), np.zeros(self.shape)]
        excluded = [np.zeros(ns, dtype=bool), np.zeros(no, dtype=bool), np.zeros(self.shape, dtype=bool)]
        for effect in self.effects:
            if effect.decision not in AXES:
                continue
            if effect.kind != "score":
                if effect.decision in self.lifted and self.pinned.get(effect.decision) == effect.option:
                    continue  # the user pinned this option: the exclusion becomes a warning (pipeline)
                self.excluded_by.append(effect)
            if effect.kind == "require":
                excluded[2] |= self.effect_mask(effect)
                continue
            side, mask = self._side(self.sides_of((*effect.plan, (effect.decision, effect.option))))
            if effect.kind == "score":
                score[side] = score[side] + effect.points * mask
            else:
                excluded[side] = excluded[side] | mask
        self.score: Floats = score[0].reshape(ns, 1) + score[1].reshape(1, no) + score[2]
        self.allowed: Mask = ~(excluded[0].reshape(ns, 1) | excluded[1].reshape(1, no) | excluded[2])

    @staticmethod
    def _side(sides: tuple[Mask, Mask]) -> tuple[int, Mask]:
        """Which of the set-up vector (0), offer vector (1) or full grid (2) a mask of two sides lives on."""
        rows, cols = sides
        if cols.all():
            return 0, rows
        if rows.all():
            return 1, cols
        return 2, np.outer(rows, cols)

    # -- the objective -------------------------------------------------------------------------
    def keys(self, term: str, flat: npt.NDArray[np.int64] | None = None) -> Floats:
        """One objective term as a number where lower is better, for the flat cells ``flat`` (default all)."""
        if term == "order":
            return (np.arange(self.shape[0] * self.shape[1]) if flat is None else flat).astype(np.float64)
        if term == "score":
            values = -self.score
        elif term == "within_budget":
            values = self.over
        elif term == "cost":
            values = self.total if self.total is not None else self.usd_per_mtok
        elif term == "hours":
            values = self.hours if self.hours is not None else 1e6 / self.tokens_per_hour  # hours per M tokens
        else:
            raise ValueError(f"unknown objective term {term!r}")
        picked = values.ravel() if flat is None else values.ravel()[flat]
        return np.round(picked, 6)

    def first(self, flat: npt.NDArray[np.int64], terms: Sequence[str]) -> int | None:
        """The best of the flat cells ``flat`` under ``terms`` (then catalog order), by successive filtering:
        the same answer as the head of ``ordered``, without sorting."""
        for term in terms:
            if flat.size <= 1:
                break
            values = self.keys(term, flat)
            flat = flat[values == values.min()]
        return int(flat.min()) if flat.size else None

    def ordered(self, cells: Mask) -> npt.NDArray[np.int64]:
        """Flat indices of ``cells``, best first under the objective."""
        flat = np.flatnonzero(cells)
        if flat.size == 0:
            return flat
        keys = [self.keys(term, flat) for term in reversed(self.objective.terms)]
        return flat[np.lexsort(keys)]

    @property
    def failures(self) -> tuple[dict[str, Mask], npt.NDArray[np.int64]]:
        """Each check's failing cells, and how many checks each cell fails (computed once)."""
        cached: tuple[dict[str, Mask], npt.NDArray[np.int64]] | None = self.__dict__.get("_failures")
        if cached is None:
            checks = {"rule": ~self.allowed, "node-size": ~self.node_ok, "memory-fit": ~self.fits,
                      "session-limit": ~self.session_ok}
            count = np.zeros(self.shape, dtype=np.int64)
            for mask in checks.values():
                count += mask
            cached = (checks, count)
            self.__dict__["_failures"] = cached
        return cached

    def plan(self, flat: int) -> Plan:
        """The plan of one cell, with its estimates."""
        i, j = divmod(int(flat), self.shape[1])
        hours = None if self.hours is None else float(self.hours[i, j])
        total = None if self.total is None else float(self.total[i, j])
        return Plan(self.setups[i], self.offers[j], float(self.estimates.need_gib[i]),
                    float(self.offer_facts.usable_gib[j]), int(self.billed[i, j]), float(self.tokens_per_hour[i, j]),
                    hours, total, float(self.usd_per_mtok[i, j]), float(self.score[i, j]))

    def axis_codes(self, axis: str) -> npt.NDArray[np.int64]:
        """The code of ``axis`` for every cell, flat."""
        ns, no = self.shape
        if axis in SETUP_AXES:
            return np.repeat(self.space.codes[axis], no)
        return np.tile(self.space.codes[axis], ns)


def plan_grid(grid: Grid) -> PlanResult:
    """Choose the best plan of the grid; the comparisons with every other option are made when first read."""
    viable = np.flatnonzero(grid.viable)
    result = PlanResult(None, grid.objective, int(grid.viable.size), int(viable.size), effects=tuple(grid.effects),
                        _grid=grid)
    best = grid.first(viable, grid.objective.terms)
    if best is not None:
        result.best = grid.plan(best)
        cheapest = grid.first(viable, ("cost", *grid.objective.terms))
        result.cheapest = grid.plan(cheapest) if cheapest is not None else None
        if grid.budget is not None and grid.total is not None and not (grid.over.ravel()[viable] <= 0).any():
            result.cheapest_over_budget = result.best
    else:
        result.blocked_reasons = nearest_failures(grid)
    return result


# -- explanations ----------------------------------------------------------------------------------
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


NEIGHBOUR_AXES = ("gradient_checkpointing", "gpu_count")   # explained by changing the chosen plan on that axis alone


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
