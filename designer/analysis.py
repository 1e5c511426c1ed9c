"""Analysis: every node's shapes, parameter count and FLOPs, and errors with fixes.

Shapes come from running each layer on PyTorch's `meta` device (no weights are allocated), so
they are PyTorch's own. Errors that a shape pass would miss or word badly are caught first by
the rules in the layer declarations. The result also holds the instance tree (each node with
the shape it receives, Repeat copies spelled out) that building and code export walk.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from designer.blocks import block_rule
from designer.design import check_document, check_node, child_slots, format_path, limit_issues, parse_path
from designer.errors import Issue
from designer.layer_modules import make_layer
from designer.params import size_text
from designer.registry import LayerSpec, get_spec

Shape = tuple[int, ...]
_FLOAT, _INT = "float32", "int64"
# Nodes walked in Repeat copies after the first. A Repeat's copies are walked one by one while each gets a new
# input shape (a ConvTranspose that grows the length), and each new shape is a fresh layer run on `meta`: without
# a budget, Repeat × 1000 of Repeat × 50 of such a body takes minutes. Real designs need a few dozen.
MAX_COPY_WALKS = 2_000


@dataclass
class Instance:
    """One node as placed in the network: what it receives and gives. Repeat bodies appear once per copy."""

    path: str
    node: dict[str, Any]
    spec: LayerSpec
    values: dict[str, Any]
    in_shape: Shape
    out_shape: Shape
    dtype: str
    params: int = 0
    flops: int = 0
    slots: dict[str, list[Instance]] = field(default_factory=dict)
    copies: list[list[Instance]] = field(default_factory=list)
    tied: str | None = None  # the path of the Embedding whose weight this layer uses


@dataclass
class NodeInfo:
    """A row of the summary: one node of the design (Repeat bodies summed over their copies)."""

    path: str
    type: str
    name: str | None
    family: str
    depth: int
    label: str
    input_shape: Shape | None = None
    output_shape: Shape | None = None
    dtype: str | None = None
    params: int = 0
    flops: int = 0
    copies: int = 1
    status: str = "unreached"  # ok | error | unreached
    errors: list[Issue] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        shape = list(self.output_shape) if self.output_shape is not None else None
        return {"path": self.path, "type": self.type, "output_shape": shape, "params": self.params}


@dataclass
class Analysis:
    """Everything the page, the command line and the exporters need to know about a design."""

    valid: bool
    input_shape: Shape | None
    input_dtype: str | None
    output_shape: Shape | None
    output_dtype: str | None
    params: int
    trainable_params: int
    flops: int
    rows: list[NodeInfo]
    errors: list[Issue]
    tree: list[Instance] | None
    warnings: list[Issue] = field(default_factory=list)

    def row(self, path: str) -> NodeInfo | None:
        for r in self.rows:
            if r.path == path:
                return r
        return None

    @property
    def size_mb(self) -> float:
        """Parameters as float32, in MB (10^6 bytes)."""
        return self.params * 4 / 1e6

    def to_json(self) -> dict[str, Any]:
        """The `summary --json` object of the contract."""
        return {
            "valid": self.valid,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "flops": self.flops,
            "layers": [r.to_row() for r in self.rows],
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
        }


# --- running one layer on the meta device ----------------------------------------------------------


class LayerFailure(Exception):
    """PyTorch refused the layer; the message is PyTorch's own first line."""


@lru_cache(maxsize=8192)
def _run_leaf(type_name: str, values_json: str, shape: Shape, dtype: str) -> tuple[Shape, int, int, int]:
    """(output shape, params, trainable params, FLOPs per sample) of one layer, computed on `meta`."""
    spec = get_spec(type_name)
    values = json.loads(values_json)
    try:
        with torch.device("meta"):
            module = make_layer(spec, values, shape).eval()
            x = torch.zeros((1, *shape), dtype=torch.long if dtype == _INT else torch.float32)
        if spec.formula is not None:
            out, flops = spec.formula(shape, values)
        else:
            from torch.utils.flop_counter import FlopCounterMode

            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                y = module(x)
            out, flops = tuple(y.shape[1:]), int(counter.get_total_flops())
    except Exception as exc:  # PyTorch's refusal, worded by PyTorch
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LayerFailure(first[:300]) from None
    params = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return tuple(out), params, trainable, flops


