"""The end of a run, the Runs table and the real datasets in a real browser at 1440×900: a finished
run's headline against chance, wrong predictions whose labels keep their words whole, the Runs columns
and a legend naming what differs, and the real-dataset panel's state (fake official files on disk).

The module has its own server, database and data dir (netwright_server); the run is one short epoch.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SCREEN = {"width": 1440, "height": 900}


def expect(target):
    from playwright.sync_api import expect as _expect

    return _expect(target)


def _progress(panel) -> str:
    return panel.get_by_test_id("stProgress").first.inner_text().strip()


@pytest.fixture(scope="module")
def fake_mnist(netwright_server):
    """Official-format MNIST files (tiny, generated) in the server's data dir."""
    from tests.test_real_data import mnist_files

    folder = netwright_server["db"].parent / "data" / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in mnist_files():
        (folder / name).write_bytes(data)
    return folder


def test_finished_run_headline_runs_columns_and_real_data(netwright, netwright_server, fake_mnist, artifacts_dir):
    nw = netwright
    page = nw.page
    nw.load_template("Small CNN (shapes)")
    page.set_viewport_size(SCREEN)
    train = nw.tab("Train")

    # The real datasets and their state: MNIST's (fake, official-format) files are on disk, the others not.
    panel = train.get_by_text(re.compile(r"^Real datasets: 1 of 3 on disk"))
    expect(panel).to_be_visible()
    panel.click()
    real = page.locator(".st-key-nw-real-data")
    expect(real.get_by_text("MNIST · ready")).to_be_visible()
    expect(real.get_by_text("CIFAR-10 · not on disk")).to_be_visible()
    expect(real.get_by_text(re.compile(r"put the official files in NETWRIGHT_DATA_DIR"))).to_have_count(2)
    expect(real.get_by_text("200MB per file")).to_be_visible()  # the CIFAR-10 tarball (~163 MB) fits
    expect(real.get_by_test_id("stFileUploaderDropzone")).to_be_visible()
    page.wait_for_timeout(400)  # the expander's opening animation, for the picture only
    page.screenshot(path=str(artifacts_dir / "train_real_datasets_1440.png"))

    # Upload from the page: a wrong file is refused with its reason; the official files are put in place.
    from tests.test_real_data import mnist_files

    real.get_by_role("combobox", name="Upload the official files of").click()
    page.get_by_role("option", name="Fashion-MNIST").click()
    expect(real.get_by_role("combobox", name="Upload the official files of")).to_have_value("Fashion-MNIST")
    nw.wait_idle()
    chooser = real.locator('input[type="file"]')
    nw.wait_for(lambda: chooser.count() == 1, "the uploader for Fashion-MNIST")
    chooser.set_input_files([{"name": "notes.gz", "mimeType": "application/gzip", "buffer": b"\x1f\x8bxx"}])
    expect(real.get_by_test_id("stFileChip")).to_have_count(1)
    nw.wait_idle()
    real.get_by_role("button", name="Put them in the data dir for Fashion-MNIST").click()
    expect(real.get_by_text(re.compile(r"notes.gz: not one of the official MNIST-format files"))).to_be_visible()
    real.get_by_role("button", name="Remove notes.gz").click()
    nw.wait_idle()
    expect(real.get_by_test_id("stFileChip")).to_have_count(0)
    nw.wait_idle()
    chooser.set_input_files([{"name": n, "mimeType": "application/gzip", "buffer": d} for n, d in mnist_files()])
    expect(real.get_by_test_id("stFileChip")).to_have_count(4)
    nw.wait_idle()
    real.get_by_role("button", name="Put them in the data dir for Fashion-MNIST").click()
    expect(page.get_by_text(re.compile(r"4 file\(s\) written to .*FashionMNIST"))).to_be_visible()
    expect(train.get_by_text(re.compile(r"^Real datasets: 2 of 3 on disk"))).to_be_visible()
    assert (netwright_server["db"].parent / "data" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()
    expect(train.get_by_role("combobox", name="Dataset")).to_be_visible()

    epochs = train.get_by_label("Epochs", exact=True)
    epochs.fill("2")
    epochs.press("Enter")
    expect(epochs).to_have_value("2")
    nw.wait_idle()
    train.get_by_role("button", name="▶ Start").click()
    nw.wait_for(lambda: _progress(train).startswith("completed"), "the run to complete", timeout=150)

    # The headline: the final accuracy against the dataset's own chance.
    headline = page.locator(".st-key-nw-headline")
    expect(headline).to_be_visible(timeout=20_000)
    text = headline.inner_text()
    assert re.search(r"Validation accuracy \d+\.\d% ?, against \d+\.\d% by chance", text.replace("\n", " ")), text
    expect(train.get_by_text(re.compile(r"^Wrong predictions"))).to_be_visible()

    # Wrong predictions: true and predicted class, each word whole on one line, inside its column.
    labels = page.locator(".nw-pred")
    nw.wait_for(lambda: labels.count() > 0, "the wrong predictions")
    assert "true:" in labels.first.inner_text() and "predicted:" in labels.first.inner_text()
    broken = page.evaluate("""() => [...document.querySelectorAll('.nw-pred .nw-word')]
        .filter(w => w.getClientRects().length !== 1 || w.getBoundingClientRect().right >
                     w.closest('[data-testid="stColumn"]').getBoundingClientRect().right + 1)
        .map(w => w.textContent)""")
    assert broken == []
    # Epoch ticks are whole numbers; the accuracy axis reads in percent.
    ticks = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .filter(p => (p.querySelector('.gtitle') || {}).textContent === 'Per epoch')
        .map(p => ({x: [...p.querySelectorAll('.xtick text')].map(t => t.textContent),
                    y2: [...p.querySelectorAll('.y2tick text')].map(t => t.textContent)}))""")
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks[0]["x"]), ticks
    assert ticks[0]["y2"] and all(t.endswith("%") for t in ticks[0]["y2"]), ticks
    page.screenshot(path=str(artifacts_dir / "train_finished_1440.png"))
    labels.first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "train_wrong_predictions_1440.png"))

    # A second run (different lr and optimizer) straight in the store, then the Runs table.
    from designer.runs import RunStore

    store = RunStore(netwright_server["db"])
    first = store.list()[0]
    other = store.create(store.get(first["id"])["design"],
                         {**first["config"], "lr": 0.01, "optimizer": "sgd"}, first["dataset"], "cpu")
    store.log_steps(other, [(s, 1 + s // 100, 2.3 - s / 200, 0.01) for s in range(1, 189)])
    store.log_epochs(other, [(1, 2.0, 1.8, 0.30, None), (2, 1.6, 1.5, 0.42, None)])
    store.finish(other, {"status": "completed", "val_loss": 1.5, "val_accuracy": 0.42, "duration_s": 5.0})
    runs = nw.tab("Runs")
    frame = runs.get_by_test_id("stDataFrame")
    expect(frame).to_be_visible()
    headers = nw.wait_for(lambda: page.evaluate("""() => [...document.querySelectorAll(
        '[data-testid="stDataFrame"] [role="columnheader"]')].map(h => h.textContent.trim())"""), "the table's headers")
    for column in ("date", "dataset", "lr", "optimizer", "epochs", "val loss", "val acc"):
        assert column in headers, headers
    cells = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stDataFrame"] [role="gridcell"]')]
        .map(c => c.textContent.trim())""")
    assert "0.01" in cells and "42.0%" in cells and "None" not in cells, cells
    # Select both rows (the selection column, left of each row): the legend names what differs.
    box = frame.bounding_box()
    for row in (1, 2):
        page.mouse.click(box["x"] + 16, box["y"] + 35 * row + 18)
        nw.wait_idle()
    expect(runs.get_by_text("These runs differ in: lr, optimizer")).to_be_visible(timeout=10_000)
    legend = nw.wait_for(lambda: page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot .legendtext')]
        .map(t => t.textContent)"""), "the overlay's legend")
    assert sorted(legend) == sorted(["lr=0.01, sgd", f"lr={'1e-3'}, {first['config']['optimizer']}"]), legend
    page.screenshot(path=str(artifacts_dir / "runs_1440.png"))
    expect(nw.exceptions()).to_have_count(0)
