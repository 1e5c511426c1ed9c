"""The check of a design against a dataset."""

from __future__ import annotations

import numpy as np

from designer.data.base import Dataset, shape_text
from designer.errors import Issue

# ----------------------------------------------------------------------------------------------
# Design against data


def check_design_against_data(
    input_shape: tuple[int, ...] | list[int],
    input_dtype: str,
    task: dict | None,
    output_shape: tuple[int, ...] | list[int] | None,
    dataset: Dataset,
    design: dict | None = None,
) -> list[Issue]:
    """What stops a design from training on a dataset, as analysis's `Issue` objects; [] when it fits.

    path is "input" (shape or dtype), "task" (the design's task against the data's) or "output"
    (the last layer against the classes or targets). `output_shape` None (an invalid design)
    skips the output check. The output is checked against the dataset's task, the one training uses.
    Each issue's `action` is an edit for `designer.edits.apply_action` where one click can fix it
    (the last layer's out_features needs `design`, to know which layer that is).
    """
    issues: list[Issue] = []

    def issue(path: str, message: str, fix: str | None, action: dict | None = None) -> None:
        issues.append(Issue(path, message, fix, action))

    want = tuple(int(d) for d in dataset.input_shape)
    have = tuple(int(d) for d in input_shape)
    if have != want:
        issue("input", f"the design takes {shape_text(have)}, the dataset gives {shape_text(want)}",
              f"set the input to {shape_text(want)}", {"op": "set_input", "shape": list(want)})
    if input_dtype != dataset.dtype:
        if dataset.dtype == "int64":
            issue("input", f"the design takes {input_dtype} values, the dataset gives int64 token ids",
                  "set the input dtype to int64 (and start with an Embedding)", {"op": "set_input", "dtype": "int64"})
        else:
            issue("input", f"the design takes {input_dtype} token ids, the dataset gives {dataset.dtype} values",
                  f"set the input dtype to {dataset.dtype}", {"op": "set_input", "dtype": dataset.dtype})

    data_kind = dataset.task.get("kind")
    classes = dataset.task.get("num_classes")
    per_token = bool(dataset.task.get("per_token"))
    if task:
        kind = task.get("kind")
        set_task = {"op": "set_task", "kind": data_kind, "num_classes": classes}
        if kind != data_kind:
            what = f"classification with {classes} classes" if data_kind == "classification" else str(data_kind)
            issue("task", f"the design is for {kind}, the dataset is {what}", f"set the task to {what}", set_task)
        elif kind == "classification" and task.get("num_classes") != classes:
            issue("task", f"the design's task has {task.get('num_classes')} classes, the dataset has {classes}",
                  f"set the task's num_classes to {classes}", set_task)

    if output_shape is None:
        return issues
    out = tuple(int(d) for d in output_shape)
    if data_kind == "classification" and per_token:
        length = want[0] if want else None
        if len(out) == 2 and out[0] == length and out[1] != classes:
            issue("output", f"the last layer gives {out[1]} scores per position, the dataset has {classes} tags",
                  f"set the last layer's out_features to {classes}", _out_features(design, classes))
        elif len(out) != 2 or out[0] != length:
            issue("output", f"the design outputs {shape_text(out)} per sample; tagging needs one row of {classes} "
                  f"tag scores per position ({length}×{classes})",
                  f"keep the sequence (no pooling) and end with Linear(out_features={classes})")
    elif data_kind == "classification":
        if len(out) == 1 and out[0] != classes:
            issue("output", f"the last layer gives {out[0]} outputs, the dataset has {classes} classes",
                  f"set the last layer's out_features to {classes}", _out_features(design, classes))
        elif len(out) != 1:
            issue("output", f"the design outputs {shape_text(out)} per sample; classification needs {classes} "
                  f"class scores", _to_vector_fix(out, classes))
    else:
        target = dataset.target_shape
        if out != target:
            n = int(np.prod(target))
            action = None
            if len(out) == 1 and len(target) == 1:
                fix, action = f"set the last layer's out_features to {target[0]}", _out_features(design, target[0])
            elif len(target) == 1:
                fix = _to_vector_fix(out, n)
            else:
                fix = f"end with Linear(out_features={n}) and Reshape to {list(target)}"
            issue("output", f"the design outputs {_values(out)} per sample, the dataset's targets are "
                  f"{_values(target)}", fix, action)
    return issues


def _out_features(design: dict | None, value: int) -> dict | None:
    """The one-click edit setting the last top-level layer's out_features, when that layer is a Linear."""
    layers = (design or {}).get("layers") or []
    if layers and isinstance(layers[-1], dict) and layers[-1].get("type") == "Linear":
        return {"op": "set", "path": f"layers[{len(layers) - 1}]", "key": "out_features", "value": int(value)}
    return None


def _values(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"{shape[0]} value" + ("" if shape[0] == 1 else "s")
    return shape_text(shape)


def _to_vector_fix(out: tuple[int, ...], n: int) -> str:
    if len(out) == 0:
        return f"end with Linear(out_features={n})"
    if len(out) == 2:  # (L, E): a sequence
        return f"pool the sequence (SequencePool) and end with Linear(out_features={n})"
    return f"insert Flatten and end with Linear(out_features={n})"
