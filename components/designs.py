"""The sidebar: start from a template or blank, rename, undo/redo, save/open named designs,
import and export design files. The working design is autosaved to the local database.

When the database cannot keep the work (damaged, read-only, removed), the page still opens: the store
works in memory and `render_store_status` says plainly that work is not being saved, with a download
of the open design. User text (design names) goes into Markdown widgets only through `md_text`."""

from __future__ import annotations

import os

import streamlit as st

from components import state as S
from components.code_view import file_stem
from components.layout import lazy_expander
from components.text import md_text
from designer.edits import EditError, rename
from designer.templates import list_templates, load_template


def design_store():
    """The DesignStore of this server process for the database NETWRIGHT_DB names (SQLite)."""
    return _design_store(os.environ.get("NETWRIGHT_DB"))


@st.cache_resource
def _design_store(path: str | None):
    from designer.store import DesignStore

    return DesignStore(path)


def restore_or_start(state: S.State) -> None:
    """On a new browser session: bring back the autosaved design of this URL's session id, or (a URL
    without one, after a restart) the most recent autosave, or start blank.

    A URL whose session id has no autosave starts afresh under that id: adopting the latest autosave
    there would hand one session's design, and its autosave row, to another."""
    if S.DESIGN in state:
        return
    params = st.query_params
    session_id = params.get("d")
    design = None
    store = design_store()
    if session_id:
        design = store.load_autosave(session_id)
    if design is None and not session_id:
        latest = store.latest_autosave()
        if latest is not None:
            session_id, design = latest
    if design is None:
        design = load_template("lenet5")
    S.init_state(state, design, session_id)
    params["d"] = state[S.SESSION_ID]


def autosave(state: S.State) -> None:
    """Write the working design when it changed since the last write (a failed write is tried again on the
    next run; the store status says that work is not being saved)."""
    from designer.store import StoreUnavailable

    key = S.design_key(state[S.DESIGN])
    if state.get("_autosaved") != key:
        try:
            design_store().autosave(state[S.SESSION_ID], state[S.DESIGN])
        except StoreUnavailable:
            return
        state["_autosaved"] = key


def store_messages() -> list[tuple[str, str]]:
    """(kind, plain text) of what the page must say about the stores: work not being saved, a repair made,
    damaged rows skipped. Plain: no Streamlit calls."""
    from components.train_view import run_store

    messages: list[tuple[str, str]] = []
    stores = [design_store(), run_store()]
    for problem in dict.fromkeys(st_.problem for st_ in stores if st_.problem):
        messages.append(("error", f"{problem} Download the open design (below) to keep it."))
    for notice in dict.fromkeys(st_.notice for st_ in stores if st_.notice):
        messages.append(("warning", notice))
    damaged = design_store().damaged
    if damaged:
        shown = "; ".join(damaged[:3]) + (f"; and {len(damaged) - 3} more" if len(damaged) > 3 else "")
        messages.append(("warning", f"Skipped {len(damaged)} damaged autosave(s), kept in the table damaged_rows "
                                    f"for inspection: {shown}"))
    return messages


def render_store_status(container=None) -> None:
    """The store's status, for the top of the page or the sidebar: nothing while the stores work; otherwise
    what went wrong, in plain text, and a download of the open design."""
    where = container if container is not None else st
    messages = store_messages()
    for kind, text in messages:
        getattr(where, kind)(md_text(text))
    if messages:  # not saving, or a store repaired under the page: the open design can be kept as a file
        state = st.session_state
        key = "store_status_download" if container is None else "store_status_download_side"
        where.download_button("⬇ Download the open design", S.export_design(state),
                              file_name=f"{file_stem(state[S.DESIGN])}.json", mime="application/json", key=key,
                              on_click="ignore", type="primary")


def _start_from(design: dict) -> None:
    S.load_into(st.session_state, design)
    st.session_state[TEMPLATES_OPEN] = False  # a choice made: the list folds away, as a menu does


