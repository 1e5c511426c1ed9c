"""Train: data and settings on the left, the live run beside them."""

from __future__ import annotations

import streamlit as st

from components.layout import render_flash
from components.train_view import render_train

render_flash()
render_train(st.session_state["design"])
