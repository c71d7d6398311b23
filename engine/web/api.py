"""The web API as plain functions of a request: no sockets here, so the routes are tested without a
server and the HTTP layer (engine/web/server.py) stays a thin shell around ``WebApp.handle``.

Every answer is JSON, SVG, markdown or a static file; every error is JSON ``{"error", "problems"}``
with a status that says whose fault it is (4xx the request's, 500 a bug, reported without a traceback).

Longer than 400 lines because ``WebApp`` is the route table: one short method per endpoint (recommend, graph,
markdown, emit, schema, the editor's rules/file/check/lint/diff/save), each a few lines over the library, and
splitting the class would scatter the one place that says what the server answers and how it refuses.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from engine.errors import ConstraintError, Problem, RenderError, RuleFileError, TuneplanError
from engine.inputs.facts import constraint_specs
from engine.language.ir import RuleBase
from engine.language.loader import load_rules
from engine.render.views import Report as Recommendation
from engine.tools.isolate import DEFAULT_MEMORY_MIB, Limits
from engine.web.http import ApiError, Request, Response, flag, query_value
from engine.web.workspace import RefusedPathError, Workspace, sha256_text

log = logging.getLogger("engine.web")

MAX_EDITED_FILES = 50
RECOMMENDATION_CACHE = 64   # answers kept per server: the page asks for JSON, graph and markdown of one form
STATIC_FILES = {  # URL path -> (package file, content type); a fixed map, so no path reaches the disk
    "/": ("index.html", "text/html; charset=utf-8"),
    "/rules": ("rules.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}


def problem_dict(problem: Problem, workspace: Workspace, copy_root: Path | None = None) -> dict[str, Any]:
    """A loader problem as JSON, its file relative to the rules directory."""
    return {"file": workspace.relative(problem.file, copy_root), "line": problem.line, "col": problem.col,
            "level": "error", "message": problem.message}


class WebApp:
    """The routes of `tuneplan serve` over one rules directory."""

    def __init__(self, rules_dir: str | Path, *, allow_edit: bool = False, limits: Limits | None = None) -> None:
        self.workspace = Workspace.at(rules_dir)
        self.allow_edit = allow_edit
        self.limits = limits or Limits(seconds=60, memory_mib=DEFAULT_MEMORY_MIB)   # per edited-rules job
        self._save_lock = threading.Lock()       # check-then-write of one save is not interleaved with another
        self._fired_lock = threading.Lock()
        self._fired: dict[str, tuple[Counter[str], int, list[str]]] = {}   # rules digest -> scenario firings
        # diffs by (saved rules, edited text, grid): "Preview diff" then "Save…" of one text compiles once, which
        # matters because every compiled rule base stays registered in durable-rules' C core for good
        self._diffs: dict[tuple[str, str, bool], dict[str, Any]] = {}
        # recommendations by (rules digest, constraints as sent): deterministic, so answering the graph,
        # markdown and JSON of one form (and a re-sent form) from one evaluation changes nothing but time
        self._answers: OrderedDict[tuple[str, str], Recommendation] = OrderedDict()
        self._answers_lock = threading.Lock()
        self.routes: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("GET", "/api/schema"): self.schema,
            ("GET", "/api/recommend"): self.recommend_get,
            ("POST", "/api/recommend"): self.recommend_post,
            ("GET", "/api/recommend.md"): self.recommend_markdown,
            ("GET", "/api/graph.svg"): self.graph_svg,
            ("GET", "/api/emit"): self.emit_config,
            ("GET", "/api/rules"): self.rules,
            ("GET", "/api/file"): self.file,
            ("POST", "/api/check"): self.check,
            ("POST", "/api/lint"): self.lint,
            ("POST", "/api/diff"): self.diff,
            ("POST", "/api/save"): self.save,
            ("GET", "/api/openapi.json"): self.openapi,
        }

    # -- dispatch ------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Answer one request; never raises."""
        try:
            return self._dispatch(request)
        except Exception as exc:
            return self._error_response(request, exc)

    def _dispatch(self, request: Request) -> Response:
        if request.path == "/favicon.ico":
            return Response(204, "image/x-icon", b"")
        if request.method in ("GET", "HEAD") and request.path in STATIC_FILES:
            return self._static(request.path)
        route = self.routes.get(("GET" if request.method == "HEAD" else request.method, request.path))
        if route is None:
            allowed = sorted(m for m, p in self.routes if p == request.path)
            if allowed:
                raise ApiError(405, f"{request.method} is not allowed on {request.path}; use {', '.join(allowed)}")
            raise ApiError(404, f"no such page or endpoint: {request.path[:200]}")
        return route(request)

    def _error_response(self, request: Request, exc: Exception) -> Response:
        """The one error boundary: 4xx for what the request got wrong, 500 (logged, no traceback) for bugs."""
        if isinstance(exc, ApiError):
            return Response.json(exc.payload(), exc.status)
        if isinstance(exc, RefusedPathError):
            return Response.json({"error": exc.message, "problems": []}, exc.status)
        if isinstance(exc, RuleFileError):
            return Response.json({"error": f"the saved rules have {len(exc.problems)} problem(s); fix them "
                                           "in the rules view", "problems": self._problems(exc.problems)}, 422)
        if isinstance(exc, ConstraintError):
            return Response.json({"error": str(exc), "fact": exc.fact, "problems": []}, 422)
        if isinstance(exc, TuneplanError):
            return Response.json({"error": str(exc), "problems": []}, 422 if exc.exit_code == 1 else 500)
        log.error("internal error on %s %s", request.method, request.path, exc_info=exc)
        return Response.json({"error": f"internal error ({type(exc).__name__}); this is a bug in tuneplan, "
                                       "see the server log", "problems": []}, 500)

    def _static(self, path: str) -> Response:
        name, content_type = STATIC_FILES[path]
        data = resources.files("engine.web").joinpath("static", name).read_bytes()
        return Response(200, content_type, data, {"Cache-Control": "no-cache"})

    # -- request helpers -----------------------------------------------------------------------------
    @staticmethod
    def _json_body(request: Request) -> dict[str, Any]:
        if not request.body.strip():
            raise ApiError(400, "the request needs a JSON object as its body")
        try:
            data = json.loads(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(400, "the body is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise ApiError(400, "malformed JSON: nested too deeply") from None
        except ValueError as exc:  # an integer of more digits than Python converts (4,300), and the like
            raise ApiError(400, f"unusable JSON: {str(exc)[:120]}") from None
        if not isinstance(data, dict):
            raise ApiError(400, f"the body must be a JSON object, not {type(data).__name__}")
        return data

    def _problems(self, problems: list[Problem], copy_root: Path | None = None) -> list[dict[str, Any]]:
        return [problem_dict(p, self.workspace, copy_root) for p in sorted(set(problems))]

    def _rulebase(self) -> RuleBase:
        return load_rules(self.workspace.root)

    def _edits(self, body: Mapping[str, Any]) -> dict[Path, str]:
        """The edited files of a check/lint/diff/save body: ``path`` + ``text``, or ``files`` {path: text}."""
        if "files" in body:
            files = body["files"]
            if not isinstance(files, dict) or not files:
                raise ApiError(400, "'files' must be an object of rule file path → text")
            if len(files) > MAX_EDITED_FILES:
                raise ApiError(400, f"at most {MAX_EDITED_FILES} files per request")
        elif "path" in body or "text" in body:
            files = {body.get("path"): body.get("text")}
        else:
            return {}
        edits: dict[Path, str] = {}
        for rel, text in files.items():
            real = self.workspace.resolve(rel)
            if not isinstance(text, str):
                raise ApiError(400, f"'text' of {rel!r} must be the file's text (a string)")
            edits[real] = text
        return edits

    def _isolated(self, job: Callable[..., Any], *args: Any, edits: Mapping[Path, str]) -> Any:
        """A job of engine/web/jobs.py on an edited copy, in a worker process within the server's limits;
        a crash, timeout or the memory limit is a 422 that names the edited files (the server lives on)."""
        from engine.tools.isolate import IsolationError, run_isolated

        names = ", ".join(sorted(real.relative_to(self.workspace.root).as_posix() for real in edits)) or "the rules"
        try:
            return run_isolated(job, *args, limits=self.limits, what=f"the edited {names}")
        except IsolationError as exc:
            raise ApiError(422, str(exc), reason=exc.reason) from None

    def _tests(self, copy_root: Path, edits: Mapping[Path, str]) -> list[str]:
        """The copies of edited scenario files: the loader does not read them, `tuneplan test` does."""
        return [str(copy_root / real.relative_to(self.workspace.root)) for real in edits
                if real.relative_to(self.workspace.root).parts[0] == "tests"]

    # -- recommendation ------------------------------------------------------------------------------
    def schema(self, request: Request) -> Response:
        """The constraint facts, for the form: type, unit, allowed values, default, range, description."""
        rulebase = self._rulebase()
        facts = []
        for name, spec in constraint_specs(rulebase).items():
            values = list(spec.values)
            if spec.type == "catalog" and spec.catalog in rulebase.catalogs:
                values = list(rulebase.catalogs[spec.catalog].ids())
            facts.append({"name": name, "type": spec.type, "unit": spec.unit, "description": spec.description,
                          "values": values, "catalog": spec.catalog or None, "default": spec.default,
                          "minimum": spec.minimum, "maximum": spec.maximum, "min_exclusive": spec.min_exclusive})
        return Response.json({"facts": facts, "rules_digest": rulebase.digest[:16]})

    def _recommendation(self, constraints: Mapping[str, Any]) -> Recommendation:
        """The recommendation for these constraints under the saved rules (kept for a few repeats)."""
        from engine.pipeline import Engine

        if len(constraints) > 200:
            raise ApiError(400, "too many constraint facts")
        engine = Engine.for_rules(self.workspace.root)
        key = (engine.rulebase.digest, json.dumps(sorted(constraints.items()), default=str))
        with self._answers_lock:
            rec = self._answers.get(key)
            if rec is not None:
                self._answers.move_to_end(key)
                return rec
        rec = engine.recommend(constraints)
        with self._answers_lock:
            self._answers[key] = rec
            while len(self._answers) > RECOMMENDATION_CACHE:
                self._answers.popitem(last=False)
        return rec

    def _recommend(self, constraints: Mapping[str, Any], base_url: str, *, svg: bool) -> dict[str, Any]:
        from engine.render.dot import dot_to

        rec = self._recommendation(constraints)
        query = urlencode(sorted((k, query_value(v)) for k, v in constraints.items() if v is not None))
        graph_url = f"/api/graph.svg?{query}"
        out: dict[str, Any] = {
            "recommendation": rec.to_dict(),
            "markdown": rec.to_markdown(graph_link=f"{base_url}{graph_url}"),
            "blocked": list(rec.blocked),
            "graph_url": graph_url,
            "full_graph_url": f"{graph_url}{'&' if query else ''}detail=full",
            "markdown_url": f"/api/recommend.md?{query}",
            "emit_url": f"/api/emit?{query}",
            "page_url": f"/?{query}",
            "svg": None,
        }
        if svg:
            try:
                out["svg"] = dot_to(rec.to_dot(), "svg").decode("utf-8")
            except RenderError as exc:
                out["graph_error"] = str(exc)
        return out

    def recommend_post(self, request: Request) -> Response:
        """Constraints (a JSON object of fact → value) → the recommendation, its markdown and SVG graph."""
        constraints = self._json_body(request)
        return Response.json(self._recommend(constraints, request.base_url, svg=flag(request, "svg", True)))

    def recommend_get(self, request: Request) -> Response:
        """The same as POST, with the constraints in the query string (the page's shareable URL)."""
        constraints = {k: v for k, v in request.query.items() if k != "svg" and v != ""}
        return Response.json(self._recommend(constraints, request.base_url, svg=flag(request, "svg", True)))

    def recommend_markdown(self, request: Request) -> Response:
        """The recommendation as a markdown file to download."""
        constraints = {k: v for k, v in request.query.items() if v != ""}
        text = self._recommend(constraints, request.base_url, svg=False)["markdown"]
        return Response(200, "text/markdown; charset=utf-8", text.encode(),
                        {"Content-Disposition": 'attachment; filename="tuneplan-recommendation.md"'})

    def graph_svg(self, request: Request) -> Response:
        """The decision graph of the recommendation as SVG."""
        from engine.render.dot import dot_to

        detail = request.query.get("detail", "summary")
        if detail not in ("summary", "full"):
            raise ApiError(400, "query parameter 'detail' must be summary or full")
        constraints = {k: v for k, v in request.query.items() if v != "" and k != "detail"}
        rec = self._recommendation(constraints)
        return Response(200, "image/svg+xml", dot_to(rec.to_dot(detail), "svg"))

    def emit_config(self, request: Request) -> Response:
        """The chosen tool's ready-to-run config files for the recommendation (what --emit-config writes)."""
        from engine.tools.emit import emit

        constraints = {k: v for k, v in request.query.items() if v != ""}
        rec = self._recommendation(constraints)
        if rec.blocked:
            raise ApiError(422, "no plan satisfies the constraints, so there is no config to write")
        files = [{"name": f.name, "kind": f.kind, "text": f.text} for f in emit(rec)]
        return Response.json({"tool": rec.choice("tool"), "files": files})

    # -- rules ---------------------------------------------------------------------------------------
    def _scenario_firings(self, rulebase: RuleBase) -> tuple[Counter[str], int, list[str]]:
        """How many scenarios fired each rule, the number of scenarios, and their failures; per digest."""
        from engine.tools.scenarios import run_all

        with self._fired_lock:
            if rulebase.digest in self._fired:
                return self._fired[rulebase.digest]
        counts: Counter[str] = Counter()
        failures: list[str] = []
        try:
            results = run_all(rulebase)
        except RuleFileError as exc:
            results = []
            failures = [str(p) for p in exc.problems]
        for result in results:
            counts.update(result.fired)
            failures.extend(f"{result.location}: {result.name}: {f}" for f in result.failures)
        entry = (counts, len(results), failures)
        with self._fired_lock:
            self._fired = {rulebase.digest: entry}   # one rule base at a time: the saved one
        return entry

    def rules(self, request: Request) -> Response:
        """Rule sets and rules with their sources, where they are written and how often scenarios fire them."""
        ws = self.workspace
        out: dict[str, Any] = {"rules_dir": str(ws.root), "allow_edit": self.allow_edit, "files": ws.files(),
                               "problems": [], "rulesets": [], "catalogs": []}
        try:
            rulebase = self._rulebase()
        except RuleFileError as exc:  # the editor is most needed when the saved rules are broken
            out["problems"] = self._problems(exc.problems)
            return Response.json(out)
        counts, scenarios, failures = self._scenario_firings(rulebase)
        for ruleset in rulebase.rulesets:
            out["rulesets"].append({
                "name": ruleset.name, "stage": ruleset.stage, "description": ruleset.description,
                "source": ruleset.source, "file": ws.relative(ruleset.file),
                "rules": [{"id": r.id, "description": r.description, "source": r.source, "because": r.because,
                           "line": r.loc.line, "col": r.loc.col, "fired": counts.get(r.id, 0)}
                          for r in ruleset.rules],
            })
        for catalog in rulebase.catalogs.values():
            out["catalogs"].append({"name": catalog.name, "description": catalog.description,
                                    "file": ws.relative(catalog.file), "entries": len(catalog.entries)})
        defined = len(rulebase.rules())
        fired = sum(1 for r in rulebase.rules() if counts.get(r.id))
        out["scenarios"] = {"count": scenarios, "failures": failures, "rules_fired": fired, "rules_defined": defined}
        return Response.json(out)

    def file(self, request: Request) -> Response:
        """One rule file's text and its SHA-256 (send it back as base_sha256 when saving)."""
        real = self.workspace.resolve(request.query.get("path"))
        try:
            text = real.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "the file is not UTF-8 text; edit it outside the browser") from None
        return Response.json({"path": real.relative_to(self.workspace.root).as_posix(), "text": text,
                              "sha256": sha256_text(text), "editable": self.allow_edit})

    def check(self, request: Request) -> Response:
        """`tuneplan check` on the saved rules, or on a copy with the edited text; compiled as well, so
        "ok" means a recommendation will run. In a worker process."""
        from engine.web import jobs

        body = self._json_body(request) if request.body.strip() else {}
        edits = self._edits(body)
        with self.workspace.edited_copy(edits) as copy_root:
            found, rules = self._isolated(jobs.check, str(copy_root), self._tests(copy_root, edits), edits=edits)
            problems = self._problems(found, copy_root)
        return Response.json({"ok": not problems, "problems": problems,
                              "summary": f"{len(problems)} problem(s)" if problems else f"ok: {rules} rules"})

    def lint(self, request: Request) -> Response:
        """`tuneplan lint` (with `check` first) on the saved rules or an edited copy; gaps off unless asked."""
        from engine.web import jobs

        body = self._json_body(request) if request.body.strip() else {}
        edits = self._edits(body)
        gaps = body.get("gaps", False)
        if not isinstance(gaps, bool):
            raise ApiError(400, "'gaps' must be true or false")
        with self.workspace.edited_copy(edits) as copy_root:
            found, findings = self._isolated(jobs.lint, str(copy_root), self._tests(copy_root, edits), gaps,
                                             edits=edits)
            problems = self._problems(found, copy_root)
            for item in findings:
                item["file"] = self.workspace.relative(item["file"], copy_root)
        levels = Counter(f["level"] for f in findings)
        return Response.json({"ok": not problems and not levels["error"], "problems": problems,
                              "findings": findings, "summary": f"{len(problems)} check problem(s), "
                              f"{levels['error']} lint error(s), {levels['warning']} warning(s)"})

    def diff(self, request: Request) -> Response:
        """Which recommendations the edited text changes against the saved rules, and the rules responsible."""
        from engine.web import jobs

        body = self._json_body(request)
        edits = self._edits(body)
        if not edits:
            raise ApiError(400, "give the edited file as 'path' and 'text' (or 'files')")
        grid = body.get("grid", True)
        if not isinstance(grid, bool):
            raise ApiError(400, "'grid' must be true or false")
        saved = self._rulebase()  # the saved rules must load to compare against (RuleFileError → 422)
        key = (saved.digest, sha256_text(json.dumps(sorted((str(p), t) for p, t in edits.items()))), grid)
        with self._fired_lock:
            cached = self._diffs.get(key)
        if cached is not None:
            return Response.json(cached)
        with self.workspace.edited_copy(edits) as copy_root:
            found, data = self._isolated(jobs.diff, str(self.workspace.root), str(copy_root),
                                         self._tests(copy_root, edits), grid, edits=edits)
            if data is None:
                raise ApiError(422, "the edited rules have problems; fix them to see the diff",
                               self._problems(found, copy_root))
        with self._fired_lock:
            self._diffs = {**dict(list(self._diffs.items())[-7:]), key: data}
        return Response.json(data)

    def save(self, request: Request) -> Response:
        """Write the edited text to the real file, atomically, when `check` (which compiles, in a worker
        process) finds nothing wrong; otherwise the file on disk is kept as it was."""
        from engine.tools.fileio import write_atomic
        from engine.web import jobs

        if not self.allow_edit:
            raise ApiError(403, "editing is off: start the server with `tuneplan serve --allow-edit`")
        body = self._json_body(request)
        if "path" not in body or "text" not in body:
            raise ApiError(400, "give the file as 'path' and its new 'text'")
        edits = self._edits({"path": body["path"], "text": body["text"]})
        (real, text), = edits.items()
        base = body.get("base_sha256")
        with self._save_lock:
            current = real.read_bytes().decode("utf-8", errors="replace")
            if base is not None and base != sha256_text(current):
                raise ApiError(409, "the file changed on disk since it was opened; reload it and apply your "
                                    "edit again", sha256=sha256_text(current))
            with self.workspace.edited_copy(edits) as copy_root:
                try:
                    found, _ = self._isolated(jobs.check, str(copy_root), self._tests(copy_root, edits), edits=edits)
                except ApiError as exc:
                    raise ApiError(422, f"not saved (the file on disk is unchanged): {exc.message}",
                                   **exc.extra) from None
                problems = self._problems(found, copy_root)
            if problems:
                raise ApiError(422, f"not saved: check found {len(problems)} problem(s)", problems)
            write_atomic(real, text.encode("utf-8"))
        rel = real.relative_to(self.workspace.root).as_posix()
        log.info("saved %s (%d bytes)", rel, len(text.encode("utf-8")))
        return Response.json({"saved": rel, "sha256": sha256_text(text), "bytes": len(text.encode("utf-8"))})

    def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 description of these endpoints."""
        from engine.web.openapi import openapi_document

        return Response.json(openapi_document())
