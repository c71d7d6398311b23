"""One recommendation, end to end: facts → plan stage (durable-rules, once, on the constraints and the
plan-attribute values the rules test) → planner (every candidate plan priced by the estimators, judged by
the rules' effects and the engine's checks, ordered by the declared objective) → the chosen plan's facts →
delivery stage (workflow, deployment, warnings) → Recommendation with its provenance graph.

This module holds the engine (a compiled rule base, its estimator inputs and planner) and ``recommend``;
engine/pipeline/run.py is one evaluation."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.decide.search import ESTIMATE_INPUTS, Planner
from engine.decide.space import PINNABLE
from engine.errors import ConstraintError, Problem, RuleFileError
from engine.inputs.facts import normalise
from engine.inputs.modelconfig import ConfigShape
from engine.language.catalog import Gpu, MemoryConstants
from engine.language.ir import STAGES, CatalogEntry, Rule, RuleBase
from engine.language.loader import load_rules
from engine.pipeline.run import Run
from engine.render.views import Report
from engine.runtime.compiler import compile_rulebase
from engine.runtime.session import DurableRuntime

REFERENCE_DATE = dt.date(2026, 11, 28)   # the date golden files and committed diagrams are drawn as of
PRICE_STALE_DAYS = 365
# Constraint facts the engine reads itself, not through the rules: the pins (decide/space.py PINNABLE), the
# estimators' inputs (decide/search.py ESTIMATE_INPUTS) and those read by name below, in the planner and in the
# objective. `tuneplan lint` reports a constraint fact that neither a rule nor this set reads (unused-fact);
# tests/tools/test_lint_registry.py checks it against every facts[...] / facts.get(...) of the engine.
ENGINE_READS = frozenset({*PINNABLE, *ESTIMATE_INPUTS, "model", "model_params_b", "owned_gpu", "owned_gpu_count",
                          "budget_usd", "train_hours", "dataset_tokens", "epochs", "preemptible_ok", "priority"})
# Catalogs the engine reads by name besides the plan axes', the decisions' and the catalog facts': the
# estimators' (_estimator_inputs), the objective (decide/objective.py), citations (explain/cite.py) and the tools'
# configuration templates (tools/emit.py). lint reports any other catalog no rule joins (unused-catalog).
ENGINE_CATALOGS = frozenset({"memory", "models", "gpus", "objective", "citations", "tool-configs"})


@dataclass
class Engine:
    """A loaded rule base with its compiled durable-rules runtime."""

    rulebase: RuleBase
    runtime: DurableRuntime
    today: dt.date = field(default_factory=dt.date.today)
    constants: MemoryConstants = field(init=False)
    gpus: list[Gpu] = field(init=False)
    rules_by_stage: dict[str, dict[str, Rule]] = field(init=False)
    entries: dict[str, tuple[CatalogEntry, ...]] = field(init=False)
    planner: Planner = field(init=False)

    def __post_init__(self) -> None:
        # built once per rule base: every evaluation reads them; an entry the estimators cannot read is a
        # located problem of the rule files (exit 1), not an internal error on the first recommendation
        self.constants, self.gpus = _estimator_inputs(self.rulebase)
        self.rules_by_stage = {stage: {r.id: r for r in self.rulebase.rules_in_stage(stage)} for stage in STAGES}
        self.entries = {name: catalog.entries for name, catalog in self.rulebase.catalogs.items()}
        self.planner = Planner(self.rulebase, self.constants, self.gpus)

    @classmethod
    def for_rules(cls, rules_dir: str | Path | None = None) -> Engine:
        """The engine of a rules directory, compiled once per content."""
        return _engine_for(load_rules(rules_dir))

    def recommend(self, constraints: Mapping[str, Any], *, today: dt.date | None = None,
                  model_config: ConfigShape | None = None) -> Report:
        """Evaluate the constraints into an explained recommendation; ``today`` dates the prices' age
        (default: the engine's date, which is the real date unless fixed for reproducible output).
        ``model_config`` (engine.inputs.modelconfig.read_model_config) plans a model from its config.json: its shape
        is used, and its parameter count is the model_params_b the rules read."""
        if model_config is not None:
            if constraints.get("model"):
                raise ConstraintError("model", "give either a catalog model or a config.json, not both")
            constraints = {**constraints, "model_params_b": round(model_config.shape.params_b, 3)}
        given = {str(k).replace("-", "_") for k, v in constraints.items() if v is not None}
        run = Run(self, normalise(constraints, self.rulebase), given, today or self.today, model_config)
        return run.run()


def _estimator_inputs(rulebase: RuleBase) -> tuple[MemoryConstants, list[Gpu]]:
    """The memory constants and GPUs: records the loader built and checked (engine/language/records.py), so
    an entry the estimators cannot read was a located problem of the rule files already."""
    missing = [name for name in ("gpus", "models", "memory", "platforms", "sharding") if name not in rulebase.catalogs]
    if missing:
        raise RuleFileError([Problem(rulebase.root, 1, 1, f"catalog '{name}' (rules/catalog/{name}.yaml) is "
                                                          "missing: the estimators and the planner read it")
                             for name in missing])
    return rulebase.records.constants, list(rulebase.records.gpus)


@lru_cache(maxsize=8)
def _engine_for(rulebase: RuleBase) -> Engine:
    return Engine(rulebase, DurableRuntime(compile_rulebase(rulebase)))


def recommend(constraints: Mapping[str, Any], rules_dir: str | Path | None = None) -> Report:
    """Recommend a fine-tuning setup for ``constraints`` (fact name → value) using ``rules_dir``."""
    return Engine.for_rules(rules_dir).recommend(constraints)
