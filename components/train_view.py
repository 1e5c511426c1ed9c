"""The Train and Runs views: pick data and settings, start/stop a background run, watch it live,
and browse the run history.

Each run trains in a worker process of its own (designer.train.jobs.WorkerJob): this server process
only reads the run's events. The page polls the job's snapshot from a fragment that reruns every
second.
"""

from __future__ import annotations

import copy
import os
import time
from typing import Any

import streamlit as st

from components import charts, data_view, probe_view, run_results
from components import state as S
from components.layout import lazy_expander
from components.text import md_text

_SOURCE = "train_source"
CHART_REFRESH_S = 2.0  # the live curves are redrawn at most this often (the progress line every second)
_UPLOAD = "train_upload_dataset"


@st.cache_resource
def job_manager():
    """One JobManager per server process: every session's runs, each in a worker process, at most
    NETWRIGHT_RUNS_PER_DEVICE (2) at once per device; further runs wait in a queue and say so."""
    from designer.train.jobs import JobManager

    return JobManager(max_concurrent_per_device=int(os.environ.get("NETWRIGHT_RUNS_PER_DEVICE", "2")),
                      worker="process")


def run_store():
    """The RunStore of this server process for the database NETWRIGHT_DB names."""
    return _run_store(os.environ.get("NETWRIGHT_DB"))


@st.cache_resource
def _run_store(path: str | None):
    from designer.runs import RunStore

    return RunStore(path)


@st.cache_data(max_entries=8, show_spinner="Generating the dataset…")
def builtin_dataset(name: str, seed: int):
    from designer.datasets import load_dataset

    return load_dataset(name, seed=seed)


@st.cache_data(show_spinner=False)
def dataset_rows() -> list[dict]:
    from designer.datasets import list_datasets

    return list_datasets()


def compatibility(design: dict, dataset) -> list:
    """Problems between the design and the data: Issue objects with their fix and one-click action ([] when
    they fit)."""
    from designer.data import check_design_against_data

    analysis = S.analysis_of(design)
    inp = design.get("input") or {}
    return check_design_against_data(tuple(inp.get("shape", ())), inp.get("dtype", "float32"), design.get("task"),
                                     analysis.output_shape, dataset, design)


def start_run(design: dict, dataset, config) -> str:
    """Queue a run of the design on the dataset (a worker process); returns the job id. Plain: no Streamlit."""
    from designer.train.worker import DesignModel

    frozen = copy.deepcopy(design)
    return job_manager().submit(DesignModel(frozen), dataset, config, store=run_store(), design=frozen)


# --- Processes (torchrun): more than one launches the exported train.py under torchrun -------------


def start_torchrun_run(design: dict, dataset, config, processes: int) -> str:
    """Launch the exported train.py under torchrun with `processes` processes; returns the job id. Plain."""
    from designer.launch import launch_torchrun

    return launch_torchrun(design, dataset, config, int(processes), store=run_store(), manager=job_manager())


def _processes_input() -> int:
    """1: the in-app trainer; more: that many torchrun processes (DistributedDataParallel)."""
    n = st.number_input("Processes (torchrun)", 1, 64, 1, key="tr_procs",
                        help="1 trains in a worker process of the app. More runs the exported train.py under "
                             "torchrun with that many processes (DistributedDataParallel: one per GPU on CUDA; CPU "
                             "processes work too), with the same options. Batch size is per process.")
    st.caption("Processes: 1 trains in the app's own worker; more launch the exported train.py under torchrun "
               "(data-parallel), with these same options.")
    return int(n)


