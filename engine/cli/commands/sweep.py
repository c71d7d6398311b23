"""`tuneplan sweep`: recommendations over a grid of constraints, written as CSV, markdown or a heat map."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.errors import UsageError
from engine.language.ir import RuleBase

NAME = "sweep"
HELP = "recommendations over a grid of constraints (a decision map)"
NEEDS_RULES = False
FORMATS = ("csv", "md", "dot", "png", "svg")


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """Grid file, output file and parallelism."""
    parser.add_argument(
        "grid", metavar="GRID.yaml", help="facts to vary (vary: {fact: [values]}) and fixed ones"
    )
    parser.add_argument(
        "--out", metavar="FILE", help="map.csv, map.md, map.dot, map.png or map.svg (default: CSV on stdout)"
    )
    parser.add_argument("--rules", metavar="DIR", help="rules directory (default: the project's rules/)")
    parser.add_argument(
        "--processes", "-j", type=int, metavar="N", help="worker processes (default: all cores)"
    )
    parser.add_argument(
        "--colour-by",
        choices=("platform", "tool", "method", "gpu"),
        default="platform",
        help="what colours the heat map cells (.png, .svg, .dot)",
    )


class _Progress:
    """A stderr line updated in place, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.live = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.live:
            width = 30
            filled = width * done // total if total else width
            sys.stderr.write(f"\rsweep [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.live:
            sys.stderr.write("\n")


def run(args: argparse.Namespace) -> int:
    """Evaluate the grid, write the map, report throughput on stderr."""
    from engine.language.loader import load_rules
    from engine.render.dot import dot_to
    from engine.tools.fileio import write_atomic
    from engine.tools.sweep import load_grid, render_csv, render_dot, render_markdown, run_sweep

    out = Path(args.out) if args.out else None
    fmt = out.suffix.lstrip(".").lower() if out else "csv"
    if fmt not in FORMATS:
        raise UsageError(f"--out must end in {', '.join('.' + f for f in FORMATS)}, got {args.out!r}")
    if args.processes is not None and args.processes < 1:
        raise UsageError("--processes must be at least 1")
    grid = load_grid(args.grid, load_rules(args.rules))
    if fmt in ("dot", "png", "svg") and len(grid.vary) < 2:
        raise UsageError(f"a .{fmt} heat map needs two varied facts; {args.grid} varies {len(grid.vary)}")
    progress = _Progress()
    try:
        result = run_sweep(grid, args.rules, processes=args.processes, progress=progress)
    finally:
        progress.close()
    if fmt == "csv":
        text: str | bytes = render_csv(result)
    elif fmt == "md":
        text = render_markdown(result)
    else:
        dot_text = render_dot(result, args.colour_by)
        text = dot_text if fmt == "dot" else dot_to(dot_text, fmt)
    if out is None:
        sys.stdout.write(str(text))
    else:
        write_atomic(out, text, inputs=[args.grid])
    errors = sum(1 for r in result.rows if r.get("error"))
    print(
        f"sweep: {len(result.rows)} recommendations in {result.seconds:.2f} s on {result.processes} "
        f"process(es): {result.per_second:.0f} recommendations/s"
        f"{f'; {errors} with constraint errors' if errors else ''}",
        file=sys.stderr,
    )
    return 0
