"""Renderers: golden DOT and markdown for two profiles, determinism, and the committed diagrams."""

from __future__ import annotations

import os
import random
from pathlib import Path

import networkx as nx
import pytest

from engine.cli import main
from engine.commands.recommend import profile_facts
from engine.pipeline import REFERENCE_DATE, Engine
from engine.render.dot import render_dot

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("TUNEPLAN_UPDATE_GOLDEN") == "1"   # regenerate with TUNEPLAN_UPDATE_GOLDEN=1


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.is_file(), f"missing golden file {path}; run with TUNEPLAN_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file; if intended, regenerate"


@pytest.mark.parametrize("profile", ["beginner", "production"])
def test_golden_markdown_and_dot(profile: str) -> None:
    rec = Engine.for_rules().recommend(profile_facts(ROOT / "facts" / "profiles" / f"{profile}.yaml"),
                                       today=REFERENCE_DATE)
    check_golden(f"{profile}.md", rec.to_markdown(graph_link=f"{profile}.svg"))
    check_golden(f"{profile}.dot", rec.to_dot())


def test_dot_does_not_depend_on_insertion_order() -> None:
    rec = Engine.for_rules().recommend({"model": "llama-3.1-8b", "gpu_count": 2, "method": "lora"})
    graph = rec.graph
    shuffled = nx.DiGraph()
    nodes = list(graph.nodes(data=True))
    edges = list(graph.edges(data=True))
    random.Random(7).shuffle(nodes)
    random.Random(7).shuffle(edges)
    shuffled.add_nodes_from(nodes)
    shuffled.add_edges_from(edges)
    assert render_dot(shuffled) == render_dot(graph)


def test_markdown_starts_with_the_answer_table() -> None:
    md = Engine.for_rules().recommend({"model_params_b": 13, "gpu_count": 4, "method": "lora"}).to_markdown()
    lines = md.splitlines()
    assert lines[0] == "# Fine-tuning recommendation"
    assert lines[4:6] == ["| Decision | Recommendation |", "|---|---|"]
    assert any(line.startswith("| tool | unsloth | ✗ Unsloth's multi-GPU support is limited") for line in lines)
    assert "| **peak (one-GPU equivalent)** |" in md


def test_committed_diagrams_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["diagram", "--check", "--out", str(ROOT / "diagrams")])
    assert code == 0, capsys.readouterr().out
