"""The model editor panel: the drag-and-drop component, keyboard-free buttons for the same
actions, and the list of errors with their one-click fixes."""

from __future__ import annotations

import json
from functools import lru_cache

import streamlit as st

from components import state as S
from components import stats_panel
from components.editor import build_payload, editor
from components.text import md_text
from designer.design import format_path, parse_path
from designer.edits import new_node, wrap_nodes
from designer.families import FAMILIES
from designer.params import human_count
from designer.registry import catalogue, list_specs

WRAP_BLOCKS = ("Residual", "Repeat", "Parallel", "Sequential")


@lru_cache(maxsize=1)
def _catalogue() -> tuple[list[dict], dict, dict]:
    """The palette's types with the node each makes, the family colours, the wrap templates."""
    cat = [{"type": row["type"], "family": row["family"], "help": row["help"], "node": new_node(row["type"])}
           for row in catalogue()]
    fams = {k: {"label": v[0], "fill": v[1], "accent": v[2]} for k, v in FAMILIES.items()}
    return cat, fams, wrap_templates()


def wrap_templates() -> dict[str, dict]:
    """What "Wrap in <block>" makes, from designer.edits itself: the selection stands where the
    marker ``[{"__selection__": true}]`` is."""
    marker = {"type": "Identity", "__selection__": True}
    out = {}
    for block in WRAP_BLOCKS:
        wrapped = wrap_nodes({"layers": [marker]}, ["layers[0]"], block)["layers"][0]
        out[block] = wrapped
    return out


def rows_payload(analysis) -> dict[str, dict]:
    """The per-node facts the cards and the drawing show; a card lists its errors, then its
    warnings (advice that leaves the design valid), each with its one-click fix."""
    warnings: dict[str, list] = {}
    for w in getattr(analysis, "warnings", []):
        warnings.setdefault(w.path, []).append(w)

    def issue(e, warning: bool) -> dict:
        return {"message": e.message, "fix": e.fix, "action": e.action is not None, "warning": warning}

    return {
        r.path: {
            "output_shape": list(r.output_shape) if r.output_shape is not None else None,
            "params": r.params,
            "status": r.status,
            "label": r.label + (f" ×{r.copies}" if r.copies > 1 and r.family != "block" else ""),
            "family": r.family,
            "errors": [issue(e, False) for e in r.errors] + [issue(w, True) for w in warnings.get(r.path, [])],
        }
        for r in analysis.rows
    }


@lru_cache(maxsize=16)
def _payload(key: str, selected: str | None) -> dict:
    design = json.loads(key)
    analysis = S.analysis_of(design)
    cat, fams, wrap = _catalogue()
    inp = design.get("input") if isinstance(design.get("input"), dict) else {}
    out = list(analysis.output_shape) if analysis.output_shape is not None else None
    summary = {"valid": analysis.valid, "errors": len(analysis.errors), "params": analysis.params}
    return build_payload(design, rows_payload(analysis), inp, out, cat, fams, selected, wrap=wrap, summary=summary)


def editor_payload(state: S.State) -> dict:
    """The editor's payload for this session: the design's (cached by content) plus the
    session's confirmation and undo state."""
    payload = dict(_payload(S.design_key(state[S.DESIGN]), state.get(S.SELECTED)))
    events, metric, step = stats_panel.chosen_events(state)
    if events:
        payload["rows"], payload["overlay"] = stats_panel.overlay_rows(payload["rows"], events, metric, step)
    payload["ack"] = dict(state.get(S.EDITOR_ACK) or {"client": None, "seq": 0})
    history = state[S.HISTORY]
    payload["history"] = {"can_undo": history.can_undo, "can_redo": history.can_redo}
    payload["opened"] = state.get(S.OPENED, 0)
    return payload


def render_editor() -> None:
    state = st.session_state
    # The action is applied in the component's callback, before this script runs: no extra rerun.
    editor(editor_payload(state), key="editor", on_action=lambda action: S.do_action(state, action))


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


