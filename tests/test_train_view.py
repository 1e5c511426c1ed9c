"""The Train and Runs views under AppTest: a short run started from the page ends, its curves are drawn
and it is kept in the run history. (AppTest never fires the fragment's timer: full reruns poll instead.)"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import charts, train_view
from components import state as S
from designer.templates import load_template

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _db(tmp_path, monkeypatch):
    monkeypatch.setenv("NETWRIGHT_DB", str(tmp_path / "netwright.db"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_short_run_from_the_page_ends_and_is_kept():
    at = AppTest.from_file(APP, default_timeout=120)
    S.init_state(at.session_state, load_template("mlp_signals"))
    at.run()
    at.switch_page("components/pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="train_source:64:float32").value == "signals"  # the dataset that fits is proposed
    at.number_input(key="tr_epochs").set_value(2)
    at.number_input(key="tr_batch_size").set_value(256)
    at.run()
    start = next(b for b in at.button if b.key == "train_start")
    assert not start.disabled
    start.click().run()
    job_id = at.session_state[S.JOB_ID]
    job = train_view.job_manager().get(job_id)
    assert job is not None
    deadline = time.monotonic() + 120
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert len(snap["epochs"]) == 2 and snap["steps"]
    charts_drawn = [c for c in at.get("plotly_chart")]
    assert len(charts_drawn) >= 2  # loss per step, metrics per epoch
    runs = train_view.run_store().list()
    assert runs[0]["status"] == "completed" and runs[0]["dataset"] == "signals"
    assert len(train_view.run_store().steps(runs[0]["id"])) == len(snap["steps"])


def test_start_is_disabled_while_the_design_has_errors():
    design = load_template("lenet5")
    design["layers"] = [n for n in design["layers"] if n["type"] != "Flatten"]
    at = AppTest.from_file(APP, default_timeout=120)
    S.init_state(at.session_state, design)
    at.run()
    at.switch_page("components/pages/train.py").run()
    assert next(b for b in at.button if b.key == "train_start").disabled
    assert any("Fix the design" in i.value for i in at.info)


def test_progress_text_and_smoothing():
    frac, text = charts.progress_text({"status": "running", "step": 50, "total_steps": 200, "epoch": 2,
                                       "samples_per_s": 1234.0, "eta_s": 12.0, "info": {"epochs": 5}})
    assert frac == 0.25 and text == "epoch 2/5 · step 50/200 · 1,234 samples/s · 12 s left"
    assert charts.smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])
    assert charts.smooth([0.0, 10.0])[1] > 0


def test_the_form_shows_every_option_with_its_declared_default():
    from designer.train.config import form_options

    at = AppTest.from_file(APP, default_timeout=120)
    S.init_state(at.session_state, load_template("mlp_signals"))
    at.run()
    at.switch_page("components/pages/train.py").run()
    assert not at.exception
    widgets = {w.key: w for kind in ("number_input", "selectbox", "toggle") for w in at.get(kind) if w.key}
    for option in form_options():
        widget = widgets[f"tr_{option.name}"]
        assert widget.value == (0 if option.default is None else option.default), option.name
    more = next(e for e in at.expander if e.label == "More")
    inside = {w.key for kind in ("number_input", "selectbox", "toggle") for w in more.get(kind)}
    assert {"tr_momentum", "tr_step_size", "tr_gamma", "tr_max_steps", "tr_procs"} <= inside


def test_a_tagger_is_offered_the_per_token_dataset():
    from designer.data import list_datasets

    rows = list_datasets()
    assert train_view.fitting_dataset(rows, load_template("bigru_tagger")) == "tags"
    assert train_view.fitting_dataset(rows, load_template("transformer_classifier")) == "tokens"
