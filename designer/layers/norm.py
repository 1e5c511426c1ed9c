"""Normalisation: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm, InstanceNorm2d, RMSNorm."""

from __future__ import annotations

from designer.layers._rules import channels_divisible
from designer.params import MAX_SIZE, P
from designer.registry import LayerSpec, register

_common = (
    P("eps", "float", 1e-5, "Added to the variance for numerical stability.", min=0.0, max=1.0),
    P("momentum", "float", 0.1, "Weight of the newest batch in the running statistics.", min=0.0, max=1.0, nullable=True),
    P("affine", "bool", True, "Learn a scale and a shift."),
    P("track_running_stats", "bool", True, "Keep running statistics for evaluation."),
)

register(LayerSpec(
    type="BatchNorm1d", family="normalisation",
    help="Normalises each feature over the batch: (C) or (C, L).",
    params=_common, ranks=(1, 2), expects="(C) or (C, L)",
    infer=lambda shape: {"num_features": shape[0]},
))
register(LayerSpec(
    type="BatchNorm2d", family="normalisation",
    help="Normalises each channel of (C, H, W) over the batch.",
    params=_common, ranks=(3,), expects="(C, H, W)",
    infer=lambda shape: {"num_features": shape[0]},
))
register(LayerSpec(
    type="InstanceNorm2d", family="normalisation",
    help="Normalises each channel of each sample over (H, W).",
    params=(_common[0], _common[1], P("affine", "bool", False, "Learn a scale and a shift."),
            P("track_running_stats", "bool", False, "Keep running statistics for evaluation.")),
    ranks=(3,), expects="(C, H, W)",
    infer=lambda shape: {"num_features": shape[0]},
))
register(LayerSpec(
    type="LayerNorm", family="normalisation",
    help="Normalises over the last dimension of each sample.",
    params=(
        P("eps", "float", 1e-5, "Added to the variance for numerical stability.", min=0.0, max=1.0),
        P("elementwise_affine", "bool", True, "Learn a scale (and a shift)."),
        P("bias", "bool", True, "Learn a shift."),
    ),
    ranks=(), expects="(..., D)",
    infer=lambda shape: {"normalized_shape": shape[-1]},
))
register(LayerSpec(
    type="GroupNorm", family="normalisation",
    help="Normalises groups of channels of each sample: (C, ...).",
    params=(
        P("num_groups", "int", 8, "Number of channel groups (must divide the channels).", min=1, max=MAX_SIZE, required=True, key=True),
        P("eps", "float", 1e-5, "Added to the variance for numerical stability.", min=0.0, max=1.0),
        P("affine", "bool", True, "Learn a scale and a shift per channel."),
    ),
    ranks=(), expects="(C, ...)",
    infer=lambda shape: {"num_channels": shape[0]},
    positional=("num_groups",),
    check=channels_divisible("num_groups"),
))
register(LayerSpec(
    type="RMSNorm", family="normalisation",
    help="Scales the last dimension of each sample by its root mean square (Llama).",
    params=(
        P("eps", "float", None, "Added to the mean square; None: the dtype's machine epsilon.", min=0.0, max=1.0,
          nullable=True),
        P("elementwise_affine", "bool", True, "Learn a scale."),
    ),
    ranks=(), expects="(..., D)",
    infer=lambda shape: {"normalized_shape": shape[-1]},
))
