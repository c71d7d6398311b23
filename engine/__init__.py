"""tuneplan: an explainable, rules-based recommender for LLM fine-tuning setups.

    from engine import recommend, load_rules
    rec = recommend({"model": "llama-3.1-8b", "method": "lora"})
    rec.to_dict(); rec.to_markdown(); rec.graph

``recommend`` reuses the compiled engine of an unchanged rules directory; ``Engine.for_rules(dir)`` held by
the caller is the fast path for many calls. Importing the package loads only the error classes; the rest
is imported on first use.
"""

from typing import TYPE_CHECKING, Any

from engine.errors import (
    ConstraintError,
    EngineError,
    RenderError,
    RuleFileError,
    TuneplanError,
    UsageError,
    UserError,
)

if TYPE_CHECKING:
    from engine.explain.recommendation import Recommendation
    from engine.language.loader import load_rules
    from engine.pipeline import Engine, recommend

_LAZY = {"recommend": "engine.pipeline", "Engine": "engine.pipeline", "Recommendation": "engine.explain.recommendation",
         "load_rules": "engine.language.loader"}


def __getattr__(name: str) -> Any:
    """The engine's heavier names (durable-rules, numpy) are imported on first use, not with the package."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    "ConstraintError",
    "Engine",
    "EngineError",
    "Recommendation",
    "RenderError",
    "RuleFileError",
    "TuneplanError",
    "UsageError",
    "UserError",
    "load_rules",
    "recommend",
]
