"""Callbacks the trainer calls, the run's result, and the contract's JSON-lines log."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

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


