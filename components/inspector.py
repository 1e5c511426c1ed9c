"""The inspector: a form generated from the selected layer's ParamSpecs, and the input/task settings.

A value the spec refuses is not applied: the message is shown and the last good value stays.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components import state as S
from components.stats_panel import render_layer_stats
from components.text import md_text
from designer.design import get_at
from designer.edits import EditError, apply_action, set_input, set_task, unset_param
from designer.params import ParamSpec
from designer.registry import get_spec


def parse_text(param: ParamSpec, text: str) -> Any:
    """Text typed for a size/ints/nullable parameter -> its value. Raises EditError with the reason."""
    raw = text.strip()
    if param.nullable and raw.lower() in ("", "none", "null", "auto"):
        return None
    if param.kind == "size" and raw in param.strings:
        return raw
    if param.kind in ("size", "ints"):
        listed = raw.startswith("[") or raw.rstrip("]").endswith(",")  # "[20]" or "20,": a one-entry list
        body = raw.strip("[]")
        parts = [p for p in body.replace("×", ",").replace("x", ",").replace(" ", ",").split(",") if p]
        empty = ("none", "null", "-", "_")  # an entry kept as it is (AdaptiveAvgPool2d [none, 7])
        try:
            numbers = [None if param.null_items and p.lower() in empty else int(p) for p in parts]
        except ValueError:
            words = " or none for an entry kept as it is" if param.null_items else ""
            raise EditError(f"{param.name}: type whole numbers separated by commas{words}, got {text!r}") from None
        if not numbers:
            raise EditError(f"{param.name}: give a value")
        if param.kind == "size" and len(numbers) == 1 and not (listed and 1 in param.lengths) and numbers[0] is not None:
            return numbers[0]
        return numbers
    if param.kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise EditError(f"{param.name}: type a number, got {text!r}") from None
    if param.kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise EditError(f"{param.name}: type a whole number, got {text!r}") from None
    return raw


def value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        text = ", ".join("none" if v is None else str(v) for v in value)
        return f"[{text}]" if len(value) == 1 else text
    return str(value)


def _apply(path: str, key: str, value: Any) -> None:
    state = st.session_state
    try:
        # through apply_action: it also refuses a value that takes the design past its limits (Repeat × 1000 in a Repeat)
        S.set_design(state, apply_action(state[S.DESIGN], {"op": "set", "path": path, "key": key, "value": value}))
    except EditError as exc:
        S.flash(state, "error", md_text(f"{path}.{key}: {exc} — kept the last good value"))
        state[S.REVISION] += 1  # re-key the widgets so they show the kept value


def _on_change(path: str, param: ParamSpec, widget_key: str) -> None:
    if not S.is_current_widget(st.session_state, widget_key):
        return
    raw = st.session_state[widget_key]
    if param.kind in ("size", "ints") or (param.nullable and param.kind in ("int", "float")):
        try:
            value = parse_text(param, raw)
        except EditError as exc:
            S.flash(st.session_state, "error", md_text(f"{exc} — kept the last good value"))
            st.session_state[S.REVISION] += 1
            return
    else:
        value = raw
    if param.kind == "int" and isinstance(value, float):
        value = int(value)
    _apply(path, param.name, value)


def _on_name(path: str, widget_key: str) -> None:
    if not S.is_current_widget(st.session_state, widget_key):
        return
    _apply(path, "name", st.session_state[widget_key])


def _reset(path: str, key: str) -> None:
    S.set_design(st.session_state, unset_param(st.session_state[S.DESIGN], path, key))


def tie_choices(analysis, path: str) -> list[str]:
    """The Embeddings placed before `path`: what a layer may tie its weight to."""
    out = []
    for row in analysis.rows:  # in design order
        if row.path == path:
            break
        if row.type == "Embedding":
            out.append(row.path)
    return out


def tie_widget(path: str, param: ParamSpec, value: Any, revision: int, analysis) -> None:
    """A layer's weight tying: none, or one of the Embeddings before it (a typed path is kept if it is another)."""
    key = f"insp:{revision}:{path}:{param.name}"
    options = [OWN_WEIGHT, *tie_choices(analysis, path)]
    if value is not None and value not in options:
        options.append(value)
    st.selectbox(param.name, options, index=options.index(value if value is not None else OWN_WEIGHT), key=key,
                 help=f"{param.help} Only Embeddings before this layer can be chosen.",
                 on_change=_on_tie, args=(path, param.name, key))


OWN_WEIGHT = "none (own weight)"


def _on_tie(path: str, key: str, widget_key: str) -> None:
    if not S.is_current_widget(st.session_state, widget_key):
        return
    chosen = st.session_state[widget_key]
    _apply(path, key, None if chosen == OWN_WEIGHT else chosen)


