"""Session state: every key the page uses, and the plain functions that change it.

The functions take any mutable mapping (Streamlit's session_state, or a dict in tests), so each
user action is testable without Streamlit.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any

from components.text import md_text
from designer.analysis import Analysis, analyze
from designer.design import dump_design, new_design, parse_design, validate
from designer.edits import EditError, apply_action
from designer.errors import DesignFileError
from designer.history import History

# The keys, in one place.
DESIGN = "design"
HISTORY = "history"
SELECTED = "selected"
SESSION_ID = "session_id"
FLASH = "flash"
REVISION = "revision"  # bumped on every design change; widget keys include it so forms show the new values
JOB_ID = "job_id"
LAST_ACTION = "last_action_id"
EDITOR_ACK = "editor_ack"  # {"client", "seq"}: the last editor action applied, per browser mount
OPENED = "opened"  # counts the designs opened (templates, saved ones, imports): the drawing fits a new one
MAX_BATCH = 500

HISTORY_LIMIT = 100

State = MutableMapping[str, Any]


def init_state(state: State, design: dict | None = None, session_id: str | None = None) -> None:
    """Fill in the keys a fresh session needs (keeps what is already there)."""
    defaults = {
        DESIGN: lambda: design if design is not None else blank_design(),
        HISTORY: lambda: History(limit=HISTORY_LIMIT),
        SELECTED: lambda: None,
        SESSION_ID: lambda: session_id or uuid.uuid4().hex[:12],
        FLASH: lambda: None,
        REVISION: lambda: 0,
        OPENED: lambda: 0,
    }
    for key, make in defaults.items():  # `in` and item assignment only: AppTest's state has no setdefault
        if key not in state:
            state[key] = make()


def blank_design() -> dict:
    """The design a blank start gives: an image input and no layers."""
    return new_design("Untitled", [3, 32, 32], task={"kind": "classification", "num_classes": 10})


def design_key(design: dict) -> str:
    """The design's content as a canonical string: the cache key of everything derived from it."""
    return json.dumps(design, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=64)
def _analysis_for(key: str) -> Analysis:
    return analyze(json.loads(key))


def analysis_of(design: dict) -> Analysis:
    """The design's analysis, computed once per distinct content."""
    return _analysis_for(design_key(design))


def set_design(state: State, design: dict, record: bool = True) -> None:
    """Replace the working design (recording the old one for undo) and keep the selection sensible."""
    old = state[DESIGN]
    if design_key(old) == design_key(design):
        return
    if record:
        state[HISTORY].record(old)
    state[DESIGN] = design
    state[REVISION] = state.get(REVISION, 0) + 1
    selected = state.get(SELECTED)
    if selected and analysis_of(design).row(selected) is None:
        state[SELECTED] = None


def is_current_widget(state: State, widget_key: str) -> bool:
    """Whether a revision-keyed widget ("prefix:<revision>:...") belongs to the current revision.

    Streamlit can hand a callback the last value of a widget from an earlier revision (the
    timed rerun of the Train tab's fragment carries the browser's widget states): applied, it
    would write an old design's name, input shape or parameter into the new design. Callbacks
    of such stale widgets do nothing.
    """
    parts = widget_key.split(":")
    return len(parts) > 1 and parts[1] == str(state.get(REVISION, 0))


def flash(state: State, kind: str, message: str) -> None:
    """A message shown once at the top of the next run ("error", "warning", "success", "info")."""
    state[FLASH] = (kind, message)


def do_action(state: State, action: dict[str, Any]) -> bool:
    """Apply one editor action to the working design. Returns whether the design changed.

    A refused action leaves the design as it was and flashes the reason.
    """
    op = action.get("op")
    if op == "batch":
        return do_batch(state, action)
    if op == "select":
        path = action.get("path")
        state[SELECTED] = path if isinstance(path, str) else None  # a selection is a path, never other data
        return False
    if op == "undo":
        return undo(state)
    if op == "redo":
        return redo(state)
    try:
        design = apply_action(state[DESIGN], action)
    except EditError as exc:
        flash(state, "error", md_text(exc))
        return False
    set_design(state, design)
    if action.get("op") == "insert":
        state[SELECTED] = f"{action['slot']}[{int(action['index'])}]"
    elif action.get("op") == "move":
        state[SELECTED] = None
    return True


def do_batch(state: State, batch: dict[str, Any]) -> bool:
    """Apply the editor's unconfirmed actions that this session has not applied yet.

    The browser resends every action until a payload confirms it (``ack``), so a batch may
    repeat actions already applied: those (seq <= the last applied for this client) are
    skipped, and each action takes effect exactly once, in order. Returns whether the design
    changed.
    """
    client = batch.get("client")
    actions = batch.get("actions")
    if not isinstance(client, str) or not 0 < len(client) <= 64 or not isinstance(actions, list):
        return False
    ack = state.get(EDITOR_ACK) or {}
    last = ack.get("seq", 0) if ack.get("client") == client else 0
    changed = False
    steps = [a for a in actions[:MAX_BATCH] if isinstance(a, dict) and isinstance(a.get("seq"), int)]
    for action in sorted(steps, key=lambda a: a["seq"]):
        if action["seq"] <= last or action.get("op") == "batch":
            continue
        last = action["seq"]
        changed = do_action(state, {k: v for k, v in action.items() if k != "seq"}) or changed
    state[EDITOR_ACK] = {"client": client, "seq": last}
    return changed


def undo(state: State) -> bool:
    previous = state[HISTORY].undo(state[DESIGN])
    if previous is None:
        return False
    set_design(state, previous, record=False)
    return True


def redo(state: State) -> bool:
    following = state[HISTORY].redo(state[DESIGN])
    if following is None:
        return False
    set_design(state, following, record=False)
    return True


def load_into(state: State, design: dict) -> None:
    """Open another design (a template, a saved one): undoable like any edit."""
    set_design(state, copy.deepcopy(design))
    state[SELECTED] = None
    state[OPENED] = state.get(OPENED, 0) + 1


def import_design(state: State, data: bytes | str) -> list[str]:
    """Import a design file. On any problem the working design is left untouched and the
    problems are returned, each with its path."""
    try:
        design = parse_design(data)
    except DesignFileError as exc:
        return [str(exc)]
    problems = [str(issue) for issue in validate(design)]
    if problems:
        return problems
    load_into(state, design)
    return []


def export_design(state: State) -> str:
    """The working design as file text."""
    return dump_design(state[DESIGN])
