"""tuneplan lint: the shipped rules, and one seeded mistake per check with the exact finding."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import load_rules
from engine.language.ir import Comparison, RuleBase
from engine.tools.lint import Finding, lint_rulebase

SEEDED_HEAD = """ruleset: seeded
stage: plan
description: Mistakes seeded by tests.
source: tests/tools/test_lint.py
rules:
"""


def seed(rules_dir: Path, body: str) -> RuleBase:
    """Add a rule set holding ``body`` (rules indented by two spaces) to a copy of the rules."""
    (rules_dir / "sets" / "seeded.yaml").write_text(SEEDED_HEAD + body, encoding="utf-8")
    return load_rules(rules_dir)


def findings_of(rulebase: RuleBase, lint_id: str, **kwargs: object) -> list[str]:
    return [str(f) for f in lint_rulebase(rulebase, gaps=False, **kwargs) if f.lint_id == lint_id]  # type: ignore[arg-type]


def where(rules_dir: Path) -> str:
    return str(rules_dir / "sets" / "seeded.yaml")


def test_shipped_rules_have_no_static_errors(rulebase: RuleBase) -> None:
    findings = lint_rulebase(rulebase, gaps=False)
    assert [str(f) for f in findings if f.level == "error"] == []


def test_shipped_rules_lint_exits_0_without_the_gap_check(cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = cli("lint", "--no-gaps", "--ignore", "overlap")
    assert code == 0, out
    assert "[error]" not in out
    assert err.startswith("lint: 0 error(s)")


def test_no_stale_price_on_the_shipped_catalog(rulebase: RuleBase) -> None:
    """The 2022 Colab T4 estimate was replaced by the 2026 measurement (kept in price_observations)."""
    assert findings_of(rulebase, "stale-price", today=dt.date(2026, 11, 28)) == []


def test_stale_price_seeded(rules_copy: Path) -> None:
    platforms = rules_copy / "catalog" / "platforms.yaml"
    text = platforms.read_text(encoding="utf-8")
    text = text.replace(
        '- {gpu: a10, usd_per_gpu_hour: 1.29, tier: on-demand, as_of: "2026-09-20"',
        '- {gpu: a10, usd_per_gpu_hour: 1.29, tier: on-demand, as_of: "2025-01-02"',
        1,
    )
    platforms.write_text(text, encoding="utf-8")
    stale = findings_of(load_rules(rules_copy), "stale-price", today=dt.date(2026, 11, 28))
    assert any(
        "[warning] stale-price: -: price lambda a10 on-demand (1.29 USD/GPU-hour) is dated 2025-01-02, "
        "695 days before 2026-11-28" in s
        for s in stale
    ), stale


def test_duplicate_rule(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-cost
    description: Cost first scores Axolotl.
    when: {priority: cost}
    then: {score: {tool: {axolotl: 1}}}
    because: "cost"
  - id: seeded-cost-again
    description: The same rule again.
    when: {priority: {in: [cost]}}
    then: {score: {tool: {axolotl: 1}}}
    because: "cost again"
""",
    )
    assert findings_of(rb, "duplicate") == [
        f"{where(rules_copy)}:11:5: [error] duplicate: seeded-cost, seeded-cost-again: 'seeded-cost-again' "
        "has the "
        f"same conditions and actions as 'seeded-cost' ({where(rules_copy)}:6); both fire together and count "
        "twice "
        f"(fix: delete one of them or merge their sources into one rule)"
    ]


def test_duplicate_plan_clauses_over_the_axis_values(rules_copy: Path) -> None:
    # gpu_count takes the values 1, 2, 4, 8: "gte 4" and "in [4, 8]" are the same plans; the axis order differs
    rb = seed(
        rules_copy,
        """  - id: seeded-full-on-many
    description: Full fine-tuning on four or more GPUs favours a tool with full multi-GPU support.
    for: tools
    where: {multi_gpu: full}
    plan: {method: full, gpu_count: {gte: 4}}
    then: {score: {tool: 1}}
    because: "{entry.name}: {plan.method} on {plan.gpu_count} GPUs"
  - id: seeded-full-on-many-again
    description: The same rule again.
    for: tools
    where: {multi_gpu: full}
    plan: {gpu_count: {in: [4, 8]}, method: full}
    then: {score: {tool: 1}}
    because: "again"
""",
    )
    assert findings_of(rb, "duplicate") == [
        f"{where(rules_copy)}:13:5: [error] duplicate: seeded-full-on-many, seeded-full-on-many-again: "
        "'seeded-full-on-many-again' has the same conditions and actions as 'seeded-full-on-many' "
        f"({where(rules_copy)}:6); both fire together and count twice (fix: delete one of them or merge their "
        "sources into one rule)"
    ]


