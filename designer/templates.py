"""The template designs in assets/templates: listing them for the gallery, and loading one.

Each template is an ordinary design file (format v1) with a "name" and a one-line "description".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from designer.design import load_design
from designer.errors import DesignFileError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "assets" / "templates"

# Gallery order, easiest first; templates not named here follow in alphabetical order.
ORDER = (
    "lenet5",
    "cnn_shapes",
    "mlp_signals",
    "lstm_classifier",
    "resnet_small",
    "inception",
    "transformer_classifier",
    "bigru_tagger",
    "crnn",
    "unet_small",
)


def _sort_key(stem: str) -> tuple[int, str]:
    return (ORDER.index(stem), "") if stem in ORDER else (len(ORDER), stem)


def _template_path(template_id: str) -> Path:
    if not isinstance(template_id, str) or not template_id.replace("_", "").replace("-", "").isalnum():
        raise DesignFileError(f"no template named {template_id!r}")
    path = TEMPLATE_DIR / f"{template_id}.json"
    if not path.is_file():
        known = ", ".join(t["id"] for t in list_templates())
        raise DesignFileError(f"no template named {template_id!r} (templates: {known})")
    return path


def list_templates() -> list[dict[str, Any]]:
    """The templates as {"id", "name", "description", "path"}, beginner-friendly ones first.

    A file that cannot be read is skipped: the gallery shows what loads."""
    rows = []
    for path in sorted(TEMPLATE_DIR.glob("*.json"), key=lambda p: _sort_key(p.stem)):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        rows.append({
            "id": path.stem,
            "name": str(doc.get("name") or path.stem),
            "description": str(doc.get("description") or ""),
            "path": str(path),
        })
    return rows


def load_template(template_id: str) -> dict[str, Any]:
    """The design of a template, by id (its file stem). Raises DesignFileError for an unknown id."""
    return load_design(_template_path(template_id))
