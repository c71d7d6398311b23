"""A plain reference search for checking the planner (the property tests and `make bench`): every candidate
plan estimated, judged and compared one at a time, with the rules evaluated on the IR in Python
(engine/language/conditions.py) rather than by durable-rules, and the objective computed from each plan's own
numbers. Slow by design; never on the hot path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.decide import space
from engine.decide.records import AXES, Plan
from engine.estimate import hardware
from engine.language.conditions import holds
from engine.language.ir import RuleBase

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation
    from engine.pipeline import Engine


def python_effects(rulebase: RuleBase, ctx: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """(rule, decision, option, kind, points, plan tests) of every plan-stage rule whose when/where hold,
    evaluated on the IR by engine/language/conditions.py (not by durable-rules)."""
    out: list[tuple[Any, ...]] = []
    for rule in rulebase.rules_in_stage("plan"):
        if not holds(rule.when, ctx):
            continue
        if rule.join:
            entries = [e for e in rulebase.catalogs[rule.join].entries if holds(rule.where, ctx, entry=e)]
            targets: list[str | None] = [e.id for e in entries]
        else:
            targets = [None]
        for action in rule.actions:
            if action.kind not in ("exclude", "score", "require") or action.decision not in AXES:
                continue
            for target in targets:
                option = action.option if action.option is not None else target
                if option is not None:
                    out.append((rule, action.decision, option, action.kind, action.points, rule.plan))
    return out


def plan_tests_hold(tests: tuple[Any, ...], values: Mapping[str, Any]) -> bool:
    """Whether a rule's plan: tests hold for a plan's values."""
    return holds(tests, {}, plan=values)


def reference(engine: Engine, facts: Mapping[str, Any], rec: Recommendation) -> tuple[tuple[Any, ...], Plan] | None:
    """The best plan by a scalar loop over every candidate, each estimated and judged on its own."""
    planner, rulebase = engine.planner, engine.rulebase
    pinned = space.pins(facts)
    setups = space.setups(rulebase, planner.values, pinned)
    offers = space.offers(rulebase, facts, pinned)
    ctx = {**facts, "params_b": rec.derived["params_b"]}
    effects = python_effects(rulebase, ctx)
    terms = rec.planning.objective.terms if rec.planning else ()
    lifted = any(w.id.endswith("-pinned-excluded") for w in rec.warnings)
    gpus = {g.id: g for g in engine.gpus}
    headroom = planner.headroom + planner.generation_share(facts)   # GRPO: colocated vLLM's share too
    tokens = float(facts["dataset_tokens"]) * float(facts.get("epochs", 1)) if "dataset_tokens" in facts else None
    budget = facts.get("budget_usd")
    best: tuple[tuple[Any, ...], Plan] | None = None
    for i, setup in enumerate(setups):
        training = planner.training_setup(setup, facts)
        need = hardware.needed_gib(rec.shape, training, engine.constants)
        compute, floor = hardware.time_parts(rec.shape, training, engine.constants, planner.scaling(setup))
        for j, offer in enumerate(offers):
            gpu = gpus[offer.gpu]
            usable = gpu.vram_gib * (1 - headroom)
            if need > usable or setup.gpu_count > offer.max_gpus:
                continue
            values = {**{a: getattr(setup, a) for a in ("tool", "method", "gradient_checkpointing", "gpu_count",
                                                         "sharding")},
                      "platform": offer.platform, "gpu": offer.gpu, "tier": offer.tier}
            score, excluded = 0.0, False
            for _rule, decision, option, kind, points, tests in effects:
                if not plan_tests_hold(tests, values):
                    continue
                hit = values[decision] == option
                if kind == "score" and hit:
                    score += points
                elif ((kind == "exclude" and hit) or (kind == "require" and not hit)) and not (
                        lifted and pinned.get(decision) == option):
                    excluded = True
            if excluded:
                continue
            seconds = max(compute / gpu.training_tflops, floor)
            hours = float(facts["train_hours"]) if "train_hours" in facts else (
                tokens * seconds / 3600 if tokens is not None else None)
            billed = offer.billed(setup.gpu_count)
            total = hours * billed * offer.usd_per_gpu_hour if hours is not None else None
            if hours is not None and offer.max_hours is not None and hours > offer.max_hours:
                continue
            per_mtok = billed * offer.usd_per_gpu_hour * seconds / 3600 * 1e6
            over = max(0.0, total - float(budget)) if budget is not None and total is not None else 0.0
            term_value = {"within_budget": round(over, 6), "score": -score,
                          "cost": round(total if total is not None else per_mtok, 6),
                          "hours": round(hours if hours is not None else seconds / 3600 * 1e6, 6),
                          "order": i * len(offers) + j}
            key = tuple(term_value[t] for t in terms)
            if best is None or key < best[0]:
                plan = Plan(setup, offer, need, usable, billed, 3600 / seconds, hours, total, per_mtok, score)
                best = (key, plan)
    return best
