"""The drag-and-drop model editor: a Streamlit Components v2 element.

The browser side is plain HTML/CSS/JS in ``assets/editor/`` (no build step, no iframe). This
module owns the two ends of the wire:

Python -> browser: one JSON payload, made by :func:`build_payload`::

    {"design": {...}, "rows": {"<path>": {"output_shape", "params", "status", "label",
     "family", "errors": [{"message", "fix", "action"}]}}, "input": {"shape", "dtype"},
     "output_shape": [...] | None, "catalogue": [{"type", "family", "help", "node"}],
     "families": {"<family>": {"label", "fill", "accent"}}, "selected": "<path>" | None,
     "wrap": {"<block>": <wrapper node, the selection as [{"__selection__": true}]>},
     "ack": {"client", "seq"}, "history": {"can_undo", "can_redo"},
     "summary": {"valid", "errors", "params"}, "opened": <designs opened in this session>}

``catalogue[].node`` and ``wrap`` are the server's own templates (designer.edits), so the
browser's optimistic copy of an insert or a wrap equals what the server then makes.

Browser -> Python: the trigger value ``action``, ``{"op": "batch", "client", "actions": [...]}``:
every action the browser has not seen confirmed yet, each with its ``seq``. The server applies
the ones past ``ack.seq`` (components.state.do_batch) and confirms them in the next payload.
See :func:`editor` for the actions and how their ``slot``/``index`` are to be read.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "editor"
COMPONENT_NAME = "netwright_editor"
ACTION_OPS = frozenset({"insert", "move", "remove", "duplicate", "select", "wrap", "add_branch", "fix",
                        "undo", "redo", "batch"})
# The browser module, one file per concern, joined in this order (no build step).
JS_FILES = ("util.js", "edits.js", "palette.js", "lanes.js", "drag.js", "keys.js", "drawing.js", "main.js")
STATUSES = ("ok", "error", "unreached")


# ---------------------------------------------------------------- payload


def _json_safe(value: Any) -> Any:
    """A deep copy of ``value`` made of dict/list/str/int/float/bool/None only."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "__index__"):  # numpy integers
        return int(value.__index__())
    if hasattr(value, "__float__"):  # numpy floats
        return _json_safe(float(value))
    if hasattr(value, "tolist"):  # numpy arrays, torch.Size-likes
        return _json_safe(value.tolist())
    return str(value)


