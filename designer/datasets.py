"""Datasets: the built-in synthetic sets, the real ones (MNIST, Fashion-MNIST, CIFAR-10), user data
(.npz, .csv, a zip of image folders) and the check of a design against a dataset.

Every dataset is a `Dataset`: tensors split into train and validation, the shape and dtype of one
sample and the task. Built-in sets are generated from a seed (no download, well under 2 s each).
Everything a user hands in is read without evaluating it: `np.load(allow_pickle=False)`, no
pickle in our readers (CIFAR-10 comes from its binary batches, or from torchvision, which
checks its download's md5 before reading it), zip members checked before a byte is read.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import math
import os
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
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


__all__ = [
    "Dataset",
    "DataError",
    "check_design_against_data",
    "dataset_from_csv",
    "dataset_from_image_zip",
    "dataset_from_npz",
    "dataset_names",
    "default_data_dir",
    "list_datasets",
    "load_dataset",
    "read_cifar10_bin",
    "read_idx",
    "shape_text",
]


class DataError(ValueError):
    """Data that cannot be used, in one line a user can act on: names the file, column or array and what was received."""


class DataCancelled(DataError):
    """Reading was cancelled by the caller (its `cancel` callback said so) between two images."""


# ----------------------------------------------------------------------------------------------
# The dataset value


@dataclass(eq=False)  # tensors have no single truth value: datasets compare by identity
class Dataset:
    """A dataset ready to train on: train/validation tensors, one sample's shape and dtype, the task.

    Classification: `y` is int64 of shape (N,) with class ids in [0, num_classes).
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


# ----------------------------------------------------------------------------------------------
# Built-in synthetic datasets


def _rng(name: str, seed: int) -> np.random.Generator:
    """One stream per (dataset, seed), so two sets with the same seed are still independent."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def _balanced_labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """n labels, each class n/k times (±1), in random order."""
    return rng.permutation(np.arange(n) % k).astype(np.int64)


SHAPE_CLASSES = [
    "disk",
    "ring",
    "square",
    "frame",
    "triangle",
    "plus",
    "x",
    "horizontal bars",
    "vertical bars",
    "diagonal line",
]


def _shape_distance(cls: int, u: np.ndarray, v: np.ndarray, r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, negative inside) of shape `cls` in its own rotated frame (u, v).

    u, v: (n, S, S); r (half size), t (stroke thickness): (n, 1, 1).
    """
    if cls == 0:  # disk
        return np.hypot(u, v) - r
    if cls == 1:  # ring
        return np.abs(np.hypot(u, v) - r) - t / 2
    if cls == 2:  # filled square
        return np.maximum(np.abs(u), np.abs(v)) - 0.8 * r
    if cls == 3:  # square outline
        return np.abs(np.maximum(np.abs(u), np.abs(v)) - 0.8 * r) - t / 2
    if cls == 4:  # filled triangle, circumradius r: three half-planes at inradius r/2
        d = None
        for a in (np.pi / 2, np.pi * 7 / 6, np.pi * 11 / 6):
            e = np.cos(a) * u + np.sin(a) * v - r / 2
            d = e if d is None else np.maximum(d, e)
        return d
    if cls in (5, 6):  # plus; x is a plus turned by 45° (the rotation is drawn per class)
        bar_h = np.maximum(np.abs(u) - r, np.abs(v) - t / 2)
        bar_v = np.maximum(np.abs(v) - r, np.abs(u) - t / 2)
        return np.minimum(bar_h, bar_v)
    if cls in (7, 8):  # three parallel bars; vertical bars are horizontal ones turned by 90°
        gap = 0.75 * r
        stripes = np.minimum(np.minimum(np.abs(v - gap), np.abs(v)), np.abs(v + gap)) - t / 2
        return np.maximum(np.abs(u) - r, stripes)
    if cls == 9:  # one thick diagonal stroke
        return np.maximum(np.abs(u) - 1.2 * r, np.abs(v) - t / 2)
    raise ValueError(cls)


def _shape_angles(rng: np.random.Generator, cls: int, n: int) -> np.ndarray:
    """Rotation (radians) per class: free where the shape allows it, narrow where it names the class."""
    deg = {
        5: rng.uniform(-10, 10, n),  # plus stays upright
        6: 45 + rng.uniform(-10, 10, n),  # x stays diagonal
        7: rng.uniform(-12, 12, n),  # horizontal
        8: 90 + rng.uniform(-12, 12, n),  # vertical
        9: rng.choice([45.0, 135.0], n) + rng.uniform(-15, 15, n),  # / or \
    }.get(cls, rng.uniform(0, 360, n))
    return np.deg2rad(deg).astype(np.float32)


