"""The real datasets (MNIST, Fashion-MNIST, CIFAR-10) on this machine: whether their official files are in
the data folder, and putting uploaded official files there after checking them.

What a dataset is (its folder under the data dir, its classes) is declared once, in designer.datasets
(`REAL`); this module only reads those declarations. An upload is checked in full before a byte lands
in the data dir: its name must be one of the official file names, its size within the limits, and the
project's own readers (`read_idx`, `read_cifar10_bin`) must read it, in a temporary folder outside the
data dir. Only then is it copied in, under the official name (never a name the user typed) and by an
atomic rename, so a half-written file is never seen. Nothing is written outside the data dir.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from designer.data.base import DataError
from designer.data.real import CIFAR10_FILES, MNIST_FILES, REAL, default_data_dir, read_cifar10_bin, read_idx

ENV = "NETWRIGHT_DATA_DIR"
MAX_UPLOAD_BYTES = 200 * 2**20  # one uploaded file (the CIFAR-10 binary tarball is ~163 MB); Streamlit's own cap
MAX_UNPACKED_BYTES = 200 * 2**20  # one file's content once un-gzipped, or a tarball's members together
MAX_TAR_MEMBERS = 64  # the CIFAR-10 tarball holds 8
CIFAR_RECORD = 1 + 3 * 32 * 32

# How each real dataset's official files come: idx files (optionally .gz), or CIFAR-10 binary batches
# (one by one, or the official cifar-10-binary.tar.gz).
FORMATS = {"mnist": "idx", "fashion-mnist": "idx", "cifar10": "cifar-bin"}
OFFICIAL_DOWNLOADS = {
    "idx": [f"{stem}.gz" for stem in MNIST_FILES],
    "cifar-bin": ["cifar-10-binary.tar.gz"],
}


@dataclass(frozen=True)
class RealStatus:
    """One real dataset's state in the data dir."""

    name: str
    label: str
    description: str
    data_dir: Path
    folder: Path  # where its files go (under data_dir)
    files: tuple[str, ...]  # the official file names it needs
    present: tuple[str, ...]
    uploads: tuple[str, ...]  # what to upload: the official downloads' names

    @property
    def ready(self) -> bool:
        return len(self.present) == len(self.files)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(f for f in self.files if f not in self.present)

    @property
    def state(self) -> str:
        """"ready", "incomplete" (some files there) or "missing"."""
        return "ready" if self.ready else ("incomplete" if self.present else "missing")

    def where(self) -> str:
        """The folder the files go in, as NETWRIGHT_DATA_DIR/<folder>."""
        try:
            return f"{ENV}/{self.folder.relative_to(self.data_dir).as_posix()}"
        except ValueError:
            return str(self.folder)

    def hint(self) -> str:
        """What to do about it ("" when ready)."""
        if self.ready:
            return ""
        if self.present:
            return f"{self.where()} lacks {', '.join(self.missing)}; add them, or upload them here"
        return f"put the official files in {self.where()}, or upload them here"

    def text(self) -> str:
        """The state in one line a user can act on: "ready", "not on disk: put the official files in ...",
        "incomplete: ... lacks ..."."""
        if self.ready:
            return "ready"
        return f"{'incomplete' if self.present else 'not on disk'}: {self.hint()}"


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def _present(folder: Path, kind: str, name: str) -> bool:
    if kind == "idx":
        return (folder / name).is_file() or (folder / f"{name}.gz").is_file()
    return (folder / name).is_file()


def _needed(kind: str) -> tuple[str, ...]:
    return tuple(MNIST_FILES) if kind == "idx" else tuple(CIFAR10_FILES)


def real_status(data_dir: str | os.PathLike | None = None) -> list[RealStatus]:
    """Every real dataset with what of it is on disk (file names only: nothing is read)."""
    root = _data_dir(data_dir)
    out = []
    for name, spec in REAL.items():
        kind = FORMATS[name]
        folder = root / spec.folder
        files = _needed(kind)
        out.append(RealStatus(name, spec.label, spec.description, root, folder, files,
                              tuple(f for f in files if _present(folder, kind, f)), tuple(OFFICIAL_DOWNLOADS[kind])))
    return out


