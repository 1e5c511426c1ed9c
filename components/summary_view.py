"""The Summary view: a per-layer table and the totals."""

from __future__ import annotations

import streamlit as st

from components.state import analysis_of
from designer.params import human_count, size_text


def summary_rows(analysis) -> list[dict]:
    """The table's rows: path, type, output shape, parameters, FLOPs, status."""
    rows = []
    for r in analysis.rows:
        rows.append({
            "path": r.path,
            "layer": r.label + (f" ×{r.copies}" if r.copies > 1 else ""),
            "output shape": size_text(list(r.output_shape)) if r.output_shape is not None else "—",
            "params": r.params,
            "FLOPs": r.flops,
            "status": {"ok": "✓", "error": "✗ " + (r.errors[0].message if r.errors else ""), "unreached": "·"}[r.status],
        })
    return rows


def render_summary(design: dict) -> None:
    analysis = analysis_of(design)
    c = st.columns(4)
    c[0].metric("Parameters", f"{analysis.params:,}")
    c[1].metric("Size (float32)", f"{analysis.size_mb:.2f} MB")
    c[2].metric("FLOPs / sample", human_count(analysis.flops))
    out = size_text(list(analysis.output_shape)) if analysis.output_shape is not None else "—"
    c[3].metric("Output shape", out)
    st.dataframe(summary_rows(analysis), hide_index=True, width="stretch",
                 column_config={"params": st.column_config.NumberColumn(format="localized"),
                                "FLOPs": st.column_config.NumberColumn(format="compact")})
    st.caption("FLOPs count one sample's forward pass (a multiply-add is 2 FLOPs), as torch.utils.flop_counter does.")