def param_widget(path: str, param: ParamSpec, value: Any, revision: int) -> None:
    """The right widget for a parameter's kind, with its bounds, default and help."""
    key = f"insp:{revision}:{path}:{param.name}"
    label = param.name + (" *" if param.required else "")
    helptext = f"{param.help} Default: {param.default!r}."
    args = dict(key=key, help=helptext, on_change=_on_change, args=(path, param, key))
    if param.kind == "bool" and not param.nullable:
        st.toggle(label, value=bool(value), **args)
    elif param.kind == "choice":
        options = list(param.choices)
        st.selectbox(label, options, index=options.index(value) if value in options else 0, **args)
    elif param.kind == "int" and not param.nullable:
        st.number_input(label, value=int(value), step=1, min_value=int(param.min) if param.min is not None else None,
                        max_value=int(param.max) if param.max is not None else None, **args)
    elif param.kind == "float" and not param.nullable:
        st.number_input(label, value=float(value), min_value=float(param.min) if param.min is not None else None,
                        max_value=float(param.max) if param.max is not None else None, format="%g", **args)
    elif param.kind == "bool":
        options = [None, True, False]
        st.selectbox(label, options, index=options.index(value), format_func=lambda v: "default" if v is None else str(v), **args)
    else:
        hint = "e.g. 3 or 3, 5" if param.kind == "size" else ("e.g. 0, 2, 1" if param.kind == "ints" else "")
        if param.nullable:
            hint = (hint + "; " if hint else "") + "empty for none"
        st.text_input(label, value=value_text(value), placeholder=hint, **args)


def render_inspector() -> None:
    """The selected node's form, or a hint when nothing is selected."""
    state = st.session_state
    path = state.get(S.SELECTED)
    design = state[S.DESIGN]
    if not path:
        st.caption("Select a layer to edit it. Drag layers from the palette into the model.")
        return
    try:
        node = get_at(design, path)
    except (KeyError, IndexError, TypeError, ValueError):
        state[S.SELECTED] = None
        return
    spec = get_spec(node.get("type", "")) if isinstance(node, dict) else None
    if spec is None:
        st.warning(f"{path}: unknown layer type")
        return
    analysis = S.analysis_of(design)
    row = analysis.row(path)
    st.markdown(f"**{spec.type}** · `{path}`")
    st.caption(spec.help)
    revision = state[S.REVISION]
    name_key = f"insp:{revision}:{path}:__name"
    st.text_input("name", value=node.get("name", ""), key=name_key, on_change=_on_name, args=(path, name_key),
                  help="Free text shown in the UI; the exported code derives a safe attribute name from it.")
    values = spec.values(node)
    for param in spec.params:
        if not param.applies(values):
            continue  # e.g. Parallel's dim, which only a concat uses
        if param.name == spec.tie:
            tie_widget(path, param, values[param.name], revision, analysis)
            continue
        param_widget(path, param, values[param.name], revision)
    render_layer_stats(path)
    if row is not None:
        for issue in row.errors:
            st.error(md_text(issue.message) + (f"\n\nFix: {md_text(issue.fix)}" if issue.fix else ""))
    given = [k for k in node if k not in ("type", "name", *spec.children) and spec.param(k) and not spec.param(k).required]
    if given:
        st.button("Reset to defaults", key=f"insp:{revision}:{path}:reset",
                  on_click=lambda: [_reset(path, k) for k in given])


def _on_input(widget_shape: str, widget_dtype: str) -> None:
    state = st.session_state
    if not S.is_current_widget(state, widget_shape):
        return
    text = state[widget_shape]
    try:
        shape = [int(p) for p in text.replace("×", ",").replace("x", ",").replace(" ", ",").split(",") if p]
        S.set_design(state, set_input(state[S.DESIGN], shape, state[widget_dtype]))
    except (ValueError, EditError) as exc:
        S.flash(state, "error", md_text(f"input: {exc} — kept the last good value"))
        state[S.REVISION] += 1


def _on_task(widget_kind: str, widget_classes: str) -> None:
    state = st.session_state
    if not S.is_current_widget(state, widget_kind):
        return
    kind = state[widget_kind]
    try:
        design = set_task(state[S.DESIGN], None if kind == "none" else kind, int(state.get(widget_classes) or 10))
        S.set_design(state, design)
    except EditError as exc:
        S.flash(state, "error", md_text(f"task: {exc}"))
        state[S.REVISION] += 1


def render_input_settings() -> None:
    """Input shape and dtype; task and its number of classes (one column: the side column is narrow)."""
    state = st.session_state
    design, revision = state[S.DESIGN], state[S.REVISION]
    inp = design.get("input", {})
    shape_key, dtype_key = f"in:{revision}:shape", f"in:{revision}:dtype"
    st.text_input("Input shape (no batch)", value=value_text(inp.get("shape", [])), key=shape_key,
                  on_change=_on_input, args=(shape_key, dtype_key), help="e.g. 3, 32, 32 for colour images; 32 for token ids")
    dtypes = ["float32", "int64"]
    st.selectbox("dtype", dtypes, index=dtypes.index(inp.get("dtype", "float32")) if inp.get("dtype", "float32") in dtypes else 0,
                 key=dtype_key, on_change=_on_input, args=(shape_key, dtype_key))
    task = design.get("task") or {}
    kinds = ["classification", "regression", "none"]
    kind_key, classes_key = f"task:{revision}:kind", f"task:{revision}:classes"
    st.selectbox("Task", kinds, index=kinds.index(task.get("kind", "none")), key=kind_key,
                 on_change=_on_task, args=(kind_key, classes_key))
    if task.get("kind") == "classification":
        st.number_input("classes", min_value=2, max_value=100000, step=1, value=int(task.get("num_classes", 10)),
                        key=classes_key, on_change=_on_task, args=(kind_key, classes_key))
