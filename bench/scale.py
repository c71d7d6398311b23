"""Synthetic rule bases for the scaling benchmark: the shipped rules replicated N times, each copy with
distinct rule set names, rule ids and thresholds. Each copy's rules get a guard ``params_b > T`` with a
distinct T above every benchmarked model, so the copies are matched (Rete work) but do not fire: the
number of firings, and so the decisions, stay those of the shipped rules."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _bump(cond: Any, factor: float) -> Any:
    """Numeric thresholds scaled by ``factor`` (distinct per copy); everything else kept."""
    if isinstance(cond, dict):
        out = {}
        for key, value in cond.items():
            if key in ("gt", "gte", "lt", "lte") and isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = round(value * factor, 6)
            else:
                out[key] = _bump(value, factor)
        return out
    if isinstance(cond, list):
        return [_bump(v, factor) for v in cond]
    return cond


def replicate(target: Path, copies: int) -> Path:
    """Write rules/ and facts/ under ``target`` with every rule set replicated ``copies`` times in all."""
    shutil.copytree(ROOT / "rules", target / "rules", ignore=shutil.ignore_patterns("tests"))
    shutil.copytree(ROOT / "facts", target / "facts")
    sets = target / "rules" / "sets"
    for path in sorted(sets.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for copy in range(1, copies):
            clone = dict(data)
            clone["ruleset"] = f"{data['ruleset']}-x{copy}"
            rules = []
            for original in data["rules"]:
                rule = dict(original)
                rule["id"] = f"{rule['id']}-x{copy}"
                guard = {"params_b": {"gt": 10_000 + copy}}
                when = _bump(rule.get("when"), 1 + copy / 1000)
                rule["when"] = {"all": [when, guard]} if when else guard
                rules.append(rule)
            clone["rules"] = rules
            (sets / f"{path.stem}-x{copy}.yaml").write_text(yaml.safe_dump(clone, sort_keys=False), encoding="utf-8")
    return target / "rules"
