"""The rules directory as the web page sees it: safe paths inside it, and disposable copies with edited
text for check, lint and diff, so that nothing the browser sends touches the real files until a save."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.language.loader import DEFAULT_FACTS
from engine.language.yamlsource import iter_yaml_files

YAML_SUFFIXES = (".yaml", ".yml")
MAX_PATH_CHARS = 1000


class RefusedPathError(Exception):
    """A path the server will not touch; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sha256_text(text: str) -> str:
    """The SHA-256 of text as it is stored (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Workspace:
    """A rules directory (resolved) and the fact schema its loader reads."""

    root: Path

    @classmethod
    def at(cls, rules_dir: str | Path) -> Workspace:
        """The workspace of a rules directory."""
        return cls(Path(rules_dir).resolve())

    @property
    def facts_file(self) -> Path:
        """The fact schema that `load_rules` pairs with this directory (the same rule as the loader's)."""
        beside = self.root.parent / "facts" / "schema.yaml"
        return beside if beside.is_file() else DEFAULT_FACTS

    def files(self) -> list[str]:
        """Every YAML file of the rules directory, relative and sorted."""
        return [p.relative_to(self.root).as_posix() for p in iter_yaml_files([self.root])
                if p.resolve().is_relative_to(self.root)]

    def resolve(self, rel: object, *, must_exist: bool = True) -> Path:
        """The real path of a rule file named relative to the root; refuses anything outside it."""
        if not isinstance(rel, str) or not rel.strip():
            raise RefusedPathError(400, "'path' must be a file path relative to the rules directory, "
                                        "e.g. sets/tool.yaml")
        if len(rel) > MAX_PATH_CHARS or "\x00" in rel:
            raise RefusedPathError(400, "'path' is not a usable file name")
        candidate = Path(rel)
        if candidate.is_absolute() or rel.startswith(("/", "\\")):
            raise RefusedPathError(403, f"path {rel[:80]!r} is outside the rules directory (give it relative to it)")
        try:
            target = (self.root / candidate).resolve()  # follows symbolic links: a link out is refused too
            if not target.is_relative_to(self.root) or target == self.root:
                raise RefusedPathError(403, f"path {rel[:80]!r} is outside the rules directory")
            if target.suffix not in YAML_SUFFIXES:
                raise RefusedPathError(400, f"path {rel[:80]!r} is not a YAML file (.yaml or .yml)")
            if must_exist and not target.is_file():
                raise RefusedPathError(404, f"no rule file {rel[:80]!r} in the rules directory")
        except OSError as exc:  # a name part over the file system's limit, a loop of links, ...
            raise RefusedPathError(400, f"path {rel[:80]!r} is not usable here: {exc.strerror or exc}") from None
        return target

    def relative(self, file: str, copy_root: Path | None = None) -> str:
        """A file name from a problem or finding, shown relative to the rules directory."""
        path = Path(file)
        if not path.is_absolute():
            path = Path.cwd() / path
        path = path.resolve()
        for root in (copy_root, self.root):
            if root is not None and path.is_relative_to(root):
                return path.relative_to(root).as_posix()
        if copy_root is not None and path == (copy_root.parent / "facts" / "schema.yaml"):
            path = self.facts_file.resolve()
        return Path(os.path.relpath(path, self.root)).as_posix()

    @contextmanager
    def edited_copy(self, edits: Mapping[Path, str]) -> Iterator[Path]:
        """A temporary copy of the rules directory (and its fact schema) with ``edits`` (real path → text)
        applied; yields the copy's rules directory and removes it afterwards."""
        with tempfile.TemporaryDirectory(prefix="tuneplan-web-") as tmp:
            base = Path(tmp).resolve()
            copy_root = base / "rules"
            shutil.copytree(self.root, copy_root, symlinks=False)
            (base / "facts").mkdir()
            shutil.copyfile(self.facts_file, base / "facts" / "schema.yaml")
            for real, text in edits.items():
                (copy_root / real.relative_to(self.root)).write_text(text, encoding="utf-8", newline="")
            yield copy_root
