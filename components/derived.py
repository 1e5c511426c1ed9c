"""Everything derived from a design (drawing, code, files), cached by the design's content.

A rerun that did not change the design does no work here: each function is keyed by the
canonical JSON of the design, so the same content never computes twice.
"""

from __future__ import annotations

import json
from functools import lru_cache

from components.state import analysis_of, design_key


@lru_cache(maxsize=32)
def _dot(key: str, direction: str, expand: bool, theme: str) -> str:
    from designer.graph import to_dot

    design = json.loads(key)
    return to_dot(design, analysis_of(design), direction=direction, expand_repeats=expand, theme=theme)


def dot_of(design: dict, direction: str = "TB", expand: bool = False, theme: str = "light") -> str:
    """The drawing's DOT text."""
    return _dot(design_key(design), direction, expand, theme)


@lru_cache(maxsize=16)
def rendered(dot: str, fmt: str) -> bytes:
    """DOT rendered to SVG or PNG by the Graphviz binary (raises designer.graph.GraphvizMissing)."""
    from designer.graph import render

    return render(dot, fmt)


@lru_cache(maxsize=32)
def _files(key: str) -> tuple[tuple[str, str], ...]:
    from designer.codegen import export_files

    design = json.loads(key)
    return tuple(export_files(design, analysis_of(design)).items())


def code_files(design: dict) -> dict[str, str]:
    """model.py, train.py, design.json, README.md of a valid design."""
    return dict(_files(design_key(design)))


@lru_cache(maxsize=16)
def _zip(key: str) -> bytes:
    from designer.codegen import export_zip

    design = json.loads(key)
    return export_zip(design, analysis_of(design))


def code_zip(design: dict) -> bytes:
    return _zip(design_key(design))
