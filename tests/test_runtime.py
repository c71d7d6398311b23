"""The durable-rules adapter: sessions never leak, threads are safe, two rule bases coexist."""

from __future__ import annotations

import resource
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.compiler import compile_rulebase
from engine.ir import RuleBase
from engine.pipeline import Engine
from engine.runtime import DurableRuntime

CTX: dict[str, Any] = {"model_params_b": 13, "gpu_count": 4, "multi_gpu": True, "method": "lora",
                       "interface": "any", "priority": "any", "experience": "intermediate", "new_model": False,
                       "alignment": "none", "deploy": "any", "team": False}


def test_joined_rule_fires_per_entry_with_matched_facts(rulebase: RuleBase) -> None:
    runtime = DurableRuntime(compile_rulebase(rulebase))
    catalogs = {n: c.entries for n, c in rulebase.catalogs.items()}
    firings = runtime.evaluate("choice", CTX, catalogs)
    limited = [f for f in firings if f.rule_id == "tool-multi-gpu-limited"]
    assert [f.entry_id for f in limited] == ["unsloth"]
    assert limited[0].ctx["gpu_count"] == 4


def test_100000_evaluations_in_one_process_stay_flat(rulebase: RuleBase) -> None:
    # durable-rules allows 1024 live sessions per ruleset: every evaluation must delete its own.
    runtime = DurableRuntime(compile_rulebase(rulebase))
    catalogs = {n: c.entries for n, c in rulebase.catalogs.items()}
    first = runtime.evaluate("choice", CTX, catalogs)
    for _ in range(5_000):
        runtime.evaluate("choice", CTX, catalogs)
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(95_000):
        last = runtime.evaluate("choice", CTX, catalogs)
    rss_after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert [f.rule_id for f in last] == [f.rule_id for f in first]
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
    root = Path(__file__).resolve().parent.parent
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
    catalogs = {n: c.entries for n, c in rulebase.catalogs.items()}
    for _ in range(10):
        DurableRuntime(stages)
    gc.collect()
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(100):
        runtime = DurableRuntime(stages)
        runtime.evaluate("choice", CTX, catalogs)
        del runtime
        gc.collect()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert grown_mib < 20, f"peak RSS grew {grown_mib:.0f} MiB over 100 runtimes (about 1.3 MiB each when leaked)"
