"""Netwright: the page frame. Layout only; every page lives in components/pages/."""

from __future__ import annotations

import streamlit as st

from components.designs import render_sidebar, restore_or_start
from components.layout import navigation, render_page_style

st.set_page_config(page_title="Netwright", page_icon="🧩", layout="wide", initial_sidebar_state=230)

restore_or_start(st.session_state)
page = navigation()
render_page_style()
# The page first: a gesture's answer (the editor's cards and drawing) reaches the browser before the
# sidebar's widgets, which follow in the same run (measured: about 40 ms sooner on ResNet-18).
page.run()
render_sidebar()
