"""The provenance graph of a recommendation (networkx DiGraph): constraint and derived facts →
the rules that matched them → the options they excluded, required or scored → the decisions.
Every node has ``kind`` and ``label``; every edge has ``kind`` and ``label``. Renderers read this."""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from engine.decisions import DECISIONS
from engine.tally import format_value

if TYPE_CHECKING:
    from engine.recommendation import Recommendation

_DERIVED_FROM_DECISION = {"chosen_tool": "tool", "chosen_method": "method", "chosen_platform": "platform",
                          "chosen_gpu": "gpu", "chosen_gpu_count": "gpu"}


def fact_node(name: str) -> str:
    """Node id of a constraint fact."""
    return f"fact:{name}"


def build_graph(rec: Recommendation) -> nx.DiGraph:
    """Build the provenance graph from the recommendation's trace and decisions."""
    g = nx.DiGraph(name="tuneplan decision")
    units = {n: f.unit for n, f in rec.rulebase.facts.items()}
    for name, value in sorted(rec.facts.items()):
        g.add_node(fact_node(name), kind="fact", label=f"{name} = {format_value(value)}{_unit(units.get(name))}",
                   stage="input")
    for name, value in sorted(rec.derived.items()):
        g.add_node(f"derived:{name}", kind="derived", stage=_derived_stage(rec, name),
                   label=f"{name} = {format_value(value)}{_unit(units.get(name))}",
                   how=rec.derived_how.get(name, ""))
        source = _DERIVED_FROM_DECISION.get(name)
        if source:
            g.add_edge(f"decision:{source}", f"derived:{name}", kind="derives", label="")
    for step in rec.trace:
        rule_node = f"rule:{step.rule.id}"
        g.add_node(rule_node, kind="rule", stage=step.stage, ruleset=step.rule.ruleset, label=step.rule.id,
                   because=step.because, source=step.rule.source)
        for name in step.matched():
            src = fact_node(name) if name in rec.facts else f"derived:{name}"
            if src in g:
                g.add_edge(src, rule_node, kind="matched", label="")
    for name, result in rec.decisions.items():
        spec = DECISIONS[name]
        decision_node = f"decision:{name}"
        g.add_node(decision_node, kind="decision", stage=spec.stage,
                   label=f"{spec.title}: {rec.entry_name(name, result.choice)}")
        for option in result.options.values():
            if not option.effects and option.id != result.choice:
                continue
            node = f"option:{name}:{option.id}"
            status = "chosen" if option.id == result.choice else "excluded" if option.excluded else "ranked"
            g.add_node(node, kind="option", status=status, stage=spec.stage, decision=name,
                       label=f"{rec.entry_name(name, option.id)}" + (f" ({option.score:+g})" if option.score else ""),
                       why=[e.because for e in option.effects])
            if status == "chosen":
                g.add_edge(node, decision_node, kind="chosen", label="chosen")
            for effect in option.effects:
                rule_node = f"rule:{effect.rule_id}"
                if rule_node not in g:
                    g.add_node(rule_node, kind="check", stage=spec.stage, ruleset="engine checks",
                               label=effect.rule_id, because=effect.because, source="engine")
                label = {"exclude": "excludes", "require": "requires", "note": "why not"}.get(
                    effect.kind, f"{effect.points:+g}")
                if g.has_edge(rule_node, node):
                    continue
                g.add_edge(rule_node, node, kind=effect.kind, label=label)
    for warning in rec.warnings:
        if warning.rule and f"rule:{warning.rule}" in g:
            node = f"warning:{warning.id}"
            g.add_node(node, kind="warning", stage="delivery", label=warning.id, message=warning.message)
            g.add_edge(f"rule:{warning.rule}", node, kind="warns", label="warns")
    return g


def _unit(unit: str | None) -> str:
    if not unit or unit in ("GPUs",):
        return ""
    return f" {unit}" if unit in ("GiB", "USD", "hours", "tokens", "days") else ""


def _derived_stage(rec: Recommendation, name: str) -> str:
    spec = rec.rulebase.facts.get(name)
    return spec.derived_stage or "choice" if spec else "choice"
