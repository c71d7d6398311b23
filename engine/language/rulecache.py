"""The checked rule base on disk, so that a cold start does not re-read and re-check unchanged YAML.

Keyed by the digest the loader computes over every rule file and the fact schema (path and content)
together with a digest of the code that reads them (the loader, IR, schemas, ...) and the Python
version: any change to either is a different key, so an entry is never stale. Only rule bases that
loaded without problems are stored. Entries are pickles the loader itself wrote, in the user's cache
folder (``$TUNEPLAN_CACHE_DIR``, else ``$XDG_CACHE_HOME/tuneplan``, else ``~/.cache/tuneplan``); at
most ``KEEP`` are kept. ``TUNEPLAN_CACHE_DIR=off`` turns the cache off. A folder that another user
owns or may write into is not used (an entry is a pickle). Any failure to read or write the cache is
silent: it only ever costs the time it was meant to save."""

from __future__ import annotations

import copyreg
import hashlib
import io
import os
import pickle
import sys
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

KEEP = 16
_CODE = ("language/ir.py", "language/loader.py", "language/catalog.py", "language/records.py",
         "language/rules.py", "language/factschema.py", "language/schema.py", "language/yamlsource.py",
         "language/operators.py", "language/decisions.py", "language/suggest.py", "language/rulecache.py",
         "runtime/compiler.py", "errors.py")   # paths under engine/


def cache_dir() -> Path | None:
    """The folder of the cache, or None when it is turned off."""
    chosen = os.environ.get("TUNEPLAN_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tuneplan"


@cache
def code_digest() -> str:
    """What the cached form depends on besides the YAML: the reading code, its schemas, Python's version."""
    here = Path(__file__).resolve().parents[1]   # engine/
    digest = hashlib.sha256(sys.version.encode())
    for name in _CODE:
        digest.update(name.encode() + (here / name).read_bytes())
    for schema in sorted((here / "language" / "schemas").glob("*.json")):
        digest.update(schema.name.encode() + schema.read_bytes())
    return digest.hexdigest()


def _private(folder: Path) -> bool:
    """Whether the folder is this user's and nobody else can write into it: an entry is a pickle, and
    reading a pickle that someone else planted would run their code."""
    if not hasattr(os, "getuid"):
        return True
    try:
        stat = folder.stat()
    except OSError:
        return False
    return stat.st_uid == os.getuid() and not stat.st_mode & 0o022


def _entry(digest: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    if not folder.exists():
        try:
            folder.mkdir(parents=True, mode=0o700)
        except OSError:
            return None
    if not _private(folder):
        return None
    key = hashlib.sha256(f"{digest}:{code_digest()}".encode()).hexdigest()[:40]
    return folder / f"rules-{key}.pickle"


def frozen(values: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only mapping again (how the IR's mappings are rebuilt when unpickled)."""
    return MappingProxyType(values)


def _mappingproxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return frozen, (dict(proxy),)


def load(digest: str) -> Any | None:
    """The rule base stored for this digest, or None."""
    path = _entry(digest)
    if path is None:
        return None
    try:
        with path.open("rb") as stream:
            return pickle.load(stream)
    except Exception:  # absent, truncated, written by another version: a miss, never an error
        return None


def store(digest: str, rulebase: Any) -> None:
    """Keep the rule base for this digest (atomically), dropping the oldest entries beyond ``KEEP``."""
    path = _entry(digest)
    if path is None:
        return
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _mappingproxy}
    try:
        pickler.dump(rulebase)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(buffer.getvalue())
        os.replace(temporary, path)
        entries = sorted(path.parent.glob("rules-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except Exception:  # a read-only home, a full disk, an unpicklable value: no cache, same answers
        return
