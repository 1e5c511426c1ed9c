"""Reshaping: Flatten, Unflatten, Identity, Upsample, and the designer layers Permute, Reshape,
SequencePool and PositionalEncoding."""

from __future__ import annotations

import math

from designer.params import MAX_SIZE, P, size_text
from designer.registry import LayerSpec, register


def _dim(shape, d):
    """A dim of the whole tensor (batch is 0) as a non-negative index, or None if out of range."""
    rank = len(shape) + 1
    return d + rank if -rank <= d < 0 else (d if 0 <= d < rank else None)


def _flatten_check(shape, v):
    start, end = _dim(shape, v["start_dim"]), _dim(shape, v["end_dim"])
    if start is None or end is None:
        return [(f"start_dim/end_dim out of range for a {len(shape) + 1}-D tensor (batch included)",
                 "use start_dim=1, end_dim=-1", None)]
    if start == 0:
        return [("start_dim 0 would merge the batch into the features", "set start_dim to 1",
                 {"op": "set", "key": "start_dim", "value": 1})]
    if start > end:
        return [(f"start_dim {v['start_dim']} comes after end_dim {v['end_dim']}", "swap them", None)]
    return []


def _product_check(received, target, what):
    free = [i for i, s in enumerate(target) if s == -1]
    if len(free) > 1:
        return [(f"{what} has more than one -1", "give all sizes but one", None)]
    if any(s == 0 or s < -1 for s in target):
        return [(f"{what} {list(target)} has a size below 1", "use sizes of 1 or more (one may be -1)", None)]
    known = math.prod(s for s in target if s != -1)
    if (free and received % known) or (not free and known != received):
        return [(f"{what} {list(target)} does not hold {received} elements",
                 f"choose sizes whose product is {received}", None)]
    return []


def _unflatten_check(shape, v):
    d = _dim(shape, v["dim"])
    if d is None or d == 0:
        return [(f"dim {v['dim']} is not a sample dimension of a {len(shape) + 1}-D tensor (batch is 0)",
                 "use dim 1 or more", None)]
    return _product_check(shape[d - 1], v["unflattened_size"], "unflattened_size")


def _permute_check(shape, v):
    dims, rank = v["dims"], len(shape) + 1
    if sorted(dims) != list(range(rank)):
        return [(f"dims {dims} is not an ordering of the {rank} dimensions 0..{rank - 1} (batch included)",
                 f"give each of 0..{rank - 1} once, starting with 0", None)]
    if dims[0] != 0:
        return [("dims[0] must be 0: the batch stays first", "start dims with 0", None)]
    return []


_MODE_RANKS = {"linear": 2, "bilinear": 3, "bicubic": 3}


def _upsample_check(shape, v):
    if (v["size"] is None) == (v["scale_factor"] is None):
        return [("give exactly one of size and scale_factor", "set scale_factor to 2, say, and size to null", None)]
    spatial = len(shape) - 1
    want = _MODE_RANKS.get(v["mode"])
    if want is not None and want != len(shape):
        other = {2: "linear", 3: "bilinear"}[len(shape)]
        kind = "a sequence (C, L)" if len(shape) == 2 else "an image (C, H, W)"
        return [(f"mode {v['mode']} needs {'(C, L)' if want == 2 else '(C, H, W)'} but receives {kind} "
                 f"{size_text(list(shape))}", f"set mode to {other} or nearest", None)]
    size = v["size"]
    if isinstance(size, list) and len(size) != spatial:
        return [(f"size {size} has {len(size)} entries but {size_text(list(shape))} has {spatial} spatial "
                 f"dimension{'s' if spatial > 1 else ''}", f"give {spatial} entr{'ies' if spatial > 1 else 'y'}, or one number", None)]
    return []


def _pe_check(shape, v):
    if shape[0] > v["max_len"]:
        return [(f"the sequence has {shape[0]} steps, more than max_len {v['max_len']}",
                 f"set max_len to {shape[0]}", {"op": "set", "key": "max_len", "value": shape[0]})]
    return []


