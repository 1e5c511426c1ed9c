"""Tests for designer.datasets: the built-in sets (shape, determinism, learnability), user data
loaders and their errors, the real-format readers, and the design-against-data check."""

from __future__ import annotations

import gzip
import io
import struct
import sys
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from designer import datasets as D
from designer.data import uploads as U
from designer.datasets import (
    BUILTINS,
    DataError,
    Dataset,
    check_design_against_data,
    dataset_from_csv,
    dataset_from_image_zip,
    dataset_from_npz,
    list_datasets,
    load_dataset,
)

NAMES = list(BUILTINS)


@pytest.fixture(scope="module")
def builtin() -> dict[str, tuple[Dataset, float]]:
    """Every built-in set at seed 0, with the seconds it took to generate."""
    out = {}
    for name in NAMES:
        start = time.perf_counter()
        ds = load_dataset(name)
        out[name] = (ds, time.perf_counter() - start)
    return out


# ----------------------------------------------------------------------------------------------
# Built-in sets


@pytest.mark.parametrize("name", NAMES)
def test_builtin_matches_its_description(builtin, name):
    ds, seconds = builtin[name]
    row = ds.describe()
    assert set(row) >= {"name", "input", "task", "size"}
    assert row["input"] == {"shape": list(ds.input_shape), "dtype": ds.dtype}
    assert row["size"] == ds.size == len(ds.x_train) + len(ds.x_val)
    assert tuple(ds.x_train.shape[1:]) == tuple(ds.x_val.shape[1:]) == ds.input_shape
    assert str(ds.x_train.dtype) == f"torch.{ds.dtype}"
    assert len(ds.x_train) == len(ds.y_train) >= 4000 and len(ds.x_val) == len(ds.y_val) >= 1000
    assert "\n" not in ds.description and ds.description
    listed = {r["name"]: r for r in list_datasets()}[name]
    assert {k: v for k, v in listed.items() if k != "available"} == row and listed["available"] is True
    assert seconds < 10.0, f"{name} took {seconds:.2f} s to generate"  # ~0.02-0.8 s alone; generous for busy CI
    if ds.dtype == "float32":
        assert torch.isfinite(ds.x_train).all() and torch.isfinite(ds.x_val).all()
    if ds.task["kind"] == "classification":
        k = ds.task["num_classes"]
        per_sample = tuple(ds.x_train.shape[1:2]) if ds.task.get("per_token") else ()  # a tag per token
        assert ds.y_train.dtype == torch.int64 and ds.y_train.shape == (len(ds.x_train), *per_sample)
        assert len(ds.classes) == k
        counts = torch.bincount(torch.cat([ds.y_train, ds.y_val]).flatten(), minlength=k).float()
        assert len(counts) == k and counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()
        val_counts = torch.bincount(ds.y_val.flatten(), minlength=k).float()
        assert val_counts.min() > 0.5 * val_counts.mean()
    else:
        assert ds.y_train.dtype == torch.float32 and ds.y_train.shape[1:] == (8,)
        assert torch.isfinite(ds.y_train).all()


def test_image_sets_are_in_unit_range(builtin):
    for name in ("shapes", "shapes-rgb"):
        x = builtin[name][0].x_train
        assert x.min() >= 0 and x.max() <= 1


def test_tokens_are_ids_in_the_vocabulary(builtin):
    ds = builtin["tokens"][0]
    assert ds.x_train.min() >= 0 and ds.x_train.max() < D.TOKEN_VOCAB
    assert (ds.x_train[:, 0] != 0).all()  # documents start with a word; padding comes at the end


@pytest.mark.parametrize("name", NAMES)
def test_builtin_is_deterministic_per_seed(builtin, name):
    ds = builtin[name][0]
    again = load_dataset(name, seed=0)
    other = load_dataset(name, seed=1)
    assert torch.equal(again.x_train, ds.x_train) and torch.equal(again.y_val, ds.y_val)
    assert not torch.equal(other.x_train, ds.x_train)


