"""Callbacks the trainer calls, the run's result, and the contract's JSON-lines log."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- callbacks and results


class Callback:
    """A plain object the trainer calls; override any method, all are no-ops.

    Steps and epochs count from 1. Per-step work must stay cheap: it runs inside the loop.
    """

    def on_phase(self, phase: str) -> None:
        """While a run starts up (a worker process importing torch, building the model...)."""

    def on_setup(self, model: Any, optimizer: Any) -> None:
        """Once the model is on its device and the optimizer made, before on_start: hooks that need
        the live model (per-layer statistics, an LR finder) keep these references."""

    def on_start(self, info: dict[str, Any]) -> None:
        """Before the first step: device, total_steps, steps_per_epoch, params, notes, memory..."""

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        """After each optimizer step, with that step's loss and learning rate."""

    def on_after_step(self, step: int, model: Any, optimizer: Any) -> None:
        """After on_step, with the model and optimizer as the step left them (gradients still set:
        zero_grad runs at the start of the next step). Keep it cheap, or do work every K steps."""

    def on_epoch(self, epoch: int, train_loss: float, val_loss: float | None,
                 val_accuracy: float | None, val_mae: float | None) -> None:
        """After each epoch's validation."""

    def on_stats(self, event: dict[str, Any]) -> None:
        """Every stats_every steps: the "stats" event of designer.layer_stats (a row per layer)."""

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


# --------------------------------------------------------------------------- the event stream
#
# Every run, whatever runs it (the in-app worker process, a thread, train.py under torchrun), reports
# through the same events: JsonlLogger writes callback calls as JSON lines, EventReader reads them
# back and `replay` turns each into the same callback call again. The contract's log
# (`python -m designer train --log`) is the step/epoch/end subset; `full=True` adds what the app
# needs to follow a worker: a "phase" event while it starts up, "start" with the run's info, the
# step's lr, and the whole result at the end.


class JsonlLogger(Callback):
    """Writes the contract's JSON lines: step events, epoch events, then one end event.

    `full=True` (the worker's event log) also writes phase and start events, each step's lr and the
    end's whole result, and flushes every `flush_s` seconds so a reader sees steps as they happen.
    """

    def __init__(self, target: str | os.PathLike | IO[str], full: bool = False, flush_s: float = 0.2) -> None:
        self._target = target
        self._file: IO[str] | None = None
        self._owns = False
        self._task: dict[str, Any] = {}
        self.full = full
        self.flush_s = flush_s
        self._flushed = 0.0

    def _write(self, event: dict[str, Any], flush: bool = False) -> None:
        if self._file is None:
            self._open()
        assert self._file is not None
        self._file.write(json.dumps(event) + "\n")
        now = time.monotonic()
        if flush or (self.full and now - self._flushed >= self.flush_s):
            self._file.flush()
            self._flushed = now

    def _open(self) -> None:
        if self._file is not None:
            return
        if isinstance(self._target, (str, os.PathLike)):
            Path(self._target).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self._target, "a" if self.full else "w", encoding="utf-8")  # noqa: SIM115
            self._owns = True
        else:
            self._file = self._target

    def on_phase(self, phase: str) -> None:
        """The worker's start-up, step by step ("importing torch", "building the model"...)."""
        if self.full:
            self._write({"event": "phase", "phase": phase, "time": time.time()}, flush=True)

    def on_start(self, info: dict[str, Any]) -> None:
        self._task = info.get("task") or {}
        self._open()
        if self.full:
            self._write({"event": "start", **_plain(info)}, flush=True)

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        event = {"event": "step", "step": step, "epoch": epoch, "loss": _finite_or_none(loss)}
        if self.full:
            event["lr"] = lr
        self._write(event)

    def on_epoch(self, epoch: int, train_loss: float, val_loss: float | None,
                 val_accuracy: float | None, val_mae: float | None) -> None:
        event = {"event": "epoch", "epoch": epoch, "train_loss": _finite_or_none(train_loss),
                 "val_loss": _finite_or_none(val_loss), "val_accuracy": val_accuracy}
        if self._task.get("kind") == "regression":
            event["val_mae"] = _finite_or_none(val_mae)
        self._write(event, flush=True)

    def on_stats(self, event: dict[str, Any]) -> None:
        self._write(_plain(event), flush=self.full)

    def on_end(self, result: RunResult) -> None:
        event = {"event": "end", "status": result.status, "samples_per_s": result.samples_per_s,
                 "val_loss": _finite_or_none(result.val_loss), "val_accuracy": result.val_accuracy}
        if result.message:
            event["message"] = result.message
        if self.full:
            event["result"] = _plain(result.to_dict())
        self._write(event, flush=True)
        assert self._file is not None
        if self._owns:
            self._file.close()
            self._file = None


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats become None, other odd values their text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return _finite_or_none(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


class EventReader:
    """Reads the complete JSON lines a log gained since the last `read()` (the mirror of JsonlLogger).

    A file that shrank was rewritten (train.py truncates its log as it starts): reading starts over.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._position = 0
        self._pending = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self._position:
            self._position, self._pending = 0, b""
        if size == self._position:
            return []
        with open(self.path, "rb") as f:
            f.seek(self._position)
            data = f.read(size - self._position)
        self._position += len(data)
        lines = (self._pending + data).split(b"\n")
        self._pending = lines[-1]
        events = []
        for line in lines[:-1]:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                log.warning("%s: not a JSON line: %r", self.path, line[:200])
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


_RESULT_FIELDS = {f.name for f in dataclasses.fields(RunResult)}


def result_of(event: dict[str, Any]) -> RunResult:
    """The RunResult an end event carries (the whole result with full=True, else its contract fields)."""
    data = event.get("result") if isinstance(event.get("result"), dict) else {
        k: event.get(k) for k in ("status", "message", "samples_per_s", "val_loss", "val_accuracy")}
    data = {k: v for k, v in data.items() if k in _RESULT_FIELDS and v is not None}
    data.setdefault("status", "failed")
    return RunResult(**data)


def replay(event: dict[str, Any], callbacks: Iterable[Any], default_lr: float | None = None) -> None:
    """Turn one event back into the callback call that wrote it (phase/start/step/epoch/stats/end)."""
    kind = event.get("event")
    for cb in callbacks:
        if kind == "phase":
            if hasattr(cb, "on_phase"):
                cb.on_phase(str(event.get("phase", "")))
        elif kind == "start":
            cb.on_start({k: v for k, v in event.items() if k != "event"})
        elif kind == "step":
            loss = event.get("loss")
            lr = event.get("lr", default_lr)
            cb.on_step(int(event.get("step", 0)), int(event.get("epoch", 0)),
                       math.nan if loss is None else float(loss), math.nan if lr is None else float(lr))
        elif kind == "epoch":
            cb.on_epoch(int(event.get("epoch", 0)), event.get("train_loss"), event.get("val_loss"),
                        event.get("val_accuracy"), event.get("val_mae"))
        elif kind == "stats":
            if hasattr(cb, "on_stats"):
                cb.on_stats(event)
        elif kind == "end":
            cb.on_end(result_of(event))
