"""Compile the IR into durable-rules ruleset definitions (JSON data, one ruleset per stage).

Encoding: the constraint and derived facts of an evaluation are one fact whose ``tp_fact`` is ``ctx``;
each catalog entry a rule joins is one fact whose ``tp_fact`` is ``cat:<catalog>`` and whose id is in
``tp_entry`` (so that catalog attributes named ``kind`` or ``id`` keep their meaning). A rule is one pattern
(``m``) on the ctx fact, or two (``x`` on ctx, ``e`` on the entry) when it has ``for``. A rule with ``plan:``
adds one pattern (``p0``, ``p1`` ...) per plan axis it tests, on facts that each hold one value of that axis
(``tp_fact`` ``plan:<axis>``), so that durable-rules evaluates the plan tests once per value, not once per
candidate plan. Two housekeeping rules per stage keep durable-rules' quirks away: one that always fires on the
ctx fact (deleting a session where nothing fired crashes), and for every joined catalog and plan axis a "sink"
that stores its facts without firing (a fact that no rule matches raises MessageNotHandledException)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from engine.language.ir import STAGES, Comparison, Condition, FactRef, Rule, RuleBase
from engine.language.limits import list_refs, tree_size
from engine.language.operators import OPERATORS

FACT_KEY = "tp_fact"     # which kind of fact: ctx or cat:<catalog>
ENTRY_KEY = "tp_entry"   # a catalog entry's id
RESERVED_KEYS = (FACT_KEY, ENTRY_KEY, "sid", "id")
CTX_KIND = "ctx"
ALWAYS_RULE = "tp--ctx-seen"
SINK_PREFIX = "tp--sink-"
_NEVER_KIND = "tp--never"


@dataclass(frozen=True)
class CompiledStage:
    """One stage as a durable-rules definition, plus what the runtime needs to feed it."""

    stage: str
    name: str                       # versioned ruleset name: stage + content hash
    definition: Any                 # {rule_name: {"all": [...]}}; actions are attached by the runtime
    rules: Any                      # rule id -> Rule
    joined_catalogs: tuple[str, ...]
    plan_axes: tuple[str, ...] = ()  # plan axes whose values are asserted as facts (rules with ``plan:``)


def entry_kind(catalog: str) -> str:
    """The ``tp_fact`` value of an asserted catalog entry fact."""
    return f"cat:{catalog}"


def plan_kind(axis: str) -> str:
    """The ``tp_fact`` value of an asserted plan-attribute value (one fact per value of the axis)."""
    return f"plan:{axis}"


def plan_pattern(index: int) -> str:
    """The durable-rules pattern name of a rule's ``index``-th plan axis (in ``Rule.plan_axes`` order)."""
    return f"p{index}"


def compile_rulebase(rulebase: RuleBase) -> tuple[CompiledStage, ...]:
    """Compile every stage of the rule base."""
    return tuple(compile_stage(rulebase, stage) for stage in STAGES)


