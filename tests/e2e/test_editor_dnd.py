"""The model editor in a real browser: drag and drop, clicks, keys and search send the right actions.

The page (editor_demo_app.py) applies no edits; it prints ``{"n": count, "action": last}``,
so each test reads the action its gesture produced. One server serves the whole module;
every test gets a fresh page (a fresh Streamlit session, so ``n`` starts at 0).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest


def expect(target):
    # Imported late, so that without Playwright the browser fixture decides (skip, or fail in CI).
    from playwright.sync_api import expect as _expect

    return _expect(target)


pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

APP_SCRIPT = Path(__file__).with_name("editor_demo_app.py")


def _open(page, url: str):
    page.goto(url)
    page.locator('[data-testid="nw-card"]').first.wait_for(state="visible", timeout=30_000)
    return page


def _state(page, which: int = 0):
    text = page.locator('[data-testid="stCode"]').nth(which).inner_text()
    return json.loads(text)


def _wait_action(page, n: int, timeout: float = 15.0) -> dict:
    """The action once the page has counted ``n`` of them."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = _state(page)
            if last["n"] >= n:
                assert last["n"] == n, f"more actions than expected: {last}"
                return last["action"]
        except (ValueError, KeyError):
            pass  # the page is mid-rerun
        page.wait_for_timeout(100)
    raise AssertionError(f"no action #{n} within {timeout}s; page shows {last}")


def _chip(page, type_: str):
    return page.locator(f'[data-testid="nw-chip"][data-type="{type_}"]')


def _card(page, path: str):
    return page.locator(f'[data-testid="nw-card"][data-path="{path}"]')


def _drag(source, target, *, y: str = "top", x: float = 60.0):
    """Drag ``source`` onto ``target``, near its top or bottom edge."""
    box = target.bounding_box()
    assert box, "drop target not visible"
    ty = 6.0 if y == "top" else box["height"] - 6.0
    if y == "middle":
        ty = box["height"] / 2
    source.drag_to(target, source_position={"x": 12, "y": 12}, target_position={"x": x, "y": ty})


@pytest.fixture()
def editor_page(page, app_url):
    # Tall enough that every chip and card is on screen: a synthetic drag does not scroll.
    page.set_viewport_size({"width": 1400, "height": 1700})
    return _open(page, app_url)


def test_drag_chip_between_top_level_cards_inserts(editor_page):
    page = editor_page
    _drag(_chip(page, "ReLU"), _card(page, "layers[1]"), y="top")
    assert _wait_action(page, 1) == {"op": "insert", "slot": "layers", "index": 1, "type": "ReLU"}

    # Below the last card, and onto the Output terminal: append at the end.
    _drag(_chip(page, "Linear"), page.get_by_test_id("nw-output"), y="middle", x=20)
    assert _wait_action(page, 2) == {"op": "insert", "slot": "layers", "index": 8, "type": "Linear"}


def test_drag_chip_into_residual_lanes(editor_page):
    page = editor_page
    _drag(_chip(page, "Dropout"), _card(page, "layers[2].body[0]"), y="bottom")
    assert _wait_action(page, 1) == {"op": "insert", "slot": "layers[2].body", "index": 1, "type": "Dropout"}

    # The empty shortcut lane ("identity") takes a drop too.
    lane = page.locator('[data-testid="nw-lane"][data-slot="layers[2].shortcut"]')
    assert "identity" in lane.inner_text()
    _drag(_chip(page, "Conv2d"), lane, y="middle")
    assert _wait_action(page, 2) == {"op": "insert", "slot": "layers[2].shortcut", "index": 0, "type": "Conv2d"}

    # A Parallel branch, and the "+ branch" zone (a branch that does not exist yet).
    _drag(_chip(page, "GELU"), _card(page, "layers[3].branches[1][0]"), y="top")
    assert _wait_action(page, 3) == {"op": "insert", "slot": "layers[3].branches[1]", "index": 0, "type": "GELU"}
    _drag(_chip(page, "Sigmoid"), page.get_by_test_id("nw-add-branch"), y="middle", x=20)
    action = _wait_action(page, 4)
    assert action["slot"] == "layers[3].branches[2]" and action["index"] == 0


def test_drag_card_moves(editor_page):
    page = editor_page
    # Reorder: layers[0] to the gap after layers[1] (index counted before removal).
    _drag(_card(page, "layers[0]"), _card(page, "layers[1]"), y="bottom")
    assert _wait_action(page, 1) == {"op": "move", "path": "layers[0]", "slot": "layers", "index": 2}

    # Dropping a block into its own lane is refused (no action) ...
    _drag(_card(page, "layers[2]"), _card(page, "layers[2].body[0]"), y="bottom")
    # ... and moving a card back onto its own gap is a no-op (no action).
    _drag(_card(page, "layers[1]"), _card(page, "layers[1]"), y="top")
    # Into another block's lane.
    _drag(_card(page, "layers[5]"), _card(page, "layers[4].body[0]"), y="top")
    assert _wait_action(page, 2) == {"op": "move", "path": "layers[5]", "slot": "layers[4].body", "index": 0}
    page.wait_for_timeout(300)
    assert _state(page)["n"] == 2


