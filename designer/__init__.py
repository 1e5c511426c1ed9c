"""Netwright's core: layer catalogue, design files, analysis, building, export, training.

Plain Python + PyTorch; never imports streamlit.
"""

from designer.analysis import Analysis, Instance, NodeInfo, analyze
from designer.build import BuildError, build_model, sanitize_identifier
from designer.design import (
    FORMAT,
    VERSION,
    dump_design,
    format_path,
    get_at,
    iter_nodes,
    load_design,
    new_design,
    parse_design,
    parse_path,
    validate,
)
from designer.errors import DesignFileError, Issue
from designer.families import FAMILIES, family_color
from designer.params import ParamSpec
from designer.registry import LayerSpec, catalogue, get_spec, list_specs, register

__all__ = [
    "FAMILIES", "FORMAT", "VERSION", "Analysis", "BuildError", "DesignFileError", "Instance", "Issue",
    "LayerSpec", "NodeInfo", "ParamSpec", "analyze", "build_model", "catalogue", "dump_design", "family_color",
    "format_path", "get_at", "get_spec", "iter_nodes", "list_specs", "load_design", "new_design", "parse_design",
    "parse_path", "register", "sanitize_identifier", "validate",
]
