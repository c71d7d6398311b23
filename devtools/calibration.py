"""Calibration report of the memory model: error table, fit, cross-validation and peer comparison (markdown).

Run `python -m devtools.calibration` (prints what docs/memory-model.md embeds),
or with `--fit` (re-fits the fitted constants).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from engine.estimate.hardware import time_parts, training_flops_per_token
from engine.estimate.memory import MemoryConstants, ModelShape, TrainingSetup, estimate_memory

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_FILE = ROOT / "tests" / "data" / "vram_h200_calibration.jsonl"
CATALOG_DIR = ROOT / "rules" / "catalog"
H200_TFLOPS_BF16 = 989.0

# Fitted in two linear stages: activation bytes to peak_alloc, then allocator terms to peak_reserved.
ACTIVATION_IDS = ("activation-bytes-per-token-hidden-layer", "activation-bytes-per-token-intermediate-layer")
ALLOCATOR_IDS = (
    "allocator-activation-fraction",
    "allocator-gradient-fraction",
    "checkpoint-recompute-reserve-layers",
)
FITTED_IDS = ACTIVATION_IDS + ALLOCATOR_IDS

METHOD_SETUPS = {
    "full_amp": {"method": "full", "precision": "mixed"},
    "full_bf16": {"method": "full", "precision": "bf16"},
    "lora": {"method": "lora"},
    "qlora": {"method": "qlora", "quant_bits": 4},
}


@dataclass(frozen=True)
class Row:
    """One measured training step from the calibration file."""

    model: str
    method: str
    seq_len: int
    batch_size: int
    grad_ckpt: bool
    peak_alloc_gib: float
    peak_reserved_gib: float
    step_s: float

    @property
    def label(self) -> str:
        """Short human-readable description of the row."""
        ckpt = ", ckpt" if self.grad_ckpt else ""
        return f"{self.model} {self.method} seq {self.seq_len} bs {self.batch_size}{ckpt}"

    def setup(self) -> TrainingSetup:
        """The TrainingSetup the row was measured with."""
        return TrainingSetup(
            seq_len=self.seq_len,
            batch_size=self.batch_size,
            gradient_checkpointing=self.grad_ckpt,
            **METHOD_SETUPS[self.method],  # type: ignore[arg-type]
        )


def load_rows(path: Path = CALIBRATION_FILE) -> list[Row]:
    """Calibration rows in file order."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            raw = json.loads(line)
            rows.append(
                Row(
                    raw["model"],
                    raw["method"],
                    raw["seq"],
                    raw["batch"],
                    raw["grad_ckpt"],
                    raw["peak_alloc_gib"],
                    raw["peak_reserved_gib"],
                    raw["step_s"],
                )
            )
    return rows


def load_catalog(name: str) -> list[dict[str, Any]]:
    """Entries of rules/catalog/<name>.yaml."""
    with (CATALOG_DIR / f"{name}.yaml").open() as handle:
        entries: list[dict[str, Any]] = yaml.safe_load(handle)["entries"]
    return entries


def load_shapes() -> dict[str, ModelShape]:
    """Model shapes by id."""
    return {entry["id"]: ModelShape.from_entry(entry) for entry in load_catalog("models")}


def load_constants() -> MemoryConstants:
    """Memory constants from memory.yaml."""
    return MemoryConstants.from_entries(load_catalog("memory"))


