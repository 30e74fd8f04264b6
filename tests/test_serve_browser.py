"""The web page end to end in real headless Chromium (Debian's, driven by Playwright).

No browser is downloaded: Playwright drives the system Chromium (``SERKIT_CHROMIUM`` or
``chromium`` on PATH; ``make test`` installs Debian's package when it is missing). The
test fails, rather than skips, without it: the page is part of the product.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil

import pytest
from playwright.sync_api import expect

import serkit
from _serve_helpers import DictTagger, LiveServer
from serkit import palette
from serkit.serve.app import STATIC_DIR, create_app
from serkit.serve.limits import Limits

expect.set_options(timeout=30_000)  # a busy CI machine: page updates may take seconds

TEXT = "I run 🐧 Redis on Linux\nwith <b>NVIDIA A100</b> & Python."
EXPECTED = [  # (text, label, start, end) in code points
    ("Redis", "Application", 8, 13),
    ("Linux", "Operating_System", 17, 22),
    ("NVIDIA A100", "Device", 31, 42),
    ("Python", "Language", 49, 55),
]


def chromium_path() -> str:
    path = (
        os.environ.get("SERKIT_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not path:
        pytest.fail("no chromium: apt-get install chromium (make test does) or set SERKIT_CHROMIUM")
    return path


@pytest.fixture(scope="module")
def server():
    with LiveServer(create_app(DictTagger(), Limits(max_text_chars=500))) as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.requests = []
    page.problems = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.goto(server.url + "/")
    expect(page.locator("#model")).not_to_be_empty()
    yield page
    context.close()


def css_rgb(hex_color: str) -> str:
    """``#rrggbb`` as ``getComputedStyle`` spells it."""
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def check_result(page, text: str) -> None:
    expect(page.locator("#highlighted mark")).to_have_count(len(EXPECTED))
    marks = page.eval_on_selector_all(
        "#highlighted mark",
        "ms => ms.map(m => [m.textContent, m.dataset.label, +m.dataset.start, +m.dataset.end])",
    )
    assert [tuple(m) for m in marks] == EXPECTED
    # The highlighted block is the text itself, markup in it shown as text, not HTML.
    assert page.eval_on_selector("#highlighted", "e => e.textContent") == text
    assert page.locator("#highlighted b").count() == 0
    colors = page.eval_on_selector_all(
        "#highlighted mark", "ms => ms.map(m => getComputedStyle(m).backgroundColor)"
    )
    # One colour per type, serkit's palette (the HTML export's and the notebook's), black text.
    assert colors == [css_rgb(palette.color(label)) for _, label, _, _ in EXPECTED]
    assert len(set(colors)) == 4
    fg = page.eval_on_selector_all(
        "#highlighted mark", "ms => ms.map(m => getComputedStyle(m).color)"
    )
    assert set(fg) == {css_rgb(palette.TEXT_COLOR)}
    legend = page.eval_on_selector_all("#legend li", "ls => ls.map(l => l.textContent)")
    assert legend == sorted({e[1] for e in EXPECTED})
    rows = page.eval_on_selector_all(
        "#table tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))"
    )
    assert rows == [[lab, t, str(s), str(e), "0.900"] for t, lab, s, e in EXPECTED]


def test_type_submit_and_see_highlights_legend_and_table(page, server):
    page.locator("#text").press_sequentially(TEXT)  # typed, key by key
    assert page.input_value("#text") == TEXT
    page.click("#submit")
    check_result(page, TEXT)
    assert "4 entities" in page.inner_text("#status")
    assert "dict-test" in page.inner_text("#model")

    page.click("#copy")
    expect(page.locator("#copy-status")).to_have_text("copied")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["text"] == TEXT
    assert [(e["text"], e["label"], e["start"], e["end"]) for e in copied["entities"]] == EXPECTED
    assert copied["model"]["name"] == "dict-test"

    assert not page.problems
    assert page.requests and all(u.startswith(server.url + "/") for u in page.requests)


def test_an_empty_box_asks_for_text_instead_of_tagging_it(page):
    page.click("#submit")  # nothing typed: the placeholder is an example, not the text
    expect(page.locator("#status")).to_contain_text("Type or paste some text first")
    expect(page.locator("#status")).to_have_class(re.compile("error"))
    assert "entities" not in page.inner_text("#status")
    assert page.evaluate("document.activeElement.id") == "text"
    page.fill("#text", "Redis")
    page.click("#submit")
    expect(page.locator("#status")).to_contain_text("1 entity in")
    page.fill("#text", "  \n\t ")  # blanks only: asked again, the old result hidden
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status")).to_contain_text("Type or paste some text first")
    expect(page.locator("#result")).to_be_hidden()
    posts = [u for u in page.requests if u.endswith("/v1/entities")]
    assert len(posts) == 1  # only the text with something in it was sent
    assert not page.problems


def test_the_placeholder_is_a_sentence_the_shipped_model_gets_right():
    """The example a new user sees first is one the default model tags right: every
    entity found, each of the right type, nothing else."""
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    (example,) = re.findall(r'<textarea id="text"[^>]*placeholder="([^"]+)"', page)
    gold = [
        ("Python", "Language"),
        ("Docker", "Application"),
        ("Ubuntu", "Operating_System"),
        ("PostgreSQL", "Application"),
        ("SSL", "Protocol"),
    ]
    assert all(w in example for w, _ in gold), "the gold here is for another example"
    assert [(e.text, e.label) for e in serkit.load()(html.unescape(example))] == gold


def test_drop_a_txt_file(page):
    page.evaluate(
        """text => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], "notes.txt", {type: "text/plain"}));
            const ta = document.getElementById("text");
            ta.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true}));
            ta.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
        }""",
        TEXT,
    )
    check_result(page, TEXT)
    assert page.input_value("#text") == TEXT


def test_open_a_file_and_errors_are_shown(page, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text(TEXT, encoding="utf-8")
    page.set_input_files("#file", str(f))
    check_result(page, TEXT)

    page.fill("#text", "x" * 501)  # over the server's limit: refused with the limit in words
    page.click("#submit")
    expect(page.locator("#status")).to_have_class(re.compile("error"))
    assert "the text has 501 characters (limit 500)" in page.inner_text("#status")
    assert not page.problems
    page.evaluate("state.limits = null")  # skip the page's own check: the server's 413 shows
    page.click("#submit")
    expect(page.locator("#status")).to_contain_text("too_long")
    assert "text_too_long: text has 501 characters (limit 500)" in page.inner_text("#status")
    assert page.problems == [  # the browser's own log line for the 413, nothing else
        "Failed to load resource: the server responded with a status of 413 "
        "(Request Entity Too Large)"
    ]


def test_the_api_docs_render_under_their_content_security_policy(browser, server):
    """Swagger UI at /docs runs with a strict CSP (its inline script allowed by hash): a
    blocked script or style would be a console error, and the operations would not show."""
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server.url + "/docs")
    expect(page.locator("#swagger-ui")).to_contain_text("Find software entities")
    expect(page.locator("#swagger-ui")).to_contain_text("healthz")
    assert not problems
    assert all(u.startswith((server.url + "/", "data:")) for u in requests)
    context.close()
