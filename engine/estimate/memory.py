"""Training memory estimator: peak GPU memory of one fine-tuning step, built from named parts.

Every number comes from rules/catalog/memory.yaml (passed in as MemoryConstants); see docs/memory-model.md.
Units: GiB = 2**30 bytes. Model shapes and constants are the catalog records of engine/language/catalog.py;
the generic shape of an uncatalogued model is engine/estimate/shapes.py. Pure stdlib.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from engine.language.catalog import MemoryConstants, ModelShape

# estimate_memory's inputs are catalog records; devtools/calibration.py imports them from here
__all__ = ["GIB", "LORA_TARGETS", "METHODS", "OPTIMIZERS", "PRECISIONS", "SHARDINGS", "TOOL_SAVINGS",
           "MemoryConstants", "MemoryEstimate", "ModelShape", "TrainingSetup", "estimate_memory", "validate_setup"]

GIB = float(2**30)

METHODS = ("full", "lora", "qlora")
PRECISIONS = ("mixed", "bf16", "fp16")
OPTIMIZERS = ("adamw", "adamw_8bit")
SHARDINGS = ("ddp", "zero1", "zero2", "zero3", "fsdp", "fsdp-cp")   # fsdp-cp: FSDP2 + context parallelism
TOOL_SAVINGS = ("unsloth",)
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")

@dataclass(frozen=True)
class TrainingSetup:
    """One training configuration to estimate (batch_size is per GPU; tokens = seq_len x batch_size)."""

    method: str  # "full" | "lora" | "qlora"
    precision: str = "mixed"  # full FT: "mixed" (fp32 master + 16-bit autocast) | "bf16" (pure) | "fp16"
    seq_len: int = 2048
    batch_size: int = 1
    gradient_checkpointing: bool = False
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = LORA_TARGETS
    quant_bits: int = 4  # qlora: 4 (NF4 + double quant) or 8
    optimizer: str = "adamw"  # "adamw" | "adamw_8bit"
    gpu_count: int = 1
    sharding: str = "ddp"  # "ddp" | "zero1" | "zero2" | "zero3" | "fsdp" | "fsdp-cp" (sequence split too)
    tool_savings: str | None = None  # "unsloth": Unsloth's documented activation savings
    sequences_per_example: int = 1  # preference pairs (DPO, ORPO): chosen + rejected run through the model together
    frozen_copies: int = 0  # frozen 16-bit models beside the trained one (a full fine-tune's DPO reference, ...)
    reference_forward: bool = False  # a reference model's forward pass per sequence (time only)


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of one training step; breakdown_gib sums to peak_gib."""

    breakdown_gib: Mapping[str, float]
    peak_gib: float  # unsharded: the whole job on one GPU (what PyTorch reserves; CUDA context not included)
    per_gpu_gib: float  # what one GPU must hold under setup.sharding with setup.gpu_count GPUs
    constants_used: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass
class _Recorder:
    """Reads constants and remembers which ids were used (provenance)."""

    constants: MemoryConstants
    used: list[str] = field(default_factory=list)

    def __call__(self, key: str) -> float:
        if key not in self.used:
            self.used.append(key)
        return self.constants.get(key)


@dataclass(frozen=True)
class _Parts:
    """Byte counts of one setup before sharding, phase by phase."""

    weights: float  # resident weights (base + adapters)
    weight_copies: float  # 16-bit autocast copies of fp32 weights, alive from forward into backward
    gradients: float  # gradients of trainable parameters (exist at the end of backward)
    optimizer: float  # optimizer states (persistent after the first step)
    activations: float  # saved activations at the end of forward
    logits: float  # logits / loss tensors at their peak (start of backward)
    tied_transient: float  # extra gradient buffer when tied embeddings are trained
    layer_activations: float  # one layer's saved activations (checkpointing recomputes one at a time)
    layer_weights_16bit: float  # one layer's weights in 16-bit (what ZeRO-3/FSDP gathers)
    frozen: float = 0.0  # frozen 16-bit model copies (reference / reward models), no gradients or states


