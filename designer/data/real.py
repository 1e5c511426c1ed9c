"""Real datasets (MNIST, Fashion-MNIST, CIFAR-10): raw files read by our own parsers, else torchvision."""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from designer.data.base import MAX_ARRAY_BYTES, DataError, Dataset
from designer.data.synthetic import _classification

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


