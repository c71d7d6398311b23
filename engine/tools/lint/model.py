"""The shared model of a rule base as boxes over finite fact domains, in the spirit of decision-table analysis.

Every fact gets a finite domain: enum and catalog values, true/false, and for numbers the thresholds the rules
compare them with plus points between and beyond them (the partition the rules induce); the plan axes take
part as pseudo-facts named plan.<axis>. A rule's ``when`` becomes a union of boxes (fact -> allowed values);
joined rules evaluate ``where`` against every catalog entry. ``Space`` enumerates the possible worlds of a box
under the pipeline's invariants, so satisfiability, overlap and implication are decided exactly with the
operators' own ``evaluate``."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.language.conditions import holds
from engine.language.ir import CatalogEntry, Comparison, Condition, FactRef, FactSpec, Group, Rule, RuleBase
from engine.language.operators import OPERATORS
from engine.tools.lint.findings import show
from engine.tools.lint.invariants import INVARIANTS, Invariant

PLAN_PREFIX = "plan."   # plan axes take part in lint's boxes as pseudo-facts named plan.<axis>
MAX_WORLDS = 200_000  # an implication or coverage check larger than this is skipped, not guessed

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
    # `not` is logical negation, as compiled (engine/language/conditions.py, the one evaluator)
    return frozenset(v for v in domains.get(comp.subject, ()) if holds(comp, {comp.subject: v}) != negate)


def meet(a: Mapping[str, frozenset[Any]], b: Mapping[str, frozenset[Any]]) -> Box | None:
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
        boxes = [m for a in boxes for b in parts if (m := meet(a, b)) is not None]
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
def entry_matches(cond: Condition | None, entry: CatalogEntry, world: Mapping[str, Any]) -> bool:
    """Whether a catalog entry satisfies ``where`` given the fact values FactRefs read."""
    return holds(cond, world, entry=entry)


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
             if (m := meet(b, p)) is not None and space.satisfiable(m)]
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



def describe(space: Space, box: Mapping[str, frozenset[Any]]) -> str:
    """The facts a box constrains, as people write them: ``priority in speed, memory; gpu_count 1``."""
    parts = []
    for fact in sorted(box):
        values = box[fact]
        if set(values) == set(space.domains[fact]):
            continue
        shown = sorted((show(v) for v in values), key=str)
        parts.append(f"{fact} = {shown[0]}" if len(shown) == 1 else f"{fact} in {{{', '.join(shown)}}}")
    return ", ".join(parts) or "always"


def takes_away(target: Target, decision: str, option: str) -> bool:
    """Whether a target removes ``option`` of ``decision``: excluding it, or requiring another option."""
    return target[1] == decision and (
        (target[0] == "exclude" and target[2] == option) or (target[0] == "require" and target[2] != option)
    )


def excluders(models: Iterable[RuleModel], decision: str, option: str) -> list[RuleModel]:
    """Rules that can take an option away: excluding it, or requiring another option."""
    return [model for model in models if any(takes_away(t, decision, option) for t in model.universe)]


def removed(decision: str, option: str, world: Mapping[str, Any], models: Sequence[RuleModel]) -> bool:
    """Whether one of ``models`` takes the option away in ``world``."""
    return any(takes_away(t, decision, option) for model in models for t in targets_at(model, world))