def test_unknown_dataset_lists_the_names():
    with pytest.raises(DataError, match="unknown dataset 'nope'.*shapes.*tokens.*mnist"):
        load_dataset("nope")


def test_names_are_forgiving(builtin):
    assert load_dataset(" Sequences ").name == "sequences"


# ----------------------------------------------------------------------------------------------
# Learnability: a small matching model learns each set in seconds, and the sets are not trivial


def _fit(
    model: nn.Module, ds: Dataset, epochs: int, lr: float, loss=nn.functional.cross_entropy, batch: int = 64
) -> float:
    """Train with Adam; return validation accuracy (classification) or MSE (regression)."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(ds.x_train)
    for _ in range(epochs):
        order = torch.randperm(n)
        for i in range(0, n, batch):
            b = order[i : i + batch]
            opt.zero_grad()
            loss(model(ds.x_train[b]), ds.y_train[b]).backward()
            opt.step()
    with torch.no_grad():
        out = model(ds.x_val)
    if ds.task["kind"] == "classification":
        return (out.argmax(1) == ds.y_val).float().mean().item()
    return nn.functional.mse_loss(out, ds.y_val).item()


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_shapes_is_learnable_by_a_small_cnn_but_not_by_a_linear_model(builtin, one_thread):
    ds = builtin["shapes"][0]
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (8, 14, 14)
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (16, 7, 7)
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )
    cnn_acc = _fit(cnn, ds, epochs=4, lr=3e-3)
    torch.manual_seed(0)
    linear_acc = _fit(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), ds, epochs=5, lr=1e-3)
    assert cnn_acc > 0.6, cnn_acc
    assert linear_acc < 0.7, linear_acc  # a real task: raw pixels do not give it away
    assert cnn_acc > linear_acc + 0.15


class _BagOfWords(nn.Module):
    """Embedding -> mean over the sequence -> Linear: (N, L) ids to (N, K) scores."""

    def __init__(self, vocab: int, dim: int, k: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x).mean(1))  # (N, L, E) -> (N, E) -> (N, K)


def test_tokens_is_learnable_by_an_embedding_bag(builtin, one_thread):
    ds = builtin["tokens"][0]
    torch.manual_seed(0)
    acc = _fit(_BagOfWords(D.TOKEN_VOCAB, 32, 4), ds, epochs=4, lr=1e-2)
    assert 0.7 < acc < 0.99, acc  # chance is 0.25


def test_sequences_is_learnable_by_an_mlp(builtin, one_thread):
    ds = builtin["sequences"][0]
    torch.manual_seed(0)
    acc = _fit(nn.Sequential(nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 4)), ds, epochs=10, lr=2e-3)
    assert acc > 0.7, acc


def test_signals_mlp_beats_predicting_the_mean(builtin, one_thread):
    ds = builtin["signals"][0]
    baseline = ((ds.y_val - ds.y_train.mean(0)) ** 2).mean().item()
    torch.manual_seed(0)
    mse = _fit(
        nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 8)),
        ds,
        epochs=8,
        lr=1e-3,
        loss=nn.functional.mse_loss,
    )
    assert mse < 0.6 * baseline, (mse, baseline)


# ----------------------------------------------------------------------------------------------
# .npz


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_classification_float_features(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    y = rng.integers(0, 5, 50)
    y[0] = 6  # num_classes is max + 1, even with a class unseen
    path.write_bytes(_npz(X=rng.normal(size=(50, 3, 8, 8)), y=y))
    ds = dataset_from_npz(path, val_fraction=0.2)
    assert ds.input_shape == (3, 8, 8) and ds.dtype == "float32" and ds.x_train.dtype == torch.float32
    assert ds.task == {"kind": "classification", "num_classes": 7} and ds.classes is None
    assert len(ds.x_val) == 10 and len(ds.x_train) == 40 and ds.y_train.dtype == torch.int64
    again = dataset_from_npz(path.read_bytes())
    assert torch.equal(again.x_train, ds.x_train)  # same seed, same split


def test_npz_tokens_regression_and_lowercase_names():
    rng = np.random.default_rng(0)
    ds = dataset_from_npz(_npz(x=rng.integers(0, 100, (20, 16)), Y=rng.normal(size=20)))
    assert ds.dtype == "int64" and ds.input_shape == (16,)
    assert ds.task == {"kind": "regression"} and ds.y_train.shape[1:] == (1,) and ds.y_train.dtype == torch.float32


def test_npz_string_labels_become_classes():
    ds = dataset_from_npz(_npz(X=np.ones((6, 2)), y=np.array(["cat", "dog", "cat", "emu", "dog", "cat"])))
    assert ds.classes == ["cat", "dog", "emu"] and ds.task == {"kind": "classification", "num_classes": 3}


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"features": np.ones((4, 2)), "y": np.zeros(4, int)}, "no array 'X'.*found: features"),
        ({"X": np.ones((4, 2))}, "no array 'y'"),
        ({"X": np.ones((4, 2)), "y": np.zeros(3, int)}, "'X' has 4 samples but 'y' has shape \\(3,\\)"),
        ({"X": np.array([[1.0, np.nan], [0, 0]]), "y": np.zeros(2, int)}, "'X' holds 1 NaN"),
        ({"X": np.array([[1.0, np.inf], [0, 0]]), "y": np.zeros(2, int)}, "'X' holds 1 inf"),
        ({"X": np.array([{"a": 1}, None], dtype=object), "y": np.zeros(2, int)}, "'X' holds Python objects"),
        ({"X": np.ones((1, 2)), "y": np.zeros(1, int)}, "at least 2 samples"),
        ({"X": np.ones((3, 2)), "y": np.array([0, -1, 2])}, "label -1"),
        ({"X": np.array([["a", "b"], ["c", "d"]]), "y": np.zeros(2, int)}, "'X' has dtype <U1"),
        ({"X": np.ones((3, 2)), "y": np.zeros((3, 2), int)}, "class labels are one per sample"),
    ],
)
def test_npz_errors_name_the_problem(arrays, message):
    with pytest.raises(DataError, match=message):
        dataset_from_npz(_npz(**arrays), name="mine.npz")


def test_npz_refuses_non_npz_and_too_big(monkeypatch):
    with pytest.raises(DataError, match="not an .npz"):
        dataset_from_npz(b"hello")
    monkeypatch.setattr(U, "MAX_ARRAY_BYTES", 1000)
    with pytest.raises(DataError, match="more than the 1000 allowed"):
        dataset_from_npz(_npz(X=np.zeros((100, 100), np.float32), y=np.zeros(100, int)))


def test_npz_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        dataset_from_npz(tmp_path / "absent.npz")


# ----------------------------------------------------------------------------------------------
# .csv


IRIS_LIKE = b"""sepal,petal,width,species
5.1,3.5,1.4,setosa
4.9,3.0,1.4,setosa
6.2,2.9,4.3,versicolor
5.9,3.0,4.2,versicolor
6.3,3.3,6.0,virginica
5.8,2.7,5.1,virginica
"""


def test_csv_string_labels_with_header(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_bytes(IRIS_LIKE)
    ds = dataset_from_csv(path, val_fraction=0.34)
    assert ds.input_shape == (3,) and ds.dtype == "float32"
    assert ds.classes == ["setosa", "versicolor", "virginica"] and ds.task["num_classes"] == 3
    assert len(ds.x_val) == 2 and ds.size == 6


def test_csv_label_column_by_name_and_regression():
    text = b"a;target;b\n1;0.5;2\n2;1.25;3\n3;2.75;1\n4;3.5;0\n"
    ds = dataset_from_csv(text, label_column="TARGET")
    assert ds.task == {"kind": "regression"} and ds.input_shape == (2,) and ds.y_train.shape[1:] == (1,)
    assert sorted(torch.cat([ds.y_train, ds.y_val]).flatten().tolist()) == [0.5, 1.25, 2.75, 3.5]


def test_csv_without_header_integer_labels_are_classes():
    ds = dataset_from_csv(b"0.1,0.2,1\n0.3,0.1,0\n0.5,0.5,2\n0.9,0.4,1\n0.2,0.8,0\n")
    assert ds.task == {"kind": "classification", "num_classes": 3} and ds.classes == ["0", "1", "2"]
    assert ds.size == 5  # no row was taken for a header


def test_csv_many_integer_values_are_regression_unless_asked():
    rows = "\n".join(f"{i},{i * 3}" for i in range(40))
    assert dataset_from_csv(rows.encode()).task == {"kind": "regression"}
    assert dataset_from_csv(rows.encode(), task="classification").task["num_classes"] == 40


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        (IRIS_LIKE, {"label_column": "colour"}, "no column 'colour'; the columns are: sepal, petal, width, species"),
        (
            b"size,colour,y\n1,red,0\n2,blue,1\n3,red,0\n",
            {},
            "feature column 'colour' is not numeric \\(data row 1: 'red'\\)",
        ),
        (b"a,b,y\n1,,0\n2,3,1\n3,4,0\n", {}, "feature column 'b' is not numeric \\(data row 1: an empty cell\\)"),
        (b"a,b,y\n1,2,0\n2,3\n", {}, "line 3 has 2 cells, line 1 has 3"),
        (IRIS_LIKE, {"task": "regression"}, "label column 'species' is not numeric"),
        (b"a,y\n1,0\n", {}, "at least 2 data rows"),
        (b"y\n1\n2\n", {}, "only one column"),
        (IRIS_LIKE, {"task": "cluster"}, "task must be auto, classification or regression"),
        (b"\xff\xfe\x00bad", {}, "not UTF-8"),
    ],
)
def test_csv_errors_name_the_problem(text, kwargs, message):
    with pytest.raises(DataError, match=message):
        dataset_from_csv(text, **kwargs)


# ----------------------------------------------------------------------------------------------
# zip of image folders


def _png(colour: tuple[int, int, int], size: int = 12) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def _zip(members: dict[str, bytes], infos: list[zipfile.ZipInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for info in infos or []:
            zf.writestr(info, b"x")
    return buf.getvalue()


def _class_folders(top: str = "") -> dict[str, bytes]:
    members = {f"{top}red/{i}.png": _png((200 + i, 10, 10)) for i in range(4)}
    members |= {f"{top}blue/{i}.png": _png((10, 10, 200 + i), size=20) for i in range(4)}
    members[f"{top}README.txt"] = b"not an image"
    members["__MACOSX/._junk.png"] = b"junk"
    return members


@pytest.mark.parametrize("top", ["", "photos/"])
def test_image_zip_reads_class_folders(tmp_path, top):
    ds = dataset_from_image_zip(
        _zip(_class_folders(top)), image_size=8, channels=3, val_fraction=0.25, extract_dir=tmp_path / "out"
    )
    assert ds.classes == ["blue", "red"] and ds.input_shape == (3, 8, 8) and ds.size == 8 and len(ds.x_val) == 2
    x, y = torch.cat([ds.x_train, ds.x_val]), torch.cat([ds.y_train, ds.y_val])
    assert 0 <= x.min() and x.max() <= 1
    red = x[y == 1]
    assert (red[:, 0] > 0.7).all() and (red[:, 2] < 0.1).all()
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*"))
    assert f"{top}blue/0.png" in written and not any("README" in w or "MACOSX" in w for w in written)


def test_image_zip_grayscale(tmp_path):
    path = tmp_path / "imgs.zip"
    path.write_bytes(_zip(_class_folders()))
    ds = dataset_from_image_zip(path, image_size=5, channels=1)
    assert ds.input_shape == (1, 5, 5)


def _link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.parametrize(
    ("members", "infos", "message"),
    [
        ({"../evil/a.png": b"x"}, [], "climbs out of the folder with '..'"),
        ({"a/../../evil.png": b"x"}, [], "'a/../../evil.png' climbs out"),
        ({"/etc/evil.png": b"x"}, [], "absolute path"),
        ({"C:/evil.png": b"x"}, [], "absolute path"),
        ({}, [_link("cats/link.png")], "is a symbolic link"),
        ({"a.png": _png((1, 2, 3))}, [], "not in a class folder"),
        ({"cats/a.png": _png((1, 2, 3))}, [], "only one class folder"),
        ({"cats/a.png": b"not a png", "dogs/b.png": _png((1, 2, 3))}, [], "could not read image 'cats/a.png'"),
        ({"notes.txt": b"hello"}, [], "no images found"),
    ],
)
def test_image_zip_refuses_unsafe_or_unusable(members, infos, message, tmp_path):
    with pytest.raises(DataError, match=message):
        dataset_from_image_zip(_zip(members, infos), extract_dir=tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not Path("/etc/evil.png").exists()


def test_image_zip_limits(monkeypatch):
    data = _zip(_class_folders())
    monkeypatch.setattr(U, "MAX_ZIP_MEMBERS", 5)
    with pytest.raises(DataError, match="members, more than the 5 allowed"):
        dataset_from_image_zip(data)
    monkeypatch.setattr(U, "MAX_ZIP_MEMBERS", 100)
    monkeypatch.setattr(U, "MAX_ZIP_FILE_BYTES", 50)
    with pytest.raises(DataError, match="more than the 50 allowed per file"):
        dataset_from_image_zip(data)
    with pytest.raises(DataError, match="not a zip"):
        dataset_from_image_zip(b"PK nothing")


# ----------------------------------------------------------------------------------------------
# Real datasets: raw formats written here, torchvision faked


def _idx(array: np.ndarray) -> bytes:
    return (
        struct.pack(">BBBB", 0, 0, 8, array.ndim)
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(np.uint8).tobytes()
    )


def _write_mnist(folder: Path, n_train: int = 6, n_test: int = 4) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("t10k", n_test)):
        (folder / f"{part}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(rng.integers(0, 256, (n, 28, 28)))))
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n) % 10))


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw")])
def test_mnist_idx_files_are_read_without_torchvision(tmp_path, monkeypatch, name, folder):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # not importable
    _write_mnist(tmp_path / folder)
    ds = load_dataset(name, data_dir=tmp_path)
    assert ds.input_shape == (1, 28, 28) and len(ds.x_train) == 6 and len(ds.x_val) == 4
    assert ds.task == {"kind": "classification", "num_classes": 10} and len(ds.classes) == 10
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1 and ds.y_val.tolist() == [0, 1, 2, 3]
    assert {r["name"]: r["available"] for r in list_datasets(tmp_path)}[name] is True


def test_idx_errors(tmp_path):
    bad = tmp_path / "x-idx1-ubyte"
    bad.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(DataError, match="not an idx file of unsigned bytes"):
        D.read_idx(bad)
    bad.write_bytes(_idx(np.arange(5))[:-2])
    with pytest.raises(DataError, match="declares 5 bytes of data, the file holds 3"):
        D.read_idx(bad)
    _write_mnist(tmp_path / "MNIST/raw")
    (tmp_path / "MNIST/raw/t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte"):
        load_dataset("mnist", data_dir=tmp_path)


def _cifar_batch(n: int, first_label: int = 0) -> bytes:
    rng = np.random.default_rng(n)
    records = [bytes([(first_label + i) % 10]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes() for i in range(n)]
    return b"".join(records)


def test_cifar10_binary_batches_are_read(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(_cifar_batch(2, first_label=i))
    (folder / "test_batch.bin").write_bytes(_cifar_batch(3))
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.input_shape == (3, 32, 32) and len(ds.x_train) == 10 and len(ds.x_val) == 3
    assert ds.y_train.tolist()[:4] == [1, 2, 2, 3] and ds.classes[0] == "airplane"
    images, labels = D.read_cifar10_bin(folder / "test_batch.bin")
    raw = np.frombuffer(_cifar_batch(3), np.uint8)
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == [0, 1, 2]
    assert images[0, 0, 0, 1] == raw[2] and images[0, 1, 0, 0] == raw[1 + 1024]  # red plane, then green
    (folder / "test_batch.bin").write_bytes(_cifar_batch(1)[:-1])
    with pytest.raises(DataError, match="not a whole number of CIFAR-10 records"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_real_dataset_without_torchvision_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(DataError, match="MNIST needs torchvision: pip install torchvision"):
        load_dataset("mnist", data_dir=tmp_path)
    assert {r["name"]: r["available"] for r in list_datasets(tmp_path)}["cifar10"] is False


def _fake_torchvision(monkeypatch, cls):
    module = types.ModuleType("torchvision")
    module.datasets = types.SimpleNamespace(MNIST=cls, FashionMNIST=cls, CIFAR10=cls)
    monkeypatch.setitem(sys.modules, "torchvision", module)


def test_torchvision_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    class Offline:
        def __init__(self, root, train, download):
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    _fake_torchvision(monkeypatch, Offline)
    with pytest.raises(DataError, match="could not get MNIST into .*check the network"):
        load_dataset("mnist", data_dir=tmp_path)


def test_torchvision_datasets_are_converted(tmp_path, monkeypatch):
    class FakeCifar:
        def __init__(self, root, train, download):
            assert root == str(tmp_path) and download
            n = 5 if train else 2
            self.data = np.full((n, 32, 32, 3), 255, np.uint8)  # torchvision keeps CIFAR as N, H, W, C
            self.targets = list(range(n))

    _fake_torchvision(monkeypatch, FakeCifar)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.x_train.shape == (5, 3, 32, 32) and ds.x_val.shape == (2, 3, 32, 32)
    assert ds.x_train.max() == 1.0 and ds.y_train.tolist() == [0, 1, 2, 3, 4]


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(tmp_path))
    assert D.default_data_dir() == tmp_path
    monkeypatch.delenv("NETWRIGHT_DATA_DIR")
    assert D.default_data_dir() == Path.home() / ".netwright" / "data"


# ----------------------------------------------------------------------------------------------
# Design against data


def _data(x: np.ndarray, y: np.ndarray) -> Dataset:
    return dataset_from_npz(_npz(X=x, y=y))


@pytest.fixture(scope="module")
def images10() -> Dataset:
    return _data(np.zeros((20, 1, 28, 28), np.float32), np.arange(20) % 10)


def test_compatible_design_has_no_issues(images10):
    task = {"kind": "classification", "num_classes": 10}
    assert check_design_against_data([1, 28, 28], "float32", task, [10], images10) == []
    assert check_design_against_data((1, 28, 28), "float32", None, None, images10) == []


def test_input_shape_mismatch(images10):
    (issue,) = check_design_against_data([3, 32, 32], "float32", None, [10], images10)
    assert issue.to_dict() == {
        "path": "input",
        "message": "the design takes 3×32×32, the dataset gives 1×28×28",
        "fix": "set the input to 1×28×28",
    }


def test_dtype_mismatch_both_ways(images10):
    tokens = _data(np.ones((4, 16), np.int64), np.array([0, 1, 0, 1]))
    (issue,) = check_design_against_data([16], "float32", None, [2], tokens)
    assert (
        issue.path == "input"
        and "int64 token ids" in issue.message
        and "set the input dtype to int64" in issue.fix
    )
    (issue,) = check_design_against_data([1, 28, 28], "int64", None, [10], images10)
    assert issue.fix == "set the input dtype to float32"


def test_task_mismatches(images10):
    (issue,) = check_design_against_data([1, 28, 28], "float32", {"kind": "regression"}, [10], images10)
    assert (
        issue.path == "task"
        and issue.message == "the design is for regression, the dataset is classification with 10 classes"
    )
    assert issue.fix == "set the task to classification with 10 classes"
    (issue,) = check_design_against_data(
        [1, 28, 28], "float32", {"kind": "classification", "num_classes": 5}, [10], images10
    )
    assert issue.path == "task" and issue.fix == "set the task's num_classes to 10"


def test_output_mismatches(images10):
    (issue,) = check_design_against_data([1, 28, 28], "float32", None, [5], images10)
    assert issue.to_dict() == {
        "path": "output",
        "message": "the last layer gives 5 outputs, the dataset has 10 classes",
        "fix": "set the last layer's out_features to 10",
    }
    (issue,) = check_design_against_data([1, 28, 28], "float32", None, [16, 7, 7], images10)
    assert issue.path == "output" and "16×7×7" in issue.message and "Flatten" in issue.fix
    (issue,) = check_design_against_data([1, 28, 28], "float32", None, [28, 10], images10)
    assert "SequencePool" in issue.fix


def test_regression_output_must_match_the_targets():
    signals = _data(np.zeros((6, 64), np.float32), np.zeros((6, 8), np.float32))
    assert check_design_against_data([64], "float32", {"kind": "regression"}, [8], signals) == []
    (issue,) = check_design_against_data([64], "float32", {"kind": "regression"}, [1], signals)
    assert issue.to_dict() == {
        "path": "output",
        "message": "the design outputs 1 value per sample, the dataset's targets are 8 values",
        "fix": "set the last layer's out_features to 8",
    }
    (issue,) = check_design_against_data([64], "float32", {"kind": "regression"}, [64, 4], signals)
    assert "SequencePool" in issue.fix and "out_features=8" in issue.fix
    issues = check_design_against_data([32], "int64", {"kind": "classification", "num_classes": 2}, [2], signals)
    assert [i.path for i in issues] == ["input", "input", "task", "output"]


def test_data_check_issues_carry_one_click_fixes(images10):
    """The design-vs-data check returns analysis's Issue objects; applying each action makes the issue go."""
    from designer import Issue, analyze, new_design
    from designer.edits import apply_action

    design = new_design("mlp")
    design["input"] = {"shape": [3, 32, 32], "dtype": "float32"}
    design["task"] = {"kind": "classification", "num_classes": 5}
    design["layers"] = [{"type": "Flatten"}, {"type": "Linear", "out_features": 5}]
    for _ in range(4):
        a = analyze(design)
        issues = check_design_against_data(a.input_shape, a.input_dtype, design.get("task"), a.output_shape,
                                           images10, design)
        if not issues:
            break
        assert all(isinstance(i, Issue) and i.action for i in issues), issues
        design = apply_action(design, issues[0].action)
    assert issues == [] and design["input"]["shape"] == [1, 28, 28] and design["layers"][-1]["out_features"] == 10