def validate_setup(setup: TrainingSetup) -> None:
    """Raise ValueError for a setup that cannot be estimated."""
    if setup.method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {setup.method!r}")
    if setup.precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {setup.precision!r}")
    if setup.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {setup.optimizer!r}")
    if setup.sharding not in SHARDINGS:
        raise ValueError(f"sharding must be one of {SHARDINGS}, got {setup.sharding!r}")
    if setup.tool_savings is not None and setup.tool_savings not in TOOL_SAVINGS:
        raise ValueError(f"tool_savings must be None or one of {TOOL_SAVINGS}, got {setup.tool_savings!r}")
    for name, value in (
        ("seq_len", setup.seq_len),
        ("batch_size", setup.batch_size),
        ("gpu_count", setup.gpu_count),
        ("sequences_per_example", setup.sequences_per_example),
        ("frozen_copies + 1", setup.frozen_copies + 1),
    ):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if setup.method in ("lora", "qlora"):
        if setup.lora_rank < 1:
            raise ValueError(f"lora_rank must be >= 1, got {setup.lora_rank}")
        if not setup.lora_targets:
            raise ValueError("lora_targets must name at least one of " + ", ".join(LORA_TARGETS))
        unknown = [t for t in setup.lora_targets if t not in LORA_TARGETS]
        if unknown:
            raise ValueError(f"unknown lora_targets {unknown}; known: {LORA_TARGETS}")
    if setup.method == "qlora" and setup.quant_bits not in (4, 8):
        raise ValueError(f"quant_bits must be 4 or 8 for qlora, got {setup.quant_bits}")


@dataclass(frozen=True)
class _ParamBytes:
    """Parameter-proportional byte counts of one method."""

    weights: float
    weight_copies: float
    gradients: float
    optimizer: float
    tied_transient: float
    layer_base_bytes: float  # bytes per base parameter inside the transformer layers


def _param_bytes(shape: ModelShape, setup: TrainingSetup, get: _Recorder) -> _ParamBytes:
    n_params = shape.params
    embed = shape.embedding_params
    head = float(shape.vocab_size * shape.hidden_size)  # lm_head (the same matrix when tied)
    half = get("bytes-per-param-bf16")
    copies = 0.0
    tied = 0.0
    if setup.method == "full":
        trainable = n_params
        if setup.precision == "mixed":
            weights = get("bytes-per-param-fp32") * n_params
            # autocast casts every matmul weight (all but an untied input embedding) to 16 bits
            # once per forward.
            matmul_params = n_params if shape.tied_embeddings else n_params - embed + head
            copies = get("amp-weight-copy-bytes") * matmul_params
            grad_bytes = get("bytes-per-param-fp32")
            state_bytes = get("adamw-state-bytes")
        else:
            weights = half * n_params
            grad_bytes = half
            state_bytes = get("adamw-state-bytes-bf16")  # torch AdamW keeps states in the parameter dtype
        if shape.tied_embeddings:
            # lm_head and embedding gradients of the shared matrix coexist until autograd sums them.
            tied = get("tied-embedding-grad-copies") * grad_bytes * head
        layer_base_bytes = half
    else:
        trainable = shape.lora_params(setup.lora_rank, setup.lora_targets)
        if setup.method == "lora":
            layer_base_bytes = half
        elif setup.quant_bits == 4:
            layer_base_bytes = get("nf4-bytes-per-param") + get("nf4-double-quant-overhead")
        else:
            layer_base_bytes = get("int8-bytes-per-param")
        # bitsandbytes quantizes the Linear layers only; embeddings and lm_head stay bf16.
        base = layer_base_bytes * (n_params - embed) + half * embed
        grad_bytes = get("lora-adapter-bytes-per-param")
        weights = base + grad_bytes * trainable
        state_bytes = get("adamw-state-bytes")
    if setup.optimizer == "adamw_8bit":
        state_bytes = get("adamw-8bit-state-bytes")
    return _ParamBytes(
        weights, copies, grad_bytes * trainable, state_bytes * trainable, tied, layer_base_bytes
    )


