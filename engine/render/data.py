"""The JSON shape of a recommendation (CONTRACT.md), built from the decisions and the trace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.decide.tally import DecisionResult, Option
from engine.explain.cite import readable

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def option_reasons(option: Option) -> list[str]:
    """Every reason rules and checks gave about an option."""
    return [e.because for e in option.effects]


def decision_dict(result: DecisionResult, missed: Any = None) -> dict[str, Any]:
    """choice, ranking (with scores and reasons) and excluded (with rules and because).

    ``missed(option_id)`` lists rules that would have favoured an option but did not fire."""
    chosen = result.options.get(result.choice) if result.choice else None
    ranking = []
    for option in result.ranking():
        item: dict[str, Any] = {"id": option.id, "score": option.score}
        scored = [e for e in option.effects if e.kind in ("score", "require")]
        if scored:
            item["because"] = [f"{e.because} ({e.points:+g})" if e.kind == "score" else e.because for e in scored]
        if option.id != result.choice:
            item["why_not"] = _why_not(option, chosen) + (missed(option.id) if missed else [])
        ranking.append(item)
    excluded = [{"id": o.id, "rules": sorted({e.rule_id for e in o.effects if e.kind == "exclude"}),
                 "because": [e.because for e in o.effects if e.kind == "exclude"]} for o in result.excluded()]
    out: dict[str, Any] = {"choice": result.choice, "ranking": ranking, "excluded": excluded}
    if result.pinned:
        out["pinned"] = result.pinned
    if chosen is not None:
        out["because"] = [e.because for e in chosen.effects if e.kind in ("score", "require", "win")]
        if result.pinned:
            out["because"].insert(0, f"{result.pinned} was pinned by the user")
        elif not out["because"]:
            out["because"] = ["no rule favoured any option over the others; the catalog order breaks the tie"]
    return out


def _why_not(option: Option, chosen: Option | None) -> list[str]:
    notes = [e.because for e in option.effects if e.kind == "note"]
    if notes:  # the planner's comparison of the option's best plan with the chosen plan
        return notes
    if chosen is not None and option.score < chosen.score:
        notes.append(f"scored {option.score:g} against {chosen.score:g} for {chosen.id}")
    elif chosen is not None and option.score == chosen.score and not notes:
        notes.append(f"tied with {chosen.id} at {option.score:g}; the catalog order breaks the tie")
    return notes


def cached_dict(rec: Recommendation) -> dict[str, Any]:
    """The JSON view, built once per recommendation (the text and markdown views read it too)."""
    if rec._dict is None:
        rec._dict = recommendation_dict(rec)
    return rec._dict


def recommendation_dict(rec: Recommendation) -> dict[str, Any]:
    """The whole recommendation as JSON-ready data."""
    out: dict[str, Any] = {"constraints": dict(sorted(rec.facts.items()))}
    missed = rec.missed_rules
    for name in ("tool", "method"):
        out[name] = decision_dict(rec.decisions[name], missed(name))
    mem = rec.estimates.get("memory")
    if mem is not None:
        est = mem.value
        out["memory"] = {
            "peak_gib": _r(est.peak_gib), "per_gpu_gib": _r(est.per_gpu_gib),
            "breakdown": {k: _r(v) for k, v in est.breakdown_gib.items()},
            "setup": {"method": mem.setup.method, "precision": mem.setup.precision, "seq_len": mem.setup.seq_len,
                      "batch_size": mem.setup.batch_size,
                      "gradient_checkpointing": mem.setup.gradient_checkpointing,
                      "lora_rank": mem.setup.lora_rank, "gpu_count": mem.setup.gpu_count,
                      "sharding": mem.setup.sharding, "tool_savings": mem.setup.tool_savings},
            "model_shape": rec.shape.id + (" (generic)" if rec.shape.generic else ""),
            "constants": list(est.constants_used), "notes": list(est.notes), "unit": "GiB (2^30 bytes)",
        }
    hw = rec.estimates.get("hardware")
    gpu_d = rec.decisions["gpu"]
    out["hardware"] = {"gpu": gpu_d.choice, "count": rec.derived.get("chosen_gpu_count"),
                       "vram_gib": _r(hw.value.vram_gib) if hw else None,
                       "per_gpu_gib": _r(hw.value.per_gpu_gib) if hw else None,
                       "headroom_gib": _r(hw.value.headroom_gib) if hw else None,
                       **{k: v for k, v in decision_dict(gpu_d, missed("gpu")).items()
                          if k in ("ranking", "excluded")}}
    platform = decision_dict(rec.decisions["platform"], missed("platform"))
    cost = rec.estimates.get("cost")
    if cost is not None:
        platform["price_per_gpu_hour_usd"] = cost.value["price_per_gpu_hour_usd"]
        platform["price_tier"] = cost.value["price_tier"]
        platform["price_as_of"] = cost.value["price_as_of"]
        platform["price_source"] = readable(str(cost.value["price_source"]), rec.rulebase)
    platform["alternatives"] = [r["id"] for r in platform["ranking"] if r["id"] != platform["choice"]]
    out["platform"] = platform
    if cost is not None:
        c = cost.value
        out["cost"] = {"hours": c["hours"], "hours_how": c["hours_how"], "gpu_count": c["gpu_count"],
                       "billed_gpus": c.get("billed_gpus", c["gpu_count"]),
                       "total_usd": c.get("total_usd"), "within_budget": c.get("within_budget"),
                       "budget_usd": rec.facts.get("budget_usd"), "budget_margin_usd": c.get("budget_margin_usd"),
                       "price_age_days": c["price_age_days"],
                       "usd_per_million_tokens": c.get("usd_per_million_tokens"),
                       "budget_buys_tokens": c.get("budget_buys_tokens"),
                       "tokens_per_hour": c.get("tokens_per_hour"),
                       **({"not_counted": c["not_counted"]} if c.get("not_counted") else {})}
    else:
        out["cost"] = {"hours": None, "total_usd": None, "within_budget": None}
    out["plan"] = plan_dict(rec)
    out["workflow"] = {"id": rec.choice("workflow"), "steps": rec.workflow_steps(),
                       **{k: v for k, v in decision_dict(rec.decisions["workflow"], missed("workflow")).items()
                          if k != "choice"}}
    out["deployment"] = {"export": rec.choice("export"), "serve": rec.choice("serve"), "merge": rec.choice("merge"),
                         "decisions": {n: decision_dict(rec.decisions[n], missed(n))
                                       for n in ("export", "serve", "merge")}}
    seen: set[tuple[str, str]] = set()
    warnings = []
    for w in rec.warnings:
        if (w.id, w.message) in seen:
            continue
        seen.add((w.id, w.message))
        warnings.append({"id": w.id, "level": w.level, "message": w.message, "source": readable(w.source, rec.rulebase),
                         **({"rule": w.rule} if w.rule else {})})
    out["warnings"] = warnings
    out["derived"] = {k: {"value": v, "how": rec.derived_how.get(k, "")} for k, v in sorted(rec.derived.items())}
    out["trace"] = {"engine": "durable-rules", "rules_digest": rec.rulebase.digest[:16], "fired": [
        {"rule": s.rule.id, "stage": s.stage, "ruleset": s.rule.ruleset, "matched": s.matched(),
         **({"entry": s.firing.entry_id} if s.firing.entry_id else {}),
         **({"plan": {axis: value for axis, value in s.firing.plan}} if s.firing.plan else {}),
         "derived": s.effects(), "because": s.because, "source": readable(s.rule.source, rec.rulebase)}
        for s in rec.trace]}
    return out


def plan_dict(rec: Recommendation) -> dict[str, Any] | None:
    """The chosen plan: its value on every plan axis, its estimates, and how plans were compared."""
    plan, planning = rec.plan, rec.planning
    if plan is None or planning is None:
        return None
    return {
        **plan.values(),
        "per_gpu_gib": _r(plan.per_gpu_gib), "usable_gib_per_gpu": _r(plan.usable_gib),
        "billed_gpus": plan.billed_gpus, "hours": None if plan.hours is None else _r(plan.hours),
        "total_usd": None if plan.total_usd is None else _r(plan.total_usd),
        "usd_per_million_tokens": _r(plan.usd_per_mtok, 4), "tokens_per_hour": round(plan.tokens_per_hour),
        "score": plan.score,
        "objective": {"id": planning.objective.id, "terms": list(planning.objective.terms)},
        "candidates": planning.candidates, "viable": planning.viable,
        "why_not": {axis: [{"option": r.option, "check": r.check, "because": r.message}
                           for r in rejections]
                    for axis, rejections in planning.rejections.items()
                    if axis in ("gradient_checkpointing", "gpu_count")},
    }
