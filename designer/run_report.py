"""What a run reached, told so that it teaches: the final number against a trivial baseline computed
from the dataset itself, runs told apart by the settings that differ, and numbers formatted for reading.

Plain Python + numpy: the Train and Runs pages draw what these functions return.

- `baseline_of` / `headline`: accuracy against always answering the most common class (the real class
  balance of the data, never 1/K assumed), MAE against always predicting the mean of the training targets.
- `run_rows` / `differing_settings` / `legend_names`: the Runs table and overlay legends.
- `fmt_*`: lr in short scientific form, accuracy as %, losses to 4 significant digits, "—" for nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

NONE = "—"

# ----------------------------------------------------------------------------------------------
# Numbers for reading


def _finite(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt_sig(x: Any, digits: int = 4) -> str:
    """A loss or MAE to `digits` significant digits: 0.1235, 2.303, 1235; "—" for None/NaN."""
    v = _finite(x)
    if v is None:
        return NONE
    text = f"{v:.{digits}g}"
    if "e" in text:  # 1.235e+04 -> 1.235e4
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text


def fmt_lr(x: Any) -> str:
    """A learning rate, short: 1e-3, 3e-4, 2.5e-5, 0.01, 0.1, 1."""
    v = _finite(x)
    if v is None:
        return NONE
    if v != 0 and abs(v) < 0.01:
        mantissa, exp = f"{v:.2e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exp)}"
    return f"{v:.3g}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage: 0.9234 -> "92.3%"."""
    v = _finite(x)
    return NONE if v is None else f"{100 * v:.{digits}f}%"


def fmt_int(x: Any) -> str:
    v = _finite(x)
    return NONE if v is None else f"{round(v):,}"


def fmt_duration(seconds: Any) -> str:
    """12.3 s, 4 min 05 s, 2 h 03 min."""
    v = _finite(seconds)
    if v is None:
        return NONE
    if v < 60:
        return f"{v:.1f} s"
    m, s = divmod(round(v), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def fmt_date(ts: Any) -> str:
    """A Unix time as local "YYYY-MM-DD HH:MM"."""
    v = _finite(ts)
    return NONE if v is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(v))


def fmt_value(x: Any) -> str:
    """Any setting: "—" for None, numbers short, text as is."""
    if x is None:
        return NONE
    if isinstance(x, bool):
        return "on" if x else "off"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return fmt_sig(x)
    return str(x)


# ----------------------------------------------------------------------------------------------
# The headline: the final number against a trivial baseline


@dataclass(frozen=True)
class Baseline:
    """What a model that learned nothing scores on the validation set.

    kind "classification": `value` is the accuracy of always answering `answer` (the most common class
    of the training labels). kind "regression": `value` is the MAE of always predicting the mean of the
    training targets.
    """

    kind: str
    value: float
    what: str  # how the baseline answers, in words


