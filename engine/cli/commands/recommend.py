"""`tuneplan recommend`: constraints (profile, --set, --FACT flags) → explanation and graph."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from engine.errors import RuleFileError, UsageError, UserError
from engine.inputs.facts import constraint_specs
from engine.inputs.profiles import profile_facts
from engine.language.ir import RuleBase
from engine.tools.fileio import write_atomic

NAME = "recommend"
HELP = "recommend a fine-tuning setup for some constraints"
NEEDS_RULES = True


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """Options, plus one flag per constraint fact of the loaded schema."""
    parser.add_argument("profile", nargs="?", help="a constraint profile (YAML), e.g. facts/profiles/beginner.yaml")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", help="a constraint fact (repeatable)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument("--graph", metavar="FILE", help="write the decision graph (.dot, .svg or .png)")
    parser.add_argument("--graph-detail", choices=("summary", "full"), default="summary",
                        help="summary (default): the decision at a glance, fits a page; full: every rule, option "
                             "and check")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the explanation to FILE instead of stdout")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="text format: every warning's whole note and source (default: one line each)")
    parser.add_argument("--model-config", metavar="CONFIG_JSON",
                        help="plan a model from its Hugging Face config.json (dense or mixture of experts), "
                             "e.g. one released this week")
    parser.add_argument("--from-config", metavar="FILE",
                        help="read the constraints from an Axolotl or LLaMA-Factory YAML you already have "
                             "(flags still override them)")
    parser.add_argument("--emit-config", metavar="DIR",
                        help="write the chosen tool's ready-to-run config (and DeepSpeed/accelerate files, RUN.md) "
                             "into DIR")
    parser.add_argument("--rules", metavar="DIR", help="rules directory (default: the project's rules/)")
    parser.add_argument("--today", metavar="YYYY-MM-DD", type=_date,
                        help="the date prices are aged against (default: today), for reproducible output")
    if rulebase is None:
        return
    group = parser.add_argument_group("constraint facts (facts/schema.yaml)")
    for name, spec in sorted(constraint_specs(rulebase).items()):
        flag = "--" + name.replace("_", "-")
        allowed = f" [{', '.join(spec.values)}]" if spec.values else ""
        description = spec.description.replace("%", "%%")  # argparse formats help text
        unit = f" ({spec.unit})" if spec.unit else ""
        shown = str(spec.default).lower() if isinstance(spec.default, bool) else spec.default
        default = f" default: {shown}" if spec.default is not None else ""
        if spec.type == "bool":
            group.add_argument(flag, dest=f"fact_{name}", nargs="?", const="true", metavar="true|false",
                               help=f"{description}{default}")
        elif spec.type == "enum" and "true" in spec.values:  # tri-state (auto|true|false): the bare flag is true
            group.add_argument(flag, dest=f"fact_{name}", nargs="?", const="true", metavar="|".join(spec.values),
                               help=f"{description}{default}")
        else:
            group.add_argument(flag, dest=f"fact_{name}", metavar=spec.type.upper(),
                               help=f"{description}{unit}{allowed}{default}")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def gather_facts(args: argparse.Namespace) -> dict[str, Any]:
    """Profile, then --set, then --FACT flags; later ones win."""
    facts: dict[str, Any] = profile_facts(args.profile) if args.profile else {}
    if getattr(args, "from_config", None):
        from engine.language.loader import load_rules
        from engine.tools.readconfig import read_config

        given = any(getattr(args, f"fact_{n}", None) is not None for n in ("model", "model_params_b"))
        facts.update(read_config(Path(args.from_config), load_rules(args.rules), model_given=given))
    for item in args.set or []:
        if "=" not in item:
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        facts[name.strip()] = value.strip()
    for key, value in vars(args).items():
        if key.startswith("fact_") and value is not None:
            facts[key[5:]] = value
    return facts


def run(args: argparse.Namespace) -> int:
    """Recommend a setup for the given constraints and print or write it."""
    from engine.pipeline import Engine
    from engine.tools.check import check_profile

    engine = Engine.for_rules(args.rules)
    if args.profile:  # report every problem of the profile at its line, not only the first
        problems = check_profile(Path(args.profile), engine.rulebase)
        if problems:
            raise RuleFileError(problems)
    facts = gather_facts(args)
    rec = engine.recommend(facts, today=args.today, model_config=_model_config(args, facts))
    graph_link = None
    if args.graph:
        graph_path = Path(args.graph)
        fmt = graph_path.suffix.lstrip(".").lower()
        if fmt not in ("dot", "svg", "png"):
            raise UsageError(f"--graph must end in .dot, .svg or .png, got {args.graph!r}")
        from engine.render.dot import dot_to  # networkx and Graphviz only when a graph is asked for

        dot_text = rec.to_dot(args.graph_detail)
        write_atomic(graph_path, dot_text if fmt == "dot" else dot_to(dot_text, fmt), inputs=_inputs(args))
        graph_link = os.path.relpath(graph_path, Path(args.output).parent) if args.output else str(graph_path)
    if args.format == "json":
        text = json.dumps(rec.to_dict(), indent=2, ensure_ascii=False) + "\n"
    elif args.format == "markdown":
        text = rec.to_markdown(graph_link=graph_link)
    else:
        text = rec.to_text(verbose=args.verbose)
    if args.emit_config and not rec.blocked:
        _emit_config(rec, Path(args.emit_config), _inputs(args))
    if args.output:
        write_atomic(Path(args.output), text, inputs=_inputs(args))
    else:
        sys.stdout.write(text)
    if rec.blocked:
        print(f"tuneplan: no {', '.join(rec.blocked)} satisfies the constraints; see the warnings and the "
              "rejected options", file=sys.stderr)
        return 1
    return 0


def _model_config(args: argparse.Namespace, facts: dict[str, Any]) -> Any:
    """The shape of --model-config, or of a profile's ``model_config`` (relative to the profile); None."""
    path = args.model_config or facts.pop("model_config", None)
    if not path:
        return None
    from engine.inputs.modelconfig import read_model_config

    if not args.model_config and args.profile:
        path = str(Path(args.profile).parent / str(path))
    return read_model_config(path)


def _emit_config(rec: Any, folder: Path, inputs: list[str]) -> None:
    """The run's files into ``folder`` (created if it is missing; its parent must exist), each atomically."""
    from engine.tools.emit import emit

    files = emit(rec)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--emit-config {folder}: it exists and is not a folder")
    if not folder.exists():
        if not folder.parent.is_dir():
            raise UserError(f"--emit-config {folder}: its parent folder {folder.parent} does not exist")
        folder.mkdir()
    for item in files:
        write_atomic(folder / item.name, item.text, inputs=inputs)
    print(f"tuneplan: wrote {', '.join(str(folder / f.name) for f in files)}", file=sys.stderr)


def _inputs(args: argparse.Namespace) -> list[str]:
    """The files this command reads, which its outputs must not replace."""
    return [p for p in (args.profile, getattr(args, "rules", None), getattr(args, "from_config", None),
                        getattr(args, "model_config", None)) if p]
