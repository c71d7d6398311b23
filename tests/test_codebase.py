"""The project's own checks: ruff and mypy --strict with the settings in pyproject.toml, and the shipped
rules checked and linted by tuneplan itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.language.loader import load_rules
from engine.tools.check import check_paths
from engine.tools.lint import lint_rulebase

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=600)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "engine", "devtools", "tests", "bench", "setup.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy", "--no-error-summary")
    assert result.returncode == 0, result.stdout + result.stderr


def test_shipped_rules_and_profiles_check_clean() -> None:
    problems, _ = check_paths([ROOT / "rules", ROOT / "facts"])
    assert [str(p) for p in problems] == []


def test_shipped_rules_lint_without_errors() -> None:
    findings = lint_rulebase(load_rules(ROOT / "rules"))
    assert [str(f) for f in findings if f.level == "error"] == []
