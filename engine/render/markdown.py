"""Markdown for a design review: the answer first, then the reasons, numbers with units and sources,
warnings, the alternatives and why not, and the decision graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.decide.tally import format_value
from engine.render.data import cached_dict
from engine.render.text import answer_rows, chosen_reasons

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(rec: Recommendation, graph_link: str | None = None) -> str:
    """The recommendation as review-ready markdown."""
    d = cached_dict(rec)   # the JSON view's data, built once per recommendation
    given = ", ".join(f"`{k}={format_value(v)}`" for k, v in sorted(rec.facts.items()) if k in rec.given)
    defaults = ", ".join(f"`{k}={format_value(v)}`" for k, v in sorted(rec.facts.items()) if k not in rec.given)
    out = ["# Fine-tuning recommendation", "", f"Constraints: {given or 'none'}", ""]
    if rec.blocked:
        out += [f"> **No fitting setup**: no {', '.join(rec.blocked)} satisfies the constraints."]
        out += [f"> {_cell(w['message'])}" for w in d["warnings"] if w["level"] == "critical"]
        out.append("")
    out += ["| Decision | Recommendation |", "|---|---|"]
    out += [f"| {label} | {_cell(value)} |" for label, value in answer_rows(rec, d)]
    out += ["", f"Defaults used: {defaults}.", "", "## Why", ""]
    for i, (decision, reason, rule_id, source) in enumerate(chosen_reasons(rec), 1):
        cite = f" (rule `{rule_id}`; {_cell(source)})" if source else f" ({rule_id})"
        out.append(f"{i}. **{decision}** — {_cell(reason)}{cite}")
    mem = d.get("memory")
    if mem:
        s = mem["setup"]
        out += ["", "## Memory estimate", "",
                f"{s['method']} · precision {s['precision']} · seq_len {s['seq_len']} tokens · batch {s['batch_size']}"
                f" · gradient checkpointing {'on' if s['gradient_checkpointing'] else 'off'} · {s['gpu_count']} GPU "
                f"({s['sharding']}) · model shape {mem['model_shape']}", "",
                "| Part | GiB |", "|---|---:|"]
        out += [f"| {part} | {gib:.2f} |" for part, gib in mem["breakdown"].items()]
        out += [f"| **peak (one-GPU equivalent)** | **{mem['peak_gib']:.2f}** |",
                f"| **per GPU** | **{mem['per_gpu_gib']:.2f}** |", "",
                "GiB = 2^30 bytes. Constants: " + ", ".join(f"`{c}`" for c in mem["constants"])
                + " (rules/catalog/memory.yaml; method in docs/memory-model.md)."]
        out += [f"> {note}" for note in mem["notes"]]
    out += _cost_section(d)
    if d["workflow"]["steps"]:
        out += ["", f"## Workflow: {rec.entry_name('workflow', d['workflow']['id'])}", ""]
        out += [f"{i}. {_cell(step)}" for i, step in enumerate(d["workflow"]["steps"], 1)]
    if d["warnings"]:
        out += ["", "## Warnings", ""]
        out += [f"- **{w['level']}** `{w['id']}` — {_cell(w['message'])} _(source: {_cell(w['source'])})_"
                for w in d["warnings"]]
    out += ["", "## Alternatives and why not", "", "| Decision | Option | Why not |", "|---|---|---|"]
    for name, block in (("tool", d["tool"]), ("method", d["method"]), ("platform", d["platform"]),
                        ("gpu", d["hardware"])):
        for item in block.get("excluded", []):
            out.append(f"| {name} | {item['id']} | ✗ {_cell('; '.join(item['because']))} "
                       f"(rule {', '.join(f'`{r}`' for r in item['rules'])}) |")
        for item in block.get("ranking", []):
            if item.get("why_not"):
                out.append(f"| {name} | {item['id']} | {_cell('; '.join(item['why_not']))} |")
    out += ["", "## Rules that fired", "", "| # | Stage | Rule | Because | Source |", "|---|---|---|---|---|"]
    for i, step in enumerate(d["trace"]["fired"], 1):
        out.append(f"| {i} | {step['stage']} | `{step['rule']}` | {_cell(step['because'])} | {_cell(step['source'])} |")
    if graph_link:
        out += ["", "## Decision graph", "", f"![decision graph]({graph_link})"]
    return "\n".join(out) + "\n"


def _cost_section(d: dict[str, Any]) -> list[str]:
    cost = d.get("cost", {})
    platform = d["platform"]
    if not platform.get("choice") or platform.get("price_per_gpu_hour_usd") is None:
        return []
    out = ["", "## Cost", "", "| Item | Value |", "|---|---|",
           f"| Price | {format_value(platform['price_per_gpu_hour_usd'])} USD per GPU-hour "
           f"({platform['price_tier']}) |",
           f"| Price source | {_cell(platform['price_source'])}"
           + (f", as of {platform['price_as_of']}" if platform.get("price_as_of") else "") + " |",
           f"| Hours | {_hours(cost)} |",
           f"| GPUs | {cost.get('gpu_count')}"
           + (f" ({cost['billed_gpus']} billed)" if (cost.get("billed_gpus") or 0) > (cost.get("gpu_count") or 0)
              else "") + " |",
           f"| Total | {_total(cost)} |"]
    if cost.get("usd_per_million_tokens") is not None:
        out.append(f"| Per token | {cost['usd_per_million_tokens']:g} USD per million training tokens "
                   f"({(cost.get('tokens_per_hour') or 0) / 1e6:.1f} M tokens/h) |")
    if cost.get("not_counted"):
        out.append(f"| Not counted | {_cell(cost['not_counted'])} (hours and cost are the training steps') |")
    if cost.get("budget_usd") is not None:
        margin = cost.get("budget_margin_usd")
        out.append(f"| Budget | {format_value(cost['budget_usd'])} USD"
                   + (f" (margin {margin:.2f} USD)" if margin is not None else " (not checked: the hours are unknown)")
                   + " |")
    return out


def _hours(cost: dict[str, Any]) -> str:
    if cost.get("hours") is None:
        return "unknown: give train_hours or dataset_tokens"
    return f"{cost['hours']:.1f} ({_cell(cost.get('hours_how', ''))})"


def _total(cost: dict[str, Any]) -> str:
    if cost.get("total_usd") is None:
        return "not known without the hours; see the price per token"
    return f"{cost['total_usd']:.2f} USD"
