"""The probe job: lr_find / overfit_one_batch in a spawned worker process, polled for its result."""

from __future__ import annotations

import dataclasses
import os

import pytest

from designer.data import load_dataset
from designer.templates import load_template
from designer.train.probe_job import ProbeJob, probe_options, run_probe

WAIT = 120  # generous: spawning imports torch; the tests check outcomes, never durations


@pytest.fixture(scope="module")
def design():
    return load_template("cnn_shapes")


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", seed=0)


def test_lr_find_runs_in_another_process_and_returns_the_curve(design, shapes):
    job = ProbeJob("lr_find", design, shapes, {"steps": 20, "batch_size": 16}, threads=1).start()
    assert job.snapshot()["status"] == "running"
    snap = job.join(WAIT).snapshot()
    assert snap["status"] == "done", snap["message"]
    assert job.pid is not None and job.pid != os.getpid()
    result = snap["result"]
    assert set(result) == {"suggested_lr", "lrs", "losses"}
    assert 0 < len(result["lrs"]) == len(result["losses"]) <= 20
    assert result["lrs"] == sorted(result["lrs"])
    assert 0 < result["suggested_lr"] < result["lrs"][-1]


def test_overfit_on_user_data_sent_as_tensors(design, shapes):
    user = dataclasses.replace(shapes, name="mine.npz", origin=None)  # not loadable by name: tensors travel
    job = ProbeJob("overfit", design, user, probe_options("overfit"), threads=1).start()
    snap = job.join(WAIT).snapshot()
    assert snap["status"] == "done", snap["message"]
    result = snap["result"]
    assert result["passed"] and result["batch_size"] == 8
    assert result["final_loss"] <= result["target_loss"]


def test_a_probe_that_raises_ends_failed_with_one_line(design, shapes):
    job = ProbeJob("lr_find", design, shapes, {"steps": 3}, threads=1).start()
    snap = job.join(WAIT).snapshot()
    assert snap["status"] == "failed"
    assert "at least 10 steps" in snap["message"] and "\n" not in snap["message"]
    assert snap["result"] is None


def test_stop_and_the_time_limit_kill_the_worker(design, shapes):
    job = ProbeJob("lr_find", design, shapes, {"steps": 100_000}, threads=1).start()
    job.stop()
    snap = job.join(WAIT).snapshot()
    assert snap["status"] == "stopped"
    timed = ProbeJob("overfit", design, None, {"max_steps": 10_000_000, "lr": 0.0}, timeout_s=0.5, threads=1).start()
    snap = timed.join(WAIT).snapshot()
    assert snap["status"] == "failed" and "longer than" in snap["message"]
    assert timed._process is None or not timed._process.is_alive()


def test_options_follow_the_form(design):
    from designer.train.config import TrainConfig

    config = TrainConfig(batch_size=48, optimizer="sgd")
    assert probe_options("lr_find", config)["batch_size"] == 48
    assert probe_options("lr_find", config)["optimizer"] == "sgd"
    assert probe_options("overfit", config, max_steps=5)["max_steps"] == 5
    with pytest.raises(ValueError, match="lr_find, overfit"):
        probe_options("nope")


def test_run_probe_in_this_process_on_a_synthetic_batch(design):
    import torch

    torch.set_num_threads(1)
    result = run_probe("overfit", design, None, {"max_steps": 3, "batch_size": 2})
    assert result["steps"] == 3 and result["batch_size"] == 2


# --- the Train page's buttons (AppTest never fires the fragment's timer: full reruns poll instead) ------


def _page(design, tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from components import state as S

    monkeypatch.setenv("NETWRIGHT_DB", str(tmp_path / "netwright.db"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    S.init_state(at.session_state, design)
    at.run()
    at.switch_page("components/pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def _until_done(at):
    import time

    deadline = time.monotonic() + WAIT
    while at.session_state["probe_job"] is not None and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_page_finds_an_lr_and_the_form_takes_it(design, tmp_path, monkeypatch):
    from components.probe_view import rounded_lr

    at = _page(design, tmp_path, monkeypatch)
    at.number_input(key="tr_batch_size").set_value(16).run()
    _button(at, "probe_lr_find").click().run()
    job = at.session_state["probe_job"]
    assert job is not None and job.kind == "lr_find" and job.options["batch_size"] == 16
    assert _button(at, "probe_overfit").disabled  # one probe at a time
    _until_done(at)
    snap = at.session_state["probe_results"]["lr_find"]["snap"]
    assert snap["status"] == "done", snap["message"]
    suggested = rounded_lr(snap["result"]["suggested_lr"])
    assert any(c.key == "probe_lr_chart" for c in at.get("plotly_chart"))
    assert any("Suggested learning rate" in m.value for m in at.markdown)
    use = _button(at, "probe_use_lr")
    assert use.label == f"Use this lr ({suggested:g})"
    use.click().run()
    assert at.number_input(key="tr_lr").value == pytest.approx(suggested)
    assert not at.exception


def test_the_page_overfits_one_batch_and_says_why_not(design, tmp_path, monkeypatch):
    squashed = {**design, "layers": [*design["layers"], {"type": "Sigmoid"}]}
    at = _page(squashed, tmp_path, monkeypatch)
    _button(at, "probe_overfit").click().run()
    _until_done(at)
    warnings = [w.value for w in at.warning]
    assert any("not memorised" in w and "Sigmoid" in w for w in warnings), warnings


def test_the_buttons_wait_for_a_valid_design(design, tmp_path, monkeypatch):
    broken = {**design, "layers": [{"type": "Linear", "in_features": 5, "out_features": 3}, *design["layers"]]}
    at = _page(broken, tmp_path, monkeypatch)
    assert _button(at, "probe_lr_find").disabled and _button(at, "probe_overfit").disabled


def test_the_page_stops_a_probe(design, tmp_path, monkeypatch):
    at = _page(design, tmp_path, monkeypatch)
    _button(at, "probe_lr_find").click().run()
    job = at.session_state["probe_job"]
    _button(at, "probe_stop").click().run()  # long before the worker has imported torch and run 100 steps
    _until_done(at)
    assert job.snapshot()["status"] == "stopped"
    assert job._process is None or not job._process.is_alive()
    assert any("stopped" in c.value for c in at.caption)
    assert not _button(at, "probe_lr_find").disabled  # free for the next check
