"""The model editor panel: the drag-and-drop component, keyboard-free buttons for the same
actions, and the list of errors with their one-click fixes."""

from __future__ import annotations

import json
from functools import lru_cache

import streamlit as st

from components import state as S
from components.editor import build_payload, editor
from designer.design import format_path, parse_path
from designer.families import FAMILIES
from designer.registry import catalogue, list_specs


@lru_cache(maxsize=1)
def _catalogue() -> tuple[list[dict], dict]:
    cat = [{"type": row["type"], "family": row["family"], "help": row["help"]} for row in catalogue()]
    fams = {k: {"label": v[0], "fill": v[1], "accent": v[2]} for k, v in FAMILIES.items()}
    return cat, fams


def rows_payload(analysis) -> dict[str, dict]:
    """The per-node facts the cards show."""
    return {
        r.path: {
            "output_shape": list(r.output_shape) if r.output_shape is not None else None,
            "params": r.params,
            "status": r.status,
            "label": r.label + (f" ×{r.copies}" if r.copies > 1 and r.family != "block" else ""),
            "family": r.family,
            "errors": [{"message": e.message, "fix": e.fix if e.action else None} for e in r.errors],
        }
        for r in analysis.rows
    }


@lru_cache(maxsize=16)
def _payload(key: str, selected: str | None) -> dict:
    design = json.loads(key)
    analysis = S.analysis_of(design)
    cat, fams = _catalogue()
    inp = design.get("input") if isinstance(design.get("input"), dict) else {}
    out = list(analysis.output_shape) if analysis.output_shape is not None else None
    return build_payload(design, rows_payload(analysis), inp, out, cat, fams, selected)


def render_editor() -> None:
    state = st.session_state
    payload = _payload(S.design_key(state[S.DESIGN]), state.get(S.SELECTED))
    # The action is applied in the component's callback, before this script runs: no extra rerun.
    editor(payload, key="editor", on_action=lambda action: S.do_action(state, action))
    render_layer_buttons()


def _selected_slot_index(path: str | None) -> tuple[str, int]:
    if not path:
        return "layers", len(st.session_state[S.DESIGN].get("layers", []))
    parts = parse_path(path)
    return format_path(parts[:-1]), int(parts[-1])


def _add(type_key: str) -> None:
    state = st.session_state
    slot, index = _selected_slot_index(state.get(S.SELECTED))
    if state.get(S.SELECTED):
        index += 1
    S.do_action(state, {"op": "insert", "slot": slot, "index": index, "type": state[type_key]})


def _move(delta: int) -> None:
    state = st.session_state
    path = state.get(S.SELECTED)
    slot, index = _selected_slot_index(path)
    target = index + delta + (1 if delta > 0 else 0)
    if target < 0:
        return
    if S.do_action(state, {"op": "move", "path": path, "slot": slot, "index": target}):
        new_index = max(0, index + delta)
        state[S.SELECTED] = f"{slot}[{new_index}]"


def render_layer_buttons() -> None:
    """Buttons for every editor action, for keyboards and for people who do not drag."""
    state = st.session_state
    path = state.get(S.SELECTED)
    with st.container(border=True):
        types = [s.type for s in list_specs()]
        c = st.columns([3, 2, 1, 1, 1, 1])
        c[0].selectbox("Layer type", types, key="add_type", label_visibility="collapsed")
        c[1].button("Add " + ("after selected" if path else "at the end"), icon=":material/add:", on_click=_add, args=("add_type",),
                    key="add_layer", width="stretch")
        c[2].button("", icon=":material/arrow_upward:", help="Move up", on_click=_move, args=(-1,), disabled=not path, key="move_up", width="stretch")
        c[3].button("", icon=":material/arrow_downward:", help="Move down", on_click=_move, args=(1,), disabled=not path, key="move_down", width="stretch")
        c[4].button("", icon=":material/content_copy:", help="Duplicate", on_click=S.do_action, args=(state, {"op": "duplicate", "path": path}),
                    disabled=not path, key="dup_layer", width="stretch")
        c[5].button("", icon=":material/delete:", help="Delete", on_click=S.do_action, args=(state, {"op": "remove", "path": path}),
                    disabled=not path, key="del_layer", width="stretch")
        if path:
            w = st.columns(4)
            for col, block in zip(w, ("Residual", "Repeat", "Parallel", "Sequential")):
                col.button(f"Wrap in {block}", on_click=S.do_action, key=f"wrap_{block}", width="stretch",
                           args=(state, {"op": "wrap", "paths": [path], "block": block}))


def render_errors() -> None:
    """Every error of the design, each with its path and, where analysis has one, a Fix button."""
    analysis = S.analysis_of(st.session_state[S.DESIGN])
    if analysis.valid:
        st.success(f"Valid · {analysis.params:,} parameters", icon=":material/check_circle:")
        return
    with st.container(border=True):
        st.markdown(f"##### {len(analysis.errors)} error(s)")
        for i, issue in enumerate(analysis.errors[:30]):
            st.error(f"**{issue.path}**: {issue.message}" + (f"\n\nFix: {issue.fix}" if issue.fix else ""))
            if issue.action:
                st.button("Apply fix", key=f"fix_{i}", on_click=S.do_action,
                          args=(st.session_state, issue.action))
