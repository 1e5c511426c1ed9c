"""The page's state functions, without Streamlit."""

from __future__ import annotations

from components import state as S
from designer.templates import load_template


def _state(design=None) -> dict:
    state: dict = {}
    S.init_state(state, design or load_template("lenet5"))
    return state


def test_do_action_edits_records_and_selects():
    state = _state()
    n = len(state[S.DESIGN]["layers"])
    assert S.do_action(state, {"op": "insert", "slot": "layers", "index": 2, "type": "ReLU"})
    assert len(state[S.DESIGN]["layers"]) == n + 1
    assert state[S.SELECTED] == "layers[2]"
    assert state[S.HISTORY].can_undo
    assert state[S.REVISION] == 1


def test_refused_action_flashes_and_keeps_design():
    state = _state()
    before = S.design_key(state[S.DESIGN])
    assert not S.do_action(state, {"op": "set", "path": "layers[0]", "key": "out_channels", "value": -3})
    assert S.design_key(state[S.DESIGN]) == before
    kind, message = state[S.FLASH]
    assert kind == "error" and "out_channels" in message


def test_select_changes_nothing_but_selection():
    state = _state()
    before = S.design_key(state[S.DESIGN])
    assert not S.do_action(state, {"op": "select", "path": "layers[1]"})
    assert state[S.SELECTED] == "layers[1]"
    assert S.design_key(state[S.DESIGN]) == before
    assert not state[S.HISTORY].can_undo


def test_undo_redo_sixty_steps():
    state = _state()
    first = S.design_key(state[S.DESIGN])
    for i in range(60):
        S.do_action(state, {"op": "set", "path": "layers[0]", "key": "out_channels", "value": i + 1})
    for _ in range(60):
        assert S.undo(state)
    assert S.design_key(state[S.DESIGN]) == first
    assert not S.undo(state)
    for _ in range(60):
        assert S.redo(state)
    assert state[S.DESIGN]["layers"][0]["out_channels"] == 60


def test_selection_cleared_when_node_disappears():
    state = _state()
    n = len(state[S.DESIGN]["layers"])
    state[S.SELECTED] = f"layers[{n - 1}]"
    S.do_action(state, {"op": "remove", "path": f"layers[{n - 1}]"})
    assert state[S.SELECTED] is None


def test_analysis_is_cached_by_content():
    design = load_template("resnet_small")
    a = S.analysis_of(design)
    assert S.analysis_of(load_template("resnet_small")) is a
