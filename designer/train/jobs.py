"""Background jobs the page polls, and the manager that queues them per device.

The app's runs are WorkerJobs: a spawned worker process per run (designer.train.worker) writes the
event log, this process only reads it. Every kind of job keeps its progress in one `Progress`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from designer.train.callbacks import Callback, EventReader, RunResult, replay
from designer.train.config import STATUSES, TrainConfig, device_key, resolve_device
from designer.train.trainer import ModelOrFactory, Trainer

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- background jobs


JOB_STATUSES = ("queued", "running", *STATUSES)


class Progress(Callback):
    """The one progress bookkeeping of every job: step, epoch, samples per second, ETA, phase, curves.

    It is a callback: the thread job's trainer calls it directly; the worker and torchrun jobs replay
    their event log into it (`callbacks.replay`). Everything under the job's lock. Throughput counts
    from the first step seen (start-up and compilation left out), samples per step being the batch
    size times the processes (`world_size` in the start info).
    """

    def __init__(self, job: JobBase) -> None:
        self.job = job
        self._first: tuple[int, float] | None = None
        self._samples_per_step = job.config.batch_size

    def on_phase(self, phase: str) -> None:
        with self.job._lock:
            state = self.job._state
            if state["status"] in ("queued", "running") and not state["step"]:
                state["phase"] = phase
                state["message"] = phase

    def on_start(self, info: dict[str, Any]) -> None:
        with self.job._lock:
            state = self.job._state
            merged = {**(state.get("info") or {}), **info}  # a new dict: snapshots share the old one
            total = merged.get("total_steps")
            world = merged.get("world_size") or 1
            self._samples_per_step = int(merged.get("batch_size") or self.job.config.batch_size) * int(world)
            state.update(status="running", info=merged, phase="the first step (warm-up)",
                         message="; ".join(merged.get("notes") or []))
            if isinstance(total, int) and total >= 0:
                state["total_steps"] = total
            if merged.get("device"):
                state["device"] = merged["device"]

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        job = self.job
        now = time.perf_counter()
        with job._lock:
            state = job._state
            job._steps.append((step, loss, lr))
            state["step"], state["epoch"], state["phase"] = step, epoch, None
            if self._first is None:
                self._first = (step, now)
            first, t0 = self._first
            if step > first and now > t0:
                per_step = (now - t0) / (step - first)
                state["samples_per_s"] = self._samples_per_step / per_step
                if state["total_steps"]:
                    state["eta_s"] = max(state["total_steps"] - step, 0) * per_step

    def on_epoch(self, epoch: int, train_loss: float, val_loss: float | None,
                 val_accuracy: float | None, val_mae: float | None) -> None:
        with self.job._lock:
            self.job._epochs.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                                     "val_accuracy": val_accuracy, "val_mae": val_mae})

    def on_end(self, result: RunResult) -> None:
        with self.job._lock:
            self.job._state.update(status=result.status, message=result.message, result=result.to_dict(),
                                   phase=None, eta_s=0.0 if result.status == "completed" else None)
            if result.samples_per_s is not None:
                self.job._state["samples_per_s"] = result.samples_per_s


class JobBase:
    """What every background job shares with the page: its progress state under one lock.

    WorkerJob (a worker process: the app), TrainingJob (a thread: library use) and
    designer.launch.TorchrunJob (train.py under torchrun) all fill it in through the one `Progress`
    bookkeeping; the page only ever reads `snapshot()`.
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
            "device": None, "info": None, "phase": None,
        }
        self._thread: threading.Thread | None = None
        self._stop_requested = False
        self._stop_time: float | None = None  # when stop() was called (how long the stop took, for the end)
        self.progress = Progress(self)

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
            self._state.update(status="running", message=self.start_message, phase=self.start_message)
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

    def stop(self) -> None:
        """Stop the run, or cancel it while it is queued; the snapshot says 'stopped' soon after. What a
        running job does to stop is its own (`_stop_handle`, under the lock; `_signal_stop`, outside it)."""
        with self._lock:
            if self._state["status"] not in ("queued", "running"):
                return
            self._stop_requested = True
            self._stop_time = time.monotonic()
            cancelled = self._thread is None
            if cancelled:
                self._state.update(status="stopped", message="cancelled before it started", phase=None)
            handle = None if cancelled else self._stop_handle()
        if cancelled:
            self._finish_store(RunResult(status="stopped", message="cancelled before it started"))
            if self.on_done:
                self.on_done(self)
        elif handle is not None:
            self._signal_stop(handle)

    def _stop_handle(self) -> Any:
        """Under the lock, once a stop is asked of a job that has started: what `_signal_stop` acts on."""
        return None

    def _signal_stop(self, handle: Any) -> None:
        """Outside the lock: tell the running work to stop."""

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

    def _stop_handle(self) -> Any:
        return self._trainer  # None until the thread made it: it then stops at once (_stop_requested)

    def _signal_stop(self, trainer: Any) -> None:
        trainer.stop()

    def _callbacks(self) -> list[Callback]:
        callbacks: list[Callback] = [self.progress, *self.extra_callbacks]
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
        self.progress.on_end(result)
        if self.on_done:
            self.on_done(self)


