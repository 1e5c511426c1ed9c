"""Edits: pure functions on a design that return a new design (the input is never changed).

Every user action in the page is one of these, so each can be tested without Streamlit.
Slots name node lists: "layers", "layers[4].body", "layers[4].shortcut", "layers[2].branches[1]",
"layers[3].layers". Indices are positions in the slot's list as it is before the edit.
"""

from __future__ import annotations

import copy
from typing import Any

from designer.design import MAX_DEPTH, MAX_JSON_DEPTH, _too_deep, format_path, get_at, limit_issues, parse_path
from designer.registry import get_spec


class EditError(ValueError):
    """An edit that cannot be made, said in words a user can act on."""


def _copy(design: dict) -> dict:
    return copy.deepcopy(design)


def _parts(path: str) -> tuple:
    try:
        return parse_path(path) if isinstance(path, str) else parse_path("?")
    except ValueError:
        raise EditError(f"{path!r} is not a path like layers[2].body[0]") from None


def _list_at(design: dict, slot: str) -> list:
    parts = _parts(slot)
    if parts and parts[-1] == "branches":  # the list of branches, not a node list: name one, branches[i]
        raise EditError(f"{slot} holds branches, not layers: name one, e.g. {slot}[0]")
    try:
        value = get_at(design, slot)
    except (KeyError, IndexError, TypeError, ValueError):
        value = None
    if value is None:  # a child list not written yet, or a new Parallel branch ("branches[N]" with N = count)
        try:
            parent = get_at(design, format_path(parts[:-1])) if len(parts) > 1 else None
        except (KeyError, IndexError, TypeError, ValueError):
            parent = None
        if isinstance(parent, dict) and isinstance(parts[-1], str):
            spec = get_spec(parent.get("type", ""))
            if spec and parts[-1] in spec.children:
                parent[parts[-1]] = []
                return parent[parts[-1]]
        if isinstance(parent, list) and parts[-2:-1] == ("branches",) and parts[-1] == len(parent):
            parent.append([])
            return parent[-1]
        raise EditError(f"there is no node list at {slot}")
    if not isinstance(value, list):
        raise EditError(f"{slot} is not a node list")
    return value


def _split(path: str) -> tuple[str, int]:
    """"layers[4].body[2]" -> ("layers[4].body", 2)."""
    parts = _parts(path)
    if not parts or not isinstance(parts[-1], int):
        raise EditError(f"{path!r} does not name a node")
    return format_path(parts[:-1]), parts[-1]


def _node_at(design: dict, path: str) -> dict:
    slot, index = _split(path)
    nodes = _list_at(design, slot)
    if not 0 <= index < len(nodes) or not isinstance(nodes[index], dict):
        raise EditError(f"there is no node at {path}")
    return nodes[index]


def new_node(type_name: str) -> dict[str, Any]:
    """A node of a type as the palette makes it."""
    spec = get_spec(type_name)
    if spec is None:
        raise EditError(f"unknown layer type {type_name!r}")
    return spec.new_node()


def insert_node(design: dict, slot: str, index: int, node: dict | str) -> dict:
    """Insert a node (or a new node of a type) at position `index` of a slot."""
    out = _copy(design)
    nodes = _list_at(out, slot)
    if not isinstance(node, (str, dict)):
        raise EditError(f"a node is an object with a type, got {node!r:.60}")
    item = new_node(node) if isinstance(node, str) else copy.deepcopy(node)
    nodes.insert(max(0, min(index, len(nodes))), item)
    return out


def insert_before(design: dict, path: str, nodes: list[dict]) -> dict:
    """Insert nodes just before the node at `path` (or at the end of its slot if the index is one past it)."""
    slot, index = _split(path)
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise EditError(f"nodes must be a list of node objects, got {nodes!r:.60}")
    out = _copy(design)
    target = _list_at(out, slot)
    target[index:index] = copy.deepcopy(nodes)
    return out


def replace_node(design: dict, path: str, nodes: list[dict]) -> dict:
    """Put `nodes` in place of the node at `path` (a fix that reshapes differently from a layer in the way)."""
    slot, index = _split(path)
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, dict) for n in nodes):
        raise EditError(f"nodes must be a non-empty list of node objects, got {nodes!r:.60}")
    out = _copy(design)
    target = _list_at(out, slot)
    if not 0 <= index < len(target):
        raise EditError(f"there is no node at {path}")
    target[index:index + 1] = copy.deepcopy(nodes)
    return out


