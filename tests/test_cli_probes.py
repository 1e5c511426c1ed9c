"""`python -m designer lr-find` and `overfit`: output, JSON and exit codes (in-process, small steps)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from designer.__main__ import main
from designer.templates import load_template


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture()
def cnn(tmp_path):
    path = tmp_path / "cnn.json"
    path.write_text(json.dumps(load_template("cnn_shapes")))
    return str(path)


def test_lr_find_prints_the_suggestion(cnn, capsys):
    assert main(["lr-find", cnn, "--dataset", "shapes", "--steps", "20", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("suggested lr: ") and "20 steps" in out


def test_lr_find_json_follows_the_contract(cnn, capsys):
    assert main(["lr-find", cnn, "--dataset", "shapes", "--steps", "20", "--batch-size", "16", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"suggested_lr", "lrs", "losses"}
    assert len(result["lrs"]) == len(result["losses"]) > 0
    # the suggestion is a tenth of the lr where the smoothed loss was lowest
    best = result["lrs"][result["losses"].index(min(result["losses"]))]
    assert result["suggested_lr"] == pytest.approx(best / 10)


def test_lr_find_on_user_data(tmp_path, capsys):
    design = load_template("mlp_signals")
    (tmp_path / "d.json").write_text(json.dumps(design))
    n, features = 64, design["input"]["shape"][0]
    rng = np.random.default_rng(0)
    out_features = design["layers"][-1]["out_features"]
    np.savez(tmp_path / "mine.npz", X=rng.normal(size=(n, features)).astype("float32"),
             y=rng.normal(size=(n, out_features)).astype("float32"))
    code = main(["lr-find", str(tmp_path / "d.json"), "--dataset", str(tmp_path / "mine.npz"), "--steps", "10", "--json"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["suggested_lr"] > 0


def test_lr_find_refuses_data_that_does_not_fit(cnn, capsys):
    assert main(["lr-find", cnn, "--dataset", "signals", "--steps", "10"]) == 1
    err = capsys.readouterr().err
    assert "input" in err and "fix" in err


def test_exit_2_for_bad_usage_and_unreadable_input(cnn, tmp_path, capsys):
    for argv in (["lr-find", cnn, "--dataset", "nosuch"],
                 ["lr-find", cnn, "--dataset", "shapes", "--steps", "3"],
                 ["lr-find", cnn, "--dataset", "shapes", "--start-lr", "1", "--end-lr", "0.1"],
                 ["lr-find", str(tmp_path / "missing.json"), "--dataset", "shapes"],
                 ["overfit", cnn, "--steps", "0"],
                 ["overfit", cnn, "--seed", "x"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)
    with pytest.raises(SystemExit) as exc:  # --dataset is required (argparse: exit 2)
        main(["lr-find", cnn])
    assert exc.value.code == 2


def test_a_design_with_errors_exits_1_and_prints_them(tmp_path, capsys):
    design = load_template("cnn_shapes")
    design["layers"].insert(0, {"type": "Linear", "in_features": 5, "out_features": 3})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(design))
    assert main(["lr-find", str(path), "--dataset", "shapes"]) == 1
    assert "layers[0]" in capsys.readouterr().err
    assert main(["overfit", str(path)]) == 1
    assert "layers[0]" in capsys.readouterr().err


def test_overfit_on_a_synthetic_batch_and_on_the_data(cnn, capsys):
    assert main(["overfit", cnn, "--steps", "150"]) == 0
    out = capsys.readouterr().out
    assert "→" in out and "wired right" in out
    assert main(["overfit", cnn, "--dataset", "shapes", "--steps", "150", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] and result["batch_size"] == 8 and result["steps"] <= 150


def test_overfit_that_fails_lists_the_causes_and_exits_1(tmp_path, capsys):
    design = load_template("cnn_shapes")
    design["layers"].append({"type": "Sigmoid"})
    path = tmp_path / "squashed.json"
    path.write_text(json.dumps(design))
    assert main(["overfit", str(path), "--steps", "30"]) == 1
    out = capsys.readouterr().out
    assert "not memorised" in out and "Sigmoid" in out and "logits" in out
