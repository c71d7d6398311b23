"""Each alignment stage planned as itself (issue 13): what DPO, KTO, ORPO, GRPO and PPO hold in memory and
compute beyond SFT, from the trainers' documented behaviour (TRL docs; rules/catalog/alignment.yaml), checked
against physics: bytes per parameter, sequences per example, FLOPs per token."""

from __future__ import annotations

from typing import Any

import pytest

from engine.pipeline import Engine
from engine.render.views import Report as Recommendation

GIB = 2**30


def _plan(**constraints: Any) -> Recommendation:
    rec = Engine.for_rules().recommend(constraints)
    assert rec.plan is not None, rec.warnings
    return rec


def _breakdown(rec: Recommendation) -> dict[str, float]:
    return dict(rec.estimates["memory"].value.breakdown_gib)


PINNED = {"model": "llama-3.1-8b", "tool": "trl", "gpu": "h100-80gb", "gpu_count": 1, "gradient_checkpointing": "false"}


def test_dpo_with_lora_uses_the_base_as_reference_and_doubles_the_sequences() -> None:
    sft = _breakdown(_plan(**PINNED, method="lora"))
    dpo = _breakdown(_plan(**PINNED, method="lora", alignment="dpo"))
    assert "frozen_models" not in dpo                       # the adapter-disabled base is the reference
    assert dpo["weights"] == pytest.approx(sft["weights"])
    assert dpo["activations"] == pytest.approx(2 * sft["activations"], rel=1e-6)   # chosen + rejected
    assert dpo["logits"] == pytest.approx(2 * sft["logits"], rel=1e-6)


def test_dpo_with_full_fine_tuning_holds_a_16_bit_reference_copy_sharded_with_the_model() -> None:
    rec = _plan(model="llama-3.1-8b", tool="trl", method="full", alignment="dpo", gpu="h100-80gb", gpu_count=4,
                gradient_checkpointing="true")
    params = rec.shape.params
    assert _breakdown(rec)["frozen_models"] == pytest.approx(2 * params / GIB, rel=1e-6)   # bf16: 2 bytes each
    sft = _plan(model="llama-3.1-8b", tool="trl", method="full", gpu="h100-80gb", gpu_count=4,
                gradient_checkpointing="true")
    assert rec.plan is not None and sft.plan is not None
    if rec.plan.setup.sharding in ("zero3", "fsdp") and rec.plan.setup.sharding == sft.plan.setup.sharding:
        extra = rec.plan.per_gpu_gib - sft.plan.per_gpu_gib
        assert extra >= 2 * params / GIB / 4 * 0.99           # a quarter of the copy per GPU, plus the pairs


def test_orpo_has_no_reference_model_and_kto_full_has_one() -> None:
    small = {**PINNED, "model": "llama-3.2-1b"}
    orpo = _breakdown(_plan(**{**small, "tool": "axolotl"}, method="full", alignment="orpo"))
    assert "frozen_models" not in orpo
    kto = _plan(**small, method="full", alignment="kto")
    assert _breakdown(kto)["frozen_models"] == pytest.approx(2 * kto.shape.params / GIB, rel=1e-6)


def test_a_reference_forward_costs_time() -> None:
    sft = _plan(**PINNED, method="lora")
    dpo = _plan(**PINNED, method="lora", alignment="dpo")
    orpo = _plan(**{**PINNED, "tool": "axolotl"}, method="lora", alignment="orpo")
    assert sft.plan is not None and dpo.plan is not None and orpo.plan is not None
    # LoRA without checkpointing: 4N per token, a reference forward adds 2N (attention terms aside)
    assert dpo.plan.tokens_per_hour < sft.plan.tokens_per_hour * 0.72
    assert orpo.plan.tokens_per_hour == pytest.approx(sft.plan.tokens_per_hour, rel=0.05)