def _values_key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


# --- the walk ---------------------------------------------------------------------------------------


class _Walk:
    """One analysis pass: rows in tree order, errors, totals."""

    def __init__(self) -> None:
        self.rows: dict[str, NodeInfo] = {}
        self.errors: list[Issue] = []
        self.trainable = 0
        self.checked: set[str] = set()
        self.walks: dict[str, int] = {}  # path -> times the node is placed (Repeat copies, nested ones multiplied)
        self.walked = 0  # nodes walked so far
        self.copy_walks = 0  # of which in Repeat copies after the first (against MAX_COPY_WALKS)
        self.at_node: dict[str, Issue] = {}  # limit issues that belong to a node (a Repeat placing too many layers)
        self.warnings: list[Issue] = []
        self.leaves: dict[str, Instance] = {}  # path -> the (last) placed instance of each layer
        self.previous: LayerSpec | None = None  # the last layer walked that is not element-wise

    def row_for(self, path: str, node: dict, depth: int) -> NodeInfo:
        row = self.rows.get(path)
        if row is None:
            spec = get_spec(node.get("type")) if isinstance(node, dict) and isinstance(node.get("type"), str) else None
            name = node.get("name") if isinstance(node, dict) and isinstance(node.get("name"), str) else None
            row = NodeInfo(
                path=path,
                type=spec.type if spec else str(node.get("type") if isinstance(node, dict) else "?"),
                name=name,
                family=spec.family if spec else "",
                depth=depth,
                label=spec.label(node) if spec else "?",
            )
            self.rows[path] = row
        return row

    def fail(self, row: NodeInfo, issue: Issue) -> None:
        row.status = "error"
        if issue not in row.errors:
            row.errors.append(issue)
            self.errors.append(issue)

    # A node list: returns (instances, output shape, dtype); shape None once something failed.
    def walk_list(self, nodes: list, prefix: str, shape: Shape | None, dtype: str | None, depth: int):
        instances: list[Instance] = []
        for i, node in enumerate(nodes):
            inst, shape, dtype = self.walk_node(node, f"{prefix}[{i}]", shape, dtype, depth)
            if inst is not None:
                instances.append(inst)
        return instances, shape, dtype

    def walk_node(self, node: Any, path: str, shape: Shape | None, dtype: str | None, depth: int):
        row = self.row_for(path, node, depth)
        if path not in self.checked:  # a Repeat body is walked once per copy, checked once
            self.checked.add(path)
            for issue in check_node(node, path):
                self.fail(row, issue)
            if path in self.at_node:
                self.fail(row, self.at_node[path])
        spec = get_spec(node["type"]) if isinstance(node, dict) and isinstance(node.get("type"), str) else None
        if spec is None or row.errors or shape is None:
            self.mark_unreached(node, path, depth)
            return None, None, None
        values = spec.values(node)
        row.input_shape = shape
        self.walks[path] = self.walks.get(path, 0) + 1
        self.walked += 1
        if spec.is_block:
            return self.walk_block(node, spec, values, path, shape, dtype, depth, row)
        return self.walk_leaf(node, spec, values, path, shape, dtype, row)

    def mark_unreached(self, node: Any, path: str, depth: int) -> None:
        if isinstance(node, dict):
            for suffix, children in child_slots(node):
                for i, child in enumerate(children):
                    child_path = f"{path}.{suffix}[{i}]"
                    row = self.row_for(child_path, child, depth + 1)
                    if child_path not in self.checked:
                        self.checked.add(child_path)
                        for issue in check_node(child, child_path):
                            self.fail(row, issue)
                    self.mark_unreached(child, child_path, depth + 1)

    def walk_leaf(self, node, spec: LayerSpec, values, path, shape, dtype, row: NodeInfo):
        previous = self.previous
        if spec.family not in _ELEMENTWISE:
            self.previous = spec  # "right after a convolution" looks through activations, norms and dropout
        issue = _input_issue(spec, path, shape, dtype)
        if issue is not None and issue.action is not None:
            issue = self.flatten_in_the_way(spec, path, issue)
        if issue is None and spec.check is not None:
            problems = spec.check(shape, values)
            if problems:
                message, fix, action = problems[0]
                # A check's fix edits the layer it checks: it names no path, the analysis adds it.
                if action is not None and "path" not in action:
                    action = {**action, "path": path}
                issue = Issue(path, f"{spec.type}: {message}", fix, action)
        if issue is None:
            try:
                out, params, trainable, flops = _run_leaf(spec.type, _values_key(values), shape, dtype)
            except LayerFailure as exc:
                issue = Issue(path, f"PyTorch refuses {spec.type} on input {size_text(list(shape))}: {exc}",
                              "check this layer's parameters against its input")
            else:
                if any(s <= 0 for s in out):
                    issue = Issue(path, f"{spec.type} would give an empty tensor {size_text(list(out))}",
                                  "shrink the kernel or stride, or add padding")
        tied = None
        if issue is None and spec.tie and values.get(spec.tie) is not None:
            tied, issue = self.tie(spec, values, path, shape, out)
            if tied is not None:
                shared = shape[-1] * out[-1]  # the weight stays counted at the Embedding
                params, trainable = params - shared, trainable - shared
        if issue is not None:
            self.fail(row, issue)
            return None, None, None
        if spec.type == "Linear" and len(shape) >= 2 and previous is not None and previous.family in _SPATIAL:
            self.warn(Issue(path, f"Linear acts on the last axis only ({shape[-1]} of {size_text(list(shape))}), "
                                  f"right after a {previous.type}: the other axes stay apart", f"insert Flatten before {path}",
                            action={"op": "insert_before", "path": path, "nodes": [{"type": "Flatten"}]}))
        out_dtype = spec.output_dtype or dtype
        row.status, row.output_shape, row.dtype = "ok", out, out_dtype
        row.params += params
        row.flops += flops
        self.trainable += trainable
        inst = Instance(path, node, spec, values, shape, out, out_dtype, params, flops, tied=tied)
        self.leaves[path] = inst
        return inst, out, out_dtype

    def flatten_in_the_way(self, spec: LayerSpec, path: str, issue: Issue) -> Issue:
        """A sequence layer fed by a Flatten of an image or a (C, L) signal: the fix replaces that Flatten
        (which threw the steps away) instead of inserting more layers after it."""
        if not (spec.family in ("recurrent", "attention") or spec.type in ("SequencePool", "PositionalEncoding")):
            return issue
        parts = parse_path(path)
        if not parts or not isinstance(parts[-1], int) or parts[-1] == 0:
            return issue
        before = format_path([*parts[:-1], parts[-1] - 1])
        flat = self.leaves.get(before)
        if flat is None or flat.spec.type != "Flatten" or len(flat.out_shape) != 1:
            return issue
        if len(flat.in_shape) == 3:
            c, h, w = flat.in_shape
            nodes = [{"type": "Flatten", "start_dim": 2}, {"type": "Permute", "dims": [0, 2, 1]}]
            how, steps = "Flatten(start_dim=2) and Permute(dims=[0, 2, 1])", f"a sequence of {h * w} steps of {c} features"
        elif len(flat.in_shape) == 2:
            c, n = flat.in_shape
            nodes = [{"type": "Permute", "dims": [0, 2, 1]}]
            how, steps = "Permute(dims=[0, 2, 1])", f"{n} steps of {c} features"
        else:
            return issue
        return Issue(path, issue.message, f"replace the Flatten at {before} with {how}: {steps}",
                     action={"op": "replace", "path": before, "nodes": nodes})

    def warn(self, issue: Issue) -> None:
        if issue not in self.warnings:
            self.warnings.append(issue)

    def tie(self, spec: LayerSpec, values, path: str, shape: Shape, out: Shape) -> tuple[str | None, Issue | None]:
        """The Embedding a layer's `tie` parameter names, or why it cannot share that weight."""
        where, target = f"{path}.{spec.tie}", values[spec.tie]
        embeddings = [p for p, i in self.leaves.items() if i.spec.type == "Embedding"]
        offer = f"set it to {' or '.join(embeddings[:4])}" if embeddings else "add an Embedding before it, or clear it"
        try:
            parts = parse_path(target)
            canonical = format_path(parts)
        except ValueError:
            return None, Issue(where, f"{target!r} is not a path like layers[0]", offer)
        emb = self.leaves.get(canonical)
        if emb is None or emb.spec.type != "Embedding":
            return None, Issue(where, f"{target} is not an Embedding earlier in the design", offer)
        for k in range(1, len(parts)):
            outer = self.rows.get(format_path(parts[:k])) if isinstance(parts[k - 1], int) else None
            if outer is not None and outer.type == "Repeat":
                return None, Issue(where, f"{target} is inside a Repeat, whose copies each have their own weight",
                                   "move the Embedding out of the Repeat")
        n, d = emb.values["num_embeddings"], emb.values["embedding_dim"]
        if out[-1] != n:
            return None, Issue(path, f"tied to {canonical}, out_features must equal its num_embeddings {n}, "
                                     f"not {out[-1]}", f"set out_features to {n}",
                               action={"op": "set", "path": path, "key": "out_features", "value": n})
        if shape[-1] != d:
            return None, Issue(path, f"tied to {canonical}, it must receive {d} features (its embedding_dim), "
                                     f"not {shape[-1]}", f"make the layer before it give {d} features")
        return canonical, None

    def walk_block(self, node, spec: LayerSpec, values, path, shape, dtype, depth, row: NodeInfo):
        inst = Instance(path, node, spec, values, shape, shape, dtype)
        out, out_dtype = block_rule(spec.type).walk(self, node, inst, values, path, shape, dtype, depth, row)
        if out is None:
            return None, None, None
        inst.out_shape, inst.dtype = out, out_dtype
        row.status, row.output_shape, row.dtype = "ok", out, out_dtype
        block_params = _sum_tree(inst, "params")
        row.params, row.flops = block_params, _sum_tree(inst, "flops")
        inst.params, inst.flops = block_params, row.flops
        return inst, out, out_dtype

    def walk_repeat(self, node, inst: Instance, times: int, path, shape, dtype, depth):
        """Copies in a row; once a copy's input repeats the previous one's, the rest are the same again."""
        body = node.get("body", [])
        prev_in = None
        body_rows: list[NodeInfo] | None = None  # known after the first copy (every body row exists then)
        for k in range(times):
            if (shape, dtype) == prev_in and inst.copies:
                remaining = times - k
                for r in body_rows or ():
                    per_copy = r._last_copy  # type: ignore[attr-defined]
                    r.params += per_copy[0] * remaining
                    r.flops += per_copy[1] * remaining
                    self.walks[r.path] = self.walks.get(r.path, 0) + per_copy[2] * remaining
                    r.copies = max(1, self.walks[r.path])
                self.trainable += _sum_list(inst.copies[-1], "params") * remaining
                inst.copies.extend([inst.copies[-1]] * remaining)
                break
            if k and self.copy_walks > MAX_COPY_WALKS:
                self.fail(self.rows[path], Issue(
                    f"{path}.times", f"Repeat × {times:,}: its copies get a new input shape each time, so each is "
                    f"checked apart, and past {MAX_COPY_WALKS:,} such layer checks the analysis stops (at copy {k + 1:,})",
                    "lower times, or make the body keep its input shape"))
                return None, dtype
            rows = body_rows if body_rows is not None else self._body_rows(path)
            before = {r.path: (r.params, r.flops, self.walks.get(r.path, 0)) for r in rows}
            walked = self.walked
            copy_insts, out, out_dtype = self.walk_list(body, f"{path}.body", shape, dtype, depth + 1)
            if k:
                self.copy_walks += self.walked - walked
            if body_rows is None:
                body_rows = self._body_rows(path)
            for r in body_rows:
                p0, f0, w0 = before.get(r.path, (0, 0, 0))
                w = self.walks.get(r.path, 0)
                r._last_copy = (r.params - p0, r.flops - f0, w - w0)  # type: ignore[attr-defined]
                r.copies = max(1, w)
            if out is None:
                return None, dtype
            inst.copies.append(copy_insts)
            prev_in = (shape, dtype)
            shape, dtype = out, out_dtype
        return shape, dtype

    def _body_rows(self, path: str) -> list[NodeInfo]:
        prefix = f"{path}.body["
        return [r for p, r in self.rows.items() if p.startswith(prefix)]


