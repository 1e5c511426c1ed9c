"""The trainer: one plain loop over a dataset held on the device, with plain callbacks.

This module owns training a model (`Trainer`), its configuration (`TrainConfig`), the
memory check before a run (`estimate_memory`, `InsufficientMemory`), checkpoints
(safetensors), ONNX export, the contract's JSON-lines log (`JsonlLogger`) and the
background jobs the page polls (`TrainingJob`, `JobManager`).

The loop follows Lightning Fabric's trainer example: callbacks are plain objects whose
methods are all optional, and `stop()` sets a flag that the loop checks every step.
`Trainer.run` never raises for a training problem; it reports one in its `RunResult`.
Nothing here imports Streamlit; a job's thread only writes into its own snapshot and the
run store.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import json
import logging
import math
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

log = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
STATUSES = ("completed", "stopped", "diverged", "failed")
# A run whose last epoch's mean loss is more than this many times its first step's loss has diverged.
DIVERGED_RATIO = 10.0

ModelOrFactory = nn.Module | Callable[[], nn.Module]


# --------------------------------------------------------------------------- configuration


class ConfigError(ValueError):
    """A training option has a bad value; the message names the field and quotes what was received."""


class TrainingError(Exception):
    """A problem with the model or data that the user can fix; its message is shown as is."""


def _describe(value: Any) -> str:
    """A received value, quoted for an error message."""
    return f"{value!r} ({type(value).__name__})"


def _check_int(name: str, value: Any, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number; received {_describe(value)}")
    if low is not None and value < low:
        raise ConfigError(f"{name} must be at least {low}; received {value}")
    return value


def _check_float(name: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; received {_describe(value)}")
    if low is not None and (value <= low if low_open else value < low):
        bound = "greater than" if low_open else "at least"
        raise ConfigError(f"{name} must be {bound} {low}; received {value}")
    if high is not None and (value >= high if high_open else value > high):
        bound = "less than" if high_open else "at most"
        raise ConfigError(f"{name} must be {bound} {high}; received {value}")
    return float(value)


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; received {_describe(value)}")
    return value


@dataclass
class TrainConfig:
    """How to train: plain data that round-trips through `to_dict` / `from_dict`.

    Values are checked on construction; a bad one raises ValueError naming the field and
    quoting what was received.
    """

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # "sgd" (with momentum), "adam", "adamw"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"  # "constant", "step", "cosine", "onecycle"
    step_size: int = 1  # "step": decay every step_size epochs
    gamma: float = 0.5  # "step": multiply the lr by gamma
    grad_clip: float | None = None  # max global gradient norm
    seed: int = 0
    device: str = "auto"  # auto picks cuda, then mps, then cpu
    precision: str = "fp32"  # "fp32", "bf16", "fp16"; mixed precision on CUDA only
    compile: bool = False  # torch.compile the model
    max_steps: int | None = None  # stop after this many optimizer steps
    checkpoint_dir: str | None = None  # best.safetensors and last.safetensors go here

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field; normalise numbers to their types."""
        self.epochs = _check_int("epochs", self.epochs, 1)
        self.batch_size = _check_int("batch_size", self.batch_size, 1)
        self.lr = _check_float("lr", self.lr, 0.0, low_open=True)
        self.optimizer = _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        self.momentum = _check_float("momentum", self.momentum, 0.0, 1.0, high_open=True)
        self.weight_decay = _check_float("weight_decay", self.weight_decay, 0.0)
        self.schedule = _check_choice("schedule", self.schedule, SCHEDULES)
        self.step_size = _check_int("step_size", self.step_size, 1)
        self.gamma = _check_float("gamma", self.gamma, 0.0, 1.0, low_open=True)
        if self.grad_clip is not None:
            self.grad_clip = _check_float("grad_clip", self.grad_clip, 0.0, low_open=True)
        self.seed = _check_int("seed", self.seed)
        self.device = _check_device_name(self.device)
        self.precision = _check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile must be true or false; received {_describe(self.compile)}")
        if self.max_steps is not None:
            self.max_steps = _check_int("max_steps", self.max_steps, 1)
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, os.PathLike)):
            raise ConfigError(f"checkpoint_dir must be a folder path; received {_describe(self.checkpoint_dir)}")
        if self.checkpoint_dir is not None:
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from plain data; unknown keys and bad values raise ValueError."""
        if not isinstance(data, dict):
            raise ConfigError(f"a training configuration must be an object; received {_describe(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        return cls(**data)


def _check_device_name(name: Any) -> str:
    """'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'."""
    if isinstance(name, str) and (name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit())):
        return name
    raise ConfigError(f"device must be one of {', '.join(DEVICES)} (or cuda:N); received {_describe(name)}")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str) -> torch.device:
    """The torch device for a config's device name; 'auto' picks cuda, then mps, then cpu.

    Asking for a device this machine lacks raises ValueError saying so.
    """
    name = _check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'")
        index = int(name[5:]) if ":" in name else None
        if index is not None and index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} was asked for but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        return torch.device(name)
    if name == "mps" and not _mps_available():
        raise ConfigError("device 'mps' was asked for but MPS is not available here; use 'auto' or 'cpu'")
    return torch.device(name)


def device_key(device: torch.device) -> str:
    """A stable name for a device, used to count the runs sharing it ('cpu', 'cuda:0')."""
    if device.type == "cuda":
        return f"cuda:{device.index if device.index is not None else torch.cuda.current_device()}"
    return device.type


# --------------------------------------------------------------------------- learning-rate schedules


def _cos_anneal(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * pct))


def schedule_lr(config: TrainConfig, step_index: int, epoch: int, total_steps: int) -> float:
    """The learning rate for one optimizer step.

    `step_index` counts from 0, `epoch` from 1. "step" decays by `gamma` every `step_size`
    epochs; "cosine" anneals from lr to 0 over the run; "onecycle" follows
    torch.optim.lr_scheduler.OneCycleLR (cosine, 30% warm-up from lr/25, ending at lr/25e4).
    """
    lr = config.lr
    if config.schedule == "constant":
        return lr
    if config.schedule == "step":
        return lr * config.gamma ** ((epoch - 1) // config.step_size)
    if config.schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * step_index / max(total_steps, 1)))
    # onecycle
    initial, final = lr / 25.0, lr / 25.0 / 1e4
    warm_end = 0.3 * total_steps - 1
    if total_steps <= 1:
        return lr
    if step_index <= warm_end:
        return _cos_anneal(initial, lr, step_index / warm_end if warm_end > 0 else 1.0)
    return _cos_anneal(lr, final, (step_index - warm_end) / (total_steps - 1 - warm_end))


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
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:300]  # the first line; the rest is the graph
        raise OnnxExportError(f"could not export the model to ONNX: {type(exc).__name__}: {reason}") from exc
    finally:
        model.train(was_training)
    return path


# --------------------------------------------------------------------------- callbacks and results


class Callback:
    """A plain object the trainer calls; override any method, all are no-ops.

    Steps and epochs count from 1. Per-step work must stay cheap: it runs inside the loop.
    """

    def on_start(self, info: dict[str, Any]) -> None:
        """Before the first step: device, total_steps, steps_per_epoch, params, notes, memory..."""

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        """After each optimizer step, with that step's loss and learning rate."""

    def on_epoch(self, epoch: int, train_loss: float, val_loss: float | None,
                 val_accuracy: float | None, val_mae: float | None) -> None:
        """After each epoch's validation."""

    def on_end(self, result: RunResult) -> None:
        """Once, with the result, however the run ended."""


