"""In-app runs train in a worker process of their own; the server only reads their event log.

One event stream and one progress bookkeeping for every kind of run: the thread job's callbacks
and a log replayed by EventReader give the same snapshot."""

from __future__ import annotations

import os
import time

import pytest
import torch

from designer.data import load_dataset
from designer.runs import RunStore
from designer.templates import load_template
from designer.train import JobManager, JsonlLogger, TrainConfig, Trainer
from designer.train.callbacks import Callback, EventReader, replay
from designer.train.jobs import JobBase, WorkerJob
from designer.train.worker import DesignModel, _watch


@pytest.fixture(scope="module")
def signals():
    return load_dataset("signals")


def _wait(job, timeout=120):
    deadline = time.monotonic() + timeout
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)
    job.join(30)


def test_a_run_trains_in_its_own_process_and_streams_into_the_snapshot_and_store(tmp_path, signals):
    store = RunStore(tmp_path / "runs.db")
    manager = JobManager(worker="process")
    config = TrainConfig(epochs=2, batch_size=256, device="cpu")
    job_id = manager.submit(DesignModel(load_template("mlp_signals")), signals, config, store=store,
                            design=load_template("mlp_signals"))
    job = manager.get(job_id)
    assert isinstance(job, WorkerJob)
    _wait(job)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert job.pid is not None and job.pid != os.getpid()
    steps_per_epoch = len(signals.x_train) // 256 + (len(signals.x_train) % 256 > 1)
    assert [s[0] for s in snap["steps"]] == list(range(1, 2 * steps_per_epoch + 1))
    assert [e["epoch"] for e in snap["epochs"]] == [1, 2] and snap["samples_per_s"] > 0
    run = store.get(snap["run_id"])
    assert run["status"] == "completed" and len(store.steps(snap["run_id"])) == len(snap["steps"])
    assert snap["result"]["last_path"] and os.path.exists(snap["result"]["last_path"])


def test_stop_ends_the_worker_as_stopped(tmp_path, signals):
    manager = JobManager(worker="process")
    config = TrainConfig(epochs=1000, batch_size=32, device="cpu")
    job = manager.get(manager.submit(DesignModel(load_template("mlp_signals")), signals, config))
    deadline = time.monotonic() + 120
    while job.snapshot()["step"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    manager.stop(job.job_id)
    _wait(job)
    snap = job.snapshot()
    assert snap["status"] == "stopped" and snap["step"] >= 3
    assert not job._process.is_alive()


def test_a_factory_that_cannot_cross_processes_trains_in_a_thread(signals):
    manager = JobManager(worker="process")
    from designer.build import build_model

    design = load_template("mlp_signals")
    job = manager.get(manager.submit(lambda: build_model(design), signals,
                                     TrainConfig(epochs=1, max_steps=3, device="cpu")))
    _wait(job)
    assert not isinstance(job, WorkerJob) and job.snapshot()["status"] == "completed"


def test_the_worker_stops_when_its_server_is_gone():
    class FakeTrainer:
        stopped = False

        def stop(self):
            self.stopped = True

    class NeverSet:
        def wait(self, timeout):
            time.sleep(timeout)
            return False

    import threading

    trainer = FakeTrainer()
    _watch(trainer, NeverSet(), parent_pid=-1, done=threading.Event())  # our parent is not pid -1
    assert trainer.stopped


class _Job(JobBase):
    def __init__(self, config):
        super().__init__("j", None, config)


def test_a_replayed_log_gives_the_same_bookkeeping_as_the_callbacks(tmp_path, signals):
    torch.set_num_threads(1)
    from designer.build import build_model

    config = TrainConfig(epochs=2, batch_size=512, device="cpu")
    direct = _Job(config)
    log = tmp_path / "events.jsonl"
    Trainer(lambda: build_model(load_template("mlp_signals")), signals, config,
            [direct.progress, JsonlLogger(log, full=True)]).run()
    replayed = _Job(config)
    for event in EventReader(log).read():
        replay(event, [replayed.progress])
    a, b = direct.snapshot(), replayed.snapshot()
    assert a["steps"] == b["steps"] and a["epochs"] == b["epochs"] and a["status"] == b["status"] == "completed"
    assert a["total_steps"] == b["total_steps"] and a["result"]["val_loss"] == b["result"]["val_loss"]


def test_start_up_is_shown_as_a_phase_not_as_step_0():
    from components.train_view import status_line

    job = _Job(TrainConfig())
    job.start = None  # never started: only the bookkeeping
    job._state["status"] = "running"
    job.progress.on_phase("the worker is building the model")
    assert status_line(job.snapshot(), "step 0") == "starting · the worker is building the model"
    job.progress.on_start({"total_steps": 10, "device": "cpu"})
    assert status_line(job.snapshot(), "step 0/10").startswith("starting · the first step")
    job.progress.on_step(1, 1, 0.5, 0.001)
    assert status_line(job.snapshot(), "step 1/10") == "running · step 1/10"


def test_callbacks_see_the_model_and_optimizer(signals):
    torch.set_num_threads(1)
    from designer.build import build_model

    class Spy(Callback):
        setup = None
        after: list = []

        def on_setup(self, model, optimizer):
            self.setup = (model, optimizer)

        def on_after_step(self, step, model, optimizer):
            self.after.append((step, model is self.setup[0], any(p.grad is not None for p in model.parameters())))

    spy = Spy()
    Trainer(lambda: build_model(load_template("mlp_signals")), signals,
            TrainConfig(epochs=1, max_steps=3, device="cpu"), [spy]).run()
    assert isinstance(spy.setup[1], torch.optim.Optimizer)
    assert spy.after == [(1, True, True), (2, True, True), (3, True, True)]