def _default_type(types: list[str]) -> int:
    """The type the Add box starts on: a layer that fits most designs, never a block."""
    for preferred in ("Linear", "Conv2d", "ReLU"):
        if preferred in types:
            return types.index(preferred)
    return 0


def render_layer_buttons() -> None:
    """Buttons for every editor action, for people who neither drag nor use the keys."""
    state = st.session_state
    path = state.get(S.SELECTED)
    types = [s.type for s in list_specs()]
    a, b = st.columns([3, 2], vertical_alignment="bottom")
    a.selectbox("Layer type", types, index=_default_type(types), key="add_type")
    b.button("Add", icon=":material/add:", on_click=_add, args=("add_type",), key="add_layer", width="stretch",
             help="After the selected layer, or at the end")
    c = st.columns(4)
    c[0].button("", icon=":material/arrow_upward:", help="Move up (Alt+↑)", on_click=_move, args=(-1,), disabled=not path,
                key="move_up", width="stretch")
    c[1].button("", icon=":material/arrow_downward:", help="Move down (Alt+↓)", on_click=_move, args=(1,), disabled=not path,
                key="move_down", width="stretch")
    c[2].button("", icon=":material/content_copy:", help="Duplicate (Ctrl+D)", on_click=S.do_action,
                args=(state, {"op": "duplicate", "path": path}), disabled=not path, key="dup_layer", width="stretch")
    c[3].button("", icon=":material/delete:", help="Delete (Del)", on_click=S.do_action,
                args=(state, {"op": "remove", "path": path}), disabled=not path, key="del_layer", width="stretch")
    if path:
        st.caption("Wrap the selected layer in")
        w = st.columns(2)
        for i, block in enumerate(WRAP_BLOCKS):
            w[i % 2].button(block, on_click=S.do_action, key=f"wrap_{block}", width="stretch", help=f"Wrap in {block}",
                            args=(state, {"op": "wrap", "paths": [path], "block": block}))
    u = st.columns(2)
    u[0].button("Undo", icon=":material/undo:", on_click=S.undo, args=(state,), disabled=not state[S.HISTORY].can_undo,
                width="stretch", key="undo_btn", help="Ctrl+Z")
    u[1].button("Redo", icon=":material/redo:", on_click=S.redo, args=(state,), disabled=not state[S.HISTORY].can_redo,
                width="stretch", key="redo_btn", help="Ctrl+Shift+Z or Ctrl+Y")


ERRORS_SHOWN = 8


def render_errors() -> None:
    """The design's state in one line, then each error with its path and, where analysis has
    one, a Fix button (the cards carry the same buttons)."""
    analysis = S.analysis_of(st.session_state[S.DESIGN])
    for i, w in enumerate(getattr(analysis, "warnings", [])[:ERRORS_SHOWN]):
        st.warning(f"`{w.path}`: {md_text(w.message)}" + (f"  \nFix: {md_text(w.fix)}" if w.fix else ""))
        if w.action:
            st.button("Apply", key=f"warnfix_{i}", on_click=S.do_action, args=(st.session_state, w.action),
                      icon=":material/build:")
    if analysis.valid:
        st.success(f"Valid · {analysis.params:,} parameters · {human_count(analysis.flops)} FLOPs",
                   icon=":material/check_circle:")
        return
    n = len(analysis.errors)
    st.markdown(f"**:red[{n} error{'s' if n != 1 else ''}]**")
    for i, issue in enumerate(analysis.errors[:ERRORS_SHOWN]):
        text = f"`{issue.path}`: {md_text(issue.message)}" + (f"  \nFix: {md_text(issue.fix)}" if issue.fix else "")
        st.error(text)
        if issue.action:
            st.button("Apply fix", key=f"fix_{i}", on_click=S.do_action, args=(st.session_state, issue.action),
                      icon=":material/build:")
    if n > ERRORS_SHOWN:
        st.caption(f"… and {n - ERRORS_SHOWN} more, each on its card")
