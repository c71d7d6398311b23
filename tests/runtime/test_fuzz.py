"""Property tests (hypothesis, seeded by the profile below): whatever rule file or constraint dict comes
in, only tuneplan's own user errors come out — never a stray exception, never an EngineError (a bug)."""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import load_rules
from engine.errors import UserError
from engine.language.ir import RuleBase
from engine.pipeline import Engine
from engine.runtime.compiler import compile_rulebase
from engine.runtime.session import DurableRuntime

ROOT = Path(__file__).resolve().parents[2]
# TUNEPLAN_FUZZ_EXAMPLES=2000 for a longer hunt (random seed); the suite runs 60, derandomized.
_EXAMPLES = int(os.environ.get("TUNEPLAN_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=_EXAMPLES, deadline=None, derandomize=_EXAMPLES <= 60, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SHIPPED = load_rules(ROOT / "rules")
FACTS = sorted(n for n, f in SHIPPED.facts.items() if f.derived_stage is None)
ALL_FACTS = sorted(SHIPPED.facts)

# -- constraints ----------------------------------------------------------------------------------
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**63]),
    st.text(max_size=30), st.sampled_from(["nan", "inf", "-inf", "1e400", " 7 ", "1_000", "0x10", "true", ""]),
    st.binary(max_size=8),
)
_in_domain = st.one_of(*[
    st.sampled_from(spec.values) if spec.type == "enum"
    else st.sampled_from(SHIPPED.catalogs[spec.catalog].ids()) if spec.type == "catalog"
    else st.booleans() if spec.type == "bool"
    else st.floats(min_value=spec.minimum if spec.minimum is not None else -1e9,
                   max_value=spec.maximum if spec.maximum is not None else 1e9)
    for spec in (SHIPPED.facts[n] for n in FACTS)
])
_values = st.one_of(_in_domain, _scalars, st.lists(_scalars, max_size=3),
                    st.dictionaries(st.text(max_size=5), _scalars, max_size=2))
_names = st.one_of(st.sampled_from(FACTS), st.sampled_from(ALL_FACTS), st.text(max_size=20),
                   st.sampled_from(["gpu-count", "Model", "model_params_b ", "\x00"]))
_constraints = st.one_of(
    st.dictionaries(_names, _values, max_size=8),
    st.fixed_dictionaries({"model_params_b": st.floats(min_value=0.1, max_value=500)},
                          optional={n: _values for n in FACTS if n != "model_params_b"}),
    st.fixed_dictionaries({"model": st.sampled_from(SHIPPED.catalogs["models"].ids())},
                          optional={n: _in_domain for n in FACTS if n != "model"}),
)


@FUZZ
@given(constraints=_constraints)
def test_any_constraints_give_a_recommendation_or_a_user_error(constraints: dict[Any, Any]) -> None:
    engine = Engine.for_rules(ROOT / "rules")
    try:
        rec = engine.recommend(constraints)
    except UserError:
        return
    text = json.dumps(rec.to_dict(), allow_nan=False, ensure_ascii=False)  # no NaN/inf leaks into output
    assert text.startswith("{")
    assert rec.to_dot().startswith("digraph")
    for node, data in rec.graph.nodes(data=True):
        assert isinstance(node, str) and data.get("kind")


