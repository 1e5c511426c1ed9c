"""Listing and loading datasets by name."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from designer.data.base import DataError, Dataset, _row
from designer.data.real import REAL, _load_real, default_data_dir
from designer.data.synthetic import BUILTINS, _classification, _load_builtin

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
        dataset = _load_builtin(BUILTINS[key], seed)
    elif key in REAL:
        dataset = _load_real(REAL[key], Path(data_dir).expanduser() if data_dir else default_data_dir())
    else:
        dataset = None
    if dataset is not None:
        dataset.origin = (key, seed, None if data_dir is None else str(data_dir))
        return dataset
    raise DataError(f"unknown dataset '{name}'; the datasets are: {', '.join(dataset_names())}")


