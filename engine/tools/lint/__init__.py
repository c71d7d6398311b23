"""Verify a rule base over the facts' domains, in the spirit of decision-table analysis.

Every fact gets a finite domain: enum and catalog values, true/false, and for numbers the
thresholds the rules compare them with plus points between and beyond them (the partition the
rules induce). A rule's ``when`` becomes a union of boxes (fact -> allowed values); joined rules
evaluate ``where`` against every catalog entry. Satisfiability, overlap, implication and coverage
are then decided exactly by enumerating those partitions with the operators' own ``evaluate``.
Gaps are found differently: a sampled grid of constraints runs through the real engine.

Each check is one function in ``LINTS`` (id -> description, read by docs and the CLI); a finding
is data (``Finding``) and prints as ``file:line:col: [level] id: rules: message (fix: ...)``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConstraintError
from engine.language.decisions import DECISIONS
from engine.language.ir import (
    STAGES,
    CatalogEntry,
    Comparison,
    Condition,
    FactRef,
    FactSpec,
    Group,
    Rule,
    RuleBase,
)
from engine.language.operators import OPERATORS, comparison_holds
from engine.language.yamlsource import iter_yaml_files, read_yaml

LINTS: dict[str, str] = {
    "never-fires": "a rule whose conditions cannot hold over the declared domains, or whose where matches no "
    "entry",
    "pre-empted": "a rule whose every effect is always cancelled by another rule's exclusion",
    "duplicate": "two rules with the same conditions and the same actions",
    "subsumed": "a rule whose conditions imply another's that does at least the same",
    "conflict": "overlapping rules that exclude and require the same option (or require two options)",
    "overlap": "overlapping rules that disagree on an option: one excludes it, the other scores it up",
    "cycle": "a rule reading a fact derived in a later stage, from decisions its own stage feeds",
    "gap": "a plausible combination of constraints where no tool, method or platform remains",
    "gap-no-fit": "a combination where nothing remains because the model does not fit in memory",
    "gap-pinned": "a combination where nothing remains because of an option the user pinned",
    "unused-fact": "a constraint fact that no rule and no part of the engine reads",
    "unused-catalog": "a catalog no rule, fact, decision or the engine reads",
    "unreachable-option": "an option of a decision that some rule excludes in every situation",
    "missing-source": "a rule or catalog record whose source is empty or a placeholder",
    "stale-price": "a price whose as_of date is more than a year before today",
}

# What engine/pipeline.py (and engine/inputs/facts.py) read directly, besides what rules read. Keep in step
# with the pipeline: a fact listed here is never reported unused.
ENGINE_READS = frozenset(
    {
        "model",
        "model_params_b",
        "method",
        "precision",
        "seq_len",
        "batch_size",
        "gradient_checkpointing",
        "lora_rank",
        "gpu",
        "gpu_count",
        "owned_gpu",
        "owned_gpu_count",
        "budget_usd",
        "train_hours",
        "dataset_tokens",
        "epochs",
        "preemptible_ok",
        "priority",
        "tool",
        "platform",
    }
)
# Catalogs the engine reads itself (memory constants, GPU specs, model shapes, platform prices, the objective).
ENGINE_CATALOGS = frozenset({"memory", "gpus", "models", "platforms", "objective", "sharding", "tiers", "citations",
                             "tool-configs"})
# Derived facts the pipeline sets before every stage, so they are never absent when read.
PLAN_PREFIX = "plan."   # plan axes take part in lint's boxes as pseudo-facts named plan.<axis>
_PLACEHOLDER_SOURCES = frozenset({"", "todo", "tbd", "fixme", "?", "??", "unknown", "n/a", "na", "none", "-"})
MAX_WORLDS = 200_000  # an implication or coverage check larger than this is skipped, not guessed


@dataclass(frozen=True, order=True)
class Finding:
    """One lint finding: where, how bad, which check, which rules, what is wrong and what to do."""

    file: str
    line: int
    col: int
    level: str  # error | warning
    lint_id: str
    rules: tuple[str, ...]
    message: str
    fix: str

    def __str__(self) -> str:
        rules = ", ".join(self.rules) or "-"
        return (
            f"{self.file}:{self.line}:{self.col}: [{self.level}] {self.lint_id}: {rules}: {self.message} "
            f"(fix: {self.fix})"
        )


@dataclass(frozen=True)
class Invariant:
    """A relation between facts that the pipeline guarantees, so worlds violating it are impossible."""

    facts: tuple[str, ...]
    holds: Callable[[Mapping[str, Any]], bool]
    why: str


def _gt1(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 1


# How engine/pipeline.py derives facts, as far as rules can observe it.
INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        ("method", "chosen_method"),
        lambda w: w["method"] in (None, "auto") or w["chosen_method"] in (None, w["method"]),
        "a pinned method is the chosen method",
    ),
    Invariant(
        ("tool", "chosen_tool"),
        lambda w: w["tool"] is None or w["chosen_tool"] == w["tool"],
        "a pinned tool is the chosen tool",
    ),
    Invariant(
        ("platform", "chosen_platform"),
        lambda w: w["platform"] is None or w["chosen_platform"] in (None, w["platform"]),
        "a pinned platform is the chosen platform",
    ),
    Invariant(
        ("gpu", "chosen_gpu"),
        lambda w: w["gpu"] is None or w["chosen_gpu"] in (None, w["gpu"]),
        "a pinned GPU is the chosen GPU",
    ),
    Invariant(
        ("within_budget", "budget_usd"),
        lambda w: w["within_budget"] is not False or w["budget_usd"] is not None,
        "within_budget is false only against a budget",
    ),
)

Box = dict[str, frozenset[Any]]
Target = tuple[str, str, str, float]  # (kind, decision, option, points); warnings: ("warn", "", id, 0)


@dataclass(frozen=True)
class Case:
    """Part of a rule's behaviour: in every world inside ``box`` it produces ``targets``."""

    box: Mapping[str, frozenset[Any]]
    targets: frozenset[Target]


