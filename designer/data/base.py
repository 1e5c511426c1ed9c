"""The dataset value, its errors, the limits on user data, and shared helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# Limits on what a user hands in: big enough for real work on a laptop, small enough that a
# mistaken (or hostile) file cannot eat the machine.
MAX_ARRAY_BYTES = 500 * 2**20  # .npz: all arrays together, uncompressed
MAX_CSV_BYTES = 200 * 2**20
MAX_ZIP_MEMBERS = 20_000
MAX_ZIP_TOTAL_BYTES = 200 * 2**20  # uncompressed
MAX_ZIP_FILE_BYTES = 20 * 2**20  # one image file
MAX_IMAGE_PIXELS = 40_000_000  # one decoded image (width * height)
MAX_TOTAL_PIXELS = 1_000_000_000  # all the images of one zip together, read from their headers before decoding
MAX_CSV_FIELD = 131_072  # characters in one CSV cell (the csv module's own limit)
MAX_TENSOR_BYTES = 2 * 2**30  # the decoded images as float32
MAX_CLASSES = 100_000
CSV_AUTO_MAX_CLASSES = 20  # task="auto": integer-like labels with at most this many values are classes

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}




class DataError(ValueError):
    """Data that cannot be used, in one line a user can act on: names the file, column or array and what was received."""


class DataCancelled(DataError):
    """Reading was cancelled by the caller (its `cancel` callback said so) between two images."""


# ----------------------------------------------------------------------------------------------
# The dataset value


@dataclass(eq=False)  # tensors have no single truth value: datasets compare by identity
class Dataset:
    """A dataset ready to train on: train/validation tensors, one sample's shape and dtype, the task.

    Classification: `y` is int64 of shape (N,) with class ids in [0, num_classes); per token
    (task["per_token"], sequence tagging) of shape (N, L): one class id per position.
    Regression: `y` is float32 of shape (N, *target_shape).
    """

    name: str
    description: str
    input_shape: tuple[int, ...]  # one sample, batch excluded
    dtype: str  # "float32" or "int64"
    task: dict  # {"kind": "classification", "num_classes": K} or {"kind": "regression"}
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: list[str] | None = None  # class names, for classification
    # How to load it again by name: (name, seed, data_dir) for a catalog dataset, None for user data. A worker
    # process loads such a dataset itself instead of receiving its tensors.
    origin: tuple | None = None

    @property
    def size(self) -> int:
        """Train plus validation samples."""
        return len(self.x_train) + len(self.x_val)

    @property
    def target_shape(self) -> tuple[int, ...]:
        """One sample's target: () for a class id, (k, ...) for regression targets."""
        return tuple(self.y_train.shape[1:])

    def describe(self) -> dict[str, Any]:
        """The `datasets --json` row: name, description, input shape and dtype, task, size."""
        return _row(self.name, self.description, self.input_shape, self.dtype, self.task, self.size)


def _row(name: str, description: str, shape: tuple[int, ...], dtype: str, task: dict, size: int) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "input": {"shape": list(shape), "dtype": dtype},
        "task": dict(task),
        "size": int(size),
    }


def _make_dataset(
    name: str,
    description: str,
    x: np.ndarray,
    y: np.ndarray,
    task: dict,
    classes: list[str] | None,
    n_val: int,
) -> Dataset:
    """Wrap arrays already in random order: the last `n_val` samples become the validation set."""
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))
    n_train = len(xt) - n_val
    return Dataset(
        name=name,
        description=description,
        input_shape=tuple(int(d) for d in xt.shape[1:]),
        dtype=str(xt.dtype).removeprefix("torch."),
        task=task,
        x_train=xt[:n_train],
        y_train=yt[:n_train],
        x_val=xt[n_train:],
        y_val=yt[n_train:],
        classes=classes,
    )


def _shuffled_split(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int, label: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Shuffle user data with the seed; return (x, y, n_val) for `_make_dataset`."""
    if not 0.0 < float(val_fraction) < 1.0:
        raise DataError(f"{label}: val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    n = len(x)
    if n < 2:
        raise DataError(f"{label}: needs at least 2 samples (one to train, one to validate), got {n}")
    n_val = min(max(1, round(n * float(val_fraction))), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return x[order], y[order], n_val


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    """A shape as people write it: 3×32×32; () is 'a scalar'."""
    return "×".join(str(int(d)) for d in shape) if len(shape) else "a scalar"


