"""Launching the exported train.py under torchrun: several processes, GPUs or machines.

`TorchrunJob` is a background job with the public surface of `designer.training.TrainingJob`
(`job_id`, `status`, `start`, `stop`, `join`, `snapshot`, `dataset`, `model_factory`,
`config`), so the page's live panel and the JobManager treat both alike. Its thread

1. writes the export (`designer.codegen.write_export`) into the run folder and the dataset's
   arrays into `data.npz` (X, y and X_val, y_val), so train.py learns from and validates on
   the same data as the in-app trainer;
2. runs `python -m torch.distributed.run --standalone --nproc_per_node N train.py --data
   data.npz ... --out out` in that folder, stdout and stderr going to `torchrun.log`
   (OMP_NUM_THREADS=1 for CPU processes, which is what torchrun itself suggests). The
   TrainConfig becomes train.py's flags: optimizer, schedule, gradient clipping,
   precision and torch.compile included;
3. tails `out/metrics.jsonl` (the start/step/epoch/end events that rank 0 writes) into the
   snapshot and, with a RunStore, into the run through `designer.runs.RunRecorder`. The
   start event's total_steps and world_size replace the launcher's own estimate.

Several machines: pass torchrun's own flags through `extra_torchrun_args`, e.g.
`["--nnodes", "2", "--node_rank", "0", "--master_addr", "10.0.0.1", "--master_port", "29500"]`
(or `--rdzv-endpoint`); `--standalone` is then left out. The app only starts the processes
of this machine: run the same export (the run folder) on the others with the same flags and
their own `--node_rank`. Metrics come from rank 0, so this machine should be node 0.

`stop()` sends SIGTERM to torchrun and to its worker processes (each runs in a session of its
own), then SIGKILL to whatever is left after `kill_after` seconds. A non-zero exit is "failed",
with train.py's (or torchrun's) error line as the message; the whole log is `torchrun.log`.
Nothing here imports Streamlit.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from designer.train.callbacks import EventReader, RunResult, replay
from designer.train.config import ConfigError, TrainConfig, train_py_flags
from designer.train.jobs import JobBase

log = logging.getLogger(__name__)

__all__ = ["TorchrunJob", "error_summary", "launch_torchrun", "processes_in", "torchrun_command"]

LOG_NAME = "torchrun.log"
# Env vars of an enclosing torchrun (if the app itself runs under one) must not leak into ours.
_DIST_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
             "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
_MULTI_NODE_FLAGS = ("--nnodes", "--rdzv-endpoint", "--rdzv_endpoint", "--master-addr", "--master_addr",
                     "--rdzv-backend", "--rdzv_backend")


# --------------------------------------------------------------------------- the command


def _device_flag(device: str) -> str:
    """train.py's --device for a TrainConfig device: cpu or cuda (DDP does not run on MPS)."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        return "cuda"
    if device == "mps":
        raise ConfigError("torchrun runs on CPU or CUDA processes; MPS is not supported there: pick cpu or cuda")
    return device


def _flag_value(args: Sequence[str], *names: str) -> str | None:
    """The value of `--name V` or `--name=V` in an argument list (the last one given)."""
    value = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def _is_multi_node(torchrun_args: Sequence[str]) -> bool:
    return any(a == f or a.startswith(f + "=") for a in torchrun_args for f in _MULTI_NODE_FLAGS)


def _nnodes(torchrun_args: Sequence[str]) -> int | None:
    """The fixed node count from --nnodes (1 when absent); None for an elastic range like 1:4."""
    value = _flag_value(torchrun_args, "--nnodes")
    if value is None:
        return 1
    return int(value) if value.isdigit() else None


