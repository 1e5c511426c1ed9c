"""The whole catalogue, type by type: the analysis's shapes and parameter counts are PyTorch's own.

Parametrised over every registered type, so a new type is tested the day it is registered:
a type without a row in CASES fails `test_every_type_has_cases`.
"""

from __future__ import annotations

import json

import pytest
import torch

from designer import analyze, build_model, catalogue, get_spec, list_specs, new_design

torch.set_num_threads(1)

F32, I64 = "float32", "int64"

# type -> [(input shape, dtype, node parameters)]; several settings per type.
CASES: dict[str, list[tuple[list[int], str, dict]]] = {
    # --- blocks
    "Sequential": [
        ([8], F32, {"layers": []}),
        ([8], F32, {"layers": [{"type": "Linear", "out_features": 4}, {"type": "ReLU"}]}),
        ([3, 8, 8], F32, {"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "Flatten"}]}),
    ],
    "Residual": [
        ([6], F32, {"body": [{"type": "Linear", "out_features": 6}, {"type": "ReLU"}]}),
        ([4, 8, 8], F32, {"body": [{"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}],
                        "shortcut": [{"type": "Conv2d", "out_channels": 8, "kernel_size": 1, "stride": 2},
                                     {"type": "BatchNorm2d"}]}),
        ([5, 6], F32, {"body": [{"type": "LayerNorm"}], "shortcut": []}),
    ],
    "Parallel": [
        ([3, 8, 8], F32, {"branches": [[], [{"type": "Conv2d", "out_channels": 5, "kernel_size": 3, "padding": 1}]]}),
        ([6], F32, {"merge": "add", "branches": [[{"type": "Linear", "out_features": 4}],
                                               [{"type": "Linear", "out_features": 4}, {"type": "Tanh"}]]}),
        ([5, 6], F32, {"dim": -1, "branches": [[{"type": "Linear", "out_features": 2}], [], [{"type": "GELU"}]]}),
        ([4, 6, 6], F32, {"merge": "mul", "branches": [[], [{"type": "AdaptiveAvgPool2d", "output_size": 1},
                                                           {"type": "Conv2d", "out_channels": 4, "kernel_size": 1},
                                                           {"type": "Sigmoid"}]]}),
        ([5, 6], F32, {"merge": "mul", "branches": [[{"type": "Linear", "out_features": 8}, {"type": "SiLU"}],
                                                    [{"type": "Linear", "out_features": 8}]]}),
        ([3, 7], F32, {"merge": "mul", "branches": [[{"type": "Tanh"}], [{"type": "Sigmoid"}], []]}),
    ],
    "Repeat": [
        ([8], F32, {"times": 3, "body": [{"type": "Linear", "out_features": 8}, {"type": "ReLU"}]}),
        ([8], F32, {"times": 2, "body": [{"type": "Linear", "out_features": 5}]}),  # copy 2 sees 5, not 8
        ([3, 16, 16], F32, {"times": 3, "body": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}]}),
    ],
    # --- activations
    "ReLU": [([7], F32, {}), ([2, 3, 4], F32, {})],
    "GELU": [([7], F32, {}), ([3, 5], F32, {"approximate": "tanh"})],
    "ReLU6": [([7], F32, {}), ([2, 3, 4], F32, {})],
    "Hardsigmoid": [([7], F32, {}), ([3, 5], F32, {})],
    "Hardtanh": [([7], F32, {}), ([3, 5], F32, {"min_val": -2.0, "max_val": 0.5})],
    "PReLU": [([7], F32, {}), ([4, 5], F32, {"num_parameters": 4}), ([3, 4, 4], F32, {"num_parameters": 3, "init": 0.1})],
    "Softplus": [([7], F32, {}), ([3, 5], F32, {"beta": 2.0, "threshold": 10.0})],
    "GLU": [([8], F32, {}), ([4, 6], F32, {"dim": 1}), ([3, 4, 6], F32, {"dim": -2})],
    "LogSoftmax": [([7], F32, {}), ([3, 5], F32, {"dim": 1}), ([3, 5], F32, {})],
    "SiLU": [([7], F32, {}), ([3, 5], F32, {})],
    "Tanh": [([7], F32, {}), ([1, 4, 4], F32, {})],
    "Sigmoid": [([7], F32, {}), ([3, 5], F32, {})],
    "Mish": [([7], F32, {}), ([3, 5], F32, {})],
    "Hardswish": [([7], F32, {}), ([3, 5], F32, {})],
    "LeakyReLU": [([7], F32, {}), ([3, 5], F32, {"negative_slope": 0.2})],
    "ELU": [([7], F32, {}), ([3, 5], F32, {"alpha": 0.5})],
    "Softmax": [([7], F32, {"dim": -1}), ([3, 5], F32, {"dim": 1}), ([3, 5], F32, {"dim": 2}), ([3, 5], F32, {})],
    # --- attention
    "MultiheadAttention": [
        ([5, 8], F32, {"num_heads": 2}),
        ([4, 12], F32, {"num_heads": 3, "bias": False, "dropout": 0.1}),
        ([1, 6], F32, {"num_heads": 1}),
        ([5, 8], F32, {"num_heads": 2, "causal": True}),
    ],
    "Attention": [
        ([5, 8], F32, {"num_heads": 2}),
        ([6, 16], F32, {"num_heads": 4, "num_kv_heads": 2, "causal": True, "rotary": True}),
        ([4, 12], F32, {"num_heads": 3, "num_kv_heads": 1, "bias": True, "dropout": 0.1}),
        ([3, 8], F32, {"num_heads": 2, "num_kv_heads": 2, "rotary": True}),
    ],
    "ClassToken": [([5, 8], F32, {}), ([1, 3], F32, {})],
    "TransformerEncoderLayer": [
        ([5, 8], F32, {"nhead": 2, "dim_feedforward": 16}),
        ([3, 12], F32, {"nhead": 4, "dim_feedforward": 8, "activation": "gelu", "norm_first": True}),
        ([4, 6], F32, {"nhead": 3, "dim_feedforward": 10, "bias": False}),
        ([5, 8], F32, {"nhead": 2, "dim_feedforward": 16, "causal": True, "activation": "gelu_tanh", "norm_first": True}),
        ([4, 8], F32, {"nhead": 2, "dim_feedforward": 8, "activation": "gelu_tanh"}),
        ([4, 8], F32, {"nhead": 2, "dim_feedforward": 8, "causal": True}),
    ],
    # --- convolution
    "Conv1d": [
        ([3, 10], F32, {"out_channels": 4, "kernel_size": 3}),
        ([4, 11], F32, {"out_channels": 6, "kernel_size": 5, "stride": 2, "padding": 2, "groups": 2, "bias": False}),
        ([2, 9], F32, {"out_channels": 2, "kernel_size": 3, "padding": "same", "dilation": 2, "padding_mode": "reflect"}),
    ],
    "Conv2d": [
        ([3, 8, 8], F32, {"out_channels": 4, "kernel_size": 3}),
        ([4, 9, 7], F32, {"out_channels": 8, "kernel_size": [3, 1], "stride": [2, 1], "padding": [1, 0], "groups": 4}),
        ([2, 8, 8], F32, {"out_channels": 3, "kernel_size": 3, "padding": "same", "bias": False, "padding_mode": "circular"}),
        ([1, 10, 10], F32, {"out_channels": 2, "kernel_size": 3, "dilation": 2, "padding": "valid"}),
    ],
    "ConvTranspose1d": [
        ([3, 6], F32, {"out_channels": 4, "kernel_size": 3}),
        ([4, 5], F32, {"out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 1, "output_padding": 1, "groups": 2}),
    ],
    "ConvTranspose2d": [
        ([3, 4, 4], F32, {"out_channels": 4, "kernel_size": 2, "stride": 2}),
        ([2, 5, 6], F32, {"out_channels": 3, "kernel_size": [3, 2], "stride": 2, "padding": 1, "output_padding": 1,
                        "bias": False}),
        ([4, 3, 3], F32, {"out_channels": 4, "kernel_size": 3, "dilation": 2, "groups": 4}),
    ],
    # --- dense, embedding
    "Linear": [
        ([8], F32, {"out_features": 3}),
        ([5, 8], F32, {"out_features": 4, "bias": False}),
    ],
    "Embedding": [
        ([6], I64, {"num_embeddings": 20, "embedding_dim": 4}),
        ([2, 3], I64, {"num_embeddings": 10, "embedding_dim": 5, "padding_idx": 0}),
        ([7], I64, {"num_embeddings": 9, "embedding_dim": 3, "max_norm": 1.0, "padding_idx": -1}),
    ],
    # --- normalisation
    "BatchNorm1d": [([6], F32, {}), ([4, 7], F32, {"affine": False}), ([3, 5], F32, {"track_running_stats": False})],
    "BatchNorm2d": [([3, 4, 4], F32, {}), ([2, 3, 5], F32, {"affine": False, "momentum": None})],
    "InstanceNorm2d": [([3, 4, 4], F32, {}), ([2, 3, 5], F32, {"affine": True})],
    "LayerNorm": [([8], F32, {}), ([3, 6], F32, {"elementwise_affine": False}), ([2, 3, 4], F32, {"bias": False})],
    "RMSNorm": [([8], F32, {}), ([3, 6], F32, {"eps": 1e-6}), ([2, 3, 4], F32, {"elementwise_affine": False})],
    "GroupNorm": [([4, 5], F32, {"num_groups": 2}), ([6, 3, 3], F32, {"num_groups": 3, "affine": False}),
                  ([8], F32, {"num_groups": 4})],
    # --- pooling
    "MaxPool1d": [([3, 10], F32, {"kernel_size": 2}), ([2, 11], F32, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
                  ([2, 12], F32, {"kernel_size": 2, "dilation": 2})],
    "AvgPool1d": [([3, 10], F32, {"kernel_size": 2}), ([2, 11], F32, {"kernel_size": 3, "stride": 1, "padding": 1,
                                                                  "count_include_pad": False})],
    "AdaptiveAvgPool1d": [([3, 10], F32, {"output_size": 1}), ([2, 9], F32, {"output_size": 4})],
    "AdaptiveMaxPool1d": [([3, 10], F32, {"output_size": 1}), ([2, 9], F32, {"output_size": 3})],
    "MaxPool2d": [([3, 8, 8], F32, {"kernel_size": 2}), ([2, 9, 7], F32, {"kernel_size": [3, 2], "stride": [2, 1], "padding": 1}),
                  ([1, 9, 9], F32, {"kernel_size": 3, "ceil_mode": True})],
    "AvgPool2d": [([3, 8, 8], F32, {"kernel_size": 2}), ([2, 7, 7], F32, {"kernel_size": 3, "stride": 2, "padding": 1,
                                                                     "count_include_pad": False})],
    "AdaptiveAvgPool2d": [([3, 8, 8], F32, {"output_size": 1}), ([2, 9, 7], F32, {"output_size": [3, 2]}),
                          ([2, 9, 7], F32, {"output_size": [None, 3]})],
    "AdaptiveMaxPool2d": [([3, 8, 8], F32, {"output_size": 1}), ([2, 9, 7], F32, {"output_size": [2, 4]})],
    # --- recurrent
    "RNN": [([5, 3], F32, {"hidden_size": 4}),
            ([6, 2], F32, {"hidden_size": 3, "num_layers": 2, "nonlinearity": "relu", "bidirectional": True,
                         "return_sequences": False, "dropout": 0.1})],
    "LSTM": [([5, 3], F32, {"hidden_size": 4}),
             ([6, 2], F32, {"hidden_size": 3, "num_layers": 2, "bidirectional": True, "return_sequences": False}),
             ([4, 3], F32, {"hidden_size": 5, "bias": False, "return_sequences": False})],
    "GRU": [([5, 3], F32, {"hidden_size": 4}),
            ([6, 2], F32, {"hidden_size": 3, "num_layers": 3, "bidirectional": True})],
    # --- regularisation
    "Dropout": [([8], F32, {}), ([3, 4], F32, {"p": 0.1})],
    "Dropout1d": [([3, 8], F32, {}), ([2, 5], F32, {"p": 0.2})],
    "Dropout2d": [([3, 4, 4], F32, {}), ([2, 3, 5], F32, {"p": 0.0})],
    # --- reshaping
    "Flatten": [([3, 4, 5], F32, {}), ([3, 4, 5], F32, {"start_dim": 2}), ([3, 4, 5], F32, {"start_dim": 1, "end_dim": 2}),
                ([6], I64, {})],
    "Unflatten": [([12], F32, {"dim": 1, "unflattened_size": [3, 4]}), ([5, 12], F32, {"dim": -1, "unflattened_size": [2, -1]}),
                  ([16], F32, {"dim": 1, "unflattened_size": [1, 4, 4]})],
    "Identity": [([8], F32, {}), ([3, 4], I64, {})],
    "Upsample": [([3, 4, 4], F32, {"scale_factor": 2.0}), ([2, 5], F32, {"scale_factor": 3.0, "mode": "linear"}),
                 ([2, 4, 4], F32, {"size": [6, 8], "mode": "bilinear", "align_corners": True}),
                 ([2, 4], F32, {"size": 7}), ([2, 5], F32, {"size": [20], "mode": "linear"}), ([2, 5], F32, {"size": [20]})],
    "ZeroPad1d": [([3, 10], F32, {"padding": 2}), ([2, 5], F32, {"padding": [2, 0]}), ([2, 6], F32, {"padding": [-1, 1]})],
    "ZeroPad2d": [([3, 4, 4], F32, {"padding": 1}), ([2, 4, 5], F32, {"padding": [1, 0, 2, 3]})],
    "ConstantPad1d": [([3, 10], F32, {"padding": 1, "value": 0.0}), ([2, 5], F32, {"padding": [3, 0], "value": -1.5})],
    "ConstantPad2d": [([3, 4, 4], F32, {"padding": 2, "value": 1.0}), ([2, 4, 5], F32, {"padding": [0, 1, 1, 0], "value": 0.5})],
    "PixelShuffle": [([8, 3, 3], F32, {"upscale_factor": 2}), ([9, 2, 4], F32, {"upscale_factor": 3})],
    "Permute": [([3, 4], F32, {"dims": [0, 2, 1]}), ([2, 3, 4], F32, {"dims": [0, 3, 1, 2]}), ([5, 6], I64, {"dims": [0, 2, 1]})],
    "Reshape": [([12], F32, {"shape": [3, 4]}), ([3, 4, 5], F32, {"shape": [-1]}), ([2, 6], F32, {"shape": [4, -1]})],
    "SequencePool": [([5, 4], F32, {"mode": m}) for m in ("mean", "max", "first", "last")],
    "PositionalEncoding": [([5, 8], F32, {}), ([5, 7], F32, {"kind": "learned", "max_len": 16, "dropout": 0.1}),
                           ([3, 5], F32, {"kind": "sinusoidal", "max_len": 3})],
}


def _cases():
    for spec in list_specs():
        for k, (shape, dtype, params) in enumerate(CASES.get(spec.type, [])):
            yield pytest.param(spec.type, shape, dtype, params, id=f"{spec.type}-{k}")


@pytest.mark.parametrize("type_name", [s.type for s in list_specs()])
def test_every_type_has_cases(type_name):
    assert CASES.get(type_name), f"{type_name} is registered but has no rows in tests/test_catalogue.py CASES"


def test_no_cases_for_unknown_types():
    known = {s.type for s in list_specs()}
    assert set(CASES) <= known, f"CASES names types that are not registered: {set(CASES) - known}"


@pytest.mark.parametrize("type_name, shape, dtype, params", list(_cases()))
def test_analysis_matches_forward(type_name, shape, dtype, params):
    design = new_design(shape=shape, dtype=dtype, layers=[{"type": type_name, **params}])
    analysis = analyze(design)
    assert analysis.valid, [str(e) for e in analysis.errors]
    model = build_model(design).eval()
    if dtype == I64:
        x = torch.randint(0, 3, (2, *shape))
    else:
        x = torch.randn(2, *shape)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape) == (2, *analysis.output_shape)
    assert sum(p.numel() for p in model.parameters()) == analysis.params
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == analysis.trainable_params
    assert analysis.flops >= 0
    row = analysis.row("layers[0]")
    assert row is not None and row.status == "ok" and row.output_shape == analysis.output_shape
    assert row.params == analysis.params


@pytest.mark.parametrize("spec", list_specs(), ids=lambda s: s.type)
def test_defaults_pass_their_own_check(spec):
    for p in spec.params:
        assert p.check(p.default) is None, f"{spec.type}.{p.name} default {p.default!r}: {p.check(p.default)}"


@pytest.mark.parametrize("spec", list_specs(), ids=lambda s: s.type)
def test_palette_node_is_valid_in_structure(spec):
    from designer.design import check_node

    assert check_node(spec.new_node(), "layers[0]") == []
    assert isinstance(spec.label(spec.new_node()), str)


def test_catalogue_is_json():
    rows = catalogue()
    text = json.dumps(rows)
    assert json.loads(text) == rows
    assert {r["type"] for r in rows} == {s.type for s in list_specs()}
    for row in rows:
        assert {"type", "family", "help", "params"} <= set(row)
        assert get_spec(row["type"]) is not None


@pytest.mark.parametrize("spec", [s for s in list_specs() if s.is_block], ids=lambda s: s.type)
def test_every_block_declares_its_rule(spec):
    """A block is one declaration plus its rule (walk, module, code, slots, wrap): nothing else switches on it."""
    from designer.blocks import BLOCK_RULES
    from designer.design import check_node

    rule = BLOCK_RULES[spec.type]
    wrapped = rule.wrap([{"type": "ReLU"}])
    assert wrapped["type"] == spec.type and check_node(wrapped, "layers[0]") == []
