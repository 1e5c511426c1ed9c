"""Hand-written self-attention (nanoGPT's CausalSelfAttention, Llama-style q/k/v/o) -> the designer's Attention.

A module is taken for attention when its traced forward is: Linear projections of its input (one fused
q·k·v Linear split in three, or three Linears), head reshapes, one F.scaled_dot_product_attention
(no mask; causal or not), the heads merged back, an output Linear and maybe a Dropout. The proposal is
then checked numerically: the designer's Attention with the module's weights must give the module's
output on the example, or the module is not taken.
"""

from __future__ import annotations

from typing import Any

from designer.importing.mapping import FILL

_SHAPE_OPS = {"view", "reshape", "transpose", "permute", "contiguous", "split", "chunk", "getitem", "size",
              "unbind", "flatten"}


def _name(n) -> str:
    t = n.target
    return t if isinstance(t, str) else getattr(t, "__name__", str(t))


def recognise(module, args: tuple, output: Any) -> list[dict] | None:
    import torch
    import torch.fx as fx
    import torch.nn.functional as F
    from torch import nn

    from designer import modules
    from designer.importing.fx import _leaf

    if len(args) != 1 or not isinstance(output, torch.Tensor) or args[0].dim() != 3:
        return None

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, name):
            return _leaf(m)

    graph = Tracer().trace(module)
    sdpa = [n for n in graph.nodes if n.op == "call_function" and n.target is F.scaled_dot_product_attention]
    if len(sdpa) != 1:
        return None
    attn = sdpa[0]
    if attn.kwargs.get("attn_mask") is not None or len(attn.args) > 3 or attn.kwargs.get("scale") is not None:
        return None
    from torch.fx.passes.shape_prop import ShapeProp

    gm = fx.GraphModule(module, graph)
    ShapeProp(gm).propagate(*args)
    linears, dropouts = [], []
    for n in graph.nodes:
        if n.op == "call_module":
            sub = module.get_submodule(n.target)
            if isinstance(sub, nn.Linear):
                linears.append((n, sub))
            elif isinstance(sub, nn.Dropout):
                dropouts.append((n, sub))
            else:
                return None
        elif (n.op in ("call_function", "call_method") and n is not attn and _name(n) not in _SHAPE_OPS
              and "tensor_meta" in n.meta):  # shape arithmetic (T // heads) is fine
            return None
        elif n.op == "get_attr":
            return None
    x = next(n for n in graph.nodes if n.op == "placeholder")
    inputs = [(n, m) for n, m in linears if n.args and n.args[0] is x]
    outputs = [(n, m) for n, m in linears if (n, m) not in inputs]
    if len(outputs) != 1 or len(inputs) not in (1, 3) or len(dropouts) > 1:
        return None
    embed = args[0].shape[-1]
    o = outputs[0][1]
    if o.in_features != embed or o.out_features != embed:
        return None
    # Heads from the shapes sdpa receives: (N, heads, L, d).
    q_shape = attn.args[0].meta["tensor_meta"].shape
    k_shape = attn.args[1].meta["tensor_meta"].shape
    if len(q_shape) != 4:
        return None
    heads, kv_heads = int(q_shape[1]), int(k_shape[1])
    causal = bool(attn.kwargs.get("is_causal", False))
    projections = [m for _, m in inputs] + [o]
    bias = projections[0].bias is not None
    if any((m.bias is not None) != bias for m in projections):
        return None
    kv_dim = embed // heads * kv_heads
    if len(inputs) == 1:
        fused = inputs[0][1]
        if fused.out_features != embed + 2 * kv_dim:
            return None
        parts = [(fused, 0, embed), (fused, embed, embed + kv_dim), (fused, embed + kv_dim, embed + 2 * kv_dim)]
    else:
        order = []
        for arg in attn.args[:3]:
            found = [m for n, m in inputs if _reaches(n, arg)]
            if len(found) != 1:
                return None
            order.append(found[0])
        parts = [(m, 0, m.out_features) for m in order]

    def fill(target, parts=parts, o=o):
        with torch.no_grad():
            for proj, (src, lo, hi) in zip((target.q, target.k, target.v), parts):
                proj.weight.copy_(src.weight[lo:hi])
                if src.bias is not None:
                    proj.bias.copy_(src.bias[lo:hi])
            target.o.weight.copy_(o.weight)
            if o.bias is not None:
                target.o.bias.copy_(o.bias)

    candidate = modules.Attention(embed, heads, num_kv_heads=kv_heads, causal=causal, bias=bias)
    fill(candidate)
    candidate.eval()
    with torch.no_grad():
        got = candidate(args[0])
    if got.shape != output.shape or not torch.allclose(got, output, rtol=1e-4, atol=1e-5):
        return None
    node: dict[str, Any] = {"type": "Attention", "num_heads": heads}
    if kv_heads != heads:
        node["num_kv_heads"] = kv_heads
    if causal:
        node["causal"] = True
    if bias:
        node["bias"] = True
    node[FILL] = fill
    out = [node]
    if dropouts:
        p = dropouts[0][1].p
        out.append({"type": "Dropout", "name": dropouts[0][0].target, **({"p": p} if p != 0.5 else {})})
    return out


def _reaches(src, dst) -> bool:
    """Whether graph node `dst` depends on `src`."""
    stack, seen = [dst], set()
    while stack:
        n = stack.pop()
        if n is src:
            return True
        if n in seen:
            continue
        seen.add(n)
        stack.extend(n.all_input_nodes)
    return False
