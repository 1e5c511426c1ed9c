"""Background jobs the page polls, and the manager that queues them per device."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from designer.train.callbacks import Callback, RunResult
from designer.train.config import STATUSES, TrainConfig, device_key, resolve_device
from designer.train.trainer import ModelOrFactory, Trainer

log = logging.getLogger(__name__)

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
