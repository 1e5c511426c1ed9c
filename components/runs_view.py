"""The Runs page: every run kept, told apart by what differs (lr, optimizer, epochs, date, dataset), with
overlays whose legends name the differing settings, bundles and deletion.
Draws only; rows, formatting and legends come from designer.run_report."""

from __future__ import annotations

import streamlit as st

from components import charts
from components import state as S
from components.derived import code_files
from components.text import md_text
from components.train_view import run_store
from designer import run_report

CURVES = {"training loss (per step)": None, "validation loss (per epoch)": "val_loss",
          "validation accuracy (per epoch)": "val_accuracy", "validation MAE (per epoch)": "val_mae"}


def render_runs() -> None:
    store = run_store()
    runs = store.list()
    if not runs:
        st.caption("No runs yet. Train a design in the Train tab; every run is kept here.")
        return
    table = run_report.run_rows(runs)
    with st.container(key="nw-runs-table"):
        picked = st.dataframe(table, hide_index=True, width="stretch", on_select="rerun",
                              selection_mode="multi-row", key="runs_table",
                              column_config={"id": st.column_config.NumberColumn("id", width="small", format="%d")})
    chosen = [runs[i] for i in picked.selection.rows] if picked and picked.selection else []
    if not chosen:
        st.caption("Select runs in the table to overlay their curves, download or delete them.")
        return
    differ = run_report.differing_settings(chosen)
    if len(chosen) > 1:
        st.caption(md_text("These runs differ in: " + (", ".join(s.key for s in differ) or "nothing shown here "
                                                        "(the same settings)")))
    names = run_report.legend_names(chosen)
    offered = [c for c, m in CURVES.items() if m is None or any(r.get(m) is not None for r in chosen)]
    curve = CURVES[st.segmented_control("Curve", offered, default=offered[0], key="runs_curve",
                                        label_visibility="collapsed") or offered[0]]
    if curve is None:
        figure = charts.overlay_figure([(n, store.steps(r["id"])) for n, r in zip(names, chosen, strict=True)])
    else:
        figure = charts.overlay_epochs_figure([(n, store.epochs(r["id"])) for n, r in zip(names, chosen, strict=True)],
                                              curve)
    st.plotly_chart(figure, key="runs_overlay", width="stretch")
    _actions([r["id"] for r in chosen], store)


def _actions(chosen: list[int], store) -> None:
    c = st.columns([1, 1, 1, 2])
    if len(chosen) == 1:
        rid = chosen[0]
        run = store.get(rid)
        files = code_files(run["design"]) if S.analysis_of(run["design"]).valid else None
        c[0].download_button("⬇ Run bundle (.zip)", lambda: store.bundle(rid, files), file_name=f"run_{rid}.zip",
                             mime="application/zip", key=f"bundle_{rid}", on_click="ignore")
        c[1].button("Open its design", key=f"open_run_{rid}", on_click=S.load_into,
                    args=(st.session_state, run["design"]))
    if c[2 if len(chosen) == 1 else 0].button(f"Delete {len(chosen)} run(s)", icon=":material/delete:", key="runs_delete"):
        for rid in chosen:
            try:
                store.delete(rid)
            except ValueError as exc:  # a run still going: stop it first
                S.flash(st.session_state, "warning", md_text(f"Run #{rid}: {exc}"))
        st.rerun()
