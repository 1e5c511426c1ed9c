"""PyTorch -> design: the module tree where it is structure (nn.Sequential, the designer's blocks, catalogue
layers), a torch.fx trace where a forward is code.

A traced forward is read as a series-parallel graph: a value used once flows into the next layer; a
value used by several operations forks, and the forks meet again where every path from the value
passes (its immediate post-dominator): `x + f(x)` is a Residual, torch.cat of the branches a Parallel
concat, a product a Parallel mul. Shapes come from one real forward pass on a small example.
"""

from __future__ import annotations

import importlib.util
import inspect
import operator
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from designer.importing.mapping import (
    COPIES,
    FILL,
    ImportResult,
    Problem,
    Unmapped,
    designer_class,
    finish,
    module_filler,
    module_node,
    owner_of,
    spec_of_module,
    tidy,
    without_names,
)

BATCH = 3  # the example's batch: an odd size, unlikely to be mistaken for a feature size


class SourceError(Exception):
    """The source cannot be read: no such file or class, or it fails to load or build."""


# --- loading file.py:ClassName -------------------------------------------------------------------------------------


def load_class(source: str):
    """The class `ClassName` of `file.py:ClassName`, imported from the file (this runs the file's code)."""
    path_text, sep, class_name = source.rpartition(":")
    if not sep or not path_text or not class_name:
        raise SourceError(f"{source!r}: give file.py:ClassName (or a .onnx file)")
    path = Path(path_text)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    module_name = f"_netwright_import_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SourceError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is "cannot be read"
        raise SourceError(f"{path}: loading it failed: {type(exc).__name__}: {exc}") from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise SourceError(f"{path} defines no class {class_name}")
    return cls


