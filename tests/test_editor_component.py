"""The editor component without a browser: its payload, its assets, and the Python end of the wire."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from components import editor as ed

ROOT = Path(__file__).resolve().parents[1]

DEMO_APP = ROOT / "tests" / "e2e" / "editor_demo_app.py"

DESIGN = {
    "format": "netwright.design",
    "version": 1,
    "input": {"shape": [3, 8, 8], "dtype": "float32"},
    "layers": [
        {"type": "Conv2d", "out_channels": 4, "kernel_size": (3, 3)},
        {"type": "Residual", "body": [{"type": "ReLU"}], "shortcut": []},
        {"type": "Parallel", "branches": [[{"type": "Identity"}], []], "merge": "concat"},
    ],
}


class _Row:
    """A row object, as an analysis might hand over instead of a dict."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


ROWS = {
    "layers[0]": {
        "output_shape": (4, 6, 6),
        "params": 112,
        "status": "ok",
        "label": "Conv2d 4 · 3×3",
        "family": "convolution",
        "errors": [],
    },
    "layers[1]": _Row(output_shape=[4, 6, 6], params=0, status="ok", label="Residual", family="block", errors=()),
    "layers[1].body[0]": {"output_shape": [4, 6, 6], "params": 0, "label": "ReLU", "family": "activation"},
    "layers[2]": {
        "output_shape": None,
        "params": 0,
        "status": "error",
        "label": "Parallel",
        "family": "block",
        "errors": [{"message": "branches disagree", "fix": None}, "plain text error"],
    },
    "layers[2].branches[0][0]": {
        "output_shape": [4, 6, 6],
        "params": 0,
        "status": "unreached",
        "label": "Identity",
        "family": "reshape",
        "errors": [],
    },
}
CATALOGUE = [
    {"type": "Conv2d", "family": "convolution", "help": "2-D convolution"},
    {"type": "ReLU", "family": "activation", "help": "max(0, x)"},
]
FAMILIES = {
    "convolution": ("Convolution", "#dbeafe", "#2563eb"),
    "activation": {"label": "Activation", "fill": "#fce7f3", "accent": "#db2777"},
}


def _payload(selected="layers[1].body[0]"):
    return ed.build_payload(DESIGN, ROWS, DESIGN["input"], (10,), CATALOGUE, FAMILIES, selected)


def test_build_payload_is_json_safe_and_keeps_paths():
    payload = _payload()
    text = json.dumps(payload, allow_nan=False)  # raises on anything non-JSON
    assert json.loads(text) == payload
    assert set(payload) == {"design", "rows", "input", "output_shape", "catalogue", "families", "selected",
                            "wrap", "ack", "history", "summary"}
    assert set(payload["rows"]) == set(ROWS)
    assert payload["selected"] == "layers[1].body[0]"
    assert payload["output_shape"] == [10]
    assert payload["input"] == {"shape": [3, 8, 8], "dtype": "float32"}
    assert payload["design"]["layers"][0]["kernel_size"] == [3, 3]
    assert payload["rows"]["layers[0]"]["output_shape"] == [4, 6, 6]
    assert payload["rows"]["layers[1]"] == {
        "output_shape": [4, 6, 6],
        "params": 0,
        "status": "ok",
        "label": "Residual",
        "family": "block",
        "errors": [],
    }
    # A missing status follows the errors; string errors become {"message", "fix": None}.
    assert payload["rows"]["layers[1].body[0]"]["status"] == "ok"
    assert payload["rows"]["layers[2]"]["errors"] == [
        {"message": "branches disagree", "fix": None, "action": False, "warning": False},
        {"message": "plain text error", "fix": None, "action": False, "warning": False},
    ]
    assert payload["families"]["convolution"] == {"label": "Convolution", "fill": "#dbeafe", "accent": "#2563eb"}
    assert payload["catalogue"][0] == {"type": "Conv2d", "family": "convolution", "help": "2-D convolution", "node": None}