def test_subsumed_rule(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-research-team
    description: Research teams favour the research tool, which tool-research already does.
    for: tools
    when: {priority: research, team: true}
    where: {best_for: {contains: research}}
    then: {score: {tool: 3}}
    because: "research team"
""",
    )
    tool_research = rb.rule("tool-research").loc
    assert findings_of(rb, "subsumed") == [
        f"{where(rules_copy)}:6:5: [warning] subsumed: seeded-research-team, tool-research: whenever "
        f"'seeded-research-team' fires, 'tool-research' ({tool_research.file}:{tool_research.line}) fires "
        "too with "
        "the same actions, so its score is added a second time (fix: delete 'seeded-research-team', or give "
        "it a "
        f"different action if the narrower case deserves more)"
    ]


def test_exclude_versus_require_conflict(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-kto-torchtune
    description: KTO requires torchtune, which tool-no-kto-orpo-recipes excludes.
    when: {alignment: kto}
    then: {require: {tool: torchtune}}
    because: "kto"
""",
    )
    conflicts = sorted(findings_of(rb, "conflict"), key=lambda f: "tool-no-kto-orpo-recipes" not in f)
    # a model released days ago also excludes torchtune (tool-no-new-architectures): a second, real conflict
    assert len(conflicts) == 2 and "tool-no-new-architectures" in conflicts[1] and "new_model = true" in conflicts[1]
    assert conflicts[0].endswith(
        ": [error] conflict: seeded-kto-torchtune, tool-no-kto-orpo-recipes: one excludes tool 'torchtune' "
        "and the "
        "other requires it when alignment = kto: no option is left consistent with both (fix: make the "
        "conditions "
        "exclusive (add the opposite test to one rule) or drop one action)"
    )


def test_require_pre_empted_by_exclusion_is_reported(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-orpo-torchtune
    description: ORPO scores torchtune, which has no ORPO recipe.
    when: {alignment: orpo}
    then: {score: {tool: {torchtune: 2}}}
    because: "orpo"
""",
    )
    assert findings_of(rb, "pre-empted") == [
        f"{where(rules_copy)}:6:5: [warning] pre-empted: seeded-orpo-torchtune, tool-no-kto-orpo-recipes: "
        "whenever "
        "'seeded-orpo-torchtune' fires, the options it favours are already excluded by "
        "tool-no-kto-orpo-recipes, so "
        f"it never changes a recommendation (fix: narrow the excluding rule or delete this one)"
    ]


def test_exclusion_limited_to_some_plans_is_no_overlap(rules_copy: Path) -> None:
    # tool-multi-gpu-limited excludes unsloth only in plans on more than one GPU: on one GPU the score counts
    rb = seed(
        rules_copy,
        """  - id: seeded-team-unsloth
    description: Teams score unsloth.
    when: {team: true}
    then: {score: {tool: {unsloth: 2}}}
    because: "team"
""",
    )
    overlaps = [f for f in findings_of(rb, "overlap") if "seeded-team-unsloth" in f]
    # the exclusion limited to some plans is no overlap; tool-new-model-lag says why it wins (overrides_scores)
    assert [f for f in overlaps if "tool-multi-gpu-limited" in f] == []
    assert [f for f in overlaps if "tool-new-model-lag" in f] == []
    assert [f for f in findings_of(rb, "pre-empted") if "seeded-team-unsloth" in f] == []


def test_unsatisfiable_where(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-flying-tools
    description: Tools that fly.
    for: tools
    where: {best_for: {contains: flying}}
    then: {score: {tool: 1}}
    because: "flies"
""",
    )
    assert findings_of(rb, "never-fires") == [
        f"{where(rules_copy)}:6:5: [error] never-fires: seeded-flying-tools: 'where' matches no entry of "
        "catalog "
        "'tools', so the rule never fires (fix: correct the attribute values in 'where' against "
        "rules/catalog (tools))"
    ]


