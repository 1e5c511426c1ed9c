"""The worker process of one in-app run: trains and writes the full event log; nothing else.

`main` runs in a process spawned by designer.train.jobs.WorkerJob (spawn: a fresh interpreter,
no state shared with the server but the dataset's tensors, which torch.multiprocessing passes
through shared memory). It stops when the job's stop event is set (checked every 50 ms) or when
the server process that started it is gone.
"""

from __future__ import annotations

import os
import threading
from typing import Any


class DesignModel:
    """A picklable model factory: builds the network of a design (in the worker, after seeding)."""

    def __init__(self, design: dict) -> None:
        self.design = design

    def __call__(self) -> Any:
        from designer.build import build_model
        from designer.importing.app_import import load_initial_weights

        model = build_model(self.design)
        if not any(p.is_meta for p in model.parameters()):  # the memory estimate builds it on meta first
            load_initial_weights(model, self.design)  # an imported model starts from the weights it came with
        return model

    def layer_table(self) -> list[tuple[str, str, str]]:
        """The design's layers by path, for per-layer statistics (designer.layer_stats.layer_table)."""
        from designer.layer_stats import layer_table

        return layer_table(self.design)


def context() -> Any:
    """The multiprocessing context of workers: spawn (fork would copy the server's threads and locks)."""
    import torch.multiprocessing as mp

    return mp.get_context("spawn")


def dataset_message(dataset: Any) -> Any:
    """What a worker is sent for a dataset: its name for a catalog dataset (the worker loads it: the tensors
    then live in the worker's own memory, which trains measurably faster than tensors received through shared
    memory), else the dataset itself."""
    origin = getattr(dataset, "origin", None)
    return ("catalog", *origin) if origin else dataset


def _receive(message: Any) -> Any:
    if isinstance(message, tuple) and message and message[0] == "catalog":
        from designer.data import load_dataset

        _, name, seed, data_dir = message
        return load_dataset(name, seed=seed, data_dir=data_dir)
    for name in ("x_train", "y_train", "x_val", "y_val"):  # out of shared memory, into the worker's own
        setattr(message, name, getattr(message, name).clone())
    return message


def _watch(trainer: Any, stop_event: Any, parent_pid: int, done: threading.Event) -> None:
    while not done.is_set():
        if stop_event.wait(0.05) or os.getppid() != parent_pid:
            trainer.stop()
            return


def _yield_to_the_pages() -> None:
    """Run below the server's priority (NETWRIGHT_WORKER_NICE, default 10): on a busy machine the pages
    stay responsive while runs train; alone, a run trains as fast as ever (nice only orders the queue)."""
    try:
        os.nice(int(os.environ.get("NETWRIGHT_WORKER_NICE", "10")))
    except (AttributeError, OSError, ValueError):  # Windows has no nice; a bad value changes nothing
        pass


def main(model_factory: Any, dataset: Any, config: dict, log_path: str, stop_event: Any, parent_pid: int,
         threads: int | None = None) -> None:
    """Train and write every event to `log_path` (JsonlLogger, full=True)."""
    from designer.train.callbacks import JsonlLogger, RunResult
    from designer.train.config import TrainConfig

    logger = JsonlLogger(log_path, full=True)
    _yield_to_the_pages()
    logger.on_phase("the worker is loading the dataset")
    try:
        import torch

        if threads:
            torch.set_num_threads(threads)
        dataset = _receive(dataset)
        from designer.train.trainer import Trainer

        trainer = Trainer(model_factory, dataset, TrainConfig.from_dict(config), [logger])
    except Exception as exc:  # noqa: BLE001 - the job must hear about it
        logger.on_end(RunResult(status="failed", message=f"the worker could not start: {type(exc).__name__}: {exc}"))
        return
    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(trainer, stop_event, parent_pid, done), daemon=True)
    watcher.start()
    try:
        trainer.run()  # never raises for a training problem; on_end writes the end event
    finally:
        done.set()
