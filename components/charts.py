"""Plotly figures of training metrics, from plain data (a job snapshot or stored runs). No Streamlit."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from components.text import plot_text


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """TensorBoard-style exponential moving average, debiased at the start."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


MAX_LINE_POINTS = 600  # a chart is some 700 px wide: more points than that only cost the browser time
MARKERS_UP_TO = 60  # per-epoch lines show a marker at each epoch up to this many epochs


def thin(xs: list, ys: list, most: int = MAX_LINE_POINTS) -> tuple[list, list]:
    """At most about `most` points of a line, with its shape kept: the first and the last point, and in each of
    most/2 runs of neighbouring points its lowest and its highest (a noisy loss keeps its band). Missing values
    (None) are skipped. A line of `most` points or fewer comes back as it is."""
    n = len(xs)
    if n <= most:
        return list(xs), list(ys)
    buckets = max(1, most // 2)
    keep = {0, n - 1}
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        present = [i for i in range(lo, hi) if ys[i] is not None]
        if present:
            keep.add(min(present, key=ys.__getitem__))
            keep.add(max(present, key=ys.__getitem__))
    order = sorted(keep)
    return [xs[i] for i in order], [ys[i] for i in order]


def _xy(xs: list, ys: list) -> dict[str, list]:
    """A trace's x and y, thinned to what a chart can show."""
    x, y = thin(xs, ys)
    return {"x": x, "y": y}


def _epoch_mode(n: int) -> str:
    return "lines+markers" if n <= MARKERS_UP_TO else "lines"


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=300, margin=dict(l=40, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def loss_figure(steps: list[tuple[int, float, float]] | list[dict]) -> go.Figure:
    """Training loss per step: raw (faint) and smoothed."""
    xs, ys = _step_columns(steps, "loss")
    fig = go.Figure()
    fig.add_scatter(**_xy(xs, ys), mode="lines", name="loss", line=dict(width=1, color="rgba(37,99,235,0.35)"))
    fig.add_scatter(**_xy(xs, smooth(ys)), mode="lines", name="smoothed", line=dict(width=2, color="#2563eb"))
    return _layout(fig, "Training loss", "step", "loss")


def lr_figure(steps: list[tuple[int, float, float]] | list[dict]) -> go.Figure:
    xs, ys = _step_columns(steps, "lr")
    fig = go.Figure()
    fig.add_scatter(**_xy(xs, ys), mode="lines", name="learning rate", line=dict(color="#d97706"),
                    hovertemplate="step %{x}: %{y:.3~e}<extra>learning rate</extra>")
    # Learning rates read as 1e-3: plotly's own ticks would say "1m". A constant one (no schedule) would sit at
    # "0" of plotly's default -1..1 range: the axis starts at 0 and ends at twice the rate instead.
    fig.update_yaxes(tickformat="~e")
    values = [y for y in ys if y is not None]
    if values and min(values) == max(values) and values[0] > 0:
        fig.update_yaxes(range=[0, 2 * values[0]])
    return _layout(fig, "Learning rate", "step", "lr")


def integer_dtick(last: int, most: int = 8) -> int:
    """A round step (1, 2, 5, 10, 20, 50, ...) giving at most `most` whole-number ticks up to `last`."""
    step, scale = 1, 1
    while True:
        for m in (1, 2, 5):
            step = m * scale
            if last / step <= most:
                return step
        scale *= 10


def _epoch_axis(fig: go.Figure, xs: list[int]) -> None:
    """Whole-number epoch ticks (never 1.5), from the first epoch to the last."""
    last = max(xs) if xs else 1
    fig.update_xaxes(tickmode="linear", tick0=0 if last > 8 else 1, dtick=integer_dtick(last), tickformat="d",
                     range=[min(xs or [1]) - 0.25, last + 0.25])


ACCURACY_AXIS = dict(range=[0, 1.02], tickmode="linear", tick0=0, dtick=0.2, tickformat=".0%", title="accuracy")


def epoch_figure(epochs: list[dict[str, Any]]) -> go.Figure:
    """Validation (and training) loss per epoch, with accuracy (0-100 %) or MAE on a second axis."""
    xs = [e["epoch"] for e in epochs]
    mode = _epoch_mode(len(xs))

    def line(key: str) -> dict[str, list]:
        return _xy(xs, [e.get(key) for e in epochs])

    fig = go.Figure()
    fig.add_scatter(**line("train_loss"), mode=mode, name="train loss")
    fig.add_scatter(**line("val_loss"), mode=mode, name="val loss")
    if any(e.get("val_accuracy") is not None for e in epochs):
        fig.add_scatter(**line("val_accuracy"), mode=mode, name="val accuracy",
                        yaxis="y2", hovertemplate="epoch %{x}: %{y:.1%}<extra>val accuracy</extra>")
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False, **ACCURACY_AXIS))
    elif any(e.get("val_mae") is not None for e in epochs):
        fig.add_scatter(**line("val_mae"), mode=mode, name="val MAE", yaxis="y2")
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False, title="MAE", rangemode="tozero"))
    _epoch_axis(fig, xs)
    return _layout(fig, "Per epoch", "epoch", "loss")


