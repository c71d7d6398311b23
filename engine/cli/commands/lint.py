"""`tuneplan lint`: verify rule bases (conflicts, overlaps, gaps, unreachable or shadowed rules)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from dataclasses import asdict

from engine.errors import UsageError
from engine.language.ir import RuleBase

NAME = "lint"
HELP = "verify the rule base: conflicts, overlaps, gaps, unreachable or shadowed rules"
NEEDS_RULES = False


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """Rules directories and the checks' options."""
    parser.add_argument("paths", nargs="*", help="rules directories (default: the project's rules/)")
    parser.add_argument(
        "--today", metavar="YYYY-MM-DD", help="date prices are aged against (default: the engine's)"
    )
    parser.add_argument(
        "--no-gaps", action="store_true", help="skip the gap check (it runs the engine on a sample)"
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1500,
        metavar="N",
        help="random combinations the gap check adds to its fixed core (default 1500)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID",
        help="skip findings of this lint id (repeatable), e.g. --ignore overlap; the ids are listed in "
        "docs/expert-tools.md",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    """Print every finding; exit 1 when any is an error."""
    from engine.language.loader import load_rules
    from engine.tools.lint import has_errors, lint_rulebase

    ignored = _ignored(args.ignore)
    today = None
    if args.today:
        try:
            today = dt.date.fromisoformat(args.today)
        except ValueError:
            raise UsageError(f"--today expects YYYY-MM-DD, got {args.today!r}") from None
    findings = []
    for path in args.paths or [None]:
        rulebase = load_rules(path)
        findings.extend(lint_rulebase(rulebase, today=today, gaps=not args.no_gaps, gap_samples=args.samples))
    findings = [f for f in findings if f.lint_id not in ignored]
    if args.format == "json":
        print(json.dumps([asdict(f) for f in findings], indent=2, ensure_ascii=False))
    else:
        for finding in findings:
            print(finding)
    counts = Counter(f.level for f in findings)
    by_id = Counter(f.lint_id for f in findings)
    detail = f" ({', '.join(f'{k} {v}' for k, v in sorted(by_id.items()))})" if by_id else ""
    print(f"lint: {counts['error']} error(s), {counts['warning']} warning(s){detail}", file=sys.stderr)
    return 1 if has_errors(findings) else 0


def _ignored(ids: list[str]) -> frozenset[str]:
    """The --ignore ids, each a registered lint id; an unknown one is a usage error with the closest id."""
    from engine.language.suggest import did_you_mean
    from engine.tools.lint import REGISTRY

    for lint_id in ids:
        if lint_id not in REGISTRY:
            raise UsageError(f"--ignore: unknown lint id {lint_id!r}{did_you_mean(lint_id, REGISTRY)}; "
                             f"the ids are: {', '.join(sorted(REGISTRY))}")
    return frozenset(ids)
