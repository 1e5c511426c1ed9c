"""The run store: every training run, its metrics and checkpoints, in the local SQLite database.

`RunStore` records runs (design, config, dataset, status, final numbers) with their
per-step and per-epoch metrics, exports them (CSV, a zip bundle) and deletes them.
`RunRecorder` is the trainer callback that writes a run's metrics in batches. Checkpoints
live in `<db folder>/runs/<run_id>/`. A run that a killed process left "running" or
"queued" becomes "interrupted" the next time a store opens (its metrics are kept).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import time
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from designer.store import SqliteStore, retrying, storable_text
from designer.train.callbacks import Callback, RunResult

ACTIVE = ("running", "queued")
STEP_COLUMNS = ("step", "epoch", "loss", "lr")
STAT_COLUMNS = ("act_mean", "act_std", "grad_norm", "update_ratio", "dead_fraction", "weight_norm")
EPOCH_COLUMNS = ("epoch", "train_loss", "val_loss", "val_accuracy", "val_mae")
SUMMARY_COLUMNS = ("id", "name", "dataset", "device", "status", "message", "created_at", "finished_at",
                   "duration_s", "val_loss", "val_accuracy", "val_mae", "samples_per_s")


def _process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot, Linux), to tell a live pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_token() -> str:
    return f"{os.getpid()}:{_process_start(os.getpid()) or ''}"


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that wrote `owner` (pid:start) still runs."""
    if not owner:
        return False
    pid_text, _, start = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if start and Path("/proc").is_dir():
        return _process_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _num(x: Any) -> float | None:
    """A finite float, or None (SQLite cannot keep NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _rows(rows: Iterable[Any], columns: Sequence[str]) -> list[tuple]:
    """Metric rows given as dicts or tuples, as tuples in `columns` order."""
    out = []
    for row in rows:
        values = [row.get(c) for c in columns] if isinstance(row, dict) else list(row)[: len(columns)]
        values += [None] * (len(columns) - len(values))
        out.append(tuple(values))
    return out


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buf.getvalue()


def _config_of(text: str | None) -> dict[str, Any]:
    """A stored config as a dict ({} when missing or unreadable)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _safe_member(name: str) -> str | None:
    """A zip member name for a code file: relative, no '..'; None if unusable."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".", "/")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


class RunStore(SqliteStore):
    """Training runs and their metrics; safe to share between the trainer thread and the page."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        super().__init__(path)
        self.runs_dir = self.path.parent / "runs"
        self._owner = _owner_token()
        self.mark_interrupted()

    # ---- lifecycle of a run

    def checkpoint_dir(self, run_id: int) -> Path:
        """Where a run's checkpoints go by default: <db folder>/runs/<run_id>/ (a temporary folder while the
        store cannot write its own folder)."""
        if not self.saving:
            import tempfile

            return Path(tempfile.gettempdir()) / f"netwright-runs-{os.getpid()}" / str(int(run_id))
        return self.runs_dir / str(int(run_id))

    @retrying
    def create(self, design: dict, config: dict, dataset: str, device: str, status: str = "queued",
               name: str | None = None) -> int:
        """Record a new run (status "queued" until it starts); returns its id."""
        name = name or (design.get("name") if isinstance(design, dict) else None) or "run"
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (name, dataset, device, status, design, config, owner, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (storable_text(str(name)), dataset, device, status, json.dumps(design), json.dumps(config), self._owner,
                 time.time()))
            run_id = int(cur.lastrowid)
            directory = (config or {}).get("checkpoint_dir") or str(self.checkpoint_dir(run_id))
            db.execute("UPDATE runs SET checkpoint_dir = ? WHERE id = ?", (directory, run_id))
        return run_id

    @retrying
    def set_status(self, run_id: int, status: str, message: str | None = None, device: str | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status = ?, message = COALESCE(?, message), device = COALESCE(?, device), "
                       "owner = ? WHERE id = ?", (status, message, device, self._owner, run_id))

    @retrying
    def log_steps(self, run_id: int, rows: Iterable[Any]) -> None:
        """Append step rows: (step, epoch, loss, lr) tuples or dicts with those keys."""
        values = [(run_id, int(s), int(e), _num(loss), _num(lr)) for s, e, loss, lr in _rows(rows, STEP_COLUMNS)]
        if values:
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO run_steps (run_id, step, epoch, loss, lr) "
                               "VALUES (?, ?, ?, ?, ?)", values)

    @retrying
    def log_epochs(self, run_id: int, rows: Iterable[Any]) -> None:
        """Append epoch rows: dicts (or tuples) of epoch, train_loss, val_loss, val_accuracy, val_mae."""
        values = [(run_id, int(r[0]), *map(_num, r[1:])) for r in _rows(rows, EPOCH_COLUMNS)]
        if values:
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, val_loss, "
                               "val_accuracy, val_mae) VALUES (?, ?, ?, ?, ?, ?)", values)

    @retrying
    def finish(self, run_id: int, result: dict[str, Any]) -> None:
        """Record how a run ended (a RunResult as a dict)."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status = ?, message = ?, result = ?, finished_at = ?, duration_s = ?, "
                "val_loss = ?, val_accuracy = ?, val_mae = ?, steps = ?, samples_per_s = ?, best_path = ?, "
                "last_path = ?, device = COALESCE(?, device) WHERE id = ?",
                (result.get("status", "failed"), result.get("message") or "", json.dumps(result, default=str),
                 time.time(), _num(result.get("duration_s")), _num(result.get("val_loss")),
                 _num(result.get("val_accuracy")), _num(result.get("val_mae")), result.get("steps"),
                 _num(result.get("samples_per_s")), result.get("best_path"), result.get("last_path"),
                 result.get("device"), run_id))

    @retrying
    def mark_interrupted(self, force: bool = False) -> int:
        """Runs left "running"/"queued" by a process that no longer runs become "interrupted".

        Runs of live processes (this one included) are left alone unless `force`.
        Returns how many were marked.
        """
        rows = self._query(f"SELECT id, owner FROM runs WHERE status IN ({','.join('?' * len(ACTIVE))})", ACTIVE)
        dead = [r["id"] for r in rows if force or not _owner_alive(r["owner"])]
        if dead:
            with self._tx() as db:
                db.executemany("UPDATE runs SET status = 'interrupted', message = "
                               "'the process running it ended before it finished' WHERE id = ?",
                               [(i,) for i in dead])
        return len(dead)

    @retrying
    def delete(self, run_id: int) -> bool:
        """Delete a run, its metrics and its checkpoint folder if that lies under the runs folder.

        A run still going (in a live process) is refused with ValueError: stop it first.
        """
        rows = self._query("SELECT checkpoint_dir, status, owner FROM runs WHERE id = ?", (run_id,))
        if not rows:
            return False
        if rows[0]["status"] in ACTIVE and _owner_alive(rows[0]["owner"]):
            raise ValueError(f"run {run_id} is still {rows[0]['status']}; stop it before deleting it")
        with self._tx() as db:
            db.execute("DELETE FROM run_steps WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM run_epochs WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM run_stats WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        directory = rows[0]["checkpoint_dir"]
        if directory:
            folder = Path(directory).resolve()
            if folder.is_dir() and folder.is_relative_to(self.runs_dir.resolve()) and folder != self.runs_dir.resolve():
                shutil.rmtree(folder, ignore_errors=True)
        return True

    # ---- reading

    def list(self) -> list[dict[str, Any]]:
        """Summaries of every run, newest first (steps so far for a run still going), with its config
        (a dict; {} when unreadable) so that runs can be told apart by their settings."""
        cols = ", ".join(f"r.{c}" for c in SUMMARY_COLUMNS)
        rows = self._query(f"SELECT {cols}, r.config, COALESCE(r.steps, (SELECT MAX(step) FROM run_steps s "
                           f"WHERE s.run_id = r.id), 0) AS steps FROM runs r ORDER BY r.created_at DESC, r.id DESC")
        return [{**dict(r), "config": _config_of(r["config"])} for r in rows]

    def get(self, run_id: int) -> dict[str, Any]:
        """Everything about a run: its row with design, config and result parsed; KeyError if none."""
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no run {run_id!r}")
        run = dict(rows[0])
        for key in ("design", "config", "result"):
            run[key] = json.loads(run[key]) if run[key] else None
        if run["steps"] is None:
            last = self._query("SELECT MAX(step) AS n FROM run_steps WHERE run_id = ?", (run_id,))
            run["steps"] = last[0]["n"] or 0
        return run

    @retrying
    def log_stats(self, run_id: int, event: dict[str, Any]) -> None:
        """Keep one "stats" event of the log (designer.layer_stats): a row per layer at that step."""
        step = int(event["step"])
        values = [(run_id, step, str(r["path"]), *(_num(r.get(c)) for c in STAT_COLUMNS))
                  for r in event.get("layers") or [] if isinstance(r, dict) and "path" in r]
        if values:
            with self._tx() as db:
                db.executemany(f"INSERT OR REPLACE INTO run_stats (run_id, step, path, {', '.join(STAT_COLUMNS)}) "
                               f"VALUES (?, ?, ?, {', '.join('?' * len(STAT_COLUMNS))})", values)

    def stats(self, run_id: int) -> list[dict[str, Any]]:
        """The run's "stats" events, in step order: [{"step", "layers": [{"path", ...}]}]."""
        rows = self._query(f"SELECT step, path, {', '.join(STAT_COLUMNS)} FROM run_stats WHERE run_id = ? "
                           "ORDER BY step, rowid", (run_id,))
        events: dict[int, dict[str, Any]] = {}
        for r in rows:
            row = dict(r)
            step = row.pop("step")
            events.setdefault(step, {"event": "stats", "step": step, "layers": []})["layers"].append(row)
        return list(events.values())

    def runs_with_stats(self) -> list[dict[str, Any]]:
        """The runs that recorded per-layer statistics, newest first: id, name, dataset, status and the
        last step with statistics (one light query: what the Design page lists on every rerun)."""
        rows = self._query("SELECT r.id, r.name, r.dataset, r.status, MAX(s.step) AS last_step FROM runs r "
                           "JOIN run_stats s ON s.run_id = r.id GROUP BY r.id ORDER BY r.id DESC")
        return [dict(r) for r in rows]

    def steps(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._query("SELECT step, epoch, loss, lr FROM run_steps WHERE run_id = ? ORDER BY step", (run_id,))
        return [dict(r) for r in rows]

    def epochs(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._query("SELECT epoch, train_loss, val_loss, val_accuracy, val_mae FROM run_epochs "
                           "WHERE run_id = ? ORDER BY epoch", (run_id,))
        return [dict(r) for r in rows]

    # ---- export

    def metrics_csv(self, run_id: int) -> str:
        """The per-step metrics as CSV: step, epoch, loss, lr."""
        return _csv(STEP_COLUMNS, ([r[c] for c in STEP_COLUMNS] for r in self.steps(run_id)))

    def epochs_csv(self, run_id: int) -> str:
        """The per-epoch metrics as CSV: epoch, train_loss, val_loss, val_accuracy, val_mae."""
        return _csv(EPOCH_COLUMNS, ([r[c] for c in EPOCH_COLUMNS] for r in self.epochs(run_id)))

    def bundle(self, run_id: int, code_files: dict[str, str] | None = None) -> bytes:
        """A zip of the run: design.json, config.json, result.json, metrics.csv, epochs.csv,
        the checkpoints that exist, and any code files passed in ({name: text}). Each member is
        written once: the code export's design.json (the same design, in its canonical form) takes
        the place of the stored one, and a code file never replaces a run file."""
        run = self.get(run_id)
        code = {m: text for m, text in ((_safe_member(n), t) for n, t in (code_files or {}).items()) if m}
        members: dict[str, str | Path] = {"design.json": code.pop("design.json", None)
                                          or json.dumps(run["design"], indent=2),
                                          "config.json": json.dumps(run["config"], indent=2)}
        if run["result"] is not None:
            members["result.json"] = json.dumps(run["result"], indent=2)
        members["metrics.csv"] = self.metrics_csv(run_id)
        members["epochs.csv"] = self.epochs_csv(run_id)
        for path in self._checkpoints(run):
            members[f"checkpoints/{path.name}"] = path
        for member, text in code.items():
            members.setdefault(member, text)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for member, content in members.items():
                if isinstance(content, Path):
                    zf.write(content, member)
                else:
                    zf.writestr(member, content)
        return buf.getvalue()

    def _checkpoints(self, run: dict[str, Any]) -> list[Path]:
        found: dict[str, Path] = {}
        candidates = [run.get("best_path"), run.get("last_path")]
        if run.get("checkpoint_dir"):
            candidates += [str(Path(run["checkpoint_dir"]) / f"{w}.safetensors") for w in ("best", "last")]
        for c in candidates:
            if c and Path(c).is_file():
                found.setdefault(Path(c).name, Path(c))
        return list(found.values())


class RunRecorder(Callback):
    """Writes a run's metrics into a RunStore from the trainer's callbacks, in batches.

    Steps are flushed every `flush_every` steps or `flush_seconds`, and at each epoch and
    the end; the run's status is set to "running" on start and its result on end.
    """

    def __init__(self, store: RunStore, run_id: int, flush_every: int = 50, flush_seconds: float = 5.0) -> None:
        self.store = store
        self.run_id = run_id
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._pending: list[tuple[int, int, float, float]] = []
        self._last_flush = time.monotonic()

    def flush(self) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            self.store.log_steps(self.run_id, rows)
        self._last_flush = time.monotonic()

    def on_start(self, info: dict[str, Any]) -> None:
        notes = "; ".join(info.get("notes") or [])
        self.store.set_status(self.run_id, "running", notes or "", device=info.get("device"))

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self._pending.append((step, epoch, loss, lr))
        if len(self._pending) >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def on_epoch(self, epoch: int, train_loss: float, val_loss: float | None,
                 val_accuracy: float | None, val_mae: float | None) -> None:
        self.flush()
        self.store.log_epochs(self.run_id, [(epoch, train_loss, val_loss, val_accuracy, val_mae)])

    def on_stats(self, event: dict[str, Any]) -> None:
        self.store.log_stats(self.run_id, event)

    def on_end(self, result: RunResult) -> None:
        self.flush()
        self.store.finish(self.run_id, result.to_dict())
