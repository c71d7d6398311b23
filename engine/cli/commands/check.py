"""`tuneplan check`: validate rules/, facts/ and profiles; every problem as file:line:col."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.language.ir import RuleBase

NAME = "check"
HELP = "validate rules/ and facts/ (all problems, each file:line:col)"
NEEDS_RULES = False


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """Paths and the rules directory used for profiles."""
    parser.add_argument("paths", nargs="*", help="rule directories, catalog or rule-set files, profiles "
                                                 "(default: ./rules and ./facts, else the shipped ones)")
    parser.add_argument("--rules", metavar="DIR",
                        help="rules directory used to check profiles (checked itself when no paths are given)")


def run(args: argparse.Namespace) -> int:
    """Print every problem; exit 1 when there is any."""
    from engine.language.loader import PROJECT_ROOT
    from engine.tools.check import check_paths

    # default: the rules/ and facts/ of this folder (a project of one's own), else the shipped ones
    here = [Path("rules"), Path("facts")]
    default = here if all(p.is_dir() for p in here) else [PROJECT_ROOT / "rules", PROJECT_ROOT / "facts"]
    if args.rules:   # `check --rules DIR` alone checks DIR, not the default rules beside it
        default = [Path(args.rules)]
    problems, summary = check_paths([Path(p) for p in args.paths] if args.paths else default, args.rules)
    for problem in problems:
        print(problem)
    print(summary, file=sys.stderr)
    return 1 if problems else 0
