"""Citations as a reader can follow them: the rules' short `source` citations ("seed 17.3.6 ...") rewritten
by rules/catalog/citations.yaml (the book section by its title), for the answers a user reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from engine.language.ir import RuleBase


@lru_cache(maxsize=8)
def _patterns(rulebase: RuleBase) -> tuple[tuple[re.Pattern[str], str], ...]:
    catalog = rulebase.catalogs.get("citations")
    if catalog is None:
        return ()
    pairs = [(str(e.attrs.get("match", "")), str(e.attrs.get("reads_as", ""))) for e in catalog.entries]
    pairs = [p for p in pairs if p[0] and p[1]]
    pairs.sort(key=lambda p: -len(p[0]))   # "seed 17.3.6" before "seed 17.3"
    return tuple((re.compile(re.escape(match) + r"(?![\d.]*\d)"), reads) for match, reads in pairs)


def readable(source: str, rulebase: RuleBase) -> str:
    """The citation with every known short form replaced by how a reader finds it."""
    for pattern, reads in _patterns(rulebase):
        source = pattern.sub(_replacement(reads), source)
    return source


def _replacement(reads: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        # "seed 17.3.8 Advanced workflow" reads "…, 17.3.8 Recommended Workflows: Advanced workflow"
        return reads + (":" if re.match(r" [A-Za-z']", match.string[match.end():]) else "")
    return replace