def test_grpo_on_8b_leaves_vllm_its_share_of_every_gpu() -> None:
    rec = _plan(model="llama-3.1-8b", alignment="grpo")
    plan = rec.plan
    assert plan is not None
    gpu = next(g for g in Engine.for_rules().gpus if g.id == plan.offer.gpu)
    headroom = Engine.for_rules().planner.headroom
    assert plan.per_gpu_gib <= gpu.vram_gib * (1 - headroom - 0.3) + 1e-6   # TRL colocate default 0.3
    assert "frozen_models" not in _breakdown(rec)                           # beta = 0: no reference loaded
    warning = next(w for w in rec.warnings if w.id == "generation-memory")
    assert f"{0.3 * gpu.vram_gib:.1f} GiB" in warning.message and "vllm_mode='server'" in warning.message
    # the headline cost says what it leaves out: GRPO's generation is not in the time model
    assert "generating the completions" in rec.to_dict()["cost"]["not_counted"]
    assert "not counted: generating the completions" in rec.to_text()


def test_grpo_does_not_fit_where_sft_just_fits() -> None:
    """A QLoRA 8B step that fits a 24 GB card for SFT cannot also leave vLLM 30 % of it."""
    sft = _plan(model="llama-3.1-8b", method="qlora", gpu="l4", gpu_count=1, seq_len=8192)
    grpo = Engine.for_rules().recommend({"model": "llama-3.1-8b", "method": "qlora", "gpu": "l4", "gpu_count": 1,
                                         "seq_len": 8192, "alignment": "grpo"})
    assert sft.plan is not None and sft.plan.per_gpu_gib > 24 * 0.6
    assert grpo.plan is None or grpo.plan.per_gpu_gib <= 24 * 0.65


def test_moe_flops_count_the_active_experts_only() -> None:
    mixtral = Engine.for_rules().rulebase.catalogs["models"].by_id("mixtral-8x7b-v0.1")
    assert mixtral is not None
    from engine.language.catalog import ModelShape

    shape = ModelShape.from_entry({"id": mixtral.id, **mixtral.attrs})
    assert shape.active_params == pytest.approx(12.9e9, rel=0.05)   # Mistral AI: 46.7B total, 12.9B active
    dense = _plan(model="llama-3.1-70b", method="qlora", gpu="h100-80gb", gpu_count=1)
    moe = _plan(model="mixtral-8x7b-v0.1", method="qlora", gpu="h100-80gb", gpu_count=1)
    assert dense.plan is not None and moe.plan is not None
    assert moe.plan.tokens_per_hour > 3 * dense.plan.tokens_per_hour   # 12.9B active against 70.6B


@pytest.mark.parametrize("alignment", ["dpo", "kto", "orpo", "grpo", "rlhf"])
@pytest.mark.parametrize("method", ["lora", "full"])
def test_workflow_steps_name_the_stage_its_data_and_the_right_merge(alignment: str, method: str) -> None:
    """The steps are the stage's own (GRPO: prompts and a reward function; KTO: unpaired labels; ORPO: one stage,
    no SFT first), adapters are merged only when there are adapters, and no placeholder reads 'none'."""
    small = "llama-3.2-1b" if method == "full" else "llama-3.1-8b"
    rec = Engine.for_rules().recommend({"model": small, "alignment": alignment, "method": method})
    assert rec.plan is not None
    steps = rec.workflow_steps()
    text = " ".join(steps)
    short = {"rlhf": "PPO"}.get(alignment, alignment.upper())
    assert f"Run {short}" in text and "(none)" not in text and "not given" not in text
    assert ("Run SFT" in text) is (alignment != "orpo")                  # ORPO is a single stage
    assert ("preference pairs" in text) is (alignment in ("dpo", "orpo"))
    if alignment == "grpo":
        assert "reward function" in text
    if method == "full":
        assert "adapter" not in text.replace("no adapter to merge", "") and "LoRAX" not in text
    else:
        assert "Merge" in text and ("then the" in text) is (alignment != "orpo")   # two adapters, in order
