"""The run report: a run's headline against the dataset's own baseline, runs told apart by what differs,
numbers formatted for reading, and a run bundle that holds each file once."""

from __future__ import annotations

import io
import json
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest

from designer import run_report as R
from designer.runs import RunStore


def test_numbers_read_short_and_none_reads_as_a_dash():
    assert [R.fmt_lr(x) for x in (1e-3, 3e-4, 2.5e-5, 0.01, 0.1, 1.0, None, float("nan"))] == \
        ["1e-3", "3e-4", "2.5e-5", "0.01", "0.1", "1", "—", "—"]
    assert R.fmt_pct(0.92345) == "92.3%" and R.fmt_pct(None) == "—" and R.fmt_pct(1.0) == "100.0%"
    assert [R.fmt_sig(x) for x in (0.123456, 2.302585, 1234.56, 123456.0, None)] == \
        ["0.1235", "2.303", "1235", "1.235e5", "—"]
    assert R.fmt_duration(12.34) == "12.3 s" and R.fmt_duration(125) == "2 min 05 s" and R.fmt_duration(None) == "—"
    assert R.fmt_int(1234.4) == "1,234" and R.fmt_value(None) == "—" and R.fmt_value("adam") == "adam"


def test_chance_comes_from_the_real_class_balance_not_one_over_k():
    # 10 classes, but 70% of the labels are class 3: chance is 70%, not 10%.
    y_train = np.array([3] * 70 + list(range(10)) * 3)
    y_val = np.array([3] * 6 + [0, 1, 2, 4])
    base = R.baseline_of({"kind": "classification", "num_classes": 10}, y_train, y_val,
                         [f"c{i}" for i in range(10)])
    assert base.kind == "classification" and base.value == pytest.approx(0.6)
    assert "c3" in base.what
    low = R.headline({"status": "completed", "val_accuracy": 0.61}, base)
    assert not low["learned"] and "No better than chance" in low["detail"]
    assert low["title"] == "Validation accuracy 61.0%, against 60.0% by chance"
    high = R.headline({"status": "completed", "val_accuracy": 0.9}, base)
    assert high["learned"] and "30.0% more right" in high["detail"] and "1.5× chance" in high["detail"]


def test_regression_is_compared_with_predicting_the_mean():
    rng = np.random.default_rng(0)
    y_train = rng.normal(5.0, 2.0, size=(200, 3)).astype(np.float32)
    y_val = rng.normal(5.0, 2.0, size=(50, 3)).astype(np.float32)
    base = R.baseline_of({"kind": "regression"}, y_train, y_val)
    expected = float(np.abs(y_val - y_train.mean(axis=0)).mean())
    assert base.value == pytest.approx(expected, rel=1e-6)
    good = R.headline({"status": "stopped", "val_mae": expected / 4}, base)
    assert good["learned"] and good["metric"] == "MAE" and "(run stopped)" in good["title"]
    assert "75% lower" in good["detail"]
    bad = R.headline({"status": "completed", "val_mae": expected}, base)
    assert not bad["learned"] and "No better than always predicting the mean" in bad["detail"]


def test_headline_of_a_dataset_object_and_when_there_is_nothing_to_say():
    import torch

    ds = SimpleNamespace(task={"kind": "classification", "num_classes": 2}, classes=["cat", "dog"],
                         y_train=torch.tensor([0, 1, 1, 1]), y_val=torch.tensor([1, 0]))
    base = R.baseline_of_dataset(ds)
    assert base.value == pytest.approx(0.5) and "dog" in base.what
    assert R.headline({"status": "failed", "val_accuracy": None}, base) is None
    assert R.headline(None, base) is None and R.headline({"val_accuracy": 0.5}, None) is None
    assert R.baseline_of({"kind": "classification"}, [], [1]) is None


def test_wrong_predictions_name_the_true_and_the_predicted_class():
    wrong = R.wrong_predictions([0, 2, 1, 1], [0, 1, 1, 0], ["T-shirt/top", "Trouser", "Ankle boot"])
    assert wrong == [{"index": 1, "true": "Trouser", "predicted": "Ankle boot"},
                     {"index": 3, "true": "T-shirt/top", "predicted": "Trouser"}]
    assert len(R.wrong_predictions([1] * 20, [0] * 20, None, limit=5)) == 5