def build_instance(cls):
    from torch import nn

    try:
        model = cls()
    except Exception as exc:
        raise SourceError(f"{cls.__name__}() failed (the class is built with no arguments): "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise SourceError(f"{cls.__name__} is not a torch.nn.Module")
    return model


_HEADER = re.compile(r"Input: \(N, ([0-9, ]+)\)( token ids)?")


def shape_from_docstring(cls) -> tuple[list[int], str] | None:
    """An exported model.py says its input in the module docstring: "Input: (N, 3, 32, 32) float32"."""
    doc = inspect.getmodule(cls).__doc__ if inspect.getmodule(cls) else None
    m = _HEADER.search(doc or "")
    if not m:
        return None
    return [int(s) for s in m.group(1).split(",") if s.strip()], "int64" if m.group(2) else "float32"


# --- the converter ---------------------------------------------------------------------------------------------------


def _is_sequential(m) -> bool:
    from torch import nn

    return type(m) is nn.Sequential


def _leaf(m) -> bool:
    from torch import nn

    if _is_sequential(m) or designer_class(type(m)) is not None or spec_of_module(m) is not None:
        return True
    cls = type(m)
    return cls.__module__.startswith("torch.nn") and cls is not nn.Module and not isinstance(m, nn.ModuleList)


def _name_of(qualname: str) -> str | None:
    last = qualname.rsplit(".", 1)[-1]
    return None if not last or last.isdigit() else last


class _Converter:
    def __init__(self, root, example):
        import torch

        self.root = root
        self.records: dict[int, dict] = {}
        self.problems: list[Problem] = []
        self.embeddings: dict[int, dict] = {}
        self.ties: list[tuple[dict, dict]] = []
        hooks = []

        def hook(module, args, output):
            rec = self.records.setdefault(id(module), {"calls": 0})
            rec["calls"] += 1
            if rec["calls"] == 1:
                rec["args"] = args
                rec["output"] = output

        for m in root.modules():
            hooks.append(m.register_forward_hook(hook))
        try:
            with torch.no_grad():
                self.output = root(example)
        finally:
            for h in hooks:
                h.remove()

    def fail(self, where: str, what: str) -> None:
        self.problems.append(Problem(where or "model", what))

    def in_shape(self, module) -> tuple[int, ...]:
        rec = self.records.get(id(module))
        if rec is None:
            raise Unmapped("", "is never called by forward")
        return tuple(rec["args"][0].shape[1:])

    # ---- modules as structure
    def module_nodes(self, module, qualname: str) -> list[dict]:
        """The nodes of one module as it stands in a list of layers."""
        from torch import nn

        kind = designer_class(type(module))
        if _is_sequential(module):
            return [self.sequential(module, qualname)]
        if kind == "Residual":
            body = self.slot(module.body, f"{qualname}.body")
            shortcut = [] if isinstance(module.shortcut, nn.Identity) else self.slot(module.shortcut, f"{qualname}.shortcut")
            return [self._named({"type": "Residual", "body": body, "shortcut": shortcut}, qualname)]
        if kind == "Parallel":
            from designer.registry import get_spec

            branches = [self.slot(b, f"{qualname}.branches.{i}") for i, b in enumerate(module.branches)]
            values = tidy(get_spec("Parallel"), {"merge": module.merge, "dim": module.dim})
            return [self._named({"type": "Parallel", **values, "branches": branches}, qualname)]
        if spec_of_module(module) is not None:
            return [self.leaf(module, qualname)]
        if type(module).__module__.startswith("torch.nn"):
            raise Unmapped(qualname, f"{type(module).__name__} is not in the layer catalogue")
        found = self.attention(module)
        if found is not None:
            return [self._named(dict(n), qualname) if n["type"] == "Attention" else dict(n) for n in found]
        return self.traced(module, qualname)

    def attention(self, module):
        """The nodes of a hand-written self-attention module (q, k, v projections, scaled_dot_product_attention,
        an output projection), or None; cached per module."""
        cache = self.__dict__.setdefault("_attention", {})
        if id(module) not in cache:
            from designer.importing.attention import recognise

            cache[id(module)] = None
            rec = self.records.get(id(module))
            if rec is not None and not _leaf(module) and not type(module).__module__.startswith("torch.nn"):
                try:
                    cache[id(module)] = recognise(module, rec["args"], rec["output"])
                except Exception:
                    cache[id(module)] = None
        return cache[id(module)]

    def slot(self, module, qualname: str) -> list[dict]:
        """A block's slot: an nn.Sequential's layers, spliced."""
        if _is_sequential(module):
            return self.children(module, qualname)
        return self.module_nodes(module, qualname)

    def children(self, seq, qualname: str) -> list[dict]:
        out = []
        for name, child in seq.named_children():
            child_name = f"{qualname}.{name}" if qualname else name
            try:
                out.extend(self.module_nodes(child, child_name))
            except Unmapped as exc:
                self.fail(exc.where or child_name, exc.what)
        return out

    def sequential(self, seq, qualname: str) -> dict:
        kids = list(seq.children())
        if kids and all(_is_sequential(k) for k in kids):  # equal copies: a Repeat (see mapping.canonical)
            copies = [self.children(k, f"{qualname}.{i}") for i, k in enumerate(kids)]
            shapes = [without_names(c) for c in copies]
            if all(s == shapes[0] for s in shapes):
                from designer.importing.mapping import _fillers

                return self._named({"type": "Repeat", "times": len(kids), "body": copies[0],
                                    COPIES: [_fillers(c) for c in copies]}, qualname)
        return self._named({"type": "Sequential", "layers": self.children(seq, qualname)}, qualname)

    @staticmethod
    def _named(node: dict, qualname: str) -> dict:
        name = _name_of(qualname)
        if name:
            node = {"type": node["type"], "name": name, **{k: v for k, v in node.items() if k != "type"}}
        return node

    def leaf(self, module, qualname: str) -> dict:
        rec = self.records.get(id(module))
        if rec is None:
            raise Unmapped(qualname, f"{type(module).__name__} is never called by forward")
        if rec["calls"] > 1 and any(True for _ in module.parameters()):
            raise Unmapped(qualname, f"{type(module).__name__} is called {rec['calls']} times with the same weights; "
                                     "a design gives every layer its own")
        try:
            node = module_node(module, self.in_shape(module), qualname)
        except Unmapped as exc:
            raise Unmapped(exc.where or qualname, exc.what) from None
        node = self._named(node, qualname)
        node[FILL] = module_filler(module)
        weight = getattr(module, "weight", None)
        if node["type"] == "Embedding":
            self.embeddings[id(weight)] = node
        elif node["type"] == "Linear" and id(weight) in self.embeddings:
            self.ties.append((node, self.embeddings[id(weight)]))
        return node

    # ---- forward code, traced
    def traced(self, module, qualname: str) -> list[dict]:
        import torch.fx as fx
        from torch.fx.passes.shape_prop import ShapeProp

        rec = self.records.get(id(module))
        if rec is None:
            raise Unmapped(qualname or "model", f"{type(module).__name__} is never called by forward")
        where = qualname or "model"

        conv = self
        for sub in module.modules():  # before tracing: a trace inside a trace does not work
            if sub is not module:
                self.attention(sub)

        class Tracer(fx.Tracer):
            def is_leaf_module(self, m, name):
                return _leaf(m) or conv.attention(m) is not None

        try:
            graph = Tracer().trace(module)
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [""])[0][:200]
            raise Unmapped(where, f"{type(module).__name__}.forward cannot be traced ({type(exc).__name__}: {reason}); "
                                  "data-dependent control flow has no design equivalent") from None
        gm = fx.GraphModule(module, graph)
        gm.graph.eliminate_dead_code()
        gm.recompile()
        try:
            ShapeProp(gm).propagate(*rec["args"])
        except Exception as exc:
            raise Unmapped(where, f"{type(module).__name__}.forward cannot be replayed: {type(exc).__name__}: {exc}") from None
        return _GraphWalk(self, gm, qualname).run()


