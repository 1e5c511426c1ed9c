"""The app's "Import ONNX" in a real browser: upload a file, see the design, edit it, export it.

The ONNX file is made here from the LeNet-5 template (torch's exporter, BatchNorm kept as nodes);
the upload goes through the sidebar's file uploader as a user's would.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from designer.analysis import analyze
from designer.templates import load_template

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def expect(target):
    from playwright.sync_api import expect as _expect

    return _expect(target)


def _onnx_file(design: dict, path: Path) -> Path:
    import torch

    from designer.build import build_model

    model = build_model(design).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros((1, *design["input"]["shape"])),), str(path), dynamo=False,
                          do_constant_folding=False, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return path


def _upload(nw, path: Path) -> None:
    sidebar = nw.sidebar()
    if not sidebar.get_by_text("Import ONNX (.onnx)").is_visible():
        sidebar.get_by_text("Import / export", exact=True).click()
    uploader = sidebar.get_by_test_id("stFileUploader").filter(has_text="Import ONNX")
    uploader.locator('input[type="file"]').set_input_files(str(path))


def test_onnx_upload_edit_and_export(netwright, tmp_path):
    nw = netwright
    design = load_template("lenet5")
    path = _onnx_file(design, tmp_path / "lenet_onnx.onnx")
    _upload(nw, path)
    nw.wait_for(lambda: nw.model_name() == "lenet_onnx" and nw.cards().count() > 0, "the imported design",
                timeout=60)
    params = analyze(design).params
    expect(nw.page.get_by_text(f"Imported lenet_onnx.onnx: {params:,} parameters.", exact=False)).to_be_visible()
    assert nw.cards().count() == len(design["layers"])
    assert nw.shape_of("layers[0]") == "6×28×28"

    # Edit: the first convolution gets 12 filters.
    nw.card("layers[0]").click(position={"x": 30, "y": 12})
    expect(nw.card("layers[0]")).to_have_class(re.compile(r"\bnw-selected\b"))
    field = nw.inspector().get_by_label(re.compile(r"^out_channels( \*)?$"))
    expect(field).to_have_value("6")
    field.fill("12")
    field.press("Enter")
    nw.wait_for(lambda: nw.shape_of("layers[0]") == "12×28×28", "the card to show 12×28×28")
    nw.wait_idle()  # the run that made the edit is over: the download holds the edited design

    # Export: the design file holds the edited, imported design.
    sidebar = nw.sidebar()
    with nw.page.expect_download() as info:
        sidebar.get_by_role("button", name="⬇ Export design.json").click()
    saved = tmp_path / "exported.json"
    info.value.save_as(str(saved))
    exported = json.loads(saved.read_text())
    assert exported["name"] == "lenet_onnx"
    assert exported["layers"][0]["type"] == "Conv2d" and exported["layers"][0]["out_channels"] == 12
    assert analyze(exported).valid
    expect(nw.exceptions()).to_have_count(0)


def test_a_bad_onnx_file_leaves_the_design_unchanged(netwright, tmp_path):
    nw = netwright
    before = nw.model_name()
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not a protobuf at all" * 4)
    _upload(nw, bad)
    expect(nw.page.get_by_text("Not imported: broken.onnx", exact=False)).to_be_visible(timeout=30_000)
    expect(nw.page.get_by_text("not an ONNX model", exact=False)).to_be_visible()
    assert nw.model_name() == before
    expect(nw.exceptions()).to_have_count(0)
