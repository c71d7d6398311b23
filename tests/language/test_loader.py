"""Loading and checking rule directories: every problem, located, with a suggestion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import RuleFileError, load_rules
from engine.language.ir import Comparison, Group, RuleBase

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
    assert rule.stage == "plan" and rule.join == "tools" and rule.when is None
    assert [(c.subject, c.op, c.value) for c in rule.plan] == [("gpu_count", "gt", 1)]
    assert rule.plan_axes == ("gpu_count",)
    assert all(isinstance(c, Comparison) for c in rule.plan)


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
        "when, where, plan, then, because, overrides_scores",
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
    then: {exclude: workflow}
    because: "{entry.nam}"
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:9:12: rule 'extra-enum': fact 'experience' has no value 'beginer' (did you mean 'beginner'?); "
        "allowed: beginner, intermediate, advanced",
        "extra.yaml:10:13: rule 'extra-enum': catalog 'tools' has no attribute 'multi_gpus' (did you mean "
        "'multi_gpu'?)",
        "extra.yaml:11:12: rule 'extra-enum': decision 'workflow' is made in the delivery stage, but this "
        "rule set runs in the plan stage",
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
        "rule runs in the plan stage"]


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


# -- plan: clauses (tests on plan axes) --------------------------------------------------------------------
def test_plan_clause_is_parsed_into_comparisons_on_plan_axes(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-plan
    description: Tests on plan axes.
    for: tools
    where: {multi_gpu: limited}
    plan: {gpu_count: {between: [2, 4]}, method: qlora, gradient_checkpointing: true}
    then: {exclude: tool}
    because: "{entry.name} on {plan.gpu_count} GPUs with {plan.method}"
""")
    rule = load_rules(rules_copy).rule("extra-plan")
    assert rule.when is None
    assert [(c.subject, c.op, c.value) for c in rule.plan] == [
        ("gpu_count", "gte", 2), ("gpu_count", "lte", 4), ("method", "eq", "qlora"),
        ("gradient_checkpointing", "eq", True)]
    assert rule.plan_axes == ("gpu_count", "gradient_checkpointing", "method")


def test_plan_placeholders_are_not_read_as_facts(rulebase: RuleBase) -> None:
    # "{plan.gpu_count}" names the plan value the rule matched, not a fact called "plan"
    rule = rulebase.rule("tool-multi-gpu-limited")
    assert "{plan.gpu_count}" in rule.because
    assert rule.reads == frozenset()


def test_unknown_plan_axis_is_located_with_suggestion(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-axis
    description: A misspelt plan axis.
    plan: {gpu_cont: {gt: 1}}
    then: {score: {tool: {trl: 1}}}
    because: axis
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:8:12: rule 'extra-axis': unknown plan axis 'gpu_cont' (did you mean 'gpu_count'?); plan axes: "
        "tool, method, gradient_checkpointing, gpu, gpu_count, sharding, platform, tier"]


def test_plan_axis_values_are_checked_like_facts(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-values
    description: Wrong values for plan axes.
    plan:
      gpu: h1000
      gpu_count: {gt: two}
      gradient_checkpointing: yes please
    then: {score: {tool: {trl: 1}}}
    because: values
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:9:7: rule 'extra-values': plan axis 'gpu': unknown gpus id 'h1000' (did you mean 'h100-80gb'?)",
        "extra.yaml:10:7: rule 'extra-values': plan axis 'gpu_count' is a number; gt 'two' is not",
        "extra.yaml:11:7: rule 'extra-values': plan axis 'gradient_checkpointing' is true or false; eq 'yes please' "
        "is not",
    ]


