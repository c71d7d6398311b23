"""Tests of engine.estimate.hardware: GPU catalog, fit, suggestions and training time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.estimate.hardware import (
    GpuFit,
    fit_gpus,
    suggestions_if_not_fitting,
    training_flops_per_token,
    training_hours,
)
from engine.estimate.memory import TrainingSetup, estimate_memory
from engine.language.catalog import Gpu, MemoryConstants, ModelShape

CATALOG = Path(__file__).resolve().parents[2] / "rules" / "catalog"


def _entries(name: str) -> list[dict[str, Any]]:
    with (CATALOG / f"{name}.yaml").open() as handle:
        entries: list[dict[str, Any]] = yaml.safe_load(handle)["entries"]
    return entries


@pytest.fixture(scope="module")
def constants() -> MemoryConstants:
    return MemoryConstants.from_entries(_entries("memory"))


@pytest.fixture(scope="module")
def shapes() -> dict[str, ModelShape]:
    return {entry["id"]: ModelShape.from_entry(entry) for entry in _entries("models")}


@pytest.fixture(scope="module")
def gpus() -> list[Gpu]:
    return [Gpu.from_entry(entry) for entry in _entries("gpus")]


def _gpu(gpus: list[Gpu], gpu_id: str) -> Gpu:
    return next(gpu for gpu in gpus if gpu.id == gpu_id)


def test_gpu_catalog(gpus: list[Gpu]) -> None:
    ids = [gpu.id for gpu in gpus]
    for expected in (
        "t4",
        "l4",
        "a10g",
        "rtx-4090",
        "a100-40gb",
        "a100-80gb",
        "h100-80gb",
        "h200",
        "b200",
        "mi300x",
    ):
        assert expected in ids
    t4 = _gpu(gpus, "t4")
    assert not t4.bf16 and t4.training_tflops == 65 and t4.vram_gib == pytest.approx(15)
    assert _gpu(gpus, "a100-80gb").compute_capability == "8.0"
    assert _gpu(gpus, "mi300x").compute_capability is None
    for entry in _entries("gpus"):
        if entry["vendor"] == "nvidia":
            assert isinstance(entry["compute_capability"], str)
            # BF16 needs compute capability 8.0+, FP8 8.9+ (NVIDIA Transformer Engine support matrix).
            assert entry["bf16"] == (float(entry["compute_capability"]) >= 8.0)
            assert entry["fp8"] == (float(entry["compute_capability"]) >= 8.9)


def test_gpu_from_entry_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        Gpu.from_entry(
            {"id": "x", "name": "X", "vram_gib": "lots", "bf16": True, "fp8": False, "tflops_bf16_dense": 1}
        )
    with pytest.raises(ValueError):
        Gpu.from_entry(
            {"id": "x", "name": "X", "vram_gib": 10, "bf16": "yes", "fp8": False, "tflops_bf16_dense": 1}
        )


def test_fit_every_gpu_in_order(
    shapes: dict[str, ModelShape], constants: MemoryConstants, gpus: list[Gpu]
) -> None:
    setup = TrainingSetup(method="qlora", gradient_checkpointing=True, seq_len=2048)
    fits = fit_gpus(shapes["llama-3.1-8b"], setup, constants, gpus)
    assert [fit.gpu_id for fit in fits] == [gpu.id for gpu in gpus]
    by_id = {fit.gpu_id: fit for fit in fits}
    assert by_id["t4"].fits and by_id["t4"].count == 1
    assert by_id["h100-80gb"].fits
    for fit in fits:
        assert isinstance(fit, GpuFit)
        assert fit.headroom_gib == pytest.approx(fit.vram_gib * 0.95 - fit.per_gpu_gib)
        expected = estimate_memory(shapes["llama-3.1-8b"], setup, constants).per_gpu_gib + constants.get(
            "cuda-context-gib"
        )
        assert fit.per_gpu_gib == pytest.approx(expected)


def test_fit_uses_smallest_sharded_count(
    shapes: dict[str, ModelShape], constants: MemoryConstants, gpus: list[Gpu]
) -> None:
    setup = TrainingSetup(
        method="full", precision="mixed", seq_len=2048, gradient_checkpointing=True, sharding="zero3"
    )
    fit = fit_gpus(shapes["llama-3.1-8b"], setup, constants, gpus, pinned_gpu="a100-80gb")[0]
    assert fit.fits and fit.count == 2
    too_big = fit_gpus(shapes["llama-3.1-405b"], setup, constants, gpus, pinned_gpu="a100-80gb")[0]
    assert not too_big.fits and too_big.count == 8
    assert "GiB" in too_big.reason and "needs" in too_big.reason


def test_ddp_does_not_add_gpus_and_pins(
    shapes: dict[str, ModelShape], constants: MemoryConstants, gpus: list[Gpu]
) -> None:
    setup = TrainingSetup(method="full", seq_len=2048)
    fit = fit_gpus(shapes["llama-3.1-8b"], setup, constants, gpus, pinned_gpu="h100-80gb")[0]
    assert not fit.fits and fit.count == 1 and "zero3" in fit.reason
    pinned = fit_gpus(
        shapes["llama-3.1-8b"],
        replace(setup, sharding="zero3"),
        constants,
        gpus,
        pinned_gpu="h100-80gb",
        pinned_count=4,
    )[0]
    assert pinned.count == 4 and pinned.fits
    with pytest.raises(ValueError):
        fit_gpus(shapes["llama-3.1-8b"], setup, constants, gpus, pinned_gpu="tpu-v5")
    with pytest.raises(ValueError):
        fit_gpus(shapes["llama-3.1-8b"], setup, constants, gpus, headroom_fraction=1.5)


def test_pure_bf16_needs_bf16_gpu(
    shapes: dict[str, ModelShape], constants: MemoryConstants, gpus: list[Gpu]
) -> None:
    fit = fit_gpus(
        shapes["llama-3.2-1b"],
        TrainingSetup(method="full", precision="bf16", seq_len=512),
        constants,
        gpus,
        pinned_gpu="t4",
    )[0]
    assert not fit.fits and "bf16" in fit.reason


def test_suggestions_are_checked_and_fit(
    shapes: dict[str, ModelShape], constants: MemoryConstants, gpus: list[Gpu]
) -> None:
    shape, gpu = shapes["llama-3.1-8b"], _gpu(gpus, "rtx-4090")
    setup = TrainingSetup(method="lora", seq_len=2048)
    assert not fit_gpus(shape, setup, constants, [gpu])[0].fits
    suggestions = suggestions_if_not_fitting(shape, setup, constants, gpu)
    assert any("gradient checkpointing" in s for s in suggestions)
    assert any("QLoRA" in s for s in suggestions)
    assert any("seq_len" in s for s in suggestions)
    assert all("GiB per GPU fits" in s for s in suggestions)
    fitting = TrainingSetup(method="qlora", seq_len=1024, gradient_checkpointing=True)
    assert suggestions_if_not_fitting(shape, fitting, constants, gpu) == []


def test_suggestions_offer_sharding_for_full(
    shapes: dict[str, ModelShape], constants: MemoryConstants, gpus: list[Gpu]
) -> None:
    suggestions = suggestions_if_not_fitting(
        shapes["llama-3.1-70b"],
        TrainingSetup(method="full", precision="bf16", gradient_checkpointing=True),
        constants,
        _gpu(gpus, "b200"),
    )
    assert any("ZeRO-3 on 4 x b200" in s for s in suggestions)


def test_training_hours(shapes: dict[str, ModelShape], constants: MemoryConstants, gpus: list[Gpu]) -> None:
    shape, h100 = shapes["llama-3.1-8b"], _gpu(gpus, "h100-80gb")
    setup = TrainingSetup(method="full", seq_len=2048)
    hours, why = training_hours(shape, setup, h100, 1, 1e8, 1, constants)
    expected = 1e8 * training_flops_per_token(shape, setup) / (989e12 * 0.35) / 3600
    assert hours == pytest.approx(expected)
    assert 3 < hours < 5 and "MFU 35%" in why and "h100-80gb" in why
    assert training_hours(shape, setup, h100, 4, 1e8, 1, constants)[0] == pytest.approx(hours / 4)
    lora = training_hours(shape, replace(setup, method="lora"), h100, 1, 1e8, 1, constants)[0]
    ckpt = training_hours(shape, replace(setup, gradient_checkpointing=True), h100, 1, 1e8, 1, constants)[0]
    assert lora < hours < ckpt
    t4_hours, t4_why = training_hours(
        shape, replace(setup, method="qlora"), _gpu(gpus, "t4"), 1, 1e8, 1, constants
    )
    assert t4_hours > hours and "fp16" in t4_why
    with pytest.raises(ValueError):
        training_hours(shape, setup, h100, 0, 1e8, 1, constants)