def status_of(name: str, data_dir: str | os.PathLike | None = None) -> RealStatus:
    for s in real_status(data_dir):
        if s.name == name:
            return s
    raise DataError(f"unknown real dataset '{name}'; they are: {', '.join(REAL)}")


# ----------------------------------------------------------------------------------------------
# Installing uploads


def _basename(filename: str) -> str:
    return PurePosixPath(str(filename).replace("\\", "/")).name


def _check_size(label: str, data: bytes) -> None:
    if len(data) > MAX_UPLOAD_BYTES:
        raise DataError(f"{label}: {len(data):,} bytes is more than the {MAX_UPLOAD_BYTES:,} allowed for one file")
    if not data:
        raise DataError(f"{label}: the file is empty")


def _idx_file(label: str, data: bytes, scratch: Path) -> tuple[str, Path]:
    """(official name, checked file in scratch) for one MNIST-format idx upload."""
    base = _basename(label)
    gz = base.endswith(".gz")
    stem = base[:-3] if gz else base
    if stem not in MNIST_FILES:
        raise DataError(f"{label}: not one of the official MNIST-format files "
                        f"({', '.join(f'{s}.gz' for s in MNIST_FILES)}); rename it or pick the right file")
    if gz != (data[:2] == b"\x1f\x8b"):
        raise DataError(f"{label}: the name says {'gzip' if gz else 'raw idx'} but the content is "
                        f"{'not gzip' if gz else 'gzip'}; upload the file as downloaded")
    path = scratch / (f"{stem}.gz" if gz else stem)
    path.write_bytes(data)
    try:
        array = read_idx(path, max_bytes=MAX_UNPACKED_BYTES)
    except DataError as e:
        raise DataError(f"{label}: {str(e).split(': ', 1)[-1]}") from None
    except ValueError:  # read_idx lets numpy's error through for a header cut mid-number
        raise DataError(f"{label}: the idx header is cut short") from None
    if "images" in stem and (array.ndim != 3 or array.shape[1:] != (28, 28)):
        raise DataError(f"{label}: holds an array of shape {array.shape}; the images file holds (n, 28, 28)")
    if "labels" in stem:
        if array.ndim != 1:
            raise DataError(f"{label}: holds an array of shape {array.shape}; the labels file holds (n,)")
        if len(array) and int(array.max()) > 9:
            raise DataError(f"{label}: label {int(array.max())} found; labels are 0-9")
    return path.name, path


def _cifar_batch(label: str, name: str, data: bytes, scratch: Path) -> tuple[str, Path]:
    if len(data) == 0 or len(data) % CIFAR_RECORD:
        raise DataError(f"{label}: {len(data):,} bytes is not a whole number of CIFAR-10 records "
                        f"of {CIFAR_RECORD} bytes")
    path = scratch / name
    path.write_bytes(data)
    try:
        read_cifar10_bin(path)
    except DataError as e:
        raise DataError(f"{label}: {str(e).split(': ', 1)[-1]}") from None
    return name, path


