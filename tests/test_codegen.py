"""Code export: model.py is exactly the app's network, safe against hostile names, ruff-clean;
train.py runs standalone and under torchrun; golden files show every change to the text.

Golden files: tests/golden/<template>/model.py; regenerate with NETWRIGHT_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import ast
import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from designer import analyze, build_model, load_design, new_design
from designer.build import BuildError
from designer.codegen import (
    EXPORT_FILES,
    display_text,
    export_files,
    export_zip,
    generate_model_py,
    generate_train_py,
    write_export,
)
from designer.design import parse_design

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = {p.stem: p for p in sorted((ROOT / "assets" / "templates").glob("*.json"))}
GOLDEN = Path(__file__).with_name("golden")
GOLDEN_TEMPLATES = ("lenet5", "resnet_small", "transformer_classifier", "crnn", "gpt_decoder", "vit_small",
                    "mobilenetv2_cifar", "efficientnet_cifar", "llama_decoder", "wavenet_signals")
BIN = Path(sys.executable).parent
RUFF = shutil.which("ruff", path=str(BIN)) or shutil.which("ruff")
TORCHRUN = shutil.which("torchrun", path=str(BIN)) or shutil.which("torchrun")

C, S = "float32", "int64"
TRAIN_IMPORTS = {"argparse", "csv", "gc", "json", "math", "os", "sys", "time", "Path", "torch", "torch.distributed",
                 "torch.distributed.nn", "nn",
                 "DistributedDataParallel", "DataLoader", "Dataset", "DistributedSampler", "TensorDataset",
                 "random_split", "load_file", "save_file", "Model", "numpy",
                 "annotations", "Any"}  # the last two: the per-layer statistics collector train.py carries


def conv(out, k=3, **kw):
    return {"type": "Conv2d", "out_channels": out, "kernel_size": k, **kw}


# Designs written here cover every block and every designer.modules class, whatever the templates hold.
INLINE = {
    "blocks": new_design("Every block", [3, 16, 16], task={"kind": "classification", "num_classes": 5}, layers=[
        conv(8, padding=1, bias=False), {"type": "BatchNorm2d"}, {"type": "ReLU"},
        {"type": "Residual", "body": [conv(8, padding=1), {"type": "BatchNorm2d"}]},
        {"type": "Residual", "body": [conv(12, stride=2, padding=1), {"type": "ReLU"}],
         "shortcut": [conv(12, 1, stride=2), {"type": "BatchNorm2d", "momentum": None}]},
        {"type": "Parallel", "branches": [[], [conv(4, padding="same"), {"type": "GELU"}]]},
        {"type": "Parallel", "merge": "add", "branches": [[conv(6, 1)], [conv(6, [3, 1], padding=[1, 0])]]},
        {"type": "Repeat", "times": 3, "body": [conv(10, padding=1), {"type": "GroupNorm", "num_groups": 2},
                                                {"type": "LeakyReLU", "negative_slope": 0.2}]},
        {"type": "Sequential", "layers": [{"type": "MaxPool2d", "kernel_size": 2}, {"type": "Dropout2d", "p": 0.1}]},
        {"type": "Upsample", "scale_factor": 2.0, "mode": "bilinear", "align_corners": False},
        {"type": "AvgPool2d", "kernel_size": 2, "stride": 2},
        {"type": "AdaptiveAvgPool2d", "output_size": [2, 2]},
        {"type": "Flatten"},
        {"type": "Repeat", "times": 2, "body": [{"type": "Linear", "out_features": 16}, {"type": "SiLU"}]},
        {"type": "Linear", "out_features": 5},
    ]),
    "sequences": new_design("Sequence helpers", [12, 8], task={"kind": "regression"}, layers=[
        {"type": "PositionalEncoding", "kind": "learned", "max_len": 16},
        {"type": "MultiheadAttention", "num_heads": 2},
        {"type": "LayerNorm"},
        {"type": "LSTM", "hidden_size": 6, "num_layers": 2, "dropout": 0.1, "bidirectional": True},
        {"type": "GRU", "hidden_size": 8},
        {"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 16, "activation": "gelu",
         "norm_first": True},
        {"type": "Permute", "dims": [0, 2, 1]},
        {"type": "Conv1d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "BatchNorm1d"},
        {"type": "Permute", "dims": [0, 2, 1]},
        {"type": "RNN", "hidden_size": 5, "nonlinearity": "relu"},
        {"type": "SequencePool", "mode": "max"},
        {"type": "Linear", "out_features": 3},
    ]),
    "tokens": new_design("Tokens", [10], S, layers=[
        {"type": "Embedding", "num_embeddings": 50, "embedding_dim": 8, "padding_idx": 0},
        {"type": "PositionalEncoding"},
        {"type": "Reshape", "shape": [80]},
        {"type": "Unflatten", "dim": 1, "unflattened_size": [10, 8]},
        {"type": "LSTM", "hidden_size": 4, "return_sequences": False},
        {"type": "Softmax", "dim": -1},
    ]),
    "modern": new_design("Today's pieces", [9], S, layers=[
        {"type": "Embedding", "num_embeddings": 40, "embedding_dim": 16},
        {"type": "ClassToken"},
        {"type": "RMSNorm", "eps": 1e-6},
        {"type": "Attention", "num_heads": 4, "num_kv_heads": 2, "causal": True, "rotary": True},
        {"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 16, "dropout": 0.0, "causal": True,
         "activation": "gelu_tanh", "norm_first": True},
        {"type": "MultiheadAttention", "num_heads": 2, "causal": True},
        {"type": "Parallel", "merge": "mul", "branches": [[{"type": "Linear", "out_features": 12}, {"type": "SiLU"}],
                                                          [{"type": "Linear", "out_features": 12}]]},
        {"type": "LSTM", "hidden_size": 5, "bidirectional": True, "return_sequences": False},
        {"type": "Linear", "out_features": 3},
    ]),
}
DESIGNS = {**{k: load_design(p) for k, p in TEMPLATES.items()}, **INLINE}

HOSTILE = [
    '"""', "'''", 'a"""; import os; """', "x\nimport os", "\r\nimport os", "line\u2028import os",
    "para\u2029graph", "back\\slash\\", "\\N{", "end quote\"", "tab\there", "nul\x00byte", "bidi\u202eevil",
    "emoji 🚀🧠👩‍👩‍👧", "class", "def", "self", "forward", "super", "import", "__init__", "x", "nn", "torch",
    "Model", "lone \udc80 surrogate", "  ", "", "# fmt: off", "\x0cform", "é" * 100, "日本語の層",
]


# --- helpers ---------------------------------------------------------------------------------------


def exec_model(code: str) -> type:
    """The Model class of a model.py text, executed in a fresh namespace."""
    namespace: dict = {"__name__": "exported_model"}
    exec(compile(code, "model.py", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["Model"]


def sample_input(design: dict, batch: int = 2) -> torch.Tensor:
    shape = (batch, *design["input"]["shape"])
    if design["input"].get("dtype") == S:
        return torch.randint(0, vocabulary(design), shape)
    return torch.randn(shape)


def vocabulary(design: dict) -> int:
    from designer.codegen import _vocabulary

    return _vocabulary(analyze(design))


def assert_same_network(design: dict) -> str:
    """model.py gives the app's network: parameter count, state_dict keys and shapes, outputs."""
    analysis = analyze(design)
    assert analysis.valid, analysis.errors
    code = generate_model_py(design, analysis)
    torch.manual_seed(0)
    app = build_model(design, analysis).eval()
    exported = exec_model(code)().eval()
    assert sum(p.numel() for p in exported.parameters()) == analysis.params
    assert [(k, tuple(v.shape)) for k, v in exported.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in app.state_dict().items()
    ]
    exported.load_state_dict(app.state_dict())
    x = sample_input(design)
    with torch.no_grad():
        expected, got = app(x), exported(x)
    assert got.shape == expected.shape == (x.shape[0], *analysis.output_shape)
    assert torch.allclose(got, expected, atol=1e-6, rtol=1e-5)
    return code


