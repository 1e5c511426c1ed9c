"""One layer's live module from its LayerSpec and values: the constructor keywords, the class, the module.

Analysis (shapes on meta) and build (the live network) both call this; it imports neither, so the two
do not import each other.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from designer import modules
from designer.registry import LayerSpec


def layer_arguments(spec: LayerSpec, values: dict[str, Any], in_shape: tuple[int, ...]) -> tuple[dict, dict]:
    """(constructor keywords, wrapper keywords) of a layer: inferred sizes, parameters, fixed keywords."""
    ctor: dict[str, Any] = dict(spec.infer(in_shape)) if spec.infer else {}
    wrapper: dict[str, Any] = {}
    plain = not spec.uses_variant(values)
    for p in spec.params:
        if plain and p.name in spec.variant_params:
            continue
        target = wrapper if p.name in spec.wrapper_params else ctor
        target[p.name] = p.as_python(values[p.name])
    ctor.update(spec.fixed)
    return ctor, wrapper


def layer_class(spec: LayerSpec, values: dict[str, Any] | None = None) -> type[nn.Module]:
    """The class of a layer: torch.nn's, a designer.modules one, or the spec's variant where the values ask."""
    if values is not None and spec.uses_variant(values):
        return getattr(modules, spec.variant)
    return getattr(nn, spec.type) if spec.module_source == "nn" else getattr(modules, spec.type)


def make_layer(spec: LayerSpec, values: dict[str, Any], in_shape: tuple[int, ...]) -> nn.Module:
    """The module of one (non-block) layer for an input of `in_shape` (batch excluded)."""
    ctor, wrapper_kw = layer_arguments(spec, values, in_shape)
    module = layer_class(spec, values)(**ctor)
    if spec.wrapper:
        module = getattr(modules, spec.wrapper)(module, **wrapper_kw)
    return module