def _cifar_tar(label: str, data: bytes, scratch: Path) -> list[tuple[str, Path]]:
    """The CIFAR-10 batches in an official cifar-10-binary.tar.gz, checked member by member."""
    out: dict[str, Path] = {}
    unpacked = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for count, member in enumerate(tf, start=1):
                if count > MAX_TAR_MEMBERS:
                    raise DataError(f"{label}: more than {MAX_TAR_MEMBERS} entries; "
                                    "the official cifar-10-binary.tar.gz holds 8")
                unpacked += max(member.size, 0)
                if unpacked > MAX_UNPACKED_BYTES:
                    raise DataError(f"{label}: unpacks to more than the {MAX_UNPACKED_BYTES:,} bytes allowed")
                name = _basename(member.name)
                if name not in CIFAR10_FILES or not member.isfile():
                    continue  # batches.meta.txt, readme.html, folders; links are never followed
                f = tf.extractfile(member)
                content = f.read(member.size + 1) if f else b""
                if len(content) != member.size:
                    raise DataError(f"{label}: {member.name} is cut short")
                out[name] = _cifar_batch(f"{label}: {member.name}", name, content, scratch)[1]
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as e:
        raise DataError(f"{label}: not a readable tar.gz ({e}); upload the official cifar-10-binary.tar.gz") from None
    if not out:
        raise DataError(f"{label}: holds none of the CIFAR-10 batches ({', '.join(CIFAR10_FILES)})")
    return list(out.items())


def _checked(kind: str, label: str, data: bytes, scratch: Path) -> list[tuple[str, Path]]:
    _check_size(label, data)
    base = _basename(label)
    if kind == "idx":
        return [_idx_file(label, data, scratch)]
    if base in CIFAR10_FILES:
        return [_cifar_batch(label, base, data, scratch)]
    if base.endswith((".tar.gz", ".tgz", ".tar")):
        return _cifar_tar(label, data, scratch)
    raise DataError(f"{label}: not a CIFAR-10 file; upload the official cifar-10-binary.tar.gz "
                    f"or its batches ({', '.join(CIFAR10_FILES)})")


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def install_files(name: str, files: Iterable[tuple[str, bytes]], data_dir: str | os.PathLike | None = None
                  ) -> list[Path]:
    """Check uploads of a real dataset's official files and put them in its folder in the data dir.

    `files` are (file name as uploaded, content). Every file is checked (name, size, format, with the
    project's readers) before any is written; one bad file writes none and raises DataError saying
    which and why. Returns the paths written. A file replaces the one of the same official name (and
    its .gz or raw twin, so that only the new one is read).
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in REAL:
        raise DataError(f"unknown real dataset '{name}'; they are: {', '.join(REAL)}")
    kind, spec = FORMATS[key], REAL[key]
    root = _data_dir(data_dir)
    folder = root / spec.folder
    files = list(files)
    if not files:
        raise DataError(f"{spec.label}: no file given; upload {', '.join(OFFICIAL_DOWNLOADS[kind])}")
    with tempfile.TemporaryDirectory(prefix="netwright-upload-") as tmp:
        checked: dict[str, Path] = {}
        for i, (label, data) in enumerate(files):
            scratch = Path(tmp) / str(i)
            scratch.mkdir()
            for official, path in _checked(kind, str(label), bytes(data), scratch):
                checked[official] = path
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"{spec.label}: cannot create {folder} ({e}); set {ENV} to a folder you can write") from None
        if not _inside(root, folder):
            raise DataError(f"{spec.label}: {folder} leads outside the data dir {root}; remove that link")
        written = []
        for official, path in checked.items():
            target = folder / official
            if not _inside(root, target.parent) or target.is_symlink():
                raise DataError(f"{spec.label}: {target} is a link; remove it and upload again")
            partial = folder / f".{official}.partial"
            try:
                shutil.copyfile(path, partial)
                os.replace(partial, target)
            except OSError as e:
                partial.unlink(missing_ok=True)
                raise DataError(f"{spec.label}: cannot write {target} ({e}); "
                                f"set {ENV} to a folder you can write") from None
            twin = folder / (official[:-3] if official.endswith(".gz") else f"{official}.gz")
            if kind == "idx" and twin.is_file() and not twin.is_symlink():
                twin.unlink()
            written.append(target)
    return written


def describe(statuses: Iterable[RealStatus]) -> list[dict[str, Any]]:
    """Rows for a table: dataset, state, folder."""
    return [{"dataset": s.label, "state": s.text(), "folder": str(s.folder)} for s in statuses]
