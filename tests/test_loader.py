"""Loading and checking rule directories: every problem, located, with a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import RuleFileError, load_rules
from engine.ir import Comparison, Group, RuleBase

GOOD_RULE = """\
ruleset: extra
stage: plan
description: Seeded rules for loader tests.
source: tests
rules:
"""


def write_set(rules: Path, body: str, name: str = "extra.yaml") -> Path:
    path = rules / "sets" / name
    path.write_text(GOOD_RULE + body)
    return path


def errors_of(rules: Path) -> list[str]:
    with pytest.raises(RuleFileError) as info:
        load_rules(rules)
    return [f"{Path(p.file).name}:{p.line}:{p.col}: {p.message}" for p in info.value.problems]


def test_shipped_rules_load(rulebase: RuleBase) -> None:
    assert {rs.name for rs in rulebase.rulesets} >= {"tool", "method"}
    assert all(rule.source for rule in rulebase.rules())
    rule = rulebase.rule("tool-multi-gpu-limited")
    assert rule.join == "tools"
    assert isinstance(rule.when, Comparison) and (rule.when.subject, rule.when.op, rule.when.value) == (
        "gpu_count", "gt", 1)


def test_misspelt_fact_is_located_with_suggestion(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-typo
    description: A misspelt fact.
    when: {gpu_cnt: {gt: 1}}
    then: {score: {tool: {trl: 1}}}
    because: typo
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:8:12: rule 'extra-typo': unknown fact 'gpu_cnt' (did you mean 'gpu_count'?)"]


def test_unknown_key_and_unknown_catalog_id(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-two
    description: Two problems.
    whne: {gpu_count: 2}
    then: {exclude: {tool: [unslot]}}
    because: two
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:8:5: unknown key 'whne' (did you mean 'when'?); allowed here: id, description, source, for, "
        "when, where, then, because",
        "extra.yaml:9:29: rule 'extra-two': decision 'tool' has no option 'unslot' (did you mean 'unsloth'?)",
    ]


def test_duplicate_rule_id_across_files(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: tool-multi-gpu-limited
    description: Same id as the shipped rule.
    when: {gpu_count: 2}
    then: {score: {tool: {trl: 1}}}
    because: dup
""")
    (problem,) = errors_of(rules_copy)
    assert problem.startswith("tool.yaml:6:5: rule 'tool-multi-gpu-limited': duplicate rule id (also in ")
    assert problem.endswith("extra.yaml:6)")


def test_bad_enum_value_wrong_stage_and_unknown_attribute(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-enum
    description: Bad values.
    for: tools
    when: {experience: beginer}
    where: {multi_gpus: limited}
    then: {exclude: platform}
    because: "{entry.nam}"
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:9:12: rule 'extra-enum': fact 'experience' has no value 'beginer' (did you mean 'beginner'?); "
        "allowed: beginner, intermediate, advanced",
        "extra.yaml:10:13: rule 'extra-enum': catalog 'tools' has no attribute 'multi_gpus' (did you mean "
        "'multi_gpu'?)",
        "extra.yaml:11:12: rule 'extra-enum': decision 'platform' is made in the infrastructure stage, but this "
        "rule set runs in the choice stage",
        "extra.yaml:12:5: rule 'extra-enum': placeholder '{entry.nam}': catalog 'tools' has no attribute 'nam' "
        "(did you mean 'name'?)",
    ]


def test_derived_fact_of_a_later_stage_is_refused(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-late
    description: Reads a fact derived only later.
    when: {total_usd: {gt: 10}}
    then: {score: {tool: {trl: 1}}}
    because: late
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:8:12: rule 'extra-late': fact 'total_usd' is derived only before the delivery stage; this "
        "rule runs in the choice stage"]


def test_all_problems_of_all_files_in_one_run(rules_copy: Path) -> None:
    write_set(rules_copy, "  - id: a\n    description: x\n    when: {gpu_cnt: 1}\n    then: {score: {tool: 1}}\n"
                          "    because: x\n", "one.yaml")
    (rules_copy / "catalog" / "broken.yaml").write_text("catalog: broken\ndescription: x\nentries:\n  - id: a\n"
                                                        "    source: s\n    flag: no\n")
    found = errors_of(rules_copy)
    assert any(p.startswith("broken.yaml:6:11: 'no' is ambiguous") for p in found)
    assert any("one.yaml:8:12: rule 'a': unknown fact 'gpu_cnt'" in p for p in found)
    assert any("one.yaml:9:20: rule 'a': 'tool' without ids acts on the joined entry" in p for p in found)


def test_not_group_and_between_are_parsed(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-logic
    description: Logic.
    when:
      not: {experience: beginner}
      seq_len: {between: [1024, 8192]}
    then: {score: {tool: {trl: 1}}}
    because: logic
""")
    rule = load_rules(rules_copy).rule("extra-logic")
    assert isinstance(rule.when, Group) and rule.when.kind == "all"
    kinds = [(c.kind if isinstance(c, Group) else c.op) for c in rule.when.items]
    assert kinds == ["not", "gte", "lte"]