def _open_template(template_id: str) -> None:
    _start_from(load_template(template_id))


def _blank() -> None:
    _start_from(S.blank_design())


def _rename(widget_key: str) -> None:
    if not S.is_current_widget(st.session_state, widget_key):
        return
    try:
        S.set_design(st.session_state, rename(st.session_state[S.DESIGN], st.session_state[widget_key]))
    except EditError as exc:
        S.flash(st.session_state, "error", md_text(exc))


TEMPLATES_OPEN = "nw_open_templates"  # the template list's open state (a lazy expander's key)
_OVERWRITE = "_save_overwrite"  # (name, revision) waiting for "Replace" before an existing save is replaced


def save_design(state: S.State, name: str, replace: bool = False) -> str:
    """Save the working design under `name`: "saved", "exists" (nothing written: ask first, then call again
    with replace=True) or "failed". Flashes what happened, in plain text. No Streamlit calls."""
    from designer.store import StoreUnavailable

    store = design_store()
    if not replace and store.exists(name):
        state[_OVERWRITE] = (name, state.get(S.REVISION, 0))
        return "exists"
    state[_OVERWRITE] = None
    try:
        store.save(name, state[S.DESIGN])
    except (StoreUnavailable, ValueError) as exc:
        S.flash(state, "error", md_text(f"Not saved: {exc}. Download the design to keep it."))
        return "failed"
    if store.saving:
        S.flash(state, "success", md_text(f"Saved as “{name}”."))
    else:
        S.flash(state, "warning", md_text(f"Saved as “{name}” in memory only: {store.problem} "
                                          f"Download the design to keep it."))
    return "saved"


def _save_named(widget_key: str) -> None:
    state = st.session_state
    name = (state.get(widget_key) or "").strip() or state[S.DESIGN].get("name") or "Untitled"
    save_design(state, name)


def _replace_saved() -> None:
    pending = st.session_state.get(_OVERWRITE)
    if pending:
        save_design(st.session_state, pending[0], replace=True)


def _keep_saved() -> None:
    st.session_state[_OVERWRITE] = None


def _open_saved(design_id) -> None:
    from designer.store import DamagedRow

    try:
        design = design_store().load(design_id)
    except (DamagedRow, KeyError) as exc:
        S.flash(st.session_state, "error", md_text(f"Not opened: {exc}. Your design is unchanged."))
        return
    S.load_into(st.session_state, design)


def _delete_saved(design_id) -> None:
    from designer.store import StoreUnavailable

    try:
        design_store().delete(design_id)
    except StoreUnavailable as exc:
        S.flash(st.session_state, "error", md_text(f"Not deleted: {exc}"))


def _import(widget_key: str) -> None:
    upload = st.session_state.get(widget_key)
    if upload is None:
        return
    problems = S.import_design(st.session_state, upload.getvalue())
    if problems:
        shown = "\n".join(f"- {md_text(p)}" for p in problems[:12])
        more = f"\n- … and {len(problems) - 12} more" if len(problems) > 12 else ""
        S.flash(st.session_state, "error", f"Not imported: {md_text(upload.name)} has problems; your design is "
                                           f"unchanged.\n{shown}{more}")
    else:
        S.flash(st.session_state, "success", f"Imported {md_text(upload.name)}.")


def _import_onnx(widget_key: str) -> None:
    from designer.analysis import analyze
    from designer.importing.app_import import import_onnx_upload

    upload = st.session_state.get(widget_key)
    if upload is None:
        return
    design, problems, weights = import_onnx_upload(upload.getvalue(), upload.name)
    if problems:
        shown = "\n".join(f"- {md_text(p)}" for p in problems[:12])
        more = f"\n- … and {len(problems) - 12} more" if len(problems) > 12 else ""
        S.flash(st.session_state, "error", f"Not imported: {md_text(upload.name)} has parts without a design "
                                           f"equivalent; your design is unchanged.\n{shown}{more}")
        return
    S.load_into(st.session_state, design)
    params = analyze(design).params
    kept = " Its weights are kept as the design's initial weights." if weights else ""
    S.flash(st.session_state, "success", md_text(f"Imported {upload.name}: {params:,} parameters.{kept}"))


