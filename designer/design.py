"""The design document: paths, the tree walk, load / validate / save (format v1).

A design is plain JSON data (dicts and lists), exactly as in the file. Loading parses JSON and
nothing else: no value in a file is ever evaluated.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from designer.errors import DesignFileError, Issue
from designer.params import MAX_SIZE, describe_value
from designer.registry import LayerSpec, get_spec, list_specs

FORMAT = "netwright.design"
VERSION = 1
DTYPES = ("float32", "int64")
TOP_KEYS = ("format", "version", "name", "description", "input", "task", "layers")

MAX_FILE_BYTES = 5_000_000
MAX_NODES = 5_000
MAX_DEPTH = 24
MAX_INPUT_ELEMENTS = 1 << 28
MAX_INPUT_RANK = 4
# Layers the network places, Repeat copies counted (a Repeat inside a Repeat multiplies): what building the
# model makes. The per-Repeat bound alone would let three nested Repeats of 1,000 place a billion modules.
MAX_PLACED = 20_000
# JSON nesting a design can need: 3 levels per block (Parallel: node, branches, branch) plus a few. Deeper files are
# refused at load, so later deep copies (edits, undo) and reprs never meet Python's recursion limit.
MAX_JSON_DEPTH = 3 * MAX_DEPTH + 24

# --- paths ---------------------------------------------------------------------------------------

_PART = re.compile(r"\.?([A-Za-z_]\w*)|\[(\d+)\]")


def parse_path(path: str) -> tuple[str | int, ...]:
    """"layers[4].branches[1][0]" -> ("layers", 4, "branches", 1, 0)."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _PART.match(path, pos)
        if not m:
            raise ValueError(f"not a path: {path!r}")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return tuple(parts)


def format_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """The inverse of parse_path."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def child_slots(node: dict[str, Any]) -> list[tuple[str, list]]:
    """The node lists inside a block, with their slot suffixes: [("body", [...]), ("branches[1]", [...])]."""
    spec = get_spec(node.get("type")) if isinstance(node.get("type"), str) else None
    if spec is None or not spec.is_block:
        return []
    slots = []
    for key in spec.children:
        value = node.get(key, [])
        if key == "branches":
            if isinstance(value, list):
                slots.extend((f"branches[{i}]", b) for i, b in enumerate(value) if isinstance(b, list))
        elif isinstance(value, list):
            slots.append((key, value))
    return slots


def iter_nodes(nodes: list, prefix: str = "layers", depth: int = 0) -> Iterator[tuple[str, dict, int]]:
    """Every entry of a node list and its blocks, depth first in order, as (path, node, depth).

    Entries that are not objects are yielded too (validation reports them)."""
    for i, node in enumerate(nodes):
        path = f"{prefix}[{i}]"
        yield path, node, depth
        if depth < MAX_DEPTH and isinstance(node, dict):
            for suffix, children in child_slots(node):
                yield from iter_nodes(children, f"{path}.{suffix}", depth + 1)


def get_at(design: dict, path: str) -> Any:
    """The value at a path (a node, or a node list for a slot path)."""
    value: Any = design
    for part in parse_path(path):
        value = value[part]
    return value


def node_params(node: dict[str, Any]) -> dict[str, Any]:
    """The parameter keys a node gives (everything but type, name and child lists)."""
    spec = get_spec(node.get("type", ""))
    skip = {"type", "name", *(spec.children if spec else ())}
    return {k: v for k, v in node.items() if k not in skip}


# --- reading and writing -------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 would load as inf and then save as the non-JSON Infinity
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests deeper than `limit` (level by level: the check itself never recurses)."""
    level, depth = ([value] if isinstance(value, (dict, list)) else []), 1
    while level:
        if depth > limit:
            return True
        deeper: list = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            deeper += [c for c in children if isinstance(c, (dict, list))]
        level, depth = deeper, depth + 1
    return False


