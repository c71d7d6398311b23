"""The knowledge base: every seed item is encoded, every entry and rule is sourced, prices are dated."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from engine.language.ir import RuleBase
from engine.pipeline import Engine
from engine.tools.reports import seed_exercise_table

ROOT = Path(__file__).resolve().parent.parent


def test_every_seed_item_is_encoded_by_existing_rules_or_entries(rulebase: RuleBase) -> None:
    items = rulebase.catalogs["seed-items"].entries
    rule_ids = {r.id for r in rulebase.rules()}
    for item in items:
        refs = item.get("encoded_by") or []
        assert refs, f"{item.loc}: seed item {item.id} has no encoding"
        for ref in refs:
            kind, _, target = str(ref).partition(":")
            if kind == "rule":
                assert target in rule_ids, f"{item.loc}: {item.id} names unknown rule {target}"
            else:
                catalog, _, entry = target.partition("/")
                assert kind == "catalog" and catalog in rulebase.catalogs, f"{item.loc}: bad reference {ref}"
                assert rulebase.catalogs[catalog].by_id(entry), f"{item.loc}: {item.id} names unknown {ref}"


def test_the_seed_inventory_has_every_table_row_step_and_takeaway(rulebase: RuleBase) -> None:
    kinds = Counter(str(e.get("kind")) for e in rulebase.catalogs["seed-items"].entries)
    seed = (ROOT.parent / "shared" / "seed" / "section-17.3-platforms-and-workflows.txt")
    assert kinds["table-row"] == 7 + 6          # 17.3.6 matrix rows + 17.3.7 platform rows
    assert kinds["workflow-step"] == 4 + 4 + 5  # the three workflows of 17.3.8
    assert kinds["takeaway"] == 5
    if seed.is_file():  # the shared folder sits beside the checkout in CI and in sessions
        text = seed.read_text()
        rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Feature")
                and not line.startswith("| Platform") and "---" not in line]
        assert len(rows) == kinds["table-row"]


def test_every_rule_and_entry_has_a_source_and_prices_are_dated(rulebase: RuleBase) -> None:
    assert all(rule.source for rule in rulebase.rules())
    for catalog in rulebase.catalogs.values():
        for entry in catalog.entries:
            assert entry.source, f"{entry.loc}: {entry.id} has no source"
    for platform in rulebase.catalogs["platforms"].entries:
        for price in platform.get("prices", []) or []:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(price["as_of"])), f"{platform.loc}: {price}"
            # a price is positive; only a free tier costs nothing (and says how long a session may last)
            assert price["source"] and (float(price["usd_per_gpu_hour"]) > 0 or (
                price["tier"] == "free" and float(price["usd_per_gpu_hour"]) == 0 and price.get("max_hours")))


def test_seed_exercise_table_is_current() -> None:
    text = (ROOT / "docs" / "seed-exercise.md").read_text()
    committed = text.split("<!-- exercise:start -->\n", 1)[1].split("<!-- exercise:end -->", 1)[0]
    assert committed == seed_exercise_table(Engine.for_rules())
