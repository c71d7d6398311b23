"""The decisions a recommendation makes: each chooses among the entries of one catalog, in one stage.

The decisions of the ``plan`` stage are plan axes: the planner chooses them together, as one plan.

A plain registry read by the loader (to check actions), the decision logic and the renderers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecisionSpec:
    """A decision: its options are the entries of ``catalog`` (optionally only those of ``kind``)."""

    name: str
    catalog: str
    stage: str
    title: str
    kind: str = ""


DECISIONS: dict[str, DecisionSpec] = {
    d.name: d
    for d in (
        DecisionSpec("tool", "tools", "plan", "Training tool"),
        DecisionSpec("method", "methods", "plan", "Method"),
        DecisionSpec("gpu", "gpus", "plan", "GPU"),
        DecisionSpec("sharding", "sharding", "plan", "Multi-GPU strategy"),
        DecisionSpec("platform", "platforms", "plan", "Platform"),
        DecisionSpec("tier", "tiers", "plan", "Price tier"),
        DecisionSpec("workflow", "workflows", "delivery", "Workflow"),
        DecisionSpec("export", "deployment", "delivery", "Export format", kind="export-format"),
        DecisionSpec("serve", "deployment", "delivery", "Serving", kind="server"),
        DecisionSpec("merge", "deployment", "delivery", "Merge", kind="merge-method"),
    )
}


def decision_for_catalog(catalog: str) -> list[DecisionSpec]:
    """The decisions whose options come from ``catalog``."""
    return [d for d in DECISIONS.values() if d.catalog == catalog]
