"""The local SQLite database: where it lives, its schema, and the saved designs.

One file holds everything (designs, autosaves, runs and their metrics); its path comes from
the NETWRIGHT_DB environment variable, by default ~/.netwright/netwright.db. `open_db`
creates the folder and the schema and turns on WAL, so a training thread can write while
the page reads. Each store object keeps one connection behind a lock and may be shared
between threads. Designs are kept as JSON text and never evaluated. Times are Unix seconds.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


class SqliteStore:
    """One connection behind a lock; `_tx()` runs a block as one transaction."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = db_path(path)
        self._conn = open_db(self.path)
        self._lock = threading.RLock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

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
    """Named designs and per-session autosaves."""

    def autosave(self, session_id: str, design: dict) -> None:
        """Keep the latest state of a session's design (one row per session)."""
        text = _dumps(design)
        with self._tx() as db:
            db.execute("INSERT INTO autosaves (session_id, design, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (session_id) DO UPDATE SET design = excluded.design, "
                       "updated_at = excluded.updated_at", (session_id, text, time.time()))

    def load_autosave(self, session_id: str) -> dict | None:
        rows = self._query("SELECT design FROM autosaves WHERE session_id = ?", (session_id,))
        return json.loads(rows[0]["design"]) if rows else None

    def latest_autosave(self) -> tuple[str, dict] | None:
        """The most recently autosaved (session_id, design), for reopening after a restart."""
        rows = self._query("SELECT session_id, design FROM autosaves ORDER BY updated_at DESC, rowid DESC LIMIT 1")
        return (rows[0]["session_id"], json.loads(rows[0]["design"])) if rows else None

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

    def load(self, key: int | str) -> dict:
        """A saved design by id or by name; KeyError if there is none."""
        row = self._find(key)
        if row is None:
            raise KeyError(f"no saved design {key!r}")
        return json.loads(row["design"])

    def delete(self, key: int | str) -> bool:
        """Delete a saved design by id or name; False if there was none."""
        row = self._find(key)
        if row is None:
            return False
        with self._tx() as db:
            db.execute("DELETE FROM designs WHERE id = ?", (row["id"],))
        return True
