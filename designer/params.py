"""Parameter declarations: kinds, defaults, bounds, and the validation every form and file goes through."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# The kinds a parameter may have. The inspector picks a widget per kind.
KINDS = ("int", "float", "bool", "choice", "size", "ints", "str")

MAX_SIZE = 1 << 20  # no single size in a design may exceed this (a million)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float))) and not isinstance(value, bool)


def describe_value(value: Any) -> str:
    """A short quote of a received value for error messages (never the whole of a huge value)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bound_text(bound: float) -> str:
    """1048576 -> "1,048,576" (not "1.04858e+06", which `:g` gives), 0.5 -> "0.5"."""
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:g}"


@dataclass(frozen=True)
class ParamSpec:
    """One constructor parameter of a layer: what it is, what it may be, and what it defaults to.

    kinds:
      int, float, bool, str: a scalar;
      choice: one of `choices`;
      size: an int, or a list of `length` ints (kernel_size=3 or [3, 5]); `strings` adds allowed words ("same");
      ints: a list of ints of any length (dims, shapes).
    `required` parameters have no PyTorch default: a file must give them; `default` is what the palette proposes.
    """

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    length: int | None = None
    strings: tuple[str, ...] = ()
    nullable: bool = False
    required: bool = False
    min_items: int = 0
    item_min: int | None = None  # for ints: bound on each entry
    key: bool = False  # shown on cards and graph nodes
    extra: dict = field(default_factory=dict)
    lengths: tuple[int, ...] = ()  # for size: other list lengths accepted ([20] for a 1-D Upsample)
    null_items: bool = False  # for size: entries may be null (AdaptiveAvgPool2d [None, 7]: keep that size)
    shown_when: tuple = ()  # (other parameter, its values) where this one matters: forms hide it otherwise

    def applies(self, values: dict) -> bool:
        """Whether this parameter matters given the node's other values (forms show only those)."""
        return not self.shown_when or values.get(self.shown_when[0]) in self.shown_when[1]

    def to_dict(self) -> dict:
        """The catalogue row of this parameter (`layers --json`)."""
        row: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default, "help": self.help}
        if self.min is not None:
            row["min"] = self.min
        if self.max is not None:
            row["max"] = self.max
        if self.choices:
            row["choices"] = list(self.choices)
        if self.length:
            row["length"] = self.length
        if self.lengths:
            row["lengths"] = list(self.lengths)
        if self.null_items:
            row["null_items"] = True
        if self.shown_when:
            row["shown_when"] = {self.shown_when[0]: list(self.shown_when[1])}
        if self.strings:
            row["strings"] = list(self.strings)
        if self.nullable:
            row["nullable"] = True
        if self.required:
            row["required"] = True
        return row

    def _bounds_error(self, value: float) -> str | None:
        lo, hi = self.min, self.max
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {describe_value(value)}"
        if lo is not None and value < lo:
            return f"must be at least {_bound_text(lo)}, got {describe_value(value)}"
        if hi is not None and value > hi:
            return f"must be at most {_bound_text(hi)}, got {describe_value(value)}"
        return None

    def check(self, value: Any) -> str | None:
        """None if `value` is acceptable, else what is wrong (without the parameter's name)."""
        if value is None:
            return None if self.nullable else "must not be null"
        kind = self.kind
        if kind == "bool":
            return None if isinstance(value, bool) else f"must be true or false, got {describe_value(value)}"
        if kind == "int":
            if not _is_int(value):
                return f"must be a whole number, got {describe_value(value)}"
            return self._bounds_error(value)
        if kind == "float":
            if not _is_number(value):
                return f"must be a number, got {describe_value(value)}"
            return self._bounds_error(float(value))
        if kind == "str":
            if not isinstance(value, str):
                return f"must be text, got {describe_value(value)}"
            return None if len(value) <= 200 else "is too long (200 characters at most)"
        if kind == "choice":
            if value not in self.choices:
                options = ", ".join(str(c) for c in self.choices)
                return f"must be one of {options}; got {describe_value(value)}"
            return None
        if kind == "size":
            if isinstance(value, str):
                if value in self.strings:
                    return None
                words = " or ".join(f'"{s}"' for s in self.strings)
                extra = f", {words}" if words else ""
                return f"must be a whole number or a list of {self.length} of them{extra}; got {describe_value(value)}"
            if _is_int(value):
                return self._bounds_error(value)
            if (isinstance(value, list) and len(value) in (self.length, *self.lengths)
                    and all(_is_int(v) or (v is None and self.null_items) for v in value)):
                for v in value:
                    err = None if v is None else self._bounds_error(v)
                    if err:
                        return err
                return None
            return f"must be a whole number or a list of {self.length} whole numbers; got {describe_value(value)}"
        if kind == "ints":
            if not isinstance(value, list) or not all(_is_int(v) for v in value):
                return f"must be a list of whole numbers, got {describe_value(value)}"
            if len(value) < self.min_items:
                return f"needs at least {self.min_items} entries, got {len(value)}"
            if len(value) > 16:
                return f"has too many entries ({len(value)}; 16 at most)"
            for v in value:
                if abs(v) > MAX_SIZE:
                    return f"has an entry out of range: {v}"
                if self.item_min is not None and v < self.item_min:
                    return f"entries must be at least {self.item_min}, got {v}"
            return None
        raise ValueError(f"unknown parameter kind {kind!r}")

    def as_python(self, value: Any) -> Any:
        """The value as the torch constructor wants it (lists of sizes become tuples)."""
        if isinstance(value, list):
            return tuple(value)
        return value


def P(name: str, kind: str, default: Any, help: str, **kw: Any) -> ParamSpec:
    """Short constructor used by the layer declarations."""
    return ParamSpec(name=name, kind=kind, default=default, help=help, **kw)


def size_text(value: Any) -> str:
    """3 -> "3", [3, 5] -> "3×5", "same" -> "same"."""
    if isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    return str(value)


def human_count(n: float) -> str:
    """1234 -> "1.2k", 3_400_000 -> "3.4M", 6.7e9 -> "6.7B"; below 1000 as is."""
    if abs(n) < 1000:
        return str(int(n))
    for unit, scale in (("k", 1e3), ("M", 1e6), ("B", 1e9), ("T", 1e12)):
        value = n / scale
        text = f"{value:.1f}" if abs(value) < 99.95 else f"{value:.0f}"
        if abs(float(text)) < 1000 or unit == "T":
            return text.removesuffix(".0") + unit
    return str(int(n))