def _draw_shapes(rng: np.random.Generator, labels: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased masks (n, S, S) in [0, 1] of the shape each label names, at random place and size."""
    n, s = len(labels), size
    scale = s / 28
    masks = np.empty((n, s, s), np.float32)
    grid = np.arange(s, dtype=np.float32) + 0.5
    gy, gx = grid[None, :, None], grid[None, None, :]
    for cls in range(len(SHAPE_CLASSES)):
        idx = np.flatnonzero(labels == cls)
        m = len(idx)
        r = rng.uniform(5.0, 10.0, m).astype(np.float32) * scale
        t = rng.uniform(1.5, 3.0, m).astype(np.float32) * scale
        reach = r * (1.25 if cls == 9 else 1.05)  # keep the shape inside the frame
        cx = rng.uniform(reach + 1, s - reach - 1).astype(np.float32)
        cy = rng.uniform(reach + 1, s - reach - 1).astype(np.float32)
        a = _shape_angles(rng, cls, m)
        dx, dy = gx - cx[:, None, None], gy - cy[:, None, None]
        cos, sin = np.cos(a)[:, None, None], np.sin(a)[:, None, None]
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy
        d = _shape_distance(cls, u, v, r[:, None, None], t[:, None, None])
        masks[idx] = np.clip(0.5 - d, 0.0, 1.0)
    return masks


def _clutter(rng: np.random.Generator, n: int, size: int, dots: int = 3) -> np.ndarray:
    """A few small random dots per image (n, S, S), so that no single pixel names the class."""
    grid = np.arange(size, dtype=np.float32) + 0.5
    gy, gx = grid[None, :, None], grid[None, None, :]
    out = np.zeros((n, size, size), np.float32)
    for _ in range(dots):
        px = rng.uniform(0, size, (n, 1, 1)).astype(np.float32)
        py = rng.uniform(0, size, (n, 1, 1)).astype(np.float32)
        rad = rng.uniform(0.6, 1.6, (n, 1, 1)).astype(np.float32) * size / 28
        out = np.maximum(out, np.clip(rad + 0.5 - np.hypot(gx - px, gy - py), 0, 1))
    return out


def _make_shapes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Grayscale glyphs (n, 1, 28, 28) in [0, 1]: random brightness, background, clutter and noise."""
    y = _balanced_labels(rng, n, len(SHAPE_CLASSES))
    mask = _draw_shapes(rng, y, 28)
    fg = rng.uniform(0.55, 1.0, (n, 1, 1)).astype(np.float32)
    bg = rng.uniform(0.0, 0.25, (n, 1, 1)).astype(np.float32)
    dots = _clutter(rng, n, 28) * rng.uniform(0.3, 0.9, (n, 1, 1)).astype(np.float32)
    img = bg + (fg - bg) * np.maximum(mask, dots)
    img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(0.03, 0.15, (n, 1, 1)).astype(np.float32)
    return np.clip(img, 0, 1, out=img)[:, None], y


def _make_shapes_rgb(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour glyphs (n, 3, 32, 32) in [0, 1] on a gradient background; colour says nothing about the class."""
    s = 32
    y = _balanced_labels(rng, n, len(SHAPE_CLASSES))
    mask = _draw_shapes(rng, y, s)[:, None]  # (n, 1, S, S)
    bg = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    fg = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    # keep the glyph visible: push the foreground away from the background where they are too close
    close = np.linalg.norm(fg - bg, axis=1) < 0.45
    fg[close] = np.where(bg[close] > 0.5, bg[close] - 0.5, bg[close] + 0.5)
    grid = np.linspace(-0.5, 0.5, s, dtype=np.float32)
    a = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    ramp = np.cos(a)[:, None, None] * grid[None, None, :] + np.sin(a)[:, None, None] * grid[None, :, None]  # (n, S, S)
    tilt = rng.uniform(-0.3, 0.3, (n, 3, 1, 1)).astype(np.float32)
    img = bg[:, :, None, None] + tilt * ramp[:, None]  # the background, (n, 3, S, S)
    dots = _clutter(rng, n, s)[:, None]
    dot_colour = rng.uniform(0, 1, (n, 3, 1, 1)).astype(np.float32)
    img += (dot_colour - img) * dots  # blend in the clutter, then the glyph over it
    img += (fg[:, :, None, None] - img) * mask
    img += rng.standard_normal(img.shape, dtype=np.float32) * rng.uniform(0.02, 0.1, (n, 1, 1, 1)).astype(np.float32)
    return np.clip(img, 0, 1, out=img), y


SEQUENCE_CLASSES = ["slow wave", "fast wave", "trend", "spikes"]


def _make_sequences(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy multichannel series (n, 32, 4): the class is a pattern in some of the 4 channels.

    slow wave (period 14-32), fast wave (period 3-6), trend (rising or falling), spikes.
    Every sample also carries a channel offset, noise and a weak distracting wave.
    """
    steps, feats = 32, 4
    y = _balanced_labels(rng, n, len(SEQUENCE_CLASSES))
    t = np.arange(steps, dtype=np.float32)[None, :, None]  # (1, L, 1)
    on = rng.random((n, 1, feats)) < 0.5
    on[np.arange(n), 0, rng.integers(0, feats, n)] = True  # at least one channel carries the pattern
    amp = rng.uniform(0.6, 1.3, (n, 1, feats)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, feats)).astype(np.float32)
    period = np.where(
        (y == 0)[:, None, None],
        rng.uniform(14, 32, (n, 1, 1)),
        rng.uniform(3, 6, (n, 1, 1)),
    ).astype(np.float32)
    wave = np.sin(2 * np.pi * t / period + phase)
    slope = rng.uniform(0.035, 0.07, (n, 1, 1)) * rng.choice([-1.0, 1.0], (n, 1, 1))
    trend = ((t - (steps - 1) / 2) * slope).astype(np.float32) / amp  # total rise 1-2, whatever the amp
    spikes = np.zeros((n, steps, feats), np.float32)
    for _ in range(3):
        at = rng.integers(0, steps, n)
        spikes[np.arange(n), at] += (rng.uniform(1.5, 3.0, (n, feats)) * rng.choice([-1.0, 1.0], (n, feats))).astype(
            np.float32
        )
    pattern = np.select(
        [(y == 0)[:, None, None] | (y == 1)[:, None, None], (y == 2)[:, None, None]],
        [wave, np.broadcast_to(trend, wave.shape)],
        spikes,
    )
    x = rng.normal(0, 0.5, (n, 1, feats)) + rng.normal(0, 0.35, (n, steps, feats))  # offset + noise
    distractor = 0.3 * np.sin(2 * np.pi * t / rng.uniform(5, 30, (n, 1, 1)) + rng.uniform(0, 2 * np.pi, (n, 1, feats)))
    x = x + distractor * (rng.random((n, 1, feats)) < 0.5) + amp * pattern * on
    return x.astype(np.float32), y


TOKEN_TOPICS = ["sport", "science", "cooking", "travel"]
TOKEN_VOCAB = 500
_PAD, _CUE_TOKENS, _FILLER_START, _CONTENT_START = 0, (1, 2, 3, 4), 5, 200


def _zipf(k: int, s: float = 1.0) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** s
    return w / w.sum()


def _make_tokens(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Token-id documents (n, 32) over a vocabulary of 500, right-padded with id 0, in 4 topics.

    ids 1-4: cue words; 5-199: filler shared by all topics (Zipf); 200-499: content words, 75 per
    topic, each topic drawing mostly (~70%) from its own block. Half the documents also hold an
    ordered cue pair: sport (1, 2), science (2, 1), cooking (3, 4), travel (4, 3), so word order
    matters; the cue words also turn up alone at random.
    """
    length, topics = 32, len(TOKEN_TOPICS)
    y = _balanced_labels(rng, n, topics)
    block = (TOKEN_VOCAB - _CONTENT_START) // topics
    in_block = np.tile(_zipf(block, 0.8), topics)
    filler_p = np.concatenate([np.full(len(_CUE_TOKENS), 0.01), _zipf(_CONTENT_START - _FILLER_START)])
    filler_p /= filler_p.sum()
    filler_ids = np.arange(1, _CONTENT_START)

    doc_len = rng.integers(12, length + 1, n)
    density = rng.uniform(0.15, 0.35, n)
    x = rng.choice(filler_ids, (n, length), p=filler_p)
    content = rng.random((n, length)) < density[:, None]
    for k in range(topics):
        weight = in_block * np.where(np.arange(block * topics) // block == k, 1.0, 0.15)
        rows = y == k
        x[rows] = np.where(
            content[rows],
            _CONTENT_START + rng.choice(block * topics, (rows.sum(), length), p=weight / weight.sum()),
            x[rows],
        )
    pairs = np.array([(1, 2), (2, 1), (3, 4), (4, 3)])[y]  # (n, 2)
    cued = np.flatnonzero(rng.random(n) < 0.5)
    at = rng.integers(0, doc_len[cued] - 1)
    x[cued, at], x[cued, at + 1] = pairs[cued, 0], pairs[cued, 1]
    x[np.arange(length)[None, :] >= doc_len[:, None]] = _PAD
    return x.astype(np.int64), y


SIGNAL_PAST, SIGNAL_FUTURE = 64, 8


def _make_signals(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Forecasting: x (n, 64) past values, y (n, 8) the next values of the same noisy series.

    Each series: offset + gentle slope + 1-3 sines (period 6-48, amplitude 0.3-1) + noise (σ 0.05-0.2).
    """
    total = SIGNAL_PAST + SIGNAL_FUTURE
    t = np.arange(total, dtype=np.float64)[None, :]
    series = rng.normal(0, 0.3, (n, 1)) + rng.normal(0, 0.004, (n, 1)) * (t - SIGNAL_PAST)
    n_waves = rng.integers(1, 4, n)
    for w in range(3):
        amp = rng.uniform(0.3, 1.0, (n, 1)) * (n_waves > w)[:, None]
        period = rng.uniform(6, 48, (n, 1))
        series = series + amp * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi, (n, 1)))
    series = series + rng.normal(0, 1, series.shape) * rng.uniform(0.05, 0.2, (n, 1))
    series = series.astype(np.float32)
    return series[:, :SIGNAL_PAST], series[:, SIGNAL_PAST:]


