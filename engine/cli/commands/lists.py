"""`tuneplan list`: the models, GPUs, platforms and tools the catalogs know, with prices and their dates."""

from __future__ import annotations

import argparse
import json
import sys

from engine.language.ir import RuleBase
from engine.tools.listing import KINDS

NAME = "list"
HELP = "list the known models, gpus, platforms or tools (ids to pass to recommend, prices with their dates)"
NEEDS_RULES = True


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """What to list, the format and the rules directory."""
    parser.add_argument("what", choices=KINDS, help="which catalog to list")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                        help="markdown: a table; `list sources --format markdown` is docs/sources.md")
    parser.add_argument("--rules", metavar="DIR", help="rules directory (default: the shipped rules)")


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    from engine.language.loader import load_rules
    from engine.tools.listing import render_markdown, render_text, sources_document, table

    rulebase = load_rules(args.rules)
    tab = table(rulebase, args.what)
    if args.format == "markdown":
        sys.stdout.write(sources_document(rulebase) if args.what == "sources" else render_markdown(tab))
    elif args.format == "json":
        data = {"kind": tab.kind, "columns": {key: heading for key, heading in tab.columns}, "rows": list(tab.rows)}
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_text(tab))
    return 0
