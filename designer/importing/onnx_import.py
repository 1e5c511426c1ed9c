"""ONNX -> design: the ONNX graph is rewritten as a torch.fx graph of catalogue modules and torch functions
(Conv -> nn.Conv2d with the file's weights, Relu -> torch.relu, Add -> +, Concat -> torch.cat, ...), and
that graph goes through the same mapping as PyTorch code (designer.importing.fx): one mapping, two front ends.

A file is data: it is parsed, never executed as code. Shape-only subgraphs (Shape, Gather, Concat of sizes,
as exporters write them for Reshape targets) are read from one run of onnx's reference evaluator on a small
example, whose values give every tensor's shape.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from designer.importing.mapping import ImportResult, Problem

MAX_ONNX_BYTES = 50 * 1024 * 1024  # an .onnx file may be at most this, weights included (the app's upload limit, .streamlit/config.toml)
BATCH = 3


class OnnxSourceError(Exception):
    """Not a readable ONNX file (too large, not ONNX, weights kept in external files, no fixed input shape)."""


def read_onnx_bytes(path: Path) -> bytes:
    from designer.design import read_limited
    from designer.errors import DesignFileError

    try:
        return read_limited(Path(path), MAX_ONNX_BYTES, "an ONNX file")
    except DesignFileError as exc:
        raise OnnxSourceError(str(exc)) from None


def parse_onnx(data: bytes):
    """The ONNX ModelProto of a file's bytes; raises OnnxSourceError with the reason."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is in requirements.txt
        raise OnnxSourceError("reading ONNX needs the onnx package (pip install onnx)") from None
    if len(data) > MAX_ONNX_BYTES:
        raise OnnxSourceError(f"the file is {len(data):,} bytes; an ONNX file may be at most {MAX_ONNX_BYTES:,}")
    if not data:
        raise OnnxSourceError("the file is empty; give an ONNX model (.onnx)")
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise OnnxSourceError(f"not an ONNX model ({type(exc).__name__}: {str(exc)[:120]})") from None
    graph = model.graph
    if not graph.node:
        raise OnnxSourceError("not an ONNX model: the file holds no graph nodes")
    for tensor in graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise OnnxSourceError("the file keeps its weights in external data files; save the model with its weights "
                                  "inside (onnx.save(model, path, save_as_external_data=False))")
    return model


def import_onnx_file(path: Path, input_shape: list[int] | None = None, dtype: str | None = None) -> ImportResult:
    return import_onnx_bytes(read_onnx_bytes(path), input_shape, dtype, name=Path(path).stem)


def import_onnx_bytes(data: bytes, input_shape: list[int] | None = None, dtype: str | None = None,
                      name: str = "Imported") -> ImportResult:
    """The design of an ONNX file's bytes, with its weights; problems name each unmapped node and op."""
    model = parse_onnx(data)
    return import_onnx_model(model, input_shape, dtype, name)


def _graph_inputs(model):
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def input_signature(model, input_shape: list[int] | None, dtype: str | None) -> tuple[list[int], str]:
    inputs = _graph_inputs(model)
    if len(inputs) != 1:
        raise OnnxSourceError(f"the model takes {len(inputs)} inputs; a design has one")
    tensor = inputs[0].type.tensor_type
    if dtype is None:
        dtype = {1: "float32", 7: "int64", 6: "int64"}.get(tensor.elem_type)
        if dtype is None:
            raise OnnxSourceError(f"the input's element type {tensor.elem_type} is neither float32 nor int64")
    if input_shape is None:
        dims = list(tensor.shape.dim)[1:]
        if not dims and len(tensor.shape.dim) == 0:
            raise OnnxSourceError("the file does not say the input's shape; give --input-shape")
        if any(not d.HasField("dim_value") for d in dims):
            raise OnnxSourceError("the input's sample shape is not fixed in the file; give --input-shape (e.g. 3,32,32)")
        input_shape = [int(d.dim_value) for d in dims]
    return list(input_shape), dtype


# Operators that only compute shapes and constants (as exporters write Reshape targets and initial states).
SHAPE_OPS = {"Shape", "Size", "Gather", "Unsqueeze", "Squeeze", "Concat", "Constant", "ConstantOfShape", "Cast",
             "Slice", "Range", "Add", "Sub", "Mul", "Div", "Equal", "Where", "Expand", "Identity", "Mod"}
MAX_VALUE_ELEMENTS = 1 << 26  # no value of the example run may be larger (a hostile file could ask for terabytes)


# Arithmetic that may run in the example evaluation: inside a module the importer recognises whole (a
# transformer layer's attention), or reported node by node after it; control flow and custom domains never run.
EVALUATED_OPS = {"Sqrt", "Trilu", "Softmax", "MatMul", "Div", "Sub", "Pow", "Erf", "Neg", "Exp", "Log", "Tanh",
                 "ReduceMax", "ReduceMin", "ReduceSum", "Split", "Abs", "Min", "Max", "Not", "And", "Or", "Less",
                 "Greater", "LessOrEqual", "GreaterOrEqual", "Reciprocal", "Tile", "InstanceNormalization",
                 "DepthToSpace", "Resize", "Sin", "Cos"}


def _unsupported(model) -> list[Problem]:
    """Nodes whose op may not even run, named before anything runs (control flow, custom domains, ...)."""
    handled = {name[3:] for name in dir(_Translator) if name.startswith("op_")} | SHAPE_OPS | EVALUATED_OPS
    out = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            out.append(Problem(f"{node.name or node.output[0]} ({node.op_type})",
                               f"custom operator domain {node.domain!r} has no layer"))
        elif node.op_type not in handled:
            out.append(Problem(f"{node.name or node.output[0]} ({node.op_type})",
                               f"{node.op_type} has no layer in the catalogue"))
    return out