# -- rule files -----------------------------------------------------------------------------------
BASE_RULESET: dict[str, Any] = {
    "ruleset": "fuzz",
    "stage": "plan",
    "description": "Rules built by the fuzzer.",
    "source": "tests/runtime/test_fuzz.py",
    "rules": [
        {"id": "fuzz-small-model", "description": "Small models suit Unsloth.",
         "when": {"model_params_b": {"lt": 14}, "experience": "beginner"},
         "then": {"score": {"tool": {"unsloth": 2}}}, "because": "{model_params_b}B is small"},
        {"id": "fuzz-multi-gpu", "description": "Tools with a multi-GPU backend.",
         "for": "tools", "where": {"id": {"in": ["axolotl", "trl"]}}, "plan": {"gpu_count": {"gt": 1}},
         "then": {"score": {"tool": 1}}, "because": "{entry.id} shards over {plan.gpu_count} GPUs"},
        {"id": "fuzz-pinned-count", "description": "A pinned GPU count and a plan test on the method.",
         "when": {"gpu_count": {"gt": 1}},
         "plan": {"method": {"in": ["lora", "qlora"]}, "gradient_checkpointing": True},
         "then": {"score": {"method": {"qlora": 1}}}, "because": "{gpu_count} GPUs, {plan.method}"},
        {"id": "fuzz-exclude", "description": "Excludes for an alignment method.",
         "when": {"any": [{"alignment": "grpo"}, {"not": {"method": "auto"}}]},
         "then": {"exclude": {"tool": ["torchtune"]}}, "because": "{alignment}"},
    ],
}
_junk = st.one_of(_scalars, st.sampled_from([
    [], {}, [1, 2], {"gt": 1}, {"eq": {"fact": "gpu_count"}}, {"between": [1, 2]}, {"contains": "x"},
    {"fact": "model_params_b"}, "tools", "gpus", "platforms", "tool", "method", "plan", "delivery",
    "{plan.gpu}", "{plan.nope}", {"gpu_count": {"gt": 1}}, {"sharding": ["zero3"]},
    {"all": []}, {"any": [{}]}, {"not": {"gpu_count": 1}}, {"score": {"tool": {"axolotl": 1e308}}},
    {"warn": {"id": "w", "message": "{nope}"}}, {"require": {"method": "qlora"}}, "{entry.nope}",
]), st.sampled_from(FACTS))
_keys = st.sampled_from(["ruleset", "stage", "description", "source", "rules", "id", "when", "where", "for",
                         "plan", "then", "because", "all", "any", "not", "gt", "lt", "eq", "in", "score", "exclude",
                         "require", "warn", "tool", "unsloth", *FACTS, *SHIPPED.plan_axes])


@st.composite
def _mutated_ruleset(draw: st.DrawFn) -> bytes:
    data = copy.deepcopy(BASE_RULESET)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        node: Any = data
        for _ in range(draw(st.integers(min_value=0, max_value=4))):  # walk down to a random container
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            containers = [v for _, v in children if isinstance(v, dict | list) and v]
            if not containers:
                break
            node = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["set", "drop", "add"]))
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if action == "drop":
                del node[key]
            else:
                node[key if action == "set" else draw(_keys)] = draw(_junk)
        elif isinstance(node, list) and node:
            index = draw(st.integers(min_value=0, max_value=len(node) - 1))
            if action == "drop":
                node.pop(index)
            else:
                node.insert(index, draw(_junk)) if action == "add" else node.__setitem__(index, draw(_junk))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    if draw(st.booleans()):  # and sometimes damage the text itself
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(st.binary(max_size=6)) + text[at + draw(st.integers(min_value=0, max_value=8)):]
    return text


@pytest.fixture(scope="module")
def fuzz_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "rules", base / "rules")
    shutil.copytree(ROOT / "facts", base / "facts")
    return base / "rules"


def test_the_unmutated_base_rule_set_loads(fuzz_rules: Path) -> None:
    target = fuzz_rules / "sets" / "fuzz.yaml"
    target.write_text(yaml.safe_dump(BASE_RULESET, sort_keys=False))
    rulebase = load_rules(fuzz_rules)
    assert {r.id for r in rulebase.rules()} >= {"fuzz-small-model", "fuzz-multi-gpu", "fuzz-pinned-count",
                                                 "fuzz-exclude"}
    assert rulebase.rule("fuzz-multi-gpu").plan_axes == ("gpu_count",)
    assert rulebase.rule("fuzz-pinned-count").plan_axes == ("gradient_checkpointing", "method")


@FUZZ
@given(text=_mutated_ruleset())
def test_any_rule_file_loads_or_gives_located_problems(fuzz_rules: Path, text: bytes) -> None:
    target = fuzz_rules / "sets" / "fuzz.yaml"
    target.write_bytes(text)
    try:
        rulebase = load_rules(fuzz_rules)
    except UserError as exc:
        for problem in getattr(exc, "problems", []):
            assert problem.line >= 1 and problem.col >= 1 and problem.message
        return
    _evaluate(rulebase)


def _evaluate(rulebase: RuleBase) -> None:
    engine = Engine(rulebase, DurableRuntime(compile_rulebase(rulebase)))
    for constraints in ({"model_params_b": 7, "experience": "beginner"},
                        {"model": "llama-3.1-70b", "gpu_count": 4, "alignment": "grpo", "method": "lora"}):
        try:
            rec = engine.recommend(constraints)
        except UserError:
            continue
        assert all(math.isfinite(o.score) for d in rec.decisions.values() for o in d.options.values())
        json.dumps(rec.to_dict(), allow_nan=False)
