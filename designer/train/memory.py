"""The memory check before a run: estimates from the meta device, free memory, a batch size that fits."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- memory


class InsufficientMemory(Exception):
    """The run would not fit in the device's memory; carries the numbers and a batch size that would."""

    def __init__(self, needed: int, available: int, batch_size: int, suggested_batch_size: int | None,
                 device: str, estimate: dict[str, Any] | None = None) -> None:
        self.needed = needed
        self.available = available
        self.batch_size = batch_size
        self.suggested_batch_size = suggested_batch_size
        self.device = device
        self.estimate = estimate or {}
        if suggested_batch_size:
            hint = f"try batch size {suggested_batch_size}"
        else:
            hint = "the model alone does not fit: make it smaller or use a larger device"
        super().__init__(f"not enough memory on {device}: the run needs about {format_bytes(needed)} at batch "
                         f"size {batch_size}, but {format_bytes(available)} is available; {hint}")


MemoryError_ = InsufficientMemory  # the brief's other name for it


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def available_memory(device: torch.device) -> int | None:
    """Free bytes on a device: CUDA from mem_get_info, CPU from /proc/meminfo MemAvailable; None if unknown."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.mem_get_info(device)[0])
        if device.type == "mps":
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, RuntimeError, ValueError, AttributeError):
        return None
    return None


def _tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in an output (a tensor, or tuples/lists/dicts of them)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    return 0


def _is_leaf(module: nn.Module) -> bool:
    # MultiheadAttention calls its out_proj functionally, so it counts as one leaf.
    return isinstance(module, nn.MultiheadAttention) or not any(True for _ in module.children())


def _meta_copy(model: nn.Module) -> nn.Module:
    """A copy of the model whose parameters and buffers live on the meta device (no memory)."""
    memo: dict[int, Any] = {}
    for t in list(model.parameters()) + list(model.buffers()):
        meta = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    return copy.deepcopy(model, memo)


def _activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Sum of the leaf modules' output bytes (plus the input) in one forward pass.

    Grad stays enabled, as in training: under no_grad some layers (TransformerEncoderLayer)
    take a fused path that skips their submodules' hooks.
    """
    total = [_tensor_bytes(x)]
    hooks = [m.register_forward_hook(lambda _m, _i, out: total.append(_tensor_bytes(out)))
             for m in model.modules() if _is_leaf(m)]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return sum(total)


def measure_activations(model: nn.Module, input_shape: Sequence[int], dtype: str | torch.dtype,
                        batch_size: int) -> int:
    """Activation bytes of one training batch: on the meta device, else from a real batch of one, scaled."""
    torch_dtype = _torch_dtype(dtype)
    shape = (batch_size, *input_shape)
    was_training = model.training
    try:
        meta = _meta_copy(model).train()
        return _activation_bytes(meta, torch.zeros(shape, dtype=torch_dtype, device="meta"))
    except Exception as exc:  # noqa: BLE001 - some modules cannot run on meta; measure for real
        log.debug("meta-device activation estimate failed (%s); measuring a batch of one", exc)
    device = next(iter(model.parameters()), torch.empty(0)).device
    model.eval()  # a batch of one: BatchNorm could not train on it
    try:
        one = _activation_bytes(model, torch.zeros((1, *input_shape), dtype=torch_dtype, device=device))
    finally:
        model.train(was_training)
    return one * batch_size


def _torch_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in ("float32", "int64"):
        raise ValueError(f"input dtype must be float32 or int64; received {dtype!r}")
    return torch.float32 if dtype == "float32" else torch.int64


def estimate_memory(model: nn.Module, input_shape: Sequence[int], dtype: str | torch.dtype, batch_size: int,
                    optimizer: str, *, momentum: float = 0.9, device: str | torch.device = "cpu",
                    available: int | None = None, data_bytes: int = 0) -> dict[str, Any]:
    """Bytes a training run needs: params, grads, optimizer state, activations, data, total.

    Activations are the outputs of the leaf modules in one forward pass at this batch size
    (what autograd keeps for the backward pass, roughly), measured on the meta device.
    `available` is the device's free memory unless given (tests inject a small one).
    """
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    state_factor = {"adam": 2, "adamw": 2, "sgd": 1 if momentum > 0 else 0}[optimizer]
    activations = measure_activations(model, input_shape, dtype, batch_size)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    dev = device if isinstance(device, torch.device) else torch.device(device)
    estimate = {
        "params": params,
        "buffers": buffers,
        "grads": trainable,
        "optimizer": state_factor * trainable,
        "activations": activations,
        "data": data_bytes,
        "batch_size": batch_size,
        "device": str(dev),
    }
    estimate["total"] = params + buffers + trainable * (1 + state_factor) + activations + data_bytes
    estimate["available"] = available if available is not None else available_memory(dev)
    return estimate


def suggest_batch_size(estimate: dict[str, Any], headroom: float = 0.9) -> int | None:
    """The largest power-of-two batch size whose estimate fits in `headroom` of the available memory."""
    available = estimate.get("available")
    batch = estimate["batch_size"]
    if available is None:
        return batch
    fixed = estimate["total"] - estimate["activations"]
    per_sample = estimate["activations"] / max(batch, 1)
    budget = available * headroom - fixed
    if budget <= 0 or per_sample <= 0 or budget < per_sample:
        return None
    fits = min(int(budget // per_sample), batch)
    return 1 << (fits.bit_length() - 1)


def check_memory(estimate: dict[str, Any]) -> None:
    """Raise InsufficientMemory when the estimate's total exceeds what is available."""
    available = estimate.get("available")
    if available is None or estimate["total"] <= available:
        return
    raise InsufficientMemory(estimate["total"], available, estimate["batch_size"],
                             suggest_batch_size(estimate), estimate["device"], estimate)


