"""The planner's frozen records: a training set-up, a GPU offer, a plan (both, priced), a rule's effect on
plans, and a rejection with the comparison that made it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.language.ir import Rule

SETUP_AXES = ("tool", "method", "gradient_checkpointing", "gpu_count", "sharding")
OFFER_AXES = ("platform", "gpu", "tier")
AXES = (*SETUP_AXES, *OFFER_AXES)


@dataclass(frozen=True)
class Setup:
    """The training side of a plan: what runs, on how many GPUs of one machine, split how."""

    tool: str
    method: str
    gradient_checkpointing: bool
    gpu_count: int
    sharding: str


@dataclass(frozen=True)
class Offer:
    """A GPU one can run on: a platform's price record for one GPU type and tier, or an owned GPU."""

    platform: str
    gpu: str
    tier: str
    usd_per_gpu_hour: float
    instance_gpus: int          # GPUs billed at least (whole-instance offers: 8)
    max_gpus: int               # GPUs one machine of the offer holds
    max_hours: float | None     # longest session (free tiers); None: no limit
    as_of: str
    source: str
    note: str = ""

    def billed(self, count: int) -> int:
        """GPUs paid for when ``count`` are used."""
        return max(count, self.instance_gpus)


@dataclass(frozen=True)
class Plan:
    """One candidate answer, priced: a set-up on an offer with its memory, time and cost estimates."""

    setup: Setup
    offer: Offer
    per_gpu_gib: float          # training memory per GPU, with the CUDA context
    usable_gib: float           # what one GPU of the offer can hold after the headroom
    billed_gpus: int
    tokens_per_hour: float      # training throughput of the whole plan
    hours: float | None         # given, or from dataset_tokens x epochs; None when neither is known
    total_usd: float | None
    usd_per_mtok: float         # rent per million training tokens
    score: float                # the rules' points for this plan

    def get(self, axis: str) -> Any:
        """The plan's value on a plan axis."""
        return getattr(self.setup, axis) if hasattr(self.setup, axis) else getattr(self.offer, axis)

    def values(self) -> dict[str, Any]:
        """Every plan axis and its value."""
        return {axis: self.get(axis) for axis in AXES}


@dataclass(frozen=True)
class Effect:
    """What one fired rule does to plans: exclude, require or score ``option`` of ``decision`` in the plans
    whose attributes match ``plan`` (the (axis, value) pairs the firing matched; empty: every plan)."""

    rule: Rule
    decision: str
    option: str
    kind: str                   # exclude | require | score
    points: float
    because: str
    plan: tuple[tuple[str, Any], ...] = ()

    def where(self) -> str:
        """The plan values the effect is limited to, as people read them ("" when unconditional)."""
        return ", ".join(f"{axis} = {_show(value)}" for axis, value in self.plan)


@dataclass(frozen=True)
class Rejection:
    """Why an option of a plan axis is not in the chosen plan: the check or rule that rejected its plans,
    or the objective term on which its best plan loses, with the numbers of the plan it cites."""

    axis: str
    option: Any
    check: str                  # a rule id, memory-fit, node-size, session-limit, not-offered, pinned, objective:<term>
    message: str
    rules: tuple[str, ...] = ()
    plan: Plan | None = None    # the plan the message describes (its best, or its nearest to viable)
    viable: bool = False        # the option has a viable plan that lost on the objective


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