def fitting_dataset(rows: list[dict], design: dict) -> str | None:
    """The first dataset that takes the design's input, one whose labels are per token when the design
    outputs one row of scores per position (a tagger). Plain: no Streamlit."""
    inp = design.get("input") or {}
    out = S.analysis_of(design).output_shape
    tagging = out is not None and len(out) == 2 and inp.get("dtype") == "int64"
    fits = [r for r in rows if list(r["input"]["shape"]) == list(inp.get("shape", []))
            and r["input"]["dtype"] == inp.get("dtype", "float32")]
    best = [r for r in fits if bool(r["task"].get("per_token")) == tagging]
    return (best or fits or [{"name": None}])[0]["name"]


def _choose_dataset(design: dict):
    rows = [r for r in dataset_rows() if r.get("available", True)]
    names = [r["name"] for r in rows]
    options = names + ["upload my data"]
    inp = design.get("input") or {}
    fitting = fitting_dataset(rows, design) or names[0]
    # Keyed by the design's input, so a design with another input gets the dataset that fits it proposed afresh.
    signature = f"{'x'.join(map(str, inp.get('shape', [])))}:{inp.get('dtype', 'float32')}"
    choice = st.selectbox("Dataset", options, index=options.index(fitting), key=f"{_SOURCE}:{signature}",
                          format_func=lambda n: n if n == "upload my data" else
                          f"{n} · {'×'.join(map(str, next(r for r in rows if r['name'] == n)['input']['shape']))}")
    if choice != "upload my data":
        row = next(r for r in rows if r["name"] == choice)
        st.caption(row.get("description", ""))
        return builtin_dataset(choice, 0)
    return _upload_dataset()


def _upload_dataset():
    from designer.data import DataError, dataset_from_upload

    upload = st.file_uploader("NPZ (X, y), CSV (features + label column) or a zip of image folders",
                              type=["npz", "csv", "zip"], key="train_upload")
    if upload is None:
        return st.session_state.get(_UPLOAD)
    try:
        shape = (st.session_state[S.DESIGN].get("input") or {}).get("shape", [3, 32, 32])
        channels = shape[0] if len(shape) == 3 and shape[0] in (1, 3) else 3
        size = shape[-1] if len(shape) == 3 else 32
        bar = st.progress(0.0, text="Reading…") if upload.name.lower().endswith(".zip") else None

        def progress(done: int, total: int) -> None:
            # Each update is a Streamlit call, where a Stop or any click ends this run: decoding is cancellable.
            if bar is not None and done % 16 == 0:
                bar.progress(done / max(total, 1), text=f"Reading images: {done:,} of {total:,}")

        dataset = dataset_from_upload(upload.getvalue(), upload.name, image_size=size, channels=channels,
                                      progress=progress)
        if bar is not None:
            bar.empty()
    except DataError as exc:
        st.error(md_text(f"{upload.name}: {exc}"))
        return None
    st.session_state[_UPLOAD] = dataset
    st.caption(md_text(f"{dataset.name}: {dataset.size:,} samples, input {'×'.join(map(str, dataset.input_shape))} "
                       f"{dataset.dtype}, {dataset.task['kind']}"))
    return dataset


def _option_input(container, option) -> Any:
    """One widget for one declared training option (designer.train.config.OPTIONS): its label, bounds,
    default and help come from the declaration; a nullable number shows 0 for none."""
    label, key, kind = option.extra["label"], f"tr_{option.name}", option.kind
    if kind == "bool":
        return container.toggle(label, value=option.default, key=key, help=option.help)
    if kind == "choice":
        return container.selectbox(label, list(option.choices), index=list(option.choices).index(option.default),
                                   key=key, help=option.help)
    low = option.min if option.min is not None else None
    if kind == "int":
        default = 0 if option.default is None else int(option.default)
        lo = 0 if option.nullable else (int(low) if low is not None else None)
        hi = int(option.max) if option.max is not None else None
        return container.number_input(label + (" (0 = none)" if option.nullable else ""), lo, hi, default, step=1,
                                      key=key, help=option.help)
    default = 0.0 if option.default is None else float(option.default)
    lo = 0.0 if option.nullable else low
    return container.number_input(label + (" (0 = off)" if option.nullable else ""), lo,
                                  float(option.max) if option.max is not None else None, default, format="%g",
                                  key=key, help=option.help)


