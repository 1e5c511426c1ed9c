"""The architecture drawing: a design and its analysis as Graphviz DOT, and DOT rendered to SVG/PNG.

`to_dot` builds the text (no binary needed; the page hands it to `st.graphviz_chart`). It reads
the design tree for structure and the analysis rows for shapes, parameter counts and errors, so
invalid designs draw too: a node in error is red with its message, the nodes it keeps from
running are grey. Node ids come from design paths and everything is emitted in design order, so
one design always gives byte-identical DOT. All user text goes through `_html` (HTML-like labels)
or `_quoted` (plain strings), so no name can break the DOT.

`render` runs a Graphviz binary: the `graphviz-pure` one that requirements.txt installs (next to
the venv's python or on PATH), else a system `dot`; `NETWRIGHT_DOT` names another.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from designer.analysis import Analysis, Instance, NodeInfo, analyze
from designer.blocks import MERGES, block_rule
from designer.design import MAX_DEPTH, child_slots
from designer.families import FAMILIES
from designer.params import human_count, size_text
from designer.registry import get_spec

MAX_EXPANDED_NODES = 400  # a Repeat whose copies would draw more nodes than this stays collapsed
MAX_DRAWN_NODES = 3000  # past this (a design beyond the size limits) the rest is counted, not drawn
MAX_TEXT = 60  # user text (names, types) is cut to this many characters on a node
RENDER_TIMEOUT_S = 60.0
FORMATS = ("svg", "png", "pdf")

Shape = tuple[int, ...]


class GraphvizMissing(RuntimeError):
    """No Graphviz binary to render DOT with; the message says what to install."""


class GraphvizError(RuntimeError):
    """The Graphviz binary failed or took too long."""


# --- text ------------------------------------------------------------------------------------------


def _visible(text: str) -> str:
    """Control and other invisible characters as visible stand-ins: a name cannot hide or reorder text."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20:
            out.append(chr(0x2400 + code))  # control pictures: newline -> ␊
        elif code == 0x7F:
            out.append("\u2421")
        elif ch == " " or ch.isprintable():
            out.append(ch)
        else:  # format characters (bidi overrides, zero width), separators, unassigned, surrogates
            out.append(f"[U+{code:04X}]")
    return "".join(out)


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "\\": "&#92;",
                 "{": "&#123;", "}": "&#125;", "|": "&#124;", "[": "&#91;", "]": "&#93;"}


def _html(text: Any) -> str:
    """User text for inside an HTML-like label: entities for markup, nothing invisible."""
    return "".join(_HTML_ESCAPES.get(ch, ch) for ch in _visible(str(text)))


def _quoted(text: Any) -> str:
    """A double-quoted DOT string showing `text` literally (tooltips, titles): escString-safe."""
    lines = (_visible(part).replace("\\", "\\\\").replace('"', '\\"') for part in str(text).split("\n"))
    body = "\\n".join(lines)
    if body.endswith("\\"):  # Graphviz's lexer reads \\" as \ + \" : never end on a backslash
        body += " "
    return f'"{body}"'


def shape_text(shape: Shape | list | None) -> str:
    """(64, 16, 16) -> "64×16×16"; the batch is never part of it."""
    if shape is None:
        return "?"
    return size_text(list(shape)) if len(shape) else "scalar"


def _wrap(text: str, width: int = 44, lines: int = 4) -> list[str]:
    out = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1] + "…"
    return out


# --- colours -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    background: str
    text: str
    muted: str
    edge: str
    cluster_fill: str
    cluster_border: str
    error_fill: str
    error_border: str
    error_text: str
    grey_fill: str
    grey_border: str
    grey_text: str
    io_fill: str
    io_border: str
    dark: bool


THEMES = {
    "light": Theme("white", "#0f172a", "#64748b", "#64748b", "#f8fafc", "#94a3b8",
                   "#fca5a5", "#b91c1c", "#7f1d1d", "#f1f5f9", "#cbd5e1", "#94a3b8", "#e2e8f0", "#475569", False),
    "dark": Theme("#0e1117", "#e2e8f0", "#94a3b8", "#94a3b8", "#161b26", "#475569",
                  "#7f1d1d", "#f87171", "#fecaca", "#1a1f2b", "#334155", "#64748b", "#1e293b", "#94a3b8", True),
}


