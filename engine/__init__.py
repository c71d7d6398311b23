"""tuneplan: an explainable, rules-based recommender for LLM fine-tuning setups.

    from engine import recommend, load_rules
    rec = recommend({"model": "llama-3.1-8b", "method": "lora"})
    rec.to_dict(); rec.to_markdown(); rec.graph
"""

from engine.errors import (
    ConstraintError,
    EngineError,
    RenderError,
    RuleFileError,
    TuneplanError,
    UsageError,
    UserError,
)
from engine.loader import load_rules

__all__ = [
    "ConstraintError",
    "EngineError",
    "RenderError",
    "RuleFileError",
    "TuneplanError",
    "UsageError",
    "UserError",
    "load_rules",
]