def render_sidebar() -> None:
    state = st.session_state
    design = state[S.DESIGN]
    st.sidebar.title("Netwright")
    render_store_status(st.sidebar)
    c1, c2 = st.sidebar.columns(2)
    c1.button("↶ Undo", on_click=S.undo, args=(state,), disabled=not state[S.HISTORY].can_undo,
              width="stretch", key="undo")
    c2.button("↷ Redo", on_click=S.redo, args=(state,), disabled=not state[S.HISTORY].can_redo,
              width="stretch", key="redo")
    name_key = f"design_name:{state[S.REVISION]}"
    st.sidebar.text_input("Design name", value=design.get("name", ""), key=name_key, on_change=_rename, args=(name_key,))

    lazy_expander("Start from a template", TEMPLATES_OPEN, _render_templates, where=st.sidebar)

    pending = state.get(_OVERWRITE)
    if pending and pending[1] != state.get(S.REVISION, 0):  # the design changed since: ask again on the next Save
        state[_OVERWRITE] = pending = None
    if pending:
        state["nw_open_saved"] = True  # the question is asked inside
    lazy_expander("Saved designs", "nw_open_saved", _render_saved, state, design, pending, where=st.sidebar)
    lazy_expander("Import / export", "nw_open_import", _render_import_export, state, design, where=st.sidebar)


def _render_templates() -> None:
    st.button("Blank design", on_click=_blank, key="tpl_blank", width="stretch")
    for tpl in list_templates():
        st.button(tpl["name"], help=tpl["description"], on_click=_open_template, args=(tpl["id"],),
                  key=f"tpl_{tpl['id']}", width="stretch")
        st.caption(tpl["description"])


def _render_saved(state, design: dict, pending) -> None:
    # Keyed by the revision, so the box follows the open design (a template, an undo) instead of keeping
    # the name of the design saved before.
    save_key = f"save_as_name:{state[S.REVISION]}"
    st.text_input("Save as", value=design.get("name", ""), key=save_key)
    st.button("Save", on_click=_save_named, args=(save_key,), key="save_named", width="stretch")
    if pending:
        st.warning(md_text(f"A design named “{pending[0]}” is already saved. Replace it with the open design?"))
        r1, r2 = st.columns(2)
        r1.button("Replace", on_click=_replace_saved, key="save_replace", type="primary", width="stretch")
        r2.button("Cancel", on_click=_keep_saved, key="save_keep", width="stretch")
    for row in design_store().list():
        # The name alone on a wide button and a bare delete icon beside it (the sidebar is narrow: a long name is
        # cut), the name and size in the tooltip.
        a, b = st.columns([6, 1], gap="xxsmall", vertical_alignment="center")
        a.button(md_text(row["name"]), key=f"open_{row['id']}", help=md_text(f"Open {row['name']} · {row['n_layers']} layers"),
                 on_click=_open_saved, args=(row["id"],), width="stretch")
        b.button("", icon=":material/delete:", key=f"del_{row['id']}", on_click=_delete_saved, args=(row["id"],),
                 help=md_text(f"Delete {row['name']}"), type="tertiary")


def _render_import_export(state, design: dict) -> None:
    st.file_uploader("Import a design file (.json)", type=["json"], key="import_file",
                     on_change=_import, args=("import_file",))
    st.file_uploader("Import ONNX (.onnx)", type=["onnx"], key="import_onnx", on_change=_import_onnx,
                     args=("import_onnx",), help="A model file from PyTorch, Keras or others, read as data "
                     "(never run): its layers become an editable design and its weights the initial weights.")
    st.download_button("⬇ Export design.json", S.export_design(state), file_name=f"{file_stem(design)}.json",
                       mime="application/json", key="export_design", width="stretch")
