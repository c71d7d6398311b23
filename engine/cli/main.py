"""The `tuneplan` command: a thin layer over the library. Sub-commands live in engine/cli/commands/,
each a function returning an exit code; `main` is the one error boundary (user error 1, usage 2,
bug 3, ^C 130). Logging and printing of errors happen here only."""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from engine.cli.commands import registry
from engine.errors import RuleFileError, TuneplanError, UsageError, UserError
from engine.language.ir import RuleBase
from engine.language.loader import load_rules
from engine.language.suggest import did_you_mean

ISSUES_URL = "the tuneplan issue tracker (include the command and its --debug output)"


class _Parser(argparse.ArgumentParser):
    """argparse without abbreviations (``--budget`` must not silently mean ``--budget-usd``) and with
    "did you mean" for an unknown flag, sub-command or choice."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse would exit(2); the boundary decides
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if bad:   # argparse of Python 3.11 lists the choices but suggests none
            choices = re.findall(r"'([^']*)'", bad.group(2))
            message = message[:bad.start()] + f"invalid choice: {bad.group(1)!r}{did_you_mean(bad.group(1), choices)}" \
                f"; choose from {', '.join(choices)}"
        raise UsageError(f"{self.prog}: {message}")

    def flags(self) -> list[str]:
        """Every long option string of this parser."""
        return [o for action in self._actions for o in action.option_strings if o.startswith("--")]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tuneplan")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _unknown_flags(parser: _Parser, extras: list[str]) -> UsageError:
    """A usage error naming each unknown argument, with the closest flag of that sub-command."""
    parts = []
    for extra in extras:
        if extra.startswith("-"):
            name = extra.split("=", 1)[0]
            hint = did_you_mean(name, parser.flags()) or did_you_mean(name.replace("_", "-"), parser.flags())
            parts.append(f"{name}{hint}")
        else:
            parts.append(repr(extra))
    return UsageError(f"{parser.prog}: unknown argument(s): {', '.join(parts)}; see {parser.prog} --help")


def _rules_dir(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--rules" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--rules="):
            return arg.split("=", 1)[1]
    return None


class _Version(argparse.Action):
    """--version, looked up only when asked for (importlib.metadata costs a cold start ~15 ms)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"tuneplan {_version()}")
        parser.exit()


def build_parser(rulebase: RuleBase | None = None, only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; `recommend` gets one flag per fact of the loaded schema. With ``only``, the other
    sub-commands are listed without their arguments (their modules' imports are not paid for)."""
    parser = _Parser(prog="tuneplan", description="Explainable recommendations for LLM fine-tuning setups.")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for module in registry():
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        if only is None or only == module.NAME:
            module.add_arguments(command, rulebase)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> _Parser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    chosen: _Parser = action.choices[name]
    return chosen


def run(argv: Sequence[str]) -> int:
    """Parse and dispatch; raises TuneplanError subclasses for the boundary to report."""
    argv = list(argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    modules = {m.NAME: m for m in registry()}
    if command and command not in modules and not {"-h", "--help", "--version"} & set(argv):
        raise UsageError(f"tuneplan: unknown command {command!r}{did_you_mean(command, modules)}; "
                         f"commands: {', '.join(modules)}")
    rulebase = None
    if command in modules and modules[command].NEEDS_RULES:
        # the fact flags come from the schema; --help must work even on a broken rule base
        wants_help = bool({"-h", "--help"} & set(argv))
        rulebase = _try_load(_rules_dir(argv)) if wants_help else load_rules(_rules_dir(argv))
    parser = build_parser(rulebase, only=command if command in modules else None)
    args, extras = parser.parse_known_args(argv)
    if extras:
        raise _unknown_flags(_subparser(parser, args.command), extras)
    args.build_parser = build_parser   # `completion` describes the whole command line (passed, not imported back)
    code: int = modules[args.command].run(args)
    return code


def _try_load(rules_dir: str | None) -> RuleBase | None:
    try:
        return load_rules(rules_dir)
    except TuneplanError:
        return None  # --help still works on a broken rule base


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
        if exc.truncated:
            print(f"tuneplan: {exc.more()}", file=sys.stderr)
        count = f"{len(exc.problems)}+" if exc.truncated else str(len(exc.problems))
        print(f"tuneplan: {count} problem(s) in the input files", file=sys.stderr)
        return exc.exit_code
    except UserError as exc:
        print(f"tuneplan: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tuneplan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        detail = str(exc) if len(str(exc)) <= 200 else f"{str(exc)[:200]}..."  # short: the traceback has it all
        detail = " ".join(detail.split())
        print(f"tuneplan: internal error ({type(exc).__name__}: {detail}); this is a bug — please report it to "
              f"{ISSUES_URL}. Run with --debug for the traceback.", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
