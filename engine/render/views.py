"""The recommendation ``recommend`` returns: the data (engine/explain/recommendation.py) with its views
as methods, each a pure function of engine/render/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.explain.recommendation import Recommendation
from engine.render.data import cached_dict
from engine.render.markdown import render_markdown
from engine.render.text import render_text


@dataclass
class Report(Recommendation):
    """An explained recommendation with its views. ``to_dict()`` is the JSON shape of CONTRACT.md."""

    def to_dict(self) -> dict[str, Any]:
        """The recommendation as JSON-ready data (see CONTRACT.md)."""
        return cached_dict(self)

    def to_text(self, *, verbose: bool = False) -> str:
        """A plain-text explanation for a terminal: one line per warning, or every note whole (``verbose``)."""
        return render_text(self, verbose=verbose)

    def to_markdown(self, graph_link: str | None = None) -> str:
        """A markdown explanation written for a design review."""
        return render_markdown(self, graph_link=graph_link)

    def to_dot(self, detail: str = "summary") -> str:
        """The decision graph in Graphviz DOT: ``summary`` (the decision at a glance: constraints, the rules
        that decided, each runner-up and why it lost) or ``full`` (every rule, option and check)."""
        from engine.render.dot import render_dot  # networkx and graphviz are paid for only when drawn
        if detail == "full":
            return render_dot(self.graph)
        from engine.explain.provenance import summary_graph
        return render_dot(summary_graph(self), "tuneplan decision (summary; --graph-detail full for every rule)",
                          summary=True)
