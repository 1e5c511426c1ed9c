"""The browser's optimistic edits (assets/editor/edits.js) make the same design as the server's
(designer.edits), so a card shown before the server answers is the card the server then sends.
Runs the joined editor module under node."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from components import state as S
from components.editor import editor_js
from components.editor_panel import _catalogue
from designer.edits import apply_action
from designer.templates import load_template

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")

ACTIONS = [
    {"op": "insert", "slot": "layers", "index": 0, "type": "Dropout"},
    {"op": "insert", "slot": "layers[4].body", "index": 1, "type": "Conv2d"},
    {"op": "insert", "slot": "layers[4].shortcut", "index": 0, "type": "Identity"},
    {"op": "insert", "slot": "layers", "index": 2, "type": "Parallel"},
    {"op": "insert", "slot": "layers[2].branches[2]", "index": 0, "type": "ReLU"},
    {"op": "move", "path": "layers[0]", "slot": "layers", "index": 3},
    {"op": "move", "path": "layers[1]", "slot": "layers[5].body", "index": 0},
    {"op": "move", "path": "layers[4].body[0]", "slot": "layers", "index": 0},
    {"op": "remove", "path": "layers[3]"},
    {"op": "duplicate", "path": "layers[3]"},
    {"op": "wrap", "paths": ["layers[1]", "layers[2]"], "block": "Residual"},
    {"op": "wrap", "paths": ["layers[0]"], "block": "Repeat"},
    {"op": "wrap", "paths": ["layers[1].body[0]"], "block": "Parallel"},
    {"op": "wrap", "paths": ["layers[2]", "layers[3]", "layers[4]"], "block": "Sequential"},
    {"op": "add_branch", "path": "layers[1].body[0]"},
]


def _server_steps(design: dict) -> list[dict]:
    out = []
    for action in ACTIONS:
        design = apply_action(design, action)
        out.append(design)
    return out


def test_optimistic_edits_equal_the_servers(tmp_path):
    design = load_template("resnet_small")
    cat, _, wrap = _catalogue()
    templates = {"nodes": {c["type"]: c["node"] for c in cat}, "wrap": wrap}
    module = tmp_path / "editor.mjs"
    module.write_text(editor_js())
    script = f"""
      import('{module.as_uri()}').then(m => {{
        const design = {json.dumps(design)};
        const templates = {json.dumps(templates)};
        const steps = [];
        for (const a of {json.dumps(ACTIONS)}) {{ m.applyLocal(design, a, templates); steps.push(JSON.parse(JSON.stringify(design))); }}
        console.log(JSON.stringify(steps));
      }});"""
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60, check=True)
    browser = json.loads(out.stdout)
    server = _server_steps(design)
    for i, (b, s) in enumerate(zip(browser, server, strict=True)):
        assert S.design_key(b) == S.design_key(s), f"after {ACTIONS[i]}"
