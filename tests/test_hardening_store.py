"""The store when something goes wrong, Save as, and user text as text (issues 15, 16): through the store API
and through the page (AppTest on app.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from components import state as S
from components.charts import confusion_figure, overlay_figure
from components.text import md_text
from designer.runs import RunStore
from designer.store import DesignStore
from designer.templates import load_template

APP = str(Path(__file__).resolve().parents[1] / "app.py")
HOSTILE = "![p](http://127.0.0.1:8899/x.png)"


@pytest.fixture(autouse=True)
def _fresh_resources():
    st.cache_resource.clear()  # each test (and each "restart" below) opens its stores afresh
    yield
    st.cache_resource.clear()


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "store" / "nw.db"
    monkeypatch.setenv("NETWRIGHT_DB", str(path))
    return path


@pytest.fixture
def read_only(tmp_path):
    """make(folder): the folder and its files can no longer be written, by this process either (root included)."""
    made: list[Path] = []

    def make(folder: Path) -> None:
        paths = [folder, *folder.iterdir()]
        if os.geteuid() != 0:
            for p in paths:
                p.chmod(0o555 if p.is_dir() else 0o444)
        else:
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", *map(str, paths)]).returncode:
                pytest.skip("no way to make a read-only folder here")
        made.extend(paths)
        probe = folder / "probe"
        try:
            probe.write_text("x")
        except OSError:
            return
        probe.unlink()
        pytest.skip("the folder is still writable")

    yield make
    if made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, made)])
        else:
            for p in made:
                p.chmod(0o755 if p.is_dir() else 0o644)


def _app() -> AppTest:
    """The app with the sidebar's templates and saved designs open (lazy expanders: their contents are
    drawn only while open, so a user opens them first)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("bidi_component"), "the main area is there: the editor"
    assert not any(b.key == "save_named" for b in at.button)  # closed: not drawn
    at.session_state["nw_open_templates"] = at.session_state["nw_open_saved"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def _button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def _downloads(at: AppTest) -> list:
    return [e for e in at.get("download_button")]


def _saved_and_closed(path: Path) -> None:
    """A store written by an earlier process: one design saved, the connection closed (no -wal, -shm left)."""
    store = DesignStore(path)
    store.save("earlier", load_template("lenet5"))
    store.close()


def _junk(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    junk = b"this is not an SQLite file " * 300
    path.write_bytes(junk)
    path.with_name(path.name + "-wal").write_bytes(b"stale wal")
    return junk


# --- the store API -------------------------------------------------------------------------------------


def test_a_damaged_file_is_moved_aside_never_deleted_and_a_fresh_store_starts(tmp_path):
    path = tmp_path / "nw.db"
    junk = _junk(path)
    store = DesignStore(path)
    assert store.saving and store.problem is None and "damaged" in store.notice
    aside = [p for p in tmp_path.iterdir() if ".damaged-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].read_bytes() == junk
    assert aside[0].with_name(aside[0].name + "-wal").read_bytes() == b"stale wal"
    store.save("kept", load_template("lenet5"))
    assert DesignStore(path).load("kept")["name"] == "LeNet-5"
    assert RunStore(path).saving


def test_damaged_autosave_rows_are_skipped_and_kept(tmp_path):
    path = tmp_path / "nw.db"
    store = DesignStore(path)
    store.autosave("good", load_template("lenet5"))
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO autosaves VALUES ('bad-json', '{\"format\": ', 1e12)")
        raw.execute("INSERT INTO autosaves VALUES ('bad-design', '{\"format\": \"netwright.design\", \"version\": 1, "
                    "\"input\": 7, \"layers\": \"x\"}', 1e12 + 1)")
        raw.execute("INSERT INTO designs (name, design, created_at, updated_at) VALUES ('broken', '[1,', 0, 0)")
    fresh = DesignStore(path)
    session, design = fresh.latest_autosave()
    assert session == "good" and design["name"] == "LeNet-5"
    assert fresh.load_autosave("bad-json") is None
    kept = {r[0]: r[1] for r in sqlite3.connect(path).execute("SELECT key, content FROM damaged_rows")}
    assert kept == {"bad-json": '{"format": ', "bad-design": kept["bad-design"]} and '"layers": "x"' in kept["bad-design"]
    assert any("bad-json" in d for d in fresh.damaged)
    with pytest.raises(ValueError, match="damaged"):
        fresh.load("broken")
    assert [r["name"] for r in fresh.list()] == ["broken"]  # kept, listed, deletable


def test_a_store_that_cannot_be_written_works_in_memory_and_says_so(tmp_path, read_only):
    path = tmp_path / "ro" / "nw.db"
    _saved_and_closed(path)
    before = path.read_bytes()
    read_only(path.parent)
    store = DesignStore(path)
    assert not store.saving and store.problem.startswith("Work is not being saved")
    assert [r["name"] for r in store.list()] == ["earlier"]  # what was saved can still be opened
    store.save("new", load_template("resnet_small"))
    store.autosave("s", load_template("resnet_small"))
    assert store.load("new")["name"] == "Small ResNet" and store.load_autosave("s") is not None
    runs = RunStore(path)
    assert not runs.saving and runs.create(load_template("lenet5"), {}, "shapes", "cpu") == 1
    assert path.read_bytes() == before


def test_a_file_removed_while_running_is_written_again(tmp_path):
    path = tmp_path / "nw.db"
    store = DesignStore(path)
    store.save("one", load_template("lenet5"))
    for p in tmp_path.iterdir():
        p.unlink()
    store.save("two", load_template("resnet_small"))
    assert store.saving and "removed" in store.notice
    assert {r["name"] for r in DesignStore(path).list()} == {"one", "two"}  # after a restart, nothing is lost


# --- the page -----------------------------------------------------------------------------------------


def test_the_page_opens_on_a_damaged_database_and_says_so(db):
    junk = _junk(db)
    at = _app()
    assert "was damaged" in _texts(at.sidebar.warning)
    assert [d for d in _downloads(at) if d.key == "store_status_download_side"]  # the open design, as a file
    assert any(p.read_bytes() == junk for p in db.parent.iterdir() if ".damaged-" in p.name)
    _button(at, "tpl_resnet_small").click().run()
    assert not at.exception
    st.cache_resource.clear()  # a restart: the fresh store kept the work
    again = _app()
    assert again.session_state[S.DESIGN]["name"] == "Small ResNet"


def test_the_page_opens_on_a_read_only_store_says_work_is_not_saved_and_offers_the_design(db, read_only):
    _saved_and_closed(db)
    read_only(db.parent)
    at = _app()
    assert "Work is not being saved" in _texts(at.sidebar.error)
    assert "attempt to write" not in _texts(at.error)  # no raw SQLite error on every rerun
    download = [d for d in _downloads(at) if d.key == "store_status_download_side"]
    assert download, [d.key for d in _downloads(at)]
    _button(at, "tpl_resnet_small").click().run()
    assert not at.exception
    at.text_input(key=f"save_as_name:{at.session_state[S.REVISION]}").set_value("mine")
    _button(at, "save_named").click().run()
    assert not at.exception
    assert "in memory only" in _texts(at.warning) and "Saved as" not in _texts(at.success)


def test_the_page_opens_past_damaged_autosave_rows(db):
    DesignStore(db).autosave("old", load_template("resnet_small"))
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO autosaves VALUES ('newest', 'not json at all', 1e12)")
    at = _app()
    assert at.session_state[S.DESIGN]["name"] == "Small ResNet"  # the newest usable autosave
    assert "damaged autosave" in _texts(at.sidebar.warning)


def test_the_page_keeps_saving_when_its_database_is_removed_while_it_runs(db):
    at = _app()
    for p in db.parent.iterdir():
        p.unlink()
    _button(at, "tpl_resnet_small").click().run()
    assert not at.exception and db.is_file()
    at.run()
    assert "was removed while the app ran" in _texts(at.sidebar.warning)
    st.cache_resource.clear()
    assert _app().session_state[S.DESIGN]["name"] == "Small ResNet"


def test_save_as_follows_the_open_design_and_asks_before_replacing(db):
    at = _app()
    rev = at.session_state[S.REVISION]
    assert at.text_input(key=f"save_as_name:{rev}").value == "LeNet-5"
    _button(at, "save_named").click().run()
    assert "LeNet" in _texts(at.success)
    _button(at, "tpl_resnet_small").click().run()
    rev = at.session_state[S.REVISION]
    assert at.text_input(key=f"save_as_name:{rev}").value == "Small ResNet"  # in step with the open design
    at.text_input(key=f"save_as_name:{rev}").set_value("LeNet-5")
    _button(at, "save_named").click().run()
    assert "already saved" in _texts(at.sidebar.warning)
    assert DesignStore(db).load("LeNet-5")["name"] == "LeNet-5"  # nothing replaced yet
    _button(at, "save_keep").click().run()
    assert not [b for b in at.button if b.key == "save_replace"]
    assert DesignStore(db).load("LeNet-5")["name"] == "LeNet-5"
    at.text_input(key=f"save_as_name:{rev}").set_value("LeNet-5")
    _button(at, "save_named").click().run()
    _button(at, "save_replace").click().run()
    assert DesignStore(db).load("LeNet-5")["name"] == "Small ResNet"  # replaced, as asked


def test_user_text_is_text_in_the_sidebar_and_messages(db):
    at = _app()
    at.text_input(key=f"save_as_name:{at.session_state[S.REVISION]}").set_value(HOSTILE)
    _button(at, "save_named").click().run()
    message = _texts(at.success)
    assert md_text(HOSTILE) in message and HOSTILE not in message
    label = next(b.label for b in at.button if b.key.startswith("open_"))
    assert label.startswith(md_text(HOSTILE)) and "![" not in label
    assert md_text(HOSTILE) == r"\!\[p\]\(http\:\/\/127\.0\.0\.1\:8899\/x\.png\)"


def test_plotly_labels_from_user_text_are_text():
    name = '<a href="http://127.0.0.1:8899/">run</a> <b>bold</b>'
    fig = overlay_figure([(name, [{"step": 1, "loss": 1.0}])])
    assert fig.data[0].name == '&lt;a href="http://127.0.0.1:8899/"&gt;run&lt;/a&gt; &lt;b&gt;bold&lt;/b&gt;'
    heat = confusion_figure([[1, 0], [0, 1]], ["<b>cat</b>", "dog"])
    assert list(heat.data[0].x) == ["&lt;b&gt;cat&lt;/b&gt;", "dog"]


class _Refusing:
    """A connection whose writes fail as SQLite's do on a file that became read-only (or stays locked)."""

    def __init__(self, conn, error: str):
        self._conn, self._error = conn, error

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError(self._error)
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_a_write_refused_while_running_moves_the_store_to_memory_and_keeps_the_write(tmp_path):
    store = DesignStore(tmp_path / "nw.db")
    store.save("before", load_template("lenet5"))
    store._conn = _Refusing(store._conn, "attempt to write a readonly database")
    store.save("after", load_template("resnet_small"))  # made again, in memory
    assert not store.saving and "attempt to write a readonly database" in store.problem
    assert {r["name"] for r in store.list()} == {"before", "after"}
    locked = DesignStore(tmp_path / "other.db")
    locked._conn = _Refusing(locked._conn, "database is locked")
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # not a storage failure: said, not hidden
        locked.save("x", load_template("lenet5"))
    assert locked.saving


def test_a_saved_design_is_listed_by_its_name_with_its_size_in_the_tooltip(db):
    at = _app()
    at.text_input(key=f"save_as_name:{at.session_state[S.REVISION]}").set_value("Mine")
    _button(at, "save_named").click().run()
    listed = [b for b in at.button if b.key.startswith("open_")]
    assert [b.label for b in listed] == ["Mine"]  # the sidebar is narrow: the name alone
    layers = len(at.session_state[S.DESIGN]["layers"])
    assert listed[0].help == f"Open Mine · {layers} layers"