def _field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` for row/spec objects."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _shape(value: Any) -> list | None:
    if value is None:
        return None
    shape = _json_safe(value)
    return shape if isinstance(shape, list) else None


def _errors(value: Any) -> list[dict]:
    errors = []
    for err in value or []:
        if isinstance(err, str):
            err = {"message": err}
        fix = _field(err, "fix")
        fix = None if fix in (None, "") else str(fix)
        errors.append({
            "message": str(_field(err, "message", "") or ""),
            "fix": fix,
            # whether the fix is one click (an edit the server can apply), not only advice
            "action": bool(_field(err, "action", fix is not None)) and fix is not None,
            "warning": bool(_field(err, "warning", False)),
        })
    return errors


def _row(row: Any) -> dict:
    errors = _errors(_field(row, "errors"))
    status = _field(row, "status")
    if status not in STATUSES:
        status = "error" if errors else "ok"
    params = _field(row, "params", 0)
    return {
        "output_shape": _shape(_field(row, "output_shape")),
        "params": int(params) if params is not None else 0,
        "status": status,
        "label": str(_field(row, "label", "") or ""),
        "family": str(_field(row, "family", "") or ""),
        "errors": errors,
    }


def _family(value: Any) -> dict:
    # Accept {"label", "fill", "accent"} or designer.families.FAMILIES' (label, fill, accent).
    if isinstance(value, (list, tuple)) and len(value) == 3:
        label, fill, accent = value
    else:
        label, fill, accent = _field(value, "label", ""), _field(value, "fill", ""), _field(value, "accent", "")
    return {"label": str(label), "fill": str(fill), "accent": str(accent)}


def build_payload(
    design: dict,
    rows: dict,
    input_info: dict,
    output_shape: Any,
    catalogue: list[dict],
    families: dict,
    selected: str | None,
    *,
    wrap: dict | None = None,
    ack: dict | None = None,
    history: dict | None = None,
    summary: dict | None = None,
) -> dict:
    """The editor's data, JSON-safe and decoupled from the caller's objects.

    ``rows`` maps node paths (``layers[4].body[0]``) to row dicts (or row objects with those
    attributes); ``families`` may be ``{"name": {"label", "fill", "accent"}}`` or
    ``designer.families.FAMILIES`` as it is. Pure: nothing given is modified.
    """
    input_info = input_info or {}
    return {
        "design": _json_safe(design or {}),
        "rows": {str(path): _row(row) for path, row in (rows or {}).items()},
        "input": {
            "shape": _shape(_field(input_info, "shape")) or [],
            "dtype": str(_field(input_info, "dtype", None) or "float32"),
        },
        "output_shape": _shape(output_shape),
        "catalogue": [
            {
                "type": str(_field(item, "type", None) or _field(item, "name", "")),
                "family": str(_field(item, "family", "") or ""),
                "help": str(_field(item, "help", "") or ""),
                "node": _json_safe(_field(item, "node")) if _field(item, "node") is not None else None,
            }
            for item in (catalogue or [])
        ],
        "families": {str(name): _family(value) for name, value in (families or {}).items()},
        "selected": None if selected is None else str(selected),
        "wrap": _json_safe(wrap or {}),
        "ack": _json_safe(ack or {"client": None, "seq": 0}),
        "history": _json_safe(history or {"can_undo": False, "can_redo": False}),
        "summary": _json_safe(summary or {}),
    }


# ---------------------------------------------------------------- component


def _read_asset(name: str) -> str:
    return (ASSET_DIR / name).read_text(encoding="utf-8")


def block_declarations() -> str:
    """The blocks as designer.blocks declares them (help, lanes, layout, merge modes), as the JS
    constants BLOCKS and MERGES: the browser's lanes and drawing read them, so they cannot drift."""
    from designer.blocks import BLOCK_RULES, MERGES
    from designer.registry import get_spec

    blocks = {name: {"help": get_spec(name).help, **rule.drawing.to_json()} for name, rule in BLOCK_RULES.items()}
    return (f"const BLOCKS = {json.dumps(blocks, ensure_ascii=False)};\n"
            f"const MERGES = {json.dumps(MERGES, ensure_ascii=False)};\n")


def editor_js() -> str:
    """The browser module: the block declarations, then the files of assets/editor joined in order,
    one scope (main.js holds the default export; the others export the pure functions the tests call
    under node)."""
    parts = [f"// ---- designer.blocks\n{block_declarations()}"]
    return "\n".join(parts + [f"// ---- {name}\n{_read_asset(name)}" for name in JS_FILES])


@functools.cache
def _component() -> Callable[..., Any]:
    """The mount callable, registered once per process (Streamlit re-registers it on a new runtime)."""
    import streamlit as st

    return st.components.v2.component(
        COMPONENT_NAME,
        html=_read_asset("editor.html"),
        css=_read_asset("editor.css"),
        js=editor_js(),
        isolate_styles=True,
    )


def action_from_result(result: Any) -> dict | None:
    """The action in a component result (or a ``session_state[key]`` value), else None."""
    value = _field(result, "action") if result is not None else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, Mapping) and value.get("op") in ACTION_OPS:
        return dict(value)
    return None


def editor(
    payload: dict,
    key: str = "editor",
    on_action: Callable[[dict], None] | None = None,
) -> dict | None:
    """Draw the editor; return the action of the gesture that caused this rerun, else None.

    One action per gesture, each fired once::

        {"op": "insert", "slot": "layers[4].body", "index": 2, "type": "Conv2d"}
        {"op": "move", "path": "layers[3]", "slot": "layers[4].body", "index": 0}
        {"op": "remove", "path": "layers[3]"}
        {"op": "duplicate", "path": "layers[3]"}
        {"op": "select", "path": "layers[3]"}          # path None: Escape cleared the selection
        {"op": "wrap", "paths": ["layers[3]", "layers[4]"], "block": "Residual"}
        {"op": "add_branch", "path": "layers[2]"}
        {"op": "fix", "path": "layers[7]", "index": 0}  # index into that row's errors
        {"op": "undo"} / {"op": "redo"}

    They arrive wrapped, each with its sequence number, in a batch of every action the browser
    has not seen confirmed: ``{"op": "batch", "client": "k3j2", "actions": [{..., "seq": 7}]}``.

    Slots: ``layers`` (top level), ``P.layers`` (Sequential), ``P.body`` / ``P.shortcut``
    (Residual), ``P.branches[i]`` (Parallel), ``P.body`` (Repeat).

    ``slot`` and ``index`` always name a gap in the tree *as it is before the edit*: ``index``
    is a position 0..len(slot list) in that list before anything is removed. For a ``move``
    the lead resolves the target slot first, then removes the node; when the node came from
    the same list at a position below ``index``, it then inserts at ``index - 1``. Example:
    moving ``layers[0]`` to the gap between ``layers[1]`` and ``layers[2]`` sends
    ``{"op": "move", "path": "layers[0]", "slot": "layers", "index": 2}`` and yields
    ``[old1, old0, old2, ...]``. The editor never sends a no-op move (index equal to the
    node's position or one past it) nor a move into the node itself or its descendants.

    ``P.branches[N]`` with N equal to the Parallel's current number of branches means a new
    branch (the "+ branch" zone was the drop target); create it, then insert at index 0.
    ``insert`` types may also be the blocks Sequential, Residual, Parallel and Repeat (the
    palette always offers them): create them empty. ``wrap`` paths are neighbours in one
    lane, in order. Delete/Backspace sends ``remove`` for the focused selection's primary
    card; multi-selection (shift/ctrl-click) is local to the browser until a Wrap button.

    ``on_action``, when given, is called with the action from the component's change
    callback, i.e. before the script reruns: edit the design there and the whole page
    (this editor included) draws the new design in that same run, without ``st.rerun()``.
    """
    mount = _component()

    def _changed() -> None:
        if on_action is None:
            return
        import streamlit as st

        action = action_from_result(st.session_state.get(key))
        if action is not None:
            on_action(action)

    result = mount(key=key, data=payload, on_action_change=_changed, width="stretch", height="content")
    return action_from_result(result)
