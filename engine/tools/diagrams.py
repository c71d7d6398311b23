"""Diagrams of the rule base itself (not of one decision): an overview of rule sets with the facts
they read, the catalogs they join and the decisions they write, and one diagram per rule set.
Built as networkx graphs and drawn with the same DOT renderer conventions as decisions."""

from __future__ import annotations

import itertools

import networkx as nx

from engine.explain.recommendation import referenced_facts
from engine.explain.whynot import describe
from engine.language.decisions import DECISIONS
from engine.language.ir import Action, Comparison, Condition, Rule, RuleBase, RuleSet
from engine.render.dot import _q, _wrap

# which decision each derived fact is computed from (the estimators run between the stages)
_DERIVED_FROM = {"chosen_tool": "tool", "chosen_method": "method", "peak_gib": "method", "per_gpu_gib": "method",
                 "chosen_gradient_checkpointing": "tool", "chosen_sharding": "sharding", "chosen_tier": "tier",
                 "chosen_platform": "platform", "chosen_gpu": "gpu", "chosen_gpu_count": "gpu", "hours": "gpu",
                 "total_usd": "platform", "within_budget": "platform", "budget_margin_usd": "platform",
                 "price_age_days": "platform"}


def overview_graph(rulebase: RuleBase) -> nx.DiGraph:
    """Constraints → plan-stage rule sets → the plan's decisions (chosen together by the planner) → the chosen
    plan's facts → delivery rule sets → workflow and deployment; catalogs joined and warnings written."""
    g = nx.DiGraph()
    for ruleset in rulebase.rulesets:
        rs_node = f"ruleset:{ruleset.name}"
        g.add_node(rs_node, kind="ruleset", stage=ruleset.stage,
                   label=f"rule set {ruleset.name}\n{len(ruleset.rules)} rules")
        for rule in ruleset.rules:
            for fact in sorted(referenced_facts(rule)):
                spec = rulebase.facts.get(fact)
                if spec is not None and spec.derived_stage:
                    g.add_node(f"fact:{fact}", kind="derived", stage=spec.derived_stage, label=fact)
                    source = _DERIVED_FROM.get(fact)
                    if source:
                        g.add_edge(f"decision:{source}", f"fact:{fact}", kind="derives")
                else:
                    g.add_node(f"fact:{fact}", kind="fact", stage="input", label=fact)
                g.add_edge(f"fact:{fact}", rs_node, kind="reads")
            if rule.join:
                g.add_node(f"catalog:{rule.join}", kind="catalog", stage=ruleset.stage, label=f"catalog: {rule.join}")
                g.add_edge(f"catalog:{rule.join}", rs_node, kind="joins")
            for action in rule.actions:
                if action.kind == "warn":
                    g.add_node("warnings", kind="warning", stage="output", label="warnings")
                    g.add_edge(rs_node, "warnings", kind="writes")
                else:
                    spec_d = DECISIONS[action.decision]
                    g.add_node(f"decision:{action.decision}", kind="decision", stage=spec_d.stage,
                               label=f"decision: {action.decision}")
                    g.add_edge(rs_node, f"decision:{action.decision}", kind="writes")
    return g


def condition_text(cond: Condition | None) -> list[str]:
    """A condition as short lines for a diagram label."""
    if cond is None:
        return []
    if isinstance(cond, Comparison):
        return [describe(cond)]
    parts = [" ".join(condition_text(c)) for c in cond.items]
    if cond.kind == "not":
        return [f"not ({parts[0]})"]
    return parts if cond.kind == "all" else [" or ".join(f"({p})" for p in parts)]


def ruleset_graph(rulebase: RuleBase, ruleset: RuleSet) -> nx.DiGraph:
    """One rule set: each rule with its conditions, the facts it reads and what it concludes."""
    g = nx.DiGraph()
    for rule in ruleset.rules:
        node = f"rule:{rule.id}"
        lines = condition_text(rule.when)
        if rule.join:
            lines += [f"for each {rule.join}: " + "; ".join(condition_text(rule.where) or ["any"])]
        if rule.plan:
            lines += ["in plans with " + "; ".join(describe(c) for c in rule.plan)]
        g.add_node(node, kind="rule", stage=ruleset.stage, label=rule.id, conditions=lines)
        for fact in sorted(referenced_facts(rule)):
            g.add_node(f"fact:{fact}", kind="fact", stage="input", label=fact)
            g.add_edge(f"fact:{fact}", node, kind="reads")
        for action in rule.actions:
            target, label = _conclusion(rule, action)
            g.add_node(target, kind="warning" if action.kind == "warn" else "option", stage="output", label=label)
            g.add_edge(node, target, kind=action.kind)
    return g


def _conclusion(rule: Rule, action: Action) -> tuple[str, str]:
    if action.kind == "warn":
        return f"warning:{action.warning}", f"⚠ {action.warning}"
    what = action.option or f"matching {rule.join} entry"
    verb = {"exclude": "✗ exclude", "require": "✓ require", "score": f"{action.points:+g}"}[action.kind]
    return f"{action.decision}:{what}:{action.kind}", f"{verb} {action.decision}: {what}"


