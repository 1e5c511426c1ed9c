"""Blocks: Sequential, Residual, Parallel, Repeat. Their declarations, merge rules, and block rules.

A BlockRule says, once per block, how the analysis walks it, which module it builds, how its code
reads, where its children sit inside that module, and how it wraps chosen nodes; analysis, build,
codegen and edits only dispatch on it. The modules are in designer.modules (Residual, Parallel) or
are nn.Sequential.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
        P("dim", "int", 1, "Concatenation dimension of the whole tensor (batch is 0); mul and add ignore it.", min=-8, max=8,
          shown_when=("merge", ("concat",))),
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
        conv = {"type": "Conv2d", "out_channels": c2, "kernel_size": 1, "bias": False}
        if h % h2 or w % w2 or h // h2 != w // w2:
            # Not a whole stride (a body without padding, say): pool to the body's size.
            return [conv, {"type": "BatchNorm2d"}, {"type": "AdaptiveAvgPool2d", "output_size": [h2, w2]}]
        stride = h // h2
        if stride != 1:
            conv["stride"] = stride
        return [conv, {"type": "BatchNorm2d"}]
    if len(in_shape) == 2 and len(out_shape) == 2 and in_shape[1] != out_shape[1] and in_shape[0] != out_shape[0]:
        (_, length), (c2, l2) = in_shape, out_shape
        conv = {"type": "Conv1d", "out_channels": c2, "kernel_size": 1, "bias": False}
        if length % l2 == 0:
            if length // l2 != 1:
                conv["stride"] = length // l2
            return [conv, {"type": "BatchNorm1d"}]
        return [conv, {"type": "BatchNorm1d"}, {"type": "AdaptiveAvgPool1d", "output_size": l2}]
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
    if projection is None:
        return Issue(path, message, "make the body keep its input shape, or give a shortcut that matches it")
    names = " + ".join(_describe(n) for n in projection)
    verb = "replace the shortcut with a projection" if has_shortcut else "add a projection shortcut"
    return Issue(
        path, message, f"{verb}: {names}",
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


# --- block rules -------------------------------------------------------------------------------------------


# How each merge mode reads where blocks are drawn: the glyph in the browser's merge circle, the label
# of the DOT merge node ("{dim}" is the node's dim) and the tooltip.
MERGES: dict[str, dict[str, str]] = {
    "add": {"symbol": "+", "text": "add", "tip": "add elementwise"},
    "mul": {"symbol": "×", "text": "multiply (broadcast)", "tip": "multiply elementwise, with broadcasting"},
    "concat": {"symbol": "⧺", "text": "concat · dim {dim}", "tip": "concatenate along dim {dim}"},
}


@dataclass(frozen=True)
class Lane:
    """One child slot of a block as the editor and the drawings show it."""

    label: str = ""  # above the lane in the editor ("{n}": the branch number, from 1)
    empty: str = "Drop layers here"  # what an empty lane says
    identity: bool = False  # empty, it passes its input on unchanged (a skip edge)
    frame: bool = False  # the DOT drawing frames it (dashed, with its label) when it has layers
    many: bool = False  # the slot holds a list of lanes (Parallel's branches)


@dataclass(frozen=True)
class BlockDrawing:
    """How a block is drawn (DOT in designer.graph, SVG in the browser) and laid out in the editor.

    layout "frame": its lanes run one after another inside a frame; "fork": side by side into a merge
    node. merge: a fork's fixed mode, or None for the node's own "merge" parameter. count: the parameter
    shown as "× N" (the block stands for that many copies of its lane)."""

    layout: str
    lanes: dict[str, Lane]
    merge: str | None = None
    count: str | None = None

    def merge_of(self, node: dict) -> str:
        mode = self.merge or node.get("merge")
        return mode if mode in MERGES else "concat"

    def lane_entries(self, node: dict) -> list[tuple[str, Lane, list]]:
        """(slot suffix, lane, its nodes) in order; a lane that is not a list reads as empty."""
        out = []
        for key, lane in self.lanes.items():
            value = node.get(key)
            if lane.many:
                out += [(f"{key}[{i}]", lane, b) for i, b in enumerate(value) if isinstance(b, list)] \
                    if isinstance(value, list) else []
            else:
                out.append((key, lane, value if isinstance(value, list) else []))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"layout": self.layout, "merge": self.merge, "count": self.count,
                "lanes": {k: vars(lane) for k, lane in self.lanes.items()}}


@dataclass(frozen=True)
class BlockRule:
    """How one block type goes through the house (instances are designer.analysis.Instance).

    walk(walker, node, inst, values, path, shape, dtype, depth, row) -> (output shape or None, dtype): fills
        inst.slots / inst.copies through the walker (designer.analysis._Walk)
    module(inst, sequence) -> nn.Module, where sequence(instances) builds an nn.Sequential
    code(inst, writer) -> the constructor expression (designer.codegen._Walk: sequence, repeat, call, used)
    slots(inst) -> [(steps from the block's module to an nn.Sequential, the instances in it)]
    wrap(nodes) -> the block node holding the chosen nodes (the editor's "wrap in")
    drawing -> how the drawings and the editor's lanes show it (BlockDrawing)
    """

    walk: Callable[..., tuple[Any, Any]]
    module: Callable[[Any, Callable], Any]
    code: Callable[[Any, Any], Any]
    slots: Callable[[Any], list[tuple[tuple, list]]]
    wrap: Callable[[list], dict]
    drawing: BlockDrawing


def _walk_sequential(w, node, inst, values, path, shape, dtype, depth, row):
    inst.slots["layers"], out, out_dtype = w.walk_list(node.get("layers", []), f"{path}.layers", shape, dtype, depth + 1)
    return out, out_dtype


def _walk_residual(w, node, inst, values, path, shape, dtype, depth, row):
    body, b_out, b_dtype = w.walk_list(node.get("body", []), f"{path}.body", shape, dtype, depth + 1)
    shortcut_nodes = node.get("shortcut") or []
    short, s_out, _ = w.walk_list(shortcut_nodes, f"{path}.shortcut", shape, dtype, depth + 1)
    inst.slots = {"body": body, "shortcut": short}
    if b_out is None or s_out is None:
        return None, dtype
    issue = residual_issue(path, shape, b_out, s_out, bool(shortcut_nodes))
    if issue:
        w.fail(row, issue)
        return None, dtype
    return b_out, b_dtype


def _walk_parallel(w, node, inst, values, path, shape, dtype, depth, row):
    from designer.design import child_slots

    outs, out_dtype = [], dtype
    for suffix, branch in child_slots(node):
        inst.slots[suffix], b_out, b_dtype = w.walk_list(branch, f"{path}.{suffix}", shape, dtype, depth + 1)
        outs.append(b_out)
        out_dtype = b_dtype
    if not outs or any(o is None for o in outs):
        return None, out_dtype
    out, issue = merge_shapes(path, outs, values["merge"], values["dim"])
    if issue:
        w.fail(row, issue)
    return out, out_dtype


def _walk_repeat(w, node, inst, values, path, shape, dtype, depth, row):
    return w.walk_repeat(node, inst, values["times"], path, shape, dtype, depth)


def _module_residual(inst, sequence):
    from designer import modules

    shortcut = inst.slots["shortcut"]
    return modules.Residual(sequence(inst.slots["body"]), sequence(shortcut) if shortcut else None)


def _module_parallel(inst, sequence):
    from designer import modules

    return modules.Parallel([sequence(b) for b in inst.slots.values()], merge=inst.values["merge"], dim=inst.values["dim"])


def _module_repeat(inst, sequence):
    from torch import nn

    return nn.Sequential(*(sequence(copy) for copy in inst.copies))


def _code_residual(inst, writer):
    shortcut = inst.slots["shortcut"]
    items = [writer.sequence(inst.slots["body"])]
    if shortcut:
        items.append(writer.sequence(shortcut))
    return writer.call("Residual", items)


def _code_parallel(inst, writer):
    from designer import modules

    branches = writer.literal_list([writer.sequence(b) for b in inst.slots.values()])
    options = {"merge": inst.values["merge"], "dim": inst.values["dim"]}
    return writer.call("Parallel", [branches, *writer.arguments(modules.Parallel, options)])


BLOCK_RULES: dict[str, BlockRule] = {
    "Sequential": BlockRule(
        walk=_walk_sequential,
        module=lambda inst, sequence: sequence(inst.slots["layers"]),
        code=lambda inst, writer: writer.sequence(inst.slots["layers"]),
        slots=lambda inst: [((), inst.slots["layers"])],
        wrap=lambda nodes: {"type": "Sequential", "layers": nodes},
        drawing=BlockDrawing("frame", {"layers": Lane()}),
    ),
    "Residual": BlockRule(
        walk=_walk_residual,
        module=_module_residual,
        code=_code_residual,
        slots=lambda inst: [(("body",), inst.slots["body"])]
        + ([(("shortcut",), inst.slots["shortcut"])] if inst.slots["shortcut"] else []),
        wrap=lambda nodes: {"type": "Residual", "body": nodes, "shortcut": []},
        drawing=BlockDrawing("fork", {"body": Lane("body"),
                                      "shortcut": Lane("shortcut", "identity", identity=True, frame=True)}, merge="add"),
    ),
    "Parallel": BlockRule(
        walk=_walk_parallel,
        module=_module_parallel,
        code=_code_parallel,
        slots=lambda inst: [(("branches", b), branch) for b, branch in enumerate(inst.slots.values())],
        wrap=lambda nodes: {"type": "Parallel", "merge": "concat", "dim": 1, "branches": [nodes, []]},
        drawing=BlockDrawing("fork", {"branches": Lane("branch {n}", "identity (skip)", identity=True, many=True)}),
    ),
    "Repeat": BlockRule(
        walk=_walk_repeat,
        module=_module_repeat,
        code=lambda inst, writer: writer.repeat(inst.copies),
        slots=lambda inst: [((k,), copy) for k, copy in enumerate(inst.copies)],
        wrap=lambda nodes: {"type": "Repeat", "times": 2, "body": nodes},
        drawing=BlockDrawing("frame", {"body": Lane("body")}, count="times"),
    ),
}


def block_rule(type_name: str) -> BlockRule:
    """The rule of a block type; KeyError names a block declared without one."""
    return BLOCK_RULES[type_name]
