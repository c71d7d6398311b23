"""The lint registry and what lint derives: every lint id is registered once (level, description, family),
documented in docs/expert-tools.md, produced by a test in tests/tools/test_lint.py and accepted by --ignore; what
lint assumes the engine reads (engine/pipeline.py ENGINE_READS, ENGINE_CATALOGS) and guarantees (the
invariants) is checked against the engine's code and behaviour, so the two cannot drift apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

import engine.pipeline
from engine.decide.search import ESTIMATE_INPUTS
from engine.decide.space import PINNABLE
from engine.language.ir import RuleBase
from engine.pipeline import ENGINE_CATALOGS, ENGINE_READS, Engine
from engine.tools.lint import FAMILIES, LINTS, REGISTRY, family_of, lint_rulebase
from engine.tools.lint.context import Context
from engine.tools.lint.findings import At, Lint, Registry
from engine.tools.lint.invariants import INVARIANTS
from engine.tools.lint.unused import catalogs_read, facts_read

ROOT = Path(__file__).resolve().parents[2]
DOC_ROW = re.compile(r"^\| `(?P<id>[a-z-]+)` \| (?P<level>error|warning) \| `(?P<family>[a-z_]+)` \| "
                     r"(?P<description>.+) \|$")


# -- the registry ------------------------------------------------------------------------------------
def test_every_family_registers_its_ids_once() -> None:
    assert [family_of(m) for m in FAMILIES] == ["cycles", "never_fires", "pairs", "pre_empted", "unreachable",
                                                "unused", "sources", "prices", "gaps"]
    ids = [lint.id for m in FAMILIES for lint in m.LINTS]
    assert len(ids) == len(set(ids)) == len(REGISTRY)
    for module in FAMILIES:
        for lint in module.LINTS:
            assert REGISTRY[lint.id].family == family_of(module)
            assert REGISTRY[lint.id].level in ("error", "warning")
            assert REGISTRY[lint.id].description and "\n" not in REGISTRY[lint.id].description
    assert {i: r.description for i, r in REGISTRY.items()} == LINTS


def test_the_registry_refuses_a_second_registration_and_a_bad_level() -> None:
    with pytest.raises(ValueError, match="'gap' of b is already registered by a"):
        Registry([("a", [Lint("gap", "error", "x")]), ("b", [Lint("gap", "warning", "y")])])
    with pytest.raises(ValueError, match="level 'info'"):
        Registry([("a", [Lint("gap", "info", "x")])])


def test_a_finding_of_an_unregistered_or_foreign_id_is_refused(rulebase: RuleBase) -> None:
    ctx = Context(rulebase, engine.pipeline.REFERENCE_DATE, REGISTRY)
    ctx.family = "prices"
    ctx.add(At("f", 1, 2), "stale-price", [], "m", "x")
    assert [str(f) for f in ctx.findings] == ["f:1:2: [warning] stale-price: -: m (fix: x)"]
    with pytest.raises(ValueError, match="reports lint id 'missing-source', registered by sources"):
        ctx.add(At("f", 1, 2), "missing-source", [], "m", "x")
    with pytest.raises(ValueError, match="reports lint id 'no-such-check', not registered"):
        ctx.add(At("f", 1, 2), "no-such-check", [], "m", "x")


def _untested(text: str) -> list[str]:
    """Registered ids that a test file neither filters findings by ("id") nor expects in a printed finding."""
    return [i for i in REGISTRY if not re.search(rf"\] {re.escape(i)}: |\"{re.escape(i)}\"", text)]


def test_every_registered_id_is_produced_by_a_test_case_in_test_lint() -> None:
    """A new check cannot land without a seeded case: tests/tools/test_lint.py names each id it makes lint find."""
    text = (ROOT / "tests" / "tools" / "test_lint.py").read_text(encoding="utf-8")
    assert _untested(text) == []
    without = text.replace('"gap-explained"', "").replace("] gap-explained: ", "")
    assert _untested(without) == ["gap-explained"]   # the scan would notice a missing case


def test_the_docs_list_exactly_the_registered_ids_with_their_level_family_and_description() -> None:
    doc = (ROOT / "docs" / "expert-tools.md").read_text(encoding="utf-8")
    section = doc.split("## `tuneplan lint`", 1)[1].split("\n## ", 1)[0]
    rows = [m.groupdict() for line in section.splitlines() if (m := DOC_ROW.match(line))]
    assert {r["id"]: (r["level"], r["family"], r["description"]) for r in rows} == {
        i: (r.level, r.family, r.description) for i, r in REGISTRY.items()
    }
    assert len(rows) == len(REGISTRY)


@pytest.mark.parametrize("lint_id", sorted(REGISTRY))
def test_ignore_accepts_every_registered_id(lint_id: str, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = cli("lint", "--no-gaps", "--ignore", lint_id)
    assert code == 0, err
    assert err.startswith("lint: 0 error(s)")


def test_ignore_of_an_unknown_id_is_a_usage_error_with_the_closest_id(
    cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli("lint", "--no-gaps", "--ignore", "overlapp")
    assert code == 2   # engine/errors.py: UsageError, as for every malformed command line
    assert out == ""
    assert "--ignore: unknown lint id 'overlapp' (did you mean 'overlap'?)" in err


# -- what the engine reads -----------------------------------------------------------------------------
ENGINE_CODE = [*sorted((ROOT / "engine" / "pipeline").glob("*.py")), *sorted((ROOT / "engine" / "decide").glob("*.py")),
               *sorted((ROOT / "engine" / "estimate").glob("*.py")), *sorted((ROOT / "engine" / "inputs").glob("*.py"))]
FACT_READ = re.compile(r"\bfacts(?:\.get\(|\[)\s*\"([a-z_]+)\"")
CATALOG_READ = re.compile(r"\bcatalogs(?:\.get\(|\[)\s*\"([a-z_-]+)\"")


def test_every_fact_the_engine_reads_by_name_is_declared() -> None:
    read = {name for path in ENGINE_CODE for name in FACT_READ.findall(path.read_text(encoding="utf-8"))}
    assert {"model", "budget_usd", "train_hours", "priority", "seq_len"} <= read   # the scan sees the reads
    assert read - ENGINE_READS == set()


def test_the_declared_reads_are_constraint_facts_and_the_pins_are_the_schemas(rulebase: RuleBase) -> None:
    constraints = {n for n, f in rulebase.facts.items() if f.derived_stage is None}
    assert ENGINE_READS - constraints == set()
    assert set(PINNABLE) | set(ESTIMATE_INPUTS) <= ENGINE_READS
    # facts/schema.yaml: "a constraint of the same name pins the axis"
    assert set(PINNABLE) == set(rulebase.plan_axes) & constraints


def test_a_fact_dropped_from_the_declaration_is_reported_unused(
    rulebase: RuleBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lint reads the declaration itself: each declared fact that no shipped rule reads is kept from
    unused-fact only by being declared."""
    by_rules = facts_read(rulebase) - ENGINE_READS | {f for r in rulebase.rules() for f in r.reads}
    engine_only = sorted(ENGINE_READS - by_rules)
    assert engine_only   # e.g. epochs, batch_size: read by the estimators, by no rule
    for name in engine_only:
        monkeypatch.setattr(engine.pipeline, "ENGINE_READS", ENGINE_READS - {name})
        unused = [f for f in lint_rulebase(rulebase, gaps=False) if f.lint_id == "unused-fact"]
        assert [f"constraint fact '{name}'" in f.message for f in unused] == [True], (name, unused)


