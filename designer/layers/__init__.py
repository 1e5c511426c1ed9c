"""The layer catalogue: importing this package registers every family's LayerSpecs."""

from designer.layers import (  # noqa: F401
    activation,
    attention,
    conv,
    dense,
    embedding,
    norm,
    pool,
    recurrent,
    regularisation,
    reshape,
)
