"""Attention: multi-head self-attention, the transformer encoder layer, the designer Attention
(causal, rotary, grouped-query) and ClassToken, over (L, E)."""

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
        P("causal", "bool", False, "Position i attends to positions <= i only (decoders).", key=True),
    ),
    ranks=(2,), expects="a sequence (L, E)",
    infer=lambda shape: {"embed_dim": shape[-1]},
    fixed={"batch_first": True},
    wrapper="SelfAttention", wrapper_params=("causal",),
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
        P("activation", "choice", "relu", "Feed-forward activation (gelu_tanh: the tanh approximation, GPT-2).",
          choices=("relu", "gelu", "gelu_tanh")),
        P("layer_norm_eps", "float", 1e-5, "LayerNorm epsilon.", min=0.0, max=1.0),
        P("norm_first", "bool", False, "Pre-norm (LayerNorm before attention and feed-forward)."),
        P("bias", "bool", True, "Use biases."),
        P("causal", "bool", False, "Position i attends to positions <= i only (decoders).", key=True),
    ),
    ranks=(2,), expects="a sequence (L, E)",
    infer=lambda shape: {"d_model": shape[-1]},
    fixed={"batch_first": True},
    positional=("nhead",),
    variant="EncoderLayer", variant_params=("causal",),
    variant_when=lambda v: v["causal"] or v["activation"] == "gelu_tanh",
    check=_heads_check("nhead", "d_model"),
    label_fn=lambda v: f"{v['nhead']} heads · ff {v['dim_feedforward']}",
))


def _attention_check(shape, v):
    problems = _heads_check("num_heads", "embedding size")(shape, v)
    if problems:
        return problems
    heads, kv = v["num_heads"], v["num_kv_heads"] or v["num_heads"]
    if heads % kv:
        options = ", ".join(str(k) for k in range(1, heads + 1) if heads % k == 0)
        return [(f"num_kv_heads={kv} does not divide num_heads={heads}", f"set num_kv_heads to one of {options}", None)]
    if v["rotary"] and (shape[-1] // heads) % 2:
        return [(f"rotary needs an even head size, and {shape[-1]} / {heads} heads = {shape[-1] // heads}",
                 "change num_heads or the embedding size so that embedding / heads is even", None)]
    return []


def _attention_label(v):
    parts = [f"{v['num_heads']} heads"]
    if v["num_kv_heads"] and v["num_kv_heads"] != v["num_heads"]:
        parts.append(f"kv {v['num_kv_heads']}")
    parts += [k for k in ("causal", "rotary") if v[k]]
    return " · ".join(parts)


register(LayerSpec(
    type="Attention", family="attention",
    help="Self-attention with q, k, v, o projections; causal, rotary, grouped-query (Llama-style decoders). (L, E).",
    params=(
        P("num_heads", "int", 4, "Query heads (must divide the embedding size).", min=1, max=1024, required=True, key=True),
        P("num_kv_heads", "int", None, "Key/value heads (must divide num_heads); empty: num_heads.", min=1, max=1024,
          nullable=True, key=True),
        P("causal", "bool", False, "Position i attends to positions <= i only.", key=True),
        P("rotary", "bool", False, "Rotary position embedding on queries and keys.", key=True),
        P("bias", "bool", False, "Bias in the four projections."),
        P("dropout", "float", 0.0, "Dropout on attention weights (training only).", min=0.0, max=1.0),
    ),
    ranks=(2,), expects="a sequence (L, E)",
    infer=lambda shape: {"embed_dim": shape[-1]},
    positional=("num_heads",),
    check=_attention_check,
    label_fn=_attention_label,
))
register(LayerSpec(
    type="ClassToken", family="embedding",
    help="Prepends one learned token to a sequence: (L, E) to (L + 1, E), as in ViT.",
    ranks=(2,), expects="a sequence (L, E)",
    infer=lambda shape: {"embed_dim": shape[-1]},
))