def remove_node(design: dict, path: str) -> dict:
    """Remove the node at `path`."""
    out = _copy(design)
    slot, index = _split(path)
    _node_at(out, path)
    del _list_at(out, slot)[index]
    return out


def duplicate_node(design: dict, path: str) -> dict:
    """Put a copy of the node right after it."""
    out = _copy(design)
    slot, index = _split(path)
    node = _node_at(out, path)
    _list_at(out, slot).insert(index + 1, copy.deepcopy(node))
    return out


def move_node(design: dict, path: str, slot: str, index: int) -> dict:
    """Move the node at `path` to position `index` of `slot` (index counted before the node leaves)."""
    if not isinstance(path, str) or not isinstance(slot, str):
        raise EditError(f"a move names a node path and a slot, got {path!r:.60} and {slot!r:.60}")
    if slot == path or slot.startswith(path + ".") or slot.startswith(path + "["):
        raise EditError(f"cannot move {path} into itself")
    out = _copy(design)
    src_slot, src_index = _split(path)
    node = _node_at(out, path)
    source = _list_at(out, src_slot)
    target = _list_at(out, slot)
    placeholder: dict = {}
    source[src_index] = placeholder
    target.insert(max(0, min(index, len(target))), node)
    for i, item in enumerate(source):
        if item is placeholder:
            del source[i]
            break
    return out


def wrap_nodes(design: dict, paths: list[str], block: str) -> dict:
    """Wrap sibling nodes (one slot) in a Residual, Repeat, Parallel or Sequential block, in place."""
    if not paths:
        raise EditError("select one or more layers to wrap")
    slots = {_split(p)[0] for p in paths}
    if len(slots) != 1:
        raise EditError("the layers to wrap must stand in the same list")
    slot = slots.pop()
    indices = sorted({_split(p)[1] for p in paths})
    out = _copy(design)
    nodes = _list_at(out, slot)
    for p in paths:
        _node_at(out, p)
    chosen = [nodes[i] for i in indices]
    from designer.blocks import BLOCK_RULES

    if block not in BLOCK_RULES:
        raise EditError(f"cannot wrap in {block!r}: choose {', '.join(sorted(BLOCK_RULES))}")
    wrapper = BLOCK_RULES[block].wrap(chosen)
    for i in reversed(indices):
        del nodes[i]
    nodes.insert(indices[0], wrapper)
    return out


def set_param(design: dict, path: str, key: str, value: Any) -> dict:
    """Set one parameter (or the name, or a child list) of a node; refuses a value its spec refuses."""
    out = _copy(design)
    node = _node_at(out, path)
    spec = get_spec(node.get("type", ""))
    if spec is None:
        raise EditError(f"{path} has an unknown type")
    if key == "name":
        if value in (None, ""):
            node.pop("name", None)
            return out
        if not isinstance(value, str) or len(value) > 100:
            raise EditError("a name is text of at most 100 characters")
    elif key in spec.children:
        if not isinstance(value, list):
            raise EditError(f"{key} must be a list")
        value = copy.deepcopy(value)
    else:
        param = spec.param(key)
        if param is None:
            raise EditError(f"{spec.type} has no parameter {key!r}")
        problem = param.check(value)
        if problem:
            raise EditError(f"{key} {problem}")
    node[key] = value
    return out


def unset_param(design: dict, path: str, key: str) -> dict:
    """Remove a key from a node (back to its default)."""
    out = _copy(design)
    _node_at(out, path).pop(key, None)
    return out


def add_branch(design: dict, path: str) -> dict:
    """Add an empty branch (a skip connection until filled) to a block with a list of lanes (Parallel)."""
    from designer.blocks import BLOCK_RULES

    out = _copy(design)
    node = _node_at(out, path)
    rule = BLOCK_RULES.get(node.get("type"))
    many = [key for key, lane in rule.drawing.lanes.items() if lane.many] if rule else []
    if not many:
        raise EditError(f"{path} is not a Parallel block")
    if not isinstance(node.get(many[0]), list):
        node[many[0]] = []
    node[many[0]].append([])
    return out


