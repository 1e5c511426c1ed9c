"""Design: palette, model, live drawing and inspector on one screen."""

from __future__ import annotations

import streamlit as st

from components import stats_panel
from components.designs import autosave
from components.editor_panel import render_editor, render_errors, render_layer_buttons
from components.inspector import render_input_settings, render_inspector
from components.layout import lazy_expander, render_flash


def workspace() -> None:
    """The editor (palette, cards, drawing) and the side column. A gesture reruns the whole page,
    not a fragment: the sidebar's name, Save as and undo state must follow every edit (a fragment
    saved about 25 ms a gesture, measured with bench/bench_ui.py). The design is autosaved at
    the end."""
    editor_col, side = st.columns([32, 9], gap="small")
    with editor_col:
        render_editor()
    with side, st.container(key="nw-side"):
        render_flash()
        render_errors()
        with st.container(border=True):
            render_inspector()
        lazy_expander("Input and task", "nw_open_input", render_input_settings)
        lazy_expander("Edit with buttons", "nw_open_buttons", render_layer_buttons)
        with st.expander("Training statistics", expanded=bool(st.session_state.get(stats_panel.RUN))):
            stats_panel.render_stats_controls()
    autosave(st.session_state)


workspace()
