"""What lint reports: a finding (printed like a compiler's message), the place it points at, and the registry
of lint ids. Each check family declares the ids it produces (``LINTS``, as yamllint's rules declare their ID
and level); ``Registry`` holds each id once with its level, description and family, and refuses a finding
whose id is unknown or belongs to another family."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LEVELS = ("error", "warning")


@dataclass(frozen=True, order=True)
class Finding:
    """One lint finding: where, how bad, which check, which rules, what is wrong and what to do."""

    file: str
    line: int
    col: int
    level: str  # error | warning
    lint_id: str
    rules: tuple[str, ...]
    message: str
    fix: str

    def __str__(self) -> str:
        rules = ", ".join(self.rules) or "-"
        return (
            f"{self.file}:{self.line}:{self.col}: [{self.level}] {self.lint_id}: {rules}: {self.message} "
            f"(fix: {self.fix})"
        )


@dataclass(frozen=True)
class At:
    """A place in a file that is not a rule's or an entry's own location."""

    file: str
    line: int
    col: int


@dataclass(frozen=True)
class Lint:
    """A lint id as its check family declares it: the level of its findings and what it finds."""

    id: str
    level: str
    description: str


@dataclass(frozen=True)
class Registered:
    """A lint id in the registry, with the check family (module of engine/tools/lint/) that produces it."""

    id: str
    level: str
    description: str
    family: str


class Registry(Mapping[str, Registered]):
    """Every lint id, registered once, in the order the families run."""

    def __init__(self, families: Iterable[tuple[str, Iterable[Lint]]]) -> None:
        self._ids: dict[str, Registered] = {}
        for family, lints in families:
            for lint in lints:
                if lint.id in self._ids:
                    raise ValueError(f"lint id '{lint.id}' of {family} is already registered by "
                                     f"{self._ids[lint.id].family}")
                if lint.level not in LEVELS:
                    raise ValueError(f"lint id '{lint.id}' of {family}: level {lint.level!r} is not one of {LEVELS}")
                self._ids[lint.id] = Registered(lint.id, lint.level, lint.description, family)

    def __getitem__(self, lint_id: str) -> Registered:
        return self._ids[lint_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def finding(self, family: str, where: Any, lint_id: str, rules: Iterable[str], *, message: str,
                fix: str) -> Finding:
        """A finding of a registered id, at its registered level; a family may produce only its own ids."""
        entry = self._ids.get(lint_id)
        if entry is None or entry.family != family:
            owner = f"registered by {entry.family}" if entry else "not registered"
            raise ValueError(f"check family {family} reports lint id '{lint_id}', {owner}")
        return Finding(where.file, where.line, where.col, entry.level, lint_id, tuple(rules), message, fix)


def display(path: Path) -> str:
    """A path as findings show it: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def show(value: Any) -> str:
    """A fact value as people write it in a finding."""
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
