"""Check family unused: a constraint fact no rule and no part of the engine reads, and a catalog no rule, fact,
decision, plan axis or the engine reads. What the engine reads is declared next to the code that reads it
(engine/pipeline/ ENGINE_READS and ENGINE_CATALOGS), the plan axes and catalog facts come from the fact
schema (facts/schema.yaml, as loaded into the RuleBase), the decisions from engine/language/decisions.py."""

from __future__ import annotations

from pathlib import Path

from engine.language.decisions import DECISIONS
from engine.language.ir import RuleBase
from engine.language.yamlsource import read_yaml
from engine.tools.lint.context import Context
from engine.tools.lint.findings import At, Lint, display

LINTS = (
    Lint("unused-fact", "warning", "a constraint fact no rule reads and the engine does not read "
         "(`ENGINE_READS` in `engine/pipeline/`)"),
    Lint("unused-catalog", "warning", "a catalog no rule, fact, plan axis, decision or the engine reads, and "
         "that says no other reader (`read_by:`)"),
)


def facts_read(rulebase: RuleBase) -> set[str]:
    """Every fact some rule reads or the engine reads itself."""
    from engine.explain.recommendation import referenced_facts
    from engine.pipeline import ENGINE_READS

    read = set(ENGINE_READS)
    for rule in rulebase.rules():
        read |= referenced_facts(rule)
    return read


def catalogs_read(rulebase: RuleBase) -> set[str]:
    """Every catalog the engine, a decision, a plan axis, a catalog fact or a rule's join reads (``read_by:``
    aside)."""
    from engine.pipeline import ENGINE_CATALOGS

    used = set(ENGINE_CATALOGS) | {d.catalog for d in DECISIONS.values()}
    used |= {a.catalog for a in rulebase.plan_axes.values() if a.type == "catalog"}
    used |= {f.catalog for f in rulebase.facts.values() if f.type == "catalog"}
    used |= {r.join for r in rulebase.rules() if r.join}
    return used


def check(ctx: Context) -> None:
    """An unused-fact finding per constraint nobody reads, an unused-catalog one per catalog nobody reads."""
    read = facts_read(ctx.rb)
    facts_file = _facts_file(ctx.rb)
    for name, spec in ctx.rb.facts.items():
        if spec.derived_stage is None and name not in read:
            line, col = facts_file[1].get(name, (1, 1))
            ctx.add(
                At(facts_file[0], line, col),
                "unused-fact",
                [],
                f"constraint fact '{name}' is read by no rule and not by the engine, so giving it "
                f"changes nothing",
                "write a rule that reads it, or remove it from the fact schema",
            )
    used = catalogs_read(ctx.rb)
    for name, catalog in sorted(ctx.rb.catalogs.items()):
        if name not in used and not catalog.read_by:
            ctx.add(
                At(catalog.file, 1, 1),
                "unused-catalog",
                [],
                f"catalog '{name}' ({len(catalog.entries)} entries) is read by no rule, fact, decision "
                f"or the engine",
                f"join it in a rule ('for: {name}'), keep it outside rules/catalog, or say who reads it "
                "('read_by: ...')",
            )


def _facts_file(rulebase: RuleBase) -> tuple[str, dict[str, tuple[int, int]]]:
    root = Path(rulebase.root)
    path = root.parent / "facts" / "schema.yaml"
    if not path.is_file():
        from engine.language.loader import DEFAULT_FACTS

        path = DEFAULT_FACTS
    doc, _ = read_yaml(path, display(path))
    if doc is None:
        return str(path), {}
    marks = {str(p[1]): doc.where(p) for p in doc.marks if len(p) == 2 and p[0] == "constraints"}
    return doc.file, marks
