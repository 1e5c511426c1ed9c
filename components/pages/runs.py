"""Runs: the history, overlays and bundles."""

from __future__ import annotations

from components.layout import render_flash
from components.runs_view import render_runs

render_flash()
render_runs()
