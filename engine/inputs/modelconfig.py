"""Any model from its Hugging Face ``config.json`` (issue 13): the shape the memory and time models need,
dense or mixture-of-experts, read from the fields the transformers config classes use, with a clear
error naming the field for what is missing or contradictory, and notes for what the estimate does not model.

Read here: ``text_config`` (multimodal wrappers nest the language model there), hidden_size,
num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim, intermediate_size, vocab_size,
tie_word_embeddings; for MoE the expert count (num_local_experts, num_experts, n_routed_experts), the
active experts (num_experts_per_tok), the expert width (moe_intermediate_size, else intermediate_size) and
shared experts (n_shared_experts, shared_expert_intermediate_size), counted as always-active experts of
the same width; num_parameters when given. Parameters are computed from the shape and checked against
num_parameters and the size in the model's name. No network: the file is read from disk."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.estimate.memory import ModelShape

MAX_CONFIG_BYTES = 4 * 1024 * 1024
_SIZE_IN_NAME = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[bB](?![a-zA-Z])")   # "8B", "0.5B", "30B-A3B" -> 30


class ModelConfigError(UserError):
    """A config.json that cannot be read as a model's shape; the message names the file and the field."""


@dataclass(frozen=True)
class ConfigShape:
    """The shape read from a config.json, what it is called, and what the estimate does not model."""

    shape: ModelShape
    name: str
    notes: tuple[str, ...]


