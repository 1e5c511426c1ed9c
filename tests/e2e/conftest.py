"""Browser-test fixtures: a Streamlit server per test module and one headless Chromium.

A test module names its page with ``APP_SCRIPT = Path(...)`` and asks for ``app_url``;
``serve_streamlit`` does the same by hand. Without Chromium (or Playwright) the browser
tests are skipped, except under CI (env ``CI=true``), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

from bench.streamlit_server import free_port, serve_streamlit  # noqa: E402,F401  (fixtures and tests use them)
from bench.ui_driver import CHROMIUM_ARGS, chromium_path  # noqa: E402  (one place for both)

ARTIFACTS = ROOT / "artifacts"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing(reason: str) -> None:
    """Skip locally; fail in CI, where the browser tests must run."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: browser tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def app_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """One Streamlit server for the module's ``APP_SCRIPT`` (or an indirect parameter)."""
    script = getattr(request, "param", None) or getattr(request.module, "APP_SCRIPT", None)
    if script is None:
        pytest.fail("app_url needs APP_SCRIPT in the test module or an indirect parameter", pytrace=False)
    with serve_streamlit(Path(script)) as url:
        yield url


ROOT_APP = ROOT / "app.py"


@pytest.fixture(scope="module")
def netwright_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The real app (app.py), one server per test module, with its own database.

    NETWRIGHT_DB points into a temporary folder, so the tests never touch ~/.netwright (run
    checkpoints go beside it); OMP_NUM_THREADS=1 keeps a training run from taking every core.
    Yields ``{"url": ..., "db": Path}``.
    """
    home = tmp_path_factory.mktemp("netwright")
    db = home / "netwright.db"
    env = {
        "NETWRIGHT_DB": str(db),
        "NETWRIGHT_DATA_DIR": str(home / "data"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    with serve_streamlit(ROOT_APP, env=env, timeout=90.0) as url:
        yield {"url": url, "db": db}


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the session (system Chromium; nothing is downloaded)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    executable = chromium_path()
    if executable is None:
        _missing("Chromium not found (set CHROMIUM_PATH or install /usr/bin/chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser) -> Iterator[object]:
    """A fresh browser context and page per test (a new Streamlit session each time)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# --- the real app: a page helper shared by test_app_browser.py and test_train_browser.py ---------------

TALL = {"width": 1400, "height": 1700}  # every chip and card on screen: a synthetic drag does not scroll


