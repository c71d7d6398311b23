"""The durable-rules adapter: sessions never leak, threads are safe, two rule bases coexist."""

from __future__ import annotations

import resource
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.language.ir import RuleBase
from engine.pipeline import Engine
from engine.runtime.compiler import compile_rulebase
from engine.runtime.session import DurableRuntime

CTX: dict[str, Any] = {"model_params_b": 13, "params_b": 13, "method": "lora", "interface": "any",
                       "priority": "any", "experience": "intermediate", "new_model": False, "alignment": "none",
                       "deploy": "any", "team": False}
PLAN_VALUES: dict[str, tuple[Any, ...]] = Engine.for_rules().planner.plan_values()


def _catalogs(rulebase: RuleBase) -> dict[str, Any]:
    return {n: c.entries for n, c in rulebase.catalogs.items()}


def test_joined_rule_fires_per_entry_with_matched_facts(rulebase: RuleBase) -> None:
    runtime = DurableRuntime(compile_rulebase(rulebase))
    firings = runtime.evaluate("plan", {**CTX, "interface": "yaml"}, _catalogs(rulebase), PLAN_VALUES)
    matched = [f for f in firings if f.rule_id == "tool-interface-match"]
    yaml_tools = [e.id for e in rulebase.catalogs["tools"].entries if "yaml" in e.get("interface", ())]
    assert yaml_tools and [f.entry_id for f in matched] == yaml_tools
    assert all(f.ctx["interface"] == "yaml" and f.ctx["model_params_b"] == 13 and f.plan == () for f in matched)


def test_plan_rule_fires_once_per_matching_plan_value(rulebase: RuleBase) -> None:
    # method-lora-several-gpus: when {method: auto, gpu_count absent}, plan {gpu_count: {gt: 1}}, no join
    runtime = DurableRuntime(compile_rulebase(rulebase))
    firings = runtime.evaluate("plan", {**CTX, "method": "auto"}, _catalogs(rulebase), PLAN_VALUES)
    several = [f for f in firings if f.rule_id == "method-lora-several-gpus"]
    assert PLAN_VALUES["gpu_count"] == (1, 2, 4, 8)
    assert sorted(f.plan for f in several) == [(("gpu_count", 2),), (("gpu_count", 4),), (("gpu_count", 8),)]
    assert all(f.entry_id is None for f in several)
    # the when clause still gates it: a pinned method never reaches the plan test
    pinned = runtime.evaluate("plan", {**CTX, "method": "lora"}, _catalogs(rulebase), PLAN_VALUES)
    assert not [f for f in pinned if f.rule_id == "method-lora-several-gpus"]


def test_plan_rule_sees_only_the_plan_values_it_is_given(rulebase: RuleBase) -> None:
    runtime = DurableRuntime(compile_rulebase(rulebase))
    catalogs = _catalogs(rulebase)
    one_gpu = runtime.evaluate("plan", {**CTX, "method": "auto"}, catalogs, {**PLAN_VALUES, "gpu_count": (1,)})
    assert not [f for f in one_gpu if f.rule_id == "method-lora-several-gpus"]
    none_given = runtime.evaluate("plan", {**CTX, "method": "auto"}, catalogs)
    assert not [f for f in none_given if f.plan]


def test_joined_plan_rule_carries_both_entry_and_plan_values(rulebase: RuleBase) -> None:
    # tool-multi-gpu-limited: for tools where {multi_gpu: limited}, plan {gpu_count: {gt: 1}}
    runtime = DurableRuntime(compile_rulebase(rulebase))
    firings = runtime.evaluate("plan", CTX, _catalogs(rulebase), PLAN_VALUES)
    limited = [f for f in firings if f.rule_id == "tool-multi-gpu-limited"]
    assert sorted((f.entry_id, f.plan) for f in limited) == [
        ("unsloth", (("gpu_count", 2),)), ("unsloth", (("gpu_count", 4),)), ("unsloth", (("gpu_count", 8),))]
    assert limited[0].ctx["model_params_b"] == 13