register(LayerSpec(
    type="Flatten", family="reshape", help="Flattens dimensions start_dim..end_dim into one (default: all but batch).",
    params=(P("start_dim", "int", 1, "First dimension (batch is 0).", min=-8, max=8),
            P("end_dim", "int", -1, "Last dimension.", min=-8, max=8)),
    input_dtype="any", check=_flatten_check,
))
register(LayerSpec(
    type="Unflatten", family="reshape", help="Splits one dimension into several.",
    params=(P("dim", "int", 1, "The dimension to split (batch is 0).", min=-8, max=8, required=True, key=True),
            P("unflattened_size", "ints", [1, -1], "The sizes it becomes (one may be -1).", min_items=1,
              required=True, key=True)),
    input_dtype="any", positional=("dim", "unflattened_size"), check=_unflatten_check,
    label_fn=lambda v: f"dim {v['dim']} → {size_text(v['unflattened_size'])}",
))
register(LayerSpec(type="Identity", family="reshape", help="Passes its input through.", input_dtype="any"))
register(LayerSpec(
    type="Upsample", family="reshape", help="Up-samples (C, L) or (C, H, W) by a factor or to a size.",
    params=(P("size", "size", None, "Output size: a number, [L] or [H, W].", nullable=True, length=2, lengths=(1,),
              min=1, max=65536, key=True),
            P("scale_factor", "float", None, "Multiplier of the size.", nullable=True, min=0.01, max=1024, key=True),
            P("mode", "choice", "nearest", "Interpolation.", choices=("nearest", "linear", "bilinear", "bicubic"), key=True),
            P("align_corners", "bool", None, "Align corner pixels (linear modes only).", nullable=True)),
    ranks=(2, 3), expects="(C, L) or (C, H, W)", palette={"scale_factor": 2.0}, check=_upsample_check,
))
register(LayerSpec(
    type="Permute", family="reshape", help="Reorders dimensions, batch included (dims[0] is 0).",
    params=(P("dims", "ints", [0, 2, 1], "The new order of all dimensions, batch first.", min_items=2, item_min=0,
              required=True, key=True),),
    input_dtype="any", positional=("dims",), check=_permute_check, label_fn=lambda v: size_text(v["dims"]).replace("×", ","),
))
register(LayerSpec(
    type="Reshape", family="reshape", help="Reshapes each sample (batch excluded); one size may be -1.",
    params=(P("shape", "ints", [-1], "The new sample shape.", min_items=1, required=True, key=True),),
    input_dtype="any", positional=("shape",),
    check=lambda shape, v: _product_check(math.prod(shape), v["shape"], "shape"),
    label_fn=lambda v: size_text(v["shape"]),
))
register(LayerSpec(
    type="SequencePool", family="reshape", help="Pools a sequence (L, E) to (E): mean, max, first or last step.",
    params=(P("mode", "choice", "mean", "How to pool.", choices=("mean", "max", "first", "last"), key=True),),
    ranks=(2,), expects="a sequence (L, E)", label_fn=lambda v: v["mode"],
))
register(LayerSpec(
    type="PositionalEncoding", family="embedding", help="Adds position information to a sequence (L, E).",
    params=(P("kind", "choice", "sinusoidal", "Fixed sinusoids or a learned table.", choices=("sinusoidal", "learned"), key=True),
            P("max_len", "int", 5000, "Longest sequence.", min=1, max=1 << 20),
            P("dropout", "float", 0.0, "Dropout after adding.", min=0.0, max=1.0)),
    ranks=(2,), expects="a sequence (L, E)", infer=lambda shape: {"embed_dim": shape[-1]},
    check=_pe_check, label_fn=lambda v: v["kind"],
))


def _pixel_shuffle_check(shape, v):
    r2 = v["upscale_factor"] ** 2
    if shape[0] % r2:
        return [(f"{shape[0]} channels do not divide by upscale_factor² = {r2}",
                 f"give the layer before it a multiple of {r2} channels", None)]
    return []


for _n, _rank, _expects in ((1, 2, "(C, L)"), (2, 3, "(C, H, W)")):
    _sides = "[left, right]" if _n == 1 else "[left, right, top, bottom]"
    _pad = P("padding", "size", 1, f"Padding on every side, or {_sides}; negative crops.", length=2 * _n,
             min=-MAX_SIZE, max=MAX_SIZE, required=True, key=True)
    register(LayerSpec(
        type=f"ZeroPad{_n}d", family="reshape", help=f"Pads {_expects} with zeros; [k-1, 0] before a Conv1d makes it causal."
        if _n == 1 else f"Pads {_expects} with zeros.",
        params=(_pad,), ranks=(_rank,), expects=_expects, positional=("padding",),
    ))
    register(LayerSpec(
        type=f"ConstantPad{_n}d", family="reshape", help=f"Pads {_expects} with a constant value.",
        params=(_pad, P("value", "float", 0.0, "The value padded in.", min=-1e9, max=1e9, required=True, key=True)),
        ranks=(_rank,), expects=_expects, positional=("padding", "value"),
    ))
register(LayerSpec(
    type="PixelShuffle", family="reshape", help="(C·r², H, W) to (C, H·r, W·r): sub-pixel up-sampling.",
    params=(P("upscale_factor", "int", 2, "The factor r.", min=1, max=64, required=True, key=True),),
    ranks=(3,), expects="(C, H, W)", positional=("upscale_factor",), check=_pixel_shuffle_check,
))
