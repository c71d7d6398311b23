"""The provenance graph of a recommendation (networkx DiGraph): constraint and derived facts →
the rules that matched them → the options they excluded, required or scored → the decisions.
Every node has ``kind``, ``label`` and ``stage``; every edge ``kind`` and ``label``. The DOT,
and through it the SVG/PNG, are drawn from this graph; JSON and markdown carry the same facts."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import networkx as nx

from engine.decide.tally import format_value
from engine.language.decisions import DECISIONS

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation

_DERIVED_FROM_DECISION = {"chosen_tool": "tool", "chosen_method": "method", "chosen_platform": "platform",
                          "chosen_gpu": "gpu", "chosen_gpu_count": "gpu", "chosen_sharding": "sharding",
                          "chosen_tier": "tier"}
GROUP_AT = 3   # this many options rejected by one rule or check are drawn as one node


def fact_node(name: str) -> str:
    """Node id of a constraint fact."""
    return f"fact:{name}"


def build_graph(rec: Recommendation) -> nx.DiGraph:
    """Build the provenance graph from the recommendation's trace and decisions."""
    g = nx.DiGraph(name="tuneplan decision")
    units = {n: f.unit for n, f in rec.rulebase.facts.items()}
    read = {name for step in rec.trace for name in step.matched()}

    def add_fact(name: str) -> str:
        node = fact_node(name) if name in rec.facts else f"derived:{name}"
        if node not in g:
            value = rec.facts[name] if name in rec.facts else rec.derived.get(name)
            kind = "fact" if name in rec.facts else "derived"
            g.add_node(node, kind=kind, stage="input" if kind == "fact" else "derived",
                       label=f"{name} = {format_value(value)}{_unit(units.get(name))}",
                       given=name in rec.given, how=rec.derived_how.get(name, ""))
            source = _DERIVED_FROM_DECISION.get(name)
            if source:
                g.add_edge(f"decision:{source}", node, kind="derives", label="")
        return node

    for name in sorted(rec.given | (read & set(rec.facts))):
        add_fact(name)
    for step in rec.trace:
        rule_node = f"rule:{step.rule.id}"
        g.add_node(rule_node, kind="rule", stage=step.stage, ruleset=step.rule.ruleset, label=step.rule.id,
                   because=step.because, source=step.rule.source)
        for name in step.matched():
            if name in rec.facts or name in rec.derived:
                g.add_edge(add_fact(name), rule_node, kind="matched", label="")
    for name, result in rec.decisions.items():
        _add_decision(g, rec, name, result)
    _add_hardware_selection(g, rec, add_fact)
    for warning in rec.warnings:
        if warning.rule and f"rule:{warning.rule}" in g:
            node = f"warning:{warning.id}"
            g.add_node(node, kind="warning", stage="outcome", label=f"⚠ {warning.id}", message=warning.message)
            g.add_edge(f"rule:{warning.rule}", node, kind="warns", label="warns")
    return g


