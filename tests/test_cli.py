"""`python -m designer`: the contract's subcommands, output formats and exit codes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from designer.__main__ import main
from designer.analysis import analyze
from designer.design import load_design

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "assets" / "templates").glob("*.json"))


def run_process(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real command in a new process (exit codes and streams as a shell sees them)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "designer", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def cli(*args: str) -> subprocess.CompletedProcess:
    """The same entry point in this process (fast: torch is imported once)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's --help and usage errors
            code = exc.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_real_process_exit_codes(tmp_path):
    assert run_process("summary", "--help").returncode == 0
    assert run_process("summary", str(ROOT / "assets/templates/lenet5.json"), "--json").returncode == 0
    (tmp_path / "junk.json").write_text("[1, 2")
    out = run_process("summary", str(tmp_path / "junk.json"))
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.startswith("error: ")


def test_every_subcommand_has_help():
    for sub in ("summary", "layers", "export", "graph", "train", "datasets"):
        out = cli(sub, "--help")
        assert out.returncode == 0 and "usage:" in out.stdout, sub


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_summary_json_is_the_contract_object_and_matches_analysis(path):
    out = cli("summary", str(path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"valid", "params", "trainable_params", "output_shape", "flops", "layers", "errors", "warnings"}
    analysis = analyze(load_design(path))
    assert data["valid"] is True and data["errors"] == []
    assert data["params"] == analysis.params == data["trainable_params"]
    assert data["output_shape"] == list(analysis.output_shape)
    assert data["flops"] == analysis.flops > 0
    for row in data["layers"]:
        assert set(row) == {"path", "type", "output_shape", "params"}
    top = [r for r in data["layers"] if "." not in r["path"]]
    assert sum(r["params"] for r in top) == data["params"]


def test_summary_table_and_exit_codes(tmp_path):
    out = cli("summary", str(ROOT / "assets/templates/lenet5.json"))
    assert out.returncode == 0
    assert "Total params: 61,706" in out.stdout and "Layer (path)" in out.stdout

    bad = load_design(ROOT / "assets/templates/lenet5.json")
    bad["layers"] = [n for n in bad["layers"] if n["type"] != "Flatten"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    out = cli("summary", str(path), "--json")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["valid"] is False
    assert data["errors"][0]["fix"].startswith("insert Flatten before layers[")

    (tmp_path / "junk.json").write_text("{ nope")
    out = cli("summary", str(tmp_path / "junk.json"), "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr and "not valid JSON" in out.stderr

    out = cli("summary", str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "cannot read" in out.stderr


def test_layers_json_lists_the_minimum_set():
    out = cli("layers", "--json")
    assert out.returncode == 0
    rows = {r["type"]: r for r in json.loads(out.stdout)}
    minimum = ("Linear Conv1d Conv2d ConvTranspose2d MaxPool1d MaxPool2d AvgPool1d AvgPool2d AdaptiveAvgPool1d "
               "AdaptiveAvgPool2d BatchNorm1d BatchNorm2d LayerNorm GroupNorm Dropout Dropout2d ReLU LeakyReLU GELU "
               "SiLU Tanh Sigmoid Softmax Identity Flatten Unflatten Upsample Embedding RNN LSTM GRU "
               "MultiheadAttention TransformerEncoderLayer Permute Reshape SequencePool PositionalEncoding "
               "Sequential Residual Parallel Repeat").split()
    assert set(minimum) <= set(rows)
    conv = {p["name"]: p for p in rows["Conv2d"]["params"]}
    assert conv["kernel_size"]["kind"] == "size" and conv["stride"]["default"] == 1
    assert rows["Conv2d"]["family"] == "convolution" and rows["Conv2d"]["inferred"] == ["in_channels"]
    assert {p["name"] for p in rows["LSTM"]["params"]} >= {"num_layers", "bidirectional", "dropout", "return_sequences"}


def test_export_writes_the_three_files(tmp_path):
    out = cli("export", str(ROOT / "assets/templates/lstm_classifier.json"), "--out", str(tmp_path / "x"))
    assert out.returncode == 0, out.stderr
    for name in ("model.py", "train.py", "design.json"):
        assert (tmp_path / "x" / name).is_file()
    assert load_design(tmp_path / "x" / "design.json") == load_design(ROOT / "assets/templates/lstm_classifier.json")


def test_graph_dot_and_svg(tmp_path):
    out = cli("graph", str(ROOT / "assets/templates/inception.json"))
    assert out.returncode == 0 and out.stdout.startswith("digraph")
    out = cli("graph", str(ROOT / "assets/templates/inception.json"), "--format", "svg", "--out", str(tmp_path / "g.svg"))
    assert out.returncode == 0, out.stderr
    assert b"<svg" in (tmp_path / "g.svg").read_bytes()


def test_datasets_json():
    out = cli("datasets", "--json")
    assert out.returncode == 0
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["shapes"]["input"] == {"shape": [1, 28, 28], "dtype": "float32"}
    assert rows["shapes"]["task"] == {"kind": "classification", "num_classes": 10}
    assert rows["tokens"]["input"]["dtype"] == "int64"
    assert all({"name", "input", "task", "size"} <= set(r) for r in rows.values())


def test_train_writes_the_jsonl_log(tmp_path):
    log = tmp_path / "run.jsonl"
    out = cli("train", str(ROOT / "assets/templates/mlp_signals.json"), "--dataset", "signals", "--epochs", "2",
              "--batch-size", "128", "--device", "cpu", "--log", str(log), "--out", str(tmp_path / "ckpt"))
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "end" and kinds.count("epoch") == 2 and "step" in kinds
    step = next(e for e in events if e["event"] == "step")
    assert {"step", "epoch", "loss"} <= set(step)
    epoch = next(e for e in events if e["event"] == "epoch")
    assert {"epoch", "train_loss", "val_loss"} <= set(epoch)
    end = events[-1]
    assert end["status"] == "completed" and end["samples_per_s"] > 0 and "val_loss" in end
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs[-1]["val_loss"] < epochs[0]["train_loss"]
    assert (tmp_path / "ckpt" / "last.safetensors").is_file()


def test_train_refuses_data_that_does_not_fit():
    out = cli("train", str(ROOT / "assets/templates/lenet5.json"), "--dataset", "tokens", "--epochs", "1")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "fix:" in out.stderr