def test_unsatisfiable_when(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-gpu-window
    description: Contradictory GPU counts.
    when: {all: [{gpu_count: {gt: 4}}, {gpu_count: {lt: 2}}]}
    then: {score: {tool: {trl: 1}}}
    because: "never"
""",
    )
    assert findings_of(rb, "never-fires") == [
        f"{where(rules_copy)}:6:5: [error] never-fires: seeded-gpu-window: 'when' can never hold over the "
        "facts' "
        "domains; its tests contradict each other (fix: correct the values or operators so that some "
        "constraints "
        f"satisfy 'when')"
    ]


def test_unsatisfiable_plan_clause(rules_copy: Path) -> None:
    # gpu_count is a plan axis of values 1, 2, 4, 8 (one node): no plan has more than 8 GPUs
    rb = seed(
        rules_copy,
        """  - id: seeded-sixteen-gpus
    description: A plan on more GPUs than a node holds.
    plan: {gpu_count: {gt: 8}}
    then: {score: {tool: {trl: 1}}}
    because: "never"
""",
    )
    (finding,) = findings_of(rb, "never-fires")
    assert finding.startswith(f"{where(rules_copy)}:6:5: [error] never-fires: seeded-sixteen-gpus: ")
    # the rule has no 'when': the finding must name the clause that cannot hold
    assert "'plan'" in finding and "'when'" not in finding, finding


def test_missing_source(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-no-source
    description: A rule nobody sourced.
    when: {team: true, experience: advanced}
    then: {score: {tool: {trl: 1}}}
    because: "advanced team"
    source: TODO
""",
    )
    assert findings_of(rb, "missing-source") == [
        f"{where(rules_copy)}:6:5: [warning] missing-source: seeded-no-source: the rule's source is 'TODO': "
        "nobody can "
        "check where its knowledge comes from (fix: name the document, section or URL (and its date) the "
        "rule "
        f"encodes)"
    ]


def test_unused_fact(rules_copy: Path) -> None:
    schema = rules_copy.parent / "facts" / "schema.yaml"
    text = schema.read_text(encoding="utf-8").replace(
        "constraints:\n",
        "constraints:\n  shoe_size:\n    type: integer\n    description: Nobody reads this.\n",
        1,
    )
    schema.write_text(text, encoding="utf-8")
    unused = findings_of(load_rules(rules_copy), "unused-fact")
    assert len(unused) == 1
    assert unused[0].endswith(
        ":5:3: [warning] unused-fact: -: constraint fact 'shoe_size' is read by no rule and not "
        "by the engine, so giving it changes nothing (fix: write a rule that reads it, or remove "
        "it from the fact schema)"
    )


def test_cycle_among_derived_facts(rulebase: RuleBase) -> None:
    # the loader rejects this, so build the IR directly: a plan-stage rule reading a delivery-stage fact
    rule = rulebase.rule("tool-research")
    bad = dataclasses.replace(rule, when=Comparison("chosen_platform", "eq", "colab", rule.loc))
    rulesets = tuple(
        dataclasses.replace(rs, rules=tuple(bad if r.id == rule.id else r for r in rs.rules))
        for rs in rulebase.rulesets
    )
    broken = dataclasses.replace(rulebase, rulesets=rulesets)
    assert findings_of(broken, "cycle") == [
        f"{rule.loc}: [error] cycle: tool-research: reads 'chosen_platform', derived before the delivery "
        "stage from "
        "decisions the plan stage feeds, so the fact depends on this rule's own outcome (fix: move the "
        "rule to the "
        f"delivery stage or read a fact derived earlier)"
    ]


