"""Design files: round trips, and hostile files that must end in a clean DesignFileError or Issue."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from designer import (
    DesignFileError,
    analyze,
    build_model,
    dump_design,
    load_design,
    new_design,
    parse_design,
    validate,
)

torch.set_num_threads(1)

TEMPLATES = sorted((Path(__file__).resolve().parent.parent / "assets" / "templates").glob("*.json"))


def doc_text(layers_json: str, shape: str = "[8]") -> str:
    """A design file's text around raw JSON for the layers (and the input shape)."""
    return '{"format": "netwright.design", "version": 1, "input": {"shape": ' + shape + '}, "layers": ' + layers_json + "}"


def outcome(text: str | bytes):
    """Load, validate, analyse (and build, when valid): either DesignFileError or the issues. Nothing else may escape."""
    try:
        doc = parse_design(text)
    except DesignFileError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return exc
    issues = validate(doc)
    analysis = analyze(doc)
    assert analysis.valid == (not analysis.errors)
    if issues:
        assert not analysis.valid
    json.dumps(analysis.to_json())
    dump_design(doc).encode("utf-8")
    if analysis.valid:
        build_model(doc)
    return analysis


def file_error(text) -> str:
    result = outcome(text)
    assert isinstance(result, DesignFileError), f"expected a DesignFileError, got {result}"
    return str(result)


def issues_of(text) -> list:
    result = outcome(text)
    assert not isinstance(result, DesignFileError), str(result)
    assert not result.valid
    return result.errors


# --- round trips -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_template_round_trip(path, tmp_path):
    doc = load_design(path)
    out = tmp_path / "copy.json"
    out.write_text(dump_design(doc), encoding="utf-8")
    again = load_design(out)
    assert again == doc
    assert dump_design(again) == dump_design(doc)
    assert load_design(dump_design(doc)) == doc  # from text too
    assert load_design(dump_design(doc).encode("utf-8")) == doc  # and from bytes


def test_round_trip_keeps_unicode_names_and_key_order(tmp_path):
    doc = new_design("Réseau ✓ 🚀", shape=[4], layers=[
        {"type": "Linear", "name": "couche «dense» 日本", "out_features": 3},
        {"type": "Residual", "body": [{"type": "ReLU", "name": "\t\u0001 tab\u202e"}], "shortcut": []},
    ], task={"kind": "regression"})
    text = dump_design(doc)
    assert "Réseau ✓ 🚀" in text  # written as UTF-8, not escaped
    out = tmp_path / "d.json"
    out.write_bytes(text.encode("utf-8"))
    again = load_design(out)
    assert again == doc and list(again) == list(doc)
    assert list(again["layers"][0]) == ["type", "name", "out_features"]
    assert analyze(again).valid


def test_lone_surrogate_in_a_name_still_saves():
    doc = parse_design(doc_text('[{"type": "ReLU", "name": "\\ud800 x"}]'))
    text = dump_design(doc)
    text.encode("utf-8")  # must not raise
    assert parse_design(text) == doc


def test_utf8_bom_is_accepted():
    doc = new_design(shape=[4], layers=[{"type": "ReLU"}])
    assert parse_design(b"\xef\xbb\xbf" + dump_design(doc).encode("utf-8")) == doc


def test_load_design_path_errors(tmp_path):
    with pytest.raises(DesignFileError, match="cannot read"):
        load_design(tmp_path / "missing.json")
    with pytest.raises(DesignFileError):
        load_design(tmp_path)  # a directory
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 5_000_001)
    with pytest.raises(DesignFileError, match="at most"):
        load_design(big)


