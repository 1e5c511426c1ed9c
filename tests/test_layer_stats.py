"""Per-layer statistics (designer.layer_stats) on networks small enough to check by hand."""

from __future__ import annotations

import math

import pytest
import torch

from designer import build_model, new_design
from designer.layer_stats import design_stats, layer_modules, layer_warnings


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def one_step(model, design, x, loss_fn, lr=0.1, every=1, step=1):
    stats = design_stats(model, design, every=every)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    stats.step(step)
    opt.zero_grad()
    loss_fn(model(x)).backward()
    opt.step()
    return stats, stats.done(step)


def test_a_linear_with_known_weights():
    d = new_design(shape=[2], layers=[{"type": "Linear", "out_features": 2}])
    model = build_model(d)
    lin = dict(layer_modules(d, model)[0:1][0][2].named_parameters())
    with torch.no_grad():
        lin["weight"].copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        lin["bias"].zero_()
    x = torch.tensor([[1.0, 1.0], [2.0, 0.0]])  # outputs [[3, 7], [2, 6]]
    _, event = one_step(model, d, x, lambda y: y.sum(), lr=0.1)
    (row,) = event["layers"]
    assert event["event"] == "stats" and event["step"] == 1 and row["path"] == "layers[0]"
    assert row["act_mean"] == pytest.approx(4.5)
    assert row["act_std"] == pytest.approx(math.sqrt(4.25))
    # d(sum)/dW[i, j] = sum over the batch of x[:, j] = [3, 1] for both rows; d/db = 2 per unit
    assert row["grad_norm"] == pytest.approx(math.sqrt(9 + 1 + 9 + 1 + 4 + 4))
    # SGD moves the weights by lr × grad; |w| before the step is sqrt(1 + 4 + 9 + 16)
    assert row["update_ratio"] == pytest.approx(0.1 * math.sqrt(28) / math.sqrt(30))
    assert row["dead_fraction"] is None  # not an activation


def test_a_relu_with_known_dead_units():
    d = new_design(shape=[4], layers=[{"type": "Linear", "out_features": 4}, {"type": "ReLU"}])
    model = build_model(d)
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(4))
        model[0].bias.zero_()
    x = torch.tensor([[-1.0, 2.0, -3.0, 0.0], [1.0, -1.0, -1.0, -1.0]])  # 6 of 8 outputs are 0
    _, event = one_step(model, d, x, lambda y: y.sum())
    relu = event["layers"][1]
    assert relu["path"] == "layers[1]"
    assert relu["dead_fraction"] == pytest.approx(6 / 8)
    assert relu["act_mean"] == pytest.approx(3 / 8)
    assert relu["grad_norm"] is None and relu["update_ratio"] is None  # no parameters
    assert layer_warnings(event["layers"]) == []  # 75 % dead is not yet "dead"
    _, event = one_step(model, d, -x.abs() - 1, lambda y: y.sum())  # every unit dead
    warnings = layer_warnings(event["layers"])
    dead = [w for w in warnings if "dead" in w["message"]]
    assert [w["path"] for w in dead] == ["layers[1]"] and "LeakyReLU" in dead[0]["fix"]
    # and the Linear before it gets no gradient at all through the dead units
    assert [w["path"] for w in warnings if "vanishing" in w["message"]] == ["layers[0]"]


def test_a_gradient_that_vanishes_through_a_sigmoid_stack():
    torch.manual_seed(0)
    d = new_design(shape=[4], layers=[
        {"type": "Repeat", "times": 14, "body": [{"type": "Linear", "out_features": 4}, {"type": "Sigmoid"}]},
        {"type": "Linear", "out_features": 1}])
    model = build_model(d)
    x = torch.randn(8, 4)
    first = layer_modules(d, model)[0][2]
    # The reference: autograd's own gradient of the first Linear, computed apart from the collector.
    loss = model(x).pow(2).mean()
    ref = torch.linalg.vector_norm(torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(first.parameters()))]))
    _, event = one_step(model, d, x, lambda y: y.pow(2).mean(), lr=0.0)
    rows = {r["path"]: r for r in event["layers"]}
    assert list(rows)[:2] == ["layers[0].body[0] copy 1", "layers[0].body[1] copy 1"]
    assert rows["layers[0].body[0] copy 1"]["grad_norm"] == pytest.approx(float(ref), rel=1e-5)
    # a sigmoid's slope is at most 1/4: 14 of them shrink the first layer's gradient by 4^14 or more
    assert rows["layers[0].body[0] copy 1"]["grad_norm"] < rows["layers[1]"]["grad_norm"] / 4 ** 10
    vanishing = [w["path"] for w in layer_warnings(event["layers"]) if "vanishing" in w["message"]]
    assert "layers[0].body[0]" in vanishing and "layers[1]" not in vanishing