_STYLE = {
    "fact": 'shape=box, style="rounded,filled", fillcolor="#e8f1fb", color="#5b8bd0"',
    "derived": 'shape=box, style="rounded,filled,dashed", fillcolor="#eef7ee", color="#4e9a4e"',
    "catalog": 'shape=cylinder, style="filled", fillcolor="#f3e8fb", color="#8e5bd0"',
    "ruleset": 'shape=box, style="filled", fillcolor="#fff4d6", color="#c89b2c"',
    "rule": 'shape=box, style="filled", fillcolor="#fff4d6", color="#c89b2c"',
    "decision": 'shape=box, style="filled,bold", fillcolor="#1f4e79", fontcolor="white", color="#1f4e79"',
    "option": 'shape=ellipse, style="filled", fillcolor="#ffffff", color="#888888"',
    "warning": 'shape=note, style="filled", fillcolor="#fde2e1", color="#c0392b"',
}
_EDGE = {"exclude": 'color="#c0392b"', "require": 'color="#2e7d32"', "warn": 'color="#c0392b", style=dashed',
         "derives": 'color="#4e9a4e", style=dashed',
         "joins": 'color="#8e5bd0", style=dashed', "reads": 'color="#7a9cc6", arrowsize=0.6'}
_COLUMNS = ("input", "plan", "delivery", "output")
_COLUMN_TITLES = {"input": "Facts and catalogs", "plan": "1 · plan (rules judge plans; the planner chooses)",
                  "delivery": "2 · delivery (on the chosen plan)", "output": "Conclusions"}


def graph_dot(g: nx.DiGraph, title: str) -> str:
    """DOT text of a rule-base diagram: left to right, one column per stage, sorted for stable bytes."""
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    lines = ["digraph rulebase {",
             f"  graph [rankdir=LR, label={_q(title)}, labelloc=t, fontsize=16, fontname=\"Helvetica\", "
             "nodesep=0.2, ranksep=0.9, newrank=true];",
             '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];']
    for column in _COLUMNS:
        members = sorted(n for n, d in g.nodes(data=True) if d.get("stage") == column)
        if not members:
            continue
        lines.append(f"  subgraph cluster_{column} {{")
        lines.append(f'    label={_q(_COLUMN_TITLES[column])}; style="rounded"; color="#bbbbbb";')
        for node in members:
            data = g.nodes[node]
            label = str(data.get("label", node))
            if data.get("conditions"):
                label += "\n" + "\n".join(_wrap(str(c), 44) for c in data["conditions"])
            lines.append(f"    {ids[node]} [label={_q(label)}, {_STYLE.get(str(data.get('kind')), '')}];")
        lines.append("  }")
    for src, dst in sorted(g.edges):
        kind = str(g.edges[src, dst].get("kind", ""))
        lines.append(f"  {ids[src]} -> {ids[dst]} [{_EDGE.get(kind, '')}];")
    # invisible edges keep the stages in reading order: stage k's decisions left of stage k+1's rule sets
    stages = ("plan", "delivery")
    for before, after in itertools.pairwise(stages):
        decided = sorted(n for n, d in g.nodes(data=True) if d.get("kind") == "decision" and d.get("stage") == before)
        nxt = sorted(n for n, d in g.nodes(data=True) if d.get("kind") in ("ruleset", "derived")
                     and d.get("stage") == after)
        lines += [f"  {ids[a]} -> {ids[b]} [style=invis];" for a in decided for b in nxt]
    lines.append("}")
    return "\n".join(lines) + "\n"



def diagram_sources(rulebase: RuleBase, profiles: dict[str, dict[str, object]]) -> dict[str, str]:
    """Every diagram as DOT text, by file name: overview, one per rule set, and per profile decision its
    summary graph (what a reviewer pastes: profile-NAME-summary) and its complete provenance graph."""
    from engine.pipeline import REFERENCE_DATE, Engine

    out = {"overview.dot": graph_dot(overview_graph(rulebase), "tuneplan rule base: rule sets, facts, catalogs, "
                                                                  "decisions")}
    for ruleset in rulebase.rulesets:
        out[f"ruleset-{ruleset.name}.dot"] = graph_dot(ruleset_graph(rulebase, ruleset),
                                                       f"rule set {ruleset.name} ({ruleset.stage} stage): "
                                                       f"{ruleset.description}")
    engine = Engine.for_rules(rulebase.root)
    for name, facts in sorted(profiles.items()):
        rec = engine.recommend(facts, today=REFERENCE_DATE)  # committed diagrams must not age by themselves
        from engine.explain.provenance import summary_graph
        from engine.render.dot import render_dot
        title = f"tuneplan decision for facts/profiles/{name}.yaml (prices as of {REFERENCE_DATE})"
        out[f"profile-{name}.dot"] = render_dot(rec.graph, title)
        out[f"profile-{name}-summary.dot"] = render_dot(summary_graph(rec), f"{title}: summary", summary=True)
    return out