@dataclass
class RunResult:
    """How a run ended and its final numbers; `to_dict` gives plain data."""

    status: str  # "completed", "stopped", "diverged", "failed"
    message: str = ""
    epochs_done: int = 0
    steps: int = 0
    samples_per_s: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_mae: float | None = None
    best_path: str | None = None
    last_path: str | None = None
    duration_s: float = 0.0
    confusion: list[list[int]] | None = None
    device: str | None = None
    suggested_batch_size: int | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _finite_or_none(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None


class JsonlLogger(Callback):
    """Writes the contract's JSON lines: step events, epoch events, then one end event."""

    def __init__(self, target: str | os.PathLike | IO[str]) -> None:
        self._target = target
        self._file: IO[str] | None = None
        self._owns = False
        self._task: dict[str, Any] = {}

    def _write(self, event: dict[str, Any]) -> None:
        if self._file is None:
            self._open()
        assert self._file is not None
        self._file.write(json.dumps(event) + "\n")

    def _open(self) -> None:
        if isinstance(self._target, (str, os.PathLike)):
            Path(self._target).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self._target, "w", encoding="utf-8")  # noqa: SIM115 - closed in on_end
            self._owns = True
        else:
            self._file = self._target

    def on_start(self, info: dict[str, Any]) -> None:
        self._task = info.get("task") or {}
        self._open()

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self._write({"event": "step", "step": step, "epoch": epoch, "loss": _finite_or_none(loss)})

    def on_epoch(self, epoch: int, train_loss: float, val_loss: float | None,
                 val_accuracy: float | None, val_mae: float | None) -> None:
        event = {"event": "epoch", "epoch": epoch, "train_loss": _finite_or_none(train_loss),
                 "val_loss": _finite_or_none(val_loss), "val_accuracy": val_accuracy}
        if self._task.get("kind") == "regression":
            event["val_mae"] = _finite_or_none(val_mae)
        self._write(event)
        assert self._file is not None
        self._file.flush()

    def on_end(self, result: RunResult) -> None:
        event = {"event": "end", "status": result.status, "samples_per_s": result.samples_per_s,
                 "val_loss": _finite_or_none(result.val_loss), "val_accuracy": result.val_accuracy}
        if result.message:
            event["message"] = result.message
        self._write(event)
        assert self._file is not None
        if self._owns:
            self._file.close()
            self._file = None
        else:
            self._file.flush()


