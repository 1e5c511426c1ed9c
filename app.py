"""Netwright: the page frame. Layout only; every page lives in components/pages/."""

from __future__ import annotations

import streamlit as st

from components.designs import render_sidebar, restore_or_start
from components.layout import navigation, render_page_style

st.set_page_config(page_title="Netwright", page_icon="🧩", layout="wide", initial_sidebar_state=230)

restore_or_start(st.session_state)
page = navigation()
render_page_style()
# The sidebar first: its fields are keyed by the design's revision, and drawn after the page they would
# stay stale while the page draws, so that a rename typed then is ignored (tests/test_load.py saw it).
render_sidebar()
page.run()
