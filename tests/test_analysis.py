"""Analysis errors: each names the path, says what was received, and proposes a fix that works."""

from __future__ import annotations

import pytest
import torch

from designer import analyze, build_model, new_design
from designer.edits import apply_action, apply_fix

torch.set_num_threads(1)


def conv(c, k=3, **kw):
    return {"type": "Conv2d", "out_channels": c, "kernel_size": k, **kw}


def lin(n, **kw):
    return {"type": "Linear", "out_features": n, **kw}


def design(shape, layers, dtype="float32", task=None):
    return new_design(shape=shape, dtype=dtype, layers=layers, task=task)


def only_error(d, path=None):
    a = analyze(d)
    assert not a.valid
    assert len(a.errors) == 1, [str(e) for e in a.errors]
    err = a.errors[0]
    if path is not None:
        assert err.path == path
    return a, err


def forward_matches(d):
    """A valid design's analysis agrees with a real CPU forward pass."""
    a = analyze(d)
    assert a.valid, [str(e) for e in a.errors]
    model = build_model(d).eval()
    x = torch.zeros(2, *a.input_shape, dtype=torch.long if a.input_dtype == "int64" else torch.float32)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape[1:]) == a.output_shape
    assert sum(p.numel() for p in model.parameters()) == a.params
    return a


# --- rank errors ---------------------------------------------------------------------------------


def test_linear_right_after_a_convolution_warns_and_proposes_flatten():
    d = design([3, 8, 8], [conv(4), lin(10)])
    a = forward_matches(d)  # valid: PyTorch's Linear maps the last axis
    assert a.output_shape == (4, 6, 10) and a.errors == []
    [warning] = a.warnings
    assert warning.path == "layers[1]" and "last axis" in warning.message and "Conv2d" in warning.message
    assert warning.fix == "insert Flatten before layers[1]"
    assert a.to_json()["warnings"] == [warning.to_dict()]
    fixed = apply_fix(d, "layers[1]")
    assert fixed["layers"][1] == {"type": "Flatten"}
    assert forward_matches(fixed).output_shape == (10,) and analyze(fixed).warnings == []


def test_linear_on_channel_last_tensors_follows_pytorch():
    """ConvNeXt's MLP: Permute to (H, W, C), then Linear on C; no warning, since no convolution comes right before."""
    d = design([3, 8, 8], [conv(4), {"type": "Permute", "dims": [0, 2, 3, 1]}, lin(16), {"type": "GELU"}, lin(4)])
    a = forward_matches(d)
    assert a.output_shape == (6, 6, 4) and a.warnings == []
    assert a.params == (3 * 9 * 4 + 4) + (4 * 16 + 16) + (16 * 4 + 4)


def test_linear_after_image_inside_a_block_names_the_inner_path():
    d = design([3, 8, 8], [{"type": "Sequential", "layers": [conv(4), lin(10)]}])
    [warning] = analyze(d).warnings
    assert warning.fix == "insert Flatten before layers[0].layers[1]"
    assert analyze(apply_fix(d, "layers[0].layers[1]")).valid


@pytest.mark.parametrize("layer", [
    {"type": "LSTM", "hidden_size": 8},
    {"type": "GRU", "hidden_size": 8},
    {"type": "MultiheadAttention", "num_heads": 1},
    {"type": "TransformerEncoderLayer", "nhead": 1, "dim_feedforward": 8},
])
def test_sequence_layer_on_an_image_proposes_permute(layer):
    d = design([3, 8, 8], [layer])
    _, err = only_error(d, "layers[0]")
    assert "3×8×8" in err.message and "sequence" in err.message
    assert "Permute" in err.fix and "64 steps of 3 features" in err.fix
    fixed = apply_fix(d, "layers[0]")
    assert [n["type"] for n in fixed["layers"][:2]] == ["Flatten", "Permute"]
    a = forward_matches(fixed)
    assert a.output_shape[0] == 64


