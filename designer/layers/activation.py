"""Activations: element-wise non-linearities, and Softmax."""

from __future__ import annotations

from designer.params import P
from designer.registry import LayerSpec, register

for _type, _help in (
    ("ReLU", "max(0, x)."),
    ("GELU", "Gaussian error linear unit, as in transformers."),
    ("SiLU", "x · sigmoid(x) (swish)."),
    ("Tanh", "Hyperbolic tangent."),
    ("Sigmoid", "1 / (1 + exp(-x))."),
    ("Mish", "x · tanh(softplus(x))."),
    ("Hardswish", "A cheap swish, as in MobileNetV3."),
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
    type="Softmax", family="activation",
    help="Turns scores along `dim` into probabilities (not needed before cross-entropy).",
    params=(P("dim", "int", None, "Dimension of the whole tensor (batch is 0); -1 is the last.",
              min=-8, max=8, nullable=True, key=True),),
    palette={"dim": -1},
    check=lambda shape, v: [] if v["dim"] is None or (-len(shape) - 1 < v["dim"] <= len(shape) and v["dim"] != 0) else [
        (f"dim {v['dim']} is the batch or out of range for a {len(shape) + 1}-D tensor (batch is 0)",
         "set dim to -1 (the last dimension)", None)],
))
