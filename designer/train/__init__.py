"""Training: options, schedules, the memory check, checkpoints, callbacks, the trainer and the jobs.

Modules by responsibility (read top to bottom):
  config       TrainConfig and the option declarations (OPTIONS), device names
  schedules    the learning rate of each step
  memory       the estimate before a run (meta device) and free memory
  checkpoints  safetensors checkpoints and ONNX export
  callbacks    Callback, RunResult, JsonlLogger (writes the event log) and EventReader (replays it)
  trainer      Trainer: the loop
  jobs         background jobs (a worker process per run) and the JobManager that queues them
Nothing here imports Streamlit.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names are loaded on first use (PEP 562): `designer.train.config` (the option declarations) stays
# importable without torch, for the command line's --help and the page's form.
_WHERE = {
    "Callback": "callbacks",
    "ConfigError": "config",
    "DEVICES": "config",
    "DIVERGED_RATIO": "config",
    "InsufficientMemory": "memory",
    "JOBS": "jobs",
    "JOB_STATUSES": "jobs",
    "JobBase": "jobs",
    "JobManager": "jobs",
    "JsonlLogger": "callbacks",
    "MemoryError_": "memory",
    "ModelOrFactory": "trainer",
    "OPTIMIZERS": "config",
    "OPTION": "config",
    "OPTIONS": "config",
    "OnnxExportError": "checkpoints",
    "PRECISIONS": "config",
    "RunResult": "callbacks",
    "SCHEDULES": "config",
    "STATUSES": "config",
    "TrainConfig": "config",
    "Trainer": "trainer",
    "TrainingError": "config",
    "TrainingJob": "jobs",
    "available_memory": "memory",
    "check_memory": "memory",
    "device_key": "config",
    "estimate_memory": "memory",
    "export_onnx": "checkpoints",
    "format_bytes": "memory",
    "load_checkpoint": "checkpoints",
    "measure_activations": "memory",
    "resolve_device": "config",
    "save_checkpoint": "checkpoints",
    "schedule_lr": "schedules",
    "suggest_batch_size": "memory",
}

__all__ = [
    "DEVICES", "DIVERGED_RATIO", "JOBS", "JOB_STATUSES", "OPTIMIZERS", "PRECISIONS", "SCHEDULES", "STATUSES",
    "Callback", "ConfigError", "InsufficientMemory", "JobBase", "JobManager", "JsonlLogger", "MemoryError_", "OPTION", "OPTIONS",
    "ModelOrFactory", "OnnxExportError", "RunResult", "TrainConfig", "Trainer", "TrainingError", "TrainingJob",
    "available_memory", "check_memory", "device_key", "estimate_memory", "export_onnx", "format_bytes",
    "load_checkpoint", "measure_activations", "resolve_device", "save_checkpoint", "schedule_lr",
    "suggest_batch_size",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"designer.train.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'designer.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