# --- not a design at all -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("   \n\t  ", "empty"),
    (b"", "empty"),
    (b"\x00\xff\xfe\x80binary\x00", "UTF-8"),
    (bytes(range(256)), "UTF-8"),
    ("hello", "not valid JSON"),
    ("{'format': 'netwright.design'}", "not valid JSON"),
    (doc_text("[]")[:37], "not valid JSON"),
    (doc_text('[{"type": "ReLU"}')[:-1], "not valid JSON"),
    ("[1, 2, 3]", "list"),
    ("null", "null"),
    ("42", "int"),
    ('"a design"', "str"),
    ("{}", "format"),
    ('{"format": "netwright.model", "version": 1}', "format"),
    ('{"format": null, "version": 1}', "format"),
    ('{"format": "netwright.design", "version": 2}', "version 2"),
    ('{"format": "netwright.design", "version": 0}', "version"),
    ('{"format": "netwright.design", "version": "1"}', "version"),
    ('{"format": "netwright.design", "version": true}', "version"),
    ('{"format": "netwright.design"}', "version"),
    (doc_text('[{"type": "Dropout", "p": NaN}]'), "NaN"),
    (doc_text('[{"type": "Dropout", "p": Infinity}]'), "Infinity"),
    (doc_text('[{"type": "Dropout", "p": -Infinity}]'), "Infinity"),
    (doc_text('[{"type": "Dropout", "p": 1e400}]'), "too large"),
    (doc_text('[{"type": "Linear", "out_features": %s}]' % ("9" * 5000)), "not valid JSON"),
])
def test_unreadable_files(text, words):
    assert words in file_error(text)


def test_ten_thousand_nested_lists():
    assert "deep" in file_error("[" * 10_000 + "]" * 10_000)
    assert "deep" in file_error(doc_text("[" * 10_000 + "]" * 10_000))
    assert "deep" in file_error(doc_text('[{"type": "Linear", "out_features": %s}]' % ("[" * 10_000 + "]" * 10_000)))
    assert "deep" in file_error(doc_text('[{"type": "ReLU", "x": ' + '{"a": ' * 10_000 + "1" + "}" * 10_000 + "}]"))


def test_nested_list_as_a_parameter_is_an_issue():
    errors = issues_of(doc_text('[{"type": "Linear", "out_features": ' + "[" * 40 + "]" * 40 + "}]"))
    assert errors[0].path == "layers[0].out_features" and "whole number" in errors[0].message
    assert len(errors[0].message) < 300  # the received value is quoted, not dumped
    assert "deep" in file_error(doc_text('[{"type": "Linear", "out_features": ' + "[" * 500 + "]" * 500 + "}]"))


def deep_or_issue(text: str) -> None:
    """Too deep: refused at load, or loaded with a "nests too deep" issue; either way, quickly and cleanly."""
    start = time.process_time()  # CPU time: a busy machine does not make it fail
    result = outcome(text)
    assert time.process_time() - start < 2
    if isinstance(result, DesignFileError):
        assert "deep" in str(result)
    else:
        assert result.errors[0].path == "layers" and "deep" in result.errors[0].message and result.errors[0].fix


@pytest.mark.parametrize("depth", [25, 40, 100])
@pytest.mark.parametrize("block, slot", [("Residual", "body"), ("Sequential", "layers"), ("Repeat", "body")])
def test_hundred_nested_blocks(block, slot, depth):
    extra = ', "times": 2' if block == "Repeat" else ""
    deep_or_issue(doc_text("[" + f'{{"type": "{block}"{extra}, "{slot}": [' * depth + '{"type": "ReLU"}' + "]}" * depth + "]"))


@pytest.mark.parametrize("depth", [25, 100])
def test_hundred_nested_parallel_branches(depth):
    deep_or_issue(doc_text("[" + '{"type": "Parallel", "branches": [[], [' * depth + '{"type": "ReLU"}' + "]]}" * depth + "]"))


