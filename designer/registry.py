"""LayerSpec, the one declaration per layer type, and the registry: register / get / list.

Everything about a type reads its LayerSpec: the inspector's form, the analysis's shape
rules, the live module, the exported code and the drawing's label.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from designer.params import ParamSpec, size_text

Shape = tuple[int, ...]
# A check returns (message, fix, action) triples: problems that a shape pass would miss or word badly.
# The action is an edit of the checked layer without a path ({"op": "set", "key", "value"}): the
# analysis adds the layer's path, so the fix is one click.
Check = Callable[[Shape, dict[str, Any]], list[tuple[str, str | None, dict | None]]]


@dataclass(frozen=True)
class LayerSpec:
    """A layer or block type.

    type:       the torch.nn class name (or a designer layer in designer.modules)
    family:     palette group and colour
    params:     the parameters a design may give
    ranks:      sample ranks (batch excluded) the layer accepts; () means any rank >= 1
    expects:    how the accepted input reads, for messages: "(C, H, W)"
    infer:      incoming sample shape -> the constructor sizes a design never gives
    input_dtype: "float", "int" (token ids) or "any"
    output_dtype: None (same as the input) or a dtype name
    fixed:      constructor keywords always passed (batch_first=True)
    wrapper:    a designer.modules class that wraps the torch module, fed the params in wrapper_params
    positional: params written positionally in code, after the inferred sizes
    check:      extra rules with fixes
    children:   for blocks: the keys holding lists of nodes
    palette:    the parameters a new node from the palette starts with
    variant:    a designer.modules subclass of the torch class, used when `variant_when(values)` holds
                (TransformerEncoderLayer with causal=True); `variant_params` reach only the variant
    tie:        the parameter that names an Embedding whose weight this layer shares (built after, not passed)
    formula:    (output shape, FLOPs per sample) without running the layer, where a run on `meta` costs time
                that grows with the input (recurrent layers unroll every step); tests hold it to a real run
    """

    type: str
    family: str
    help: str
    params: tuple[ParamSpec, ...] = ()
    ranks: tuple[int, ...] = ()
    expects: str = ""
    infer: Callable[[Shape], dict[str, Any]] | None = None
    input_dtype: str = "float"
    output_dtype: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    wrapper: str | None = None
    wrapper_params: tuple[str, ...] = ()
    positional: tuple[str, ...] = ()
    check: Check | None = None
    children: tuple[str, ...] = ()
    palette: dict[str, Any] = field(default_factory=dict)
    label_fn: Callable[[dict[str, Any]], str] | None = None
    variant: str | None = None
    variant_when: Callable[[dict[str, Any]], bool] | None = None
    variant_params: tuple[str, ...] = ()
    tie: str | None = None  # the parameter naming an Embedding whose weight the layer uses (Linear.tie_weights)
    formula: Callable[[Shape, dict[str, Any]], tuple[Shape, int]] | None = None

    # --- parameters -------------------------------------------------------------------------
    def param(self, name: str) -> ParamSpec | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def inferred(self) -> tuple[str, ...]:
        """Names of the sizes inferred from the incoming tensor (a design never gives them)."""
        return () if self.infer is None else tuple(self.infer((8,) * 4).keys())

    @property
    def is_block(self) -> bool:
        return bool(self.children)

    @property
    def module_source(self) -> str:
        """Where the class lives: "nn" (torch.nn) or "designer" (designer.modules)."""
        return "nn" if hasattr(nn, self.type) and self.family != "block" else "designer"

    def uses_variant(self, values: dict[str, Any]) -> bool:
        """Whether these values need the designer.modules variant rather than the torch.nn class."""
        return self.variant is not None and self.variant_when is not None and bool(self.variant_when(values))

    def values(self, node: dict[str, Any]) -> dict[str, Any]:
        """The node's parameters with defaults filled in (keys not declared are dropped)."""
        return {p.name: node.get(p.name, p.default) for p in self.params}

    def new_node(self) -> dict[str, Any]:
        """A node as the palette inserts it: required parameters and suggestions set."""
        node: dict[str, Any] = {"type": self.type}
        for p in self.params:
            if p.required:
                node[p.name] = p.default
        node.update(self.palette)
        for key in self.children:
            node.setdefault(key, [])
        return node

    def label(self, node: dict[str, Any]) -> str:
        """Key parameters in a few characters: "Conv2d 64 · 3×3 · s2"."""
        values = self.values(node)
        if self.label_fn is not None:
            try:
                detail = self.label_fn(values)
            except Exception:  # invalid values (reported by validation) must not break the walk
                detail = ""
        else:
            parts = []
            for p in self.params:
                if p.key and (p.required or values[p.name] != p.default):
                    v = values[p.name]
                    parts.append(size_text(v) if p.required else f"{p.name}={size_text(v)}")
            detail = " · ".join(parts)
        return f"{self.type} {detail}".strip()

    def to_dict(self) -> dict[str, Any]:
        """The catalogue row (`python -m designer layers --json`)."""
        row: dict[str, Any] = {
            "type": self.type,
            "family": self.family,
            "help": self.help,
            "params": [p.to_dict() for p in self.params],
            "inferred": list(self.inferred),
            "input_ranks": list(self.ranks),
        }
        if self.children:
            row["children"] = list(self.children)
        return row


_REGISTRY: dict[str, LayerSpec] = {}
_LOADED = False


def register(spec: LayerSpec) -> LayerSpec:
    """Add a type to the catalogue; a duplicate name replaces the old one with a warning."""
    if spec.type in _REGISTRY:
        warnings.warn(f"layer type {spec.type!r} registered twice; the later one wins", stacklevel=2)
    _REGISTRY[spec.type] = spec
    return spec


def _ensure_loaded() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import designer.blocks  # noqa: F401  (registers the blocks)
        import designer.layers  # noqa: F401  (registers the layer families)


def get_spec(type_name: str) -> LayerSpec | None:
    """The spec of a type, or None when unknown."""
    _ensure_loaded()
    return _REGISTRY.get(type_name)


def list_specs() -> list[LayerSpec]:
    """Every registered type, in declaration order."""
    _ensure_loaded()
    return list(_REGISTRY.values())


def catalogue() -> list[dict[str, Any]]:
    """The layer catalogue as plain data."""
    return [spec.to_dict() for spec in list_specs()]