def run(cmd: list[str], cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", **env}
    environment.pop("PYTHONPATH", None)  # standalone: nothing from the repository
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment)


# --- random valid designs ------------------------------------------------------------------------


class Picker:
    """Choices for `random_design`, from hypothesis or from a seeded random.Random."""

    def __init__(self, data=None, rng: random.Random | None = None):
        self.data, self.rng = data, rng

    def choice(self, options):
        options = list(options)
        return self.data.draw(st.sampled_from(options)) if self.data else self.rng.choice(options)

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi)) if self.data else self.rng.randint(lo, hi)

    def name(self):
        if self.data:
            return self.data.draw(st.one_of(st.none(), st.sampled_from(HOSTILE), st.text(max_size=12)))
        return self.rng.choice([None, None, *HOSTILE])


def _options(shape: tuple, p: Picker) -> list:
    """Nodes that fit an input of `shape` (batch excluded), as thunks (so only the chosen one draws)."""
    rank = len(shape)
    c = shape[0]
    if rank == 3:
        h = min(shape[1:])
        opts = [
            lambda: conv(p.int(1, 6), p.choice([1, 3]), padding=p.choice([0, "same"]) if h >= 3 else "same"),
            lambda: conv(p.int(1, 6), 3, stride=2, padding=1),
            lambda: {"type": "BatchNorm2d"},
            lambda: {"type": p.choice(["ReLU", "GELU", "Tanh", "Identity", "Dropout2d"])},
            lambda: {"type": "GroupNorm", "num_groups": 1},
            lambda: {"type": "Residual", "body": [conv(c, 3, padding=1), {"type": "BatchNorm2d"}]},
            lambda: {"type": "Residual", "body": [conv(c + 2, 3, stride=2, padding=1)],
                     "shortcut": [conv(c + 2, 1, stride=2)]},
            lambda: {"type": "Parallel", "branches": [[], [conv(p.int(1, 4), 3, padding=1)]]},
            lambda: {"type": "Repeat", "times": p.int(1, 3), "body": [conv(p.int(1, 5), 3, padding=1), {"type": "ReLU"}]},
            lambda: {"type": "Flatten"},
            lambda: {"type": "AdaptiveAvgPool2d", "output_size": 1},
            lambda: {"type": p.choice(["ReLU6", "Hardsigmoid", "Hardtanh", "PReLU", "Softplus"])},
            lambda: {"type": "ZeroPad2d", "padding": p.choice([1, [1, 0, 0, 1]])},
            lambda: {"type": "ConstantPad2d", "padding": 1, "value": p.choice([0.0, -1.0])},
            lambda: {"type": "Parallel", "merge": "mul", "branches": [[], [
                {"type": "AdaptiveAvgPool2d", "output_size": 1}, conv(c, 1), {"type": "Sigmoid"}]]},
            lambda: {"type": "Linear", "out_features": p.int(1, 4)},
        ]
        if c % 4 == 0:
            opts.append(lambda: {"type": "PixelShuffle", "upscale_factor": 2})
        if h >= 2:
            opts.append(lambda: {"type": p.choice(["MaxPool2d", "AvgPool2d"]), "kernel_size": 2})
        if h <= 8:
            opts.append(lambda: {"type": "Upsample", "scale_factor": 2.0})
        return opts
    if rank == 2:
        f = shape[1]
        return [
            lambda: {"type": "Linear", "out_features": p.int(1, 8)},
            lambda: {"type": p.choice(["LSTM", "GRU", "RNN"]), "hidden_size": p.int(1, 6),
                     "bidirectional": p.choice([False, True]), "return_sequences": p.choice([True, True, False])},
            lambda: {"type": "MultiheadAttention", "num_heads": 1, "bias": p.choice([True, False])},
            lambda: {"type": "TransformerEncoderLayer", "nhead": 1, "dim_feedforward": p.int(1, 8), "dropout": 0.0},
            lambda: {"type": "LayerNorm"},
            lambda: {"type": "PositionalEncoding", "kind": p.choice(["sinusoidal", "learned"]), "max_len": 64},
            lambda: {"type": "Permute", "dims": [0, 2, 1]},
            lambda: {"type": "Conv1d", "out_channels": p.int(1, 4), "kernel_size": 1},
            lambda: {"type": "SequencePool", "mode": p.choice(["mean", "max", "first", "last"])},
            lambda: {"type": "Residual", "body": [{"type": "Linear", "out_features": f}, {"type": "ReLU"}]},
            lambda: {"type": "Flatten"},
            lambda: {"type": "Attention", "num_heads": 1, "causal": p.choice([True, False]),
                     "rotary": f % 2 == 0 and p.choice([True, False]), "bias": p.choice([True, False])},
            lambda: {"type": "MultiheadAttention", "num_heads": 1, "causal": True},
            lambda: {"type": "TransformerEncoderLayer", "nhead": 1, "dim_feedforward": 4, "dropout": 0.0,
                     "causal": p.choice([True, False]), "activation": p.choice(["relu", "gelu_tanh"])},
            lambda: {"type": "ClassToken"},
            lambda: {"type": "RMSNorm", "elementwise_affine": p.choice([True, False])},
            lambda: {"type": "ZeroPad1d", "padding": [p.int(0, 2), 0]},
            lambda: {"type": "ConstantPad1d", "padding": p.int(0, 2), "value": 0.5},
            lambda: {"type": "Parallel", "merge": "mul", "branches": [[{"type": "Linear", "out_features": 4}, {"type": "SiLU"}],
                                                                      [{"type": "Linear", "out_features": 4}]]},
            lambda: {"type": "LogSoftmax"},
        ]
    return [
        lambda: {"type": "Linear", "out_features": p.int(1, 12), "bias": p.choice([True, False])},
        lambda: {"type": p.choice(["ReLU", "GELU", "Tanh", "Sigmoid", "Mish", "Hardswish", "ELU"])},
        lambda: {"type": "Dropout", "p": p.choice([0.0, 0.5])},
        lambda: {"type": "BatchNorm1d", "affine": p.choice([True, False])},
        lambda: {"type": "LayerNorm", "elementwise_affine": p.choice([True, False])},
        lambda: {"type": "Residual", "body": [{"type": "Linear", "out_features": c}]},
        lambda: {"type": "Parallel", "merge": "add", "branches": [[{"type": "Linear", "out_features": 3}],
                                                                  [{"type": "Linear", "out_features": 3}]]},
        lambda: {"type": "Parallel", "branches": [[], [{"type": "Linear", "out_features": p.int(1, 4)}]]},
        lambda: {"type": "Repeat", "times": p.int(1, 4), "body": [{"type": "Linear", "out_features": p.int(1, 6)},
                                                                   {"type": "ReLU"}]},
        lambda: {"type": "Sequential", "layers": [{"type": "Linear", "out_features": 4}, {"type": "Softmax", "dim": -1}]},
        lambda: {"type": "Unflatten", "dim": 1, "unflattened_size": [c, 1]},
        lambda: {"type": "GLU"} if c % 2 == 0 else {"type": "PReLU"},
        lambda: {"type": "Parallel", "merge": "mul", "branches": [[{"type": "Sigmoid"}], []]},
    ]


