"""Shape rules shared by several layer families (pure functions of shapes and parameters)."""

from __future__ import annotations

from typing import Any

from designer.params import size_text


def per_dim(value: Any, n: int) -> tuple:
    """3 -> (3, 3); [3, 5] -> (3, 5)."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) * n


def sliding_window_check(n: int, what: str = "kernel_size"):
    """A check for convolutions and pools: the (dilated) window must fit the padded input."""

    def check(shape: tuple[int, ...], v: dict[str, Any]):
        spatial = shape[-n:]
        kernel = per_dim(v[what], n)
        stride = per_dim(v.get("stride") if v.get("stride") is not None else v[what], n)
        dilation = per_dim(v.get("dilation", 1), n)
        pad_value = v.get("padding", 0)
        if isinstance(pad_value, str):
            if pad_value == "same" and any(s != 1 for s in stride):
                return [("padding='same' needs stride 1", "set padding to a number, or stride to 1", None)]
            return [] if pad_value == "same" else _fits(spatial, kernel, dilation, (0,) * n, what)
        return _fits(spatial, kernel, dilation, per_dim(pad_value, n), what)

    return check


def _fits(spatial, kernel, dilation, padding, what):
    for size, k, d, p in zip(spatial, kernel, dilation, padding):
        span = d * (k - 1) + 1
        if span > size + 2 * p:
            received = size_text(list(spatial))
            return [
                (
                    f"{what} {size_text(list(kernel))} is larger than its input {received}"
                    + (f" plus padding {p}" if p else ""),
                    f"use a {what} of at most {size + 2 * p}, add padding, or remove a downsampling layer before it",
                    None,
                )
            ]
    return []


def channels_divisible(param: str):
    """A check that the incoming channels divide by `param` (GroupNorm groups, conv groups).

    The analysis prefixes every check's message with the layer type, so the message does not name it."""

    def check(shape: tuple[int, ...], v: dict[str, Any]):
        channels, groups = shape[0], v[param]
        if groups and channels % groups:
            options = [g for g in range(1, channels + 1) if channels % g == 0]
            shown = ", ".join(str(g) for g in options[:12])
            out = v.get("out_channels")  # a convolution's groups divide its output channels too
            nearest = max(g for g in options if g <= groups and (not out or out % g == 0))
            return [(f"{channels} channels do not divide into {param}={groups}",
                     f"set {param} to {nearest} (or one of {shown})", {"op": "set", "key": param, "value": nearest})]
        return []

    return check


def all_checks(*checks):
    """Runs several checks and joins their problems."""

    def check(shape, v):
        out = []
        for c in checks:
            out.extend(c(shape, v))
        return out

    return check