def _mix(colour: str, other: str, t: float) -> str:
    """colour blended towards other by t (hex #rrggbb)."""
    a = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def _family_colours(family: str, theme: Theme) -> tuple[str, str]:
    """(fill, border) of a layer family in this theme."""
    _, fill, accent = FAMILIES.get(family, ("", "#f1f5f9", "#64748b"))
    if theme.dark:
        return _mix(accent, theme.background, 0.72), accent
    return fill, accent


# --- the drawing -------------------------------------------------------------------------------------


@dataclass
class _Tail:
    """An open end of the flow: the node a tensor leaves from, and what flows."""

    node: str
    shape: Shape | None
    ok: bool
    skip: bool = False  # an identity path (Residual without shortcut, empty Parallel branch)


def _node_id(path: str, tag: str = "") -> str:
    """"layers[4].body[0]" -> "layers_4_body_0": stable, and unique for the paths a design has."""
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") + tag


class _Drawing:
    def __init__(self, design: Any, analysis: Analysis, direction: str, expand: bool, theme: Theme) -> None:
        self.design = design if isinstance(design, dict) else {}
        self.analysis = analysis
        self.expand = expand
        self.theme = theme
        self.direction = direction
        self.rows: dict[str, NodeInfo] = {r.path: r for r in analysis.rows}
        self.out: list[str] = []
        self.edges: list[str] = []
        self.indent = 1
        self.families: set[str] = set()
        self.errors = self.unreached = False
        self.drawn = self.left_out = 0
        self.placed: dict[tuple[str, tuple[int, ...]], Instance] = {}
        if analysis.tree is not None:
            self._index(analysis.tree, ())
        self.flow_ports = ("s", "n") if direction == "TB" else ("e", "w")

    def _index(self, instances: list[Instance], chain: tuple[int, ...]) -> None:
        """Instances by (path, copy numbers of the enclosing Repeats): per-copy shapes and counts."""
        for inst in instances:
            self.placed.setdefault((inst.path, chain), inst)
            for children in inst.slots.values():
                self._index(children, chain)
            for k, copy in enumerate(inst.copies):
                self._index(copy, chain + (k,))

    # -- emitting
    def emit(self, line: str) -> None:
        self.out.append("  " * self.indent + line)

    def node(self, node_id: str, label: str, **attrs: str) -> None:
        parts = [f"label=<{label}>"] + [f"{k}={v}" for k, v in attrs.items()]
        self.emit(f"{node_id} [{', '.join(parts)}];")

    def edge(self, tail: _Tail, head: str, **attrs: str) -> None:
        t = self.theme
        a: dict[str, str] = {}
        if tail.ok and tail.shape is not None:
            a["label"] = _quoted(" " + shape_text(tail.shape) + " ")
        else:
            a["color"] = _quoted(t.grey_border)
            a["style"] = "dashed"
        if tail.skip:
            a["style"] = "dashed"
            a["arrowhead"] = "empty"
        else:
            a["tailport"], a["headport"] = self.flow_ports
        a.update(attrs)
        # Edges go after every node: an edge inside a cluster would pull its tail node into that cluster.
        self.edges.append(f"  {tail.node} -> {head} [{', '.join(f'{k}={v}' for k, v in a.items())}];")

    def connect(self, flow: list[_Tail], head: str) -> None:
        for tail in flow:
            self.edge(tail, head)

    def begin_cluster(self, cluster_id: str, title: str, status: str, tooltip: str, style: str = "rounded,filled") -> None:
        t = self.theme
        border = {"error": t.error_border, "unreached": t.grey_border}.get(status, t.cluster_border)
        self.emit(f"subgraph cluster_{cluster_id} {{")
        self.indent += 1
        self.emit(f"label=<{title}>; labeljust=l; margin=10; tooltip={_quoted(tooltip)};")
        self.emit(f'style="{style}"; color="{border}"; fillcolor="{t.cluster_fill}"; penwidth={"1.6" if status == "error" else "1"};')

    def end_cluster(self) -> None:
        self.indent -= 1
        self.emit("}")

    # -- lookups
    def row(self, path: str, node: Any) -> NodeInfo:
        row = self.rows.get(path)
        if row is None:  # not walked (the document itself is broken): draw it unreached
            spec = get_spec(node.get("type")) if isinstance(node, dict) and isinstance(node.get("type"), str) else None
            kind = spec.type if spec else (str(node.get("type", "?")) if isinstance(node, dict) else "?")
            name = node.get("name") if isinstance(node, dict) and isinstance(node.get("name"), str) else None
            row = NodeInfo(path=path, type=kind, name=name, family=spec.family if spec else "", depth=0,
                           label=spec.label(node) if spec else "?")
        return row

    def shape(self, row: NodeInfo, chain: tuple[int, ...]) -> Shape | None:
        inst = self.placed.get((row.path, chain))
        if inst is not None:
            return inst.out_shape
        return row.output_shape if row.status == "ok" else None

    def params(self, row: NodeInfo, chain: tuple[int, ...]) -> int:
        inst = self.placed.get((row.path, chain))
        if inst is not None:
            return inst.params
        return row.params // max(row.copies, 1)

    # -- labels
    def text_lines(self, row: NodeInfo, params: int, status: str) -> str:
        t = self.theme
        kind = _clip(_visible(row.type), 40)
        detail = row.label[len(row.type):].strip() if row.label.startswith(row.type) else ""
        colour = {"error": t.error_text, "unreached": t.grey_text}.get(status, t.text)
        head = _html(kind) + (f" {_html(_clip(_visible(detail)))}" if detail else "")
        lines = [f'<FONT COLOR="{colour}">{head}</FONT>']
        if row.name:
            lines.append(f'<FONT POINT-SIZE="9" COLOR="{t.muted if status == "ok" else colour}"><I>{_html(_clip(row.name))}</I></FONT>')
        if params:
            lines.append(f'<FONT POINT-SIZE="8" COLOR="{t.muted}">{human_count(params)} params</FONT>')
        if status == "error":
            lines.append(self.issue_lines(row.errors))
        return "<BR/>".join(lines)

    def issue_lines(self, issues: list, width: int = 44) -> str:
        """The first errors' messages, wrapped, and the first one's fix, for inside a label."""
        t = self.theme
        lines = [f'<FONT POINT-SIZE="8" COLOR="{t.error_text}">{_html(x)}</FONT>'
                 for issue in issues[:2] for x in _wrap(_visible(issue.message), width)]
        fix = issues[0].fix if issues else None
        if fix:
            lines += [f'<FONT POINT-SIZE="8" COLOR="{t.error_text}"><I>{_html(x)}</I></FONT>'
                      for x in _wrap(_visible("fix: " + fix), width, 2)]
        return "<BR/>".join(lines)

    def tooltip(self, row: NodeInfo, extra: str = "") -> str:
        parts = [f"{row.path} · {_clip(row.label, 200)}" + (f" ({_clip(row.name, 100)})" if row.name else "")]
        if extra:
            parts.append(extra)
        for issue in row.errors:
            parts.append(f"error: {issue.message}" + (f"\nfix: {issue.fix}" if issue.fix else ""))
        if row.status == "unreached" and not row.errors:
            parts.append("not reached: an error before it stops the analysis here")
        return "\n".join(parts)

    def status_of(self, row: NodeInfo, ok_in: bool) -> str:
        if row.errors:
            self.errors = True
            return "error"
        if row.status != "ok" or not ok_in:
            self.unreached = True
            return "unreached"
        return "ok"

    def box_attrs(self, status: str, family: str) -> dict[str, str]:
        t = self.theme
        if status == "error":
            return {"fillcolor": _quoted(t.error_fill), "color": _quoted(t.error_border), "penwidth": "2.5"}
        if status == "unreached":
            return {"fillcolor": _quoted(t.grey_fill), "color": _quoted(t.grey_border), "style": '"rounded,filled,dashed"'}
        fill, accent = _family_colours(family, t)
        self.families.add(family)
        return {"fillcolor": _quoted(fill), "color": _quoted(accent)}

    # -- the tree
    def draw_list(self, nodes: Any, prefix: str, flow: list[_Tail], chain: tuple[int, ...], tag: str) -> list[_Tail]:
        if not isinstance(nodes, list):
            return flow
        for i, node in enumerate(nodes):
            flow = self.draw_node(node, f"{prefix}[{i}]", flow, chain, tag)
        return flow

    def draw_node(self, node: Any, path: str, flow: list[_Tail], chain: tuple[int, ...], tag: str) -> list[_Tail]:
        if self.drawn >= MAX_DRAWN_NODES:  # a design past the size limits: draw its start, count the rest
            self.left_out += 1
            return flow
        self.drawn += 1
        row = self.row(path, node)
        spec = get_spec(node["type"]) if isinstance(node, dict) and isinstance(node.get("type"), str) else None
        ok_in = all(t.ok for t in flow)
        if spec is not None and spec.is_block and path.count(".") < MAX_DEPTH:
            return self.draw_block(node, spec.type, row, path, flow, chain, tag, ok_in)
        status = self.status_of(row, ok_in)
        node_id = _node_id(path, tag)
        params = self.params(row, chain) if status == "ok" else 0
        self.node(node_id, self.text_lines(row, params, status), tooltip=_quoted(self.tooltip(row)),
                  **self.box_attrs(status, row.family))
        self.connect(flow, node_id)
        return [_Tail(node_id, self.shape(row, chain), status == "ok")]

    def block_title(self, kind: str, row: NodeInfo, status: str, extra: str = "", params: int = 0) -> str:
        t = self.theme
        colour = {"error": t.error_text, "unreached": t.grey_text}.get(status, t.muted)
        parts = [_html(kind)]
        if extra:
            parts.append(extra)
        if row.name:
            parts.append(_html(_clip(row.name)))
        if params:
            parts.append(f"{human_count(params)} params")
        return f'<FONT POINT-SIZE="9" COLOR="{colour}">{" · ".join(parts)}</FONT>'

    def error_lines(self, row: NodeInfo) -> str:
        return "<BR/>" + self.issue_lines(row.errors, 56) if row.errors else ""

    def draw_block(self, node: dict, kind: str, row: NodeInfo, path: str, flow: list[_Tail],
                   chain: tuple[int, ...], tag: str, ok_in: bool) -> list[_Tail]:
        status = self.status_of(row, ok_in)
        base = _node_id(path, tag)
        params = self.params(row, chain) if status == "ok" else 0
        tooltip = self.tooltip(row)
        drawing = block_rule(kind).drawing
        if drawing.count:
            return self.draw_repeat(node, row, path, flow, chain, tag, status)
        # A frame's errors go in its title; a fork's on its merge node.
        in_title = drawing.layout == "frame"
        title = self.block_title(kind, row, status, params=params) + (self.error_lines(row) if in_title else "")
        self.begin_cluster(base, title, status, tooltip)
        if drawing.layout == "frame":
            out = flow
            for suffix, _, nodes in drawing.lane_entries(node):
                out = self.draw_list(nodes, f"{path}.{suffix}", out, chain, tag)
            if out is flow:
                out = self.placeholder(base, flow)
            self.end_cluster()
            return [_Tail(t.node, self.shape(row, chain) if status == "ok" else t.shape, status == "ok" and t.ok) for t in out]
        ends: list[_Tail] = []
        for suffix, lane, nodes in drawing.lane_entries(node):
            if lane.identity and not nodes:
                ends += [_Tail(t.node, t.shape, t.ok, skip=True) for t in flow]
                continue
            if lane.frame:
                self.begin_cluster(f"{base}_{suffix}", f'<FONT POINT-SIZE="8" COLOR="{self.theme.muted}">{_html(lane.label)}</FONT>',
                                   "ok", f"{path}.{suffix}", style="rounded,dashed")
            ends += self.draw_list(nodes, f"{path}.{suffix}", flow, chain, tag)
            if lane.frame:
                self.end_cluster()
        if not ends:
            ends = list(flow)
        mode = drawing.merge_of(node)
        merge_id, symbol = f"{base}_{mode}", MERGES[mode]["symbol"]
        merge_text = MERGES[mode]["text"].format(dim=_html(node.get("dim", 1)))
        self.merge_node(merge_id, symbol, merge_text, row, status)
        self.connect(ends, merge_id)
        self.end_cluster()
        return [_Tail(merge_id, self.shape(row, chain), status == "ok")]

    def merge_node(self, node_id: str, symbol: str, text: str, row: NodeInfo, status: str) -> None:
        t = self.theme
        tooltip = _quoted(self.tooltip(row, f"merge: {text}"))
        if status == "error":
            label = f'<FONT COLOR="{t.error_text}">{_html(symbol)} {text}</FONT>' + self.error_lines(row)
            self.node(node_id, label, shape="box", style='"rounded,filled"', fillcolor=_quoted(t.error_fill),
                      color=_quoted(t.error_border), penwidth="2.5", tooltip=tooltip)
            return
        colour = t.grey_text if status == "unreached" else t.text
        border = t.grey_border if status == "unreached" else t.io_border
        if symbol == MERGES["add"]["symbol"]:
            self.node(node_id, f'<FONT COLOR="{colour}">+</FONT>', shape="circle", width="0.3", height="0.3",
                      fixedsize="true", style="filled", fillcolor=_quoted(t.io_fill), color=_quoted(border), tooltip=tooltip)
        else:
            self.node(node_id, f'<FONT COLOR="{colour}" POINT-SIZE="9">{text}</FONT>', shape="box", style='"rounded,filled"',
                      height="0.25", fillcolor=_quoted(t.io_fill), color=_quoted(border), tooltip=tooltip)

    def placeholder(self, base: str, flow: list[_Tail]) -> list[_Tail]:
        """An empty block still shows: a small 'empty' node that passes the tensor on."""
        t = self.theme
        node_id = f"{base}_empty"
        self.node(node_id, f'<FONT POINT-SIZE="8" COLOR="{t.muted}">empty</FONT>', shape="box",
                  style='"rounded,dashed"', color=_quoted(t.grey_border), height="0.2")
        self.connect(flow, node_id)
        return [_Tail(node_id, tl.shape, tl.ok) for tl in flow[:1]]

    def draw_repeat(self, node: dict, row: NodeInfo, path: str, flow: list[_Tail], chain: tuple[int, ...],
                    tag: str, status: str) -> list[_Tail]:
        raw = node.get("times")
        times = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 1 else None
        base = _node_id(path, tag)
        body = node.get("body")
        total = self.params(row, chain) if status == "ok" else 0  # all copies
        note = ""
        expand = self.expand and times is not None and times > 1 and _drawn_size(body, True) > 0
        if expand:
            size = times * _drawn_size(body, True)
            if size > MAX_EXPANDED_NODES:
                expand = False
                note = f'<BR/><FONT POINT-SIZE="8" COLOR="{self.theme.muted}">collapsed: {times} copies would draw {size} nodes</FONT>'
        count = f"× {times}" if times is not None else f"× {_html(_clip(repr(raw), 20))}"
        title = self.block_title(f"Repeat {count}", row, status, params=total) + note + self.error_lines(row)
        self.begin_cluster(base, title, status, self.tooltip(row))
        if not expand:
            out = self.draw_list(body, f"{path}.body", flow, chain + (0,), tag)
            if out is flow:
                out = self.placeholder(base, flow)
        else:
            out = flow
            for k in range(times):
                ctag = f"{tag}_c{k + 1}"
                self.begin_cluster(f"{base}{ctag}", f'<FONT POINT-SIZE="8" COLOR="{self.theme.muted}">copy {k + 1} of {times}</FONT>',
                                   status, f"{path} copy {k + 1} of {times}", style="rounded,dashed")
                out = self.draw_list(body, f"{path}.body", out, chain + (k,), ctag)
                if out is flow:
                    out = self.placeholder(f"{base}{ctag}", flow)
                self.end_cluster()
        self.end_cluster()
        return [_Tail(t.node, self.shape(row, chain) if status == "ok" else t.shape, status == "ok" and t.ok) for t in out]

    # -- the whole graph
    def io_label(self, title: str, detail: str, colour: str, errors: list) -> str:
        label = f'<FONT COLOR="{colour}">{title}</FONT><BR/><FONT POINT-SIZE="9" COLOR="{colour}">{detail}</FONT>'
        return label + ("<BR/>" + self.issue_lines(errors) if errors else "")

    def io_attrs(self, status: str) -> dict[str, str]:
        t = self.theme
        if status == "error":
            return {"fillcolor": _quoted(t.error_fill), "color": _quoted(t.error_border), "penwidth": "2.5"}
        if status == "unreached":
            return {"fillcolor": _quoted(t.grey_fill), "color": _quoted(t.grey_border), "style": '"rounded,filled,dashed"'}
        return {"fillcolor": _quoted(t.io_fill), "color": _quoted(t.io_border)}

    def build(self) -> str:
        t, a = self.theme, self.analysis

        def errors_at(prefix: str) -> list:
            return [e for e in a.errors if e.path == prefix or e.path.startswith(prefix + ".")]

        # input
        in_errors = errors_at("input")
        if a.input_shape is not None:
            detail = f"{_html(shape_text(a.input_shape))} · {_html(a.input_dtype or 'float32')}"
        else:
            detail = "?"
        in_status = "error" if in_errors else "ok"
        self.errors |= bool(in_errors)
        self.node("input", self.io_label("Input", detail, t.error_text if in_errors else t.text, in_errors),
                  **{"tooltip": _quoted("the input, one sample (batch excluded)"), **self.io_attrs(in_status)})
        flow = [_Tail("input", a.input_shape, a.input_shape is not None)]
        flow = self.draw_list(self.design.get("layers"), "layers", flow, (), "")
        # output
        task_errors = errors_at("task")
        out_ok = all(x.ok for x in flow) and a.output_shape is not None
        task = self.design.get("task")
        detail = _html(shape_text(a.output_shape)) if out_ok else "?"
        if isinstance(task, dict) and task.get("kind") == "classification":
            detail += f" · classification ({_html(_clip(str(task.get('num_classes')), 12))} classes)"
        elif isinstance(task, dict) and task.get("kind") == "regression":
            detail += " · regression"
        out_status = "error" if task_errors else ("ok" if out_ok else "unreached")
        self.errors |= bool(task_errors)
        self.unreached |= out_status == "unreached"
        colour = {"error": t.error_text, "unreached": t.grey_text}.get(out_status, t.text)
        tip = "the network's output, one sample" + "".join(
            f"\nerror: {e.message}" + (f"\nfix: {e.fix}" if e.fix else "") for e in task_errors)
        self.node("output", self.io_label("Output", detail, colour, task_errors),
                  **{"tooltip": _quoted(tip), **self.io_attrs(out_status)})
        self.connect(flow, "output")
        self.legend()
        return self.header() + "\n".join(self.out + self.edges) + "\n}\n"

    def header(self) -> str:
        t, a = self.theme, self.analysis
        name = self.design.get("name")
        lines = [f'<FONT POINT-SIZE="14">{_html(_clip(name, 80)) if isinstance(name, str) and name else "Design"}</FONT>']
        if a.params:
            lines.append(f'<FONT POINT-SIZE="10" COLOR="{t.muted}">{human_count(a.params)} params</FONT>')
        if not a.valid:
            n = len(a.errors)
            lines.append(f'<FONT POINT-SIZE="10" COLOR="{t.error_border}">{n} error{"s" if n != 1 else ""}</FONT>')
        # Document-level errors that belong to no node (unknown top-level keys, size limits).
        loose = [e for e in a.errors if not e.path.startswith(("input", "task", "layers["))]
        for issue in loose[:3]:
            for line in _wrap(_visible(f"{issue.path}: {issue.message}" if issue.path else issue.message), 70, 2):
                lines.append(f'<FONT POINT-SIZE="9" COLOR="{t.error_border}">{_html(line)}</FONT>')
        if self.left_out:
            lines.append(f'<FONT POINT-SIZE="9" COLOR="{t.error_border}">{self.left_out} more nodes not drawn</FONT>')
        title = "".join(line + '<BR ALIGN="LEFT"/>' for line in lines)
        font = "Helvetica"
        return (
            "digraph netwright {\n"
            f'  graph [rankdir={self.direction}, newrank=true, bgcolor="{t.background}", fontname="{font}", '
            f'fontcolor="{t.text}", fontsize=12, label=<{title}>, labelloc=t, labeljust=l, '
            f'nodesep=0.25, ranksep=0.22, pad=0.2, margin=0, tooltip=" "];\n'
            f'  node [shape=box, style="rounded,filled", fontname="{font}", fontsize=10, fontcolor="{t.text}", '
            f'margin="0.14,0.04", height=0.3, penwidth=1.2];\n'
            f'  edge [fontname="{font}", fontsize=8, fontcolor="{t.muted}", color="{t.edge}", arrowsize=0.6, penwidth=1];\n'
        )

    def legend(self) -> None:
        t = self.theme
        rows = []
        for family, (label, _, _) in FAMILIES.items():
            if family in self.families:
                fill, accent = _family_colours(family, t)
                rows.append((fill, accent, label, "solid"))
        if self.errors:
            rows.append((t.error_fill, t.error_border, "error", "solid"))
        if self.unreached:
            rows.append((t.grey_fill, t.grey_border, "not reached", "dashed"))
        if not rows:
            return
        cells = "".join(
            f'<TR><TD BGCOLOR="{fill}" COLOR="{accent}" WIDTH="14" HEIGHT="10" FIXEDSIZE="TRUE" STYLE="rounded"> </TD>'
            f'<TD ALIGN="LEFT" BORDER="0"><FONT POINT-SIZE="9" COLOR="{t.text}">{_html(label)}</FONT></TD><TD BORDER="0" WIDTH="6"></TD></TR>'
            for fill, accent, label, _ in rows
        )
        self.emit("subgraph cluster_legend {")
        self.indent += 1
        self.emit(f'label=<<FONT POINT-SIZE="9" COLOR="{t.muted}">Legend</FONT>>; style="rounded"; '
                  f'color="{t.cluster_border}"; tooltip="layer families";')
        self.emit(f'legend [shape=plain, style="", label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="2">{cells}</TABLE>>];')
        self.indent -= 1
        self.emit("}")