def _sum_list(instances: list[Instance], attr: str) -> int:
    return sum(getattr(i, attr) for i in instances)


def _sum_tree(inst: Instance, attr: str) -> int:
    if inst.copies:
        return sum(_sum_list(c, attr) for c in inst.copies)
    if inst.slots:
        return sum(_sum_list(s, attr) for s in inst.slots.values())
    return getattr(inst, attr)


_SPATIAL = ("convolution", "pooling")
_ELEMENTWISE = ("activation", "normalisation", "regularisation")
_RANK_WORDS = {1: "features (F)", 2: "a sequence or channels × length", 3: "an image (C, H, W)", 4: "a volume (C, D, H, W)"}


def _input_issue(spec: LayerSpec, path: str, shape: Shape, dtype: str) -> Issue | None:
    """Wrong rank or dtype for this layer, with the fix that usually helps."""
    received = size_text(list(shape))
    if spec.input_dtype == "int" and dtype != _INT:
        return Issue(path, f"{spec.type} takes token ids (int64) but receives {dtype} values {received}",
                     "set the input dtype to int64 and feed token ids, or remove the Embedding",
                     action={"op": "set_input", "dtype": _INT} if path.startswith("layers[0]") else None)
    if spec.input_dtype == "float" and dtype == _INT:
        return Issue(path, f"{spec.type} needs float values but receives token ids (int64) {received}",
                     f"insert an Embedding before {path}",
                     action={"op": "insert_before", "path": path, "nodes": [{"type": "Embedding", "num_embeddings": 1000, "embedding_dim": 64}]})
    if not spec.ranks or len(shape) in spec.ranks:
        return None
    message = f"{spec.type} expects {spec.expects} but receives {_RANK_WORDS.get(len(shape), f'{len(shape)} dims')} {received}"
    want = set(spec.ranks)
    if want == {1, 2} and len(shape) >= 3:
        return Issue(path, message, f"insert Flatten before {path}",
                     action={"op": "insert_before", "path": path, "nodes": [{"type": "Flatten"}]})
    if want == {2} and (spec.family in ("recurrent", "attention") or spec.type in ("SequencePool", "PositionalEncoding")):
        if len(shape) == 3:
            c, h, w = shape
            nodes = [{"type": "Flatten", "start_dim": 2}, {"type": "Permute", "dims": [0, 2, 1]}]
            return Issue(path, message,
                         f"insert Flatten(start_dim=2) and Permute(dims=[0, 2, 1]) before {path}: the image becomes "
                         f"a sequence of {h * w} steps of {c} features",
                         action={"op": "insert_before", "path": path, "nodes": nodes})
        if len(shape) == 1:
            return Issue(path, message,
                         f"insert Unflatten(dim=1, unflattened_size=[{shape[0]}, 1]) before {path}: "
                         f"{shape[0]} steps of 1 feature",
                         action={"op": "insert_before", "path": path,
                                 "nodes": [{"type": "Unflatten", "dim": 1, "unflattened_size": [shape[0], 1]}]})
    if want == {3} and len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return Issue(path, message, f"insert Unflatten(dim=1, unflattened_size=[1, {side}, {side}]) before {path}",
                         action={"op": "insert_before", "path": path,
                                 "nodes": [{"type": "Unflatten", "dim": 1, "unflattened_size": [1, side, side]}]})
    return Issue(path, message, f"reshape the tensor before {path} to {spec.expects}")