@dataclass
class RuleModel:
    """A rule as the union of its cases, with what lint learned about it."""

    rule: Rule
    cases: list[Case]
    when_satisfiable: bool
    empty_tests: list[str] = field(default_factory=list)

    @property
    def facts(self) -> set[str]:
        """Facts the rule's cases constrain."""
        return {f for c in self.cases for f in c.box}

    @property
    def universe(self) -> frozenset[Target]:
        """Every target the rule can produce."""
        return frozenset(t for c in self.cases for t in c.targets)


# -- domains ---------------------------------------------------------------------------------------
def _walk(cond: Condition | None) -> Iterator[Comparison]:
    if cond is None:
        return
    if isinstance(cond, Comparison):
        yield cond
    else:
        for item in cond.items:
            yield from _walk(item)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def build_domains(rulebase: RuleBase) -> dict[str, tuple[Any, ...]]:
    """A finite domain per fact: the values (or, for numbers, representative points) rules can tell apart."""
    thresholds: dict[str, set[float]] = {}
    for rule in rulebase.rules():
        for comp in _walk(rule.when):
            operands = comp.value if isinstance(comp.value, list) else [comp.value]
            thresholds.setdefault(comp.subject, set()).update(float(v) for v in operands if _is_number(v))
        if rule.join is not None:
            joined = rulebase.catalogs[rule.join]
            for comp in _walk(rule.where):
                if isinstance(comp.value, FactRef):
                    attrs: list[Any] = [e.attrs.get(comp.subject) for e in joined.entries]
                    points = {float(a) for a in attrs if _is_number(a)}
                    thresholds.setdefault(comp.value.fact, set()).update(points)
    domains: dict[str, tuple[Any, ...]] = {}
    for name, spec in rulebase.facts.items():
        if spec.type == "bool":
            values: list[Any] = [False, True]
        elif spec.type == "enum":
            values = list(spec.values)
        elif spec.type == "catalog":
            catalog = rulebase.catalogs.get(spec.catalog)
            values = list(catalog.ids()) if catalog else []
        else:
            values = _number_points(spec, sorted(thresholds.get(name, set())))
        if spec.default is None and spec.present != "always":
            values.append(None)
        domains[name] = tuple(values)
    from engine.decide.space import axis_values

    for axis, axis_domain in axis_values(rulebase).items():
        domains[PLAN_PREFIX + axis] = tuple(axis_domain)
    return domains


def plan_condition(rule: Rule) -> Condition | None:
    """The rule's plan: clause as a condition on the pseudo-facts plan.<axis>."""
    if not rule.plan:
        return None
    items = tuple(Comparison(PLAN_PREFIX + c.subject, c.op, c.value, c.loc) for c in rule.plan)
    return items[0] if len(items) == 1 else Group("all", items, rule.loc)


def _number_points(spec: FactSpec, cuts: list[float]) -> list[Any]:
    """Each threshold, a point between neighbours, one below the lowest and one above the highest."""
    integer = spec.type == "integer"

    def allowed(x: float) -> bool:
        return not (
            (spec.minimum is not None and x < spec.minimum)
            or (spec.min_exclusive is not None and x <= spec.min_exclusive)
            or (spec.maximum is not None and x > spec.maximum)
            or (integer and x != int(x))
        )

    if not cuts:
        base = spec.default if _is_number(spec.default) else (spec.minimum or spec.min_exclusive or 0) + 1
        return [int(base) if integer else base]
    low = cuts[0] - 1
    floor = spec.minimum if spec.minimum is not None else spec.min_exclusive
    if not integer and floor is not None and low <= floor:
        low = (floor + cuts[0]) / 2
    points = [low]
    for a, b in itertools.pairwise(cuts):
        points.append(a)
        mid = a + 1 if integer else (a + b) / 2
        if mid < b:
            points.append(mid)
    points.extend([cuts[-1], cuts[-1] + 1])
    out: list[Any] = []
    for p in points:
        if allowed(p):
            value = int(p) if integer else p
            if value not in out:
                out.append(value)
    return out


# -- conditions as boxes -------------------------------------------------------------------------
def _leaf(comp: Comparison, negate: bool, domains: Mapping[str, tuple[Any, ...]]) -> frozenset[Any]:
    # `not` is logical negation, as compiled (engine/language/operators.py comparison_holds)
    return frozenset(v for v in domains.get(comp.subject, ())
                     if comparison_holds(comp.op, v, comp.value, negate=negate))


def _meet(a: Mapping[str, frozenset[Any]], b: Mapping[str, frozenset[Any]]) -> Box | None:
    out = dict(a)
    for fact, values in b.items():
        both = out[fact] & values if fact in out else values
        if not both:
            return None
        out[fact] = both
    return out


