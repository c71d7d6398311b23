"""The plan as decisions: one DecisionResult per plan decision (tool, method, GPU, strategy, platform, tier),
so that the views, the graph and the scenario tests read a plan the way they read any decision. Each option
carries the rules that counted for its best plan and, when it lost, the one comparison that rejected it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from engine.decide.comparisons import scoring_effects
from engine.decide.records import Effect, Plan, Rejection
from engine.decide.search import Outcome
from engine.decide.space import pins
from engine.decide.tally import DecisionResult, Option
from engine.decide.tally import Effect as OptionEffect
from engine.language.decisions import DECISIONS
from engine.language.ir import RuleBase


def plan_decisions(rulebase: RuleBase, outcome: Outcome, facts: Mapping[str, Any]) -> dict[str, DecisionResult]:
    """A DecisionResult per decision of the plan stage, from the planner's outcome."""
    result = outcome.result
    pinned = pins(facts)
    out: dict[str, DecisionResult] = {}
    for name, spec in DECISIONS.items():
        if spec.stage != "plan":
            continue
        entries = rulebase.catalogs[spec.catalog].entries
        options = {e.id: Option(e.id, i) for i, e in enumerate(entries)}
        best = result.best
        chosen = best.get(name) if best is not None else None
        alternatives = result.alternatives.get(name, {})
        rank = {str(option): i for i, option in enumerate(alternatives)}
        if best is not None and chosen in options:
            options[chosen].effects.extend(_counted(result.effects, best, name, chosen))
            if pinned.get(name) is None:  # a pinned option needs no comparison: the user chose it
                options[chosen].effects.append(OptionEffect(*why_chosen(result.rejections.get(name, []), name)))
        for rejection in result.rejections.get(name, []):
            option = options.get(str(rejection.option))
            if option is None:
                continue
            plan = alternatives.get(rejection.option)
            if rejection.viable and plan is not None:
                option.effects.extend(_counted(result.effects, plan, name, option.id))
                option.effects.append(OptionEffect(rejection.check, "note", 0.0, rejection.message))
            else:
                option.effects.append(OptionEffect(_rule_of(rejection), "exclude", 0.0, rejection.message))
        pin = pinned.get(name)
        out[name] = DecisionResult(name, str(chosen) if chosen is not None else None, options,
                                   pinned=str(pin) if pin is not None else None, rank=rank)
    return out


def _counted(effects: tuple[Effect, ...], plan: Plan, decision: str, option: str) -> list[OptionEffect]:
    """The score and require effects on ``option`` of ``decision`` that hold in ``plan``."""
    out = [OptionEffect(e.rule.id, "score", e.points, e.because)
           for e in scoring_effects(effects, plan) if e.decision == decision and e.option == option]
    out += [OptionEffect(e.rule.id, "require", 0.0, e.because) for e in effects
            if e.kind == "require" and e.decision == decision and e.option == option
            and all(plan.get(a) == v for a, v in e.plan)]
    return out


def why_chosen(rejections: list[Rejection], axis: str) -> tuple[str, str, float, str]:
    """The comparison that put the chosen option ahead: against the runner-up's best plan, or, when no other
    option has a viable plan, that it is the only one (the others' rejections say why)."""
    runner_up = next((r for r in rejections if r.viable), None)
    if runner_up is None:
        return ("planner", "win", 0.0, f"the only {axis} with a plan that passes every check and rule")
    return ("planner", "win", 0.0, f"ahead of {axis.replace('_', ' ')} {_show(runner_up.option)} on "
            f"{runner_up.check.removeprefix('objective:')}: {runner_up.message}")


def axis_reason(rejections: list[Rejection], axis: str, chosen: Any) -> str:
    """Why the plan has its value on an axis that is no decision of its own (GPU count, checkpointing): the
    comparison with the runner-up value, or what rejects the other values."""
    if not rejections:
        return f"the only {axis.replace('_', ' ')} considered"
    return "; ".join(r.message for r in rejections[:2])


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _rule_of(rejection: Rejection) -> str:
    return rejection.rules[0] if rejection.rules else rejection.check


class LazyDecisions(Mapping[str, DecisionResult]):
    """The recommendation's decisions in DECISIONS order: the plan's are built from the planner's comparisons
    when first read (a sweep that reads only the choices never makes them), the others are given."""

    def __init__(self, given: Mapping[str, DecisionResult], build: Callable[[], dict[str, DecisionResult]]) -> None:
        self._given = dict(given)
        self._build: Callable[[], dict[str, DecisionResult]] | None = build
        self._names = [n for n, spec in DECISIONS.items() if spec.stage == "plan" or n in self._given]

    def _plan(self) -> None:
        if self._build is not None:
            built, self._build = self._build(), None
            self._given.update(built)

    def __getitem__(self, name: str) -> DecisionResult:
        if name not in self._given:
            self._plan()
        return self._given[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names
