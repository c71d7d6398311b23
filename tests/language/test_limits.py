"""durable-rules' C core crashes or hangs on rules past some sizes (issue 17: an `any` of 61 comparisons,
nesting 20 deep, an `in` of 512 values, tens of thousands of variants). The loader refuses a rule past the
safe limits with its location and what to do, so that "check ok" means "recommend will run". One boundary test
per limit: at the limit it loads and recommends; one past, it is refused (and never reaches the C core)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import RuleFileError, load_rules
from engine.language.ir import Comparison, Condition, Group, Location
from engine.language.limits import MAX_NESTING, MAX_TERMS_PER_PATTERN, MAX_VARIANTS, rule_cost
from engine.language.operators import OPERATORS
from engine.pipeline import Engine
from engine.runtime.compiler import pattern_size

ROOT = Path(__file__).resolve().parents[2]


def _rules_with(tmp_path: Path, rule: str) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "facts", tmp_path / "facts")
    (tmp_path / "rules" / "sets" / "big.yaml").write_text(
        "ruleset: big\nstage: plan\ndescription: a big rule\nsource: test\nrules:\n" + rule, encoding="utf-8")
    return tmp_path / "rules"


def _any_of(count: int) -> str:
    tests = ", ".join(f"{{seq_len: {16 + i}}}" for i in range(count))
    return (f"  - id: big-any\n    description: many alternatives\n    when: {{any: [{tests}]}}\n"
            f"    then: {{score: {{tool: {{trl: 1}}}}}}\n    because: big\n")


def _in_of(count: int) -> str:
    values = ", ".join(str(16 + i) for i in range(count))
    return (f"  - id: big-in\n    description: a long list\n    when: {{seq_len: {{in: [{values}]}}}}\n"
            f"    then: {{score: {{tool: {{trl: 1}}}}}}\n    because: big\n")


def _nested(depth: int) -> str:
    cond = "{seq_len: 2048}"
    for level in range(depth):
        kind = "all" if level % 2 else "any"
        cond = f"{{{kind}: [{cond}, {{batch_size: {level + 1}}}]}}"
    return (f"  - id: big-nest\n    description: deep nesting\n    when: {cond}\n"
            f"    then: {{score: {{tool: {{trl: 1}}}}}}\n    because: big\n")


def _variants(facts: list[tuple[str, str]]) -> str:
    where = ", ".join(f"{attr}: {{contains: {{fact: {fact}}}}}" for attr, fact in facts)
    return (f"  - id: big-variants\n    description: expanded per enum value\n    for: tools\n    where: {{{where}}}\n"
            f"    then: {{score: {{tool: 1}}}}\n    because: big\n")


def _loads_and_recommends(rules: Path) -> None:
    rulebase = load_rules(rules)
    rec = Engine.for_rules(rulebase.root).recommend({"model": "llama-3.1-8b", "seq_len": 16})
    assert rec.plan is not None


def _refused(rules: Path, needle: str) -> str:
    with pytest.raises(RuleFileError) as caught:
        load_rules(rules)
    text = str(caught.value)
    assert "big.yaml:6:5: rule 'big-" in text and needle in text, text
    return text


def test_an_any_at_the_comparison_limit_runs(tmp_path: Path) -> None:
    _loads_and_recommends(_rules_with(tmp_path, _any_of(MAX_TERMS_PER_PATTERN - 1)))


def test_an_any_past_the_comparison_limit_is_refused(tmp_path: Path) -> None:
    text = _refused(_rules_with(tmp_path, _any_of(61)), "comparisons")
    assert "61 comparisons" in text or "62 comparisons" in text


def test_an_in_list_past_the_limit_is_refused_before_it_can_freeze(tmp_path: Path) -> None:
    _refused(_rules_with(tmp_path, _in_of(512)), "use between/gte/lte for ranges")


def test_an_in_list_at_the_limit_runs(tmp_path: Path) -> None:
    _loads_and_recommends(_rules_with(tmp_path, _in_of(MAX_TERMS_PER_PATTERN - 1)))


def test_nesting_at_the_limit_runs(tmp_path: Path) -> None:
    _loads_and_recommends(_rules_with(tmp_path, _nested(MAX_NESTING - 1)))


def test_nesting_past_the_limit_is_refused(tmp_path: Path) -> None:
    _refused(_rules_with(tmp_path, _nested(20)), "levels deep")


def test_variants_at_the_limit_run(tmp_path: Path) -> None:
    # tools' interface (5 values) x export with deploy (6 values) = 30 copies
    assert MAX_VARIANTS >= 30
    _loads_and_recommends(_rules_with(tmp_path, _variants([("interface", "interface"), ("export", "deploy")])))


def test_variants_past_the_limit_are_refused(tmp_path: Path) -> None:
    # x best_for with priority (7 values) = 210 copies
    _refused(_rules_with(tmp_path, _variants([("interface", "interface"), ("export", "deploy"),
                                              ("best_for", "priority")])), "copies")


# -- the loader's sizes are the compiled patterns' sizes -----------------------------------------------------
_LOC = Location("generated.yaml", 1, 1)
_VALUES = {"scalar": st.sampled_from(["a", "b", 3]), "number": st.integers(0, 9),
           "list": st.lists(st.integers(0, 9), min_size=1, max_size=4), "bool": st.booleans()}


def _comparisons() -> st.SearchStrategy[Comparison]:
    return st.sampled_from(sorted(OPERATORS)).flatmap(lambda op: st.builds(
        Comparison, st.just("seq_len"), st.just(op), _VALUES[OPERATORS[op].operand], st.just(_LOC)))


_CONDITIONS = st.recursive(_comparisons(), lambda inner: st.one_of(
    st.builds(Group, st.sampled_from(["all", "any"]), st.lists(inner, min_size=1, max_size=4).map(tuple),
              st.just(_LOC)),
    st.builds(Group, st.just("not"), st.tuples(inner), st.just(_LOC))), max_leaves=12)


def test_the_sizes_of_every_shipped_rule_are_its_compiled_sizes() -> None:
    rulebase = load_rules(ROOT / "rules")
    for rule in rulebase.rules():
        assert (rule_cost(rule, rulebase.facts).terms, rule_cost(rule, rulebase.facts).depth) == \
            pattern_size(rule), rule.id


@settings(max_examples=300, deadline=None)
@given(when=_CONDITIONS, where=_CONDITIONS)
def test_the_sizes_of_any_condition_are_its_compiled_sizes(when: Condition, where: Condition) -> None:
    rulebase = load_rules(ROOT / "rules")
    joined = next(r for r in rulebase.rules() if r.join is not None)
    planned = next(r for r in rulebase.rules() if r.plan)
    for rule in (replace(joined, when=when, where=where), replace(planned, when=when), replace(joined, when=None)):
        cost = rule_cost(rule, rulebase.facts)
        assert (cost.terms, cost.depth) == pattern_size(rule)


@pytest.mark.parametrize("where", ["{id: {in: null}}", "{}"])
def test_a_misshapen_or_empty_where_is_a_located_problem_not_a_crash(tmp_path: Path, where: str) -> None:
    """Found by tests/runtime/test_fuzz.py: `in: null` crashed the size check and `where: {}` (an empty all) the IR walk,
    where the schema had already said what is wrong."""
    rule = (f"  - id: odd-where\n    description: odd\n    for: tools\n    where: {where}\n"
            f"    then: {{score: {{tool: 1}}}}\n    because: odd\n")
    with pytest.raises(RuleFileError) as info:
        load_rules(_rules_with(tmp_path, rule))
    assert [p.file.endswith("big.yaml") and p.line == 9 for p in info.value.problems] == [True]
