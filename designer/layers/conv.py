"""Convolutions: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d."""

from __future__ import annotations

from designer.layers._rules import all_checks, channels_divisible, per_dim, sliding_window_check
from designer.params import MAX_SIZE, P, size_text
from designer.registry import LayerSpec, register


def _conv_params(n: int, transposed: bool) -> tuple:
    size = dict(length=n)
    params = [
        P("out_channels", "int", 16, "Number of output channels (filters).", min=1, max=MAX_SIZE, required=True, key=True),
        P("kernel_size", "size", 3, "Size of the sliding window.", min=1, max=4096, required=True, key=True, **size),
        P("stride", "size", 1, "Step of the window.", min=1, max=4096, key=True, **size),
    ]
    if transposed:
        params += [
            P("padding", "size", 0, "Zero-padding removed from each side of the output.", min=0, max=4096, **size),
            P("output_padding", "size", 0, "Extra size added to one side of the output.", min=0, max=4096, **size),
        ]
    else:
        params.append(
            P("padding", "size", 0, "Zero-padding on each side; 'same' keeps the size (stride 1).",
              min=0, max=4096, strings=("same", "valid"), **size)
        )
    params += [
        P("dilation", "size", 1, "Spacing between kernel elements.", min=1, max=4096, **size),
        P("groups", "int", 1, "Blocked connections from input to output channels.", min=1, max=MAX_SIZE),
        P("bias", "bool", True, "Add a learnable bias."),
    ]
    if not transposed:
        params.append(P("padding_mode", "choice", "zeros", "How to pad.", choices=("zeros", "reflect", "replicate", "circular")))
    return tuple(params)


def _conv_label(n: int):
    def label(v):
        parts = [str(v["out_channels"]), size_text(list(per_dim(v["kernel_size"], n)))]
        stride = per_dim(v["stride"], n)
        if any(s != 1 for s in stride):  # labels are drawn for invalid values too: no hashing, no ordering
            parts.append("s" + size_text(list(stride) if any(s != stride[0] for s in stride) else stride[0]))
        if v.get("padding") not in (0, "valid", [0] * n):
            parts.append("p" + size_text(v["padding"]))
        return " · ".join(parts)

    return label


def _out_groups(shape, v):
    if v["out_channels"] % v["groups"]:
        return [(f"out_channels={v['out_channels']} does not divide into groups={v['groups']}",
                 "make out_channels a multiple of groups", None)]
    return []


def _transposed_check(n: int):
    def check(shape, v):
        out = []
        for size, k, s, p, op, d in zip(shape[-n:], per_dim(v["kernel_size"], n), per_dim(v["stride"], n),
                                        per_dim(v["padding"], n), per_dim(v["output_padding"], n),
                                        per_dim(v["dilation"], n)):
            if op >= s and op >= d:
                out.append(("output_padding must be smaller than stride or dilation", "lower output_padding", None))
                break
            if (size - 1) * s - 2 * p + d * (k - 1) + op + 1 <= 0:
                out.append((f"padding {p} removes the whole output", "lower padding", None))
                break
        return out

    return check


for _n, _expects in ((1, "(C, L)"), (2, "(C, H, W)")):
    for _transposed in (False, True):
        _type = f"{'ConvTranspose' if _transposed else 'Conv'}{_n}d"
        register(
            LayerSpec(
                type=_type,
                family="convolution",
                help=("Transposed (up-sampling) " if _transposed else "")
                + f"{_n}-D convolution over {_expects}.",
                params=_conv_params(_n, _transposed),
                ranks=(_n + 1,),
                expects=_expects,
                infer=lambda shape: {"in_channels": shape[0]},
                positional=("out_channels",),
                check=all_checks(
                    channels_divisible("groups"),
                    _out_groups,
                    _transposed_check(_n) if _transposed else sliding_window_check(_n),
                ),
                label_fn=_conv_label(_n),
            )
        )
