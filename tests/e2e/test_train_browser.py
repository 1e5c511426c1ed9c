"""Training from the real app (app.py) in a browser: start a run, watch it live, stop it, find it
in the Runs tab.

The module has its own Streamlit server and database (NETWRIGHT_DB in a temporary folder; the
server runs with OMP_NUM_THREADS=1). The run is long on purpose (many epochs) and is stopped
from the page after its live chart has grown.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

EPOCHS = 200  # far more than the test waits for: the run only ends when the page stops it


def expect(target):
    # Imported late, so that without Playwright the browser fixture decides (skip, or fail in CI).
    from playwright.sync_api import expect as _expect

    return _expect(target)


def _progress(panel) -> str:
    """The live panel's progress text: "<status> · epoch e/E · step n/N · …"."""
    return panel.get_by_test_id("stProgress").first.inner_text().strip()


def _step(text: str) -> int:
    match = re.search(r"\bstep (\d+)", text)
    return int(match.group(1)) if match else -1


def _points(page) -> int:
    """Points in the live loss chart's first trace (0 until the chart is drawn)."""
    return page.evaluate("""() => {
        const plot = document.querySelector('.js-plotly-plot');
        return plot && plot.data && plot.data[0] && plot.data[0].x ? plot.data[0].x.length : 0;
    }""")


def test_start_watch_stop_and_list_the_run(netwright, netwright_server, artifacts_dir):
    nw = netwright
    page = nw.page
    nw.load_template("Small CNN (shapes)")
    train = nw.tab("Train")

    # The dataset that fits the design (1×28×28 images, 10 classes) is chosen for it.
    expect(train.get_by_role("combobox", name="Dataset")).to_have_value(re.compile(r"^shapes\b(?!-)"))
    epochs = train.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    expect(epochs).to_have_value(str(EPOCHS))
    nw.wait_idle()

    start = train.get_by_role("button", name="▶ Start")
    expect(start).to_be_enabled()
    start.click()

    # Running: the progress text counts steps and the loss chart (plotly) appears and grows.
    nw.wait_for(lambda: _progress(train).startswith("running") and _step(_progress(train)) > 0,
                "the run to start", timeout=60)
    first = nw.wait_for(lambda: _points(page), "the live loss chart", timeout=30)
    first_step = _step(_progress(train))
    second = nw.wait_for(lambda: (n := _points(page)) > first and n, "the loss chart to grow", timeout=30)
    nw.wait_for(lambda: _step(_progress(train)) > first_step, "the step count to grow", timeout=30)
    assert second > first
    assert f"/{EPOCHS}" in _progress(train)  # "epoch e/200": far from done
    page.screenshot(path=str(artifacts_dir / "app_train_running.png"))

    # Stop: the status says so within a few seconds, and the run is kept.
    stop = train.get_by_role("button", name="■ Stop")
    expect(stop).to_be_enabled()
    stop.click()
    nw.wait_for(lambda: _progress(train).startswith("stopped"), "the status 'stopped'", timeout=10)
    expect(train.get_by_text(re.compile(r"Saved as run #\d+ in the Runs tab"))).to_be_visible(timeout=10_000)
    stopped_at = _step(_progress(train))
    assert 0 < stopped_at
    page.screenshot(path=str(artifacts_dir / "app_train_stopped.png"))

    # The Runs tab lists it (the table is a canvas: check its caption and the store behind it).
    runs = nw.tab("Runs")
    expect(runs.get_by_test_id("stDataFrame")).to_be_visible()
    expect(runs.get_by_text("Select runs in the table")).to_be_visible()
    from designer.runs import RunStore

    listed = RunStore(netwright_server["db"]).list()
    assert [(r["name"], r["dataset"], r["status"]) for r in listed] == [("Small CNN (shapes)", "shapes", "stopped")]
    assert listed[0]["steps"] >= first_step
    page.screenshot(path=str(artifacts_dir / "app_runs_listed.png"))
    expect(nw.exceptions()).to_have_count(0)
