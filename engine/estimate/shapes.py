"""The shape of a model the catalog does not list: Llama-3.1-8B proportions scaled to a parameter count
(catalogued shapes are records of engine/language/catalog.py, checked when the rules load)."""

from __future__ import annotations

from engine.language.catalog import ModelShape

# Llama-3.1-8B proportions used by generic_shape (published config.json of meta-llama/Llama-3.1-8B).
_GENERIC_VOCAB = 128256
_GENERIC_HEAD_DIM = 128
_GENERIC_KV_HEADS = 8
_GENERIC_FFN_RATIO = 3.5  # 14336 / 4096
_GENERIC_WIDTH_PER_LAYER = 128  # 4096 hidden / 32 layers



def _generic_params(hidden: int, layers: int) -> float:
    attention = hidden * (2 * hidden + 2 * _GENERIC_KV_HEADS * _GENERIC_HEAD_DIM)
    mlp = 3 * hidden * _round_to(hidden * _GENERIC_FFN_RATIO, 256)
    return float(layers * (attention + mlp) + 2 * _GENERIC_VOCAB * hidden)


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


def generic_shape(params_b: float) -> ModelShape:
    """A Llama-3.1-8B-proportioned shape scaled to params_b.

    Vocab 128256, head_dim 128, 8 KV heads, FFN 3.5x hidden, about 128 hidden units per layer, untied.
    """
    if not params_b > 0:
        raise ValueError(f"params_b must be > 0, got {params_b}")
    target = params_b * 1e9
    # Grow the width (layers = width / 128) until the parameter count reaches the target.
    low, high = 128.0, 65536.0
    for _ in range(60):
        mid = (low + high) / 2
        if _generic_params(int(mid), max(1, round(mid / _GENERIC_WIDTH_PER_LAYER))) < target:
            low = mid
        else:
            high = mid
    hidden = _round_to(high, _GENERIC_HEAD_DIM)
    intermediate = _round_to(hidden * _GENERIC_FFN_RATIO, 256)
    per_layer = _generic_params(hidden, 1) - 2 * _GENERIC_VOCAB * hidden
    layers = max(1, round((target - 2 * _GENERIC_VOCAB * hidden) / per_layer))
    heads = max(1, hidden // _GENERIC_HEAD_DIM)
    return ModelShape(
        id=f"generic-{params_b:g}b",
        params_b=params_b,
        hidden_size=hidden,
        intermediate_size=intermediate,
        layers=layers,
        attention_heads=heads,
        kv_heads=min(_GENERIC_KV_HEADS, heads),
        vocab_size=_GENERIC_VOCAB,
        tied_embeddings=False,
        generic=True,
        head_dim=_GENERIC_HEAD_DIM,
    )
