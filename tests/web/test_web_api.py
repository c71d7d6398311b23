"""The web API of `tuneplan serve`: routes through a real HTTP server on 127.0.0.1 (the guards live in
the HTTP layer), and through ``WebApp.handle`` where no socket is needed. Bad input included."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.pipeline import Engine
from engine.web import Request, WebApp, make_server
from engine.web.openapi import openapi_document
from engine.web.server import TuneplanServer
from engine.web.workspace import sha256_text

ROOT = Path(__file__).resolve().parents[2]
TOOL_RULE = """    then: {score: {tool: 3}}
    because: "the seed's beginner workflow starts with {entry.name} on one GPU"
    source: seed 17.3.8 beginner workflow; takeaway 5"""
TOOL_FILE = ROOT / "rules" / "sets" / "tool.yaml"


def line_of(needle: str, path: Path = TOOL_FILE) -> int:
    """The 1-based line of the first line containing ``needle`` (the rules change; the tests follow)."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


RULE_LINE = line_of("- id: tool-beginner-workflow")
WHEN_LINE = line_of("when: {experience: beginner}")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def _copy_rules(base: Path) -> Path:
    shutil.copytree(ROOT / "rules", base / "rules")
    shutil.copytree(ROOT / "facts", base / "facts")
    return base / "rules"