def _config_form(dataset) -> tuple[Any, int]:
    """The training options, every one from its declaration; the rarer ones and the torchrun processes under
    "More". Returns (TrainConfig or None when a value is refused, processes)."""
    from designer.train.config import ConfigError, config_from_form, form_options, resolve_device

    values: dict[str, Any] = {}
    main = form_options(more=False)
    for lo in range(0, len(main), 4):
        cols = st.columns(4)
        for col, option in zip(cols, main[lo:lo + 4]):
            values[option.name] = _option_input(col, option)
    with st.expander("More"):
        extra = form_options(more=True)
        for lo in range(0, len(extra), 4):
            cols = st.columns(4)
            for col, option in zip(cols, extra[lo:lo + 4]):
                values[option.name] = _option_input(col, option)
        processes = _processes_input()
    device = values.get("device", "auto")
    try:
        resolved = resolve_device(device)
        st.caption(f"Runs on **{resolved}**" + (" (auto)" if device == "auto" else ""))
    except ValueError as exc:
        st.error(md_text(exc))
        return None, processes
    try:
        return config_from_form(values), processes
    except ConfigError as exc:
        st.error(md_text(exc))
        return None, processes


def _memory_check(design: dict, dataset, config) -> bool:
    """Estimate memory before starting; refuse with the numbers when it will not fit."""
    import torch

    from designer.build import build_model
    from designer.training import InsufficientMemory, check_memory, estimate_memory, format_bytes, resolve_device

    try:
        with torch.device("meta"):
            model = build_model(design)
        estimate = estimate_memory(model, dataset.input_shape, dataset.dtype, config.batch_size, config.optimizer,
                                   device=resolve_device(config.device))
        check_memory(estimate)
    except InsufficientMemory as exc:
        st.error(md_text(exc))
        return False
    st.caption(f"Estimated memory: {format_bytes(estimate['total'])}"
               + (f" of {format_bytes(estimate['available'])} available" if estimate.get("available") else ""))
    return True


def _attach_from_url() -> None:
    """A refresh re-attaches to the session's running job (its id is in the URL)."""
    state = st.session_state
    if not state.get(S.JOB_ID):
        job_id = st.query_params.get("run")
        if job_id and job_manager().get(job_id) is not None:
            state[S.JOB_ID] = job_id


def render_train(design: dict) -> None:
    state = st.session_state
    _attach_from_url()
    analysis = S.analysis_of(design)
    left, right = st.columns([2, 3], gap="medium")
    with left:
        dataset = _choose_dataset(design)
        data_view.render_real_datasets()
        config, processes = _config_form(dataset) if dataset is not None else (None, 1)
        problems = compatibility(design, dataset) if dataset is not None else []
        for i, p in enumerate(problems):
            st.warning(f"**{md_text(p.path)}**: {md_text(p.message)}" + (f"\n\nFix: {md_text(p.fix)}" if p.fix else ""))
            if p.action is not None:
                st.button(f"Fix: {p.fix}", key=f"train_fix_{i}", on_click=S.do_action, args=(state, p.action))
        job = job_manager().get(state.get(S.JOB_ID) or "")
        active = job is not None and job.status in ("queued", "running")
        ready = analysis.valid and dataset is not None and config is not None and not problems
        if not analysis.valid:
            st.info("Fix the design's errors to train it.")
        c1, c2 = st.columns(2)
        if c1.button("▶ Start", type="primary", disabled=not ready or active, key="train_start", width="stretch"):
            if _memory_check(design, dataset, config):
                try:
                    job_id = (start_torchrun_run(design, dataset, config, processes) if processes > 1
                              else start_run(design, dataset, config))
                except ValueError as exc:  # torchrun cannot run on that device (MPS)
                    st.error(md_text(exc))
                else:
                    state[S.JOB_ID] = job_id
                    st.query_params["run"] = state[S.JOB_ID]
                    st.rerun()
        if c2.button("■ Stop", disabled=not active, key="train_stop", width="stretch"):
            job_manager().stop(state[S.JOB_ID])
        probe_view.render_probes(design, dataset, config, analysis.valid and dataset is not None and not problems)
    with right:
        probe_view.render_probe_results(design, dataset)
        # Poll every second only while a run is queued or running: an idle session costs nothing.
        st.fragment(live_panel, run_every=1.0 if active else None)()


