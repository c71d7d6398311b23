"""One recommendation, end to end: facts → choice stage (tool, method) → memory estimate →
infrastructure stage (GPU, platform; fit, price) → cost → delivery stage (workflow, deployment,
warnings) → Recommendation with its provenance graph. Each stage is a durable-rules evaluation;
between stages the estimators add derived facts that later rules read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine import hardware, memory
from engine.compiler import compile_rulebase
from engine.decisions import DECISIONS
from engine.facts import normalise
from engine.ir import STAGES, CatalogEntry, Rule, RuleBase
from engine.loader import load_rules
from engine.recommendation import Advisory, Estimate, Recommendation, TraceStep
from engine.runtime import DurableRuntime
from engine.tally import DecisionResult, Effect, render_template, tally

REFERENCE_DATE = dt.date(2026, 11, 28)   # the date golden files and committed diagrams are drawn as of
PRICE_STALE_DAYS = 365
GPU_COUNTS = (1, 2, 4, 8)
_SPOT_TIERS = ("spot", "community")


@dataclass
class Engine:
    """A loaded rule base with its compiled durable-rules runtime."""

    rulebase: RuleBase
    runtime: DurableRuntime
    today: dt.date = field(default_factory=dt.date.today)
    constants: memory.MemoryConstants = field(init=False)
    gpus: list[hardware.Gpu] = field(init=False)
    rules_by_stage: dict[str, dict[str, Rule]] = field(init=False)
    entries: dict[str, tuple[CatalogEntry, ...]] = field(init=False)

    def __post_init__(self) -> None:
        # built once per rule base: every evaluation reads them
        cat = self.rulebase.catalogs
        self.constants = memory.MemoryConstants.from_entries([{"id": e.id, **e.attrs} for e in cat["memory"].entries])
        self.gpus = [hardware.Gpu.from_entry({"id": e.id, **e.attrs}) for e in cat["gpus"].entries]
        self.rules_by_stage = {stage: {r.id: r for r in self.rulebase.rules_in_stage(stage)} for stage in STAGES}
        self.entries = {name: catalog.entries for name, catalog in self.rulebase.catalogs.items()}

    @classmethod
    def for_rules(cls, rules_dir: str | Path | None = None) -> Engine:
        """The engine of a rules directory, compiled once per content."""
        return _engine_for(load_rules(rules_dir))

    def recommend(self, constraints: Mapping[str, Any], *, today: dt.date | None = None) -> Recommendation:
        """Evaluate the constraints into an explained recommendation; ``today`` dates the prices' age
        (default: the engine's date, which is the real date unless fixed for reproducible output)."""
        given = {str(k).replace("-", "_") for k, v in constraints.items() if v is not None}
        return _Run(self, normalise(constraints, self.rulebase), given, today or self.today).run()


@lru_cache(maxsize=8)
def _engine_for(rulebase: RuleBase) -> Engine:
    return Engine(rulebase, DurableRuntime(compile_rulebase(rulebase)))


def recommend(constraints: Mapping[str, Any], rules_dir: str | Path | None = None) -> Recommendation:
    """Recommend a fine-tuning setup for ``constraints`` (fact name → value) using ``rules_dir``."""
    return Engine.for_rules(rules_dir).recommend(constraints)


class _Run:
    """The state of one evaluation; discarded afterwards."""

    def __init__(self, engine: Engine, facts: dict[str, Any], given: set[str], today: dt.date) -> None:
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

    # -- stages ------------------------------------------------------------------------------
    def run(self) -> Recommendation:
        self._derive_choice_facts()
        self._stage("choice", pins={"tool": self.facts.get("tool")})
        self._estimate_memory()
        self._stage("infrastructure", pins={"platform": self.facts.get("platform"), "gpu": self.facts.get("gpu")})
        self._choose_hardware()
        self._estimate_cost()
        self._stage("delivery", pins={})
        return Recommendation(
            facts=dict(self.facts), derived={k: self.ctx[k] for k in self.derived if k in self.ctx},
            derived_how=dict(self.derived), decisions=self.decisions, estimates=self.estimates,
            warnings=self.warnings, trace=self.trace, rulebase=self.rb, shape=self.shape,
            given=frozenset(self.given),
        )

    def _stage(self, stage: str, pins: Mapping[str, str | None]) -> None:
        firings = self.engine.runtime.evaluate(stage, self.ctx, self.engine.entries)
        rules = self.engine.rules_by_stage[stage]
        conclusions: list[tuple[Rule, str | None, str]] = []
        for firing in firings:
            rule = rules[firing.rule_id]
            catalog = self.rb.catalogs[rule.join] if rule.join else None
            entry = catalog.by_id(firing.entry_id) if catalog and firing.entry_id else None
            because = render_template(rule.because, firing.ctx, entry)  # once, for the trace and every decision
            conclusions.append((rule, firing.entry_id, because))
            self.trace.append(TraceStep(stage, rule, firing, because))
            for action in rule.actions:
                if action.kind == "warn":
                    self.warnings.append(Advisory(action.warning, render_template(action.message, firing.ctx, entry),
                                                  rule.source, rule.id, action.level))
        for name, spec in DECISIONS.items():
            if spec.stage == stage:
                self.decisions[name] = tally(name, self.rb.catalogs[spec.catalog], conclusions, pinned=pins.get(name))
        for result in self.decisions.values():
            for note in result.notes:
                self._warn(f"{result.name}-pinned-excluded", note, "pinned choice", "warning")
            result.notes.clear()

    def _warn(self, warning_id: str, message: str, source: str, level: str = "warning", rule: str = "") -> None:
        self.warnings.append(Advisory(warning_id, message, source, rule, level))

    def _set(self, name: str, value: Any, how: str) -> None:
        self.ctx[name] = value
        self.derived[name] = how

    # -- model and memory ----------------------------------------------------------------------
    def _shape(self) -> memory.ModelShape:
        model_id = self.facts.get("model")
        if model_id:
            entry = self.rb.catalogs["models"].by_id(model_id)
            assert entry is not None  # normalise() checked the id
            shape = memory.ModelShape.from_entry({"id": entry.id, **entry.attrs})
            given_b = self.facts.get("model_params_b")
            if given_b is not None and abs(float(given_b) - shape.params_b) > 0.1 * shape.params_b:
                self._warn("model-size-ignored", f"model_params_b = {given_b} is ignored: {model_id} has "
                           f"{shape.params_b:.1f}B parameters (its published shape is used)", "models catalog")
            return shape
        return memory.generic_shape(float(self.facts["model_params_b"]))

    def _setup(self, method: str, gpu_count: int, tool: str | None = None) -> memory.TrainingSetup:
        precision = self.facts.get("precision", "auto")
        if precision == "auto":
            precision = "mixed"
        # one GPU: nothing to shard; several: ZeRO-3 for full fine-tuning, FSDP for adapters (FSDP+QLoRA)
        sharding = ("zero3" if method == "full" else "fsdp") if gpu_count > 1 else "ddp"
        return memory.TrainingSetup(
            method=method, precision=precision, seq_len=int(self.facts.get("seq_len", 2048)),
            batch_size=int(self.facts.get("batch_size", 1)),
            gradient_checkpointing=bool(self.facts.get("gradient_checkpointing", False)),
            lora_rank=int(self.facts.get("lora_rank", 16)), gpu_count=gpu_count, sharding=sharding,
            tool_savings="unsloth" if tool == "unsloth" else None,
        )

    def _derive_choice_facts(self) -> None:
        self._set("params_b", round(self.shape.params_b, 3), "model catalog" if self.facts.get("model")
                  else "model_params_b (generic shape)")
        count = self.facts.get("gpu_count")
        self._set("multi_gpu", bool(count and count > 1), "gpu_count > 1")
        pinned = self._gpu(self.facts.get("gpu"))
        self._set("gpu_vram_gib", pinned.vram_gib if pinned else 0.0, "pinned GPU's usable memory")
        largest = pinned or max(self.gpus, key=lambda g: g.vram_gib)
        self._set("largest_vram_gib", largest.vram_gib,
                  f"{'pinned' if pinned else 'largest catalog'} GPU ({largest.id})")
        for method in ("full", "lora", "qlora"):
            fit = self._fit_on(largest, method, count)
            where = f"{fit.count} × {largest.id}"
            self._set(f"{method}_per_gpu_gib", round(fit.per_gpu_gib, 1),
                      f"memory estimate for {method} on {where}, with the CUDA context")
            self._set(f"{method}_fits", fit.fits, f"{method} fits {where} with headroom")
            self._set(f"{method}_min_gpus", fit.count if fit.fits else 0,
                      f"fewest {largest.id} GPUs {method} fits on (0: none up to {max(GPU_COUNTS)})")

    def _fit_on(self, gpu: hardware.Gpu, method: str, count: int | None) -> hardware.GpuFit:
        """The fit of ``method`` on ``gpu``: the given count, else one GPU unsharded or 2-8 sharded."""
        headroom = self._headroom()
        if count:
            return hardware.fit_gpus(self.shape, self._setup(method, count), self.constants, [gpu],
                                     pinned_count=count, headroom_fraction=headroom)[0]
        single = hardware.fit_gpus(self.shape, self._setup(method, 1), self.constants, [gpu], pinned_count=1,
                                   headroom_fraction=headroom)[0]
        if single.fits:
            return single
        sharded = replace(self._setup(method, 2), gpu_count=1)
        return hardware.fit_gpus(self.shape, sharded, self.constants, [gpu], headroom_fraction=headroom)[0]

    def _headroom(self) -> float:
        return float(self.constants.get("gpu-headroom-fraction"))

    def _estimate_memory(self) -> None:
        method = self.decisions["method"].choice
        tool = self.decisions["tool"].choice
        if method is None:
            return
        self._set("chosen_method", method, "method decision")
        if tool:
            self._set("chosen_tool", tool, "tool decision")
        count = int(self.facts.get("gpu_count", 1))
        est = memory.estimate_memory(self.shape, self._setup(method, count, tool), self.constants)
        self.estimates["memory"] = Estimate("memory", est, self._setup(method, count, tool))
        self._set("peak_gib", round(est.peak_gib, 2), "memory estimate")

    def _gpu(self, gpu_id: str | None) -> hardware.Gpu | None:
        return next((g for g in self.gpus if g.id == gpu_id), None)

    # -- hardware and platform -------------------------------------------------------------------
    def _choose_hardware(self) -> None:
        """Choose platform, GPU type and count: the best-ranked platform's cheapest GPU setup that fits."""
        platform_d, gpu_d = self.decisions["platform"], self.decisions["gpu"]
        method = self.decisions["method"].choice
        if method is None:  # no method fits: say what would, on the smallest footprint (QLoRA)
            platform_d.choice = gpu_d.choice = None
            smallest = self._setup("qlora", int(self.facts.get("gpu_count", 1)))
            self._warn("nothing-fits", self._does_not_fit_message(smallest), "memory estimate", "critical")
            return
        tool = self.decisions["tool"].choice
        setup = self._setup(method, int(self.facts.get("gpu_count", 1)), tool)
        fits = self._fits(method, tool)
        self.estimates["fits"] = Estimate("fits", fits, setup)
        for gpu_id, fit in fits.items():
            if not fit.fits and gpu_id in gpu_d.options and not gpu_d.options[gpu_id].excluded:
                gpu_d.exclude(gpu_id, "memory-fit", fit.reason)
        platforms = [platform_d.options[platform_d.pinned]] if platform_d.pinned else platform_d.ranking()
        tool_entry = self.rb.catalogs["tools"].by_id(tool) if tool else None
        single_gpu_tool = tool_entry is not None and tool_entry.get("multi_gpu") == "limited"
        chosen = None
        if single_gpu_tool and "gpu_count" not in self.facts:
            # a tool whose multi-GPU support is limited gets a single-GPU setup whenever one fits
            single = {g: f for g, f in fits.items() if f.fits and f.count == 1}
            chosen = self._pick(platforms, gpu_d, single, method, mark=False)
        if chosen is None:
            chosen = self._pick(platforms, gpu_d, fits, method, mark=True)
            if chosen is not None and chosen[2] > 1 and single_gpu_tool and tool_entry is not None:
                self._warn("single-gpu-tool-on-several", f"{tool_entry.get('name')} needs {chosen[2]} GPUs here, "
                           "but its multi-GPU support is limited in the seed's matrix (2026: available with manual "
                           "setup through accelerate/DeepSpeed/FSDP); pin --tool axolotl or trl for built-in "
                           "multi-GPU", "seed 17.3.6; reference/domain-facts.md §2.3")
        if chosen is None:
            platform_d.choice = None
            gpu_d.choice = None
            self._explain_no_hardware(platforms, fits, setup)
            return
        platform_id, gpu_id, count, record = chosen
        if count != setup.gpu_count:  # the estimate shown is the one for the chosen count and sharding
            chosen_setup = self._setup(method, count, tool)
            est = memory.estimate_memory(self.shape, chosen_setup, self.constants)
            self.estimates["memory"] = Estimate("memory", est, chosen_setup)
        platform_d.choice = platform_id
        gpu_d.choice = gpu_id
        self._explain_other_gpus(gpu_d, fits, platform_id, gpu_id)
        self._set("chosen_platform", platform_id, "best-ranked platform with a fitting GPU")
        self._set("chosen_gpu", gpu_id, "cheapest fitting GPU on that platform")
        self._set("chosen_gpu_count", count, "smallest count that fits")
        self.estimates["hardware"] = Estimate("hardware", fits[gpu_id], record)

    def _explain_other_gpus(self, gpu_d: DecisionResult, fits: Mapping[str, hardware.GpuFit], platform_id: str,
                            gpu_id: str) -> None:
        """Why not each GPU that fitted but was not chosen: not offered, or dearer per hour."""
        for other in gpu_d.ranking():
            if other.id != gpu_id:
                other_fit = fits.get(other.id)
                other_offer = self._price(self.rb.catalogs["platforms"].by_id(platform_id), other.id)
                if other_offer is None:
                    why = f"not offered by {platform_id} at an acceptable tier"
                elif other_fit is not None:
                    why = (f"{other_fit.count}× at {other_offer['usd_per_gpu_hour']} USD/GPU-hour = "
                           f"{other_fit.count * float(other_offer['usd_per_gpu_hour']):.2f} USD/hour, "
                           "dearer than the choice")
                else:
                    why = "dearer than the choice"
                gpu_d.options[other.id].effects.append(Effect("hardware-price", "note", 0.0, why))

    def _explain_no_hardware(self, platforms: list[Any], fits: Mapping[str, hardware.GpuFit],
                             setup: memory.TrainingSetup) -> None:
        """A critical warning that says why no platform and GPU could be chosen, and what would work."""
        platform_d = self.decisions["platform"]
        if not platforms:
            excluded = "; ".join(f"{o.id}: {o.effects[0].because}" for o in platform_d.excluded())
            self._warn("no-platform", f"no platform remains: the rules exclude every one ({excluded})",
                       "platform rules", "critical")
        elif platform_d.pinned and any(f.fits for f in fits.values()):
            entry = self.rb.catalogs["platforms"].by_id(platform_d.pinned)
            offered = sorted({str(p.get("gpu")) for p in (entry.get("prices", []) if entry else []) or []
                              if isinstance(p, dict)})
            fitting = sorted(g for g, f in fits.items() if f.fits)
            self._warn("pinned-platform-cannot", f"the pinned platform {platform_d.pinned} offers "
                       f"{', '.join(offered) or 'no priced GPU'}, and none of them holds this run; it fits on "
                       f"{', '.join(fitting)}: unpin the platform, or reduce memory (QLoRA, gradient "
                       "checkpointing, shorter seq_len)", "platforms catalog", "critical")
        else:
            self._warn("nothing-fits", self._does_not_fit_message(setup), "memory estimate", "critical")

    def _pick(self, platforms: list[Any], gpu_d: DecisionResult, fits: Mapping[str, hardware.GpuFit],
              method: str, *, mark: bool) -> tuple[str, str, int, dict[str, Any]] | None:
        """The first platform (in rank order) with an acceptable offer, and its best (gpu, count, price)."""
        platform_d = self.decisions["platform"]
        for option in platforms:
            entry = self.rb.catalogs["platforms"].by_id(option.id)
            assert entry is not None
            offers = self._offers(entry, gpu_d, fits)
            if offers:
                # rules' GPU scores first (a preferred class of card), then the hourly cost, then catalog order
                _, gpu_id, count, record = min(offers, key=lambda o: (-gpu_d.options[o[1]].score,
                                                                      o[0] * billed_gpus(o[2], o[3]),
                                                                      gpu_order(self.gpus, o[1])))
                return option.id, gpu_id, count, record
            if mark:
                platform_d.exclude(option.id, "no-fitting-gpu",
                                   f"{entry.get('name', option.id)} offers no allowed GPU, at an acceptable price "
                                   f"tier and up to {entry.get('max_gpus_per_node', 8)} per node, on which the "
                                   f"{method} run fits")
        return None

    def _fits(self, method: str, tool: str | None) -> dict[str, hardware.GpuFit]:
        """Per GPU type, the smallest count that fits: the pinned count, else one GPU unsharded or
        2-8 GPUs sharded (ZeRO-3 for full fine-tuning, FSDP for adapters)."""
        pinned_gpu, pinned_count = self.facts.get("gpu"), self.facts.get("gpu_count")
        headroom = self._headroom()
        if pinned_count:
            return {f.gpu_id: f for f in hardware.fit_gpus(
                self.shape, self._setup(method, int(pinned_count), tool), self.constants, self.gpus,
                pinned_gpu=pinned_gpu, pinned_count=int(pinned_count), headroom_fraction=headroom)}
        single = {f.gpu_id: f for f in hardware.fit_gpus(
            self.shape, self._setup(method, 1, tool), self.constants, self.gpus, pinned_gpu=pinned_gpu,
            pinned_count=1, headroom_fraction=headroom)}
        sharded = replace(self._setup(method, 2, tool), gpu_count=1)
        several = {f.gpu_id: f for f in hardware.fit_gpus(
            self.shape, sharded, self.constants, self.gpus, pinned_gpu=pinned_gpu, headroom_fraction=headroom)
            if f.count > 1 or not f.fits}
        return {gpu_id: fit if fit.fits or gpu_id not in several else several[gpu_id]
                for gpu_id, fit in single.items()}

    def _offers(self, platform: CatalogEntry, gpu_d: DecisionResult,
                fits: Mapping[str, hardware.GpuFit]) -> list[tuple[float, str, int, dict[str, Any]]]:
        out = []
        for gpu_id, option in gpu_d.options.items():
            fit = fits.get(gpu_id)
            if option.excluded and gpu_id != gpu_d.pinned:
                continue
            if fit is None or not fit.fits:
                continue
            record = self._price(platform, gpu_id)
            if record is None:
                continue
            max_gpus = int(platform.get("max_gpus_per_node", 8) or 8)
            if fit.count > max_gpus:
                continue
            out.append((float(record["usd_per_gpu_hour"]), gpu_id, fit.count, record))
        return out


    def _price(self, platform: CatalogEntry | None, gpu_id: str) -> dict[str, Any] | None:
        """The cheapest acceptable price record of a GPU on a platform (spot tiers only when allowed)."""
        if platform is None:
            return None
        allowed_spot = bool(self.facts.get("preemptible_ok"))
        records: list[dict[str, Any]] = [p for p in platform.get("prices", []) or []
                                         if isinstance(p, dict) and p.get("gpu") == gpu_id]
        records = [p for p in records if allowed_spot or p.get("tier") not in _SPOT_TIERS]
        if not records:
            return None
        best: dict[str, Any] = min(records, key=lambda p: (float(p["usd_per_gpu_hour"]), str(p.get("tier"))))
        return dict(best)

    def entry_label(self, catalog: str, entry_id: Any) -> str:
        """An entry's display name."""
        entry = self.rb.catalogs[catalog].by_id(str(entry_id))
        return str(entry.get("name", entry_id)) if entry else str(entry_id)

    def _rentable_gpus(self) -> list[hardware.Gpu]:
        """GPUs that a platform the rules allow has a price for (all GPUs when none has)."""
        platform_d = self.decisions["platform"]
        allowed = [o.id for o in platform_d.options.values()
                   if not any(e.kind == "exclude" and e.rule_id != "no-fitting-gpu" for e in o.effects)]
        offered = {str(p.get("gpu")) for platform_id in allowed
                   if (entry := self.rb.catalogs["platforms"].by_id(platform_id)) is not None
                   for p in entry.get("prices", []) or [] if isinstance(p, dict)}
        return [g for g in self.gpus if g.id in offered] or self.gpus

    def _does_not_fit_message(self, setup: memory.TrainingSetup) -> str:
        target = self._gpu(self.facts.get("gpu")) or max(self._rentable_gpus(), key=lambda g: g.vram_gib)
        tips = hardware.suggestions_if_not_fitting(self.shape, setup, self.constants, target,
                                                   headroom_fraction=self._headroom())
        est = memory.estimate_memory(self.shape, setup, self.constants)
        what = (f"what would fit on {target.name}: " + "; ".join(tips) if tips
                else f"nothing fits even {max(GPU_COUNTS)}× {target.name}: pick a smaller model or larger GPUs")
        return (f"does not fit: {setup.method} needs about {est.per_gpu_gib:.1f} GiB per GPU on {setup.gpu_count} "
                f"GPU(s) and no allowed GPU setup holds it; {what}")

    # -- time and cost -----------------------------------------------------------------------------
    def _estimate_cost(self) -> None:
        hw = self.estimates.get("hardware")
        if hw is None:
            return
        fit, record = hw.value, hw.setup
        gpu = self._gpu(fit.gpu_id)
        assert gpu is not None
        if "train_hours" in self.facts:
            hours, how = float(self.facts["train_hours"]), "given (train_hours)"
        elif "dataset_tokens" in self.facts:
            hours, how = hardware.training_hours(self.shape, self.estimates["memory"].setup, gpu, fit.count,
                                                 float(self.facts["dataset_tokens"]),
                                                 float(self.facts.get("epochs", 1)), self.constants)
        else:
            hours, how = None, "unknown: give train_hours or dataset_tokens"
        price = float(record["usd_per_gpu_hour"])
        as_of = dt.date.fromisoformat(str(record.get("as_of", "1970-01-01")))
        age = (self.today - as_of).days
        cost: dict[str, Any] = {"hours": hours, "hours_how": how, "gpu_count": fit.count,
                                "price_per_gpu_hour_usd": price, "price_as_of": str(as_of),
                                "price_tier": record.get("tier"), "price_source": record.get("source", ""),
                                "price_age_days": age}
        self._set("price_age_days", age, f"price dated {as_of}")
        billed = billed_gpus(fit.count, record)
        cost["billed_gpus"] = billed
        if billed > fit.count:
            self._warn("whole-instance", f"{self.entry_label('platforms', self.ctx.get('chosen_platform'))} rents "
                       f"{gpu.name} only as {billed}-GPU instances ({record.get('note', '')}): you pay for {billed} "
                       f"GPUs while the run uses {fit.count}; the cost counts {billed}", str(record.get("source", "")))
        if hours is not None:
            total = hours * billed * price
            cost["total_usd"] = round(total, 2)
            self._set("hours", round(hours, 2), how)
            self._set("total_usd", round(total, 2), "hours × billed GPUs × price per GPU-hour")
            budget = self.facts.get("budget_usd")
            within = budget is None or total <= float(budget)
            cost["within_budget"] = within
            if budget is not None:
                cost["budget_margin_usd"] = round(float(budget) - total, 2)
                self._set("budget_margin_usd", cost["budget_margin_usd"], "budget_usd − total_usd")
            self._set("within_budget", within, "total_usd ≤ budget_usd")
        self.estimates["cost"] = Estimate("cost", cost, None)


def gpu_order(gpus: list[hardware.Gpu], gpu_id: str) -> int:
    """Catalog order of a GPU, the tie-break between equal prices."""
    return next((i for i, g in enumerate(gpus) if g.id == gpu_id), len(gpus))


def billed_gpus(count: int, record: Mapping[str, Any]) -> int:
    """GPUs paid for: some offers come only as whole instances (AWS p4d/p5: 8 GPUs)."""
    return max(count, int(record.get("instance_gpus") or 1))
