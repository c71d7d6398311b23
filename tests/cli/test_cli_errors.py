"""The CLI's error boundary: user error 1, usage 2, bug 3 (short, says where to report, traceback only
with --debug), ^C 130 — whatever goes wrong inside."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.pipeline import Engine

Cli = Callable[..., tuple[int, str, str]]
ROOT = Path(__file__).resolve().parents[2]


def _explode(exc: BaseException) -> Callable[..., object]:
    def recommend(self: Engine, constraints: object, **_: object) -> object:
        raise exc
    return recommend


@pytest.mark.parametrize("exc", [
    RuntimeError("boom"),
    KeyError("tool"),
    EngineError("durable-rules failed in the choice stage: error 303"),
    RecursionError("maximum recursion depth exceeded"),
    MemoryError(),
    ValueError("x" * 100_000 + "\n" * 50),
], ids=lambda e: type(e).__name__)
def test_a_bug_exits_3_with_a_short_message(cli: Cli, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    monkeypatch.setattr(Engine, "recommend", _explode(exc))
    code, out, err = cli("recommend", "--model-params-b", "7")
    assert code == 3 and out == ""
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith(f"tuneplan: internal error ({type(exc).__name__}")
    assert "this is a bug" in line and "issue tracker" in line and "--debug" in line
    assert len(line) < 500


def test_debug_shows_the_traceback(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Engine, "recommend", _explode(RuntimeError("boom")))
    code, _, err = cli("recommend", "--model-params-b", "7", "--debug")
    assert code == 3
    assert "Traceback (most recent call last)" in err and "RuntimeError: boom" in err
    assert err.rstrip().splitlines()[-1].startswith("tuneplan: internal error (RuntimeError: boom)")


def test_interrupt_exits_130(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Engine, "recommend", _explode(KeyboardInterrupt()))
    code, _, err = cli("recommend", "--model-params-b", "7")
    assert code == 130 and err == "tuneplan: interrupted\n"


@pytest.mark.parametrize("argv", [
    ("recommend", "--format", "yaml", "--model-params-b", "7"),
    ("recommend", "--no-such-flag"),
    ("frobnicate",),
    (),
    ("recommend", "--model-params-b", "7", "--set", "no-equals-sign"),
])
def test_usage_errors_exit_2(cli: Cli, argv: tuple[str, ...]) -> None:
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert err.startswith("tuneplan: usage error: ") and "Traceback" not in err


def test_user_errors_exit_1_without_traceback(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("recommend", "--model-params-b", "-1")
    assert code == 1 and err.startswith("tuneplan: error: constraint 'model_params_b'")
    code, _, err = cli("recommend", str(tmp_path / "missing.yaml"))
    assert code == 1 and err.startswith(f"{tmp_path / 'missing.yaml'}:1:1: cannot read file")
    code, _, err = cli("recommend", "--rules", str(tmp_path), "--model-params-b", "7")
    assert code == 1 and "Traceback" not in err


def test_the_console_script_exit_codes_in_a_fresh_process(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "engine.cli.main", "recommend", "--model-params-b", "7", "--format",
                         "json"], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    bad = subprocess.run([sys.executable, "-m", "engine.cli.main", "recommend", "--model-params-b", "nan"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert ok.returncode == 0 and ok.stdout.startswith("{")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "model_params_b" in bad.stderr


def test_an_output_never_replaces_a_device_or_the_input_profile(cli: Cli, tmp_path: Path) -> None:
    """Issue 17, high 7: -o /dev/null kept its device node; -o on the input profile kept the profile."""
    import os
    import stat

    profile = tmp_path / "p.yaml"
    profile.write_text("constraints:\n  model: llama-3.1-8b\n")
    code, _, err = cli("recommend", str(profile), "-o", str(profile))
    assert code == 1 and "is an input of this command" in err
    assert profile.read_text() == "constraints:\n  model: llama-3.1-8b\n"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = cli("recommend", str(profile), "-o", str(fifo))
    assert code == 1 and "not a regular file" in err and stat.S_ISFIFO(fifo.stat().st_mode)
