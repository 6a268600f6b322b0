"""The web UI in a real headless Chromium (Debian's), over a real index in extractive mode.

Uploads change the index, so this module indexes the samples into its own data dir
instead of using the shared ``sample_index``.  ``QA_UPDATE_SCREENSHOT=1`` refreshes
``docs/screenshot.png`` from the answered Mars question.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright

from qa.api import index_paths
from qa.settings import Settings
from tests.conftest import ROOT, SAMPLES, SEED_NAME, free_port
from ui.app import create_app, launch_options

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOT = ROOT / "docs" / "screenshot.png"
SEED_TITLE = (SAMPLES / SEED_NAME).read_text(encoding="utf-8").splitlines()[0].strip()
XSS = "<img src=x onerror=alert(1)>"
ANSWER_TIMEOUT = 120_000  # ms; the first query may still be loading models

SHIP_TITLE = "Neues Forschungsschiff „Polarstern II“ in Bremerhaven getauft"
SHIP_ARTICLE = f"""{SHIP_TITLE}

1761980400 Neues Forschungsschiff Polarstern II in Bremerhaven getauft

Das neue Forschungsschiff am Kai des Fischereihafens

Das Alfred-Wegener-Institut hat in Bremerhaven sein neues Forschungsschiff getauft.
Der Eisbrecher ist 168 Meter lang und bietet Platz für 110 Forschende und Besatzungsmitglieder.
Die erste Expedition der Polarstern II soll im Herbst 2027 in das Weddellmeer führen.

ui-test
"""

XSS_ARTICLE = f"""{XSS}

1761984000 img src x onerror alert 1

Ein Okapi-Jungtier im Gehege

Der Zoo Wuppertal hat ein Okapi-Jungtier namens Zuri vorgestellt.
Das seltene Waldgiraffen-Weibchen kam im Oktober zur Welt und wiegt bereits 40 Kilogramm.

ui-test
"""


@dataclass
class Watch:
    """What a page did that it must not: dialogs and requests leaving loopback."""

    dialogs: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def ui_settings(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Settings:
    """Samples (incl. the seed article) indexed into this module's own data dir."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("ui-browser-index"),
        model_dir=model_dir,
        generator="extractive",
    )
    paths = sorted(SAMPLES.glob("*.txt"))
    report = index_paths(paths, settings=settings)
    assert report.failed == 0, report.files
    return settings