@dataclass(frozen=True)
class _Builtin:
    """A generated dataset: what it is (for the listing) and how to make it."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    dtype: str
    task: dict = field(hash=False)
    classes: list[str] | None = field(hash=False)
    n_train: int
    n_val: int
    make: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def _classification(classes: list[str]) -> dict:
    return {"kind": "classification", "num_classes": len(classes)}


BUILTINS: dict[str, _Builtin] = {
    b.name: b
    for b in [
        _Builtin(
            "shapes",
            "10 kinds of drawn glyphs (disk, ring, square, plus, bars...) at random place, size and angle, 1×28×28 grayscale",
            (1, 28, 28),
            "float32",
            _classification(SHAPE_CLASSES),
            SHAPE_CLASSES,
            6000,
            1000,
            _make_shapes,
        ),
        _Builtin(
            "shapes-rgb",
            "the 10 glyph kinds in random colours on gradient backgrounds, 3×32×32",
            (3, 32, 32),
            "float32",
            _classification(SHAPE_CLASSES),
            SHAPE_CLASSES,
            6000,
            1000,
            _make_shapes_rgb,
        ),
        _Builtin(
            "sequences",
            "noisy 4-channel series of 32 steps (32×4), 4 classes: slow wave, fast wave, trend, spikes",
            (32, 4),
            "float32",
            _classification(SEQUENCE_CLASSES),
            SEQUENCE_CLASSES,
            4000,
            1000,
            _make_sequences,
        ),
        _Builtin(
            "tokens",
            "token-id documents of 32 (padded with 0, vocabulary 500) in 4 topics, with word-order cues",
            (32,),
            "int64",
            _classification(TOKEN_TOPICS),
            TOKEN_TOPICS,
            6000,
            1000,
            _make_tokens,
        ),
        _Builtin(
            "signals",
            "regression: forecast the next 8 values of a noisy sum of sines from the past 64",
            (SIGNAL_PAST,),
            "float32",
            {"kind": "regression"},
            None,
            6000,
            1000,
            _make_signals,
        ),
    ]
}


def _load_builtin(spec: _Builtin, seed: int) -> Dataset:
    x, y = spec.make(_rng(spec.name, seed), spec.n_train + spec.n_val)  # already in random order
    classes = list(spec.classes) if spec.classes else None
    return _make_dataset(spec.name, spec.description, x, y, dict(spec.task), classes, spec.n_val)


# ----------------------------------------------------------------------------------------------
# Real datasets: raw files read by our own parsers, else torchvision downloads them


def default_data_dir() -> Path:
    """Where real datasets live: $NETWRIGHT_DATA_DIR, else ~/.netwright/data."""
    env = os.environ.get("NETWRIGHT_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".netwright" / "data"


def read_idx(path: str | Path, max_bytes: int = MAX_ARRAY_BYTES) -> np.ndarray:
    """Read an MNIST-style idx file of unsigned bytes (optionally .gz): magic, big-endian dims, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) != 4 or head[:2] != b"\x00\x00" or head[2] != 0x08 or not 1 <= head[3] <= 4:
                raise DataError(f"{path.name}: not an idx file of unsigned bytes (header {head.hex() or 'empty'})")
            dims = np.frombuffer(f.read(4 * head[3]), dtype=">u4")
            if len(dims) != head[3]:
                raise DataError(f"{path.name}: the idx header is cut short")
            count = int(np.prod(dims, dtype=np.int64))
            if count > max_bytes:
                raise DataError(f"{path.name}: declares {count} bytes of data, more than the {max_bytes} allowed")
            data = f.read(count + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path.name}: could not read it ({e})") from None
    if len(data) != count:
        raise DataError(f"{path.name}: the header declares {count} bytes of data, the file holds {len(data)}")
    return np.frombuffer(data, dtype=np.uint8).reshape(tuple(int(d) for d in dims))


