"""Datasets: built-in synthetic sets, real ones, user uploads, and the check of a design against data.

Modules by responsibility:
  base       the Dataset value, DataError, the limits on user data
  synthetic  the built-in sets, generated from a seed
  real       MNIST, Fashion-MNIST, CIFAR-10 (our own parsers, else torchvision)
  catalog    listing and loading by name
  uploads    .npz / .csv / zips of image folders, and `dataset_from_upload` (one entry for every kind)
  check      the design-vs-data check: Issue objects with one-click fixes, as analysis gives
"""

from designer.data.base import DataCancelled, DataError, Dataset, shape_text
from designer.data.catalog import dataset_names, list_datasets, load_dataset
from designer.data.check import check_design_against_data
from designer.data.real import default_data_dir, read_cifar10_bin, read_idx
from designer.data.uploads import dataset_from_csv, dataset_from_image_zip, dataset_from_npz, dataset_from_upload

__all__ = [
    "DataCancelled",
    "DataError",
    "Dataset",
    "check_design_against_data",
    "dataset_from_csv",
    "dataset_from_image_zip",
    "dataset_from_npz",
    "dataset_from_upload",
    "dataset_names",
    "default_data_dir",
    "list_datasets",
    "load_dataset",
    "read_cifar10_bin",
    "read_idx",
    "shape_text",
]
