"""The SQLite stores: designs and autosaves, runs and their metrics, across restarts and threads."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
import zipfile
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from designer.runs import RunRecorder, RunStore
from designer.store import DesignStore, count_layers, db_path, open_db
from designer.training import JobManager, TrainConfig, Trainer

torch.set_num_threads(1)

DESIGN = {
    "format": "netwright.design", "version": 1, "name": "Tiny MLP",
    "input": {"shape": [8], "dtype": "float32"},
    "task": {"kind": "classification", "num_classes": 4},
    "layers": [
        {"type": "Linear", "out_features": 16},
        {"type": "Residual", "body": [{"type": "ReLU"}, {"type": "Linear", "out_features": 16}]},
        {"type": "Linear", "out_features": 4},
    ],
}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "nw" / "netwright.db"


# ---------------------------------------------------------------- the database


def test_open_db_creates_folder_schema_and_wal(db):
    conn = open_db(db)
    assert db.exists()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"designs", "autosaves", "runs", "run_steps", "run_epochs"} <= tables
    conn.close()


def test_path_comes_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("NETWRIGHT_DB", str(tmp_path / "env.db"))
    assert db_path() == tmp_path / "env.db"
    DesignStore().save("x", DESIGN)
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("NETWRIGHT_DB")
    assert db_path().name == "netwright.db" and db_path().parent.name == ".netwright"


# ---------------------------------------------------------------- designs


def test_autosave_survives_a_restart(db):
    store = DesignStore(db)
    assert store.latest_autosave() is None and store.load_autosave("s1") is None
    store.autosave("s1", {**DESIGN, "name": "first"})
    store.autosave("s2", {**DESIGN, "name": "second"})
    store.autosave("s1", {**DESIGN, "name": "first, edited"})
    store.close()

    reopened = DesignStore(db)  # a new process would do the same
    assert reopened.load_autosave("s1")["name"] == "first, edited"
    assert reopened.load_autosave("s2")["name"] == "second"
    session, design = reopened.latest_autosave()
    assert session == "s1" and design["name"] == "first, edited"


def test_save_list_load_delete(db):
    store = DesignStore(db)
    first = store.save("mine", DESIGN)
    other = store.save("other", {**DESIGN, "layers": []})
    again = store.save("mine", {**DESIGN, "name": "changed"})
    assert again == first != other
    rows = {r["name"]: r for r in store.list()}
    assert set(rows) == {"mine", "other"}
    assert rows["mine"]["n_layers"] == 4 and rows["other"]["n_layers"] == 0
    assert set(rows["mine"]) == {"id", "name", "updated_at", "n_layers"}
    assert store.load("mine")["name"] == "changed"
    assert store.load(first) == store.load("mine")
    assert store.delete(first) is True and store.delete(first) is False
    with pytest.raises(KeyError):
        store.load("mine")
    assert DesignStore(db).load(other)["layers"] == []
    with pytest.raises(ValueError, match="name"):
        store.save("  ", DESIGN)


def test_count_layers_looks_inside_blocks():
    nodes = [{"type": "Parallel", "branches": [[{"type": "ReLU"}], [], [{"type": "Linear"}, {"type": "Tanh"}]]},
             {"type": "Repeat", "times": 3, "body": [{"type": "Linear"}]}, {"type": "Flatten"}]
    assert count_layers(nodes) == 5


# ---------------------------------------------------------------- runs


def finished_run(store: RunStore, steps: int = 120, epochs: int = 2) -> int:
    run_id = store.create(DESIGN, TrainConfig(epochs=epochs).to_dict(), "blobs", "cpu")
    store.set_status(run_id, "running")
    store.log_steps(run_id, [(s, 1 + (s - 1) * epochs // steps, 1.0 / s, 1e-3) for s in range(1, steps + 1)])
    store.log_epochs(run_id, [{"epoch": e, "train_loss": 0.5 / e, "val_loss": 0.6 / e, "val_accuracy": 0.8,
                               "val_mae": None} for e in range(1, epochs + 1)])
    store.finish(run_id, {"status": "completed", "message": "done", "steps": steps, "duration_s": 2.5,
                          "val_loss": 0.3, "val_accuracy": 0.8, "samples_per_s": 1000.0})
    return run_id


def test_runs_persist_across_reopen(db):
    store = RunStore(db)
    run_id = finished_run(store)
    store.close()

    again = RunStore(db)
    [summary] = again.list()
    assert summary["id"] == run_id and summary["name"] == "Tiny MLP" and summary["dataset"] == "blobs"
    assert summary["status"] == "completed" and summary["steps"] == 120
    assert summary["val_loss"] == 0.3 and summary["val_accuracy"] == 0.8 and summary["duration_s"] == 2.5
    assert {"id", "name", "dataset", "status", "created_at", "duration_s", "val_loss", "val_accuracy",
            "steps"} <= set(summary)
    run = again.get(run_id)
    assert run["design"] == DESIGN and run["config"]["epochs"] == 2 and run["result"]["message"] == "done"
    assert len(again.steps(run_id)) == 120 and again.steps(run_id)[0] == {"step": 1, "epoch": 1, "loss": 1.0,
                                                                             "lr": 1e-3}
    assert [e["epoch"] for e in again.epochs(run_id)] == [1, 2]
    csv_text = again.metrics_csv(run_id)
    assert csv_text.splitlines()[0] == "step,epoch,loss,lr" and len(csv_text.splitlines()) == 121
    with pytest.raises(KeyError):
        again.get(9999)


def test_nan_losses_are_kept_as_null(db):
    store = RunStore(db)
    run_id = store.create(DESIGN, {}, "blobs", "cpu")
    store.log_steps(run_id, [(1, 1, float("nan"), 0.1), {"step": 2, "epoch": 1, "loss": float("inf"), "lr": 0.1}])
    assert [s["loss"] for s in store.steps(run_id)] == [None, None]


def test_mark_interrupted_only_touches_dead_processes(db):
    store = RunStore(db)
    mine = store.create(DESIGN, {}, "blobs", "cpu", status="running")
    killed = store.create(DESIGN, {}, "blobs", "cpu", status="running")
    store.log_steps(killed, [(1, 1, 0.5, 0.1), (2, 1, 0.4, 0.1)])
    queued = store.create(DESIGN, {}, "blobs", "cpu")
    with sqlite3.connect(db) as conn:  # as if another process, now dead, had started them
        conn.execute("UPDATE runs SET owner = '999999999:1' WHERE id IN (?, ?)", (killed, queued))

    RunStore(db)  # a new process opens the store
    assert store.get(mine)["status"] == "running"
    assert store.get(killed)["status"] == "interrupted" and store.get(queued)["status"] == "interrupted"
    assert len(store.steps(killed)) == 2 and store.get(killed)["steps"] == 2
    assert store.mark_interrupted(force=True) == 1
    assert store.get(mine)["status"] == "interrupted"


def test_delete_removes_rows_and_checkpoints(db, tmp_path):
    store = RunStore(db)
    run_id = finished_run(store)
    folder = store.checkpoint_dir(run_id)
    assert folder == db.parent / "runs" / str(run_id)
    folder.mkdir(parents=True)
    (folder / "last.safetensors").write_bytes(b"x")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    other = store.create(DESIGN, {"checkpoint_dir": str(outside)}, "blobs", "cpu")
    store.finish(other, {"status": "failed", "message": "no data"})

    running = store.create(DESIGN, {}, "blobs", "cpu", status="running")
    with pytest.raises(ValueError, match="still running"):
        store.delete(running)
    store.finish(running, {"status": "stopped"})
    assert store.delete(running) is True

    assert store.delete(run_id) is True
    assert not folder.exists()
    assert store.steps(run_id) == [] and store.epochs(run_id) == []
    assert [r["id"] for r in store.list()] == [other]
    assert store.delete(run_id) is False
    store.delete(other)
    assert outside.exists()  # not ours to remove


def test_bundle_holds_the_run(db):
    store = RunStore(db)
    run_id = finished_run(store)
    folder = store.checkpoint_dir(run_id)
    folder.mkdir(parents=True)
    (folder / "best.safetensors").write_bytes(b"best")
    data = store.bundle(run_id, {"model.py": "class Model: ...\n", "../evil.py": "x", "pkg/train.py": "y"})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        assert {"design.json", "config.json", "metrics.csv", "epochs.csv", "checkpoints/best.safetensors",
                "model.py", "pkg/train.py"} <= names
        assert not any(".." in n for n in names)
        assert json.loads(zf.read("design.json")) == DESIGN
        assert zf.read("epochs.csv").decode().startswith("epoch,train_loss,val_loss,val_accuracy,val_mae")
        assert zf.read("checkpoints/best.safetensors") == b"best"


def test_concurrent_writes_from_two_threads(db):
    store = RunStore(db)
    reader = RunStore(db)
    ids = [store.create(DESIGN, {}, "blobs", "cpu") for _ in range(2)]
    errors = []

    def write(run_id: int, own_store: bool) -> None:
        target = RunStore(db) if own_store else store
        try:
            for start in range(1, 500, 25):
                target.log_steps(run_id, [(s, 1, 0.1, 0.01) for s in range(start, start + 25)])
                reader.list()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(ids[0], False)), threading.Thread(target=write, args=(ids[1], True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [len(store.steps(i)) for i in ids] == [500, 500]


# ---------------------------------------------------------------- recording a real run


def dataset():
    """Four separable blobs with the attributes of designer.datasets.Dataset."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (600,), generator=g)
    x = torch.randn(4, 8, generator=g)[y] * 2 + torch.randn(600, 8, generator=g)
    return SimpleNamespace(name="blobs", description="", input_shape=(8,), dtype="float32",
                           task={"kind": "classification", "num_classes": 4}, classes=None,
                           x_train=x[:500], y_train=y[:500], x_val=x[500:], y_val=y[500:])


