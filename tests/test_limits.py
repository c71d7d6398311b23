"""durable-rules' C core crashes or hangs on rules past some sizes (issue 17: an `any` of 61 comparisons,
nesting 20 deep, an `in` of 512 values, tens of thousands of variants). The loader refuses a rule past the
safe limits with its location and what to do, so that "check ok" means "recommend will run". One boundary test
per limit: at the limit it loads and recommends; one past, it is refused (and never reaches the C core)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import RuleFileError, load_rules
from engine.pipeline import Engine
from engine.runtime.compiler import MAX_NESTING, MAX_TERMS_PER_PATTERN, MAX_VARIANTS

ROOT = Path(__file__).resolve().parent.parent


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
