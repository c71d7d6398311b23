"""Check family gaps: combinations of constraints for which the real engine finds no plan. Unlike the static
checks this one samples: a structured core plus a seeded random grid of constraints runs through the engine;
failing combinations are grouped by what emptied the decision, shrunk to a minimal example, and reported as an
error only when the combination is plausible (it fits, and the user pinned nothing)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from typing import Any

from engine.errors import ConstraintError
from engine.language.decisions import DECISIONS
from engine.language.ir import RuleBase
from engine.tools.lint.context import Context
from engine.tools.lint.findings import At, Lint, show
from engine.tools.lint.model import build_domains

LINTS = (
    Lint("gap", "error", "a sampled, plausible combination of constraints leaves no plan: every tool, method or "
         "platform is excluded"),
    Lint("gap-no-fit", "warning", "a gap where the model does not fit in memory at all (expected for 405B on "
         "one card)"),
    Lint("gap-pinned", "warning", "a gap caused by a user's pin (`platform: colab` with 8 GPUs)"),
    Lint("gap-explained", "warning", "a gap a rule already explains to the user with a critical warning"),
)
GAP_FIXED_PINS = (
    "tool",
    "platform",
    "gpu",
)  # pinned choices are drawn rarely: a pin may rightly leave nothing

Gap = tuple[str, str, tuple[str, ...]]   # (decision, level, causes)


def check(ctx: Context, samples: int, seed: int) -> None:
    """Gap findings for a grid of ``samples`` random combinations (seeded) plus the fixed core."""
    _Gaps(ctx).run(samples, seed)


class _Gaps:
    def __init__(self, ctx: Context) -> None:
        from engine.pipeline import Engine

        self.ctx = ctx
        self.engine = Engine.for_rules(ctx.rb.root)
        self._memo: dict[str, list[Gap]] = {}

    def run(self, samples: int, seed: int) -> None:
        ctx = self.ctx
        # Failing combinations are grouped by what emptied the decision; the smallest of each group is
        # shrunk to a minimal example (constraints dropped while the decision stays empty), and groups whose
        # minimal examples agree are merged: errors per set of rules responsible, warnings per decision.
        raw: dict[Gap, list[dict[str, Any]]] = {}
        for constraints in gap_grid(ctx.rb, samples, seed):
            for gap in self.gaps_of(constraints):
                raw.setdefault(gap, []).append(constraints)
        groups: dict[Gap, tuple[int, dict[str, Any], tuple[str, ...]]] = {}
        for (decision, level, _), combos in raw.items():
            first = min(combos, key=lambda c: (len(c), repr(sorted(c.items()))))
            example = self.shrink(first, decision, level)
            causes = next(c for d, lv, c in self.gaps_of(example) if (d, lv) == (decision, level))
            key = (decision, level, causes if level == "gap" else ())
            count, best, best_causes = groups.get(key, (0, example, causes))
            if (len(example), repr(sorted(example.items()))) < (len(best), repr(sorted(best.items()))):
                best, best_causes = example, causes
            groups[key] = (count + len(combos), best, best_causes)
        for (decision, level, _), (count, example, causes) in sorted(groups.items()):
            self.report(decision, level, count, example, causes)

    def report(self, decision: str, level: str, count: int, example: Mapping[str, Any],
               causes: tuple[str, ...]) -> None:
        ctx = self.ctx
        shown = ", ".join(f"{k}={show(v)}" for k, v in sorted(example.items()))
        rule_causes = [c for c in causes if c in ctx.models]
        engine_causes = [c for c in causes if c not in ctx.models]
        where: Any = (
            ctx.models[rule_causes[0]].rule.loc
            if rule_causes
            else At(ctx.rb.catalogs[DECISIONS[decision].catalog].file, 1, 1) if decision in DECISIONS
            else At(next(rs.file for rs in ctx.rb.rulesets if rs.stage == "plan"), 1, 1)
        )
        by = (["rules"] if rule_causes else []) + (
            [f"the engine's checks ({', '.join(engine_causes)})"] if engine_causes else []
        )
        why = f"every option is excluded by {' and '.join(by)}" if by else "no option is chosen"
        message = f"no {decision} remains for {count} sampled combination(s), e.g. {shown}: {why}"
        if level == "gap":
            ctx.add(
                where,
                "gap",
                rule_causes,
                message,
                f"let some {decision} survive these constraints, or add a rule that warns and names "
                f"the conflicting constraints",
            )
        elif level == "gap-pinned":
            ctx.add(
                where,
                "gap-pinned",
                rule_causes,
                f"{message}, although the user pinned it",
                f"add a rule that warns when the pinned {decision} cannot work with these constraints",
            )
        elif level == "gap-explained":
            ctx.add(
                where,
                "gap-explained",
                rule_causes,
                f"{message}; a rule tells the user why with a critical warning",
                "nothing to do unless these constraints should be supported",
            )
        else:
            ctx.add(
                where,
                "gap-no-fit",
                rule_causes,
                message + "; the model does not fit in memory",
                "expected for a model this size; otherwise relax the memory settings in the example",
            )

    def gaps_of(self, constraints: Mapping[str, Any]) -> list[Gap]:
        """(decision, level, causes) for each of tool, method, platform left without a choice (memoised)."""
        key = repr(sorted(constraints.items()))
        if key not in self._memo:
            self._memo[key] = self._evaluate(constraints)
        return self._memo[key]

    def _evaluate(self, constraints: Mapping[str, Any]) -> list[Gap]:
        try:
            rec = self.engine.recommend(constraints)
        except ConstraintError:
            return []
        if rec.plan is not None or rec.planning is None:
            return []
        reasons = rec.planning.blocked_reasons
        # "nothing fits in memory": the plans nearest to viable fail the memory check
        nothing_fits = any(r.check == "memory-fit" for r in reasons)
        causes = tuple(sorted({rule for r in reasons for rule in r.rules}))
        pinned = any(constraints.get(axis) is not None for axis in ("tool", "platform", "gpu", "gpu_count"))
        # a gap that a rule explains to the user with a critical warning is known and said
        explained = any(w.level == "critical" and w.rule for w in rec.warnings)
        level = ("gap-no-fit" if nothing_fits else "gap-pinned" if pinned
                 else "gap-explained" if explained else "gap")
        return [("plan", level, causes)]

    def shrink(self, constraints: dict[str, Any], decision: str, level: str) -> dict[str, Any]:
        """Drop constraints one at a time while the same gap remains: a short example to read."""
        current = dict(constraints)
        changed = True
        while changed:
            changed = False
            for key in sorted(current):
                if key == "model":
                    continue
                trial = {k: v for k, v in current.items() if k != key}
                if any((d, lv) == (decision, level) for d, lv, _ in self.gaps_of(trial)):
                    current, changed = trial, True
        return current


# -- the gap grid ------------------------------------------------------------------------------------
def gap_grid(rulebase: RuleBase, samples: int, seed: int) -> list[dict[str, Any]]:
    """Constraint combinations for the gap check: a structured core plus a seeded random sample.

    The core crosses a few catalog models (small, mid, large, largest) with every method and GPU count;
    the sample draws every constraint from its lint domain (pins with probability 0.1 each).
    """
    domains = build_domains(rulebase)
    specs = {n: f for n, f in rulebase.facts.items() if f.derived_stage is None}
    models = rulebase.catalogs["models"].entries
    by_size = sorted(models, key=lambda e: float(e.get("params_b", 0) or 0))
    picks = []
    for target in (1, 8, 70, 1e9):
        best = min(by_size, key=lambda e: abs(float(e.get("params_b", 0) or 0) - target))
        if best.id not in picks:
            picks.append(best.id)
    methods = specs["method"].values if "method" in specs else ("auto",)
    grid: list[dict[str, Any]] = []
    for model, method, count in itertools.product(picks, methods, (None, 1, 2, 8)):
        combo: dict[str, Any] = {"model": model, "method": method}
        if count is not None:
            combo["gpu_count"] = count
        grid.append(combo)
    rng = random.Random(seed)
    model_ids = [e.id for e in models]
    skip = {"model", "model_params_b"}
    for _ in range(samples):
        combo = {"model": rng.choice(model_ids)}
        for name in sorted(specs):
            if name in skip:
                continue
            values = [v for v in domains.get(name, ()) if v is not None]
            if not values:
                continue
            if name in GAP_FIXED_PINS:
                if rng.random() < 0.1:
                    combo[name] = rng.choice(values)
            elif specs[name].default is None and rng.random() < 0.5:
                continue
            else:
                combo[name] = rng.choice(values)
        grid.append(combo)
    return grid
