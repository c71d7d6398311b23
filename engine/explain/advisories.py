"""The warnings the engine's own checks raise (rules raise theirs with ``warn:``): one registry, so that the
pipeline cannot raise an id it does not declare and a scenario cannot expect one that does not exist."""

from __future__ import annotations

from types import MappingProxyType

from engine.language.decisions import DECISIONS

_CHECKS = {
    "model-config-approximation": "a model read from its config.json: what its shape approximates",
    "model-size-ignored": "model_params_b given with a catalogued model: the model's published shape is used",
    "whole-instance": "the chosen offer bills whole multi-GPU instances: the cost counts every GPU billed",
    "nothing-fits": "no plan satisfies the constraints: what rejects the nearest plans, and what would fit",
    "generation-memory": "an RL stage generates while it trains: the share of each GPU left to vLLM",
    "owned-gpu-unused": "the plan rents GPUs although the user owns some: why the owned ones were not used",
    "over-budget-plan": "no plan is within the budget: the cheapest, how far over, what would bring it in",
}
ENGINE_WARNINGS = MappingProxyType({
    **_CHECKS,
    **{f"{name}-pinned-excluded": f"the pinned {name} is excluded by a rule and kept (nothing else was left)"
       for name, spec in DECISIONS.items() if spec.stage == "plan"},
})


def engine_warning(warning_id: str) -> str:
    """``warning_id`` if the registry declares it (an undeclared one is a bug in the engine, not the rules)."""
    if warning_id not in ENGINE_WARNINGS:
        raise KeyError(f"engine warning {warning_id!r} is not declared in engine/explain/advisories.py")
    return warning_id
