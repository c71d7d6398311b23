"""tuneplan's benchmark (`make bench`): latency, the planner (candidates, p50/p99, the reference search that
checks it), cold CLI, loading and compiling, sweep throughput and rule-base scaling, printed as one table.
Not part of the test suite.

    .venv/bin/python bench/bench.py [--quick] [--profile out.html] [--long]

--quick runs fewer cases (a smoke run); --profile writes a pyinstrument profile of the warm
recommend loop; --long adds 100,000 recommendations in one process with peak RSS before/after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale import replicate  # noqa: E402

from devtools.reference_planner import reference  # noqa: E402
from engine.inputs.facts import normalise  # noqa: E402
from engine.language.loader import _load_cached, load_rules  # noqa: E402
from engine.pipeline import Engine  # noqa: E402
from engine.runtime.compiler import compile_rulebase  # noqa: E402
from engine.runtime.session import DurableRuntime  # noqa: E402

ROWS: list[tuple[str, str, str]] = []   # (measure, value, target / note)


def row(measure: str, value: str, note: str = "") -> None:
    ROWS.append((measure, value, note))
    print(f"  {measure:<58} {value:>22}  {note}", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms"


def quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def varied_constraints(engine: Engine, count: int, seed: int = 2026) -> list[dict[str, Any]]:  # noqa: PLR0912
    """Seeded constraint sets over every fact's domain: catalog models and sizes, enums, booleans, counts."""
    rng = random.Random(seed)
    rb = engine.rulebase
    models = rb.catalogs["models"].ids()
    gpus = rb.catalogs["gpus"].ids()
    out = []
    for _ in range(count):
        facts: dict[str, Any] = {}
        if rng.random() < 0.5:
            facts["model"] = rng.choice(models)
        else:
            facts["model_params_b"] = rng.choice([0.5, 1, 1.5, 3, 7, 8, 13, 14, 32, 34, 70, 180, 405])
        for name, spec in rb.facts.items():
            if spec.derived_stage is not None:
                continue
            if spec.type == "enum" and rng.random() < 0.5:
                facts[name] = rng.choice(spec.values)
            elif spec.type == "bool" and rng.random() < 0.2:
                facts[name] = True
        if rng.random() < 0.5:
            facts["gpu_count"] = rng.choice([1, 2, 4, 8])
        if rng.random() < 0.1:
            facts["gpu"] = rng.choice(gpus)
        if rng.random() < 0.4:
            facts["budget_usd"] = rng.choice([10, 50, 200, 1000, 10_000])
        if rng.random() < 0.4:
            facts["train_hours"] = rng.choice([0.5, 2, 8, 24, 100])
        elif rng.random() < 0.3:
            facts["dataset_tokens"] = rng.choice([1e6, 5e7, 1e9])
        if rng.random() < 0.3:
            facts["seq_len"] = rng.choice([512, 1024, 4096, 8192])
        out.append(facts)
    return out


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- sections ---------------------------------------------------------------------------------------
def bench_latency(engine: Engine, cases: list[dict[str, Any]]) -> dict[str, float]:
    print("recommend, warm, in-process", flush=True)
    for facts in cases[:100]:
        engine.recommend(facts).graph  # noqa: B018 - warm-up
    bare, graph, views = [], [], []
    for facts in cases:
        start = time.perf_counter()
        rec = engine.recommend(facts)
        t_rec = time.perf_counter()
        rec.graph  # noqa: B018 - the provenance graph
        t_graph = time.perf_counter()
        rec.to_dict()
        t_views = time.perf_counter()
        bare.append(t_rec - start)
        graph.append(t_graph - start)
        views.append(t_views - start)
    p50, p99 = quantiles(graph)
    row(f"recommend + trace + provenance graph (n={len(cases)}) p50", ms(p50))
    row("recommend + trace + provenance graph p99", ms(p99))
    b50, b99 = quantiles(bare)
    row("recommend alone (decisions + trace) p50 / p99", f"{ms(b50)} / {ms(b99)}")
    v50, v99 = quantiles(views)
    row("recommend + graph + JSON view (to_dict) p50 / p99", f"{ms(v50)} / {ms(v99)}")
    return {"p50": p50, "bare_p50": b50}


