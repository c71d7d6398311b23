"""Shape checks of YAML documents against the published JSON Schemas (jsonschema), as Problems
located at file:line:col, with 'did you mean' for unknown keys."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from engine.errors import MAX_PROBLEMS, Problem
from engine.language.suggest import did_you_mean
from engine.language.yamlsource import Document

MAX_MESSAGE = 200  # jsonschema quotes the offending value whole; a 4 MB string must not flood the terminal
_UNEXPECTED = re.compile(r"'([^']+)' (?:was|were) unexpected|\('([^)]+)' (?:was|were) unexpected")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in engine/language/schemas/ (ruleset, catalog, scenarios)."""
    text = resources.files("engine.language").joinpath("schemas").joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def check_shape(doc: Document, schema_name: str, limit: int = MAX_PROBLEMS) -> list[Problem]:
    """The shape problems of ``doc`` against the named schema, the first ``limit`` of them (and a few more)."""
    problems: list[Problem] = []
    for error in _validator(schema_name).iter_errors(doc.data):
        problems.extend(_describe(doc, error))
        if len(problems) > limit:
            break
    return problems


def _describe(doc: Document, error: ValidationError) -> list[Problem]:
    if error.context:
        error = best_match(error.context)
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = list(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return [doc.problem((*path, key), f"unknown key '{key}'{did_you_mean(key, allowed)}; "
                                          f"allowed here: {', '.join(allowed)}") for key in extra]
    where = ".".join(str(p) for p in path) or "top level"
    if error.validator == "type":  # jsonschema would quote the whole value; name the types instead
        wanted = error.validator_value
        expected = wanted if isinstance(wanted, str) else \
            " or ".join(str(w) for w in wanted) if isinstance(wanted, list) else str(wanted)
        text = f"expected {expected}, got {_json_type(error.instance)}"
    else:
        text = error.message if len(error.message) <= MAX_MESSAGE else error.message[:MAX_MESSAGE] + "… (cut)"
    message = text
    if error.validator == "required":
        message = f"{where}: {text}"
    elif error.validator in ("type", "enum", "pattern", "minItems", "minLength", "oneOf", "minProperties"):
        message = f"'{where}': {text}"
    return [doc.problem(path, message)]


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
