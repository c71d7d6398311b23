"""Check family sources: a rule, catalog entry or price record whose source is empty or a placeholder, so
nobody can check where its knowledge comes from."""

from __future__ import annotations

from engine.tools.lint.context import Context
from engine.tools.lint.findings import Lint
from engine.tools.lint.prices import price_records

LINTS = (
    Lint("missing-source", "warning", "a rule, catalog entry or price whose source is empty or a placeholder "
         "(`TODO`, `TBD`, `?`)"),
)
PLACEHOLDER_SOURCES = frozenset({"", "todo", "tbd", "fixme", "?", "??", "unknown", "n/a", "na", "none", "-"})


def check(ctx: Context) -> None:
    """A missing-source finding per rule, entry and price record without a real source."""
    for rule in ctx.rb.rules():
        if rule.source.strip().lower() in PLACEHOLDER_SOURCES:
            shown = f"'{rule.source}'" if rule.source.strip() else "empty"
            ctx.add(
                rule.loc,
                "missing-source",
                [rule.id],
                f"the rule's source is {shown}: nobody can check where its knowledge comes from",
                "name the document, section or URL (and its date) the rule encodes",
            )
    for catalog in ctx.rb.catalogs.values():
        for entry in catalog.entries:
            if entry.source.strip().lower() in PLACEHOLDER_SOURCES:
                ctx.add(
                    entry.loc,
                    "missing-source",
                    [],
                    f"{catalog.name} entry '{entry.id}' has source '{entry.source}'",
                    "name the document, section or URL (and its date) the entry comes from",
                )
    for price in price_records(ctx):
        # a record without a valid date is reported once, as stale-price (as lint always has)
        if price.as_of is not None and not str(price.record.get("source", "")).strip():
            ctx.add(
                price.where,
                "missing-source",
                [],
                f"price {price.label} has no source",
                "name where the price was read",
            )