def bench_render(engine: Engine, cases: list[dict[str, Any]]) -> None:
    """Each view of a fresh recommendation: markdown over the JSON view's data (built first, as the web page
    and `--format markdown` with `--graph` do), the summary DOT, the text."""
    print("render, per fresh recommendation", flush=True)
    md, dot, text = [], [], []
    for facts in cases[:400]:
        rec = engine.recommend(facts)
        rec.to_dict()
        start = time.perf_counter()
        rec.to_markdown()
        t_md = time.perf_counter()
        rec.to_dot()
        t_dot = time.perf_counter()
        rec.to_text()
        t_text = time.perf_counter()
        md.append(t_md - start)
        dot.append(t_dot - t_md)
        text.append(t_text - t_dot)
    for name, samples in (("markdown (after to_dict)", md), ("summary DOT (graph built in it)", dot), ("text", text)):
        p50, p99 = quantiles(samples)
        row(f"render {name} p50 / p99", f"{ms(p50)} / {ms(p99)}")


def bench_planner(engine: Engine, cases: list[dict[str, Any]]) -> None:
    print("planner", flush=True)
    recs = [engine.recommend(facts) for facts in cases]
    planned = [r for r in recs if r.planning is not None]
    candidates = [r.planning.candidates for r in planned if r.planning]
    viable = [r.planning.viable for r in planned if r.planning]
    row("candidate plans per recommendation, median (min–max)",
        f"{statistics.median(candidates):,.0f} ({min(candidates):,}–{max(candidates):,})",
        f"viable median {statistics.median(viable):,.0f}; {sum(r.plan is None for r in recs)} of {len(recs)} "
        "have none")
    for _ in range(2):
        lat = [timed(lambda facts=facts: engine.recommend(facts)) for facts in cases]
    p50, p99 = quantiles(lat)
    row("full recommendation, no graph, no views (warm) p50 / p99", f"{ms(p50)} / {ms(p99)}", "target ≤ 1 ms p50")
    explained = [timed(lambda facts=facts: engine.recommend(facts).planning.rejections)  # type: ignore[union-attr]
                 for facts in cases]
    e50, e99 = quantiles(explained)
    row("  + the planner's why-not comparisons p50 / p99", f"{ms(e50)} / {ms(e99)}")
    engine.planner._memo.clear()  # a shape and settings seen for the first time: every estimate computed
    engine.planner._spaces.clear()
    cold = []
    for facts in cases[:200]:
        engine.planner._memo.clear()
        engine.planner._spaces.clear()
        cold.append(timed(lambda facts=facts: engine.recommend(facts)))
    c50, c99 = quantiles(cold)
    row("  first recommendation for its model and settings p50 / p99", f"{ms(c50)} / {ms(c99)}",
        "estimates not yet memoised")
    sample = cases[:100]
    agree, reference_s = 0, []
    for facts in sample:
        rec = engine.recommend(facts)
        start = time.perf_counter()
        found = reference(engine, normalise(facts, engine.rulebase), rec)
        reference_s.append(time.perf_counter() - start)
        same = (found is None and rec.plan is None) or (
            found is not None and rec.plan is not None and (found[1].setup, found[1].offer)
            == (rec.plan.setup, rec.plan.offer))
        agree += same
    r50, r99 = quantiles(reference_s)
    row(f"exhaustive scalar reference search (n={len(sample)}) p50 / p99", f"{ms(r50)} / {ms(r99)}",
        f"agrees with the planner on {agree} of {len(sample)}")