class Client:
    """Raw HTTP against one server, so that headers and bodies can be as wrong as a test needs."""

    def __init__(self, server: TuneplanServer) -> None:
        self.host, self.port = server.server_address[:2]

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            raw = body.encode() if isinstance(body, str) else body
            conn.request(method, path, body=raw, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> tuple[int, Any]:
        status, _, data = self.request("GET", path, headers=headers)
        return status, json.loads(data)

    def post(self, path: str, payload: Any) -> tuple[int, Any]:
        status, _, data = self.request("POST", path, json.dumps(payload),
                                       {"Content-Type": "application/json"})
        return status, json.loads(data)


def _serve(rules_dir: Path, **kwargs: Any) -> Iterator[TuneplanServer]:
    server = make_server(rules_dir, "127.0.0.1", 0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def readonly(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A server over a copy of the shipped rules, editing off."""
    yield from (Client(s) for s in _serve(_copy_rules(tmp_path_factory.mktemp("ro"))))


@pytest.fixture
def editable(tmp_path: Path) -> Iterator[tuple[Client, Path]]:
    """A server over a fresh copy of the shipped rules, started with --allow-edit."""
    rules = _copy_rules(tmp_path)
    for server in _serve(rules, allow_edit=True):
        yield Client(server), rules


# -- recommend -----------------------------------------------------------------------------------------
def test_schema_lists_every_constraint_with_type_unit_values_and_default(readonly: Client) -> None:
    status, data = readonly.get("/api/schema")
    assert status == 200
    facts = {f["name"]: f for f in data["facts"]}
    assert {"model", "method", "gpu_count", "budget_usd", "new_model"} <= set(facts)
    assert facts["method"] == {**facts["method"], "type": "enum", "values": ["auto", "full", "lora", "qlora"],
                               "default": "auto"}
    assert facts["seq_len"]["unit"] == "tokens" and facts["seq_len"]["default"] == 2048
    assert "llama-3.1-8b" in facts["model"]["values"]          # catalog facts list the catalog's ids
    assert facts["budget_usd"]["minimum"] == 0
    assert not any(f["name"].startswith("chosen_") for f in data["facts"])  # derived facts are not asked for


@needs_dot
def test_recommend_returns_the_contract_json_markdown_and_svg(readonly: Client) -> None:
    constraints = {"model": "llama-3.1-8b", "method": "lora", "budget_usd": 50}
    status, data = readonly.post("/api/recommend", constraints)
    assert status == 200
    expected = Engine.for_rules(ROOT / "rules").recommend(constraints).to_dict()
    assert data["recommendation"]["tool"] == expected["tool"]
    assert data["recommendation"]["method"]["choice"] == "lora"
    assert data["markdown"].startswith("#")
    assert data["svg"].lstrip().startswith("<?xml") and "<svg" in data["svg"]
    assert data["page_url"] == "/?budget_usd=50&method=lora&model=llama-3.1-8b"
    assert data["graph_url"] == "/api/graph.svg?budget_usd=50&method=lora&model=llama-3.1-8b"


def test_recommend_from_the_query_string_matches_the_post(readonly: Client) -> None:
    _, posted = readonly.post("/api/recommend?svg=false", {"model": "qwen2.5-14b", "experience": "beginner"})
    status, got = readonly.get("/api/recommend?model=qwen2.5-14b&experience=beginner&svg=false")
    assert status == 200 and got["svg"] is None
    assert got["recommendation"]["tool"] == posted["recommendation"]["tool"]
    assert got["recommendation"]["platform"]["choice"] == posted["recommendation"]["platform"]["choice"]


@needs_dot
def test_markdown_download_and_graph_svg(readonly: Client) -> None:
    status, headers, body = readonly.request("GET", "/api/recommend.md?model=llama-3.1-8b",
                                             headers={"Host": f"localhost:{readonly.port}"})
    assert status == 200
    assert headers["content-type"] == "text/markdown; charset=utf-8"
    assert headers["content-disposition"] == 'attachment; filename="tuneplan-recommendation.md"'
    # the graph link in the markdown points back at this server, so a review can follow it
    assert f"http://localhost:{readonly.port}/api/graph.svg?model=llama-3.1-8b" in body.decode()
    status, headers, body = readonly.request("GET", "/api/graph.svg?model=llama-3.1-8b")
    assert status == 200 and headers["content-type"] == "image/svg+xml" and b"<svg" in body


@pytest.mark.parametrize(
    ("payload", "status", "error"),
    [
        ({"modle": "llama-3.1-8b"}, 422, "constraint 'modle': unknown fact (did you mean 'model'?)"),
        ({"model": "llama-3.1-8b", "method": "lorra"}, 422, "constraint 'method': 'lorra' is not allowed"),
        ({"model": "llama-3.1-8b", "gpu_count": 0}, 422, "constraint 'gpu_count': must be at least 1"),
        ({"model": "llama-3.1-8b", "gpu_count": [1]}, 422, "constraint 'gpu_count': expected a whole number"),
        ({"method": "lora"}, 422, "constraint 'model': name a catalog model"),
        ({"chosen_tool": "trl", "model": "llama-3.1-8b"}, 422, "constraint 'chosen_tool': is derived"),
    ],
)
def test_bad_constraints_answer_422_naming_the_fact(readonly: Client, payload: Any, status: int, error: str) -> None:
    got_status, data = readonly.post("/api/recommend", payload)
    assert got_status == status
    assert data["error"].startswith(error)
    assert data["fact"] == error.split("'")[1]
    assert data["problems"] == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"model": ', "malformed JSON at line 1 column 11: Expecting value"),
        ("[1, 2]", "the body must be a JSON object, not list"),
        ('"llama"', "the body must be a JSON object, not str"),
        ("", "the request needs a JSON object as its body"),
        (b"\xff\xfe{}", "the body is not UTF-8 text"),
        ("[" * 100_000, "malformed JSON: nested too deeply"),
    ],
)
def test_malformed_bodies_answer_400_in_json(readonly: Client, body: str | bytes, error: str) -> None:
    status, headers, data = readonly.request("POST", "/api/recommend", body, {"Content-Type": "application/json"})
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(data) == {"error": error, "problems": []}


def test_a_body_over_the_limit_is_refused_with_413_unread(readonly: Client) -> None:
    huge = b'{"model": "' + b"x" * (1024 * 1024) + b'"}'
    status, _, data = readonly.request("POST", "/api/recommend", huge, {"Content-Type": "application/json"})
    assert status == 413
    assert json.loads(data)["error"] == f"the body is {len(huge)} bytes; the limit is 1048576 bytes"
    status, _ = readonly.get("/api/schema")  # the server is fine afterwards
    assert status == 200


def test_a_body_just_under_the_limit_is_read(readonly: Client) -> None:
    body = json.dumps({"model": "llama-3.1-8b", "pad": "x" * (1024 * 1024 - 100)})
    status, _, data = readonly.request("POST", "/api/recommend", body, {"Content-Type": "application/json"})
    assert status == 422 and json.loads(data)["error"].startswith("constraint 'pad': unknown fact")


@pytest.mark.parametrize(
    "headers",
    [
        "Content-Type: text/plain",                                   # 415 before the body is read
        "Content-Type: application/json\r\nOrigin: http://evil.example",  # 403 cross-site
        "Host: evil.example\r\nContent-Type: application/json",        # 403 DNS rebinding
    ],
    ids=["content-type", "origin", "host"],
)
def test_a_request_smuggled_behind_a_refusal_never_runs(editable: tuple[Client, Path], headers: str) -> None:
    """Issue 17, critical 1: the body of a refused request is not read as the next request on the connection."""
    client, rules = editable
    inner = json.dumps({"path": "sets/tool.yaml", "text": "smuggled: true\n"})
    smuggled = (f"POST /api/save HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(inner)}\r\n\r\n{inner}")
    host_line = "" if headers.startswith("Host:") else f"Host: {client.host}:{client.port}\r\n"
    outer = (f"POST /api/recommend HTTP/1.1\r\n{host_line}{headers}\r\n"
             f"Content-Length: {len(smuggled)}\r\n\r\n{smuggled}")
    before = (rules / "sets" / "tool.yaml").read_text()
    with socket.create_connection((client.host, client.port), timeout=30) as sock:
        sock.sendall(outer.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 ") == 1 and received.split(b" ", 2)[1] in (b"403", b"415")
    assert b"Connection: close" in received
    assert (rules / "sets" / "tool.yaml").read_text() == before


def test_a_get_with_a_body_is_refused_and_closed(readonly: Client) -> None:
    smuggled = f"GET /api/schema HTTP/1.1\r\nHost: {readonly.host}:{readonly.port}\r\n\r\n"
    request = (f"GET / HTTP/1.1\r\nHost: {readonly.host}:{readonly.port}\r\nContent-Length: {len(smuggled)}"
               f"\r\n\r\n{smuggled}")
    with socket.create_connection((readonly.host, readonly.port), timeout=30) as sock:
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b"HTTP/1.1 ") == 1 and b" 400 " in received.split(b"\r\n", 1)[0] + b" "


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"Content-Type": "text/plain"}, 415, "send the body as JSON with 'Content-Type: application/json'"),
        ({}, 415, "send the body as JSON with 'Content-Type: application/json'"),
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403,
         "cross-site request from 'http://evil.example' refused"),
        ({"Content-Type": "application/json", "Host": "evil.example"}, 403,
         "Host 'evil.example' refused: this server answers on localhost only"),
        ({"Content-Type": "application/json", "Host": "127.0.0.1:1@evil.example"}, 403,
         "Host '127.0.0.1:1@evil.example' refused: this server answers on localhost only"),
        ({"Content-Type": "application/json", "Host": ""}, 403,
         "Host (none) refused: this server answers on localhost only"),
        ({"Content-Type": "application/json", "Content-Length": "-5"}, 400, "bad Content-Length '-5'"),
    ],
)
def test_requests_another_site_could_forge_are_refused(readonly: Client, headers: dict[str, str], status: int,
                                                       error: str) -> None:
    conn = http.client.HTTPConnection(readonly.host, readonly.port, timeout=30)
    conn.putrequest("POST", "/api/recommend", skip_host="Host" in headers)
    for name, value in headers.items():
        conn.putheader(name, value)
    if "Content-Length" not in headers:
        conn.putheader("Content-Length", "2")
    conn.endheaders(b"{}")
    response = conn.getresponse()
    assert response.status == status
    assert json.loads(response.read())["error"].startswith(error)
    conn.close()


def test_chunked_bodies_are_refused_with_411(readonly: Client) -> None:
    request = (b"POST /api/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    with socket.create_connection((readonly.host, readonly.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411 ")
    assert json.loads(body)["error"] == "chunked bodies are not accepted; send Content-Length"


def test_unknown_paths_and_methods_answer_json(readonly: Client) -> None:
    assert readonly.get("/api/nope") == (404, {"error": "no such page or endpoint: /api/nope", "problems": []})
    status, data = readonly.post("/api/schema", {})
    assert (status, data["error"]) == (405, "POST is not allowed on /api/schema; use GET")
    status, _, body = readonly.request("GET", "/" + "a" * 70_000)  # http.server's own error, still JSON
    assert status == 414 and "error" in json.loads(body)


def test_pages_are_served_with_a_strict_content_security_policy(readonly: Client) -> None:
    for path, kind in (("/", "text/html"), ("/rules", "text/html"), ("/static/app.js", "text/javascript"),
                       ("/static/style.css", "text/css")):
        status, headers, body = readonly.request("GET", path)
        assert status == 200 and headers["content-type"].startswith(kind) and body
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    assert readonly.request("GET", "/static/../engine/web/api.py")[0] == 404


def test_an_internal_error_is_500_json_without_a_traceback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = WebApp(_copy_rules(tmp_path))

    def broken(request: Request) -> Any:
        raise ZeroDivisionError("boom")

    app.routes[("GET", "/api/schema")] = broken
    with caplog.at_level("ERROR", logger="engine.web"):
        response = app.handle(Request("GET", "/api/schema"))
    assert response.status == 500
    assert response.data() == {"error": "internal error (ZeroDivisionError); this is a bug in tuneplan, see the "
                                        "server log", "problems": []}
    assert "Traceback" in caplog.text  # the log keeps it for whoever runs the server


# -- rules view ----------------------------------------------------------------------------------------
def test_rules_lists_rule_sets_with_sources_lines_and_scenario_firings(readonly: Client) -> None:
    status, data = readonly.get("/api/rules")
    assert status == 200
    assert data["allow_edit"] is False and data["problems"] == []
    tool = next(rs for rs in data["rulesets"] if rs["name"] == "tool")
    assert tool["file"] == "sets/tool.yaml" and tool["stage"] == "plan"
    rule = next(r for r in tool["rules"] if r["id"] == "tool-beginner-workflow")
    assert rule["source"] == "seed 17.3.8 beginner workflow; takeaway 5"
    assert rule["line"] == RULE_LINE and rule["fired"] > 0
    assert data["scenarios"]["count"] > 0 and data["scenarios"]["rules_defined"] == sum(
        len(rs["rules"]) for rs in data["rulesets"])
    assert "tests/personas.yaml" in data["files"] and "catalog/tools.yaml" in data["files"]


def test_rules_of_a_broken_rule_base_list_its_problems(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    path = rules / "sets" / "tool.yaml"
    path.write_text(path.read_text().replace("when: {experience: beginner}",
                                             "when: {experiense: beginner}"))
    response = WebApp(rules).handle(Request("GET", "/api/rules"))
    assert response.status == 200
    assert response.data()["problems"] == [{
        "file": "sets/tool.yaml", "line": WHEN_LINE, "col": 12, "level": "error",
        "message": "rule 'tool-beginner-workflow': unknown fact 'experiense' (did you mean 'experience'?)"}]
    recommend = WebApp(rules).handle(Request("POST", "/api/recommend", body=b'{"model": "llama-3.1-8b"}'))
    assert recommend.status == 422 and recommend.data()["problems"][0]["line"] == WHEN_LINE


def test_file_gives_the_text_and_its_hash(readonly: Client) -> None:
    status, data = readonly.get("/api/file?path=sets/tool.yaml")
    text = (ROOT / "rules" / "sets" / "tool.yaml").read_text()
    assert status == 200
    assert data == {"path": "sets/tool.yaml", "text": text, "sha256": sha256_text(text), "editable": False}


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("../facts/schema.yaml", 403, "path '../facts/schema.yaml' is outside the rules directory"),
        ("sets/../../facts/schema.yaml", 403, "path 'sets/../../facts/schema.yaml' is outside the rules directory"),
        ("/etc/passwd", 403, "path '/etc/passwd' is outside the rules directory (give it relative to it)"),
        ("..", 403, "path '..' is outside the rules directory"),
        (".", 403, "path '.' is outside the rules directory"),
        ("sets/tool.py", 400, "path 'sets/tool.py' is not a YAML file (.yaml or .yml)"),
        ("sets/none.yaml", 404, "no rule file 'sets/none.yaml' in the rules directory"),
        ("", 400, "'path' must be a file path relative to the rules directory, e.g. sets/tool.yaml"),
        ("sets/a\x00.yaml", 400, "'path' is not a usable file name"),
    ],
)
def test_paths_outside_the_rules_directory_are_refused(readonly: Client, path: str, status: int,
                                                       error: str) -> None:
    from urllib.parse import quote

    got = readonly.get(f"/api/file?path={quote(path)}")
    assert got == (status, {"error": error, "problems": []})
    got = readonly.post("/api/check", {"path": path, "text": "x: 1\n"})
    assert got == (status, {"error": error, "problems": []})


def test_a_symbolic_link_out_of_the_rules_directory_is_refused(tmp_path: Path) -> None:
    rules = _copy_rules(tmp_path)
    secret = tmp_path / "secret.yaml"
    secret.write_text("token: abc\n")
    os.symlink(secret, rules / "sets" / "leak.yaml")
    response = WebApp(rules).handle(Request("GET", "/api/file", {"path": "sets/leak.yaml"}))
    assert response.status == 403 and "abc" not in response.body.decode()


# -- check, lint, diff on edited text --------------------------------------------------------------------
def test_check_reports_problems_of_the_edited_text_at_their_line_and_leaves_the_file(readonly: Client) -> None:
    saved = (ROOT / "rules" / "sets" / "tool.yaml").read_text()
    text = saved.replace("when: {experience: beginner}",
                         "when: {experiense: beginner}")
    status, data = readonly.post("/api/check", {"path": "sets/tool.yaml", "text": text})
    assert status == 200
    assert data == {"ok": False, "summary": "1 problem(s)", "problems": [{
        "file": "sets/tool.yaml", "line": WHEN_LINE, "col": 12, "level": "error",
        "message": "rule 'tool-beginner-workflow': unknown fact 'experiense' (did you mean 'experience'?)"}]}
    assert readonly.post("/api/check", {})[1]["ok"] is True   # the saved rules are untouched


def test_check_reads_an_edited_scenario_file_like_tuneplan_test(readonly: Client) -> None:
    status, data = readonly.post("/api/check", {"path": "tests/personas.yaml", "text": "scenarios: 3\n"})
    assert status == 200 and not data["ok"]
    assert data["problems"][0]["file"] == "tests/personas.yaml"


def test_lint_finds_a_placeholder_source_at_the_rules_line(readonly: Client) -> None:
    saved = (ROOT / "rules" / "sets" / "tool.yaml").read_text()
    text = saved.replace("source: seed 17.3.8 beginner workflow; takeaway 5", "source: TODO")
    status, data = readonly.post("/api/lint", {"path": "sets/tool.yaml", "text": text})
    assert status == 200 and data["problems"] == []
    found = [f for f in data["findings"] if f["lint_id"] == "missing-source"]
    assert found == [{"file": "sets/tool.yaml", "line": RULE_LINE, "col": 5, "level": "warning",
                      "lint_id": "missing-source", "rules": ["tool-beginner-workflow"],
                      "message": "the rule's source is 'TODO': nobody can check where its knowledge comes from",
                      "fix": "name the document, section or URL (and its date) the rule encodes"}]
    _, saved_lint = readonly.post("/api/lint", {})
    assert not [f for f in saved_lint["findings"] if f["lint_id"] == "missing-source"]


def test_lint_of_text_that_does_not_load_returns_the_check_problems(readonly: Client) -> None:
    status, data = readonly.post("/api/lint", {"path": "sets/tool.yaml", "text": "rules: [\n"})
    assert status == 200 and not data["ok"] and data["findings"] == []
    assert data["problems"][0]["file"] == "sets/tool.yaml"


def test_diff_lists_the_recommendations_an_edit_changes_and_why(readonly: Client) -> None:
    saved = (ROOT / "rules" / "sets" / "tool.yaml").read_text()
    text = saved.replace(TOOL_RULE, TOOL_RULE.replace("{tool: 3}", "{tool: -5}"))
    status, data = readonly.post("/api/diff", {"path": "sets/tool.yaml", "text": text, "grid": False})
    assert status == 200
    assert data["old"] == "saved" and data["new"] == "edited"
    assert data["rules_changed"] == ["tool-beginner-workflow"]
    assert data["changed"] > 0 and data["summary"] == f"{data['changed']} of {data['compared']} recommendations changed"
    change = data["changes"][0]
    assert change["fields"]["tool"] == {"old": "unsloth", "new": "axolotl"}
    assert "tool-beginner-workflow" in change["changed_rules"]
    assert data["markdown"].startswith("## Rule change impact: `saved` → `edited`")


def test_diff_needs_an_edit_that_loads(readonly: Client) -> None:
    assert readonly.post("/api/diff", {}) == (400, {
        "error": "give the edited file as 'path' and 'text' (or 'files')", "problems": []})
    status, data = readonly.post("/api/diff", {"path": "sets/tool.yaml", "text": "rules: [\n"})
    assert status == 422 and data["error"] == "the edited rules have problems; fix them to see the diff"
    assert readonly.post("/api/diff", {"path": "sets/tool.yaml", "text": "", "grid": "yes"})[0] == 400


# -- save ---------------------------------------------------------------------------------------------
def test_save_is_refused_when_editing_is_off(readonly: Client) -> None:
    text = (ROOT / "rules" / "sets" / "tool.yaml").read_text()
    assert readonly.post("/api/save", {"path": "sets/tool.yaml", "text": text}) == (403, {
        "error": "editing is off: start the server with `tuneplan serve --allow-edit`", "problems": []})


def test_save_writes_the_text_as_given_keeping_comments_and_formatting(editable: tuple[Client, Path]) -> None:
    client, rules = editable
    path = rules / "sets" / "tool.yaml"
    saved = path.read_text()
    mode = path.stat().st_mode
    # an edit in one place; the rest (comments, flow mappings, quoting, blank lines) must stay byte for byte
    text = saved.replace(TOOL_RULE, TOOL_RULE.replace("{score: {tool: 3}}", "{score: {tool: 4}}  # tuned in review"))
    _, opened = client.get("/api/file?path=sets/tool.yaml")
    status, data = client.post("/api/save", {"path": "sets/tool.yaml", "text": text,
                                             "base_sha256": opened["sha256"]})
    assert status == 200
    assert data == {"saved": "sets/tool.yaml", "sha256": sha256_text(text), "bytes": len(text.encode())}
    assert path.read_bytes() == text.encode()
    assert path.stat().st_mode == mode
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []  # no temp file left
    assert client.get("/api/rules")[1]["problems"] == []


def test_a_file_with_errors_is_never_saved(editable: tuple[Client, Path]) -> None:
    client, rules = editable
    path = rules / "sets" / "tool.yaml"
    before = path.read_bytes()
    text = before.decode().replace("when: {experience: beginner}",
                                   "when: {experiense: beginner}")
    status, data = client.post("/api/save", {"path": "sets/tool.yaml", "text": text})
    assert status == 422
    assert data["error"] == "not saved: check found 1 problem(s)"
    assert data["problems"][0]["line"] == WHEN_LINE
    assert path.read_bytes() == before
    status, data = client.post("/api/save", {"path": "sets/tool.yaml", "text": "rules: [\n"})
    assert status == 422 and path.read_bytes() == before


def test_save_refuses_a_file_changed_on_disk_since_it_was_opened(editable: tuple[Client, Path]) -> None:
    client, rules = editable
    _, opened = client.get("/api/file?path=sets/tool.yaml")
    path = rules / "sets" / "tool.yaml"
    path.write_text(opened["text"] + "# someone else's edit\n")
    status, data = client.post("/api/save", {"path": "sets/tool.yaml", "text": opened["text"],
                                             "base_sha256": opened["sha256"]})
    assert status == 409 and data["sha256"] == sha256_text(path.read_text())
    assert path.read_text().endswith("# someone else's edit\n")


def test_save_refuses_paths_outside_and_bad_types(editable: tuple[Client, Path]) -> None:
    client, rules = editable
    schema = rules.parent / "facts" / "schema.yaml"
    before = schema.read_bytes()
    assert client.post("/api/save", {"path": "../facts/schema.yaml", "text": "x: 1\n"})[0] == 403
    assert client.post("/api/save", {"path": "sets/tool.yaml", "text": 3})[0] == 400
    assert client.post("/api/save", {"path": "sets/tool.yaml"})[0] == 400
    assert schema.read_bytes() == before


# -- the description and the command --------------------------------------------------------------------
def test_openapi_describes_exactly_the_routes(readonly: Client, tmp_path: Path) -> None:
    status, doc = readonly.get("/api/openapi.json")
    assert status == 200 and doc == json.loads(json.dumps(openapi_document()))
    assert doc["openapi"] == "3.1.0"
    described = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert described == set(WebApp(ROOT / "rules").routes)
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and op["operationId"] and "200" in op["responses"]


def test_serve_is_a_sub_command_that_binds_localhost(cli: Any) -> None:
    from engine.cli.commands import registry

    assert "serve" in [m.NAME for m in registry()]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = cli("serve", "--port", str(port), "--quiet")
    assert code == 1 and err.startswith(f"tuneplan: error: cannot listen on 127.0.0.1:{port}: ")
    code, _, err = cli("serve", "--port", "70000")
    assert code == 2 and "--port must be 0..65535" in err
    server = make_server(ROOT / "rules", port=0)
    try:
        assert server.loopback_only is True and server.url.startswith("http://127.0.0.1:")
    finally:
        server.server_close()


def test_the_same_diff_twice_is_computed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.tools.isolate

    rules = _copy_rules(tmp_path)
    app = WebApp(rules)
    calls = []
    real = engine.tools.isolate.run_isolated
    monkeypatch.setattr(engine.tools.isolate, "run_isolated", lambda *a, **k: calls.append(a) or real(*a, **k))
    text = (rules / "sets" / "tool.yaml").read_text() + "# reviewed\n"
    body = json.dumps({"path": "sets/tool.yaml", "text": text, "grid": False}).encode()
    first = app.handle(Request("POST", "/api/diff", body=body))
    second = app.handle(Request("POST", "/api/diff", body=body))
    assert first.status == 200 and first.body == second.body and len(calls) == 1
    assert first.data()["summary"].startswith("no change: ")


def test_host_with_another_port_is_refused(readonly: Client) -> None:
    status, _, data = readonly.request("GET", "/api/schema", headers={"Host": "127.0.0.1:1"})
    assert status == 403 and "with port" in json.loads(data)["error"]


# -- issue 17: beyond loopback, hostile input, load ------------------------------------------------------

@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, TuneplanServer]]:
    """A server bound to every interface (0.0.0.0), reached here over 127.0.0.1."""
    rules = _copy_rules(tmp_path_factory.mktemp("lan"))
    server = make_server(rules, "0.0.0.0", 0, allowed_hosts=("tuneplan.example",))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = Client(server)
    client.host = "127.0.0.1"
    try:
        yield client, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _post_with(client: Client, headers: dict[str, str], path: str = "/api/recommend?svg=false") -> tuple[int, Any]:
    status, _, data = client.request("POST", path, json.dumps({"model": "llama-3.1-8b"}),
                                     {"Content-Type": "application/json", **headers})
    return status, json.loads(data)


def test_a_server_beyond_loopback_needs_its_token_on_every_post(lan: tuple[Client, TuneplanServer]) -> None:
    """Issue 17, high 6: under DNS rebinding Origin == Host proves nothing; only the printed token does."""
    client, server = lan
    assert server.token and len(server.token) >= 32 and server.start_url.endswith(f"/#token={server.token}")
    host = {"Host": f"127.0.0.1:{client.port}"}
    status, data = _post_with(client, host)
    assert status == 403 and "X-Tuneplan-Token" in data["error"]
    status, data = _post_with(client, {**host, "X-Tuneplan-Token": server.token[:-1] + "x"})
    assert status == 403
    status, data = _post_with(client, {**host, "X-Tuneplan-Token": server.token})
    assert status == 200 and data["recommendation"]["tool"]["choice"]
    status, _, _ = client.request("GET", "/", headers=host)   # the page itself needs no token
    assert status == 200


@pytest.mark.parametrize("host, allowed", [
    ("evil.example", False),                       # a rebinding page's own name
    ("127.0.0.1:{port}@evil.example", False),      # userinfo trick
    ("", False),                                   # none at all
    ("tuneplan.example:{port}", True),             # --allow-host
    ("{hostname}:{port}", True),                   # this machine's own name
    ("127.0.0.1:{port}", True),
])
def test_a_server_beyond_loopback_answers_only_to_its_own_names(lan: tuple[Client, TuneplanServer], host: str,
                                                                 allowed: bool) -> None:
    client, _ = lan
    value = host.format(port=client.port, hostname=socket.gethostname())
    status, _, data = client.request("GET", "/api/schema", headers={"Host": value})
    assert (status == 200) is allowed, (value, status, data[:200])
    if not allowed:
        assert "--allow-host" in json.loads(data)["error"]


def test_serve_prints_the_token_url_when_listening_beyond_loopback(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main
    from engine.web import server as server_module

    monkeypatch.setattr(server_module.TuneplanServer, "serve_forever",
                        lambda self, poll_interval=0.5: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["serve", "--host", "0.0.0.0", "--port", "0", "--allow-edit", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "/#token=" in err and "X-Tuneplan-Token" in err and "whoever has it can change the rule files" in err


def test_a_body_that_never_arrives_is_answered_408(tmp_path: Path) -> None:
    for server in _serve(_copy_rules(tmp_path), socket_timeout_s=0.5):
        client = Client(server)
        with socket.create_connection((client.host, client.port), timeout=10) as sock:
            sock.sendall((f"POST /api/recommend HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n"
                          "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mo").encode())
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 408 ") and b"within 0.5 s" in received


@pytest.mark.parametrize("method, path, body, status, error", [
    ("POST", "/api/recommend", b'{"model_params_b": ' + b"9" * 5000 + b"}", 400, "unusable JSON"),
    ("GET", "/api/file?path=" + "a" * 300 + ".yaml", None, 400, "is not usable here"),
    ("GET", "/api/file?path=sets/" + "b" * 300 + ".yaml", None, 400, "is not usable here"),
    ("GET", "/api/recommend?svg=false&model_params_b=1_000", None, 422, "plain digits"),
    ("GET", "/api/recommend?svg=false&model_params_b=%D9%A7", None, 422, "plain digits"),   # Arabic-Indic 7
    ("GET", "/api/recommend?svg=false&model_params_b=5e-324", None, 422, "at least 0.01"),
])
def test_client_mistakes_are_4xx_never_500(readonly: Client, method: str, path: str, body: bytes | None,
                                           status: int, error: str) -> None:
    """Issue 17, medium: a 5,000-digit number, a 300-byte path part, lenient numbers."""
    got, _, data = readonly.request(method, path, body, {"Content-Type": "application/json"} if body else {})
    assert got == status and error in json.loads(data)["error"]


def test_the_server_keeps_up_with_clients_in_parallel(readonly: Client) -> None:
    """A bounded load test (count-limited): 4 and 16 clients, repeated and distinct constraints, no errors,
    no stalled keep-alive (the ~40 ms Nagle stall would make this take seconds). Speed is in `make bench`."""
    errors: list[str] = []

    def client_run(worker: int, count: int) -> None:
        conn = http.client.HTTPConnection(readonly.host, readonly.port, timeout=30)
        try:
            for i in range(count):
                seq_len = 512 + 16 * ((worker * count + i) % 8)     # some repeats, some new plans
                conn.request("POST", "/api/recommend?svg=false", json.dumps({"model": "qwen2.5-7b",
                             "seq_len": seq_len}), {"Content-Type": "application/json"})
                response = conn.getresponse()
                if response.status != 200:
                    errors.append(f"{response.status}: {response.read()[:200]!r}")
                else:
                    response.read()
        except OSError as exc:
            errors.append(repr(exc))
        finally:
            conn.close()

    for clients, count in ((4, 10), (16, 4)):
        threads = [threading.Thread(target=client_run, args=(w, count)) for w in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_emit_gives_the_chosen_tools_config_files(readonly: Client) -> None:
    """Issue 15: the page offers the files `--emit-config` writes."""
    status, data = readonly.post("/api/recommend?svg=false", {"model": "llama-3.1-8b", "tool": "axolotl"})
    assert status == 200 and data["emit_url"].startswith("/api/emit?")
    status, files = readonly.get(data["emit_url"])
    assert status == 200 and files["tool"] == "axolotl"
    assert [f["name"] for f in files["files"]] == ["axolotl.yaml", "RUN.md"]
    assert "sequence_len: 2048" in files["files"][0]["text"]
    status, error = readonly.get("/api/emit?model=llama-3.1-405b&gpu=t4&gpu_count=1&method=full")
    assert status == 422 and "no plan" in error["error"]
