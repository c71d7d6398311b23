"""The result of one evaluation as data: decisions, estimates, warnings and the trace, and the provenance
graph (networkx) the views are drawn from. The views themselves (dict/JSON, text, markdown, DOT) are in
engine/render/, which reads this; ``engine.render.views.Report`` is this with the views as methods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from engine.decide.tally import DecisionResult, format_value, render_template
from engine.language.decisions import DECISIONS
from engine.language.ir import Rule, RuleBase
from engine.runtime.firing import Firing

if TYPE_CHECKING:
    import networkx as nx

    from engine.decide.comparisons import PlanResult
    from engine.decide.records import Plan
    from engine.language.catalog import ModelShape


PLAN_DECISIONS = frozenset(n for n, spec in DECISIONS.items() if spec.stage == "plan")


@dataclass(frozen=True)
class TraceStep:
    """One fired rule in evaluation order."""

    stage: str
    rule: Rule
    firing: Firing
    because: str

    def matched(self) -> dict[str, Any]:
        """The facts the rule read, with the values they had."""
        names = referenced_facts(self.rule)
        return {n: self.firing.ctx[n] for n in sorted(names) if n in self.firing.ctx}

    def effects(self) -> list[dict[str, Any]]:
        """What the rule concluded, as data."""
        out: list[dict[str, Any]] = []
        for action in self.rule.actions:
            target = action.option if action.option is not None else self.firing.entry_id
            if action.kind == "warn":
                out.append({"warn": action.warning})
            elif action.kind == "score":
                out.append({"score": {action.decision: {str(target): action.points}}})
            else:
                out.append({action.kind: {action.decision: target}})
        return out


@dataclass(frozen=True)
class Advisory:
    """A warning raised by a rule or by the engine's checks (named so as not to shadow ``Warning``)."""

    id: str
    message: str
    source: str
    rule: str = ""
    level: str = "warning"


@dataclass(frozen=True)
class Estimate:
    """An estimator's output and the setup it was computed for."""

    name: str
    value: Any
    setup: Any


def referenced_facts(rule: Rule) -> frozenset[str]:
    """Fact names a rule reads in its conditions, operands and texts (computed by the loader)."""
    return rule.reads


@dataclass
class Recommendation:
    """An explained recommendation, as data (engine/render/ writes its views)."""

    facts: dict[str, Any]
    derived: dict[str, Any]
    derived_how: dict[str, str]
    decisions: Mapping[str, DecisionResult]
    estimates: Mapping[str, Estimate]
    warnings: list[Advisory]
    trace: list[TraceStep]
    rulebase: RuleBase
    shape: ModelShape
    given: frozenset[str] = frozenset()        # constraint names the user gave (the rest are defaults)
    plan: Plan | None = None                   # the chosen plan (None when no plan satisfies the constraints)
    planning: PlanResult | None = None         # the planner's comparisons: alternatives and rejections
    _dict: dict[str, Any] | None = field(default=None, repr=False)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The provenance graph: facts → rules → options → decisions, with rejected options."""
        from engine.explain.provenance import build_graph
        return build_graph(self)

    def missed_rules(self, decision: str) -> Any:
        """A function: option id → rules that would have favoured it but did not fire, and why."""
        from engine.explain.whynot import missed_rules

        ctx = {**self.facts, **self.derived}
        fired = {(s.rule.id, s.firing.entry_id) for s in self.trace}
        return lambda option: missed_rules(self.rulebase, decision, option, ctx, fired)

    @property
    def blocked(self) -> list[str]:
        """The decisions left without a choice (the constraints cannot be met); empty when all is well."""
        return [] if self.plan is not None else ["plan"]

    def choice(self, decision: str) -> str | None:
        """The chosen option id of a decision (a plan decision is read off the plan, without building the
        comparisons behind it). A name the decision registry does not hold is an error, not "no choice"."""
        if decision not in DECISIONS:
            raise KeyError(f"unknown decision {decision!r}; decisions: {', '.join(DECISIONS)}")
        if decision in PLAN_DECISIONS:
            return str(self.plan.get(decision)) if self.plan is not None else None
        result = self.decisions.get(decision)
        return result.choice if result else None

    def entry_name(self, decision: str, option: str | None) -> str:
        """The display name of an option."""
        if option is None:
            return "none"
        entry = self.rulebase.catalogs[DECISIONS[decision].catalog].by_id(option)
        return str(entry.get("name", option)) if entry else option

    def _stage_values(self) -> dict[str, str]:
        """The alignment stage as the workflow steps name it: its short name and its TRL trainer."""
        stage = str(self.facts.get("alignment") or "none")
        catalog = self.rulebase.catalogs.get("alignment")
        entry = catalog.by_id(stage) if catalog is not None and stage != "none" else None
        short = {"rlhf": "PPO"}.get(stage, stage.upper())
        tool = self.rulebase.catalogs["tools"].by_id(str(self.choice("tool")))
        on_trl = tool is not None and tool.get("rlhf") in ("core", "via-trl")   # the TRL trainer names the step
        trainer = f" ({entry.get('trl_trainer')})" if entry is not None and on_trl and entry.get("trl_trainer") else ""
        return {"stage": short, "trainer": trainer}

    def workflow_steps(self) -> list[str]:
        """The chosen workflow's steps, filled in with this recommendation's choices."""
        workflow = self.choice("workflow")
        entry = self.rulebase.catalogs["workflows"].by_id(workflow) if workflow else None
        if entry is None or self.blocked:
            return []
        tool_entry = self.rulebase.catalogs["tools"].by_id(str(self.choice("tool")))
        values = {
            "tool": self.choice("tool"), "tool_name": self.entry_name("tool", self.choice("tool")),
            "platform": self.choice("platform"), "platform_name": self.entry_name("platform", self.choice("platform")),
            "gpu": self.entry_name("gpu", self.choice("gpu")), "gpu_count": self.derived.get("chosen_gpu_count", 1),
            "method": self.entry_name("method", self.choice("method")) + (
                f" (r={self.facts.get('lora_rank', 16)})" if self.choice("method") in ("lora", "qlora") else ""),
            "config": "YAML config" if "yaml" in (tool_entry.get("interface") or [] if tool_entry else [])
            else "training script (Python, versions and seeds pinned)",
            "lora_rank": self.facts.get("lora_rank", 16),
            "model": self.facts.get("model") or f"a {format_value(self.facts.get('model_params_b'))}B model",
            "export": self.entry_name("export", self.choice("export")),
            "serve": self.entry_name("serve", self.choice("serve")),
            "merge": self.entry_name("merge", self.choice("merge")),
            **self._stage_values(),
        }
        stage, method = str(self.facts.get("alignment") or "none"), str(self.choice("method"))
        steps = []
        for step in entry.get("steps", []) or []:
            if not isinstance(step, dict) or (step.get("stages") and stage not in step["stages"]) \
                    or (step.get("methods") and method not in step["methods"]):
                continue   # a step for other alignment stages or methods
            if step.get("action"):
                action = str(step["action"])
                if "{merge}" in action and self.choice("merge") is None and action.startswith("Merge the adapter"):
                    action = "Deploy via {serve} (nothing to merge)"  # full fine-tuning or adapters served unmerged
                steps.append(render_template(action, values, None))
        return steps