# --------------------------------------------------------------------------- the trainer


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


@dataclass
class _Progress:
    """What the loop has counted so far; becomes the RunResult."""

    status: str = "completed"
    message: str = ""
    step: int = 0
    epochs_done: int = 0
    train_time: float = 0.0  # whole steps after the first
    train_samples: int = 0
    first_time: float = 0.0  # the first step, apart: warm-up
    first_samples: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_mae: float | None = None
    confusion: list[list[int]] | None = None
    best_val: float = math.inf
    best_path: str | None = None
    last_path: str | None = None
    suggested_batch_size: int | None = None
    first_loss: float | None = None  # the first step's loss: where the run started
    warnings: list[str] = field(default_factory=list)


class Trainer:
    """Trains one model on one dataset: `run()` once, `stop()` from any thread, `predict()` after.

    `model` is an nn.Module or a zero-argument factory (called inside `run` after seeding
    torch's global generator with `config.seed`, so the same seed gives the same initial
    weights, dropout masks and batch order: runs on the CPU repeat exactly). `dataset` has the attributes of
    `designer.datasets.Dataset`. `memory_available` overrides the device's free memory for
    the check before training (tests use it).
    """

    def __init__(self, model: ModelOrFactory, dataset: Any, config: TrainConfig | None = None,
                 callbacks: Iterable[Callback] = (), *, memory_available: int | None = None) -> None:
        self.config = config or TrainConfig()
        self.dataset = dataset
        self.callbacks = list(callbacks)
        self.memory_available = memory_available
        self._model_or_factory = model
        self.model: nn.Module | None = model if isinstance(model, nn.Module) else None
        self.device: torch.device | None = None
        self._stop = threading.Event()
        self._task = dict(dataset.task)
        self._classify = self._task.get("kind") == "classification"

    # ---- control

    def stop(self) -> None:
        """Ask the loop to stop; it notices before the next step (or validation batch)."""
        self._stop.set()

    @property
    def should_stop(self) -> bool:
        return self._stop.is_set()

    # ---- the run

    def run(self) -> RunResult:
        """Train; never raises for a training problem (see RunResult.status and .message).

        Ctrl-C (KeyboardInterrupt) ends the run as "stopped", so callbacks still see the end.
        """
        started = time.perf_counter()
        p = _Progress()
        try:
            info = self._setup(p)
            self._emit("on_start", info)
            self._fit(p)
        except InsufficientMemory as exc:
            p.status, p.message, p.suggested_batch_size = "failed", str(exc), exc.suggested_batch_size
        except (TrainingError, ConfigError) as exc:
            p.status, p.message = "failed", str(exc)
        except KeyboardInterrupt:  # Ctrl-C on the command line: a stop, reported like one
            p.status, p.message = "stopped", f"interrupted after {p.step} step(s)"
        except Exception as exc:  # report every training problem as a result
            p.status, p.message = "failed", self._failure_message(exc)
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.empty_cache()
        result = self._result(p, time.perf_counter() - started)
        for cb in self.callbacks:
            try:
                cb.on_end(result)
            except Exception:  # one broken callback must not hide the result
                log.exception("callback %r failed in on_end", cb)
        return result

    def _failure_message(self, exc: BaseException) -> str:
        if _is_oom(exc):
            return (f"out of memory on {self.device} at batch size {self.config.batch_size}: "
                    f"try a smaller batch size or a smaller model ({type(exc).__name__})")
        log.exception("training failed")
        return f"training failed: {type(exc).__name__}: {exc}"

    def _emit(self, method: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, method)(*args)

    def _setup(self, p: _Progress) -> dict[str, Any]:
        """Seed, build, check memory, place data and model, make the optimizer."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        self.device = device = resolve_device(cfg.device)
        ds = self.dataset
        if self.model is None:
            # The estimate comes first, from the network built on `meta` (no memory): a model that would not
            # fit is refused before a byte of it is allocated.
            with torch.device("meta"):
                shadow = self._model_or_factory()
            if not isinstance(shadow, nn.Module):
                raise TrainingError(f"the model factory returned {type(shadow).__name__}, not an nn.Module")
            check_memory(estimate_memory(shadow, ds.input_shape, ds.dtype, cfg.batch_size, cfg.optimizer,
                                         momentum=cfg.momentum, device=device, available=self.memory_available))
            del shadow
            torch.manual_seed(cfg.seed)
            self.model = self._model_or_factory()
        model = self.model
        data_bytes = sum(_tensor_bytes(t) for t in (ds.x_train, ds.y_train, ds.x_val, ds.y_val))
        estimate = estimate_memory(model, ds.input_shape, ds.dtype, cfg.batch_size, cfg.optimizer,
                                   momentum=cfg.momentum, device=device, available=self.memory_available)
        check_memory(estimate)
        # Data goes to the device once when it fits beside the run (on the CPU it is already there).
        self._data_on_device = device.type == "cpu" or estimate["available"] is None or (
            estimate["total"] + data_bytes <= estimate["available"])
        if device.type != "cpu":
            estimate["data"] = data_bytes if self._data_on_device else 0
            estimate["total"] += estimate["data"]
        place = device if self._data_on_device else torch.device("cpu")
        x_dtype = _torch_dtype(ds.dtype)
        y_dtype = torch.long if self._classify else torch.float32
        self._x_train, self._y_train = ds.x_train.to(place, x_dtype), ds.y_train.to(place, y_dtype)
        self._x_val, self._y_val = ds.x_val.to(place, x_dtype), ds.y_val.to(place, y_dtype)
        model.to(device)
        self._check_output(model)
        self._forward = torch.compile(model) if cfg.compile else model
        self._optimizer = self._make_optimizer(model)
        self._amp_dtype = self._precision(device, p)
        self._scaler = torch.amp.GradScaler("cuda") if self._amp_dtype == torch.float16 else None
        n = len(self._x_train)
        self._steps_per_epoch = len(self._batch_bounds(n))
        total = cfg.epochs * self._steps_per_epoch
        self._total_steps = min(total, cfg.max_steps) if cfg.max_steps else total
        if cfg.checkpoint_dir:
            Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        return {
            "device": str(device), "total_steps": self._total_steps, "steps_per_epoch": self._steps_per_epoch,
            "epochs": cfg.epochs, "batch_size": cfg.batch_size,
            "params": sum(t.numel() for t in model.parameters()),
            "trainable_params": sum(t.numel() for t in model.parameters() if t.requires_grad),
            "train_size": n, "val_size": len(self._x_val), "task": dict(self._task),
            "precision": "fp32" if self._amp_dtype is None else cfg.precision,
            "data_on_device": self._data_on_device, "memory": estimate, "notes": list(p.warnings),
            "config": cfg.to_dict(),
        }

    def _precision(self, device: torch.device, p: _Progress) -> torch.dtype | None:
        """The autocast dtype, or None for fp32; mixed precision runs on CUDA only."""
        want = self.config.precision
        if want == "fp32":
            return None
        if device.type != "cuda":
            p.warnings.append(f"{want} mixed precision needs CUDA; trained in fp32 on {device.type}")
            return None
        if want == "bf16" and not torch.cuda.is_bf16_supported():
            p.warnings.append("this GPU does not support bf16; trained in fp32")
            return None
        return torch.bfloat16 if want == "bf16" else torch.float16

    def _make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        cfg = self.config
        params = [t for t in model.parameters() if t.requires_grad]
        if not params:
            raise TrainingError("the model has no trainable parameters")
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _check_output(self, model: nn.Module) -> None:
        """Run two samples through the model and say plainly if its output does not fit the task."""
        x = self._x_train[:2].to(self.device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                try:
                    out = model(x)
                except Exception as exc:
                    raise TrainingError(f"the model does not accept this dataset's input "
                                     f"(N, {', '.join(map(str, self.dataset.input_shape))}): {exc}") from exc
        finally:
            model.train(was_training)
        if not isinstance(out, torch.Tensor):
            raise TrainingError(f"the model must return one tensor; it returned {type(out).__name__}")
        got = f"(N, {', '.join(map(str, out.shape[1:]))})"
        if self._classify:
            k = self._task["num_classes"]
            if out.dim() != 2 or out.shape[1] != k:
                raise TrainingError(f"for classification into {k} classes the model must output (N, {k}) "
                                 f"logits; it outputs {got}. Make the last layer Linear with out_features={k}")
        else:
            per_sample = self._y_train[:1].numel()
            if out[:1].numel() != per_sample:
                want = ", ".join(map(str, self._y_train.shape[1:])) or "1"
                raise TrainingError(f"the regression targets are (N, {want}) but the model outputs {got}")

    # ---- the loop

    def _batch_bounds(self, n: int) -> list[tuple[int, int]]:
        """Batch slices of one epoch; a trailing batch of one sample is dropped (BatchNorm needs two)."""
        bs = self.config.batch_size
        bounds = [(i, min(i + bs, n)) for i in range(0, n, bs)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            bounds.pop()
        return bounds

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self._amp_dtype)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._classify:
            return F.cross_entropy(out.float(), y)
        return F.mse_loss(out.float(), y.reshape(out.shape).float())

    def _fit(self, p: _Progress) -> None:
        cfg, model = self.config, self.model
        assert model is not None
        gen = torch.Generator().manual_seed(cfg.seed)
        n = len(self._x_train)
        bounds = self._batch_bounds(n)
        for epoch in range(1, cfg.epochs + 1):
            if self._stop.is_set():
                p.status = "stopped"
                break
            if p.step >= self._total_steps:
                break
            model.train()
            order = torch.randperm(n, generator=gen).to(self._x_train.device)
            loss_sum, loss_count = 0.0, 0
            for lo, hi in bounds:
                if self._stop.is_set():
                    p.status = "stopped"
                    break
                if p.step >= self._total_steps:
                    break
                loss = self._train_step(p, order[lo:hi], epoch)
                if not math.isfinite(loss):
                    p.status = "diverged"
                    p.message = (f"the loss became {loss} at step {p.step} (epoch {epoch}); "
                                 f"try a lower learning rate (it was {self._lr:g}) or gradient clipping")
                    return
                loss_sum += loss * (hi - lo)
                loss_count += hi - lo
            if p.status == "stopped" or self._stop.is_set():
                p.status = "stopped"
                break
            if loss_count == 0:
                break
            p.train_loss = loss_sum / loss_count
            if not self._evaluate(p):
                p.status = "stopped"
                break
            p.epochs_done = epoch
            self._emit("on_epoch", epoch, p.train_loss, p.val_loss, p.val_accuracy, p.val_mae)
            self._checkpoint(p, epoch)
        if p.status == "completed" and self._ended_far_above_start(p):
            p.status = "diverged"
            p.message = (f"the loss ended at {p.train_loss:.4g}, more than {DIVERGED_RATIO:g}× where it started "
                         f"({p.first_loss:.4g} at step 1); try a lower learning rate (it was {self._lr:g}) "
                         f"or gradient clipping")
        if p.status == "stopped" and p.step > 0:
            self._save(p, "last", p.epochs_done)
        if p.status == "completed" and p.step == 0:
            p.message = "no training steps were run (is the training set empty?)"

    @staticmethod
    def _ended_far_above_start(p: _Progress) -> bool:
        """Whether the last epoch's mean loss ends more than DIVERGED_RATIO times the first step's loss: a run
        that blew up without reaching inf or NaN (Adam at lr 1e6) has not learned, whatever it "completed"."""
        first, last = p.first_loss, p.train_loss
        return (first is not None and last is not None and math.isfinite(first) and first > 0
                and last > DIVERGED_RATIO * first)

    def _train_step(self, p: _Progress, idx: torch.Tensor, epoch: int) -> float:
        """One optimizer step on the batch at `idx`; returns its loss (one sync: .item())."""
        t0 = time.perf_counter()
        xb, yb = self._x_train[idx], self._y_train[idx]
        if not self._data_on_device:
            xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
        self._lr = lr = schedule_lr(self.config, p.step, epoch, self._total_steps)
        if self.config.schedule != "constant":
            for group in self._optimizer.param_groups:
                group["lr"] = lr
        opt, scaler, clip = self._optimizer, self._scaler, self.config.grad_clip
        opt.zero_grad(set_to_none=True)
        with self._autocast():
            loss = self._loss(self._forward(xb), yb)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            opt.step()
        value = loss.item()
        p.step += 1
        self._emit("on_step", p.step, epoch, value, lr)
        # Throughput counts whole steps, callbacks included; the first step (warm-up,
        # compilation) is left out when there are others.
        elapsed = time.perf_counter() - t0
        if p.step == 1:
            p.first_time, p.first_samples, p.first_loss = elapsed, len(idx), value
        else:
            p.train_time += elapsed
            p.train_samples += len(idx)
        return value

    def _evaluate(self, p: _Progress) -> bool:
        """Validation loss and accuracy/MAE (and the confusion matrix); False if stopped meanwhile."""
        model = self.model
        assert model is not None
        n = len(self._x_val)
        if n == 0:
            p.val_loss = p.val_accuracy = p.val_mae = None
            return True
        model.eval()
        bs = self.config.batch_size
        acc_dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        loss_sum = torch.zeros((), device=self.device, dtype=acc_dtype)
        metric_sum = torch.zeros((), device=self.device, dtype=acc_dtype)
        k = self._task.get("num_classes", 0)
        confusion = torch.zeros(k * k, device=self.device, dtype=torch.long) if self._classify else None
        try:
            with torch.no_grad(), self._autocast():
                for lo in range(0, n, bs):
                    if self._stop.is_set():
                        return False
                    xb = self._x_val[lo:lo + bs].to(self.device, non_blocking=True)
                    yb = self._y_val[lo:lo + bs].to(self.device, non_blocking=True)
                    out = self._forward(xb).float()
                    if self._classify:
                        loss_sum += F.cross_entropy(out, yb, reduction="sum")
                        pred = out.argmax(dim=1)
                        metric_sum += (pred == yb).sum()
                        confusion += torch.bincount(yb * k + pred, minlength=k * k)
                    else:
                        target = yb.reshape(out.shape).float()
                        loss_sum += F.mse_loss(out, target, reduction="sum")
                        metric_sum += (out - target).abs().sum()
        finally:
            model.train()
        if self._classify:
            p.val_loss, p.val_accuracy, p.val_mae = loss_sum.item() / n, metric_sum.item() / n, None
            p.confusion = confusion.view(k, k).tolist()
        else:  # mean over every target value, as the training loss is
            values = n * max(self._y_val[:1].numel(), 1)
            p.val_loss, p.val_accuracy, p.val_mae = loss_sum.item() / values, None, metric_sum.item() / values
        return True

    # ---- checkpoints

    def _checkpoint(self, p: _Progress, epoch: int) -> None:
        if not self.config.checkpoint_dir:
            return
        improved = p.val_loss is not None and math.isfinite(p.val_loss) and p.val_loss < p.best_val
        if improved and self._save(p, "best", epoch):
            p.best_val = p.val_loss
        self._save(p, "last", epoch)

    def _save(self, p: _Progress, which: str, epoch: int) -> bool:
        """Write best/last.safetensors; a failed write (a full disk) is a warning, not a crash."""
        if not self.config.checkpoint_dir:
            return False
        path = Path(self.config.checkpoint_dir) / f"{which}.safetensors"
        meta = {"format": "netwright.checkpoint", "epoch": str(epoch), "step": str(p.step),
                "val_loss": str(p.val_loss)}
        try:
            save_checkpoint(self.model, path, meta)
        except OSError as exc:
            reason = "the disk is full" if exc.errno == errno.ENOSPC else str(exc)
            warning = f"could not save the {which} checkpoint ({reason}); training went on"
            if warning not in p.warnings:
                p.warnings.append(warning)
            log.warning("%s: %s", path, exc)
            return False
        setattr(p, f"{which}_path", str(path))
        return True

    def _result(self, p: _Progress, duration: float) -> RunResult:
        samples_per_s = None
        if p.train_samples and p.train_time > 0:
            samples_per_s = p.train_samples / p.train_time
        elif p.first_samples and p.first_time > 0:
            samples_per_s = p.first_samples / p.first_time
        message = p.message or {
            "completed": f"completed {p.epochs_done} epoch(s), {p.step} step(s)",
            "stopped": f"stopped after {p.step} step(s)",
        }.get(p.status, "")
        if p.warnings:
            message = "; ".join([message, *p.warnings]) if message else "; ".join(p.warnings)
        return RunResult(
            status=p.status, message=message, epochs_done=p.epochs_done, steps=p.step,
            samples_per_s=samples_per_s, train_loss=p.train_loss, val_loss=p.val_loss,
            val_accuracy=p.val_accuracy, val_mae=p.val_mae, best_path=p.best_path, last_path=p.last_path,
            duration_s=duration, confusion=p.confusion if self._classify else None,
            device=str(self.device) if self.device else None,
            suggested_batch_size=p.suggested_batch_size, warnings=list(p.warnings))

    # ---- inference

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The model's outputs for a batch of inputs (N, *input_shape), on the CPU."""
        if self.model is None:
            torch.manual_seed(self.config.seed)
            self.model = self._model_or_factory()
        model = self.model
        device = self.device or next(iter(model.parameters()), torch.empty(0)).device
        was_training = model.training
        model.eval()
        outs = []
        try:
            with torch.no_grad():
                for lo in range(0, len(x), self.config.batch_size):
                    outs.append(model(x[lo:lo + self.config.batch_size].to(device)).float().cpu())
        finally:
            model.train(was_training)
        return torch.cat(outs) if outs else torch.empty(0)


