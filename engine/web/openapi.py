"""The OpenAPI 3.1 description of the web API, served at /api/openapi.json. A test checks that it
names exactly the routes ``WebApp`` answers."""

from __future__ import annotations

from typing import Any

_REF_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "malformed request: bad JSON, a wrong type, a path that is not a YAML file",
        403: "refused: a path outside the rules directory, editing off, or a cross-site request",
        404: "no such rule file",
        409: "the file changed on disk since it was read",
        413: "the body is larger than the limit (1 MiB by default)",
        415: "the body is not sent as application/json",
        422: "the input has problems: an unknown or bad constraint, or rules that do not load",
        500: "a bug in tuneplan (no traceback is sent; the server log has it)",
    }
    return {str(code): _json(_REF_ERROR, meaning[code]) for code in codes}


_EDIT = {
    "type": "object",
    "description": "An edit of one rule file (path + text) or several (files). Without either, the saved rules.",
    "properties": {
        "path": {"type": "string", "description": "rule file relative to the rules directory",
                 "examples": ["sets/tool.yaml"]},
        "text": {"type": "string", "description": "the file's full new text"},
        "files": {"type": "object", "additionalProperties": {"type": "string"},
                  "description": "several edited files: path → text"},
    },
}
_CONSTRAINT_QUERY = {
    "name": "constraints", "in": "query", "style": "form", "explode": True,
    "schema": {"type": "object", "additionalProperties": {"type": "string"}},
    "description": "constraint facts as NAME=VALUE pairs (see /api/schema), e.g. model=llama-3.1-8b&method=lora",
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    recommend_ok = _json({"$ref": "#/components/schemas/RecommendResult"}, "the recommendation")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tuneplan",
            "version": "0.1.0",
            "description": "Recommendations for LLM fine-tuning setups from YAML rules, and the tools rule "
                           "editors use on those rules (check, lint, diff). Errors are JSON "
                           "{\"error\": message, \"problems\": [...]}. POST bodies are JSON (application/json), "
                           "at most 1 MiB.",
        },
        "paths": {
            "/api/schema": {"get": {
                "summary": "The constraint facts: type, unit, allowed values, default, range",
                "operationId": "schema",
                "responses": {"200": _json({"$ref": "#/components/schemas/Schema"}, "the fact schema"),
                              **_errors(422)},
            }},
            "/api/recommend": {
                "post": {
                    "summary": "Recommend a setup for a constraint object",
                    "operationId": "recommend",
                    "parameters": [{"name": "svg", "in": "query", "schema": {"type": "boolean", "default": True},
                                    "description": "include the decision graph as SVG text"}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                        "examples": [{"model": "llama-3.1-8b", "method": "lora", "budget_usd": 50}]}}}},
                    "responses": {"200": recommend_ok, **_errors(400, 413, 415, 422, 500)},
                },
                "get": {
                    "summary": "Recommend a setup for constraints given in the query string",
                    "operationId": "recommendQuery",
                    "parameters": [_CONSTRAINT_QUERY],
                    "responses": {"200": recommend_ok, **_errors(400, 422, 500)},
                },
            },
            "/api/recommend.md": {"get": {
                "summary": "The recommendation as a markdown file (attachment)",
                "operationId": "recommendMarkdown",
                "parameters": [_CONSTRAINT_QUERY],
                "responses": {"200": {"description": "markdown",
                                      "content": {"text/markdown": {"schema": {"type": "string"}}}},
                              **_errors(400, 422, 500)},
            }},
            "/api/emit": {"get": {
                "summary": "The chosen tool's ready-to-run config files (as `recommend --emit-config` writes them)",
                "operationId": "emitConfig",
                "parameters": [_CONSTRAINT_QUERY],
                "responses": {"200": {"description": "files", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["tool", "files"],
                    "properties": {"tool": {"type": "string"}, "files": {"type": "array", "items": {
                        "type": "object", "required": ["name", "kind", "text"],
                        "properties": {"name": {"type": "string"}, "kind": {"type": "string"},
                                       "text": {"type": "string"}}}}}}}}},
                              **_errors(400, 422, 500)},
            }},
            "/api/graph.svg": {"get": {
                "summary": "The decision graph of the recommendation as SVG",
                "operationId": "graphSvg",
                "parameters": [_CONSTRAINT_QUERY],
                "responses": {"200": {"description": "SVG",
                                      "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                              **_errors(400, 422, 500)},
            }},
            "/api/rules": {"get": {
                "summary": "Rule sets, rules (source, line, how many scenarios fire them), catalogs, files",
                "operationId": "rules",
                "responses": {"200": _json({"type": "object", "properties": {
                    "allow_edit": {"type": "boolean"}, "files": {"type": "array", "items": {"type": "string"}},
                    "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                    "rulesets": {"type": "array", "items": {"type": "object"}},
                    "catalogs": {"type": "array", "items": {"type": "object"}},
                    "scenarios": {"type": "object"}}}, "the rule base"), **_errors(500)},
            }},
            "/api/file": {"get": {
                "summary": "One rule file's text and SHA-256",
                "operationId": "file",
                "parameters": [{"name": "path", "in": "query", "required": True, "schema": {"type": "string"},
                                "description": "relative to the rules directory"}],
                "responses": {"200": _json({"type": "object", "properties": {
                    "path": {"type": "string"}, "text": {"type": "string"}, "sha256": {"type": "string"},
                    "editable": {"type": "boolean"}}}, "the file"), **_errors(400, 403, 404, 422)},
            }},
            "/api/check": {"post": {
                "summary": "`tuneplan check` on the saved rules or on a copy with the edited text",
                "operationId": "check",
                "requestBody": {"required": False, "content": {"application/json": {"schema": _EDIT}}},
                "responses": {"200": _json({"$ref": "#/components/schemas/CheckResult"}, "the problems"),
                              **_errors(400, 403, 404, 413, 415, 500)},
            }},
            "/api/lint": {"post": {
                "summary": "`tuneplan lint` (after check) on the saved rules or an edited copy",
                "operationId": "lint",
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "allOf": [_EDIT, {"type": "object", "properties": {
                        "gaps": {"type": "boolean", "default": False,
                                 "description": "also run the gap check (seconds, not milliseconds)"}}}]}}}},
                "responses": {"200": _json({"$ref": "#/components/schemas/LintResult"}, "problems and findings"),
                              **_errors(400, 403, 404, 413, 415, 500)},
            }},
            "/api/diff": {"post": {
                "summary": "Which recommendations the edited text changes against the saved rules",
                "operationId": "diff",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "allOf": [_EDIT, {"type": "object", "properties": {
                        "grid": {"type": "boolean", "default": True,
                                 "description": "replay the built-in grid besides the scenarios"}}}]}}}},
                "responses": {"200": _json({"type": "object", "description": "`tuneplan diff --format json`, "
                                           "plus summary and markdown"}, "the changes"),
                              **_errors(400, 403, 404, 413, 415, 422, 500)},
            }},
            "/api/save": {"post": {
                "summary": "Save a rule file atomically, only when check finds no problem (needs --allow-edit)",
                "operationId": "save",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["path", "text"], "properties": {
                        "path": {"type": "string"}, "text": {"type": "string"},
                        "base_sha256": {"type": "string",
                                        "description": "sha256 from /api/file: refuse (409) if the file changed"}}}}}},
                "responses": {"200": _json({"type": "object", "properties": {
                    "saved": {"type": "string"}, "sha256": {"type": "string"}, "bytes": {"type": "integer"}}},
                    "saved"), **_errors(400, 403, 404, 409, 413, 415, 422, 500)},
            }},
            "/api/openapi.json": {"get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }},
        },
        "components": {"schemas": {
            "Problem": {"type": "object", "required": ["file", "line", "col", "message"], "properties": {
                "file": {"type": "string", "description": "relative to the rules directory"},
                "line": {"type": "integer"}, "col": {"type": "integer"},
                "level": {"type": "string", "enum": ["error", "warning"]}, "message": {"type": "string"}}},
            "Finding": {"type": "object", "properties": {
                "file": {"type": "string"}, "line": {"type": "integer"}, "col": {"type": "integer"},
                "level": {"type": "string", "enum": ["error", "warning"]}, "lint_id": {"type": "string"},
                "rules": {"type": "array", "items": {"type": "string"}}, "message": {"type": "string"},
                "fix": {"type": "string"}}},
            "Error": {"type": "object", "required": ["error", "problems"], "properties": {
                "error": {"type": "string"},
                "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                "fact": {"type": "string", "description": "the constraint at fault, when one is"}}},
            "Schema": {"type": "object", "properties": {"facts": {"type": "array", "items": {
                "type": "object", "properties": {
                    "name": {"type": "string"},
                    "type": {"type": "string", "enum": ["number", "integer", "bool", "enum", "catalog"]},
                    "unit": {"type": "string"}, "description": {"type": "string"},
                    "values": {"type": "array", "items": {"type": "string"}},
                    "catalog": {"type": ["string", "null"]}, "default": {},
                    "minimum": {"type": ["number", "null"]}, "maximum": {"type": ["number", "null"]},
                    "min_exclusive": {"type": ["number", "null"]}}}}}},
            "RecommendResult": {"type": "object", "properties": {
                "recommendation": {"type": "object", "description": "Recommendation.to_dict() (CONTRACT.md)"},
                "markdown": {"type": "string"}, "svg": {"type": ["string", "null"]},
                "graph_error": {"type": "string"}, "blocked": {"type": "array", "items": {"type": "string"}},
                "graph_url": {"type": "string"}, "full_graph_url": {"type": "string"},
                "markdown_url": {"type": "string"}, "emit_url": {"type": "string"},
                "page_url": {"type": "string"}}},
            "CheckResult": {"type": "object", "properties": {
                "ok": {"type": "boolean"}, "summary": {"type": "string"},
                "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}}}},
            "LintResult": {"type": "object", "properties": {
                "ok": {"type": "boolean"}, "summary": {"type": "string"},
                "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                "findings": {"type": "array", "items": {"$ref": "#/components/schemas/Finding"}}}},
        }},
    }
