"""Netwright: the page. Layout only; every part lives in components/."""

from __future__ import annotations

import streamlit as st

from components import state as S
from components.code_view import render_code
from components.designs import autosave, render_sidebar, restore_or_start
from components.editor_panel import render_editor, render_errors
from components.graph_view import render_graph
from components.inspector import render_input_settings, render_inspector
from components.summary_view import render_summary
from components.train_view import render_runs, render_train

st.set_page_config(page_title="Netwright", page_icon="🧩", layout="wide")

restore_or_start(st.session_state)
render_sidebar()

flash = st.session_state.get(S.FLASH)
if flash:
    getattr(st, flash[0], st.info)(flash[1])
    st.session_state[S.FLASH] = None

left, right = st.columns([5, 2], gap="medium")
with left:
    render_editor()
with right:
    with st.container(border=True):
        st.markdown("##### Inspector")
        render_inspector()
    with st.container(border=True):
        st.markdown("##### Input and task")
        render_input_settings()
    render_errors()

design = st.session_state[S.DESIGN]
graph_tab, code_tab, summary_tab, train_tab, runs_tab = st.tabs(["Graph", "Code", "Summary", "Train", "Runs"])
with graph_tab:
    render_graph(design)
with code_tab:
    render_code(design)
with summary_tab:
    render_summary(design)
with train_tab:
    render_train(design)
with runs_tab:
    render_runs()

autosave(st.session_state)