def test_only_sampled_steps_carry_hooks_and_events():
    d = new_design(shape=[3], layers=[{"type": "Linear", "out_features": 2}, {"type": "Tanh"}])
    model = build_model(d)
    stats = design_stats(model, d, every=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    events = []
    for step in range(1, 8):
        stats.step(step)
        hooked = any(m._forward_hooks for m in model.modules())
        assert hooked == (step % 3 == 0)
        opt.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        event = stats.done(step)
        if event:
            events.append(event["step"])
        assert not any(m._forward_hooks for m in model.modules())
    assert events == [3, 6]
    with pytest.raises(ValueError, match="whole number"):
        design_stats(model, d, every=0)


# --- on the design ------------------------------------------------------------------------------------

EVENTS = [
    {"event": "stats", "step": 10, "layers": [
        {"path": "layers[0]", "grad_norm": 1e-3, "weight_norm": 1.0, "act_mean": 0.5, "dead_fraction": None},
        {"path": "layers[1]", "grad_norm": None, "act_mean": 0.2, "dead_fraction": 0.95},
        {"path": "layers[2].body[0] copy 1", "grad_norm": 1e-1, "weight_norm": 1.0},
        {"path": "layers[2].body[0] copy 2", "grad_norm": 3e-1, "weight_norm": 1.0}]},
    {"event": "stats", "step": 20, "layers": [
        {"path": "layers[0]", "grad_norm": 2e-3, "weight_norm": 1.0, "act_mean": 0.4},
        {"path": "layers[1]", "grad_norm": None, "act_mean": 0.3, "dead_fraction": 0.5}]},
]


def test_overlay_averages_copies_and_picks_the_step():
    from designer.layer_stats import overlay, series

    shown = overlay(EVENTS, "grad_norm", step=15)
    assert shown["step"] == 10 and shown["steps"] == [10, 20] and shown["log"]
    assert shown["values"] == {"layers[0]": 1e-3, "layers[2].body[0]": pytest.approx(0.2)}
    assert (shown["lo"], shown["hi"]) == (1e-3, pytest.approx(0.2))
    assert overlay(EVENTS, "grad_norm")["step"] == 20  # the last by default
    assert overlay([], "grad_norm") is None
    assert series(EVENTS, "layers[1]", "dead_fraction") == [(10, 0.95), (20, 0.5)]
    with pytest.raises(ValueError, match="unknown statistic"):
        overlay(EVENTS, "loss")


def test_the_cards_get_the_colour_the_value_and_the_warning():
    from components.stats_panel import STOPS, overlay_rows, stat_colour

    rows = {p: {"errors": [], "params": 1} for p in ("layers[0]", "layers[1]", "layers[2]", "layers[2].body[0]")}
    out, legend = overlay_rows(rows, EVENTS, "grad_norm", 10)
    assert rows["layers[0]"] == {"errors": [], "params": 1}  # the given rows are left as they were
    assert out["layers[0]"]["stat"]["colour"] == STOPS[0] and out["layers[2].body[0]"]["stat"]["colour"] == STOPS[-1]
    assert out["layers[0]"]["stat"]["text"] == "1.0e-03" and "stat" not in out["layers[1]"]
    assert legend["label"] == "gradient norm" and legend["step"] == 10 and (legend["lo"], legend["hi"]) == ("1.0e-03", "0.2")
    dead = out["layers[1]"]["errors"]
    assert len(dead) == 1 and dead[0]["warning"] and "95%" in dead[0]["message"] and "LeakyReLU" in dead[0]["fix"]
    assert out["layers[1]"]["errors"] == overlay_rows(rows, EVENTS, "act_mean", 10)[0]["layers[1]"]["errors"]
    # halfway on a log scale is the middle colour
    assert stat_colour(1e-2, 1e-4, 1.0, log=True) == STOPS[2]


def test_the_run_store_keeps_the_stats_events(tmp_path):
    from designer.runs import RunStore

    store = RunStore(tmp_path / "db.sqlite")
    run = store.create({"name": "x", "layers": []}, {}, "shapes", "cpu")
    for event in EVENTS:
        store.log_stats(run, event)
    back = store.stats(run)
    assert [e["step"] for e in back] == [10, 20]
    assert back[0]["layers"][1]["dead_fraction"] == 0.95 and back[0]["layers"][2]["path"] == "layers[2].body[0] copy 1"
    assert [(r['id'], r['last_step']) for r in store.runs_with_stats()] == [(run, 20)]
    store.set_status(run, "completed")
    assert store.delete(run) and store.stats(run) == []


# --- while training: the trainer, the log, the command line, the app's worker ---------------------------


def test_the_trainer_logs_stats_events_with_design_paths(tmp_path):
    import json

    from designer.datasets import load_dataset
    from designer.layer_stats import layer_table
    from designer.templates import load_template
    from designer.training import JsonlLogger, TrainConfig, Trainer

    design = load_template("cnn_shapes")
    data = load_dataset("shapes", seed=0)
    log = tmp_path / "run.jsonl"
    config = TrainConfig(epochs=1, max_steps=12, stats_every=5, seed=0)
    result = Trainer(lambda: build_model(design), data, config, [JsonlLogger(log)],
                     layer_table=layer_table(design)).run()
    assert result.status == "completed"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    stats = [e for e in events if e["event"] == "stats"]
    assert [e["step"] for e in stats] == [5, 10]
    rows = {r["path"]: r for r in stats[0]["layers"]}
    assert set(rows) == {p for p, _, _ in layer_table(design)}
    conv = rows["layers[0]"]
    assert conv["grad_norm"] > 0 and conv["update_ratio"] > 0 and conv["dead_fraction"] is None
    relu = next(r for p, r in rows.items() if design["layers"][int(p[7:-1])]["type"] == "ReLU")
    assert 0 <= relu["dead_fraction"] <= 1 and relu["grad_norm"] is None
    # the steps in between carry no hooks: the last event is step 10 of 12
    assert events[-1]["event"] == "end"


def test_the_command_line_takes_stats_every(tmp_path):
    import json

    from designer.__main__ import main

    log = tmp_path / "run.jsonl"
    code = main(["train", "assets/templates/mlp_signals.json", "--dataset", "signals", "--epochs", "1",
                 "--max-steps", "4", "--stats-every", "2", "--log", str(log)])
    assert code == 0
    stats = [json.loads(line) for line in log.read_text().splitlines() if '"stats"' in line]
    assert [e["step"] for e in stats] == [2, 4] and stats[0]["layers"][0]["path"] == "layers[0]"


def test_an_app_run_keeps_its_stats_in_the_run_store(tmp_path):
    import time

    from designer.datasets import load_dataset
    from designer.runs import RunStore
    from designer.templates import load_template
    from designer.train.jobs import JobManager
    from designer.train.worker import DesignModel
    from designer.training import TrainConfig

    design = load_template("mlp_signals")
    store = RunStore(tmp_path / "db.sqlite")
    manager = JobManager(worker="process")
    job_id = manager.submit(DesignModel(design), load_dataset("signals", seed=0),
                            TrainConfig(epochs=1, max_steps=6, stats_every=3, seed=0), store=store, design=design)
    job = manager.get(job_id)
    deadline = time.monotonic() + 120
    while job.status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.status == "completed", job.snapshot().get("message")
    run_id = job.snapshot()["run_id"]
    events = store.stats(run_id)
    assert [e["step"] for e in events] == [3, 6]
    assert {r["path"] for r in events[0]["layers"]} >= {"layers[0]"}
    assert [(r['id'], r['last_step']) for r in store.runs_with_stats()] == [(run_id, 6)]


def test_the_exported_train_py_writes_the_same_stats_events(tmp_path):
    """train.py carries the collector's own source and the design's layer table: the same rows by path."""
    import json
    import subprocess
    import sys

    from designer.codegen import export_files
    from designer.layer_stats import layer_table
    from designer.templates import load_template

    design = load_template("mlp_signals")
    for name, text in export_files(design).items():
        (tmp_path / name).write_text(text)
    done = subprocess.run([sys.executable, "train.py", "--epochs", "1", "--max-steps", "4", "--stats-every", "2",
                           "--out", "out"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    stats = [e for e in events if e["event"] == "stats"]
    assert [e["step"] for e in stats] == [2, 4]
    assert [r["path"] for r in stats[0]["layers"]] == [p for p, _, _ in layer_table(design)]
    assert all(r["grad_norm"] > 0 for r in stats[0]["layers"] if r["path"] == "layers[0]")


def test_a_model_without_a_design_is_reported_by_its_module_names(tmp_path):
    import json

    from torch import nn

    from designer.datasets import load_dataset
    from designer.training import JsonlLogger, TrainConfig, Trainer

    data = load_dataset("signals", seed=0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 8))
    log = tmp_path / "run.jsonl"
    Trainer(model, data, TrainConfig(epochs=1, max_steps=2, stats_every=2), [JsonlLogger(log)]).run()
    (event,) = [json.loads(line) for line in log.read_text().splitlines() if '"stats"' in line]
    rows = {r["path"]: r for r in event["layers"]}
    assert list(rows) == ["0", "1", "2"]
    assert rows["1"]["dead_fraction"] is not None and rows["0"]["dead_fraction"] is None  # ReLU: an activation