def compile_stage(rulebase: RuleBase, stage: str) -> CompiledStage:
    """Compile the rules of one stage into a durable-rules ruleset definition."""
    rules = rulebase.rules_in_stage(stage)
    definition: dict[str, Any] = {ALWAYS_RULE: {"all": [{"m": {FACT_KEY: CTX_KIND}}]}}
    joined: list[str] = []
    axes: list[str] = []
    for rule in rules:
        for suffix, bound in _variants(rule, rulebase):
            definition[rule.id + suffix] = {"all": _patterns(rule, bound)}
        if rule.join and rule.join not in joined:
            joined.append(rule.join)
        axes.extend(a for a in rule.plan_axes if a not in axes)
    for kind in [entry_kind(c) for c in joined] + [plan_kind(a) for a in axes]:
        definition[SINK_PREFIX + kind] = {"all": [{"m": {FACT_KEY: kind}}, {"n": {FACT_KEY: _NEVER_KIND}}]}
    text = json.dumps(definition, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return CompiledStage(stage, f"tp-{stage}-{digest}", definition,
                         MappingProxyType({r.id: r for r in rules}), tuple(joined), tuple(axes))


VARIANT_SEP = "#"


def rule_id_of(rule_name: str) -> str:
    """The rule id of a compiled durable-rules rule name (variants carry a ``#value`` suffix)."""
    return rule_name.split(VARIANT_SEP, 1)[0]


def pattern_size(rule: Rule) -> tuple[int, int]:
    """Comparisons in the largest compiled pattern of ``rule`` and the deepest nesting: what
    engine/language/limits.py computes from the IR (tests/language/test_limits.py compares the two)."""
    terms, depth = 0, 0
    for pattern in _patterns(rule, {}):
        for body in pattern.values():
            n, d = tree_size(body, 0)
            terms, depth = max(terms, n), max(depth, d)
    return terms, depth


def _variants(rule: Rule, rulebase: RuleBase) -> list[tuple[str, dict[str, Any]]]:
    variants: list[tuple[str, dict[str, Any]]] = [("", {})]
    for fact in sorted(set(list_refs(rule.where))):
        values = rulebase.facts[fact].values
        variants = [(f"{suffix}{VARIANT_SEP}{value}", {**bound, fact: value})
                    for suffix, bound in variants for value in values]
    return variants


def _patterns(rule: Rule, bound: dict[str, Any]) -> list[dict[str, Any]]:
    ctx_terms: list[Any] = [{FACT_KEY: CTX_KIND}]
    if rule.when is not None:
        ctx_terms.append(_condition(rule.when, negate=False, on_entry=False, bound={}))
    ctx_terms.extend({fact: value} for fact, value in sorted(bound.items()))
    plan = [{plan_pattern(i): _and([{FACT_KEY: plan_kind(axis)},
                                     *(_condition(c, negate=False, on_entry=False, bound={})
                                       for c in rule.plan if c.subject == axis)])}
            for i, axis in enumerate(rule.plan_axes)]
    if rule.join is None:
        return [{"m": _and(ctx_terms)}, *plan] if not plan else [{"x": _and(ctx_terms)}, *plan]
    entry_terms: list[Any] = [{FACT_KEY: entry_kind(rule.join)}]
    if rule.where is not None:
        entry_terms.append(_condition(rule.where, negate=False, on_entry=True, bound=bound))
    return [{"x": _and(ctx_terms)}, {"e": _and(entry_terms)}, *plan]


def _and(terms: list[Any]) -> Any:
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _condition(cond: Condition, *, negate: bool, on_entry: bool, bound: dict[str, Any]) -> Any:
    if isinstance(cond, Comparison):
        op = OPERATORS[OPERATORS[cond.op].negation] if negate else OPERATORS[cond.op]
        value = not cond.value if negate and cond.op == "exists" else cond.value
        if isinstance(value, FactRef) and value.fact in bound:
            operand = bound[value.fact]
        elif isinstance(value, FactRef):
            operand = {"x": value.fact}
        else:
            operand = value
        key = attribute_key(cond.subject, on_entry)
        compiled = op.compile(key, operand)
        if negate and cond.op != "exists":
            # `not` is logical: it also holds when the fact or attribute is missing. ($nex must sit
            # inside an $and with another term: alone, durable-rules 2.0.28 loops forever.)
            return {"$or": [{"$nex": {key: 1}}, compiled]}
        return compiled
    if cond.kind == "not":
        return _condition(cond.items[0], negate=not negate, on_entry=on_entry, bound=bound)
    # De Morgan: a negated all is an any of negations, and the reverse.
    combinator = {"all": "$and", "any": "$or"}[cond.kind]
    if negate:
        combinator = "$or" if combinator == "$and" else "$and"
    parts = [_condition(item, negate=negate, on_entry=on_entry, bound=bound) for item in cond.items]
    return parts[0] if len(parts) == 1 else {combinator: parts}


def attribute_key(name: str, on_entry: bool) -> str:
    """The key an attribute has in the asserted fact (an entry's id is stored as ``tp_entry``)."""
    return ENTRY_KEY if on_entry and name == "id" else name
