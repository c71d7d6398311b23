"""Constraint profiles (facts/profiles/*.yaml): a mapping of fact names to values, optionally under
``constraints:``. Read in one place for `recommend`, `check`, `diagram`, the scenario tests and `diff`, so a
profile that does not read is the same located problem everywhere, never an empty set of constraints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from engine.errors import Problem, RuleFileError
from engine.language.yamlsource import Document, Path_, read_yaml

SHAPE = "a profile is a mapping of fact names to values (optionally under 'constraints:')"


@dataclass(frozen=True)
class Profile:
    """A profile read: its document (for locations), its constraints, and where they sit in it."""

    path: Path
    doc: Document
    constraints: dict[str, Any]
    prefix: Path_             # ("constraints",) when they sit under that key, else ()


def read_profile(path: str | Path) -> tuple[Profile | None, list[Problem]]:
    """The profile at ``path``, or None and the located problems (unreadable, not YAML, not a mapping)."""
    doc, problems = read_yaml(Path(path))
    if doc is None:
        return None, problems
    data, prefix = doc.data, cast("Path_", ())
    if isinstance(data, dict) and "constraints" in data:
        data, prefix = data["constraints"], ("constraints",)
    if not isinstance(data, dict):
        return None, [doc.problem(prefix, SHAPE)]
    return Profile(Path(path), doc, dict(data), prefix), []


def profile_facts(path: str | Path) -> dict[str, Any]:
    """The constraints of the profile at ``path``; RuleFileError with the located problems when it does not read."""
    profile, problems = read_profile(path)
    if profile is None:
        raise RuleFileError(problems)
    return profile.constraints
