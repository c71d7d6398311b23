"""Writing files whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from engine.errors import UserError


def write_atomic(path: Path, data: bytes | str, *, make_parents: bool = False,
                 inputs: Sequence[Path | str] = ()) -> None:
    """Write a file atomically: a temp file in the same folder, then rename over the target.

    A missing folder is an error unless ``make_parents`` (a typo must not create directories); a target that
    exists and is not a regular file (a device such as /dev/null, a FIFO, a directory) is never replaced, and
    neither is one of the command's ``inputs``; anything the OS refuses becomes a UserError naming the file."""
    raw = data.encode() if isinstance(data, str) else data
    if path.exists() and not path.is_file():
        raise UserError(f"cannot write {path}: it is not a regular file (a device, FIFO or folder), and "
                        "replacing it would destroy it; write to a file path instead")
    for source in inputs:
        if Path(source).exists() and path.exists() and path.resolve() == Path(source).resolve():
            raise UserError(f"cannot write {path}: it is an input of this command and would be overwritten")
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise UserError(f"cannot write {path}: folder {path.parent} does not exist")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        # mkstemp creates 0600; give the file the mode a plain open() would (or the mode it had)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
