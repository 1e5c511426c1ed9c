"""The local SQLite database: where it lives, its schema, and the saved designs.

One file holds everything (designs, autosaves, runs and their metrics); its path comes from
the NETWRIGHT_DB environment variable, by default ~/.netwright/netwright.db. `open_db`
creates the folder and the schema and turns on WAL, so a training thread can write while
the page reads. Each store object keeps one connection behind a lock and may be shared
between threads. Designs are kept as JSON text and never evaluated. Times are Unix seconds.

When the file cannot serve, the store keeps working and says so (`problem`, `notice`, `saving`):
- a damaged file (not a database, or failing its check) is moved aside, never deleted, to
  `<name>.damaged-<time>` with its -wal/-shm, and a fresh file is started (`notice`);
- a file or folder that cannot be written (a read-only mount, no permission), or a damaged file that
  cannot be moved: the store carries on in memory, with what could still be read, and `saving` is
  False (`problem` says why, in one line);
- the file removed (or replaced) while the process runs: the next write notices and writes it
  again from the open connection (`notice`), or, if that fails, carries on in memory;
- an autosave or saved design whose text is not a valid design is skipped, kept in its row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_DB = Path("~/.netwright/netwright.db")

SCHEMA = """
CREATE TABLE IF NOT EXISTS designs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    design TEXT NOT NULL,
    n_layers INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS autosaves (
    session_id TEXT PRIMARY KEY,
    design TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS autosaves_updated ON autosaves (updated_at);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    dataset TEXT NOT NULL,
    device TEXT,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    design TEXT NOT NULL,
    config TEXT NOT NULL,
    result TEXT,
    owner TEXT,
    checkpoint_dir TEXT,
    created_at REAL NOT NULL,
    finished_at REAL,
    duration_s REAL,
    val_loss REAL,
    val_accuracy REAL,
    val_mae REAL,
    steps INTEGER,
    samples_per_s REAL,
    best_path TEXT,
    last_path TEXT
);
CREATE TABLE IF NOT EXISTS run_steps (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL,
    lr REAL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS damaged_rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    content TEXT,
    reason TEXT NOT NULL,
    found_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS run_stats (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    path TEXT NOT NULL,
    act_mean REAL,
    act_std REAL,
    grad_norm REAL,
    update_ratio REAL,
    dead_fraction REAL,
    weight_norm REAL,
    PRIMARY KEY (run_id, step, path)
);
CREATE TABLE IF NOT EXISTS run_epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL,
    val_loss REAL,
    val_accuracy REAL,
    val_mae REAL,
    PRIMARY KEY (run_id, epoch)
);
"""


def db_path(path: str | os.PathLike | None = None) -> Path:
    """The database file: `path`, else $NETWRIGHT_DB, else ~/.netwright/netwright.db."""
    chosen = path if path is not None else os.environ.get("NETWRIGHT_DB") or DEFAULT_DB
    return Path(chosen).expanduser()


def open_db(path: str | os.PathLike | None = None) -> sqlite3.Connection:
    """Open (creating folder and schema) the database; WAL mode, usable from any thread.

    The connection is in autocommit mode; callers group writes with `transaction`.
    Share it between threads only behind a lock (the stores do this).
    """
    file = db_path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(file), timeout=30.0, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


class StoreUnavailable(RuntimeError):
    """A write the store could not make even in memory (rare: the disk filled in the middle of a write)."""


class DamagedRow(ValueError):
    """A stored design whose text is not a readable, valid design (kept where it is; the message says why)."""


def retrying(method):
    """A write that failed on the file is made once more: the store has moved to memory by then."""
    from functools import wraps

    @wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except StoreUnavailable:
            if self.saving:
                raise
            return method(self, *args, **kwargs)

    return wrapper


def design_problem(text: Any) -> str | None:
    """Why stored text is not a design the editor can open (None when it is one)."""
    from designer.design import parse_design, validate
    from designer.errors import DesignFileError

    if not isinstance(text, str):
        return f"the row holds {type(text).__name__}, not text"
    try:
        doc = parse_design(text)
    except DesignFileError as exc:
        return str(exc)
    issues = validate(doc)
    return f"{issues[0]}" + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else "") if issues else None


def _is_damage(exc: BaseException) -> bool:
    """Whether an SQLite error means the file's content is damaged (not a lock, a permission or a full disk)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError) or any(
        w in text for w in ("not a database", "malformed", "corrupt", "file is encrypted"))


