"""One evaluation, discarded afterwards: the constraints normalised, the plan stage evaluated once, the planner's
choice adopted (estimates, cost, the chosen plan's facts), the delivery stage, the warnings the engine's own
checks raise (what would fit when nothing does, a budget no plan meets, owned GPUs left unused), the result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.decide.comparisons import describe
from engine.decide.records import Effect, Plan, Rejection, Setup
from engine.decide.search import Outcome
from engine.decide.tally import DecisionResult, format_value, render_template, tally
from engine.decide.view import LazyDecisions, plan_decisions
from engine.estimate import hardware, memory
from engine.estimate.shapes import generic_shape
from engine.explain.advisories import engine_warning
from engine.explain.recommendation import Advisory, Estimate, TraceStep
from engine.inputs.modelconfig import ConfigShape
from engine.language.catalog import Gpu, ModelShape
from engine.language.decisions import DECISIONS
from engine.language.ir import Rule
from engine.render.views import Report
from engine.runtime.firing import Firing

if TYPE_CHECKING:
    from engine.pipeline import Engine


class Run:
    """The state of one evaluation; discarded afterwards."""

    def __init__(self, engine: Engine, facts: dict[str, Any], given: set[str], today: dt.date,
                 model_config: ConfigShape | None = None) -> None:
        self.model_config = model_config
        self.engine = engine
        self.given = given
        self.today = today
        self.rb = engine.rulebase
        self.facts = facts
        self.ctx: dict[str, Any] = dict(facts)
        self.derived: dict[str, str] = {}          # derived fact -> how it was computed
        self.trace: list[TraceStep] = []
        self.decisions: dict[str, DecisionResult] = {}
        self.warnings: list[Advisory] = []
        self.estimates: dict[str, Estimate] = {}
        self.constants = engine.constants
        self.gpus = engine.gpus
        self.shape = self._shape()
        self.outcome: Outcome | None = None
        self.effects: list[Effect] = []

    # -- stages ------------------------------------------------------------------------------
    def run(self) -> Report:
        how = ("model catalog" if self.facts.get("model") else
               f"config.json of {self.model_config.name}" if self.model_config is not None
               else "model_params_b (generic shape)")
        self._set("params_b", round(self.shape.params_b, 3), how)
        if self.model_config is not None and self.model_config.notes:
            self._warn("model-config-approximation", f"{self.model_config.name} from its config.json: "
                       + "; ".join(self.model_config.notes), "config.json", "info")
        firings = self._evaluate("plan")
        plan_warnings = self._record("plan", firings)
        effects = self.engine.planner.effects(firings, self.engine.rules_by_stage["plan"],
                                              [because for _, _, because in self._conclusions])
        self.effects = effects
        self.outcome = self.engine.planner.search(self.facts, self.shape, effects)
        best = self.outcome.result.best
        for advisory, matched in plan_warnings:  # a warning limited to some plans holds if the chosen one matches
            if best is not None and all(best.get(axis) == value for axis, value in matched):
                self.warnings.append(advisory)
        for effect in self.outcome.lifted:   # a pin over an exclusion matters where the chosen plan has it
            if best is not None and not all(best.get(axis) == value for axis, value in effect.plan):
                continue
            self._warn(f"{effect.decision}-pinned-excluded", f"{effect.option} is pinned although rule "
                       f"{effect.rule.id} excludes it{f' for {effect.where()}' if effect.plan else ''}: "
                       f"{effect.because}", "pinned choice", "warning", effect.rule.id)
        if best is None:
            self._explain_no_plan()
        else:
            self._adopt(best)
            self._explain_generation_share(best)
            self._explain_owned_unused(best)
            if self.outcome.result.cheapest_over_budget is not None:
                self._explain_over_budget(best)
        self._record("delivery", self._evaluate("delivery"))
        for name, spec in DECISIONS.items():
            if spec.stage == "delivery":
                self.decisions[name] = tally(name, self.rb.catalogs[spec.catalog], self._conclusions, pinned=None)
        outcome, rulebase, facts = self.outcome, self.rb, dict(self.facts)
        decisions = LazyDecisions(self.decisions, lambda: plan_decisions(rulebase, outcome, facts))
        return Report(
            facts=dict(self.facts), derived={k: self.ctx[k] for k in self.derived if k in self.ctx},
            derived_how=dict(self.derived), decisions=decisions, estimates=self.estimates,
            warnings=self.warnings, trace=self.trace, rulebase=self.rb, shape=self.shape,
            given=frozenset(self.given), plan=best, planning=self.outcome.result,
        )

    def _evaluate(self, stage: str, ctx: Mapping[str, Any] | None = None) -> list[Firing]:
        facts = self.ctx if ctx is None else ctx
        values = self.engine.planner.plan_values(facts) if stage == "plan" else None
        return self.engine.runtime.evaluate(stage, facts, self.engine.entries, values)

    def _record(self, stage: str, firings: list[Firing]) -> list[tuple[Advisory, tuple[tuple[str, Any], ...]]]:
        """Trace the firings; collect the warnings they raise (with the plan values they are limited to)."""
        rules = self.engine.rules_by_stage[stage]
        self._conclusions: list[tuple[Rule, str | None, str]] = []
        warnings: list[tuple[Advisory, tuple[tuple[str, Any], ...]]] = []
        for firing in firings:
            rule = rules[firing.rule_id]
            catalog = self.rb.catalogs[rule.join] if rule.join else None
            entry = catalog.by_id(firing.entry_id) if catalog and firing.entry_id else None
            plan = dict(firing.plan)
            because = render_template(rule.because, firing.ctx, entry, plan)  # once, for the trace and decisions
            self._conclusions.append((rule, firing.entry_id, because))
            self.trace.append(TraceStep(stage, rule, firing, because))
            for action in rule.actions:
                if action.kind == "warn":
                    advisory = Advisory(action.warning, render_template(action.message, firing.ctx, entry, plan),
                                        rule.source, rule.id, action.level)
                    if stage == "plan":
                        warnings.append((advisory, firing.plan))
                    else:
                        self.warnings.append(advisory)
        return warnings

    def _warn(self, warning_id: str, message: str, source: str, level: str = "warning", rule: str = "") -> None:
        self.warnings.append(Advisory(engine_warning(warning_id), message, source, rule, level))

    def _set(self, name: str, value: Any, how: str) -> None:
        self.ctx[name] = value
        self.derived[name] = how

    # -- model ---------------------------------------------------------------------------------
    def _shape(self) -> ModelShape:
        model_id = self.facts.get("model")
        if model_id:
            shape = self.rb.records.models[model_id]  # normalise() checked the id, the loader the shape
            given_b = self.facts.get("model_params_b")
            if given_b is not None and abs(float(given_b) - shape.params_b) > 0.1 * shape.params_b:
                self._warn("model-size-ignored", f"model_params_b = {given_b} is ignored: {model_id} has "
                           f"{shape.params_b:.1f}B parameters (its published shape is used)", "models catalog")
            return shape
        if self.model_config is not None:
            return self.model_config.shape
        return generic_shape(float(self.facts["model_params_b"]))

    def _gpu(self, gpu_id: str | None) -> Gpu | None:
        return next((g for g in self.gpus if g.id == gpu_id), None)

    def entry_label(self, catalog: str, entry_id: Any) -> str:
        """An entry's display name."""
        entry = self.rb.catalogs[catalog].by_id(str(entry_id))
        return str(entry.get("name", entry_id)) if entry else str(entry_id)

    # -- the chosen plan -----------------------------------------------------------------------
    def _adopt(self, plan: Plan) -> None:
        """The chosen plan's facts for the delivery rules, and its memory, hardware and cost estimates."""
        setup, offer = plan.setup, plan.offer
        training = self.engine.planner.training_setup(setup, self.facts)
        est = memory.estimate_memory(self.shape, training, self.constants)
        self.estimates["memory"] = Estimate("memory", est, training)
        gpu = self._gpu(offer.gpu)
        assert gpu is not None
        fit = hardware.GpuFit(offer.gpu, setup.gpu_count, plan.per_gpu_gib, gpu.vram_gib,
                              plan.usable_gib - plan.per_gpu_gib, True,
                              f"needs {plan.per_gpu_gib:.1f} GiB per GPU on {setup.gpu_count} x {offer.gpu} "
                              f"({setup.sharding}); {plan.usable_gib:.1f} GiB usable of {gpu.vram_gib:.1f} GiB")
        self.estimates["hardware"] = Estimate("hardware", fit, offer)
        how = "the plan"
        for name, value in (("chosen_tool", setup.tool), ("chosen_method", setup.method),
                            ("chosen_gradient_checkpointing", setup.gradient_checkpointing),
                            ("chosen_sharding", setup.sharding), ("chosen_platform", offer.platform),
                            ("chosen_gpu", offer.gpu), ("chosen_gpu_count", setup.gpu_count),
                            ("chosen_tier", offer.tier)):
            self._set(name, value, how)
        self._set("peak_gib", round(est.peak_gib, 2), "memory estimate")
        self._set("per_gpu_gib", round(plan.per_gpu_gib, 2), "memory estimate per GPU, with the CUDA context")
        self._estimate_cost(plan, training, gpu)

    def _estimate_cost(self, plan: Plan, training: memory.TrainingSetup, gpu: Gpu) -> None:
        setup, offer = plan.setup, plan.offer
        if "train_hours" in self.facts:
            how = "given (train_hours)"
        elif "dataset_tokens" in self.facts:
            _, how = hardware.training_hours(self.shape, training, gpu, setup.gpu_count,
                                             float(self.facts["dataset_tokens"]), float(self.facts.get("epochs", 1)),
                                             self.constants, self.engine.planner.scaling(setup))
        else:
            how = "unknown: give train_hours or dataset_tokens"
        cost: dict[str, Any] = {"hours": None if plan.hours is None else round(plan.hours, 2), "hours_how": how,
                                "gpu_count": setup.gpu_count, "price_per_gpu_hour_usd": offer.usd_per_gpu_hour,
                                "price_as_of": offer.as_of or None, "price_tier": offer.tier,
                                "price_source": offer.source, "price_age_days": None,
                                "billed_gpus": plan.billed_gpus,
                                "usd_per_million_tokens": round(plan.usd_per_mtok, 4),
                                "tokens_per_hour": round(plan.tokens_per_hour)}
        if offer.as_of:
            age = (self.today - dt.date.fromisoformat(offer.as_of)).days
            cost["price_age_days"] = age
            self._set("price_age_days", age, f"price dated {offer.as_of}")
        if plan.billed_gpus > setup.gpu_count:
            self._warn("whole-instance", f"{self.entry_label('platforms', offer.platform)} rents {gpu.name} only as "
                       f"{plan.billed_gpus}-GPU instances ({offer.note}): you pay for {plan.billed_gpus} GPUs while "
                       f"the run uses {setup.gpu_count}; the cost counts {plan.billed_gpus}", offer.source)
        total = plan.total_usd if plan.total_usd is not None else (0.0 if offer.usd_per_gpu_hour == 0 else None)
        if plan.hours is not None:
            self._set("hours", round(plan.hours, 2), how)
        if total is not None:
            cost["total_usd"] = round(total, 2)
            self._set("total_usd", round(total, 2), "hours × billed GPUs × price per GPU-hour"
                      if plan.total_usd is not None else "no rent: 0 USD per GPU-hour")
            budget = self.facts.get("budget_usd")
            within = budget is None or total <= float(budget) + 1e-9
            cost["within_budget"] = within
            if budget is not None:
                cost["budget_margin_usd"] = round(float(budget) - total, 2)
                self._set("budget_margin_usd", cost["budget_margin_usd"], "budget_usd − total_usd")
            self._set("within_budget", within, "total_usd ≤ budget_usd")
        budget = self.facts.get("budget_usd")
        if total is None and budget is not None and plan.usd_per_mtok > 0:
            cost["budget_buys_tokens"] = round(float(budget) / plan.usd_per_mtok * 1e6)
        if self.engine.planner.generation_share(self.facts):
            cost["not_counted"] = "generating the completions, often the longer part of each step"
        self.estimates["cost"] = Estimate("cost", cost, None)

    # -- when the constraints cannot all be met --------------------------------------------------
    def _explain_no_plan(self) -> None:
        """A critical warning: which checks and rules leave no plan, and what would fit."""
        assert self.outcome is not None
        reasons = self.outcome.result.blocked_reasons
        text = "; ".join(r.message for r in reasons) or "no set-up or offer is left after the pins"
        self._warn("nothing-fits", f"no plan satisfies the constraints: {text}{self._what_would_fit(reasons)}",
                   "planner checks", "critical")

    def _what_would_fit(self, reasons: list[Rejection]) -> str:
        if not any(r.check == "memory-fit" for r in reasons):
            return ""
        target = self._gpu(self.facts.get("gpu")) or self._gpu(self.facts.get("owned_gpu")) or max(
            self.gpus, key=lambda g: g.vram_gib)
        method = self.facts.get("method", "auto")
        count = int(self.facts.get("gpu_count", 1))
        ckpt = self.facts.get("gradient_checkpointing", "auto") == "true"
        lean = self.engine.planner.training_setup(
            Setup("", "qlora" if method == "auto" else str(method), ckpt, count, "none" if count == 1 else "fsdp"),
            self.facts)
        tips = hardware.suggestions_if_not_fitting(self.shape, lean, self.constants, target,
                                                   headroom_fraction=self.engine.planner.headroom)
        return f". What would fit on {target.name}: " + "; ".join(tips) if tips else ""

    def _explain_generation_share(self, plan: Plan) -> None:
        """A stage that generates while it trains (GRPO): the share of each GPU its generation engine takes."""
        share = self.engine.planner.generation_share(self.facts)
        if not share:
            return
        gpu = next(g for g in self.gpus if g.id == plan.offer.gpu)
        stage = str(self.facts.get("alignment")).upper()
        self._warn("generation-memory", f"{stage} generates completions while it trains: "
                   f"with vLLM colocated (vllm_mode='colocate', vllm_gpu_memory_utilization={share:g}) "
                   f"{share * gpu.vram_gib:.1f} GiB of each {gpu.name}'s {gpu.vram_gib:g} GiB are reserved for "
                   f"generation, and the training step ({plan.per_gpu_gib:.1f} GiB with the CUDA context) fits in "
                   "the rest; a vLLM "
                   "server on a separate GPU (vllm_mode='server') frees that share. The time estimate counts the "
                   "training step only, not generation", "alignment catalog (TRL GRPOConfig)", "info")

    def _explain_owned_unused(self, plan: Plan) -> None:
        """The user owns a GPU but the plan rents: say why their GPU was not used, and what would fit on it."""
        owned = self.facts.get("owned_gpu")
        if not owned or plan.offer.tier == "owned" or self.outcome is None:
            return
        mine = [r for r in self.outcome.result.rejections.get("tier", []) if r.option == "owned"]
        chosen = next((r for r in mine if r.check == "memory-fit"), mine[0] if mine else None)
        why = chosen.message if chosen is not None else "no plan on it passes the checks"
        gpu = self._gpu(str(owned))
        assert gpu is not None
        count = int(self.facts.get("owned_gpu_count") or 1)
        one = replace(plan.setup, gpu_count=1, sharding="none")
        tips = hardware.suggestions_if_not_fitting(self.shape, self.engine.planner.training_setup(one, self.facts),
                                                   self.constants, gpu, max_count=count,
                                                   headroom_fraction=self.engine.planner.headroom)
        fit = "; what would fit on it: " + "; ".join(tips) if tips else ""
        self._warn("owned-gpu-unused", f"the plan rents {plan.setup.gpu_count} × {plan.offer.gpu} on "
                   f"{self.entry_label('platforms', plan.offer.platform)} although you own {count} × {gpu.name}: "
                   f"{why}{fit}", "planner: owned_gpu", "warning")

    def _explain_over_budget(self, plan: Plan) -> None:
        """No plan is within budget: by how much the cheapest is over, and what would bring it in."""
        budget = float(self.facts["budget_usd"])
        assert plan.total_usd is not None
        over = plan.total_usd - budget
        ideas: list[str] = []
        if plan.setup.method != "qlora":
            qlora = self._what_if({"method": "qlora"})
            if qlora is not None and qlora.total_usd is not None and qlora.total_usd < plan.total_usd:
                ideas.append(f"QLoRA: {qlora.total_usd:.2f} USD ({describe(qlora)})")
        share = budget / plan.total_usd if plan.total_usd > 0 else 0.0
        if "train_hours" in self.facts:
            ideas.append(f"train for at most {float(self.facts['train_hours']) * share:.1f} h instead of "
                         f"{format_value(self.facts['train_hours'])} h")
        elif "dataset_tokens" in self.facts:
            tokens = float(self.facts["dataset_tokens"]) * float(self.facts.get("epochs", 1))
            ideas.append(f"train on at most {_tokens(tokens * share)} tokens instead of {_tokens(tokens)} "
                         f"({share:.0%} of dataset_tokens × epochs)")
        if not self.facts.get("preemptible_ok"):
            spot = self._what_if({"preemptible_ok": True})
            if spot is not None and spot.total_usd is not None and spot.total_usd < plan.total_usd:
                ideas.append(f"allow spot/community GPUs (preemptible_ok): {spot.total_usd:.2f} USD ({describe(spot)})")
        smaller = self._smaller_model(budget, plan)
        if smaller:
            ideas.append(smaller)
        self._warn("over-budget-plan", f"no plan is within the budget of {budget:g} USD: the cheapest, "
                   f"{describe(plan)}, costs {plan.total_usd:.2f} USD, {over:.2f} USD over"
                   + (". What would bring it in or closer: " + "; ".join(ideas) if ideas else ""),
                   "planner: objective term within_budget", "warning")

    def _what_if(self, overrides: Mapping[str, Any]) -> Plan | None:
        """The best plan if some constraints were different (rules re-evaluated on the changed facts)."""
        facts = {**self.facts, **overrides}
        firings = self._evaluate("plan", {**self.ctx, **overrides})
        effects = self.engine.planner.effects(firings, self.engine.rules_by_stage["plan"])
        return self.engine.planner.search(facts, self.shape, effects).result.best

    def _smaller_model(self, budget: float, plan: Plan) -> str:
        """The largest smaller generic model whose cheapest plan is within budget: cost grows about linearly
        with the parameters (faster when the smaller model also needs fewer GPUs), so the sizes up to four
        times the budget's share are tried, largest first, three at most."""
        assert plan.total_usd is not None
        target = self.shape.params_b * budget / plan.total_usd if plan.total_usd > 0 else 0.0
        sizes = [size for size in SMALLER_MODELS_B if size < self.shape.params_b and size <= 4 * target][:3]
        if not sizes:
            return ""
        for size in sizes:  # only the shape changes, not the facts the rules read: the same effects hold
            found = self.engine.planner.search(self.facts, generic_shape(size), self.effects).result.best
            if found is not None and found.total_usd is not None and found.total_usd <= budget:
                return f"a model of about {size:g}B parameters: {found.total_usd:.2f} USD ({describe(found)})"
        return ""


SMALLER_MODELS_B = (70.0, 32.0, 14.0, 8.0, 3.0, 1.0, 0.5)   # sizes suggested when a budget is too small


def _tokens(count: float) -> str:
    """A token count as people write it: 27.3 M, 1.2 B."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit}"
    return f"{count:.0f}"
