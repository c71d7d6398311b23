"""GPU fit and training-time estimates on top of engine.estimate.memory (pure stdlib)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from engine.estimate.memory import TrainingSetup, estimate_memory
from engine.language.catalog import Gpu, MemoryConstants, ModelShape

GPU_COUNTS = (1, 2, 4, 8)


@dataclass(frozen=True)
class GpuFit:
    """Whether a setup fits on `count` GPUs of one type; per_gpu_gib includes the CUDA context."""

    gpu_id: str
    count: int
    per_gpu_gib: float
    vram_gib: float
    headroom_gib: (
        float  # usable VRAM (after the headroom fraction) minus per_gpu_gib; negative when it does not fit
    )
    fits: bool
    reason: str


def needed_gib(shape: ModelShape, setup: TrainingSetup, constants: MemoryConstants) -> float:
    """Per-GPU memory of ``setup`` with the CUDA context, in GiB (cached per shape, setup and constants)."""
    return _needed_cached(shape, setup, constants)


def _needed_gib(shape: ModelShape, setup: TrainingSetup, constants: MemoryConstants, count: int) -> float:
    return _needed_cached(shape, replace(setup, gpu_count=count), constants)


@lru_cache(maxsize=16384)
def _needed_cached(shape: ModelShape, setup: TrainingSetup, constants: MemoryConstants) -> float:
    # the estimate does not depend on the GPU type: fitting 16 GPU types at 4 counts needs 4 estimates
    return estimate_memory(shape, setup, constants).per_gpu_gib + constants.get("cuda-context-gib")


def _usable_gib(gpu: Gpu, headroom_fraction: float) -> float:
    return gpu.vram_gib * (1.0 - headroom_fraction)


def _headroom(constants: MemoryConstants, headroom_fraction: float | None) -> float:
    fraction = constants.get("gpu-headroom-fraction") if headroom_fraction is None else headroom_fraction
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"headroom_fraction must be in [0, 1), got {fraction}")
    return fraction


def _counts(setup: TrainingSetup, pinned_count: int | None, max_count: int) -> tuple[int, ...]:
    if pinned_count is not None:
        if pinned_count < 1:
            raise ValueError(f"pinned_count must be >= 1, got {pinned_count}")
        return (pinned_count,)
    if max_count < 1:
        raise ValueError(f"max_count must be >= 1, got {max_count}")
    if setup.sharding == "ddp":
        return (1,)  # DDP replicates the whole job: more GPUs never lower per-GPU memory
    return tuple(count for count in GPU_COUNTS if count <= max_count) or (1,)


def fit_gpus(
    shape: ModelShape,
    setup: TrainingSetup,
    constants: MemoryConstants,
    gpus: Sequence[Gpu],
    *,
    pinned_gpu: str | None = None,
    pinned_count: int | None = None,
    max_count: int = 8,
    headroom_fraction: float | None = None,
) -> list[GpuFit]:
    """For each GPU type (input order), the smallest GPU count whose per-GPU memory fits with headroom."""
    fraction = _headroom(constants, headroom_fraction)
    candidates = list(gpus)
    if pinned_gpu is not None:
        candidates = [gpu for gpu in gpus if gpu.id == pinned_gpu]
        if not candidates:
            raise ValueError(f"unknown GPU {pinned_gpu!r}; known: {', '.join(gpu.id for gpu in gpus)}")
    counts = _counts(setup, pinned_count, max_count)
    # the estimate depends on the count, not on the GPU type: once per count, then compare per GPU
    needed_by_count = {count: _needed_gib(shape, setup, constants, count) for count in counts}
    fits: list[GpuFit] = []
    for gpu in candidates:
        usable = _usable_gib(gpu, fraction)
        def fit_at(count: int, fits: bool, reason: str, gpu: Gpu = gpu, usable: float = usable) -> GpuFit:
            needed = needed_by_count[count]
            return GpuFit(gpu.id, count, needed, gpu.vram_gib, usable - needed, fits, reason)

        if setup.method == "full" and setup.precision == "bf16" and not gpu.bf16:
            fits.append(fit_at(counts[0], False, f"{gpu.name} has no bf16 (compute capability "
                                                 f"{gpu.compute_capability}); use precision fp16 or mixed"))
            continue
        fitting = [count for count in counts if needed_by_count[count] <= usable]
        if fitting:
            count = fitting[0]
            result = fit_at(count, True, f"needs {needed_by_count[count]:.1f} GiB per GPU on {count} x {gpu.id} "
                                         f"({setup.sharding}); {usable:.1f} GiB usable of {gpu.vram_gib:.1f} GiB "
                                         f"after {fraction:.0%} headroom")
        else:
            count = counts[-1]
            hint = "; DDP does not shard memory, try zero3/fsdp" if setup.sharding == "ddp" and pinned_count is None \
                else ""
            result = fit_at(count, False, f"needs {needed_by_count[count]:.1f} GiB per GPU on {count} x {gpu.id} "
                                          f"({setup.sharding}) but only {usable:.1f} GiB usable of "
                                          f"{gpu.vram_gib:.1f} GiB after {fraction:.0%} headroom{hint}")
        fits.append(result)
    return fits


def suggestions_if_not_fitting(
    shape: ModelShape,
    setup: TrainingSetup,
    constants: MemoryConstants,
    gpu: Gpu,
    *,
    max_count: int = 8,
    headroom_fraction: float | None = None,
) -> list[str]:
    """Changes that make the setup fit on `gpu`, each re-estimated with its per-GPU GiB; empty if it fits."""
    fraction = _headroom(constants, headroom_fraction)
    usable = _usable_gib(gpu, fraction)
    count = setup.gpu_count
    if _needed_gib(shape, setup, constants, count) <= usable:
        return []
    # Each group lists alternatives in order of preference; the first that fits is suggested.
    groups: list[list[tuple[str, TrainingSetup]]] = []
    if not setup.gradient_checkpointing:
        groups.append([("enable gradient checkpointing", replace(setup, gradient_checkpointing=True))])
    if setup.batch_size > 1:
        groups.append([("use batch size 1 with gradient accumulation", replace(setup, batch_size=1))])
    if setup.method == "full" and setup.optimizer == "adamw":
        groups.append([("use 8-bit AdamW", replace(setup, optimizer="adamw_8bit"))])
    if setup.method == "full":
        groups.append([("switch to LoRA", replace(setup, method="lora", precision="mixed"))])
    if setup.method != "qlora" or setup.quant_bits == 8:
        qlora = replace(setup, method="qlora", quant_bits=4, precision="mixed")
        groups.append(
            [
                ("switch to QLoRA (4-bit)", qlora),
                (
                    "switch to QLoRA (4-bit) with gradient checkpointing",
                    replace(qlora, gradient_checkpointing=True),
                ),
            ]
        )
    for sharding, label in (("zero3", "ZeRO-3"), ("fsdp", "FSDP")):
        groups.append(
            [
                (
                    f"shard with {label} on {gpus} x {gpu.id}",
                    replace(setup, gpu_count=gpus, sharding=sharding),
                )
                for gpus in GPU_COUNTS
                if 1 < gpus <= max_count and not (setup.sharding == sharding and gpus <= count)
            ]
        )
    shorter = [setup.seq_len // 2**k for k in range(1, 8) if setup.seq_len // 2**k >= 256]
    groups.append([(f"shorten seq_len to {seq}", replace(setup, seq_len=seq)) for seq in shorter])
    # when no single change is enough, every saver at once (the FSDP + QLoRA recipe) on more GPUs
    lean = replace(setup, method="qlora", quant_bits=4, precision="mixed", gradient_checkpointing=True,
                   batch_size=1)
    groups.append([(f"combine QLoRA, gradient checkpointing and FSDP on {gpus} x {gpu.id}",
                    replace(lean, gpu_count=gpus, sharding="fsdp"))
                   for gpus in GPU_COUNTS if 1 < gpus <= max_count])

    suggestions: list[str] = []
    for group in groups:
        for label, candidate in group:
            needed = _needed_gib(shape, candidate, constants, candidate.gpu_count)
            if needed <= usable:
                suggestions.append(
                    f"{label}: {needed:.1f} GiB per GPU fits in {usable:.1f} GiB usable on {gpu.id}"
                )
                break
    return suggestions


def training_flops_per_token(shape: ModelShape, setup: TrainingSetup) -> float:
    """Training FLOPs per token: 6N full or 4N (Q)LoRA, +2N with checkpointing, +2N for a reference model's
    forward (DPO, KTO), plus attention; N counts the parameters a token passes through (MoE: active experts)."""
    n_params = shape.active_params
    if setup.method == "full":
        flops = 6.0 * n_params  # forward 2N + backward 4N (activation and weight gradients)
    else:
        # Frozen base: forward 2N + activation gradients 2N; adapter weight gradients are ~6 x adapter params.
        flops = 4.0 * n_params + 6.0 * shape.lora_params(setup.lora_rank, setup.lora_targets)
    if setup.gradient_checkpointing:
        flops += 2.0 * n_params  # one extra forward to recompute activations
    if setup.reference_forward:
        flops += 2.0 * n_params  # the reference model's log-probabilities of the same sequences
    # Attention score and value matmuls (PaLM appendix B): 12 x layers x hidden x seq,
    # not discounted for causal masking.
    attention = 12.0 * shape.layers * shape.attention_dim * setup.seq_len
    if setup.gradient_checkpointing:
        attention *= 4.0 / 3.0
    return flops + attention


def speed_factor(setup: TrainingSetup, constants: MemoryConstants) -> tuple[float, list[str]]:
    """How much faster than plain 16-bit training the setup runs (QLoRA dequantization, tool kernels)."""
    speed = 1.0
    extras: list[str] = []
    if setup.method == "qlora":
        speed /= constants.get("qlora-time-factor")
        extras.append(f"QLoRA dequantization x{constants.get('qlora-time-factor'):g}")
    if setup.tool_savings == "unsloth" and setup.method != "full":  # its benchmarks are (Q)LoRA runs
        speed *= constants.get("unsloth-speedup-factor")
        extras.append(f"Unsloth {constants.get('unsloth-speedup-factor'):g}x faster")
    return speed, extras


def time_parts(shape: ModelShape, setup: TrainingSetup, constants: MemoryConstants,
               scaling_efficiency: float = 1.0) -> tuple[float, float]:
    """Seconds per training token of the whole run as (compute, floor): ``compute`` on GPUs of 1 dense TFLOPS
    (divide by the GPU's TFLOPS), ``floor`` the launch-bound minimum whatever the GPU; a run takes the larger.
    Each doubling of ``setup.gpu_count`` keeps ``scaling_efficiency`` of linear speed-up."""
    scaling = scaling_efficiency ** math.log2(setup.gpu_count) if setup.gpu_count > 1 else 1.0
    gpus = setup.gpu_count * scaling
    compute = training_flops_per_token(shape, setup) / (gpus * 1e12 * effective_mfu(setup, constants))
    return compute, step_floor_seconds(shape, setup, constants) / (setup.seq_len * setup.batch_size) / gpus


_STEP_FLOOR = {"full": "step-floor-ms-per-layer-full", "lora": "step-floor-ms-per-layer-lora",
               "qlora": "step-floor-ms-per-layer-qlora"}


def effective_mfu(setup: TrainingSetup, constants: MemoryConstants) -> float:
    """mfu-default times the set-up's speed factors, capped at mfu-ceiling (no training run beats it)."""
    speed, _ = speed_factor(setup, constants)
    return min(constants.get("mfu-default") * speed, constants.get("mfu-ceiling"))


def step_floor_seconds(shape: ModelShape, setup: TrainingSetup, constants: MemoryConstants) -> float:
    """The shortest optimizer step one GPU runs (kernel launches per layer), in seconds."""
    floor = constants.get(_STEP_FLOOR[setup.method]) * shape.layers / 1000.0
    if setup.gradient_checkpointing:
        floor *= constants.get("step-floor-checkpointing-factor")
    if setup.tool_savings == "unsloth" and setup.method != "full":
        floor /= constants.get("unsloth-speedup-factor")
    return floor


def training_hours(  # noqa: PLR0917 - positional signature agreed with the engine's callers
    shape: ModelShape,
    setup: TrainingSetup,
    gpu: Gpu,
    count: int,
    dataset_tokens: float,
    epochs: float,
    constants: MemoryConstants,
    scaling_efficiency: float = 1.0,
) -> tuple[float, str]:
    """Wall-clock hours for `epochs` passes over `dataset_tokens` on `count` GPUs, plus a one-line why;
    each doubling of the GPU count keeps `scaling_efficiency` of linear speed-up."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if dataset_tokens <= 0 or epochs <= 0:
        raise ValueError(f"dataset_tokens and epochs must be > 0, got {dataset_tokens} and {epochs}")
    mfu = constants.get("mfu-default")
    flops_per_token = training_flops_per_token(shape, setup)
    _, extras = speed_factor(setup, constants)
    precision = "bf16" if gpu.bf16 else "fp16"
    compute, floor = time_parts(shape, replace(setup, gpu_count=count), constants, scaling_efficiency)
    scaling = scaling_efficiency ** math.log2(count) if count > 1 else 1.0
    hours = dataset_tokens * epochs * max(compute / gpu.training_tflops, floor) / 3600.0
    if floor > compute / gpu.training_tflops:
        extras.append(f"launch-bound: a step takes at least {step_floor_seconds(shape, setup, constants):.2f} s "
                      f"({_STEP_FLOOR[setup.method]}), more than its FLOPs need on {gpu.id}")
    detail = f"; {', '.join(extras)}" if extras else ""
    multi = (f"; {count} GPUs keep {scaling:.0%} of linear speed-up ({scaling_efficiency:g} per doubling)"
             if count > 1 else "")
    explanation = (
        f"{flops_per_token / shape.params:.1f} x N FLOPs/token x {dataset_tokens * epochs:.3g} tokens on "
        f"{count} x {gpu.id} at {gpu.training_tflops:g} {precision} TFLOPS, "
        f"MFU {mfu:.0%} (mfu-default; {effective_mfu(setup, constants):.0%} with the speed factors, at most "
        f"mfu-ceiling){detail}{multi}"
    )
    return hours, explanation
