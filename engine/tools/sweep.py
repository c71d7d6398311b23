"""Recommendations over a grid of constraints (a decision map), evaluated on all CPU cores.

A grid file names the facts to vary, each with a list of values, and optional fixed constraints::

    fixed: {train_hours: 3}
    vary:
      model: [llama-3.2-3b, llama-3.1-8b, llama-3.1-70b]
      budget_usd: [10, 100, 1000]

The Cartesian product runs in worker processes (spawned, so nothing is inherited); each worker builds
its own Engine in the pool initializer, so no engine state is shared. Rows come back in grid order.
Renderers (CSV, markdown, DOT heat map) are pure functions of the rows.
"""

from __future__ import annotations

import csv
import io
import itertools
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.decide.tally import format_value
from engine.errors import ConstraintError, RuleFileError, UserError
from engine.inputs.facts import coerce, constraint_specs
from engine.language.ir import RuleBase
from engine.language.yamlsource import read_yaml

CHOICE_COLUMNS = ("tool", "method", "gpu", "gpu_count", "platform", "workflow", "export", "serve", "merge")
ESTIMATE_COLUMNS = ("per_gpu_gib", "total_usd")
CHUNK = 64


@dataclass(frozen=True)
class Grid:
    """Facts to vary (in file order, each with its values) and constraints held fixed."""

    file: str
    vary: Mapping[str, tuple[Any, ...]]
    fixed: Mapping[str, Any]

    @property
    def size(self) -> int:
        """How many combinations the grid has."""
        total = 1
        for values in self.vary.values():
            total *= len(values)
        return total

    def combinations(self) -> Iterator[dict[str, Any]]:
        """Every combination, the first varied fact changing slowest."""
        names = list(self.vary)
        for values in itertools.product(*self.vary.values()):
            yield {**self.fixed, **dict(zip(names, values, strict=True))}


@dataclass
class SweepResult:
    """Rows in grid order, plus how long they took."""

    grid: Grid
    rows: list[dict[str, Any]]
    seconds: float
    processes: int

    @property
    def per_second(self) -> float:
        """Recommendations per second of wall time."""
        return len(self.rows) / self.seconds if self.seconds > 0 else float("inf")


def load_grid(path: str | Path, rulebase: RuleBase) -> Grid:
    """Read and check a grid file: every fact known, every value valid (all problems at once)."""
    doc, problems = read_yaml(Path(path))
    if doc is None:
        raise RuleFileError(problems)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("vary"), dict) or not data["vary"]:
        raise RuleFileError(
            [
                doc.problem(
                    (),
                    "a grid is a mapping with 'vary' (fact: [values, ...]) and "
                    "optionally 'fixed' (fact: value)",
                )
            ]
        )
    specs = constraint_specs(rulebase)
    problems = []
    for key in data:
        if key not in ("vary", "fixed", "description"):
            problems.append(doc.problem((key,), f"unknown key '{key}'; allowed: vary, fixed, description"))
    fixed_raw = data.get("fixed", {}) or {}
    if not isinstance(fixed_raw, dict):
        problems.append(doc.problem(("fixed",), "'fixed' must map fact names to values"))
        fixed_raw = {}

    def check(path: tuple[Any, ...], name: str, value: Any) -> Any:
        if name not in specs:
            from engine.language.suggest import did_you_mean

            problems.append(doc.problem(path, f"unknown constraint fact '{name}'{did_you_mean(name, specs)}"))
            return value
        try:
            return coerce(specs[name], value, rulebase)
        except ConstraintError as exc:
            problems.append(doc.problem(path, str(exc)))
            return value

    fixed = {name: check(("fixed", name), name, value) for name, value in fixed_raw.items()}
    vary: dict[str, tuple[Any, ...]] = {}
    for name, values in data["vary"].items():
        if not isinstance(values, list) or not values:
            problems.append(doc.problem(("vary", name), f"'{name}' needs a non-empty list of values"))
            continue
        vary[name] = tuple(check(("vary", name, i), name, v) for i, v in enumerate(values))
        if name in fixed:
            problems.append(doc.problem(("fixed", name), f"'{name}' is both varied and fixed"))
    if problems:
        raise RuleFileError(problems)
    return Grid(doc.file, vary, fixed)


