"""The architecture drawing: golden DOT, rendering with the real binary, escaping, errors, size.

Regenerate the golden files with `NETWRIGHT_UPDATE_GOLDEN=1 pytest tests/test_graph.py`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from designer import analyze, new_design
from designer.graph import (
    GraphvizError,
    GraphvizMissing,
    _quoted,
    graphviz_binary,
    human_count,
    render,
    shape_text,
    to_dot,
)

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden_graph"
TEMPLATES = sorted((ROOT / "assets" / "templates").glob("*.json"))
UPDATE = os.environ.get("NETWRIGHT_UPDATE_GOLDEN") == "1"
SVG = "{http://www.w3.org/2000/svg}"


# --- designs -------------------------------------------------------------------------------------------


def conv(c, k=3, **kw):
    return {"type": "Conv2d", "out_channels": c, "kernel_size": k, **kw}


def lin(n, **kw):
    return {"type": "Linear", "out_features": n, **kw}


def design(layers, shape=(3, 32, 32), dtype="float32", task=None, name="Test"):
    return new_design(name=name, shape=list(shape), dtype=dtype, layers=layers, task=task)


def head(k=10):
    return [{"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"}, lin(k)]


def residuals():
    return design([
        conv(16, padding=1), {"type": "ReLU"},
        {"type": "Residual", "name": "identity skip", "body": [conv(16, padding=1), {"type": "BatchNorm2d"}]},
        {"type": "Residual", "body": [conv(32, stride=2, padding=1), {"type": "ReLU"}],
         "shortcut": [conv(32, 1, stride=2), {"type": "BatchNorm2d"}]},
        *head(),
    ], task={"kind": "classification", "num_classes": 10}, name="Residuals")


def parallels():
    return design([
        conv(8, padding=1),
        {"type": "Parallel", "merge": "concat", "branches": [[conv(4, 1)], [conv(4, 1), conv(6, padding=1)], []]},
        {"type": "Parallel", "merge": "add", "branches": [[], [conv(18, padding=1)]]},
        {"type": "Sequential", "name": "head", "layers": head()},
    ], task={"kind": "classification", "num_classes": 10}, name="Parallels")


def repeats():
    return design([
        conv(8, padding=1),
        {"type": "Repeat", "times": 3, "name": "down", "body": [conv(8, stride=2, padding=1), {"type": "ReLU"}]},
        *head(),
    ], task={"kind": "classification", "num_classes": 10}, name="Repeats")


def invalid():
    return design([
        conv(8), {"type": "BatchNorm1d", "name": "fc"}, {"type": "ReLU"},
        {"type": "Residual", "body": [lin(64)]},
        lin(10),
    ], shape=(1, 28, 28), task={"kind": "classification", "num_classes": 10}, name="Broken")


def residual_mismatch():
    return design([conv(8, padding=1), {"type": "Residual", "body": [conv(16, padding=1)]}, *head()], name="Mismatch")


def sequence_model():
    return design([
        {"type": "Embedding", "num_embeddings": 1000, "embedding_dim": 32},
        {"type": "LSTM", "hidden_size": 32, "bidirectional": True},
        {"type": "MultiheadAttention", "num_heads": 4},
        {"type": "GRU", "hidden_size": 16, "return_sequences": False},
        lin(3),
    ], shape=(20,), dtype="int64", task={"kind": "classification", "num_classes": 3}, name="Sequence")


def transformer(blocks=32):
    block = [
        {"type": "Residual", "body": [{"type": "LayerNorm"}, {"type": "MultiheadAttention", "num_heads": 4}]},
        {"type": "Residual", "body": [{"type": "LayerNorm"}, lin(128), {"type": "GELU"}, lin(64)]},
    ]
    return design([
        {"type": "Embedding", "num_embeddings": 500, "embedding_dim": 64},
        {"type": "PositionalEncoding", "kind": "learned", "max_len": 64},
        {"type": "Repeat", "times": blocks, "name": "encoder", "body": block},
        {"type": "LayerNorm"}, {"type": "SequencePool", "mode": "mean"}, lin(4),
    ], shape=(16,), dtype="int64", task={"kind": "classification", "num_classes": 4}, name=f"Transformer x{blocks}")


INLINE = {
    "residuals": (residuals, {}),
    "parallels": (parallels, {}),
    "repeat_collapsed": (repeats, {}),
    "repeat_expanded": (repeats, {"expand_repeats": True}),
    "invalid": (invalid, {}),
    "residual_mismatch": (residual_mismatch, {}),
    "sequence": (sequence_model, {}),
    "residuals_lr_dark": (residuals, {"direction": "LR", "theme": "dark"}),
}
GOLDEN_TEMPLATES = ("resnet_small", "inception", "transformer_classifier", "lstm_classifier", "unet_small")


# --- helpers -------------------------------------------------------------------------------------------


def need_binary() -> None:
    if graphviz_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("no Graphviz binary in CI: requirements.txt installs graphviz-pure")
        pytest.skip("no Graphviz binary (pip install graphviz-pure)")


def svg_of(dot: str) -> ET.Element:
    need_binary()
    return ET.fromstring(render(dot, "svg"))


def svg_nodes(root: ET.Element) -> dict[str, ET.Element]:
    """Node groups by their title (the DOT node id)."""
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}


def texts(element: ET.Element) -> str:
    return "\n".join("".join(t.itertext()) for t in element.iter(f"{SVG}text"))


def node_ids(dot: str) -> list[str]:
    return re.findall(r"^\s*(\w+) \[label=<", dot, flags=re.M)


def check_golden(name: str, dot: str) -> None:
    path = GOLDEN / f"{name}.gv"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(dot, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path.name}: run with NETWRIGHT_UPDATE_GOLDEN=1 to create it"
    assert dot == path.read_text(encoding="utf-8"), (
        f"DOT differs from {path.name}; if the change is intended, regenerate with NETWRIGHT_UPDATE_GOLDEN=1")


def load_template(stem: str) -> dict:
    return json.loads((ROOT / "assets" / "templates" / f"{stem}.json").read_text(encoding="utf-8"))


# --- golden DOT ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INLINE))
def test_golden_inline(name):
    make, kwargs = INLINE[name]
    check_golden(name, to_dot(make(), **kwargs))


@pytest.mark.parametrize("stem", GOLDEN_TEMPLATES)
def test_golden_templates(stem):
    if not (ROOT / "assets" / "templates" / f"{stem}.json").exists():
        pytest.skip(f"template {stem} not present")
    check_golden(f"template_{stem}", to_dot(load_template(stem)))


def test_deterministic_in_process_and_across_hash_seeds():
    d = parallels()
    first = to_dot(d)
    assert first == to_dot(d) == to_dot(json.loads(json.dumps(d)), analyze(d))
    assert "0x" not in first  # no memory addresses
    code = ("import json, sys; from designer.graph import to_dot; "
            "sys.stdout.write(to_dot(json.loads(sys.stdin.read())))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(d), capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120, check=True).stdout
    assert out == first


# --- what the drawing shows ----------------------------------------------------------------------------


def test_nodes_edges_and_labels():
    dot = to_dot(residuals())
    assert 'Input</FONT><BR/><FONT POINT-SIZE="9" COLOR="#0f172a">3×32×32 · float32' in dot
    assert "10 · classification (10 classes)" in dot
    assert "Conv2d 32 · 3×3 · s2 · p1" in dot
    assert "4.6k params" in dot  # 16*32*9 + 32 = 4640
    assert 'label=" 32×16×16 "' in dot  # shapes on the edges, batch excluded
    # Residual: a cluster with an add node; the identity skip edge goes from the block's input to the add.
    assert "subgraph cluster_layers_2 {" in dot
    assert re.search(r"^\s*layers_1 -> layers_2_add \[.*style=dashed", dot, flags=re.M)
    # a projection shortcut is drawn in its own cluster, feeding the add node
    assert "subgraph cluster_layers_3_shortcut {" in dot
    assert re.search(r"^\s*layers_3_shortcut_1 -> layers_3_add ", dot, flags=re.M)
    # the legend lists only the families used
    legend = dot[dot.index("cluster_legend"):]
    assert "Convolution" in legend and "Dense" in legend and "Recurrent" not in legend and "Attention" not in legend


def test_parallel_fans_out_and_merges():
    dot = to_dot(parallels())
    assert "concat · dim 1" in dot
    for branch in ("layers_1_branches_0_0", "layers_1_branches_1_0"):
        assert re.search(rf"^\s*layers_0 -> {branch} ", dot, flags=re.M)
    # the empty third branch is a skip straight into the concat
    assert re.search(r"^\s*layers_0 -> layers_1_concat \[.*style=dashed", dot, flags=re.M)
    assert re.search(r"^\s*layers_1_concat -> layers_2_add \[.*style=dashed", dot, flags=re.M)
    assert "18×32×32" in dot  # 4 + 6 + 8 channels concatenated


def test_repeat_collapsed_and_expanded():
    collapsed = to_dot(repeats())
    assert "Repeat × 3" in collapsed
    assert [i for i in node_ids(collapsed) if i.startswith("layers_1_body_0")] == ["layers_1_body_0"]
    assert "1.8k params" in collapsed  # title: 3 copies of 584 + ReLU
    assert 'label=" 8×4×4 "' in collapsed  # the edge out of the block carries the last copy's output
    expanded = to_dot(repeats(), expand_repeats=True)
    ids = node_ids(expanded)
    assert len([i for i in ids if i.startswith("layers_1_body_0")]) == 3
    assert {"layers_1_body_0_c1", "layers_1_body_0_c2", "layers_1_body_0_c3"} <= set(ids)
    assert len(ids) == len(set(ids))
    for shape in ("8×16×16", "8×8×8", "8×4×4"):  # each copy's own shape
        assert f'label=" {shape} "' in expanded


def test_expansion_is_capped():
    d = design([lin(8), {"type": "Repeat", "times": 100, "body": [lin(8), {"type": "ReLU"}, lin(8), {"type": "ReLU"},
                                                                    {"type": "Dropout"}]}], shape=(8,))
    dot = to_dot(d, expand_repeats=True)
    assert "collapsed: 100 copies would draw 500 nodes" in dot
    assert len(node_ids(dot)) < 12


def test_big_transformer_stays_small_when_collapsed():
    d = transformer(32)
    dot = to_dot(d)
    assert len(node_ids(dot)) < 30
    assert "Repeat × 32" in dot
    assert len(dot) < 20_000
    root = svg_of(dot)
    assert "Repeat × 32" in texts(root)


def test_sequence_layers():
    dot = to_dot(sequence_model())
    assert "LSTM 32 · bi" in dot and "GRU 16 · last" in dot and "MultiheadAttention 4 heads" in dot
    assert "20 · int64" in dot
    assert 'label=" 20×64 "' in dot and 'label=" 16 "' in dot


def test_human_counts_and_shapes():
    assert [human_count(n) for n in (0, 999, 1000, 1234, 12_345, 123_456, 999_999, 3_400_000, 25_557_032, 6.7e9)] == \
        ["0", "999", "1k", "1.2k", "12.3k", "123k", "1M", "3.4M", "25.6M", "6.7B"]
    assert shape_text((64, 16, 16)) == "64×16×16"
    assert shape_text(None) == "?"


def test_bad_arguments():
    with pytest.raises(ValueError, match="direction"):
        to_dot(repeats(), direction="BT")
    with pytest.raises(ValueError, match="theme"):
        to_dot(repeats(), theme="neon")


# --- errors --------------------------------------------------------------------------------------------


def test_errors_highlighted_and_unreached_greyed():
    d = invalid()
    dot = to_dot(d)
    root = svg_of(dot)
    nodes = svg_nodes(root)
    # every node is drawn, none dropped: 5 layers + the residual's body and add node + input/output/legend
    assert {"layers_0", "layers_1", "layers_2", "layers_3_body_0", "layers_3_add", "layers_4", "input", "output",
            "legend"} <= set(nodes)
    error = nodes["layers_1"]
    assert any(p.get("fill") == "#fca5a5" and p.get("stroke") == "#b91c1c" for p in error.iter(f"{SVG}path"))
    text = texts(error)
    assert "BatchNorm1d expects" in text and "fix: insert Flatten" in text
    tip = next(a for a in error.iter(f"{SVG}a")).get("{http://www.w3.org/1999/xlink}title")
    assert "layers[1]" in tip and "insert Flatten before layers[1]" in tip
    for grey in ("layers_2", "layers_4", "output"):
        assert any(p.get("stroke-dasharray") for p in nodes[grey].iter(f"{SVG}path")), grey
    assert "1 error" in texts(root)


def test_block_error_on_the_merge_node():
    dot = to_dot(residual_mismatch())
    add = next(line for line in dot.splitlines() if line.strip().startswith("layers_1_add ["))
    assert "#fca5a5" in add and "the body gives 16×32×32 but the shortcut gives 8×32×32" in add
    svg_of(dot)


def test_task_and_input_errors():
    d = design([conv(8), {"type": "Flatten"}, lin(5)], task={"kind": "classification", "num_classes": 10})
    dot = to_dot(d)
    output = next(line for line in dot.splitlines() if line.strip().startswith("output ["))
    assert "#fca5a5" in output and "the task has 10 classes" in output
    d["input"]["shape"] = [0, 3]
    dot = to_dot(d)
    assert "#fca5a5" in next(line for line in dot.splitlines() if line.strip().startswith("input ["))
    svg_of(dot)


def test_garbage_still_draws():
    d = design([
        conv("x", "abc", stride=[1, 2, 3]),
        {"type": "Repeat", "times": "many", "body": [{"type": "ReLU"}]},
        "a string", 5, {"type": 'Nope"]; x [label="'}, {"type": "Residual", "body": {"a": 1}},
        {"type": "Parallel", "branches": "x"}, {"no": "type"},
    ])
    d["surprise"] = True
    dot = to_dot(d)
    assert "unknown top-level key" in dot
    root = svg_of(dot)
    assert len(svg_nodes(root)) >= 8
    # even a design that is not an object
    svg_of(to_dot([1, 2]))


def test_deep_nesting_does_not_recurse_forever():
    inner: list = [{"type": "ReLU"}]
    for _ in range(60):
        inner = [{"type": "Sequential", "layers": inner}]
    dot = to_dot(design(inner, shape=(4,)))
    assert "blocks nest more than" in dot
    assert len(node_ids(dot)) < 40


# --- escaping ------------------------------------------------------------------------------------------

HOSTILE = [
    'say "hi"',
    '"]; evil [label="pwned"]; x [label="',
    "line one\nline two",
    "<script>alert(1)</script>",
    "back\\slash\\",
    "ünïcødé 日本 ✓",
    "ctl\x00\x07\x1b\x7f end",
    "{record|field} & <b>&amp;",
    "bidi \u202eevil\u202c zero\u200bwidth",
]


def test_hostile_names_are_escaped():
    layers = [lin(8, name=n) for n in HOSTILE]
    d = design([{"type": "Flatten", "name": HOSTILE[1]}, *layers], shape=(4,), name='"]; evil [label="x"] \\')
    d["layers"].append({"type": '"]; evil2 [shape=box]; y [label="', "name": "<i>x</i>"})
    dot = to_dot(d)
    assert not re.search(r"^\s*(evil|evil2|x|y)\s*\[", dot, flags=re.M)  # no statement was injected
    assert "\x00" not in dot and "\x1b" not in dot and "\u202e" not in dot
    root = svg_of(dot)
    nodes = svg_nodes(root)
    expected = {"input", "output", "legend"} | {f"layers_{i}" for i in range(len(d["layers"]))}
    assert set(nodes) == expected  # no extra nodes
    assert not list(root.iter(f"{SVG}script")) and not list(root.iter("script"))
    shown = texts(root)
    for text in ('say "hi"', '"]; evil [label="pwned"]; x [label="', "<script>alert(1)</script>",
                 "back\\slash\\", "ünïcødé 日本 ✓", "{record|field} & <b>&amp;"):
        assert text in shown, text
    assert "line one␊line two" in shown
    assert "ctl␀␇␛␡ end" in shown
    assert "[U+202E]" in shown and "[U+200B]" in shown
    tips = [a.get("{http://www.w3.org/1999/xlink}title") or "" for a in root.iter(f"{SVG}a")]
    assert any("line one\nline two" in t for t in tips)
    assert any('say "hi"' in t for t in tips)


def test_quoted_strings_never_end_in_a_backslash():
    assert _quoted("a\\") == '"a\\\\ "'
    assert _quoted('x"y\nz') == '"x\\"y\\nz"'


# --- rendering -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_every_template_renders_to_svg(template):
    d = json.loads(template.read_text(encoding="utf-8"))
    a = analyze(d)
    assert a.valid, [str(e) for e in a.errors]
    dot = to_dot(d, a)
    root = svg_of(dot)
    shown = texts(root)
    for row in a.rows:
        if row.family != "block":
            assert row.type in shown, row.path
    assert "Input" in shown and "Output" in shown


def test_png_and_dark_theme():
    need_binary()
    png = render(to_dot(residuals(), theme="dark", direction="LR"), "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000


def test_missing_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("NETWRIGHT_DOT", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert graphviz_binary() is None
    with pytest.raises(GraphvizMissing, match="graphviz-pure") as info:
        render("digraph { a }")
    assert "apt install graphviz" in str(info.value) and "NETWRIGHT_DOT" in str(info.value)
    monkeypatch.setenv("NETWRIGHT_DOT", str(tmp_path / "nothing-here"))
    with pytest.raises(GraphvizMissing, match="NETWRIGHT_DOT is set to"):
        render("digraph { a }")


@pytest.mark.skipif(sys.platform == "win32", reason="shell scripts")
def test_binary_override_failure_and_timeout(monkeypatch, tmp_path):
    fail = tmp_path / "fail-dot"
    fail.write_text("#!/bin/sh\necho 'syntax error in line 1' >&2\nexit 1\n")
    fail.chmod(0o755)
    monkeypatch.setenv("NETWRIGHT_DOT", str(fail))
    assert graphviz_binary() == str(fail)
    with pytest.raises(GraphvizError, match="syntax error in line 1"):
        render("digraph { a }")
    slow = tmp_path / "slow-dot"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    monkeypatch.setenv("NETWRIGHT_DOT", str(slow))
    with pytest.raises(GraphvizError, match="longer than"):
        render("digraph { a }", timeout=0.5)
    with pytest.raises(ValueError, match="format"):
        render("digraph { a }", "gif")


def test_parallel_mul_draws_a_multiply_node():
    d = design([{"type": "Parallel", "merge": "mul", "branches": [[{"type": "Tanh"}], [{"type": "Sigmoid"}]]}],
               shape=(4, 8))
    dot = to_dot(d)
    line = next(line for line in dot.splitlines() if line.strip().startswith("layers_0_mul ["))
    assert "multiply" in line
    svg_of(dot)


def test_every_block_declares_its_drawing_for_each_of_its_slots_and_merge_modes():
    """One declaration per block (designer.blocks) drives the DOT drawing, the browser's lanes and its
    SVG drawing: its lanes are the block's child slots, and each merge mode a user can pick has its look."""
    from designer.blocks import BLOCK_RULES, MERGES
    from designer.registry import get_spec, list_specs

    blocks = [s.type for s in list_specs() if s.is_block]
    assert sorted(BLOCK_RULES) == sorted(blocks)
    for name in blocks:
        drawing = BLOCK_RULES[name].drawing
        assert tuple(drawing.lanes) == get_spec(name).children, name
        assert drawing.layout in ("frame", "fork")
    merge = next(p for p in get_spec("Parallel").params if p.name == "merge")
    assert set(merge.choices) == set(MERGES)


@pytest.mark.parametrize("mode", ["add", "mul", "concat"])
def test_each_merge_mode_draws_its_own_merge_node(mode):
    from designer.blocks import MERGES

    d = new_design(shape=[4, 6, 6], layers=[{"type": "Parallel", "merge": mode, "branches": [
        [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}], []]}])
    dot = to_dot(d)
    assert f"layers_0_{mode} [" in dot
    assert MERGES[mode]["text"].format(dim=1) in dot or mode == "add"