def _add_decision(g: nx.DiGraph, rec: Recommendation, name: str, result: object) -> None:
    from engine.decide.tally import DecisionResult

    assert isinstance(result, DecisionResult)
    spec = DECISIONS[name]
    decision_node = f"decision:{name}"
    g.add_node(decision_node, kind="decision", stage="outcome",
               label=f"{spec.title}: {rec.entry_name(name, result.choice)}")
    # options rejected by the same rule or engine check (e.g. GPUs too small) are grouped into one node
    by_check: dict[tuple[str, str], list[str]] = defaultdict(list)
    for option in result.options.values():
        for effect in option.effects:
            if effect.kind in ("exclude", "note") and option.id != result.choice:
                by_check[(effect.rule_id, effect.kind)].append(option.id)
                break
    grouped = {key: ids for key, ids in by_check.items() if len(ids) >= GROUP_AT}
    grouped_ids = {i for ids in grouped.values() for i in ids}
    for (rule_id, kind), ids in sorted(grouped.items()):
        node = f"options:{name}:{rule_id}:{kind}"
        first = next(e.because for e in result.options[ids[0]].effects if e.rule_id == rule_id)
        note = kind == "note"   # viable options that lost a comparison, not excluded ones
        g.add_node(node, kind="option", status="ranked" if note else "excluded", stage="options", decision=name,
                   label=f"{len(ids)} {spec.catalog}: {', '.join(sorted(ids))}", why=[first])
        check = f"rule:{rule_id}" if f"rule:{rule_id}" in g else _check_node(g, rule_id, spec.stage, first)
        g.add_edge(check, node, kind="note" if note else "exclude", label="why not" if note else "excludes")
    for option in result.options.values():
        if option.id in grouped_ids or (not option.effects and option.id != result.choice):
            continue
        node = f"option:{name}:{option.id}"
        status = "chosen" if option.id == result.choice else "excluded" if option.excluded else "ranked"
        g.add_node(node, kind="option", status=status, stage="options", decision=name,
                   label=rec.entry_name(name, option.id) + (f" ({option.score:+g})" if option.score else ""),
                   why=[e.because for e in option.effects])
        if status == "chosen":
            g.add_edge(node, decision_node, kind="chosen", label="chosen")
        for effect in option.effects:
            rule_node = f"rule:{effect.rule_id}"
            if rule_node not in g:
                rule_node = _check_node(g, effect.rule_id, spec.stage, effect.because)
            label = {"exclude": "excludes", "require": "requires", "note": "why not"}.get(
                effect.kind, f"{effect.points:+g}")
            if (rule_node, node) not in g.edges:
                g.add_edge(rule_node, node, kind=effect.kind, label=label)


def _add_hardware_selection(g: nx.DiGraph, rec: Recommendation, add_fact: Any) -> None:
    """The planner: every candidate plan priced and checked, ordered by the declared objective; it selects
    the chosen plan's options (the comparisons it made are on each rejected option's "why not")."""
    plan, planning = rec.plan, rec.planning
    if plan is None or planning is None:
        return
    from engine.decide.comparisons import describe

    objective = planning.objective
    node = _check_node(g, "planner", "plan",
                       f"objective {objective.id} ({', '.join(objective.terms)}) over {planning.candidates} "
                       f"candidate plans, {planning.viable} viable: {describe(plan)}")
    if "peak_gib" in rec.derived:
        g.add_edge(add_fact("peak_gib"), node, kind="matched", label="")
    for decision in ("tool", "method", "gpu", "sharding", "platform", "tier"):
        target = f"option:{decision}:{rec.choice(decision)}"
        if target in g and (node, target) not in g.edges:
            g.add_edge(node, target, kind="require", label="selects")


def _check_node(g: nx.DiGraph, check_id: str, stage: str, because: str) -> str:
    """An engine check (memory fit, price) drawn like a rule."""
    node = f"rule:{check_id}"
    if node not in g:
        label = f"planner: {check_id.removeprefix('objective:')}" if check_id.startswith("objective:") \
            else f"{check_id} (engine)"
        g.add_node(node, kind="check", stage=stage, ruleset="planner and engine checks", label=label,
                   because=because, source="engine")
    return node


def _unit(unit: str | None) -> str:
    return f" {unit}" if unit in ("GiB", "USD", "hours", "tokens", "days") else ""


SUMMARY_DECISIONS = ("tool", "method", "gpu", "sharding", "platform", "tier", "workflow", "export", "serve", "merge")
SUMMARY_RULES = 2   # rules shown per decision: the ones that gave the chosen option the most points