WRAPPERS = [
    lambda node, p: {"type": "Sequential", "layers": [node]},
    lambda node, p: {"type": "Parallel", "branches": [[node]]},
    lambda node, p: {"type": "Parallel", "branches": [[node], [json.loads(json.dumps(node))]]},
    lambda node, p: {"type": "Repeat", "times": p.int(1, 3), "body": [node]},
    lambda node, p: {"type": "Residual", "body": [node]},
]


def random_design(p: Picker) -> dict:
    """A valid design of up to 6 layers (each step fits the shape the previous ones give)."""
    kind = p.choice(["image", "sequence", "vector", "tokens"])
    shape, dtype = {"image": [p.int(1, 3), 8, 8], "sequence": [p.int(1, 6), p.int(1, 6)],
                    "vector": [p.int(1, 10)], "tokens": [p.int(1, 6)]}[kind], C
    layers: list = []
    if kind == "tokens":
        dtype = S
        layers.append({"type": "Embedding", "num_embeddings": p.int(2, 20), "embedding_dim": p.int(1, 6)})
    design = new_design(p.name() or "random", shape, dtype, layers=layers)
    if kind == "tokens" and p.choice([False, True]):
        emb = layers[0]
        design["layers"].append({"type": "Linear", "out_features": emb["num_embeddings"], "bias": p.choice([True, False]),
                                 "tie_weights": "layers[0]"})
    for _ in range(p.int(1, 6)):
        out = analyze(design).output_shape
        if out is None or len(out) > 3 or any(s > 64 for s in out):
            break
        node = p.choice(_options(tuple(out), p))()
        wrapped = node
        for _ in range(p.int(0, 3)):  # nest it in blocks
            wrapped = p.choice(WRAPPERS)(wrapped, p)
        name = p.name()
        for candidate_node in (wrapped, node):  # the nested one where valid, else the bare node
            if name is not None:
                candidate_node["name"] = name
            candidate = {**design, "layers": [*design["layers"], candidate_node]}
            if analyze(candidate).valid:
                design = candidate
                break
    return design