def bench_cold_cli() -> None:
    """A new process per run, as a user's shell starts it: with the checked-rules cache warm (the usual case)
    and turned off (the first run after a change of the rules), against a bare interpreter start."""
    print("cold CLI", flush=True)
    exe = Path(sys.executable).parent / "tuneplan"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "engine.cli.main"]
    argv = [*command, "recommend", "--model", "llama-3.1-8b", "--method", "qlora", "--format", "json"]
    cache = tempfile.mkdtemp(prefix="tuneplan-bench-cache-")
    os.chmod(cache, 0o700)
    # as pip installs it: byte-code compiled (a set PYTHONDONTWRITEBYTECODE would re-compile every module)
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    warm_env = {**base_env, "TUNEPLAN_CACHE_DIR": cache}
    off_env = {**base_env, "TUNEPLAN_CACHE_DIR": "off"}
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT, env=warm_env)   # fills the cache and .pyc

    def median_of(run: list[str], env: dict[str, str], times: int = 7) -> float:
        return statistics.median(timed(lambda: subprocess.run(run, check=True, capture_output=True, cwd=ROOT,
                                                               env=env)) for _ in range(times))

    warm = median_of(argv, warm_env)
    off = median_of(argv, off_env, 5)
    bare = median_of([sys.executable, "-c", "pass"], warm_env, 5)
    row("cold `tuneplan recommend --format json`, rules cache warm, median of 7", ms(warm),
        f"{warm / bare:.1f}× a bare `python -c pass` ({ms(bare)}); target ≤ 8×; with .pyc")
    row("  the same with the rules cache off (YAML read and checked)", ms(off), f"{off / bare:.1f}×")


def bench_api_overhead(engine: Engine, cases: list[dict[str, Any]]) -> None:
    """What `engine.recommend(...)` (the documented convenience) adds to a held `Engine.recommend`: finding the
    engine of the rules directory, i.e. `Engine.for_rules()` on an unchanged directory."""
    print("public API overhead", flush=True)
    Engine.for_rules()
    lookups = [timed(Engine.for_rules) for _ in range(300)]
    p50, p99 = quantiles(lookups)
    row("`engine.recommend()` over a held `Engine.recommend`, per call p50 / p99", f"{ms(p50)} / {ms(p99)}",
        "a stat of each rule file (no re-read, no re-hash); hold an Engine to skip it")


@contextlib.contextmanager
def _cache_dir(value: str) -> Iterator[None]:
    """TUNEPLAN_CACHE_DIR set to ``value`` (a folder, or "off") for the block."""
    before = os.environ.get("TUNEPLAN_CACHE_DIR")
    os.environ["TUNEPLAN_CACHE_DIR"] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TUNEPLAN_CACHE_DIR", None)
        else:
            os.environ["TUNEPLAN_CACHE_DIR"] = before


def bench_loading(engine: Engine) -> None:
    print("rule loading and compiling", flush=True)
    load = []
    with _cache_dir("off"):
        for _ in range(5):
            _load_cached.cache_clear()
            load.append(timed(lambda: load_rules(ROOT / "rules")))
    from_disk = []
    with _cache_dir(tempfile.mkdtemp(prefix="tuneplan-bench-cache-")):
        _load_cached.cache_clear()
        load_rules(ROOT / "rules")
        for _ in range(5):
            _load_cached.cache_clear()
            from_disk.append(timed(lambda: load_rules(ROOT / "rules")))
    cached = [timed(lambda: load_rules(ROOT / "rules")) for _ in range(20)]
    rulebase = load_rules(ROOT / "rules")
    compile_s = [timed(lambda: compile_rulebase(rulebase)) for _ in range(5)]
    stages = compile_rulebase(rulebase)
    register = [timed(lambda: DurableRuntime(stages)) for _ in range(5)]
    definitions = json.dumps([s.definition for s in stages])
    restore = [timed(lambda: json.loads(definitions)) for _ in range(20)]
    rules = len(rulebase.rules())
    row(f"load rules/ ({rules} rules, YAML → schema → IR), median", ms(statistics.median(load)))
    row("load in a new process, checked rules cached on disk, median", ms(statistics.median(from_disk)))
    row("load again, same content (stat check, in-process cache)", ms(statistics.median(cached)))
    row("compile IR → durable JSON", ms(statistics.median(compile_s)))
    row("register with durable (C core builds the Rete)", ms(statistics.median(register)))
    saved = statistics.median(load) + statistics.median(compile_s) - statistics.median(restore)
    row("a disk cache of compiled rules would save at most", ms(saved),
        "load+compile minus reading cached JSON; registering stays")


