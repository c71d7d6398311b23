"""The web editor's work on an edited copy of the rules, run in a worker process (engine/tools/isolate.py):
module-level functions of plain data, returning plain data; a user's mistake is a problem in the
result, never an exception, so that only a crash, a timeout or the memory limit is an IsolationError."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from engine.errors import Problem, RuleFileError


def _load(copy_root: str, tests: list[str], compile_rules: bool) -> tuple[list[Problem], Any]:
    """The edited copy loaded (and compiled into durable-rules when asked) and its edited scenario files
    read as `tuneplan test` reads them; the problems and the rule base (None when it did not load)."""
    from engine.language.loader import load_rules
    from engine.tools.scenarios import load_scenarios

    problems: list[Problem] = []
    rulebase = None
    try:
        rulebase = load_rules(copy_root)
    except RuleFileError as exc:
        problems.extend(exc.problems)
    if rulebase is not None and compile_rules:
        from engine.tools.check import compile_problems

        problems.extend(compile_problems(copy_root))   # compiled and run once: `check`'s promise
    if tests:
        try:
            load_scenarios([Path(t) for t in tests])
        except RuleFileError as exc:
            problems.extend(exc.problems)
    return problems, rulebase


def check(copy_root: str, tests: list[str]) -> tuple[list[Problem], int]:
    """`tuneplan check` of the copy, which also compiles it: "ok" means a recommendation will run."""
    problems, rulebase = _load(copy_root, tests, compile_rules=True)
    return problems, len(rulebase.rules()) if rulebase is not None and not problems else 0


def lint(copy_root: str, tests: list[str], gaps: bool) -> tuple[list[Problem], list[dict[str, Any]]]:
    """`tuneplan lint` of the copy (after check); findings as dicts with absolute file names."""
    from engine.tools.lint import lint_rulebase

    problems, rulebase = _load(copy_root, tests, compile_rules=False)
    if rulebase is None:
        return problems, []
    return problems, [asdict(f) for f in lint_rulebase(rulebase, gaps=gaps, gap_samples=300)]


def diff(saved_root: str, copy_root: str, tests: list[str], grid: bool) -> tuple[list[Problem], dict[str, Any] | None]:
    """The changed recommendations between the saved rules and the copy, as the API's JSON."""
    from engine.tools.diff import diff_rules, render_json, render_markdown, summary_line

    problems, rulebase = _load(copy_root, tests, compile_rules=False)
    if rulebase is None:
        return problems, None
    try:
        report = diff_rules(saved_root, copy_root, grid=grid)
    except RuleFileError as exc:   # a scenario file of either side that does not read
        return exc.problems, None
    report.old, report.new = "saved", "edited"
    return [], {**render_json(report), "summary": summary_line(report), "markdown": render_markdown(report)}
