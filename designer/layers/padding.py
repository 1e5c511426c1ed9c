"""Padding: ZeroPad1d, ZeroPad2d, ConstantPad1d, ConstantPad2d (family "reshape": they only grow the tensor).

`padding` is an int (every side) or one size per side: [left, right] for (C, L),
[left, right, top, bottom] for (C, H, W). [k-1, 0] before a Conv1d of kernel k makes it causal.
"""

from __future__ import annotations

from designer.params import P
from designer.registry import LayerSpec, register

_SIDES = {1: "[left, right]", 2: "[left, right, top, bottom]"}


def _pad_label(v):
    padding = v["padding"]
    text = ",".join(str(p) for p in padding) if isinstance(padding, (list, tuple)) else str(padding)
    return f"pad {text}" + (f" · {v['value']:g}" if "value" in v else "")


for _n, _expects in ((1, "(C, L)"), (2, "(C, H, W)")):
    _padding = P("padding", "size", 1, f"Added on every side (an int), or per side {_SIDES[_n]}.",
                 min=0, max=4096, length=2 * _n, required=True, key=True)
    register(LayerSpec(
        type=f"ZeroPad{_n}d", family="reshape", help=f"Pads {_expects} with zeros.",
        params=(_padding,), ranks=(_n + 1,), expects=_expects, positional=("padding",), label_fn=_pad_label,
    ))
    register(LayerSpec(
        type=f"ConstantPad{_n}d", family="reshape", help=f"Pads {_expects} with a constant value.",
        params=(_padding, P("value", "float", 0.0, "The value padded in.", min=-1e9, max=1e9, required=True, key=True)),
        ranks=(_n + 1,), expects=_expects, positional=("padding", "value"), label_fn=_pad_label,
    ))