def test_the_tags_dataset_has_one_label_per_token_and_the_tagger_fits_it():
    from designer import analyze
    from designer.templates import load_template

    tags = load_dataset("tags")
    assert tags.task == {"kind": "classification", "num_classes": 8, "per_token": True}
    assert tags.x_train.shape[1:] == (32,) and tags.y_train.shape == tags.x_train.shape and tags.dtype == "int64"
    assert int(tags.y_train.max()) == 7 and len(tags.classes) == 8
    design = load_template("bigru_tagger")
    a = analyze(design)
    assert check_design_against_data(a.input_shape, a.input_dtype, design.get("task"), a.output_shape, tags) == []
    design["layers"][1]["return_sequences"] = False
    a = analyze(design)
    (issue,) = check_design_against_data(a.input_shape, a.input_dtype, None, a.output_shape, tags, design)
    assert issue.path == "output" and "no pooling" in issue.fix
    a = analyze(load_template("transformer_classifier"))  # one class per document: not a tagger
    assert check_design_against_data(a.input_shape, a.input_dtype, None, a.output_shape, tags)[0].path == "output"


def test_dataset_from_upload_reads_each_kind_and_names_the_others():
    from designer.data import dataset_from_upload

    buf = io.BytesIO()
    np.savez(buf, X=np.zeros((10, 3), np.float32), y=np.arange(10) % 2)
    assert dataset_from_upload(buf.getvalue(), "mine.npz").name == "mine"
    table = "a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(10))
    ds = dataset_from_upload(table.encode(), "table.csv")
    assert ds.input_shape == (2,) and ds.task["kind"] == "classification"
    with pytest.raises(DataError, match=r"notes\.txt: .*\.npz.*\.csv.*\.zip"):
        dataset_from_upload(b"hello", "notes.txt")