# --- the entry point ------------------------------------------------------------------------------------


def analyze(design: dict[str, Any]) -> Analysis:
    """Analyse a design. Never raises on a design's content: problems come back as errors."""
    walk = _Walk()
    errors = check_document(design) if isinstance(design, dict) else [Issue("", "a design is a JSON object", None)]
    limits = limit_issues(design) if isinstance(design, dict) else []
    walk.at_node = {i.path.removesuffix(".times"): i for i in limits if i.path.endswith(".times")}
    errors += [i for i in limits if not i.path.endswith(".times")]
    walk.errors.extend(errors)
    inp = design.get("input") if isinstance(design, dict) else None
    shape = dtype = None
    if not any(e.path.startswith("input") for e in errors) and isinstance(inp, dict):
        shape, dtype = tuple(inp["shape"]), inp.get("dtype", _FLOAT)
    layers = design.get("layers") if isinstance(design, dict) else None
    tree = out = out_dtype = None
    if isinstance(layers, list) and not any(e.path == "layers" for e in errors):
        tree, out, out_dtype = walk.walk_list(layers, "layers", shape, dtype, 0)
    walk.errors.extend(i for i in walk.at_node.values() if i not in walk.errors)  # a Repeat the walk never reached
    rows = list(walk.rows.values())
    total_params = sum(r.params for r in rows if r.depth == 0)
    total_flops = sum(r.flops for r in rows if r.depth == 0)
    _check_task_output(design, out, walk)
    valid = not walk.errors
    return Analysis(
        valid=valid,
        input_shape=shape,
        input_dtype=dtype,
        output_shape=out if valid or out is not None else None,
        output_dtype=out_dtype,
        params=total_params,
        trainable_params=walk.trainable,
        flops=total_flops,
        rows=rows,
        errors=walk.errors,
        tree=tree if valid else None,
        warnings=walk.warnings,
    )


