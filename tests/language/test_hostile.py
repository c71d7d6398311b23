"""Rule files and constraints are untrusted input: every hostile case in tests/corpus/ exits 1 with the
file (and line) in its message, no traceback, quickly, in bounded memory, and executes nothing."""

from __future__ import annotations

import math
import resource
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import ConstraintError, RuleFileError, load_rules
from engine.inputs.facts import normalise
from engine.language.ir import RuleBase
from engine.language.yamlsource import MAX_FILE_BYTES

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
Cli = Callable[..., tuple[int, str, str]]


def _billion_laughs() -> bytes:
    lines = ['lol0: &lol0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 10)}]" for i in range(1, 12)]
    return "\n".join(lines).encode()


def _twenty_megabytes() -> bytes:
    line = b"# " + b"x" * 77 + b"\n"
    return line * (20 * 1024 * 1024 // len(line))


# Cases too big or too binary to keep as files; built here, expected messages in corpus/cases.yaml.
GENERATED: dict[str, Callable[[], bytes]] = {
    "billion-laughs": _billion_laughs,
    "binary-with-nul": lambda: bytes(range(256)) * 64,
    "binary-without-nul": lambda: bytes(range(1, 256)) * 64,
    "utf-16": lambda: "ruleset: x\nstage: plan\n".encode("utf-16"),
    "deep-flow-lists": lambda: b"rules: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    "deep-flow-maps": lambda: b"rules: " + b"{a: " * 5_000 + b"1" + b"}" * 5_000 + b"\n",
    "deep-block-maps": lambda: "".join("  " * i + f"k{i}:\n" for i in range(100)).encode() + b"  " * 100 + b"v\n",
    "twenty-megabytes": _twenty_megabytes,
}


def _rule_file_cases() -> Iterator[Any]:
    for path in sorted((CORPUS / "rules").glob("*.yaml")):
        yield pytest.param(path.name, path.read_bytes, id=path.stem)
    for name, build in GENERATED.items():
        yield pytest.param(name, build, id=name)


@pytest.fixture(scope="module")
def rules_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the shipped rules and facts; each case writes rules/sets/hostile.yaml into it."""
    base = tmp_path_factory.mktemp("hostile")
    shutil.copytree(ROOT / "rules", base / "rules")
    shutil.copytree(ROOT / "facts", base / "facts")
    return base / "rules"


def test_every_corpus_file_has_an_expectation() -> None:
    names = {p.name for p in (CORPUS / "rules").glob("*.yaml")} | set(GENERATED)
    assert names == set(CASES["rules"])


@pytest.mark.parametrize(("name", "build"), list(_rule_file_cases()))
def test_hostile_rule_file_exits_1_with_its_location(
        cli: Cli, rules_root: Path, name: str, build: Callable[[], bytes],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # a `!!python/...` payload that ran would leave PWNED here
    hostile = rules_root / "sets" / "hostile.yaml"
    hostile.write_bytes(build())
    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        code, out, err = cli("recommend", "--rules", str(rules_root), "--model-params-b", "7")
    finally:
        hostile.unlink()
    seconds = time.perf_counter() - started
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before_kib) / 1024
    expected = [line.replace("{file}", str(hostile)) for line in CASES["rules"][name]]
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert err.splitlines() == [*expected, f"tuneplan: {len(expected)} problem(s) in the input files"]
    assert seconds < 5, f"took {seconds:.1f} s"
    assert rss_growth_mib < 64, f"peak memory grew by {rss_growth_mib:.0f} MiB"
    assert not (tmp_path / "PWNED").exists()


def test_a_20_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from engine.language.yamlsource import read_yaml

    big = tmp_path / "big.yaml"
    big.write_bytes(_twenty_megabytes())
    started = time.perf_counter()
    doc, problems = read_yaml(big)
    assert doc is None and [p.message for p in problems] == [
        f"file is over the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit for a rule file; split it"]
    assert time.perf_counter() - started < 0.5


def test_an_endless_file_is_refused(tmp_path: Path) -> None:
    from engine.language.yamlsource import read_yaml

    zero = Path("/dev/zero")
    if not zero.exists():  # pragma: no cover - not a POSIX system
        pytest.skip("no /dev/zero")
    doc, problems = read_yaml(zero)
    assert doc is None and "limit" in problems[0].message


def test_hostile_profile_exits_1_naming_the_file(cli: Cli, tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text("constraints:\n  model_params_b: !!python/object/apply:os.system ['touch PWNED']\n")
    code, _, err = cli("recommend", str(profile))
    assert code == 1 and "Traceback" not in err
    assert err.splitlines()[0] == (f"{profile}:2:19: tag 'tag:yaml.org,2002:python/object/apply:os.system' is "
                                   "not allowed; rule files hold plain data only")


# -- constraints ----------------------------------------------------------------------------------
def _constraint_cases() -> Iterator[Any]:
    for case in CASES["constraints"]:
        yield pytest.param(case["given"], case["error"], id=case["id"])


@pytest.mark.parametrize(("given", "message"), list(_constraint_cases()))
def test_hostile_constraint_names_the_fact(rulebase: RuleBase, given: dict[str, Any], message: str) -> None:
    with pytest.raises(ConstraintError) as info:
        normalise(given, rulebase)
    assert str(info.value).startswith(message)
    assert len(str(info.value)) < 2_000


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--gpu-count", "0", "constraint 'gpu_count': must be at least 1 (GPUs), got '0'"),
    ("--budget-usd", "nan", "constraint 'budget_usd': expected a finite number (USD), got 'nan'"),
    ("--budget-usd=-inf", None, "constraint 'budget_usd': expected a finite number (USD), got '-inf'"),
    ("--budget-usd", "1e308", "constraint 'budget_usd': must be at most 1e+08 (USD), got '1e308'"),
    ("--seq-len", "long", "constraint 'seq_len': expected a whole number (tokens), got 'long'"),
    ("--method", "LoRA", "constraint 'method': 'LoRA' is not allowed (did you mean 'lora'?); allowed: auto, "
                         "full, lora, qlora"),
    ("--gpu", "h100-80g", "constraint 'gpu': unknown GPU id 'h100-80g' (did you mean 'h100-80gb'?)"),
])
def test_hostile_flags_exit_1_naming_the_fact(cli: Cli, flag: str, value: str | None, message: str) -> None:
    code, out, err = cli("recommend", "--model-params-b", "7", flag, *([value] if value is not None else []))
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.startswith(f"tuneplan: error: {message}")


def test_nan_in_a_profile_names_file_line_and_fact(cli: Cli, tmp_path: Path) -> None:
    profile = tmp_path / "nan.yaml"
    profile.write_text("model_params_b: 7\nbudget_usd: .nan\n")
    code, _, err = cli("recommend", str(profile))
    assert code == 1
    assert err.splitlines()[0] == (f"{profile}:2:13: '.nan' is not a finite number; write a finite number, "
                                   "or quote it if it is text")


def test_unknown_fact_from_set_suggests_the_name(cli: Cli) -> None:
    code, _, err = cli("recommend", "--model-params-b", "7", "--set", "gpu_cnt=2")
    assert code == 1 and err.startswith("tuneplan: error: constraint 'gpu_cnt': unknown fact (did you mean "
                                        "'gpu_count'?)")


def test_constraint_cases_cover_the_issue(rulebase: RuleBase) -> None:
    # negative/zero counts, NaN, infinity, 1e308, strings for numbers, enums, facts, catalog ids
    given = [c["given"] for c in CASES["constraints"]]
    values = [v for g in given for v in g.values()]
    assert any(isinstance(v, float) and math.isnan(v) for v in values)
    assert any(isinstance(v, float) and math.isinf(v) for v in values)
    assert 1e308 in values and 0 in values and any(isinstance(v, int) and v < 0 for v in values)
    with pytest.raises(RuleFileError):
        load_rules(CORPUS)  # the corpus folder is not a rules directory: a user error, not a crash


@pytest.mark.parametrize("hours", [0.00001, 1e-300, 5e-324, 0.5e-4])
def test_numbers_python_writes_with_an_exponent_do_not_crash_durable(hours: float) -> None:
    # durable-rules' C parser misread `1e-05` (no decimal point): the process died with SIGSEGV.
    from engine.pipeline import Engine

    rec = Engine.for_rules().recommend({"model_params_b": 7, "train_hours": hours})
    assert rec.choice("tool") is not None


def test_a_threshold_written_with_an_exponent_compiles(rules_root: Path) -> None:
    # ... and a threshold of 1e16 made durable reject the rule set (error 204): exit 3 for a valid file.
    from engine.pipeline import Engine
    from engine.runtime.compiler import compile_rulebase
    from engine.runtime.session import DurableRuntime

    hostile = rules_root / "sets" / "hostile.yaml"
    hostile.write_text("""\
ruleset: exponent
stage: plan
description: Thresholds Python writes with an exponent.
source: hostile corpus
rules:
  - id: huge-dataset
    description: More tokens than anyone has.
    when: {dataset_tokens: {gt: 1.0e+14}, model_params_b: {gt: 1.0e-05}}
    then: {score: {tool: {trl: 1}}}
    because: big
""")
    try:
        rulebase = load_rules(rules_root)
    finally:
        hostile.unlink()
    engine = Engine(rulebase, DurableRuntime(compile_rulebase(rulebase)))
    rec = engine.recommend({"model_params_b": 7, "dataset_tokens": 5e14})
    assert "huge-dataset" in {step.rule.id for step in rec.trace}


def test_a_rule_base_ten_times_the_size_splits_into_rulesets_and_decides_alike(tmp_path: Path) -> None:
    # durable's C core hangs past ~512 successors of one node and overflows its assert stack (error 303)
    # when one fact activates too many rules: big stages are split into several rulesets (engine/runtime/session.py split_stage).
    sys_path = str(ROOT / "bench")
    import sys

    sys.path.insert(0, sys_path)
    try:
        from scale import replicate
    finally:
        sys.path.remove(sys_path)
    from engine.pipeline import Engine
    from engine.runtime.compiler import compile_rulebase
    from engine.runtime.session import MAX_RULES_PER_RULESET, DurableRuntime, split_stage

    rulebase = load_rules(replicate(tmp_path, 10))
    stages = compile_rulebase(rulebase)
    for stage in stages:
        parts = split_stage(stage)
        # every rule lands in exactly one part; each part has the always rule and a sink per catalog and plan axis
        assert sum(len(d) - 1 - sum(n.startswith("tp--sink-") for n in d) for d, _, _ in parts) == \
            len(stage.definition) - 1 - len(stage.joined_catalogs) - len(stage.plan_axes)
        assert all(len(d) <= MAX_RULES_PER_RULESET + 1 + len(c) + len(a) for d, c, a in parts)
        assert all(set(a) <= set(stage.plan_axes) for _, _, a in parts)
    assert any(stage.plan_axes for stage in stages)  # the plan stage's rules test plan axes
    assert max(len(split_stage(s)) for s in stages) > 1
    big = Engine(rulebase, DurableRuntime(stages))
    shipped = Engine.for_rules()
    for facts in ({"model_params_b": 7}, {"model": "llama-3.1-70b", "gpu_count": 4, "method": "lora"},
                  {"model_params_b": 13, "experience": "beginner", "budget_usd": 50, "train_hours": 2}):
        got, want = big.recommend(facts), shipped.recommend(facts)
        assert got.choice("tool") == want.choice("tool")
        assert got.plan is not None and got.plan == want.plan  # the replicas never fire: the same plan wins
