"""User data: .npz, .csv and zips of image folders, read without evaluating anything."""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from designer.data.base import (
    CSV_AUTO_MAX_CLASSES,
    IMAGE_EXTENSIONS,
    MAX_ARRAY_BYTES,
    MAX_CLASSES,
    MAX_CSV_BYTES,
    MAX_CSV_FIELD,
    MAX_IMAGE_PIXELS,
    MAX_TENSOR_BYTES,
    MAX_TOTAL_PIXELS,
    MAX_ZIP_FILE_BYTES,
    MAX_ZIP_MEMBERS,
    MAX_ZIP_TOTAL_BYTES,
    DataCancelled,
    DataError,
    Dataset,
    _make_dataset,
    _shuffled_split,
)
from designer.data.synthetic import _classification

# ----------------------------------------------------------------------------------------------
# User data


def _read_source(source: Any, label: str, limit: int) -> bytes:
    """The bytes of an upload: bytes as given, a path read from disk, or a file-like object read."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | Path):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(f"no such file: {path}")
        if path.stat().st_size > limit:
            raise DataError(f"{path.name}: {path.stat().st_size} bytes is more than the {limit} allowed")
        data = path.read_bytes()
    elif hasattr(source, "read"):
        data = source.read(limit + 1)
    else:
        raise DataError(f"{label}: expected bytes or a file path, got {type(source).__name__}")
    if len(data) > limit:
        raise DataError(f"{label}: {len(data)} bytes is more than the {limit} allowed")
    return data


def _label(source: Any, name: str) -> str:
    return Path(source).name if isinstance(source, str | Path) else name


def _pick(names: list[str], wanted: str) -> str | None:
    """`wanted` among `names`: exactly, else ignoring case."""
    if wanted in names:
        return wanted
    return next((n for n in names if n.lower() == wanted.lower()), None)


def dataset_from_npz(
    source: bytes | str | Path, name: str = "uploaded", val_fraction: float = 0.2, seed: int = 0
) -> Dataset:
    """A dataset from an .npz with arrays `X` (samples first) and `y` (`x`/`Y` also accepted).

    X float -> float32 features; X integer -> int64 token ids. y integer (or strings) ->
    classification (num_classes = max + 1; strings become class ids in sorted order, names kept
    in `classes`); y float -> regression, (N,) becoming (N, 1). Nothing is unpickled.
    """
    label = _label(source, name)
    data = _read_source(source, label, MAX_ARRAY_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError(f"{label}: not an .npz archive; save it with np.savez(path, X=..., y=...)") from None
    with archive:
        declared = sum(i.file_size for i in archive.infolist())
        if declared > MAX_ARRAY_BYTES:
            raise DataError(
                f"{label}: the arrays take {declared} bytes uncompressed, more than the {MAX_ARRAY_BYTES} allowed"
            )
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(f"{label}: could not read it as .npz ({e})") from None
    with npz:
        keys = list(npz.files)
        key_x, key_y = _pick(keys, "X"), _pick(keys, "y")
        for wanted, key in (("X", key_x), ("y", key_y)):
            if key is None:
                raise DataError(
                    f"{label}: no array '{wanted}' (found: {', '.join(keys) or 'none'}); save it with np.savez(path, X=..., y=...)"
                )
        x, y = _npz_array(npz, key_x, label), _npz_array(npz, key_y, label)
    x = _npz_features(x, key_x, label)
    if y.ndim == 0 or len(y) != len(x):
        raise DataError(
            f"{label}: '{key_x}' has {len(x)} samples but '{key_y}' has shape {y.shape}; they need the same length"
        )
    y, task, classes = _npz_targets(y, key_y, label)
    x, y, n_val = _shuffled_split(x, y, val_fraction, seed, label)
    return _make_dataset(name, f"uploaded arrays {label}", x, y, task, classes, n_val)


def _npz_declared_bytes(npz: Any, key: str) -> int | None:
    """The bytes an .npz member's header says its array takes (None when the header cannot be read here).

    A few hundred bytes can claim a shape of 10^13 elements, and NumPy allocates what the header claims
    before it reads the data: the claim is checked first."""
    fmt = np.lib.format
    try:
        with npz.zip.open(f"{key}.npy") as f:
            version = fmt.read_magic(f)
            reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if reader is None:
                return None
            shape, _, dtype = reader(f)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    return math.prod(shape) * dtype.itemsize


def _npz_array(npz: Any, key: str, label: str) -> np.ndarray:
    declared = _npz_declared_bytes(npz, key)
    if declared is not None and declared > MAX_ARRAY_BYTES:
        raise DataError(f"{label}: array '{key}' says it takes {declared} bytes, more than the {MAX_ARRAY_BYTES} allowed")
    try:
        value = npz[key]
    except MemoryError:  # a header whose claim the check above could not read
        raise DataError(f"{label}: array '{key}' is larger than this machine's memory") from None
    except ValueError as e:
        if "allow_pickle" in str(e) or "Object arrays" in str(e):
            raise DataError(
                f"{label}: array '{key}' holds Python objects (dtype object); save numbers (or strings for y)"
            ) from None
        raise DataError(f"{label}: could not read array '{key}' ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{label}: array '{key}' is damaged ({e})") from None
    if not isinstance(value, np.ndarray):  # a member "X" without ".npy": NumPy hands back its raw bytes
        raise DataError(f"{label}: member '{key}' is not a NumPy array (no .npy header); "
                        f"save the arrays with np.savez(path, X=..., y=...)")
    return value


def _npz_features(x: np.ndarray, key: str, label: str) -> np.ndarray:
    """Features as float32, or int64 token ids; refuses strings, NaN and inf."""
    if x.ndim == 0:
        raise DataError(f"{label}: '{key}' is a single value; it needs one row per sample")
    if x.ndim == 1:
        x = x[:, None]  # one number per sample
    if 0 in x.shape[1:]:
        raise DataError(f"{label}: '{key}' has shape {x.shape}: each sample is empty; it needs at least one value")
    if x.dtype.kind in "iu":
        if x.size and x.min() < 0:
            raise DataError(
                f"{label}: integer '{key}' (token ids) holds {x.min()}; token ids must be ≥ 0, or save '{key}' as float"
            )
        return x.astype(np.int64)
    if x.dtype.kind in "fb":
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{label}: '{key}' holds {_bad_values(x)}; replace or drop those samples")
        return x
    raise DataError(f"{label}: '{key}' has dtype {x.dtype}; features must be numbers (float, or int for token ids)")


def _bad_values(a: np.ndarray) -> str:
    nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    return " and ".join(p for p in (f"{nan} NaN" if nan else "", f"{inf} inf" if inf else "") if p)


def _npz_targets(y: np.ndarray, key: str, label: str) -> tuple[np.ndarray, dict, list[str] | None]:
    """(y, task, classes): integer or string ids -> classification, float -> regression."""
    if y.dtype.kind in "iub" or y.dtype.kind in "US":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataError(
                f"{label}: '{key}' of shape {y.shape} with dtype {y.dtype}; class labels are one per sample, shape (N,); save '{key}' as float for regression targets"
            )
        if y.dtype.kind in "US":
            classes, ids = np.unique(y, return_inverse=True)
            return ids.astype(np.int64), _classification(classes.tolist()), [str(c) for c in classes]
        y = y.astype(np.int64)
        if y.min() < 0:
            raise DataError(f"{label}: '{key}' holds the label {y.min()}; class ids must be 0 or more")
        k = int(y.max()) + 1
        if k > MAX_CLASSES:
            raise DataError(
                f"{label}: '{key}' holds the label {k - 1}, which would make {k} classes (at most {MAX_CLASSES})"
            )
        return y, {"kind": "classification", "num_classes": k}, None
    if y.dtype.kind == "f":
        y = y.astype(np.float32)
        if not np.isfinite(y).all():
            raise DataError(f"{label}: '{key}' holds {_bad_values(y)}; replace or drop those samples")
        return (y[:, None] if y.ndim == 1 else y), {"kind": "regression"}, None
    raise DataError(
        f"{label}: '{key}' has dtype {y.dtype}; labels must be integers (classes), strings (classes) or floats (regression)"
    )


def dataset_from_csv(
    source: bytes | str | Path,
    label_column: str | None = None,
    task: str = "auto",
    name: str = "uploaded",
    val_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A dataset from a CSV table: one row per sample, numeric feature columns -> a 1-D float32 input.

    The label column is `label_column` (matched exactly, else ignoring case), by default the
    last one. The first row is a header when it holds names where the data holds numbers; a
    file without one has columns named "0", "1", ... task "auto": labels that are strings, or
    integer-like with at most 20 distinct values, make classification (class ids in sorted
    order, names kept in `classes`); otherwise regression with target shape (1,).
    Delimiters , ; and tab are recognised.
    """
    label = _label(source, name)
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"task must be auto, classification or regression, got '{task}'")
    rows = _csv_rows(_read_source(source, label, MAX_CSV_BYTES), label)
    header, rows = _csv_header(rows)
    if label_column is None:
        col = len(header) - 1
    else:
        found = _pick(header, str(label_column))
        if found is None:
            raise DataError(f"{label}: no column '{label_column}'; the columns are: {', '.join(header)}")
        col = header.index(found)
    if len(header) < 2:
        raise DataError(f"{label}: only one column ('{header[0]}'); a CSV needs feature columns and a label column")
    if len(rows) < 2:
        raise DataError(f"{label}: needs at least 2 data rows, got {len(rows)}")
    table = np.array(rows, dtype=str)  # (N, columns)
    features = [c for c in range(len(header)) if c != col]
    x = np.stack([_csv_numbers(table[:, c], header[c], label, "feature") for c in features], axis=1).astype(np.float32)
    y, task_dict, classes = _csv_labels(table[:, col], header[col], task, label)
    x, y, n_val = _shuffled_split(x, y, val_fraction, seed, label)
    return _make_dataset(
        name, f"uploaded table {label} (label column '{header[col]}')", x, y, task_dict, classes, n_val
    )