def test_nesting_within_the_limit_is_fine():
    node = {"type": "Reshape", "shape": [2, 2]}
    for _ in range(24):  # the deepest nesting allowed, in the block that nests deepest in JSON
        node = {"type": "Parallel", "merge": "add", "branches": [[node], [{"type": "Reshape", "shape": [2, 2]}]]}
    result = outcome(dump_design(new_design(shape=[4], layers=[node, {"type": "Flatten"}])))
    assert not isinstance(result, DesignFileError), str(result)
    assert result.valid, [str(e) for e in result.errors]
    assert result.output_shape == (4,) and max(r.depth for r in result.rows) == 24


def test_deepest_loadable_file_still_edits():
    """Whatever loads can be edited, undone and saved: no RecursionError later (deep copies, reprs)."""
    from designer.design import MAX_JSON_DEPTH
    from designer.edits import rename, set_param
    from designer.history import History

    for n in range(MAX_JSON_DEPTH - 8, MAX_JSON_DEPTH + 2):
        text = doc_text('[{"type": "Linear", "out_features": ' + "[" * n + "]" * n + "}]")
        try:
            doc = parse_design(text)
        except DesignFileError:
            continue
        History().record(doc)
        renamed = rename(doc, "deep")
        set_param(renamed, "layers[0]", "out_features", 3)
        assert parse_design(dump_design(renamed)) == renamed
        assert not analyze(doc).valid


def test_hundred_thousand_layers_is_quick():
    text = doc_text(json.dumps([{"type": "ReLU"}] * 100_000))
    start = time.process_time()  # CPU time: a busy machine does not make it fail
    errors = issues_of(text)
    elapsed = time.process_time() - start
    assert elapsed < 2, elapsed
    assert errors[0].path == "layers" and "nodes" in errors[0].message and "Repeat" in errors[0].fix


def test_oversized_text():
    assert "at most" in file_error(" " * 5_000_001)


# --- readable files with problems in them ---------------------------------------------------------------


def test_unknown_type_suggests_the_right_one():
    errors = issues_of(doc_text('[{"type": "Conv2D", "out_channels": 3}, {"type": "linear", "out_features": 2}, {"type": "Zorp"}]'))
    by_path = {e.path: e for e in errors}
    assert "Conv2D" in by_path["layers[0]"].message and by_path["layers[0]"].fix == "did you mean 'Conv2d'?"
    assert by_path["layers[1]"].fix == "did you mean 'Linear'?"
    assert "Zorp" in by_path["layers[2]"].message and "palette" in by_path["layers[2]"].fix
    assert "python -m" not in by_path["layers[2]"].fix  # the app never sends a user to the command line


def test_unknown_keys_suggest_the_right_one():
    text = ('{"format": "netwright.design", "version": 1, "input": {"shape": [8], "dtyp": "float32"}, '
            '"tsk": {"kind": "regression"}, "layers": [{"type": "Linear", "out_feature": 3}, '
            '{"type": "Conv1d", "in_channels": 3, "out_channels": 2, "kernel_size": 1}, {"type": "LSTM", "hidden_size": 2, "batch_first": true}]}')
    by_path = {e.path: e for e in issues_of(text)}
    assert by_path["tsk"].fix == "did you mean 'task'?"
    assert "input.dtyp" in by_path
    assert by_path["layers[0].out_feature"].fix == "did you mean 'out_features'?"
    assert "inferred" in by_path["layers[1].in_channels"].message
    assert "batch_first" in by_path["layers[2].batch_first"].message
    assert "layers[0].out_features" in by_path  # the required one is still missing


