"""The objective: how plans are compared, read from rules/catalog/objective.yaml — an ordered list of terms
per priority; the first term on which two plans differ decides (a DMN-style hit policy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.language.ir import RuleBase


@dataclass(frozen=True)
class Objective:
    """The terms that order plans, for one priority."""

    id: str
    name: str
    terms: tuple[str, ...]
    source: str


def objective_for(rulebase: RuleBase, facts: Mapping[str, Any]) -> Objective:
    """The objective entry whose ``priorities`` list the user's priority (the default entry otherwise)."""
    priority = str(facts.get("priority", "any"))
    entries = rulebase.catalogs["objective"].entries
    chosen = next((e for e in entries if priority in (e.get("priorities") or [])), None)
    chosen = chosen or next((e for e in entries if e.id == "default"), entries[0])
    terms = tuple(str(t) for t in chosen.get("terms") or ())
    if "order" not in terms:  # a total order: the catalog order always breaks the last tie
        terms = (*terms, "order")
    return Objective(chosen.id, str(chosen.get("name", chosen.id)), terms, chosen.source)