def parse_design(text: str | bytes) -> dict[str, Any]:
    """Parse a design file's text. Raises DesignFileError when it is not a readable design at all."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise DesignFileError(f"the file is {len(text):,} bytes; a design file may be at most {MAX_FILE_BYTES:,}")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DesignFileError(f"the file is not UTF-8 text (byte {exc.start} is not valid)") from None
    if len(text) > MAX_FILE_BYTES:
        raise DesignFileError(f"the file is {len(text):,} characters; a design file may be at most {MAX_FILE_BYTES:,}")
    if not text.strip():
        raise DesignFileError("the file is empty; a design file is a JSON object with \"format\": \"netwright.design\"")
    try:
        doc = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise DesignFileError(f"the file nests too deeply (more than {MAX_DEPTH} levels of blocks are not allowed)") from None
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        where = f" at line {line}, column {exc.colno}" if line else ""
        reason = getattr(exc, "msg", str(exc))
        raise DesignFileError(f"not valid JSON{where}: {reason}") from None
    if _too_deep(doc, MAX_JSON_DEPTH):
        raise DesignFileError(f"the file nests too deeply (more than {MAX_DEPTH} levels of blocks are not allowed)")
    if not isinstance(doc, dict):
        raise DesignFileError(f"a design file holds a JSON object, this one holds {type(doc).__name__ if doc is not None else 'null'}")
    if doc.get("format") != FORMAT:
        raise DesignFileError(f'not a Netwright design: "format" must be "{FORMAT}", got {describe_value(doc.get("format"))}')
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != VERSION:  # true == 1 in Python
        raise DesignFileError(f"design format version {describe_value(doc.get('version'))} is not supported; this is version {VERSION}")
    return doc


def read_limited(path: Path, limit: int, what: str = "a design file") -> bytes:
    """The bytes of a regular file, reading at most `limit` + 1 of them.

    `stat().st_size` is 0 for devices and pipes (/dev/zero, a FIFO): only a regular file is read,
    and never past the limit, so no file can make this read without end or hang on a pipe."""
    import os
    import stat

    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise DesignFileError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a device, pipe or socket, not a regular file"
        raise DesignFileError(f"{path} is {kind}; give {what}")
    try:  # O_NONBLOCK: should the path be swapped for a pipe after the check, opening it does not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise DesignFileError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise DesignFileError(f"{path} is not a regular file; give {what}")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise DesignFileError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise DesignFileError(f"{path} is more than {limit:,} bytes; {what} may be at most {limit:,}")
    return data


def load_design(source: str | bytes | Path) -> dict[str, Any]:
    """Read a design from a path, or from its text. Raises DesignFileError (with the reason) if unreadable."""
    if isinstance(source, Path):
        return parse_design(read_limited(source, MAX_FILE_BYTES))
    return parse_design(source)


def dump_design(design: dict[str, Any]) -> str:
    """The design as file text (stable key order as given, 2-space indent)."""
    text = json.dumps(design, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\\ud800") read from a file: keep it escaped
        text = json.dumps(design, indent=2)
    return text + "\n"


def new_design(name: str = "Untitled", shape: list[int] | None = None, dtype: str = "float32",
               task: dict | None = None, layers: list | None = None) -> dict[str, Any]:
    """A fresh design document."""
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": name,
                           "input": {"shape": list(shape or [3, 32, 32]), "dtype": dtype}}
    if task is not None:
        doc["task"] = task
    doc["layers"] = copy.deepcopy(layers) if layers else []
    return doc


# --- validation ----------------------------------------------------------------------------------


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def check_document(doc: dict[str, Any]) -> list[Issue]:
    """Problems with the document's own keys: input, task, layers (not the nodes inside)."""
    issues: list[Issue] = []
    for key in doc:
        if key not in TOP_KEYS:
            hint = _suggest(key, list(TOP_KEYS))
            issues.append(Issue(key, f"unknown top-level key {key!r}", hint or f"remove it; known keys: {', '.join(TOP_KEYS)}"))
    name = doc.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        issues.append(Issue("name", f"name must be text of at most 200 characters, got {describe_value(name)}", "give a short name"))
    inp = doc.get("input")
    if not isinstance(inp, dict):
        issues.append(Issue("input", f"input must be an object like {{\"shape\": [3, 32, 32]}}, got {describe_value(inp)}",
                            "set the input shape"))
    else:
        issues.extend(_check_input(inp))
    task = doc.get("task")
    if task is not None:
        issues.extend(_check_task(task))
    layers = doc.get("layers")
    if not isinstance(layers, list):
        issues.append(Issue("layers", f"layers must be a list of nodes, got {describe_value(layers)}", "set \"layers\": []"))
    return issues