class WorkerJob(JobBase):
    """One training run in a worker process of its own (spawned), so the server's process only reads events.

    The worker (designer.train.worker.main) builds the model from `model_factory` (picklable:
    designer.train.worker.DesignModel), trains, and writes the full event log (JsonlLogger,
    full=True) to `log_path`. This job's thread tails that log and replays each event into the
    same Progress bookkeeping and RunRecorder the thread job uses. `stop()` sets a flag the
    worker checks every 50 ms (the trainer stops before its next step); a worker still alive
    `kill_after` seconds later is killed. A worker whose server died stops by itself.
    """

    start_message = "starting a worker process (importing torch)"

    def __init__(self, job_id: str, model_factory: Any, dataset: Any, config: TrainConfig,
                 log_path: str | os.PathLike, store: Any = None, run_id: int | None = None,
                 on_done: Callable[[WorkerJob], None] | None = None, kill_after: float = 5.0,
                 poll_s: float = 0.1, threads: int | None = None) -> None:
        super().__init__(job_id, dataset, config, store, run_id, on_done)
        self.model_factory = model_factory
        self.log_path = Path(log_path)
        self.kill_after = kill_after
        self.poll_s = poll_s
        self.threads = threads
        self._process: Any = None
        self._stop_event: Any = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _stop_handle(self) -> Any:
        self._state["message"] = "stopping"
        return self._stop_event

    def _signal_stop(self, event: Any) -> None:
        event.set()  # the worker's watcher stops its trainer within 50 ms

    def _run(self) -> None:
        from designer.runs import RunRecorder  # runs imports callbacks only: no circle
        from designer.train import worker

        callbacks: list[Any] = [self.progress]
        if self.store is not None and self.run_id is not None:
            callbacks.append(RunRecorder(self.store, self.run_id))
        ended = False
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_text("", encoding="utf-8")
            reader = EventReader(self.log_path)
            ctx = worker.context()
            with self._lock:
                self._stop_event = ctx.Event()
                if self._stop_requested:
                    self._stop_event.set()
            process = ctx.Process(target=worker.main, name=f"netwright-worker-{self.job_id}", daemon=True,
                                  args=(self.model_factory, worker.dataset_message(self.dataset), self.config.to_dict(),
                                        str(self.log_path),
                                        self._stop_event, os.getpid(), self.threads))
            process.start()
            with self._lock:
                self._process = process
            killed = False
            while True:
                alive = process.is_alive()
                for event in reader.read():
                    replay(event, callbacks, default_lr=self.config.lr)
                    ended = ended or event.get("event") == "end"
                if ended or not alive:
                    break
                with self._lock:
                    stop_time = self._stop_time
                if stop_time is not None and not killed and time.monotonic() - stop_time >= self.kill_after:
                    process.kill()
                    killed = True
                time.sleep(self.poll_s)
            process.join(self.kill_after)
            if process.is_alive():
                process.kill()
                process.join()
            for event in reader.read():  # lines written after the last look
                if not ended:
                    replay(event, callbacks, default_lr=self.config.lr)
                    ended = event.get("event") == "end"
            if not ended:
                if self._stop_requested:
                    result = RunResult(status="stopped", message=f"stopped after {self._state['step']} step(s) "
                                       f"(the worker was killed)", steps=self._state["step"])
                else:
                    result = RunResult(status="failed", message=f"the worker process ended (exit code "
                                       f"{process.exitcode}) before reporting an end; see {self.log_path}",
                                       steps=self._state["step"])
                for cb in callbacks:
                    cb.on_end(result)
        except Exception as exc:  # the thread must always report an end
            log.exception("worker job %s failed", self.job_id)
            result = RunResult(status="failed", message=f"{type(exc).__name__}: {exc}")
            self._finish_store(result)
            self.progress.on_end(result)
        if self.on_done:
            self.on_done(self)


class JobManager:
    """A thread-safe registry of training jobs; at most `max_concurrent_per_device` run at once per device.

    Extra jobs wait as "queued" and start by themselves when a slot on their device frees.
    """

    def __init__(self, max_concurrent_per_device: int = 1, worker: str = "thread") -> None:
        if worker not in ("thread", "process"):
            raise ValueError(f"worker must be 'thread' or 'process'; received {worker!r}")
        self.max_concurrent_per_device = max_concurrent_per_device
        self.worker = worker  # "process": each run in a spawned worker process (the app); "thread": in this one
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
        if self.worker == "process" and not callbacks and _crosses_processes(model_factory):
            folder = store.checkpoint_dir(run_id) if store is not None and run_id is not None else Path(
                tempfile.mkdtemp(prefix="netwright-run-"))
            job: Any = WorkerJob(job_id, model_factory, dataset, config, Path(folder) / "events.jsonl", store=store,
                                 run_id=run_id, on_done=self._on_done)
        else:  # extra callbacks live in this process, as a lambda factory does
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


def _crosses_processes(factory: Any) -> bool:
    """Whether a model factory can be sent to a worker: a design's (DesignModel); a lambda or a live
    module stays in this process (a thread job)."""
    from designer.train.worker import DesignModel

    return isinstance(factory, DesignModel)


JOBS = JobManager()
"""The process-wide job manager the page and the command line share."""