def _run(id_, **config):
    base = {"lr": 1e-3, "optimizer": "adam", "epochs": 5, "batch_size": 64, "schedule": "constant",
            "weight_decay": 0.0, "seed": 0}
    return {"id": id_, "name": "Small CNN", "dataset": "shapes", "created_at": 1.7e9 + id_, "status": "completed",
            "steps": 470, "val_loss": 0.3456789, "val_accuracy": 0.91234, "val_mae": None, "samples_per_s": 5432.1,
            "duration_s": 61.0, "config": {**base, **config}}


def test_legends_name_only_the_settings_that_differ():
    runs = [_run(1, lr=0.01, optimizer="adam"), _run(2, lr=1e-3, optimizer="sgd")]
    assert [s.key for s in R.differing_settings(runs)] == ["lr", "optimizer"]
    assert R.legend_names(runs) == ["lr=0.01, adam", "lr=1e-3, sgd"]
    # Nothing differs: the run ids tell them apart.
    assert R.legend_names([_run(3), _run(4)]) == ["#3 Small CNN", "#4 Small CNN"]
    # The same settings twice among others: the id is added where the label repeats.
    names = R.legend_names([_run(5, epochs=3), _run(6, epochs=3), _run(7, epochs=9)])
    assert names == ["#5 epochs=3", "#6 epochs=3", "epochs=9"]
    other = {**_run(8), "dataset": "shapes-rgb"}
    assert R.legend_names([_run(9), other]) == ["shapes", "shapes-rgb"]


def test_run_rows_have_the_setting_columns_and_formatted_numbers():
    rows = R.run_rows([_run(1, lr=3e-4), {"id": 2, "name": "x", "dataset": "signals", "status": "failed",
                                          "config": {}, "val_mae": 0.123456}])
    assert list(rows[0])[:8] == ["id", "date", "name", "dataset", "lr", "optimizer", "epochs", "batch"]
    assert rows[0]["lr"] == "3e-4" and rows[0]["val acc"] == "91.2%" and rows[0]["val loss"] == "0.3457"
    assert rows[0]["samples/s"] == "5,432" and rows[0]["duration"] == "1 min 01 s" and rows[0]["epochs"] == "5"
    assert rows[1]["lr"] == "—" and rows[1]["val acc"] == "—" and rows[1]["val MAE"] == "0.1235"
    assert "None" not in json.dumps(rows) and "nan" not in json.dumps(rows)
    only_classifiers = R.run_rows([_run(3)])
    assert "val MAE" not in only_classifiers[0]  # a column no run has is left out


DESIGN = {"format": "netwright.design", "version": 1, "name": "Tiny", "input": {"shape": [4], "dtype": "float32"},
          "task": {"kind": "classification", "num_classes": 2}, "layers": [{"type": "Linear", "out_features": 2}]}


def test_store_lists_each_run_with_its_config(tmp_path):
    store = RunStore(tmp_path / "nw.db")
    store.create(DESIGN, {"lr": 0.01, "optimizer": "sgd"}, "blobs", "cpu")
    [row] = store.list()
    assert row["config"] == {"lr": 0.01, "optimizer": "sgd"}
    assert R.run_rows(store.list())[0]["lr"] == "0.01"


def test_a_run_bundle_holds_each_file_once(tmp_path):
    store = RunStore(tmp_path / "nw.db")
    run_id = store.create(DESIGN, {"lr": 0.01}, "blobs", "cpu")
    store.finish(run_id, {"status": "completed", "val_accuracy": 0.5})
    exported = json.dumps(DESIGN, indent=2) + "\n"
    data = store.bundle(run_id, {"model.py": "m", "train.py": "t", "design.json": exported, "README.md": "r",
                                 "config.json": "not the run's config"})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names)), names
        assert {"design.json", "config.json", "result.json", "metrics.csv", "epochs.csv", "model.py", "train.py",
                "README.md"} <= set(names)
        assert zf.read("design.json").decode() == exported  # the export's, once
        assert json.loads(zf.read("config.json")) == {"lr": 0.01}  # a code file never replaces a run file
