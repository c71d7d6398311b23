"""The engine-neutral rule base: frozen records built by the loader and read by the compiler,
the decision logic, lint, why-not and diagrams. Nothing here knows about durable-rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.language.catalog import CatalogRecords

STAGES = ("plan", "delivery")   # plan: rules judge plans, the planner chooses; delivery: on the chosen plan
# The terms an objective (rules/catalog/objective.yaml) may order plans by, and what each means.
OBJECTIVE_TERMS = {
    "within_budget": "plans within budget first; over budget, the one least over",
    "score": "the rules' points for the plan, higher first",
    "cost": "total USD (or USD per million training tokens when the hours are unknown), lower first",
    "hours": "training time (or time per million tokens), lower first",
    "order": "catalog order of the plan's values, the last tie-break",
}
# {fact}, {entry.attr} or {plan.axis} in texts, optionally with the words to write when it is unset: {model|the model}
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?(?:\|([^{}|]*))?\}")


@dataclass(frozen=True)
class Location:
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class FactRef:
    """A comparison operand that names a fact instead of a literal: ``{fact: interface}``."""

    fact: str


@dataclass(frozen=True)
class Comparison:
    """``subject <op> value``; subject is a fact name (in when) or an entry attribute (in where)."""

    subject: str
    op: str
    value: Any
    loc: Location


@dataclass(frozen=True)
class Group:
    """``all`` / ``any`` of conditions, or ``not`` of exactly one."""

    kind: str
    items: tuple[Condition, ...]
    loc: Location


Condition = Comparison | Group


@dataclass(frozen=True)
class Action:
    """One effect of a rule. kind: exclude, score, require or warn.

    For exclude/score/require, ``decision`` names the decision and ``option`` the option id
    (None means "the joined catalog entry"). ``points`` is the score. For warn, ``warning`` and
    ``message`` (a template) and ``level``.
    """

    kind: str
    decision: str = ""
    option: str | None = None
    points: float = 0.0
    warning: str = ""
    message: str = ""
    level: str = "warning"


@dataclass(frozen=True)
class Rule:
    """A rule: conditions on facts (when), optionally joined with each entry of a catalog (for/where)."""

    id: str
    ruleset: str
    stage: str
    description: str
    source: str
    because: str
    when: Condition | None
    join: str | None
    where: Condition | None
    actions: tuple[Action, ...]
    loc: Location
    plan: tuple[Comparison, ...] = ()   # conditions on plan attributes (plan axes), all of which must hold
    overrides_scores: str = ""          # why an exclusion/requirement is meant to win over rules scoring up

    @cached_property
    def plan_axes(self) -> tuple[str, ...]:
        """The plan axes the rule's ``plan:`` clause tests, sorted."""
        return tuple(sorted({c.subject for c in self.plan}))

    @cached_property
    def reads(self) -> frozenset[str]:
        """Fact names the rule reads: subjects of ``when``, ``{fact: x}`` operands, ``{name}`` placeholders."""
        names: set[str] = set()

        def walk(cond: Condition | None, on_entry: bool) -> None:
            if isinstance(cond, Group):
                for item in cond.items:
                    walk(item, on_entry)
            elif isinstance(cond, Comparison):
                if not on_entry:
                    names.add(cond.subject)
                if isinstance(cond.value, FactRef):
                    names.add(cond.value.fact)

        walk(self.when, False)
        walk(self.where, True)
        for text in (self.because, *(a.message for a in self.actions)):
            names.update(m.group(1) for m in PLACEHOLDER.finditer(text) if m.group(1) not in ("entry", "plan"))
        return frozenset(names)


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, evaluated in one stage."""

    name: str
    stage: str
    description: str
    source: str
    file: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class CatalogEntry:
    """One catalog record (a tool, GPU, platform, model ...), its attributes and source."""

    id: str
    catalog: str
    attrs: Mapping[str, Any]
    source: str
    loc: Location

    def get(self, name: str, default: Any = None) -> Any:
        """An attribute, or ``default``."""
        return self.attrs.get(name, default)


@dataclass(frozen=True)
class Catalog:
    """A named list of entries, in file order (which is the deterministic tie-break)."""

    name: str
    description: str
    file: str
    entries: tuple[CatalogEntry, ...]
    read_by: str = ""   # who reads a catalog that no rule, fact or the engine reads (docs, traceability tests)

    def ids(self) -> tuple[str, ...]:
        """Entry ids in file order."""
        return tuple(e.id for e in self.entries)

    def by_id(self, entry_id: str) -> CatalogEntry | None:
        """The entry with this id, if any."""
        return self._index.get(entry_id)

    @cached_property
    def _index(self) -> dict[str, CatalogEntry]:
        return {entry.id: entry for entry in self.entries}


@dataclass(frozen=True)
class FactSpec:
    """A fact of the schema: a constraint (derived_stage is None) or a fact derived before a stage."""

    name: str
    type: str
    description: str
    unit: str = ""
    values: tuple[str, ...] = ()
    catalog: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: float | None = None
    derived_stage: str | None = None
    present: str = ""    # derived facts: always | with-plan (set whenever a plan is chosen) | "" (sometimes)


@dataclass(frozen=True, eq=False)  # identity: the loader returns one object per content digest
class RuleBase:
    """Everything loaded from a rules directory and the fact schema, checked and frozen."""

    root: str
    rulesets: tuple[RuleSet, ...]
    catalogs: Mapping[str, Catalog]
    facts: Mapping[str, FactSpec]
    digest: str
    scenario_files: tuple[str, ...] = field(default=())
    plan_axes: Mapping[str, FactSpec] = field(default_factory=dict)  # what a plan is made of (facts/schema.yaml plan:)
    records: CatalogRecords = field(default_factory=CatalogRecords.empty)  # typed catalog records (language/records.py)

    def rules(self) -> tuple[Rule, ...]:
        """All rules, in ruleset then file order."""
        return tuple(r for rs in self.rulesets for r in rs.rules)

    def rules_in_stage(self, stage: str) -> tuple[Rule, ...]:
        """The rules evaluated in ``stage``."""
        return tuple(r for rs in self.rulesets if rs.stage == stage for r in rs.rules)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id (KeyError if none)."""
        for r in self.rules():
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)