def to_boxes(
    cond: Condition | None, domains: Mapping[str, tuple[Any, ...]], negate: bool = False
) -> list[Box]:
    """The condition as a union of boxes (disjunctive normal form over value sets)."""
    if cond is None:
        return [{}]
    if isinstance(cond, Comparison):
        allowed = _leaf(cond, negate, domains)
        return [{cond.subject: allowed}] if allowed else []
    if cond.kind == "not":
        return to_boxes(cond.items[0], domains, not negate)
    conjunctive = (cond.kind == "all") != negate
    if not conjunctive:
        return [box for item in cond.items for box in to_boxes(item, domains, negate)]
    boxes: list[Box] = [{}]
    for item in cond.items:
        parts = to_boxes(item, domains, negate)
        boxes = [m for a in boxes for b in parts if (m := _meet(a, b)) is not None]
    return boxes


class Space:
    """The fact domains plus the pipeline's invariants: enumerates the possible worlds of a box."""

    def __init__(
        self, domains: Mapping[str, tuple[Any, ...]], invariants: Sequence[Invariant] = INVARIANTS
    ) -> None:
        self.domains = domains
        self.invariants = [i for i in invariants if all(f in domains for f in i.facts)]

    def _closure(self, facts: Iterable[str]) -> list[str]:
        out = set(facts)
        for inv in self.invariants:
            if out & set(inv.facts):
                out.update(inv.facts)
        return sorted(out)

    def size(self, box: Mapping[str, frozenset[Any]], facts: Iterable[str]) -> int:
        """How many worlds ``worlds`` would enumerate."""
        total = 1
        for fact in self._closure(facts):
            total *= len(box.get(fact, self.domains[fact]))
        return total

    def worlds(self, box: Mapping[str, frozenset[Any]], facts: Iterable[str]) -> Iterator[dict[str, Any]]:
        """Every world over ``facts`` (and the facts invariants tie to them) inside ``box``."""
        names = self._closure(facts)
        pools = [sorted(box.get(f, self.domains[f]), key=repr) for f in names]
        checks = [i for i in self.invariants if set(i.facts) <= set(names)]
        for values in itertools.product(*pools):
            world = dict(zip(names, values, strict=True))
            if all(i.holds(world) for i in checks):
                yield world

    def satisfiable(self, box: Mapping[str, frozenset[Any]]) -> bool:
        """Whether some world lies in the box (invariant facts only are enumerated)."""
        tied = [f for f in box if any(f in i.facts for i in self.invariants)]
        return next(self.worlds(box, tied), None) is not None


def _inside(world: Mapping[str, Any], box: Mapping[str, frozenset[Any]]) -> bool:
    return all(f in world and world[f] in values for f, values in box.items())


def targets_at(model: RuleModel, world: Mapping[str, Any]) -> frozenset[Target]:
    """What the rule does in a world (empty when it does not fire)."""
    out: set[Target] = set()
    for case in model.cases:
        if _inside(world, case.box):
            out |= case.targets
    return frozenset(out)


# -- rules as cases --------------------------------------------------------------------------------
def _entry_value(entry: CatalogEntry, attr: str) -> Any:
    if attr == "id":
        return entry.id
    value = entry.attrs.get(attr)
    if isinstance(value, list):  # the runtime passes lists of scalars only (engine/runtime/session.py)
        return value if all(isinstance(v, str | int | float | bool) for v in value) else None
    return value if isinstance(value, str | int | float | bool) else None


def entry_matches(
    cond: Condition | None, entry: CatalogEntry, world: Mapping[str, Any], negate: bool = False
) -> bool:
    """Whether a catalog entry satisfies ``where`` given the fact values FactRefs read."""
    if cond is None:
        return True
    if isinstance(cond, Comparison):
        value = world.get(cond.value.fact) if isinstance(cond.value, FactRef) else cond.value
        return comparison_holds(cond.op, _entry_value(entry, cond.subject), value, negate=negate)
    if cond.kind == "not":
        return entry_matches(cond.items[0], entry, world, not negate)
    results = (entry_matches(item, entry, world, negate) for item in cond.items)
    return all(results) if (cond.kind == "all") != negate else any(results)


def _targets(rule: Rule, entries: Sequence[str]) -> frozenset[Target]:
    out: set[Target] = set()
    for action in rule.actions:
        if action.kind == "warn":
            out.add(("warn", "", action.warning, 0.0))
        elif action.option is not None:
            if rule.join is None or entries:
                out.add((action.kind, action.decision, action.option, action.points))
        else:
            out.update((action.kind, action.decision, e, action.points) for e in entries)
    return frozenset(out)