class NetwrightPage:
    """Small helpers over a Playwright page showing app.py (the editor's test hooks, the sidebar,
    the tabs). Waits poll what the page shows; no fixed sleeps."""

    def __init__(self, page, url: str) -> None:
        self.page = page
        self.url = url
        self.initial_name: str | None = None  # the design a fresh session opened with

    # ---- locators
    def chip(self, type_: str):
        return self.page.locator(f'[data-testid="nw-chip"][data-type="{type_}"]')

    def card(self, path: str):
        return self.page.locator(f'[data-testid="nw-card"][data-path="{path}"]')

    def cards(self, slot: str = ""):
        """Every card, or the direct cards of one lane (``slot`` like "layers[3].body")."""
        if not slot:
            return self.page.locator('[data-testid="nw-card"]')
        return self.page.locator(f'[data-testid="nw-lane"][data-slot="{slot}"] > [data-testid="nw-card"]')

    def shape_of(self, path: str) -> str:
        return self.card(path).get_by_test_id("nw-shape").first.inner_text().strip()

    def model_name(self) -> str:
        return self.page.locator(".nw-model-name").first.inner_text().strip()

    def sidebar(self):
        return self.page.get_by_test_id("stSidebar")

    def inspector(self):
        """The Design page's side column: state, errors, the inspector's form."""
        return self.page.locator(".st-key-nw-side")

    def drawing(self):
        """The live drawing's SVG (inside the editor component)."""
        return self.page.get_by_test_id("nw-drawing-svg")

    def dnode(self, path: str):
        return self.page.locator(f'[data-testid="nw-dnode"][data-path="{path}"]')

    def settled(self) -> bool:
        """The editor shows the server's answer to every gesture so far."""
        return self.page.get_by_test_id("nw-editor").get_attribute("data-pending") == "0"

    def exceptions(self):
        return self.page.locator('[data-testid="stException"]')

    # ---- actions
    def open(self) -> NetwrightPage:
        self.page.goto(self.url)
        self.page.locator('[data-testid="nw-card"]').first.wait_for(state="visible", timeout=60_000)
        self.initial_name = self.model_name()
        return self

    def load_template(self, name: str) -> None:
        """Open a template from the sidebar's "Start from a template" expander, and wait until the
        editor shows it. When the design already carries that name (maybe edited), go through the
        blank design first, so the wait cannot pass on the old design."""
        if not self.page.get_by_test_id("nw-editor").is_visible():
            self.tab("Design")
        sidebar = self.sidebar()
        if self.model_name() == name:
            self.open_templates()
            sidebar.get_by_role("button", name="Blank design", exact=True).click()
            self.wait_for(lambda: self.cards().count() == 0 and self.model_name() != name, "the blank design")
        self.open_templates()  # a choice folds the list away
        sidebar.get_by_role("button", name=name, exact=True).click()
        self.wait_for(lambda: self.model_name() == name and self.cards().count() > 0, f"the editor to show {name!r}")

    def tab(self, name: str):
        """Go to one of the pages (Design, Code, Summary, Train, Runs) in the top bar; returns the
        main area."""
        self.page.get_by_test_id("stTopNavLink").filter(has_text=name).first.click()
        if name == "Design":
            self.page.get_by_test_id("nw-editor").wait_for(state="visible")
        else:
            self.wait_for(lambda: self.page.url.split("?")[0].rstrip("/").endswith(name.lower()), f"the {name} page")
        self.wait_idle()
        return self.page.get_by_test_id("stMain")

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Until no script run is in progress: no running icon, no faded (stale) element."""
        self.wait_for(lambda: self.page.evaluate("""() =>
            !document.querySelector('[data-stale="true"], [data-testid^="stStatusWidgetRunning"]')"""),
            "the page to finish its rerun", timeout=timeout)

    def open_templates(self) -> None:
        """Unfold the sidebar's template list (it folds away when a template is chosen)."""
        sidebar = self.sidebar()
        blank = sidebar.get_by_role("button", name="Blank design", exact=True)
        if not blank.is_visible():
            self.wait_idle()
            sidebar.get_by_text("Start from a template", exact=True).click()
            blank.wait_for(state="visible")

    def close_templates(self) -> None:
        """Fold the sidebar's template gallery away (for a tidy screenshot)."""
        sidebar = self.sidebar()
        if sidebar.get_by_role("button", name="Blank design", exact=True).is_visible():
            sidebar.get_by_text("Start from a template", exact=True).click()
            sidebar.get_by_role("button", name="Blank design", exact=True).wait_for(state="hidden")

    def scroll_to_top(self) -> None:
        """Scroll every scrolled container back (the main area, the palette)."""
        self.page.evaluate("""() => { for (const el of document.querySelectorAll('*')) {
            if (el.scrollTop > 0) el.scrollTop = 0; } }""")

    def drag(self, source, target, *, y: str = "top", x: float = 60.0) -> None:
        """Drag ``source`` onto ``target``, near its top or bottom edge (or its middle)."""
        box = target.bounding_box()
        assert box, "drop target not visible"
        ty = {"top": 6.0, "bottom": box["height"] - 6.0, "middle": box["height"] / 2}[y]
        source.drag_to(target, source_position={"x": 12, "y": 12}, target_position={"x": x, "y": ty})

    def wait_for(self, condition, what: str, timeout: float = 20.0, interval_ms: int = 100):
        """Poll ``condition()`` (an exception counts as not yet) until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        last_exc = None
        while time.monotonic() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001 - the page may be mid-rerun
                last_exc = exc
            self.page.wait_for_timeout(interval_ms)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                             + (f" (last error: {last_exc})" if last_exc else ""))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _screenshot_if_failed(request: pytest.FixtureRequest, page) -> None:
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))


@pytest.fixture()
def netwright(request, page, netwright_server) -> Iterator[NetwrightPage]:
    """A fresh session of the real app in a tall window. A failing test leaves a screenshot in
    artifacts/failed-<test>.png."""
    page.set_viewport_size(TALL)
    yield NetwrightPage(page, netwright_server["url"]).open()
    _screenshot_if_failed(request, page)


@pytest.fixture(scope="module")
def netwright_module_page(browser, netwright_server) -> Iterator[NetwrightPage]:
    """One session of the real app for a whole module (a page load costs seconds)."""
    context = browser.new_context(viewport=TALL)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield NetwrightPage(page, netwright_server["url"]).open()
    finally:
        context.close()


@pytest.fixture()
def netwright_shared(request, netwright_module_page) -> Iterator[NetwrightPage]:
    """The module's one session, reset for the next test: tall window, scrolled to the top.
    Each test loads the design it needs."""
    nw = netwright_module_page
    nw.page.set_viewport_size(TALL)
    nw.scroll_to_top()
    yield nw
    _screenshot_if_failed(request, nw.page)