# --- model.py: exactly the app's network ------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(DESIGNS))
def test_model_py_is_the_app_network(key):
    assert_same_network(DESIGNS[key])


def _catalogue_cases():
    from tests.test_catalogue import CASES

    for type_name, rows in CASES.items():
        for k, (shape, dtype, params) in enumerate(rows):
            yield pytest.param(new_design(shape=shape, dtype=dtype, layers=[{"type": type_name, **params}]),
                               id=f"{type_name}-{k}")


@pytest.mark.parametrize("design", list(_catalogue_cases()))
def test_every_catalogue_case_exports_exactly(design):
    """Every type, with every setting its catalogue rows try, exports as the live module it builds."""
    assert_same_network(design)


def test_templates_exist_and_are_covered():
    assert {"lenet5", "resnet_small", "transformer_classifier"} <= set(TEMPLATES)


def test_every_designer_module_class_is_exercised():
    from designer.codegen import _module_classes

    used = set()
    for design in INLINE.values():
        code = generate_model_py(design)
        used |= {n.name for n in ast.parse(code).body if isinstance(n, ast.ClassDef)}
    assert set(_module_classes()) <= used


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_random_designs_export_exactly(data):
    assert_same_network(random_design(Picker(data=data)))


def test_weights_trained_in_the_app_load(tmp_path):
    from safetensors.torch import load_file

    from designer.training import save_checkpoint

    design = DESIGNS["resnet_small"]
    app = build_model(design)
    for p in app.parameters():  # stands in for training
        p.data.normal_()
    path = save_checkpoint(app, tmp_path / "model.safetensors")
    model = exec_model(generate_model_py(design))()
    model.load_state_dict(load_file(str(path)))
    x = sample_input(design)
    assert torch.equal(model.eval()(x), app.eval()(x))


