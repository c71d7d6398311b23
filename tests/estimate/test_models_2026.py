"""The 2025-2026 entries of rules/catalog/models.yaml, checked against transformer arithmetic, not program output.

A decoder-only transformer's parameters follow from its config.json shape: per layer the attention projections
q and o (hidden x heads*head_dim) and k and v (hidden x kv_heads*head_dim), and the MLP's gate, up and down
(3 x hidden x intermediate) once per expert; plus the input embedding and, when untied, the lm_head
(vocab x hidden each). Norms, biases, routers and gpt-oss's attention sinks add well under 0.1% and are ignored.
Training holds every expert's weights, not only the active ones: 2 bytes each in bf16 (LoRA), about half a byte
in NF4 (QLoRA, which quantizes the layers but keeps the embeddings and lm_head in bf16).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.language.catalog import ModelShape
from engine.pipeline import Engine

ROOT = Path(__file__).resolve().parents[2]
GIB = 2.0**30
BF16 = 2.0      # bytes per bf16 weight
NF4 = 0.5       # bytes per 4-bit weight, before the per-block scales
ADAPTER = 4.0   # PEFT keeps LoRA A/B in fp32 under autocast

NEW_IDS = (
    "qwen2.5-0.5b", "qwen2.5-1.5b",
    "qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-14b", "qwen3-30b-a3b", "qwen3-235b-a22b",
    "gpt-oss-20b", "gpt-oss-120b",
    "llama-4-scout-17b-16e",
    "gemma-3-12b",
    "mistral-small-3.2-24b",
    "phi-4", "phi-4-mini",
    "deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-32b", "deepseek-r1-distill-llama-70b",
)
# Published totals that include a vision encoder the text shape does not describe: Gemma 3 12B's ~0.42B SigLIP
# tower is 3.5% of 12.2B, so these get the wide band; text-only models must match within 2%.
WITH_VISION = frozenset({"gemma-3-12b", "mistral-small-3.2-24b", "llama-4-scout-17b-16e"})
TEXT_BAND = 0.02
WIDE_BAND = 0.06
# MoE: published active parameters (billions) and whether that figure counts the input embedding.
# OpenAI's gpt-oss model card counts the unembedding but not the embedding as active (3.61B / 5.13B);
# Qwen's 3.3B / 22B and Meta's 17B count both.
MOE_ACTIVE = {
    "qwen3-30b-a3b": (3.3, True),
    "qwen3-235b-a22b": (22.0, True),
    "gpt-oss-20b": (3.61, False),
    "gpt-oss-120b": (5.13, False),
    "llama-4-scout-17b-16e": (17.0, True),
}


def _entries() -> dict[str, dict[str, Any]]:
    with (ROOT / "rules" / "catalog" / "models.yaml").open() as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return {entry["id"]: entry for entry in data["entries"]}


ENTRIES = _entries()


def _attention(e: Mapping[str, Any]) -> int:
    q = e["attention_heads"] * e["head_dim"]
    kv = e["kv_heads"] * e["head_dim"]
    return int(e["hidden_size"] * (2 * q + 2 * kv))


def _expert(e: Mapping[str, Any]) -> int:
    return 3 * int(e["hidden_size"]) * int(e["intermediate_size"])


def _embeddings(e: Mapping[str, Any]) -> int:
    return int(e["vocab_size"] * e["hidden_size"] * (1 if e["tied_embeddings"] else 2))


def _total_params(e: Mapping[str, Any]) -> float:
    return float(e["layers"] * (_attention(e) + _expert(e) * e.get("experts", 1)) + _embeddings(e))


def _active_params(e: Mapping[str, Any], with_input_embedding: bool) -> float:
    per_layer = _attention(e) + _expert(e) * e["active_experts"]
    embeddings = _embeddings(e) if with_input_embedding else e["vocab_size"] * e["hidden_size"]
    return float(e["layers"] * per_layer + embeddings)


def _lora_params_all_targets(e: Mapping[str, Any], rank: int) -> float:
    """Upper bound on adapter parameters: rank x (in + out) on q, k, v, o and on gate, up, down of every expert."""
    h, i = e["hidden_size"], e["intermediate_size"]
    q, kv = e["attention_heads"] * e["head_dim"], e["kv_heads"] * e["head_dim"]
    per_layer = (h + q) * 2 + (h + kv) * 2 + 3 * (h + i) * e.get("experts", 1)
    return float(rank * per_layer * e["layers"])


def _shape(model_id: str) -> ModelShape:
    return ModelShape.from_entry(ENTRIES[model_id])


def _memory(model_id: str, method: str) -> tuple[float, Any]:
    """(weights term in bytes, the training setup) of the recommended plan's single-GPU memory estimate."""
    rec = Engine.for_rules().recommend({"model": model_id, "method": method})
    estimate = rec.estimates["memory"]
    assert estimate.setup.method == method, (model_id, estimate.setup)
    return estimate.value.breakdown_gib["weights"] * GIB, estimate.setup


# --- the entries themselves ---


