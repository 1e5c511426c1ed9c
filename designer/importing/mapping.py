"""The mapping both importers share: a torch module (or an ONNX node's equivalent) -> a design node.

A module's layer type and parameters are read from the catalogue's LayerSpecs: the type is the
module's class name (torch.nn's classes), the parameters are its attributes of the ParamSpec
names, with the few exceptions a torch class stores differently listed in `_READERS`. The
designer's own classes (designer.modules, and their copies in an exported model.py) are known by
their source text, so a class of the same name that does something else is not mistaken for one.

Every design node an importer makes carries, until `finish` takes it off, how to fill the built
layer's weights from the source (`FILL`), so the imported design's first weights are the source's.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

FILL = "__fill__"  # a leaf node's weight filler: callable(target_module)
COPIES = "__copies__"  # a Repeat node's fillers: one list per copy
HIDDEN = (FILL, COPIES, "__owner__")


class Unmapped(Exception):
    """A part of the source that has no design equivalent; `where` names it (module path, or node and op)."""

    def __init__(self, where: str, what: str):
        super().__init__(f"{where}: {what}")
        self.where, self.what = where, what


@dataclass
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class ImportResult:
    """What an import gives: the design (None when some part could not be mapped), the first weights
    (a state_dict of the design's model, or None), and the parts that could not be mapped."""

    design: dict[str, Any] | None
    weights: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.design is not None and not self.problems


# --- the designer's own classes ------------------------------------------------------------------------------------


@cache
def _designer_sources() -> dict[str, str]:
    from torch import nn

    from designer import modules

    out = {}
    for name, obj in vars(modules).items():
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == modules.__name__:
            out[name] = inspect.getsource(obj).strip()
    return out


def designer_class(cls: type) -> str | None:
    """The designer.modules class name `cls` is (itself, or an exported copy with the same source), else None."""
    from designer import modules

    name = cls.__name__
    sources = _designer_sources()
    if name not in sources:
        return None
    if getattr(modules, name) is cls:
        return name
    try:
        text = inspect.getsource(cls).strip()
    except (OSError, TypeError):
        return None
    return name if text == sources[name] else None


# --- reading a module's parameters -----------------------------------------------------------------------------------


def _tensor_present(module, attr):
    return getattr(module, attr, None) is not None


def _tel_activation(module) -> str:
    import torch.nn.functional as F
    from torch import nn

    act = module.activation
    if isinstance(act, nn.GELU):
        return "gelu_tanh" if act.approximate == "tanh" else "gelu"
    if isinstance(act, nn.ReLU) or act is F.relu:
        return "relu"
    if act is F.gelu:
        return "gelu"
    raise Unmapped("", f"TransformerEncoderLayer activation {act!r} is not relu, gelu or gelu_tanh")


# (type, parameter) -> how to read it where the attribute of that name is not it.
def _encoding_kind(module: Any) -> str:
    """A PositionalEncoding learns its table when the table is a parameter."""
    import torch

    return "learned" if isinstance(module.table, torch.nn.Parameter) else "sinusoidal"


_READERS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("MultiheadAttention", "bias"): lambda m: m.in_proj_bias is not None,
    ("MultiheadAttention", "causal"): lambda m: False,
    ("TransformerEncoderLayer", "nhead"): lambda m: m.self_attn.num_heads,
    ("TransformerEncoderLayer", "dim_feedforward"): lambda m: m.linear1.out_features,
    ("TransformerEncoderLayer", "dropout"): lambda m: m.dropout.p,
    ("TransformerEncoderLayer", "activation"): _tel_activation,
    ("TransformerEncoderLayer", "layer_norm_eps"): lambda m: m.norm1.eps,
    ("TransformerEncoderLayer", "bias"): lambda m: m.linear1.bias is not None,
    ("TransformerEncoderLayer", "causal"): lambda m: bool(getattr(m, "causal", False)),
    ("LayerNorm", "bias"): lambda m: m.bias is not None if m.elementwise_affine else True,
    ("Linear", "tie_weights"): lambda m: None,
    ("PositionalEncoding", "kind"): lambda m: _encoding_kind(m),
    ("PositionalEncoding", "max_len"): lambda m: int(m.table.shape[0]),
    ("PositionalEncoding", "dropout"): lambda m: m.dropout.p,
    ("Attention", "num_kv_heads"): lambda m: None if m.num_kv_heads == m.num_heads else m.num_kv_heads,
    ("Attention", "bias"): lambda m: m.q.bias is not None,
}
# Inferred sizes a torch class keeps under another name.
_INFERRED = {
    ("TransformerEncoderLayer", "d_model"): lambda m: m.self_attn.embed_dim,
    ("PositionalEncoding", "embed_dim"): lambda m: int(m.table.shape[1]),
    ("ClassToken", "embed_dim"): lambda m: int(m.token.shape[-1]),
    ("Attention", "embed_dim"): lambda m: m.q.in_features,
    ("LayerNorm", "normalized_shape"): lambda m: tuple(m.normalized_shape),
    ("RMSNorm", "normalized_shape"): lambda m: tuple(m.normalized_shape),
}


