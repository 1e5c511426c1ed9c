"""A tiny page with the model editor on a fixed design, for the browser tests.

It applies no edits: it only shows the last action the editor sent, as JSON in a code block
(``{"n": <count>, "action": {...}}``), so a test can read what a gesture produced. Run it by
hand with ``streamlit run tests/e2e/editor_demo_app.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from components.editor import build_payload, editor  # noqa: E402

DESIGN = {
    "format": "netwright.design",
    "version": 1,
    "name": "Demo CNN",
    "input": {"shape": [3, 32, 32], "dtype": "float32"},
    "task": {"kind": "classification", "num_classes": 10},
    "layers": [
        {"type": "Conv2d", "name": "stem", "out_channels": 16, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm2d"},
        {
            "type": "Residual",
            "body": [{"type": "Conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}],
            "shortcut": [],
        },
        {
            "type": "Parallel",
            "merge": "concat",
            "dim": 1,
            "branches": [[{"type": "MaxPool2d", "kernel_size": 2}], [{"type": "AvgPool2d", "kernel_size": 2}]],
        },
        {
            "type": "Repeat",
            "times": 2,
            "body": [{"type": "Conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}, {"type": "ReLU"}],
        },
        {"type": "Flatten"},
        {"type": "LSTM", "hidden_size": 64},
        {"type": "Linear", "out_features": 10, "name": "head"},
    ],
}


def _row(shape, params, label, family, status="ok", errors=()):
    return {
        "output_shape": shape,
        "params": params,
        "status": status,
        "label": label,
        "family": family,
        "errors": list(errors),
    }


ROWS = {
    "layers[0]": _row([16, 32, 32], 448, "Conv2d 16 · 3×3 · p1", "convolution"),
    "layers[1]": _row([16, 32, 32], 32, "BatchNorm2d", "normalisation"),
    "layers[2]": _row([16, 32, 32], 2320, "Residual", "block"),
    "layers[2].body[0]": _row([16, 32, 32], 2320, "Conv2d 16 · 3×3 · p1", "convolution"),
    "layers[3]": _row([32, 16, 16], 0, "Parallel · concat", "block"),
    "layers[3].branches[0][0]": _row([16, 16, 16], 0, "MaxPool2d 2", "pooling"),
    "layers[3].branches[1][0]": _row([16, 16, 16], 0, "AvgPool2d 2", "pooling"),
    "layers[4]": _row([32, 16, 16], 18496, "Repeat × 2", "block"),
    "layers[4].body[0]": _row([32, 16, 16], 9248, "Conv2d 32 · 3×3 · p1", "convolution"),
    "layers[4].body[1]": _row([32, 16, 16], 0, "ReLU", "activation"),
    "layers[5]": _row([8192], 0, "Flatten", "reshape"),
    "layers[6]": _row(
        None,
        0,
        "LSTM 64",
        "recurrent",
        "error",
        [
            {
                "message": "LSTM expects (N, L, E); received (N, 8192)",
                "fix": "insert Unflatten(1, (64, 128)) before layers[6]",
            }
        ],
    ),
    "layers[7]": _row(None, 0, "Linear 10", "dense", "unreached"),
}

CATALOGUE = [
    {"type": "Conv1d", "family": "convolution", "help": "1-D convolution over (N, C, L)"},
    {"type": "Conv2d", "family": "convolution", "help": "2-D convolution over (N, C, H, W)"},
    {"type": "ConvTranspose2d", "family": "convolution", "help": "2-D transposed convolution (upsampling)"},
    {"type": "MaxPool2d", "family": "pooling", "help": "Maximum over windows"},
    {"type": "AvgPool2d", "family": "pooling", "help": "Mean over windows"},
    {"type": "AdaptiveAvgPool2d", "family": "pooling", "help": "Mean down to a fixed output size"},
    {"type": "BatchNorm2d", "family": "normalisation", "help": "Normalise each channel over the batch"},
    {"type": "LayerNorm", "family": "normalisation", "help": "Normalise over the last dimension"},
    {"type": "LSTM", "family": "recurrent", "help": "Long short-term memory over (N, L, E)"},
    {"type": "GRU", "family": "recurrent", "help": "Gated recurrent unit over (N, L, E)"},
    {"type": "MultiheadAttention", "family": "attention", "help": "Self-attention over (N, L, E)"},
    {"type": "Linear", "family": "dense", "help": "Fully connected layer on the last dimension"},
    {"type": "ReLU", "family": "activation", "help": "max(0, x)"},
    {"type": "GELU", "family": "activation", "help": "Gaussian error linear unit"},
    {"type": "Sigmoid", "family": "activation", "help": "1 / (1 + exp(-x))"},
    {"type": "Dropout", "family": "regularisation", "help": "Zero random elements while training"},
    {"type": "Flatten", "family": "reshape", "help": "Merge all dimensions after the batch"},
    {"type": "Unflatten", "family": "reshape", "help": "Split one dimension into several"},
    {"type": "Embedding", "family": "embedding", "help": "Token ids to vectors"},
]

FAMILIES = {
    "convolution": {"label": "Convolution", "fill": "#dbeafe", "accent": "#2563eb"},
    "pooling": {"label": "Pooling", "fill": "#e0f2fe", "accent": "#0284c7"},
    "normalisation": {"label": "Normalisation", "fill": "#f3e8ff", "accent": "#9333ea"},
    "recurrent": {"label": "Recurrent", "fill": "#fef3c7", "accent": "#d97706"},
    "attention": {"label": "Attention", "fill": "#fee2e2", "accent": "#dc2626"},
    "dense": {"label": "Dense", "fill": "#dcfce7", "accent": "#16a34a"},
    "activation": {"label": "Activation", "fill": "#fce7f3", "accent": "#db2777"},
    "regularisation": {"label": "Regularisation", "fill": "#f1f5f9", "accent": "#64748b"},
    "reshape": {"label": "Reshape", "fill": "#ecfccb", "accent": "#65a30d"},
    "embedding": {"label": "Embedding", "fill": "#ffedd5", "accent": "#ea580c"},
    "block": {"label": "Blocks", "fill": "#e2e8f0", "accent": "#334155"},
}


def _on_action(action: dict) -> None:
    # The callback path: runs before the script, so the page below sees it in this run. The
    # browser sends batches of every unconfirmed action; confirm them (ack) as the app does,
    # and show the first new one: the gesture (an insert is followed by the select it causes).
    state = st.session_state
    if action.get("op") == "batch":
        seen = state["demo_ack"]["seq"] if state["demo_ack"].get("client") == action.get("client") else 0
        new = [a for a in action.get("actions", []) if a.get("seq", 0) > seen]
        if new:
            state["demo_ack"] = {"client": action["client"], "seq": max(a["seq"] for a in new)}
        new = [{k: v for k, v in a.items() if k != "seq"} for a in new]
    else:
        new = [action]
    for a in new:
        if a.get("op") == "select":
            state["demo_selected"] = a.get("path")
    if new:
        state["demo_callback_action"] = new[0]
        state["demo_n"] += 1
        state["demo_last"] = new[0]


st.set_page_config(page_title="Netwright editor demo", layout="wide")
st.session_state.setdefault("demo_n", 0)
st.session_state.setdefault("demo_selected", None)
st.session_state.setdefault("demo_ack", {"client": None, "seq": 0})

payload = build_payload(DESIGN, ROWS, DESIGN["input"], None, CATALOGUE, FAMILIES, st.session_state["demo_selected"],
                        ack=st.session_state["demo_ack"])
editor(payload, key="editor", on_action=_on_action)

st.caption("Last action")
st.code(
    json.dumps({"n": st.session_state["demo_n"], "action": st.session_state.get("demo_last")}, sort_keys=True),
    language="json",
)
st.caption("Seen by the callback")
st.code(json.dumps(st.session_state.get("demo_callback_action"), sort_keys=True), language="json")
