"""Same input, same bytes: JSON, markdown and DOT are identical across runs, threads and processes
(with different hash seeds), and long runs keep memory flat."""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from engine.pipeline import Engine
from engine.render.views import Report as Recommendation

ROOT = Path(__file__).resolve().parents[2]
PROFILES = sorted((ROOT / "facts" / "profiles").glob("*.yaml"))
_PRINT_DIGESTS = """
import hashlib, json, sys
from engine.inputs.profiles import profile_facts
from engine.pipeline import Engine
engine = Engine.for_rules()
for path in sys.argv[1:]:
    rec = engine.recommend(profile_facts(path))
    views = [json.dumps(rec.to_dict(), indent=2, ensure_ascii=False), rec.to_markdown(), rec.to_dot()]
    print(path, *(hashlib.sha256(v.encode()).hexdigest() for v in views))
"""


def views(rec: Recommendation) -> tuple[str, str, str]:
    """The three outputs that must be byte-stable."""
    return json.dumps(rec.to_dict(), indent=2, ensure_ascii=False), rec.to_markdown(), rec.to_dot()


def digests(rec: Recommendation) -> list[str]:
    return [hashlib.sha256(v.encode()).hexdigest() for v in views(rec)]


def random_constraints(rng: random.Random, engine: Engine) -> dict[str, Any]:
    """Valid, varied constraints (seeded)."""
    facts: dict[str, Any] = {}
    models = engine.rulebase.catalogs["models"].ids()
    if rng.random() < 0.5:
        facts["model"] = rng.choice(models)
    else:
        facts["model_params_b"] = rng.choice([0.5, 1, 3, 7, 8, 13, 34, 70, 180])
    for name, spec in engine.rulebase.facts.items():
        if spec.derived_stage is None and spec.type == "enum" and rng.random() < 0.4:
            facts[name] = rng.choice(spec.values)
        elif spec.derived_stage is None and spec.type == "bool" and rng.random() < 0.2:
            facts[name] = True
    if rng.random() < 0.4:
        facts["gpu_count"] = rng.choice([1, 2, 4, 8])
    if rng.random() < 0.4:
        facts["budget_usd"] = rng.choice([10, 100, 1000, 10000])
    if rng.random() < 0.4:
        facts["train_hours"] = rng.choice([1, 5, 24, 100])
    if rng.random() < 0.15:  # a machine of one's own: plans on it rent nothing and cost 0 USD
        facts["owned_gpu"] = rng.choice(engine.rulebase.catalogs["gpus"].ids())
        if rng.random() < 0.5:
            facts["owned_gpu_count"] = rng.choice([1, 2, 4, 8])
    return facts


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.for_rules()


def test_profiles_render_identically_twice_in_one_process(engine: Engine) -> None:
    from engine.inputs.profiles import profile_facts

    for path in PROFILES:
        first = views(engine.recommend(profile_facts(path)))
        second = views(engine.recommend(profile_facts(path)))
        assert first == second, path.name


def test_profiles_render_identically_in_other_processes_and_hash_seeds(engine: Engine) -> None:
    from engine.inputs.profiles import profile_facts

    here = {str(p): digests(engine.recommend(profile_facts(p))) for p in PROFILES}
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _PRINT_DIGESTS, *map(str, PROFILES)], capture_output=True,
                              text=True, env=env, cwd=ROOT, timeout=120, check=True)
        there = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}
        assert there == here, f"PYTHONHASHSEED={seed}"


def test_shuffled_constraint_order_gives_the_same_bytes(engine: Engine) -> None:
    rng = random.Random(7)
    for _ in range(20):
        facts = random_constraints(rng, engine)
        items = list(facts.items())
        rng.shuffle(items)
        assert views(engine.recommend(dict(items))) == views(engine.recommend(facts))


def test_eight_threads_give_the_sequential_bytes(engine: Engine) -> None:
    rng = random.Random(11)
    cases = [random_constraints(rng, engine) for _ in range(40)]
    expected = [views(engine.recommend(c)) for c in cases]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda c: views(engine.recommend(c)), cases * 3))
    assert got == expected * 3


def test_many_recommendations_keep_memory_flat(engine: Engine) -> None:
    # The 100,000-recommendation run is in `make bench` (docs/performance.md); here 2,000 with a graph each.
    rng = random.Random(3)
    cases = [random_constraints(rng, engine) for _ in range(200)]
    for facts in cases * 2:
        engine.recommend(facts).graph  # noqa: B018 - builds the provenance graph
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for facts in cases * 10:
        engine.recommend(facts).graph  # noqa: B018
    growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert growth_mib < 16, f"peak RSS grew by {growth_mib:.1f} MiB over 2,000 recommendations"


def test_sweep_processes_share_nothing(engine: Engine) -> None:
    sweep = pytest.importorskip("engine.tools.sweep")
    grid = sweep.Grid("grid", {"model": ("llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b"),
                               "gpu_count": (1, 2, 4, 8), "method": ("auto", "lora", "qlora")},
                      {"train_hours": 3})
    one = sweep.run_sweep(grid, processes=1)
    two = sweep.run_sweep(grid, processes=2)
    assert two.processes == 2
    assert one.rows == two.rows
    assert [r["tool"] for r in one.rows] == [engine.recommend(c).choice("tool") for c in grid.combinations()]