def test_click_selects_card(editor_page):
    page = editor_page
    card = _card(page, "layers[1]")
    card.click(position={"x": 30, "y": 12})
    assert _wait_action(page, 1) == {"op": "select", "path": "layers[1]"}
    # The page feeds the selection back: the card stays highlighted after the rerun.
    expect(_card(page, "layers[1]")).to_have_class(re.compile(r"\bnw-selected\b"))
    # The on_action callback saw the same action before the rerun.
    assert _state(page, 1) == {"op": "select", "path": "layers[1]"}
    # A nested card selects itself, not its block.
    _card(page, "layers[4].body[1]").click(position={"x": 30, "y": 12})
    assert _wait_action(page, 2) == {"op": "select", "path": "layers[4].body[1]"}


def test_card_buttons_fix_add_branch_and_delete_key(editor_page):
    page = editor_page
    card = _card(page, "layers[5]")
    card.hover()
    card.get_by_test_id("nw-duplicate").first.click()
    assert _wait_action(page, 1) == {"op": "duplicate", "path": "layers[5]"}

    card = _card(page, "layers[5]")
    card.hover()
    card.get_by_test_id("nw-remove").first.click()
    assert _wait_action(page, 2) == {"op": "remove", "path": "layers[5]"}

    err = _card(page, "layers[6]")
    assert err.get_attribute("data-status") == "error"
    assert "LSTM expects" in err.get_by_test_id("nw-error-message").inner_text()
    err.get_by_test_id("nw-fix").click()
    assert _wait_action(page, 3) == {"op": "fix", "path": "layers[6]", "index": 0}
    assert _card(page, "layers[7]").get_attribute("data-status") == "unreached"

    page.get_by_test_id("nw-add-branch").click()
    assert _wait_action(page, 4) == {"op": "add_branch", "path": "layers[3]"}

    _card(page, "layers[0]").click(position={"x": 30, "y": 12})
    assert _wait_action(page, 5) == {"op": "select", "path": "layers[0]"}
    page.keyboard.press("Delete")
    assert _wait_action(page, 6) == {"op": "remove", "path": "layers[0]"}


def test_multi_select_and_wrap(editor_page):
    page = editor_page
    wrap = page.get_by_test_id("nw-wrap-Residual")
    assert wrap.is_disabled()
    _card(page, "layers[0]").click(position={"x": 30, "y": 12})
    assert _wait_action(page, 1) == {"op": "select", "path": "layers[0]"}
    _card(page, "layers[1]").click(position={"x": 30, "y": 12}, modifiers=["Shift"])
    # The inspector follows the primary card; the multi-selection stays in the browser and
    # survives the server's answer (a shift-click right after a click used to be lost).
    assert _wait_action(page, 2) == {"op": "select", "path": "layers[1]"}
    page.wait_for_timeout(300)
    assert page.get_by_test_id("nw-selection-info").inner_text() == "2 selected"
    assert page.locator(".nw-card.nw-selected").count() == 2
    page.get_by_test_id("nw-wrap-Residual").click()
    assert _wait_action(page, 3) == {"op": "wrap", "paths": ["layers[0]", "layers[1]"], "block": "Residual"}


def test_chip_click_inserts_after_the_selection(editor_page):
    page = editor_page
    _chip(page, "GELU").click()  # nothing selected: append at the top level
    assert _wait_action(page, 1) == {"op": "insert", "slot": "layers", "index": 8, "type": "GELU"}
    _card(page, "layers[2].body[0]").click(position={"x": 30, "y": 12})
    assert _wait_action(page, 2) == {"op": "select", "path": "layers[2].body[0]"}
    _chip(page, "Dropout").click()
    assert _wait_action(page, 3) == {"op": "insert", "slot": "layers[2].body", "index": 1, "type": "Dropout"}
    # The insert selected the new card (this demo page never applies edits, so it is gone
    # again once the page confirms); a click selects, Escape clears the selection and says so.
    _card(page, "layers[2].body[0]").click(position={"x": 30, "y": 12})
    assert _wait_action(page, 4) == {"op": "select", "path": "layers[2].body[0]"}
    page.keyboard.press("Escape")
    assert _wait_action(page, 5) == {"op": "select", "path": None}


def test_search_filters_palette(editor_page):
    page = editor_page
    chips = page.locator('[data-testid="nw-chip"]:visible')
    total = chips.count()
    assert total > 10

    search = page.get_by_test_id("nw-search")
    search.fill("lstm")
    assert [c.get_attribute("data-type") for c in chips.all()] == ["LSTM"]

    search.fill("pool")  # by name and by family ("pooling")
    assert sorted(c.get_attribute("data-type") for c in chips.all()) == ["AdaptiveAvgPool2d", "AvgPool2d", "MaxPool2d"]

    search.fill("token ids")  # by help text
    assert [c.get_attribute("data-type") for c in chips.all()] == ["Embedding"]

    search.fill("no such layer")
    assert chips.count() == 0
    assert page.get_by_test_id("nw-palette-empty").is_visible()

    search.fill("")
    assert chips.count() == total

    # Groups collapse and expand.
    group = page.locator('[data-testid="nw-group"][data-family="convolution"]')
    group.get_by_test_id("nw-group-toggle").click()
    assert group.locator('[data-testid="nw-chip"]:visible').count() == 0
    group.get_by_test_id("nw-group-toggle").click()
    assert group.locator('[data-testid="nw-chip"]:visible').count() == 3
    assert _state(page)["n"] == 0  # searching sends nothing


def test_screenshot(editor_page, artifacts_dir):
    page = editor_page
    _card(page, "layers[2].body[0]").click(position={"x": 30, "y": 12})
    _wait_action(page, 1)
    page.wait_for_timeout(300)
    path = artifacts_dir / "editor.png"
    page.get_by_test_id("nw-editor").screenshot(path=str(path))
    assert path.stat().st_size > 10_000
