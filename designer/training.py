"""Kept for old imports: the trainer now lives in the package designer.train (one module per job)."""

from designer.train import *  # noqa: F403
from designer.train import __all__  # noqa: F401
from designer.train.checkpoints import load_file, save_file  # noqa: F401 - tests patch these names
