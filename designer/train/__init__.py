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

from designer.train.callbacks import Callback, JsonlLogger, RunResult
from designer.train.checkpoints import OnnxExportError, export_onnx, load_checkpoint, save_checkpoint
from designer.train.config import (
    DEVICES,
    DIVERGED_RATIO,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    STATUSES,
    ConfigError,
    ModelOrFactory,
    TrainConfig,
    TrainingError,
    device_key,
    resolve_device,
)
from designer.train.jobs import JOB_STATUSES, JOBS, JobBase, JobManager, TrainingJob
from designer.train.memory import (
    InsufficientMemory,
    MemoryError_,
    available_memory,
    check_memory,
    estimate_memory,
    format_bytes,
    measure_activations,
    suggest_batch_size,
)
from designer.train.schedules import schedule_lr
from designer.train.trainer import Trainer

__all__ = [
    "DEVICES", "DIVERGED_RATIO", "JOBS", "JOB_STATUSES", "OPTIMIZERS", "PRECISIONS", "SCHEDULES", "STATUSES",
    "Callback", "ConfigError", "InsufficientMemory", "JobBase", "JobManager", "JsonlLogger", "MemoryError_",
    "ModelOrFactory", "OnnxExportError", "RunResult", "TrainConfig", "Trainer", "TrainingError", "TrainingJob",
    "available_memory", "check_memory", "device_key", "estimate_memory", "export_onnx", "format_bytes",
    "load_checkpoint", "measure_activations", "resolve_device", "save_checkpoint", "schedule_lr",
    "suggest_batch_size",
]