def torchrun_command(config: TrainConfig, processes: int, device: str, *, log_every: int = 1,
                     extra_torchrun_args: Sequence[str] = (), extra_train_args: Sequence[str] = ()) -> list[str]:
    """The command line, run inside the run folder (train.py, data.npz and out/ are relative).

    `--batch-size` is per process, as in train.py: one step sees processes × batch size samples.
    """
    launcher = [sys.executable, "-m", "torch.distributed.run"]
    if not _is_multi_node(extra_torchrun_args):
        launcher.append("--standalone")
    launcher += ["--nproc_per_node", str(processes), *map(str, extra_torchrun_args)]
    # Every training option's flag comes from its one declaration (designer.train.config.OPTIONS).
    train = ["train.py", "--data", "data.npz", *train_py_flags(config, device), "--log-every", str(log_every),
             "--out", "out"]
    return launcher + train + [str(a) for a in extra_train_args]


def _steps_per_epoch(n: int, batch_size: int, world_size: int) -> int:
    """train.py's batches per epoch and process: DistributedSampler pads each share to ceil(n / world);
    the last partial batch is dropped when a share holds more than one batch."""
    share = math.ceil(n / world_size)
    return share // batch_size if share > batch_size else (1 if share else 0)


# --------------------------------------------------------------------------- processes (Linux /proc; elsewhere the group only)


def _proc_start(pid: int) -> str | None:
    """When a live process started (to tell it from a later one with its pid); None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def _proc_ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _all_pids() -> list[int]:
    try:
        return [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []


def _descendants(root: int) -> dict[int, str]:
    """Every live descendant of `root`: {pid: start time} (empty where /proc is missing)."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        ppid = _proc_ppid(pid)
        if ppid is not None:
            children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        start = _proc_start(pid)
        if start is not None and pid not in found:
            found[pid] = start
            todo += children.get(pid, [])
    return found


def processes_in(folder: str | os.PathLike) -> list[int]:
    """Live processes of ours started in `folder` (train.py or torchrun): {pid}, from /proc."""
    target = str(Path(folder).resolve())
    pids = []
    for pid in _all_pids():
        try:
            if os.readlink(f"/proc/{pid}/cwd") != target:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if "train.py" in cmdline or "torch.distributed.run" in cmdline:
            pids.append(pid)
    return pids


def _signal(pid: int, start: str | None, sig: int, group: bool) -> None:
    """Signal a process (or its group) unless its pid now belongs to another process."""
    if start is not None and _proc_start(pid) != start:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


# --------------------------------------------------------------------------- reading the log


_ERROR_LINE = re.compile(r"^(?:[\w.\-]+: )?error: .+")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b:? ?.*")
_RANK_PREFIX = re.compile(r"^\[(?:rank|default)\d+\]:\s?")
_TORCHRUN_LOG = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d")
_SYNCED = "parameters in sync across"  # train.py's last line under torchrun, after the end event


def error_summary(text: str, returncode: int | None = None, limit: int = 400) -> str:
    """The line of a torchrun log that says what went wrong, for the page.

    train.py's own `error: ...` lines (and argparse's) come first, then the last line of a
    worker's Python traceback; torchrun's own traceback and failure report are skipped, but a
    signal that killed a worker is named from it. Else the log's last lines, else the exit code.
    """
    lines = [_RANK_PREFIX.sub("", line).rstrip() for line in text.splitlines()]
    own: list[str] = []
    for line in lines:  # from torchrun's "failed (exitcode ...)" on, the log is torchrun's own report
        if (_TORCHRUN_LOG.match(line) and "failed (exitcode" in line) or "ChildFailedError" in line:
            break
        own.append(line)
    chosen = next((line.strip() for line in own if _ERROR_LINE.match(line.strip())), None)
    if chosen is None:
        exceptions = [line.strip() for line in own if _EXCEPTION_LINE.match(line)]
        chosen = exceptions[-1] if exceptions else None
    if chosen is None:
        tail = [line.strip() for line in own if line.strip() and not _TORCHRUN_LOG.match(line)]
        chosen = " / ".join(tail[-2:]) if tail else None
    code = f"torchrun exited with code {returncode}" if returncode is not None else "torchrun failed"
    signals = re.findall(r"exitcode\s*:\s*-\d+ \(pid: \d+\)\s*\((SIG[A-Z]+)\)", text)
    if signals and signals[-1] != "SIGTERM":  # the root cause comes last; SIGTERM is torchrun's own cleanup
        code += f"; a process got {signals[-1]}"
    if not chosen:
        return code
    chosen = chosen if len(chosen) <= limit else chosen[: limit - 1] + "…"
    return f"{chosen} ({code})"


