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
    from engine.language.loader import load_rules
    from engine.pipeline import Engine, recommend
    from engine.render.views import Report as Recommendation

_LAZY = {"recommend": ("engine.pipeline", "recommend"), "Engine": ("engine.pipeline", "Engine"),
         "Recommendation": ("engine.render.views", "Report"),   # what recommend returns: the data and its views
         "load_rules": ("engine.language.loader", "load_rules")}


def __getattr__(name: str) -> Any:
    """The engine's heavier names (durable-rules, numpy) are imported on first use, not with the package."""
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
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
