"""The page of `tuneplan serve`, driven in headless Chromium (Debian's package, through Playwright): fill the
form and read the answer, open the graph, download the markdown, edit a rule and watch the findings, save
and see the diff. Screenshots go to out/screenshots/ for a person to look at."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if os.environ.get("TUNEPLAN_BROWSER_TESTS") == "0":
    pytest.skip("TUNEPLAN_BROWSER_TESTS=0: the browser tests are turned off", allow_module_level=True)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (make test does, as root)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is missing: "
                                                              "pip install -e '.[test]'")

from engine.pipeline import Engine  # noqa: E402 - after the skips
from engine.web import make_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BEGINNER_RULE = """    then: {score: {tool: 3}}
    because: "the seed's beginner workflow starts with {entry.name} on one GPU"
    source: seed 17.3.8 beginner workflow; takeaway 5"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("e2e")
    shutil.copytree(ROOT / "rules", base / "rules")
    shutil.copytree(ROOT / "facts", base / "facts")
    return base / "rules"


@pytest.fixture(scope="module")
def base_url(rules: Path) -> Iterator[str]:
    server = make_server(rules, "127.0.0.1", 0, allow_edit=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == []  # no script error on any page


def shot(page: Any, name: str, selector: str | None = None) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = page.locator(selector) if selector else page
    target.screenshot(path=str(SHOTS / f"{name}.png"))


def test_fill_the_form_read_the_answer_open_the_graph_and_download(page: Any, base_url: str, rules: Path) -> None:
    page.goto(f"{base_url}/")
    page.select_option("#f-model", "llama-3.1-8b")
    page.select_option("#f-experience", "beginner")
    page.fill("#f-budget_usd", "50")
    page.fill("#f-train_hours", "3")
    assert page.locator("label[for=f-budget_usd] .unit").inner_text() == "USD"
    assert page.get_attribute("#f-seq_len", "placeholder") == "default 2048"
    page.click("#recommend")
    page.wait_for_selector("#answer")

    expected = Engine.for_rules(rules).recommend(
        {"model": "llama-3.1-8b", "experience": "beginner", "budget_usd": "50", "train_hours": "3"})
    for row in ("tool", "method", "platform", "workflow"):
        decision = "workflow" if row == "workflow" else row
        assert page.inner_text(f"tr[data-row={row}] td.choice") == expected.choice(decision)
    assert page.inner_text("tr[data-row=gpu] td.choice").endswith(f"× {expected.choice('gpu')}")
    assert page.url == f"{base_url}/?budget_usd=50&experience=beginner&model=llama-3.1-8b&train_hours=3"
    warnings = expected.to_dict()["warnings"]
    assert page.inner_text("#warnings h3") == f"Warnings ({len(warnings)})"
    shot(page, "recommend")

    page.click("#graph summary")
    page.wait_for_function("() => { const img = document.querySelector('#graph-img');"
                           " return img && img.complete && img.naturalWidth > 200; }")
    shot(page, "graph", "#graph")

    page.click("details[data-decision=tool] summary")
    why_not = page.inner_text("details[data-decision=tool] table")
    # each losing tool's best plan is compared with the chosen plan: the beginner rule's +3 made the difference
    assert "its best plan (axolotl, " in why_not
    assert "for the chosen plan (the chosen plan has tool-beginner-workflow +3)" in why_not
    page.click("#reasons summary")
    assert page.locator("#reasons tbody tr").count() == len(expected.trace)

    with page.expect_download() as download:
        page.click("#download-md")
    text = Path(download.value.path()).read_text()
    assert download.value.suggested_filename == "tuneplan-recommendation.md"
    assert expected.choice("tool") in text and "/api/graph.svg?" in text


def test_a_linked_recommendation_fills_the_form(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/?method=lora&model=qwen2.5-14b&new_model=true")
    page.wait_for_selector("#answer")
    assert page.input_value("#f-model") == "qwen2.5-14b"
    assert page.input_value("#f-new_model") == "true"
    assert page.inner_text("tr[data-row=method] td.choice") == "lora"


def test_a_bad_constraint_is_shown_at_its_field(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/?gpu_count=0&model=llama-3.1-8b")
    page.wait_for_selector("#error")
    assert page.inner_text("#error").startswith("constraint 'gpu_count': must be at least 1")
    assert page.locator(".field.invalid").get_attribute("data-fact") == "gpu_count"
    shot(page, "bad-constraint")


def test_edit_a_rule_see_findings_as_you_type_save_and_see_the_diff(page: Any, base_url: str, rules: Path) -> None:
    lines = (rules / "sets" / "tool.yaml").read_text().splitlines()
    rule_line = lines.index("  - id: tool-beginner-workflow") + 1
    when_line = lines.index("    when: {experience: beginner}") + 1
    page.goto(f"{base_url}/rules")
    page.wait_for_selector("#coverage")
    assert "rules fired by" in page.inner_text("#coverage")
    assert page.inner_text("li[data-rule=tool-beginner-workflow] .fired").startswith("fired ×")
    page.click("li[data-rule=tool-beginner-workflow] a.rule-link")
    page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('check ok')")
    assert page.inner_text("#file-name") == "sets/tool.yaml"
    assert page.url.endswith(f"/rules#sets/tool.yaml:{rule_line}")
    saved = page.input_value("#text")
    assert page.is_disabled("#save-btn")  # nothing changed yet
    shot(page, "rules")

    # a lint finding appears at the rule's line while typing
    page.fill("#text", saved.replace("source: seed 17.3.8 beginner workflow; takeaway 5", "source: TODO"))
    finding = page.wait_for_selector(f"li.finding[data-kind=missing-source][data-line='{rule_line}']")
    assert "the rule's source is 'TODO'" in finding.inner_text()
    assert page.inner_text("#findings-list li >> nth=0").startswith(f"WARNING NEW sets/tool.yaml:{rule_line}:5")
    finding.click()  # the editor jumps to the line
    assert page.inner_text(f".gutter .ln.warning >> text='{rule_line}'") == str(rule_line)
    shot(page, "lint-finding")

    # a check error blocks saving and is marked at its line
    page.fill("#text", saved.replace("when: {experience: beginner}", "when: {experiense: beginner}"))
    error = page.wait_for_selector(f"li.finding[data-kind=check][data-line='{when_line}']")
    assert "unknown fact 'experiense' (did you mean 'experience'?)" in error.inner_text()
    assert page.is_disabled("#save-btn")
    page.click("li.finding[data-kind=check]")  # jumps to the line
    shot(page, "check-error")

    # a change that moves recommendations: the diff is shown before saving, then saved as typed
    edited = saved.replace(BEGINNER_RULE, BEGINNER_RULE.replace("{score: {tool: 3}}",
                                                                "{score: {tool: -5}}  # reviewed: beginners"))
    page.fill("#text", edited)
    page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('check ok')")
    page.click("#save-btn")
    summary = page.wait_for_selector("#diff-summary")
    assert summary.inner_text().endswith("recommendations changed")
    assert "tool: unsloth → axolotl" in page.inner_text("#diff-table")
    assert (rules / "sets" / "tool.yaml").read_text() == saved  # not saved before the confirmation
    shot(page, "diff-before-save")
    page.click("#confirm-save")
    page.wait_for_selector("#saved-note")
    assert (rules / "sets" / "tool.yaml").read_text() == edited
    assert page.is_hidden("#dirty")
    shot(page, "saved")


def test_a_server_beyond_loopback_works_from_its_printed_url_and_not_without_it(page: Any, rules: Path) -> None:
    """Bound to 0.0.0.0 the page must carry the token from the printed URL's fragment into its POSTs."""
    server = make_server(rules, "0.0.0.0", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        page.goto(f"http://127.0.0.1:{port}/?model=llama-3.1-8b")      # no token: the POST is refused
        page.wait_for_selector("#error")
        assert "X-Tuneplan-Token" in page.inner_text("#error")
        assert server.start_url.startswith(f"http://{socket.gethostname()}:{port}/#token=")
        page.goto(server.start_url.replace(socket.gethostname(), "127.0.0.1", 1))   # the URL `serve` prints
        assert "token" not in page.url                                # taken out of the address bar
        page.goto(f"http://127.0.0.1:{port}/?model=llama-3.1-8b")      # same tab: the token is kept
        page.wait_for_selector("#answer")
        assert page.inner_text("tr[data-row=tool] td.choice")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_config_files_are_offered_as_downloads(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/?model=llama-3.1-8b&tool=axolotl")
    page.wait_for_selector("#answer")
    page.click("#configs summary")
    page.wait_for_selector("a[data-file='axolotl.yaml']")
    assert page.locator("a[data-file='RUN.md']").count() == 1
    assert "sequence_len: 2048" in page.inner_text("pre.config-preview")
    with page.expect_download() as info:
        page.click("a[data-file='axolotl.yaml']")
    assert info.value.suggested_filename == "axolotl.yaml"
    shot(page, "config-files", "#configs")
