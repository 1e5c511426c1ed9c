"""The quick checks of designer.probes (LR range test, overfit one batch) as a job in a worker process.

A ProbeJob spawns one process (the training worker's spawn context: a fresh interpreter), which
receives the design, the dataset as a training worker does (a catalog dataset by name, loaded in
the child; user data as tensors) and the probe's options, runs `lr_find` or `overfit_one_batch` and
sends back one message: ("done", result) or ("failed", one line). This process only waits on a
pipe in a thread of the job; the page polls `snapshot()`. `stop()` or the time limit kills the
child (a probe has nothing worth keeping half-way); a child whose parent died ends by itself.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

KINDS = ("lr_find", "overfit")
STATUSES = ("running", "done", "failed", "stopped")

LR_FIND_STEPS = 100  # the app's test: a few seconds on a CPU for the templates
OVERFIT_STEPS = 200
OVERFIT_BATCH = 8
TIMEOUT_S = 180.0


def probe_options(kind: str, config: Any = None, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of the probe a page starts: the form's batch size and optimizer for the LR test
    (when the form gives a config), the fixed small batch for overfit; `overrides` win."""
    if kind == "lr_find":
        options: dict[str, Any] = {"steps": LR_FIND_STEPS}
        if config is not None:
            options["batch_size"] = int(config.batch_size)
            options["optimizer"] = config.optimizer if config.optimizer in ("adam", "adamw", "sgd") else "adam"
    elif kind == "overfit":
        options = {"max_steps": OVERFIT_STEPS, "batch_size": OVERFIT_BATCH}
    else:
        raise ValueError(f"a probe is one of {', '.join(KINDS)}; received {kind!r}")
    options.update(overrides)
    return options


def run_probe(kind: str, design: dict, dataset: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The probe itself, in whichever process calls it: lr_find on the training split, or overfit_one_batch on
    the dataset's first batch (a synthetic one when dataset is None)."""
    import torch

    from designer.probes import lr_find, overfit_one_batch
    from designer.train.worker import DesignModel

    if kind not in KINDS:
        raise ValueError(f"a probe is one of {', '.join(KINDS)}; received {kind!r}")
    torch.manual_seed(int(options.get("seed", 0)))
    model = DesignModel(design)()  # as a run builds it: an imported design starts from its own weights
    if kind == "lr_find":
        if dataset is None:
            raise ValueError("the LR range test needs a dataset")
        return lr_find(design, dataset.x_train, dataset.y_train, model=model, **options)
    if kind == "overfit":
        n = int(options.get("batch_size", OVERFIT_BATCH))
        batch = (dataset.x_train[:n], dataset.y_train[:n]) if dataset is not None else None
        return overfit_one_batch(design, batch, model=model, **options)
    raise ValueError(f"a probe is one of {', '.join(KINDS)}; received {kind!r}")


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.2)
        if os.getppid() != parent_pid:
            os._exit(3)


def child_main(kind: str, design: dict, dataset: Any, options: dict, conn: Any, parent_pid: int,
               threads: int | None = None) -> None:
    """The worker process: run the probe and send one message on `conn`."""
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    from designer.train.worker import _yield_to_the_pages

    _yield_to_the_pages()  # below the pages' priority, as a training run
    try:
        import torch

        if threads:
            torch.set_num_threads(threads)
        from designer.train.worker import _receive

        data = _receive(dataset) if dataset is not None else None
        message: tuple[str, Any] = ("done", run_probe(kind, design, data, options))
    except Exception as exc:  # noqa: BLE001 - the page must hear about it, in one line
        message = ("failed", f"{type(exc).__name__}: {exc}".splitlines()[0])
    try:
        conn.send(message)
    finally:
        conn.close()


class ProbeJob:
    """One probe in a worker process. `start()` returns at once; `snapshot()` says
    {"kind", "status", "message", "result", "elapsed_s"}."""

    def __init__(self, kind: str, design: dict, dataset: Any = None, options: dict | None = None, *,
                 timeout_s: float = TIMEOUT_S, threads: int | None = None, poll_s: float = 0.1) -> None:
        if kind not in KINDS:
            raise ValueError(f"a probe is one of {', '.join(KINDS)}; received {kind!r}")
        self.kind = kind
        self.design = design
        self.dataset = dataset
        self.options = dict(options or {})
        self.timeout_s = timeout_s
        self.threads = threads
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"kind": kind, "status": "running", "message": "starting a worker process",
                                       "result": None}
        self._t0 = time.monotonic()
        self._t1: float | None = None
        self._stop = threading.Event()
        self._process: Any = None
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def status(self) -> str:
        with self._lock:
            return self._state["status"]

    def start(self) -> ProbeJob:
        self._thread = threading.Thread(target=self._run, name=f"netwright-probe-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Kill the worker; the snapshot says 'stopped' soon after."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> ProbeJob:
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            snap = dict(self._state)
        snap["elapsed_s"] = (self._t1 or time.monotonic()) - self._t0
        return snap

    def _end(self, status: str, message: str, result: dict | None = None) -> None:
        with self._lock:
            self._state.update(status=status, message=message, result=result)
            self._t1 = time.monotonic()

    def _run(self) -> None:
        from designer.train import worker

        try:
            ctx = worker.context()
            receiver, sender = ctx.Pipe(duplex=False)
            data = worker.dataset_message(self.dataset) if self.dataset is not None else None
            process = ctx.Process(target=child_main, name=f"netwright-probe-{self.kind}", daemon=True,
                                  args=(self.kind, self.design, data, self.options, sender, os.getpid(), self.threads))
            process.start()
            sender.close()  # the child holds the other end: a dead child means EOF here
            self._process = process
            with self._lock:
                self._state["message"] = "running in a worker process"
            message = None
            while message is None:
                if self._stop.is_set():
                    self._kill(process)
                    self._end("stopped", "stopped")
                    return
                if time.monotonic() - self._t0 > self.timeout_s:
                    self._kill(process)
                    self._end("failed", f"the check took longer than {self.timeout_s:.0f} s and was stopped: "
                                        "try a smaller design or batch")
                    return
                if receiver.poll(self.poll_s):
                    try:
                        message = receiver.recv()
                    except EOFError:
                        break
            process.join(5)
            if process.is_alive():
                self._kill(process)
            if message is None:
                self._end("failed", f"the worker process ended (exit code {process.exitcode}) without a result")
            elif message[0] == "done":
                self._end("done", "", message[1])
            else:
                self._end("failed", str(message[1]))
        except Exception as exc:  # noqa: BLE001 - the thread must always report an end
            self._end("failed", f"{type(exc).__name__}: {exc}".splitlines()[0])

    @staticmethod
    def _kill(process: Any) -> None:
        if process.is_alive():
            process.kill()
        process.join(5)
