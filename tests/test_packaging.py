"""A wheel carries the rule base (issue 12): built from this checkout, installed into a folder of its own
and run from elsewhere, `tuneplan recommend`, `check`, `test` and `list` find the shipped rules without a
checkout, and the Python API works as the README shows."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """The wheel built and unpacked with pip into a target folder; the environment that imports it."""
    pytest.importorskip("wheel", reason="building the wheel needs the 'wheel' package (make test installs it)")
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(base / "dist"), str(ROOT)], check=True, capture_output=True, cwd=base)
    wheel = next((base / "dist").glob("tuneplan-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(base / "site"),
                    str(wheel)], check=True, capture_output=True, cwd=base)
    (base / "elsewhere").mkdir()
    env = {**os.environ, "PYTHONPATH": str(base / "site")}
    yield base, env


def _run(installed: tuple[Path, dict[str, str]], *argv: str) -> subprocess.CompletedProcess[str]:
    base, env = installed
    return subprocess.run([sys.executable, *argv], check=False, capture_output=True, text=True, env=env,
                          cwd=base / "elsewhere", timeout=300)


def test_the_wheel_holds_every_rule_file_and_the_fact_schema(installed: tuple[Path, dict[str, str]]) -> None:
    base, _ = installed
    names = set(zipfile.ZipFile(next((base / "dist").glob("*.whl"))).namelist())
    shipped = {f"engine/data/{p.relative_to(ROOT).as_posix()}" for d in ("rules", "facts")
               for p in (ROOT / d).rglob("*.yaml")}
    assert shipped and shipped <= names


def test_the_installed_package_is_used_not_the_checkout(installed: tuple[Path, dict[str, str]]) -> None:
    done = _run(installed, "-c", "import engine, engine.language.loader as l; print(engine.__file__); print(l.PROJECT_ROOT)")
    package, project = done.stdout.split()
    base, _ = installed
    assert Path(package).is_relative_to(base / "site") and Path(project) == base / "site" / "engine" / "data"


@pytest.mark.parametrize("argv, expect", [
    (["recommend", "--model", "llama-3.1-8b", "--format", "json"], '"tool"'),
    (["check"], "ok: 1 rule directory"),
    (["test"], " 0 failed"),
    (["list", "models"], "llama-3.1-8b"),
])
def test_commands_find_the_shipped_rules_without_a_checkout(installed: tuple[Path, dict[str, str]],
                                                            argv: list[str], expect: str) -> None:
    done = _run(installed, "-m", "engine.cli.main", *argv)
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout + done.stderr


def test_the_python_api_works_from_the_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    done = _run(installed, "-c", "from engine import recommend; r = recommend({'model': 'llama-3.1-8b'}); "
                                 "print(r.to_dict()['tool']['choice'])")
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
