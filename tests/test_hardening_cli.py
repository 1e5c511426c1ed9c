"""The command line against inputs without a real size and bad output paths, as real processes (issues 15, 16).

Each case is one `python -m designer` process (about 3 s of imports); the cases that need no process of their
own run through the same entry point in this process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from designer.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
LENET = ROOT / "assets/templates/lenet5.json"


def process(*args: str, cwd: Path = ROOT, timeout: float = 90) -> subprocess.CompletedProcess:
    """The real command, in a new process, from `cwd` (a hang fails by the timeout, never blocks the run)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "designer", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def in_process(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def one_line_refusal(out: subprocess.CompletedProcess | tuple[int, str], *words: str) -> None:
    code, err = (out.returncode, out.stderr) if isinstance(out, subprocess.CompletedProcess) else out
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err


def test_a_device_and_a_named_pipe_as_the_design_file_are_refused_at_once(tmp_path):
    one_line_refusal(process("export", "/dev/zero", "--out", str(tmp_path / "x")), "/dev/zero", "not a regular file")
    assert not (tmp_path / "x").exists()
    fifo = tmp_path / "design.json"
    os.mkfifo(fifo)
    one_line_refusal(process("summary", str(fifo), timeout=60), "not a regular file")  # no writer: a read would hang


def test_a_file_over_the_limit_is_read_no_further_than_the_limit(tmp_path, monkeypatch):
    from designer import design as D

    calls = []
    real = os.fdopen

    def spy(fd, *a, **k):
        f = real(fd, *a, **k)
        read = f.read
        f.read = lambda n=-1: calls.append(n) or read(n)
        return f

    monkeypatch.setattr(os, "fdopen", spy)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (D.MAX_FILE_BYTES + 10))
    with pytest.raises(D.DesignFileError, match="at most 5,000,000"):
        D.load_design(big)
    assert calls == [D.MAX_FILE_BYTES + 1]


def test_export_out_empty_or_a_file_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "README.md").write_text("mine")
    one_line_refusal(process("export", str(LENET), "--out", "", cwd=tmp_path), "--out is empty")
    assert (tmp_path / "README.md").read_text() == "mine" and not (tmp_path / "model.py").exists()
    target = tmp_path / "taken"
    target.write_text("a file")
    one_line_refusal(process("export", str(LENET), "--out", str(target)), "is a file, not a folder")
    assert target.read_text() == "a file"
    # a folder that cannot be made (its parent is a file): one line too, same entry point
    one_line_refusal(in_process("export", str(LENET), "--out", str(target / "sub")), "cannot create the folder")
    code, _ = in_process("export", str(LENET), "--out", str(tmp_path / "new" / "deep"))
    assert code == 0 and (tmp_path / "new" / "deep" / "model.py").is_file()


def test_graph_out_refuses_devices_and_folders_and_overwrites_a_named_file(tmp_path):
    one_line_refusal(process("graph", str(LENET), "--out", "/dev/null"), "/dev/null", "not a regular file")
    one_line_refusal(in_process("graph", str(LENET), "--out", str(tmp_path)), "is a folder")
    one_line_refusal(in_process("graph", str(LENET), "--out", ""), "--out is empty")
    one_line_refusal(in_process("graph", str(LENET), "--out", str(tmp_path / "missing" / "g.dot")), "does not exist")
    link = tmp_path / "to_device"
    link.symlink_to("/dev/null")
    one_line_refusal(in_process("graph", str(LENET), "--out", str(link)), "not a regular file")
    named = tmp_path / "g.dot"
    named.write_text("old")
    code, err = in_process("graph", str(LENET), "--out", str(named))
    assert code == 0, err
    assert named.read_text().startswith("digraph")


def test_train_seed_and_log_errors_are_one_line_with_exit_2(tmp_path):
    one_line_refusal(process("train", str(LENET), "--dataset", "shapes", "--seed", "1e20"), "--seed")
    one_line_refusal(in_process("train", str(LENET), "--dataset", "shapes", "--seed", str(10**20)), "--seed")
    one_line_refusal(in_process("train", str(LENET), "--dataset", "shapes", "--seed", "-1"), "--seed")
    one_line_refusal(process("train", str(LENET), "--dataset", "shapes", "--log", str(tmp_path / "no" / "run.jsonl")),
                     "--log", "does not exist")
    one_line_refusal(in_process("train", str(LENET), "--dataset", "shapes", "--log", str(tmp_path)), "--log", "folder")
    one_line_refusal(in_process("train", str(LENET), "--dataset", "shapes", "--log", "/dev/null"), "--log")
    (tmp_path / "file").write_text("x")
    one_line_refusal(in_process("train", str(LENET), "--dataset", "shapes", "--out", str(tmp_path / "file")), "--out")


def test_train_refuses_a_model_too_big_for_memory_before_building_it(tmp_path):
    """A 2 GB model at batch 65,536: refused from the estimate; the process never holds the weights."""
    import torch

    from designer.analysis import analyze
    from designer.build import build_model
    from designer.training import available_memory, estimate_memory

    features = 22_000  # Linear 22,000 × 22,000: 484 M parameters, 1.9 GB as float32
    design = {"format": "netwright.design", "version": 1, "name": "big", "input": {"shape": [features], "dtype": "float32"},
              "task": {"kind": "classification", "num_classes": 2},
              "layers": [{"type": "Linear", "out_features": features}, {"type": "ReLU"}, {"type": "Tanh"},
                         {"type": "Sigmoid"}, {"type": "Linear", "out_features": 2}]}
    assert analyze(design).params * 4 > 1.9e9
    with torch.device("meta"):
        need = estimate_memory(build_model(design), (features,), "float32", 65536, "adam")["total"]
    free = available_memory(torch.device("cpu"))
    if free is None or need <= free:
        pytest.skip("this machine has the memory to run it")
    path = tmp_path / "big.json"
    path.write_text(json.dumps(design))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "wide.npz", X=rng.random((10, features), dtype=np.float32), y=np.arange(10) % 2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    # A fresh wrapper process whose only child is the run: its RUSAGE_CHILDREN peak is the run's
    # alone (this test process has had other children).
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(r.returncode)")
    proc = subprocess.Popen([sys.executable, "-c", wrapper, sys.executable, "-m", "designer", "train", str(path), "--dataset",
                             str(tmp_path / "wide.npz"), "--batch-size", "65536", "--device", "cpu", "--epochs", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=120)
    peak_kib = int(stderr.rsplit("PEAK_KIB", 1)[1].split()[0])
    stderr = stderr.rsplit("PEAK_KIB", 1)[0]
    assert proc.returncode == 1, stderr
    assert "failed" in stderr and "memory" in stderr and "Traceback" not in stderr
    assert peak_kib * 1024 < 1.0e9, f"peak {peak_kib / 2**20:.1f} GiB: the weights were allocated"


def test_a_run_whose_loss_ends_far_above_its_start_exits_as_diverged(tmp_path):
    design = {"format": "netwright.design", "version": 1, "name": "mlp", "input": {"shape": [32, 4]},
              "task": {"kind": "classification", "num_classes": 4},
              "layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 64}, {"type": "ReLU"},
                         {"type": "Linear", "out_features": 4}]}
    path, log = tmp_path / "mlp.json", tmp_path / "run.jsonl"
    path.write_text(json.dumps(design))
    out = process("train", str(path), "--dataset", "sequences", "--epochs", "2", "--batch-size", "128", "--lr", "1e6",
                  "--device", "cpu", "--log", str(log))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    end = json.loads(log.read_text().splitlines()[-1])
    assert end["event"] == "end" and end["status"] == "diverged" and "where it started" in end["message"]
