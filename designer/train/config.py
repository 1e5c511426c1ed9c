"""Training options (TrainConfig), their errors, and device names."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
STATUSES = ("completed", "stopped", "diverged", "failed")
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