def _check_input(inp: dict) -> list[Issue]:
    issues = []
    shape, dtype = inp.get("shape"), inp.get("dtype", "float32")
    for key in inp:
        if key not in ("shape", "dtype"):
            issues.append(Issue(f"input.{key}", f"unknown input key {key!r}", "remove it; input has shape and dtype"))
    ok_list = isinstance(shape, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
    if not ok_list or not 1 <= len(shape) <= MAX_INPUT_RANK:
        issues.append(Issue("input.shape", f"must be a list of 1 to {MAX_INPUT_RANK} whole numbers (batch excluded), "
                            f"got {describe_value(shape)}", "e.g. [3, 32, 32] for colour images, [784] for features"))
    elif any(s < 1 for s in shape):
        issues.append(Issue("input.shape", f"sizes must be at least 1, got {shape}", "use positive sizes"))
    elif any(s > MAX_SIZE for s in shape) or math.prod(shape) > MAX_INPUT_ELEMENTS:
        issues.append(Issue("input.shape", f"{shape} is too large for one sample (at most {MAX_INPUT_ELEMENTS:,} elements)",
                            "use a smaller input"))
    if dtype not in DTYPES:
        issues.append(Issue("input.dtype", f"must be float32 or int64 (token ids), got {describe_value(dtype)}", "set float32"))
    return issues


def _check_task(task: Any) -> list[Issue]:
    if not isinstance(task, dict) or task.get("kind") not in ("classification", "regression"):
        return [Issue("task", f"task must be {{\"kind\": \"classification\", \"num_classes\": K}} or "
                      f"{{\"kind\": \"regression\"}}, got {describe_value(task)}", "set the task, or remove it")]
    issues = []
    if task["kind"] == "classification":
        k = task.get("num_classes")
        if not isinstance(k, int) or isinstance(k, bool) or not 2 <= k <= MAX_SIZE:
            issues.append(Issue("task.num_classes", f"must be a whole number from 2 to {MAX_SIZE:,}, got {describe_value(k)}",
                                "set the number of classes"))
    for key in task:
        if key not in ("kind", "num_classes"):
            issues.append(Issue(f"task.{key}", f"unknown task key {key!r}", "remove it"))
    return issues


def check_node(node: Any, path: str) -> list[Issue]:
    """Problems with one node's own keys: its type, name, parameters and child lists (not the children)."""
    if not isinstance(node, dict):
        return [Issue(path, f"a node must be an object with a \"type\", got {describe_value(node)}", "remove it")]
    type_name = node.get("type")
    if not isinstance(type_name, str):
        return [Issue(path, f"the node has no \"type\" (got {describe_value(type_name)})", "give it a layer type, e.g. \"ReLU\"")]
    spec = get_spec(type_name)
    if spec is None:
        hint = _suggest(type_name, [s.type for s in list_specs()])
        return [Issue(path, f"unknown layer type {describe_value(type_name)}", hint or "choose a type from the palette (the layer catalogue)")]
    issues: list[Issue] = []
    name = node.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 100):
        issues.append(Issue(f"{path}.name", f"name must be text of at most 100 characters, got {describe_value(name)}",
                            "give a short name"))
    for key, value in node.items():
        if key in ("type", "name"):
            continue
        if key in spec.children:
            issues.extend(_check_children(spec, key, value, f"{path}.{key}"))
            continue
        param = spec.param(key)
        if param is None:
            issues.append(_unknown_param(spec, key, path))
            continue
        problem = param.check(value)
        if problem:
            issues.append(Issue(f"{path}.{key}", f"{type_name} {key} {problem}", f"set {key} to a valid value (default {param.default!r})"))
    for param in spec.params:
        if param.required and param.name not in node:
            issues.append(Issue(f"{path}.{param.name}", f"{type_name} needs {param.name} ({param.help.rstrip('.')})",
                                f"set {param.name}, e.g. {param.default!r}",
                                action={"op": "set", "path": path, "key": param.name, "value": param.default}))
    return issues