def test_run_recorder_writes_a_training_run_in_batches(db):
    store = RunStore(db)
    run_id = store.create(DESIGN, {}, "blobs", "auto")
    calls = []
    original = store.log_steps
    store.log_steps = lambda rid, rows: (calls.append(len(rows)), original(rid, rows))

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    result = Trainer(model, dataset(), TrainConfig(epochs=2, batch_size=8), [RunRecorder(store, run_id)]).run()
    assert result.status == "completed" and result.steps == 2 * 63
    assert len(store.steps(run_id)) == result.steps
    assert len(calls) < 10 and max(calls) == 50
    run = store.get(run_id)
    assert run["status"] == "completed" and run["device"] == "cpu" and run["steps"] == result.steps
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2]
    assert run["result"]["confusion"] == result.confusion


def test_job_with_store_records_and_checkpoints(db):
    store = RunStore(db)
    manager = JobManager()
    job_id = manager.submit(lambda: nn.Sequential(nn.Linear(8, 4)), dataset(), TrainConfig(epochs=1, device="cpu"),
                            store=store, design=DESIGN)
    job = manager.get(job_id)
    job.join(30)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    run = store.get(snap["run_id"])
    assert run["status"] == "completed" and run["name"] == "Tiny MLP"
    assert run["best_path"] == str(store.checkpoint_dir(snap["run_id"]) / "best.safetensors")
    with zipfile.ZipFile(io.BytesIO(store.bundle(snap["run_id"]))) as zf:
        assert {"checkpoints/best.safetensors", "checkpoints/last.safetensors"} <= set(zf.namelist())
    deadline = time.monotonic() + 5
    while store.list()[0]["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.list()[0]["steps"] == snap["step"]
