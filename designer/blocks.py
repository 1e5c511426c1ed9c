"""Blocks: Sequential, Residual, Parallel, Repeat. Their declarations and merge rules.

The modules they build are in designer.modules (Residual, Parallel) or are nn.Sequential.
"""

from __future__ import annotations

from designer.errors import Issue
from designer.params import P, size_text
from designer.registry import LayerSpec, register

MAX_REPEAT = 1000

register(LayerSpec(
    type="Sequential", family="block", help="A group of layers applied in order.",
    children=("layers",), input_dtype="any",
))
register(LayerSpec(
    type="Residual", family="block",
    help="body(x) + shortcut(x); an empty shortcut is the identity.",
    children=("body", "shortcut"), input_dtype="any",
))
register(LayerSpec(
    type="Parallel", family="block",
    help="Every branch gets the input; results are concatenated along dim, added, or multiplied (gating).",
    params=(
        P("merge", "choice", "concat", "How branch outputs combine (mul: elementwise with broadcasting, for gating).",
          choices=("concat", "add", "mul"), key=True),
        P("dim", "int", 1, "Concatenation dimension of the whole tensor (batch is 0); mul and add ignore it.", min=-8, max=8),
    ),
    children=("branches",), input_dtype="any", palette={"branches": [[], []]},
    label_fn=lambda v: v["merge"],
))
register(LayerSpec(
    type="Repeat", family="block",
    help="The body applied N times in a row, each copy with its own weights.",
    params=(P("times", "int", 2, "How many copies.", min=1, max=MAX_REPEAT, required=True, key=True),),
    children=("body",), input_dtype="any",
    label_fn=lambda v: f"× {v['times']}",
))


def projection_shortcut(in_shape: tuple, out_shape: tuple) -> list[dict] | None:
    """Layers that map the block's input shape onto its body's output shape, when one is clear."""
    if len(in_shape) == 3 and len(out_shape) == 3:
        (_, h, w), (c2, h2, w2) = in_shape, out_shape
        if h % h2 or w % w2 or h // h2 != w // w2:
            return None
        stride = h // h2
        conv = {"type": "Conv2d", "out_channels": c2, "kernel_size": 1, "bias": False}
        if stride != 1:
            conv["stride"] = stride
        return [conv, {"type": "BatchNorm2d"}]
    if len(in_shape) == 2 and len(out_shape) == 2 and in_shape[0] == out_shape[0]:
        return [{"type": "Linear", "out_features": out_shape[1]}]
    if len(in_shape) == 1 and len(out_shape) == 1:
        return [{"type": "Linear", "out_features": out_shape[0]}]
    return None


def residual_issue(path: str, in_shape: tuple, body: tuple, shortcut: tuple, has_shortcut: bool) -> Issue | None:
    """The error of a Residual whose body and shortcut disagree, with a projection fix."""
    if body == shortcut:
        return None
    message = (f"the body gives {size_text(list(body))} but the shortcut gives {size_text(list(shortcut))}; "
               "a residual adds them, so they must match")
    projection = projection_shortcut(in_shape, body)
    if projection is None or has_shortcut:
        return Issue(path, message, "make the body keep its input shape, or give a shortcut that matches it")
    names = " + ".join(_describe(n) for n in projection)
    return Issue(
        path, message, f"add a projection shortcut: {names}",
        action={"op": "set", "path": path, "key": "shortcut", "value": projection},
    )


def _describe(node: dict) -> str:
    inner = ", ".join(f"{k}={v}" for k, v in node.items() if k != "type")
    return f"{node['type']}({inner})"


def merge_shapes(path: str, shapes: list[tuple], merge: str, dim: int) -> tuple[tuple | None, Issue | None]:
    """The output of a Parallel block from its branch outputs, or the reason they cannot merge."""
    listing = ", ".join(size_text(list(s)) for s in shapes)
    if merge == "add":
        if all(s == shapes[0] for s in shapes):
            return shapes[0], None
        return None, Issue(path, f"branches give {listing}; adding them needs equal shapes",
                           "make every branch end in the same shape, or merge by concat")
    if merge == "mul":
        return _broadcast(path, shapes, listing)
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        return None, Issue(path, f"branches give {listing}, of different ranks: they cannot be concatenated",
                           "make every branch end in the same number of dimensions")
    rank = ranks.pop() + 1
    d = dim + rank if dim < 0 else dim
    if not 1 <= d < rank:
        return None, Issue(path, f"dim {dim} is not a sample dimension of a {rank}-D tensor (batch is 0)",
                           "set dim to 1 (channels) or -1 (last)")
    others = {tuple(s[:d - 1] + s[d:]) for s in shapes}
    if len(others) != 1:
        return None, Issue(path, f"branches give {listing}; concatenating along dim {dim} needs all other sizes equal",
                           "match the other sizes (for images: the same stride and padding in every branch)")
    out = list(shapes[0])
    out[d - 1] = sum(s[d - 1] for s in shapes)
    return tuple(out), None


def _broadcast(path: str, shapes: list[tuple], listing: str) -> tuple[tuple | None, Issue | None]:
    """PyTorch broadcasting of the branch outputs (batch included, so every branch keeps the same rank)."""
    if len({len(s) for s in shapes}) != 1:
        return None, Issue(path, f"branches give {listing}, of different ranks: multiplying them would broadcast "
                           "the batch against a sample dimension",
                           "give every branch the same number of dimensions (keep size-1 axes, e.g. pool to 1×1)")
    out = []
    for sizes in zip(*shapes):
        wide = {s for s in sizes if s != 1}
        if len(wide) > 1:
            return None, Issue(path, f"branches give {listing}; multiplying needs each size equal or 1 (broadcasting)",
                               "make the sizes match, or reduce one branch's size to 1 along that axis")
        out.append(wide.pop() if wide else 1)
    return tuple(out), None