# --------------------------------------------------------------------------- background jobs


JOB_STATUSES = ("queued", "running", *STATUSES)


class _JobProgress(Callback):
    """Collects a job's progress for its snapshot; everything under the job's lock."""

    def __init__(self, job: TrainingJob) -> None:
        self.job = job

    def on_start(self, info: dict[str, Any]) -> None:
        with self.job._lock:
            self.job._state.update(status="running", total_steps=info["total_steps"], device=info["device"],
                                   info=info, message="; ".join(info.get("notes") or []))
            self.job._t_start = time.perf_counter()

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        job = self.job
        now = time.perf_counter()
        with job._lock:
            state = job._state
            job._steps.append((step, loss, lr))
            state["step"], state["epoch"] = step, epoch
            elapsed = now - job._t_start
            if step > 1 and elapsed > 0:
                per_step = elapsed / step
                state["samples_per_s"] = job.config.batch_size / per_step
                state["eta_s"] = max(state["total_steps"] - step, 0) * per_step

    def on_epoch(self, epoch: int, train_loss: float, val_loss: float | None,
                 val_accuracy: float | None, val_mae: float | None) -> None:
        with self.job._lock:
            self.job._epochs.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                                     "val_accuracy": val_accuracy, "val_mae": val_mae})


class JobBase:
    """What every background job shares with the page: its progress state under one lock.

    TrainingJob (the in-app trainer) and designer.launch.TorchrunJob (train.py under torchrun)
    fill it in; the page only ever reads `snapshot()`.
    """

    def __init__(self, job_id: str, dataset: Any, config: TrainConfig, store: Any = None,
                 run_id: int | None = None, on_done: Callable[[Any], None] | None = None) -> None:
        self.job_id = job_id
        self.dataset = dataset
        self.config = config
        self.store = store
        self.run_id = run_id
        self.on_done = on_done
        self._lock = threading.Lock()
        self._steps: list[tuple[int, float, float]] = []
        self._epochs: list[dict[str, Any]] = []
        self._state: dict[str, Any] = {
            "job_id": job_id, "run_id": run_id, "status": "queued", "step": 0, "total_steps": None,
            "epoch": 0, "samples_per_s": None, "eta_s": None, "message": "", "result": None,
            "device": None, "info": None,
        }
        self._thread: threading.Thread | None = None
        self._stop_requested = False

    start_message = "starting"  # what the snapshot says while the thread sets up

    @property
    def status(self) -> str:
        with self._lock:
            return self._state["status"]

    def start(self) -> None:
        """Start the job's thread (once); a job stopped while queued never starts."""
        with self._lock:
            if self._thread is not None or self._stop_requested:
                return
            self._state.update(status="running", message=self.start_message)
            name = f"netwright-{type(self).__name__}-{self.job_id}"
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_queue_message(self, message: str) -> None:
        with self._lock:
            if self._state["status"] == "queued":
                self._state["message"] = message

    def snapshot(self) -> dict[str, Any]:
        """A copy of the job's state, safe to read from any thread."""
        with self._lock:
            snap = dict(self._state)
            snap["steps"] = list(self._steps)
            snap["epochs"] = [dict(e) for e in self._epochs]
        return snap

    def _finish_store(self, result: RunResult) -> None:
        if self.store is not None and self.run_id is not None:
            try:
                self.store.finish(self.run_id, result.to_dict())
            except Exception:
                log.exception("could not record the end of run %s", self.run_id)