def test_rule_on_two_plan_axes_fires_per_combination(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "rules", tmp_path / "rules")
    shutil.copytree(root / "facts", tmp_path / "facts")
    (tmp_path / "rules" / "sets" / "extra.yaml").write_text("""\
ruleset: extra
stage: plan
description: Two plan axes and a join.
source: tests
rules:
  - id: extra-two-axes
    description: Full fine-tuning on several GPUs without a sharded set-up.
    for: tools
    where: {multi_gpu: full}
    plan: {method: full, gpu_count: {gte: 4}}
    then: {score: {tool: -1}}
    because: "{entry.name} runs {plan.method} on {plan.gpu_count} GPUs"
""")
    from engine import load_rules
    edited = load_rules(tmp_path / "rules")
    runtime = DurableRuntime(compile_rulebase(edited))
    firings = [f for f in runtime.evaluate("plan", CTX, _catalogs(edited), PLAN_VALUES)
               if f.rule_id == "extra-two-axes"]
    full_tools = [e.id for e in edited.catalogs["tools"].entries if e.get("multi_gpu") == "full"]
    assert len(full_tools) == 4
    # plan values are given in axis order (sorted axis names), one firing per entry x count
    assert sorted((f.entry_id, f.plan) for f in firings) == sorted(
        (tool, (("gpu_count", count), ("method", "full"))) for tool in full_tools for count in (4, 8))


def test_100000_evaluations_in_one_process_stay_flat(rulebase: RuleBase) -> None:
    # durable-rules allows 1024 live sessions per ruleset: every evaluation must delete its own.
    runtime = DurableRuntime(compile_rulebase(rulebase))
    catalogs = _catalogs(rulebase)
    first = runtime.evaluate("plan", CTX, catalogs, PLAN_VALUES)
    assert any(f.plan for f in first)  # plan-value facts are asserted (and freed) too
    for _ in range(5_000):
        runtime.evaluate("plan", CTX, catalogs, PLAN_VALUES)
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(95_000):
        last = runtime.evaluate("plan", CTX, catalogs, PLAN_VALUES)
    rss_after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert [(f.rule_id, f.entry_id, f.plan) for f in last] == [(f.rule_id, f.entry_id, f.plan) for f in first]
    assert rss_after_kib - rss_before_kib < 20 * 1024, "peak RSS grew by more than 20 MiB"


def test_eight_threads_give_the_sequential_answers() -> None:
    engine = Engine.for_rules()
    cases = [{"model_params_b": size, "gpu_count": count, "method": method}
             for size in (1, 7, 13, 70) for count in (1, 2, 4) for method in ("auto", "lora", "qlora")]
    expected = [engine.recommend(c).to_dict() for c in cases]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda c: engine.recommend(c).to_dict(), cases * 4))
    assert got == expected * 4


def test_two_rule_bases_and_a_changed_one_coexist(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    shutil.copytree(root / "rules", tmp_path / "rules")
    shutil.copytree(root / "facts", tmp_path / "facts")
    facts = {"model_params_b": 13, "gpu_count": 4, "method": "lora"}
    before = Engine.for_rules(tmp_path / "rules").recommend(facts).to_dict()["tool"]["choice"]
    tool_rules = tmp_path / "rules" / "sets" / "tool.yaml"
    tool_rules.write_text(tool_rules.read_text() + """\
  - id: tool-test-prefers-trl
    description: A changed rule base.
    when: {gpu_count: {gt: 1}}
    then: {score: {tool: {trl: 50}}}
    because: test
""")
    changed = Engine.for_rules(tmp_path / "rules").recommend(facts).to_dict()["tool"]["choice"]
    shipped = Engine.for_rules().recommend(facts).to_dict()["tool"]["choice"]
    assert changed == "trl" and before == shipped != "trl"


def test_discarded_runtimes_free_their_rulesets(rulebase: RuleBase) -> None:
    # each edited rule base (web editor, diff) compiles a new runtime; the C core must not keep the old ones
    import gc

    stages = compile_rulebase(rulebase)
    catalogs = _catalogs(rulebase)
    for _ in range(10):
        DurableRuntime(stages)
    gc.collect()
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(100):
        runtime = DurableRuntime(stages)
        runtime.evaluate("plan", CTX, catalogs, PLAN_VALUES)
        del runtime
        gc.collect()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert grown_mib < 20, f"peak RSS grew {grown_mib:.0f} MiB over 100 runtimes (about 1.3 MiB each when leaked)"
