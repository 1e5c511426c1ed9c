"""Training statistics on the design: pick a run, a statistic and a step; the cards and the drawing are
coloured by it (with a legend), layers whose statistics look wrong get a warning on their card, and
the inspector shows the selected layer's statistics over time.

The logic is in plain functions (overlay_rows, stat_colour, stat_text); render_stats_controls and
render_layer_stats only draw."""

from __future__ import annotations

import functools
import math

import streamlit as st

from components import state as S

# The widgets' own keys: the editor, drawn before these widgets in a run, reads the choice from them.
RUN, METRIC, STEP = "stats_run", "stats_metric", "stats_step"
# Yellow -> orange -> red: low values light, high values dark (a sequential scale, one direction).
STOPS = ("#ffffcc", "#fed976", "#fd8d3c", "#e31a1c", "#800026")
LIVE_REFRESH_S = 5  # while the chosen run goes on, new statistics are looked for this often


def _scaled(value: float, lo: float, hi: float, log: bool) -> float:
    if log:
        value, lo, hi = (math.log10(max(v, 1e-30)) for v in (value, lo, hi))
    return 0.5 if hi <= lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))


def stat_colour(value: float, lo: float, hi: float, log: bool = False) -> str:
    """The scale's colour of a value between lo and hi (log10 of them where `log`)."""
    t = _scaled(value, lo, hi, log) * (len(STOPS) - 1)
    i = min(int(t), len(STOPS) - 2)
    f = t - i
    a, b = (tuple(int(c[k:k + 2], 16) for k in (1, 3, 5)) for c in (STOPS[i], STOPS[i + 1]))
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b))


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))


def _mix_white(colour: str, share: float) -> str:
    """`share` of the colour, the rest white (a tint that dark text stays readable on)."""
    return "#" + "".join(f"{round(c * share + 255 * (1 - share)):02x}" for c in _rgb(colour))


def _ink(colour: str) -> str:
    """Black or white text, whichever reads on the colour (by its relative luminance)."""
    r, g, b = (c / 255 for c in _rgb(colour))
    return "#111827" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#ffffff"


def stat_text(value: float | None, metric: str) -> str:
    if value is None:
        return "—"
    if metric == "dead_fraction":
        return f"{value:.0%}"
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e4):
        return f"{value:.1e}"
    return f"{value:.3g}"


def overlay_rows(rows: dict[str, dict], events: list[dict], metric: str, step: int | None) -> tuple[dict, dict | None]:
    """The editor's rows with the chosen statistic on each layer it covers (row["stat"]: value, text,
    colour), the statistics' warnings added to the cards (amber, no fix), and the legend."""
    from designer.layer_stats import design_path, event_at, layer_warnings, overlay

    shown = overlay(events, metric, step)
    if shown is None:
        return rows, None
    out = {p: dict(r) for p, r in rows.items()}
    for path, value in shown["values"].items():
        if path in out:
            colour = stat_colour(value, shown["lo"], shown["hi"], shown["log"])
            out[path]["stat"] = {"value": value, "text": stat_text(value, metric), "colour": colour,
                                 "tint": _mix_white(colour, 0.5), "ink": _ink(colour)}
    event = event_at(events, shown["step"])
    for w in layer_warnings(event["layers"] if event else []):
        path = design_path(w["path"])
        if path in out:
            warning = {"message": f"training, step {shown['step']}: {w['message']}", "fix": w["fix"],
                       "action": False, "warning": True}
            if warning not in out[path].get("errors", []):
                out[path]["errors"] = [*out[path].get("errors", []), warning]
    legend = {"label": shown["label"], "metric": metric, "step": shown["step"], "log": shown["log"],
              "lo": stat_text(shown["lo"], metric), "hi": stat_text(shown["hi"], metric), "stops": list(STOPS)}
    return out, legend


# ---------------------------------------------------------------- page parts


def _store():
    from components.train_view import run_store

    return run_store()


@functools.lru_cache(maxsize=8)
def _events(db: str, run_id: int, last_step: int) -> list[dict]:
    """A run's stats events, read once per new step (a rerun that changes nothing reads nothing)."""
    return _store().stats(run_id)


def _runs() -> dict[int, dict]:
    return {r["id"]: r for r in _store().runs_with_stats()}


def chosen_events(state: S.State, runs: dict[int, dict] | None = None) -> tuple[list[dict], str, int | None]:
    """The chosen run's statistics events, the metric and the step ([] when none is chosen)."""
    from designer.layer_stats import STATISTICS

    metric = state.get(METRIC, next(iter(STATISTICS)))
    if not state.get(RUN):
        return [], metric, None  # nothing chosen: no query on the rerun
    run = (runs if runs is not None else _runs()).get(state.get(RUN))
    if run is None:
        return [], metric, None
    return _events(str(_store().path), run["id"], run["last_step"]), metric, state.get(STEP)


def render_stats_controls() -> None:
    """The side column's "Training statistics" controls."""
    from designer.layer_stats import STATISTICS

    state = st.session_state
    runs = _runs()
    if not runs:
        st.caption("Train with “Stats every K steps” set (Train page, More) to colour the design by "
                   "activations, gradients and dead units.")
        return
    labels = {0: "off"} | {i: f"#{i} {r['name']} · {r['dataset']} · {r['status']}" for i, r in runs.items()}
    if state.get(RUN) not in labels:
        state[RUN] = 0  # a deleted run, or none chosen yet
    choice = st.selectbox("Colour by run", list(labels), format_func=labels.get, key=RUN)
    if not choice:
        return
    st.selectbox("Statistic", list(STATISTICS), format_func=lambda m: STATISTICS[m][0], key=METRIC)
    events, _, _ = chosen_events(state, runs)
    steps = [e["step"] for e in events]
    if len(steps) > 1:
        st.select_slider("Step", steps, value=state.get(STEP) if state.get(STEP) in steps else steps[-1], key=STEP)
    else:
        state[STEP] = steps[0] if steps else None
    if runs[choice]["status"] in ("running", "queued"):
        _follow(choice, runs[choice]["last_step"])


def _follow(run_id: int, last_step: int) -> None:
    """While the run goes on: look for new statistics every LIVE_REFRESH_S and redraw when there are."""

    @st.fragment(run_every=LIVE_REFRESH_S)
    def follow() -> None:
        if _runs().get(run_id, {}).get("last_step") != last_step:
            st.session_state.pop(STEP, None)  # follow the newest step
            st.rerun(scope="app")

    follow()


def render_layer_stats(path: str) -> None:
    """The selected layer's statistics over the chosen run, in the inspector."""
    from designer.layer_stats import STATISTICS, series

    events, metric, _ = chosen_events(st.session_state)
    if not events:
        return
    rows = {m: series(events, path, m) for m in STATISTICS}
    if not any(rows.values()):
        return
    import plotly.graph_objects as go

    with st.expander("Training statistics", expanded=True):
        points = rows[metric]
        if points:
            fig = go.Figure(go.Scatter(x=[s for s, _ in points], y=[v for _, v in points], mode="lines+markers"))
            fig.update_layout(height=170, margin=dict(l=8, r=8, t=24, b=8), title=dict(text=STATISTICS[metric][0], font_size=12),
                              xaxis_title="step", yaxis_type="log" if STATISTICS[metric][1] else "linear")
            st.plotly_chart(fig, use_container_width=True, key=f"stats_chart_{path}")
        last = {m: (pts[-1][1] if pts else None) for m, pts in rows.items()}
        st.markdown("  \n".join(f"{STATISTICS[m][0]}: **{stat_text(v, m)}**" for m, v in last.items() if v is not None))
