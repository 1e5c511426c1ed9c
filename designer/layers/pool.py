"""Pooling: max, average and adaptive average, 1-D and 2-D."""

from __future__ import annotations

from designer.layers._rules import per_dim, sliding_window_check
from designer.params import P, size_text
from designer.registry import LayerSpec, register


def _pool_label(n: int):
    def label(v):
        parts = [size_text(list(per_dim(v["kernel_size"], n)))]
        stride = v.get("stride")
        if stride is not None and stride != v["kernel_size"]:
            parts.append("s" + size_text(stride))
        return " · ".join(parts)

    return label


for _n, _expects in ((1, "(C, L)"), (2, "(C, H, W)")):
    size = dict(length=_n)
    _window = (
        P("kernel_size", "size", 2, "Size of the pooling window.", min=1, max=4096, required=True, key=True, **size),
        P("stride", "size", None, "Step of the window (default: kernel_size).", min=1, max=4096, nullable=True, key=True, **size),
        P("padding", "size", 0, "Implicit padding on each side (at most half the kernel).", min=0, max=2048, **size),
    )
    register(
        LayerSpec(
            type=f"MaxPool{_n}d",
            family="pooling",
            help=f"Takes the maximum over each window of {_expects}.",
            params=_window
            + (
                P("dilation", "size", 1, "Spacing between window elements.", min=1, max=4096, **size),
                P("ceil_mode", "bool", False, "Round the output size up."),
            ),
            ranks=(_n + 1,),
            expects=_expects,
            positional=("kernel_size",),
            check=sliding_window_check(_n),
            label_fn=_pool_label(_n),
        )
    )
    register(
        LayerSpec(
            type=f"AvgPool{_n}d",
            family="pooling",
            help=f"Averages each window of {_expects}.",
            params=_window
            + (
                P("ceil_mode", "bool", False, "Round the output size up."),
                P("count_include_pad", "bool", True, "Count the zero-padding in the average."),
            ),
            ranks=(_n + 1,),
            expects=_expects,
            positional=("kernel_size",),
            check=sliding_window_check(_n),
            label_fn=_pool_label(_n),
        )
    )
    register(
        LayerSpec(
            type=f"AdaptiveAvgPool{_n}d",
            family="pooling",
            help=f"Averages {_expects} down to a fixed output size (1 gives global average pooling).",
            params=(P("output_size", "size", 1, "The output size (an entry null keeps that input size).", min=1,
                      max=65536, required=True, key=True, null_items=True, **size),),
            ranks=(_n + 1,),
            expects=_expects,
            positional=("output_size",),
        )
    )
    register(
        LayerSpec(
            type=f"AdaptiveMaxPool{_n}d",
            family="pooling",
            help=f"Takes maxima of {_expects} down to a fixed output size.",
            params=(P("output_size", "size", 1, "The output size.", min=1, max=65536, required=True, key=True, **size),),
            ranks=(_n + 1,),
            expects=_expects,
            positional=("output_size",),
        )
    )