def test_every_new_model_is_catalogued_once() -> None:
    with (ROOT / "rules" / "catalog" / "models.yaml").open() as handle:
        ids = [entry["id"] for entry in yaml.safe_load(handle)["entries"]]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert set(NEW_IDS) <= set(ids), sorted(set(NEW_IDS) - set(ids))


@pytest.mark.parametrize("model_id", NEW_IDS)
def test_entry_is_sourced_dated_and_loadable(model_id: str) -> None:
    e = ENTRIES[model_id]
    assert "/" in e["hf_repo"], e["hf_repo"]
    # the user can open the publisher's config.json from the source
    assert f"https://huggingface.co/{e['hf_repo']} config.json" in e["source"], e["source"]
    released = dt.date.fromisoformat(e["release_date"])
    assert dt.date(2024, 9, 1) <= released <= dt.date(2026, 12, 31), released
    assert e["head_dim"] * e["attention_heads"] >= e["hidden_size"] // 2  # q width is of the order of hidden
    assert e["attention_heads"] % e["kv_heads"] == 0  # grouped-query attention shares each KV head
    if "experts" in e:
        assert 1 <= e["active_experts"] < e["experts"]
    shape = _shape(model_id)
    assert shape.params_b == e["params_b"]


# --- parameter counts from the shape ---


@pytest.mark.parametrize("model_id", NEW_IDS)
def test_shape_accounts_for_the_published_parameter_count(model_id: str) -> None:
    published = ENTRIES[model_id]["params_b"] * 1e9
    band = WIDE_BAND if model_id in WITH_VISION else TEXT_BAND
    assert _total_params(ENTRIES[model_id]) == pytest.approx(published, rel=band), model_id
    assert _shape(model_id).structural_params() == pytest.approx(published, rel=WIDE_BAND), model_id
    assert _shape(model_id).structural_params() == pytest.approx(published, rel=band), model_id


@pytest.mark.parametrize("model_id", sorted(MOE_ACTIVE))
def test_moe_shape_accounts_for_the_published_active_count(model_id: str) -> None:
    # experts, active_experts and the per-expert width are right only if the active count comes out too
    active_b, with_input_embedding = MOE_ACTIVE[model_id]
    computed = _active_params(ENTRIES[model_id], with_input_embedding)
    assert computed == pytest.approx(active_b * 1e9, rel=0.05), (model_id, computed / 1e9)


def test_shared_expert_is_counted_as_an_expert() -> None:
    scout = ENTRIES["llama-4-scout-17b-16e"]
    assert (scout["experts"], scout["active_experts"]) == (16 + 1, 1 + 1)


# --- memory: every expert is resident ---


@pytest.mark.parametrize("model_id", sorted(MOE_ACTIVE))
def test_moe_bf16_lora_holds_every_expert(model_id: str) -> None:
    weights, setup = _memory(model_id, "lora")
    params = ENTRIES[model_id]["params_b"] * 1e9
    assert weights >= 0.95 * params * BF16, (model_id, weights / GIB)
    adapters = _lora_params_all_targets(ENTRIES[model_id], setup.lora_rank)
    assert weights <= 1.02 * (params * BF16 + adapters * ADAPTER), (model_id, weights / GIB)


@pytest.mark.parametrize("model_id", sorted(MOE_ACTIVE))
def test_moe_qlora_quantizes_every_expert_but_keeps_them_all(model_id: str) -> None:
    weights, setup = _memory(model_id, "qlora")
    e = ENTRIES[model_id]
    params = e["params_b"] * 1e9
    embeddings = float(_embeddings(e))
    floor = NF4 * (params - embeddings) + BF16 * embeddings
    adapters = _lora_params_all_targets(e, setup.lora_rank)
    # NF4 with double quantization adds well under 0.1 byte per weight for its block scales
    ceiling = 0.6 * (params - embeddings) + BF16 * embeddings + ADAPTER * adapters
    assert floor <= weights <= ceiling, (model_id, weights / GIB, floor / GIB, ceiling / GIB)


def test_qwen3_30b_a3b_weights_are_those_of_30b_not_3b() -> None:
    lora, _ = _memory("qwen3-30b-a3b", "lora")
    qlora, _ = _memory("qwen3-30b-a3b", "qlora")
    # 30.5e9 x 2 bytes = 56.8 GiB in bf16; 3.3B active alone would be 6.1 GiB
    assert 56 * GIB <= lora <= 62 * GIB
    # 29.9e9 layer weights x ~0.52 byte + 0.62e9 embedding weights x 2 bytes, plus adapters
    assert 15 * GIB <= qlora <= 20 * GIB


# --- the command line ---


@pytest.mark.parametrize(
    "argv",
    [
        ("--model", "qwen3-30b-a3b"),
        ("--model", "gpt-oss-20b"),
        ("--model", "llama-4-scout-17b-16e", "--method", "qlora"),
    ],
)
def test_recommend_knows_the_new_models(cli: Any, argv: tuple[str, ...]) -> None:
    code, out, err = cli("recommend", *argv)
    assert code == 0, err
    assert "did you mean" not in out + err
    assert "unknown model id" not in out + err
    assert argv[1] in out
