"""Safe, line-aware YAML reading for expert-edited files.

YAML's traps are rejected rather than guessed: duplicate keys, yes/no/on/off booleans, merge keys,
anchors and aliases (which also stops "billion laughs"), every explicit tag, over-deep nesting,
non-UTF-8 text, oversized files, NaN/infinity and integers beyond 64 bits. Dates stay strings.
Every value keeps its line and column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import Problem

try:  # the C parser is ~4x faster on large rule files and keeps marks
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_INT = 2**63        # durable-rules' C core and JSON readers hold integers in 64 bits
_AMBIGUOUS_BOOL = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """A parsed YAML file: plain Python data plus the position of every path in it (1-based)."""

    file: str
    data: Any
    marks: dict[Path_, tuple[int, int]]

    def where(self, path: Path_) -> tuple[int, int]:
        """Line and column of ``path``, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.marks:
                return self.marks[path[:cut]]
        return (1, 1)

    def problem(self, path: Path_, message: str) -> Problem:
        """A problem located at ``path``."""
        line, col = self.where(path)
        return Problem(self.file, line, col, message)


class _RejectError(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        self.node = node
        self.message = message


def read_yaml(path: Path, display: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Read one YAML file; returns the document, or None and the problems that stopped it."""
    name = display or str(path)
    try:
        if path.is_dir():
            return None, [Problem(name, 1, 1, "is a directory, not a YAML file")]
        with path.open("rb") as stream:  # never more than the limit: a 20 MB file or /dev/zero stays cheap
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, [Problem(name, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(name, 1, 1, f"file is over the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit "
                                          "for a rule file; split it")]
    return parse_yaml(raw, name)


def parse_yaml(raw: bytes | str, name: str) -> tuple[Document | None, list[Problem]]:  # noqa: PLR0911 - one exit per trap
    """Parse YAML text (bytes must be UTF-8) into a Document, or return the problems."""
    if isinstance(raw, bytes):
        if b"\x00" in raw:
            return None, [Problem(name, 1, 1, "file is binary (contains NUL bytes), not YAML text")]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            return None, [Problem(name, line, col, "file is not UTF-8 text; save it as UTF-8")]
    else:
        text = raw
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [Problem(name, line, col, f"YAML syntax error: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [Problem(name, 1, 1, f"YAML error: {exc}")]
    except RecursionError:
        return None, [Problem(name, 1, 1, f"YAML is nested too deeply (limit {MAX_DEPTH} levels)")]
    if node is None:
        return None, [Problem(name, 1, 1, "file is empty")]
    marks: dict[Path_, tuple[int, int]] = {}
    problems: list[Problem] = []
    try:
        data = _convert(node, (), marks, set(), 0)
    except _RejectError as rej:
        mark = _first_alias(text) if rej.message.startswith("anchors") else None
        mark = mark or rej.node.start_mark
        return None, [Problem(name, mark.line + 1, mark.column + 1, rej.message)]
    return Document(name, data, marks), problems


def _first_alias(text: str) -> Any:
    """The mark of the first alias in ``text`` (compose shares aliased nodes, losing their position)."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark
    return None


def _convert(node: yaml.Node, path: Path_, marks: dict[Path_, tuple[int, int]],
             seen: set[int], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _RejectError(node, f"YAML is nested too deeply (limit {MAX_DEPTH} levels)")
    if id(node) in seen:
        raise _RejectError(node, "anchors and aliases are not allowed in rule files; repeat the value")
    seen.add(id(node))
    marks.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if node.tag not in _PLAIN_TAGS:
        raise _RejectError(node, f"tag '{node.tag}' is not allowed; rule files hold plain data only")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:null":
                raise _RejectError(key_node, "mapping keys must be plain strings")
            key = key_node.value
            if key == "<<":
                raise _RejectError(key_node, "merge keys ('<<') are not allowed; write the keys out")
            if key in out:
                first = marks[(*path, key)]
                raise _RejectError(key_node, f"duplicate key '{key}' (first at line {first[0]}); "
                                        "YAML would silently keep only the last one")
            marks[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(value_node, (*path, key), marks, seen, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), marks, seen, depth + 1) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)  # the composer makes only these three node kinds
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    value = node.value
    if node.style not in (None, "", "|", ">"):  # quoted: always a string
        return value
    if _AMBIGUOUS_BOOL.match(value):
        raise _RejectError(node, f"'{value}' is ambiguous (YAML 1.1 reads it as a boolean); "
                            "write true/false, or quote it for a string")
    tag = node.tag
    if tag == "tag:yaml.org,2002:timestamp":
        return value  # dates stay text: "2026-09-20"
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() == "true"
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
        constructor = yaml.SafeLoader.construct_yaml_int if tag.endswith("int") else \
            yaml.SafeLoader.construct_yaml_float
        try:
            number = constructor(yaml.SafeLoader(""), node)
        except ValueError:  # Python refuses int() of more than 4,300 digits
            number = None
        if number is None or (isinstance(number, int) and abs(number) >= MAX_INT):
            raise _RejectError(node, f"number '{_clip(value)}' is out of range (at most 2**63 - 1); "
                                "quote it if it is text")
        if isinstance(number, float) and not math.isfinite(number):
            raise _RejectError(node, f"'{_clip(value)}' is not a finite number; write a finite number, "
                                "or quote it if it is text")
        return number
    return value


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def iter_yaml_files(paths: list[Path]) -> Iterator[Path]:
    """Every .yaml/.yml file under the given files or folders, sorted."""
    for root in paths:
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield root