def model_rule(rule: Rule, rulebase: RuleBase, space: Space) -> RuleModel:
    """The rule's cases over the finite domains."""
    domains = space.domains
    plan_boxes = to_boxes(plan_condition(rule), domains)
    boxes = [m for b in to_boxes(rule.when, domains) for p in plan_boxes
             if (m := _meet(b, p)) is not None and space.satisfiable(m)]
    empty = [
        f"{c.subject} {OPERATORS[c.op].text} {c.value!r}"
        for c in (*_walk(rule.when), *_walk(plan_condition(rule)))
        if not _leaf(c, False, domains)
    ]
    model = RuleModel(rule, [], bool(boxes), empty)
    if rule.join is None:
        model.cases = [Case(b, _targets(rule, ())) for b in boxes]
        return model
    catalog = rulebase.catalogs[rule.join]
    refs = sorted({c.value.fact for c in _walk(rule.where) if isinstance(c.value, FactRef)})
    for box in boxes:
        grouped: dict[frozenset[Target], list[tuple[Any, ...]]] = {}
        pools = [sorted(box.get(f, domains[f]), key=repr) for f in refs]
        for values in itertools.product(*pools):
            world = dict(zip(refs, values, strict=True))
            matched = [e.id for e in catalog.entries if entry_matches(rule.where, e, world)]
            if matched:
                grouped.setdefault(_targets(rule, matched), []).append(values)
        for targets, assignments in grouped.items():
            if len(refs) == 1:
                model.cases.append(Case({**box, refs[0]: frozenset(a[0] for a in assignments)}, targets))
            else:
                model.cases.extend(
                    Case({**box, **{f: frozenset([v]) for f, v in zip(refs, a, strict=True)}}, targets)
                    for a in assignments
                )
    return model


