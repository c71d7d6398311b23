"""The meaning check of one rule and its IR: conditions on known facts and catalog attributes, operands of
the right kind, decisions of the rule's stage, known options and placeholders, as located problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.errors import Problem
from engine.language.decisions import DECISIONS
from engine.language.ir import (
    PLACEHOLDER,
    STAGES,
    Action,
    Catalog,
    Comparison,
    Condition,
    FactRef,
    FactSpec,
    Group,
    Location,
    Rule,
)
from engine.language.operators import OPERATORS
from engine.language.suggest import did_you_mean
from engine.language.yamlsource import Document, Path_


class Context(Protocol):
    """What a rule builder reads of the loader: where problems go, the failed catalogs, the plan axes."""

    problems: list[Problem]
    broken: set[str]
    plan_axes: dict[str, FactSpec]


@dataclass
class RuleBuilder:
    """Checks one rule's meaning (facts, attributes, decisions, options, placeholders) and builds its IR."""

    loader: Context
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
