"""Fuzzing every editor action through the page's state (`components.state.do_action`), with hypothesis.

Sequences of insert / insert_before / move / remove / duplicate / wrap / add_branch / set / unset / fix /
set_input / select, with arguments drawn mostly from the design as it stands (so they often apply) and
otherwise at random (so they are often wrong), applied to a dict state holding a template. After every
action: nothing raised; a refused action left the design as it was and said why; the design is JSON,
round-trips through its file text, stays within the file limits (so autosave and export write a file that
loads again), and analyses. At the end, undoing everything gives the original back and redoing it all gives
the last design again.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import state as S
from components.text import md_text
from designer import dump_design, get_at, list_specs, parse_design, validate
from designer.design import MAX_DEPTH, MAX_NODES, child_slots, count_nodes, iter_nodes, limit_issues
from designer.registry import get_spec
from designer.templates import load_template

torch.set_num_threads(1)

STEPS = 25  # fewer than the history's limit (100), so everything can be undone
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.data_too_large])
TEMPLATES = ["lenet5", "mlp_signals", "lstm_classifier", "inception", "transformer_classifier", "unet_small"]
TYPES = [s.type for s in list_specs()]
OPS = ["insert", "insert_before", "move", "remove", "duplicate", "wrap", "add_branch", "set", "unset", "fix",
       "set_input", "select"]

# What the browser can send: JSON values (no NaN, no sets, string keys), nested a little.
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                         st.sampled_from(["same", "valid", "concat", "add", "\u202e", "\ud800", "'); import os #"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                  st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=10)
garbage_paths = st.one_of(st.text(max_size=12), st.sampled_from(
    ["layers", "layers[99]", "layers[-1]", "layers[0].body", "layers[0].branches", "layers[0].branches[5]",
     "layers[0][0]", "input", "name", "", ".", "layers[0].nope[1]", "__class__", "layers[0].body[0].shortcut"]),
    json_values)


def node_paths(design: dict) -> list[str]:
    return [path for path, node, _ in iter_nodes(design.get("layers", [])) if isinstance(node, dict)]


def slot_paths(design: dict) -> list[str]:
    slots = ["layers"]
    for path, node, _ in iter_nodes(design.get("layers", [])):
        if isinstance(node, dict):
            slots += [f"{path}.{suffix}" for suffix, _ in child_slots(node)]
            spec = get_spec(node.get("type", "")) if isinstance(node.get("type"), str) else None
            if spec is not None and spec.is_block:
                for key in spec.children:  # slots not written yet, and the next new branch
                    slots.append(f"{path}.{key}" if key != "branches" else f"{path}.branches[{len(node.get('branches') or [])}]")
    return slots


def get_at_or(design: dict, slot: str) -> list:
    """The node list at a slot, or [] when there is none."""
    try:
        value = get_at(design, slot)
    except (KeyError, IndexError, TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []


def pick(draw, options: list[str], garbage=garbage_paths):
    """Mostly one of `options`, sometimes anything."""
    if options and draw(st.integers(0, 5)):
        return draw(st.sampled_from(options))
    return draw(garbage)


@st.composite
def small_nodes(draw) -> dict:
    """A node as the palette makes it, sometimes with one odd key."""
    spec = get_spec(draw(st.sampled_from(TYPES)))
    node = spec.new_node()
    if draw(st.integers(0, 4)) == 0:
        node[draw(st.sampled_from(["bogus", "name", *spec.param_names] or ["bogus"]))] = draw(json_values)
    return node


@st.composite
def action_for(draw, design: dict) -> dict:
    """One editor action against the current design."""
    op = draw(st.sampled_from(OPS))
    nodes, slots = node_paths(design), slot_paths(design)
    index = draw(st.one_of(st.integers(-2, 8), st.integers(-10**6, 10**6), st.sampled_from(["1", "x", None, 1.5])))
    if op == "insert":
        action = {"op": op, "slot": pick(draw, slots), "index": index}
        if draw(st.booleans()):
            action["type"] = draw(st.one_of(st.sampled_from(TYPES), st.text(max_size=8)))
        else:
            action["node"] = draw(st.one_of(small_nodes(), json_values))
        return action
    if op == "insert_before":
        return {"op": op, "path": pick(draw, nodes), "nodes": draw(st.one_of(st.lists(small_nodes(), max_size=2),
                                                                             json_values))}
    if op == "move":
        return {"op": op, "path": pick(draw, nodes), "slot": pick(draw, slots), "index": index}
    if op == "add_branch":
        parallels = [p for p, n, _ in iter_nodes(design["layers"]) if isinstance(n, dict) and n.get("type") == "Parallel"]
        return {"op": op, "path": pick(draw, parallels or nodes)}
    if op in ("remove", "duplicate", "select"):
        return {"op": op, "path": pick(draw, nodes)}
    if op == "wrap":
        lanes = [(slot, len(get_at_or(design, slot))) for slot in slots if get_at_or(design, slot)]
        siblings = []
        if lanes:
            slot, n = draw(st.sampled_from(lanes))
            siblings = [f"{slot}[{i}]" for i in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))]
        return {"op": op, "paths": draw(st.one_of(st.just(siblings), st.lists(garbage_paths, max_size=2), json_values)),
                "block": draw(st.sampled_from(["Residual", "Repeat", "Parallel", "Sequential", "Conv2d", "", None]))}
    if op in ("set", "unset"):
        path = pick(draw, nodes)
        keys = ["name", "bogus", "type", "body", "branches", "layers", "shortcut"]
        spec = None
        try:
            node = next(n for p, n, _ in iter_nodes(design["layers"]) if p == path)
            spec = get_spec(node.get("type", ""))
            keys += list(spec.param_names) * 3 if spec else []
        except (StopIteration, TypeError, AttributeError):
            pass
        key = draw(st.one_of(st.sampled_from(keys), json_values))
        action = {"op": op, "path": path, "key": key}
        if op == "set":
            param = spec.param(key) if spec is not None and isinstance(key, str) else None
            likely = [param.default, *param.choices] if param is not None else [None]
            action["value"] = draw(st.one_of(st.sampled_from(likely), st.integers(1, 64), json_values,
                                             st.lists(small_nodes(), max_size=2)))
        return action
    if op == "fix":
        fixable = [e.path for e in S.analysis_of(design).errors if e.action]
        return {"op": op, "path": pick(draw, fixable or nodes + ["task"]), "index": draw(st.integers(-1, 1))}
    return {"op": "set_input", "shape": draw(st.one_of(st.lists(st.integers(1, 40), min_size=1, max_size=4), json_values)),
            "dtype": draw(st.sampled_from(["float32", "int64", "float16", None, 3]))}


def check_design(design: dict) -> None:
    """What must hold after every action, refused or not."""
    text = json.dumps(design, allow_nan=False)  # JSON, strictly
    assert json.loads(text) == design
    assert parse_design(dump_design(design)) == design  # autosave and export write a file that loads again
    assert parse_design(dump_design(design).encode("utf-8")) == design
    nodes, depth = count_nodes(design)
    assert nodes <= MAX_NODES and depth <= MAX_DEPTH and not limit_issues(design)  # the editor keeps to the limits
    analysis = S.analysis_of(design)
    assert analysis.valid == (not analysis.errors)
    json.dumps(analysis.to_json())
    validate(design)


def run_actions(state: dict, data) -> list[dict]:
    applied = []
    for _ in range(data.draw(st.integers(1, STEPS), label="steps")):
        design = state[S.DESIGN]
        before = copy.deepcopy(design)
        revision = state[S.REVISION]
        action = data.draw(action_for(design), label="action")
        state[S.FLASH] = None
        changed = S.do_action(state, action)  # must not raise, whatever the action
        assert isinstance(changed, bool)
        if not changed:
            assert state[S.DESIGN] == before, action
            assert state[S.REVISION] == revision
            if action.get("op") != "select":
                kind, message = state[S.FLASH]
                assert kind == "error" and isinstance(message, str) and message and "Traceback" not in message
        else:
            applied.append(action)
        assert before == design or changed, "an action changed the design it was given"
        check_design(state[S.DESIGN])
        selected = state[S.SELECTED]
        assert selected is None or isinstance(selected, str) or action.get("op") == "select"
    return applied


@SETTINGS
@given(st.sampled_from(TEMPLATES), st.data())
def test_any_sequence_of_actions_is_safe_and_undoable(template, data):
    state: dict = {}
    S.init_state(state, load_template(template))
    original = copy.deepcopy(state[S.DESIGN])
    run_actions(state, data)
    final = copy.deepcopy(state[S.DESIGN])
    undone = 0
    while S.undo(state):
        undone += 1
        check_design(state[S.DESIGN])
    assert state[S.DESIGN] == original
    for _ in range(undone):
        assert S.redo(state)
    assert state[S.DESIGN] == final
    assert not S.redo(state)


@SETTINGS
@given(st.data())
def test_actions_from_a_blank_design(data):
    state: dict = {}
    S.init_state(state, S.blank_design())
    original = copy.deepcopy(state[S.DESIGN])
    run_actions(state, data)
    while S.undo(state):
        pass
    assert state[S.DESIGN] == original


@pytest.mark.parametrize("action", [
    {"op": None}, {"op": "insert"}, {"op": "insert", "slot": [], "index": {}, "type": []},
    {"op": "move", "path": {"a": 1}, "slot": None, "index": "1"}, {"op": "wrap", "paths": "layers[0]", "block": "Residual"},
    {"op": "wrap", "paths": 5, "block": "Residual"}, {"op": "set", "path": "layers[0]", "key": ["out_channels"], "value": 3},
    {"op": "set_input", "shape": "3,32,32"}, {"op": "fix", "path": None}, {"op": "fix", "path": "layers[0]", "index": "x"},
    {"op": "insert_before", "path": "layers[0]", "nodes": {"type": "ReLU"}},
    {"op": "duplicate", "path": "layers[0]" + ".body[0]" * 50}, {"op": "remove", "path": "layers[0]" + "[0]" * 5000},
])
def test_malformed_actions_are_refused_with_a_message(action):
    state: dict = {}
    S.init_state(state, load_template("lenet5"))
    before = copy.deepcopy(state[S.DESIGN])
    assert not S.do_action(state, action)
    assert state[S.DESIGN] == before
    assert state[S.FLASH][0] == "error" and state[S.FLASH][1]


def test_the_editor_keeps_a_design_within_the_file_limits():
    """Whatever the editor makes exports to a file that imports again: edits past a limit are refused."""
    state: dict = {}
    S.init_state(state, load_template("lenet5"))
    wraps = 0
    while S.do_action(state, {"op": "wrap", "paths": ["layers[0]"], "block": "Parallel"}):
        wraps += 1
    assert wraps == MAX_DEPTH and "24 levels" in state[S.FLASH][1] and "not made" in state[S.FLASH][1]
    assert S.import_design({**state}, dump_design(state[S.DESIGN])) == []

    S.init_state(state := {}, load_template("lenet5"))
    while S.do_action(state, {"op": "duplicate", "path": "layers[0]"}) and S.do_action(
            state, {"op": "wrap", "paths": ["layers[0]", "layers[1]"], "block": "Sequential"}):
        pass
    assert md_text(f"more than {MAX_NODES:,} nodes") in state[S.FLASH][1]  # flash text is escaped Markdown
    assert count_nodes(state[S.DESIGN])[0] <= MAX_NODES

    S.init_state(state := {}, load_template("lenet5"))
    assert S.do_action(state, {"op": "wrap", "paths": ["layers[0]"], "block": "Repeat"})
    assert S.do_action(state, {"op": "wrap", "paths": ["layers[0]"], "block": "Repeat"})
    assert S.do_action(state, {"op": "set", "path": "layers[0]", "key": "times", "value": 1000})
    assert not S.do_action(state, {"op": "set", "path": "layers[0].body[0]", "key": "times", "value": 1000})
    assert md_text("places 1,001,000 layers") in state[S.FLASH][1]
    deep = {"type": "ReLU", "name": "x"}
    assert not S.do_action(state, {"op": "set", "path": "layers[0]", "key": "body",
                                   "value": json.loads("[" * 200 + "]" * 200)})
    assert "nest" in state[S.FLASH][1]
    assert not S.do_action(state, {"op": "insert", "slot": "layers", "index": 0,
                                   "node": {**deep, "extra": json.loads("[" * 200 + "]" * 200)}})
    assert "nest" in state[S.FLASH][1]