def test_model_py_reads_like_hand_written_code():
    code = generate_model_py(DESIGNS["blocks"])
    assert "class Model(nn.Module):" in code and "def forward(self, x):  # x: (N, 3, 16, 16)" in code
    assert "self.conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False)" in code
    assert "x = self.res1(x)  # (N, 8, 16, 16)" in code
    assert "class Residual(nn.Module):" in code and "class Parallel(nn.Module):" in code
    assert "class SequencePool" not in code  # only the classes the design uses
    assert "*(" in code and "for _ in range(2)" in code  # identical Repeat copies as a loop
    model = code[code.index("class Model"):]
    assert 'merge="add"' in model and "merge=" not in model.replace('merge="add"', "")  # defaults left out
    assert "dim=" not in model and "momentum=None" in model and "GroupNorm(2, 10)" in model
    header = ast.get_docstring(ast.parse(code))
    assert header.startswith("Every block: a network generated by Netwright.")
    assert f"Parameters: {analyze(DESIGNS['blocks']).params:,}" in header
    assert "Input: (N, 3, 16, 16) float32" in header and "Output: (N, 5)" in header
    imports = [n for n in ast.parse(code).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert {(getattr(n, "module", None), a.name) for n in imports for a in n.names} <= {
        (None, "math"), (None, "torch"), ("torch", "nn")}
    seq = generate_model_py(DESIGNS["sequences"])
    assert "RecurrentOutput(nn.GRU(12, 8, batch_first=True))" in seq
    assert "SelfAttention(nn.MultiheadAttention(8, 2, batch_first=True))" in seq
    assert 'activation="gelu"' in seq and "import math" in seq
    tokens = generate_model_py(DESIGNS["tokens"])
    assert "RecurrentOutput(\n            nn.LSTM(8, 4, batch_first=True), return_sequences=False\n        )" in tokens
    assert "Input: (N, 10) token ids (int64)" in tokens


def test_designer_layers_take_their_main_argument_positionally():
    design = new_design("Shapes", [4, 6], layers=[{"type": "Permute", "dims": [0, 2, 1]},
                                                   {"type": "Reshape", "shape": [2, -1]}])
    code = assert_same_network(design)
    assert "Permute((0, 2, 1))" in code and "Reshape((2, -1))" in code


def test_repeat_first_copy_apart_when_its_sizes_differ():
    design = new_design("r", [8], layers=[
        {"type": "Repeat", "times": 4, "body": [{"type": "Linear", "out_features": 5}, {"type": "ReLU"}]}])
    code = assert_same_network(design)
    assert "nn.Sequential(nn.Linear(8, 5), nn.ReLU())," in code
    assert "*(nn.Sequential(nn.Linear(5, 5), nn.ReLU()) for _ in range(3))" in code


def test_huge_repeat_is_one_loop():
    design = new_design("r", [4], layers=[
        {"type": "Repeat", "times": 1000, "body": [{"type": "Linear", "out_features": 4}]}])
    code = generate_model_py(design)
    assert "for _ in range(1000)" in code and code.count("nn.Linear") == 1


def test_invalid_design_raises_build_error():
    bad = new_design("bad", [3, 8, 8], layers=[{"type": "Linear", "out_features": 2}, {"type": "LSTM"}])
    for generate in (generate_model_py, generate_train_py, export_files, export_zip):
        with pytest.raises(BuildError):
            generate(bad)


def test_empty_design_is_the_identity():
    design = new_design("empty", [5])
    code = assert_same_network(design)
    assert "return x" in code


# --- user text never becomes code ----------------------------------------------------------------------


def _hostile_design(name: str) -> dict:
    layers = [{"type": "Linear", "out_features": 4, "name": n} for n in HOSTILE]
    layers.append({"type": "ReLU", "name": name})
    layers.append({"type": "Residual", "name": name, "body": [{"type": "Linear", "out_features": 4, "name": name}]})
    return new_design(name, [4], task={"kind": "regression"}, layers=layers)


def _assert_only_expected_code(code: str) -> ast.Module:
    tree = ast.parse(code)
    for node in tree.body:
        assert isinstance(node, (ast.Expr, ast.Import, ast.ImportFrom, ast.ClassDef)), ast.dump(node)[:200]
        if isinstance(node, ast.Expr):
            assert node is tree.body[0] and isinstance(node.value, ast.Constant)
    imports = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert imports <= {"math", "torch", "nn"}
    assert not any(isinstance(n, ast.Name) and n.id in {"os", "eval", "exec", "__import__", "open"}
                   for n in ast.walk(tree))
    model = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model")
    init, forward = model.body
    for stmt in init.body[1:]:
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Attribute)
    for stmt in forward.body[:-1]:
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
    return tree


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_stay_text(name):
    design = _hostile_design(name)
    code = assert_same_network(design)
    tree = _assert_only_expected_code(code)
    model = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model")
    attributes = [s.targets[0].attr for s in model.body[0].body[1:]]
    assert len(attributes) == len(set(attributes)) == len(design["layers"])
    assert all(a.isidentifier() and a.isascii() for a in attributes)
    shown = display_text(name)
    first = ast.get_docstring(tree).splitlines()[0]
    assert first in (f"{shown}: a network generated by Netwright.", shown) if shown else first.startswith("A network")
    code.encode("utf-8")  # writable as a file
    train = generate_train_py(design)
    train_tree = ast.parse(train)
    assert ast.get_docstring(train_tree).splitlines()[0].startswith(f"Train {shown}" if shown else "A training")
    train_imports = {a.name for n in ast.walk(train_tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                     for a in n.names}
    assert train_imports == TRAIN_IMPORTS
    files = export_files(design)
    assert json.loads(files["design.json"]) == parse_design(json.dumps(design))
    for text in files.values():
        text.encode("utf-8")


def test_display_text_is_one_safe_line():
    for text in HOSTILE:
        line = display_text(text)
        assert line == line.strip() and len(line) <= 80
        assert not any(ch in line for ch in "\n\r\x0b\x0c\x00\u2028\u2029\u202e\x85")
        line.encode("utf-8")


# --- ruff: check and format, as the user's editor would run them --------------------------------------------


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_generated_files_are_ruff_clean(tmp_path):
    rng = random.Random(1234)
    designs = {**DESIGNS, **{f"random{i}": random_design(Picker(rng=rng)) for i in range(40)},
               **{f"hostile{i}": _hostile_design(n) for i, n in enumerate(HOSTILE)}}
    for key, design in designs.items():
        folder = tmp_path / key
        folder.mkdir()
        (folder / "model.py").write_text(generate_model_py(design), encoding="utf-8")
        if key in TEMPLATES or key in INLINE or key.startswith("hostile"):
            (folder / "train.py").write_text(generate_train_py(design), encoding="utf-8")
    check = run([RUFF, "check", "--isolated", "--no-cache", "."], tmp_path)
    assert check.returncode == 0, check.stdout[-4000:]
    strict = run([RUFF, "check", "--isolated", "--no-cache", "--select", "E,F,W,I,B,UP,N,SIM,C4,RUF", "--ignore",
                  "E501,RUF001,RUF002,RUF003", "."], tmp_path)
    assert strict.returncode == 0, strict.stdout[-4000:]
    fmt = run([RUFF, "format", "--isolated", "--no-cache", "--check", "--diff", "."], tmp_path)
    assert fmt.returncode == 0, fmt.stdout[-4000:] + fmt.stderr[-2000:]


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed")
def test_module_classes_are_formatted_for_export(tmp_path):
    """model.py copies designer.modules classes verbatim, so they must be ruff-format clean at 88 columns."""
    from designer import modules

    (tmp_path / "modules.py").write_text(Path(modules.__file__).read_text(encoding="utf-8"))
    fmt = run([RUFF, "format", "--isolated", "--no-cache", "--check", "--diff", "modules.py"], tmp_path)
    assert fmt.returncode == 0, "designer/modules.py must be formatted at 88 columns:\n" + fmt.stdout[-3000:]


# --- golden files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", GOLDEN_TEMPLATES)
def test_golden_model_py(template):
    path = GOLDEN / template / "model.py"
    text = generate_model_py(DESIGNS[template])
    if os.environ.get("NETWRIGHT_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"no golden file {path}; run with NETWRIGHT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{template}: model.py changed; review the diff and regenerate with NETWRIGHT_UPDATE_GOLDEN=1")


# --- the files, the zip ----------------------------------------------------------------------------------


def test_export_files_zip_and_folder(tmp_path):
    design = DESIGNS["lenet5"]
    files = export_files(design)
    assert tuple(files) == EXPORT_FILES
    assert load_design(files["design.json"]) == design
    assert "python train.py" in files["README.md"] and "torchrun" in files["README.md"]
    blob = export_zip(design)
    assert blob == export_zip(design)  # reproducible bytes
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        names = archive.namelist()
        assert names == [f"lenet_5/{n}" for n in EXPORT_FILES]
        assert archive.read("lenet_5/model.py").decode() == files["model.py"]
    paths = write_export(design, tmp_path / "out")
    assert [p.name for p in paths] == list(EXPORT_FILES)
    assert all(p.read_text(encoding="utf-8") == files[p.name] for p in paths)


def test_model_py_runs_standalone(tmp_path):
    """model.py needs nothing but torch: run it in a bare interpreter outside the repository."""
    design = DESIGNS["transformer_classifier"]
    (tmp_path / "model.py").write_text(generate_model_py(design), encoding="utf-8")
    script = ("import sys, torch; from model import Model; m = Model().eval(); "
              "y = m(torch.randint(0, 500, (3, 32))); "
              "assert not any(k.startswith('designer') for k in sys.modules); print(tuple(y.shape))")
    result = run([sys.executable, "-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 4)"


# --- train.py -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Exports of a classifier of images, a regression on 1-D signals and a token classifier."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for key in ("cnn_shapes", "mlp_signals", "transformer_classifier"):
        write_export(DESIGNS[key], root / key)
        out[key] = root / key
    return out


def _load_weights(folder: Path, weights: Path):
    from safetensors.torch import load_file

    model = exec_model((folder / "model.py").read_text(encoding="utf-8"))()
    model.load_state_dict(load_file(str(weights)))
    return model


def test_train_help(exported):
    result = run([sys.executable, "train.py", "--help"], exported["cnn_shapes"])
    assert result.returncode == 0, result.stderr
    for flag in ("--epochs", "--batch-size", "--lr", "--device", "--data", "--out", "--max-steps", "--precision", "--seed"):
        assert flag in result.stdout


def test_train_synthetic_writes_weights_that_load(exported):
    folder = exported["cnn_shapes"]
    result = run([sys.executable, "train.py", "--max-steps", "3", "--samples", "96", "--batch-size", "16",
                  "--out", "run", "--check-sync"], folder)
    assert result.returncode == 0, result.stderr
    assert "parameter checksum" in result.stdout
    events = [json.loads(line) for line in (folder / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("step") >= 2 and events[-1]["event"] == "end"
    assert events[-1]["status"] == "stopped" and 0 <= events[-1]["val_accuracy"] <= 1
    model = _load_weights(folder, folder / "run" / "model.safetensors")
    assert sum(p.numel() for p in model.parameters()) == analyze(DESIGNS["cnn_shapes"]).params


def _train_namespace(folder: Path) -> dict:
    """train.py's globals, loaded in this process (fast: torch is already imported)."""
    import runpy

    sys.path.insert(0, str(folder))
    try:
        return runpy.run_path(str(folder / "train.py"), run_name="train_under_test")
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)


def _in_process(folder: Path, argv: list[str], capsys) -> tuple[int, str, str]:
    """Runs train.py's main() in this process."""
    code = _train_namespace(folder)["main"](argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_train_on_npz_and_csv(exported, tmp_path, capsys):
    folder = exported["mlp_signals"]  # regression, input (64,), output (8,)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 64)).astype(np.float32), rng.normal(size=(40, 8))
    np.savez(tmp_path / "good.npz", X=x, y=y)
    code, out, err = _in_process(folder, ["--data", str(tmp_path / "good.npz"), "--max-steps", "2",
                                          "--batch-size", "8", "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert "36 training and 4 validation samples" in out
    assert (tmp_path / "a" / "model.safetensors").exists()
    with open(tmp_path / "good.csv", "w") as f:
        f.write(",".join(f"x{i}" for i in range(64)) + "," + ",".join(f"y{i}" for i in range(8)) + "\n")
        for row in np.concatenate([x, y], axis=1):
            f.write(",".join(f"{v:.5f}" for v in row) + "\n")
    code, out, err = _in_process(folder, ["--data", str(tmp_path / "good.csv"), "--max-steps", "1",
                                          "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err


def test_train_validates_on_x_val_and_y_val(exported, tmp_path, capsys):
    """An .npz with X_val and y_val validates on them (--val-fraction is then not used);
    regression reports val_mae; a start event comes first and step events carry the lr."""
    folder = exported["mlp_signals"]  # regression, input (64,), output (8,)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 64)).astype(np.float32), rng.normal(size=(40, 8))
    x_val, y_val = rng.normal(size=(10, 64)), rng.normal(size=(10, 8)).astype(np.float32)
    np.savez(tmp_path / "split.npz", X=x, y=y, X_val=x_val, y_val=y_val)
    code, out, err = _in_process(folder, ["--data", str(tmp_path / "split.npz"), "--epochs", "2", "--batch-size",
                                          "8", "--out", str(tmp_path / "a"), "--log-every", "1"], capsys)
    assert code == 0, err
    assert "40 training and 10 validation samples" in out and "val_mae" in out
    events = _events(tmp_path / "a" / "metrics.jsonl")
    start = events[0]
    assert start["event"] == "start" and start["world_size"] == 1 and start["device"] == "cpu"
    assert start["total_steps"] == 10 and start["params"] == analyze(DESIGNS["mlp_signals"]).params
    assert start["train_size"] == 40 and start["val_size"] == 10
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 11)) and all(e["lr"] == 1e-3 for e in steps)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 2 and all(e["val_mae"] > 0 and e["val_loss"] > 0 for e in epochs)
    assert "val_accuracy" not in epochs[0]
    # the validation metrics are those of X_val and y_val, with the saved weights
    model = _load_weights(folder, tmp_path / "a" / "model.safetensors").eval()
    with torch.no_grad():
        errors = model(torch.from_numpy(x_val).float()) - torch.from_numpy(y_val)
    assert events[-1]["val_mae"] == pytest.approx(errors.abs().mean().item(), rel=1e-5)
    assert events[-1]["val_loss"] == pytest.approx(errors.square().mean().item(), rel=1e-5)
    assert events[-1] == {"event": "end", "status": "completed", "samples_per_s": events[-1]["samples_per_s"],
                          "val_loss": epochs[-1]["val_loss"], "val_mae": epochs[-1]["val_mae"]}

    np.savez(tmp_path / "empty_val.npz", X=x, y=y, X_val=x_val[:0], y_val=y_val[:0])
    code, out, err = _in_process(folder, ["--data", str(tmp_path / "empty_val.npz"), "--max-steps", "1",
                                          "--out", str(tmp_path / "b")], capsys)
    assert code == 0 and "40 training and 0 validation samples" in out, err
    assert _events(tmp_path / "b" / "metrics.jsonl")[-1]["event"] == "end"


@pytest.mark.parametrize("case", ["alone", "shape", "count"])
def test_train_rejects_a_validation_split_that_does_not_fit(exported, tmp_path, capsys, case):
    folder = exported["cnn_shapes"]  # classification into 10 classes, input (1, 28, 28)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 1, 28, 28)), rng.integers(0, 10, size=20)
    arrays = {"alone": {"X_val": x}, "shape": {"X_val": x[:, 0], "y_val": y},
              "count": {"X_val": x, "y_val": y[:3]}}[case]
    np.savez(tmp_path / "bad.npz", X=x, y=y, **arrays)
    expected = {"alone": "holds X_val alone; give X_val and y_val together",
                "shape": "X_val has samples of shape (28, 28) but the design takes (1, 28, 28)",
                "count": "X_val and y_val need one entry per sample"}[case]
    code, out, err = _in_process(folder, ["--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and expected in err and "Traceback" not in err, err


def test_train_schedules_are_the_apps(exported):
    """train.py's scheduled_lr is designer.training.schedule_lr, written out standalone."""
    from argparse import Namespace

    from designer.training import TrainConfig, schedule_lr

    scheduled_lr = _train_namespace(exported["mlp_signals"])["scheduled_lr"]
    for schedule in ("constant", "cosine", "onecycle", "step"):
        for total in (1, 2, 3, 7, 40):
            config = TrainConfig(lr=0.3, schedule=schedule, step_size=2, gamma=0.25)
            args = Namespace(lr=0.3, schedule=schedule, step_size=2, gamma=0.25)
            for step in range(total):
                epoch = 1 + step // 3
                assert scheduled_lr(args, step, epoch, total) == pytest.approx(
                    schedule_lr(config, step, epoch, total), rel=1e-12, abs=1e-15), (schedule, total, step)


def test_train_optimizer_schedule_and_clipping(exported, tmp_path, capsys):
    from designer.training import TrainConfig, schedule_lr

    folder = exported["transformer_classifier"]
    code, out, err = _in_process(folder, ["--samples", "48", "--batch-size", "8", "--epochs", "2", "--log-every",
                                          "1", "--optimizer", "sgd", "--momentum", "0.5", "--schedule", "onecycle",
                                          "--lr", "0.05", "--grad-clip", "0.5", "--out", str(tmp_path / "t")], capsys)
    assert code == 0, err
    events = _events(tmp_path / "t" / "metrics.jsonl")
    steps = [e for e in events if e["event"] == "step"]
    total = events[0]["total_steps"]
    assert total == len(steps) == 10  # 44 training samples: 5 batches of 8 per epoch
    config = TrainConfig(lr=0.05, schedule="onecycle")
    assert [e["lr"] for e in steps] == pytest.approx([schedule_lr(config, i, e["epoch"], total)
                                                      for i, e in enumerate(steps)])
    assert events[-1]["event"] == "end" and events[-1]["status"] == "completed"
    namespace = _train_namespace(folder)
    model = torch.nn.Linear(2, 2)
    args = namespace["parse_args"](["--optimizer", "sgd", "--momentum", "0.5", "--weight-decay", "0.1"])
    optimizer = namespace["make_optimizer"](model, args)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["momentum"] == 0.5
    assert optimizer.defaults["weight_decay"] == 0.1
    for name, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        optimizer = namespace["make_optimizer"](model, namespace["parse_args"](["--optimizer", name]))
        assert type(optimizer) is cls


@pytest.mark.parametrize("case", ["shape", "reshape", "labels", "missing", "count", "not_file", "csv_image"])
def test_train_rejects_data_that_does_not_fit(exported, tmp_path, capsys, case):
    rng = np.random.default_rng(0)
    folder = exported["cnn_shapes"]  # classification into 10 classes, input (1, 28, 28)
    path = tmp_path / "bad.npz"
    expected = {
        "shape": "the design takes (1, 28, 28)", "reshape": "reshape it with X.reshape",
        "labels": "the design has 10 classes", "missing": "it needs X and y",
        "count": "one entry per sample", "not_file": "is not a file", "csv_image": "save arrays X and y in an .npz",
    }[case]
    labels = rng.integers(0, 10, size=20)
    if case == "shape":
        np.savez(path, X=rng.normal(size=(20, 3, 28, 28)), y=labels)
    elif case == "reshape":
        np.savez(path, X=rng.normal(size=(20, 784)), y=labels)
    elif case == "labels":
        np.savez(path, X=rng.normal(size=(20, 1, 28, 28)), y=labels + 5)
    elif case == "missing":
        np.savez(path, X=rng.normal(size=(20, 1, 28, 28)))
    elif case == "count":
        np.savez(path, X=rng.normal(size=(20, 1, 28, 28)), y=labels[:5])
    elif case == "not_file":
        path = tmp_path / "nowhere.npz"
    else:
        path = tmp_path / "bad.csv"
        path.write_text("1,2,3\n")
    code, out, err = _in_process(folder, ["--data", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert err.startswith("error: ") and expected in err and "Traceback" not in err


def test_bad_data_from_the_command_line_gives_no_traceback(exported, tmp_path):
    folder = exported["transformer_classifier"]  # token ids below 500
    np.savez(tmp_path / "ids.npz", X=np.full((10, 32), 900), y=np.zeros(10, dtype=np.int64))
    result = run([sys.executable, "train.py", "--data", str(tmp_path / "ids.npz")], folder)
    assert result.returncode == 2
    assert "ids from 0 to 499" in result.stderr and "Traceback" not in result.stderr


def test_train_tokens_synthetic(exported, tmp_path, capsys):
    folder = exported["transformer_classifier"]
    code, out, err = _in_process(folder, ["--max-steps", "2", "--samples", "40", "--batch-size", "8",
                                          "--out", str(tmp_path / "t"), "--log-every", "1"], capsys)
    assert code == 0, err
    assert "step      2" in out
    _load_weights(folder, tmp_path / "t" / "model.safetensors")


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")
def test_torchrun_two_processes_stay_in_sync(exported):
    folder = exported["mlp_signals"]
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "train.py", "--max-steps", "3", "--device", "cpu",
           "--samples", "128", "--batch-size", "16", "--out", "ddp"]
    result = run(cmd, folder, timeout=120)
    if result.returncode and "address already in use" in (result.stdout + result.stderr).lower():
        result = run(cmd, folder, timeout=120)  # torchrun picked a port that another process took meanwhile
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "x 2 processes" in result.stdout
    assert "parameters in sync across 2 processes: max difference 0," in result.stdout
    assert result.stdout.count("saved ") == 1  # rank 0 only
    assert "terminate called" not in result.stdout + result.stderr  # the process group was left cleanly
    _load_weights(folder, folder / "ddp" / "model.safetensors")
