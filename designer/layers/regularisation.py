"""Regularisation: dropout."""

from __future__ import annotations

from designer.params import P
from designer.registry import LayerSpec, register

_p = P("p", "float", 0.5, "Probability of zeroing an element.", min=0.0, max=1.0, key=True)
register(LayerSpec(type="Dropout", family="regularisation", help="Zeroes random elements while training.", params=(_p,)))
register(LayerSpec(
    type="Dropout2d", family="regularisation", help="Zeroes whole random channels of (C, H, W) while training.",
    params=(_p,), ranks=(3,), expects="(C, H, W)",
))
register(LayerSpec(
    type="Dropout1d", family="regularisation", help="Zeroes whole random channels of (C, L) while training.",
    params=(_p,), ranks=(2,), expects="(C, L)",
))