def _with(constants: MemoryConstants, values: Mapping[str, float]) -> MemoryConstants:
    return MemoryConstants(values={**constants.values, **values})


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting for a small dense system."""
    size = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        if abs(a[col][col]) < 1e-18:
            raise ValueError("calibration fit is singular: the rows do not determine every constant")
        for r in range(size):
            if r != col:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col], strict=True)]
    return [a[i][size] / a[i][i] for i in range(size)]


def _least_squares(features: list[list[float]], targets: list[float], weights: list[float]) -> list[float]:
    """Weighted linear least squares via the normal equations."""
    k = len(features[0])
    normal = [
        [sum(w * f[i] * f[j] for f, w in zip(features, weights, strict=True)) for j in range(k)]
        for i in range(k)
    ]
    rhs = [sum(w * f[i] * t for f, t, w in zip(features, targets, weights, strict=True)) for i in range(k)]
    return _solve(normal, rhs)


def _linear_features(
    predict: Callable[[MemoryConstants], float], base: MemoryConstants, ids: Sequence[str]
) -> tuple[float, list[float]]:
    """Prediction with the ids zeroed, and its slope along each id (the model is linear in each of them)."""
    zero = _with(base, {key: 0.0 for key in ids})
    offset = predict(zero)
    return offset, [predict(_with(zero, {key: 1.0})) - offset for key in ids]


def _fit_stage(rows: Sequence[Row], shapes: Mapping[str, ModelShape], base: MemoryConstants,
               ids: Sequence[str], measured: Callable[[Row], float]) -> dict[str, float]:
    """Least-squares values of ``ids`` (the estimate is linear in them) against ``measured`` over ``rows``,
    weighted by relative error."""
    feats, targets, weights = [], [], []
    for row in rows:

        def predict(c: MemoryConstants, row: Row = row) -> float:
            return estimate_memory(shapes[row.model], row.setup(), c).peak_gib

        offset, slopes = _linear_features(predict, base, ids)
        feats.append(slopes)
        targets.append(measured(row) - offset)
        weights.append(1.0 / measured(row) ** 2)
    return dict(zip(ids, _least_squares(feats, targets, weights), strict=True))


def fit(
    rows: Sequence[Row], shapes: Mapping[str, ModelShape], constants: MemoryConstants
) -> dict[str, float]:
    """Fit the five fitted constants jointly over `rows` (relative least squares, two linear stages)."""
    no_allocator = _with(constants, {key: 0.0 for key in ALLOCATOR_IDS})
    # Stage 1: activation bytes from peak_alloc of rows that peak at the end of forward
    # (PEFT without checkpointing).
    stage1 = [r for r in rows if r.method in ("lora", "qlora") and not r.grad_ckpt]
    activation = _fit_stage(stage1, shapes, no_allocator, ACTIVATION_IDS, lambda r: r.peak_alloc_gib)
    # Stage 2: allocator terms from peak_reserved of every row.
    allocator = _fit_stage(rows, shapes, _with(constants, activation), ALLOCATOR_IDS, lambda r: r.peak_reserved_gib)
    return {**activation, **allocator}


def errors_pct(
    rows: Iterable[Row], shapes: Mapping[str, ModelShape], constants: MemoryConstants
) -> list[tuple[Row, float, float]]:
    """(row, estimate GiB, signed error %) against peak_reserved_gib."""
    result = []
    for row in rows:
        estimate = estimate_memory(shapes[row.model], row.setup(), constants).peak_gib
        result.append((row, estimate, 100.0 * (estimate - row.peak_reserved_gib) / row.peak_reserved_gib))
    return result


def cross_validation(
    rows: Sequence[Row], shapes: Mapping[str, ModelShape], constants: MemoryConstants
) -> list[tuple[str, list[float]]]:
    """Held-out errors (%): leave one row out, and leave one model out."""
    folds: list[tuple[str, list[int]]] = [("leave-one-row-out (18 folds)", [i]) for i in range(len(rows))]
    for model in dict.fromkeys(row.model for row in rows):
        folds.append((f"hold out {model}", [i for i, row in enumerate(rows) if row.model == model]))
    held: dict[str, list[float]] = {}
    for name, held_out in folds:
        train = [row for i, row in enumerate(rows) if i not in held_out]
        refit = _with(constants, fit(train, shapes, constants))
        errs = [err for _, _, err in errors_pct([rows[i] for i in held_out], shapes, refit)]
        held.setdefault(name, []).extend(errs)
    return list(held.items())


def mfu_pct(row: Row, shape: ModelShape) -> float:
    """Model FLOPs utilization of a calibration step on the H200 (989 dense bf16 TFLOPS)."""
    tokens = row.seq_len * row.batch_size
    return (
        100.0 * training_flops_per_token(shape, row.setup()) * tokens / row.step_s / (H200_TFLOPS_BF16 * 1e12)
    )


def predicted_step_s(row: Row, shape: ModelShape, constants: MemoryConstants) -> float:
    """The time model's step time for a calibration row on the H200 (engine.estimate.hardware.time_parts)."""
    setup = row.setup()
    compute, floor = time_parts(shape, setup, constants)
    return max(compute / H200_TFLOPS_BF16, floor) * row.seq_len * row.batch_size


