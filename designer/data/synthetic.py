"""Built-in synthetic datasets, generated from a seed (no download)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from designer.data.base import Dataset, _make_dataset

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


TAG_NAMES = [f"{kind}{'+' if ahead else '-'}" for kind in ("noun", "verb", "adj", "other") for ahead in (0, 1)]
TAG_LENGTH = 32


def _make_tags(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequence tagging: 32 token ids (vocabulary 500), one of 8 tags per position.

    A token's word class is its id modulo 4 (drawn uniformly; the id within a class is Zipf-distributed,
    as words are); its tag is that class and whether the next token's class is 2 or 3 ("+") or not ("-",
    also at the last position). The tag needs the right-hand context: a bidirectional recurrent layer can
    read it, a left-to-right one cannot.
    """
    word_class = rng.integers(0, 4, size=(n, TAG_LENGTH))
    rank = rng.choice(np.arange(1, TOKEN_VOCAB // 4), size=(n, TAG_LENGTH), p=_zipf(TOKEN_VOCAB // 4 - 1, 0.7))
    x = (rank * 4 + word_class).astype(np.int64)  # ids 4..499
    ahead = np.zeros_like(word_class)
    ahead[:, :-1] = word_class[:, 1:] >= 2
    y = word_class * 2 + ahead
    return x, y.astype(np.int64)


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
            "tags",
            "sequence tagging: 32 token ids (vocabulary 500), one of 8 tags per token, read from the token "
            "and the next one",
            (TAG_LENGTH,),
            "int64",
            {**_classification(TAG_NAMES), "per_token": True},
            TAG_NAMES,
            6000,
            1000,
            _make_tags,
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


