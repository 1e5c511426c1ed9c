"""Dense layers: Linear and Bilinear-free fully connected maps."""

from __future__ import annotations

from designer.params import MAX_SIZE, P
from designer.registry import LayerSpec, register

register(LayerSpec(
    type="Linear", family="dense",
    help="Fully connected: maps the last dimension to out_features.",
    params=(
        P("out_features", "int", 64, "Number of outputs.", min=1, max=MAX_SIZE, required=True, key=True),
        P("bias", "bool", True, "Add a learnable bias."),
        P("tie_weights", "str", None, "Path of an earlier Embedding whose weight this layer uses (weight tying, "
          'as in GPT-2), e.g. "layers[0]"; empty: its own weight.', nullable=True),
    ),
    ranks=(), expects="features (..., F): it maps the last dimension",
    infer=lambda shape: {"in_features": shape[-1]},
    positional=("out_features",),
    variant_params=("tie_weights",), tie="tie_weights",
))