def _csv_rows(data: bytes, label: str) -> list[list[str]]:
    """Non-empty rows of equal length, cells stripped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{label}: not UTF-8 text (byte {e.start}); save the CSV as UTF-8") from None
    nul = text.find("\x00")
    if nul >= 0:  # NumPy's text arrays drop trailing NULs, so "2\x00" would pass as 2
        raise DataError(f"{label}: line {text.count(chr(10), 0, nul) + 1} holds a NUL byte; "
                        f"a CSV is plain text: save it again as UTF-8 text")
    try:
        dialect = csv.Sniffer().sniff(text[:65536], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = []
    reader = csv.reader(io.StringIO(text), dialect)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "field limit" in str(e):
                raise DataError(f"{label}: line {reader.line_num} has a cell longer than {MAX_CSV_FIELD:,} characters; "
                                f"CSV cells must be numbers or short labels") from None
            raise DataError(f"{label}: line {reader.line_num} is not valid CSV ({e})") from None
        line = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if rows and len(cells) != len(rows[0][1]):
            raise DataError(f"{label}: line {line} has {len(cells)} cells, line {rows[0][0]} has {len(rows[0][1])}")
        rows.append((line, cells))
    if not rows:
        raise DataError(f"{label}: the file holds no rows")
    return [cells for _, cells in rows]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_header(rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """(column names, data rows): the first row is a header if it has a name where the next row has a number, or only names."""
    first = rows[0]
    second = rows[1] if len(rows) > 1 else None
    names_over_numbers = second is not None and any(
        not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=True)
    )
    if names_over_numbers or not any(_is_number(c) for c in first):
        return [c or f"column {i}" for i, c in enumerate(first)], rows[1:]
    return [str(i) for i in range(len(first))], rows


def _csv_numbers(cells: np.ndarray, column: str, label: str, what: str) -> np.ndarray:
    """A column as float64, or a DataError naming the first cell that is not a finite number once cast to float32
    (what training uses: 1e39 is finite as float64 but inf as float32, so the cast comes before the check)."""
    try:
        values = cells.astype(np.float64)
    except ValueError:
        values = None
    with np.errstate(over="ignore"):
        finite = values is not None and np.isfinite(values.astype(np.float32)).all()
    if not finite:
        for row, cell in enumerate(cells, start=1):
            if not _is_number(cell) or not np.isfinite(float(cell)):
                shown = f"'{cell}'" if cell else "an empty cell"
                raise DataError(
                    f"{label}: {what} column '{column}' is not numeric (data row {row}: {shown}); "
                    f"CSV {what}s must be finite numbers: encode or drop that column"
                )
            with np.errstate(over="ignore"):
                if not np.isfinite(np.float32(float(cell))):
                    raise DataError(
                        f"{label}: {what} column '{column}', data row {row}: {cell[:40]} is beyond float32 "
                        f"(at most ±3.4e38); scale that column down"
                    )
    return values


def _csv_labels(cells: np.ndarray, column: str, task: str, label: str) -> tuple[np.ndarray, dict, list[str] | None]:
    """(y, task, classes) from the label column."""
    numeric = all(_is_number(c) for c in cells)
    values = _csv_numbers(cells, column, label, "label") if numeric else None
    if task == "regression" and values is None:
        bad = next(c for c in cells if not _is_number(c))
        raise DataError(
            f"{label}: label column '{column}' is not numeric ('{bad or 'empty'}'); regression needs numbers, or use task classification"
        )
    if task == "auto":
        integer_like = values is not None and np.all(values == np.round(values))
        few = len(np.unique(cells if values is None else values)) <= CSV_AUTO_MAX_CLASSES
        task = "classification" if values is None or (integer_like and few) else "regression"
    if task == "regression":
        return values.astype(np.float32)[:, None], {"kind": "regression"}, None
    if values is not None:
        distinct, ids = np.unique(values, return_inverse=True)
        classes = [str(int(v)) if v == int(v) else str(v) for v in distinct]
    else:
        distinct, ids = np.unique(cells, return_inverse=True)
        classes = [str(v) for v in distinct]
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"{label}: label column '{column}' has {len(classes)} distinct values, more than {MAX_CLASSES} classes"
        )
    return ids.astype(np.int64), _classification(classes), classes


def _safe_member_path(info: zipfile.ZipInfo, label: str) -> PurePosixPath:
    """The member's relative path, or a DataError for an absolute path, '..', a link or encryption."""
    raw = info.filename.replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise DataError(f"{label}: refused: member '{info.filename}' has an absolute path")
    parts = PurePosixPath(raw).parts
    if ".." in parts:
        raise DataError(f"{label}: refused: member '{info.filename}' climbs out of the folder with '..'")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        raise DataError(f"{label}: refused: member '{info.filename}' is a symbolic link")
    if info.flag_bits & 0x1:
        raise DataError(f"{label}: member '{info.filename}' is encrypted; zip it without a password")
    if info.file_size > MAX_ZIP_FILE_BYTES:
        raise DataError(
            f"{label}: member '{info.filename}' is {info.file_size} bytes, more than the {MAX_ZIP_FILE_BYTES} allowed per file"
        )
    return PurePosixPath(*[p for p in parts if p not in ("", ".")])


