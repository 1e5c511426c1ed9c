"""Properties over random designs, valid and invalid (hypothesis, bounded).

- analyze and validate never raise, whatever the design holds;
- a valid design builds, and a CPU forward pass gives the analysed output shape and parameter count;
- dump_design -> parse_design gives the same design back.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from designer import analyze, build_model, dump_design, list_specs, new_design, parse_design, validate
from designer.params import ParamSpec

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:Implicit dimension choice for softmax")

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.data_too_large])
LEAVES = [s for s in list_specs() if not s.is_block]
BLOCKS = [s for s in list_specs() if s.is_block]
# Forward passes are only run on networks this small (analysis itself is free: it runs on `meta`).
MAX_ELEMENTS, MAX_PARAMS, MAX_FLOPS = 200_000, 2_000_000, 50_000_000

# --- values ------------------------------------------------------------------------------------------

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=()), max_size=4), st.lists(st.integers(-3, 9), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.just("same"),
)


def _bound(p: ParamSpec, lo_default: int, hi_cap: int) -> tuple[int, int]:
    lo = int(p.min) if p.min is not None else lo_default
    hi = int(min(p.max, hi_cap)) if p.max is not None else hi_cap
    return lo, max(lo, hi)


def plausible(p: ParamSpec) -> st.SearchStrategy:
    """Mostly in range and small, so valid networks stay cheap to run."""
    kind = p.kind
    if kind == "bool":
        s = st.booleans()
    elif kind == "int":
        lo, hi = _bound(p, -3, 8)
        s = st.integers(lo, hi)
    elif kind == "float":
        lo = p.min if p.min is not None else -2.0
        hi = min(p.max if p.max is not None else 2.0, 3.0)
        s = st.floats(lo, max(lo, hi), allow_nan=False, allow_infinity=False)
    elif kind == "choice":
        s = st.sampled_from(p.choices)
    elif kind == "size":
        lo, hi = _bound(p, 0, 4)
        one = st.integers(lo, hi)
        options = [one, st.lists(one, min_size=p.length or 1, max_size=p.length or 1)]
        if p.strings:
            options.append(st.sampled_from(p.strings))
        s = st.one_of(*options)
    elif kind == "ints":
        if p.name == "dims":
            s = st.integers(2, 5).flatmap(lambda n: st.permutations(list(range(1, n))).map(lambda rest: [0, *rest]))
        else:
            s = st.lists(st.integers(-1, 6), min_size=max(1, p.min_items), max_size=4)
    else:
        s = st.text(max_size=8)
    if p.nullable:
        s = st.one_of(st.none(), s)
    return s


@st.composite
def leaf(draw, valid_only: bool = False) -> dict:
    spec = draw(st.sampled_from(LEAVES))
    node: dict = {"type": spec.type}
    for p in spec.params:
        if not p.required and draw(st.integers(0, 2)) == 0:
            continue  # leave it to the default
        if p.required and not valid_only and draw(st.integers(0, 20)) == 0:
            continue  # a missing required parameter
        node[p.name] = draw(junk) if not valid_only and draw(st.integers(0, 9)) == 0 else draw(plausible(p))
    if not valid_only and draw(st.integers(0, 30)) == 0:
        node[draw(st.sampled_from(["bogus", "in_features", "batch_first", "in_channels"]))] = 3
    if draw(st.integers(0, 6)) == 0:
        node["name"] = draw(st.text(max_size=6))
    return node


def node_lists(node_strategy, max_size=3):
    return st.lists(node_strategy, max_size=max_size)


def block(children: st.SearchStrategy) -> st.SearchStrategy:
    nodes = node_lists(children)
    return st.one_of(
        st.builds(lambda ls: {"type": "Sequential", "layers": ls}, nodes),
        st.builds(lambda b, s: {"type": "Residual", "body": b, "shortcut": s}, nodes, node_lists(children, 2)),
        st.builds(lambda bs, m, d: {"type": "Parallel", "branches": bs, "merge": m, "dim": d},
                  st.lists(nodes, min_size=1, max_size=3), st.sampled_from(["concat", "add"]), st.sampled_from([1, -1, 2])),
        st.builds(lambda t, b: {"type": "Repeat", "times": t, "body": b}, st.integers(1, 3), nodes),
    )


any_node = st.recursive(leaf(), block, max_leaves=8)
hostile_node = st.one_of(any_node, junk, st.builds(lambda t: {"type": t}, st.text(max_size=12)),
                         st.builds(lambda k: {"type": "Residual", k: "not a list"}, st.sampled_from(["body", "shortcut"])))
shapes = st.lists(st.integers(1, 9), min_size=1, max_size=4)
dtypes = st.sampled_from(["float32", "float32", "float32", "int64"])


@st.composite
def designs(draw) -> dict:
    layers = draw(st.lists(any_node, max_size=6))
    task = draw(st.one_of(st.none(), st.just({"kind": "regression"}),
                          st.integers(2, 12).map(lambda k: {"kind": "classification", "num_classes": k})))
    return new_design(name=draw(st.text(max_size=10)), shape=draw(shapes), dtype=draw(dtypes), task=task, layers=layers)


@st.composite
def hostile_designs(draw) -> dict:
    doc = draw(designs())
    if draw(st.booleans()):
        doc["layers"] = draw(st.lists(hostile_node, max_size=5))
    if draw(st.integers(0, 4)) == 0:
        doc["input"] = draw(st.one_of(junk, st.fixed_dictionaries({"shape": junk}),
                                      st.fixed_dictionaries({"shape": shapes, "dtype": junk})))
    if draw(st.integers(0, 4)) == 0:
        doc[draw(st.sampled_from(["task", "name", "layers", "extra"]))] = draw(junk)
    return doc


@st.composite
def grown_designs(draw) -> dict:
    """Designs grown one node at a time, keeping only nodes that analyse: mostly valid, often deep."""
    doc = new_design(shape=draw(shapes), dtype=draw(dtypes))
    for _ in range(draw(st.integers(1, 12))):
        node = draw(st.one_of(leaf(valid_only=True), leaf(valid_only=True), block(leaf(valid_only=True))))
        doc["layers"].append(node)
        if not analyze(doc).valid:
            doc["layers"].pop()
    return doc


# --- checks ------------------------------------------------------------------------------------------------


def _largest(instances) -> tuple[int, int]:
    """(largest tensor, in elements, and number of instances) anywhere in a valid design's tree."""
    biggest, count, stack = 0, 0, list(instances)
    while stack:
        inst = stack.pop()
        count += 1
        biggest = max(biggest, math.prod(inst.out_shape), math.prod(inst.in_shape))
        for nodes in inst.slots.values():
            stack.extend(nodes)
        seen = set()
        for copy in inst.copies:
            if id(copy) not in seen:
                seen.add(id(copy))
                stack.extend(copy)
    return biggest, count