def plain(value: Any) -> Any:
    """A module attribute as design data: tuples become lists, torch sizes ints."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (bool, int, float, str)):
        return value.item()
    return value


def tidy(spec, values: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters a person would write: required ones, and those that differ from the default;
    a size given as equal entries ([3, 3]) reads as one number; a pool's stride equal to its kernel as None."""
    out = {}
    for p in spec.params:
        if p.name not in values:
            continue
        v = values[p.name]
        if p.kind == "size" and isinstance(v, list) and v and all(x == v[0] for x in v) and v[0] is not None:
            v = v[0]
        if p.name == "stride" and "Pool" in spec.type and v == tidy_size(values.get("kernel_size")):
            v = None
        if p.kind == "float" and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if p.required or not _same(v, p.default):
            out[p.name] = v
    return out


def tidy_size(v):
    if isinstance(v, (list, tuple)) and v and all(x == v[0] for x in v):
        return v[0]
    return v


def _same(a, b) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def spec_of_module(module) -> tuple[Any, Any, dict[str, Any]] | None:
    """(LayerSpec, the module holding the torch layer, wrapper values) for a module the catalogue has; else None."""
    from torch import nn

    from designer.registry import get_spec

    cls = type(module)
    name = designer_class(cls)
    if name == "RecurrentOutput":
        return get_spec(type(module.rnn).__name__), module.rnn, {"return_sequences": module.return_sequences}
    if name == "SelfAttention":
        return get_spec("MultiheadAttention"), module.attn, {"causal": module.causal}
    if name == "EncoderLayer":
        return get_spec("TransformerEncoderLayer"), module, {}
    if name in ("Residual", "Parallel"):
        return None
    if name is not None:
        return get_spec(name), module, {}
    if cls.__module__.startswith("torch.nn") and getattr(nn, cls.__name__, None) is cls:
        spec = get_spec(cls.__name__)
        if spec is not None and not spec.is_block:
            return spec, module, {}
    return None


def module_node(module, in_shape: tuple[int, ...], where: str) -> dict[str, Any]:
    """The design node of a catalogue module, checked against the shape it receives; raises Unmapped."""
    found = spec_of_module(module)
    if found is None:
        raise Unmapped(where, f"{type(module).__name__} is not in the layer catalogue")
    spec, inner, extra = found
    values: dict[str, Any] = {}
    for p in spec.params:
        reader = _READERS.get((spec.type, p.name))
        try:
            if p.name in extra:
                v = extra[p.name]
            elif reader is not None:
                v = reader(inner)
            elif hasattr(inner, p.name):
                v = getattr(inner, p.name)
                if p.kind == "bool" and not isinstance(v, bool) and not (v is None and p.nullable):
                    v = v is not None  # Linear.bias: a Parameter or None
            elif p.name == "return_sequences":
                v = True
            else:
                raise Unmapped(where, f"{type(module).__name__} has no attribute {p.name}")
        except Unmapped as exc:
            raise Unmapped(where, exc.what) from None
        values[p.name] = plain(v)
    _check_fixed(spec, inner, where)
    if spec.infer is not None:
        for key, want in spec.infer(tuple(in_shape)).items():
            got = _INFERRED.get((spec.type, key), lambda m, k=key: getattr(m, k, None))(inner)
            got = plain(got)
            if isinstance(got, list) and len(got) == 1:
                got = got[0]
            if got != want:
                raise Unmapped(where, f"{type(module).__name__} has {key}={got}, but the designer infers {want} from "
                                      f"its input {list(in_shape)}")
    node = {"type": spec.type, **tidy(spec, values)}
    for p in spec.params:
        if p.name in node and p.check(node[p.name]) is not None:
            raise Unmapped(where, f"{spec.type} {p.name} {p.check(node[p.name])}")
    return node