# --------------------------------------------------------------------------- the job


class TorchrunJob(JobBase):
    """The exported train.py under torchrun with `processes` processes; the page polls `snapshot()`.

    The run folder holds the export, data.npz, out/ (metrics.jsonl, model.safetensors) and
    torchrun.log. With a RunStore and run_id the metrics and the end are recorded there too.
    """

    start_message = "writing the export and the data"

    def __init__(self, job_id: str, design: dict, dataset: Any, config: TrainConfig, processes: int,
                 run_dir: str | os.PathLike, store: Any = None, run_id: int | None = None,
                 model_factory: Callable[[], Any] | None = None, extra_torchrun_args: Sequence[str] = (),
                 extra_train_args: Sequence[str] = (), log_every: int = 1, kill_after: float = 5.0,
                 poll_s: float = 0.2, on_done: Callable[[TorchrunJob], None] | None = None) -> None:
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ConfigError(f"processes must be a whole number of at least 1; received {processes!r}")
        super().__init__(job_id, dataset, config, store, run_id, on_done)
        self.design = copy.deepcopy(design)
        self.processes = processes
        self.run_dir = Path(run_dir)
        self.model_factory = model_factory
        self.extra_torchrun_args = [str(a) for a in extra_torchrun_args]
        self.extra_train_args = [str(a) for a in extra_train_args]
        self.log_every = log_every
        self.kill_after = kill_after
        self.poll_s = poll_s
        self.log_path = self.run_dir / LOG_NAME
        self.metrics_path = self.run_dir / "out" / "metrics.jsonl"
        self._proc: subprocess.Popen | None = None
        self._workers: dict[int, str] = {}  # torchrun's descendants seen so far: {pid: start time}
        self._recorder: Any = None
        self._end: dict[str, Any] | None = None  # train.py's end event
        self._train_loss: float | None = None
        self._reader = EventReader(self.metrics_path)

    # ---- the TrainingJob surface

    def _stop_handle(self) -> Any:
        return self._proc  # None until launched: the thread then does not start it (_stop_requested)

    def _signal_stop(self, proc: Any) -> None:
        """SIGTERM to torchrun and its workers now, SIGKILL to what is left `kill_after` seconds later."""
        self._terminate(proc, signal.SIGTERM)

    def pids(self) -> list[int]:
        """torchrun's pid and its workers' seen so far (they may have ended)."""
        with self._lock:
            return ([self._proc.pid] if self._proc is not None else []) + list(self._workers)

    # ---- the thread

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            result = self._launch_and_tail(started)
        except Exception as exc:  # the thread must always report an end
            log.exception("torchrun job %s failed", self.job_id)
            result = self._result("failed", f"{type(exc).__name__}: {exc}", started)
        self._end_with(result)

    def _prepare(self) -> tuple[list[str], dict[str, str], dict[str, Any]]:
        """Write the export and data.npz; the command, its environment and the run's info."""
        import numpy as np

        from designer.codegen import write_export

        ds, cfg = self.dataset, self.config
        device = _device_flag(cfg.device)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_export(self.design, self.run_dir)
        x, y = ds.x_train.detach().cpu().numpy(), ds.y_train.detach().cpu().numpy()
        x_val, y_val = ds.x_val.detach().cpu().numpy(), ds.y_val.detach().cpu().numpy()
        tmp = self.run_dir / "data.tmp.npz"
        np.savez(tmp, X=x, y=y, X_val=x_val, y_val=y_val)  # train.py validates on X_val, y_val
        os.replace(tmp, self.run_dir / "data.npz")
        for stale in ("metrics.jsonl", "model.safetensors", "model.pt"):  # an earlier run's, in this folder
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / "out" / stale).unlink()
        command = torchrun_command(cfg, self.processes, device, log_every=self.log_every,
                                   extra_torchrun_args=self.extra_torchrun_args,
                                   extra_train_args=self.extra_train_args)
        env = {k: v for k, v in os.environ.items() if k not in _DIST_ENV and not k.startswith("TORCHELASTIC_")}
        env["PYTHONUNBUFFERED"] = "1"
        if device == "cpu":
            env["OMP_NUM_THREADS"] = "1"
        nodes = _nnodes(self.extra_torchrun_args)
        self._world = self.processes * nodes if nodes else self.processes
        n, n_val = len(x), len(x_val)
        # An estimate until train.py's start event gives the real count (elastic --nnodes: none)
        per_epoch = _steps_per_epoch(n, cfg.batch_size, self._world) if nodes else None
        total = None
        if per_epoch is not None:
            total = cfg.epochs * per_epoch
            total = min(total, cfg.max_steps) if cfg.max_steps else total
        notes: list[str] = []
        if device == "cuda":
            import torch

            count = torch.cuda.device_count()
            if count and self.processes > count:
                notes.append(f"{self.processes} processes share {count} GPU(s)")
        info = {
            "device": device, "total_steps": total, "steps_per_epoch": per_epoch, "epochs": cfg.epochs,
            "batch_size": cfg.batch_size, "processes": self.processes, "world_size": self._world if nodes else None,
            "launcher": "torchrun", "train_size": n, "val_size": n_val, "task": dict(ds.task),
            "notes": notes, "config": cfg.to_dict(), "command": command, "run_dir": str(self.run_dir),
            "log_path": str(self.log_path),
        }
        return command, env, info

    def _launch_and_tail(self, started: float) -> RunResult:
        command, env, info = self._prepare()
        with self._lock:
            self._state.update(total_steps=info["total_steps"], device=info["device"], info=info,
                               message="; ".join(info["notes"]) or f"{self.processes} torchrun process(es) "
                               f"on {info['device']}")
            stopped = self._stop_requested
        if stopped:  # (outside the lock: _result takes it)
            return self._result("stopped", "stopped before torchrun started", started)
        if self.store is not None and self.run_id is not None:
            from designer.runs import RunRecorder  # runs imports training, not this module

            self._recorder = RunRecorder(self.store, self.run_id)
            self._recorder.on_start(info)
        with open(self.log_path, "wb") as log_file:
            proc = subprocess.Popen(command, cwd=self.run_dir, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        with self._lock:
            self._proc = proc
            stop_now = self._stop_requested
        if stop_now:
            self._terminate(proc, signal.SIGTERM)
        try:
            returncode = self._tail(proc)
        except BaseException:  # never leave the processes running behind a broken tail
            self._terminate(proc, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(self.kill_after)
            self._terminate(proc, signal.SIGKILL)
            proc.wait()
            self._reap(proc)
            raise
        self._reap(proc)
        return self._outcome(returncode, started)

    def _tail(self, proc: subprocess.Popen) -> int:
        """Turn metrics.jsonl into the snapshot until torchrun exits; SIGKILL `kill_after` s after a stop."""
        last_scan, killed = 0.0, False
        while True:
            returncode = proc.poll()
            self._read_metrics()
            if returncode is not None:
                break
            now = time.monotonic()
            if now - last_scan >= 1.0:  # torchrun's workers run in sessions of their own: remember them
                self._remember_workers(proc.pid)
                last_scan = now
            with self._lock:
                stop_time = self._stop_time
            if stop_time is not None and not killed and now - stop_time >= self.kill_after:
                self._terminate(proc, signal.SIGKILL)
                killed = True
            time.sleep(self.poll_s)
        self._read_metrics()
        return returncode

    def _remember_workers(self, root: int) -> None:
        found = _descendants(root)
        if found:
            with self._lock:
                self._workers.update(found)

    def _terminate(self, proc: subprocess.Popen, sig: int) -> None:
        """Signal torchrun's group and every worker's (session) group."""
        self._remember_workers(proc.pid)
        with self._lock:
            workers = dict(self._workers)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(proc.pid, sig)
        for pid, start in workers.items():
            _signal(pid, start, sig, group=True)
            _signal(pid, start, sig, group=False)

    def _reap(self, proc: subprocess.Popen) -> None:
        """After torchrun ended: no worker of ours may outlive it (SIGTERM, then SIGKILL)."""
        with self._lock:
            workers = dict(self._workers)
        alive = {pid: start for pid, start in workers.items() if _proc_start(pid) == start}
        for pid in processes_in(self.run_dir):
            alive.setdefault(pid, _proc_start(pid) or "")
        alive.pop(proc.pid, None)
        if not alive:
            return
        for pid, start in alive.items():
            _signal(pid, start or None, signal.SIGTERM, group=False)
        deadline = time.monotonic() + self.kill_after
        while time.monotonic() < deadline and any(_proc_start(p) == s for p, s in alive.items()):
            time.sleep(0.1)
        for pid, start in alive.items():
            _signal(pid, start or None, signal.SIGKILL, group=False)

    # ---- metrics

    def _read_metrics(self) -> None:
        """Replay the lines metrics.jsonl gained since the last look (see callbacks.EventReader)."""
        for event in self._reader.read():
            self._on_event(event)

    def _on_event(self, event: dict[str, Any]) -> None:
        """train.py's start/step/epoch events go to the same Progress bookkeeping (and RunRecorder) as every
        other job's; its end event is kept for `_outcome`, which also weighs torchrun's exit code."""
        if event.get("event") == "end":
            with self._lock:
                self._end = dict(event)
            return
        if event.get("event") == "epoch":
            with self._lock:
                self._train_loss = event.get("train_loss")
        callbacks = [self.progress] + ([self._recorder] if self._recorder is not None else [])
        replay(event, callbacks, default_lr=float(self.config.lr))  # exports from before lr was logged

    # ---- the end

    def _outcome(self, returncode: int, started: float) -> RunResult:
        with self._lock:
            stopped, end = self._stop_requested, self._end
            steps = self._state["step"]
        if stopped:
            return self._result("stopped", f"stopped after {steps} step(s)", started)
        ended = (end or {}).get("status")
        if ended == "diverged":
            return self._result("diverged", "the loss is not finite any more: try a lower learning rate", started)
        if returncode == 0 and ended in ("completed", "stopped"):  # "stopped": train.py reached --max-steps
            with self._lock:
                epochs = len(self._epochs)
            return self._result("completed", f"completed {epochs} epoch(s), {steps} step(s) "
                                f"on {self.processes} process(es)", started)
        text = ""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        if ended in ("completed", "stopped") and _SYNCED in text and self._weights() is not None:
            # Everything was done (metrics, weights, the check that the processes agree) when a
            # process died on its way out: gloo's teardown at interpreter exit now and then aborted
            # (SIGABRT) there, in exports from before train.py's leave_process_group.
            with self._lock:
                epochs = len(self._epochs)
            note = (f"a process crashed while exiting after training had finished (torchrun exited with code "
                    f"{returncode}); the results are complete, see {self.log_path.name}")
            result = self._result("completed", f"completed {epochs} epoch(s), {steps} step(s) on "
                                  f"{self.processes} process(es); {note}", started)
            result.warnings.append(note)
            return result
        if returncode == 0:  # exited cleanly without train.py's end event
            return self._result("failed", f"train.py ended without its end event; see {self.log_path}", started)
        return self._result("failed", error_summary(text, returncode), started)

    def _result(self, status: str, message: str, started: float) -> RunResult:
        with self._lock:
            end = dict(self._end or {})
            last_epoch = self._epochs[-1] if self._epochs else {}
            steps, epochs_done = self._state["step"], len(self._epochs)
            samples_per_s = end.get("samples_per_s") or self._state["samples_per_s"]
            info = self._state.get("info") or {}
            train_loss = self._train_loss
        last_path = self._weights()
        notes = list(info.get("notes") or [])
        return RunResult(
            status=status, message=message, epochs_done=epochs_done, steps=steps, samples_per_s=samples_per_s,
            train_loss=train_loss, val_loss=end.get("val_loss", last_epoch.get("val_loss")),
            val_accuracy=end.get("val_accuracy", last_epoch.get("val_accuracy")),
            val_mae=end.get("val_mae", last_epoch.get("val_mae")), last_path=last_path,
            duration_s=time.perf_counter() - started, device=info.get("device"), warnings=notes)

    def _weights(self) -> str | None:
        """Where train.py saved the final weights (model.pt without safetensors), if it did."""
        for name in ("model.safetensors", "model.pt"):
            if (self.run_dir / "out" / name).is_file():
                return str(self.run_dir / "out" / name)
        return None

    def _end_with(self, result: RunResult) -> None:
        if self._recorder is not None:
            try:
                self._recorder.on_end(result)
            except Exception:
                log.exception("could not record the end of run %s", self.run_id)
        else:
            self._finish_store(result)
        self.progress.on_end(result)
        if self.on_done:
            self.on_done(self)


# --------------------------------------------------------------------------- the page's entry point


def launch_torchrun(design: dict, dataset: Any, config: TrainConfig, processes: int, store: Any = None,
                    manager: Any = None, run_dir: str | os.PathLike | None = None, *,
                    extra_torchrun_args: Sequence[str] = (), extra_train_args: Sequence[str] = (),
                    log_every: int = 1, kill_after: float = 5.0) -> str:
    """Start the exported train.py under torchrun with `processes` processes; returns the job id.

    With a RunStore a run is created (dataset name, config plus "processes" and "launcher") and
    the run folder defaults to the store's folder for it; else a new temporary folder.
    The job is registered with `manager` (default: designer.training.JOBS) and started at once.
    `extra_torchrun_args` go to torchrun (e.g. --nnodes/--node_rank/--master_addr for several
    machines), `extra_train_args` to train.py. Bad values raise ConfigError before anything starts.
    """
    from designer.build import build_model
    from designer.train.jobs import JOBS

    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ConfigError(f"processes must be a whole number of at least 1; received {processes!r}")
    device = _device_flag(config.device)  # MPS: a ConfigError now
    manager = JOBS if manager is None else manager
    frozen = copy.deepcopy(design)
    run_id = None
    if store is not None:
        record = {**config.to_dict(), "processes": processes, "launcher": "torchrun"}
        if extra_torchrun_args:
            record["torchrun_args"] = [str(a) for a in extra_torchrun_args]
        if run_dir is not None:
            record["checkpoint_dir"] = str(run_dir)
        run_id = store.create(frozen, record, getattr(dataset, "name", "?"), device)
        if run_dir is None:
            run_dir = store.checkpoint_dir(run_id)
    if run_dir is None:
        run_dir = tempfile.mkdtemp(prefix="netwright-torchrun-")
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    job = TorchrunJob(job_id, frozen, dataset, config, processes, run_dir, store=store, run_id=run_id,
                      model_factory=lambda: build_model(frozen), extra_torchrun_args=extra_torchrun_args,
                      extra_train_args=extra_train_args, log_every=log_every, kill_after=kill_after)
    manager.add(job)
    job.start()
    return job_id