@pytest.mark.parametrize("layers, path", [
    ('[{"type": "Linear", "out_features": "3"}]', "layers[0].out_features"),
    ('[{"type": "Linear", "out_features": true}]', "layers[0].out_features"),
    ('[{"type": "Linear", "out_features": 3.5}]', "layers[0].out_features"),
    ('[{"type": "Linear", "out_features": null}]', "layers[0].out_features"),
    ('[{"type": "Linear", "out_features": [3]}]', "layers[0].out_features"),
    ('[{"type": "Linear", "out_features": {"n": 3}}]', "layers[0].out_features"),
    ('[{"type": "Linear", "out_features": 3, "bias": "yes"}]', "layers[0].bias"),
    ('[{"type": "Dropout", "p": "0.5"}]', "layers[0].p"),
    ('[{"type": "Conv1d", "out_channels": 2, "kernel_size": [1, 2]}]', "layers[0].kernel_size"),
    ('[{"type": "Conv1d", "out_channels": 2, "kernel_size": "big"}]', "layers[0].kernel_size"),
    ('[{"type": "Softmax", "dim": "last"}]', "layers[0].dim"),
    ('[{"type": "SequencePool", "mode": "median"}]', "layers[0].mode"),
    ('[{"type": "Permute", "dims": "0,2,1"}]', "layers[0].dims"),
    ('[{"type": "Reshape", "shape": [2, "4"]}]', "layers[0].shape"),
    ('[{"type": "ReLU", "name": 5}]', "layers[0].name"),
    ('[{"type": "ReLU", "name": "%s"}]' % ("n" * 500), "layers[0].name"),
    ('[{"type": 5}]', "layers[0]"),
    ('[{"type": null}]', "layers[0]"),
    ('[{"type": ["ReLU"]}]', "layers[0]"),
    ('[{"name": "no type"}]', "layers[0]"),
    ('[[]]', "layers[0]"),
    ('["ReLU"]', "layers[0]"),
    ('[null]', "layers[0]"),
    ('[7]', "layers[0]"),
    ('[{"type": "Residual", "body": "ReLU"}]', "layers[0].body"),
    ('[{"type": "Residual", "body": [], "shortcut": {}}]', "layers[0].shortcut"),
    ('[{"type": "Parallel", "branches": [[], "x"]}]', "layers[0].branches"),
    ('[{"type": "Parallel", "branches": {}}]', "layers[0].branches"),
    ('[{"type": "Parallel", "branches": []}]', "layers[0].branches"),
    ('[{"type": "Parallel", "branches": [[]], "merge": "max"}]', "layers[0].merge"),
    ('[{"type": "Repeat", "times": 2.0, "body": []}]', "layers[0].times"),
    ('[{"type": "Repeat", "body": []}]', "layers[0].times"),
    ('[{"type": "Sequential", "layers": null}]', "layers[0].layers"),
    ('{"type": "ReLU"}', "layers"),
    ('"ReLU"', "layers"),
    ('null', "layers"),
])
def test_wrong_value_types(layers, path):
    errors = issues_of(doc_text(layers))
    match = [e for e in errors if e.path == path]
    assert match, [str(e) for e in errors]
    assert match[0].message and match[0].fix