def _check_fixed(spec, inner, where):
    for key, value in spec.fixed.items():
        got = getattr(inner, key, None)
        if key == "batch_first" and spec.type == "TransformerEncoderLayer":
            got = inner.self_attn.batch_first
        if got != value:
            raise Unmapped(where, f"{spec.type} with {key}={got}: a design has {key}={value} (give it {key}={value})")
    if spec.type == "MultiheadAttention" and (not inner._qkv_same_embed_dim or inner.bias_k is not None
                                               or inner.add_zero_attn):
        raise Unmapped(where, "MultiheadAttention with kdim/vdim, add_bias_kv or add_zero_attn has no design equivalent")
    if spec.type in ("MaxPool1d", "MaxPool2d") and inner.return_indices:
        raise Unmapped(where, f"{spec.type} with return_indices=True has no design equivalent")


# --- weights -------------------------------------------------------------------------------------------------------


def copy_state(source_state: dict[str, Any], target) -> None:
    """Load a layer's tensors into the built layer, matching keys (up to one wrapper prefix: rnn., attn.)."""
    import torch

    want = target.state_dict()
    source = dict(source_state)
    if set(source) != set(want):
        prefixes = {k.split(".", 1)[0] + "." for k in want if "." in k}
        for prefix in prefixes:
            if {prefix + k for k in source} == set(want):
                source = {prefix + k: v for k, v in source.items()}
                break
            if {prefix + k for k in want} == set(source):
                source = {k[len(prefix):]: v for k, v in source.items()}
                break
    if set(source) != set(want):
        raise ValueError(f"weights do not match: {sorted(source)} against {sorted(want)}")
    with torch.no_grad():
        target.load_state_dict({k: v.detach().clone() for k, v in source.items()})


def module_filler(module) -> Callable[[Any], None] | None:
    state = module.state_dict()
    if not state:
        return None
    return lambda target: copy_state(state, target)


# --- finishing a design ----------------------------------------------------------------------------------------------


def _fillers(nodes: list) -> list:
    """The fillers of every placed leaf, depth first, Repeat copies in order (the order designer.build.placed uses)."""
    from designer.design import child_slots

    out = []
    for node in nodes:
        if node.get("type") == "Repeat" and COPIES in node:
            out.append(None)
            for copy_fillers in node[COPIES]:
                out.extend(copy_fillers)
            continue
        slots = child_slots(node)
        if slots:
            out.append(None)
            for _, children in slots:
                out.extend(_fillers(children))
        else:
            out.append(node.get(FILL))
    return out


def strip_hidden(nodes: list) -> list:
    """The nodes without the importer's bookkeeping keys (a deep copy)."""
    out = []
    for node in nodes:
        clean = {k: v for k, v in node.items() if k not in HIDDEN}
        for key in ("layers", "body", "shortcut"):
            if key in clean:
                clean[key] = strip_hidden(clean[key])
        if "branches" in clean:
            clean["branches"] = [strip_hidden(b) for b in clean["branches"]]
        out.append(clean)
    return out