def set_input(design: dict, shape: list[int] | None = None, dtype: str | None = None) -> dict:
    """Change the input shape and/or dtype."""
    out = _copy(design)
    inp = out.setdefault("input", {})
    if shape is not None:
        if (not isinstance(shape, list) or not shape or len(shape) > 4
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)):
            raise EditError(f"the input shape must be 1 to 4 sizes of at least 1, got {shape}")
        inp["shape"] = list(shape)
    if dtype is not None:
        if dtype not in ("float32", "int64"):
            raise EditError(f"the input dtype must be float32 or int64, got {dtype}")
        inp["dtype"] = dtype
    return out


def set_task(design: dict, kind: str | None, num_classes: int | None = None) -> dict:
    """Set the task (classification with K classes, regression) or remove it (kind None)."""
    out = _copy(design)
    if kind is None:
        out.pop("task", None)
    elif kind == "classification":
        if not isinstance(num_classes, int) or num_classes < 2:
            raise EditError("classification needs at least 2 classes")
        out["task"] = {"kind": "classification", "num_classes": num_classes}
    elif kind == "regression":
        out["task"] = {"kind": "regression"}
    else:
        raise EditError(f"unknown task kind {kind!r}")
    return out


def rename(design: dict, name: str) -> dict:
    """Rename the design."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise EditError("a design name is 1 to 200 characters")
    out = _copy(design)
    out["name"] = name.strip()
    return out


def apply_fix(design: dict, path: str, index: int = 0) -> dict:
    """Apply the one-click fix of the `index`-th fixable error (then warning) at a node (or at "task")."""
    from designer.analysis import analyze

    analysis = analyze(design)
    fixable = [e for e in [*analysis.errors, *analysis.warnings]
               if e.action and (e.path == path or e.path.startswith(path + "."))]
    if not 0 <= index < len(fixable):
        raise EditError(f"there is no fix to apply at {path}")
    return apply_action(design, fixable[index].action)


def _within_limits(before: dict, after: dict) -> dict:
    """Refuse an edit that takes the design past the limits a design file is held to (nodes, nesting, layers
    placed by Repeats, JSON depth): what the editor makes must export to a file that imports again."""
    if after is before:
        return after
    if _too_deep(after, MAX_JSON_DEPTH):
        raise EditError(f"that would nest the design too deeply (more than {MAX_DEPTH} levels of blocks); "
                        "the edit was not made")
    issues = limit_issues(after)
    if issues and not limit_issues(before):
        raise EditError(f"{issues[0].message}; the edit was not made")
    return after


def apply_action(design: dict, action: dict[str, Any]) -> dict:
    """Apply one editor action (the component's and the fixes' protocol); "select" changes nothing."""
    return _within_limits(design, _apply_action(design, action))


def _apply_action(design: dict, action: dict[str, Any]) -> dict:
    if not isinstance(action, dict):
        raise EditError(f"an action is an object with an op, got {action!r:.60}")
    op = action.get("op")
    try:
        if op == "insert":
            node = action.get("node") or action["type"]
            return insert_node(design, action["slot"], int(action["index"]), node)
        if op == "insert_before":
            return insert_before(design, action["path"], action["nodes"])
        if op == "replace":
            return replace_node(design, action["path"], action["nodes"])
        if op == "move":
            return move_node(design, action["path"], action["slot"], int(action["index"]))
        if op == "remove":
            return remove_node(design, action["path"])
        if op == "duplicate":
            return duplicate_node(design, action["path"])
        if op == "wrap":
            return wrap_nodes(design, list(action["paths"]), action["block"])
        if op == "add_branch":
            return add_branch(design, action["path"])
        if op == "set":
            return set_param(design, action["path"], action["key"], action["value"])
        if op == "unset":
            return unset_param(design, action["path"], action["key"])
        if op == "set_input":
            return set_input(design, action.get("shape"), action.get("dtype"))
        if op == "set_task":
            return set_task(design, action.get("kind"), action.get("num_classes"))
        if op == "fix":
            return apply_fix(design, action["path"], int(action.get("index", 0)))
        if op == "select":
            return design
    except EditError:
        raise
    except (KeyError, TypeError, IndexError, ValueError) as exc:  # ValueError: int("x") for an index
        raise EditError(f"the action {op!r} is missing or has a bad {exc}") from None
    raise EditError(f"unknown action {op!r}")
