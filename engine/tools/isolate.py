"""Run work on untrusted rule files in a worker process, with a time and a memory limit.

A rule base that passes the loader's limits should never crash or freeze durable-rules' C core, but an
edited rule base is the user's (or a web page's) input, and the C core shares the process: a crash
there would take the web server down, a spin would hold the GIL, and every compiled rule set stays
registered for good. So the web editor's check, lint, diff and save, and `tuneplan diff`, evaluate the
changed rules here: in a child process (forked from a fork server that has the engine imported, so a
start costs tens of milliseconds), which is killed when it runs out of time, whose address space is
capped, and whose memory goes back to the system when it ends. A crash, timeout or memory limit comes
back as ``IsolationError`` naming which one; the caller's process is untouched.

The work is a module-level function (it is pickled by name) whose arguments and result are plain data.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from engine.errors import UserError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

T = TypeVar("T")

DEFAULT_SECONDS = 120.0
DEFAULT_MEMORY_MIB = 4096
_PRELOAD = ["engine.language.loader", "engine.pipeline", "engine.tools.lint", "engine.tools.diff",
            "engine.tools.scenarios"]


class IsolationError(UserError):
    """The work on the untrusted rules crashed, ran out of time or out of memory (``reason`` says which:
    ``crash``, ``timeout`` or ``memory``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """What a worker may use: wall-clock seconds (None: no limit) and address space in MiB (None: none)."""

    seconds: float | None = DEFAULT_SECONDS
    memory_mib: int | None = DEFAULT_MEMORY_MIB


def _context() -> Any:
    import multiprocessing  # here, not at import: commands that never isolate do not pay for it

    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _child(conn: Connection, func: Callable[..., Any], args: tuple[Any, ...], memory_mib: int | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle: it ends this worker
    if memory_mib is not None:
        try:
            import resource

            limit = memory_mib * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ImportError, ValueError, OSError):  # no such limit on this platform: time still bounds it
            pass
    try:
        result = ("ok", func(*args))
    except MemoryError:
        result = ("memory", None)
    except RecursionError:
        result = ("crash", "nested too deeply for the checker")
    except Exception as exc:  # a bug, not the user's input (the work returns the user's mistakes as data)
        result = ("crash", f"internal error ({type(exc).__name__}: {str(exc)[:300]})")
    try:
        conn.send(result)
    except MemoryError:
        conn.send(("memory", None))
    conn.close()
    sys.stdout.flush()
    os._exit(0)   # no atexit work: the C core's teardown of what may be a broken rule base is not needed


def run_isolated(func: Callable[..., T], *args: Any, limits: Limits | None = None, what: str = "the rules") -> T:
    """``func(*args)`` in a worker process within ``limits``; its result, or IsolationError. An exception
    that ``func`` raises (other than running out of memory) comes back as a crash with its type named:
    the work is expected to turn the user's mistakes into data itself."""
    limits = limits or Limits()
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, func, args, limits.memory_mib), daemon=True)
    process.start()
    send.close()
    try:
        if not receive.poll(limits.seconds):
            raise IsolationError("timeout", f"checking {what} took longer than {limits.seconds:g} s and was "
                                            "stopped; a rule with very many alternatives is the usual cause")
        try:
            status, value = receive.recv()
        except EOFError:   # the worker died without answering: a crash of the C core, or the OOM killer
            process.join(5)
            raise IsolationError("crash", f"checking {what} crashed the rules engine ({_how(process.exitcode)}); "
                                          "the last edit is the likely cause — undo it or simplify the rule") from None
    except KeyboardInterrupt:
        process.kill()
        raise
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receive.close()
    if status == "memory":
        raise IsolationError("memory", f"checking {what} needed more than {limits.memory_mib} MiB and was "
                                       "stopped; a rule that expands into very many rules is the usual cause")
    if status == "crash":
        raise IsolationError("crash", f"checking {what} failed: {value}")
    return value  # type: ignore[no-any-return]


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit status {exitcode}"