def read_cifar10_bin(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (R, G, B planes of 32×32).

    Returns (images (n, 3, 32, 32) uint8, labels (n,) int64).
    """
    path = Path(path)
    record = 1 + 3 * 32 * 32
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{path.name}: could not read it ({e})") from None
    if raw.size == 0 or raw.size % record:
        raise DataError(f"{path.name}: {raw.size} bytes is not a whole number of CIFAR-10 records of {record} bytes")
    raw = raw.reshape(-1, record)
    labels = raw[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path.name}: label {labels.max()} found; CIFAR-10 labels are 0-9")
    return raw[:, 1:].reshape(-1, 3, 32, 32), labels


MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR10_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_mnist_raw(folder: Path, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(x_train, y_train, x_val, y_val) from idx files in `folder`, or None if none are there."""
    found = {stem: _find(folder, stem) for stem in MNIST_FILES}
    if not any(found.values()):
        return None
    missing = [stem for stem, p in found.items() if p is None]
    if missing:
        raise DataError(f"{label}: {folder} lacks {', '.join(missing)} (with or without .gz)")
    arrays = [read_idx(found[stem]) for stem in MNIST_FILES]
    out = []
    for images, labels, part in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "t10k")):
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{label}: {part} images have shape {images.shape}, expected (n, 28, 28)")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{label}: {part} has {len(images)} images but labels of shape {labels.shape}")
        if len(labels) and labels.max() > 9:
            raise DataError(f"{label}: {part} label {labels.max()} found; labels are 0-9")
        out += [images[:, None].astype(np.float32) / 255.0, labels.astype(np.int64)]
    return tuple(out)


