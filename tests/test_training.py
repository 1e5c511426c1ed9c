"""The trainer: learning, schedules, stopping, divergence, memory refusal, checkpoints, export, jobs."""

from __future__ import annotations

import errno
import itertools
import json
import math
import threading
import time
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from designer import training
from designer.train import checkpoints
from designer.training import (
    Callback,
    InsufficientMemory,
    JobManager,
    JsonlLogger,
    TrainConfig,
    Trainer,
    check_memory,
    estimate_memory,
    export_onnx,
    load_checkpoint,
    schedule_lr,
)

torch.set_num_threads(1)


@dataclass
class FakeDataset:
    """Stands in for designer.datasets.Dataset (same attributes)."""

    name: str
    description: str
    input_shape: tuple
    dtype: str
    task: dict
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: list[str] | None = None


def blobs(n: int = 600, features: int = 8, classes: int = 4, seed: int = 0) -> FakeDataset:
    """Gaussian blobs around well-separated centres: learnable, but not by chance (25%)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, features, generator=g) * 2.0
    y = torch.randint(0, classes, (n,), generator=g)
    x = centres[y] + torch.randn(n, features, generator=g)
    cut = n * 5 // 6
    return FakeDataset("blobs", "test blobs", (features,), "float32",
                       {"kind": "classification", "num_classes": classes},
                       x[:cut], y[:cut], x[cut:], y[cut:], [str(i) for i in range(classes)])


def linear_targets(n: int = 600, features: int = 16, outputs: int = 4, seed: int = 0) -> FakeDataset:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(features, outputs, generator=g) / features**0.5
    x = torch.randn(n, features, generator=g)
    y = x @ w + 0.01 * torch.randn(n, outputs, generator=g)
    cut = n * 5 // 6
    return FakeDataset("linear", "test regression", (features,), "float32", {"kind": "regression"},
                       x[:cut], y[:cut], x[cut:], y[cut:])


def images(n: int = 96, classes: int = 10, seed: int = 0) -> FakeDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 28, 28, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return FakeDataset("img", "", (1, 28, 28), "float32", {"kind": "classification", "num_classes": classes},
                       x[:64], y[:64], x[64:], y[64:])


def mlp(features: int = 8, out: int = 4) -> nn.Module:
    return nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, out))


def cnn(classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 13 * 13, classes))


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.steps: list[tuple[int, int, float, float]] = []
        self.info: dict | None = None
        self.result = None

    def on_start(self, info):
        self.info = info
        self.events.append(("start",))

    def on_step(self, step, epoch, loss, lr):
        self.steps.append((step, epoch, loss, lr))

    def on_epoch(self, epoch, train_loss, val_loss, val_accuracy, val_mae):
        self.events.append(("epoch", epoch, train_loss, val_loss, val_accuracy, val_mae))

    def on_end(self, result):
        self.result = result
        self.events.append(("end", result.status))


def train(model, ds, callbacks=(), **config):
    rec = Recorder()
    result = Trainer(model, ds, TrainConfig(**config), [rec, *callbacks]).run()
    return result, rec


# ---------------------------------------------------------------- learning


def test_mlp_learns_separable_classes():
    result, rec = train(lambda: mlp(), blobs(), epochs=4, batch_size=32, lr=1e-2)
    assert result.status == "completed", result.message
    assert result.val_accuracy >= 0.9  # chance is 0.25
    assert result.val_mae is None
    assert result.epochs_done == 4 and result.steps == 4 * math.ceil(500 / 32)
    assert len(rec.steps) == result.steps
    assert [s[0] for s in rec.steps] == list(range(1, result.steps + 1))
    first_epoch_loss = next(e for e in rec.events if e[0] == "epoch")[2]
    assert result.train_loss < first_epoch_loss
    assert sum(map(sum, result.confusion)) == 100 and len(result.confusion) == 4
    assert result.samples_per_s and result.samples_per_s > 0
    assert rec.info["device"] == "cpu" and rec.info["params"] == sum(p.numel() for p in mlp().parameters())


def test_regression_mse_falls_and_reports_mae():
    result, rec = train(lambda: mlp(16, 4), linear_targets(), epochs=5, batch_size=32, lr=3e-3)
    assert result.status == "completed", result.message
    val_losses = [e[3] for e in rec.events if e[0] == "epoch"]
    assert val_losses[-1] < 0.3 * val_losses[0]
    assert result.val_accuracy is None and result.confusion is None
    assert 0 < result.val_mae < 1.0


def test_same_seed_same_losses_other_seed_differs():
    ds = blobs()
    losses = [[s[2] for s in train(lambda: mlp(), ds, epochs=1, batch_size=50, seed=s)[1].steps] for s in (3, 3, 4)]
    assert losses[0] == losses[1]
    assert losses[0] != losses[2]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_each_optimizer_trains(optimizer):
    result, _ = train(lambda: mlp(), blobs(), epochs=2, batch_size=32, lr=3e-2 if optimizer == "sgd" else 1e-2,
                      optimizer=optimizer, weight_decay=1e-4)
    assert result.status == "completed", result.message
    assert result.val_accuracy >= 0.8


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_lr_follows_schedule(schedule):
    cfg = {"epochs": 3, "batch_size": 50, "lr": 0.1, "optimizer": "sgd", "schedule": schedule,
           "step_size": 1, "gamma": 0.5}
    result, rec = train(lambda: mlp(), blobs(), **cfg)
    assert result.status == "completed", result.message
    lrs = [s[3] for s in rec.steps]
    total = len(lrs)
    config = TrainConfig(**cfg)
    assert lrs == pytest.approx([schedule_lr(config, i, s[1], total) for i, s in enumerate(rec.steps)])
    if schedule == "constant":
        assert set(lrs) == {0.1}
    elif schedule == "step":
        assert {s[1]: s[3] for s in rec.steps} == pytest.approx({1: 0.1, 2: 0.05, 3: 0.025})
    elif schedule == "cosine":
        assert lrs[0] == pytest.approx(0.1) and all(a > b for a, b in itertools.pairwise(lrs))
        assert lrs[-1] < 0.01
    else:  # the same curve as torch's OneCycleLR
        opt = torch.optim.SGD(mlp().parameters(), lr=0.1)
        ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total, cycle_momentum=False)
        expected = []
        for _ in range(total):
            expected.append(opt.param_groups[0]["lr"])
            opt.step()
            ref.step()
        assert lrs == pytest.approx(expected, rel=1e-6)


def test_grad_clip_bounds_the_update():
    ds = linear_targets()

    def update_norm(clip):
        torch.manual_seed(0)
        model = mlp(16, 4)
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        result = Trainer(model, ds, TrainConfig(epochs=1, batch_size=64, lr=1.0, optimizer="sgd", momentum=0.0,
                                                grad_clip=clip, max_steps=1)).run()
        assert result.status == "completed" and result.steps == 1
        after = torch.cat([p.detach().flatten() for p in model.parameters()])
        return (after - before).norm().item()

    assert update_norm(1e-3) <= 1e-3 * 1.0001
    assert update_norm(None) > 1e-2


def test_max_steps_ends_early_and_still_validates():
    result, _ = train(lambda: mlp(), blobs(), epochs=10, batch_size=32, max_steps=5)
    assert result.status == "completed" and result.steps == 5 and result.val_loss is not None
    assert result.epochs_done == 1


def test_predict_returns_outputs_on_cpu():
    ds = blobs()
    trainer = Trainer(lambda: mlp(), ds, TrainConfig(epochs=1, batch_size=64))
    trainer.run()
    out = trainer.predict(ds.x_val)
    assert out.shape == (len(ds.x_val), 4) and out.device.type == "cpu"


def test_mixed_precision_on_cpu_falls_back_with_a_note():
    result, rec = train(lambda: mlp(), blobs(), epochs=1, precision="bf16")
    assert result.status == "completed"
    assert rec.info["precision"] == "fp32"
    assert "fp32" in result.message and result.warnings


# ---------------------------------------------------------------- stop, divergence, failures


def test_stop_from_another_thread_returns_quickly_and_keeps_steps():
    ds = blobs()
    rec = Recorder()
    started = threading.Event()

    class Signal(Callback):
        def on_step(self, step, epoch, loss, lr):
            if step == 20:
                started.set()

    trainer = Trainer(lambda: mlp(), ds, TrainConfig(epochs=10_000, batch_size=8), [rec, Signal()])
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", trainer.run()))
    thread.start()
    assert started.wait(30)
    t0 = time.perf_counter()
    trainer.stop()
    thread.join(5)
    elapsed = time.perf_counter() - t0
    assert not thread.is_alive()
    result = box["result"]
    assert elapsed < 1.0
    assert result.status == "stopped"
    assert result.steps == len(rec.steps) >= 20
    assert rec.events[-1] == ("end", "stopped")


def test_stop_before_run_does_nothing():
    trainer = Trainer(lambda: mlp(), blobs(), TrainConfig(epochs=3))
    trainer.stop()
    result = trainer.run()
    assert result.status == "stopped" and result.steps == 0


class NaNModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 4)

    def forward(self, x):
        out = self.linear(x)
        return out * float("nan") if self.training else out


def test_nan_model_diverges_with_a_message():
    result, rec = train(NaNModel, blobs(), epochs=2)
    assert result.status == "diverged"
    assert "nan" in result.message and "learning rate" in result.message
    assert result.steps == 1 and rec.events[-1] == ("end", "diverged")


def test_huge_learning_rate_diverges():
    result, _ = train(lambda: mlp(16, 4), linear_targets(), epochs=5, lr=1e12, optimizer="sgd")
    assert result.status == "diverged", result.message
    assert "lower learning rate" in result.message


def test_wrong_output_size_fails_with_clear_message():
    result, _ = train(lambda: mlp(8, 3), blobs(), epochs=1)
    assert result.status == "failed"
    assert "(N, 4)" in result.message and "out_features=4" in result.message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_device_is_a_failed_result():
    result, _ = train(lambda: mlp(), blobs(), epochs=1, device="cuda")
    assert result.status == "failed" and result.message.startswith("device 'cuda' was asked for")


def test_labels_and_inputs_of_other_dtypes_are_converted():
    ds = blobs()
    ds.x_train, ds.y_train = ds.x_train.double(), ds.y_train.int()
    result, _ = train(lambda: mlp(), ds, epochs=1)
    assert result.status == "completed", result.message


def test_exception_in_the_loop_is_a_failed_result():
    class Boom(Callback):
        def on_step(self, step, epoch, loss, lr):
            raise RuntimeError("kaput")

    result, rec = train(lambda: mlp(), blobs(), [Boom()], epochs=1)
    assert result.status == "failed" and "kaput" in result.message
    assert rec.events[-1] == ("end", "failed")


def test_ctrl_c_is_a_stop():
    class CtrlC(Callback):
        def on_step(self, step, epoch, loss, lr):
            if step == 3:
                raise KeyboardInterrupt

    result, rec = train(lambda: mlp(), blobs(), [CtrlC()], epochs=1, batch_size=32)
    assert result.status == "stopped" and result.steps == 3 and rec.events[-1] == ("end", "stopped")


def test_out_of_memory_is_a_failed_result():
    class Oom(Callback):
        def on_step(self, step, epoch, loss, lr):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    result, _ = train(lambda: mlp(), blobs(), [Oom()], epochs=1, batch_size=32)
    assert result.status == "failed"
    assert "out of memory" in result.message and "batch size" in result.message


# ---------------------------------------------------------------- memory


def test_estimate_memory_numbers_are_sane():
    model = cnn()
    numel = sum(p.numel() for p in model.parameters())
    est = estimate_memory(model, (1, 28, 28), "float32", 32, "adam")
    assert est["params"] == 4 * numel
    assert est["grads"] == 4 * numel and est["optimizer"] == 8 * numel
    # The conv output alone is 32 x 8 x 26 x 26 floats.
    assert est["activations"] >= 32 * 8 * 26 * 26 * 4
    assert est["total"] >= est["params"] + est["grads"] + est["optimizer"] + est["activations"]
    assert est["available"] is None or est["available"] > 0
    est64 = estimate_memory(model, (1, 28, 28), "float32", 64, "sgd")
    assert est64["activations"] == 2 * est["activations"]
    assert est64["optimizer"] == 4 * numel
    assert next(model.parameters()).device.type == "cpu"  # the model itself was not moved


def test_estimate_memory_token_models():
    model = nn.Sequential(nn.Embedding(100, 16), nn.LSTM(16, 32, batch_first=True))
    est = estimate_memory(model, (12,), "int64", 8, "adam")
    assert est["activations"] >= 8 * 12 * (16 + 32) * 4


def test_estimate_memory_sees_inside_transformer_layers():
    layer = nn.TransformerEncoderLayer(16, 2, 64, batch_first=True).eval()  # eval: fused path under no_grad
    est = estimate_memory(layer, (10, 16), "float32", 4, "adam")
    assert est["activations"] >= 4 * 10 * 64 * 4  # the feed-forward's hidden layer at least


def test_memory_refusal_suggests_a_batch_that_fits():
    model = cnn()
    est = estimate_memory(model, (1, 28, 28), "float32", 4096, "adam", available=8 * 2**20)
    with pytest.raises(InsufficientMemory) as info:
        check_memory(est)
    err = info.value
    assert err.needed > err.available == 8 * 2**20
    assert err.suggested_batch_size is not None and 1 <= err.suggested_batch_size < 4096
    assert f"batch size {err.suggested_batch_size}" in str(err)
    smaller = estimate_memory(model, (1, 28, 28), "float32", err.suggested_batch_size, "adam",
                              available=8 * 2**20)
    check_memory(smaller)  # the suggestion fits

    rec = Recorder()
    result = Trainer(cnn, images(), TrainConfig(batch_size=4096), [rec], memory_available=8 * 2**20).run()
    assert result.status == "failed" and "not enough memory" in result.message
    assert result.suggested_batch_size == err.suggested_batch_size
    assert result.steps == 0


def test_model_too_big_for_any_batch():
    est = estimate_memory(cnn(), (1, 28, 28), "float32", 64, "adam", available=1000)
    with pytest.raises(InsufficientMemory) as info:
        check_memory(est)
    assert info.value.suggested_batch_size is None and "model alone" in str(info.value)


# ---------------------------------------------------------------- checkpoints and export


def test_checkpoints_load_into_a_fresh_model(tmp_path):
    trainer = Trainer(cnn, images(), TrainConfig(epochs=2, batch_size=16, checkpoint_dir=str(tmp_path)))
    result = trainer.run()
    assert result.status == "completed", result.message
    assert result.best_path == str(tmp_path / "best.safetensors")
    assert result.last_path == str(tmp_path / "last.safetensors")
    fresh = cnn()
    load_checkpoint(fresh, result.last_path)
    for (k, a), b in zip(trainer.model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    fresh.load_state_dict(training.load_file(result.best_path))
    assert not list(tmp_path.glob("*.tmp"))


def test_tied_weights_are_saved(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)
            self.b.weight = self.a.weight
            self.head = nn.Linear(8, 4)

        def forward(self, x):
            return self.head(self.b(self.a(x)))

    result, _ = train(Tied, blobs(), epochs=1, checkpoint_dir=str(tmp_path))
    assert result.status == "completed" and result.last_path, result.message
    Tied().load_state_dict(training.load_file(result.last_path))


def test_full_disk_does_not_crash_the_run(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "save_file", full)
    result, _ = train(lambda: mlp(), blobs(), epochs=2, checkpoint_dir=str(tmp_path))
    assert result.status == "completed"
    assert result.epochs_done == 2
    assert "disk is full" in result.message and result.best_path is None
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("make, shape, dtype", [
    (lambda: mlp(), (8,), "float32"),
    (cnn, (1, 28, 28), "float32"),
    (lambda: nn.Sequential(nn.Embedding(50, 8), nn.Flatten(), nn.Linear(8 * 6, 3)), (6,), "int64"),
    (lambda: nn.Sequential(nn.Embedding(50, 16), nn.TransformerEncoderLayer(16, 2, 32, batch_first=True),
                           nn.Flatten(), nn.Linear(16 * 6, 3)), (6,), "int64"),
])
def test_onnx_export_passes_the_checker(tmp_path, make, shape, dtype):
    onnx = pytest.importorskip("onnx")
    model = make()
    path = export_onnx(model, shape, dtype, tmp_path / "model.onnx")
    onnx.checker.check_model(onnx.load(str(path)))
    assert model.training  # mode restored


def test_onnx_export_failure_is_clear(tmp_path):
    class Bad(nn.Module):
        def forward(self, x):
            return {"not": "a tensor"}

    with pytest.raises(training.OnnxExportError, match="could not export"):
        export_onnx(Bad(), (4,), "float32", tmp_path / "bad.onnx")


# ---------------------------------------------------------------- config


def test_config_round_trip_and_validation():
    cfg = TrainConfig(epochs=3, optimizer="sgd", schedule="cosine", grad_clip=1.0)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"lr": 1}).lr == 1.0
    with pytest.raises(ValueError, match=r"optimizer .*received 'rmsprop'"):
        TrainConfig.from_dict({"optimizer": "rmsprop"})
    with pytest.raises(ValueError, match=r"batch_size must be at least 1; received 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"epochs must be a whole number; received '3'"):
        TrainConfig.from_dict({"epochs": "3"})
    with pytest.raises(ValueError, match=r"lr must be greater than 0"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match=r"unknown training option.*'epoch'"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="tpu")


def test_resolve_device():
    assert training.resolve_device("cpu").type == "cpu"
    assert training.resolve_device("auto").type in ("cuda", "mps", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            training.resolve_device("cuda")


# ---------------------------------------------------------------- JSON lines


def test_jsonl_logger_writes_the_contract_events_in_order(tmp_path):
    path = tmp_path / "log" / "train.jsonl"
    result, _ = train(lambda: mlp(), blobs(), [JsonlLogger(path)], epochs=2, batch_size=100)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds == ["step"] * 5 + ["epoch"] + ["step"] * 5 + ["epoch", "end"]
    assert set(events[0]) == {"event", "step", "epoch", "loss"}
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, 11))
    assert set(events[5]) == {"event", "epoch", "train_loss", "val_loss", "val_accuracy"}
    end = events[-1]
    assert end["status"] == "completed" and end["val_accuracy"] == result.val_accuracy
    assert {"samples_per_s", "val_loss"} <= set(end)


def test_jsonl_logger_regression_and_divergence(tmp_path):
    path = tmp_path / "reg.jsonl"
    train(lambda: mlp(16, 4), linear_targets(), [JsonlLogger(path)], epochs=1, batch_size=250)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert "val_mae" in events[-2] and events[-2]["val_accuracy"] is None
    path = tmp_path / "nan.jsonl"
    train(NaNModel, blobs(), [JsonlLogger(path)], epochs=1)
    events = [json.loads(line) for line in path.read_text().splitlines()]  # valid JSON: no bare NaN
    assert events[0]["loss"] is None and events[-1]["status"] == "diverged"


# ---------------------------------------------------------------- jobs


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_job_manager_queues_the_second_job_and_runs_it_after():
    manager = JobManager(max_concurrent_per_device=1)
    ds = blobs()
    gate = threading.Event()

    class Hold(Callback):
        def on_step(self, step, epoch, loss, lr):
            if step == 3:
                gate.wait(10)

    first = manager.submit(lambda: mlp(), ds, TrainConfig(epochs=2, batch_size=32, device="cpu"), callbacks=[Hold()])
    second = manager.submit(lambda: mlp(), ds, TrainConfig(epochs=1, batch_size=32, device="cpu"))
    assert wait_for(lambda: manager.get(first).snapshot()["step"] >= 3)
    snap = manager.get(second).snapshot()
    assert snap["status"] == "queued"
    assert snap["message"] == "waiting for 1 run(s) on cpu to finish"
    early = manager.get(first).snapshot()
    assert early["status"] == "running" and early["total_steps"] == 2 * 16
    gate.set()
    assert wait_for(lambda: manager.get(second).snapshot()["status"] == "completed")
    done = manager.get(first).snapshot()
    assert done["status"] == "completed" and done["result"]["status"] == "completed"
    assert len(done["steps"]) == 32 > len(early["steps"]) >= 3
    assert [e["epoch"] for e in done["epochs"]] == [1, 2]
    assert done["steps"][0][0] == 1 and len(done["steps"][0]) == 3
    assert done["samples_per_s"] > 0
    assert manager.get(second).snapshot()["step"] == 16


def test_job_stop_and_cancel_while_queued():
    manager = JobManager(max_concurrent_per_device=1)
    ds = blobs()
    first = manager.submit(lambda: mlp(), ds, TrainConfig(epochs=10_000, batch_size=8, device="cpu"))
    second = manager.submit(lambda: mlp(), ds, TrainConfig(epochs=1, device="cpu"))
    assert wait_for(lambda: manager.get(first).snapshot()["step"] >= 5)
    manager.stop(second)
    assert manager.get(second).snapshot()["status"] == "stopped"
    manager.stop(first)
    assert wait_for(lambda: manager.get(first).snapshot()["status"] == "stopped", timeout=2)
    snap = manager.get(first).snapshot()
    assert snap["result"]["steps"] == len(snap["steps"]) >= 5
    assert manager.get(second).snapshot()["step"] == 0


def test_a_per_token_tagger_trains_in_the_app_s_trainer():
    """Sequence tagging: one label per position; loss, accuracy and the confusion matrix count tokens."""
    torch.set_num_threads(1)
    from designer.build import build_model
    from designer.data import load_dataset
    from designer.templates import load_template

    data = load_dataset("tags")
    design = load_template("bigru_tagger")
    result = Trainer(lambda: build_model(design), data, TrainConfig(epochs=1, batch_size=64, lr=3e-3, device="cpu")).run()
    assert result.status == "completed", result.message
    assert result.val_accuracy > 0.5  # chance is 1/8
    assert len(result.confusion) == 8 and sum(map(sum, result.confusion)) == data.y_val.numel()


def test_a_pooled_model_on_per_token_labels_is_told_to_keep_the_sequence():
    from designer.build import build_model
    from designer.data import load_dataset
    from designer.templates import load_template

    design = load_template("bigru_tagger")
    design["layers"][1]["return_sequences"] = False
    result = Trainer(lambda: build_model(design), load_dataset("tags"), TrainConfig(epochs=1, device="cpu")).run()
    assert result.status == "failed" and "keep the sequence" in result.message and "(N, 32, 8)" in result.message
