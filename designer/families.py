"""Layer families and their colours: one table that the palette, the cards and the graph share."""

from __future__ import annotations

# family -> (label, fill colour, border/text accent). Mid-saturation fills read on light and dark themes.
FAMILIES: dict[str, tuple[str, str, str]] = {
    "convolution": ("Convolution", "#dbeafe", "#2563eb"),
    "pooling": ("Pooling", "#e0f2fe", "#0284c7"),
    "normalisation": ("Normalisation", "#f3e8ff", "#9333ea"),
    "recurrent": ("Recurrent", "#fef3c7", "#d97706"),
    "attention": ("Attention", "#ccfbf1", "#0d9488"),
    "dense": ("Dense", "#dcfce7", "#16a34a"),
    "activation": ("Activation", "#fce7f3", "#db2777"),
    "regularisation": ("Regularisation", "#f1f5f9", "#64748b"),
    "reshape": ("Reshape", "#ecfccb", "#65a30d"),
    "embedding": ("Embedding", "#ffedd5", "#ea580c"),
    "block": ("Block", "#e2e8f0", "#334155"),
}


def family_color(family: str) -> tuple[str, str]:
    """(fill, accent) colours of a family; grey for an unknown one."""
    _, fill, accent = FAMILIES.get(family, ("", "#f1f5f9", "#64748b"))
    return fill, accent
