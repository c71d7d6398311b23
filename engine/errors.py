"""tuneplan's error tree. The library raises these; only the CLI prints them and picks the exit code.

    TuneplanError                 exit 3  base; anything not below is a bug
    ├── UserError                 exit 1  the user's input has a problem
    │   ├── RuleFileError                 one or more problems in rule / catalog / fact YAML (all collected)
    │   ├── ConstraintError               a constraint fact is unknown or has a bad value
    │   └── RenderError                   output cannot be produced (e.g. Graphviz missing for .svg)
    ├── UsageError                exit 2  the command line itself is wrong
    └── EngineError               exit 3  durable-rules misbehaved or an action failed (a bug)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in a YAML file, printed as ``file:line:col: message``."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class TuneplanError(Exception):
    """Base of every error tuneplan raises on purpose."""

    exit_code = 3


class UserError(TuneplanError):
    """The input has a problem the user can fix."""

    exit_code = 1


class UsageError(TuneplanError):
    """The command line is malformed."""

    exit_code = 2


class EngineError(TuneplanError):
    """The rules engine failed: a bug in tuneplan, not in the user's input."""

    exit_code = 3


MAX_PROBLEMS = 200  # reported per load: past this a file is hostile or wholly wrong, and more would only flood


class RuleFileError(UserError):
    """Problems found while loading rule, catalog or fact files, sorted; at most ``MAX_PROBLEMS`` of them
    (``truncated`` says that checking stopped there or that more were found)."""

    def __init__(self, problems: list[Problem], *, truncated: bool = False) -> None:
        unique = sorted(set(problems))
        self.problems = unique[:MAX_PROBLEMS]
        self.truncated = truncated or len(unique) > MAX_PROBLEMS
        lines = [str(p) for p in self.problems]
        if self.truncated:
            lines.append(self.more())
        super().__init__("\n".join(lines))

    def more(self) -> str:
        """The line that says the list is cut (only meaningful when ``truncated``)."""
        return f"(stopped after {MAX_PROBLEMS} problems; fix these and check again for the rest)"


class ConstraintError(UserError):
    """A constraint fact is unknown or its value is not allowed; names the fact."""

    def __init__(self, fact: str, message: str) -> None:
        self.fact = fact
        super().__init__(f"constraint '{fact}': {message}")


class RenderError(UserError):
    """Output in the requested format cannot be produced."""
