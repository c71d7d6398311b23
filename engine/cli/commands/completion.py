"""`tuneplan completion SHELL`: a shell completion script for every sub-command and flag (shtab)."""

from __future__ import annotations

import argparse
import sys

from engine.language.ir import RuleBase

NAME = "completion"
HELP = "print a shell completion script (bash, zsh or tcsh), e.g. tuneplan completion bash > ~/.tuneplan.bash"
NEEDS_RULES = True   # recommend's flags come from the fact schema: the script completes them too
SHELLS = ("bash", "zsh", "tcsh")


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """The shell."""
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.add_argument("--rules", metavar="DIR", help="rules directory whose facts become recommend's flags")


def run(args: argparse.Namespace) -> int:
    """Print the script for the whole command line (``args.build_parser``: the CLI's parser builder)."""
    import shtab

    from engine.language.loader import load_rules

    sys.stdout.write(shtab.complete(args.build_parser(load_rules(args.rules)), shell=args.shell))
    return 0
