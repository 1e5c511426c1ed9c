"""Edits are pure functions (new design out, input untouched), and undo/redo walks back and forth exactly."""

from __future__ import annotations

import copy

import pytest

from designer import analyze, new_design
from designer import edits as E
from designer.edits import EditError
from designer.history import History


def relu(name):
    return {"type": "ReLU", "name": name}


def names(nodes):
    return [n.get("name", n["type"]) for n in nodes]


@pytest.fixture
def design():
    """Top level: a b [Residual body: r0 r1] [Parallel: [p0] []] c."""
    return new_design(shape=[8], layers=[
        relu("a"), relu("b"),
        {"type": "Residual", "name": "res", "body": [relu("r0"), relu("r1")], "shortcut": []},
        {"type": "Parallel", "name": "par", "merge": "add", "branches": [[relu("p0")], []]},
        relu("c"),
    ])


@pytest.fixture(autouse=True)
def purity(request):
    """Every test's fixture design is compared with a snapshot afterwards: no edit may change its input."""
    if "design" not in request.fixturenames:
        yield
        return
    d = request.getfixturevalue("design")
    snapshot = copy.deepcopy(d)
    yield
    assert d == snapshot, "an edit changed its input design"


# --- insert / remove / duplicate ------------------------------------------------------------------------


def test_insert_by_type_and_by_node(design):
    out = E.insert_node(design, "layers", 1, "Linear")
    assert out["layers"][1]["type"] == "Linear" and "out_features" in out["layers"][1]
    out = E.insert_node(design, "layers[2].body", 2, relu("r2"))
    assert names(out["layers"][2]["body"]) == ["r0", "r1", "r2"]
    out = E.insert_node(design, "layers[3].branches[1]", 0, relu("p1"))
    assert names(out["layers"][3]["branches"][1]) == ["p1"]
    out = E.insert_node(design, "layers[2].shortcut", 0, "Identity")
    assert out["layers"][2]["shortcut"] == [{"type": "Identity"}]
    out = E.insert_node(design, "layers", 99, relu("end"))
    assert names(out["layers"])[-1] == "end"


def test_insert_creates_a_missing_child_list(design):
    d = E.insert_node(design, "layers", 0, {"type": "Residual", "body": []})
    out = E.insert_node(d, "layers[0].shortcut", 0, "Identity")
    assert out["layers"][0]["shortcut"] == [{"type": "Identity"}]


def test_inserted_node_is_a_copy(design):
    node = relu("x")
    out = E.insert_node(design, "layers", 0, node)
    node["name"] = "changed"
    assert out["layers"][0]["name"] == "x"


def test_insert_refusals(design):
    for slot in ("layers[0].body", "layers[2].branches", "layers[9].body", "input", "layers[x]", "layers[3].branches[5]"):
        with pytest.raises(EditError):
            E.insert_node(design, slot, 0, "ReLU")
    with pytest.raises(EditError, match="unknown layer type"):
        E.insert_node(design, "layers", 0, "Conv9d")
    with pytest.raises(EditError):
        E.insert_node(design, "layers", 0, 5)


def test_insert_before(design):
    out = E.insert_before(design, "layers[2].body[1]", [relu("x"), relu("y")])
    assert names(out["layers"][2]["body"]) == ["r0", "x", "y", "r1"]
    out = E.insert_before(design, "layers[5]", [relu("end")])  # one past the end appends
    assert names(out["layers"])[-1] == "end"
    with pytest.raises(EditError):
        E.insert_before(design, "layers[0]", "Flatten")


def test_remove(design):
    assert names(E.remove_node(design, "layers[0]")["layers"]) == ["b", "res", "par", "c"]
    assert names(E.remove_node(design, "layers[2].body[0]")["layers"][2]["body"]) == ["r1"]
    assert E.remove_node(design, "layers[3].branches[0][0]")["layers"][3]["branches"] == [[], []]
    for path in ("layers[9]", "layers", "layers[2].body[5]", "layers[-1]", "nonsense path"):
        with pytest.raises(EditError):
            E.remove_node(design, path)


def test_duplicate(design):
    out = E.duplicate_node(design, "layers[2]")
    assert names(out["layers"]) == ["a", "b", "res", "res", "par", "c"]
    assert out["layers"][2] == out["layers"][3] and out["layers"][2] is not out["layers"][3]
    assert out["layers"][2]["body"] is not out["layers"][3]["body"]
    out = E.duplicate_node(design, "layers[3].branches[0][0]")
    assert names(out["layers"][3]["branches"][0]) == ["p0", "p0"]
    with pytest.raises(EditError):
        E.duplicate_node(design, "layers[7]")


