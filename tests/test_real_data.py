"""Real datasets in the data dir: their state, and uploads of their official files checked before they
are written (tiny fake files in the official formats; nothing is downloaded)."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile

import numpy as np
import pytest

from designer.data import install as RD
from designer.data.real import REAL
from designer.datasets import DataError, load_dataset


def idx(array: np.ndarray) -> bytes:
    """An idx file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian dims, data."""
    a = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def mnist_files(n_train: int = 12, n_test: int = 5) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    parts = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
             "train-labels-idx1-ubyte": np.arange(n_train) % 10,
             "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
             "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    return [(f"{name}.gz", gzip.compress(idx(a))) for name, a in parts.items()]


def cifar_batch(n: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    records = np.concatenate([(np.arange(n) % 10)[:, None], rng.integers(0, 256, (n, 3072))], axis=1)
    return records.astype(np.uint8).tobytes()


def cifar_tarball(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        members = {f"cifar-10-batches-bin/{n}": cifar_batch(3, i) for i, n in enumerate(RD.CIFAR10_FILES)}
        members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"
        members.update(extra or {})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(root))
    return root


def test_every_real_dataset_has_a_format():
    assert set(RD.FORMATS) == set(REAL)


def test_an_empty_data_dir_says_what_to_do(data_dir):
    states = RD.real_status()
    assert [s.label for s in states] == ["MNIST", "Fashion-MNIST", "CIFAR-10"]
    assert all(s.state == "missing" for s in states)
    text = states[0].text()
    assert text.startswith("not on disk: put the official files in NETWRIGHT_DATA_DIR")
    assert "NETWRIGHT_DATA_DIR/MNIST/raw" in text and states[0].folder == data_dir / "MNIST" / "raw"
    assert "train-images-idx3-ubyte.gz" in states[0].uploads and states[2].uploads == ("cifar-10-binary.tar.gz",)
    assert states[0].hint() in text


def test_mnist_upload_is_installed_and_loads(data_dir):
    files = mnist_files()
    written = RD.install_files("fashion-mnist", files[:2])
    assert [p.name for p in written] == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    status = RD.status_of("fashion-mnist")
    assert status.state == "incomplete" and status.text().startswith("incomplete: NETWRIGHT_DATA_DIR/FashionMNIST")
    assert "t10k-images-idx3-ubyte" in status.text()
    RD.install_files("fashion-mnist", files[2:])
    assert RD.status_of("fashion-mnist").ready and RD.status_of("mnist").state == "missing"
    ds = load_dataset("fashion-mnist")
    assert ds.input_shape == (1, 28, 28) and len(ds.x_train) == 12 and len(ds.x_val) == 5
    assert ds.classes[0] == "T-shirt/top"
    assert not list(data_dir.rglob("*.partial"))  # nothing half-written is left


def test_cifar_tarball_is_unpacked_member_by_member(data_dir):
    RD.install_files("cifar10", [("cifar-10-binary.tar.gz", cifar_tarball())])
    status = RD.status_of("cifar10")
    assert status.ready
    assert sorted(p.name for p in status.folder.iterdir()) == sorted(RD.CIFAR10_FILES)  # only the batches
    ds = load_dataset("cifar10")
    assert ds.input_shape == (3, 32, 32) and len(ds.x_train) == 15 and len(ds.x_val) == 3


@pytest.mark.parametrize("name, files, says", [
    ("mnist", [("evil.gz", gzip.compress(b"x"))], "not one of the official MNIST-format files"),
    ("mnist", [("train-images-idx3-ubyte.gz", idx(np.zeros((2, 28, 28))))], "content is not gzip"),
    ("mnist", [("train-images-idx3-ubyte.gz", gzip.compress(b"\x00\x00\x08\x03\x00"))], "cut short"),
    ("mnist", [("train-images-idx3-ubyte.gz", gzip.compress(idx(np.zeros((2, 5, 5)))))], "(n, 28, 28)"),
    ("mnist", [("train-labels-idx1-ubyte.gz", gzip.compress(idx(np.array([1, 12]))))], "label 12"),
    ("mnist", [("train-images-idx3-ubyte.gz", gzip.compress(b"not an idx file at all"))], "not an idx file"),
    ("mnist", [("train-images-idx3-ubyte.gz", b"\x1f\x8bgarbage")], "could not read"),
    ("mnist", [], "no file given"),
    ("cifar10", [("data_batch_1.bin", b"\x01" * 100)], "not a whole number of CIFAR-10 records"),
    ("cifar10", [("cifar.tar.gz", b"not a tarball")], "not a readable tar.gz"),
    ("cifar10", [("photo.png", b"\x89PNG")], "not a CIFAR-10 file"),
    ("imagenet", [("x.gz", b"")], "unknown real dataset"),
])
def test_bad_uploads_are_refused_and_write_nothing(data_dir, name, files, says):
    with pytest.raises(DataError) as err:
        RD.install_files(name, files)
    assert says in str(err.value)
    assert not data_dir.exists() or not any(p.is_file() for p in data_dir.rglob("*"))


def test_cifar_label_out_of_range_and_empty_tarball(data_dir):
    bad = bytearray(cifar_batch(2))
    bad[0] = 42
    with pytest.raises(DataError, match="label 42"):
        RD.install_files("cifar10", [("test_batch.bin", bytes(bad))])
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz") as tf:
        info = tarfile.TarInfo("readme.html")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(DataError, match="holds none of the CIFAR-10 batches"):
        RD.install_files("cifar10", [("cifar-10-binary.tar.gz", empty.getvalue())])


def test_one_bad_file_among_good_ones_writes_none(data_dir):
    files = mnist_files()
    files[3] = ("t10k-labels-idx1-ubyte.gz", gzip.compress(idx(np.array([99]))))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: label 99"):
        RD.install_files("mnist", files)
    assert RD.status_of("mnist").state == "missing"


def test_uploads_never_write_outside_the_data_dir(data_dir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    # A member or a file name that climbs out is read for its base name only, and lands in the data dir.
    evil = cifar_tarball({"../../outside/data_batch_1.bin": cifar_batch(1), "/etc/test_batch.bin": cifar_batch(1)})
    RD.install_files("cifar10", [("cifar-10-binary.tar.gz", evil)])
    assert not any(outside.iterdir())
    RD.install_files("mnist", [("../../outside/train-images-idx3-ubyte.gz", mnist_files()[0][1])])
    assert not any(outside.iterdir())
    assert (data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").is_file()
    # A dataset folder that is a link out of the data dir is refused.
    (data_dir / "FashionMNIST").mkdir(parents=True)
    (data_dir / "FashionMNIST" / "raw").symlink_to(outside)
    with pytest.raises(DataError, match="leads outside the data dir"):
        RD.install_files("fashion-mnist", mnist_files()[:1])
    assert not any(outside.iterdir())


def test_links_and_size_limits(data_dir, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        link = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    with pytest.raises(DataError, match="holds none"):  # a link is never followed
        RD.install_files("cifar10", [("c.tar.gz", buf.getvalue())])
    monkeypatch.setattr(RD, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(DataError, match="more than the 1,000 allowed"):
        RD.install_files("cifar10", [("data_batch_1.bin", cifar_batch(1))])
    monkeypatch.setattr(RD, "MAX_UPLOAD_BYTES", 10**9)
    monkeypatch.setattr(RD, "MAX_UNPACKED_BYTES", 10_000)
    with pytest.raises(DataError, match="unpacks to more than"):
        RD.install_files("cifar10", [("cifar-10-binary.tar.gz", cifar_tarball())])
    with pytest.raises(DataError, match="more than the 10000 allowed"):  # a gzip that swells past the limit
        RD.install_files("mnist", [("train-images-idx3-ubyte.gz", gzip.compress(idx(np.zeros((20, 28, 28)))))])


def test_a_new_upload_replaces_its_raw_twin(data_dir):
    folder = data_dir / "MNIST" / "raw"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte").write_bytes(b"stale")
    RD.install_files("mnist", mnist_files()[:1])
    assert sorted(p.name for p in folder.iterdir()) == ["train-images-idx3-ubyte.gz"]