@pytest.fixture(scope="module")
def app_url(ui_settings: Settings) -> Iterator[str]:
    app = create_app(ui_settings)
    port = free_port()
    app.launch(prevent_thread_lock=True, quiet=True, **launch_options(ui_settings, port=port))
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                pytest.fail("the app did not start within 60 s")
            time.sleep(0.3)
    yield url
    app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (make test installs Debian's chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, app_url: str) -> Iterator[tuple[Page, Watch]]:
    """A fresh page (a new Gradio session, empty chat) on the app."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watch = Watch()

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request) -> None:  # type: ignore[no-untyped-def]
        watch.requests.append(request.url)
        host = urlparse(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host != "127.0.0.1":
            watch.external.append(request.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    page.goto(app_url, wait_until="domcontentloaded")
    expect(page.locator("#qa-question textarea")).to_be_visible(timeout=30_000)
    expect(page.locator("#qa-status")).to_contain_text("articles", timeout=30_000)
    yield page, watch
    context.close()


def ask(page: Page, question: str) -> None:
    """Type a question, send it and wait until the answer and its sources are shown."""
    before = page.locator("#qa-chatbot .thought").count()
    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-question textarea").press("Enter")
    expect(page.locator("#qa-chatbot .thought")).to_have_count(before + 1, timeout=ANSWER_TIMEOUT)
    # The textbox is re-enabled once the whole event chain has finished.
    expect(page.locator("#qa-question textarea")).to_be_enabled(timeout=ANSWER_TIMEOUT)


def open_sources(page: Page) -> str:
    """Expand the last sources block (it may start expanded) and return its text."""
    title = page.locator("#qa-chatbot .thought-group .title").last
    if "expanded" not in (title.get_attribute("class") or ""):
        title.click()
    content = page.locator("#qa-chatbot .thought").last.locator(".content")
    expect(content).to_be_visible()
    return content.inner_text()


def upload(page: Page, path: Path) -> None:
    page.locator("#qa-upload input[type=file]").set_input_files(str(path))
    expect(page.locator("#qa-index-report")).to_contain_text(path.name, timeout=ANSWER_TIMEOUT)


def pick_article(page: Page, label_part: str) -> None:
    page.locator("#qa-article-picker input").click()
    page.locator(
        "#qa-article-picker [data-testid=dropdown-option]", has_text=label_part
    ).first.click()


def test_mars_question_streams_answer_with_sources(
    page: tuple[Page, Watch], tmp_path: Path
) -> None:
    pg, watch = page
    ask(pg, "When could humans land on Mars?")
    answer = pg.locator("#qa-chatbot [data-testid=bot]").first
    expect(answer).to_contain_text("2029")
    # The marker links to its entry in the sources block (the lead line and the quote
    # line each carry it).
    marker = answer.locator("a[href='#a1-src-1']")
    expect(marker.first).to_have_text("[1]")
    expect(marker).to_have_count(2)
    sources = open_sources(pg)
    assert SEED_TITLE in sources
    assert "2025-03-28" in sources
    assert "toi-allgemeines" in sources
    expect(pg.locator("#qa-chatbot mark").first).to_contain_text("2029")
    assert pg.locator("#a1-src-1").count() == 1
    # The whole cited article opens below the chat.
    pick_article(pg, "Kernkraftwerk")
    expect(pg.locator("#qa-article")).to_contain_text("Dmitriev", timeout=30_000)
    expect(pg.locator("#qa-article h3")).to_have_text(SEED_TITLE)
    pg.wait_for_timeout(500)  # let the last stream update settle before the screenshot
    shot = tmp_path / "screenshot.png"
    pg.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    # The committed docs screenshot is written when missing or on request, so that a
    # test run does not leave the work tree modified.
    if not SCREENSHOT.exists() or os.environ.get("QA_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    assert watch.dialogs == [] and watch.external == []


def test_example_question_in_german(page: tuple[Page, Watch]) -> None:
    pg, watch = page
    pg.locator("#qa-chatbot button", has_text="Was bot Russland").click()
    expect(pg.locator("#qa-chatbot .thought")).to_have_count(1, timeout=ANSWER_TIMEOUT)
    assert "Kernkraftwerk" in open_sources(pg)
    assert watch.dialogs == [] and watch.external == []


def test_uploaded_article_can_be_asked_about(page: tuple[Page, Watch], tmp_path: Path) -> None:
    pg, watch = page
    article = tmp_path / "polarstern_ii.txt"
    article.write_text(SHIP_ARTICLE, encoding="utf-8")
    upload(pg, article)
    row = pg.locator("#qa-index-report tr", has_text="polarstern_ii.txt")
    expect(row).to_contain_text(re.compile(r"added|unchanged"))
    expect(pg.locator("#qa-index-summary")).to_contain_text("added")
    ask(pg, "Wann soll die erste Expedition der Polarstern II stattfinden?")
    expect(pg.locator("#qa-chatbot [data-testid=bot]").first).to_contain_text("2027")
    sources = open_sources(pg)
    assert SHIP_TITLE in sources
    assert "2025-11-01" in sources
    assert watch.dialogs == [] and watch.external == []


def test_bad_file_is_reported_per_file(page: tuple[Page, Watch], tmp_path: Path) -> None:
    pg, _ = page
    broken = tmp_path / "kaputt.txt"
    broken.write_text("Nur ein Titel\n\n-5 Titel\n\nBild\n\nText.\n\nui-test\n", encoding="utf-8")
    upload(pg, broken)
    row = pg.locator("#qa-index-report tr", has_text="kaputt.txt")
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text("negative epoch")
    expect(pg.locator("#qa-index-summary")).to_contain_text("1 failed")


def test_untrusted_title_renders_as_text(page: tuple[Page, Watch], tmp_path: Path) -> None:
    pg, watch = page
    article = tmp_path / "okapi.txt"
    article.write_text(XSS_ARTICLE, encoding="utf-8")
    upload(pg, article)
    ask(pg, "Wie heißt das Okapi-Jungtier im Zoo Wuppertal?")
    expect(pg.locator("#qa-chatbot [data-testid=bot]").first).to_contain_text("Zuri")
    sources = open_sources(pg)
    assert XSS in sources
    pick_article(pg, "onerror")
    expect(pg.locator("#qa-article h3")).to_have_text(XSS, timeout=30_000)
    pg.wait_for_timeout(1000)  # give a would-be onerror handler time to fire
    assert pg.locator("img[src='x']").count() == 0
    assert watch.dialogs == []
    assert not [url for url in watch.requests if urlparse(url).path.endswith("/x")]
    assert watch.external == []