class TrainingJob(JobBase):
    """One training run in a background thread; the page polls `snapshot()`.

    The thread builds the model from `model_factory`, trains, and (with a RunStore) records
    the metrics in batches. It never touches Streamlit.
    """

    def __init__(self, job_id: str, model_factory: ModelOrFactory, dataset: Any, config: TrainConfig,
                 store: Any = None, run_id: int | None = None, callbacks: Iterable[Callback] = (),
                 on_done: Callable[[TrainingJob], None] | None = None) -> None:
        super().__init__(job_id, dataset, config, store, run_id, on_done)
        self.model_factory = model_factory
        self.extra_callbacks = list(callbacks)
        self._t_start = time.perf_counter()
        self._trainer: Trainer | None = None

    def stop(self) -> None:
        """Stop the run (or cancel it while queued); the snapshot says 'stopped' soon after."""
        with self._lock:
            self._stop_requested = True
            trainer = self._trainer
            if self._thread is None and self._state["status"] == "queued":
                self._state.update(status="stopped", message="cancelled before it started")
                cancelled = True
            else:
                cancelled = False
        if trainer is not None:
            trainer.stop()
        if cancelled:
            self._finish_store(RunResult(status="stopped", message="cancelled before it started"))
            if self.on_done:
                self.on_done(self)

    def _callbacks(self) -> list[Callback]:
        callbacks: list[Callback] = [_JobProgress(self), *self.extra_callbacks]
        if self.store is not None and self.run_id is not None:
            from designer.runs import RunRecorder  # runs imports this module

            callbacks.append(RunRecorder(self.store, self.run_id))
        return callbacks

    def _run(self) -> None:
        try:
            trainer = Trainer(self.model_factory, self.dataset, self.config, self._callbacks())
            with self._lock:
                self._trainer = trainer
                if self._stop_requested:
                    trainer.stop()
            result = trainer.run()
        except Exception as exc:  # the thread must always report an end
            log.exception("training job %s failed", self.job_id)
            result = RunResult(status="failed", message=f"{type(exc).__name__}: {exc}")
            self._finish_store(result)
        with self._lock:
            self._state.update(status=result.status, message=result.message, result=result.to_dict(),
                               eta_s=0.0 if result.status == "completed" else None)
            if result.samples_per_s is not None:
                self._state["samples_per_s"] = result.samples_per_s
        if self.on_done:
            self.on_done(self)


