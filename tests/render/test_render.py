"""Renderers: golden DOT and markdown for two profiles, determinism, and the committed diagrams."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import networkx as nx
import pytest

from engine.cli.main import main
from engine.inputs.profiles import profile_facts
from engine.pipeline import REFERENCE_DATE, Engine
from engine.render.dot import render_dot

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
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


needs_dot_summary = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


# -- issue 14: the summary graph fits a page -------------------------------------------------------------

@needs_dot_summary
@pytest.mark.parametrize("profile", sorted(p.stem for p in (ROOT / "facts" / "profiles").glob("*.yaml")))
def test_the_summary_graph_of_every_profile_fits_a4_landscape_at_readable_text(profile: str) -> None:
    """≤ 1,800 × 1,400 pt natural size (A4 landscape at ≥ 8 pt text, no scaling trick); every decision with its
    chosen option, and each runner-up with the reason it lost; labels cut only at word boundaries."""
    import re

    from engine.explain.provenance import summary_graph
    from engine.render.dot import dot_to

    rec = Engine.for_rules().recommend(profile_facts(ROOT / "facts" / "profiles" / f"{profile}.yaml"),
                                       today=REFERENCE_DATE)
    svg = dot_to(rec.to_dot(), "svg").decode()
    width, height = (int(v) for v in re.search(r'width="(\d+)pt" height="(\d+)pt"', svg).groups())
    assert width <= 1800 and height <= 1400, (width, height)
    assert min(float(f) for f in re.findall(r'font-size="([\d.]+)"', svg)) >= 8
    graph = summary_graph(rec)
    decisions = [n for n, d in graph.nodes(data=True) if d["kind"] == "decision"]
    assert len(decisions) >= 8
    runners = [d for _, d in graph.nodes(data=True) if d.get("summary")]
    assert runners and all(d["why"][0] and "None" not in d["why"][0] for d in runners)
    dot = rec.to_dot()
    assert "..." not in dot                       # the old cut: "... at 0.68 USD/GP..."
    assert all(dot[m.start() - 1] == " " or dot[m.start() - 2:m.start()] == "\\n"   # after a space or a line break:
               for m in re.finditer("…", dot))                                       # whole words only
    full = rec.to_dot("full")
    assert len(full) > 2 * len(dot) and "Legend" in full


def test_shortened_labels_keep_hyphenated_ids_whole() -> None:
    from engine.decide.tally import shorten

    text = "the chosen plan has tool-reproducibility +3; it has tool-beginners-teams-ui +2"
    assert shorten(text, 60) == "the chosen plan has tool-reproducibility +3; it has …"
    assert shorten("short", 60) == "short"


@pytest.mark.parametrize("profile", ["beginner", "production", "alignment"])
def test_answers_cite_the_book_section_by_its_title_not_as_the_seed(profile: str) -> None:
    """Issue 14: a user cannot open "the seed"; answers name the section (rules/catalog/citations.yaml)."""
    rec = Engine.for_rules().recommend(profile_facts(ROOT / "facts" / "profiles" / f"{profile}.yaml"),
                                       today=REFERENCE_DATE)
    for text in (rec.to_markdown(), rec.to_text(), json.dumps(rec.to_dict())):
        assert "seed 17.3" not in text and "seed section" not in text
    assert "LLM fine-tuning book, 17.3." in rec.to_markdown()
    assert any(r.source.startswith("seed") for r in rec.rulebase.rules())   # the rules themselves are unchanged


def test_text_gives_one_line_per_warning_and_verbose_gives_the_whole_note() -> None:
    """Issue 14: shorter answers; the full paragraphs stay in --verbose and in the markdown."""
    rec = Engine.for_rules().recommend(profile_facts(ROOT / "facts" / "profiles" / "beginner.yaml"),
                                       today=REFERENCE_DATE)
    short, full = rec.to_text(), rec.to_text(verbose=True)
    for warning in rec.to_dict()["warnings"]:
        line = next(item for item in short.splitlines() if f"] {warning['id']}: " in item)
        assert len(line) <= 180 and (warning["message"] in line or line.endswith("…"))
        assert warning["message"] in full and warning["message"] in rec.to_markdown()
    assert len(short) < len(full)
