"""The objective: how plans are compared, read from rules/catalog/objective.yaml — an ordered list of terms
per priority; the first term on which two plans differ decides (a DMN-style hit policy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.ir import RuleBase

TERMS = {
    "within_budget": "plans within budget first; over budget, the one least over",
    "score": "the rules' points for the plan, higher first",
    "cost": "total USD (or USD per million training tokens when the hours are unknown), lower first",
    "hours": "training time (or time per token), lower first",
    "order": "catalog order of the plan's values, the last tie-break",
}


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


def check_objective(rulebase: RuleBase) -> list[tuple[str, str]]:
    """(entry id, problem) for objective entries with unknown terms or priorities (for `tuneplan check`)."""
    problems: list[tuple[str, str]] = []
    priorities = set(rulebase.facts["priority"].values) if "priority" in rulebase.facts else set()
    for entry in rulebase.catalogs["objective"].entries:
        terms = entry.get("terms") or []
        if not isinstance(terms, list) or not terms:
            problems.append((entry.id, "needs a list of terms"))
            continue
        for term in terms:
            if term not in TERMS:
                problems.append((entry.id, f"unknown term '{term}'; terms: {', '.join(TERMS)}"))
        for priority in entry.get("priorities") or []:
            if priority not in priorities:
                problems.append((entry.id, f"unknown priority '{priority}'; priorities: {', '.join(sorted(priorities))}"))
    return problems