def _too_large(model, shape: list[int]) -> str | None:
    """A value the example run would make too large, by onnx's shape inference (batch fixed to the example's)."""
    import math

    import onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    dims = _graph_inputs(probe)[0].type.tensor_type.shape.dim
    for i, d in enumerate(dims):
        d.Clear()
        d.dim_value = BATCH if i == 0 else (shape[i - 1] if i - 1 < len(shape) else 1)
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, data_prop=True)
    except Exception:  # inference is a guard only; the run itself reports what is wrong
        return None
    for value in inferred.graph.value_info:
        dims = value.type.tensor_type.shape.dim
        sizes = [d.dim_value for d in dims if d.HasField("dim_value")]
        if len(sizes) == len(dims) and sizes and math.prod(sizes) > MAX_VALUE_ELEMENTS:
            return f"{value.name} would hold {math.prod(sizes):,} values for a batch of {BATCH}"
    return None


def import_onnx_model(model, input_shape: list[int] | None, dtype: str | None, name: str) -> ImportResult:
    from designer.importing.fx import import_torch_model

    shape, dtype = input_signature(model, input_shape, dtype)
    unsupported = _unsupported(model)
    if unsupported:
        return ImportResult(None, None, unsupported)
    large = _too_large(model, shape)
    if large:
        raise OnnxSourceError(f"the model is too large to read: {large}")
    translation = _Translator(model, shape, dtype)
    try:
        gm = translation.run()
    except OnnxSourceError:
        raise
    if translation.problems:
        return ImportResult(None, None, translation.problems)
    result = import_torch_model(gm, shape, dtype, name=name)
    if result.ok and result.weights is not None:
        problem = translation.check(result)
        if problem is not None:
            return ImportResult(None, None, [problem])
    return result


# --- ONNX nodes as torch -----------------------------------------------------------------------------------------------


def _attrs(node) -> dict[str, Any]:
    import onnx

    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, float):
            v = _f32(v)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _f32(v: float) -> float:
    """A float32 attribute as the number it was written as (1e-05, not 9.999999747378752e-06)."""
    return float(f"{float(v):.7g}")


def _module_path(prefix: str) -> str:
    """The torch module path of an ONNX name scope: "/stack/stack.0/stack.0.0/" -> "stack.0.0",
    "/attn/attn/" -> "attn.attn" (exporters write either the full path or the attribute at each level)."""
    parts = [p for p in prefix.split("/") if p]
    path = parts[0] if parts else ""
    for part in parts[1:]:
        path = part if part.startswith(path + ".") else f"{path}.{part}"
    return path


def _layer_name(node_name: str, op: str) -> str:
    """"/layer1/layer1.0/conv1/Conv" -> "conv1"; a name the designer can show."""
    parts = [p for p in node_name.split("/") if p and p != op]
    text = parts[-1] if parts else op.lower()
    text = re.sub(r"[^0-9A-Za-z_]", "_", text.split(".")[-1]).strip("_") or op.lower()
    if text[0].isdigit():
        text = f"{op.lower()}_{text}"
    return text


