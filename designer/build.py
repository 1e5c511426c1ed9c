"""Design -> torch.nn.Module. The live model, and the module naming that code export shares.

Both this module and designer.codegen walk the analysis's instance tree with the same
attribute names, so the exported Model has the same state_dict keys as the live one.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections import Counter, OrderedDict
from typing import Any

import torch
from torch import nn

from designer.analysis import Analysis, Instance, analyze
from designer.blocks import block_rule
from designer.errors import Issue
from designer.layer_modules import layer_arguments, layer_class, make_layer  # noqa: F401 - re-exported
from designer.registry import LayerSpec

# Short attribute stems, nanoGPT/torchvision style.
_STEMS = {
    "Conv1d": "conv", "Conv2d": "conv", "ConvTranspose1d": "upconv", "ConvTranspose2d": "upconv",
    "BatchNorm1d": "bn", "BatchNorm2d": "bn", "InstanceNorm2d": "norm", "LayerNorm": "ln", "GroupNorm": "gn",
    "Linear": "fc", "MaxPool1d": "pool", "MaxPool2d": "pool", "AvgPool1d": "pool", "AvgPool2d": "pool",
    "AdaptiveAvgPool1d": "gap", "AdaptiveAvgPool2d": "gap", "AdaptiveMaxPool1d": "gmp", "AdaptiveMaxPool2d": "gmp",
    "Dropout": "drop", "Dropout1d": "drop", "Dropout2d": "drop", "MultiheadAttention": "attn",
    "TransformerEncoderLayer": "encoder", "Embedding": "embed", "PositionalEncoding": "pos",
    "SequencePool": "seqpool", "Residual": "res", "Parallel": "branch", "Repeat": "stack", "Sequential": "seq",
}
# Names an nn.Module attribute must not take.
def _module_attributes() -> set[str]:
    """Every attribute name a live module has: the classes' (methods, properties) and an instance's own
    (`training`, `_parameters`, ...), for nn.Module (the exported Model) and nn.Sequential (the live model)."""
    return {name for cls in (nn.Module, nn.Sequential) for name in (*dir(cls), *vars(cls()))}


_RESERVED = _module_attributes() | {"self", "x", "nn", "torch", "math", "F", "Model"}


class BuildError(ValueError):
    """The design has errors, so there is no network to build; carries the errors."""

    def __init__(self, errors: list[Issue]):
        self.errors = errors
        first = errors[0] if errors else None
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"the design has errors: {first}{more}")


class ModelTooLarge(BuildError):
    """The network's parameters alone would not fit in the free memory of the device it is built on."""

    def __init__(self, issue: Issue):
        super().__init__([issue])
        self.args = (str(issue),)


def check_fits(analysis: Analysis) -> None:
    """Refuse to build a network whose float32 parameters exceed the free memory of the device it would be
    built on (a design may ask for 10^12 parameters: analysis on `meta` is free, allocating them is not).
    Building under `torch.device("meta")` is always allowed."""
    device = torch.empty(0).device  # honours `with torch.device(...)` and torch.set_default_device
    if device.type == "meta":
        return
    from designer.train.memory import available_memory, format_bytes

    need = analysis.params * 4
    free = available_memory(device)
    if free is not None and need > free:
        raise ModelTooLarge(Issue(
            "layers", f"the network's {analysis.params:,} parameters need {format_bytes(need)} as float32, but "
            f"{format_bytes(free)} is free on {device.type}: building it would exhaust the memory",
            "make the largest layers smaller (the summary lists each layer's parameters)"))


def sanitize_identifier(text: str, fallback: str = "layer") -> str:
    """User text -> a safe Python identifier (ASCII, snake_case, not a keyword or Module attribute)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ident = re.sub(r"[^0-9a-zA-Z]+", "_", ascii_text).strip("_").lower()[:40].rstrip("_")
    if not ident:
        ident = fallback
    if ident[0].isdigit():
        ident = f"{fallback}_{ident}"
    if keyword.iskeyword(ident) or ident in _RESERVED or ident.startswith("_"):
        ident = f"{ident}_"
    return ident


def attribute_names(instances: list[Instance]) -> list[str]:
    """Unique attribute names for the top-level layers: the user's name, or a stem numbered when repeated."""
    stems = [
        sanitize_identifier(i.node["name"], _stem(i.spec)) if i.node.get("name") else _stem(i.spec)
        for i in instances
    ]
    named = [bool(i.node.get("name")) for i in instances]
    totals = Counter(s for s, n in zip(stems, named) if not n)
    seen: Counter = Counter()
    used: set[str] = set()
    names = []
    for stem, is_named in zip(stems, named):
        if is_named:
            candidate = stem
        else:
            seen[stem] += 1
            candidate = f"{stem}{seen[stem]}" if totals[stem] > 1 else stem
        base, k = candidate, 2
        while candidate in used:
            candidate, k = f"{base}_{k}", k + 1
        used.add(candidate)
        names.append(candidate)
    return names


def _stem(spec: LayerSpec) -> str:
    return _STEMS.get(spec.type, sanitize_identifier(spec.type))


def _sequence(instances: list[Instance]) -> nn.Sequential:
    return nn.Sequential(*(build_instance(i) for i in instances))


def build_instance(inst: Instance) -> nn.Module:
    """The module of one placed node (blocks recursively)."""
    if not inst.spec.is_block:
        return make_layer(inst.spec, inst.values, inst.in_shape)
    return block_rule(inst.spec.type).module(inst, _sequence)


def placed(tree: list[Instance], names: list[str]):
    """Every placed node with the steps from the model to its module: ("head", "body", 0), ("stack", 2, 1).

    Attribute steps are str, index steps int; the module layout is the one build_instance (and the exported
    code) gives each block."""
    stack = [(inst, (name,)) for name, inst in zip(names, tree)][::-1]
    while stack:
        inst, steps = stack.pop()
        yield inst, steps
        children = [(inst2, (*steps, *prefix, i)) for prefix, insts in module_slots(inst) for i, inst2 in enumerate(insts)]
        stack.extend(children[::-1])


def module_slots(inst: Instance) -> list[tuple[tuple, list[Instance]]]:
    """(steps from a block's module to one of its nn.Sequential, the instances in it)."""
    return block_rule(inst.spec.type).slots(inst) if inst.spec.is_block else []


def ties(tree: list[Instance], names: list[str]) -> list[tuple[tuple, tuple]]:
    """(steps to a tied layer, steps to the Embedding whose weight it uses), in design order."""
    steps_of = {}
    out = []
    for inst, steps in placed(tree, names):
        steps_of.setdefault(inst.path, steps)
        if inst.tied is not None:
            out.append((steps, steps_of[inst.tied]))
    return out


def _module_at(model: nn.Module, steps: tuple) -> nn.Module:
    for step in steps:
        model = getattr(model, step) if isinstance(step, str) else model[step]
    return model


def build_model(design: dict[str, Any], analysis: Analysis | None = None) -> nn.Module:
    """The trainable network of a valid design; raises BuildError listing the errors otherwise."""
    analysis = analysis or analyze(design)
    if not analysis.valid or analysis.tree is None:
        raise BuildError(analysis.errors)
    check_fits(analysis)
    names = attribute_names(analysis.tree)
    model = nn.Sequential(OrderedDict((n, build_instance(i)) for n, i in zip(names, analysis.tree)))
    for layer, embedding in ties(analysis.tree, names):
        _module_at(model, layer).weight = _module_at(model, embedding).weight  # one shared Parameter
    return model