def _parts(shape: ModelShape, setup: TrainingSetup, get: _Recorder) -> _Parts:
    params = _param_bytes(shape, setup, get)
    tokens = float(setup.seq_len * setup.batch_size * setup.sequences_per_example)
    copies = params.weight_copies
    per_token_layer = (
        get("activation-bytes-per-token-hidden-layer") * shape.hidden_size
        + get("activation-bytes-per-token-intermediate-layer")
        * shape.intermediate_size
        * shape.active_experts
    )
    layer_activations = tokens * per_token_layer
    logits = get("logits-bytes-per-token-vocab") * shape.vocab_size * tokens
    if setup.gradient_checkpointing:
        # Only each layer's input survives the forward; mixed precision keeps that residual stream in fp32.
        input_bytes = get("checkpoint-bytes-per-token-hidden-layer")
        if setup.method == "full" and setup.precision == "mixed":
            input_bytes *= get("bytes-per-param-fp32") / get("bytes-per-param-bf16")
        activations = tokens * shape.layers * input_bytes * shape.hidden_size
        # Non-reentrant checkpointing drops the autocast copies after forward;
        # recomputation re-creates one layer's at a time.
        copies = 0.0
    else:
        activations = layer_activations * shape.layers
    if setup.tool_savings == "unsloth":
        keep = 1.0 - get("unsloth-activation-savings-fraction")
        activations *= keep
        logits *= keep
        layer_activations *= keep
    return _Parts(
        weights=params.weights,
        weight_copies=copies,
        gradients=params.gradients,
        optimizer=params.optimizer,
        activations=activations,
        logits=logits,
        tied_transient=params.tied_transient,
        layer_activations=layer_activations,
        layer_weights_16bit=(shape.params - shape.embedding_params) / shape.layers * params.layer_base_bytes,
        frozen=setup.frozen_copies * get("bytes-per-param-bf16") * shape.params,
    )


def _peak(
    parts: _Parts, setup: TrainingSetup, gpu_count: int, get: _Recorder
) -> tuple[dict[str, float], str]:
    """Bytes per GPU at the peak moment, by term, and which phase the peak is in."""
    weights, copies, grads, optim = parts.weights, parts.weight_copies, parts.gradients, parts.optimizer
    frozen = parts.frozen
    extra_ddp = 0.0
    if gpu_count > 1:
        if setup.sharding == "ddp":
            # DDP's gradient buckets are a second copy of the gradients (unless gradient_as_bucket_view).
            extra_ddp = get("ddp-bucket-gradient-fraction") * grads
        if setup.sharding in ("zero1", "zero2", "zero3", "fsdp", "fsdp-cp"):
            optim /= gpu_count
        if setup.sharding in ("zero2", "zero3", "fsdp", "fsdp-cp"):
            grads /= gpu_count
        if setup.sharding in ("zero3", "fsdp", "fsdp-cp"):
            # Parameters are sharded; the layers being computed (current + prefetched)
            # are gathered in 16 bits.
            gathered = get("sharded-gather-layers") * parts.layer_weights_16bit
            weights = min(weights, weights / gpu_count + gathered)
            copies = min(copies, gathered)
            frozen /= gpu_count   # the trainers shard a frozen model with the same ZeRO-3 / FSDP plan
    activations, logits, layer = parts.activations, parts.logits, parts.layer_activations
    if gpu_count > 1 and setup.sharding == "fsdp-cp":
        # context parallelism: each GPU holds 1/N of every sequence (ring attention passes the keys and values)
        activations, logits, layer = activations / gpu_count, logits / gpu_count, layer / gpu_count
    if setup.gradient_checkpointing and layer > logits:
        # Backward runs the loss first, then recomputes one layer at a time;
        # the larger of the two sets the peak.
        activations, logits = activations + layer, 0.0
    start_of_backward = weights + copies + optim + activations + logits + extra_ddp + frozen
    end_of_backward = weights + grads + optim + parts.tied_transient + extra_ddp + frozen
    if start_of_backward >= end_of_backward:
        terms = {
            "weights": weights,
            "weight_copies": copies,
            "gradients": extra_ddp,
            "optimizer": optim,
            "activations": activations,
            "logits": logits,
        }
        phase = "start of backward"
    else:
        terms = {
            "weights": weights,
            "weight_copies": 0.0,
            "gradients": grads + parts.tied_transient + extra_ddp,
            "optimizer": optim,
            "activations": 0.0,
            "logits": 0.0,
        }
        phase = "end of backward"
    # The caching allocator reserves more than it hands out: fitted shares of the memory churned every step.
    churn_activations = activations + logits + copies
    overhead = get("allocator-activation-fraction") * churn_activations
    if setup.method == "full":
        overhead += get("allocator-gradient-fraction") * (grads + parts.tied_transient)
    if setup.gradient_checkpointing:
        overhead += get("checkpoint-recompute-reserve-layers") * layer
    terms["overhead"] = overhead
    if frozen:
        terms["frozen_models"] = frozen
    return terms, phase