def summary_graph(rec: Recommendation) -> nx.DiGraph:
    """The decision at a glance, as a view of the provenance graph: the given constraints → the few rules
    (or the planner's comparison) that decided each part of the plan → the chosen option → the decision,
    with the runner-up of each decision and the one reason it lost."""
    full = rec.graph
    g = nx.DiGraph(name="tuneplan decision (summary)")
    given = {n for n, d in full.nodes(data=True) if d.get("kind") == "fact" and d.get("given")}
    for name in SUMMARY_DECISIONS:
        decision = f"decision:{name}"
        if decision not in full:
            continue
        chosen = next((s for s, _, e in full.in_edges(decision, data=True) if e.get("kind") == "chosen"), None)
        g.add_node(decision, **full.nodes[decision])
        if chosen is None:
            continue
        g.add_node(chosen, **full.nodes[chosen])
        g.add_edge(chosen, decision, kind="chosen", label="chosen")
        deciders = sorted(((s, e) for s, _, e in full.in_edges(chosen, data=True)
                           if e.get("kind") in ("score", "require") and full.nodes[s].get("kind") == "rule"),
                          key=lambda item: (-_points(item[1]), item[0]))[:SUMMARY_RULES]
        if not deciders:   # no rule preferred it: the planner's comparison (objective) decided
            why = re.sub(r"its best plan \([^()]*\) ", "its best plan ",
                         str((full.nodes[chosen].get("why") or ["the objective's order"])[0]))
            check = f"why:{name}"
            g.add_node(check, kind="check", stage=_stage(name), ruleset="planner",
                       label="planner: objective", because=str(why))
            g.add_edge(check, chosen, kind="require", label="selects")
        for rule, edge in deciders:
            g.add_node(rule, **full.nodes[rule])
            g.add_edge(rule, chosen, **edge)
            for fact, _, fe in full.in_edges(rule, data=True):
                if fact in given:
                    g.add_node(fact, **full.nodes[fact])
                    g.add_edge(fact, rule, **fe)
        runner = _runner_up(rec, full, name)
        if runner is not None:
            node, label, status, reason = runner
            g.add_node(node, kind="option", status=status, stage="options", decision=name,
                       label=f"runner-up: {label}", why=[reason], summary=True)
            g.add_edge(node, decision, kind="note", label="lost")
    for fact in given - set(g.nodes):   # a given constraint no shown rule read still belongs on the page
        g.add_node(fact, **full.nodes[fact])
    return g


def _points(edge: dict[str, Any]) -> float:
    try:
        return abs(float(str(edge.get("label", "0")).replace("+", "")))
    except ValueError:
        return 100.0   # "requires"


def _stage(decision: str) -> str:
    return DECISIONS[decision].stage


def _runner_up(rec: Recommendation, full: nx.DiGraph, name: str) -> tuple[str, str, str, str] | None:
    """(node id, label, status, the one reason it lost) of the best option that was not chosen."""
    result = rec.decisions.get(name)
    if result is None or result.choice is None:
        return None
    ranked = [o for o in result.ranking() if o.id != result.choice]
    candidates = ranked or [o for o in result.options.values() if o.id != result.choice and o.excluded]
    for option in candidates:
        node = f"option:{name}:{option.id}"
        data = full.nodes.get(node)
        if data is None:   # drawn in a group node in the full graph: its reason is the group's
            data = next((d for n, d in full.nodes(data=True) if n.startswith(f"options:{name}:")
                         and option.id in str(d.get("label", "")).split(": ", 1)[-1].split(", ")), None)
        chosen = result.options.get(result.choice)
        requiring = {e.rule_id for e in chosen.effects if e.kind == "require"} if chosen is not None else set()
        against = [f"rule {e.rule_id} requires {rec.entry_name(name, result.choice)}: {e.because}"
                   if e.kind == "exclude" and e.rule_id in requiring else e.because
                   for e in option.effects if e.kind in ("note", "exclude") and e.because]
        why = against or ((data or {}).get("why") if data is not None and data.get("status") != "chosen" else None)
        if not why:
            continue
        status = "excluded" if option.excluded else "ranked"
        # the plan it stands for is on the option already; the comparison is what the reader needs
        reason = re.sub(r"^its best plan \([^()]*\) ", "its best plan ", str(why[0]))
        return f"runner:{name}", rec.entry_name(name, option.id), status, reason
    return None
