"""The Code view: model.py and train.py, and downloads of every file and a zip."""

from __future__ import annotations

import streamlit as st

from components.derived import code_files, code_zip
from components.state import analysis_of, export_design
from designer.build import sanitize_identifier


def file_stem(design: dict) -> str:
    """A safe file-name stem from the design's name."""
    return sanitize_identifier(design.get("name") or "design", "design")


def render_code(design: dict) -> None:
    analysis = analysis_of(design)
    stem = file_stem(design)
    if not analysis.valid:
        st.warning(f"The design has {len(analysis.errors)} error(s); fix them to get its code. "
                   "The design file itself can still be downloaded.")
        st.download_button("design.json", export_design(st.session_state), file_name=f"{stem}.json",
                           mime="application/json", key="dl_design_invalid")
        return
    files = code_files(design)
    cols = st.columns(4)
    cols[0].download_button("⬇ model.py", files["model.py"], file_name="model.py", mime="text/x-python", key="dl_model")
    cols[1].download_button("⬇ train.py", files["train.py"], file_name="train.py", mime="text/x-python", key="dl_train")
    cols[2].download_button("⬇ design.json", files["design.json"], file_name=f"{stem}.json", mime="application/json",
                            key="dl_design")
    cols[3].download_button("⬇ all (.zip)", code_zip(design), file_name=f"{stem}.zip", mime="application/zip", key="dl_zip")
    tab_model, tab_train = st.tabs(["model.py", "train.py"])
    with tab_model:
        st.code(files["model.py"], language="python")
    with tab_train:
        st.code(files["train.py"], language="python")
