"""designer.launch: the exported train.py under torchrun, 2 CPU processes, tailed into a job snapshot."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from designer.datasets import Dataset
from designer.launch import TorchrunJob, error_summary, launch_torchrun, processes_in, torchrun_command
from designer.runs import RunStore
from designer.training import ConfigError, JobManager, TrainConfig

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="process checks read /proc (Linux)")

DESIGN = {
    "format": "netwright.design", "version": 1, "name": "tiny classifier",
    "input": {"shape": [8], "dtype": "float32"},
    "task": {"kind": "classification", "num_classes": 3},
    "layers": [{"type": "Linear", "out_features": 16}, {"type": "ReLU"}, {"type": "Linear", "out_features": 3}],
}


def blobs(n: int = 240, seed: int = 0) -> Dataset:
    """Three separable clusters in 8 dimensions."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 8, generator=g) * 0.3 + torch.eye(3, 8)[y] * 2.0
    cut = n * 3 // 4
    return Dataset("blobs", "three clusters", (8,), "float32", {"kind": "classification", "num_classes": 3},
                   x[:cut], y[:cut], x[cut:], y[cut:], classes=["a", "b", "c"])


def _alive(pid: int) -> bool:
    """A live process (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait(job, done, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = job.snapshot()
        if done(snap):
            return snap
        time.sleep(0.1)
    pytest.fail(f"timed out; last snapshot: {job.snapshot()}")


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.db")


def test_two_processes_complete_and_stream_into_snapshot_and_store(store):
    manager = JobManager()
    ds = blobs()
    config = TrainConfig(epochs=3, batch_size=16, lr=1e-2, device="cpu")
    job_id = launch_torchrun(DESIGN, ds, config, 2, store=store, manager=manager)
    job = manager.get(job_id)
    assert isinstance(job, TorchrunJob) and job.job_id == job_id and job in manager.jobs()
    assert job.dataset is ds and job.config is config and job.model_factory is not None
    seen = [len(_wait(job, lambda s: len(s["steps"]) >= 1)["steps"])]
    job.join(60)
    snap = job.snapshot()
    seen.append(len(snap["steps"]))
    assert snap["status"] == "completed", snap["message"]
    assert seen[-1] > seen[0] or seen[0] == snap["total_steps"]  # the steps grew while we watched (or all came at once)

    # train.py validates on the dataset's own split: 180 train samples, 90 per process, 5 batches of 16 each epoch
    assert snap["total_steps"] == 15 and snap["step"] == 15
    assert snap["info"]["world_size"] == 2 and snap["info"]["train_size"] == 180 and snap["info"]["val_size"] == 60
    assert [s[0] for s in snap["steps"]] == list(range(1, 16)) and all(s[2] == 1e-2 for s in snap["steps"])
    assert [e["epoch"] for e in snap["epochs"]] == [1, 2, 3]
    assert all(e["val_loss"] is not None and 0 <= e["val_accuracy"] <= 1 for e in snap["epochs"])
    assert snap["epochs"][-1]["val_accuracy"] > 0.8
    assert snap["device"] == "cpu" and snap["info"]["processes"] == 2 and snap["info"]["epochs"] == 3
    assert snap["samples_per_s"] and snap["eta_s"] == 0.0 and snap["run_id"] is not None
    result = snap["result"]
    assert result["status"] == "completed" and result["steps"] == 15 and result["epochs_done"] == 3
    assert result["last_path"] and Path(result["last_path"]).is_file()
    assert result["val_accuracy"] == snap["epochs"][-1]["val_accuracy"]

    # the same data as the in-app trainer, and weights that load into the live model
    run_dir = Path(snap["info"]["run_dir"])
    with np.load(run_dir / "data.npz") as data:
        assert np.array_equal(data["X"], ds.x_train.numpy()) and np.array_equal(data["y"], ds.y_train.numpy())
        assert np.array_equal(data["X_val"], ds.x_val.numpy()) and np.array_equal(data["y_val"], ds.y_val.numpy())
    events = [json.loads(line) for line in (run_dir / "out" / "metrics.jsonl").read_text().splitlines()]
    assert events[0] == {**events[0], "event": "start", "total_steps": 15, "world_size": 2, "val_size": 60}
    from designer.training import load_checkpoint

    model = load_checkpoint(job.model_factory(), result["last_path"])
    assert model(ds.x_val).argmax(1).eq(ds.y_val).float().mean() > 0.8

    run = store.get(snap["run_id"])
    assert run["status"] == "completed" and run["dataset"] == "blobs" and run["last_path"] == result["last_path"]
    assert run["config"]["processes"] == 2 and run["config"]["launcher"] == "torchrun" and run["config"]["epochs"] == 3
    assert [r["step"] for r in store.steps(snap["run_id"])] == list(range(1, 16))
    assert [r["val_accuracy"] for r in store.epochs(snap["run_id"])] == [e["val_accuracy"] for e in snap["epochs"]]
    assert processes_in(run_dir) == []
    assert "terminate called" not in (run_dir / "torchrun.log").read_text()


REGRESSION = {
    "format": "netwright.design", "version": 1, "name": "tiny regression",
    "input": {"shape": [8], "dtype": "float32"}, "task": {"kind": "regression"},
    "layers": [{"type": "Linear", "out_features": 16}, {"type": "Tanh"}, {"type": "Linear", "out_features": 2}],
}


def test_the_app_s_optimizer_schedule_and_clipping_reach_train_py(tmp_path):
    """SGD, a cosine schedule and clipping go to train.py; its lr per step is the app's; regression gives val_mae."""
    from designer.training import schedule_lr

    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 8, generator=g)
    y = torch.stack([x[:, 0] - x[:, 1], x[:, 2:4].sum(1)], 1)
    ds = Dataset("pairs", "sums", (8,), "float32", {"kind": "regression"}, x[:160], y[:160], x[160:], y[160:])
    config = TrainConfig(epochs=2, batch_size=16, lr=0.05, optimizer="sgd", momentum=0.5, schedule="cosine",
                         grad_clip=1.0, device="cpu")
    manager = JobManager()
    job = manager.get(launch_torchrun(REGRESSION, ds, config, 2, manager=manager, run_dir=tmp_path / "run"))
    job.join(60)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert snap["info"]["notes"] == [] and "--grad-clip" in snap["info"]["command"]
    total = snap["total_steps"]
    assert total == 10 and [s[0] for s in snap["steps"]] == list(range(1, 11))  # 80 samples per process
    epochs = [1 + i // 5 for i in range(total)]
    assert [s[2] for s in snap["steps"]] == pytest.approx([schedule_lr(config, i, epochs[i], total) for i in range(total)])
    assert all(e["val_mae"] > 0 and e["val_accuracy"] is None for e in snap["epochs"])
    assert snap["result"]["val_mae"] == snap["epochs"][-1]["val_mae"]
    assert snap["epochs"][-1]["val_loss"] < snap["epochs"][0]["val_loss"] or snap["epochs"][-1]["val_loss"] < 1.0
    assert processes_in(tmp_path / "run") == []


def test_stop_mid_run_ends_stopped_and_leaves_no_processes(store, tmp_path):
    manager = JobManager()
    config = TrainConfig(epochs=500, batch_size=4, device="cpu")
    job_id = launch_torchrun(DESIGN, blobs(), config, 2, store=store, manager=manager, run_dir=tmp_path / "run")
    job = manager.get(job_id)
    _wait(job, lambda s: len(s["steps"]) >= 3 or s["status"] != "running")
    assert job.status == "running"
    pids = job.pids()
    assert len(pids) >= 3  # torchrun and its two workers
    t0 = time.monotonic()
    manager.stop(job_id)
    job.join(20)
    took = time.monotonic() - t0
    snap = job.snapshot()
    assert snap["status"] == "stopped" and snap["message"].startswith("stopped after"), snap
    assert took < 10, took
    assert not [p for p in pids if _alive(p)]
    assert processes_in(tmp_path / "run") == []
    run = store.get(snap["run_id"])
    assert run["status"] == "stopped" and len(store.steps(snap["run_id"])) >= 3
    manager.remove(job_id)
    assert manager.get(job_id) is None


def test_data_that_does_not_fit_fails_with_train_py_s_message(store, tmp_path):
    """A broken run (train.py refuses the data on every rank) ends "failed" with its one-line reason.
    (Bad command-line arguments end the same way: see test_error_summary_prefers_the_scripts_own_line.)"""
    ds = blobs()
    ds.x_train, ds.x_val = ds.x_train[:, :5], ds.x_val[:, :5]
    manager = JobManager()
    job_id = launch_torchrun(DESIGN, ds, TrainConfig(epochs=1, device="cpu"), 2, store=store, manager=manager,
                             run_dir=tmp_path / "run")
    job = manager.get(job_id)
    job.join(60)
    snap = job.snapshot()
    assert snap["status"] == "failed" and snap["result"]["status"] == "failed"
    assert snap["message"] == ("error: X has samples of shape (5,) but the design takes (8,) "
                               "(torchrun exited with code 1)"), snap["message"]
    assert (tmp_path / "run" / "torchrun.log").is_file()
    assert store.get(snap["run_id"])["status"] == "failed"
    assert processes_in(tmp_path / "run") == []


def test_a_design_that_cannot_export_fails_without_raising(tmp_path):
    bad = json.loads(json.dumps(DESIGN))
    bad["layers"][0]["out_features"] = -3
    manager = JobManager()
    job = manager.get(launch_torchrun(bad, blobs(), TrainConfig(device="cpu"), 2, manager=manager,
                                      run_dir=tmp_path / "run"))
    job.join(30)
    snap = job.snapshot()
    assert snap["status"] == "failed" and snap["message"] and snap["result"]["status"] == "failed"


def test_stop_while_queued_cancels(tmp_path):
    job = TorchrunJob("job-x", DESIGN, blobs(), TrainConfig(device="cpu"), 2, tmp_path)
    job.stop()
    job.start()
    assert job.snapshot()["status"] == "stopped" and not job.is_alive()


def test_stop_while_writing_the_export_ends_stopped(tmp_path):
    """A stop that comes while the files are being written ends the job before torchrun starts (no deadlock)."""
    job = TorchrunJob("job-p", DESIGN, blobs(), TrainConfig(device="cpu"), 2, tmp_path)
    prepare = job._prepare

    def prepare_then_stop():
        prepared = prepare()
        job.stop()
        return prepared

    job._prepare = prepare_then_stop
    job.start()
    job.join(20)
    assert not job.is_alive()
    snap = job.snapshot()
    assert snap["status"] == "stopped" and snap["message"] == "stopped before torchrun started", snap
    assert job.pids() == [] and not (tmp_path / "torchrun.log").exists()


def test_bad_values_raise_before_anything_starts(tmp_path):
    with pytest.raises(ConfigError, match="processes"):
        launch_torchrun(DESIGN, blobs(), TrainConfig(device="cpu"), 0, manager=JobManager(), run_dir=tmp_path)
    with pytest.raises(ConfigError, match="MPS"):
        launch_torchrun(DESIGN, blobs(), TrainConfig(device="mps"), 2, manager=JobManager(), run_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_command_line():
    config = TrainConfig(epochs=2, batch_size=32, lr=0.01, max_steps=7, precision="bf16", seed=3)
    cmd = torchrun_command(config, 4, "cuda")
    assert cmd[1:7] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4", "train.py"]
    flags = dict(zip(cmd[7::2], cmd[8::2], strict=True))
    assert flags == {"--data": "data.npz", "--epochs": "2", "--batch-size": "32", "--lr": "0.01",
                     "--optimizer": "adam", "--weight-decay": "0.0", "--schedule": "constant", "--device": "cuda",
                     "--momentum": "0.9", "--step-size": "1", "--gamma": "0.5", "--precision": "bf16", "--seed": "3",
                     "--stats-every": "0", "--log-every": "1", "--out": "out", "--max-steps": "7"}
    config = TrainConfig(optimizer="sgd", momentum=0.8, schedule="step", step_size=3, gamma=0.1, grad_clip=2.0,
                         compile=True)
    cmd = torchrun_command(config, 2, "cpu")
    assert "--compile" in cmd
    cmd.remove("--compile")
    flags = dict(zip(cmd[7::2], cmd[8::2], strict=True))
    assert {k: flags[k] for k in ("--optimizer", "--momentum", "--schedule", "--step-size", "--gamma",
                                  "--grad-clip")} == {"--optimizer": "sgd", "--momentum": "0.8", "--schedule": "step",
                                                      "--step-size": "3", "--gamma": "0.1", "--grad-clip": "2.0"}
    nodes = ["--nnodes", "2", "--node_rank", "0", "--master_addr", "10.0.0.1", "--master_port", "29500"]
    cmd = torchrun_command(config, 8, "cuda", extra_torchrun_args=nodes, extra_train_args=["--workers", "2"])
    assert "--standalone" not in cmd and cmd[5:13] == nodes and cmd[-2:] == ["--workers", "2"]


def test_error_summary_prefers_the_scripts_own_line():
    log = ("usage: train.py [-h]\ntrain.py: error: --epochs must be at least 1\n"
           "E1129 07:51:05.760000 1 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: 2)\n"
           "Traceback (most recent call last):\n  File \"run.py\"\n"
           "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \nRoot Cause\n")
    assert error_summary(log, 1) == "train.py: error: --epochs must be at least 1 (torchrun exited with code 1)"
    crash = "[rank0]: Traceback (most recent call last):\n[rank0]:   File \"train.py\"\n[rank0]: RuntimeError: boom\n"
    assert error_summary(crash, 1) == "RuntimeError: boom (torchrun exited with code 1)"
    assert error_summary("", -9) == "torchrun exited with code -9"
    assert error_summary(TEARDOWN_CRASH, 1) == ("parameters in sync across 2 processes: max difference 0 / terminate "
                                                "called without an active exception (torchrun exited with code 1; "
                                                "a process got SIGABRT)")


TEARDOWN_CRASH = """\
epoch 3 | train_loss 0.5784 | val_accuracy 1.0000 | val_loss 0.5418
saved out/model.safetensors (5813 samples/s)
parameters in sync across 2 processes: max difference 0
terminate called without an active exception
W1129 08:01:19.617000 639 torch/distributed/elastic/multiprocessing/api.py:1028] Sending process 695 closing signal SIGTERM
E1129 08:01:19.691000 639 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: -6) local_rank: 0
Traceback (most recent call last):
  File "/x/torch/distributed/launcher/api.py", line 383, in launch_agent
    raise ChildFailedError(
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
[1]:
  exitcode  : -15 (pid: 695)  (SIGTERM)
Root Cause (first observed failure):
[0]:
  exitcode  : -6 (pid: 694)  (SIGABRT)
"""


@pytest.mark.parametrize("synced", [True, False])
def test_a_crash_on_the_way_out_after_a_complete_run(synced, tmp_path):
    """gloo's teardown now and then aborts a process after train.py finished everything: still completed."""
    job = TorchrunJob("job-w", DESIGN, blobs(), TrainConfig(device="cpu"), 2, tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.safetensors").write_bytes(b"weights")
    log = TEARDOWN_CRASH if synced else TEARDOWN_CRASH.replace("in sync", "NOT in sync")
    (tmp_path / "torchrun.log").write_text(log)
    job._on_event({"event": "epoch", "epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 1.0})
    job._on_event({"event": "end", "status": "completed", "samples_per_s": 100.0, "val_loss": 0.4,
                   "val_accuracy": 1.0})
    result = job._outcome(1, time.perf_counter())
    if synced:
        assert result.status == "completed" and "crashed while exiting" in result.message and result.warnings
        assert result.last_path == str(tmp_path / "out" / "model.safetensors") and result.val_accuracy == 1.0
    else:
        assert result.status == "failed" and "NOT in sync" in result.message


def test_job_manager_adds_an_external_job():
    job = TorchrunJob("job-y", DESIGN, blobs(), TrainConfig(device="cpu"), 1, "/nonexistent")
    real = JobManager()
    assert real.add(job) == "job-y"
    assert real.get("job-y") is job and real.jobs() == [job]
    real.remove("job-y")  # queued: kept
    assert real.get("job-y") is job


def test_cpu_processes_get_one_thread(tmp_path, monkeypatch):
    job = TorchrunJob("job-z", DESIGN, blobs(), TrainConfig(device="cpu"), 2, tmp_path)
    monkeypatch.setenv("WORLD_SIZE", "99")
    command, env, info = job._prepare()
    assert env["OMP_NUM_THREADS"] == "1" and "WORLD_SIZE" not in env and env["PYTHONUNBUFFERED"] == "1"
    assert {p.name for p in tmp_path.iterdir()} >= {"model.py", "train.py", "design.json", "data.npz"}
    assert info["total_steps"] == 5 and os.fspath(tmp_path) == info["run_dir"]  # 90 samples per process: 1 batch of 64
    assert info["notes"] == [] and "--val-fraction" not in command


def test_page_start_with_two_processes_launches_torchrun(tmp_path, monkeypatch):
    """The Train view's "Processes (torchrun)" input: more than 1 starts a TorchrunJob."""
    from streamlit.testing.v1 import AppTest

    from components import state as S
    from components.train_view import job_manager
    from designer.templates import load_template

    monkeypatch.setenv("NETWRIGHT_DB", str(tmp_path / "netwright.db"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    fresh: dict = {}
    S.init_state(fresh, load_template("mlp_signals"))
    for key, value in fresh.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("components/pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    next(w for w in at.number_input if w.key == "tr_procs").set_value(2)
    next(w for w in at.number_input if w.key == "tr_epochs").set_value(1)
    next(w for w in at.selectbox if w.key == "tr_device").set_value("cpu")
    at.run()
    next(b for b in at.button if b.key == "train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = job_manager().get(at.session_state[S.JOB_ID])
    try:
        assert isinstance(job, TorchrunJob) and job.processes == 2 and job.config.epochs == 1
    finally:
        job.stop()
        job.join(30)
    assert job.status in ("stopped", "completed") and processes_in(job.run_dir) == []
