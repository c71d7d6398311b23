"""Graphviz DOT of a provenance graph (left to right, one column per stage, with a legend), and
SVG/PNG through the `dot` program. Output is sorted, so the same graph gives the same bytes."""

from __future__ import annotations

import textwrap
from functools import lru_cache

import networkx as nx

from engine.decide.tally import shorten
from engine.errors import RenderError

_STAGE_TITLES = {"plan": "1 · The plan: tool, method, GPU, platform", "delivery": "2 · Workflow and deployment"}
_NODE_STYLE = {
    "fact": 'shape=box, style="rounded,filled", fillcolor="#e8f1fb", color="#5b8bd0"',
    "derived": 'shape=box, style="rounded,filled,dashed", fillcolor="#eef7ee", color="#4e9a4e"',
    "rule": 'shape=box, style="filled", fillcolor="#fff4d6", color="#c89b2c"',
    "check": 'shape=box, style="filled,dashed", fillcolor="#fff4d6", color="#c89b2c"',
    "decision": 'shape=box, style="filled,bold", fillcolor="#1f4e79", fontcolor="white", color="#1f4e79"',
    "warning": 'shape=note, style="filled", fillcolor="#fde2e1", color="#c0392b"',
}
_OPTION_STYLE = {
    "chosen": 'shape=ellipse, style="filled,bold", fillcolor="#c8e6c9", color="#2e7d32"',
    "excluded": 'shape=ellipse, style="filled", fillcolor="#f5f5f5", color="#c0392b", fontcolor="#7f1d1d"',
    "ranked": 'shape=ellipse, style="filled", fillcolor="#ffffff", color="#888888"',
}
_EDGE_STYLE = {
    "exclude": 'color="#c0392b", fontcolor="#c0392b", style=bold',
    "require": 'color="#2e7d32", fontcolor="#2e7d32", style=bold',
    "score": 'color="#555555", fontcolor="#555555"',
    "note": 'color="#999999", fontcolor="#999999", style=dotted',
    "chosen": 'color="#2e7d32", penwidth=2',
    "matched": 'color="#7a9cc6", arrowsize=0.6',
    "derives": 'color="#4e9a4e", style=dashed',
    "warns": 'color="#c0392b", style=dashed',
}


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@lru_cache(maxsize=4096)
def _wrap(text: str, width: int = 34) -> str:
    """Lines of at most ``width`` characters, broken at word boundaries (memoised: labels repeat)."""
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def render_dot(graph: nx.DiGraph, title: str = "tuneplan decision", *, summary: bool = False) -> str:
    """The graph as DOT text, deterministic: constraints on the left, then the rules that fired
    (grouped by stage and rule set), the options they touched, and the decisions on the right. A
    ``summary`` graph (provenance.summary_graph) is drawn compact: one cluster per stage, short reasons."""
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph.nodes))}
    nodes = dict(sorted(graph.nodes(data=True)))
    lines = [
        "digraph tuneplan {",
        f"  graph [rankdir=LR, label={_q(title)}, labelloc=t, fontsize=18, fontname=\"Helvetica\", "
        "nodesep=0.18, ranksep=0.9, newrank=true, compound=true];",
        '  node [fontname="Helvetica", fontsize=11, margin="0.12,0.06"];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]

    def emit(members: list[str], indent: str) -> None:
        for node in members:
            lines.append(f"{indent}{ids[node]} [{_node_attrs(nodes[node], summary=summary)}];")

    facts = [n for n, d in nodes.items() if d.get("kind") == "fact"]
    if facts:
        lines += ["  subgraph cluster_constraints {", '    label="Constraints (given in bold)"; style="rounded"; '
                  'color="#5b8bd0"; fontsize=13;', "    { rank=same;"]
        emit(facts, "      ")
        lines += ["    }", "  }"]
    for stage, stage_title in _STAGE_TITLES.items():
        rules = [n for n, d in nodes.items() if d.get("kind") in ("rule", "check") and d.get("stage") == stage]
        if not rules:
            continue
        lines += [f"  subgraph cluster_{stage} {{", f'    label={_q(stage_title)}; style="rounded"; '
                  'color="#c89b2c"; fontsize=13;']
        if summary:
            for node in rules:
                lines.append(f"    {ids[node]} [{_node_attrs(nodes[node], summary=True)}];")
            lines.append("  }")
            continue
        for ruleset in sorted({str(nodes[n].get("ruleset", "")) for n in rules}):
            members = [n for n in rules if nodes[n].get("ruleset") == ruleset]
            lines += [f"    subgraph cluster_{stage}_{_slug(ruleset)} {{",
                      f'      label={_q("rule set " + ruleset if ruleset != "engine checks" else ruleset)}; '
                      'style="dashed"; color="#d9c08a"; fontsize=11;']
            emit(members, "      ")
            lines.append("    }")
        lines.append("  }")
    emit([n for n, d in nodes.items() if d.get("kind") in ("derived", "option")], "  ")
    outcome = [n for n, d in nodes.items() if d.get("kind") in ("decision", "warning")]
    if outcome:
        lines += ["  subgraph cluster_outcome {", '    label="Recommendation"; style="rounded"; color="#1f4e79"; '
                  'fontsize=13;']
        decisions = [n for n in outcome if nodes[n].get("kind") == "decision"]
        lines.append("    { rank=same;")
        emit(decisions, "      ")
        lines.append("    }")
        emit([n for n in outcome if n not in decisions], "    ")
        lines.append("  }")
    for src, dst in sorted(graph.edges):
        data = graph.edges[src, dst]
        style = _EDGE_STYLE.get(data.get("kind", ""), "")
        label = data.get("label", "")
        attrs = ", ".join(a for a in (style, f"label={_q(label)}" if label else "") if a)
        lines.append(f"  {ids[src]} -> {ids[dst]} [{attrs}];")
    if not summary:   # the summary's labels say what each node is (✓ chosen, runner-up: …, rule ids)
        lines.extend(_legend())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


def _node_attrs(data: dict[str, object], *, summary: bool = False) -> str:
    kind = str(data.get("kind", ""))
    label = str(data.get("label", ""))
    if kind in ("rule", "check") and data.get("because"):
        because = str(data["because"])
        label = f"{label}\n{_wrap(shorten(because, 110), 42)}" if summary else f"{label}\n{_wrap(because)}"
    if kind == "option" and data.get("summary") and data.get("why"):   # a runner-up and why it lost
        why = data["why"]
        first = str(why[0]) if isinstance(why, list) and why else ""
        label = f"{label}\n{_wrap(shorten(first, 120), 50)}"
    elif kind == "option" and data.get("status") == "excluded" and data.get("why"):
        why = data["why"]
        first = why[0] if isinstance(why, list) and why else ""
        label = f"✗ {label}\n{_wrap(shorten(str(first), 90), 36)}"
    elif kind == "option" and data.get("status") == "ranked" and data.get("why"):
        why = data["why"]
        first = str(why[0]) if isinstance(why, list) and why else ""
        if first and label[0].isdigit():  # a grouped "why not" node
            label = f"{_wrap(label, 50)}\n{_wrap(shorten(first, 90), 40)}"
    elif kind == "option" and data.get("status") == "chosen":
        label = f"✓ {label}"
    style = _OPTION_STYLE.get(str(data.get("status")), "") if kind == "option" else _NODE_STYLE.get(kind, "")
    if kind == "option" and data.get("summary"):
        style = 'shape=box, style="rounded,dashed", color="#999999", fontcolor="#444444"'
    if kind == "fact" and data.get("given"):
        style += ", penwidth=2, fontname=\"Helvetica-Bold\""
    tooltip = str(data.get("source", data.get("how", "")))
    extra = f", tooltip={_q(tooltip)}" if tooltip else ""
    return f"label={_q(label)}, {style}{extra}"


def _legend() -> list[str]:
    rows = [("fact", "constraint fact"), ("derived", "derived fact / estimate"), ("rule", "rule that fired"),
            ("decision", "decision")]
    lines = ["  subgraph cluster_legend {", '    label="Legend"; style="dashed"; color="#bbbbbb"; fontsize=11;']
    for i, (kind, text) in enumerate(rows):
        lines.append(f"    legend{i} [label={_q(text)}, {_NODE_STYLE[kind]}];")
    lines.append(f'    legend_chosen [label="✓ chosen option", {_OPTION_STYLE["chosen"]}];')
    lines.append(f'    legend_excluded [label="✗ rejected option", {_OPTION_STYLE["excluded"]}];')
    lines.append('    legend0 -> legend2 [label="matched", ' + _EDGE_STYLE["matched"] + "];")
    lines.append('    legend2 -> legend_excluded [label="excludes", ' + _EDGE_STYLE["exclude"] + "];")
    lines.append('    legend2 -> legend_chosen [label="+N score", ' + _EDGE_STYLE["score"] + "];")
    lines.append('    legend_chosen -> legend3 [label="chosen", ' + _EDGE_STYLE["chosen"] + "];")
    lines.append("  }")
    return lines


def dot_to(dot_text: str, fmt: str) -> bytes:
    """Render DOT to ``svg`` or ``png`` with Graphviz's `dot` program (through the graphviz package)."""
    import graphviz

    try:
        data: bytes = graphviz.Source(dot_text).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RenderError(f"cannot write .{fmt}: the Graphviz 'dot' program is not installed (apt-get install "
                          "graphviz, or brew install graphviz); .dot output works without it") from None
    except graphviz.CalledProcessError as exc:
        raise RenderError(f"Graphviz failed to render .{fmt}: {exc.stderr!r}") from None
    return data