_STORAGE_FAILURES = ("readonly", "read-only", "disk i/o", "disk is full", "unable to open", "no such file")


def _is_storage_failure(exc: BaseException) -> bool:
    """Whether a write failed because the file cannot take it (read-only, removed, a full disk), not for a
    reason of its own (a constraint, a lock held too long): only the first moves the store to memory."""
    return isinstance(exc, OSError) or (isinstance(exc, sqlite3.OperationalError)
                                        and any(w in str(exc).lower() for w in _STORAGE_FAILURES))


def _check_writable(conn: sqlite3.Connection) -> None:
    """A real write (rolled back): SQLite opens a read-only file without complaint and fails only on writing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS store_probe (x INTEGER)")
        conn.execute("INSERT INTO store_probe VALUES (1)")
    finally:
        conn.execute("ROLLBACK")


def _open_checked(file: Path) -> sqlite3.Connection:
    """open_db, then a quick integrity check and a write probe (raising what they find)."""
    conn = open_db(file)
    try:
        row = conn.execute("PRAGMA quick_check(1)").fetchone()
        if row is None or row[0] != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed ({row[0] if row else 'no answer'})")
        _check_writable(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _memory_copy(file: Path | None) -> sqlite3.Connection:
    """An in-memory database with the schema, holding what can still be read from `file` (if anything)."""
    memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    memory.row_factory = sqlite3.Row
    if file is not None and file.is_file():
        # Read-only first; `immutable` too where SQLite cannot make the -shm file a WAL database needs to be read.
        for query in ("mode=ro", "mode=ro&immutable=1"):
            try:
                source = sqlite3.connect(f"{file.resolve().as_uri()}?{query}", uri=True, timeout=5.0)
                try:
                    source.backup(memory)
                finally:
                    source.close()
                break
            except (sqlite3.Error, OSError, ValueError):
                continue  # unreadable that way: try the next, else start empty
    memory.execute("PRAGMA foreign_keys=ON")
    try:
        memory.executescript(SCHEMA)
    except sqlite3.Error:  # what was copied is not our schema after all: start empty
        memory.close()
        return _memory_copy(None)
    return memory


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def move_aside(file: Path) -> Path:
    """Rename a damaged database (and its -wal and -shm) to `<name>.damaged-<time>`; returns the new path.
    Nothing is deleted: the file stays for inspection or recovery."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = file.with_name(f"{file.name}.damaged-{stamp}")
    k = 2
    while target.exists():
        target, k = file.with_name(f"{file.name}.damaged-{stamp}-{k}"), k + 1
    os.replace(file, target)
    for suffix in ("-wal", "-shm"):
        side = file.with_name(file.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


class SqliteStore:
    """One connection behind a lock; `_tx()` runs a block as one transaction.

    `saving` is False while the store works in memory only; `problem` then says why (one line).
    `notice` reports a repair that kept everything working (a damaged file moved aside, a removed
    file written again)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = db_path(path)
        self._lock = threading.RLock()
        self.saving = True
        self.problem: str | None = None
        self.notice: str | None = None
        self._conn = self._connect()

    # ---- opening, and what happens when the file cannot serve

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = _open_checked(self.path)
        except (sqlite3.Error, OSError) as exc:
            if not _is_damage(exc):
                return self._in_memory(f"cannot write the database {self.path} ({_reason(exc)})")
            try:
                aside = move_aside(self.path)
            except OSError as move_exc:
                return self._in_memory(f"the database {self.path} is damaged ({_reason(exc)}) and cannot be moved "
                                       f"aside ({_reason(move_exc)})")
            self.notice = (f"The database {self.path} was damaged ({_reason(exc)}); it was moved to {aside.name} "
                           f"(kept, not deleted) and a fresh one was started.")
            try:
                conn = _open_checked(self.path)
            except (sqlite3.Error, OSError) as again:
                return self._in_memory(f"cannot start a fresh database at {self.path} ({_reason(again)})")
        self._identity = self._file_identity()
        return conn

    def _in_memory(self, why: str, source: Path | None = None) -> sqlite3.Connection:
        self.saving = False
        self.problem = f"Work is not being saved: {why}."
        return _memory_copy(source if source is not None else self.path)

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _check_file(self) -> None:
        """Before a write: the file must still be the one opened. Removed or replaced while the process runs,
        writes would go to a file no one will open again; it is written again from the open connection."""
        if not self.saving or self._file_identity() == self._identity:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():  # replaced by something else: keep that aside too
                move_aside(self.path)
            fresh = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
            self._conn.backup(fresh)
            fresh.close()
            old, self._conn = self._conn, _open_checked(self.path)
            old.close()
        except (sqlite3.Error, OSError) as exc:
            memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            memory.row_factory = sqlite3.Row
            self._conn.backup(memory)
            self._conn.close()
            self._conn = memory
            self.saving = False
            self.problem = (f"Work is not being saved: the database {self.path} was removed while the app ran and "
                            f"cannot be written again ({_reason(exc)}).")
            return
        self._identity = self._file_identity()
        self.notice = f"The database {self.path} was removed while the app ran; it was written again from the open copy."

    def _degrade(self, exc: BaseException) -> None:
        """A write failed on the file: carry on in memory with everything the connection holds."""
        memory = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        memory.row_factory = sqlite3.Row
        try:
            self._conn.backup(memory)
        except sqlite3.Error:
            memory.close()
            memory = _memory_copy(None)
        try:
            self._conn.close()
        except sqlite3.Error:
            pass
        self._conn = memory
        self.saving = False
        self.problem = f"Work is not being saved: writing the database {self.path} failed ({_reason(exc)})."

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_file()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                if not _is_storage_failure(exc):
                    raise
                self._degrade(exc)
                self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except (sqlite3.OperationalError, OSError) as exc:
                self._rollback()
                if not _is_storage_failure(exc):
                    raise
                if self.saving:  # the file refused the write (read-only, full): memory from now on
                    self._degrade(exc)
                raise StoreUnavailable(f"not saved: {_reason(exc)}") from exc
            except BaseException:
                self._rollback()
                raise
            try:
                self._conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                self._rollback()
                if not _is_storage_failure(exc):
                    raise
                self._degrade(exc)
                raise StoreUnavailable(f"not saved: {_reason(exc)}") from exc

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def count_layers(nodes: Any) -> int:
    """Layers in a design's node list, counting those inside blocks (blocks themselves are not counted)."""
    if not isinstance(nodes, list):
        return 0
    total = 0
    for node in nodes:
        if not isinstance(node, dict):
            continue
        children = [node.get(k) for k in ("layers", "body", "shortcut") if isinstance(node.get(k), list)]
        branches = node.get("branches")
        if isinstance(branches, list):
            children.extend(b for b in branches if isinstance(b, list))
        if children:
            total += sum(count_layers(c) for c in children)
        else:
            total += 1
    return total


def _dumps(design: dict) -> str:
    if not isinstance(design, dict):
        raise TypeError(f"a design must be a dict; received {type(design).__name__}")
    text = json.dumps(design, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in a file): SQLite cannot keep it unescaped
        text = json.dumps(design)
    return text


def storable_text(text: str) -> str:
    """Text SQLite can keep: a lone surrogate (a name read from "\\ud800") becomes its escape."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


class DesignStore(SqliteStore):
    """Named designs and per-session autosaves. `damaged` lists the damaged rows met (each kept)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        super().__init__(path)
        self.damaged: list[str] = []

    @retrying
    def autosave(self, session_id: str, design: dict) -> None:
        """Keep the latest state of a session's design (one row per session)."""
        text = _dumps(design)
        with self._tx() as db:
            db.execute("INSERT INTO autosaves (session_id, design, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (session_id) DO UPDATE SET design = excluded.design, "
                       "updated_at = excluded.updated_at", (session_id, text, time.time()))

    def _usable_autosave(self, row: sqlite3.Row) -> dict | None:
        """The row's design, or None after moving a damaged row to `damaged_rows` (kept there, with the reason),
        so that the session's next autosave does not write over it."""
        problem = design_problem(row["design"])
        if problem is None:
            return json.loads(row["design"])
        self.damaged.append(f"autosave {row['session_id']}: {problem}")
        try:
            self._keep_damaged("autosaves", row["session_id"], row["design"], problem)
        except StoreUnavailable:
            pass  # it stays where it is; skipped again next time
        return None

    @retrying
    def _keep_damaged(self, source: str, key: str, content: Any, reason: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO damaged_rows (source, key, content, reason, found_at) VALUES (?, ?, ?, ?, ?)",
                       (source, key, content if isinstance(content, str) else repr(content), reason, time.time()))
            db.execute("DELETE FROM autosaves WHERE session_id = ?", (key,))

    def load_autosave(self, session_id: str) -> dict | None:
        """This session's autosaved design; None when there is none, or its row is damaged (then moved aside)."""
        rows = self._query("SELECT session_id, design FROM autosaves WHERE session_id = ?", (session_id,))
        return self._usable_autosave(rows[0]) if rows else None

    def latest_autosave(self) -> tuple[str, dict] | None:
        """The most recently autosaved (session_id, design), for reopening after a restart; damaged rows are
        skipped (and moved to `damaged_rows`)."""
        rows = self._query("SELECT session_id, design FROM autosaves ORDER BY updated_at DESC, rowid DESC LIMIT 20")
        for row in rows:
            design = self._usable_autosave(row)
            if design is not None:
                return row["session_id"], design
        return None

    @retrying
    def save(self, name: str, design: dict) -> int:
        """Save under a name (the same name overwrites, keeping its id); returns the id."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a design needs a non-empty name; received {name!r}")
        name = storable_text(name.strip())
        text, now = _dumps(design), time.time()
        with self._tx() as db:
            db.execute("INSERT INTO designs (name, design, n_layers, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET design = excluded.design, "
                       "n_layers = excluded.n_layers, updated_at = excluded.updated_at",
                       (name, text, count_layers(design.get("layers")), now, now))
            return db.execute("SELECT id FROM designs WHERE name = ?", (name,)).fetchone()["id"]

    def list(self) -> list[dict[str, Any]]:
        """Saved designs, most recently updated first: {id, name, updated_at, n_layers}."""
        rows = self._query("SELECT id, name, updated_at, n_layers FROM designs ORDER BY updated_at DESC, id DESC")
        return [dict(r) for r in rows]

    def _find(self, key: int | str) -> sqlite3.Row | None:
        if isinstance(key, int) and not isinstance(key, bool):
            rows = self._query("SELECT * FROM designs WHERE id = ?", (key,))
        else:
            rows = self._query("SELECT * FROM designs WHERE name = ?", (str(key),))
            if not rows and str(key).isdigit():
                rows = self._query("SELECT * FROM designs WHERE id = ?", (int(key),))
        return rows[0] if rows else None

    def exists(self, name: str) -> bool:
        """Whether a design is saved under this name (as `save` would store it)."""
        if not isinstance(name, str) or not name.strip():
            return False
        return bool(self._query("SELECT 1 FROM designs WHERE name = ?", (storable_text(name.strip()),)))

    def load(self, key: int | str) -> dict:
        """A saved design by id or by name; KeyError if there is none, DamagedRow (the row kept) if its text
        is not a valid design."""
        row = self._find(key)
        if row is None:
            raise KeyError(f"no saved design {key!r}")
        problem = design_problem(row["design"])
        if problem is not None:
            raise DamagedRow(f"the saved design {row['name']!r} is damaged ({problem}); it is kept as it is")
        return json.loads(row["design"])

    @retrying
    def delete(self, key: int | str) -> bool:
        """Delete a saved design by id or name; False if there was none."""
        row = self._find(key)
        if row is None:
            return False
        with self._tx() as db:
            db.execute("DELETE FROM designs WHERE id = ?", (row["id"],))
        return True