class _Translator:
    def __init__(self, model, shape: list[int], dtype: str):
        import numpy as np
        import onnx.numpy_helper as nh

        self.model, self.shape, self.dtype = model, shape, dtype
        self.graph = model.graph
        self.problems: list[Problem] = []
        self.const: dict[str, Any] = {t.name: nh.to_array(t) for t in self.graph.initializer}
        self.learned = set(self.const)  # initializers are weights; Constant nodes are fixed values
        self.np = np
        self.input_name = _graph_inputs(model)[0].name
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.users: dict[str, list] = {}
        for node in self.graph.node:
            for name in dict.fromkeys(node.input):
                self.users.setdefault(name, []).append(node)
        self.values = self._evaluate()

    def fail(self, node, what: str) -> None:
        self.problems.append(Problem(f"{node.name or node.output[0]} ({node.op_type})", what))

    def _example(self):
        if getattr(self, "_example_value", None) is not None:
            return self._example_value
        self._example_value = self._make_example()
        return self._example_value

    def _make_example(self):
        np = self.np
        rng = np.random.default_rng(0)
        if self.dtype == "int64":  # token ids below every embedding table's size, varied (zeros hide heads)
            rows = [self.const[n.input[0]].shape[0] for n in self.graph.node
                    if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] == self.input_name
                    and n.input[0] in self.const]
            return np.random.default_rng(0).integers(0, min(rows) if rows else 2, size=(BATCH, *self.shape))
        return rng.standard_normal((BATCH, *self.shape)).astype(np.float32)

    def _evaluate(self) -> dict[str, Any]:
        """Every value of the graph on the example (shapes of data, values of shape-only parts)."""
        import onnx
        from onnx.reference import ReferenceEvaluator

        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        known = {o.name for o in model.graph.output}
        for node in model.graph.node:
            for out in node.output:
                if out and out not in known:
                    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(out))
                    known.add(out)
        try:
            evaluator = ReferenceEvaluator(model)
            names = [o.name for o in model.graph.output]
            results = evaluator.run(None, {self.input_name: self._example()})
        except Exception as exc:
            raise OnnxSourceError(f"the model does not run on an input of {[BATCH, *self.shape]} {self.dtype}: "
                                  f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:200]}") from None
        values = dict(zip(names, results))
        values[self.input_name] = self._example()
        return values

    # ---- the translation
    def run(self):
        import torch.fx as fx
        from torch import nn

        self.root = nn.Module()
        self.graph_fx = fx.Graph()
        self.env: dict[str, Any] = {self.input_name: self.graph_fx.placeholder("x")}
        self.used_names: set[str] = set()
        self.scopes = self._collapsible_scopes()
        for node in self.graph.node:
            scope = self.scope_of.get(id(node))
            if scope is not None:
                self._scope_node(node, scope)
                continue
            self.node(node)
        outputs = [o.name for o in self.graph.output]
        if len(outputs) != 1:
            self.problems.append(Problem("graph", f"the model gives {len(outputs)} outputs; a design gives one"))
            return None
        if self.problems:
            return None
        result = self.env.get(outputs[0])
        if result is None:
            self.problems.append(Problem("graph", "the output is not computed from the input"))
            return None
        self.graph_fx.output(result)
        return fx.GraphModule(self.root, self.graph_fx)

    def data(self, name: str):
        return self.env.get(name)

    def add_module(self, node, module) -> str:
        base = _layer_name(node.name, node.op_type)
        name, k = base, 2
        while name in self.used_names or hasattr(self.root, name):
            name, k = f"{base}_{k}", k + 1
        self.used_names.add(name)
        self.root.add_module(name, module)
        return name

    def sample_shape(self, value_name: str) -> tuple[int, ...]:
        return tuple(self.values[value_name].shape[1:])

    def node(self, node) -> None:
        op = node.op_type
        if id(node) in self.skip:  # an Add folded into the Linear before it
            return
        ins = [self.data(i) if i else None for i in node.input]
        if node.domain not in ("", "ai.onnx"):
            self.fail(node, f"custom operator domain {node.domain!r} has no layer")
            return
        if op in ("Shape", "Size", "ConstantOfShape") or all(v is None for v in ins):
            # constants and shape arithmetic (its values depend on the input's shape only): known from the evaluation
            for out in node.output:
                if out in self.values:
                    self.const.setdefault(out, self.values[out])
                if op == "Identity" and node.input[0] in self.learned:  # a shared copy of a weight
                    self.learned.add(out)
            return
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            self.fail(node, f"{op} has no layer in the catalogue")
            for out in node.output:  # keep walking, to name every unmapped node
                self.env[out] = ins[0] if ins and ins[0] is not None else None
            return
        try:
            handler(node, ins, _attrs(node))
        except (_Fail, KeyError, IndexError, ValueError, TypeError) as exc:
            self.fail(node, str(exc) if isinstance(exc, _Fail) else f"cannot be read ({type(exc).__name__}: {exc})")
            for out in node.output:
                self.env.setdefault(out, next((v for v in ins if v is not None), None))

    def call(self, node, fn, *args, **kwargs):
        value = self.graph_fx.call_function(fn, tuple(args), kwargs)
        self.env[node.output[0]] = value
        return value

    def method(self, node, name, *args):
        value = self.graph_fx.call_method(name, tuple(args))
        self.env[node.output[0]] = value
        return value

    def module(self, node, module, arg):
        name = self.add_module(node, module)
        value = self.graph_fx.call_module(name, (arg,))
        self.env[node.output[0]] = value
        return value

    def weight(self, name: str):
        if name not in self.const:
            raise _Fail(f"input {name} is not a constant (weights must be stored in the file)")
        return self.const[name]

    # ---- element-wise and activations
    def op_Relu(self, node, ins, a):
        import torch

        self.call(node, torch.relu, ins[0])

    def op_Sigmoid(self, node, ins, a):
        import torch

        self.call(node, torch.sigmoid, ins[0])

    def op_Tanh(self, node, ins, a):
        import torch

        self.call(node, torch.tanh, ins[0])

    def op_LeakyRelu(self, node, ins, a):
        import torch.nn.functional as F

        self.call(node, F.leaky_relu, ins[0], negative_slope=float(a.get("alpha", 0.01)))

    def op_Elu(self, node, ins, a):
        import torch.nn.functional as F

        self.call(node, F.elu, ins[0], alpha=float(a.get("alpha", 1.0)))

    def op_Gelu(self, node, ins, a):
        import torch.nn.functional as F

        self.call(node, F.gelu, ins[0], approximate=a.get("approximate", "none"))

    def op_Softplus(self, node, ins, a):
        import torch.nn.functional as F

        self.call(node, F.softplus, ins[0])

    def op_HardSigmoid(self, node, ins, a):
        import torch.nn.functional as F

        if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
            raise _Fail("HardSigmoid with alpha other than 1/6 has no layer (torch's Hardsigmoid is alpha=1/6)")
        self.call(node, F.hardsigmoid, ins[0])

    def op_HardSwish(self, node, ins, a):
        import torch.nn.functional as F

        self.call(node, F.hardswish, ins[0])

    def op_PRelu(self, node, ins, a):
        import torch
        from torch import nn

        slope = self.weight(node.input[1]).reshape(-1)
        module = nn.PReLU(slope.size)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(slope.astype("float32")))
        self.module(node, module, ins[0])

    def op_Softmax(self, node, ins, a):
        import torch.nn.functional as F

        self.call(node, F.softmax, ins[0], dim=int(a.get("axis", -1)))

    def op_LogSoftmax(self, node, ins, a):
        import torch.nn.functional as F

        self.call(node, F.log_softmax, ins[0], dim=int(a.get("axis", -1)))

    def op_Identity(self, node, ins, a):
        self.env[node.output[0]] = ins[0]

    def op_Dropout(self, node, ins, a):  # inference: the identity
        self.env[node.output[0]] = ins[0]

    def _binary(self, node, ins, fn, what):
        import operator

        if any(v is None for v in ins[:2]):
            raise _Fail(f"{what} with a constant has no layer (only of two values computed from the input)")
        self.call(node, getattr(operator, fn), ins[0], ins[1])

    def op_Add(self, node, ins, a):
        if (ins[0] is None) != (ins[1] is None):
            data, const = (ins[0], node.input[1]) if ins[1] is None else (ins[1], node.input[0])
            if self._positional(node, data, const):
                return
        self._binary(node, ins, "add", "addition")

    def op_Mul(self, node, ins, a):
        import torch.nn.functional as F

        for i in (0, 1):  # x * sigmoid(x) is SiLU, as exporters write it
            gate = self.producer.get(node.input[1 - i])
            if gate is not None and gate.op_type == "Sigmoid" and gate.input[0] == node.input[i]:
                self.call(node, F.silu, ins[i])
                return
        self._binary(node, ins, "mul", "multiplication")

    def op_Clip(self, node, ins, a):
        import torch.nn.functional as F

        lo = self.weight(node.input[1]).item() if len(node.input) > 1 and node.input[1] else a.get("min")
        hi = self.weight(node.input[2]).item() if len(node.input) > 2 and node.input[2] else a.get("max")
        if lo is None or hi is None:
            raise _Fail("Clip without both bounds has no layer")
        lo, hi = _f32(lo), _f32(hi)
        if (lo, hi) == (0.0, 6.0):
            self.call(node, F.relu6, ins[0])
        else:
            self.call(node, F.hardtanh, ins[0], min_val=lo, max_val=hi)

    def op_Pad(self, node, ins, a):
        from torch import nn

        mode = a.get("mode", "constant")
        if mode != "constant":
            raise _Fail(f"Pad mode {mode} has no layer")
        pads = [int(p) for p in (self.weight(node.input[1]) if len(node.input) > 1 else a["pads"]).tolist()]
        value = 0.0
        if len(node.input) > 2 and node.input[2]:
            value = _f32(self.weight(node.input[2]).item())
        rank = len(pads) // 2
        begin, end = pads[:rank], pads[rank:]
        if any(begin[:2]) or any(end[:2]) or rank not in (3, 4):
            raise _Fail("padding of the batch or channel axes has no layer")
        if rank == 3:
            padding = (begin[2], end[2])
        else:
            padding = (begin[3], end[3], begin[2], end[2])
        n = rank - 2
        module = getattr(nn, f"ZeroPad{n}d")(padding) if value == 0 else getattr(nn, f"ConstantPad{n}d")(padding, value)
        self.module(node, module, ins[0])

    def _consumers(self, name: str) -> list:
        return self.users.get(name, [])

    def _feeds_stack_sum(self, name: str) -> bool:
        users = self._consumers(name)
        if len(users) != 1 or users[0].op_type != "Concat" or _attrs(users[0]).get("axis", 0) != 0:
            return False
        sums = self._consumers(users[0].output[0])
        return len(sums) == 1 and sums[0].op_type == "ReduceSum"

    def op_ReduceSum(self, node, ins, a):
        import operator

        stacked = ins[0]
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.weight(node.input[1]).tolist()
        if not isinstance(stacked, _StackList) or list(axes or []) != [0] or a.get("keepdims", 1):
            raise _Fail("a sum other than of stacked branches (torch.stack(...).sum(0)) has no layer")
        total = stacked.values[0]
        for value in stacked.values[1:]:
            total = self.graph_fx.call_function(operator.add, (total, value))
        self.env[node.output[0]] = total

    def op_Concat(self, node, ins, a):
        import torch

        if ins and all(isinstance(v, _Stacked) for v in ins):
            self.env[node.output[0]] = _StackList([v.value for v in ins])
            return
        if len(ins) == 2 and ins[0] is None and ins[1] is not None and int(a.get("axis", 1)) == 1:
            expand = self.producer.get(node.input[0])  # [token.expand(N, -1, -1), x]: a ClassToken
            token = self.const.get(expand.input[0]) if expand is not None and expand.op_type == "Expand" else None
            if token is not None and token.ndim == 3 and token.shape[:2] == (1, 1) and expand.input[0] in self.learned:
                import torch

                from designer import modules

                module = modules.ClassToken(token.shape[2])
                with torch.no_grad():
                    module.token.copy_(torch.from_numpy(self.np.array(token, dtype=self.np.float32)))
                self.module(node, module, ins[1])
                return
        if any(v is None for v in ins):
            raise _Fail("concatenation with a constant has no layer")
        self.call(node, torch.cat, list(ins), int(a.get("axis", 1)))

    # ---- shapes
    def op_Flatten(self, node, ins, a):
        import torch

        axis = int(a.get("axis", 1))
        if axis != 1:
            raise _Fail(f"Flatten with axis={axis} has no layer (axis 1 keeps the batch)")
        self.call(node, torch.flatten, ins[0], 1)

    def _reshape(self, node, ins):
        if node.op_type == "Unsqueeze" and self._feeds_stack_sum(node.output[0]):  # torch.stack(...).sum(0)
            self.env[node.output[0]] = _Stacked(ins[0])
            return
        if isinstance(ins[0], _RecurrentY):  # (L, dirs, N, H) -> (L, N, dirs * H): the layer's own output
            self.env[node.output[0]] = _SeqFirst(ins[0].value)
            return
        if isinstance(ins[0], _SeqFirst):
            raise _Fail("reshapes a sequence-first tensor in a way a design cannot")
        out = self.values[node.output[0]].shape
        if out[0] != BATCH:
            raise _Fail(f"reshapes the batch dimension (to {list(out)} for a batch of {BATCH})")
        self.method(node, "reshape", ins[0], -1, *[int(s) for s in out[1:]])

    def op_Reshape(self, node, ins, a):
        self._reshape(node, ins)

    def op_Squeeze(self, node, ins, a):
        self._reshape(node, ins)

    def op_Unsqueeze(self, node, ins, a):
        self._reshape(node, ins)

    def op_Transpose(self, node, ins, a):
        perm = [int(p) for p in a.get("perm", [])]
        if isinstance(ins[0], _RecurrentY) and perm == [0, 2, 1, 3]:  # (L, 2, N, H) -> (L, N, 2, H): both directions
            self.env[node.output[0]] = ins[0]
            return
        if isinstance(ins[0], _SeqFirst) and perm == [1, 0, 2]:  # a recurrent layer's output, batch first again
            self.env[node.output[0]] = ins[0].value
            return
        if perm == [1, 0, 2] and self._feeds_recurrent(node.output[0]):  # (N, L, F) -> (L, N, F) for an LSTM
            self.env[node.output[0]] = _SeqFirst(ins[0])
            return
        if not perm or perm[0] != 0:
            raise _Fail("moves the batch dimension")
        self.method(node, "permute", ins[0], *perm)

    def op_ReduceMean(self, node, ins, a):
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.weight(node.input[1]).tolist()
        if axes is None:
            raise _Fail("a mean over every axis reduces the batch too")
        self.method(node, "mean", ins[0], [int(x) for x in axes], bool(a.get("keepdims", 1)))

    # ---- layers with weights
    def op_Conv(self, node, ins, a):
        self._conv(node, ins, a, transposed=False)

    def op_ConvTranspose(self, node, ins, a):
        self._conv(node, ins, a, transposed=True)

    def _conv(self, node, ins, a, transposed: bool):
        import torch
        from torch import nn

        w = self.weight(node.input[1])
        b = self.weight(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        n = w.ndim - 2
        if n not in (1, 2):
            raise _Fail(f"a {n}-D convolution has no layer")
        pads = list(a.get("pads", [0] * 2 * n))
        if pads[:n] != pads[n:]:
            raise _Fail(f"asymmetric padding {pads} has no layer (give a Pad before it)")
        if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise _Fail(f"auto_pad {a['auto_pad']} has no layer")
        groups = int(a.get("group", 1))
        kw = dict(kernel_size=tuple(w.shape[2:]), stride=tuple(a.get("strides", [1] * n)), padding=tuple(pads[:n]),
                  dilation=tuple(a.get("dilations", [1] * n)), groups=groups, bias=b is not None)
        if transposed:
            cls = getattr(nn, f"ConvTranspose{n}d")
            out_pad = tuple(a.get("output_padding", [0] * n))
            module = cls(w.shape[0], w.shape[1] * groups, output_padding=out_pad, **kw)
        else:
            cls = getattr(nn, f"Conv{n}d")
            module = cls(w.shape[1] * groups, w.shape[0], **kw)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(w.copy()))
            if b is not None:
                module.bias.copy_(torch.from_numpy(b.copy()))
        self.module(node, module, ins[0])

    def _linear(self, node, x, w, b):
        import torch
        from torch import nn

        module = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        tied = self._tied(node.input[1])
        if tied is not None and tuple(tied.weight.shape) == tuple(module.weight.shape):
            module.weight = tied.weight  # weight tying: one shared Parameter (the design's tie_weights)
            w = tied.weight.detach().numpy()
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(self.np.array(w, dtype=self.np.float32, copy=True)))
            if b is not None:
                module.bias.copy_(torch.from_numpy(self.np.array(b, dtype=self.np.float32, copy=True).reshape(-1)))
        return self.module(node, module, x)

    def op_Gemm(self, node, ins, a):
        if ins[1] is not None or (len(ins) > 2 and ins[2] is not None):
            raise _Fail("Gemm of two computed values has no layer")
        if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
            raise _Fail("Gemm with alpha, beta or transA has no layer")
        w = self.weight(node.input[1])
        if not a.get("transB", 0):
            w = w.T
        b = self.weight(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if b is not None and b.size != w.shape[0]:
            raise _Fail("Gemm with a broadcast bias has no layer")
        self._linear(node, ins[0], w, b)

    def op_MatMul(self, node, ins, a):
        if ins[1] is not None:
            raise _Fail("a product of two computed values (attention) has no layer")
        w = self.weight(node.input[1])
        if w.ndim != 2:
            raise _Fail("MatMul with a weight of more than 2 dimensions has no layer")
        bias = self._bias_after(node)
        if bias is not None:
            add, b = bias
            self._linear(node, ins[0], w.T, b)
            self.env[add.output[0]] = self.env[node.output[0]]
            self.skip.add(id(add))
            return
        self._linear(node, ins[0], w.T, None)

    def _bias_after(self, node):
        users = self.users.get(node.output[0], [])
        if len(users) == 1 and users[0].op_type == "Add":
            add = users[0]
            other = [i for i in add.input if i != node.output[0]]
            if len(other) == 1 and other[0] in self.const and self.const[other[0]].ndim == 1:
                return add, self.const[other[0]]
        return None

    @property
    def skip(self) -> set:
        return self.__dict__.setdefault("_skip", set())

    def op_Gather(self, node, ins, a):
        import torch
        from torch import nn

        axis = int(a.get("axis", 0))
        if ins[0] is not None and ins[1] is None and axis == 1 and len(self.sample_shape(node.input[0])) == 2:
            index = self.weight(node.input[1])
            length = self.sample_shape(node.input[0])[0]
            if index.ndim == 0 and int(index) in (0, -1, length - 1):  # x[:, 0] or x[:, -1] of a sequence
                self.call(node, operator_getitem(), ins[0], (slice(None), 0 if int(index) == 0 else -1))
                return
        if ins[0] is not None or ins[1] is None or int(a.get("axis", 0)) != 0:
            raise _Fail("Gather other than an embedding lookup (a constant table indexed by token ids) has no layer")
        table = self.weight(node.input[0])
        module = nn.Embedding(table.shape[0], table.shape[1])
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(table.copy()))
        self.__dict__.setdefault("embeddings", {})[node.input[0]] = module
        self.module(node, module, ins[1])

    def op_BatchNormalization(self, node, ins, a):
        import torch
        from torch import nn

        scale, bias, mean, var = (self.weight(i) for i in node.input[1:5])
        rank = len(self.sample_shape(node.input[0]))
        cls = nn.BatchNorm2d if rank == 3 else nn.BatchNorm1d
        affine = not self._fixed_identity(node.input[1], node.input[2])
        module = cls(scale.shape[0], eps=float(a.get("epsilon", 1e-5)), affine=affine,
                     momentum=round(1 - float(a.get("momentum", 0.9)), 6))
        pairs = [("running_mean", mean), ("running_var", var)] + ([("weight", scale), ("bias", bias)] if affine else [])
        with torch.no_grad():
            for attr, value in pairs:
                getattr(module, attr).copy_(torch.from_numpy(value.copy()))
        self.module(node, module, ins[0])

    def op_LayerNormalization(self, node, ins, a):
        import torch
        from torch import nn

        if int(a.get("axis", -1)) not in (-1, len(self.sample_shape(node.input[0]))):
            raise _Fail("LayerNormalization over more than the last axis has no layer")
        scale = self.weight(node.input[1])
        bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        bias = self.weight(bias_name) if bias_name else None
        if self._fixed_identity(node.input[1], bias_name):  # exporters write elementwise_affine=False so
            module = nn.LayerNorm(scale.shape[0], eps=float(a.get("epsilon", 1e-5)), elementwise_affine=False)
            self.module(node, module, ins[0])
            return
        has_bias = bias is not None and (bias_name in self.learned or bool(self.np.any(bias != 0)))
        module = nn.LayerNorm(scale.shape[0], eps=float(a.get("epsilon", 1e-5)), bias=has_bias)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(scale.copy()))
            if has_bias:
                module.bias.copy_(torch.from_numpy(bias.copy()))
        self.module(node, module, ins[0])

    def _fixed_identity(self, scale_name: str, bias_name: str | None) -> bool:
        """A scale of ones and a bias of zeros written as constants, not weights: a norm without affine."""
        np = self.np
        if scale_name in self.learned or (bias_name and bias_name in self.learned):
            return False
        scale = self.const.get(scale_name)
        bias = self.const.get(bias_name) if bias_name else None
        return scale is not None and bool(np.all(scale == 1)) and (bias is None or bool(np.all(bias == 0)))

    def _pool(self, node, ins, a, kind: str):
        from torch import nn

        kernel = list(a["kernel_shape"])
        n = len(kernel)
        pads = list(a.get("pads", [0] * 2 * n))
        if pads[:n] != pads[n:]:
            raise _Fail(f"asymmetric padding {pads} has no layer")
        kw = dict(kernel_size=tuple(kernel), stride=tuple(a.get("strides", kernel)), padding=tuple(pads[:n]),
                  ceil_mode=bool(a.get("ceil_mode", 0)))
        if kind == "max":
            module = getattr(nn, f"MaxPool{n}d")(dilation=tuple(a.get("dilations", [1] * n)), **kw)
        else:
            module = getattr(nn, f"AvgPool{n}d")(count_include_pad=bool(a.get("count_include_pad", 0)), **kw)
        self.module(node, module, ins[0])

    def op_MaxPool(self, node, ins, a):
        if len(node.output) > 1 and node.output[1]:
            raise _Fail("MaxPool with indices has no layer")
        self._pool(node, ins, a, "max")

    def op_AveragePool(self, node, ins, a):
        self._pool(node, ins, a, "avg")

    def op_GlobalAveragePool(self, node, ins, a):
        from torch import nn

        rank = len(self.sample_shape(node.input[0]))
        self.module(node, getattr(nn, f"AdaptiveAvgPool{rank - 1}d")(1), ins[0])

    def op_GlobalMaxPool(self, node, ins, a):
        from torch import nn

        rank = len(self.sample_shape(node.input[0]))
        self.module(node, getattr(nn, f"AdaptiveMaxPool{rank - 1}d")(1), ins[0])

    def _feeds_recurrent(self, name: str) -> bool:
        return any(n.op_type in _GATES and n.input[0] == name for n in self.users.get(name, []))

    def _recurrent(self, node, ins, a, kind: str):
        import numpy as np
        import torch
        from torch import nn

        x = ins[0]
        if not isinstance(x, _SeqFirst):
            raise _Fail(f"{kind} reads a tensor that is not a batch-first sequence transposed (layout 0)")
        if a.get("layout", 0) != 0:
            raise _Fail(f"{kind} with layout 1 has no layer")
        for extra in node.input[4:]:
            if extra and extra in self.env and self.env[extra] is not None:
                raise _Fail(f"{kind} with initial states computed from the input has no layer")
        if node.input[4:] and any(i and i in self.const and np.any(self.const[i] != 0) for i in node.input[5:]):
            raise _Fail(f"{kind} with non-zero initial states has no layer")
        w, r = self.weight(node.input[1]), self.weight(node.input[2])
        b = self.weight(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        gates, order = _GATES[kind]
        dirs, hidden = w.shape[0], int(a.get("hidden_size", r.shape[-1]))
        direction = a.get("direction", "forward")
        if direction == "reverse":
            raise _Fail(f"a {kind} that reads backwards only has no layer")
        kw: dict = {}
        if kind == "GRU" and not a.get("linear_before_reset", 0):
            raise _Fail("GRU with linear_before_reset=0 has no layer (torch's GRU applies it after)")
        if kind == "RNN":
            acts = [s.lower() for s in a.get("activations", ["Tanh"])]
            if acts[0] not in ("tanh", "relu"):
                raise _Fail(f"RNN activation {acts[0]} has no layer")
            kw["nonlinearity"] = acts[0]
        module = getattr(nn, kind)(w.shape[2], hidden, batch_first=True, bias=b is not None,
                                   bidirectional=dirs == 2, **kw)

        def reorder(m):
            blocks = np.split(m, gates, axis=0)
            return np.concatenate([blocks[i] for i in order], axis=0)

        with torch.no_grad():
            for d in range(dirs):
                suffix = "_l0" + ("_reverse" if d == 1 else "")
                getattr(module, "weight_ih" + suffix).copy_(torch.from_numpy(reorder(w[d])))
                getattr(module, "weight_hh" + suffix).copy_(torch.from_numpy(reorder(r[d])))
                if b is not None:
                    getattr(module, "bias_ih" + suffix).copy_(torch.from_numpy(reorder(b[d][: gates * hidden])))
                    getattr(module, "bias_hh" + suffix).copy_(torch.from_numpy(reorder(b[d][gates * hidden:])))
        name = self.add_module(node, module)
        call = self.graph_fx.call_module(name, (x.value,))
        out = self.graph_fx.call_function(operator_getitem(), (call, 0))
        self.env[node.output[0]] = _RecurrentY(out)
        for extra in node.output[1:]:
            if extra and self.users.get(extra):
                raise _Fail(f"the final states of {kind} (Y_h, Y_c) are used; only its output sequence maps")

    def op_LSTM(self, node, ins, a):
        self._recurrent(node, ins, a, "LSTM")

    def op_GRU(self, node, ins, a):
        self._recurrent(node, ins, a, "GRU")

    def op_RNN(self, node, ins, a):
        self._recurrent(node, ins, a, "RNN")

    # ---- whole modules (transformer layers), recognised by their scope and checked numerically
    def _collapsible_scopes(self) -> dict:
        """ONNX name scopes ("/stack/stack.0/stack.0.0/") of torch modules the catalogue has whole, each with the
        module rebuilt from the file's weights; filled into self.scope_of (node -> scope)."""
        self.scope_of: dict[int, dict] = {}
        prefixes: dict[str, list] = {}
        for node in self.graph.node:
            parts = node.name.split("/")
            for k in range(2, len(parts)):
                prefixes.setdefault("/".join(parts[:k]) + "/", []).append(node)
        found = {}
        for prefix in sorted(prefixes, key=len):  # outermost first
            if any(prefix.startswith(done) for done in found):
                continue
            path = _module_path(prefix)
            keys = {k[len(path) + 1:] for k in self.learned if k.startswith(path + ".")}
            if {"self_attn.in_proj_weight", "linear1.weight", "linear2.weight"} <= keys:
                scope = self._encoder_scope(prefix, path, prefixes[prefix])
            elif {"in_proj_weight", "out_proj.weight"} <= keys:
                scope = self._attention_scope(prefix, path, prefixes[prefix])
            else:
                continue
            if scope is not None:
                found[prefix] = scope
                for node in prefixes[prefix]:
                    self.scope_of[id(node)] = scope
        return found

    def _scope_io(self, nodes):
        inside = {out for n in nodes for out in n.output}
        ids = {id(n) for n in nodes}
        data = {self.input_name} | {out for n in self.graph.node for out in n.output
                                    if out in self.values and hasattr(self.values[out], "shape")
                                    and self.values[out].ndim >= 2}
        inputs = list(dict.fromkeys(i for n in nodes for i in n.input
                                    if i and i not in inside and i in data and i not in self.const_names()))
        graph_outputs = {o.name for o in self.graph.output}
        outputs = list(dict.fromkeys(out for n in nodes for out in n.output if out not in self.const_names() and (
            out in graph_outputs or any(id(m) not in ids for m in self.users.get(out, [])))))
        return inputs, outputs

    def const_names(self) -> set:
        """Values that do not depend on the input's values (weights, constants, shape arithmetic)."""
        if not hasattr(self, "_const_names"):
            dependent = {self.input_name}
            for n in self.graph.node:
                if n.op_type not in ("Shape", "Size") and any(i in dependent for i in n.input):
                    dependent.update(n.output)
            self._const_names = {out for n in self.graph.node for out in n.output if out not in dependent}
            self._const_names |= set(self.const)
        return self._const_names

    def _scope_tensor(self, prefix: str, path: str, key: str, shape: tuple, nodes):
        import numpy as np

        name = f"{path}.{key}"
        if name in self.const and tuple(self.const[name].shape) == shape:
            return self.const[name]
        owner = key.rsplit(".", 1)[0] if "." in key else ""
        for depth in range(owner.count(".") + 1, -1, -1):
            sub = "/".join(owner.split(".")[:depth])
            where = prefix + (sub + "/" if sub else "")
            for n in nodes:
                if not n.name.startswith(where):
                    continue
                # A node's weight comes before its bias (LayerNormalization(x, scale, bias), Gemm(x, W, b)).
                for i in (reversed(n.input) if key.endswith("bias") else n.input):
                    value = self.values.get(i, self.const.get(i))
                    if i in self.const_names() and value is not None and tuple(np.shape(value)) == shape:
                        return np.asarray(value)
        return None

    def _encoder_scope(self, prefix: str, path: str, nodes):
        import itertools

        import numpy as np
        import torch
        from torch import nn

        from designer import modules

        inputs, outputs = self._scope_io(nodes)
        if len(inputs) != 1 or len(outputs) != 1:
            return None
        x, want = self.values[inputs[0]], self.values[outputs[0]]
        if x.ndim != 3:
            return None
        embed = x.shape[-1]
        w1 = self.const.get(f"{path}.linear1.weight")
        if w1 is None:
            return None
        ff = w1.shape[0]
        eps = next((float(_attrs(n).get("epsilon", 1e-5)) for n in nodes if n.op_type == "LayerNormalization"), 1e-5)
        eps = _f32(eps)
        heads = [h for h in range(1, embed + 1) if embed % h == 0]
        probe = nn.TransformerEncoderLayer(embed, 1, ff, dropout=0.0, batch_first=True)
        state = {}
        for key, tensor in probe.state_dict().items():
            value = self._scope_tensor(prefix, path, key, tuple(tensor.shape), nodes)
            if value is None:
                return None
            state[key] = torch.from_numpy(np.array(value, dtype=np.float32))
        x_t = torch.from_numpy(np.asarray(x, dtype=np.float32))
        for nhead, activation, norm_first, causal in itertools.product(heads, ("relu", "gelu", "gelu_tanh"),
                                                                       (False, True), (False, True)):
            variant = causal or activation == "gelu_tanh"
            cls = modules.EncoderLayer if variant else nn.TransformerEncoderLayer
            kw = {"causal": causal} if variant else {}
            layer = cls(embed, nhead, ff, dropout=0.0, activation=activation, layer_norm_eps=eps, batch_first=True,
                        norm_first=norm_first, **kw)
            layer.load_state_dict(state)
            layer.eval()
            with torch.no_grad():
                got = layer(x_t).numpy()
            if got.shape == want.shape and np.allclose(got, want, rtol=1e-4, atol=1e-4):
                return {"module": layer, "input": inputs[0], "output": outputs[0], "name": path, "done": False}
        return None

    def _attention_scope(self, prefix: str, path: str, nodes):
        """nn.MultiheadAttention used as self-attention (the designer's MultiheadAttention layer)."""
        import itertools

        import numpy as np
        import torch
        from torch import nn

        from designer import modules

        inputs, outputs = self._scope_io(nodes)
        if len(inputs) != 1 or len(outputs) != 1:
            return None
        x, want = self.values[inputs[0]], self.values[outputs[0]]
        if x.ndim != 3 or want.shape != x.shape:
            return None
        embed = x.shape[-1]
        x_t = torch.from_numpy(np.asarray(x, dtype=np.float32))
        for bias in (True, False):
            probe = nn.MultiheadAttention(embed, 1, bias=bias, batch_first=True)
            state = {}
            for key, tensor in probe.state_dict().items():
                value = self._scope_tensor(prefix, path, key, tuple(tensor.shape), nodes)
                if value is None:
                    break
                state[key] = torch.from_numpy(np.array(value, dtype=np.float32))
            else:
                for heads, causal in itertools.product([h for h in range(1, embed + 1) if embed % h == 0], (False, True)):
                    layer = modules.SelfAttention(nn.MultiheadAttention(embed, heads, bias=bias, batch_first=True), causal)
                    layer.attn.load_state_dict(state)
                    layer.eval()
                    with torch.no_grad():
                        got = layer(x_t).numpy()
                    if np.allclose(got, want, rtol=1e-4, atol=1e-4):
                        return {"module": layer, "input": inputs[0], "output": outputs[0], "name": path, "done": False}
        return None

    def _scope_node(self, node, scope) -> None:
        if scope["done"] or scope["input"] not in self.env:
            return
        scope["done"] = True
        base = re.sub(r"[^0-9A-Za-z_]", "_", scope["name"].rsplit(".", 1)[-1]) or "layer"
        if base[0].isdigit():
            base = f"layer_{base}"
        name, k = base, 2
        while name in self.used_names or hasattr(self.root, name):
            name, k = f"{base}_{k}", k + 1
        self.used_names.add(name)
        self.root.add_module(name, scope["module"])
        self.env[scope["output"]] = self.graph_fx.call_module(name, (self.env[scope["input"]],))

    def _positional(self, node, data, table_name):
        """x + table[:L]: a PositionalEncoding, learned (the table is a weight) or sinusoidal (a fixed table)."""
        import numpy as np
        import torch

        from designer import modules

        slice_node = self.producer.get(table_name)
        if slice_node is None or slice_node.op_type != "Slice":
            return False
        source = slice_node.input[0]
        table = self.const.get(source)
        sliced = self.values.get(table_name)
        x = self.values[node.input[0] if node.input[1] == table_name else node.input[1]]
        if table is None or sliced is None or table.ndim != 2 or x.ndim != 3:
            return False
        length, embed = x.shape[1], x.shape[2]
        if table.shape[1] != embed or not np.array_equal(sliced.reshape(length, embed), table[:length]):
            return False
        learned = source in self.learned
        module = modules.PositionalEncoding(embed, kind="learned" if learned else "sinusoidal", max_len=table.shape[0])
        if learned:
            with torch.no_grad():
                module.table.copy_(torch.from_numpy(np.array(table, dtype=np.float32)))
        elif not np.allclose(module.table.numpy(), table, atol=1e-5):
            return False
        self.module(node, module, data)
        return True

    def _tied(self, weight_input: str):
        """The Embedding whose table a Linear's weight is (through Transpose or Identity), if one is."""
        name = weight_input
        for _ in range(3):
            if name in getattr(self, "embeddings", {}):
                return self.embeddings[name]
            producer = self.producer.get(name)
            if producer is None or producer.op_type not in ("Transpose", "Identity"):
                return None
            name = producer.input[0]
        return None

    # ---- the check
    def check(self, result: ImportResult) -> Problem | None:
        """The design with the imported weights must give what the file gives (onnx's reference evaluator)."""
        import numpy as np
        import torch

        from designer.build import build_model

        model = build_model(result.design)
        model.load_state_dict(result.weights)
        model.eval()
        with torch.no_grad():
            got = model(torch.from_numpy(self._example())).numpy()
        want = self.values[self.graph.output[0].name]
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-3, atol=1e-4, equal_nan=True):
            return Problem("graph", "the design does not compute what the file computes")
        return None


class _Fail(Exception):
    pass


class _SeqFirst:
    """A sequence-first (L, N, F) view of a batch-first value, as exporters feed recurrent layers."""

    def __init__(self, value):
        self.value = value


class _Stacked:
    """x.unsqueeze(0) on its way to torch.stack(...).sum(0): a Parallel add as torch's exporter writes it."""

    def __init__(self, value):
        self.value = value


class _StackList:
    def __init__(self, values):
        self.values = values


class _RecurrentY(_SeqFirst):
    """A recurrent layer's Y (L, dirs, N, H), whose batch-first form is `value`."""


def operator_getitem():
    import operator

    return operator.getitem


_GATES = {"LSTM": (4, [0, 2, 3, 1]), "GRU": (3, [1, 0, 2]), "RNN": (1, [0])}  # ONNX gate blocks in torch's order