def _unknown_param(spec: LayerSpec, key: str, path: str) -> Issue:
    if key in spec.inferred:
        return Issue(f"{path}.{key}", f"{key} is inferred from the incoming tensor; a design does not give it",
                     f"remove {key}", action={"op": "unset", "path": path, "key": key})
    if key == "batch_first":
        return Issue(f"{path}.{key}", "batch_first is always true and is not a parameter", "remove it",
                     action={"op": "unset", "path": path, "key": key})
    hint = _suggest(key, list(spec.param_names))
    known = ", ".join(spec.param_names) or "none"
    return Issue(f"{path}.{key}", f"{spec.type} has no parameter {key!r}", hint or f"remove it (parameters: {known})",
                 action={"op": "unset", "path": path, "key": key})


def _check_children(spec: LayerSpec, key: str, value: Any, path: str) -> list[Issue]:
    if key == "branches":
        if not isinstance(value, list) or not all(isinstance(b, list) for b in value):
            return [Issue(path, f"branches must be a list of node lists, got {describe_value(value)}", "e.g. [[...], [...]]")]
        if not value:
            return [Issue(path, "a Parallel block needs at least one branch", "add a branch")]
        return []
    if not isinstance(value, list):
        return [Issue(path, f"{key} must be a list of nodes, got {describe_value(value)}", f"set {key} to []")]
    return []


def count_nodes(doc: dict[str, Any]) -> tuple[int, int]:
    """(number of nodes, deepest nesting) without recursion, stopping early past the limits."""
    count, deepest = 0, 0
    stack = [(doc.get("layers"), 0)]
    while stack:
        nodes, depth = stack.pop()
        if not isinstance(nodes, list):
            continue
        for node in nodes:
            count += 1
            if count > MAX_NODES or depth > MAX_DEPTH:
                return count, max(deepest, depth)
            deepest = max(deepest, depth)
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("body", "shortcut", "layers"):
                        stack.append((value, depth + 1))
                    elif key == "branches" and isinstance(value, list):
                        stack.extend((b, depth + 1) for b in value)
    return count, deepest


def _placed(nodes: Any, path: str, found: list[Issue]) -> int:
    """Layers a node list places, Repeat copies counted; notes the innermost Repeat that places too many.

    Only called within the node and depth limits, so the recursion is at most MAX_DEPTH deep."""
    total = 0
    for i, node in enumerate(nodes if isinstance(nodes, list) else []):
        node_path = f"{path}[{i}]"
        inner = 0
        if isinstance(node, dict):
            for suffix, children in child_slots(node):
                inner += _placed(children, f"{node_path}.{suffix}", found)
            times = node.get("times")
            spec = get_spec("Repeat")
            if node.get("type") == "Repeat" and spec is not None and spec.param("times").check(times) is None:
                inner *= times  # an invalid count is reported as such, and counts once here
                if inner > MAX_PLACED and not found:
                    found.append(Issue(f"{node_path}.times",
                                       f"Repeat × {times:,} places {inner:,} layers (its copies, and their copies "
                                       f"of inner Repeats); a network may place at most {MAX_PLACED:,}",
                                       "lower times (a Repeat inside a Repeat multiplies)"))
        total += 1 + inner
    return total


def limit_issues(doc: dict[str, Any]) -> list[Issue]:
    """The bounds on how big a design may be."""
    count, deepest = count_nodes(doc)
    if count > MAX_NODES:
        return [Issue("layers", f"the design has more than {MAX_NODES:,} nodes", "use Repeat for repeated blocks")]
    if deepest > MAX_DEPTH:
        return [Issue("layers", f"blocks nest more than {MAX_DEPTH} levels deep", "flatten the nesting")]
    found: list[Issue] = []
    placed = _placed(doc.get("layers"), "layers", found)
    if found:
        return found
    if placed > MAX_PLACED:
        return [Issue("layers", f"the network places {placed:,} layers (Repeat copies counted); "
                      f"a network may place at most {MAX_PLACED:,}", "lower the Repeat counts")]
    return []


def validate(doc: dict[str, Any]) -> list[Issue]:
    """Every problem in the document's structure and parameters (shapes are the analysis's job)."""
    if not isinstance(doc, dict):
        return [Issue("", f"a design is a JSON object, got {describe_value(doc)}", None)]
    issues = check_document(doc) + limit_issues(doc)
    if issues and issues[-1].path == "layers":
        return issues
    layers = doc.get("layers")
    if isinstance(layers, list):
        for path, node, _ in iter_nodes(layers):
            issues.extend(check_node(node, path))
    return issues
