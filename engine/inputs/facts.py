"""Constraint facts: validate and normalise what a user gives (CLI strings, a profile, a dict)
against the fact schema — types, units, ranges, enums, catalog ids, defaults. Never mutates its input."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from engine.errors import ConstraintError
from engine.language.ir import FactSpec, RuleBase
from engine.language.suggest import did_you_mean

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def constraint_specs(rulebase: RuleBase) -> dict[str, FactSpec]:
    """The facts a user may give (the schema's constraints, not the derived facts)."""
    return {n: f for n, f in rulebase.facts.items() if f.derived_stage is None}


def normalise(raw: Mapping[str, Any], rulebase: RuleBase) -> dict[str, Any]:
    """Validated constraint facts with defaults filled in; raises ConstraintError naming the fact."""
    specs = constraint_specs(rulebase)
    out: dict[str, Any] = {}
    for given_name, value in raw.items():
        name = str(given_name).replace("-", "_")
        spec = specs.get(name)
        if spec is None:
            if name in rulebase.facts:
                raise ConstraintError(name, "is derived by the engine and cannot be given")
            escaped = name.encode("unicode_escape").decode("ascii")
            shown = escaped if len(escaped) <= 60 else escaped[:60] + "..."
            raise ConstraintError(shown, f"unknown fact{did_you_mean(name[:200], specs)}; "
                                        f"known facts: {', '.join(sorted(specs))}")
        if value is None:
            continue
        out[name] = coerce(spec, value, rulebase)
    for name, spec in specs.items():
        if name not in out and spec.default is not None:
            out[name] = spec.default
    if "owned_gpu_count" in out and "owned_gpu" not in out:
        raise ConstraintError("owned_gpu_count", "needs owned_gpu, the GPU you own (e.g. --owned-gpu rtx-4090 "
                                                 "--owned-gpu-count 2)")
    if "model" not in out and "model_params_b" not in out:
        raise ConstraintError("model", "name a catalog model (e.g. --model llama-3.1-8b) or give the size "
                                       "with model_params_b (e.g. --model-params-b 7)")
    return out


def coerce(spec: FactSpec, value: Any, rulebase: RuleBase) -> Any:
    """One value, converted from text where needed and checked against its spec."""
    name = spec.name
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConstraintError(name, f"expected true or false, got {_show(value)}")
    if spec.type in ("number", "integer"):
        return _number(spec, value)
    text = str(value).strip()
    if spec.type == "enum" and "true" in spec.values and (isinstance(value, bool) or text.lower() in _TRUE | _FALSE):
        # a tri-state enum (auto, true, false) given as YAML true/false, or as on/off, yes/no, 1/0
        text = "true" if (value is True or text.lower() in _TRUE) else "false"
    if spec.type == "enum":
        if text not in spec.values:
            hint = did_you_mean(text, spec.values) or did_you_mean(text.lower(), spec.values)
            raise ConstraintError(name, f"{_show(text)} is not allowed{hint}; "
                                        f"allowed: {', '.join(spec.values)}")
        return text
    if spec.type == "catalog":
        catalog = rulebase.catalogs.get(spec.catalog)
        ids = catalog.ids() if catalog else ()
        if text not in ids:
            hint = did_you_mean(text, ids) or did_you_mean(text.lower(), ids)
            kind = {"gpus": "GPU"}.get(spec.catalog, spec.catalog.removesuffix("s"))   # "unknown model id"
            raise ConstraintError(name, f"unknown {kind} id {_show(text)}{hint}; "
                                        f"known: {', '.join(ids)}")
        return text
    raise ConstraintError(name, f"has unsupported type {spec.type}")  # pragma: no cover - schema-checked


_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _from_text(name: str, kind: str, unit: str, value: str) -> float:
    text = value.strip()
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise ConstraintError(name, f"expected a finite number{unit}, got {_show(value)}")
    if not _NUMBER.fullmatch(text):
        # strictly ASCII decimal: float() would also take '1_000', other scripts' digits and 'infinity'
        hint = " (write it in plain digits, e.g. 8 or 0.5)" if any(c.isdigit() for c in text) else ""
        raise ConstraintError(name, f"expected {kind}{unit}, got {_show(value)}{hint}")
    return float(text)


def _number(spec: FactSpec, value: Any) -> int | float:
    name = spec.name
    kind = "a whole number" if spec.type == "integer" else "a number"
    unit = f" ({spec.unit})" if spec.unit else ""
    if isinstance(value, bool):
        raise ConstraintError(name, f"expected {kind}{unit}, got {_show(value)}")
    if isinstance(value, str):
        number: float = _from_text(name, kind, unit, value)
    elif isinstance(value, int | float):
        number = value
    else:
        raise ConstraintError(name, f"expected {kind}{unit}, got {_show(value)}")
    try:
        finite = math.isfinite(number)
    except OverflowError:  # an int beyond the float range
        finite = False
    if not finite:
        raise ConstraintError(name, f"expected a finite number{unit}, got {_show(value)}")
    if spec.type == "integer":
        if number != int(number):
            raise ConstraintError(name, f"expected a whole number{unit}, got {_show(value)}")
        number = int(number)
    if spec.minimum is not None and number < spec.minimum:
        raise ConstraintError(name, f"must be at least {spec.minimum:g}{unit}, got {_show(value)}")
    if spec.min_exclusive is not None and number <= spec.min_exclusive:
        raise ConstraintError(name, f"must be greater than {spec.min_exclusive:g}{unit}, got {_show(value)}")
    if spec.maximum is not None and number > spec.maximum:
        raise ConstraintError(name, f"must be at most {spec.maximum:g}{unit}, got {_show(value)}")
    return number


def _show(value: Any, limit: int = 60) -> str:
    """A value as it appears in a message: its repr, cut short so that hostile input cannot flood it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