def _zip_images(zf: zipfile.ZipFile, label: str) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Check every member, then list the image files (skipping folders, hidden files and __MACOSX)."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DataError(f"{label}: {len(infos)} members, more than the {MAX_ZIP_MEMBERS} allowed")
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_TOTAL_BYTES:
        raise DataError(f"{label}: {total} bytes uncompressed, more than the {MAX_ZIP_TOTAL_BYTES} allowed")
    images = []
    for info in infos:
        path = _safe_member_path(info, label)
        if info.is_dir() or not path.parts:
            continue
        if path.parts[0] == "__MACOSX" or any(p.startswith(".") for p in path.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append((info, path))
    if not images:
        raise DataError(
            f"{label}: no images found ({', '.join(sorted(IMAGE_EXTENSIONS))}); put each class's images in a folder named after the class"
        )
    return images


def _class_of(paths: list[PurePosixPath], label: str) -> list[str]:
    """The class folder of each image: the first folder, or the second when all share one top folder."""
    flat = next((p for p in paths if len(p.parts) < 2), None)
    if flat is not None:
        raise DataError(
            f"{label}: image '{flat}' is not in a class folder; put each class's images in a folder named after the class"
        )
    tops = {p.parts[0] for p in paths}
    depth = 1 if len(tops) == 1 and all(len(p.parts) >= 3 for p in paths) else 0
    flat = next((p for p in paths if len(p.parts) < depth + 2), None)
    if flat is not None:
        raise DataError(
            f"{label}: image '{flat}' is not in a class folder; put each class's images in a folder named after the class"
        )
    return [p.parts[depth] for p in paths]


def dataset_from_image_zip(
    source: bytes | str | Path,
    image_size: int = 32,
    channels: int = 3,
    name: str = "uploaded",
    val_fraction: float = 0.2,
    seed: int = 0,
    extract_dir: str | Path | None = None,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """A dataset from a zip of images, one folder per class (optionally all under one top folder).

    Every member is checked before anything is read: no absolute paths, no '..', no links, at
    most 20,000 members, 200 MB uncompressed and 20 MB per file. Images are decoded with Pillow,
    converted to `channels` (1: grayscale, 3: RGB), resized to image_size×image_size and scaled
    to [0, 1]: input shape (channels, image_size, image_size). Class ids follow the sorted folder
    names. With `extract_dir`, the checked images are also written there, at their paths in the zip.

    Before any image is decoded, every image's header is read: one may have at most 40,000,000 pixels
    and all of them together at most MAX_TOTAL_PIXELS, so a small zip of huge images is refused at once.
    Between images, `cancel()` is asked (True raises DataCancelled) and `progress(done, total)` is told.
    """
    label = _label(source, name)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    if not 4 <= int(image_size) <= 512:
        raise DataError(f"image_size must be between 4 and 512, got {image_size}")
    data = _read_source(source, label, MAX_ZIP_TOTAL_BYTES)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise DataError(f"{label}: not a zip file") from None
    with zf:
        images = _zip_images(zf, label)
        need = len(images) * channels * image_size**2 * 4
        if need > MAX_TENSOR_BYTES:
            raise DataError(
                f"{label}: {len(images)} images at {image_size}×{image_size} would take {need >> 20} MB; use a smaller image_size"
            )
        names = _class_of([p for _, p in images], label)
        classes = sorted(set(names))
        if len(classes) < 2:
            raise DataError(f"{label}: only one class folder ('{classes[0]}'); classification needs at least two")
        out_root = Path(extract_dir).resolve() if extract_dir is not None else None
        _check_pixel_budget(zf, images, label, cancel)
        x = np.empty((len(images), image_size, image_size, channels), np.uint8)
        for i, (info, path) in enumerate(images):
            if cancel is not None and cancel():
                raise DataCancelled(f"{label}: cancelled after {i:,} of {len(images):,} images")
            if progress is not None:
                progress(i, len(images))
            raw = _read_member(zf, info, label)
            x[i] = _decode_image(raw, str(path), image_size, channels, label)
            if out_root is not None:
                _write_inside(out_root, path, raw, label)
    y = np.array([classes.index(c) for c in names], dtype=np.int64)
    x = x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0  # (N, C, S, S)
    x, y, n_val = _shuffled_split(x, y, val_fraction, seed, label)
    return _make_dataset(
        name, f"uploaded images {label}: {len(classes)} classes", x, y, _classification(classes), classes, n_val
    )


def _too_many_pixels(label: str, member: str, width: int | None, height: int | None, pixels: int | None) -> DataError:
    size = f"{width}×{height} pixels" if width and height else f"{pixels:,} pixels" if pixels else "too large"
    return DataError(f"{label}: image '{member}' is {size}, more than the {MAX_IMAGE_PIXELS} allowed; "
                     f"make it smaller")


def _png_size(head: bytes) -> tuple[int | None, int | None]:
    """Width and height from a PNG's IHDR (the first 24 bytes), or (None, None) for another format."""
    if len(head) >= 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return None, None


def _bomb_pixels(exc: Exception) -> int | None:
    """The pixel count in Pillow's DecompressionBombError ("Image size (400000000 pixels) exceeds ...")."""
    m = re.search(r"\((\d+) pixels\)", str(exc))
    return int(m.group(1)) if m else None


def _check_pixel_budget(zf: zipfile.ZipFile, images: list, label: str, cancel: Callable[[], bool] | None) -> None:
    """Read each image's header (a few bytes, nothing decoded) and refuse, before any decoding, an image over
    MAX_IMAGE_PIXELS or a zip whose images together are over MAX_TOTAL_PIXELS."""
    Image = _pillow()
    total = 0
    for i, (info, path) in enumerate(images):
        if cancel is not None and i % 64 == 0 and cancel():
            raise DataCancelled(f"{label}: cancelled while checking the images ({i:,} of {len(images):,})")
        try:
            with zf.open(info) as f, Image.open(f) as im:
                width, height = im.size
        except Image.DecompressionBombError as e:  # over Pillow's own limit: our message, with the size we can read
            with zf.open(info) as f:
                width, height = _png_size(f.read(24))
            raise _too_many_pixels(label, str(path), width, height, _bomb_pixels(e)) from None
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, ValueError,
                SyntaxError) as e:  # Pillow: UnidentifiedImageError is an OSError; some plugins raise SyntaxError
            raise DataError(f"{label}: could not read image '{path}' ({type(e).__name__}: {e})") from None
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_many_pixels(label, str(path), width, height, None)
        total += width * height
        if total > MAX_TOTAL_PIXELS:
            raise DataError(
                f"{label}: the images hold more than {MAX_TOTAL_PIXELS:,} pixels together (past image {i + 1:,} of "
                f"{len(images):,}); decoding them would take very long: resize them first (e.g. to 256×256)")


def _pillow():
    try:
        from PIL import Image  # Pillow comes with streamlit; only uploads need it
    except ImportError:
        raise DataError("reading images needs Pillow: pip install pillow") from None
    return Image


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> bytes:
    try:
        with zf.open(info) as f:
            return f.read(MAX_ZIP_FILE_BYTES + 1)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as e:
        raise DataError(f"{label}: member '{info.filename}' is damaged or unsupported ({e})") from None


def _decode_image(raw: bytes, member: str, size: int, channels: int, label: str) -> np.ndarray:
    """One image as uint8 (size, size, channels)."""
    Image = _pillow()
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise _too_many_pixels(label, member, im.width, im.height, None)
            im.draft("L" if channels == 1 else "RGB", (size, size))  # JPEG: decode at a reduced scale when it can
            im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError as e:  # over Pillow's own limit (2 × 89 M pixels): our message, not its
        raise _too_many_pixels(label, member, *_png_size(raw[:24]), _bomb_pixels(e)) from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many kinds for a broken file
        raise DataError(f"{label}: could not read image '{member}' ({type(e).__name__}: {e})") from None
    return arr.reshape(size, size, channels)


def _write_inside(root: Path, rel: PurePosixPath, data: bytes, label: str) -> None:
    """Write `data` at root/rel, refusing any path that would land outside root."""
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise DataError(f"{label}: refused to write '{rel}' outside {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)




UPLOAD_KINDS = {".npz": "arrays X and y", ".csv": "a table: feature columns and a label column",
                ".zip": "images, one folder per class"}


def dataset_from_upload(
    source: bytes | str | Path,
    filename: str,
    *,
    seed: int = 0,
    image_size: int = 32,
    channels: int = 3,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Dataset:
    """The one entry for user data, by the file's kind: .npz, .csv or a .zip of image folders.

    `filename` names the dataset (its stem) and picks the reader; image_size, channels, progress
    and cancel are for images. Any other kind is a DataError listing the ones read.
    """
    suffix = Path(filename).suffix.lower()
    name = Path(filename).stem or "uploaded"
    if suffix == ".npz":
        return dataset_from_npz(source, name=name, seed=seed)
    if suffix == ".csv":
        return dataset_from_csv(source, name=name, seed=seed)
    if suffix == ".zip":
        return dataset_from_image_zip(source, image_size=image_size, channels=channels, name=name, seed=seed,
                                      cancel=cancel, progress=progress)
    kinds = "; ".join(f"{k} ({v})" for k, v in UPLOAD_KINDS.items())
    raise DataError(f"{filename}: not a kind of data file read here; use {kinds}")
