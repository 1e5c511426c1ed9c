"""The Graph view: the drawing, updated on every edit, with DOT/SVG/PNG downloads."""

from __future__ import annotations

import streamlit as st

from components.derived import dot_of, rendered


def render_graph(design: dict) -> None:
    c1, c2, c3 = st.columns([1, 1, 2])
    direction = c1.segmented_control("Direction", ["TB", "LR"], default="TB", key="graph_direction",
                                     format_func=lambda d: "top → bottom" if d == "TB" else "left → right") or "TB"
    expand = c2.toggle("Expand repeats", key="graph_expand", help="Draw every copy of Repeat blocks")
    theme = "dark" if (st.context.theme.type == "dark") else "light"
    dot = dot_of(design, direction, expand, theme)
    st.graphviz_chart(dot, width="stretch")
    with c3:
        d1, d2, d3 = st.columns(3)
        d1.download_button("⬇ DOT", dot, file_name="model.gv", mime="text/vnd.graphviz", key="dl_dot")
        # Rendered only when clicked: an edit never waits for the Graphviz binary.
        d2.download_button("⬇ SVG", lambda: rendered(dot, "svg"), file_name="model.svg", mime="image/svg+xml",
                           key="dl_svg", on_click="ignore")
        d3.download_button("⬇ PNG", lambda: rendered(dot, "png"), file_name="model.png", mime="image/png",
                           key="dl_png", on_click="ignore")