def evaluate(engine: Any, constraints: Mapping[str, Any]) -> dict[str, Any]:
    """One row: the constraints' choices and estimates (or the constraint error)."""
    row: dict[str, Any] = {c: None for c in (*CHOICE_COLUMNS, *ESTIMATE_COLUMNS)}
    row["error"] = None
    try:
        rec = engine.recommend(constraints)
    except ConstraintError as exc:
        row["error"] = str(exc)
        return row
    for name in CHOICE_COLUMNS:
        row[name] = rec.choice(name) if name != "gpu_count" else rec.derived.get("chosen_gpu_count")
    memory = rec.estimates.get("memory")
    hardware = rec.estimates.get("hardware")
    if hardware is not None:
        row["per_gpu_gib"] = round(float(hardware.value.per_gpu_gib), 2)
    elif memory is not None:
        row["per_gpu_gib"] = round(float(memory.value.per_gpu_gib), 2)
    cost = rec.estimates.get("cost")
    if cost is not None and cost.value.get("total_usd") is not None:
        row["total_usd"] = cost.value["total_usd"]
    return row


class SweepError(UserError):
    """The sweep could not finish: a worker process died."""


# Worker-process state: the pool initializer builds one Engine per process; nothing crosses processes
# but constraints in and rows out.
_WORKER_ENGINE: Any = None


def _init_worker(rules_dir: str | None) -> None:
    global _WORKER_ENGINE  # noqa: PLW0603 - one engine per worker process, by design
    from engine.pipeline import Engine

    _WORKER_ENGINE = Engine.for_rules(rules_dir)


def _evaluate_chunk(chunk: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [evaluate(_WORKER_ENGINE, c) for c in chunk]


def _chunks(grid: Grid, size: int) -> Iterator[list[dict[str, Any]]]:
    it = grid.combinations()
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _in_workers(grid: Grid, chunk: int, processes: int, rules: str | None) -> Iterator[list[dict[str, Any]]]:
    """The rows of each chunk, in grid order, from spawned worker processes; a few chunks in flight per
    worker. A worker that dies (the OOM killer, a crash) ends the sweep with an error, never a hang
    (multiprocessing.Pool would wait for it forever); ^C stops the workers."""
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(rules,))
    pending: deque[tuple[int, Future[list[dict[str, Any]]]]] = deque()
    chunks = _chunks(grid, chunk)
    done = 0
    try:
        for part in itertools.islice(chunks, processes * 4):
            pending.append((len(part), executor.submit(_evaluate_chunk, part)))
        while pending:
            size, future = pending.popleft()
            try:
                rows = future.result()
            except BrokenProcessPool:
                raise SweepError(f"a sweep worker process died while evaluating combinations {done + 1}–"
                                 f"{done + size} of {grid.size} (out of memory, or killed); nothing was written. "
                                 "Try fewer processes (-j 1) or a smaller grid.") from None
            done += size
            yield rows
            for part in itertools.islice(chunks, 1):
                pending.append((len(part), executor.submit(_evaluate_chunk, part)))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            if process.is_alive():
                process.kill()


