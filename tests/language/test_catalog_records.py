"""Issue 16, catalogs: every entry the engine computes with is checked and typed when the rules load, so a
mistake in a catalog file is a located problem (exit 1 from check and recommend), never an internal error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.decide import space
from engine.estimate import memory
from engine.language import records
from engine.language.catalog import Gpu, ModelShape
from engine.language.ir import RuleBase
from engine.language.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]

# (catalog, text replaced, replacement, message printed after file:line:col, the text that line:col points at)
CASES = [
    ("models", "    hidden_size: 4096\n", '    hidden_size: "4096"\n',
     "model 'llama-3.1-8b': hidden_size must be a whole number, got '4096'", 'hidden_size: "4096"'),
    ("gpus", "    vram_gib: 15.0\n", "    vram_gib: lots\n", "gpu 't4': vram_gib must be a number, got 'lots'",
     "vram_gib: lots"),
    ("platforms", "usd_per_gpu_hour: 0.107\n", "usd_per_gpu_hour: -0.107\n",
     "platform 'colab': prices[1].usd_per_gpu_hour must be >= 0, got -0.107", "usd_per_gpu_hour: -0.107"),
    ("platforms", "usd_per_gpu_hour: 0.107\n", "usd_per_gpu_hour: 0\n",
     "platform 'colab': prices[1].usd_per_gpu_hour must be > 0 for a rented tier ('subscription'), got 0",
     "usd_per_gpu_hour: 0"),
    ("models", "    layers: 16\n", "", "model 'llama-3.2-1b': needs 'layers'", "id: llama-3.2-1b"),
    ("gpus", "    vram_gib: 15.0\n", "    vram_gib: .inf\n",
     "'.inf' is not a finite number; write a finite number, or quote it if it is text", ".inf"),
    ("memory", "    value: 0.35\n", '    value: "high"\n',
     "memory constant 'mfu-default': value must be a number, got 'high'", 'value: "high"'),
    ("memory", "    value: 1.05\n", "    value: 0\n", "memory constant 'qlora-time-factor': value must be > 0, got 0",
     "id: qlora-time-factor"),
    ("sharding", "    memory: zero3\n", "    memory: zero4\n",
     "strategy 'zero3': memory must be one of ddp, zero1, zero2, zero3, fsdp, fsdp-cp, got 'zero4'", "memory: zero4"),
    ("methods", "    default_precision: mixed", "    default_precision: fp8",
     "method 'full': default_precision must be one of mixed, bf16, fp16, got 'fp8'", "default_precision: fp8"),
    ("tools", "    memory_savings: unsloth", "    memory_savings: lots",
     "tool 'unsloth': memory_savings must be one of unsloth, got 'lots'", "memory_savings: lots"),
    ("alignment", "    sequences_per_example: 2\n", "    sequences_per_example: two\n",
     "stage 'dpo': sequences_per_example must be a whole number, got 'two'", "sequences_per_example: two"),
    ("models", "    active_experts: 2\n", "    active_experts: 9\n", "active_experts 9 > experts 8", None),
    ("platforms", "  - gpu: t4\n        usd_per_gpu_hour: 0.107", "  - gpu: t5\n        usd_per_gpu_hour: 0.107",
     "platform 'colab': prices[1]: unknown gpu 't5'", "gpu: t5"),
]


def _seed(rules: Path, catalog: str, old: str, new: str) -> str:
    path = rules / "catalog" / f"{catalog}.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path.read_text()


@pytest.mark.parametrize("catalog, old, new, message, pointed", CASES)
def test_a_catalog_mistake_is_a_located_load_error(rules_copy: Path, cli: Any, catalog: str, old: str, new: str,
                                                     message: str, pointed: str | None) -> None:
    text = _seed(rules_copy, catalog, old, new)
    code, out, _ = cli("check", str(rules_copy))
    assert code == 1, out
    found = re.search(rf"{catalog}\.yaml:(\d+):(\d+): (.*)", out)
    assert found is not None and message in found.group(3), out
    if pointed is not None:   # line and column point at the mistake: the attribute, or the entry it lacks
        line = text.splitlines()[int(found.group(1)) - 1]
        assert line.find(pointed) + 1 == int(found.group(2)) > 0, (line, found.group(2))
    code, _, err = cli("recommend", "--rules", str(rules_copy), "--model", "llama-3.2-1b")
    assert code == 1 and message in err and "internal error" not in err, err


def test_a_missing_memory_constant_is_named(rules_copy: Path, cli: Any) -> None:
    path = rules_copy / "catalog" / "memory.yaml"
    text = path.read_text()
    start = text.index("  - id: qlora-time-factor")
    path.write_text(text[:start] + text[text.index("  - id:", start + 1):])
    code, out, _ = cli("check", str(rules_copy))
    assert code == 1 and "memory constants missing (the estimators read them): qlora-time-factor" in out, out


def test_the_records_are_what_the_raw_entries_build(rulebase: RuleBase) -> None:
    """The typed records equal what from_entry builds from the raw entries (calibration scripts use it)."""
    cat = rulebase.catalogs
    assert rulebase.records.gpus == tuple(Gpu.from_entry({"id": e.id, **e.attrs}) for e in cat["gpus"].entries)
    assert dict(rulebase.records.models) == {e.id: ModelShape.from_entry({"id": e.id, **e.attrs})
                                             for e in cat["models"].entries}
    assert dict(rulebase.records.constants.values) == {e.id: float(e.attrs["value"]) for e in cat["memory"].entries}
    prices = sum(len(e.get("prices") or []) for e in cat["platforms"].entries)
    assert sum(len(p.prices) for p in rulebase.records.platforms) == prices
    assert set(rulebase.records.strategies) == set(cat["sharding"].ids())
    assert space.owned_platform(rulebase) == next(e.id for e in cat["platforms"].entries if e.get("billing") == "owned")


def test_the_record_schema_agrees_with_the_memory_model() -> None:
    """What the loader accepts is what the estimators know: strategies, tool savings, precisions, methods, and
    every memory constant the estimators read."""
    defs = load_schema("records")["$defs"]
    assert tuple(defs["sharding"]["properties"]["memory"]["enum"]) == memory.SHARDINGS
    assert tuple(defs["tools"]["properties"]["memory_savings"]["enum"]) == memory.TOOL_SAVINGS
    assert tuple(defs["methods"]["properties"]["default_precision"]["enum"]) == memory.PRECISIONS
    assert records.METHODS == memory.METHODS
    source = "".join(p.read_text() for p in (ROOT / "engine" / "estimate").glob("*.py"))
    read = set(re.findall(r'get\("([a-z0-9-]+)"\)', source)) | set(re.findall(r'"(step-floor-ms-per-layer-[a-z]+)"',
                                                                             source))
    assert read == set(records.CONSTANTS)
