"""The page's state functions, without Streamlit."""

from __future__ import annotations

from components import state as S
from components.text import md_text
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
    assert kind == "error" and md_text("out_channels must be at least 1") in message  # escaped: shown as typed


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


def _batch(client, *actions):
    return {"op": "batch", "client": client, "actions": [dict(a, seq=i) for i, a in actions]}


def test_batch_applies_each_action_once_in_order():
    state: dict = {}
    S.init_state(state, load_template("lenet5"))
    n = len(state[S.DESIGN]["layers"])
    first = (1, {"op": "insert", "slot": "layers", "index": 0, "type": "Dropout"})
    second = (2, {"op": "insert", "slot": "layers", "index": 0, "type": "ReLU"})
    # The browser resends what it has not seen confirmed: a repeated action is not applied twice.
    assert S.do_action(state, _batch("tab1", first))
    assert S.do_action(state, _batch("tab1", first, second))
    assert not S.do_action(state, _batch("tab1", first, second))
    layers = state[S.DESIGN]["layers"]
    assert len(layers) == n + 2 and [layers[0]["type"], layers[1]["type"]] == ["ReLU", "Dropout"]
    assert state[S.EDITOR_ACK] == {"client": "tab1", "seq": 2}
    # Out of order in the list, still applied by seq; a select and an undo ride along.
    third = (3, {"op": "select", "path": "layers[1]"})
    fourth = (4, {"op": "undo"})
    S.do_action(state, _batch("tab1", fourth, third))
    assert state[S.SELECTED] == "layers[1]" and len(state[S.DESIGN]["layers"]) == n + 1
    # A new mount of the editor (a refresh) starts its own count.
    S.do_action(state, _batch("tab2", (1, {"op": "redo"})))
    assert len(state[S.DESIGN]["layers"]) == n + 2 and state[S.EDITOR_ACK] == {"client": "tab2", "seq": 1}


def test_batch_refuses_junk_without_changing_the_design():
    state: dict = {}
    S.init_state(state, load_template("lenet5"))
    before = S.design_key(state[S.DESIGN])
    for junk in ({"op": "batch"}, {"op": "batch", "client": 5, "actions": []},
                 {"op": "batch", "client": "x" * 100, "actions": []},
                 {"op": "batch", "client": "c", "actions": "no"},
                 {"op": "batch", "client": "c", "actions": [{"op": "remove", "path": "layers[0]"}]},  # no seq
                 {"op": "batch", "client": "c", "actions": [{"op": "batch", "seq": 1, "client": "c", "actions": []}]}):
        assert not S.do_action(state, junk)
    assert S.design_key(state[S.DESIGN]) == before


def test_opening_a_design_is_counted_and_edits_are_not():
    """The drawing fits and folds a design when it is opened (the count changes), and keeps the user's
    zoom and folded blocks through edits, a rename included."""
    from designer.edits import rename

    state = _state()
    assert state[S.OPENED] == 0
    S.do_action(state, {"op": "insert", "slot": "layers", "index": 1, "type": "ReLU"})
    S.set_design(state, rename(state[S.DESIGN], "Mine"))
    S.undo(state)
    assert state[S.OPENED] == 0
    S.load_into(state, load_template("resnet_small"))
    assert state[S.OPENED] == 1 and state[S.DESIGN]["name"] == "Small ResNet"
    assert S.import_design(state, S.export_design(state)) == []
    assert state[S.OPENED] == 2