# -- the linter --------------------------------------------------------------------------------------
def lint_rulebase(
    rulebase: RuleBase,
    *,
    today: dt.date | None = None,
    gaps: bool = True,
    gap_samples: int = 1500,
    seed: int = 0,
) -> list[Finding]:
    """Every finding for the rule base, sorted by file and line."""
    if today is None:


        today = dt.date.today()
    linter = _Linter(rulebase, today)
    linter.run(gaps=gaps, gap_samples=gap_samples, seed=seed)
    return sorted(set(linter.findings))


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding is an error (the CLI then exits 1)."""
    return any(f.level == "error" for f in findings)


def _show(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Linter:
    def __init__(self, rulebase: RuleBase, today: dt.date) -> None:
        self.rb = rulebase
        self.today = today
        self.space = Space(build_domains(rulebase))
        self.models = {r.id: model_rule(r, rulebase, self.space) for r in rulebase.rules()}
        self.findings: list[Finding] = []
        self._gap_memo: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}

    def add(self, where: Any, level: str, lint_id: str,  # noqa: PLR0917 - reads like the finding it makes
            rules: Sequence[str], message: str, fix: str) -> None:
        self.findings.append(
            Finding(where.file, where.line, where.col, level, lint_id, tuple(rules), message, fix)
        )

    def run(self, *, gaps: bool, gap_samples: int, seed: int) -> None:
        self.check_cycles()
        self.check_never_fires()
        self.check_pairs()
        self.check_pre_empted()
        self.check_unreachable_options()
        self.check_unused()
        self.check_sources()
        self.check_prices()
        if gaps:
            self.check_gaps(gap_samples, seed)

    def describe(self, box: Mapping[str, frozenset[Any]]) -> str:
        """The facts a box constrains, as people write them: ``priority in speed, memory; gpu_count 1``."""
        parts = []
        for fact in sorted(box):
            values = box[fact]
            if set(values) == set(self.space.domains[fact]):
                continue
            shown = sorted((_show(v) for v in values), key=str)
            parts.append(f"{fact} = {shown[0]}" if len(shown) == 1 else f"{fact} in {{{', '.join(shown)}}}")
        return ", ".join(parts) or "always"

    # -- cycles ------------------------------------------------------------------------------------
    def check_cycles(self) -> None:
        from engine.explain.recommendation import referenced_facts

        for rule in self.rb.rules():
            for fact in sorted(referenced_facts(rule)):
                spec = self.rb.facts.get(fact)
                if spec is None or spec.derived_stage is None:
                    continue
                if STAGES.index(spec.derived_stage) > STAGES.index(rule.stage):
                    self.add(
                        rule.loc,
                        "error",
                        "cycle",
                        [rule.id],
                        f"reads '{fact}', derived before the {spec.derived_stage} stage from decisions the "
                        f"{rule.stage} stage feeds, so the fact depends on this rule's own outcome",
                        f"move the rule to the {spec.derived_stage} stage or read a fact derived earlier",
                    )

    # -- never fires ------------------------------------------------------------------------------
    def check_never_fires(self) -> None:
        for model in self.models.values():
            rule = model.rule
            if not model.when_satisfiable:
                detail = (
                    f"; no value of the declared domain passes {'; '.join(model.empty_tests)}"
                    if model.empty_tests
                    else "; its tests contradict each other"
                )
                plan_only = bool(rule.plan) and bool(to_boxes(rule.when, self.space.domains)) and not to_boxes(
                    plan_condition(rule), self.space.domains)
                part, over = ("'plan'", "the plan axes' values") if plan_only else ("'when'", "the facts' domains")
                self.add(
                    rule.loc,
                    "error",
                    "never-fires",
                    [rule.id],
                    f"{part} can never hold over {over}{detail}",
                    f"correct the values or operators so that some {'plans' if plan_only else 'constraints'} "
                    f"satisfy {part}",
                )
            elif not model.cases and rule.join is not None:
                self.add(
                    rule.loc,
                    "error",
                    "never-fires",
                    [rule.id],
                    f"'where' matches no entry of catalog '{rule.join}', so the rule never fires",
                    f"correct the attribute values in 'where' against rules/catalog ({rule.join})",
                )

    # -- pairs: duplicate, subsumed, conflict, overlap ---------------------------------------------
    def implies(self, a: RuleModel, b: RuleModel) -> bool | None:
        """Whether b does everything a does, wherever a fires (None: too many worlds to decide)."""
        facts = a.facts | b.facts
        for case in a.cases:
            if self.space.size(case.box, facts) > MAX_WORLDS:
                return None
            for world in self.space.worlds(case.box, facts):
                if not case.targets <= targets_at(b, world):
                    return False
        return True

    def check_pairs(self) -> None:
        models = [m for m in self.models.values() if m.cases]
        for a, b in itertools.combinations(models, 2):
            if a.rule.stage != b.rule.stage:
                continue
            self.check_redundancy(a, b)
            self.check_disagreement(a, b)

    def check_redundancy(self, a: RuleModel, b: RuleModel) -> None:
        a_in_b = a.universe <= b.universe and self.implies(a, b)
        b_in_a = b.universe <= a.universe and self.implies(b, a)
        if a_in_b and b_in_a:
            self.add(
                b.rule.loc,
                "error",
                "duplicate",
                [a.rule.id, b.rule.id],
                f"'{b.rule.id}' has the same conditions and actions as '{a.rule.id}' "
                f"({a.rule.loc.file}:{a.rule.loc.line}); both fire together and count twice",
                "delete one of them or merge their sources into one rule",
            )
            return
        for inner, outer in ((a, b), (b, a)):
            if a_in_b if inner is a else b_in_a:
                scored = any(t[0] == "score" for t in inner.universe)
                consequence = "its score is added a second time" if scored else "it adds nothing"
                self.add(
                    inner.rule.loc,
                    "warning",
                    "subsumed",
                    [inner.rule.id, outer.rule.id],
                    f"whenever '{inner.rule.id}' fires, '{outer.rule.id}' ({outer.rule.loc.file}:"
                    f"{outer.rule.loc.line}) fires too with the same actions, so {consequence}",
                    f"delete '{inner.rule.id}', or give it a different action if the narrower case "
                    f"deserves more",
                )

    def check_disagreement(self, a: RuleModel, b: RuleModel) -> None:
        decisions = {t[1] for t in a.universe if t[0] != "warn"} & {
            t[1] for t in b.universe if t[0] != "warn"
        }
        if not decisions:
            return
        worst: tuple[int, str, str, str] | None = None
        for ca, cb in itertools.product(a.cases, b.cases):
            meet = _meet(ca.box, cb.box)
            if meet is None or not self.space.satisfiable(meet):
                continue
            for ta, tb in itertools.product(ca.targets, cb.targets):
                verdict = _disagree(ta, tb, a.rule.overrides_scores) or _disagree(tb, ta, b.rule.overrides_scores)
                if verdict is None:
                    continue
                if any(f.startswith(PLAN_PREFIX) for f in meet):
                    # limited to some plans: the planner chooses the others (the score counts there, the
                    # required option has plans the exclusion does not touch)
                    continue
                rank = 2 if verdict[0] == "conflict" else 1
                if worst is None or rank > worst[0]:
                    worst = (rank, verdict[0], verdict[1], self.describe(meet))
            if worst is not None and worst[0] == 2:
                break
        if worst is None:
            return
        _, lint_id, what, when = worst
        later = b if (b.rule.loc.file, b.rule.loc.line) >= (a.rule.loc.file, a.rule.loc.line) else a
        other = a if later is b else b
        if lint_id == "conflict":
            self.add(
                later.rule.loc,
                "error",
                "conflict",
                [other.rule.id, later.rule.id],
                f"{what} when {when}: no option is left consistent with both",
                "make the conditions exclusive (add the opposite test to one rule) or drop one action",
            )
        else:
            self.add(
                later.rule.loc,
                "warning",
                "overlap",
                [other.rule.id, later.rule.id],
                f"{what} when {when}; the exclusion wins, so the score never counts there",
                "if the exclusion is meant to win, exclude the overlap from the scoring rule's conditions",
            )

    # -- pre-empted ----------------------------------------------------------------------------------
    def excluders(self, decision: str, option: str) -> list[RuleModel]:
        """Rules that can take an option away: excluding it, or requiring another option."""
        out = []
        for model in self.models.values():
            if any(
                t[1] == decision
                and ((t[0] == "exclude" and t[2] == option) or (t[0] == "require" and t[2] != option))
                for t in model.universe
            ):
                out.append(model)
        return out

    def removed(
        self, decision: str, option: str, world: Mapping[str, Any], models: Sequence[RuleModel]
    ) -> bool:
        for model in models:
            for t in targets_at(model, world):
                if t[1] == decision and (
                    (t[0] == "exclude" and t[2] == option) or (t[0] == "require" and t[2] != option)
                ):
                    return True
        return False

    def always_removed(self, model: RuleModel, case: Case, decision: str, option: str) -> list[str] | None:
        """The rules that take ``option`` away in every world of ``case`` (None: not always, or "
        "undecidable)."""
        rivals = [
            m for m in self.excluders(decision, option) if m.rule.stage == model.rule.stage and m is not model
        ]
        facts = case.box.keys() | {f for m in rivals for f in m.facts}
        if not rivals or self.space.size(case.box, facts) > MAX_WORLDS:
            return None
        responsible: set[str] = set()
        everywhere = {m.rule.id for m in rivals}
        for world in self.space.worlds(case.box, facts):
            by = {m.rule.id for m in rivals if self.removed(decision, option, world, [m])}
            if not by:
                return None
            responsible |= by
            everywhere &= by
        # the rules that take it away in every world say it best; else every rule that takes part
        return [m.rule.id for m in rivals if m.rule.id in (everywhere or responsible)]

    def check_pre_empted(self) -> None:
        for model in self.models.values():
            favours = [t for t in model.universe if t[0] == "require" or (t[0] == "score" and t[3] > 0)]
            if not model.cases or len(favours) != len(model.universe):
                continue  # a rule that also warns, excludes or scores down always has some effect
            blockers: set[str] = set()
            for case in model.cases:
                for decision, option in sorted({(t[1], t[2]) for t in case.targets}):
                    removed_by = self.always_removed(model, case, decision, option)
                    if removed_by is None:
                        break
                    blockers.update(removed_by)
                else:
                    continue
                break
            else:
                self.add(
                    model.rule.loc,
                    "warning",
                    "pre-empted",
                    [model.rule.id, *sorted(blockers)],
                    f"whenever '{model.rule.id}' fires, the options it favours are already excluded by "
                    f"{', '.join(sorted(blockers))}, so it never changes a recommendation",
                    "narrow the excluding rule or delete this one",
                )

    # -- options never reachable ------------------------------------------------------------------------
    def check_unreachable_options(self) -> None:
        for name, spec in DECISIONS.items():
            catalog = self.rb.catalogs.get(spec.catalog)
            if catalog is None:
                continue
            for entry in catalog.entries:
                if spec.kind and entry.get("kind") != spec.kind:
                    continue
                rivals = [m for m in self.excluders(name, entry.id) if m.rule.stage == spec.stage]
                if not rivals:
                    continue
                facts = {f for m in rivals for f in m.facts}
                if self.space.size({}, facts) > MAX_WORLDS:
                    continue
                if all(self.removed(name, entry.id, w, rivals) for w in self.space.worlds({}, facts)):
                    self.add(
                        entry.loc,
                        "warning",
                        "unreachable-option",
                        sorted(m.rule.id for m in rivals),
                        f"{name} option '{entry.id}' is excluded in every situation, so it is never chosen",
                        "narrow the excluding rules, or delete the entry if it is kept only for reference",
                    )

    # -- unused facts and catalogs ------------------------------------------------------------------------
    def check_unused(self) -> None:
        from engine.explain.recommendation import referenced_facts

        read = set(ENGINE_READS)
        for rule in self.rb.rules():
            read |= referenced_facts(rule)
        facts_file = self._facts_file()
        for name, spec in self.rb.facts.items():
            if spec.derived_stage is None and name not in read:
                line, col = facts_file[1].get(name, (1, 1))
                self.add(
                    _At(facts_file[0], line, col),
                    "warning",
                    "unused-fact",
                    [],
                    f"constraint fact '{name}' is read by no rule and not by the engine, so giving it "
                    f"changes nothing",
                    "write a rule that reads it, or remove it from the fact schema",
                )
        used = set(ENGINE_CATALOGS) | {d.catalog for d in DECISIONS.values()}
        used |= {f.catalog for f in self.rb.facts.values() if f.type == "catalog"}
        used |= {r.join for r in self.rb.rules() if r.join}
        for name, catalog in sorted(self.rb.catalogs.items()):
            if name not in used and not catalog.read_by:
                self.add(
                    _At(catalog.file, 1, 1),
                    "warning",
                    "unused-catalog",
                    [],
                    f"catalog '{name}' ({len(catalog.entries)} entries) is read by no rule, fact, decision "
                    f"or the engine",
                    f"join it in a rule ('for: {name}'), keep it outside rules/catalog, or say who reads it "
                    "('read_by: ...')",
                )

    def _facts_file(self) -> tuple[str, dict[str, tuple[int, int]]]:
        root = Path(self.rb.root)
        path = root.parent / "facts" / "schema.yaml"
        if not path.is_file():
            from engine.language.loader import DEFAULT_FACTS

            path = DEFAULT_FACTS
        doc, _ = read_yaml(path, _display(path))
        if doc is None:
            return str(path), {}
        marks = {str(p[1]): doc.where(p) for p in doc.marks if len(p) == 2 and p[0] == "constraints"}
        return doc.file, marks

    # -- sources and prices -------------------------------------------------------------------------------
    def check_sources(self) -> None:
        for rule in self.rb.rules():
            if rule.source.strip().lower() in _PLACEHOLDER_SOURCES:
                shown = f"'{rule.source}'" if rule.source.strip() else "empty"
                self.add(
                    rule.loc,
                    "warning",
                    "missing-source",
                    [rule.id],
                    f"the rule's source is {shown}: nobody can check where its knowledge comes from",
                    "name the document, section or URL (and its date) the rule encodes",
                )
        for catalog in self.rb.catalogs.values():
            for entry in catalog.entries:
                if entry.source.strip().lower() in _PLACEHOLDER_SOURCES:
                    self.add(
                        entry.loc,
                        "warning",
                        "missing-source",
                        [],
                        f"{catalog.name} entry '{entry.id}' has source '{entry.source}'",
                        "name the document, section or URL (and its date) the entry comes from",
                    )

    def check_prices(self) -> None:
        catalog = self.rb.catalogs.get("platforms")
        doc = self._catalog_doc("platforms")
        if catalog is None or doc is None:
            return
        entries = doc.data.get("entries", []) if isinstance(doc.data, dict) else []
        for i, raw in enumerate(entries):
            if not isinstance(raw, dict):
                continue
            for j, record in enumerate(raw.get("prices") or []):
                if not isinstance(record, dict):
                    continue
                line, col = doc.where(("entries", i, "prices", j))
                where = _At(doc.file, line, col)
                label = f"{raw.get('id')} {record.get('gpu')} {record.get('tier', '')}".rstrip()
                try:
                    as_of = dt.date.fromisoformat(str(record.get("as_of")))
                except ValueError:
                    self.add(
                        where,
                        "warning",
                        "stale-price",
                        [],
                        f"price {label} has no valid as_of date ({record.get('as_of')!r})",
                        "add as_of: YYYY-MM-DD, the day the price was read",
                    )
                    continue
                age = (self.today - as_of).days
                if age > 365:
                    self.add(
                        where,
                        "warning",
                        "stale-price",
                        [],
                        f"price {label} ({record.get('usd_per_gpu_hour')} USD/GPU-hour) is dated {as_of}, "
                        f"{age} days before {self.today}",
                        "check the platform's current price and update "
                        "usd_per_gpu_hour and as_of (keep the old figure in price_observations)",
                    )
                if not str(record.get("source", "")).strip():
                    self.add(
                        where,
                        "warning",
                        "missing-source",
                        [],
                        f"price {label} has no source",
                        "name where the price was read",
                    )

    def _catalog_doc(self, name: str) -> Any:
        for path in iter_yaml_files([Path(self.rb.root) / "catalog"]):
            doc, _ = read_yaml(path, _display(path))
            if doc is not None and isinstance(doc.data, dict) and doc.data.get("catalog") == name:
                return doc
        return None

    # -- gaps ------------------------------------------------------------------------------------------
    def check_gaps(self, samples: int, seed: int) -> None:
        from engine.pipeline import Engine

        engine = Engine.for_rules(self.rb.root)
        # Failing combinations are grouped by what emptied the decision; the smallest of each group is
        # shrunk to a minimal example (constraints dropped while the decision stays empty), and groups whose
        # minimal examples agree are merged: errors per set of rules responsible, warnings per decision.
        raw: dict[tuple[str, str, tuple[str, ...]], list[dict[str, Any]]] = {}
        for constraints in gap_grid(self.rb, samples, seed):
            for gap in self._gaps_of(engine, constraints):
                raw.setdefault(gap, []).append(constraints)
        groups: dict[tuple[str, str, tuple[str, ...]], tuple[int, dict[str, Any], tuple[str, ...]]] = {}
        for (decision, level, _), combos in raw.items():
            first = min(combos, key=lambda c: (len(c), repr(sorted(c.items()))))
            example = self._shrink(engine, first, decision, level)
            causes = next(c for d, lv, c in self._gaps_of(engine, example) if (d, lv) == (decision, level))
            key = (decision, level, causes if level == "gap" else ())
            count, best, best_causes = groups.get(key, (0, example, causes))
            if (len(example), repr(sorted(example.items()))) < (len(best), repr(sorted(best.items()))):
                best, best_causes = example, causes
            groups[key] = (count + len(combos), best, best_causes)
        for (decision, level, _), (count, example, causes) in sorted(groups.items()):
            shown = ", ".join(f"{k}={_show(v)}" for k, v in sorted(example.items()))
            rule_causes = [c for c in causes if c in self.models]
            engine_causes = [c for c in causes if c not in self.models]
            where: Any = (
                self.models[rule_causes[0]].rule.loc
                if rule_causes
                else _At(self.rb.catalogs[DECISIONS[decision].catalog].file, 1, 1) if decision in DECISIONS
                else _At(next(rs.file for rs in self.rb.rulesets if rs.stage == "plan"), 1, 1)
            )
            by = (["rules"] if rule_causes else []) + (
                [f"the engine's checks ({', '.join(engine_causes)})"] if engine_causes else []
            )
            why = f"every option is excluded by {' and '.join(by)}" if by else "no option is chosen"
            message = f"no {decision} remains for {count} sampled combination(s), e.g. {shown}: {why}"
            if level == "gap":
                self.add(
                    where,
                    "error",
                    "gap",
                    rule_causes,
                    message,
                    f"let some {decision} survive these constraints, or add a rule that warns and names "
                    f"the conflicting constraints",
                )
            elif level == "gap-pinned":
                self.add(
                    where,
                    "warning",
                    "gap-pinned",
                    rule_causes,
                    f"{message}, although the user pinned it",
                    f"add a rule that warns when the pinned {decision} cannot work with these constraints",
                )
            elif level == "gap-explained":
                self.add(
                    where,
                    "warning",
                    "gap-explained",
                    rule_causes,
                    f"{message}; a rule tells the user why with a critical warning",
                    "nothing to do unless these constraints should be supported",
                )
            else:
                self.add(
                    where,
                    "warning",
                    "gap-no-fit",
                    rule_causes,
                    message + "; the model does not fit in memory",
                    "expected for a model this size; otherwise relax the memory settings in the example",
                )

    def _gaps_of(self, engine: Any, constraints: Mapping[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
        """(decision, level, causes) for each of tool, method, platform left without a choice (memoised)."""
        key = repr(sorted(constraints.items()))
        if key not in self._gap_memo:
            self._gap_memo[key] = self._evaluate_gaps(engine, constraints)
        return self._gap_memo[key]

    def _evaluate_gaps(
        self, engine: Any, constraints: Mapping[str, Any]
    ) -> list[tuple[str, str, tuple[str, ...]]]:
        try:
            rec = engine.recommend(constraints)
        except ConstraintError:
            return []
        if rec.plan is not None or rec.planning is None:
            return []
        reasons = rec.planning.blocked_reasons
        # "nothing fits in memory": the plans nearest to viable fail the memory check
        nothing_fits = any(r.check == "memory-fit" for r in reasons)
        causes = tuple(sorted({rule for r in reasons for rule in r.rules}))
        pinned = any(constraints.get(axis) is not None for axis in ("tool", "platform", "gpu", "gpu_count"))
        # a gap that a rule explains to the user with a critical warning is known and said
        explained = any(w.level == "critical" and w.rule for w in rec.warnings)
        level = ("gap-no-fit" if nothing_fits else "gap-pinned" if pinned
                 else "gap-explained" if explained else "gap")
        return [("plan", level, causes)]

    def _shrink(self, engine: Any, constraints: dict[str, Any], decision: str, level: str) -> dict[str, Any]:
        """Drop constraints one at a time while the same gap remains: a short example to read."""
        current = dict(constraints)
        changed = True
        while changed:
            changed = False
            for key in sorted(current):
                if key == "model":
                    continue
                trial = {k: v for k, v in current.items() if k != key}
                if any((d, lv) == (decision, level) for d, lv, _ in self._gaps_of(engine, trial)):
                    current, changed = trial, True
        return current


@dataclass(frozen=True)
class _At:
    file: str
    line: int
    col: int


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- the gap grid ------------------------------------------------------------------------------------
GAP_FIXED_PINS = (
    "tool",
    "platform",
    "gpu",
)  # pinned choices are drawn rarely: a pin may rightly leave nothing


def gap_grid(rulebase: RuleBase, samples: int, seed: int) -> list[dict[str, Any]]:
    """Constraint combinations for the gap check: a structured core plus a seeded random sample.

    The core crosses a few catalog models (small, mid, large, largest) with every method and GPU count;
    the sample draws every constraint from its lint domain (pins with probability 0.1 each).
    """
    domains = build_domains(rulebase)
    specs = {n: f for n, f in rulebase.facts.items() if f.derived_stage is None}
    models = rulebase.catalogs["models"].entries
    by_size = sorted(models, key=lambda e: float(e.get("params_b", 0) or 0))
    picks = []
    for target in (1, 8, 70, 1e9):
        best = min(by_size, key=lambda e: abs(float(e.get("params_b", 0) or 0) - target))
        if best.id not in picks:
            picks.append(best.id)
    methods = specs["method"].values if "method" in specs else ("auto",)
    grid: list[dict[str, Any]] = []
    for model, method, count in itertools.product(picks, methods, (None, 1, 2, 8)):
        combo: dict[str, Any] = {"model": model, "method": method}
        if count is not None:
            combo["gpu_count"] = count
        grid.append(combo)
    rng = random.Random(seed)
    model_ids = [e.id for e in models]
    skip = {"model", "model_params_b"}
    for _ in range(samples):
        combo = {"model": rng.choice(model_ids)}
        for name in sorted(specs):
            if name in skip:
                continue
            values = [v for v in domains.get(name, ()) if v is not None]
            if not values:
                continue
            if name in GAP_FIXED_PINS:
                if rng.random() < 0.1:
                    combo[name] = rng.choice(values)
            elif specs[name].default is None and rng.random() < 0.5:
                continue
            else:
                combo[name] = rng.choice(values)
        grid.append(combo)
    return grid


def _disagree(x: Target, y: Target, overrides_scores: str = "") -> tuple[str, str] | None:
    """How target x (an exclusion or requirement) clashes with y, as (lint id, description); an overlap
    with a score is no finding when x's rule says why it is meant to win (``overrides_scores``)."""
    if overrides_scores and y[0] == "score":
        return None
    return _clash(x, y)


def _clash(x: Target, y: Target) -> tuple[str, str] | None:
    kx, dx, ox, _ = x
    ky, dy, oy, py = y
    if dx != dy or kx not in ("exclude", "require"):
        return None
    if kx == "exclude" and ky == "require" and ox == oy:
        return "conflict", f"one excludes {dx} '{ox}' and the other requires it"
    if kx == "require" and ky == "require" and ox != oy:
        return "conflict", f"they require different {dx} options ('{ox}' and '{oy}')"
    if kx == "exclude" and ky == "score" and ox == oy and py > 0:
        return "overlap", f"one excludes {dx} '{ox}' and the other scores it {py:+g}"
    if kx == "require" and ky == "score" and ox != oy and py > 0:
        return "overlap", f"one requires {dx} '{ox}' and the other scores '{oy}' {py:+g}"
    return None