def read_model_config(path: str | Path) -> ConfigShape:
    """The model shape of a config.json file (``name`` from ``_name_or_path`` or the folder name)."""
    file = Path(path)
    if not file.is_file():
        hint = (" (to use a Hub id, download its config.json first, e.g. `huggingface-cli download ORG/NAME "
                "config.json`)") if "/" in str(path) and not file.exists() else ""
        raise ModelConfigError(f"--model-config {path}: no such file{hint}")
    raw = file.read_bytes()[: MAX_CONFIG_BYTES + 1]
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelConfigError(f"{path}: over {MAX_CONFIG_BYTES // (1024 * 1024)} MiB; a config.json is a few KiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelConfigError(f"{path}: not a JSON config.json ({str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise ModelConfigError(f"{path}: a config.json is a JSON object")
    name = str(data.get("_name_or_path") or (file.parent.name if file.parent.name else file.stem))
    return shape_from_config(data, name, str(path))


def _integer(config: Mapping[str, Any], field: str, where: str, default: int | None = None) -> int:
    value = config.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        if value is None:
            raise ModelConfigError(f"{where}: field '{field}' is missing; it is needed for the model's shape")
        raise ModelConfigError(f"{where}: field '{field}' must be a positive whole number, got {value!r}")
    return value


def shape_from_config(data: Mapping[str, Any], name: str, where: str = "config.json") -> ConfigShape:
    """The shape of a parsed config.json (see the module docstring for the fields)."""
    config: dict[str, Any] = dict(data)
    notes: list[str] = []
    text = data.get("text_config")
    if isinstance(text, Mapping):   # a multimodal wrapper: the language model's fields are nested
        config = {**config, **text}
        notes.append("a multimodal config: the language model (text_config) is planned; the vision tower's "
                     "weights and activations are not counted")
    hidden = _integer(config, "hidden_size", where)
    layers = _integer(config, "num_hidden_layers", where)
    heads = _integer(config, "num_attention_heads", where)
    kv_heads = _integer(config, "num_key_value_heads", where, heads)
    vocab = _integer(config, "vocab_size", where)
    head_dim = _integer(config, "head_dim", where) if config.get("head_dim") is not None else None
    if kv_heads > heads or heads % kv_heads:
        raise ModelConfigError(f"{where}: field 'num_key_value_heads' ({kv_heads}) must divide "
                               f"num_attention_heads ({heads})")
    if head_dim is None and hidden % heads:
        raise ModelConfigError(f"{where}: field 'head_dim' is missing and hidden_size ({hidden}) is not a multiple "
                               f"of num_attention_heads ({heads})")
    tied = _tied(config, where, notes)
    width, experts, active = _experts(config, where, notes)
    notes.extend(_not_modelled(config))
    shape = ModelShape(id=_slug(name), params_b=1.0, hidden_size=hidden, intermediate_size=width, layers=layers,
                       attention_heads=heads, kv_heads=kv_heads, vocab_size=vocab, tied_embeddings=tied,
                       head_dim=head_dim, experts=experts, active_experts=active)
    computed = shape.structural_params() / 1e9
    inactive = 3 * hidden * width * (experts - active) * layers / 1e9
    params = _checked_params(config, name, computed=computed, active=computed - inactive, where=where, notes=notes)
    return ConfigShape(replace(shape, params_b=params), name, tuple(notes))


def _tied(config: Mapping[str, Any], where: str, notes: list[str]) -> bool:
    tied = config.get("tie_word_embeddings")
    if tied is None:
        notes.append("tie_word_embeddings is not given: the input and output embeddings are counted separately")
        return False
    if not isinstance(tied, bool):
        raise ModelConfigError(f"{where}: field 'tie_word_embeddings' must be true or false, got {tied!r}")
    return tied


def _experts(config: Mapping[str, Any], where: str, notes: list[str]) -> tuple[int, int, int]:
    """(expert or MLP width, experts per layer, active experts per token); 1 and 1 for a dense model."""
    field = next((f for f in ("num_local_experts", "num_experts", "n_routed_experts")
                  if config.get(f) not in (None, 0, 1)), None)
    if field is None:
        return _integer(config, "intermediate_size", where), 1, 1
    experts = _integer(config, field, where)
    active = _integer(config, "num_experts_per_tok", where)
    if active > experts:
        raise ModelConfigError(f"{where}: field 'num_experts_per_tok' ({active}) exceeds {field} ({experts})")
    width_field = "moe_intermediate_size" if config.get("moe_intermediate_size") else "intermediate_size"
    width = _integer(config, width_field, where)
    shared = _shared_experts(config, width, where)
    if shared:
        notes.append(f"{shared} shared expert(s) of width {width} counted as always active")
    if config.get("first_k_dense_replace") or config.get("mlp_only_layers") or \
            config.get("decoder_sparse_step") not in (None, 1):
        notes.append("some layers are dense rather than experts; they are counted as expert layers")
    return width, experts + shared, active + shared


def _not_modelled(config: Mapping[str, Any]) -> list[str]:
    notes = []
    attention = next((f for f in ("sliding_window", "layer_types", "linear_attention", "attention_chunk_size")
                      if config.get(f)), None)
    if attention:
        notes.append(f"'{attention}' is not modelled: attention activations are estimated as full attention")
    quant = config.get("quantization_config")
    if isinstance(quant, Mapping) and quant.get("quant_method"):
        notes.append(f"shipped quantized ({quant['quant_method']}): the estimate holds the weights in 16-bit "
                     "unless the method is QLoRA")
    return notes


def _shared_experts(config: Mapping[str, Any], width: int, where: str) -> int:
    count = config.get("n_shared_experts") or config.get("num_shared_experts")
    if isinstance(count, int) and not isinstance(count, bool) and count > 0:
        return count
    shared_width = config.get("shared_expert_intermediate_size")
    if isinstance(shared_width, int) and not isinstance(shared_width, bool) and shared_width > 0:
        return max(1, round(shared_width / width))
    return 0


def _checked_params(config: Mapping[str, Any], name: str, *, computed: float, active: float, where: str,
                    notes: list[str]) -> float:
    """The parameter count (billions) computed from the shape, checked against num_parameters and the size in
    the name (which for a mixture of experts may be the active count: Llama-4-Scout-17B-16E)."""
    given = config.get("num_parameters")
    if isinstance(given, int | float) and not isinstance(given, bool) and given > 0:
        stated = float(given) / 1e9
        if not 0.8 <= computed / stated <= 1.25:
            raise ModelConfigError(f"{where}: field 'num_parameters' says {stated:.2f}B but the shape gives "
                                   f"{computed:.2f}B; one of hidden_size, intermediate_size, num_hidden_layers or "
                                   "the expert fields is wrong")
        return stated
    match = _SIZE_IN_NAME.search(name)
    if match:
        named = float(match.group(1))
        if active < computed and 0.5 <= active / named <= 2.0:
            return computed   # the name gives the active parameters of a mixture of experts
        if not 0.5 <= computed / named <= 2.0:
            raise ModelConfigError(f"{where}: the name '{name}' says {named:g}B but the shape gives {computed:.2f}B "
                                   "parameters; check hidden_size, intermediate_size, num_hidden_layers and the "
                                   "expert fields")
        if not 0.8 <= computed / named <= 1.25:
            notes.append(f"the shape gives {computed:.2f}B parameters, the name says {named:g}B")
    return computed


def _slug(name: str) -> str:
    tail = name.rstrip("/").split("/")[-1].lower()
    slug = re.sub(r"[^a-z0-9.+-]+", "-", tail).strip("-")
    return slug or "model-config"
