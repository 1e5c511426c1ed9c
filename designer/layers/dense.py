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
    ),
    ranks=(1, 2), expects="features (F) or a sequence (L, F)",
    infer=lambda shape: {"in_features": shape[-1]},
    positional=("out_features",),
))
