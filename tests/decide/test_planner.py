"""The planner's properties over random constraints (hypothesis):

- coherence: every plan-stage rule, re-evaluated in plain Python on the constraints and the chosen plan,
  excludes nothing the plan chose (pins the user insisted on aside, which are warned about);
- optimality: a plain scalar search over the same candidates, with its own memory, time, cost and rule
  evaluation, finds no plan better under the declared objective;
- stability: pinning the chosen plan's values returns the same plan;
- honesty: every why-not names a plan that exists, its numbers are that plan's, and the term it cites is one
  on which that plan really is worse than the chosen one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.reference_planner import plan_tests_hold, python_effects, reference
from engine.decide import space
from engine.decide.comparisons import describe
from engine.inputs.facts import normalise
from engine.pipeline import Engine
from engine.render.views import Report as Recommendation

MODELS = ["llama-3.2-1b", "llama-3.1-8b", "mistral-7b-v0.3", "qwen2.5-14b", "qwen2.5-32b", "llama-3.1-70b"]
GPUS = ["t4", "rtx-4090", "a100-80gb", "h100-80gb", "b200", "l40s"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.for_rules()


@st.composite
def constraints(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"model": draw(st.sampled_from(MODELS))}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "method": st.sampled_from(["auto", "full", "lora", "qlora"]),
        "priority": st.sampled_from(["any", "speed", "memory", "cost", "reproducibility", "ease", "research"]),
        "experience": st.sampled_from(["beginner", "intermediate", "advanced"]),
        "budget_usd": st.sampled_from([0, 5, 20, 100, 1000]),
        "train_hours": st.sampled_from([1, 3, 10, 20]),
        "dataset_tokens": st.sampled_from([1e7, 1e8, 1e9]),
        "preemptible_ok": st.booleans(),
        "gpu": st.sampled_from(GPUS),
        "gpu_count": st.sampled_from([1, 2, 4]),
        "owned_gpu": st.sampled_from(["rtx-4090", "a100-80gb"]),
        "gradient_checkpointing": st.sampled_from(["auto", "true", "false"]),
        "team": st.booleans(),
        "compliance": st.booleans(),
        "alignment": st.sampled_from(["none", "dpo", "grpo"]),
        "seq_len": st.sampled_from([512, 2048, 8192]),
    }
    for name, strategy in optional.items():
        if draw(st.integers(0, 3)) == 0:
            out[name] = draw(strategy)
    return out


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _rec(engine: Engine, raw: Mapping[str, Any]) -> tuple[dict[str, Any], Recommendation]:
    facts = normalise(raw, engine.rulebase)
    return facts, engine.recommend(raw)


# -- the properties ---------------------------------------------------------------------------------------
@PROPERTY
@given(constraints())
def test_coherence_no_rule_excludes_what_the_plan_chose(engine: Engine, raw: dict[str, Any]) -> None:
    facts, rec = _rec(engine, raw)
    if rec.plan is None:
        return
    values = rec.plan.values()
    pinned = space.pins(facts)
    ctx = {**facts, "params_b": rec.derived["params_b"]}
    for rule, decision, option, kind, _points, tests in python_effects(engine.rulebase, ctx):
        if kind == "score" or not plan_tests_hold(tests, values):
            continue
        violated = values[decision] == option if kind == "exclude" else values[decision] != option
        if violated:  # only a pinned option may stand against a rule, and the user is told
            assert pinned.get(decision) == values[decision], (rule.id, decision, option, describe(rec.plan))
            assert any(w.id == f"{decision}-pinned-excluded" for w in rec.warnings), rule.id


@PROPERTY
@given(constraints())
def test_optimality_a_plain_search_finds_nothing_better(engine: Engine, raw: dict[str, Any]) -> None:
    facts, rec = _rec(engine, raw)
    found = reference(engine, facts, rec)
    if rec.plan is None:
        assert found is None, f"the planner found nothing, the plain search found {describe(found[1])}"
        return
    assert found is not None, f"the plain search found nothing, the planner chose {describe(rec.plan)}"
    mine = rec.plan
    theirs = found[1]
    assert (mine.setup, mine.offer) == (theirs.setup, theirs.offer), (describe(mine), describe(theirs))
    assert mine.score == pytest.approx(theirs.score)
    if mine.total_usd is not None:
        assert mine.total_usd == pytest.approx(theirs.total_usd)


@PROPERTY
@given(constraints())
def test_stability_pinning_the_answer_returns_it(engine: Engine, raw: dict[str, Any]) -> None:
    _, rec = _rec(engine, raw)
    if rec.plan is None:
        return
    s, o = rec.plan.setup, rec.plan.offer
    pinned = {**raw, "tool": s.tool, "method": s.method, "gpu": o.gpu, "gpu_count": s.gpu_count,
              "gradient_checkpointing": "true" if s.gradient_checkpointing else "false"}
    if o.tier != "owned":
        pinned["platform"] = o.platform
    again = engine.recommend(pinned)
    assert again.plan is not None, describe(rec.plan)
    assert (again.plan.setup, again.plan.offer) == (s, o), (describe(rec.plan), describe(again.plan))


_TERM_VALUE: dict[str, Any] = {
    "score": lambda p: -p.score,
    "cost": lambda p: p.total_usd if p.total_usd is not None else p.usd_per_mtok,
    "hours": lambda p: p.hours if p.hours is not None else 1e6 / p.tokens_per_hour,
}


@PROPERTY
@given(constraints())
def test_honesty_every_why_not_cites_its_plan_and_a_term_it_loses_on(engine: Engine, raw: dict[str, Any]) -> None:
    _, rec = _rec(engine, raw)
    planning, chosen = rec.planning, rec.plan
    assert planning is not None
    for axis, rejections in planning.rejections.items():
        for rejection in rejections:
            assert "?" not in rejection.message and "None" not in rejection.message, rejection.message
            plan = rejection.plan
            if plan is not None:
                assert plan.get(axis) == rejection.option or axis == "plan"
            if not rejection.viable:
                if rejection.check == "memory-fit":
                    assert plan is not None and plan.per_gpu_gib > plan.usable_gib
                    assert f"{plan.per_gpu_gib:.1f} GiB" in rejection.message
                continue
            assert plan is not None and chosen is not None
            assert describe(plan) in rejection.message
            term = rejection.check.removeprefix("objective:")
            if term == "order":
                continue
            budget = rec.facts.get("budget_usd")
            values = {**_TERM_VALUE, "within_budget": lambda p, budget=budget: (
                max(0.0, p.total_usd - budget) if budget is not None and p.total_usd is not None else 0.0)}
            # every earlier term ties, and the cited term is really worse for the rejected plan
            for earlier in planning.objective.terms[:planning.objective.terms.index(term)]:
                if earlier in values:
                    assert round(values[earlier](plan), 6) == round(values[earlier](chosen), 6)
            assert round(values[term](plan), 6) > round(values[term](chosen), 6), rejection.message
            numbers = [float(x) for x in re.findall(r"(-?\d+(?:\.\d+)?) (?:USD|h\b)", rejection.message)]
            if term == "cost" and plan.total_usd is not None and numbers:
                assert round(plan.total_usd, 2) in [round(n, 2) for n in numbers]
                assert round(chosen.total_usd or 0.0, 2) in [round(n, 2) for n in numbers]


# -- the cases, from the numbers --------------------------------------------------------------------
def test_a_free_or_owned_gpu_costs_nothing(engine: Engine) -> None:
    owned = engine.recommend({"model": "llama-3.1-8b", "owned_gpu": "rtx-4090", "train_hours": 5})
    assert owned.plan is not None and owned.plan.offer.tier == "owned" and owned.plan.total_usd == 0
    assert owned.to_dict()["cost"]["total_usd"] == 0
    assert not any(w.id == "warn-idle-gpu" for w in owned.warnings)


def test_planner_considers_every_candidate(engine: Engine) -> None:
    rec = engine.recommend({"model": "llama-3.1-8b"})
    assert rec.planning is not None
    setups = space.setups(engine.rulebase, engine.planner.values, {})
    offers = space.offers(engine.rulebase, normalise({"model": "llama-3.1-8b"}, engine.rulebase), {})
    assert rec.planning.candidates == len(setups) * len(offers) > 5000
    assert 0 < rec.planning.viable < rec.planning.candidates


def test_checkpointing_costs_time(engine: Engine) -> None:
    """With checkpointing on, the same run is slower (the recompute is in the time estimate)."""
    base = {"model": "llama-3.1-8b", "gpu": "h100-80gb", "gpu_count": 1, "dataset_tokens": 1e8, "tool": "axolotl"}
    on = engine.recommend({**base, "gradient_checkpointing": "true"})
    off = engine.recommend({**base, "gradient_checkpointing": "false"})
    assert on.plan is not None and off.plan is not None
    assert on.plan.hours is not None and off.plan.hours is not None
    assert 1.15 < on.plan.hours / off.plan.hours < 1.6
    assert on.plan.per_gpu_gib < off.plan.per_gpu_gib


def test_over_budget_says_by_how_much_and_what_would_help(engine: Engine) -> None:
    # 70B LoRA needs two or more 80 GB cards; QLoRA fits on one, so it is the cheaper way out
    rec = engine.recommend({"model": "llama-3.1-70b", "method": "lora", "gpu": "a100-80gb", "dataset_tokens": 1e9,
                            "budget_usd": 50})
    assert rec.plan is not None and rec.plan.total_usd is not None and rec.plan.total_usd > 50
    warning = next(w for w in rec.warnings if w.id == "over-budget-plan")
    over = rec.plan.total_usd - 50
    assert f"{over:.2f} USD over" in warning.message
    assert "QLoRA:" in warning.message and "tokens" in warning.message
    assert not math.isnan(over)


@pytest.mark.parametrize("count", [3, 5, 6, 7])
def test_a_pinned_gpu_count_outside_the_planned_counts_gets_the_rules_effects(count: int) -> None:
    """Found on a fresh clone: with --gpu-count 3 the rules' exclusion of tools with limited multi-GPU support
    (tool-multi-gpu-limited, plan gpu_count > 1) matched no plan, because 3 is not one of the planned counts
    (1, 2, 4, 8), and Unsloth was planned on 3 GPUs while it was refused on 2."""
    engine = Engine.for_rules()
    rec = engine.recommend({"model": "llama-3.1-8b", "gpu_count": count})
    limited = {e.id for e in engine.rulebase.catalogs["tools"].entries if e.attrs.get("multi_gpu") == "limited"}
    assert rec.plan is not None and rec.plan.setup.gpu_count == count
    assert rec.plan.setup.tool not in limited
    assert rec.plan.setup.tool == engine.recommend({"model": "llama-3.1-8b", "gpu_count": 2}).plan.setup.tool


@PROPERTY
@given(constraints())
def test_no_rendered_output_shows_none_or_an_unfilled_placeholder(raw: dict[str, Any]) -> None:
    """Issue 14: over a sample of constraints, no text, markdown, JSON string or DOT label a user reads carries
    Python's None, a '?' placeholder or an unrendered {template}."""
    import json
    import re

    rec = Engine.for_rules().recommend(raw)
    strings: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(json.dumps(rec.to_dict())))
    for text in (rec.to_text(), rec.to_markdown(), rec.to_dot(), *strings):
        assert not re.search(r"\bNone\b", text), text[:300]
        assert not re.search(r"(?<![\w)])\?(?![\w=])|\{[a-z_.]+\}", text), text[:300]


def test_a_decision_name_outside_the_registry_is_an_error_not_no_choice(engine: Engine) -> None:
    rec = engine.recommend({"model": "llama-3.1-8b"})
    assert rec.choice("tool") is not None and rec.choice("serve") is not None
    for misspelt in ("tol", "serving"):
        with pytest.raises(KeyError, match="unknown decision"):
            rec.choice(misspelt)
