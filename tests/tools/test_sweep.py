"""tuneplan sweep: grid files, CSV rows in grid order on two processes, markdown map, heat map."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import RuleFileError, load_rules
from engine.tools.sweep import load_grid, render_dot, render_markdown, run_sweep

ROOT = Path(__file__).resolve().parents[2]
GRID = """fixed: {train_hours: 2}
vary:
  model: [llama-3.2-1b, llama-3.1-8b, llama-3.1-70b]
  budget_usd: [5, 1000]
  gpu_count: [1, 2]
"""


@pytest.fixture
def grid_file(tmp_path: Path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(GRID, encoding="utf-8")
    return path


def test_csv_has_one_row_per_combination_on_two_processes(
    grid_file: Path, tmp_path: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    out = tmp_path / "map.csv"
    code, _, err = cli("sweep", str(grid_file), "--out", str(out), "--processes", "2")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 3 * 2 * 2
    assert list(rows[0])[:4] == ["model", "budget_usd", "gpu_count", "tool"]
    assert "chosen_gpu_count" in rows[0] and "per_gpu_gib" in rows[0] and "total_usd" in rows[0]
    assert [(r["model"], r["budget_usd"], r["gpu_count"]) for r in rows[:3]] == [
        ("llama-3.2-1b", "5", "1"),
        ("llama-3.2-1b", "5", "2"),
        ("llama-3.2-1b", "1000", "1"),
    ]
    assert "sweep: 12 recommendations in " in err and "on 2 process(es)" in err and "recommendations/s" in err


def test_processes_agree_with_one_process(grid_file: Path) -> None:
    grid = load_grid(grid_file, load_rules())
    assert run_sweep(grid, processes=2).rows == run_sweep(grid, processes=1).rows


def test_markdown_map_of_two_facts(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "vary:\n  model: [llama-3.2-1b, llama-3.1-8b]\n  priority: [speed, reproducibility]\n",
        encoding="utf-8",
    )
    result = run_sweep(load_grid(path, load_rules()), processes=1)
    text = render_markdown(result)
    assert "## tool / platform by model × priority" in text
    assert "| model \\ priority | speed | reproducibility |" in text
    # each cell is the tool / platform of that combination's plan
    cells = {(r["model"], r["priority"]): f"{r['tool']} / {r['platform']}" for r in result.rows}
    for model in ("llama-3.2-1b", "llama-3.1-8b"):
        assert f"| {model} | {cells[model, 'speed']} | {cells[model, 'reproducibility']} |" in text
        # reproducibility: tool-reproducibility scores the YAML tool (axolotl) +3, and score ranks plans first
        assert cells[model, "reproducibility"].startswith("axolotl / ")
    assert 'BGCOLOR="' in render_dot(result)


def test_grid_problems_are_reported_with_locations(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("vary:\n  modle: [llama-3.1-8b]\n  budget_usd: [cheap]\n", encoding="utf-8")
    with pytest.raises(RuleFileError) as info:
        load_grid(path, load_rules())
    assert [p.message for p in info.value.problems] == [
        "unknown constraint fact 'modle' (did you mean 'model'?)",
        "constraint 'budget_usd': expected a number (USD), got 'cheap'",
    ]
    assert [(p.line, p.col) for p in info.value.problems] == [(2, 11), (3, 16)]


def test_example_grid_loads() -> None:
    grid = load_grid(ROOT / "grids" / "example.yaml", load_rules())
    assert grid.size == 72


def test_unknown_output_suffix_is_a_usage_error(
    grid_file: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, _, err = cli("sweep", str(grid_file), "--out", "map.xlsx")
    assert code == 2
    assert "--out must end in .csv, .md, .dot, .png, .svg" in err


def test_a_worker_that_dies_ends_the_sweep_with_an_error_not_a_hang(grid_file: Path) -> None:
    """Issue 17, medium: `sweep -j 2` hung forever when a worker process died (multiprocessing.Pool)."""
    import multiprocessing
    import os
    import signal
    import time

    from engine.tools.sweep import SweepError

    grid = load_grid(grid_file, load_rules())

    def kill_a_worker(done: int, total: int) -> None:
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)

    started = time.monotonic()
    with pytest.raises(SweepError) as info:
        run_sweep(grid, processes=2, progress=kill_a_worker)
    assert "a sweep worker process died" in str(info.value) and "-j 1" in str(info.value)
    assert time.monotonic() - started < 120