def _check_task_output(design: Any, out: Shape | None, walk: _Walk) -> None:
    """A classification design must end in (num_classes,) logits."""
    task = design.get("task") if isinstance(design, dict) else None
    if out is None or not isinstance(task, dict) or task.get("kind") != "classification":
        return
    k = task.get("num_classes")
    if not isinstance(k, int) or out == (k,):
        return
    n = len(design.get("layers", []))
    if len(out) == 1:
        fix = f"end with Linear(out_features={k})"
        action = {"op": "insert_before", "path": f"layers[{n}]", "nodes": [{"type": "Linear", "out_features": k}]}
        last = design["layers"][-1] if design.get("layers") else None
        if isinstance(last, dict) and last.get("type") == "Linear":
            fix = f"set the last Linear's out_features to {k}"
            action = {"op": "set", "path": f"layers[{n - 1}]", "key": "out_features", "value": k}
    elif flatten := next((w for w in walk.warnings if w.action and w.action.get("nodes") == [{"type": "Flatten"}]), None):
        fix, action = flatten.fix, flatten.action  # the Linear that kept the image's axes apart is the cause
    else:
        fix, action = f"insert Flatten and Linear(out_features={k}) at the end", {
            "op": "insert_before", "path": f"layers[{n}]",
            "nodes": [{"type": "Flatten"}, {"type": "Linear", "out_features": k}]}
    walk.errors.append(Issue("task", f"the task has {k} classes but the network gives {size_text(list(out))}", fix, action))
