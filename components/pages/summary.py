"""Summary: the per-layer table and the totals."""

from __future__ import annotations

import streamlit as st

from components.layout import render_flash
from components.summary_view import render_summary

render_flash()
render_summary(st.session_state["design"])
