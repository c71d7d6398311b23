"""Plain-text explanation of a recommendation, for a terminal (no colour, fixed layout)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.decide.tally import format_value, shorten
from engine.explain.cite import readable
from engine.render.data import cached_dict

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation


def answer_rows(rec: Recommendation, d: dict[str, Any]) -> list[tuple[str, str]]:
    """The answer as (label, value) rows: tool, method, GPU × count, memory, platform, cost."""
    mem = d.get("memory", {})
    context_gib = float(rec.rulebase.catalogs["memory"].by_id("cuda-context-gib").get("value", 0))  # type: ignore[union-attr]
    cost = d.get("cost", {})
    hw = d["hardware"]
    platform = d["platform"]
    rows = [
        ("Tool", rec.entry_name("tool", d["tool"]["choice"])),
        ("Method", rec.entry_name("method", d["method"]["choice"])
         + (f" (r={rec.facts.get('lora_rank', 16)})" if d["method"]["choice"] in ("lora", "qlora") else "")),
        ("GPU", f"{hw['count']} × {rec.entry_name('gpu', hw['gpu'])} ({hw['vram_gib']} GiB each)"
         if hw["gpu"] else "none fits — see the critical warning"),
        ("Memory", f"{mem.get('per_gpu_gib', '?')} GiB per GPU for training + {context_gib:g} GiB CUDA context "
                   f"(one-GPU peak {mem.get('peak_gib', '?')} GiB)" if mem else "not estimated"),
    ]
    if rec.plan is not None:
        setup = rec.plan.setup
        strategy = rec.entry_name("sharding", setup.sharding)
        rows.append(("Set-up", f"gradient checkpointing {'on' if setup.gradient_checkpointing else 'off'}; "
                               f"{strategy}"))
    if platform.get("choice") and platform.get("price_per_gpu_hour_usd") is not None:
        dated = f", as of {platform['price_as_of']}" if platform.get("price_as_of") else ""
        rows.append(("Platform", f"{rec.entry_name('platform', platform['choice'])} — "
                                 f"{format_value(platform.get('price_per_gpu_hour_usd'))} USD per GPU-hour "
                                 f"({platform.get('price_tier')}{dated})"))
    else:
        rows.append(("Platform", "none"))
    if cost.get("total_usd") is not None and cost.get("hours") is None:
        rows.append(("Cost", f"{cost['total_usd']:.2f} USD: no rent (the time is unknown: give --train-hours or "
                             "--dataset-tokens)"))
    elif cost.get("total_usd") is not None:
        budget = cost.get("budget_usd")
        verdict = "" if budget is None else (" — within budget" if cost["within_budget"]
                                             else f" — over the {budget:g} USD budget")
        billed = cost.get("billed_gpus") or cost["gpu_count"]
        gpus = f"{billed} GPU" if billed == cost["gpu_count"] else f"{billed} billed GPUs ({cost['gpu_count']} used)"
        rows.append(("Cost", f"{cost['total_usd']:.2f} USD for {cost['hours']:.1f} h × {gpus}{verdict}"))
    else:
        per_token = cost.get("usd_per_million_tokens")
        buys = cost.get("budget_buys_tokens")
        if rec.blocked:
            rows.append(("Cost", "none: no plan satisfies the constraints"))
        else:
            rows.append(("Cost", (f"{per_token:g} USD per million training tokens; " if per_token is not None else "")
                         + (f"the {format_value(cost['budget_usd'])} USD budget buys about {buys / 1e6:,.0f} M "
                            "tokens; " if buys else "")
                         + "give --train-hours or --dataset-tokens for a total"))
    if cost.get("not_counted") and rows[-1][0] == "Cost":
        rows[-1] = ("Cost", f"{rows[-1][1]} (training steps only; not counted: {cost['not_counted']})")
    if rec.blocked:
        rows.append(("Workflow", "none until the setup fits"))
        return rows
    rows.append(("Workflow", rec.entry_name("workflow", d["workflow"]["id"])))
    deployment = d["deployment"]
    rows.append(("Deployment", " → ".join(rec.entry_name(k, deployment[k]) for k in ("merge", "export", "serve")
                                          if deployment[k])))
    return rows


def chosen_reasons(rec: Recommendation) -> list[tuple[str, str, str, str]]:
    """(decision, reason, rule id, source) for every reason behind every choice, in decision order."""
    out: list[tuple[str, str, str, str]] = []
    objective = rec.planning.objective if rec.planning is not None else None
    planner_source = f"planner, objective {objective.id} ({', '.join(objective.terms)})" if objective else "planner"
    if rec.plan is not None and rec.planning is not None:
        from engine.decide.view import axis_reason

        for axis, label in (("gradient_checkpointing", "gradient checkpointing"), ("gpu_count", "GPU count")):
            value = rec.plan.get(axis)
            shown = ("on" if value else "off") if isinstance(value, bool) else str(value)
            if rec.facts.get(axis) not in (None, "auto"):
                out.append((label, f"{shown}, as given", "constraint", ""))
            else:
                out.append((label, f"{shown}: {axis_reason(rec.planning.rejections.get(axis, []), axis, value)}",
                            "planner", planner_source))
    for name, result in rec.decisions.items():
        if result.choice is None:
            continue
        if result.pinned:
            out.append((name, f"{result.pinned} was pinned by the user", "constraint", ""))
        effects = [e for e in result.options[result.choice].effects if e.kind in ("score", "require", "win")]
        for effect in effects:
            try:
                source = readable(rec.rulebase.rule(effect.rule_id).source, rec.rulebase)
            except KeyError:
                source = planner_source if effect.kind == "win" else "engine check"
            points = f" ({effect.points:+g})" if effect.kind == "score" else ""
            against = "counted against it, and still chosen: " if effect.kind == "score" and effect.points < 0 else ""
            out.append((name, against + effect.because + points, effect.rule_id, source))
        if not effects and not result.pinned:
            how = {"gpu": "the cheapest GPU that fits on the chosen platform",
                   "platform": "the best-ranked platform with a GPU that fits"}.get(
                name, "no rule favoured an option; the catalog order breaks the tie")
            out.append((name, how, "engine", ""))
    return out


def _warning_lines(warnings: list[dict[str, Any]], verbose: bool) -> list[str]:
    """One line per warning (its id and first sentence), or each whole note with its source (``verbose``)."""
    if not warnings:
        return []
    if verbose:
        return ["", "Warnings:", *(f"  [{w['level']}] {w['id']}: {w['message']} ({w['source']})" for w in warnings)]
    return ["", "Warnings (--verbose for the whole notes and their sources):",
            *(f"  [{w['level']}] {w['id']}: {_first_sentence(w['message'])}" for w in warnings)]


def _first_sentence(text: str, limit: int = 130) -> str:
    """The note's first sentence if it is short enough, else its first ``limit`` characters or so, cut at a
    word boundary with " …"."""
    if len(text) <= limit:
        return text
    sentence, dot, _ = text.partition(". ")
    if dot and len(sentence) < limit:
        return sentence + ". …"
    return shorten(text, limit)


def render_text(rec: Recommendation, *, verbose: bool = False) -> str:
    """The recommendation as plain text: answer, reasons, rejected options, warnings."""
    d = cached_dict(rec)
    given = ", ".join(f"{k}={format_value(v)}" for k, v in sorted(rec.facts.items()) if k in rec.given)
    how = str(rec.derived_how.get("params_b", ""))
    if how.startswith("config.json"):   # the size was read from a config.json, not typed
        given = given.replace(f"model_params_b={format_value(rec.facts.get('model_params_b'))}",
                              f"model={rec.shape.id} ({how}, {format_value(rec.facts.get('model_params_b'))}B)")
    lines = ["tuneplan recommendation", f"given: {given or 'nothing (defaults only)'}", ""]
    if rec.blocked:
        lines += [f"NO FITTING SETUP: no {', '.join(rec.blocked)} satisfies the constraints."]
        lines += [f"  {w['message']}" for w in d["warnings"] if w["level"] == "critical"]
        lines.append("")
    rows = answer_rows(rec, d)
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    mem = d.get("memory")
    if mem:
        lines += ["", f"Memory breakdown (GiB, {mem['setup']['method']}, seq {mem['setup']['seq_len']} tokens, "
                      f"batch {mem['setup']['batch_size']}, {mem['model_shape']}):"]
        for part, gib in mem["breakdown"].items():
            lines.append(f"  {part:<14} {gib:>8.2f}")
        lines.append(f"  {'peak':<14} {mem['peak_gib']:>8.2f}")
        lines += [f"  note: {note}" for note in mem["notes"]]
    lines += ["", "Why:"]
    for name, reason, rule_id, _source in chosen_reasons(rec):
        lines.append(f"  - {name}: {reason} [{rule_id}]")
    lines += ["", "Rejected (why not):"]
    for name, block in (("tool", d["tool"]), ("method", d["method"]), ("platform", d["platform"]),
                        ("gpu", d["hardware"])):
        grouped: dict[str, list[str]] = {}
        for item in block.get("excluded", []):
            grouped.setdefault("; ".join(item["because"]), []).append(item["id"])
        for item in block.get("ranking", []):
            if item.get("why_not"):
                grouped.setdefault(item["why_not"][0], []).append(item["id"])
        for reason, ids in grouped.items():
            lines.append(f"  - {name} {', '.join(ids)}: {reason}")
    if d["workflow"]["steps"]:
        lines += ["", "Workflow:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(d["workflow"]["steps"], 1)]
    lines += _warning_lines(d["warnings"], verbose)
    lines += ["", f"{len(d['trace']['fired'])} rules fired (durable-rules); --format json shows the trace."]
    return "\n".join(lines) + "\n"