# --- move ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("src, index, expected", [
    (0, 0, ["a", "b", "res", "par", "c"]),
    (0, 1, ["a", "b", "res", "par", "c"]),   # before b, where it already is
    (0, 2, ["b", "a", "res", "par", "c"]),   # index counted before the node leaves
    (0, 4, ["b", "res", "par", "a", "c"]),
    (0, 5, ["b", "res", "par", "c", "a"]),
    (0, 99, ["b", "res", "par", "c", "a"]),
    (4, 0, ["c", "a", "b", "res", "par"]),
    (4, 2, ["a", "b", "c", "res", "par"]),
    (1, 3, ["a", "res", "b", "par", "c"]),
])
def test_move_within_a_lane(design, src, index, expected):
    out = E.move_node(design, f"layers[{src}]", "layers", index)
    assert names(out["layers"]) == expected


def test_move_within_a_block_lane(design):
    out = E.move_node(design, "layers[2].body[0]", "layers[2].body", 2)
    assert names(out["layers"][2]["body"]) == ["r1", "r0"]


def test_move_into_a_block_after_the_source(design):
    # the target slot is named as before the move: layers[2] is still the Residual
    out = E.move_node(design, "layers[0]", "layers[2].body", 1)
    assert names(out["layers"]) == ["b", "res", "par", "c"]
    assert names(out["layers"][1]["body"]) == ["r0", "a", "r1"]


def test_move_out_of_a_block(design):
    out = E.move_node(design, "layers[2].body[1]", "layers", 0)
    assert names(out["layers"]) == ["r1", "a", "b", "res", "par", "c"]
    assert names(out["layers"][3]["body"]) == ["r0"]


def test_move_across_blocks(design):
    out = E.move_node(design, "layers[2].body[0]", "layers[3].branches[1]", 0)
    assert names(out["layers"][2]["body"]) == ["r1"]
    assert names(out["layers"][3]["branches"][1]) == ["r0"]
    out = E.move_node(design, "layers[3].branches[0][0]", "layers[2].shortcut", 0)
    assert out["layers"][3]["branches"] == [[], []]
    assert names(out["layers"][2]["shortcut"]) == ["p0"]


def test_move_a_block_into_another_block(design):
    out = E.move_node(design, "layers[3]", "layers[2].body", 0)
    assert names(out["layers"]) == ["a", "b", "res", "c"]
    assert names(out["layers"][2]["body"]) == ["par", "r0", "r1"]
    assert analyze(out).valid


def test_move_refusals(design):
    with pytest.raises(EditError, match="into itself"):
        E.move_node(design, "layers[2]", "layers[2].body", 0)
    with pytest.raises(EditError, match="into itself"):
        E.move_node(design, "layers[3]", "layers[3].branches[0]", 0)
    with pytest.raises(EditError):
        E.move_node(design, "layers[8]", "layers", 0)
    with pytest.raises(EditError):
        E.move_node(design, "layers[0]", "layers[1].body", 0)  # ReLU has no body


# --- wrap / branches ------------------------------------------------------------------------------------


@pytest.mark.parametrize("block, slot", [("Residual", "body"), ("Repeat", "body"), ("Sequential", "layers")])
def test_wrap(design, block, slot):
    out = E.wrap_nodes(design, ["layers[1]", "layers[0]"], block)
    wrapper = out["layers"][0]
    assert wrapper["type"] == block and names(wrapper[slot]) == ["a", "b"]
    assert names(out["layers"][1:]) == ["res", "par", "c"]
    assert analyze(out).valid


def test_wrap_in_parallel_adds_a_skip_branch(design):
    out = E.wrap_nodes(design, ["layers[4]"], "Parallel")
    wrapper = out["layers"][4]
    assert wrapper["type"] == "Parallel" and names(wrapper["branches"][0]) == ["c"] and wrapper["branches"][1] == []


def test_wrap_inside_a_block(design):
    out = E.wrap_nodes(design, ["layers[2].body[0]", "layers[2].body[1]"], "Repeat")
    assert out["layers"][2]["body"][0]["type"] == "Repeat"
    assert names(out["layers"][2]["body"][0]["body"]) == ["r0", "r1"]


def test_wrap_refusals(design):
    with pytest.raises(EditError):
        E.wrap_nodes(design, [], "Residual")
    with pytest.raises(EditError, match="same list"):
        E.wrap_nodes(design, ["layers[0]", "layers[2].body[0]"], "Residual")
    with pytest.raises(EditError):
        E.wrap_nodes(design, ["layers[0]"], "Conv2d")
    with pytest.raises(EditError):
        E.wrap_nodes(design, ["layers[10]"], "Residual")


