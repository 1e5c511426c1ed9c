"""Driving the designer in real Chromium: shared by the browser tests and bench_ui.py.

The editor lives in a shadow root (Components v2); Playwright's locators pierce it, and the
page-side helpers below find it once and keep it on ``window.__nwRoot``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 900}

# Finds the editor's root element inside its shadow root.
FIND_ROOT = """() => {
  if (window.__nwRoot && window.__nwRoot.isConnected) return true;
  for (const el of document.querySelectorAll('*')) {
    const r = el.shadowRoot && el.shadowRoot.querySelector('.nw-editor');
    if (r) { window.__nwRoot = r; return true; }
  }
  return false;
}"""

# Runs one gesture (a JS function of the root) and resolves with the milliseconds until the
# cards and the drawing show the server's answer (data-pending back to 0 after a render).
TIMED_GESTURE = """async (gesture) => {
  const root = window.__nwRoot;
  const settled = () => root.dataset.pending === '0';
  const t0 = performance.now();
  (new Function('root', gesture))(root);
  await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => { obs.disconnect(); reject(new Error('no answer in 20 s')); }, 20000);
    const obs = new MutationObserver(() => {
      if (settled()) { clearTimeout(deadline); obs.disconnect(); resolve(); }
    });
    obs.observe(root, { attributes: true, attributeFilter: ['data-pending'] });
  });
  // ... and painted: the frame after the one that laid the new cards out.
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  return performance.now() - t0;
}"""


def chromium_path() -> str | None:
    """The Chromium to drive: $CHROMIUM_PATH, /usr/bin/chromium, or one on PATH."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_design(b, url: str, session_id: str | None = None, timeout_ms: int = 60000):
    """A new page (a new browser session) on the Design page; waits for the first card."""
    page = b.new_page(viewport=VIEWPORT)
    page.goto(f"{url}/?d={session_id}" if session_id else url)
    wait_ready(page, timeout_ms)
    return page


def wait_ready(page, timeout_ms: int = 60000) -> None:
    page.wait_for_function(FIND_ROOT, timeout=timeout_ms)
    page.wait_for_function("() => window.__nwRoot.dataset.ready === '1' && window.__nwRoot.dataset.pending !== '1'",
                           timeout=timeout_ms)


def timed(page, gesture_js: str) -> float:
    """Milliseconds from a gesture to the server-confirmed render."""
    page.wait_for_function(FIND_ROOT)
    return float(page.evaluate(TIMED_GESTURE, gesture_js))


def click_chip_js(layer_type: str) -> str:
    return f"root.querySelector('.nw-chip[data-type=\"{layer_type}\"]').click();"
