"""`tuneplan serve`: the web page for reviewers and rule editors, and its JSON API (docs/web.md)."""

from __future__ import annotations

import argparse
import logging
import sys

from engine.errors import UsageError, UserError
from engine.language.ir import RuleBase

NAME = "serve"
HELP = "serve the web page and JSON API (recommend, rules view and editor)"
NEEDS_RULES = False  # the editor must start on broken rules: that is when it is needed


def add_arguments(parser: argparse.ArgumentParser, rulebase: RuleBase | None) -> None:
    """Address, rules directory and the editing switch."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this "
                                                             "machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--rules", metavar="DIR", help="rules directory (default: the project's rules/)")
    parser.add_argument("--allow-edit", action="store_true",
                        help="let the browser save rule files (off by default)")
    parser.add_argument("--allow-host", metavar="NAME", action="append", default=[],
                        help="another name this server answers to when listening beyond this machine "
                             "(repeatable; its own address and host name are always accepted)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from engine.language.loader import DEFAULT_RULES
    from engine.web.server import make_server

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {args.port}")
    rules_dir = args.rules or DEFAULT_RULES
    try:
        server = make_server(rules_dir, args.host, args.port, allow_edit=args.allow_edit,
                             allowed_hosts=tuple(args.allow_host))
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    editing = "editing ON (--allow-edit)" if args.allow_edit else "editing off"
    print(f"tuneplan: serving {server.start_url} for rules in {rules_dir} ({editing}); ^C stops",
          file=sys.stderr)
    if server.token:
        print(f"tuneplan: warning: listening on {args.host}, reachable from other machines; every POST needs the "
              f"token in the URL above (header X-Tuneplan-Token)"
              + ("; whoever has it can change the rule files" if args.allow_edit else ""), file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("tuneplan: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0
