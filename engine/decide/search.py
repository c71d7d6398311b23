"""From one recommendation's constraints and rule firings to its plan: the set-ups and offers (space), the
estimators' numbers for each, the rules' effects, the grid, and the planner's result. Pins that the rules
exclude are honoured with a warning when nothing else is left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.decide import space
from engine.decide.comparisons import PlanResult
from engine.decide.objective import objective_for
from engine.decide.planner import Estimates, Grid, OfferFacts, Space, plan_grid
from engine.decide.records import AXES, Effect, Offer, Setup
from engine.decide.tally import render_template
from engine.estimate import hardware, memory
from engine.language.catalog import Gpu, MemoryConstants, ModelShape, Stage
from engine.language.ir import Rule, RuleBase
from engine.memo import Memo
from engine.runtime.firing import Firing

ESTIMATE_INPUTS = ("precision", "seq_len", "batch_size", "lora_rank", "alignment")   # what the estimators read
MEMO_SIZE = 256   # memoised estimates and spaces per engine (oldest dropped first)


@dataclass(frozen=True)
class Outcome:
    """The planner's result and the pins it had to honour against the rules."""

    result: PlanResult
    lifted: tuple[Effect, ...] = ()      # rule exclusions of pinned options that were overridden


@dataclass
class Planner:
    """The plan search of one rule base (built once per engine)."""

    rulebase: RuleBase
    constants: MemoryConstants
    gpus: Sequence[Gpu]
    values: dict[str, tuple[Any, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self._memo: Memo[Estimates] = Memo(MEMO_SIZE)
        self._spaces: Memo[tuple[Space, OfferFacts]] = Memo(MEMO_SIZE)
        self.values = space.axis_values(self.rulebase)
        self._gpu = {g.id: g for g in self.gpus}
        self._entries = {name: {e.id: e for e in c.entries} for name, c in self.rulebase.catalogs.items()}
        self.headroom = float(self.constants.get("gpu-headroom-fraction"))

    def plan_values(self, facts: Mapping[str, Any] | None = None) -> dict[str, tuple[Any, ...]]:
        """The values asserted into durable-rules for rules with a ``plan:`` clause: every value of each axis,
        or only the pinned one for an axis the constraints fix."""
        pinned = space.pins(facts or {})
        return {axis: (pinned[axis],) if axis in pinned else values for axis, values in self.values.items()}

    def effects(self, firings: Sequence[Firing], rules: Mapping[str, Rule],
                becauses: Sequence[str] | None = None) -> list[Effect]:
        """What the fired rules do to plans (one effect per firing and plan action); ``becauses``, when the
        caller has rendered the firings' reasons already, index-aligned with ``firings``."""
        out: list[Effect] = []
        for index, firing in enumerate(firings):
            rule = rules[firing.rule_id]
            entry = self._entries[rule.join].get(firing.entry_id or "") if rule.join else None
            because: str | None = becauses[index] if becauses is not None else None
            for action in rule.actions:
                if action.kind not in ("exclude", "score", "require") or action.decision not in AXES:
                    continue
                option = action.option if action.option is not None else firing.entry_id
                if option is None:
                    continue
                if because is None:
                    because = render_template(rule.because, firing.ctx, entry, dict(firing.plan))
                out.append(Effect(rule, action.decision, option, action.kind, action.points, because, firing.plan))
        return out

    def training_setup(self, setup: Setup, facts: Mapping[str, Any]) -> memory.TrainingSetup:
        """The memory model's view of a set-up: precision, sequence, batch, rank, strategy, tool savings."""
        records = self.rulebase.records
        precision = str(facts.get("precision", "auto"))
        if precision == "auto":
            precision = records.default_precision.get(setup.method, "mixed")
        strategy = records.strategies[setup.sharding]
        savings = records.tool_savings.get(setup.tool)
        stage = self.stage(facts)
        reference = stage.reference_model if stage is not None else False
        reward = stage.reward_models if stage is not None else 0
        return memory.TrainingSetup(
            method=setup.method, precision=precision, seq_len=int(facts.get("seq_len", 2048)),
            batch_size=int(facts.get("batch_size", 1)), gradient_checkpointing=setup.gradient_checkpointing,
            lora_rank=int(facts.get("lora_rank", 16)), gpu_count=setup.gpu_count,
            sharding=strategy.memory, tool_savings=savings or None,
            sequences_per_example=stage.sequences_per_example if stage is not None else 1,
            frozen_copies=(1 if reference and setup.method == "full" else 0) + reward, reference_forward=reference)

    def stage(self, facts: Mapping[str, Any]) -> Stage | None:
        """The alignment catalog's record of the training stage (None for an unknown stage)."""
        name = str(facts.get("alignment") or "none")
        return self.rulebase.records.stages.get("sft" if name == "none" else name)

    def generation_share(self, facts: Mapping[str, Any]) -> float:
        """The share of each GPU's memory a colocated generation engine reserves for the stage (GRPO)."""
        stage = self.stage(facts)
        return stage.generation_memory_fraction if stage is not None else 0.0

    def scaling(self, setup: Setup) -> float:
        """The share of linear speed-up each doubling of GPUs keeps under the set-up's strategy."""
        return self.rulebase.records.strategies[setup.sharding].scaling_efficiency

    def estimates(self, shape: ModelShape, setups: Sequence[Setup], facts: Mapping[str, Any]) -> Estimates:
        """Memory and time of every set-up; set-ups that the estimators cannot tell apart (tools without
        documented savings, strategies with one memory model) share one estimate. Memoised per inputs."""
        inputs = tuple(facts.get(k) for k in ESTIMATE_INPUTS)
        key = (shape, inputs, tuple(setups))
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        by_class: dict[tuple[Any, ...], tuple[float, float, float]] = {}
        need: list[float] = []
        compute: list[float] = []
        floor: list[float] = []
        for setup in setups:
            strategy = self.rulebase.records.strategies[setup.sharding]
            cls = (self.rulebase.records.tool_savings.get(setup.tool), setup.method,
                   setup.gradient_checkpointing, setup.gpu_count, strategy.memory, strategy.scaling_efficiency)
            numbers = by_class.get(cls)
            if numbers is None:
                training = self.training_setup(setup, facts)
                parts = hardware.time_parts(shape, training, self.constants, self.scaling(setup))
                numbers = (hardware.needed_gib(shape, training, self.constants), parts[0], parts[1])
                by_class[cls] = numbers
            need.append(numbers[0])
            compute.append(numbers[1])
            floor.append(numbers[2])
        result = Estimates(need, compute, floor)
        return self._memo.put(key, result)

    def offer_facts(self, offers: Sequence[Offer], reserved: float = 0.0) -> OfferFacts:
        """Usable memory (after the headroom and a generation engine's ``reserved`` share) and TFLOPS per offer."""
        gpus = [self._gpu[o.gpu] for o in offers]
        return OfferFacts([g.vram_gib * (1.0 - self.headroom - reserved) for g in gpus],
                          [g.training_tflops for g in gpus])

    def space_for(self, facts: Mapping[str, Any]) -> tuple[dict[str, Any], Space, OfferFacts]:
        """The pins, set-ups and offers of some constraints (memoised: they depend on the pins and owned GPUs)."""
        pinned = space.pins(facts)
        reserved = self.generation_share(facts)
        key = (tuple(sorted(pinned.items(), key=lambda kv: kv[0])), facts.get("owned_gpu"),
               facts.get("owned_gpu_count"), reserved)
        cached = self._spaces.get(key)
        if cached is None:
            setups = tuple(space.setups(self.rulebase, self.values, pinned))
            offers = tuple(space.offers(self.rulebase, facts, pinned))
            cached = self._spaces.put(key, (Space(setups, offers, self.values), self.offer_facts(offers, reserved)))
        return pinned, cached[0], cached[1]

    def search(self, facts: Mapping[str, Any], shape: ModelShape, effects: Sequence[Effect], *,
               overrides: Mapping[str, Any] | None = None) -> Outcome:
        """The best plan for the constraints (``overrides`` replace facts, for what-if questions)."""
        facts = {**facts, **(overrides or {})}
        pinned, grid_space, offer_facts = self.space_for(facts)
        setups = grid_space.setups
        tokens = None
        if facts.get("dataset_tokens") is not None:
            tokens = float(facts["dataset_tokens"]) * float(facts.get("epochs", 1))
        budget = facts.get("budget_usd")

        def grid(lifted: frozenset[str]) -> Grid:
            return Grid(grid_space, self.estimates(shape, setups, facts), offer_facts,
                        effects, objective_for(self.rulebase, facts),
                        hours_given=float(facts["train_hours"]) if facts.get("train_hours") is not None else None,
                        tokens=tokens, budget=float(budget) if budget is not None else None,
                        pinned=pinned, lifted=lifted,
                        owned_ids=frozenset(x for x in (space.owned_platform(self.rulebase), "owned") if x))

        first = grid(frozenset())
        result = plan_grid(first)
        lifts = frozenset(a for a in pinned if a in AXES)
        if result.best is None and lifts and any(e.kind != "score" and pinned.get(e.decision) == e.option
                                                 for e in effects):
            second = grid(lifts)
            retry = plan_grid(second)
            if retry.best is not None:
                lifted = tuple(e for e in effects if e.kind != "score" and pinned.get(e.decision) == e.option
                               and e.decision in lifts)
                return Outcome(retry, lifted)
        return Outcome(result)