def test_add_branch(design):
    out = E.add_branch(design, "layers[3]")
    assert out["layers"][3]["branches"] == [[relu("p0")], [], []]
    with pytest.raises(EditError, match="not a Parallel"):
        E.add_branch(design, "layers[2]")


# --- parameters -------------------------------------------------------------------------------------------


def test_set_and_unset_param():
    d = new_design(shape=[8], layers=[{"type": "Linear", "out_features": 4}])
    out = E.set_param(d, "layers[0]", "out_features", 16)
    assert out["layers"][0]["out_features"] == 16 and d["layers"][0]["out_features"] == 4
    out = E.set_param(out, "layers[0]", "bias", False)
    assert analyze(out).params == 8 * 16
    out = E.unset_param(out, "layers[0]", "bias")
    assert "bias" not in out["layers"][0]
    out = E.set_param(out, "layers[0]", "name", "head")
    assert out["layers"][0]["name"] == "head"
    assert "name" not in E.set_param(out, "layers[0]", "name", "")["layers"][0]


@pytest.mark.parametrize("key, value", [
    ("out_features", 0), ("out_features", -1), ("out_features", "16"), ("out_features", True), ("out_features", 2.5),
    ("out_features", 10**30), ("out_features", None), ("bias", "no"), ("bias", 1), ("in_features", 8), ("nope", 1),
    ("name", 5), ("name", "x" * 101),
])
def test_set_param_refuses_bad_values(key, value):
    d = new_design(shape=[8], layers=[{"type": "Linear", "out_features": 4}])
    snapshot = copy.deepcopy(d)
    with pytest.raises(EditError):
        E.set_param(d, "layers[0]", key, value)
    assert d == snapshot


@pytest.mark.parametrize("node, key, value", [
    ({"type": "Dropout"}, "p", 1.5),
    ({"type": "Dropout"}, "p", float("nan")),
    ({"type": "Conv2d", "out_channels": 4, "kernel_size": 3}, "kernel_size", [3, 3, 3]),
    ({"type": "Conv2d", "out_channels": 4, "kernel_size": 3}, "padding", "full"),
    ({"type": "SequencePool"}, "mode", "median"),
    ({"type": "Repeat", "times": 2, "body": []}, "times", 0),
    ({"type": "Repeat", "times": 2, "body": []}, "body", "ReLU"),
])
def test_set_param_refuses_per_kind(node, key, value):
    d = new_design(shape=[8], layers=[node])
    with pytest.raises(EditError):
        E.set_param(d, "layers[0]", key, value)


def test_set_children_list_is_copied(design):
    body = [relu("z")]
    out = E.set_param(design, "layers[2]", "body", body)
    body.append(relu("later"))
    assert names(out["layers"][2]["body"]) == ["z"]


def test_input_task_and_name():
    d = new_design(shape=[8])
    assert E.set_input(d, shape=[3, 32, 32])["input"]["shape"] == [3, 32, 32]
    assert E.set_input(d, dtype="int64")["input"]["dtype"] == "int64"
    for shape in ([], [0], [1, 2, 3, 4, 5], [True], "8"):
        with pytest.raises(EditError):
            E.set_input(d, shape=shape)
    with pytest.raises(EditError):
        E.set_input(d, dtype="float16")
    assert E.set_task(d, "classification", 10)["task"] == {"kind": "classification", "num_classes": 10}
    assert E.set_task(d, "regression")["task"] == {"kind": "regression"}
    assert "task" not in E.set_task(E.set_task(d, "regression"), None)
    for kind, k in (("classification", 1), ("classification", None), ("ranking", None)):
        with pytest.raises(EditError):
            E.set_task(d, kind, k)
    assert E.rename(d, "  My net  ")["name"] == "My net"
    for bad in ("", "   ", "x" * 201, None):
        with pytest.raises(EditError):
            E.rename(d, bad)
    assert d == new_design(shape=[8])


# --- apply_action -------------------------------------------------------------------------------------