def test_every_catalog_the_engine_reads_by_name_counts_as_read(rulebase: RuleBase) -> None:
    code = [*ENGINE_CODE, *sorted((ROOT / "engine").rglob("*.py"))]
    read = {name for path in code for name in CATALOG_READ.findall(path.read_text(encoding="utf-8"))}
    assert {"memory", "objective", "citations", "tool-configs", "gpus"} <= read
    unaccounted = {n for n in read if n not in catalogs_read(rulebase) and not rulebase.catalogs[n].read_by}
    assert unaccounted == set()
    assert read >= ENGINE_CATALOGS   # nothing declared that no code reads


@pytest.mark.parametrize("name", sorted(ENGINE_CATALOGS))
def test_a_catalog_dropped_from_the_declaration_is_reported_unused_unless_read_otherwise(
    name: str, rulebase: RuleBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine.pipeline, "ENGINE_CATALOGS", ENGINE_CATALOGS - {name})
    unused = [f.message for f in lint_rulebase(rulebase, gaps=False) if f.lint_id == "unused-catalog"]
    if name in catalogs_read(rulebase) or rulebase.catalogs[name].read_by:
        assert unused == []   # also a plan axis', a decision's, a catalog fact's or a join's catalog
    else:
        assert [m.startswith(f"catalog '{name}' ") for m in unused] == [True]


# -- what the engine guarantees -------------------------------------------------------------------------
def test_the_invariants_name_declared_facts(rulebase: RuleBase) -> None:
    """Space drops an invariant over an unknown fact silently; a renamed fact must fail here instead."""
    for invariant in INVARIANTS:
        assert set(invariant.facts) <= set(rulebase.facts), invariant.why


def test_every_recommendation_satisfies_the_invariants(rulebase: RuleBase) -> None:
    """The relations lint assumes are what the engine does: each pin and budget, with and without a plan."""
    run = Engine.for_rules(ROOT / "rules")
    combos: list[dict[str, object]] = []
    for model in ("llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b"):
        for axis in ("method", "tool", "platform", "gpu"):
            spec = rulebase.facts[axis]
            values = spec.values if spec.type == "enum" else rulebase.catalogs[spec.catalog].ids()
            combos += [{"model": model, axis: v, "gpu_count": 1} for v in values]
        combos += [{"model": model, "budget_usd": b, "train_hours": 5} for b in (0, 1, 1000)]
    without_plan = 0
    for combo in combos:
        report = run.recommend(combo)
        without_plan += report.plan is None
        world = {**report.facts, **report.derived}
        for invariant in INVARIANTS:
            values = {f: world.get(f) for f in invariant.facts}
            assert invariant.holds(values), (invariant.why, combo, values)
    assert 0 < without_plan < len(combos)   # both kinds of outcome were checked
