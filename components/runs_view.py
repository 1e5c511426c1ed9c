"""The Runs page: every run kept, told apart by what differs, with overlays, bundles and deletion.
Draws only; rows, formatting and legends come from designer.run_report."""

from __future__ import annotations

import streamlit as st

from components import charts
from components import state as S
from components.derived import code_files
from components.text import md_text
from components.train_view import run_store


def render_runs() -> None:
    store = run_store()
    runs = store.list()
    if not runs:
        st.caption("No runs yet. Train a design in the Train tab; every run is kept here.")
        return
    table = [{"id": r["id"], "name": r["name"], "dataset": r["dataset"], "status": r["status"], "steps": r["steps"],
              "val loss": r["val_loss"], "val acc": r["val_accuracy"], "samples/s": r["samples_per_s"],
              "duration s": r["duration_s"]} for r in runs]
    picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row",
                          key="runs_table")
    chosen = [table[i]["id"] for i in picked.selection.rows] if picked and picked.selection else []
    if not chosen:
        st.caption("Select runs in the table to overlay their curves, download or delete them.")
        return
    curves = [(f"#{rid} {store.get(rid)['name']}", store.steps(rid)) for rid in chosen]
    st.plotly_chart(charts.overlay_figure(curves), key="runs_overlay", width="stretch")
    c = st.columns(3)
    if len(chosen) == 1:
        rid = chosen[0]
        run = store.get(rid)
        files = code_files(run["design"]) if S.analysis_of(run["design"]).valid else None
        c[0].download_button("⬇ Run bundle (.zip)", lambda: store.bundle(rid, files), file_name=f"run_{rid}.zip",
                             mime="application/zip", key=f"bundle_{rid}", on_click="ignore")
        c[1].button("Open its design", key=f"open_run_{rid}", on_click=S.load_into,
                    args=(st.session_state, run["design"]))
    if c[2].button(f"Delete {len(chosen)} run(s)", icon=":material/delete:", key="runs_delete"):
        for rid in chosen:
            try:
                store.delete(rid)
            except ValueError as exc:  # a run still going: stop it first
                S.flash(st.session_state, "warning", md_text(f"Run #{rid}: {exc}"))
        st.rerun()
