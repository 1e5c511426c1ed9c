"""Design: palette, model, live drawing and inspector on one screen."""

from __future__ import annotations

import streamlit as st

from components import state as S
from components.designs import autosave
from components.editor_panel import render_editor, render_errors, render_layer_buttons
from components.inspector import render_input_settings, render_inspector
from components.layout import render_flash


@st.fragment
def workspace() -> None:
    """Everything an edit changes. A gesture reruns only this fragment (not the sidebar or the
    navigation), and the design is autosaved at its end."""
    editor_col, side = st.columns([32, 9], gap="small")
    with editor_col:
        render_editor()
    with side, st.container(key="nw-side"):
        render_flash()
        render_errors()
        with st.container(border=True):
            render_inspector()
        with st.expander("Input and task", expanded=False):
            render_input_settings()
        with st.expander("Edit with buttons", expanded=False):
            render_layer_buttons()
    autosave(st.session_state)


workspace()
