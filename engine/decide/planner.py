"""The planner: every candidate plan (set-up x offer) priced by the estimators, judged by the rules' effects
and the engine's checks, ordered by the declared objective; the best plan wins and every other option of
every plan axis keeps the comparison that rejected it (engine/decide/comparisons.py makes those comparisons).

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

from engine.decide.comparisons import PlanResult, nearest_failures
from engine.decide.objective import Objective
from engine.decide.records import AXES, SETUP_AXES, Effect, Offer, Plan, Setup

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


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
