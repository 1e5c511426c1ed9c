"""The app's ONNX import as plain functions (no Streamlit): an uploaded file's bytes -> a design, and its
weights kept as that design's initial weights.

The weights of an imported design are written to `<database folder>/imported/<key>.safetensors`, where the
key is a hash of the design's canonical form (designer.importing.canonical: names aside). Renaming the
design keeps them; an edit of its layers (after which they would not fit) leaves them behind.
`initial_weights_path(design)` finds the file, `load_initial_weights(model, design)` loads it into
the design's built model. Uploaded files are data: parsed, never executed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from designer.importing.mapping import canonical


def weights_folder() -> Path:
    from designer.store import db_path

    return db_path().parent / "imported"


def weights_key(design: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(design).encode("utf-8")).hexdigest()[:24]


def initial_weights_path(design: dict[str, Any]) -> Path | None:
    """The imported weights of this design (names aside), if an import left them."""
    try:
        path = weights_folder() / f"{weights_key(design)}.safetensors"
    except (KeyError, TypeError, ValueError):  # not a design canonical() can read
        return None
    return path if path.is_file() else None


def save_initial_weights(design: dict[str, Any], weights: dict) -> Path | None:
    """Write the weights for the design; None when the folder cannot be written (the design still opens)."""
    from safetensors.torch import save_file

    folder = weights_folder()
    path = folder / f"{weights_key(design)}.safetensors"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(weights, str(tmp))
        tmp.replace(path)
    except OSError:
        return None
    return path


def load_initial_weights(model, design: dict[str, Any]) -> bool:
    """Load the imported weights of `design` into its built model; False when there are none."""
    path = initial_weights_path(design)
    if path is None:
        return False
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))
    return True


def import_onnx_upload(data: bytes, filename: str) -> tuple[dict | None, list[str], Path | None]:
    """(design, problems, weights file) of an uploaded .onnx file. On any problem the design is None and the
    problems say what is wrong (the file, or each node and op that could not be mapped)."""
    from designer.importing.onnx_import import OnnxSourceError, import_onnx_bytes

    stem = Path(filename or "model.onnx").stem[:80] or "Imported"
    try:
        result = import_onnx_bytes(data, name=stem)
    except OnnxSourceError as exc:
        return None, [str(exc).replace("give --input-shape", "the app needs it fixed in the file (or use "
                                                            "python -m designer import with --input-shape)")], None
    except Exception as exc:  # noqa: BLE001 - a hostile file must not break the page
        return None, [f"the file could not be read ({type(exc).__name__}: {str(exc)[:200]})"], None
    if not result.ok:
        return None, [str(p) for p in result.problems], None
    path = save_initial_weights(result.design, result.weights) if result.weights else None
    return result.design, [], path
