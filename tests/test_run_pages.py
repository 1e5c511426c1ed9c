"""The Train page's end-of-run headline and wrong predictions, its real-dataset panel, and the Runs page's
columns, under AppTest. (AppTest never fires the fragment's timer: full reruns poll instead.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from components import charts, train_view
from components import state as S
from components.run_results import label_html
from designer.templates import load_template
from tests.test_real_data import mnist_files

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("NETWRIGHT_DB", str(tmp_path / "netwright.db"))
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    train_view.dataset_rows.clear()


def _train_page(template: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    S.init_state(at.session_state, load_template(template))
    at.run()
    at.switch_page("components/pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _expander(at: AppTest, starts: str):
    return next(e for e in at.expander if e.label.startswith(starts))


def test_real_datasets_are_shown_with_their_state_and_become_ready_on_disk(tmp_path):
    at = _train_page("cnn_shapes")
    panel = _expander(at, "Real datasets: 0 of 3 on disk")
    text = " ".join(m.value for m in panel.markdown).replace("\\", "")
    assert text.count("not on disk") == 3 and text.count("put the official files in NETWRIGHT_DATA_DIR") == 3
    assert {"MNIST", "Fashion-MNIST", "CIFAR-10"} <= set(at.selectbox(key="real_upload_for").options)
    # Official files on disk: the panel says ready, and the dataset list offers it.
    folder = tmp_path / "data" / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for name, data in mnist_files():
        (folder / name).write_bytes(data)
    train_view.dataset_rows.clear()
    at.run()
    assert _expander(at, "Real datasets: 1 of 3 on disk")
    assert "mnist · 1×28×28" in at.selectbox(key="train_source:1x28x28:float32").options


def test_a_finished_run_tells_its_accuracy_against_chance_and_shows_wrong_predictions():
    at = _train_page("lstm_classifier")
    at.number_input(key="tr_epochs").set_value(1)
    at.number_input(key="tr_batch_size").set_value(256)
    at.run()
    next(b for b in at.button if b.key == "train_start").click().run()
    job = train_view.job_manager().get(at.session_state[S.JOB_ID])
    deadline = time.monotonic() + 120
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    shown = [a.value.replace("\\", "") for a in [*at.success, *at.warning]]
    headline = next(v for v in shown if v.startswith("**Validation accuracy"))
    # Chance is the real share of the most common class in the validation set, computed, not 1/4 assumed.
    y_val, y_train = job.dataset.y_val, job.dataset.y_train
    majority = int(torch.bincount(y_train).argmax())
    chance = float((y_val == majority).float().mean())
    assert f"against {100 * chance:.1f}% by chance" in headline
    assert f"{100 * snap['result']['val_accuracy']:.1f}%" in headline
    assert any(m.value.startswith("**Wrong predictions**") for m in at.markdown)
    # The learning-rate curve is drawn only once its panel is opened (a closed one costs the browser nothing).
    charts_before = len(at.get("plotly_chart"))
    assert charts_before >= 2 and not _expander(at, "Learning rate").children
    at.session_state["nw_open_live_lr"] = True
    at.run()
    assert len(at.get("plotly_chart")) == charts_before + 1 and _expander(at, "Learning rate").children


def test_runs_page_has_the_setting_columns_with_formatted_numbers():
    store = train_view.run_store()
    design = load_template("mlp_signals")
    for lr, opt in ((0.01, "adam"), (3e-4, "sgd")):
        rid = store.create(design, {"lr": lr, "optimizer": opt, "epochs": 3, "batch_size": 64}, "signals", "cpu")
        store.finish(rid, {"status": "completed", "val_loss": 0.123456, "val_mae": 0.2345678, "duration_s": 3.21})
    at = AppTest.from_file(APP, default_timeout=60)
    S.init_state(at.session_state, design)
    at.run()
    at.switch_page("components/pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    frame = at.dataframe[0].value
    assert {"date", "dataset", "lr", "optimizer", "epochs", "val loss", "val MAE"} <= set(frame.columns)
    assert "val acc" not in frame.columns  # no run has an accuracy
    assert list(frame["lr"]) == ["3e-4", "0.01"] and list(frame["optimizer"]) == ["sgd", "adam"]
    assert set(frame["val loss"]) == {"0.1235"} and set(frame["val MAE"]) == {"0.2346"}
    assert set(frame["samples/s"]) == {"—"}


def test_epoch_ticks_are_whole_numbers_and_accuracy_is_a_percentage():
    epochs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e, "val_accuracy": e / 40} for e in range(1, 31)]
    fig = charts.epoch_figure(epochs)
    assert fig.layout.xaxis.dtick == 5 and fig.layout.xaxis.tickformat == "d"
    assert fig.layout.yaxis2.tickformat == ".0%" and fig.layout.yaxis2.dtick == 0.2
    assert tuple(fig.layout.yaxis2.range) == (0, 1.02)
    assert charts.epoch_figure(epochs[:3]).layout.xaxis.dtick == 1
    assert [charts.integer_dtick(n) for n in (1, 8, 9, 16, 17, 40, 80, 81, 400)] == [1, 1, 2, 2, 5, 5, 10, 20, 50]
    runs = [("lr=0.01, adam", epochs[:5]), ("lr=1e-3, sgd", epochs[:3])]
    over = charts.overlay_epochs_figure(runs, "val_accuracy")
    assert [t.name for t in over.data] == ["lr=0.01, adam", "lr=1e-3, sgd"]
    assert over.layout.yaxis.tickformat == ".0%" and over.layout.xaxis.dtick == 1


def test_long_runs_are_charted_with_their_shape_in_a_bounded_number_of_points():
    # 20,000 noisy steps with one spike: the chart gets at most about MAX_LINE_POINTS points, keeps the first and
    # last step, the spike and the noise band (each stretch's lowest and highest), in step order.
    steps = [(i, 1.0 + (0.5 if i % 2 else 0.0) + (9.0 if i == 12_345 else 0.0), 1e-3) for i in range(20_000)]
    fig = charts.loss_figure(steps)
    raw, smoothed = fig.data
    most = charts.MAX_LINE_POINTS
    assert 2 < len(raw.x) <= most + 2 and len(smoothed.x) <= most + 2
    assert raw.x[0] == 0 and raw.x[-1] == 19_999 and list(raw.x) == sorted(raw.x)
    assert max(raw.y) == 10.5 and 12_345 in raw.x  # the spike is not averaged away
    assert min(raw.y) == 1.0 and sum(y == 1.5 for y in raw.y) > most // 4  # the band, top and bottom
    short = [(i, 1.0 / (i + 1), 1e-3) for i in range(50)]
    assert list(charts.loss_figure(short).data[0].y) == [s[1] for s in short]  # a short line is kept whole
    assert charts.thin([1, 2, 3, 4, 5, 6], [None, 1, None, 3, None, 5], 4) == ([1, 2, 4, 6], [None, 1, 3, 5])
    # Per-epoch lines drop their markers past MARKERS_UP_TO epochs, and are thinned the same way.
    epochs = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1 / e, "val_accuracy": e / 5000} for e in range(1, 5001)]
    fig = charts.epoch_figure(epochs)
    assert all(t.mode == "lines" and len(t.x) <= most + 2 and t.x[-1] == 5000 for t in fig.data)
    assert charts.epoch_figure(epochs[:10]).data[0].mode == "lines+markers"
    over = charts.overlay_figure([("a", [{"step": i, "loss": 1.0} for i in range(9000)])])
    assert len(over.data[0].x) <= most + 2


def test_a_constant_learning_rate_is_drawn_at_its_value():
    fig = charts.lr_figure([(i, 1.0, 1e-3) for i in range(10)])
    assert tuple(fig.layout.yaxis.range) == (0, 2e-3) and fig.layout.yaxis.tickformat == "~e"
    scheduled = charts.lr_figure([(i, 1.0, 1e-3 * (10 - i) / 10) for i in range(10)])
    assert scheduled.layout.yaxis.range is None  # a schedule's own range


def test_live_charts_are_redrawn_at_most_every_two_seconds_while_running_and_at_the_end():
    memory: dict = {}
    starting = {"status": "running", "steps": [], "epochs": []}
    assert train_view.charted_points(memory, "job1", starting, now=99.5) == ([], [])
    snap = {"status": "running", "steps": [(1, 1.0, 0.1)], "epochs": []}
    assert train_view.charted_points(memory, "job1", snap, now=100.0) == ([(1, 1.0, 0.1)], [])  # the first, at once
    later = {**snap, "steps": [(1, 1.0, 0.1), (2, 0.9, 0.1)]}
    assert train_view.charted_points(memory, "job1", later, now=101.0)[0] == [(1, 1.0, 0.1)]  # the same points
    assert train_view.charted_points(memory, "job1", later, now=102.0)[0] == later["steps"]  # 2 s on: new ones
    newest = {**later, "steps": later["steps"] + [(3, 0.8, 0.1)]}
    ended = {**newest, "status": "completed"}
    assert train_view.charted_points(memory, "job1", ended, now=102.5)[0] == newest["steps"]  # the end, at once
    other = {"status": "running", "steps": [(1, 5.0, 0.1)], "epochs": []}
    assert train_view.charted_points(memory, "job2", other, now=102.6)[0] == other["steps"]  # another run, at once


def test_class_labels_wrap_between_words_only():
    assert label_html("Ankle boot") == ('<span class="nw-word" style="white-space:nowrap">Ankle</span> '
                                        '<span class="nw-word" style="white-space:nowrap">boot</span>')
    assert "&lt;b&gt;" in label_html("<b>")  # user class names are text, never markup
