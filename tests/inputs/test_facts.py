"""Constraint validation: every bad value names the fact and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from engine import ConstraintError
from engine.inputs.facts import normalise
from engine.language.ir import RuleBase


def error(rulebase: RuleBase, facts: dict[str, Any]) -> str:
    with pytest.raises(ConstraintError) as info:
        normalise({"model_params_b": 7, **facts}, rulebase)
    return str(info.value)


@pytest.mark.parametrize(("facts", "message"), [
    ({"gpu_count": 0}, "constraint 'gpu_count': must be at least 1 (GPUs), got 0"),
    ({"gpu_count": -2}, "constraint 'gpu_count': must be at least 1 (GPUs), got -2"),
    ({"gpu_count": "two"}, "constraint 'gpu_count': expected a whole number (GPUs), got 'two'"),
    ({"gpu_count": 1.5}, "constraint 'gpu_count': expected a whole number (GPUs), got 1.5"),
    ({"budget_usd": "nan"}, "constraint 'budget_usd': expected a finite number (USD), got 'nan'"),
    ({"budget_usd": float("inf")}, "constraint 'budget_usd': expected a finite number (USD), got inf"),
    ({"budget_usd": 1e308}, "constraint 'budget_usd': must be at most 1e+08 (USD), got 1e+308"),
    ({"model_params_b": 0}, "constraint 'model_params_b': must be at least 0.01 (billion parameters), got 0"),
    ({"method": "qlor"}, "constraint 'method': 'qlor' is not allowed (did you mean 'qlora'?); allowed: auto, full, "
                         "lora, qlora"),
    ({"gpu_cnt": 2}, "constraint 'gpu_cnt': unknown fact (did you mean 'gpu_count'?); known facts: "),
    ({"gpu": "a100"}, "constraint 'gpu': unknown GPU id 'a100'"),
    ({"new_model": "maybe"}, "constraint 'new_model': expected true or false, got 'maybe'"),
    ({"peak_gib": 3}, "constraint 'peak_gib': is derived by the engine and cannot be given"),
])
def test_bad_constraints_name_the_fact(rulebase: RuleBase, facts: dict[str, Any], message: str) -> None:
    assert error(rulebase, facts).startswith(message)


def test_strings_from_the_command_line_are_converted(rulebase: RuleBase) -> None:
    facts = normalise({"model-params-b": "13", "gpu_count": "4", "new_model": "yes", "method": "lora"}, rulebase)
    assert facts["model_params_b"] == 13.0 and facts["gpu_count"] == 4 and facts["new_model"] is True
    assert facts["experience"] == "intermediate"  # default filled in


def test_input_is_not_mutated(rulebase: RuleBase) -> None:
    given = {"model_params_b": "7"}
    normalise(given, rulebase)
    assert given == {"model_params_b": "7"}


def test_a_model_or_a_size_is_required(rulebase: RuleBase) -> None:
    with pytest.raises(ConstraintError, match="constraint 'model': name a catalog model"):
        normalise({"gpu_count": 2}, rulebase)
