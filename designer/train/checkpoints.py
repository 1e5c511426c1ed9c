"""Checkpoints (safetensors, written atomically) and ONNX export."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from designer.train.memory import _torch_dtype

# --------------------------------------------------------------------------- checkpoints and export


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write the model's state dict as safetensors, atomically (a temp file, then rename).

    Every tensor is copied to a contiguous CPU tensor of its own, so tied (shared) weights
    are saved under each name and load back with `load_state_dict`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a checkpoint written by `save_checkpoint` into a model of the same design."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    model.load_state_dict(load_file(str(path), device=str(device)))
    return model


class OnnxExportError(RuntimeError):
    """The model could not be exported to ONNX; the message says why."""


def export_onnx(model: nn.Module, input_shape: Sequence[int], dtype: str | torch.dtype,
                path: str | os.PathLike, opset_version: int | None = None) -> Path:
    """Export the model to an ONNX file with a dynamic batch dimension.

    Uses the TorchScript exporter (dynamo=False): the torch.export one needs onnxscript.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(iter(model.parameters()), torch.empty(0)).device
    example = torch.zeros((1, *input_shape), dtype=_torch_dtype(dtype), device=device)
    was_training = model.training
    model.eval()
    try:
        # Grad stays enabled: under no_grad, eval-mode transformer layers take a fused fast
        # path (aten::_transformer_encoder_layer_fwd) that ONNX cannot express.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset_version,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              # BatchNorm stays a node of its own (folded into the conv before it,
                              # `designer import` would give a biased conv and another parameter count)
                              do_constant_folding=False)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:300]  # the first line; the rest is the graph
        raise OnnxExportError(f"could not export the model to ONNX: {type(exc).__name__}: {reason}") from exc
    finally:
        model.train(was_training)
    return path