def confusion_figure(matrix: list[list[int]], classes: list[str] | None) -> go.Figure:
    labels = [plot_text(c) for c in classes] if classes else [str(i) for i in range(len(matrix))]
    fig = go.Figure(go.Heatmap(z=matrix, x=labels, y=labels, colorscale="Blues", text=matrix, texttemplate="%{text}"))
    fig.update_layout(yaxis=dict(autorange="reversed"))
    return _layout(fig, "Confusion matrix (validation)", "predicted", "true")


def overlay_figure(runs: list[tuple[str, list[dict]]], metric: str = "loss") -> go.Figure:
    """Several stored runs' step curves (smoothed) on one chart; names from run_report.legend_names."""
    fig = go.Figure()
    for name, steps in runs:
        xs, ys = _step_columns(steps, metric)
        fig.add_scatter(**_xy(xs, smooth(ys)), mode="lines", name=plot_text(name))  # user text: no HTML
    fig.update_layout(showlegend=True)  # even one run, or one with no steps yet, is named
    return _layout(fig, f"Training {metric} (smoothed)", "step", metric)


EPOCH_METRICS = {"val_loss": "validation loss", "val_accuracy": "validation accuracy", "val_mae": "validation MAE",
                 "train_loss": "training loss"}


def overlay_epochs_figure(runs: list[tuple[str, list[dict]]], metric: str = "val_accuracy") -> go.Figure:
    """Several stored runs' per-epoch metric on one chart (accuracy on a 0-100 % axis)."""
    fig = go.Figure()
    xs_all: list[int] = []
    for name, epochs in runs:
        xs = [e["epoch"] for e in epochs]
        xs_all += xs
        fig.add_scatter(**_xy(xs, [e.get(metric) for e in epochs]), mode=_epoch_mode(len(xs)), name=plot_text(name))
    fig.update_layout(showlegend=True)
    if metric == "val_accuracy":
        fig.update_yaxes(**ACCURACY_AXIS)
    _epoch_axis(fig, xs_all)
    label = EPOCH_METRICS.get(metric, metric)
    return _layout(fig, f"{label[0].upper()}{label[1:]} per epoch", "epoch", label.split()[-1])


def _step_columns(steps, key: str) -> tuple[list, list]:
    if not steps:
        return [], []
    if isinstance(steps[0], dict):
        return [s["step"] for s in steps], [s[key] for s in steps]
    index = {"loss": 1, "lr": 2}[key]
    return [s[0] for s in steps], [s[index] for s in steps]


def progress_text(snapshot: dict[str, Any]) -> tuple[float, str]:
    """(fraction done, "epoch 2/5 · step 140/350 · 1,234 samples/s · 12 s left") of a job snapshot."""
    total = snapshot.get("total_steps") or 0
    step = snapshot.get("step") or 0
    frac = min(1.0, step / total) if total else 0.0
    parts = []
    info = snapshot.get("info") or {}
    epochs = info.get("epochs")
    if snapshot.get("epoch"):
        parts.append(f"epoch {snapshot['epoch']}" + (f"/{epochs}" if epochs else ""))
    parts.append(f"step {step}" + (f"/{total}" if total else ""))
    if snapshot.get("samples_per_s"):
        parts.append(f"{snapshot['samples_per_s']:,.0f} samples/s")
    if snapshot.get("eta_s") is not None and snapshot.get("status") == "running":
        parts.append(f"{snapshot['eta_s']:.0f} s left")
    return frac, " · ".join(parts)
