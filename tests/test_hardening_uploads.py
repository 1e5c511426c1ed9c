"""Uploads that used to raise or pass bad values through (issues 15, 16), through the upload functions."""

from __future__ import annotations

import io
import threading
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from designer import datasets as D
from designer.data import uploads as U
from designer.datasets import DataCancelled, DataError, dataset_from_csv, dataset_from_image_zip, dataset_from_npz


def _png(width: int, height: int, colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def _big_png(width: int, height: int) -> bytes:
    """A valid all-black grayscale PNG, written row by row (never the whole image in memory)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    z, row, parts = zlib.compressobj(9), b"\x00" * (width + 1), []
    for _ in range(height):
        parts.append(z.compress(row))
    parts.append(z.flush())
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_csv_cell_over_the_field_limit_is_a_data_error():
    text = "a,b\n1,0\n" + "2," + "9" * 131_073 + "\n3,1\n"
    with pytest.raises(DataError, match=r"line 3 has a cell longer than 131,072 characters"):
        dataset_from_csv(text.encode(), name="wide.csv")


def test_a_nul_inside_a_csv_number_is_refused():
    with pytest.raises(DataError, match="line 3 holds a NUL byte"):
        dataset_from_csv(b"a,b\n1,0\n2\x00,1\n3,0\n4,1\n", name="nul.csv")
    with pytest.raises(DataError, match="NUL"):
        dataset_from_csv(b"a,b\n1,0\n2,1\x00\n3,0\n", name="nul.csv")


@pytest.mark.parametrize("cell", ["1e39", "-4e38", "3.5e38"])
def test_csv_numbers_beyond_float32_are_refused_not_made_inf(cell):
    with pytest.raises(DataError, match=f"{cell} is beyond float32"):
        dataset_from_csv(f"a,b,y\n1,2,0\n{cell},3,1\n4,5,0\n6,7,1\n".encode(), name="big.csv")
    with pytest.raises(DataError, match="beyond float32"):  # a regression target too
        dataset_from_csv(f"a,y\n1,0.5\n2,{cell}\n3,1.5\n4,2.5\n".encode(), task="regression", name="big.csv")
    near = dataset_from_csv(b"a,y\n1,0\n3.3e38,1\n4,0\n6,1\n", name="near.csv")  # within float32: fine
    assert np.isfinite(near.x_train.numpy()).all() and np.isfinite(near.x_val.numpy()).all()


def test_an_npz_member_x_that_is_not_an_array_is_a_data_error():
    y = io.BytesIO()
    np.save(y, np.array([0, 1, 0, 1]))
    data = _zip({"X": b"not an array at all", "y.npy": y.getvalue()})
    with pytest.raises(DataError, match="member 'X' is not a NumPy array"):
        dataset_from_npz(data, name="odd.npz")


def test_a_20000_square_png_gets_the_apps_40_megapixel_message():
    huge = _big_png(20_000, 20_000)
    assert Image.open(io.BytesIO(_big_png(300, 200))).size == (300, 200)  # the writer makes real PNGs
    data = _zip({"a/huge.png": huge, "b/small.png": _png(8, 8)})
    with pytest.raises(DataError) as info:
        dataset_from_image_zip(data, name="huge.zip")
    message = str(info.value)
    assert f"more than the {D.MAX_IMAGE_PIXELS} allowed" in message and "20000×20000" in message
    assert "decompression bomb" not in message.lower() and "DOS" not in message


def test_many_large_images_are_refused_from_their_headers_before_any_decoding(monkeypatch):
    # 60 valid 6000×6000 PNGs (36 M pixels each, under the per-image limit): 2.16 G pixels, a few hundred KB zipped
    one = _big_png(6000, 6000)
    members = {f"{'ab'[i % 2]}/{i}.png": one for i in range(60)}
    data = _zip(members)
    assert len(data) < 2_000_000
    decoded = []
    monkeypatch.setattr(U, "_decode_image", lambda *a, **k: decoded.append(a[1]) or np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=f"more than {D.MAX_TOTAL_PIXELS:,} pixels together"):
        dataset_from_image_zip(data, image_size=8, name="many.zip")
    assert decoded == []  # refused from the headers: not one image decoded


def test_decoding_images_can_be_cancelled_between_images():
    data = _zip({f"{'ab'[i % 2]}/{i}.png": _png(16, 16, (i, 0, 0)) for i in range(40)})
    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 5:
            stop.set()

    with pytest.raises(DataCancelled, match="cancelled after 6 of 40 images"):
        dataset_from_image_zip(data, image_size=8, name="c.zip", cancel=stop.is_set, progress=progress)
    assert seen[0] == (0, 40) and seen[-1] == (5, 40)
    whole = dataset_from_image_zip(data, image_size=8, name="c.zip", cancel=lambda: False)
    assert whole.size == 40
