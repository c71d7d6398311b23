"""`tuneplan diff`: which recommendations a rule change alters, and the rules responsible."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.ir import RuleBase

NAME = "diff"
HELP = "which recommendations a rule change alters, and why"
NEEDS_RULES = False


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """The two rules directories, scenarios and output options."""
    parser.add_argument("old_rules", metavar="OLD_RULES", help="rules directory before the change")
    parser.add_argument("new_rules", metavar="NEW_RULES", help="rules directory after the change")
    parser.add_argument(
        "--scenarios",
        action="append",
        metavar="FILE",
        help="scenario files or folders to replay (default: both rule bases' tests/)",
    )
    parser.add_argument(
        "--no-grid", action="store_true", help="replay only the scenarios, not the built-in grid"
    )
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when some recommendation changed")


def run(args: argparse.Namespace) -> int:
    """Print the changes and a summary count."""
    from engine.diff import diff_rules, render_json, render_markdown, render_text, summary_line

    scenarios = [Path(p) for p in args.scenarios] if args.scenarios else None
    report = diff_rules(args.old_rules, args.new_rules, scenarios, grid=not args.no_grid)
    if args.format == "json":
        sys.stdout.write(json.dumps(render_json(report), indent=2, ensure_ascii=False) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(report))
    else:
        sys.stdout.write(render_text(report))
    if args.format != "text":
        print(summary_line(report), file=sys.stderr)
    return 1 if args.exit_code and not report.unchanged else 0
