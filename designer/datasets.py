"""Kept for old imports: datasets now live in the package designer.data (one module per job)."""

from designer.data import *  # noqa: F403
from designer.data import __all__  # noqa: F401
from designer.data.base import (  # noqa: F401 - limits and names older code reads from here
    CSV_AUTO_MAX_CLASSES,
    MAX_ARRAY_BYTES,
    MAX_CLASSES,
    MAX_CSV_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_TENSOR_BYTES,
    MAX_TOTAL_PIXELS,
    MAX_ZIP_FILE_BYTES,
    MAX_ZIP_MEMBERS,
    MAX_ZIP_TOTAL_BYTES,
)
from designer.data.synthetic import BUILTINS, SEQUENCE_CLASSES, SHAPE_CLASSES, TOKEN_TOPICS, TOKEN_VOCAB  # noqa: F401
