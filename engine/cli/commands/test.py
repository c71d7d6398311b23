"""`tuneplan test`: YAML scenario tests with rule coverage."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.language.ir import RuleBase
from engine.language.loader import load_rules

NAME = "test"
HELP = "run YAML scenario tests (default: the rules' tests/)"
NEEDS_RULES = False


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """Scenario paths, rules directory and coverage options."""
    parser.add_argument("paths", nargs="*", help="scenario files or folders")
    parser.add_argument("--rules", metavar="DIR", help="rules directory (default: the project's rules/)")
    parser.add_argument("--coverage", action="store_true", help="report rules fired per rule-set file")
    parser.add_argument("--min-coverage", type=float, metavar="PCT", help="fail below this coverage (percent)")


def run(args: argparse.Namespace) -> int:
    """Report failures and, with --coverage, rule coverage per file; exit 1 on a failure or low coverage."""
    from engine.tools.scenarios import coverage, run_all

    rulebase = load_rules(args.rules)
    results = run_all(rulebase, [Path(p) for p in args.paths] if args.paths else None)
    for result in results:
        for failure in result.failures:
            print(f"{result.location}: FAIL {result.name}: {failure}")
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    code = 1 if failed else 0
    if args.coverage or args.min_coverage is not None:
        cov = coverage(rulebase, results)
        print("\nRule coverage (rules fired by some scenario / rules defined):")
        for file, (fired, defined) in sorted(cov.per_file.items()):
            print(f"  {file:<40} {fired:>4}/{defined:<4} {100 * fired / defined if defined else 100:6.1f}%")
        total = 100 * cov.fired / cov.defined if cov.defined else 100.0
        print(f"  {'total':<40} {cov.fired:>4}/{cov.defined:<4} {total:6.1f}%")
        if cov.never_fired:
            print("Rules no scenario fires:")
            for where, rule_id in cov.never_fired:
                print(f"  {where}: {rule_id}")
        if args.min_coverage is not None and not cov.meets(args.min_coverage):
            print(f"coverage {cov.fired}/{cov.defined} is below --min-coverage {args.min_coverage:g}%")
            code = 1
    print(f"{passed} passed, {failed} failed")
    return code