@pytest.mark.parametrize("action, check", [
    ({"op": "insert", "slot": "layers", "index": 0, "type": "Tanh"}, lambda o: o["layers"][0]["type"] == "Tanh"),
    ({"op": "insert", "slot": "layers", "index": "1", "node": relu("n")}, lambda o: names(o["layers"])[1] == "n"),
    ({"op": "insert_before", "path": "layers[1]", "nodes": [relu("n")]}, lambda o: names(o["layers"])[1] == "n"),
    ({"op": "replace", "path": "layers[1]", "nodes": [relu("x"), relu("y")]},
     lambda o: names(o["layers"]) == ["a", "x", "y", "res", "par", "c"]),
    ({"op": "move", "path": "layers[0]", "slot": "layers", "index": 2}, lambda o: names(o["layers"])[:2] == ["b", "a"]),
    ({"op": "remove", "path": "layers[4]"}, lambda o: names(o["layers"]) == ["a", "b", "res", "par"]),
    ({"op": "duplicate", "path": "layers[0]"}, lambda o: names(o["layers"])[:2] == ["a", "a"]),
    ({"op": "wrap", "paths": ["layers[0]"], "block": "Residual"}, lambda o: o["layers"][0]["type"] == "Residual"),
    ({"op": "add_branch", "path": "layers[3]"}, lambda o: len(o["layers"][3]["branches"]) == 3),
    ({"op": "set", "path": "layers[3]", "key": "merge", "value": "concat"}, lambda o: o["layers"][3]["merge"] == "concat"),
    ({"op": "unset", "path": "layers[3]", "key": "merge"}, lambda o: "merge" not in o["layers"][3]),
    ({"op": "set_input", "shape": [4, 8]}, lambda o: o["input"]["shape"] == [4, 8]),
    ({"op": "select", "path": "layers[0]"}, lambda o: names(o["layers"]) == ["a", "b", "res", "par", "c"]),
])
def test_apply_action(design, action, check):
    assert check(E.apply_action(design, action))


def test_apply_action_fix():
    d = new_design(shape=[3, 8, 8], layers=[{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "Linear", "out_features": 2}])
    out = E.apply_action(d, {"op": "fix", "path": "layers[1]"})
    assert [n["type"] for n in out["layers"]] == ["Conv2d", "Flatten", "Linear"] and analyze(out).valid
    with pytest.raises(EditError, match="no fix"):
        E.apply_action(out, {"op": "fix", "path": "layers[1]"})


@pytest.mark.parametrize("action", [
    {}, None, ["remove"], {"op": "explode"}, {"op": "insert"}, {"op": "insert", "slot": "layers", "index": "x", "type": "ReLU"},
    {"op": "remove"}, {"op": "remove", "path": 5}, {"op": "move", "path": "layers[0]"},
    {"op": "wrap", "paths": 5, "block": "Residual"}, {"op": "set", "path": "layers[0]"},
    {"op": "insert", "slot": "layers", "index": 0, "node": 7}, {"op": "insert_before", "path": "layers[0]", "nodes": 5},
    {"op": "replace", "path": "layers[9]", "nodes": [{"type": "ReLU"}]}, {"op": "replace", "path": "layers[0]", "nodes": []},
    {"op": "set_input", "shape": "big"}, {"op": "fix", "path": "layers[0]", "index": "first"},
])
def test_apply_action_refuses_bad_actions(design, action):
    with pytest.raises(EditError):
        E.apply_action(design, action)


# --- history --------------------------------------------------------------------------------------------


def test_history_undo_redo_sixty_steps():
    history = History()
    d = new_design(shape=[16])
    states = [d]
    for step in range(60):
        if step % 3 == 0:
            nxt = E.insert_node(d, "layers", len(d["layers"]), {"type": "Linear", "out_features": 16})
        elif step % 3 == 1:
            nxt = E.set_param(d, f"layers[{len(d['layers']) - 1}]", "out_features", 16 + step)
        else:
            nxt = E.insert_node(d, "layers", len(d["layers"]), "ReLU")
        history.record(d)
        d = nxt
        states.append(d)
    final = d
    assert history.can_undo and not history.can_redo
    for k in range(60, 0, -1):
        d = history.undo(d)
        assert d == states[k - 1]
    assert history.undo(d) is None and not history.can_undo
    for k in range(1, 61):
        d = history.redo(d)
        assert d == states[k]
    assert history.redo(d) is None and d == final
    # a new edit after undoing drops the redo branch
    d = history.undo(d)
    history.record(d)
    d = E.rename(d, "branch")
    assert not history.can_redo
    assert history.undo(d) == states[59]


def test_history_snapshots_are_copies_and_bounded():
    history = History(limit=5)
    d = new_design(shape=[4], layers=[relu("a")])
    history.record(d)
    d["layers"][0]["name"] = "mutated"
    assert history.undo(d)["layers"][0]["name"] == "a"
    for i in range(12):
        history.record(new_design(name=f"n{i}", shape=[4]))
    assert len(history.undo_stack) == 5
    assert history.undo_stack[0]["name"] == "n7"
