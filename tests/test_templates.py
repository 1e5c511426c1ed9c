"""The template gallery: every template loads, is valid, builds and runs; the 6.7B benchmark design analyses cheaply."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from designer import analyze, build_model, load_design
from designer.errors import DesignFileError
from designer.templates import TEMPLATE_DIR, list_templates, load_template

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
BIG = ROOT / "bench" / "designs" / "transformer_6b.json"
REQUIRED = {"lenet5", "resnet_small", "lstm_classifier", "bigru_tagger", "transformer_classifier", "crnn",
            "inception", "unet_small", "mlp_signals", "cnn_shapes"}
TEMPLATE_IDS = sorted(p.stem for p in TEMPLATE_DIR.glob("*.json"))


def test_required_templates_are_listed_beginners_first():
    rows = list_templates()
    ids = [r["id"] for r in rows]
    assert REQUIRED <= set(ids)
    assert sorted(ids) == TEMPLATE_IDS
    assert ids[:2] == ["lenet5", "cnn_shapes"]
    for row in rows:
        assert set(row) == {"id", "name", "description", "path"}
        assert Path(row["path"]).is_file()


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_template_is_valid_and_runs(template_id):
    doc = load_template(template_id)
    assert doc == load_design(TEMPLATE_DIR / f"{template_id}.json")
    assert isinstance(doc.get("name"), str) and doc["name"].strip()
    description = doc.get("description")
    assert isinstance(description, str) and description.strip() and "\n" not in description and len(description) <= 200
    analysis = analyze(doc)
    assert analysis.valid, [str(e) for e in analysis.errors]
    assert analysis.params < 1_000_000  # templates train on a CPU
    model = build_model(doc).eval()
    shape = (2, *analysis.input_shape)
    x = torch.randint(0, 5, shape) if analysis.input_dtype == "int64" else torch.randn(shape)
    with torch.no_grad():
        y = model(x)
    assert tuple(y.shape) == (2, *analysis.output_shape)
    assert sum(p.numel() for p in model.parameters()) == analysis.params
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("template_id, shape, dtype, output", [
    ("lenet5", (1, 28, 28), "float32", (10,)),
    ("cnn_shapes", (1, 28, 28), "float32", (10,)),
    ("mlp_signals", (64,), "float32", (8,)),
    ("lstm_classifier", (32, 4), "float32", (4,)),
    ("transformer_classifier", (32,), "int64", (4,)),
    ("bigru_tagger", (32,), "int64", None),
    ("resnet_small", (3, 32, 32), "float32", (10,)),
    ("inception", (3, 32, 32), "float32", (10,)),
    ("crnn", (1, 32, 128), "float32", None),
    ("unet_small", (1, 32, 32), "float32", (1, 32, 32)),
])
def test_template_contracts(template_id, shape, dtype, output):
    analysis = analyze(load_template(template_id))
    assert analysis.input_shape == shape and analysis.input_dtype == dtype
    if output is not None:
        assert analysis.output_shape == output


def test_templates_match_the_builtin_datasets():
    from designer.datasets import list_datasets

    data = {d["name"]: d for d in list_datasets()}
    for template_id, dataset in (("cnn_shapes", "shapes"), ("lenet5", "shapes"), ("mlp_signals", "signals"),
                                 ("lstm_classifier", "sequences"), ("transformer_classifier", "tokens")):
        doc = load_template(template_id)
        assert doc["input"]["shape"] == list(data[dataset]["input"]["shape"]), template_id
        assert doc["input"].get("dtype", "float32") == data[dataset]["input"]["dtype"], template_id
        assert doc.get("task") == data[dataset]["task"] or (
            doc["task"]["kind"] == data[dataset]["task"]["kind"] == "classification"
            and doc["task"]["num_classes"] == data[dataset]["task"]["num_classes"]), template_id


def test_resnet_small_shape():
    doc = load_template("resnet_small")
    analysis = analyze(doc)
    assert analysis.params < 300_000
    residuals = [n for n in doc["layers"] if n["type"] == "Residual"]
    projected = [n for n in residuals if n.get("shortcut")]
    assert len(residuals) >= 3 and projected
    for block in projected:
        conv, bn = block["shortcut"]
        assert conv["type"] == "Conv2d" and conv["kernel_size"] == 1 and conv["stride"] == 2 and bn["type"] == "BatchNorm2d"


def test_unknown_template():
    for bad in ("nope", "../design", "", "lenet5.json"):
        with pytest.raises(DesignFileError):
            load_template(bad)


_BIG_SCRIPT = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from designer import analyze, load_design, new_design
analyze(new_design(shape=[4], layers=[{"type": "Linear", "out_features": 2}]))  # warm up torch's meta kernels
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
a = analyze(load_design(__import__("pathlib").Path(sys.argv[2])))
elapsed = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"valid": a.valid, "params": a.params, "errors": [str(e) for e in a.errors],
                  "output": list(a.output_shape or []), "seconds": elapsed, "rss_growth_kb": after - before}))
"""


def test_six_billion_design_analyses_without_allocating():
    """A clean process, so the peak-RSS reading belongs to this analysis alone (Linux: ru_maxrss in KiB)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _BIG_SCRIPT, str(ROOT), str(BIG)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["valid"], result["errors"]
    assert 6.5e9 < result["params"] < 6.9e9, result["params"]
    assert result["output"] == [128, 32000]
    assert result["seconds"] < 20
    assert result["rss_growth_kb"] < 1024 * 1024, f"analysis grew the peak RSS by {result['rss_growth_kb']} KiB"
    assert time.perf_counter() - start < 60


def test_six_billion_design_layout():
    doc = load_design(BIG)
    repeat = next(n for n in doc["layers"] if n["type"] == "Repeat")
    assert repeat["times"] == 32
    layer = repeat["body"][0]
    assert layer["type"] == "TransformerEncoderLayer" and layer["nhead"] == 32 and layer["dim_feedforward"] == 16384
    assert doc["layers"][0] == {"type": "Embedding", "num_embeddings": 32000, "embedding_dim": 4096}
    assert json.loads(BIG.read_text())["input"] == {"shape": [128], "dtype": "int64"}