def _array(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, without importing torch
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def baseline_of(task: dict | None, y_train: Any, y_val: Any, classes: Sequence[str] | None = None) -> Baseline | None:
    """The dataset's own baseline (None when it has no training or validation targets)."""
    kind = (task or {}).get("kind")
    yt, yv = _array(y_train), _array(y_val)
    if len(yt) == 0 or len(yv) == 0:
        return None
    if kind == "classification":
        labels = yt.astype(np.int64).ravel()
        if labels.min() < 0:
            return None
        majority = int(np.bincount(labels).argmax())
        share = float(np.mean(yv.astype(np.int64).ravel() == majority))
        name = classes[majority] if classes and majority < len(classes) else str(majority)
        return Baseline("classification", share, f"always answering the most common class, “{name}”")
    if kind == "regression":
        mean = yt.astype(np.float64).mean(axis=0)
        mae = float(np.abs(yv.astype(np.float64) - mean).mean())
        return Baseline("regression", mae, "always predicting the mean of the training targets")
    return None


def baseline_of_dataset(dataset: Any) -> Baseline | None:
    """`baseline_of` for a designer Dataset (anything with task, y_train, y_val, classes)."""
    return baseline_of(getattr(dataset, "task", None), dataset.y_train, dataset.y_val, getattr(dataset, "classes", None))


# A result this close to the baseline has learned nothing worth the name.
MIN_ACCURACY_GAIN = 0.02  # absolute
MIN_MAE_GAIN = 0.05  # relative


def headline(result: dict | None, baseline: Baseline | None) -> dict[str, Any] | None:
    """The end of a run in one line: {"metric", "value", "baseline", "learned": bool, "title", "detail"}.

    None when the result has no validation number the baseline can be compared with.
    """
    if not result or baseline is None:
        return None
    status = result.get("status")
    where = "" if status in (None, "completed") else f" (run {status})"
    if baseline.kind == "classification":
        acc = _finite(result.get("val_accuracy"))
        if acc is None:
            return None
        gain = acc - baseline.value
        learned = gain >= MIN_ACCURACY_GAIN
        title = f"Validation accuracy {fmt_pct(acc)}{where}, against {fmt_pct(baseline.value)} by chance"
        if learned:
            times = f", {acc / baseline.value:.1f}× chance" if baseline.value > 0 else ""
            detail = (f"Chance here is {baseline.what} ({fmt_pct(baseline.value)} of the validation set). "
                      f"The model gets {fmt_pct(gain)} more right{times}.")
        else:
            detail = (f"No better than chance ({baseline.what}). Train longer, try another learning rate, "
                      "or check that the design and the data fit.")
        return {"metric": "accuracy", "value": acc, "baseline": baseline.value, "learned": learned,
                "title": title, "detail": detail}
    mae = _finite(result.get("val_mae"))
    if mae is None:
        return None
    learned = baseline.value > 0 and mae <= (1 - MIN_MAE_GAIN) * baseline.value
    title = (f"Validation MAE {fmt_sig(mae)}{where}, against {fmt_sig(baseline.value)} by predicting the mean")
    if learned:
        detail = (f"The baseline is {baseline.what}. The model's error is "
                  f"{fmt_pct(1 - mae / baseline.value, 0)} lower.")
    else:
        detail = (f"No better than {baseline.what}. Train longer, try another learning rate, "
                  "or check that the design and the data fit.")
    return {"metric": "MAE", "value": mae, "baseline": baseline.value, "learned": learned,
            "title": title, "detail": detail}


# ----------------------------------------------------------------------------------------------
# Wrong predictions


def wrong_predictions(predicted: Sequence[int], truth: Sequence[int], classes: Sequence[str] | None,
                      limit: int = 8) -> list[dict[str, Any]]:
    """The first `limit` validation samples predicted wrong: {"index", "true", "predicted"} with class names."""
    def name(i: int) -> str:
        return classes[i] if classes and 0 <= i < len(classes) else str(i)

    out = []
    for i, (p, t) in enumerate(zip(predicted, truth, strict=False)):
        if int(p) != int(t):
            out.append({"index": i, "true": name(int(t)), "predicted": name(int(p))})
            if len(out) >= limit:
                break
    return out


def predict_classes(model: Any, x: Any, batch_size: int = 256) -> list[int]:
    """The class a classifier answers for each sample of `x` (a tensor), on the CPU without gradients."""
    import torch  # only here: the rest of this module is numpy

    model = model.eval()
    out: list[int] = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            out += model(x[start:start + batch_size]).argmax(dim=1).tolist()
    return out


# ----------------------------------------------------------------------------------------------
# Runs told apart


@dataclass(frozen=True)
class Setting:
    """A column of the Runs table that tells runs apart, and how it reads in a legend."""

    key: str  # the column name
    get: Callable[[dict], Any]
    show: Callable[[Any], str]
    legend: str | None  # "lr" -> "lr=0.01"; None -> the value alone ("adam")


def _config(run: dict) -> dict:
    return run.get("config") or {}


SETTINGS: tuple[Setting, ...] = (
    Setting("name", lambda r: r.get("name"), fmt_value, None),
    Setting("dataset", lambda r: r.get("dataset"), fmt_value, None),
    Setting("lr", lambda r: _config(r).get("lr"), fmt_lr, "lr"),
    Setting("optimizer", lambda r: _config(r).get("optimizer"), fmt_value, None),
    Setting("epochs", lambda r: _config(r).get("epochs"), fmt_value, "epochs"),
    Setting("batch", lambda r: _config(r).get("batch_size"), fmt_value, "batch"),
    Setting("schedule", lambda r: _config(r).get("schedule"), fmt_value, None),
    Setting("weight decay", lambda r: _config(r).get("weight_decay"), fmt_lr, "wd"),
    Setting("seed", lambda r: _config(r).get("seed"), fmt_value, "seed"),
)


def differing_settings(runs: Iterable[dict]) -> list[Setting]:
    """The settings whose shown values differ among `runs` (none for a single run)."""
    runs = list(runs)
    if len(runs) < 2:
        return []
    return [s for s in SETTINGS if len({s.show(s.get(r)) for r in runs}) > 1]


def legend_names(runs: Sequence[dict]) -> list[str]:
    """One legend entry per run naming only what differs ("lr=0.01, adam"); "#id" is added where that
    alone would not tell two runs apart (nothing differs, or the same settings twice)."""
    differ = differing_settings(runs)
    labels = [", ".join(f"{s.legend}={s.show(s.get(r))}" if s.legend else s.show(s.get(r)) for s in differ)
              for r in runs]
    out = []
    for run, label in zip(runs, labels, strict=True):
        if not label or labels.count(label) > 1:
            label = f"#{run.get('id')}" + (f" {label}" if label else f" {run.get('name') or ''}".rstrip())
        out.append(label)
    return out


def run_rows(runs: Iterable[dict]) -> list[dict[str, Any]]:
    """The Runs table: one row of shown text per run (store.list() rows, with their config).

    Accuracy as %, losses and MAE to 4 significant digits, lr short, "—" where there is nothing.
    """
    rows = []
    for r in runs:
        row: dict[str, Any] = {"id": r.get("id"), "date": fmt_date(r.get("created_at"))}
        row.update({s.key: s.show(s.get(r)) for s in SETTINGS if s.key not in ("schedule", "weight decay", "seed")})
        row.update({
            "status": r.get("status") or NONE,
            "steps": fmt_int(r.get("steps")),
            "val loss": fmt_sig(r.get("val_loss")),
            "val acc": fmt_pct(r.get("val_accuracy")),
            "val MAE": fmt_sig(r.get("val_mae")),
            "samples/s": fmt_int(r.get("samples_per_s")),
            "duration": fmt_duration(r.get("duration_s")),
        })
        rows.append(row)
    for metric in ("val acc", "val MAE"):  # a column no run has (MAE among classifiers) says nothing
        if rows and all(row[metric] == NONE for row in rows):
            for row in rows:
                del row[metric]
    return rows
