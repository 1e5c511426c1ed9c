"""Embeddings: token ids to vectors."""

from __future__ import annotations

from designer.params import MAX_SIZE, P
from designer.registry import LayerSpec, register

register(LayerSpec(
    type="Embedding", family="embedding",
    help="Looks up a vector for each token id (int64 input).",
    params=(
        P("num_embeddings", "int", 1000, "Vocabulary size (ids run from 0 to this - 1).", min=1, max=1 << 24, required=True, key=True),
        P("embedding_dim", "int", 64, "Size of each vector.", min=1, max=MAX_SIZE, required=True, key=True),
        P("padding_idx", "int", None, "An id whose vector stays zero.", nullable=True, min=-(1 << 24), max=1 << 24),
        P("max_norm", "float", None, "Renormalise vectors longer than this.", nullable=True, min=0.0, max=1e6),
    ),
    ranks=(), expects="token ids (L)",
    input_dtype="int", output_dtype="float32",
    positional=("num_embeddings", "embedding_dim"),
    check=lambda shape, v: [] if v["padding_idx"] is None or -v["num_embeddings"] <= v["padding_idx"] < v["num_embeddings"]
    else [(f"padding_idx {v['padding_idx']} is outside the vocabulary of {v['num_embeddings']}",
           "set padding_idx to null (or below num_embeddings)", {"op": "set", "key": "padding_idx", "value": None})],
))
