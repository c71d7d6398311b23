"""Load a rules directory: YAML (line-aware, safe) → shape check (JSON Schema) → meaning check
(unknown facts and attributes, duplicate ids, references, stages) → frozen IR. Every problem of
every file is collected and reported together as ``file:line:col: message``."""

from __future__ import annotations

import hashlib
import os
import re
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
from engine.language.ir import (
    OBJECTIVE_TERMS,
    PLACEHOLDER,
    STAGES,
    Action,
    Catalog,
    CatalogEntry,
    Comparison,
    Condition,
    FactRef,
    FactSpec,
    Group,
    Location,
    Rule,
    RuleBase,
    RuleSet,
)
from engine.language.limits import rule_cost, where_problems
from engine.language.operators import OPERATORS
from engine.language.suggest import did_you_mean
from engine.language.yamlsource import Document, Path_, read_yaml


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
PRESENCE = ("always", "with-plan")   # when a derived fact is set (facts/schema.yaml `present:`)
_FACT_TYPES = ("number", "integer", "bool", "enum", "catalog")
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
        facts = self._load_facts()
        self.facts_seen = facts
        catalog_docs, set_docs, scenario_files = self._read_files()
        catalogs = self._build_catalogs(catalog_docs)
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

    # -- fact schema ---------------------------------------------------------------------------
    def _load_facts(self) -> dict[str, FactSpec]:
        doc, problems = read_yaml(self.facts_file, _display(self.facts_file))
        self.problems.extend(problems)
        if doc is None:
            return {}
        if not isinstance(doc.data, dict):
            self.problems.append(doc.problem((), "fact schema must be a mapping with 'constraints' and 'derived'"))
            return {}
        facts: dict[str, FactSpec] = {}
        axes = doc.data.get("plan", {})
        if not isinstance(axes, dict):
            self.problems.append(doc.problem(("plan",), "'plan' must be a mapping of plan axes"))
            axes = {}
        for name, spec in axes.items():
            axis = self._fact_spec(doc, ("plan", name), name, spec, derived=False)
            if axis is not None:
                self.plan_axes[name] = axis
        for section in ("constraints", "derived"):
            block = doc.data.get(section, {})
            if not isinstance(block, dict):
                self.problems.append(doc.problem((section,), f"'{section}' must be a mapping of fact names"))
                continue
            for name, spec in block.items():
                fact = self._fact_spec(doc, (section, name), name, spec, derived=section == "derived")
                if fact is None:
                    continue
                if name in facts:
                    self.problems.append(doc.problem((section, name), f"fact '{name}' is declared twice"))
                facts[name] = fact
        for key in doc.data:
            if key not in ("constraints", "derived", "plan"):
                self.problems.append(doc.problem((key,), f"unknown key '{key}'"
                                                         f"{did_you_mean(key, ['constraints', 'derived', 'plan'])}"))
        return facts

    def _fact_spec(self, doc: Document, path: Path_, name: str, spec: Any, *, derived: bool) -> FactSpec | None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or not isinstance(spec, dict):
            self.problems.append(doc.problem(path, f"fact '{name}': needs a snake_case name and a mapping"))
            return None
        known = {"type", "description", "unit", "values", "catalog", "default", "min", "max",
                 "min_exclusive", "stage", "present"}
        for key in spec:
            if key not in known:
                self.problems.append(doc.problem((*path, key), f"fact '{name}': unknown key '{key}'"
                                                               f"{did_you_mean(key, known)}"))
        ftype = spec.get("type")
        if ftype not in _FACT_TYPES:
            self.problems.append(doc.problem((*path, "type"), f"fact '{name}': type must be one of "
                                                              f"{', '.join(_FACT_TYPES)}"))
            return None
        stage = spec.get("stage")
        if derived and stage not in STAGES:
            self.problems.append(doc.problem((*path, "stage"), f"derived fact '{name}': stage must be one of "
                                                               f"{', '.join(STAGES)}"))
            return None
        present = spec.get("present", "")
        if present and (not derived or present not in PRESENCE):
            self.problems.append(doc.problem((*path, "present"), f"fact '{name}': present is for derived facts, "
                                                                 f"one of {', '.join(PRESENCE)}"))
            present = ""
        values = spec.get("values", [])
        if ftype == "enum" and (not isinstance(values, list) or not values):
            self.problems.append(doc.problem(path, f"fact '{name}': an enum needs a list of values"))
            return None
        if ftype == "integer" and values and not (
                isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)):
            self.problems.append(doc.problem((*path, "values"), f"fact '{name}': values of an integer are whole "
                                                                "numbers"))
            return None
        if not spec.get("description"):
            self.problems.append(doc.problem(path, f"fact '{name}': needs a description"))
        return FactSpec(
            name=name, type=ftype, description=str(spec.get("description", "")), unit=str(spec.get("unit", "")),
            values=tuple(str(v) for v in values), catalog=str(spec.get("catalog", "")),
            default=spec.get("default"), minimum=spec.get("min"), maximum=spec.get("max"),
            min_exclusive=spec.get("min_exclusive"), derived_stage=stage if derived else None,
            present=str(present),
        )

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
        self._check_objective(catalogs, docs)
        for decision in DECISIONS.values():
            if decision.catalog not in catalogs and decision.catalog not in self.broken:
                self.problems.append(Problem(_display(self.root), 1, 1,
                                             f"decision '{decision.name}' needs catalog '{decision.catalog}' "
                                             f"(rules/catalog/{decision.catalog}.yaml), which is missing"))
        return catalogs

    def _check_objective(self, catalogs: Mapping[str, Catalog], docs: list[Document]) -> None:
        """The objective catalog: each entry lists known terms and priorities, and one entry is the default."""
        catalog = catalogs.get("objective")
        if catalog is None:
            if "objective" not in self.broken:
                self.problems.append(Problem(_display(self.root), 1, 1, "the objective catalog "
                                             "(rules/catalog/objective.yaml) is missing: it says how plans are "
                                             "compared"))
            return
        doc = next(d for d in docs if isinstance(d.data, dict) and d.data.get("catalog") == "objective")
        priority = self.facts_seen.get("priority")
        priorities = set(priority.values) if priority is not None else set()
        for i, entry in enumerate(catalog.entries):
            terms = entry.get("terms")
            if not isinstance(terms, list) or not terms:
                self.problems.append(doc.problem(("entries", i), f"objective '{entry.id}': needs 'terms', a list of "
                                                                 f"{', '.join(OBJECTIVE_TERMS)}"))
                continue
            for j, term in enumerate(terms):
                if term not in OBJECTIVE_TERMS:
                    self.problems.append(doc.problem(("entries", i, "terms", j), f"objective '{entry.id}': unknown "
                                                     f"term '{term}'{did_you_mean(str(term), OBJECTIVE_TERMS)}; "
                                                     f"terms: {', '.join(OBJECTIVE_TERMS)}"))
            for j, name in enumerate(entry.get("priorities") or []):
                if priorities and name not in priorities:
                    self.problems.append(doc.problem(("entries", i, "priorities", j), f"objective '{entry.id}': "
                                                     f"unknown priority '{name}'{did_you_mean(str(name), priorities)}"))
        if catalog.by_id("default") is None:
            self.problems.append(doc.problem(("entries",), "the objective catalog needs an entry with id 'default' "
                                                           "(the order of plans for priorities no entry lists)"))

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
                    rule = _RuleBuilder(self, doc, ("rules", i), raw, name, stage, str(data.get("source", "")),
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


@dataclass
class _RuleBuilder:
    loader: _Loader
    doc: Document
    path: Path_
    raw: dict[str, Any]
    ruleset: str
    stage: str
    default_source: str
    facts: Mapping[str, FactSpec]
    catalogs: Mapping[str, Catalog]
    tested_axes: set[str] = field(default_factory=set)   # plan axes of the rule's plan: clause

    @property
    def rule_id(self) -> str:
        return str(self.raw["id"])

    def error(self, path: Path_, message: str) -> None:
        self.loader.problems.append(self.doc.problem((*self.path, *path), f"rule '{self.rule_id}': {message}"))

    def visible_facts(self) -> dict[str, FactSpec]:
        stage_index = STAGES.index(self.stage)
        return {n: f for n, f in self.facts.items()
                if f.derived_stage is None or STAGES.index(f.derived_stage) <= stage_index}

    def build(self) -> Rule | None:
        join = self.raw.get("for")
        catalog = None
        if join in self.loader.broken:  # its catalog file has problems of its own: check only the facts
            if "when" in self.raw:
                self.condition(self.raw["when"], ("when",), None)
            if "plan" in self.raw:
                self.plan_clause(self.raw["plan"])
            return None
        if join is not None:
            catalog = self.catalogs.get(join)
            if catalog is None:
                self.error(("for",), f"unknown catalog '{join}'{did_you_mean(join, self.catalogs)}; "
                                     f"catalogs: {', '.join(sorted(self.catalogs))}")
        if "where" in self.raw and join is None:
            self.error(("where",), "'where' tests a catalog entry and needs 'for: <catalog>'")
        when = self.condition(self.raw["when"], ("when",), None) if "when" in self.raw else None
        where = self.condition(self.raw["where"], ("where",), catalog) if "where" in self.raw and catalog else None
        plan = self.plan_clause(self.raw["plan"]) if "plan" in self.raw else ()
        self.tested_axes = {c.subject for c in plan}
        actions = self.actions(self.raw.get("then", {}), catalog)
        self.check_template(str(self.raw.get("because", "")), ("because",), catalog)
        line, col = self.doc.where(self.path)
        return Rule(
            id=self.rule_id, ruleset=self.ruleset, stage=self.stage,
            description=str(self.raw.get("description", "")),
            source=str(self.raw.get("source", self.default_source)), because=str(self.raw.get("because", "")),
            when=when, join=join if catalog else None, where=where, actions=tuple(actions),
            loc=Location(self.doc.file, line, col), plan=plan,
            overrides_scores=str(self.raw.get("overrides_scores", "")),
        )

    def plan_clause(self, raw: Any) -> tuple[Comparison, ...]:
        """``plan: {axis: test, ...}``: tests on the plan's attributes, all of which must hold."""
        axes = self.loader.plan_axes
        if self.stage != "plan":
            self.error(("plan",), f"'plan' tests the plan's attributes and belongs to rules of the plan stage; "
                                  f"this rule set runs in the {self.stage} stage (read chosen_* facts instead)")
            return ()
        if not isinstance(raw, dict):
            return ()
        out: list[Comparison] = []
        for axis, test in raw.items():
            path: Path_ = ("plan", axis)
            spec = axes.get(axis)
            if spec is None:
                self.error(path, f"unknown plan axis '{axis}'{did_you_mean(str(axis), axes)}; "
                                 f"plan axes: {', '.join(axes)}")
                continue
            comparisons = self.tests(axis, test, path, None, axis=spec)
            if any(isinstance(c.value, FactRef) for c in comparisons):
                self.error(path, "a plan test compares with literal values, not {fact: ...}")
                continue
            out.extend(comparisons)
        return tuple(out)

    # -- conditions ----------------------------------------------------------------------------
    def condition(self, raw: Any, path: Path_, catalog: Catalog | None) -> Condition | None:
        if not isinstance(raw, dict):
            return None
        line, col = self.doc.where((*self.path, *path))
        loc = Location(self.doc.file, line, col)
        items: list[Condition] = []
        for key, value in raw.items():
            sub = (*path, key)
            if key in ("all", "any") and isinstance(value, list):
                parts = [c for i, v in enumerate(value) if (c := self.condition(v, (*sub, i), catalog))]
                items.append(Group(key, tuple(parts), loc))
            elif key == "not":
                part = self.condition(value, sub, catalog)
                if part is not None:
                    items.append(Group("not", (part,), loc))
            else:
                items.extend(self.tests(key, value, sub, catalog))
        if len(items) == 1:
            return items[0]
        return Group("all", tuple(items), loc)

    def tests(self, subject: str, raw: Any, path: Path_, catalog: Catalog | None,
              axis: FactSpec | None = None) -> list[Comparison]:
        """The comparisons on one subject: a fact (when), an entry attribute (where) or a plan ``axis``."""
        line, col = self.doc.where((*self.path, *path))
        loc = Location(self.doc.file, line, col)
        kind = axis if axis is not None else self.subject_kind(subject, path, catalog)
        ops = raw if isinstance(raw, dict) else {"eq": raw}
        out: list[Comparison] = []
        for op, operand in ops.items():
            if op == "between" and isinstance(operand, list) and len(operand) == 2:
                out.append(Comparison(subject, "gte", operand[0], loc))
                out.append(Comparison(subject, "lte", operand[1], loc))
                continue
            if op not in OPERATORS:
                continue  # the schema already reported it
            value: Any = operand
            if isinstance(operand, dict):
                ref = str(operand.get("fact", ""))
                if axis is not None:
                    pass  # a plan test: plan_clause reports it
                elif catalog is None:
                    self.error(path, f"{{fact: {ref}}} compares a catalog entry with a fact; use it in 'where'")
                elif ref not in self.visible_facts():
                    self.error(path, f"unknown fact '{ref}'{did_you_mean(ref, self.visible_facts())}")
                elif op in ("contains", "lacks") and self.facts[ref].type != "enum":
                    self.error(path, f"'{op}: {{fact: {ref}}}' needs an enum fact (the rule is expanded per "
                                     f"value); '{ref}' is {self.facts[ref].type}")
                value = FactRef(ref)
            elif kind is not None:
                self.check_operand(subject, op, operand, kind, path)
            # lists become tuples: the IR is frozen and hashable all the way down
            out.append(Comparison(subject, op, tuple(value) if isinstance(value, list) else value, loc))
        return out

    def subject_kind(self, subject: str, path: Path_, catalog: Catalog | None) -> FactSpec | None:
        if catalog is not None:
            attrs = {a for e in catalog.entries for a in e.attrs} | {"id"}
            if subject not in attrs:
                self.error(path, f"catalog '{catalog.name}' has no attribute '{subject}'"
                                 f"{did_you_mean(subject, attrs)}")
            return None
        visible = self.visible_facts()
        if subject not in visible:
            later = self.facts.get(subject)
            if later is not None:
                self.error(path, f"fact '{subject}' is derived only before the {later.derived_stage} stage; "
                                 f"this rule runs in the {self.stage} stage")
            else:
                self.error(path, f"unknown fact '{subject}'{did_you_mean(subject, visible)}")
            return None
        return visible[subject]

    def check_operand(self, subject: str, op: str, operand: Any, fact: FactSpec, path: Path_) -> None:
        values = operand if isinstance(operand, list) else [operand]
        what = "plan axis" if self.loader.plan_axes.get(subject) is fact else "fact"
        if op in ("contains", "lacks"):   # facts and plan axes hold one value, never a list
            self.error(path, f"'{op}' tests a list, but {what} '{subject}' holds one {fact.type} value; use eq or ne")
            return
        for value in values:
            if OPERATORS[op].operand == "bool":
                continue
            if fact.type in ("number", "integer"):
                if not isinstance(value, int | float) or isinstance(value, bool):
                    self.error(path, f"{what} '{subject}' is a number; {op} {value!r} is not")
            elif fact.type == "bool":
                if not isinstance(value, bool):
                    self.error(path, f"{what} '{subject}' is true or false; {op} {value!r} is not")
            elif fact.type == "enum":
                if str(value) not in fact.values:
                    self.error(path, f"{what} '{subject}' has no value '{value}'{did_you_mean(str(value), fact.values)}"
                                     f"; allowed: {', '.join(fact.values)}")
            elif fact.type == "catalog":
                catalog = self.catalogs.get(fact.catalog)
                if catalog is not None and catalog.by_id(str(value)) is None:
                    self.error(path, f"{what} '{subject}': unknown {fact.catalog} id '{value}'"
                                     f"{did_you_mean(str(value), catalog.ids())}")
            if OPERATORS[op].operand == "number" and fact.type not in ("number", "integer"):
                self.error(path, f"'{op}' compares numbers, but {what} '{subject}' is {fact.type}")

    # -- actions -------------------------------------------------------------------------------
    def actions(self, raw: Any, catalog: Catalog | None) -> list[Action]:
        """The conclusions under ``then``, one builder per action kind (the schema checked the kinds)."""
        if not isinstance(raw, dict):
            return []
        builders = {"warn": self._warn_action, "exclude": self._exclude_actions, "score": self._score_actions,
                    "require": self._require_actions}
        return [action for kind, value in raw.items() if kind in builders
                for action in builders[kind](value, ("then", kind), catalog)]

    def _warn_action(self, value: Any, path: Path_, catalog: Catalog | None) -> list[Action]:
        if not isinstance(value, dict):
            return []
        self.check_template(str(value.get("message", "")), (*path, "message"), catalog)
        return [Action("warn", warning=str(value.get("id", "")), message=str(value.get("message", "")),
                       level=str(value.get("level", "warning")))]

    def _exclude_actions(self, value: Any, path: Path_, catalog: Catalog | None) -> list[Action]:
        if isinstance(value, str):  # exclude the joined entry
            return [Action("exclude", decision=value)] if self.check_decision(value, path, catalog, joined=True) \
                else []
        out: list[Action] = []
        for decision, ids in (value.items() if isinstance(value, dict) else ()):
            if self.check_decision(decision, (*path, decision), None, joined=False):
                for j, option in enumerate(ids):
                    self.check_option(decision, option, (*path, decision, j))
                    out.append(Action("exclude", decision=decision, option=option))
        return out

    def _score_actions(self, value: Any, path: Path_, catalog: Catalog | None) -> list[Action]:
        out: list[Action] = []
        for decision, points in (value.items() if isinstance(value, dict) else ()):
            if isinstance(points, int | float):  # score the joined entry
                if self.check_decision(decision, (*path, decision), catalog, joined=True):
                    out.append(Action("score", decision=decision, points=float(points)))
            elif isinstance(points, dict) and self.check_decision(decision, (*path, decision), None, joined=False):
                for option, pts in points.items():
                    self.check_option(decision, option, (*path, decision, option))
                    out.append(Action("score", decision=decision, option=option, points=float(pts)))
        return out

    def _require_actions(self, value: Any, path: Path_, catalog: Catalog | None) -> list[Action]:
        out: list[Action] = []
        for decision, option in (value.items() if isinstance(value, dict) else ()):
            if self.check_decision(decision, (*path, decision), None, joined=False):
                self.check_option(decision, option, (*path, decision))
                out.append(Action("require", decision=decision, option=option))
        return out

    def check_decision(self, decision: str, path: Path_, catalog: Catalog | None, *, joined: bool) -> bool:
        spec = DECISIONS.get(decision)
        if spec is None:
            self.error(path, f"unknown decision '{decision}'{did_you_mean(decision, DECISIONS)}; "
                             f"decisions: {', '.join(DECISIONS)}")
            return False
        if spec.stage != self.stage:
            self.error(path, f"decision '{decision}' is made in the {spec.stage} stage, "
                             f"but this rule set runs in the {self.stage} stage")
            return False
        if joined:
            if catalog is None:
                self.error(path, f"'{decision}' without ids acts on the joined entry; add 'for: {spec.catalog}' "
                                 f"or list the ids")
                return False
            if catalog.name != spec.catalog:
                self.error(path, f"decision '{decision}' chooses among '{spec.catalog}', but the rule joins "
                                 f"'{catalog.name}'")
                return False
        return True

    def check_option(self, decision: str, option: str, path: Path_) -> None:
        spec = DECISIONS[decision]
        catalog = self.catalogs.get(spec.catalog)
        if catalog is None:
            return
        entry = catalog.by_id(option)
        options = [e.id for e in catalog.entries if not spec.kind or e.get("kind") == spec.kind]
        if entry is None or option not in options:
            self.error(path, f"decision '{decision}' has no option '{option}'{did_you_mean(option, options)}")

    def check_template(self, text: str, path: Path_, catalog: Catalog | None) -> None:
        visible = self.visible_facts()
        for match in PLACEHOLDER.finditer(text):
            head, attr = match.group(1), match.group(2)
            if head == "plan":
                axes = self.loader.plan_axes
                if self.stage != "plan":
                    if "plan" not in self.raw:  # with a plan: clause, plan_clause has said it already
                        self.error(path, f"placeholder '{match.group(0)}' names a plan value, which only rules of "
                                         f"the plan stage have; this rule set runs in the {self.stage} stage")
                elif attr not in axes:
                    self.error(path, f"placeholder '{match.group(0)}': unknown plan axis '{attr}'"
                                     f"{did_you_mean(str(attr), axes)}; plan axes: {', '.join(axes)}")
                elif attr not in self.tested_axes:
                    self.error(path, f"placeholder '{match.group(0)}' needs the plan axis '{attr}' in the rule's "
                                     f"plan: clause (it names the plan value the rule matched)")
            elif head == "entry":
                if catalog is None:
                    self.error(path, f"placeholder '{match.group(0)}' needs 'for: <catalog>'")
                elif attr and attr != "id" and not any(attr in e.attrs for e in catalog.entries):
                    names = {a for e in catalog.entries for a in e.attrs}
                    self.error(path, f"placeholder '{match.group(0)}': catalog '{catalog.name}' has no attribute "
                                     f"'{attr}'{did_you_mean(attr, names)}")
            elif attr is None and head not in visible and head in self.facts:
                self.error(path, f"placeholder '{match.group(0)}': fact '{head}' is derived only before the "
                                 f"{self.facts[head].derived_stage} stage; this rule runs in the {self.stage} stage")
            elif attr is not None or head not in visible:
                self.error(path, f"placeholder '{match.group(0)}' names no fact{did_you_mean(head, visible)}")