def test_plan_test_with_a_fact_operand_is_refused(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-ref
    description: A plan test that compares with a fact.
    plan: {gpu_count: {gt: {fact: gpu_count}}}
    then: {score: {tool: {trl: 1}}}
    because: ref
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:8:12: rule 'extra-ref': a plan test compares with literal values, not {fact: ...}"]


def test_plan_placeholder_needs_its_axis_in_the_plan_clause(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-placeholder
    description: Names a plan value the rule does not test.
    plan: {gpu_count: {gt: 1}}
    then: {score: {tool: {trl: 1}}}
    because: "on {plan.gpu_count} x {plan.gpu}"
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:10:5: rule 'extra-placeholder': placeholder '{plan.gpu}' needs the plan axis 'gpu' in the "
        "rule's plan: clause (it names the plan value the rule matched)"]


def test_plan_placeholder_without_a_plan_clause_is_refused(rules_copy: Path) -> None:
    write_set(rules_copy, """\
  - id: extra-no-plan
    description: Names a plan value with no plan clause at all.
    when: {experience: beginner}
    then: {warn: {id: extra-no-plan, message: "{plan.tool} is easy"}}
    because: x
""")
    assert errors_of(rules_copy) == [
        "extra.yaml:9:38: rule 'extra-no-plan': placeholder '{plan.tool}' needs the plan axis 'tool' in the "
        "rule's plan: clause (it names the plan value the rule matched)"]


def test_plan_clause_in_a_delivery_stage_rule_is_refused(rules_copy: Path) -> None:
    (rules_copy / "sets" / "late.yaml").write_text("""\
ruleset: late
stage: delivery
description: A delivery rule that tests the plan.
source: tests
rules:
  - id: late-plan
    description: Tests a plan axis after the plan is chosen.
    plan: {gpu_count: {gt: 1}}
    then: {score: {workflow: {beginner: 1}}}
    because: several GPUs
""")
    assert errors_of(rules_copy) == [
        "late.yaml:8:5: rule 'late-plan': 'plan' tests the plan's attributes and belongs to rules of the plan "
        "stage; this rule set runs in the delivery stage (read chosen_* facts instead)"]


def test_plan_clause_is_checked_when_the_joined_catalog_is_broken(rules_copy: Path) -> None:
    # like 'when', the plan clause does not depend on the catalog: its problems are reported in the same run
    tools = rules_copy / "catalog" / "tools.yaml"
    tools.write_text(tools.read_text().replace("hf_native: true", "hf_native: yes", 1))
    tool = rules_copy / "sets" / "tool.yaml"
    tool.write_text(tool.read_text().replace("plan: {gpu_count: {gt: 1}}", "plan: {gpu_cnt: {gt: 1}}", 1))
    found = errors_of(rules_copy)
    assert any(p.startswith("tools.yaml:45:16: 'yes' is ambiguous") for p in found), found
    assert "tool.yaml:10:12: rule 'tool-multi-gpu-limited': unknown plan axis 'gpu_cnt' (did you mean " \
           "'gpu_count'?); plan axes: tool, method, gradient_checkpointing, gpu, gpu_count, sharding, platform, " \
           "tier" in found, found


# -- issue 17: what the loader reads, how much it reports, and its cache ---------------------------------

def test_a_link_to_a_file_outside_the_rules_directory_is_refused(rules_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(GOOD_RULE)
    (rules_copy / "sets" / "linked.yaml").symlink_to(outside)
    assert any("linked.yaml:1:1: a link to a file outside the rules directory" in e for e in errors_of(rules_copy))


def test_a_link_to_a_folder_is_not_entered(rules_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "broken.yaml").write_text("not: [valid")
    (rules_copy / "sets" / "more").symlink_to(tmp_path / "other", target_is_directory=True)
    assert load_rules(rules_copy).rules()   # the broken file behind the link is never read


def test_a_directory_with_too_many_folders_is_refused_quickly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--rules /` must not walk the disk: the walk stops at the folder limit (lowered here)."""
    from engine.language import loader

    monkeypatch.setattr(loader, "MAX_RULE_DIRS", 5)
    for i in range(8):
        (tmp_path / "rules" / f"d{i}").mkdir(parents=True)
    with pytest.raises(RuleFileError) as info:
        load_rules(tmp_path / "rules")
    assert "more than 5 folders under the rules directory" in str(info.value)


def test_problems_stop_at_the_cap_with_a_note(rules_copy: Path) -> None:
    from engine.errors import MAX_PROBLEMS

    body = "".join(f"  - id: r{i}\n    when: {{gpu_cnt: 1}}\n    then: {{score: {{tool: 1}}}}\n"
                   f"    because: x\n    description: x\n    source: x\n    for: tools\n" for i in range(400))
    write_set(rules_copy, body)
    with pytest.raises(RuleFileError) as info:
        load_rules(rules_copy)
    assert len(info.value.problems) == MAX_PROBLEMS and info.value.truncated
    assert str(info.value).endswith("(stopped after 200 problems; fix these and check again for the rest)")


def test_an_unchanged_tree_is_not_rehashed_and_a_change_is_never_missed(rules_copy: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from engine.language import loader

    old = 1_000_000_000 * 1_000_000_000   # year 2001, in ns
    monkeypatch.setattr(loader, "RACY_S", 0.0)   # trust the tree just written (the real window is 2 s)
    first = load_rules(rules_copy)
    hashed: list[int] = []
    real = loader._content_digest
    monkeypatch.setattr(loader, "_content_digest", lambda files: hashed.append(1) or real(files))
    assert load_rules(rules_copy) is first and hashed == []     # stat signature unchanged: no re-read
    monkeypatch.setattr(loader, "RACY_S", 2.0)
    tool = rules_copy / "sets" / "tool.yaml"
    text = tool.read_text()
    tool.write_text(text.replace("score: {tool: 3}", "score: {tool: 4}", 1))   # same size
    os.utime(tool, ns=(old, old))               # even a forged mtime: the change of ctime tells
    second = load_rules(rules_copy)
    assert second is not first and hashed
    tool.write_text(text.replace("score: {tool: 3}", "score: {tool: 5}", 1))   # at once, same size again
    third = load_rules(rules_copy)              # changed within RACY_S: hashed again, never trusted
    assert third is not second and third.digest != second.digest


@pytest.mark.parametrize("catalog, old, new, message", [
    ("models", "hidden_size: 2048", 'hidden_size: "2048"', "model 'llama-3.2-1b': hidden_size must be a whole number, got '2048'"),
    ("gpus", "vram_gib: 15.0", 'vram_gib: "lots"', "vram_gib"),
])
def test_an_entry_the_estimators_cannot_read_is_a_located_problem_not_a_crash(
        rules_copy: Path, cli: Any, catalog: str, old: str, new: str, message: str) -> None:
    """Issue 16's example: `hidden_size: "4096"` passed `tuneplan check`, then `recommend` exited 3."""
    path = rules_copy / "catalog" / f"{catalog}.yaml"
    path.write_text(path.read_text().replace(old, new, 1))
    code, _, err = cli("recommend", "--rules", str(rules_copy), "--model", "llama-3.2-1b")
    assert code == 1 and f"{catalog}.yaml:" in err and message in err and "internal error" not in err, err
    code, out, _ = cli("check", str(rules_copy))
    assert code == 1 and message in out