@pytest.mark.parametrize("shape, dtype, path", [
    ("[]", '"float32"', "input.shape"),
    ('"8"', '"float32"', "input.shape"),
    ('["8"]', '"float32"', "input.shape"),
    ("[true]", '"float32"', "input.shape"),
    ("[8.0]", '"float32"', "input.shape"),
    ("[0]", '"float32"', "input.shape"),
    ("[-4, 2]", '"float32"', "input.shape"),
    ("[1, 2, 3, 4, 5]", '"float32"', "input.shape"),
    ("[1e300]", '"float32"', "input.shape"),
    (str(10**30), '"float32"', "input.shape"),
    (f"[{10**30}]", '"float32"', "input.shape"),
    ("[1048576, 1048576]", '"float32"', "input.shape"),
    ("[8]", '"float16"', "input.dtype"),
    ("[8]", "null", "input.dtype"),
])
def test_bad_inputs(shape, dtype, path):
    text = doc_text('[{"type": "ReLU"}]', shape).replace("}, \"layers\"", f', "dtype": {dtype}}}, "layers"', 1)
    errors = issues_of(text)
    assert any(e.path == path for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize("doc_json, path", [
    ('"input": [8], "layers": []', "input"),
    ('"layers": []', "input"),
    ('"input": {"shape": [8]}', "layers"),
    ('"input": {"shape": [8]}, "layers": [], "task": "classify"', "task"),
    ('"input": {"shape": [8]}, "layers": [], "task": {"kind": "classification"}', "task.num_classes"),
    ('"input": {"shape": [8]}, "layers": [], "task": {"kind": "classification", "num_classes": 1}', "task.num_classes"),
    ('"input": {"shape": [8]}, "layers": [], "task": {"kind": "classification", "num_classes": 1e300}', "task.num_classes"),
    ('"input": {"shape": [8]}, "layers": [], "task": {"kind": "regression", "loss": "l1"}', "task.loss"),
    ('"input": {"shape": [8]}, "layers": [], "name": ["x"]', "name"),
    ('"input": {"shape": [8]}, "layers": [], "extra": 1', "extra"),
])
def test_bad_document_keys(doc_json, path):
    errors = issues_of('{"format": "netwright.design", "version": 1, ' + doc_json + "}")
    assert any(e.path == path for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize("value", ["1e300", str(10**30), str(-10**30), "-1", "0", str(2**63)])
@pytest.mark.parametrize("layer, fine", [
    ('{"type": "Linear", "out_features": %s}', ()),
    ('{"type": "Conv1d", "out_channels": 2, "kernel_size": %s}', ()),
    ('{"type": "Repeat", "times": %s, "body": []}', ()),
    ('{"type": "Dropout", "p": %s}', ("0",)),
    ('{"type": "Embedding", "num_embeddings": %s, "embedding_dim": 4}', ()),
    ('{"type": "Reshape", "shape": [%s]}', ("-1",)),
    ('{"type": "Softmax", "dim": %s}', ("-1",)),  # dim 0 is the batch: refused
    ('{"type": "MaxPool1d", "kernel_size": 2, "stride": %s}', ()),
])
def test_huge_and_negative_numbers(value, layer, fine):
    text = doc_text("[%s]" % (layer % value), "[2, 8]")
    if value in fine:
        assert outcome(text).valid
        return
    errors = issues_of(text)
    assert errors and all(e.fix for e in errors)
    assert all(len(e.message) < 400 for e in errors)


def test_unicode_and_control_characters_in_names():
    names = ["\u0000", "\u202e\u2066evil", "🚀🚀", "class", "__init__", "forward", "def f(): import os", "a\nb\tc",
             "名前", "self", "1st layer", "\x7f\x1b[31m", "__dict__"]
    layers = [{"type": "Linear", "out_features": 4, "name": n} for n in names]
    doc = new_design("\u0000\u202e 🚀", shape=[4], layers=layers)
    result = outcome(dump_design(doc))
    assert result.valid
    model = build_model(doc)
    attrs = list(model._modules)
    assert len(set(attrs)) == len(names)
    assert all(a.isidentifier() and a.isascii() and not a.startswith("_") for a in attrs)
    assert [r.name for r in result.rows] == names


def test_duplicate_keys_take_the_last_value():
    doc = parse_design('{"format": "netwright.design", "version": 1, "input": {"shape": [8]}, "layers": [], '
                       '"layers": [{"type": "ReLU"}]}')
    assert doc["layers"] == [{"type": "ReLU"}]


def test_nothing_in_a_file_is_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [
        {"type": f"__import__('os').system('touch {marker}')"},
        {"type": "Linear", "out_features": f"__import__('os').system('touch {marker}')"},
        {"type": "ReLU", "name": f"'); import os; os.system('touch {marker}'); ('"},
        {"type": "Lambda", "fn": "lambda x: x"},
    ]
    for p in payloads:
        outcome(dump_design(new_design(shape=[4], layers=[p])))
    assert not marker.exists()


@pytest.mark.parametrize("doc", [None, [], "design", 3, [{"type": "ReLU"}]])
def test_validate_and_analyze_take_any_value(doc):
    issues = validate(doc)
    assert issues and issues[0].message
    assert not analyze(doc).valid
