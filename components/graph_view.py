"""The drawing as files: DOT, SVG and PNG downloads (the live drawing is on the Design page)."""

from __future__ import annotations

import streamlit as st

from components.derived import dot_of, rendered


def render_graph_files(design: dict) -> None:
    st.markdown("##### Drawing as a file")
    c = st.columns([2, 2, 1, 1, 1], vertical_alignment="bottom")
    direction = c[0].segmented_control("Direction", ["TB", "LR"], default="TB", key="graph_direction",
                                       format_func=lambda d: "top → bottom" if d == "TB" else "left → right") or "TB"
    expand = c[1].toggle("Expand repeats", key="graph_expand", help="Draw every copy of Repeat blocks")
    theme = "dark" if (st.context.theme.type == "dark") else "light"
    dot = dot_of(design, direction, expand, theme)
    c[2].download_button("⬇ DOT", dot, file_name="model.gv", mime="text/vnd.graphviz", key="dl_dot")
    # Rendered only when clicked: nothing waits for the Graphviz binary.
    c[3].download_button("⬇ SVG", lambda: rendered(dot, "svg"), file_name="model.svg", mime="image/svg+xml",
                         key="dl_svg", on_click="ignore")
    c[4].download_button("⬇ PNG", lambda: rendered(dot, "png"), file_name="model.png", mime="image/png",
                         key="dl_png", on_click="ignore")