# Peer figures as published (units as the peer writes them):
# reference/domain-facts.md §1, §2.1, §5 and the seed.
PEERS: dict[tuple[str, str], dict[str, str]] = {
    ("7B/8B", "full_amp"): {
        "LLaMA-Factory": "120GB (7B)",
        "Axolotl": "-",
        "torchtune": "-",
        "Unsloth": "-",
        "seed sketch": "~112GB (7B)",
    },
    ("7B/8B", "full_bf16"): {
        "LLaMA-Factory": "60GB (7B)",
        "Axolotl": "60-80 GB",
        "torchtune": "37.4 GiB (A6000, bs 2)",
        "Unsloth": "-",
        "seed sketch": "-",
    },
    ("7B/8B", "lora"): {
        "LLaMA-Factory": "16GB (7B)",
        "Axolotl": "16-24 GB",
        "torchtune": "30.3 GiB (A6000, bs 2)",
        "Unsloth": "22 GB (8B)",
        "seed sketch": "~28GB (7B)",
    },
    ("7B/8B", "qlora"): {
        "LLaMA-Factory": "6GB (7B)",
        "Axolotl": "10-14 GB",
        "torchtune": "7.4 GiB (4090, bs 2)",
        "Unsloth": "6 GB (8B)",
        "seed sketch": "~10GB (7B)",
    },
    ("13B/14B", "full_amp"): {
        "LLaMA-Factory": "240GB (14B)",
        "Axolotl": "-",
        "torchtune": "-",
        "Unsloth": "-",
        "seed sketch": "-",
    },
    ("13B/14B", "full_bf16"): {
        "LLaMA-Factory": "120GB (14B)",
        "Axolotl": "120+ GB",
        "torchtune": "-",
        "Unsloth": "-",
        "seed sketch": "-",
    },
    ("13B/14B", "lora"): {
        "LLaMA-Factory": "32GB (14B)",
        "Axolotl": "28-40 GB",
        "torchtune": "-",
        "Unsloth": "33 GB (14B)",
        "seed sketch": "-",
    },
    ("13B/14B", "qlora"): {
        "LLaMA-Factory": "12GB (14B)",
        "Axolotl": "16-20 GB",
        "torchtune": "-",
        "Unsloth": "8.5 GB (14B)",
        "seed sketch": "-",
    },
    ("70B", "full_amp"): {
        "LLaMA-Factory": "1200GB",
        "Axolotl": "-",
        "torchtune": "-",
        "Unsloth": "-",
        "seed sketch": "~1.1TB",
    },
    ("70B", "full_bf16"): {
        "LLaMA-Factory": "600GB",
        "Axolotl": "4-8x 80 GB",
        "torchtune": "-",
        "Unsloth": "-",
        "seed sketch": "-",
    },
    ("70B", "lora"): {
        "LLaMA-Factory": "160GB",
        "Axolotl": "2x 80 GB",
        "torchtune": "27.6 GiB/GPU x 8 (bs 2)",
        "Unsloth": "164 GB",
        "seed sketch": "-",
    },
    ("70B", "qlora"): {
        "LLaMA-Factory": "48GB",
        "Axolotl": "40-48 GB",
        "torchtune": "-",
        "Unsloth": "41 GB",
        "seed sketch": "~48GB",
    },
}
PEER_MODELS = {"7B/8B": "llama-3.1-8b", "13B/14B": "qwen2.5-14b", "70B": "llama-3.1-70b"}
PEER_COLUMNS = ("LLaMA-Factory", "Unsloth", "Axolotl", "torchtune", "seed sketch")
PEER_SEQ_LEN = 2048


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def report() -> str:
    """The markdown embedded in docs/memory-model.md."""
    rows, shapes, constants = load_rows(), load_shapes(), load_constants()
    out: list[str] = ["### Constants (rules/catalog/memory.yaml)", ""]
    out += _table(
        ("id", "value", "unit", "fitted"),
        (
            (e["id"], f"{e['value']:g}", e["unit"], "yes" if e.get("fitted") else "")
            for e in load_catalog("memory")
        ),
    )
    out += ["", "### Calibration error (estimate `peak_gib` vs measured `peak_reserved_gib`, H200)", ""]
    table = errors_pct(rows, shapes, constants)
    out += _table(
        ("#", "row", "estimate GiB", "measured GiB", "error %"),
        (
            (str(i + 1), row.label, f"{est:.2f}", f"{row.peak_reserved_gib:.2f}", f"{err:+.1f}")
            for i, (row, est, err) in enumerate(table)
        ),
    )
    abs_errs = [abs(err) for _, _, err in table]
    out += [
        "",
        f"Mean absolute percentage error: **{statistics.mean(abs_errs):.2f}%**; "
        f"max: **{max(abs_errs):.2f}%** ({len(rows)} rows).",
        "",
    ]

    out += ["### Fitted constants (re-fit from the file vs memory.yaml)", ""]
    refit = fit(rows, shapes, constants)
    out += _table(
        ("id", "memory.yaml", "re-fit"),
        ((key, f"{constants.get(key):g}", f"{refit[key]:.4g}") for key in FITTED_IDS),
    )

    out += ["", "### Cross-validation (constants re-fit without the held-out rows)", ""]
    cv_rows = []
    for name, errs in cross_validation(rows, shapes, constants):
        cv_rows.append(
            (
                name,
                str(len(errs)),
                f"{statistics.mean(abs(e) for e in errs):.2f}",
                f"{max(abs(e) for e in errs):.2f}",
            )
        )
    out += _table(("held out", "rows", "mean abs error %", "max abs error %"), cv_rows)

    out += [
        "",
        "### Step-time MFU (H200, 989 dense bf16 TFLOPS; FLOPs per engine.estimate.hardware.training_flops_per_token)",
        "",
    ]
    predicted = [(row, predicted_step_s(row, shapes[row.model], constants)) for row in rows]
    out += _table(
        ("row", "step s", "MFU %", "predicted step s", "error %"),
        ((row.label, f"{row.step_s:.3f}", f"{mfu_pct(row, shapes[row.model]):.1f}", f"{pred:.3f}",
          f"{100.0 * (pred - row.step_s) / row.step_s:+.0f}") for row, pred in predicted),
    )
    errors = [abs(pred - row.step_s) / row.step_s * 100.0 for row, pred in predicted]
    out += ["", f"Predicted step time = max(step floor, FLOPs / (989 TFLOPS x mfu-default)), QLoRA x "
                f"qlora-time-factor: mean abs error {statistics.mean(errors):.0f}%, max {max(errors):.0f}% "
                f"over {len(errors)} rows."]

    out += [
        "",
        f"### Peer comparison (tuneplan at seq {PEER_SEQ_LEN}, batch 1: without / with gradient "
        "checkpointing, one GPU, GiB, CUDA context excluded; peers as published)",
        "",
    ]
    peer_rows = []
    for (size, method), peers in PEERS.items():
        shape = shapes[PEER_MODELS[size]]
        setup = TrainingSetup(seq_len=PEER_SEQ_LEN, **METHOD_SETUPS[method])  # type: ignore[arg-type]
        plain = estimate_memory(shape, setup, constants).peak_gib
        ckpt = estimate_memory(shape, replace(setup, gradient_checkpointing=True), constants).peak_gib
        peer_rows.append(
            (size, method, shape.id, f"{plain:.1f} / {ckpt:.1f}", *(peers[col] for col in PEER_COLUMNS))
        )
    out += _table(("size", "method", "tuneplan model", "tuneplan GiB", *PEER_COLUMNS), peer_rows)
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the calibration report (or, with --fit, the re-fitted constants) as markdown."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--fit" in args:
        refit = fit(load_rows(), load_shapes(), load_constants())
        sys.stdout.write("".join(f"{key}: {value:.4g}\n" for key, value in refit.items()))
        return 0
    sys.stdout.write(report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