def check_forward(doc: dict) -> bool:
    """Analyse; if valid and small, a CPU forward must agree. Returns whether a forward ran."""
    analysis = analyze(doc)
    json.dumps(analysis.to_json())
    assert analysis.valid == (not analysis.errors)
    for issue in analysis.errors:
        assert isinstance(issue.path, str) and issue.message
    if not analysis.valid:
        assert analysis.tree is None
        return False
    assert analysis.output_shape is not None and all(s >= 1 for s in analysis.output_shape)
    biggest, _ = _largest(analysis.tree)
    if biggest > MAX_ELEMENTS or analysis.params > MAX_PARAMS or analysis.flops > MAX_FLOPS:
        return False
    model = build_model(doc, analysis).eval()
    shape = (2, *analysis.input_shape)
    x = torch.zeros(shape, dtype=torch.long) if analysis.input_dtype == "int64" else torch.randn(shape)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape) == (2, *analysis.output_shape)
    assert sum(p.numel() for p in model.parameters()) == analysis.params
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == analysis.trainable_params
    return True


@SETTINGS
@given(hostile_designs())
def test_analyze_and_validate_never_raise(doc):
    issues = validate(doc)
    assert all(i.path is not None and i.message for i in issues)
    check_forward(doc)


@SETTINGS
@given(designs())
def test_random_designs_agree_with_pytorch(doc):
    check_forward(doc)


@SETTINGS
@given(grown_designs())
def test_grown_designs_agree_with_pytorch(doc):
    analysis = analyze(doc)
    assert analysis.valid, [str(e) for e in analysis.errors]
    check_forward(doc)


@SETTINGS
@given(hostile_designs())
def test_dump_parse_round_trip(doc):
    text = dump_design(doc)
    text.encode("utf-8")
    assert parse_design(text) == doc
    assert parse_design(text.encode("utf-8")) == doc


paths = st.builds(
    lambda parts: "layers" + "".join(parts),
    st.lists(st.one_of(st.integers(0, 3).map(lambda i: f"[{i}]"),
                       st.sampled_from([".body", ".shortcut", ".layers", ".branches", ".branches[0]", ".branches[1]"])),
             min_size=0, max_size=5),
)
actions = st.one_of(
    st.fixed_dictionaries({"op": st.just("insert"), "slot": paths, "index": st.integers(-2, 5),
                           "type": st.sampled_from([s.type for s in list_specs()] + ["Nope"])}),
    st.fixed_dictionaries({"op": st.just("insert_before"), "path": paths, "nodes": st.lists(leaf(), max_size=2)}),
    st.fixed_dictionaries({"op": st.just("move"), "path": paths, "slot": paths, "index": st.integers(-2, 5)}),
    st.fixed_dictionaries({"op": st.sampled_from(["remove", "duplicate", "add_branch", "fix"]), "path": paths}),
    st.fixed_dictionaries({"op": st.just("wrap"), "paths": st.lists(paths, max_size=3),
                           "block": st.sampled_from(["Residual", "Repeat", "Parallel", "Sequential", "Conv2d"])}),
    st.fixed_dictionaries({"op": st.sampled_from(["set", "unset"]), "path": paths,
                           "key": st.sampled_from(["out_features", "p", "times", "merge", "name", "body", "nope"]),
                           "value": junk}),
    st.fixed_dictionaries({"op": st.just("set_input"), "shape": st.one_of(shapes, junk)}),
    st.dictionaries(st.sampled_from(["op", "path", "slot", "index", "paths", "nodes"]), junk, max_size=4),
)


@SETTINGS
@given(designs(), st.lists(actions, min_size=1, max_size=6))
def test_edits_are_pure_and_fail_only_with_edit_errors(doc, steps):
    import copy

    from designer.edits import EditError, apply_action

    for action in steps:
        before = copy.deepcopy(doc)
        try:
            out = apply_action(doc, action)
        except EditError as exc:
            assert str(exc)
            out = doc
        assert doc == before, f"{action} changed its input"
        assert isinstance(out, dict)
        analyze(out)
        validate(out)
        doc = out
    assert parse_design(dump_design(doc)) == doc