def test_build_payload_is_pure():
    before = json.dumps(DESIGN, sort_keys=True, default=list)
    payload = _payload(selected=None)
    payload["design"]["layers"].append({"type": "ReLU"})
    assert json.dumps(DESIGN, sort_keys=True, default=list) == before
    assert payload["selected"] is None
    assert ed.build_payload({}, {}, {}, None, [], {}, None)["output_shape"] is None


def test_assets_exist_and_hold_the_hooks():
    html = (ed.ASSET_DIR / "editor.html").read_text()
    css = (ed.ASSET_DIR / "editor.css").read_text()
    js = ed.editor_js()
    assert 'class="nw-editor"' in html and 'data-testid="nw-search"' in html
    assert "var(--st-background-color" in css and "var(--st-text-color" in css
    assert js.count("export default function") == 1 and 'setTrigger("action"' in js
    for op in ed.ACTION_OPS:
        assert f'"{op}"' in js, op


def test_action_from_result():
    assert ed.action_from_result({"action": {"op": "remove", "path": "layers[0]"}}) == {
        "op": "remove",
        "path": "layers[0]",
    }
    assert ed.action_from_result({"action": '{"op": "select", "path": null}'}) == {"op": "select", "path": None}
    assert ed.action_from_result({"action": None}) is None
    assert ed.action_from_result({"action": {"op": "explode"}}) is None
    assert ed.action_from_result(None) is None


def _run_demo():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(DEMO_APP), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def test_component_registers_and_page_runs_under_apptest():
    at = _run_demo()
    (element,) = at.get("bidi_component")
    proto = element.proto
    assert proto.component_name == ed.COMPONENT_NAME
    assert "nw-editor" in proto.html_content and "export default" in proto.js_content and proto.css_content
    data = json.loads(proto.json)
    assert data["design"]["name"] == "Demo CNN"
    assert "layers[2].body[0]" in data["rows"]
    assert json.loads(at.code[0].value) == {"n": 0, "action": None}


def test_a_trigger_reaches_the_return_value_and_on_action_once():
    """Send what the browser sends (the trigger list) and watch the page pick it up exactly once."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    at = _run_demo()
    element_id = at.get("bidi_component")[0].proto.id
    states = at._tree.get_widget_states()
    action = {"op": "move", "path": "layers[0]", "slot": "layers[2].body", "index": 0}
    states.widgets.append(
        WidgetState(
            id=f"$$STREAMLIT_INTERNAL_KEY_{element_id}__events",
            json_trigger_value=json.dumps([{"event": "action", "value": action}]),
        )
    )
    at._run(widget_state=states)  # AppTest has no public setter for component triggers
    assert not at.exception, at.exception
    assert json.loads(at.code[0].value) == {"n": 1, "action": action}  # editor() returned it
    assert json.loads(at.code[1].value) == action  # on_action saw it
    at.run()
    assert json.loads(at.code[0].value)["n"] == 1  # a trigger fires once


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_js_module_parses_and_formats(tmp_path):
    module = tmp_path / "editor.mjs"
    module.write_text(ed.editor_js())
    script = (
        f"import('{module.as_uri()}').then(m => console.log(JSON.stringify(["
        "m.formatCount(999), m.formatCount(1234), m.formatCount(3400000), m.formatCount(999950),"
        "m.formatShape([64, 16, 16]), m.formatShape(null), typeof m.default])))"
    )
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(out.stdout) == ["999", "1.2k", "3.4M", "1M", "64×16×16", "—", "function"]


def test_the_browser_reads_the_blocks_as_designer_blocks_declares_them():
    from components.editor import block_declarations, editor_js
    from designer.blocks import BLOCK_RULES

    js = editor_js()
    assert js.startswith("// ---- designer.blocks\n" + block_declarations())
    for name, rule in BLOCK_RULES.items():
        assert json.dumps(rule.drawing.to_json()["lanes"], ensure_ascii=False) in block_declarations(), name
    # no hand-written block list is left in the browser's files
    assert js.count("const BLOCKS") == 1 and '"Residual" ||' not in js and 'type === "Repeat"' not in js
