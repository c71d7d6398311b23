"""Sources a reader can follow (issue 14, issue 13's table): docs/sources.md is generated from the catalogs and
rules and kept current; every model, GPU, price and tool cites something a user can open, and no answer cites
the project's own notes ("seed 17.3.x", "domain-facts §N")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.language.loader import load_rules
from engine.pipeline import Engine
from engine.render.data import recommendation_dict
from engine.tools.listing import sources_document, table

ROOT = Path(__file__).resolve().parents[2]
OPENABLE = re.compile(r"https?://|LLM fine-tuning book|\b[a-z0-9-]+(\.[a-z0-9-]+)+/\S|\b[\w.-]+/[\w.-]+ (README|docs|v\d)"
                      r"|\b[\w-]+/[\w.-]+ \S+\.(py|md|qmd|yaml|yml|json|rst)\b")
PRIVATE = re.compile(r"domain-facts|seed 1\d\.\d|\bseed section\b")


def test_docs_sources_is_current() -> None:
    generated = sources_document(load_rules(None))
    committed = (ROOT / "docs" / "sources.md").read_text()
    assert committed == generated, "docs/sources.md is stale: run `make docs`"


@pytest.mark.parametrize("kind", ["models", "gpus", "prices", "tools"])
def test_every_entry_cites_what_a_reader_can_open(kind: str) -> None:
    rows = table(load_rules(None), kind).rows
    assert rows
    unopenable = [r for r in rows if not OPENABLE.search(str(r["source"]))]
    assert unopenable == [], unopenable[:3]
    if kind == "prices":
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["as_of"]) for r in rows)


def test_no_source_in_the_document_or_an_answer_cites_the_projects_own_notes() -> None:
    assert not PRIVATE.search(sources_document(load_rules(None)))
    engine = Engine.for_rules()
    for constraints in ({"model": "llama-3.1-8b"}, {"model": "qwen2.5-7b", "alignment": "dpo", "owned_gpu": "t4"},
                        {"model": "llama-3.1-70b", "method": "full", "budget_usd": 500, "dataset_tokens": 10**8}):
        data = recommendation_dict(engine.recommend(constraints))
        sources = [w["source"] for w in data["warnings"]] + [s["source"] for s in data["trace"]["fired"]]
        assert sources and not [s for s in sources if PRIVATE.search(s)], constraints
