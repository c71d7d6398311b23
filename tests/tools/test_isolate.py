"""Work on untrusted rules runs in a worker process (engine/tools/isolate.py): a crash, a spin or a runaway
allocation there is an IsolationError naming which, and the caller lives on (issue 17: evaluate
untrusted rule edits out of process)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from engine.tools.isolate import IsolationError, Limits, run_isolated
from engine.web import Request, WebApp

ROOT = Path(__file__).resolve().parents[2]


def _answer(x: int) -> dict[str, int]:
    return {"twice": 2 * x, "pid": os.getpid()}


def _segfault(*_: Any) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _spin(*_: Any) -> None:
    while True:
        pass


def _hog(*_: Any) -> int:
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))


def _bug(*_: Any) -> None:
    raise KeyError("not a user's mistake")


def test_the_work_runs_in_another_process_and_returns_its_result() -> None:
    result = run_isolated(_answer, 21)
    assert result["twice"] == 42 and result["pid"] != os.getpid()


def test_a_crash_is_reported_with_its_signal() -> None:
    with pytest.raises(IsolationError) as info:
        run_isolated(_segfault, what="the edited sets/tool.yaml")
    assert info.value.reason == "crash" and "signal SIGSEGV" in str(info.value)
    assert "the edited sets/tool.yaml" in str(info.value)


def test_a_spin_is_stopped_at_the_time_limit() -> None:
    started = time.monotonic()
    with pytest.raises(IsolationError) as info:
        run_isolated(_spin, limits=Limits(seconds=1.0))
    assert info.value.reason == "timeout" and "longer than 1 s" in str(info.value)
    assert time.monotonic() - started < 10


def test_a_runaway_allocation_is_stopped_at_the_memory_limit() -> None:
    with pytest.raises(IsolationError) as info:
        run_isolated(_hog, limits=Limits(seconds=60, memory_mib=512))
    assert info.value.reason == "memory" and "more than 512 MiB" in str(info.value)


def test_a_bug_in_the_work_is_named_not_hidden() -> None:
    with pytest.raises(IsolationError) as info:
        run_isolated(_bug)
    assert "internal error (KeyError" in str(info.value)


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "facts", tmp_path / "facts")
    return tmp_path / "rules"


@pytest.mark.parametrize("endpoint", ["/api/check", "/api/lint", "/api/diff", "/api/save"])
def test_an_edit_that_crashes_the_engine_leaves_the_server_and_the_file(tmp_path: Path, endpoint: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the worker meets in the edited rules, the web app answers 422 and keeps serving; a save
    is refused with the file on disk unchanged."""
    from engine.web import jobs

    for name in ("check", "lint", "diff"):
        monkeypatch.setattr(jobs, name, _segfault)   # pickled by name: the worker runs the crashing job
    rules = _copy(tmp_path)
    app = WebApp(rules, allow_edit=True)
    tool = rules / "sets" / "tool.yaml"
    before = tool.read_text()
    body = json.dumps({"path": "sets/tool.yaml", "text": before + "# edited\n"}).encode()
    answer = app.handle(Request("POST", endpoint, body=body))
    assert answer.status == 422, answer.body
    data = answer.data()
    assert "crashed the rules engine (signal SIGSEGV)" in data["error"] and "sets/tool.yaml" in data["error"]
    assert data["reason"] == "crash"
    assert tool.read_text() == before
    if endpoint == "/api/save":
        assert data["error"].startswith("not saved (the file on disk is unchanged)")
    alive = app.handle(Request("POST", "/api/recommend", {"svg": "false"}, b'{"model": "llama-3.1-8b"}'))
    assert alive.status == 200
