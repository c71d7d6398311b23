"""Any model from its config.json (issue 13, part 1): the shape is read from the transformers config fields,
dense or mixture of experts; the parameter counts agree with the published ones; what is missing or
contradictory is an error naming the field; a MoE plan holds every expert's weights."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.inputs.modelconfig import ModelConfigError, read_model_config, shape_from_config

# Shapes and published parameter counts: reference/domain-facts-2026-12.md §2 (each row's source there).
QWEN3_30B_A3B = {"_name_or_path": "Qwen/Qwen3-30B-A3B", "hidden_size": 2048, "num_hidden_layers": 48,
                 "intermediate_size": 6144, "moe_intermediate_size": 768, "num_experts": 128,
                 "num_experts_per_tok": 8, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
                 "vocab_size": 151936, "tie_word_embeddings": False}
GPT_OSS_20B = {"_name_or_path": "openai/gpt-oss-20b", "hidden_size": 2880, "num_hidden_layers": 24,
               "intermediate_size": 2880, "num_local_experts": 32, "num_experts_per_tok": 4,
               "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 201088,
               "tie_word_embeddings": False, "sliding_window": 128, "quantization_config": {"quant_method": "mxfp4"}}
QWEN3_8B = {"_name_or_path": "Qwen/Qwen3-8B", "hidden_size": 4096, "num_hidden_layers": 36,
            "intermediate_size": 12288, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
            "vocab_size": 151936, "tie_word_embeddings": False}


@pytest.mark.parametrize("config, published_b, experts, active", [
    (QWEN3_30B_A3B, 30.53, 128, 8),
    (GPT_OSS_20B, 20.9, 32, 4),
    (QWEN3_8B, 8.19, 1, 1),
])
def test_parameters_agree_with_the_published_counts(config: dict[str, Any], published_b: float, experts: int,
                                                    active: int) -> None:
    read = shape_from_config(config, str(config["_name_or_path"]))
    assert abs(read.shape.params_b - published_b) / published_b < 0.01
    assert (read.shape.experts, read.shape.active_experts) == (experts, active)


def test_a_multimodal_wrapper_plans_its_text_config() -> None:
    read = shape_from_config({"architectures": ["Wrapper"], "text_config": QWEN3_8B}, "Qwen/Qwen3-8B")
    assert abs(read.shape.params_b - 8.19) < 0.1 and any("text_config" in n for n in read.notes)


def test_what_the_estimate_does_not_model_is_said() -> None:
    notes = " ".join(shape_from_config(GPT_OSS_20B, "openai/gpt-oss-20b").notes)
    assert "sliding_window" in notes and "mxfp4" in notes


@pytest.mark.parametrize("change, message", [
    ({"num_hidden_layers": None}, "field 'num_hidden_layers' is missing"),
    ({"hidden_size": "4096"}, "field 'hidden_size' must be a positive whole number, got '4096'"),
    ({"num_key_value_heads": 5}, "field 'num_key_value_heads' (5) must divide num_attention_heads (32)"),
    ({"num_experts": 8, "num_experts_per_tok": 9}, "field 'num_experts_per_tok' (9) exceeds num_experts (8)"),
    ({"num_experts": 8}, "field 'num_experts_per_tok' is missing"),
    ({"num_parameters": 70_000_000_000}, "field 'num_parameters' says 70.00B but the shape gives 8.19B"),
    ({"tie_word_embeddings": "no"}, "field 'tie_word_embeddings' must be true or false"),
])
def test_missing_or_contradictory_fields_are_named(change: dict[str, Any], message: str) -> None:
    config = {k: v for k, v in {**QWEN3_8B, **change}.items() if v is not None}
    with pytest.raises(ModelConfigError) as info:
        shape_from_config(config, "Qwen/Qwen3-8B")
    assert message in str(info.value)


def test_a_name_that_contradicts_the_shape_is_an_error() -> None:
    with pytest.raises(ModelConfigError) as info:
        shape_from_config(QWEN3_8B, "someone/Model-70B")
    assert "the name 'someone/Model-70B' says 70B but the shape gives 8.19B" in str(info.value)


def test_a_hub_id_is_not_fetched_and_says_how_to_get_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError) as info:
        read_model_config("Qwen/Qwen3-8B")
    assert "download its config.json" in str(info.value)
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ModelConfigError) as info:
        read_model_config(bad)
    assert "not a JSON config.json" in str(info.value)


def test_a_moe_plan_holds_every_experts_weights(cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    """All 128 experts are resident: the weights are the total parameters (30.5B) in 16-bit, not the active 3.3B."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(QWEN3_30B_A3B))
    code, out, _ = cli("recommend", "--model-config", str(path), "--method", "lora", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["memory"]["model_shape"] == "qwen3-30b-a3b"
    assert data["memory"]["breakdown"]["weights"] >= 30.5e9 * 2 / 2**30 * 0.99
    code, out, _ = cli("recommend", "--model-config", str(path))
    assert out.splitlines()[1].startswith("given: model=qwen3-30b-a3b (config.json of Qwen/Qwen3-30B-A3B, 30.5")


def test_a_profile_may_name_a_config_json_beside_it(cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(GPT_OSS_20B))
    profile = tmp_path / "profile.yaml"
    profile.write_text("model_config: config.json\nmethod: qlora\n")
    code, out, err = cli("recommend", str(profile), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["memory"]["model_shape"] == "gpt-oss-20b"
    code, _, err = cli("check", str(profile))
    assert code == 0, err
    profile.write_text("model_config: missing.json\n")
    code, out, _ = cli("check", str(profile))
    assert code == 1 and "profile.yaml:1:1: --model-config" in out and "no such file" in out