def run_sweep(
    grid: Grid,
    rules_dir: str | Path | None = None,
    *,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Evaluate every combination of the grid; ``processes`` defaults to the CPU count."""
    processes = max(1, min(processes or os.cpu_count() or 1, grid.size))
    # chunks amortise inter-process traffic, but small grids still spread over every worker
    chunk = max(1, min(CHUNK, grid.size // (processes * 4)))
    rules = str(rules_dir) if rules_dir is not None else None
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    total = grid.size
    if processes == 1:
        from engine.pipeline import Engine

        engine = Engine.for_rules(rules)
        for part in _chunks(grid, chunk):
            rows.extend(evaluate(engine, c) for c in part)
            if progress:
                progress(len(rows), total)
    else:
        for done in _in_workers(grid, chunk, processes, rules):
            rows.extend(done)
            if progress:
                progress(len(rows), total)
    seconds = time.perf_counter() - started
    names = list(grid.vary)
    combined = [
        {**{n: c[n] for n in names}, **{result_column(grid, k): v for k, v in row.items()}}
        for c, row in zip(grid.combinations(), rows, strict=True)
    ]
    return SweepResult(grid, combined, seconds, processes)


def result_column(grid: Grid, name: str) -> str:
    """A result column's name; ``chosen_`` is prefixed where a varied fact has the same name (gpu_count, "
    "tool)."""
    return f"chosen_{name}" if name in grid.vary else name


# -- renderers -------------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    return "" if value is None else format_value(value)


def columns(result: SweepResult) -> list[str]:
    """Column order: varied facts, choices, estimates, then error."""
    grid = result.grid
    return [*grid.vary, *(result_column(grid, c) for c in (*CHOICE_COLUMNS, *ESTIMATE_COLUMNS)), "error"]


def render_csv(result: SweepResult) -> str:
    """One row per combination."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    cols = columns(result)
    writer.writerow(cols)
    for row in result.rows:
        writer.writerow([_cell(row.get(c)) for c in cols])
    return out.getvalue()


def _map_label(row: Mapping[str, Any]) -> str:
    if row.get("error"):
        return "error"
    tool = row.get("chosen_tool", row.get("tool"))
    platform = row.get("chosen_platform", row.get("platform"))
    return f"{tool or '—'} / {platform or '—'}"


def render_markdown(result: SweepResult) -> str:
    """A table of every combination, and a 2-D map of tool / platform when exactly two facts vary."""
    cols = columns(result)
    if not any(row.get("error") for row in result.rows):
        cols.remove("error")
    lines = [f"# Decision map: {result.grid.file}", ""]
    if result.grid.fixed:
        fixed = ", ".join(f"{k}={format_value(v)}" for k, v in result.grid.fixed.items())
        lines += [f"Fixed: {fixed}", ""]
    names = list(result.grid.vary)
    if len(names) == 2:
        rows_fact, cols_fact = names
        lines += [
            f"## tool / platform by {rows_fact} × {cols_fact}",
            "",
            f"| {rows_fact} \\ {cols_fact} | "
            + " | ".join(_cell(v) for v in result.grid.vary[cols_fact])
            + " |",
            "|---" * (len(result.grid.vary[cols_fact]) + 1) + "|",
        ]
        by_key = {(r[rows_fact], r[cols_fact]): r for r in result.rows}
        for a in result.grid.vary[rows_fact]:
            cells = [_map_label(by_key[(a, b)]) for b in result.grid.vary[cols_fact]]
            lines.append(f"| {_cell(a)} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## All combinations", "", "| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in cols) + " |" for row in result.rows]
    return "\n".join(lines) + "\n"


_PALETTE = (
    "#8dd3c7",
    "#ffffb3",
    "#bebada",
    "#fb8072",
    "#80b1d3",
    "#fdb462",
    "#b3de69",
    "#fccde5",
    "#d9d9d9",
    "#bc80bd",
    "#ccebc5",
    "#ffed6f",
)


def render_dot(result: SweepResult, colour_by: str = "platform") -> str:
    """A heat map of the first two varied facts as a Graphviz HTML table, coloured by ``colour_by``."""
    names = list(result.grid.vary)
    if len(names) < 2:
        raise ValueError("a heat map needs two varied facts")
    rows_fact, cols_fact = names[:2]
    rest = names[2:]
    first_rest = {n: result.grid.vary[n][0] for n in rest}
    picked = [r for r in result.rows if all(r[n] == v for n, v in first_rest.items())]
    colour_key = result_column(result.grid, colour_by)
    choices = sorted({str(r.get(colour_key)) for r in picked})
    colour = {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(choices)}
    colour["None"] = "#ffffff"
    by_key = {(r[rows_fact], r[cols_fact]): r for r in picked}
    esc = _html
    cells = [
        f'<TR><TD BGCOLOR="#eeeeee"><B>{esc(rows_fact)} \\ {esc(cols_fact)}</B></TD>'
        + "".join(f'<TD BGCOLOR="#eeeeee"><B>{esc(_cell(v))}</B></TD>' for v in result.grid.vary[cols_fact])
        + "</TR>"
    ]
    for a in result.grid.vary[rows_fact]:
        tds = []
        for b in result.grid.vary[cols_fact]:
            row = by_key[(a, b)]

            def get(name: str, row: Mapping[str, Any] = row) -> Any:
                return row.get(result_column(result.grid, name))

            tds.append(
                f'<TD BGCOLOR="{colour[str(get(colour_by))]}">{esc(_map_label(row))}<BR/>'
                f'<FONT POINT-SIZE="9">{esc(_cell(get("method")))} · {esc(_cell(get("gpu_count")))}× '
                f"{esc(_cell(get('gpu')))} · ${esc(_cell(get('total_usd')))}</FONT></TD>"
            )
        cells.append(f'<TR><TD BGCOLOR="#eeeeee"><B>{esc(_cell(a))}</B></TD>{"".join(tds)}</TR>')
    title = f"{result.grid.file}: tool / platform (colour: {colour_by})"
    if first_rest:
        title += "; " + ", ".join(f"{k}={_cell(v)}" for k, v in first_rest.items())
    return (
        "digraph sweep {\n  graph [label=" + _quote(title) + ", labelloc=t, fontname=Helvetica];\n"
        "  node [shape=plaintext, fontname=Helvetica];\n"
        f'  map [label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="6">{"".join(cells)}'
        "</TABLE>>];\n}\n"
    )


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
