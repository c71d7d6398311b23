"""What the catalogs hold, as tables a user can read before asking (`tuneplan list`): models, GPUs,
platforms and tools with their key attributes, and each price with its date. Pure data: the command
renders it as text or JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.decide.tally import shorten
from engine.explain.cite import readable
from engine.language.ir import CatalogEntry, RuleBase

KINDS = ("models", "gpus", "platforms", "tools", "prices", "sources")
SOURCE_WIDTH = 60   # characters of a source in the text table


@dataclass(frozen=True)
class Table:
    """Columns (key, heading with its unit) and one row per catalog entry, in catalog order."""

    kind: str
    columns: tuple[tuple[str, str], ...]
    rows: tuple[dict[str, Any], ...]


def _prices(rulebase: RuleBase) -> list[dict[str, Any]]:
    """Every dated on-demand-or-cheaper price record: platform, gpu, tier, USD per GPU-hour, date."""
    out = []
    for platform in rulebase.catalogs["platforms"].entries:
        for record in platform.attrs.get("prices") or []:
            price = record.get("usd_per_gpu_hour") if isinstance(record, Mapping) else None
            if isinstance(price, int | float) and not isinstance(price, bool):
                out.append({"platform": platform.id, "gpu": record.get("gpu"), "tier": record.get("tier"),
                            "usd_per_gpu_hour": float(price), "as_of": str(record.get("as_of", "")),
                            "source": readable(str(record.get("source") or platform.source), rulebase)})
    return out


def _cheapest(prices: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    """The cheapest paid price record matching ``match`` (free tiers and owned GPUs are not a price)."""
    found = [p for p in prices if p["usd_per_gpu_hour"] > 0 and all(p.get(k) == v for k, v in match.items())]
    return min(found, key=lambda p: (p["usd_per_gpu_hour"], p["platform"]), default=None)


def _current(entry: CatalogEntry, attribute: str) -> Any:
    """An attribute as its newest dated update gives it (tools keep the seed's value and dated updates)."""
    value = entry.attrs.get(attribute)
    dated = [u for u in entry.attrs.get("updates") or [] if isinstance(u, Mapping) and u.get("attribute") == attribute]
    if dated:
        value = max(dated, key=lambda u: str(u.get("as_of", ""))).get("value", value)
    return value


def table(rulebase: RuleBase, kind: str) -> Table:
    """The table of one kind (one of ``KINDS``)."""
    entries = rulebase.catalogs[kind].entries if kind in rulebase.catalogs else ()
    prices = _prices(rulebase)
    columns: tuple[tuple[str, str], ...]
    if kind == "models":
        columns = (("id", "id"), ("name", "name"), ("params_b", "parameters (billion)"), ("layers", "layers"),
                   ("hidden_size", "hidden size"), ("experts", "experts"), ("release_date", "released"))
        rows = tuple({"id": e.id, "name": e.attrs.get("name", e.id), "params_b": e.attrs.get("params_b"),
                      "layers": e.attrs.get("layers"), "hidden_size": e.attrs.get("hidden_size"),
                      "experts": e.attrs.get("experts") or e.attrs.get("num_experts") or "dense",
                      "release_date": e.attrs.get("release_date", "")} for e in entries)
    elif kind == "gpus":
        columns = (("id", "id"), ("name", "name"), ("vram_gib", "memory (GiB, as reported)"), ("bf16", "bf16"),
                   ("tflops", "dense TFLOPS (bf16, fp16 without)"), ("from_usd_per_gpu_hour", "from (USD/GPU-hour)"),
                   ("price_at", "where, tier, price date"))
        rows = tuple(_gpu_row(e, _cheapest(prices, gpu=e.id)) for e in entries)
    elif kind == "platforms":
        columns = (("id", "id"), ("name", "name"), ("billing", "billing"), ("gpus", "GPUs priced"),
                   ("from_usd_per_gpu_hour", "from (USD/GPU-hour)"), ("price_at", "GPU, tier, price date"))
        rows = tuple(_platform_row(e, prices) for e in entries)
    elif kind == "tools":
        columns = (("id", "id"), ("name", "name"), ("interface", "interface"), ("multi_gpu", "multi-GPU"),
                   ("new_model_support", "new models"), ("maintained", "maintained"))
        rows = tuple({"id": e.id, "name": e.attrs.get("name", e.id), "interface": _joined(e.attrs.get("interface")),
                      "multi_gpu": _current(e, "multi_gpu"), "new_model_support": _current(e, "new_model_support"),
                      "maintained": _current(e, "maintained")} for e in entries)
    elif kind == "prices":
        columns = (("platform", "platform"), ("gpu", "GPU"), ("tier", "tier"),
                   ("usd_per_gpu_hour", "USD per GPU-hour"), ("as_of", "as of"), ("source", "source"))
        rows = tuple(prices)
    elif kind == "sources":
        columns = (("kind", "kind"), ("id", "id"), ("source", "source"))
        rows = tuple({"kind": f"{c.name} entry", "id": e.id, "source": readable(e.source, rulebase)}
                     for c in rulebase.catalogs.values() for e in c.entries) + tuple(
            {"kind": f"{r.ruleset} rule", "id": r.id, "source": readable(r.source, rulebase)} for r in rulebase.rules())
    else:  # pragma: no cover - the command's choices are KINDS
        raise ValueError(kind)
    if kind in ("models", "gpus", "tools"):
        columns += (("source", "source"),)
        rows = tuple({**row, "source": readable(e.source, rulebase)} for row, e in zip(rows, entries, strict=True))
    return Table(kind, columns, rows)


def _joined(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value or "")


def _gpu_row(entry: CatalogEntry, cheapest: dict[str, Any] | None) -> dict[str, Any]:
    bf16 = bool(entry.attrs.get("bf16"))
    tflops = entry.attrs.get("tflops_bf16_dense") if bf16 else entry.attrs.get("tflops_fp16_dense")
    return {"id": entry.id, "name": entry.attrs.get("name", entry.id), "vram_gib": entry.attrs.get("vram_gib"),
            "bf16": bf16, "tflops": tflops,
            "from_usd_per_gpu_hour": cheapest["usd_per_gpu_hour"] if cheapest else None,
            "price_at": f"{cheapest['platform']}, {cheapest['tier']}, {cheapest['as_of']}" if cheapest
            else "no price in the catalogs"}


def _platform_row(entry: CatalogEntry, prices: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [p for p in prices if p["platform"] == entry.id]
    cheapest = _cheapest(mine)
    return {"id": entry.id, "name": entry.attrs.get("name", entry.id), "billing": entry.attrs.get("billing", ""),
            "gpus": len({p["gpu"] for p in mine}),
            "from_usd_per_gpu_hour": cheapest["usd_per_gpu_hour"] if cheapest else None,
            "price_at": f"{cheapest['gpu']}, {cheapest['tier']}, {cheapest['as_of']}" if cheapest
            else ("free or owned only" if mine else "no price in the catalogs")}


def _cell(value: Any) -> str:
    """A value as a table shows it: numbers without trailing zeros, yes/no, absent values as '—'."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def render_markdown(tab: Table) -> str:
    """A markdown table (pipes in cells escaped)."""
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [row([heading for _, heading in tab.columns]), row(["---"] * len(tab.columns))]
    lines += [row([_cell(r[key]) for key, _ in tab.columns]) for r in tab.rows]
    return "\n".join(lines) + "\n"


SOURCES_INTRO = """# Sources

Generated by `tuneplan list sources --format markdown` from the shipped catalogs and rules; a test fails when
it is stale (regenerate with `make docs`). Every model, GPU, price, tool and rule cites what a reader can open:
the book section by its title, the tool's docs or repository with its URL and read date, the price page with
its read date. `tuneplan check` refuses a catalog entry or a price record without a source.
"""


def sources_document(rulebase: RuleBase) -> str:
    """docs/sources.md: the models, GPUs, prices and tools with their sources and dates, then every rule's and
    catalog entry's source."""
    parts = [SOURCES_INTRO]
    for kind, title in (("models", "Models"), ("gpus", "GPUs"), ("prices", "Prices (USD per GPU-hour, dated)"),
                        ("tools", "Tools"), ("sources", "Every rule and catalog entry")):
        tab = table(rulebase, kind)
        parts.append(f"## {title} ({len(tab.rows)})\n\n{render_markdown(tab)}")
    return "\n".join(parts)


def render_text(tab: Table) -> str:
    """An aligned plain-text table; numbers without trailing zeros, absent values as '—', sources cut at a word
    boundary to fit a terminal (--format json or markdown keeps them whole)."""
    def cell(key: str, value: Any) -> str:
        return shorten(_cell(value), SOURCE_WIDTH) if key == "source" and tab.kind != "sources" else _cell(value)

    grid = [[heading for _, heading in tab.columns]] + [[cell(key, row[key]) for key, _ in tab.columns]
                                                         for row in tab.rows]
    widths = [max(len(r[i]) for r in grid) for i in range(len(tab.columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(tab.rows)} {tab.kind})\n"