def bench_sweep() -> None:
    print("sweep throughput", flush=True)
    try:
        from engine.tools import sweep
    except ImportError:  # pragma: no cover - before engine/tools/sweep.py
        row("sweep", "n/a", "engine.tools.sweep missing")
        return
    grid = sweep.Grid("bench", {
        "model": ("llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "qwen2.5-14b", "llama-3.1-70b"),
        "method": ("auto", "full", "lora", "qlora"),
        "gpu_count": (1, 2, 4, 8),
        "experience": ("beginner", "intermediate", "advanced"),
        "budget_usd": (50, 500, 5000),
        "priority": ("any", "speed", "cost"),
    }, {"train_hours": 4})
    cores = os.cpu_count() or 1
    one = sweep.run_sweep(grid, processes=1)
    many = sweep.run_sweep(grid, processes=cores)
    row(f"sweep {grid.size} recommendations, 1 process", f"{one.per_second:,.0f} /s", "target ≥ 2,000 /s per core")
    row(f"sweep, {many.processes} processes ({cores} cores)", f"{many.per_second:,.0f} /s",
        f"{many.per_second / one.per_second:.2f}× of 1 process; {many.per_second / many.processes:,.0f} /s/process")


def bench_scaling(cases: list[dict[str, Any]]) -> None:
    print("rule base scaling", flush=True)
    for copies in (1, 10, 100):
        with tempfile.TemporaryDirectory() as tmp, _cache_dir(tempfile.mkdtemp(prefix="tuneplan-bench-cache-")):
            rules_dir = replicate(Path(tmp), copies) if copies > 1 else ROOT / "rules"
            _load_cached.cache_clear()   # a new process: the in-memory cache is empty, the disk cache is not
            start = time.perf_counter()
            rulebase = load_rules(rules_dir)
            t_load = time.perf_counter() - start
            _load_cached.cache_clear()
            start = time.perf_counter()
            load_rules(rules_dir)
            t_cached = time.perf_counter() - start
            rulebase = load_rules(rules_dir)
            start = time.perf_counter()
            stages = compile_rulebase(rulebase)
            t_compile = time.perf_counter() - start
            start = time.perf_counter()
            engine = Engine(rulebase, DurableRuntime(stages))
            t_register = time.perf_counter() - start
            sample = cases[:300]
            for facts in sample[:30]:
                engine.recommend(facts)
            lat = [timed(lambda facts=facts, engine=engine: engine.recommend(facts).graph) for facts in sample]
            p50, p99 = quantiles(lat)
            note = "target: compile ≤ 1 s, p50 ≤ 5 ms" if copies == 100 else ""
            row(f"×{copies}: {len(rulebase.rules())} rules — load / compile / register",
                f"{t_load:.2f} / {t_compile:.2f} / {t_register:.2f} s", note)
            row(f"×{copies}: load again in a new process (checked rules cached on disk)", f"{t_cached:.2f} s",
                "target under 1 s for ×100" if copies == 100 else "")
            row(f"×{copies}: recommend + graph p50 / p99", f"{ms(p50)} / {ms(p99)}")


def bench_long(engine: Engine, cases: list[dict[str, Any]], total: int = 100_000) -> None:
    print(f"{total:,} recommendations in one process", flush=True)
    for facts in cases[:2000]:
        engine.recommend(facts)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for i in range(total):
        engine.recommend(cases[i % len(cases)])
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row(f"{total:,} recommendations: peak RSS before → after", f"{before / 1024:.0f} → {after / 1024:.0f} MiB",
        f"{total / seconds:,.0f} /s")


def _drive(port: int, bodies: list[list[str]]) -> tuple[list[float], list[str], float]:
    """One thread per list of bodies, each on its own keep-alive connection: latencies, errors, wall time."""
    import http.client
    import threading

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(mine: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        seen: list[float] = []
        failed: list[str] = []
        for body in mine:
            start = time.perf_counter()
            try:
                conn.request("POST", "/api/recommend?svg=false", body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failed.append(str(response.status))
            except OSError as exc:
                failed.append(repr(exc))
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            seen.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(seen)
            errors.extend(failed)

    threads = [threading.Thread(target=client, args=(mine,)) for mine in bodies]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - started


def bench_server(cases: list[dict[str, Any]], quick: bool) -> None:
    """`tuneplan serve` in its own process, driven over HTTP by 1, 4 and 16 client threads: the same form
    sent again (the server's answer cache) and distinct constraints (every request a new recommendation)."""
    import re

    print("server requests/s", flush=True)
    exe = Path(sys.executable).parent / "tuneplan"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "engine.cli.main"]
    server = subprocess.Popen([*command, "serve", "--port", "0", "--quiet"], cwd=ROOT, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert server.stderr is not None
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", server.stderr.readline())
        if match is None:
            row("server", "n/a", "tuneplan serve did not start")
            return
        port = int(match.group(1))
        same = json.dumps({"model": "llama-3.1-8b"})
        distinct = [json.dumps(c, default=str) for c in cases]
        for label, total in (("same form", 200 if quick else 1000), ("distinct constraints", 100 if quick else 400)):
            for clients in (1, 4, 16):
                per = max(5, total // clients)
                bodies = [[same] * per if label == "same form" else
                           [distinct[(w * per + i) % len(distinct)] for i in range(per)] for w in range(clients)]
                latencies, errors, wall = _drive(port, bodies)
                p50, p99 = quantiles(latencies)
                target = "; target ≥ 300 /s at 4 clients" if clients == 4 else ""
                row(f"POST /api/recommend (no SVG), {label}, {clients} client(s)",
                    f"{len(latencies) / wall:,.0f} /s", f"p50 {ms(p50)}, p99 {ms(p99)}, {len(errors)} errors{target}")
    finally:
        server.terminate()
        server.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases: a smoke run")
    parser.add_argument("--profile", metavar="HTML", help="write a pyinstrument profile of the warm loop")
    parser.add_argument("--long", action="store_true", help="also 100,000 recommendations with peak RSS")
    args = parser.parse_args()
    count = 300 if args.quick else 2000
    print(f"tuneplan benchmark — Python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    engine = Engine.for_rules()
    cases = varied_constraints(engine, count)
    if args.profile:
        from pyinstrument import Profiler

        with Profiler(interval=0.0002) as profiler:
            for facts in cases:
                engine.recommend(facts).graph  # noqa: B018
        Path(args.profile).write_text(profiler.output_html(), encoding="utf-8")
        print(profiler.output_text(color=False, show_all=False))
    bench_latency(engine, cases)
    bench_render(engine, cases)
    bench_planner(engine, cases)
    bench_cold_cli()
    bench_api_overhead(engine, cases)
    bench_loading(engine)
    bench_sweep()
    bench_scaling(cases)
    bench_server(cases, args.quick)
    if args.long:
        bench_long(engine, cases)
    print("\n| measure | value | target / note |\n|---|---|---|")
    for measure, value, note in ROWS:
        print(f"| {measure.strip()} | {value} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
