"""`tuneplan diff`: which recommendations a rule change alters, and the rules responsible."""

from __future__ import annotations

import argparse
import sys

from engine.errors import RuleFileError, UsageError
from engine.language.ir import RuleBase
from engine.tools.isolate import DEFAULT_MEMORY_MIB

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
    parser.add_argument("--timeout", type=float, default=600, metavar="S",
                        help="stop after S seconds (default 600; the comparison runs in a worker process)")
    parser.add_argument("--memory-mib", type=int, default=DEFAULT_MEMORY_MIB, metavar="MIB",
                        help=f"memory limit of the worker in MiB (default {DEFAULT_MEMORY_MIB})")


def run(args: argparse.Namespace) -> int:
    """Print the changes and a summary count. The two rule bases are compiled and run in a worker
    process: a rule base that crashes or freezes durable-rules is an error message, and ^C works."""
    from engine.tools.diff import diff_outputs
    from engine.tools.isolate import Limits, run_isolated

    if args.timeout <= 0 or args.memory_mib < 256:
        raise UsageError("--timeout must be positive and --memory-mib at least 256")
    scenarios = [str(p) for p in args.scenarios] if args.scenarios else None
    problems, text, summary, unchanged = run_isolated(
        diff_outputs, str(args.old_rules), str(args.new_rules), scenarios, not args.no_grid, args.format,
        limits=Limits(seconds=args.timeout, memory_mib=args.memory_mib),
        what=f"the rules in {args.old_rules} and {args.new_rules}")
    if problems:
        raise RuleFileError(problems)
    sys.stdout.write(text)
    if args.format != "text":
        print(summary, file=sys.stderr)
    return 1 if args.exit_code and not unchanged else 0