def _drawn_size(nodes: Any, expand: bool, depth: int = 0) -> int:
    """How many nodes a node list draws (blocks count their merge node; expanded Repeats every copy)."""
    if not isinstance(nodes, list) or depth > MAX_DEPTH:
        return 0
    total = 0
    for node in nodes:
        total += 1
        if not isinstance(node, dict):
            continue
        if node.get("type") == "Repeat":
            times = node.get("times") if isinstance(node.get("times"), int) else 1
            inner = _drawn_size(node.get("body"), expand, depth + 1)
            total += max(times, 1) * inner if expand else inner
        else:
            total += sum(_drawn_size(children, expand, depth + 1) for _, children in child_slots(node))
    return total


def to_dot(design: dict, analysis: Analysis | None = None, direction: str = "TB", expand_repeats: bool = False,
           theme: str = "light") -> str:
    """The design as Graphviz DOT text: a node per layer, shapes on the edges, blocks as clusters.

    Works for invalid designs (errors red, unreached nodes grey). The same design always gives
    the same text. direction: "TB" (top to bottom) or "LR"; theme: "light" or "dark".
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR', got {direction!r}")
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}")
    if analysis is None:
        analysis = analyze(design)
    return _Drawing(design, analysis, direction, expand_repeats, THEMES[theme]).build()


# --- rendering ---------------------------------------------------------------------------------------


def graphviz_binary() -> str | None:
    """The Graphviz binary `render` uses, or None: $NETWRIGHT_DOT, else graphviz-pure, else a system dot."""
    override = os.environ.get("NETWRIGHT_DOT", "").strip()
    if override:
        if Path(override).is_file() and os.access(override, os.X_OK):
            return override
        return shutil.which(override)
    exe = ".exe" if sys.platform == "win32" else ""
    beside = Path(sys.executable).parent / f"graphviz-pure{exe}"  # the venv's bin (not resolved: a venv python is a link)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("graphviz-pure") or shutil.which("dot")


def _missing_message() -> str:
    override = os.environ.get("NETWRIGHT_DOT", "").strip()
    if override:
        return (f"NETWRIGHT_DOT is set to {override!r}, which is not an executable Graphviz binary; "
                "point it at one (e.g. /usr/bin/dot), or unset it to use graphviz-pure or a system dot")
    return ("no Graphviz binary found to draw SVG/PNG: install the Python package graphviz-pure "
            "(`pip install graphviz-pure`, part of requirements.txt) or Graphviz itself "
            "(`apt install graphviz`, `brew install graphviz`), or set NETWRIGHT_DOT to a dot binary. "
            "DOT output (--format dot) needs no binary.")


def render(dot: str, fmt: str = "svg", timeout: float = RENDER_TIMEOUT_S) -> bytes:
    """DOT text drawn as svg, png or pdf bytes by a Graphviz binary.

    Raises GraphvizMissing when there is none, GraphvizError when it fails or runs past `timeout`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    binary = graphviz_binary()
    if binary is None:
        raise GraphvizMissing(_missing_message())
    try:
        done = subprocess.run([binary, "-Kdot", f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"{Path(binary).name} took longer than {timeout:g} s to draw the graph") from None
    except OSError as exc:
        raise GraphvizMissing(f"cannot run {binary}: {exc.strerror or exc}. " + _missing_message()) from None
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit status {done.returncode}"
        raise GraphvizError(f"{Path(binary).name} could not draw the graph: {detail}")
    return done.stdout
