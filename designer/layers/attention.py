"""Attention: multi-head self-attention and the transformer encoder layer, over (L, E)."""

from __future__ import annotations

from designer.params import P
from designer.registry import LayerSpec, register


def _heads_check(param: str, what: str):
    def check(shape, v):
        embed, heads = shape[-1], v[param]
        if embed % heads:
            options = ", ".join(str(h) for h in range(1, min(embed, 64) + 1) if embed % h == 0)
            nearest = max(h for h in range(1, heads + 1) if embed % h == 0)
            return [(f"{what} {embed} does not divide into {param}={heads} heads",
                     f"set {param} to {nearest} (one of {options}), or change the embedding size to a multiple of {heads}",
                     {"op": "set", "key": param, "value": nearest})]
        return []

    return check


register(LayerSpec(
    type="MultiheadAttention", family="attention",
    help="Multi-head self-attention (query = key = value = input) over (L, E).",
    params=(
        P("num_heads", "int", 4, "Attention heads (must divide the embedding size).", min=1, max=1024, required=True, key=True),
        P("dropout", "float", 0.0, "Dropout on attention weights.", min=0.0, max=1.0),
        P("bias", "bool", True, "Use bias in the projections."),
    ),
    ranks=(2,), expects="a sequence (L, E)",
    infer=lambda shape: {"embed_dim": shape[-1]},
    fixed={"batch_first": True},
    wrapper="SelfAttention",
    positional=("num_heads",),
    check=_heads_check("num_heads", "embedding size"),
    label_fn=lambda v: f"{v['num_heads']} heads",
))
register(LayerSpec(
    type="TransformerEncoderLayer", family="attention",
    help="Self-attention plus a feed-forward network, each with a residual and LayerNorm, over (L, E).",
    params=(
        P("nhead", "int", 4, "Attention heads (must divide d_model).", min=1, max=1024, required=True, key=True),
        P("dim_feedforward", "int", 2048, "Width of the feed-forward network.", min=1, max=1 << 20, key=True),
        P("dropout", "float", 0.1, "Dropout rate.", min=0.0, max=1.0),
        P("activation", "choice", "relu", "Feed-forward activation.", choices=("relu", "gelu")),
        P("layer_norm_eps", "float", 1e-5, "LayerNorm epsilon.", min=0.0, max=1.0),
        P("norm_first", "bool", False, "Pre-norm (LayerNorm before attention and feed-forward)."),
        P("bias", "bool", True, "Use biases."),
    ),
    ranks=(2,), expects="a sequence (L, E)",
    infer=lambda shape: {"d_model": shape[-1]},
    fixed={"batch_first": True},
    positional=("nhead",),
    check=_heads_check("nhead", "d_model"),
    label_fn=lambda v: f"{v['nhead']} heads · ff {v['dim_feedforward']}",
))
