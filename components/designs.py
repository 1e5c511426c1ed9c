"""The sidebar: start from a template or blank, rename, undo/redo, save/open named designs,
import and export design files. The working design is autosaved to the local database."""

from __future__ import annotations

import os

import streamlit as st

from components import state as S
from components.code_view import file_stem
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
    """Write the working design when it changed since the last write."""
    key = S.design_key(state[S.DESIGN])
    if state.get("_autosaved") != key:
        design_store().autosave(state[S.SESSION_ID], state[S.DESIGN])
        state["_autosaved"] = key


def _open_template(template_id: str) -> None:
    S.load_into(st.session_state, load_template(template_id))


def _blank() -> None:
    S.load_into(st.session_state, S.blank_design())


def _rename(widget_key: str) -> None:
    if not S.is_current_widget(st.session_state, widget_key):
        return
    try:
        S.set_design(st.session_state, rename(st.session_state[S.DESIGN], st.session_state[widget_key]))
    except EditError as exc:
        S.flash(st.session_state, "error", str(exc))


def _save_named(widget_key: str) -> None:
    name = (st.session_state.get(widget_key) or "").strip() or st.session_state[S.DESIGN].get("name") or "Untitled"
    design_store().save(name, st.session_state[S.DESIGN])
    S.flash(st.session_state, "success", f"Saved as “{name}”.")


def _open_saved(design_id) -> None:
    S.load_into(st.session_state, design_store().load(design_id))


def _delete_saved(design_id) -> None:
    design_store().delete(design_id)


def _import(widget_key: str) -> None:
    upload = st.session_state.get(widget_key)
    if upload is None:
        return
    problems = S.import_design(st.session_state, upload.getvalue())
    if problems:
        shown = "\n".join(f"- {p}" for p in problems[:12])
        more = f"\n- … and {len(problems) - 12} more" if len(problems) > 12 else ""
        S.flash(st.session_state, "error", f"Not imported: {upload.name} has problems; your design is unchanged.\n{shown}{more}")
    else:
        S.flash(st.session_state, "success", f"Imported {upload.name}.")


def render_sidebar() -> None:
    state = st.session_state
    design = state[S.DESIGN]
    st.sidebar.title("Netwright")
    c1, c2 = st.sidebar.columns(2)
    c1.button("↶ Undo", on_click=S.undo, args=(state,), disabled=not state[S.HISTORY].can_undo,
              width="stretch", key="undo")
    c2.button("↷ Redo", on_click=S.redo, args=(state,), disabled=not state[S.HISTORY].can_redo,
              width="stretch", key="redo")
    name_key = f"design_name:{state[S.REVISION]}"
    st.sidebar.text_input("Design name", value=design.get("name", ""), key=name_key, on_change=_rename, args=(name_key,))

    with st.sidebar.expander("Start from a template", expanded=False):
        st.button("Blank design", on_click=_blank, key="tpl_blank", width="stretch")
        for tpl in list_templates():
            st.button(tpl["name"], help=tpl["description"], on_click=_open_template, args=(tpl["id"],),
                      key=f"tpl_{tpl['id']}", width="stretch")
            st.caption(tpl["description"])

    with st.sidebar.expander("Saved designs", expanded=False):
        save_key = "save_as_name"
        st.text_input("Save as", value=design.get("name", ""), key=save_key)
        st.button("Save", on_click=_save_named, args=(save_key,), key="save_named", width="stretch")
        for row in design_store().list():
            a, b = st.columns([4, 1])
            a.button(f"{row['name']} · {row['n_layers']} layers", key=f"open_{row['id']}", on_click=_open_saved,
                     args=(row["id"],), width="stretch")
            b.button("", icon=":material/delete:", key=f"del_{row['id']}", on_click=_delete_saved, args=(row["id"],), help="Delete")

    with st.sidebar.expander("Import / export", expanded=False):
        st.file_uploader("Import a design file (.json)", type=["json"], key="import_file",
                         on_change=_import, args=("import_file",))
        st.download_button("⬇ Export design.json", S.export_design(state), file_name=f"{file_stem(design)}.json",
                           mime="application/json", key="export_design", width="stretch")
