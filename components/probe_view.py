"""The Train page's two quick checks: "Find a learning rate" (LR range test) and "Overfit one batch".

Each runs in a worker process (designer.train.probe_job.ProbeJob); a fragment polls it while it
runs and redraws the whole page when it ends. The LR test's curve has a "Use this lr" button that
sets the form's learning rate (widget key `tr_lr`) from a click callback, before the form is drawn
again. Page code only draws: the figure and the words come from plain functions below.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from components.text import md_text, plot_text

_JOB = "probe_job"  # the running ProbeJob of this session
_RESULTS = "probe_results"  # kind -> {"snap", "key"}: the last finished probe of each kind
LR_KEY = "tr_lr"  # the form's learning-rate widget (components.train_view._option_input)
TITLES = {"lr_find": "Finding a learning rate", "overfit": "Overfitting one batch"}


def design_key(design: dict, dataset: Any) -> str:
    """What a probe's result belongs to: the design and the dataset's name (a change hides the result)."""
    text = json.dumps(design, sort_keys=True, default=str) + "|" + str(getattr(dataset, "name", None))
    return hashlib.sha1(text.encode()).hexdigest()


def rounded_lr(lr: float) -> float:
    """The suggestion as the form takes it: two significant digits."""
    return float(f"{lr:.2g}")


def lr_find_figure(result: dict) -> go.Figure:
    """Smoothed loss against lr (log x axis), with a marker at the suggested lr."""
    lrs, losses, suggested = result["lrs"], result["losses"], result["suggested_lr"]
    at = min(range(len(lrs)), key=lambda i: abs(lrs[i] - suggested) / suggested)
    fig = go.Figure(go.Scatter(x=lrs, y=losses, mode="lines", name="loss (smoothed)"))
    fig.add_trace(go.Scatter(x=[lrs[at]], y=[losses[at]], mode="markers+text", name="suggested lr",
                             marker=dict(size=11, color="#d62728", symbol="diamond"),
                             text=[plot_text(f"{rounded_lr(suggested):g}")], textposition="middle right"))
    fig.add_vline(x=suggested, line_dash="dot", line_color="#d62728")
    fig.update_xaxes(type="log", title="learning rate", exponentformat="power")
    fig.update_yaxes(title="training loss")
    fig.update_layout(title="LR range test", height=300, margin=dict(l=40, r=10, t=40, b=40),
                      legend=dict(orientation="h", y=-0.3))
    return fig


def lr_find_words(result: dict) -> str:
    """The suggestion in words."""
    suggested = result["suggested_lr"]
    return (f"Suggested learning rate: **{rounded_lr(suggested):g}**, a tenth of {suggested * 10:.2g}, where the "
            f"smoothed loss was lowest over {len(result['lrs'])} steps from {result['lrs'][0]:.0e} to "
            f"{result['lrs'][-1]:.2g}.")


def start_probe(kind: str, design: dict, dataset: Any, config: Any) -> Any:
    """Start a probe in a worker process; returns the job. Plain: no Streamlit."""
    from designer.train.probe_job import ProbeJob, probe_options

    return ProbeJob(kind, copy.deepcopy(design), dataset, probe_options(kind, config)).start()


def _use_lr(value: float) -> None:
    st.session_state[LR_KEY] = value


def _harvest(key: str) -> Any:
    """The running job, after moving a finished one's snapshot into the results."""
    state = st.session_state
    job = state.get(_JOB)
    if job is not None and job.status != "running":
        state.setdefault(_RESULTS, {})[job.kind] = {"snap": job.snapshot(), "key": getattr(job, "nw_key", key)}
        state[_JOB] = job = None
    return job


def _progress() -> None:
    job = st.session_state.get(_JOB)
    if job is None or job.status != "running":
        st.rerun(scope="app")  # ended: draw the result (and enable the buttons) outside this fragment
    snap = job.snapshot()
    c1, c2 = st.columns([3, 1])
    c1.caption(f"{TITLES[job.kind]} in a worker process… {snap['elapsed_s']:.0f} s")
    if c2.button("Stop", key="probe_stop", width="stretch"):
        job.stop()


def render_probes(design: dict, dataset: Any, config: Any, ready: bool) -> None:
    """The two buttons (under the form) and the running probe's progress with its Stop."""
    state = st.session_state
    key = design_key(design, dataset)
    job = _harvest(key)
    running = job is not None
    help_off = None if ready else "Needs a valid design and a dataset that fits it."
    c1, c2 = st.columns(2)
    for col, kind, label in ((c1, "lr_find", "Find a learning rate"), (c2, "overfit", "Overfit one batch")):
        if col.button(label, key=f"probe_{kind}", disabled=not ready or running, width="stretch", help=help_off):
            job = start_probe(kind, design, dataset, config)
            job.nw_key = key
            state[_JOB] = job
            st.rerun()
    if running:
        st.fragment(_progress, run_every=0.5)()


def render_probe_results(design: dict, dataset: Any) -> None:
    """The last result of each probe made for this design and dataset (an edit hides them)."""
    key = design_key(design, dataset)
    _harvest(key)
    results = st.session_state.get(_RESULTS) or {}
    for kind in ("lr_find", "overfit"):
        entry = results.get(kind)
        if entry is None or entry["key"] != key:
            continue  # made for another design or dataset
        snap = entry["snap"]
        if snap["status"] == "failed":
            st.error(md_text(f"{TITLES[kind]} failed: {snap['message']}"))
        elif snap["status"] == "stopped":
            st.caption(f"{TITLES[kind]}: stopped.")
        elif kind == "lr_find":
            _draw_lr(snap["result"])
        else:
            _draw_overfit(snap["result"])


def _draw_lr(result: dict) -> None:
    st.plotly_chart(lr_find_figure(result), key="probe_lr_chart", width="stretch")
    st.markdown(lr_find_words(result))
    value = rounded_lr(result["suggested_lr"])
    current = st.session_state.get(LR_KEY)
    c1, c2 = st.columns([1, 2], vertical_alignment="center")
    c1.button(f"Use this lr ({value:g})", key="probe_use_lr", on_click=_use_lr, args=(value,),
              disabled=current == value, help="Sets the form's learning rate")
    if current == value:
        c2.caption(f"The form's learning rate is {value:g}.")


def _draw_overfit(result: dict) -> None:
    from designer.cli_probes import overfit_verdict

    passed, headline, causes = overfit_verdict(result)
    if passed:
        st.success(md_text(headline))
    else:
        st.warning(md_text(headline) + "\n\n" + "\n".join(f"- {md_text(c)}" for c in causes))
