"""Shared fixtures: the shipped rule base, a disposable copy of it, and a CLI runner."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

# The checked-rules cache of the test run (and of every command it starts) lives in a folder of its own,
# never in the user's ~/.cache; tests/language/test_rulecache.py checks the cache itself.
os.environ["TUNEPLAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="tuneplan-test-cache-")

from engine import load_rules
from engine.cli.main import main
from engine.language.ir import RuleBase

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def rulebase() -> RuleBase:
    return load_rules(ROOT / "rules")


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of rules/ and facts/ for seeding mistakes."""
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "facts", tmp_path / "facts")
    return tmp_path / "rules"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run