class JobManager:
    """A thread-safe registry of training jobs; at most `max_concurrent_per_device` run at once per device.

    Extra jobs wait as "queued" and start by themselves when a slot on their device frees.
    """

    def __init__(self, max_concurrent_per_device: int = 1) -> None:
        self.max_concurrent_per_device = max_concurrent_per_device
        self._lock = threading.RLock()
        self._jobs: dict[str, TrainingJob] = {}
        self._device: dict[str, str] = {}
        self._queue: list[str] = []

    def submit(self, model_factory: ModelOrFactory, dataset: Any, config: TrainConfig, store: Any = None,
               run_id: int | None = None, design: dict | None = None,
               callbacks: Iterable[Callback] = ()) -> str:
        """Queue a run and start it when its device has a free slot; returns the job id.

        With a RunStore and no run_id, a run is created in the store (design, config, dataset);
        its checkpoints go to the store's folder for that run unless the config names one.
        """
        try:
            key = device_key(resolve_device(config.device))
        except ValueError:
            key = config.device
        if store is not None and run_id is None:
            run_id = store.create(design or {}, config.to_dict(), getattr(dataset, "name", "?"), key)
        if store is not None and run_id is not None and not config.checkpoint_dir:
            config = dataclasses.replace(config, checkpoint_dir=str(store.checkpoint_dir(run_id)))
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        job = TrainingJob(job_id, model_factory, dataset, config, store=store, run_id=run_id,
                          callbacks=callbacks, on_done=self._on_done)
        with self._lock:
            self._jobs[job_id] = job
            self._device[job_id] = key
            self._queue.append(job_id)
            self._schedule()
        return job_id

    def add(self, job: Any) -> str:
        """Register a job created elsewhere (designer.launch.TorchrunJob): polled here, not queued here."""
        with self._lock:
            self._jobs[job.job_id] = job
            self._device[job.job_id] = f"external:{job.job_id}"
        return job.job_id

    def get(self, job_id: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._jobs.values())

    def stop(self, job_id: str) -> None:
        job = self.get(job_id)
        if job is not None:
            job.stop()

    def remove(self, job_id: str) -> None:
        """Forget a finished job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.status not in ("queued", "running"):
                del self._jobs[job_id]
                self._device.pop(job_id, None)

    def _running_on(self, key: str) -> int:
        return sum(1 for jid, job in self._jobs.items() if self._device[jid] == key and job.status == "running")

    def _schedule(self) -> None:
        """Start queued jobs that have a slot; tell the others how long the line is. Holds the lock."""
        running: dict[str, int] = {}
        waiting = []
        for jid in list(self._queue):
            job, key = self._jobs[jid], self._device[jid]
            if job.status != "queued":
                self._queue.remove(jid)
                continue
            busy = running.setdefault(key, self._running_on(key))
            if busy < self.max_concurrent_per_device:
                self._queue.remove(jid)
                job.start()
                running[key] = busy + 1
            else:
                ahead = busy + sum(1 for w in waiting if self._device[w] == key)
                job.set_queue_message(f"waiting for {ahead} run(s) on {key} to finish")
                waiting.append(jid)

    def _on_done(self, job: TrainingJob) -> None:
        # The job has already left "running", so its slot counts as free.
        with self._lock:
            self._schedule()


JOBS = JobManager()
"""The process-wide job manager the page and the command line share."""
