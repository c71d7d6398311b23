"""Reasons in context (issue 14): every placeholder of a `because` or warning resolves for every set of facts
its rule can fire with, or declares the words to write instead; `tuneplan check` refuses one that may be unset,
at the rule's location."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.decide.tally import render_template
from engine.language.ir import RuleBase
from engine.tools.check import template_problems

RULE = """
  - id: warn-budget-words
    description: A warning that names the budget.
    when: {when}
    then:
      warn:
        id: warn-budget-words
        level: info
        message: "the budget is {text} USD"
    because: "a test"
    source: a test of tuneplan check
"""


def test_the_shipped_rules_have_no_placeholder_that_may_be_unset(rulebase: RuleBase) -> None:
    assert template_problems(rulebase) == []


@pytest.mark.parametrize("when, text, ok", [
    ("{experience: beginner}", "{budget_usd}", False),                      # budget_usd may be absent
    ("{experience: beginner, budget_usd: {exists: true}}", "{budget_usd}", True),
    ("{budget_usd: {gt: 10}}", "{budget_usd}", True),                        # a comparison needs the value
    ("{any: [{budget_usd: {gt: 10}}, {experience: beginner}]}", "{budget_usd}", False),   # not in every branch
    ("{experience: beginner}", "{budget_usd|no}", True),                     # the fallback is declared
    ("{experience: beginner}", "{chosen_gpu}", False),                       # set only with a plan
    ("{chosen_tool: unsloth}", "{chosen_gpu}", True),                        # the rule tests the plan
    ("{experience: beginner}", "{params_b}", True),                          # derived always
    ("{experience: beginner}", "{total_usd}", False),                        # derived for some plans only
])
def test_check_refuses_a_placeholder_that_may_be_unset(cli: Callable[..., tuple[int, str, str]], rules_copy: Path,
                                                       when: str, text: str, ok: bool) -> None:
    path = rules_copy / "sets" / "warnings.yaml"
    path.write_text(path.read_text() + RULE.replace("{when}", when).replace("{text}", text))
    code, out, err = cli("check", str(rules_copy))
    if ok:
        assert code == 0, out + err
    else:
        head = text.strip("{}").split("|")[0]
        assert code == 1 and "warnings.yaml:" in out + err, out + err
        assert f"rule 'warn-budget-words': warning 'warn-budget-words': placeholder '{text}' may be unset" in out + err
        assert f"'{{{head}|...}}'" in out + err


def test_a_fallback_is_written_when_the_value_is_unset() -> None:
    assert render_template("check {model|the model} first", {}, None) == "check the model first"
    assert render_template("check {model|the model} first", {"model": "qwen3-8b"}, None) == "check qwen3-8b first"
    assert render_template("{budget_usd} USD", {}, None) == "not given USD"   # only when check was skipped