def finish(name: str, shape: list[int], dtype: str, nodes: list, source_params: int | None,
           ties: list[tuple[dict, dict]] = ()) -> ImportResult:
    """The design, checked (valid, same parameter count), with the source's weights loaded into its model."""
    from designer.analysis import analyze
    from designer.build import attribute_names, build_model, placed
    from designer.design import iter_nodes, new_design

    fillers = _fillers(nodes)
    # Tied Linears name their Embedding by path, known only now.
    paths = {id(node): path for path, node, _ in iter_nodes(nodes)}
    for linear, embedding in ties:
        linear["tie_weights"] = paths[id(embedding)]
    design = new_design(name, list(shape), dtype, layers=strip_hidden(nodes))
    analysis = analyze(design)
    if not analysis.valid:
        return ImportResult(None, None, [Problem(e.path, f"the imported design is not valid: {e.message}")
                                         for e in analysis.errors])
    if source_params is not None and analysis.params != source_params:
        return ImportResult(None, None, [Problem("model", f"the design has {analysis.params:,} parameters but the "
                                                          f"source has {source_params:,}")])
    weights = None
    if any(f is not None for f in fillers):
        import torch

        with torch.device("cpu"):
            model = build_model(design, analysis)
        names = attribute_names(analysis.tree)
        leaves = [steps for inst, steps in placed(analysis.tree, names)]
        if len(leaves) == len(fillers):
            for steps, fill in zip(leaves, fillers):
                if fill is None:
                    continue
                target = model
                for step in steps:
                    target = getattr(target, step) if isinstance(step, str) else target[step]
                fill(target)
            weights = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    return ImportResult(design, weights, [])


# --- comparing designs ----------------------------------------------------------------------------------------------


def canonical(design: dict[str, Any]) -> str:
    """A design as canonical JSON, names aside: defaults left out, sizes of equal entries as one number,
    a pool's stride equal to its kernel as null, empty shortcuts dropped, and a Sequential of equal
    Sequentials written as the Repeat it builds the same modules as."""
    from designer.registry import get_spec

    def node(n):
        spec = get_spec(n["type"])
        out: dict[str, Any] = {"type": n["type"]}
        if spec is not None:
            values = {p.name: n[p.name] for p in spec.params if p.name in n}
            out.update(tidy(spec, values))
            if n["type"] == "LayerNorm" and out.get("elementwise_affine") is False:
                out.pop("bias", None)  # no affine part: a bias or not is the same layer
        for key in ("layers", "body"):
            if key in n:
                out[key] = [node(c) for c in n[key]]
        # A Sequential of equal Sequentials is a Repeat: both build the same modules (nn.Sequential of copies).
        kids = out.get("layers") if n["type"] == "Sequential" else None
        if kids and all(k["type"] == "Sequential" and k == kids[0] for k in kids):
            out = {"type": "Repeat", "times": len(kids), "body": kids[0]["layers"]}
        if n.get("shortcut"):
            out["shortcut"] = [node(c) for c in n["shortcut"]]
        if "branches" in n:
            out["branches"] = [[node(c) for c in b] for b in n["branches"]]
        return out

    doc = {"input": {"shape": list(design["input"]["shape"]), "dtype": design["input"].get("dtype", "float32")},
           "layers": [node(n) for n in design["layers"]]}
    return json.dumps(doc, sort_keys=True)


def owner_of(qualname: str) -> str | None:
    """The indexed container entry a module path belongs to ("h.0.attn.c_proj" -> "h.0"), else None."""
    m = re.match(r"^(.*?\.\d+)(\.|$)", qualname) or re.match(r"^(\d+)(\.|$)", qualname)
    return m.group(1) if m else None


def without_names(nodes: list) -> list:
    """Nodes compared for repeats: names and bookkeeping aside."""
    out = []
    for n in strip_hidden(nodes):
        n = copy.deepcopy(n)
        _drop_names(n)
        out.append(n)
    return out


def _drop_names(n):
    n.pop("name", None)
    for key in ("layers", "body", "shortcut"):
        for c in n.get(key, []):
            _drop_names(c)
    for b in n.get("branches", []):
        for c in b:
            _drop_names(c)