def test_gap_when_rules_exclude_every_tool(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-cli-teams
    description: Teams on the command line get no tool at all.
    when: {team: true, interface: cli}
    then: {exclude: {tool: [unsloth, axolotl, llama-factory, torchtune, trl]}}
    because: "no tool for command-line teams"
""",
    )
    gaps = [
        f for f in lint_rulebase(rb, gap_samples=300) if f.lint_id == "gap" and "seeded-cli-teams" in f.rules
    ]
    assert len(gaps) == 1
    text = str(gaps[0])
    # the planner finds no plan at all: every plan's tool is excluded, by the seeded rule alone
    assert text.startswith(f"{where(rules_copy)}:6:5: [error] gap: seeded-cli-teams: no plan remains for ")
    assert (
        "sampled combination(s), e.g. interface=cli, model=" in text
    )  # the model is whichever sample was smallest
    assert text.endswith(
        ", team=true: every option is excluded by rules (fix: let some plan survive these "
        "constraints, or add a rule that warns and names the conflicting constraints)"
    )


def test_cli_exits_1_on_an_error_and_prints_file_line_col(
    rules_copy: Path, cli: Callable[..., tuple[int, str, str]]
) -> None:
    seed(
        rules_copy,
        """  - id: seeded-flying-tools
    description: Tools that fly.
    for: tools
    where: {best_for: {contains: flying}}
    then: {score: {tool: 1}}
    because: "flies"
""",
    )
    code, out, err = cli("lint", str(rules_copy), "--no-gaps")
    assert code == 1
    assert f"{where(rules_copy)}:6:5: [error] never-fires: seeded-flying-tools: " in out
    assert "never-fires 1" in err


def test_findings_sort_and_print_like_compilers() -> None:
    finding = Finding("rules/sets/tool.yaml", 12, 5, "warning", "overlap", ("a", "b"), "what", "how")
    assert str(finding) == "rules/sets/tool.yaml:12:5: [warning] overlap: a, b: what (fix: how)"


@pytest.mark.parametrize("bad", ["2026-13-01", "soon"])
def test_bad_today_is_a_usage_error(bad: str, cli: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = cli("lint", "--no-gaps", "--today", bad)
    assert code == 2
    assert "--today expects YYYY-MM-DD" in err


TEAM_RULES = """  - id: seeded-no-unsloth-for-teams
    description: Teams do not get unsloth.
    when: {team: true}
    then: {exclude: {tool: [unsloth]}}
    because: "team"
  - id: seeded-team-unsloth
    description: Teams score unsloth.
    when: {team: true}
    then: {score: {tool: {unsloth: 2}}}
    because: "team"
"""


def test_an_overlap_is_reported_unless_the_exclusion_says_why_it_wins(rules_copy: Path) -> None:
    """Issue 12: 47 of 54 shipped warnings were intended overlaps; a rule marks them with a reason."""
    rb = seed(rules_copy, TEAM_RULES)
    assert [f for f in findings_of(rb, "overlap") if "seeded-no-unsloth-for-teams" in f]
    declared = TEAM_RULES.replace('    because: "team"\n  - id: seeded-team-unsloth',
                                  '    because: "team"\n    overrides_scores: "a hard rule of this team"\n'
                                  '  - id: seeded-team-unsloth')
    rb = seed(rules_copy, declared)
    assert rb.rule("seeded-no-unsloth-for-teams").overrides_scores == "a hard rule of this team"
    assert not [f for f in findings_of(rb, "overlap") if "seeded-no-unsloth-for-teams" in f]


def test_the_shipped_rules_are_lint_clean(rulebase: RuleBase) -> None:
    """Every overlap in the shipped rules is declared (overrides_scores) and every catalog is read (or says
    by whom: read_by); no price is stale since the catalog refresh."""
    findings = lint_rulebase(rulebase, gaps=False)
    assert [f.lint_id for f in findings] == []


def test_gap_no_fit_and_gap_pinned_on_the_shipped_rules(rulebase: RuleBase) -> None:
    """The shipped rules leave no plan only where the model cannot fit, or where a pin rules every plan out."""
    findings = [f for f in lint_rulebase(rulebase, gap_samples=300) if f.lint_id.startswith("gap")]
    assert sorted(f.lint_id for f in findings) == ["gap-no-fit", "gap-pinned"]
    no_fit, pinned = sorted(findings, key=lambda f: f.lint_id)
    assert str(no_fit).startswith("rules/sets/gpu.yaml:1:1: [warning] gap-no-fit: -: no plan remains for ")
    assert "e.g. method=full, model=gpt-oss-120b: no option is chosen; the model does not fit in memory" in str(no_fit)
    assert str(pinned).startswith("rules/sets/gpu.yaml:1:1: [warning] gap-pinned: -: no plan remains for ")
    assert "e.g. gpu_count=9, model=gemma-2-9b: no option is chosen, although the user pinned it" in str(pinned)


CLI_TEAMS = """  - id: seeded-cli-teams
    description: Teams on the command line get no tool at all.
    when: {team: true, interface: cli}
    then: {exclude: {tool: [unsloth, axolotl, llama-factory, torchtune, trl]}}
    because: "no tool for command-line teams"
"""


def test_gap_explained_when_a_rule_warns_critically(rules_copy: Path) -> None:
    (rules_copy / "sets" / "seeded-warn.yaml").write_text(
        """ruleset: seeded-warn
stage: delivery
description: A critical warning for the seeded gap.
source: tests/tools/test_lint.py
rules:
  - id: seeded-warn-cli-teams
    description: Say why command-line teams get no plan.
    when: {team: true, interface: cli}
    then:
      warn: {id: seeded-no-tool, level: critical, message: "no tool serves command-line teams"}
    because: "command-line team"
""", encoding="utf-8")
    rb = seed(rules_copy, CLI_TEAMS)
    explained = [f for f in lint_rulebase(rb, gap_samples=300)
                 if f.lint_id.startswith("gap") and "seeded-cli-teams" in f.rules]
    assert [f.lint_id for f in explained] == ["gap-explained"]
    assert str(explained[0]).startswith(f"{where(rules_copy)}:6:5: [warning] gap-explained: seeded-cli-teams: ")
    assert str(explained[0]).endswith(
        "every option is excluded by rules; a rule tells the user why with a critical warning (fix: nothing to do "
        "unless these constraints should be supported)"
    )


def test_unreachable_option(rules_copy: Path) -> None:
    rb = seed(
        rules_copy,
        """  - id: seeded-no-torchtune-for-teams
    description: Teams do not get torchtune.
    when: {team: true}
    then: {exclude: {tool: [torchtune]}}
    because: "team"
  - id: seeded-no-torchtune-alone
    description: Nor does anyone else.
    when: {team: false}
    then: {exclude: {tool: [torchtune]}}
    because: "alone"
""",
    )
    found = [f for f in lint_rulebase(rb, gaps=False) if f.lint_id == "unreachable-option"]
    assert len(found) == 1, found
    # every rule that can take torchtune away is named, the seeded pair among them
    assert {"seeded-no-torchtune-alone", "seeded-no-torchtune-for-teams"} <= set(found[0].rules)
    assert str(found[0]).startswith(f"{rules_copy / 'catalog' / 'tools.yaml'}:")
    assert str(found[0]).endswith(
        ": tool option 'torchtune' is excluded in every situation, so it is never chosen (fix: narrow the "
        "excluding rules, or delete the entry if it is kept only for reference)"
    )


def test_unused_catalog_unless_it_says_who_reads_it(rules_copy: Path) -> None:
    spare = rules_copy / "catalog" / "spare.yaml"
    body = "description: Nobody reads this.\nsource: tests/tools/test_lint.py\nentries:\n  - {id: a, source: here}\n"
    spare.write_text("catalog: spare\n" + body, encoding="utf-8")
    assert findings_of(load_rules(rules_copy), "unused-catalog") == [
        f"{spare}:1:1: [warning] unused-catalog: -: catalog 'spare' (1 entries) is read by no rule, fact, "
        "decision or the engine (fix: join it in a rule ('for: spare'), keep it outside rules/catalog, or say who "
        "reads it ('read_by: ...'))"
    ]
    spare.write_text("catalog: spare\nread_by: people\n" + body, encoding="utf-8")
    assert findings_of(load_rules(rules_copy), "unused-catalog") == []


def test_a_pinned_tool_without_a_plan_is_a_possible_world(rules_copy: Path) -> None:
    """The pipeline sets chosen_tool only with a plan, so a pinned tool with chosen_tool absent happens (the
    invariant once said the pinned tool is always chosen, and lint called this rule never-fires)."""
    (rules_copy / "sets" / "seeded-warn.yaml").write_text(
        """ruleset: seeded-warn
stage: delivery
description: A warning for a pinned tool that leaves no plan.
source: tests/tools/test_lint.py
rules:
  - id: seeded-pinned-tool-no-plan
    description: A pinned tool left without a plan.
    when: {tool: {exists: true}, chosen_tool: {exists: false}}
    then:
      warn: {id: seeded-pinned-tool-no-plan, level: warning, message: "no plan with the pinned tool"}
    because: "pinned tool, no plan"
""", encoding="utf-8")
    rb = load_rules(rules_copy)
    assert [str(f) for f in lint_rulebase(rb, gaps=False) if "seeded-pinned-tool-no-plan" in f.rules] == []
    assert findings_of(rb, "never-fires") == []