def _estimate_bytes(
    shape: ModelShape, setup: TrainingSetup, gpu_count: int, get: _Recorder
) -> tuple[dict[str, float], str, _Parts]:
    parts = _parts(shape, setup, get)
    terms, phase = _peak(parts, setup, gpu_count, get)
    if setup.gradient_checkpointing:
        # Checkpointing can only free memory; for very shallow models the recompute reserve
        # could exceed the saving, and a trainer would then not checkpoint.
        plain = _parts(shape, replace(setup, gradient_checkpointing=False), get)
        plain_terms, plain_phase = _peak(plain, replace(setup, gradient_checkpointing=False), gpu_count, get)
        if sum(plain_terms.values()) < sum(terms.values()):
            return plain_terms, plain_phase, plain
    return terms, phase, parts


def estimate_memory(shape: ModelShape, setup: TrainingSetup, constants: MemoryConstants) -> MemoryEstimate:
    """Peak memory of a training step (PyTorch reserved, GiB) for the whole job and per GPU."""
    validate_setup(setup)
    get = _Recorder(constants)
    terms, phase, parts = _estimate_bytes(shape, setup, 1, get)
    per_gpu_terms, _, _ = _estimate_bytes(shape, setup, setup.gpu_count, get)
    breakdown = {key: value / GIB for key, value in terms.items()}
    peak_gib = sum(breakdown.values())
    per_gpu_gib = sum(per_gpu_terms.values()) / GIB
    notes: list[str] = []
    if shape.generic:
        notes.append(
            f"generic Llama-like shape for {shape.params_b:g}B (hidden {shape.hidden_size}, "
            f"{shape.layers} layers, "
            f"vocab {shape.vocab_size}): estimate is rougher than for a catalogued model"
        )
    if phase == "end of backward":
        freed = (parts.activations + parts.logits + parts.weight_copies) / GIB
        notes.append(
            f"peak is at the end of backward (gradients + optimizer states); "
            f"activations, logits and autocast "
            f"copies ({freed:.1f} GiB) are freed by then, so they do not add to it"
        )
        accumulating_gib = (
            parts.weights
            + parts.weight_copies
            + parts.gradients
            + parts.optimizer
            + parts.activations
            + parts.logits
        ) / GIB
        if setup.method == "full":
            notes.append(
                f"with gradient accumulation > 1 the gradients ({parts.gradients / GIB:.1f} GiB) "
                f"stay allocated through the next forward: peak about {accumulating_gib:.1f} GiB "
                "before allocator overhead"
            )
    if setup.tool_savings == "unsloth":
        notes.append("Unsloth: activations and logits reduced by its documented checkpointing saving")
    if setup.gpu_count > 1 and setup.sharding == "fsdp-cp":
        notes.append(f"context parallelism over {setup.gpu_count} GPUs: each holds 1/{setup.gpu_count} of every "
                     "sequence's activations and logits, and an FSDP shard of the model")
    if setup.gpu_count > 1 and setup.sharding == "ddp":
        notes.append(
            "DDP replicates everything: more GPUs add throughput, not memory (plus gradient buckets)"
        )
    if setup.sequences_per_example > 1:
        notes.append(f"{setup.sequences_per_example} sequences per example (chosen and rejected): activations and "
                     "logits count both")
    if setup.frozen_copies:
        copies = "a frozen 16-bit model copy" if setup.frozen_copies == 1 else \
            f"{setup.frozen_copies} frozen 16-bit model copies"
        notes.append(f"{copies} beside the trained model (reference or reward model): weights only, no gradients "
                     "or optimizer states")
    if setup.method == "qlora" and setup.quant_bits == 4:
        notes.append(
            "QLoRA 4-bit: NF4 with double quantization on Linear layers; embeddings and lm_head stay bf16"
        )
    notes.append("excludes the CUDA context (cuda-context-gib), which hardware.fit_gpus adds per GPU")
    return MemoryEstimate(
        breakdown_gib=breakdown,
        peak_gib=peak_gib,
        per_gpu_gib=per_gpu_gib,
        constants_used=tuple(get.used),
        notes=tuple(notes),
    )
