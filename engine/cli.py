"""The `tuneplan` command: a thin layer over the library. Each sub-command is a function returning
an exit code; `main` is the one error boundary (user error 1, usage 2, bug 3, ^C 130)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import RuleFileError, TuneplanError, UsageError, UserError
from engine.facts import constraint_specs
from engine.ir import RuleBase
from engine.loader import load_rules
from engine.yamlsource import read_yaml

ISSUES_URL = "the tuneplan issue tracker (include the command and --debug output)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit; the boundary decides
        raise UsageError(f"{self.prog}: {message}")


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file whole or not at all (temp file in the same folder, then rename)."""
    raw = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- recommend ---------------------------------------------------------------------------------
def _add_fact_flags(parser: argparse.ArgumentParser, rulebase: RuleBase) -> None:
    group = parser.add_argument_group("constraint facts (facts/schema.yaml)")
    for name, spec in sorted(constraint_specs(rulebase).items()):
        flag = "--" + name.replace("_", "-")
        allowed = f" [{', '.join(spec.values)}]" if spec.values else ""
        unit = f" ({spec.unit})" if spec.unit else ""
        default = f" default: {spec.default}" if spec.default is not None else ""
        if spec.type == "bool":
            group.add_argument(flag, dest=f"fact_{name}", nargs="?", const="true", metavar="true|false",
                               help=f"{spec.description}{default}")
        else:
            group.add_argument(flag, dest=f"fact_{name}", metavar=spec.type.upper(),
                               help=f"{spec.description}{unit}{allowed}{default}")


def _profile_facts(path: str) -> dict[str, Any]:
    doc, problems = read_yaml(Path(path))
    if doc is None:
        raise RuleFileError(problems)
    data = doc.data
    if isinstance(data, dict) and "constraints" in data:
        data = data["constraints"]
    if not isinstance(data, dict):
        raise RuleFileError([doc.problem((), "a profile is a mapping of fact names to values "
                                             "(optionally under 'constraints:')")])
    return dict(data)


def cmd_recommend(args: argparse.Namespace, rulebase: RuleBase) -> int:
    """Recommend a setup for the given constraints and print or write it."""
    from engine.pipeline import Engine
    from engine.render.dot import dot_to

    facts: dict[str, Any] = _profile_facts(args.profile) if args.profile else {}
    for item in args.set or []:
        if "=" not in item:
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        facts[name.strip()] = value.strip()
    for key, value in vars(args).items():
        if key.startswith("fact_") and value is not None:
            facts[key[5:]] = value
    rec = Engine.for_rules(args.rules).recommend(facts)
    graph_link = None
    if args.graph:
        graph_path = Path(args.graph)
        fmt = graph_path.suffix.lstrip(".").lower()
        if fmt not in ("dot", "svg", "png"):
            raise UsageError(f"--graph must end in .dot, .svg or .png, got {args.graph!r}")
        dot_text = rec.to_dot()
        write_atomic(graph_path, dot_text if fmt == "dot" else dot_to(dot_text, fmt))
        graph_link = os.path.relpath(graph_path, Path(args.output).parent) if args.output else str(graph_path)
    if args.format == "json":
        text = json.dumps(rec.to_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    elif args.format == "markdown":
        text = rec.to_markdown(graph_link=graph_link)
    else:
        text = rec.to_text()
    if args.output:
        write_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)
    blocked = [n for n in ("tool", "method", "platform") if rec.choice(n) is None]
    if blocked:
        print(f"tuneplan: no {', '.join(blocked)} satisfies the constraints; see the warnings and the "
              f"rejected options", file=sys.stderr)
        return 1
    return 0


# -- check -------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    """Validate rule directories, catalogs, the fact schema and profiles; print every problem."""
    from engine.checks import check_paths

    problems, summary = check_paths([Path(p) for p in (args.paths or ["rules", "facts"])], args.rules)
    for problem in problems:
        print(problem)
    print(summary, file=sys.stderr)
    return 1 if problems else 0


# -- test --------------------------------------------------------------------------------------
def cmd_test(args: argparse.Namespace) -> int:
    """Run YAML scenario tests; report failures and, with --coverage, rule coverage per file."""
    from engine.scenarios import coverage, run_all

    rulebase = load_rules(args.rules)
    results = run_all(rulebase, [Path(p) for p in args.paths] if args.paths else None)
    for result in results:
        if result.failures:
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


# -- parser and boundary -----------------------------------------------------------------------
def _rules_dir(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--rules" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--rules="):
            return arg.split("=", 1)[1]
    return None


def build_parser(rulebase: RuleBase | None) -> argparse.ArgumentParser:
    """The argument parser; fact flags come from the loaded fact schema."""
    parser = _Parser(prog="tuneplan", description="Explainable recommendations for LLM fine-tuning setups.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    rec = sub.add_parser("recommend", help="recommend a fine-tuning setup for some constraints")
    rec.add_argument("profile", nargs="?", help="a constraint profile (YAML), e.g. facts/profiles/beginner.yaml")
    rec.add_argument("--set", action="append", metavar="NAME=VALUE", help="a constraint fact (repeatable)")
    rec.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    rec.add_argument("--graph", metavar="FILE", help="write the decision graph (.dot, .svg or .png)")
    rec.add_argument("--output", "-o", metavar="FILE", help="write the explanation to FILE instead of stdout")
    rec.add_argument("--rules", metavar="DIR", help="rules directory (default: the project's rules/)")
    if rulebase is not None:
        _add_fact_flags(rec, rulebase)
    chk = sub.add_parser("check", help="validate rules/ and facts/ (all problems, each file:line:col)")
    chk.add_argument("paths", nargs="*", help="rule directories, catalog or rule-set files, profiles")
    chk.add_argument("--rules", metavar="DIR", help="rules directory used to check profiles")
    tst = sub.add_parser("test", help="run YAML scenario tests (default: the rules' tests/)")
    tst.add_argument("paths", nargs="*", help="scenario files or folders")
    tst.add_argument("--rules", metavar="DIR", help="rules directory (default: the project's rules/)")
    tst.add_argument("--coverage", action="store_true", help="report rules fired per rule-set file")
    tst.add_argument("--min-coverage", type=float, metavar="PCT", help="fail below this coverage (percent)")
    return parser


def run(argv: Sequence[str]) -> int:
    """Parse and dispatch; raises TuneplanError subclasses for the boundary to report."""
    argv = list(argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    rulebase = load_rules(_rules_dir(argv)) if command == "recommend" else None
    args = build_parser(rulebase).parse_args(argv)
    if args.command == "recommend":
        assert rulebase is not None
        return cmd_recommend(args, rulebase)
    if args.command == "check":
        return cmd_check(args)
    if args.command == "test":
        return cmd_test(args)
    raise UsageError(f"unknown command {args.command!r}")  # pragma: no cover - argparse rejects it


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tuneplan` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    try:
        return run(argv)
    except UsageError as exc:
        print(f"tuneplan: usage error: {exc}", file=sys.stderr)
        return exc.exit_code
    except RuleFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"tuneplan: {len(exc.problems)} problem(s) in the rule files", file=sys.stderr)
        return exc.exit_code
    except UserError as exc:
        print(f"tuneplan: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tuneplan: interrupted", file=sys.stderr)
        return 130
    except (TuneplanError, Exception) as exc:
        if debug:
            traceback.print_exc()
        print(f"tuneplan: internal error ({type(exc).__name__}: {exc}); this is a bug — please report it to "
              f"{ISSUES_URL}. Run with --debug for the traceback.", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
