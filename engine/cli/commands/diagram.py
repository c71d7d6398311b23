"""`tuneplan diagram`: regenerate the rule-base and profile diagrams (.dot, and .svg with Graphviz)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from engine.inputs.profiles import profile_facts
from engine.language.ir import RuleBase
from engine.language.loader import PROJECT_ROOT, load_rules
from engine.tools.fileio import write_atomic

NAME = "diagram"
HELP = "regenerate the rule-base and example diagrams"
NEEDS_RULES = False


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """Output folder, rules and profiles folders, and --check."""
    parser.add_argument("--out", default="diagrams", metavar="DIR", help="output folder (default: diagrams/)")
    parser.add_argument("--rules", metavar="DIR", help="rules directory (default: the project's rules/)")
    parser.add_argument("--profiles", default=str(PROJECT_ROOT / "facts" / "profiles"), metavar="DIR",
                        help="constraint profiles to draw decisions for")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed .dot differs from a fresh one")
    parser.add_argument("--no-svg", action="store_true", help="write .dot only")


def run(args: argparse.Namespace) -> int:
    """Write (or check) every diagram; SVGs are drawn with Graphviz when it is installed."""
    from engine.render.dot import dot_to
    from engine.tools.diagrams import diagram_sources

    rulebase = load_rules(args.rules)
    profiles = {p.stem: profile_facts(p) for p in sorted(Path(args.profiles).glob("*.yaml"))}
    sources = diagram_sources(rulebase, profiles)
    out = Path(args.out)
    if args.check:
        stale = [n for n, text in sources.items() if not (out / n).is_file() or (out / n).read_text() != text]
        for name in stale:
            print(f"{out / name}: stale; run 'tuneplan diagram --out {out}'")
        return 1 if stale else 0
    svg = not args.no_svg and shutil.which("dot") is not None
    for name, text in sources.items():
        write_atomic(out / name, text, make_parents=True)
        if svg:
            write_atomic(out / name.replace(".dot", ".svg"), dot_to(text, "svg"), make_parents=True)
    if not svg and not args.no_svg:
        print("tuneplan: Graphviz 'dot' not found: wrote .dot files only", file=sys.stderr)
    print(f"wrote {len(sources)} diagram(s) to {out}/" + (" (.dot and .svg)" if svg else " (.dot)"))
    return 0
