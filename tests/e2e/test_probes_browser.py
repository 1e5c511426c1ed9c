"""The Train page's quick checks in a browser (the real app): find a learning rate, use it, overfit one batch.

The module has its own Streamlit server and database (NETWRIGHT_DB in a temporary folder; the
server runs with OMP_NUM_THREADS=1). Each probe runs in a worker process of the server.
"""

from __future__ import annotations

import re

import pytest

TALL = {"width": 1400, "height": 1700}  # the netwright fixture's window

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]


def expect(target):
    # Imported late, so that without Playwright the browser fixture decides (skip, or fail in CI).
    from playwright.sync_api import expect as _expect

    return _expect(target)


def test_find_an_lr_use_it_and_overfit_one_batch(netwright, artifacts_dir):
    nw = netwright
    page = nw.page
    nw.load_template("Small CNN (shapes)")
    train = nw.tab("Train")
    expect(train.get_by_role("combobox", name="Dataset")).to_have_value(re.compile(r"^shapes\b(?!-)"))
    batch = train.get_by_role("spinbutton", name="Batch size", exact=True)
    batch.fill("16")  # a small batch: the test takes seconds
    batch.press("Enter")
    expect(batch).to_have_value("16")
    nw.wait_idle()
    lr = train.get_by_role("spinbutton", name="Learning rate", exact=True)
    before = lr.input_value()

    find = train.get_by_role("button", name="Find a learning rate")
    expect(find).to_be_enabled()
    find.click()
    words = train.get_by_text(re.compile(r"Suggested learning rate: \d"))
    expect(words).to_be_visible(timeout=90_000)
    chart = train.get_by_test_id("stPlotlyChart").filter(has=page.locator(".js-plotly-plot")).first
    expect(chart).to_be_visible()
    xaxis = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .map(p => p.layout && p.layout.xaxis && p.layout.xaxis.type)""")
    assert "log" in xaxis

    use = train.get_by_role("button", name=re.compile(r"^Use this lr \("))
    suggested = re.search(r"\((.+)\)", use.inner_text()).group(1)
    use.click()
    nw.wait_for(lambda: float(lr.input_value()) == float(suggested), f"the learning rate to become {suggested}")
    assert float(lr.input_value()) != float(before)
    nw.wait_idle()
    expect(train.get_by_text(f"The form's learning rate is {suggested}.")).to_be_visible()
    nw.close_templates()  # the README picture: 1440×900, the curve beside the form
    page.set_viewport_size({"width": 1440, "height": 900})
    nw.scroll_to_top()
    nw.wait_idle()
    page.screenshot(path=str(artifacts_dir / "app_lr_finder.png"))
    page.set_viewport_size(TALL)

    overfit = train.get_by_role("button", name="Overfit one batch")
    expect(overfit).to_be_enabled()
    overfit.click()
    verdict = train.get_by_text(re.compile(r"loss [\d.]+ → [\d.e-]+ in \d+ steps"))
    expect(verdict).to_be_visible(timeout=90_000)
    assert "wired right" in verdict.inner_text()
    expect(nw.exceptions()).to_have_count(0)