def live_panel() -> None:
    """The run's progress and charts, redrawn from the job's snapshot (cheap: copies of small lists)."""
    job_id = st.session_state.get(S.JOB_ID)
    job = job_manager().get(job_id) if job_id else None
    if job is None:
        st.caption("Start a run to see its loss curves here. Past runs are in the Runs tab.")
        return
    snap = job.snapshot()
    frac, text = charts.progress_text(snap)
    text = status_line(snap, text)
    status = snap["status"]
    previous = st.session_state.get("_live_status")
    st.session_state["_live_status"] = status
    if previous in ("queued", "running") and status not in ("queued", "running"):
        st.rerun(scope="app")  # the run ended: redraw Start/Stop outside this fragment
    st.progress(frac, text=text)
    if snap.get("message"):
        (st.error if status in ("failed", "diverged") else st.caption)(md_text(snap["message"]))
    run_results.render_headline(snap, job.dataset)
    steps, epochs = charted_points(st.session_state, job_id, snap, time.monotonic())
    if steps:
        st.plotly_chart(charts.loss_figure(steps), key="live_loss", width="stretch")
    if epochs:
        st.plotly_chart(charts.epoch_figure(epochs), key="live_epochs", width="stretch")
    if steps:  # drawn only while open: a chart redrawn while the run goes costs the browser
        lazy_expander("Learning rate", "nw_open_live_lr", _lr_chart, steps)
    result = snap.get("result") or {}
    if result.get("confusion"):
        classes = getattr(job.dataset, "classes", None)
        st.plotly_chart(charts.confusion_figure(result["confusion"], classes), key="live_confusion", width="stretch")
        run_results.render_wrong_predictions(job, result)
    if status not in ("queued", "running") and snap.get("run_id") is not None:
        st.caption(f"Saved as run #{snap['run_id']} in the Runs tab.")


def charted_points(memory: dict, job_id: str, snap: dict, now: float,
                   every_s: float = CHART_REFRESH_S) -> tuple[list, list]:
    """The steps and epochs the live charts show: the snapshot's, taken at most every `every_s` seconds while
    the run is queued or running (in between, the same points again: an unchanged chart is not redrawn by
    the browser, and redrawing two charts every second cost a live tab about a quarter of a core); the
    first points and the end are taken at once. `memory` keeps the last taken (the session state).
    Plain: no Streamlit calls."""
    last = memory.get("_live_points")
    if (last is not None and last[0] == job_id and snap["status"] in ("queued", "running")
            and now - last[1] < every_s and (last[2] or not snap["steps"])):
        return last[2], last[3]
    memory["_live_points"] = (job_id, now, snap["steps"], snap["epochs"])
    return snap["steps"], snap["epochs"]


def _lr_chart(steps: list) -> None:
    st.plotly_chart(charts.lr_figure(steps), key="live_lr", width="stretch")


def status_line(snap: dict, progress: str) -> str:
    """The progress bar's words: the start-up phase while no step has run yet (never "running · step 0"),
    else the status and the progress. Plain: no Streamlit."""
    status = snap["status"]
    if status == "running" and not snap.get("step") and snap.get("phase"):
        return f"starting · {snap['phase']}"
    if status == "queued":
        return f"queued · {snap.get('message') or 'waiting for a free slot'}"
    return f"{status} · {progress}"