def _read_cifar_raw(folder: Path, label: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(x_train, y_train, x_val, y_val) from cifar-10-batches-bin, or None if no batch is there."""
    found = {name: (folder / name).is_file() for name in CIFAR10_FILES}
    if not any(found.values()):
        return None
    missing = [name for name, ok in found.items() if not ok]
    if missing:
        raise DataError(f"{label}: {folder} lacks {', '.join(missing)}")
    train = [read_cifar10_bin(folder / name) for name in CIFAR10_FILES[:-1]]
    xv, yv = read_cifar10_bin(folder / CIFAR10_FILES[-1])
    xt = np.concatenate([x for x, _ in train])
    yt = np.concatenate([y for _, y in train])
    return xt.astype(np.float32) / 255.0, yt, xv.astype(np.float32) / 255.0, yv


def _via_torchvision(cls_name: str, label: str, data_dir: Path, where: str) -> tuple[np.ndarray, ...]:
    """Download with torchvision (it checks the files' md5 before it reads them) and convert to arrays."""
    try:
        import torchvision  # optional and heavy: only here
    except ImportError:
        raise DataError(
            f"{label} needs torchvision: pip install torchvision (or put the raw files in {where})"
        ) from None
    out = []
    for train in (True, False):
        try:
            ds = getattr(torchvision.datasets, cls_name)(root=str(data_dir), train=train, download=True)
        except Exception as e:  # noqa: BLE001 - network, disk, corrupt download: all say the same to the user
            raise DataError(
                f"could not get {label} into {data_dir} ({type(e).__name__}: {e}); check the network, or put the raw files in {where}"
            ) from None
        x = np.asarray(ds.data, dtype=np.uint8)
        x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # (N, H, W) or (N, H, W, C) -> (N, C, H, W)
        out += [x.astype(np.float32) / 255.0, np.asarray(ds.targets, dtype=np.int64)]
    return tuple(out)


@dataclass(frozen=True)
class _Real:
    """A real dataset: its shape, where its raw files lie under data_dir, how to read them."""

    name: str
    label: str
    description: str
    input_shape: tuple[int, ...]
    classes: list[str] = field(hash=False)
    size: int
    folder: str  # under data_dir
    torchvision_class: str
    reader: Callable[[Path, str], tuple[np.ndarray, ...] | None]

    def has_files(self, data_dir: Path) -> bool:
        folder = data_dir / self.folder
        names = MNIST_FILES if self.reader is _read_mnist_raw else CIFAR10_FILES
        return all(_find(folder, n) for n in names)


REAL: dict[str, _Real] = {
    r.name: r
    for r in [
        _Real(
            "mnist",
            "MNIST",
            "handwritten digits 0-9, 1×28×28 (60,000 train / 10,000 test as validation)",
            (1, 28, 28),
            [str(i) for i in range(10)],
            70_000,
            "MNIST/raw",
            "MNIST",
            _read_mnist_raw,
        ),
        _Real(
            "fashion-mnist",
            "Fashion-MNIST",
            "10 kinds of clothing, 1×28×28 (60,000 train / 10,000 test as validation)",
            (1, 28, 28),
            FASHION_CLASSES,
            70_000,
            "FashionMNIST/raw",
            "FashionMNIST",
            _read_mnist_raw,
        ),
        _Real(
            "cifar10",
            "CIFAR-10",
            "10 kinds of objects in colour photos, 3×32×32 (50,000 train / 10,000 test as validation)",
            (3, 32, 32),
            CIFAR10_CLASSES,
            60_000,
            "cifar-10-batches-bin",
            "CIFAR10",
            _read_cifar_raw,
        ),
    ]
}


def _load_real(spec: _Real, data_dir: Path) -> Dataset:
    folder = data_dir / spec.folder
    arrays = spec.reader(folder, spec.label)
    if arrays is None:
        arrays = _via_torchvision(spec.torchvision_class, spec.label, data_dir, str(folder))
    xt, yt, xv, yv = arrays
    task = _classification(spec.classes)
    return Dataset(
        spec.name,
        spec.description,
        tuple(int(d) for d in xt.shape[1:]),
        "float32",
        task,
        torch.from_numpy(np.ascontiguousarray(xt)),
        torch.from_numpy(np.ascontiguousarray(yt)),
        torch.from_numpy(np.ascontiguousarray(xv)),
        torch.from_numpy(np.ascontiguousarray(yv)),
        list(spec.classes),
    )


# ----------------------------------------------------------------------------------------------
# Listing and loading by name


def _key(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


def dataset_names() -> list[str]:
    """Every name `load_dataset` knows: the built-in sets, then the real ones."""
    return [*BUILTINS, *REAL]


def list_datasets(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The datasets on offer as `describe()` rows, without generating or reading any data.

    Every row also has `"available": bool`: always true for the built-in sets; for a real set,
    true when its raw files are already in `data_dir` (default `default_data_dir()`) or
    torchvision is importable to download them (the download itself may still fail offline).
    """
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    has_torchvision = importlib.util.find_spec("torchvision") is not None
    rows = [
        {**_row(b.name, b.description, b.input_shape, b.dtype, b.task, b.n_train + b.n_val), "available": True}
        for b in BUILTINS.values()
    ]
    rows += [
        {
            **_row(r.name, r.description, r.input_shape, "float32", _classification(r.classes), r.size),
            "available": has_torchvision or r.has_files(root),
        }
        for r in REAL.values()
    ]
    return rows


def load_dataset(name: str, seed: int = 0, data_dir: str | Path | None = None) -> Dataset:
    """A dataset by name. Built-in sets are generated from `seed` (the same seed, the same data);
    real sets use their official train/test split (the test part as validation) and ignore it."""
    key = _key(name)
    if key in BUILTINS:
        return _load_builtin(BUILTINS[key], seed)
    if key in REAL:
        return _load_real(REAL[key], Path(data_dir).expanduser() if data_dir else default_data_dir())
    raise DataError(f"unknown dataset '{name}'; the datasets are: {', '.join(dataset_names())}")


# ----------------------------------------------------------------------------------------------
# User data


def _read_source(source: Any, label: str, limit: int) -> bytes:
    """The bytes of an upload: bytes as given, a path read from disk, or a file-like object read."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | Path):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(f"no such file: {path}")
        if path.stat().st_size > limit:
            raise DataError(f"{path.name}: {path.stat().st_size} bytes is more than the {limit} allowed")
        data = path.read_bytes()
    elif hasattr(source, "read"):
        data = source.read(limit + 1)
    else:
        raise DataError(f"{label}: expected bytes or a file path, got {type(source).__name__}")
    if len(data) > limit:
        raise DataError(f"{label}: {len(data)} bytes is more than the {limit} allowed")
    return data


def _label(source: Any, name: str) -> str:
    return Path(source).name if isinstance(source, str | Path) else name


def _pick(names: list[str], wanted: str) -> str | None:
    """`wanted` among `names`: exactly, else ignoring case."""
    if wanted in names:
        return wanted
    return next((n for n in names if n.lower() == wanted.lower()), None)


def dataset_from_npz(
    source: bytes | str | Path, name: str = "uploaded", val_fraction: float = 0.2, seed: int = 0
) -> Dataset:
    """A dataset from an .npz with arrays `X` (samples first) and `y` (`x`/`Y` also accepted).

    X float -> float32 features; X integer -> int64 token ids. y integer (or strings) ->
    classification (num_classes = max + 1; strings become class ids in sorted order, names kept
    in `classes`); y float -> regression, (N,) becoming (N, 1). Nothing is unpickled.
    """
    label = _label(source, name)
    data = _read_source(source, label, MAX_ARRAY_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError(f"{label}: not an .npz archive; save it with np.savez(path, X=..., y=...)") from None
    with archive:
        declared = sum(i.file_size for i in archive.infolist())
        if declared > MAX_ARRAY_BYTES:
            raise DataError(
                f"{label}: the arrays take {declared} bytes uncompressed, more than the {MAX_ARRAY_BYTES} allowed"
            )
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{label}: could not read it as .npz ({e})") from None
    with npz:
        keys = list(npz.files)
        key_x, key_y = _pick(keys, "X"), _pick(keys, "y")
        for wanted, key in (("X", key_x), ("y", key_y)):
            if key is None:
                raise DataError(
                    f"{label}: no array '{wanted}' (found: {', '.join(keys) or 'none'}); save it with np.savez(path, X=..., y=...)"
                )
        x, y = _npz_array(npz, key_x, label), _npz_array(npz, key_y, label)
    x = _npz_features(x, key_x, label)
    if y.ndim == 0 or len(y) != len(x):
        raise DataError(
            f"{label}: '{key_x}' has {len(x)} samples but '{key_y}' has shape {y.shape}; they need the same length"
        )
    y, task, classes = _npz_targets(y, key_y, label)
    x, y, n_val = _shuffled_split(x, y, val_fraction, seed, label)
    return _make_dataset(name, f"uploaded arrays {label}", x, y, task, classes, n_val)


def _npz_declared_bytes(npz: Any, key: str) -> int | None:
    """The bytes an .npz member's header says its array takes (None when the header cannot be read here).

    A few hundred bytes can claim a shape of 10^13 elements, and NumPy allocates what the header claims
    before it reads the data: the claim is checked first."""
    fmt = np.lib.format
    try:
        with npz.zip.open(f"{key}.npy") as f:
            version = fmt.read_magic(f)
            reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if reader is None:
                return None
            shape, _, dtype = reader(f)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    return math.prod(shape) * dtype.itemsize


def _npz_array(npz: Any, key: str, label: str) -> np.ndarray:
    declared = _npz_declared_bytes(npz, key)
    if declared is not None and declared > MAX_ARRAY_BYTES:
        raise DataError(f"{label}: array '{key}' says it takes {declared} bytes, more than the {MAX_ARRAY_BYTES} allowed")
    try:
        value = npz[key]
    except MemoryError:  # a header whose claim the check above could not read
        raise DataError(f"{label}: array '{key}' is larger than this machine's memory") from None
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise DataError(
                f"{label}: array '{key}' holds Python objects (dtype object); save numbers (or strings for y)"
            ) from None
        raise DataError(f"{label}: could not read array '{key}' ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{label}: array '{key}' is damaged ({e})") from None
    if not isinstance(value, np.ndarray):  # a member "X" without ".npy": NumPy hands back its raw bytes
        raise DataError(f"{label}: member '{key}' is not a NumPy array (no .npy header); "
                        f"save the arrays with np.savez(path, X=..., y=...)")
    return value


def _npz_features(x: np.ndarray, key: str, label: str) -> np.ndarray:
    """Features as float32, or int64 token ids; refuses strings, NaN and inf."""
    if x.ndim == 0:
        raise DataError(f"{label}: '{key}' is a single value; it needs one row per sample")
    if x.ndim == 1:
        x = x[:, None]  # one number per sample
    if 0 in x.shape[1:]:
        raise DataError(f"{label}: '{key}' has shape {x.shape}: each sample is empty; it needs at least one value")
    if x.dtype.kind in "iu":
        if x.size and x.min() < 0:
            raise DataError(
                f"{label}: integer '{key}' (token ids) holds {x.min()}; token ids must be ≥ 0, or save '{key}' as float"
            )
        return x.astype(np.int64)
    if x.dtype.kind in "fb":
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{label}: '{key}' holds {_bad_values(x)}; replace or drop those samples")
        return x
    raise DataError(f"{label}: '{key}' has dtype {x.dtype}; features must be numbers (float, or int for token ids)")


def _bad_values(a: np.ndarray) -> str:
    nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    return " and ".join(p for p in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "") if p)


def _npz_targets(y: np.ndarray, key: str, label: str) -> tuple[np.ndarray, dict, list[str] | None]:
    """(y, task, classes): integer or string ids -> classification, float -> regression."""
    if y.dtype.kind in "iub" or y.dtype.kind in "US":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataError(
                f"{label}: '{key}' of shape {y.shape} with dtype {y.dtype}; class labels are one per sample, shape (N,); save '{key}' as float for regression targets"
            )
        if y.dtype.kind in "US":
            classes, ids = np.unique(y, return_inverse=True)
            return ids.astype(np.int64), _classification(classes.tolist()), [str(c) for c in classes]
        y = y.astype(np.int64)
        if y.min() < 0:
            raise DataError(f"{label}: '{key}' holds the label {y.min()}; class ids must be 0 or more")
        k = int(y.max()) + 1
        if k > MAX_CLASSES:
            raise DataError(
                f"{label}: '{key}' holds the label {k - 1}, which would make {k} classes (at most {MAX_CLASSES})"
            )
        return y, {"kind": "classification", "num_classes": k}, None
    if y.dtype.kind == "f":
        y = y.astype(np.float32)
        if not np.isfinite(y).all():
            raise DataError(f"{label}: '{key}' holds {_bad_values(y)}; replace or drop those samples")
        return (y[:, None] if y.ndim == 1 else y), {"kind": "regression"}, None
    raise DataError(
        f"{label}: '{key}' has dtype {y.dtype}; labels must be integers (classes), strings (classes) or floats (regression)"
    )


def dataset_from_csv(
    source: bytes | str | Path,
    label_column: str | None = None,
    task: str = "auto",
    name: str = "uploaded",
    val_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A dataset from a CSV table: one row per sample, numeric feature columns -> a 1-D float32 input.

    The label column is `label_column` (matched exactly, else ignoring case), by default the
    last one. The first row is a header when it holds names where the data holds numbers; a
    file without one has columns named "0", "1", ... task "auto": labels that are strings, or
    integer-like with at most 20 distinct values, make classification (class ids in sorted
    order, names kept in `classes`); otherwise regression with target shape (1,).
    Delimiters , ; and tab are recognised.
    """
    label = _label(source, name)
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"task must be auto, classification or regression, got '{task}'")
    rows = _csv_rows(_read_source(source, label, MAX_CSV_BYTES), label)
    header, rows = _csv_header(rows)
    if label_column is None:
        col = len(header) - 1
    else:
        found = _pick(header, str(label_column))
        if found is None:
            raise DataError(f"{label}: no column '{label_column}'; the columns are: {', '.join(header)}")
        col = header.index(found)
    if len(header) < 2:
        raise DataError(f"{label}: only one column ('{header[0]}'); a CSV needs feature columns and a label column")
    if len(rows) < 2:
        raise DataError(f"{label}: needs at least 2 data rows, got {len(rows)}")
    table = np.array(rows, dtype=str)  # (N, columns)
    features = [c for c in range(len(header)) if c != col]
    x = np.stack([_csv_numbers(table[:, c], header[c], label, "feature") for c in features], axis=1).astype(np.float32)
    y, task_dict, classes = _csv_labels(table[:, col], header[col], task, label)
    x, y, n_val = _shuffled_split(x, y, val_fraction, seed, label)
    return _make_dataset(
        name, f"uploaded table {label} (label column '{header[col]}')", x, y, task_dict, classes, n_val
    )


def _csv_rows(data: bytes, label: str) -> list[list[str]]:
    """Non-empty rows of equal length, cells stripped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{label}: not UTF-8 text (byte {e.start}); save the CSV as UTF-8") from None
    nul = text.find("\x00")
    if nul >= 0:  # NumPy's text arrays drop trailing NULs, so "2\x00" would pass as 2
        raise DataError(f"{label}: line {text.count(chr(10), 0, nul) + 1} holds a NUL byte; "
                        f"a CSV is plain text: save it again as UTF-8 text")
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = []
    reader = csv.reader(io.StringIO(text), dialect)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "field limit" in str(e):
                raise DataError(f"{label}: line {reader.line_num} has a cell longer than {MAX_CSV_FIELD:,} characters; "
                                f"CSV cells must be numbers or short labels") from None
            raise DataError(f"{label}: line {reader.line_num} is not valid CSV ({e})") from None
        line = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if rows and len(cells) != len(rows[0][1]):
            raise DataError(f"{label}: line {line} has {len(cells)} cells, line {rows[0][0]} has {len(rows[0][1])}")
        rows.append((line, cells))
    if not rows:
        raise DataError(f"{label}: the file holds no rows")
    return [cells for _, cells in rows]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_header(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """(column names, data rows): the first row is a header if it has a name where the next row has a number, or only names."""
    first = rows[0]
    second = rows[1] if len(rows) > 1 else None
    names_over_numbers = second is not None and any(
        not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=True)
    )
    if names_over_numbers or not any(_is_number(c) for c in first):
        return [c or f"column {i}" for i, c in enumerate(first)], rows[1:]
    return [str(i) for i in range(len(first))], rows


def _csv_numbers(cells: np.ndarray, column: str, label: str, what: str) -> np.ndarray:
    """A column as float64, or a DataError naming the first cell that is not a finite number once cast to float32
    (what training uses: 1e39 is finite as float64 but inf as float32, so the cast comes before the check)."""
    try:
        values = cells.astype(np.float64)
    except ValueError:
        values = None
    with np.errstate(over="ignore"):
        finite = values is not None and np.isfinite(values.astype(np.float32)).all()
    if not finite:
        for row, cell in enumerate(cells, start=1):
            if not _is_number(cell) or not np.isfinite(float(cell)):
                shown = f"'{cell}'" if cell else "an empty cell"
                raise DataError(
                    f"{label}: {what} column '{column}' is not numeric (data row {row}: {shown}); "
                    f"CSV {what}s must be finite numbers: encode or drop that column"
                )
            with np.errstate(over="ignore"):
                if not np.isfinite(np.float32(float(cell))):
                    raise DataError(
                        f"{label}: {what} column '{column}', data row {row}: {cell[:40]} is beyond float32 "
                        f"(at most ±3.4e38); scale that column down"
                    )
    return values


def _csv_labels(cells: np.ndarray, column: str, task: str, label: str) -> tuple[np.ndarray, dict, list[str] | None]:
    """(y, task, classes) from the label column."""
    numeric = all(_is_number(c) for c in cells)
    values = _csv_numbers(cells, column, label, "label") if numeric else None
    if task == "regression" and values is None:
        bad = next(c for c in cells if not _is_number(c))
        raise DataError(
            f"{label}: label column '{column}' is not numeric ('{bad or 'empty'}'); regression needs numbers, or use task classification"
        )
    if task == "auto":
        integer_like = values is not None and np.all(values == np.round(values))
        few = len(np.unique(cells if values is None else values)) <= CSV_AUTO_MAX_CLASSES
        task = "classification" if values is None or (integer_like and few) else "regression"
    if task == "regression":
        return values.astype(np.float32)[:, None], {"kind": "regression"}, None
    if values is not None:
        distinct, ids = np.unique(values, return_inverse=True)
        classes = [str(int(v)) if v == int(v) else str(v) for v in distinct]
    else:
        distinct, ids = np.unique(cells, return_inverse=True)
        classes = [str(v) for v in distinct]
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"{label}: label column '{column}' has {len(classes)} distinct values, more than {MAX_CLASSES} classes"
        )
    return ids.astype(np.int64), _classification(classes), classes


def _safe_member_path(info: zipfile.ZipInfo, label: str) -> PurePosixPath:
    """The member's relative path, or a DataError for an absolute path, '..', a link or encryption."""
    raw = info.filename.replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise DataError(f"{label}: refused: member '{info.filename}' has an absolute path")
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        raise DataError(f"{label}: refused: member '{info.filename}' climbs out of the folder with '..'")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise DataError(f"{label}: refused: member '{info.filename}' is a symbolic link")
    if info.flag_bits & 0x1:
        raise DataError(f"{label}: member '{info.filename}' is encrypted; zip it without a password")
    if info.file_size > MAX_ZIP_FILE_BYTES:
        raise DataError(
            f"{label}: member '{info.filename}' is {info.file_size} bytes, more than the {MAX_ZIP_FILE_BYTES} allowed per file"
        )
    return PurePosixPath(*[p for p in parts if p not in ("", ".")])


def _zip_images(zf: zipfile.ZipFile, label: str) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Check every member, then list the image files (skipping folders, hidden files and __MACOSX)."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DataError(f"{label}: {len(infos)} members, more than the {MAX_ZIP_MEMBERS} allowed")
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_TOTAL_BYTES:
        raise DataError(f"{label}: {total} bytes uncompressed, more than the {MAX_ZIP_TOTAL_BYTES} allowed")
    images = []
    for info in infos:
        path = _safe_member_path(info, label)
        if info.is_dir() or not path.parts:
            continue
        if path.parts[0] == "__MACOSX" or any(p.startswith(".") for p in path.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append((info, path))
    if not images:
        raise DataError(
            f"{label}: no images found ({', '.join(sorted(IMAGE_EXTENSIONS))}); put each class's images in a folder named after the class"
        )
    return images


def _class_of(paths: list[PurePosixPath], label: str) -> list[str]:
    """The class folder of each image: the first folder, or the second when all share one top folder."""
    flat = next((p for p in paths if len(p.parts) < 2), None)
    if flat is not None:
        raise DataError(
            f"{label}: image '{flat}' is not in a class folder; put each class's images in a folder named after the class"
        )
    tops = {p.parts[0] for p in paths}
    depth = 1 if len(tops) == 1 and all(len(p.parts) >= 3 for p in paths) else 0
    flat = next((p for p in paths if len(p.parts) < depth + 2), None)
    if flat is not None:
        raise DataError(
            f"{label}: image '{flat}' is not in a class folder; put each class's images in a folder named after the class"
        )
    return [p.parts[depth] for p in paths]


def dataset_from_image_zip(
    source: bytes | str | Path,
    image_size: int = 32,
    channels: int = 3,
    name: str = "uploaded",
    val_fraction: float = 0.2,
    seed: int = 0,
    extract_dir: str | Path | None = None,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """A dataset from a zip of images, one folder per class (optionally all under one top folder).

    Every member is checked before anything is read: no absolute paths, no '..', no links, at
    most 20,000 members, 200 MB uncompressed and 20 MB per file. Images are decoded with Pillow,
    converted to `channels` (1: grayscale, 3: RGB), resized to image_size×image_size and scaled
    to [0, 1]: input shape (channels, image_size, image_size). Class ids follow the sorted folder
    names. With `extract_dir`, the checked images are also written there, at their paths in the zip.

    Before any image is decoded, every image's header is read: one may have at most 40,000,000 pixels
    and all of them together at most MAX_TOTAL_PIXELS, so a small zip of huge images is refused at once.
    Between images, `cancel()` is asked (True raises DataCancelled) and `progress(done, total)` is told.
    """
    label = _label(source, name)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    if not 4 <= int(image_size) <= 512:
        raise DataError(f"image_size must be between 4 and 512, got {image_size}")
    data = _read_source(source, label, MAX_ZIP_TOTAL_BYTES)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError(f"{label}: not a zip file") from None
    with zf:
        images = _zip_images(zf, label)
        need = len(images) * channels * image_size**2 * 4
        if need > MAX_TENSOR_BYTES:
            raise DataError(
                f"{label}: {len(images)} images at {image_size}×{image_size} would take {need >> 20} MB; use a smaller image_size"
            )
        names = _class_of([p for _, p in images], label)
        classes = sorted(set(names))
        if len(classes) < 2:
            raise DataError(f"{label}: only one class folder ('{classes[0]}'); classification needs at least two")
        out_root = Path(extract_dir).resolve() if extract_dir is not None else None
        _check_pixel_budget(zf, images, label, cancel)
        x = np.empty((len(images), image_size, image_size, channels), np.uint8)
        for i, (info, path) in enumerate(images):
            if cancel is not None and cancel():
                raise DataCancelled(f"{label}: cancelled after {i:,} of {len(images):,} images")
            if progress is not None:
                progress(i, len(images))
            raw = _read_member(zf, info, label)
            x[i] = _decode_image(raw, str(path), image_size, channels, label)
            if out_root is not None:
                _write_inside(out_root, path, raw, label)
    y = np.array([classes.index(c) for c in names], dtype=np.int64)
    x = x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0  # (N, C, S, S)
    x, y, n_val = _shuffled_split(x, y, val_fraction, seed, label)
    return _make_dataset(
        name, f"uploaded images {label}: {len(classes)} classes", x, y, _classification(classes), classes, n_val
    )


def _too_many_pixels(label: str, member: str, width: int | None, height: int | None, pixels: int | None) -> DataError:
    size = f"{width}×{height} pixels" if width and height else f"{pixels:,} pixels" if pixels else "too large"
    return DataError(f"{label}: image '{member}' is {size}, more than the {MAX_IMAGE_PIXELS} allowed; "
                     f"make it smaller")


def _png_size(head: bytes) -> tuple[int | None, int | None]:
    """Width and height from a PNG's IHDR (the first 24 bytes), or (None, None) for another format."""
    if len(head) >= 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None, None


def _bomb_pixels(exc: Exception) -> int | None:
    """The pixel count in Pillow's DecompressionBombError ("Image size (400000000 pixels) exceeds ...")."""
    m = re.search(r"\((\d+) pixels\)", str(exc))
    return int(m.group(1)) if m else None


def _check_pixel_budget(zf: zipfile.ZipFile, images: list, label: str, cancel: Callable[[], bool] | None) -> None:
    """Read each image's header (a few bytes, nothing decoded) and refuse, before any decoding, an image over
    MAX_IMAGE_PIXELS or a zip whose images together are over MAX_TOTAL_PIXELS."""
    Image = _pillow()
    total = 0
    for i, (info, path) in enumerate(images):
        if cancel is not None and i % 64 == 0 and cancel():
            raise DataCancelled(f"{label}: cancelled while checking the images ({i:,} of {len(images):,})")
        try:
            with zf.open(info) as f, Image.open(f) as im:
                width, height = im.size
        except Image.DecompressionBombError as e:  # over Pillow's own limit: our message, with the size we can read
            with zf.open(info) as f:
                width, height = _png_size(f.read(24))
            raise _too_many_pixels(label, str(path), width, height, _bomb_pixels(e)) from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError,
                SyntaxError) as e:  # Pillow: UnidentifiedImageError is an OSError; some plugins raise SyntaxError
            raise DataError(f"{label}: could not read image '{path}' ({type(e).__name__}: {e})") from None
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_many_pixels(label, str(path), width, height, None)
        total += width * height
        if total > MAX_TOTAL_PIXELS:
            raise DataError(
                f"{label}: the images hold more than {MAX_TOTAL_PIXELS:,} pixels together (past image {i + 1:,} of "
                f"{len(images):,}); decoding them would take very long: resize them first (e.g. to 256×256)")


def _pillow():
    try:
        from PIL import Image  # Pillow comes with streamlit; only uploads need it
    except ImportError:
        raise DataError("reading images needs Pillow: pip install pillow") from None
    return Image


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> bytes:
    try:
        with zf.open(info) as f:
            return f.read(MAX_ZIP_FILE_BYTES + 1)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as e:
        raise DataError(f"{label}: member '{info.filename}' is damaged or unsupported ({e})") from None


def _decode_image(raw: bytes, member: str, size: int, channels: int, label: str) -> np.ndarray:
    """One image as uint8 (size, size, channels)."""
    Image = _pillow()
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise _too_many_pixels(label, member, im.width, im.height, None)
            im.draft("L" if channels == 1 else "RGB", (size, size))  # JPEG: decode at a reduced scale when it can
            im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError as e:  # over Pillow's own limit (2 × 89 M pixels): our message, not its
        raise _too_many_pixels(label, member, *_png_size(raw[:24]), _bomb_pixels(e)) from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many kinds for a broken file
        raise DataError(f"{label}: could not read image '{member}' ({type(e).__name__}: {e})") from None
    return arr.reshape(size, size, channels)


def _write_inside(root: Path, rel: PurePosixPath, data: bytes, label: str) -> None:
    """Write `data` at root/rel, refusing any path that would land outside root."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise DataError(f"{label}: refused to write '{rel}' outside {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


# ----------------------------------------------------------------------------------------------
# Design against data


def check_design_against_data(
    input_shape: tuple[int, ...] | list[int],
    input_dtype: str,
    task: dict | None,
    output_shape: tuple[int, ...] | list[int] | None,
    dataset: Dataset,
) -> list[dict[str, Any]]:
    """What stops a design from training on a dataset: [{"path", "message", "fix"}], [] when it fits.

    path is "input" (shape or dtype), "task" (the design's task against the data's) or "output"
    (the last layer against the classes or targets). `output_shape` None (an invalid design)
    skips the output check. The output is checked against the dataset's task, the one training uses.
    """
    issues: list[dict[str, Any]] = []

    def issue(path: str, message: str, fix: str | None) -> None:
        issues.append({"path": path, "message": message, "fix": fix})

    want = tuple(int(d) for d in dataset.input_shape)
    have = tuple(int(d) for d in input_shape)
    if have != want:
        issue(
            "input",
            f"the design takes {shape_text(have)}, the dataset gives {shape_text(want)}",
            f"set the input to {shape_text(want)}",
        )
    if input_dtype != dataset.dtype:
        if dataset.dtype == "int64":
            issue(
                "input",
                f"the design takes {input_dtype} values, the dataset gives int64 token ids",
                "set the input dtype to int64 (and start with an Embedding)",
            )
        else:
            issue(
                "input",
                f"the design takes {input_dtype} token ids, the dataset gives {dataset.dtype} values",
                f"set the input dtype to {dataset.dtype}",
            )

    data_kind = dataset.task.get("kind")
    classes = dataset.task.get("num_classes")
    if task:
        kind = task.get("kind")
        if kind != data_kind:
            what = f"classification with {classes} classes" if data_kind == "classification" else str(data_kind)
            issue("task", f"the design is for {kind}, the dataset is {what}", f"set the task to {what}")
        elif kind == "classification" and task.get("num_classes") != classes:
            issue(
                "task",
                f"the design's task has {task.get('num_classes')} classes, the dataset has {classes}",
                f"set the task's num_classes to {classes}",
            )

    if output_shape is None:
        return issues
    out = tuple(int(d) for d in output_shape)
    if data_kind == "classification":
        if len(out) == 1 and out[0] != classes:
            issue(
                "output",
                f"the last layer gives {out[0]} outputs, the dataset has {classes} classes",
                f"set the last layer's out_features to {classes}",
            )
        elif len(out) != 1:
            issue(
                "output",
                f"the design outputs {shape_text(out)} per sample; classification needs {classes} class scores",
                _to_vector_fix(out, classes),
            )
    else:
        target = dataset.target_shape
        if out != target:
            n = int(np.prod(target))
            if len(out) == 1 and len(target) == 1:
                fix = f"set the last layer's out_features to {target[0]}"
            elif len(target) == 1:
                fix = _to_vector_fix(out, n)
            else:
                fix = f"end with Linear(out_features={n}) and Reshape to {list(target)}"
            issue(
                "output",
                f"the design outputs {_values(out)} per sample, the dataset's targets are {_values(target)}",
                fix,
            )
    return issues


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
