"""Code: model.py, train.py and downloads of every file, one click from the design."""

from __future__ import annotations

import streamlit as st

from components.code_view import render_code
from components.graph_view import render_graph_files
from components.layout import render_flash

render_flash()
design = st.session_state["design"]
render_code(design)
st.divider()
render_graph_files(design)