@pytest.mark.parametrize("input_shape, before, steps, fixed_types", [
    ([3, 8, 8], {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, "64 steps of 4 features",
     ["Conv2d", "Flatten", "Permute", "LSTM"]),
    ([3, 20], {"type": "Conv1d", "out_channels": 4, "kernel_size": 3}, "18 steps of 4 features",
     ["Conv1d", "Permute", "LSTM"]),
])
def test_a_flatten_in_the_way_of_a_sequence_layer_is_replaced_not_left(input_shape, before, steps, fixed_types):
    d = design(input_shape, [before, {"type": "Flatten"}, {"type": "LSTM", "hidden_size": 5}])
    _, err = only_error(d, "layers[2]")
    assert err.fix.startswith("replace the Flatten at layers[1]") and steps in err.fix
    fixed = apply_fix(d, "layers[2]")
    assert [n["type"] for n in fixed["layers"]] == fixed_types
    assert fixed["layers"][1] != {"type": "Flatten"}  # the Flatten that threw the steps away is gone
    assert forward_matches(fixed).output_shape == (int(steps.split()[0]), 5)


def test_recurrent_on_features_proposes_unflatten():
    d = design([16], [{"type": "LSTM", "hidden_size": 4}])
    _, err = only_error(d, "layers[0]")
    assert "Unflatten" in err.fix
    assert forward_matches(apply_fix(d, "layers[0]")).output_shape == (16, 4)


# --- residual -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stride, out_channels", [(2, 16), (1, 16), (2, 3)])
def test_residual_shape_change_proposes_projection(stride, out_channels):
    body = [conv(out_channels, 3, stride=stride, padding=1), {"type": "BatchNorm2d"}]
    d = design([3, 8, 8], [{"type": "Residual", "body": body}, {"type": "ReLU"}])
    a, err = only_error(d, "layers[0]")
    side = 8 // stride
    assert f"{out_channels}×{side}×{side}" in err.message and "3×8×8" in err.message
    assert "projection shortcut" in err.fix and f"out_channels={out_channels}" in err.fix
    assert (f"stride={stride}" in err.fix) == (stride != 1)
    assert a.row("layers[1]").status == "unreached"
    fixed = apply_fix(d, "layers[0]")
    shortcut = fixed["layers"][0]["shortcut"]
    assert shortcut[0]["type"] == "Conv2d" and shortcut[0]["out_channels"] == out_channels
    assert shortcut[0]["kernel_size"] == 1 and shortcut[0].get("stride", 1) == stride
    assert shortcut[1]["type"] == "BatchNorm2d"
    assert forward_matches(fixed).output_shape == (out_channels, side, side)
    assert d["layers"][0].get("shortcut") is None  # apply_fix is pure


def test_residual_fix_in_a_nested_block():
    inner = {"type": "Residual", "body": [conv(8, 3, stride=2, padding=1)]}
    d = design([3, 8, 8], [{"type": "ReLU"}, {"type": "Repeat", "times": 1, "body": [inner]}])
    _, err = only_error(d, "layers[1].body[0]")
    assert err.action is not None
    assert forward_matches(apply_fix(d, "layers[1].body[0]")).output_shape == (8, 4, 4)


def test_residual_on_a_sequence_proposes_linear():
    d = design([5, 8], [{"type": "Residual", "body": [lin(4)]}])
    _, err = only_error(d)
    assert "Linear(out_features=4)" in err.fix
    assert forward_matches(apply_fix(d, "layers[0]")).output_shape == (5, 4)


def test_residual_with_a_wrong_given_shortcut_is_replaced_in_one_click():
    d = design([3, 8, 8], [{"type": "Residual", "body": [conv(8, 3, padding=1)], "shortcut": [conv(4, 1)]}])
    _, err = only_error(d, "layers[0]")
    assert "8×8×8" in err.message and "4×8×8" in err.message
    assert err.fix.startswith("replace the shortcut with a projection")
    assert analyze(apply_fix(d, "layers[0]")).valid


@pytest.mark.parametrize("shape, body", [
    ([3, 8, 8], [conv(8, 3)]),  # no padding: 8×8 -> 6×6, not a whole stride
    ([3, 9, 9], [conv(8, 3, stride=2)]),  # 9 -> 4
    ([4, 20], [{"type": "Conv1d", "out_channels": 6, "kernel_size": 5}]),  # (C, L) -> (6, 16)
    ([4, 20], [{"type": "Conv1d", "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1}]),  # 20 -> 10
])
def test_identity_shortcut_that_cannot_match_gets_a_projection_fix(shape, body):
    d = design(shape, [{"type": "Residual", "body": body}])
    _, err = only_error(d, "layers[0]")
    assert err.action is not None and err.fix.startswith("add a projection shortcut")
    fixed = apply_fix(d, "layers[0]")
    assert analyze(fixed).valid, analyze(fixed).errors


# --- per-layer rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layer, param", [
    ({"type": "MultiheadAttention", "num_heads": 3}, "num_heads"),
    ({"type": "TransformerEncoderLayer", "nhead": 3, "dim_feedforward": 16}, "nhead"),
])
def test_heads_must_divide_the_embedding(layer, param):
    d = design([5, 10], [layer])
    _, err = only_error(d, "layers[0]")
    assert "10" in err.message and "3" in err.message
    assert f"set {param} to 2 (one of 1, 2, 5, 10)" in err.fix
    # one click: the nearest number of heads at or below the one given that divides
    fixed = apply_fix(d, "layers[0]")
    assert fixed["layers"][0][param] == 2 and analyze(fixed).valid


@pytest.mark.parametrize("shape, layer, key, value", [
    ([6, 8, 8], {"type": "GroupNorm", "num_groups": 4}, "num_groups", 3),
    ([6, 8, 8], conv(8, 3, groups=4), "groups", 2),
    ([12, 4], {"type": "LSTM", "hidden_size": 8, "dropout": 0.2}, "dropout", 0.0),
    ([12, 4], {"type": "PositionalEncoding", "max_len": 5}, "max_len", 12),
    ([3, 8, 8], {"type": "Flatten", "start_dim": 0}, "start_dim", 1),
])
def test_layer_rule_fixes_are_one_click(shape, layer, key, value):
    d = design(shape, [layer])
    _, err = only_error(d, "layers[0]")
    assert err.action == {"op": "set", "key": key, "value": value, "path": "layers[0]"}
    assert analyze(apply_fix(d, "layers[0]")).valid
    assert not err.message.startswith(f"{layer['type']}: {layer['type']}:")  # no doubled prefix


@pytest.mark.parametrize("layer, limit", [
    (conv(4, 5), 4),
    ({"type": "MaxPool2d", "kernel_size": 5}, 4),
    ({"type": "AvgPool2d", "kernel_size": [2, 6]}, 4),
    (conv(4, 3, dilation=3), 4),
])
def test_kernel_larger_than_input(layer, limit):
    d = design([3, 4, 4], [layer])
    _, err = only_error(d, "layers[0]")
    assert "larger than its input 4×4" in err.message
    assert f"at most {limit}" in err.fix


def test_shrinking_to_nothing_names_the_layer_that_cannot_fit():
    d = design([3, 8, 8], [conv(4, 3, stride=2), conv(4, 3, stride=2), conv(4, 3)])
    a, err = only_error(d, "layers[2]")
    assert a.row("layers[1]").output_shape == (4, 1, 1)
    assert "1×1" in err.message


def test_parallel_concat_mismatch():
    d = design([3, 8, 8], [{"type": "Parallel", "branches": [[conv(4, 3)], [conv(5, 3, padding=1)]]}, {"type": "ReLU"}])
    a, err = only_error(d, "layers[0]")
    assert "4×6×6" in err.message and "5×8×8" in err.message and "dim 1" in err.message
    assert "padding" in err.fix
    assert a.row("layers[0].branches[0][0]").output_shape == (4, 6, 6)
    assert a.row("layers[0].branches[1][0]").output_shape == (5, 8, 8)
    assert a.row("layers[1]").status == "unreached"


def test_parallel_add_mismatch():
    d = design([3, 8, 8], [{"type": "Parallel", "merge": "add", "branches": [[conv(4, 3, padding=1)], []]}])
    _, err = only_error(d, "layers[0]")
    assert "4×8×8" in err.message and "3×8×8" in err.message and "equal shapes" in err.message
    assert "concat" in err.fix


def test_parallel_concat_along_a_bad_dim():
    d = design([8], [{"type": "Parallel", "dim": 3, "branches": [[], []]}])
    _, err = only_error(d, "layers[0]")
    assert "dim 3" in err.message


def test_parallel_concat_and_add_valid():
    d = design([3, 8, 8], [{"type": "Parallel", "branches": [[conv(4, 3, padding=1)], [], [conv(2, 1)]]}])
    assert forward_matches(d).output_shape == (9, 8, 8)
    d = design([6], [{"type": "Parallel", "merge": "add", "branches": [[lin(6)], []]}])
    assert forward_matches(d).output_shape == (6,)


# --- dtypes ----------------------------------------------------------------------------------------------


def test_embedding_fed_float():
    d = design([8], [{"type": "Embedding", "num_embeddings": 10, "embedding_dim": 4}])
    _, err = only_error(d, "layers[0]")
    assert "int64" in err.message and "float32" in err.message
    assert "int64" in err.fix
    fixed = apply_fix(d, "layers[0]")
    assert fixed["input"]["dtype"] == "int64"
    assert forward_matches(fixed).output_shape == (8, 4)


@pytest.mark.parametrize("layer", [conv(4, 3), {"type": "Conv1d", "out_channels": 4, "kernel_size": 3}, lin(3)])
def test_float_layer_fed_token_ids(layer):
    d = design([8], [layer], dtype="int64")
    _, err = only_error(d, "layers[0]")
    assert "int64" in err.message and "Embedding" in err.fix


def test_token_ids_pass_through_reshaping_layers():
    d = design([4, 8], [{"type": "Flatten"}, {"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3}],
               dtype="int64")
    assert forward_matches(d).output_shape == (32, 3)


# --- sizes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layer, key", [
    (lin(0), "out_features"),
    (lin(-3), "out_features"),
    (conv(0, 3), "out_channels"),
    (conv(4, 0), "kernel_size"),
    (conv(4, [3, -1]), "kernel_size"),
    (conv(4, 3, stride=0), "stride"),
    ({"type": "LSTM", "hidden_size": 0}, "hidden_size"),
    ({"type": "Repeat", "times": 0, "body": []}, "times"),
    ({"type": "Dropout", "p": -0.5}, "p"),
])
def test_zero_and_negative_sizes(layer, key):
    d = design([3, 8, 8], [layer, {"type": "ReLU"}])
    a, err = only_error(d, f"layers[0].{key}")
    assert "at least" in err.message
    assert err.fix
    assert a.row("layers[1]").status == "unreached"


@pytest.mark.parametrize("shape", [[0], [3, 0, 8], [-1], []])
def test_bad_input_shapes(shape):
    d = design([8], [lin(3)])
    d["input"]["shape"] = shape
    a = analyze(d)
    assert not a.valid and any(e.path == "input.shape" for e in a.errors)
    assert a.row("layers[0]").status == "unreached"


@pytest.mark.parametrize("target, ok", [([2, -1], True), ([3, 0], False), ([5, -1], False), ([-1, -1], False)])
def test_reshape_sizes(target, ok):
    d = design([12], [{"type": "Reshape", "shape": target}])
    if ok:
        assert forward_matches(d).output_shape == (2, 6)
    else:
        _, err = only_error(d, "layers[0]")
        assert err.message.startswith("Reshape: shape") and err.fix


# --- shapes around an error ---------------------------------------------------------------------------


def test_invalid_design_keeps_shapes_before_and_beside_the_error():
    d = design([3, 16, 16], [
        conv(8, 3, padding=1),                                   # 0: ok
        {"type": "Parallel", "branches": [
            [conv(4, 1)],                                        # beside: ok
            [conv(4, 3, padding=1), {"type": "BatchNorm1d"}],    # the error
            [],
        ]},
        {"type": "Residual", "body": [conv(8, 3, padding=1)]},   # after: unreached
        {"type": "Flatten"},
    ])
    a, err = only_error(d, "layers[1].branches[1][1]")
    assert err.fix == "insert Flatten before layers[1].branches[1][1]"
    assert a.row("layers[0]").status == "ok" and a.row("layers[0]").output_shape == (8, 16, 16)
    assert a.row("layers[1].branches[0][0]").status == "ok"
    assert a.row("layers[1].branches[0][0]").output_shape == (4, 16, 16)
    assert a.row("layers[1].branches[1][0]").output_shape == (4, 16, 16)
    assert a.row("layers[1].branches[1][1]").status == "error"
    assert a.row("layers[1].branches[1][1]").input_shape == (4, 16, 16)
    for path in ("layers[2]", "layers[2].body[0]", "layers[3]"):
        assert a.row(path).status == "unreached", path
        assert a.row(path).output_shape is None
    assert a.tree is None and a.output_shape is None
    json_out = a.to_json()
    assert json_out["valid"] is False and json_out["errors"][0]["path"] == "layers[1].branches[1][1]"
    assert [r["path"] for r in json_out["layers"]] == [r.path for r in a.rows]


def test_residual_shortcut_still_analysed_when_the_body_fails():
    d = design([3, 8, 8], [{"type": "Residual", "body": [conv(8, 9)], "shortcut": [conv(8, 1)]}, {"type": "ReLU"}])
    a, _ = only_error(d, "layers[0].body[0]")
    assert a.row("layers[0].shortcut[0]").status == "ok"
    assert a.row("layers[0].shortcut[0]").output_shape == (8, 8, 8)
    assert a.row("layers[1]").status == "unreached"


def test_several_independent_errors_are_all_reported():
    d = design([3, 8, 8], [{"type": "Conv2D"}, {"type": "Parallel", "branches": [[lin(2, bias="yes")], [{"type": "Frobnicate"}]]}])
    a = analyze(d)
    paths = {e.path for e in a.errors}
    assert {"layers[0]", "layers[1].branches[0][0].bias", "layers[1].branches[1][0]"} <= paths
    assert "did you mean 'Conv2d'" in next(e.fix for e in a.errors if e.path == "layers[0]")


# --- task -----------------------------------------------------------------------------------------------


def test_classification_task_vs_output():
    d = design([8], [lin(16), {"type": "ReLU"}, lin(5)], task={"kind": "classification", "num_classes": 3})
    _, err = only_error(d, "task")
    assert "3 classes" in err.message and "5" in err.message
    assert "out_features to 3" in err.fix
    assert forward_matches(apply_fix(d, "task")).output_shape == (3,)


def test_classification_task_vs_image_output():
    d = design([3, 8, 8], [conv(4, 3)], task={"kind": "classification", "num_classes": 7})
    _, err = only_error(d, "task")
    assert "7 classes" in err.message and "4×6×6" in err.message
    assert "Flatten" in err.fix and "Linear" in err.fix
    assert forward_matches(apply_fix(d, "task")).output_shape == (7,)


def test_regression_task_takes_any_output():
    assert forward_matches(design([8], [lin(3)], task={"kind": "regression"})).output_shape == (3,)


def test_classification_task_that_matches():
    assert analyze(design([8], [lin(4)], task={"kind": "classification", "num_classes": 4})).valid


# --- repeat ----------------------------------------------------------------------------------------------


def test_repeat_params_are_times_the_copy():
    per_copy = 16 * 16 + 16
    d = design([16], [{"type": "Repeat", "times": 5, "body": [lin(16), {"type": "ReLU"}]}])
    a = forward_matches(d)
    assert a.params == 5 * per_copy == a.trainable_params
    assert a.row("layers[0]").params == 5 * per_copy
    body = a.row("layers[0].body[0]")
    assert body.copies == 5 and body.params == 5 * per_copy
    assert a.row("layers[0].body[1]").copies == 5
    assert a.row("layers[0]").copies == 1
    assert len(a.tree[0].copies) == 5


def test_repeat_sizes_inferred_per_copy():
    d = design([8], [{"type": "Repeat", "times": 3, "body": [lin(4)]}])
    a = forward_matches(d)
    assert a.params == (8 * 4 + 4) + 2 * (4 * 4 + 4)
    assert a.row("layers[0].body[0]").copies == 3


def test_repeat_flops_scale_with_times():
    one = analyze(design([16], [{"type": "Repeat", "times": 1, "body": [lin(16)]}]))
    many = analyze(design([16], [{"type": "Repeat", "times": 7, "body": [lin(16)]}]))
    assert one.flops > 0 and many.flops == 7 * one.flops


def test_nested_repeat_counts_every_copy():
    d = design([8], [{"type": "Repeat", "times": 3, "body": [{"type": "Repeat", "times": 2, "body": [lin(8)]}]}])
    a = forward_matches(d)
    assert a.params == 6 * (8 * 8 + 8)
    assert a.row("layers[0].body[0]").copies == 3
    assert a.row("layers[0].body[0].body[0]").copies == 6
    assert a.row("layers[0].body[0].body[0]").params == 6 * 72


def test_nested_repeat_with_changing_shapes():
    d = design([8], [{"type": "Repeat", "times": 2, "body": [{"type": "Repeat", "times": 2, "body": [lin(5)]}]}])
    a = forward_matches(d)
    assert a.params == (8 * 5 + 5) + 3 * (5 * 5 + 5)
    assert a.row("layers[0].body[0].body[0]").copies == 4


def test_repeat_that_shrinks_too_far_fails_in_a_later_copy():
    d = design([3, 16, 16], [{"type": "Repeat", "times": 5, "body": [conv(4, 3, stride=2)]}, {"type": "ReLU"}])
    a, err = only_error(d, "layers[0].body[0]")
    assert "larger than its input 1×1" in err.message
    assert a.row("layers[1]").status == "unreached"


def test_big_repeat_is_fast():
    import time

    t = time.process_time()  # CPU time: a busy machine does not make it fail
    a = analyze(design([64], [{"type": "Repeat", "times": 1000, "body": [lin(64), {"type": "ReLU"}]}]))
    assert a.valid and a.params == 1000 * (64 * 64 + 64)
    assert time.process_time() - t < 2


def test_error_action_applies_through_apply_action():
    d = design([3, 8, 8], [conv(4), {"type": "BatchNorm1d"}, lin(10)])
    err = analyze(d).errors[0]
    assert analyze(apply_action(d, err.action)).valid


@pytest.mark.parametrize("layer", [
    {"type": "LSTM", "hidden_size": 6, "num_layers": 2, "bidirectional": True},
    {"type": "GRU", "hidden_size": 5, "return_sequences": False},
    {"type": "RNN", "hidden_size": 3, "num_layers": 3, "bidirectional": True, "return_sequences": False},
    {"type": "LSTM", "hidden_size": 4, "bias": False},
])
@pytest.mark.parametrize("length", [1, 2, 7])
def test_recurrent_flops_formula_is_the_flop_counters(layer, length):
    """Recurrent FLOPs come from a formula (a meta run unrolls every step); it must equal torch's count."""
    from torch.utils.flop_counter import FlopCounterMode

    d = design([length, 4], [layer])
    a = forward_matches(d)
    with torch.device("meta"):  # on meta the layer runs step by step (on CPU a fused kernel hides it from the counter)
        model = build_model(d).eval()
        x = torch.zeros(1, length, 4)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    assert a.flops == counter.get_total_flops() > 0


def test_recurrent_analysis_does_not_unroll_long_sequences():
    """A BiLSTM over 100,000 steps: its analysis would unroll for minutes if it ran the layer."""
    d = design([100_000, 16], [{"type": "LSTM", "hidden_size": 32, "bidirectional": True, "return_sequences": False}])
    a = analyze(d)
    assert a.valid and a.output_shape == (64,) and a.flops == 100_000 * 2 * 2 * 4 * 32 * (16 + 32)


@pytest.mark.parametrize("shape, params, words, fix", [
    ([2, 5], {"size": [6, 8], "mode": "nearest"}, "size [6, 8] has 2 entries but 2×5 has 1 spatial dimension", "give 1 entry"),
    ([2, 5], {"scale_factor": 2.0, "mode": "bilinear"}, "mode bilinear needs (C, H, W) but receives a sequence (C, L) 2×5",
     "set mode to linear or nearest"),
    ([2, 4, 4], {"scale_factor": 2.0, "mode": "linear"}, "mode linear needs (C, L) but receives an image", "set mode to bilinear"),
])
def test_upsample_rank_problems_are_worded_per_sample(shape, params, words, fix):
    a = analyze(design(shape, [{"type": "Upsample", **params}]))
    [err] = a.errors
    assert words in err.message and fix in err.fix and "Got" not in err.message


def test_groupnorm_message_names_the_type_once():
    [err] = analyze(design([6, 4], [{"type": "GroupNorm", "num_groups": 4}])).errors
    assert err.message.startswith("GroupNorm: 6 channels do not divide") and "GroupNorm: GroupNorm" not in err.message


@pytest.mark.parametrize("layer, message", [
    ({"type": "Softmax", "dim": 0}, "batch"),
    ({"type": "LogSoftmax", "dim": 0}, "batch"),
    ({"type": "GLU", "dim": -1}, "must be even"),
    ({"type": "PReLU", "num_parameters": 3}, "neither 1 nor the 4 channels"),
    ({"type": "PixelShuffle", "upscale_factor": 3}, "upscale_factor"),
    ({"type": "Attention", "num_heads": 4, "num_kv_heads": 3}, "does not divide num_heads"),
    ({"type": "Attention", "num_heads": 2, "rotary": True}, "even head size"),
])
def test_new_layer_errors_say_what_to_do(layer, message):
    shape = {"PixelShuffle": [4, 5, 5], "Attention": [4, 6] if layer.get("rotary") else [4, 8]}.get(layer["type"], [4, 5])
    a = analyze(design(shape, [layer]))
    assert not a.valid and message in a.errors[0].message and a.errors[0].fix


def test_softmax_default_is_the_last_axis():
    model = build_model(design([3, 5], [{"type": "Softmax"}])).eval()
    y = model(torch.randn(2, 3, 5))
    torch.testing.assert_close(y.sum(-1), torch.ones(2, 3))


def test_classifier_without_flatten_points_at_the_linear_after_the_convolution():
    d = design([1, 12, 12], [conv(4), {"type": "ReLU"}, lin(10)])
    d["task"] = {"kind": "classification", "num_classes": 10}
    a = analyze(d)
    [err] = a.errors
    assert err.path == "task" and err.fix == "insert Flatten before layers[2]"
    assert analyze(apply_action(d, err.action)).valid
