"""Activations: element-wise non-linearities, and Softmax."""

from __future__ import annotations

from designer.params import MAX_SIZE, P
from designer.registry import LayerSpec, register

for _type, _help in (
    ("ReLU", "max(0, x)."),
    ("SiLU", "x · sigmoid(x) (swish)."),
    ("Tanh", "Hyperbolic tangent."),
    ("Sigmoid", "1 / (1 + exp(-x))."),
    ("Mish", "x · tanh(softplus(x))."),
    ("Hardswish", "A cheap swish, as in MobileNetV3."),
    ("ReLU6", "min(max(0, x), 6), as in MobileNetV2."),
    ("Hardsigmoid", "A cheap sigmoid, as in MobileNetV3."),
):
    register(LayerSpec(type=_type, family="activation", help=_help))

register(LayerSpec(
    type="LeakyReLU", family="activation", help="ReLU with a small slope for negative inputs.",
    params=(P("negative_slope", "float", 0.01, "Slope for x < 0.", min=0.0, max=1.0, key=True),),
))
register(LayerSpec(
    type="ELU", family="activation", help="Exponential linear unit.",
    params=(P("alpha", "float", 1.0, "Scale of the negative part.", min=0.0, max=100.0),),
))
register(LayerSpec(
    type="GELU", family="activation", help="Gaussian error linear unit, as in transformers.",
    params=(P("approximate", "choice", "none", "Exact (none) or the tanh approximation (GPT-2).",
              choices=("none", "tanh"), key=True),),
))
register(LayerSpec(
    type="Hardtanh", family="activation", help="Clamps x to [min_val, max_val].",
    params=(P("min_val", "float", -1.0, "Lower bound.", min=-1e6, max=1e6, key=True),
            P("max_val", "float", 1.0, "Upper bound.", min=-1e6, max=1e6, key=True)),
    check=lambda shape, v: [] if v["min_val"] < v["max_val"] else [
        (f"min_val {v['min_val']} is not below max_val {v['max_val']}", "make min_val smaller than max_val", None)],
))
register(LayerSpec(
    type="PReLU", family="activation", help="ReLU with a learned slope for negative inputs (one, or one per channel).",
    params=(P("num_parameters", "int", 1, "Learned slopes: 1, or the number of channels.", min=1, max=MAX_SIZE, key=True),
            P("init", "float", 0.25, "Initial slope.", min=-100.0, max=100.0)),
    check=lambda shape, v: [] if v["num_parameters"] in (1, shape[0]) else [
        (f"num_parameters {v['num_parameters']} is neither 1 nor the {shape[0]} channels (dim 1) of its input",
         f"set num_parameters to 1 or {shape[0]}", None)],
))
register(LayerSpec(
    type="Softplus", family="activation", help="log(1 + exp(beta·x)) / beta: a smooth ReLU.",
    params=(P("beta", "float", 1.0, "Sharpness.", min=1e-6, max=1e6),
            P("threshold", "float", 20.0, "Above beta·x > threshold the output is x.", min=0.0, max=1e6)),
))


def _glu_check(shape, v):
    problems = _dim_check(shape, v)
    if problems:
        return problems
    d = v["dim"] if v["dim"] > 0 else v["dim"] + len(shape) + 1
    if shape[d - 1] % 2:
        return [(f"dim {v['dim']} has {shape[d - 1]} entries; GLU halves it, so it must be even",
                 f"make that dimension even (e.g. {shape[d - 1] + 1})", None)]
    return []


def _dim_check(shape, v):
    """dim is an axis of the whole tensor but not the batch (0)."""
    d = v["dim"]
    if -len(shape) - 1 < d <= len(shape) and d != 0 and d != -len(shape) - 1:
        return []
    return [(f"dim {d} is the batch or out of range for a {len(shape) + 1}-D tensor (batch is 0)",
             "set dim to -1 (the last dimension)", None)]


register(LayerSpec(
    type="GLU", family="activation", help="Gated linear unit: splits dim in halves a, b and gives a · sigmoid(b).",
    params=(P("dim", "int", -1, "The dimension to halve (batch is 0); -1 is the last.", min=-8, max=8, key=True),),
    check=_glu_check,
))
for _type, _help in (
    ("Softmax", "Turns scores along `dim` into probabilities (not needed before cross-entropy)."),
    ("LogSoftmax", "log(softmax(x)) along `dim`, computed stably."),
):
    register(LayerSpec(
        type=_type, family="activation", help=_help,
        params=(P("dim", "int", -1, "Dimension of the whole tensor (batch is 0); -1 is the last.",
                  min=-8, max=8, key=True),),
        check=_dim_check,
    ))