# --- one traced graph -------------------------------------------------------------------------------------------------


def _target_name(n) -> str:
    t = n.target
    if isinstance(t, str):
        return t
    return getattr(t, "__name__", str(t))


_ADD = {operator.add, operator.iadd}
_MUL = {operator.mul, operator.imul}
_IDENTITY_METHODS = {"contiguous", "clone", "expand_as", "expand"}  # expand: the product broadcasts anyway
_SHAPE_ONLY_OTHER = {"expand_as", "view_as", "reshape_as", "type_as"}


@cache
def _functional_specs() -> dict[str, Any]:
    """Catalogue layers without learned weights or inferred sizes, by name as functions spell them
    ("leakyrelu" for F.leaky_relu, "maxpool2d" for F.max_pool2d)."""
    from designer.registry import list_specs

    out = {}
    for spec in list_specs():
        if spec.is_block or spec.infer is not None or spec.type in ("PReLU",) or spec.module_source != "nn":
            continue
        out[spec.type.lower()] = spec
    return out


def _fn_key(name: str) -> str:
    return name.lower().replace("_", "")


class _GraphWalk:
    def __init__(self, conv: _Converter, gm, qualname: str):
        self.conv, self.gm, self.qualname = conv, gm, qualname
        self.nodes = list(gm.graph.nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        where = qualname or "model"
        if len(placeholders) != 1:
            raise Unmapped(where, f"forward takes {len(placeholders)} inputs; a design has one")
        self.x = placeholders[0]
        self.out = next(n for n in self.nodes if n.op == "output")
        dep = {self.x}  # computed from the input's values (its shape alone does not count: arange(x.size(1)))
        for n in self.nodes:
            if n is not self.x and n.op != "output" and any(
                    a in dep and ("tensor_meta" in a.meta or a.op == "placeholder") for a in n.all_input_nodes):
                dep.add(n)
        self.dep = dep
        self.anc: dict[Any, int] = {}
        for n in self.nodes:
            bits = 1 << self.index[n]
            for a in self.data_args(n):
                bits |= self.anc[a]
            self.anc[n] = bits
        everything = (1 << len(self.nodes)) - 1
        self.pdom: dict[Any, int] = {}
        for n in reversed(self.nodes):
            users = self.data_users(n)
            if n is self.out:
                self.pdom[n] = 1 << self.index[n]
            elif not users:
                self.pdom[n] = everything
            else:
                common = everything
                for u in users:
                    common &= self.pdom[u]
                self.pdom[n] = common | (1 << self.index[n])

    # ---- graph helpers
    def is_data(self, n) -> bool:
        return n in self.dep and "tensor_meta" in n.meta

    def data_args(self, n) -> list:
        import torch.fx as fx

        found: list = []
        if n.op == "call_method" and n.target in _SHAPE_ONLY_OTHER:  # y.expand_as(x): x gives only a shape
            fx.node.map_arg(n.args[0], lambda a: found.append(a) or a)
            return [a for a in found if self.is_data(a)]
        fx.node.map_arg((n.args, n.kwargs), lambda a: found.append(a) or a)
        return [a for a in found if self.is_data(a)]

    def data_users(self, n) -> list:
        return [u for u in n.users if (self.is_data(u) or u.op == "output") and any(a is n for a in self.data_args(u))]

    def shape(self, n) -> tuple[int, ...]:
        meta = n.meta["tensor_meta"]
        if not hasattr(meta, "shape"):
            raise Unmapped(self.where(n), f"{_target_name(n)} gives several tensors; a layer gives one")
        return tuple(meta.shape)

    def where(self, n) -> str:
        stack = n.meta.get("nn_module_stack") or {}
        inner = list(stack)[-1] if stack else ""
        if n.op == "call_module":
            inner = n.target
        path = ".".join(p for p in (self.qualname, inner) if p)
        return f"{path or 'model'}: {n.name} ({n.op} {_target_name(n)})"

    def full(self, target: str) -> str:
        return f"{self.qualname}.{target}" if self.qualname else target

    # ---- the walk
    def run(self) -> list[dict]:
        result = self.out.args[0]
        if not hasattr(result, "op") or not self.is_data(result):
            raise Unmapped(self.qualname or "model", "forward does not return one tensor computed from its input")
        return self.walk(self.x, result)

    def walk(self, cur, end) -> list[dict]:
        seq: list[dict] = []
        while cur is not end:
            users = [u for u in self.data_users(cur) if self.anc[end] >> self.index[u] & 1]
            unique = list(dict.fromkeys(users))
            if not unique:
                raise Unmapped(self.where(end), "is not computed from the block's input")
            if len(unique) == 1:
                user = unique[0]
                try:
                    made, cur = self.op(user, cur)
                    seq.extend(self._owned(made, user))
                except Unmapped as exc:
                    self.conv.fail(exc.where, exc.what)
                    cur = user
                continue
            merge = self.merge_point(cur)
            if merge is None or not (self.anc[end] >> self.index[merge] & 1):
                raise Unmapped(self.where(cur), "forks into paths that do not meet again inside the block")
            try:
                seq.extend(self._owned(self.merge(cur, merge), merge))
            except Unmapped as exc:
                self.conv.fail(exc.where, exc.what)
            cur = merge
        return _fold_repeats(seq)

    def _owned(self, made: list[dict], n) -> list[dict]:
        stack = n.meta.get("nn_module_stack") or {}
        path = n.target if n.op == "call_module" else (list(stack)[-1] if stack else "")
        owner = owner_of(self.full(path)) if path else None
        for node in made:
            node.setdefault("__owner__", owner)
        return made

    def merge_point(self, cur):
        rest = self.pdom[cur] & ~(1 << self.index[cur])
        if not rest:
            return None
        low = (rest & -rest).bit_length() - 1
        return self.nodes[low]

    def merge(self, cur, m) -> list[dict]:
        ends = self.data_args(m)
        for e in ends:
            if not (self.anc[e] >> self.index[cur] & 1):
                raise Unmapped(self.where(m), "combines a value from outside the block; a design's blocks see only "
                                              "their own input")
        regions = [self.anc[e] & ~self.anc[cur] for e in ends]
        seen = 0
        for r in regions:
            if r & seen:
                raise Unmapped(self.where(m), "its branches share intermediate values")
            seen |= r
        inside = seen | (1 << self.index[cur])
        for i, n in enumerate(self.nodes):
            if seen >> i & 1:
                for a in self.data_args(n):
                    if not (inside >> self.index[a] & 1):
                        raise Unmapped(self.where(n), "takes a value from outside its block")
        kind = self._merge_kind(m)
        if kind is None:
            raise Unmapped(self.where(m), "combines several values and is not an addition, a product or torch.cat")
        branches = [self.walk(cur, e) for e in ends]
        return [self._merged(kind, m, branches)]

    def _merge_kind(self, m) -> str | None:
        name = _target_name(m)
        if m.op == "call_function" and m.target in _ADD or name in ("add", "add_") and not m.kwargs.get("alpha"):
            return "add"
        if m.op == "call_function" and m.target in _MUL or name in ("mul", "mul_"):
            return "mul"
        if name in ("cat", "concat", "concatenate"):
            return "concat"
        return None

    def _merged(self, kind: str, m, branches: list[list[dict]]) -> dict:
        from designer.registry import get_spec

        if kind == "add" and len(branches) == 2 and (branches[0] or branches[1]):
            body, shortcut = (branches[1], branches[0]) if not branches[0] else (branches[0], branches[1])
            return {"type": "Residual", "body": body, "shortcut": shortcut}
        values: dict[str, Any] = {"merge": kind}
        if kind == "concat":
            dim = m.kwargs.get("dim", m.args[1] if len(m.args) > 1 else 0)
            rank = len(self.shape(m))
            if dim % rank == 0:
                raise Unmapped(self.where(m), "concatenates along the batch dimension")
            values["dim"] = dim
        return {"type": "Parallel", **tidy(get_spec("Parallel"), values), "branches": branches}

    # ---- one operation on the current value
    def op(self, n, cur) -> tuple[list[dict], Any]:
        if n.op == "call_module":
            return self.call_module(n, cur)
        if n.op == "output":
            raise Unmapped(self.where(n), "unexpected output")
        name = _target_name(n)
        args = self.data_args(n)
        if len(args) > 1:  # x + x, x * x, torch.cat([x, x])
            kind = self._merge_kind(n)
            if kind is None:
                raise Unmapped(self.where(n), f"{name} of the same value twice has no layer")
            return [self._merged(kind, n, [[] for _ in args])], n
        if n.op == "call_method" and name in _IDENTITY_METHODS:
            return [], n
        if self._merge_kind(n) == "add":
            return self.add_constant(n, cur), n
        made = self.shape_op(n, cur, name)
        if made is not None:
            return made
        return [self.functional(n, name)], n

    def call_module(self, n, cur) -> tuple[list[dict], Any]:
        from torch import nn

        sub = self.gm.get_submodule(n.target)
        qual = self.full(n.target)
        if len(self.data_args(n)) != 1 or (n.args and n.args[0] is not cur):
            if isinstance(sub, nn.MultiheadAttention):
                return self.attention_call(n, sub, qual, cur)
            raise Unmapped(self.where(n), f"{type(sub).__name__} takes more than the one input a layer has")
        if isinstance(sub, (nn.RNN, nn.LSTM, nn.GRU)):
            return self.recurrent(n, sub, qual)
        return self.conv.module_nodes(sub, qual), n

    def attention_call(self, n, sub, qual, cur):
        args = list(n.args[:3])
        if len(args) != 3 or any(a is not cur for a in args) or any(
                v is not None and k not in ("need_weights", "average_attn_weights") for k, v in n.kwargs.items()):
            raise Unmapped(self.where(n), "MultiheadAttention other than self-attention without a mask has no layer")
        node = self.conv.leaf(sub, qual)
        users = list(n.users)
        if len(users) != 1 or _target_name(users[0]) != "getitem" or users[0].args[1] != 0:
            raise Unmapped(self.where(n), "only the attention output (index 0) of MultiheadAttention can be used")
        return [node], users[0]

    def recurrent(self, n, sub, qual):
        node = self.conv.leaf(sub, qual)
        users = list(n.users)
        if len(users) != 1 or _target_name(users[0]) != "getitem":
            raise Unmapped(self.where(n), f"uses the outputs of {type(sub).__name__} in a way a design cannot")
        item = users[0]
        if item.args[1] == 0:
            after = self._only_user(item)
            if after is not None and not sub.bidirectional and self._last_step(after, item):
                node["return_sequences"] = False
                return [node], after
            return [node], item
        if item.args[1] == 1 and not sub.bidirectional:
            h = item
            if isinstance(sub, nn_lstm()):
                h = self._only_user(item)
                if h is None or _target_name(h) != "getitem" or h.args[1] != 0:
                    raise Unmapped(self.where(item), "of an LSTM state only h_n[-1] maps to a layer")
            last = self._only_user(h)
            if last is not None and _target_name(last) == "getitem" and last.args[1] == -1:
                node["return_sequences"] = False
                return [node], last
        raise Unmapped(self.where(item), f"uses the outputs of {type(sub).__name__} in a way a design cannot "
                                         "(the output sequence, its last step or h_n[-1] map)")

    def _only_user(self, n):
        users = list(n.users)
        return users[0] if len(users) == 1 else None

    @staticmethod
    def _is_slice_all(s) -> bool:
        return isinstance(s, slice) and s.start is None and s.stop is None and s.step is None

    def _last_step(self, n, src) -> bool:
        return self._step_index(n, src) == -1

    def _step_index(self, n, src) -> int | None:
        """x[:, k] (with trailing : or ...) on a (N, L, E) tensor -> k; else None."""
        if _target_name(n) != "getitem" or n.args[0] is not src or len(self.shape(src)) != 3:
            return None
        index = n.args[1]
        if not isinstance(index, tuple) or len(index) < 2 or not self._is_slice_all(index[0]):
            return None
        if not isinstance(index[1], int) or any(not (self._is_slice_all(i) or i is Ellipsis) for i in index[2:]):
            return None
        length = self.shape(src)[1]
        k = index[1]
        return -1 if k in (-1, length - 1) else (0 if k in (0, -length) else None)

    def add_constant(self, n, cur) -> list[dict]:
        """x + Embedding(arange(L)): a learned positional encoding."""
        from torch import nn

        others = [a for a in n.args if a is not cur]
        if len(others) == 1 and hasattr(others[0], "op") and others[0].op == "call_module":
            emb = self.gm.get_submodule(others[0].target)
            source = others[0].args[0] if others[0].args else None
            if (isinstance(emb, nn.Embedding) and hasattr(source, "op") and _target_name(source) == "arange"
                    and emb.embedding_dim == self.shape(cur)[-1] and len(self.shape(cur)) == 3):
                weight = emb.weight

                def fill(target, weight=weight):
                    import torch

                    with torch.no_grad():
                        target.table.copy_(weight)

                return [{"type": "PositionalEncoding", "name": others[0].target.rsplit(".", 1)[-1], "kind": "learned",
                         "max_len": emb.num_embeddings, FILL: fill}]
        raise Unmapped(self.where(n), "adds a value that is not computed from the input (only x + Embedding(arange(L)), "
                                      "a learned positional encoding, maps)")

    def shape_op(self, n, cur, name: str):
        rank_in = len(self.shape(cur))
        out = self.shape(n) if self.is_data(n) else None
        if name in ("view", "reshape", "unsqueeze", "squeeze", "flatten", "view_as", "reshape_as") and out is not None:
            if name == "flatten":
                return None  # the catalogue's Flatten, by the functional table
            if out[0] != self.shape(cur)[0]:
                raise Unmapped(self.where(n), f"reshapes the batch dimension ({list(self.shape(cur))} to {list(out)})")
            if len(out) == 2 and rank_in > 2:
                return [{"type": "Flatten"}], n
            return [{"type": "Reshape", "shape": list(out[1:])}], n
        if name in ("permute", "transpose", "swapaxes"):
            dims = self._dims(n, rank_in, name)
            if dims[0] != 0:
                raise Unmapped(self.where(n), "moves the batch dimension")
            return [{"type": "Permute", "dims": dims}], n
        if name in ("mean", "amax", "max") and n.op in ("call_method", "call_function"):
            return self.reduce(n, cur, name, rank_in)
        if name == "getitem":
            k = self._step_index(n, cur)
            if k is None:
                raise Unmapped(self.where(n), "indexing other than x[:, 0] or x[:, -1] of a sequence has no layer")
            return [{"type": "SequencePool", "mode": "last" if k == -1 else "first"}], n
        return None

    def _dims(self, n, rank: int, name: str) -> list[int]:
        rest = list(n.args[1:])
        if name == "permute":
            dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
            dims = n.kwargs.get("dims", dims)
            return [d % rank for d in dims]
        a = rest[0] if rest else n.kwargs.get("dim0")
        b = rest[1] if len(rest) > 1 else n.kwargs.get("dim1")
        dims = list(range(rank))
        dims[a % rank], dims[b % rank] = dims[b % rank], dims[a % rank]
        return dims

    def reduce(self, n, cur, name: str, rank: int):
        rest = list(n.args[1:])
        dim = n.kwargs.get("dim", rest[0] if rest else None)
        keepdim = n.kwargs.get("keepdim", rest[1] if len(rest) > 1 else False)
        if dim is None:
            raise Unmapped(self.where(n), f"{name} over every dimension reduces the batch too")
        dims = sorted(d % rank for d in (dim if isinstance(dim, (list, tuple)) else [dim]))
        advance = n
        if name == "max":
            item = self._only_user(n)
            if item is None or _target_name(item) != "getitem" or item.args[1] != 0:
                raise Unmapped(self.where(n), "only the values of max(dim) map to a layer")
            advance = item
        if rank == 3 and dims == [1] and not keepdim:
            return [{"type": "SequencePool", "mode": "mean" if name == "mean" else "max"}], advance
        spatial = list(range(2, rank))
        if dims == spatial and rank in (3, 4):
            pool = f"Adaptive{'Avg' if name == 'mean' else 'Max'}Pool{rank - 2}d"
            made = [{"type": pool, "output_size": 1}]
            if not keepdim:
                made.append({"type": "Flatten"})
            return made, advance
        raise Unmapped(self.where(n), f"{name} over dims {dims} of a {rank}-D tensor has no layer "
                                      "(the sequence axis of (N, L, E), or the spatial axes of images, map)")

    def functional(self, n, name: str) -> dict:
        import torch
        from torch.fx.operator_schemas import normalize_function

        spec = _functional_specs().get(_fn_key(name))
        if spec is None:
            raise Unmapped(self.where(n), f"{name} has no layer in the catalogue")
        target = n.target
        if n.op == "call_method":
            target = getattr(torch, name, None) or getattr(torch.nn.functional, name, None)
        kwargs = None
        if target is not None:
            try:
                bound = normalize_function(target, n.args, n.kwargs, normalize_to_only_use_kwargs=True)
            except Exception:
                bound = None
            if bound is not None:
                kwargs = dict(bound.kwargs)
            else:
                try:
                    sig = inspect.signature(target)
                    kwargs = dict(sig.bind(*n.args, **n.kwargs).arguments)
                except (TypeError, ValueError):
                    kwargs = None
        if kwargs is None:
            if len(n.args) > 1 or n.kwargs:
                raise Unmapped(self.where(n), f"{name}: its arguments could not be read")
            kwargs = {}
        values = {}
        for key, value in kwargs.items():
            if key in ("input", "self", "inplace", "_stacklevel"):
                continue
            if key == "training":
                continue
            if spec.param(key) is not None:
                values[key] = list(value) if isinstance(value, tuple) else value
            elif value not in (None, False):
                raise Unmapped(self.where(n), f"{name} with {key}={value!r} has no layer equivalent")
        if spec.type in ("Softmax", "LogSoftmax") and values.get("dim") is None:
            raise Unmapped(self.where(n), f"{name} without dim (PyTorch's implicit choice): give dim")
        node = {"type": spec.type, **tidy(spec, values)}
        for p in spec.params:
            if p.name in node and p.check(node[p.name]):
                raise Unmapped(self.where(n), f"{spec.type} {p.name} {p.check(node[p.name])}")
        return node


def nn_lstm():
    from torch import nn

    return nn.LSTM


def _fold_repeats(seq: list[dict]) -> list[dict]:
    """Runs of the same nodes from consecutive entries of one ModuleList (h.0, h.1, ...) become Repeat × N."""
    from designer.importing.mapping import _fillers

    groups: list[tuple[str | None, list[dict]]] = []
    for node in seq:
        owner = node.get("__owner__")
        if groups and owner is not None and groups[-1][0] == owner:
            groups[-1][1].append(node)
        else:
            groups.append((owner, [node]))
    out: list[dict] = []
    i = 0
    while i < len(groups):
        owner, nodes = groups[i]
        container = owner.rsplit(".", 1)[0] if owner and "." in owner else ("" if owner else None)
        j = i + 1
        if container is not None:
            ref = without_names(nodes)
            while j < len(groups):
                o2, n2 = groups[j]
                c2 = o2.rsplit(".", 1)[0] if o2 and "." in o2 else ("" if o2 else None)
                if c2 != container or without_names(n2) != ref:
                    break
                j += 1
        if j - i >= 2:
            copies = [g[1] for g in groups[i:j]]
            node = {"type": "Repeat", "times": j - i, "body": copies[0], COPIES: [_fillers(c) for c in copies]}
            name = container.rsplit(".", 1)[-1] if container else None
            if name:
                node = {"type": "Repeat", "name": name, **{k: v for k, v in node.items() if k != "type"}}
            out.append(node)
        else:
            for g in groups[i:j]:
                out.extend(g[1])
        i = j
    return out


# --- the entry point ------------------------------------------------------------------------------------------------


def import_torch_model(model, input_shape: list[int], dtype: str, name: str = "Imported") -> ImportResult:
    """The design of a built nn.Module for one sample of `input_shape`; problems name each unmapped part."""
    import torch

    model.eval()
    torch_dtype = torch.int64 if dtype == "int64" else torch.float32
    gen = torch.Generator().manual_seed(0)
    if dtype == "int64":
        example = torch.zeros((BATCH, *input_shape), dtype=torch_dtype)
    else:
        example = torch.randn((BATCH, *input_shape), generator=gen)
    try:
        conv = _Converter(model, example)
    except Exception as exc:
        return ImportResult(None, None, [Problem("model", f"forward on an input of {[BATCH, *input_shape]} {dtype} "
                                                          f"failed: {type(exc).__name__}: {exc}")])
    try:
        if _is_sequential(model):
            nodes = conv.children(model, "")
        else:
            nodes = conv.module_nodes(model, "") if _leaf(model) else conv.traced(model, "")
    except Unmapped as exc:
        conv.fail(exc.where, exc.what)
        nodes = []
    if conv.problems:
        return ImportResult(None, None, _unique(conv.problems))
    params = sum(p.numel() for p in model.parameters())
    result = finish(name, input_shape, dtype, nodes, params, conv.ties)
    if result.ok and result.weights is not None:
        problem = _compare(model, result, example, conv.output)
        if problem:
            return ImportResult(None, None, [problem])
    return result


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out


def _compare(model, result: ImportResult, example, expected) -> Problem | None:
    """The design with the source's weights must compute what the source does."""
    import torch

    from designer.build import build_model

    design_model = build_model(result.design)
    design_model.load_state_dict(result.weights)
    design_model.eval()
    with torch.no_grad():
        got = design_model(example)
    if not isinstance(expected, torch.Tensor):
        return Problem("model", "forward does not return one tensor")
    if got.shape != expected.shape:
        return Problem("model", f"the design gives {list(got.shape[1:])} where the source gives {list(expected.shape[1:])}")
    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-4):
        diff = (got - expected).abs().max().item()
        return Problem("model", f"the design computes different outputs from the source (largest difference {diff:.3g})")
    return None


def import_python(source: str, input_shape: list[int] | None, dtype: str | None) -> ImportResult:
    """`file.py:ClassName` -> ImportResult. Raises SourceError when the source cannot be read or built."""
    cls = load_class(source)
    found = shape_from_docstring(cls)
    if input_shape is None and found:
        input_shape = found[0]
    if dtype is None:
        dtype = found[1] if found else "float32"
    model = build_instance(cls)
    if input_shape is None:
        input_shape = _guess_shape(model)
    if input_shape is None:
        raise SourceError(f"{cls.__name__}: the input shape cannot be read from the class; give --input-shape "
                          "(one sample, e.g. 3,32,32)")
    return import_torch_model(model, input_shape, dtype, name=cls.__name__)


def _guess_shape(model) -> list[int] | None:
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.Linear):
            return [m.in_features]
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Embedding, nn.LSTM, nn.GRU, nn.RNN)):
            return None
    return None
