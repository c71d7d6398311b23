"""Check family prices: a price record of the platforms catalog dated more than a year before today, or with no
valid as_of date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.tools.lint.context import Context
from engine.tools.lint.findings import At, Lint

LINTS = (
    Lint("stale-price", "warning", "a `prices` record in the platforms catalog dated more than 365 days before "
         "today, or with no valid `as_of` date"),
)


@dataclass(frozen=True)
class PriceRecord:
    """One record of a platform's ``prices``, where it is written, and its as_of date (None: not a date)."""

    where: At
    label: str
    record: dict[str, Any]
    as_of: dt.date | None


def price_records(ctx: Context) -> Iterator[PriceRecord]:
    """Every price record of the platforms catalog, in file order."""
    catalog = ctx.rb.catalogs.get("platforms")
    doc = ctx.catalog_doc("platforms")
    if catalog is None or doc is None:
        return
    entries = doc.data.get("entries", []) if isinstance(doc.data, dict) else []
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            continue
        for j, record in enumerate(raw.get("prices") or []):
            if not isinstance(record, dict):
                continue
            line, col = doc.where(("entries", i, "prices", j))
            label = f"{raw.get('id')} {record.get('gpu')} {record.get('tier', '')}".rstrip()
            try:
                as_of: dt.date | None = dt.date.fromisoformat(str(record.get("as_of")))
            except ValueError:
                as_of = None
            yield PriceRecord(At(doc.file, line, col), label, record, as_of)


def check(ctx: Context) -> None:
    """A stale-price finding per price record without a date or dated over a year ago."""
    for price in price_records(ctx):
        record, label = price.record, price.label
        if price.as_of is None:
            ctx.add(
                price.where,
                "stale-price",
                [],
                f"price {label} has no valid as_of date ({record.get('as_of')!r})",
                "add as_of: YYYY-MM-DD, the day the price was read",
            )
            continue
        age = (ctx.today - price.as_of).days
        if age > 365:
            ctx.add(
                price.where,
                "stale-price",
                [],
                f"price {label} ({record.get('usd_per_gpu_hour')} USD/GPU-hour) is dated {price.as_of}, "
                f"{age} days before {ctx.today}",
                "check the platform's current price and update "
                "usd_per_gpu_hour and as_of (keep the old figure in price_observations)",
            )
