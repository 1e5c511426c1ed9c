"""The real datasets on the Train page: MNIST, Fashion-MNIST and CIFAR-10 with their state in the data
dir, and an upload of their official files into it. Draws only; designer.data.install checks and writes."""

from __future__ import annotations

import streamlit as st

from components import state as S
from components.text import md_text
from designer.data import install as real_data
from designer.datasets import DataError

_FOR = "real_upload_for"


def render_real_datasets() -> None:
    statuses = real_data.real_status()
    ready = sum(s.ready for s in statuses)
    label = f"Real datasets: {ready} of {len(statuses)} on disk ({', '.join(s.label for s in statuses)})"
    with st.expander(label, icon=":material/database:", expanded=False), st.container(key="nw-real-data"):
        for s in statuses:
            mark = ":green[ready]" if s.ready else (":orange[incomplete]" if s.present else ":gray[not on disk]")
            st.markdown(f"**{md_text(s.label)}** · {mark}" + (f"  \n:small[:gray[{md_text(s.hint())}]]" if s.hint() else ""))
        st.caption(md_text(f"{real_data.ENV} is {statuses[0].data_dir}"))
        names = {s.label: s for s in statuses}
        chosen = names[st.selectbox("Upload the official files of", list(names), key=_FOR)]
        files = st.file_uploader(" · ".join(chosen.uploads), accept_multiple_files=True,
                                 key="real_upload", max_upload_size=real_data.MAX_UPLOAD_BYTES // 2**20,
                                 help="Checked before anything is written: official names, sizes and formats.")
        if files and st.button(f"Put them in the data dir for {chosen.label}", key="real_install", type="primary"):
            install(chosen.name, [(f.name, f.getvalue()) for f in files])


def install(name: str, files: list[tuple[str, bytes]]) -> None:
    try:
        with st.spinner("Checking the files…"):
            written = real_data.install_files(name, files)
    except DataError as exc:
        st.error(md_text(exc))
        return
    from components.train_view import dataset_rows  # train_view draws this panel: import it late

    dataset_rows.clear()  # the dataset list shows the new set
    status = real_data.status_of(name)
    S.flash(st.session_state, "success",
            md_text(f"{len(written)} file(s) written to {status.folder}. {status.label}: {status.text()}"))
    st.rerun()  # redraw the panel and the dataset list with the new state
