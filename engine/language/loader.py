"""Load a rules directory: YAML (line-aware, safe) → shape check (JSON Schema) → meaning check
(unknown facts and attributes, duplicate ids, references, stages) → frozen IR. Every problem of
every file is collected and reported together as ``file:line:col: message``."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.errors import MAX_PROBLEMS, Problem, RuleFileError
from engine.language.decisions import DECISIONS
from engine.language.factschema import FactSchemaReader
from engine.language.ir import (
    STAGES,
    Catalog,
    CatalogEntry,
    FactSpec,
    Location,
    Rule,
    RuleBase,
    RuleSet,
)
from engine.language.limits import rule_cost, where_problems
from engine.language.records import build_records, objective_problems
from engine.language.rules import RuleBuilder
from engine.language.suggest import did_you_mean
from engine.language.yamlsource import Document, read_yaml


def _project_root() -> Path:
    """The folder holding rules/ and facts/: the checkout around the package, or, installed from a wheel,
    the copy shipped inside it (engine/data/, written by setup.py)."""
    package = Path(__file__).resolve().parents[1]          # engine/
    checkout = package.parent
    if (checkout / "rules").is_dir() and (checkout / "facts" / "schema.yaml").is_file():
        return checkout
    return package / "data"


PROJECT_ROOT = _project_root()
DEFAULT_RULES = PROJECT_ROOT / "rules"
DEFAULT_FACTS = PROJECT_ROOT / "facts" / "schema.yaml"
MAX_RULE_FILES = 5000      # YAML files in one rules directory (the shipped one has 30; ×100 is 3,000)
MAX_RULE_DIRS = 2000       # folders walked: `--rules /` is refused quickly instead of walking the disk
RACY_S = 2.0               # a file changed this recently may change again within its timestamp's resolution

# (rules dir, fact schema) -> (stat signature, content digest): an unchanged tree is not re-read per call
_digests: dict[tuple[str, str], tuple[tuple[Any, ...], str]] = {}
_digests_lock = threading.Lock()


@dataclass(frozen=True)
class _Tree:
    """The YAML files of a rules directory, the stat signature of the walk, and what it refused."""

    files: tuple[Path, ...]
    signature: tuple[Any, ...]
    newest_ns: int
    problems: tuple[Problem, ...]


def _walk(root: Path, facts_file: Path) -> _Tree:
    """The rule files under ``root`` (sorted; links to folders are not entered, links to files outside the
    directory are refused), with each file's (mtime, size, inode, ctime) and folder's mtime as the signature."""
    base = root.resolve()
    files: list[Path] = []
    signature: list[Any] = []
    problems: list[Problem] = []
    pending = [str(root)]
    dirs = 0
    where = "give --rules the folder that holds catalog/ and sets/"
    while pending and not problems:
        current = pending.pop()
        dirs += 1
        if dirs > MAX_RULE_DIRS:
            problems.append(Problem(str(root), 1, 1, f"more than {MAX_RULE_DIRS} folders under the rules "
                                                     f"directory; {where}"))
            break
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda e: e.name)
            signature.append((current, os.stat(current).st_mtime_ns))
        except OSError:
            continue  # an unreadable folder holds nothing this loader can read
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
                continue
            if not entry.name.endswith((".yaml", ".yml")):
                continue
            try:
                if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(base):
                    problems.append(Problem(entry.path, 1, 1, "a link to a file outside the rules directory; "
                                                              "rule files are read only from inside it"))
                    break
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:
                continue  # a dangling link: nothing to read
            files.append(Path(entry.path))
            signature.append((entry.path, stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns))
            if len(files) > MAX_RULE_FILES:
                problems.append(Problem(str(root), 1, 1, f"more than {MAX_RULE_FILES} YAML files under the "
                                                         f"rules directory; {where}"))
                break
    try:
        stat = facts_file.stat()
        signature.append((str(facts_file), stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns))
    except OSError:
        signature.append((str(facts_file), None))
    newest = max((max(item[1], item[-1]) for item in signature if item[1] is not None), default=0)
    return _Tree(tuple(sorted(files)), tuple(signature), newest, tuple(problems))


def _content_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(path.anchor)).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()


def load_rules(rules_dir: str | Path | None = None) -> RuleBase:
    """Load and check the rule base in ``rules_dir`` (default: the project's rules/); cached by content.

    A tree whose files and folders all have the (mtime, size, inode, ctime) they had when last hashed is not
    read again; a file changed within the last ``RACY_S`` seconds is always re-hashed (its next change
    could keep the same timestamp), so the cache is never stale."""
    root = Path(rules_dir) if rules_dir is not None else DEFAULT_RULES
    if not root.is_dir():
        raise RuleFileError([Problem(str(root), 1, 1, "rules directory not found")])
    facts_file = root.parent / "facts" / "schema.yaml"
    if not facts_file.is_file():
        facts_file = DEFAULT_FACTS
    tree = _walk(root, facts_file)
    if tree.problems:
        raise RuleFileError(list(tree.problems))
    key = (str(root.resolve()), str(facts_file.resolve()))
    with _digests_lock:
        known = _digests.get(key)
    if known is not None and known[0] == tree.signature:
        digest = known[1]
    else:
        started_ns = time.time_ns()
        digest = _content_digest([*tree.files, facts_file])
        if tree.newest_ns < started_ns - RACY_S * 1e9:
            with _digests_lock:
                _digests[key] = (tree.signature, digest)
    return _load_cached(key[0], key[1], digest)


@lru_cache(maxsize=16)
def _load_cached(root: str, facts_file: str, digest: str) -> RuleBase:
    from engine.language import rulecache

    stored = rulecache.load(digest)
    if isinstance(stored, RuleBase) and stored.digest == digest and stored.root == root:
        return stored
    rulebase = _Loader(Path(root), Path(facts_file), digest).load()
    rulecache.store(digest, rulebase)
    return rulebase


def _check_shape(doc: Document, schema: str) -> list[Problem]:
    from engine.language.schema import (
        check_shape,  # jsonschema is imported only when YAML is checked, not from the cache
    )

    return check_shape(doc, schema)


def _kind_of(value: Any) -> str:
    """How a YAML value reads in a message, without quoting it."""
    return {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), "nothing")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass
class _Loader:
    root: Path
    facts_file: Path
    digest: str
    problems: list[Problem] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)   # catalogs whose file failed: no cascade of errors
    misshapen: set[str] = field(default_factory=set)  # rule-set files with schema problems (already reported)
    plan_axes: dict[str, FactSpec] = field(default_factory=dict)  # the schema's plan: section
    facts_seen: dict[str, FactSpec] = field(default_factory=dict)  # the schema's facts, once read

    @property
    def full(self) -> bool:
        """Whether enough problems are found to stop checking (a hostile or wholly wrong rule base)."""
        return len(self.problems) > MAX_PROBLEMS

    def load(self) -> RuleBase:
        reader = FactSchemaReader(self.facts_file, _display(self.facts_file), self.problems, self.plan_axes)
        facts = reader.load()
        self.facts_seen = facts
        catalog_docs, set_docs, scenario_files = self._read_files()
        catalogs = self._build_catalogs(catalog_docs)
        records, problems = build_records(catalogs, {
            str(doc.data["catalog"]): doc for doc in catalog_docs
            if isinstance(doc.data, dict) and Path(doc.file).stem not in self.broken
            and str(doc.data.get("catalog")) not in self.broken})
        self.problems.extend(problems)
        self._check_fact_catalogs({**facts, **{f"plan axis {n}": a for n, a in self.plan_axes.items()}}, catalogs)
        rulesets = self._build_rulesets(set_docs, facts, catalogs)
        if self.problems:
            raise RuleFileError(self.problems, truncated=self.full)
        return RuleBase(
            root=str(self.root),
            rulesets=tuple(sorted(rulesets, key=lambda rs: (STAGES.index(rs.stage), rs.name))),
            catalogs=MappingProxyType(catalogs),
            facts=MappingProxyType(facts),
            digest=self.digest,
            scenario_files=tuple(scenario_files),
            plan_axes=MappingProxyType(dict(self.plan_axes)),
            records=records,
        )

    # -- files -------------------------------------------------------------------------------
    def _read_files(self) -> tuple[list[Document], list[Document], list[str]]:
        catalogs: list[Document] = []
        sets: list[Document] = []
        scenarios: list[str] = []
        for path in _walk(self.root, self.facts_file).files:
            if self.full:
                break
            rel = path.relative_to(self.root).parts
            kind = rel[0] if len(rel) > 1 else ""
            if kind == "tests":
                scenarios.append(str(path))
                continue
            doc, problems = read_yaml(path, _display(path))
            self.problems.extend(problems)
            if doc is None:
                if kind == "catalog":
                    self.broken.add(path.stem)
                continue
            if kind in ("catalog", "sets") and not isinstance(doc.data, dict):
                # checked here, not by the schema, whose message would quote the whole (hostile) value
                what = "catalog" if kind == "catalog" else "rule set"
                self.problems.append(doc.problem((), f"a {what} file is a mapping of keys to values, "
                                                     f"not {_kind_of(doc.data)}"))
                if kind == "catalog":
                    self.broken.add(path.stem)
                continue
            if kind == "catalog":
                shape = _check_shape(doc, "catalog")
                self.problems.extend(shape)
                if shape:
                    self.broken.add(path.stem)
                catalogs.append(doc)
            elif kind == "sets":
                shape = _check_shape(doc, "ruleset")
                self.problems.extend(shape)
                if shape:
                    self.misshapen.add(doc.file)
                sets.append(doc)
            else:
                self.problems.append(doc.problem((), "rule files live in catalog/, sets/ or tests/ "
                                                     "under the rules directory"))
        return catalogs, sets, scenarios

    def _check_fact_catalogs(self, facts: Mapping[str, FactSpec], catalogs: Mapping[str, Catalog]) -> None:
        for fact in facts.values():
            if fact.type == "catalog" and fact.catalog not in catalogs and fact.catalog not in self.broken:
                self.problems.append(Problem(_display(self.facts_file), 1, 1,
                                             f"fact '{fact.name}' refers to catalog '{fact.catalog}', which "
                                             f"does not exist{did_you_mean(fact.catalog, catalogs)}"))

    # -- catalogs ------------------------------------------------------------------------------
    def _build_catalogs(self, docs: list[Document]) -> dict[str, Catalog]:
        catalogs: dict[str, Catalog] = {}
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
                continue
            name = str(data.get("catalog", ""))
            if name in catalogs:
                self.problems.append(doc.problem(("catalog",), f"catalog '{name}' is defined twice "
                                                               f"(also in {catalogs[name].file})"))
                continue
            entries: list[CatalogEntry] = []
            seen: set[str] = set()
            for i, raw in enumerate(data["entries"]):
                if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                    continue
                entry_id = raw["id"]
                if entry_id in seen:
                    self.problems.append(doc.problem(("entries", i, "id"),
                                                     f"catalog '{name}': duplicate id '{entry_id}'"))
                    continue
                seen.add(entry_id)
                line, col = doc.where(("entries", i))
                attrs = {k: v for k, v in raw.items() if k not in ("id", "source")}
                for key in attrs:
                    if key in ("sid", "tp_fact", "tp_entry"):
                        self.problems.append(doc.problem(("entries", i, key), f"catalog '{name}': attribute "
                                                         f"'{key}' is reserved by the engine; rename it"))
                entries.append(CatalogEntry(entry_id, name, MappingProxyType(attrs), str(raw.get("source", "")),
                                            Location(doc.file, line, col)))
            catalogs[name] = Catalog(name, str(data.get("description", "")), doc.file, tuple(entries),
                                     read_by=str(data.get("read_by", "")))
        priority = self.facts_seen.get("priority")
        self.problems.extend(objective_problems(catalogs, docs, priority.values if priority else (),
                                                "objective" in self.broken, _display(self.root)))
        for decision in DECISIONS.values():
            if decision.catalog not in catalogs and decision.catalog not in self.broken:
                self.problems.append(Problem(_display(self.root), 1, 1,
                                             f"decision '{decision.name}' needs catalog '{decision.catalog}' "
                                             f"(rules/catalog/{decision.catalog}.yaml), which is missing"))
        return catalogs

    # -- rule sets -----------------------------------------------------------------------------
    def _check_limits(self, doc: Document, index: int, rule: Rule, facts: Mapping[str, FactSpec],
                      catalogs: Mapping[str, Catalog]) -> None:
        """A rule past the C core's safe sizes, or comparing with a fact in a way it cannot run, is a problem at
        the rule (a misshapen file's rules mean nothing here: the schema has said what is wrong)."""
        if doc.file not in self.misshapen:
            for problem in rule_cost(rule, facts).problems():
                self.problems.append(doc.problem(("rules", index), f"rule '{rule.id}': {problem}"))
            for cond, message in where_problems(rule, catalogs.get(rule.join or "")):
                at = cond.loc
                self.problems.append(Problem(at.file, at.line, at.col, f"rule '{rule.id}': {message}"))

    def _build_rulesets(self, docs: list[Document], facts: Mapping[str, FactSpec],
                        catalogs: Mapping[str, Catalog]) -> list[RuleSet]:
        rulesets: list[RuleSet] = []
        rule_ids: dict[str, str] = {}
        names: dict[str, str] = {}
        for doc in docs:
            data = doc.data
            if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
                continue
            name, stage = str(data.get("ruleset", "")), str(data.get("stage", ""))
            if stage not in STAGES:
                continue
            if name in names:
                self.problems.append(doc.problem(("ruleset",), f"rule set '{name}' is defined twice "
                                                               f"(also in {names[name]})"))
                continue
            names[name] = doc.file
            rules: list[Rule] = []
            for i, raw in enumerate(data["rules"]):
                if self.full:
                    break
                if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                    continue
                rule_id = raw["id"]
                if rule_id in rule_ids:
                    self.problems.append(doc.problem(("rules", i, "id"), f"rule '{rule_id}': duplicate rule id "
                                                                         f"(also in {rule_ids[rule_id]})"))
                    continue
                rule_ids[rule_id] = f"{doc.file}:{doc.where(('rules', i))[0]}"
                try:
                    rule = RuleBuilder(self, doc, ("rules", i), raw, name, stage, str(data.get("source", "")),
                                        facts, catalogs).build()
                except (TypeError, ValueError, AttributeError, KeyError):
                    # the meaning check assumes the shape the schema wants; where the schema already
                    # reported a wrong shape, its problem stands for this rule (no cascade, no crash)
                    if doc.file not in self.misshapen:
                        raise
                    rule = None
                if rule is not None:
                    self._check_limits(doc, i, rule, facts, catalogs)
                    rules.append(rule)
            rulesets.append(RuleSet(name, stage, str(data.get("description", "")), str(data.get("source", "")),
                                    doc.file, tuple(rules)))
        return rulesets


