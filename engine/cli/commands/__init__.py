"""Sub-commands of `tuneplan`, one module each: ``NAME``, ``HELP``, ``add_arguments(parser, rulebase)``
and ``run(args) -> exit code``. The CLI builds its parser from this registry."""

from __future__ import annotations

from types import ModuleType

from engine.cli.commands import check, completion, diagram, diff, lint, lists, recommend, serve, sweep, test


def registry() -> list[ModuleType]:
    """The sub-command modules, in the order `tuneplan --help` lists them."""
    return [recommend, lists, check, test, lint, diff, sweep, diagram, serve, completion]
