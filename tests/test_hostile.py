"""The hostile corpus (tests/hostile/): every broken or malicious design file ends in a clear message.

Each file in tests/hostile/ is named for what it is and has one row in EXPECT saying what it must give:
- exit 2 (not a readable design): one line on stderr, with the words given, and no traceback;
- exit 1 (a design with errors): `summary --json` lists errors, one of them at the path given;
- exit 0 (a valid design whose text or size is hostile): nothing in it runs, nothing breaks.
The command line is checked as a real `python -m designer` process and in-process (timed: loading and
analysing a file takes under 2 s), `graph` and `export` never trace back, and the app's import leaves
the open design untouched when it refuses a file. The files too big to keep in the repository
(100,000 layers, 10,000-deep nesting, over 5 MB) are generated here. The bounds a design may ask for
are checked one by one, each with its message, and so is the refusal to build a network whose weights
could not fit in memory.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
import tokenize
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from components import state as S
from designer import analyze, build_model, load_design, new_design
from designer.__main__ import main
from designer.analysis import MAX_COPY_WALKS
from designer.build import ModelTooLarge
from designer.design import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_INPUT_ELEMENTS,
    MAX_NODES,
    MAX_PLACED,
    DesignFileError,
    dump_design,
    parse_design,
    validate,
)
from designer.params import MAX_SIZE
from designer.templates import load_template

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "hostile"
MARKER = Path("/tmp/netwright-pwned")  # what the injection attempts in the corpus would create

# file -> (exit code, for 2: words on stderr; for 1: a path among the errors; for 0: None)
EXPECT: dict[str, tuple[int, str | None]] = {
    # not a design at all
    "empty.json": (2, "empty"),
    "whitespace_only.json": (2, "empty"),
    "binary_garbage.json": (2, "not UTF-8"),
    "utf16_encoded.json": (2, "not UTF-8"),
    "truncated.json": (2, "not valid JSON at line"),
    "not_json_python_dict.json": (2, "not valid JSON"),
    "top_level_array.json": (2, "holds list"),
    "top_level_null.json": (2, "holds null"),
    "wrong_format_marker.json": (2, '"format" must be "netwright.design"'),
    "wrong_version.json": (2, "version 99 is not supported"),
    "version_true.json": (2, "version True is not supported"),
    "nan_literal.json": (2, "NaN"),
    "infinity_by_overflow.json": (2, "too large"),
    "json_nesting_500.json": (2, "nests too deeply"),
    # readable, with errors at a place
    "unknown_layer_types.json": (1, "layers[2]"),
    "unknown_keys.json": (1, "layers[0].kernal_size"),
    "wrong_value_types.json": (1, "layers[0].bias"),
    "zero_sizes.json": (1, "layers[0].kernel_size"),
    "negative_sizes.json": (1, "layers[1].p"),
    "huge_sizes.json": (1, "layers[1].num_embeddings"),
    "huge_input_shape.json": (1, "input.shape"),
    "zero_input_shape.json": (1, "input.shape"),
    "input_rank_5.json": (1, "input.shape"),
    "input_dtype_float16.json": (1, "input.dtype"),
    "repeat_absurd_count.json": (1, "layers[0].times"),
    "repeat_zero_times.json": (1, "layers[0].times"),
    "nested_repeats_billion.json": (1, "layers[0].body[0].times"),
    "repeat_growing_shapes.json": (1, "layers[0].body[0].times"),
    "blocks_nested_30_deep.json": (1, "layers"),
    "nodes_not_objects.json": (1, "layers[4]"),
    "layers_not_a_list.json": (1, "layers"),
    "type_is_code.json": (1, "layers[1].out_features"),
    "shape_mismatch.json": (1, "layers[1]"),
    "inferred_size_given.json": (1, "layers[0].in_features"),
    "task_one_class.json": (1, "task.num_classes"),
    "name_too_long.json": (1, "layers[0].name"),
    # valid designs with hostile text or sizes
    "names_code_injection.json": (0, None),
    "names_break_dot.json": (0, None),
    "names_unicode_control.json": (0, None),
    "trillion_parameters.json": (0, None),
}
# Readable files whose only problems are shapes: the app imports them (the editor shows the errors, with fixes).
IMPORTABLE = {name for name, (code, _) in EXPECT.items() if code == 0} | {"shape_mismatch.json",
                                                                          "repeat_growing_shapes.json"}
FILES = sorted(EXPECT)


def corpus(name: str) -> Path:
    return CORPUS / name


def doc_text(layers_json: str, shape: str = "[8]") -> str:
    return '{"format": "netwright.design", "version": 1, "input": {"shape": ' + shape + '}, "layers": ' + layers_json + "}"


def generated(tmp_path: Path) -> dict[str, tuple[Path, int, str]]:
    """The files too big to keep: path, exit code, and the words (exit 2) or path (exit 1) they must give."""
    files = {
        "layers_100000.json": (doc_text(json.dumps([{"type": "ReLU"}] * 100_000)), 1, "layers"),
        "nodes_6000_in_blocks.json": (doc_text(json.dumps([{"type": "Sequential", "layers": [{"type": "ReLU"}] * 100}] * 60)),
                                      1, "layers"),
        "nesting_10000_residuals.json": (doc_text("[" + '{"type": "Residual", "body": [' * 10_000 + "]}" * 10_000 + "]"),
                                         2, "nests too deeply"),
        "nesting_10000_lists.json": ("[" * 10_000 + "]" * 10_000, 2, "nests too deeply"),
        "over_5_MB.json": (doc_text("[]").replace('"layers"', '"description": "' + "x" * MAX_FILE_BYTES + '", "layers"'),
                           2, "at most"),
    }
    out = {}
    for name, (text, code, expect) in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        out[name] = (path, code, expect)
    return out


def run_main(*argv: str) -> tuple[int, str, str]:
    """`python -m designer ...` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def check_outcome(name: str, code: int, stdout: str, stderr: str, want_code: int, want: str | None) -> None:
    assert "Traceback" not in stderr + stdout, f"{name}: {stderr[-800:]}"
    assert code == want_code, f"{name}: exit {code}, expected {want_code}; stderr: {stderr[-400:]}"
    if code == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: {stderr!r}"
        assert want in lines[0], f"{name}: {lines[0]!r} does not say {want!r}"
        assert len(lines[0]) < 300
        return
    report = json.loads(stdout)
    assert report["valid"] is (code == 0)
    if code == 0:
        assert not report["errors"]
        return
    paths = [e["path"] for e in report["errors"]]
    assert want in paths, f"{name}: no error at {want}: {paths}"
    for e in report["errors"]:
        assert isinstance(e["path"], str) and e["message"], e
        assert len(e["message"]) < 400, e  # a received value is quoted, never dumped whole


@pytest.fixture(scope="module", autouse=True)
def _warm_and_clean():
    """Import and warm the analysis once (its first call loads PyTorch's meta kernels), and make sure no
    earlier run left the marker that the injection attempts would create."""
    MARKER.unlink(missing_ok=True)
    analyze(load_design(corpus("shape_mismatch.json")))
    yield
    assert not MARKER.exists(), "something in the corpus was executed"


# --- the corpus itself ---------------------------------------------------------------------------------------


def test_every_corpus_file_has_an_expectation_and_the_folder_stays_small():
    on_disk = {p.name for p in CORPUS.iterdir()}
    assert on_disk == set(EXPECT), f"unlisted: {on_disk - set(EXPECT)}; missing: {set(EXPECT) - on_disk}"
    assert len(on_disk) >= 30
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 200_000


@pytest.mark.parametrize("name", FILES)
def test_summary_in_process_is_quick_and_clear(name):
    want_code, want = EXPECT[name]
    # CPU seconds of this process, not wall time: the bound is on the work a file can cause, and a
    # busy machine (other test workers) must not fail it.
    start = time.process_time()
    try:
        design = load_design(corpus(name))
    except DesignFileError:
        design = None
    if design is not None:
        analyze(design)
    elapsed = time.process_time() - start
    assert elapsed < 2.0, f"{name}: load + analyze took {elapsed:.2f} CPU s"
    code, stdout, stderr = run_main("summary", str(corpus(name)), "--json")
    check_outcome(name, code, stdout, stderr, want_code, want)
    # the readable table too
    code, stdout, stderr = run_main("summary", str(corpus(name)))
    assert code == want_code and "Traceback" not in stderr


def test_generated_huge_files(tmp_path):
    for name, (path, want_code, want) in generated(tmp_path).items():
        start = time.process_time()
        code, stdout, stderr = run_main("summary", str(path), "--json")
        elapsed = time.process_time() - start
        check_outcome(name, code, stdout, stderr, want_code, want)
        assert elapsed < 2.0, f"{name}: {elapsed:.2f} CPU s"


def _subprocess(path: Path) -> tuple[int, str, str, float]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "designer", "summary", str(path), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start


# One real process per kind of outcome (a process spends seconds importing PyTorch before it reads a byte);
# every file goes through the same `main()` in-process above. NETWRIGHT_HOSTILE_ALL=1 starts one per file.
PROCESS_FILES = ["empty.json", "binary_garbage.json", "truncated.json", "nan_literal.json", "json_nesting_500.json",
                 "unknown_layer_types.json", "nested_repeats_billion.json", "repeat_growing_shapes.json",
                 "names_code_injection.json", "trillion_parameters.json"]


def test_command_line_processes(tmp_path):
    """Real `python -m designer summary FILE --json` processes, four at a time, with a timeout.

    The baseline is a small valid design run in the same pool: a hostile file may add only a little
    to the start-up (the in-process test times the work itself, against 2 s).
    """
    ok = tmp_path / "ok.json"
    ok.write_text(dump_design(new_design("ok", [8], layers=[{"type": "Linear", "out_features": 4}])))
    names = FILES if os.environ.get("NETWRIGHT_HOSTILE_ALL") else PROCESS_FILES
    jobs = {f"baseline{i}": (ok, 0, None) for i in range(2)}
    jobs.update({name: (corpus(name), *EXPECT[name]) for name in names})
    big = generated(tmp_path)
    jobs.update({name: big[name] for name in ("layers_100000.json", "nesting_10000_residuals.json", "over_5_MB.json")})
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(jobs, pool.map(lambda job: _subprocess(job[0]), jobs.values())))
    baseline = statistics.median(results[f"baseline{i}"][3] for i in range(2))
    failures = []
    for name, (_, want_code, want) in jobs.items():
        code, stdout, stderr, elapsed = results[name]
        try:
            check_outcome(name, code, stdout, stderr, want_code, want)
            assert elapsed < 3 * baseline + 2.0, f"{name}: {elapsed:.1f}s against a start-up of {baseline:.1f}s"
        except AssertionError as exc:
            failures.append(str(exc))
    slowest = max((r[3], n) for n, r in results.items())
    print(f"\ncommand line: {len(jobs)} processes, start-up baseline {baseline:.2f}s, slowest {slowest[1]} {slowest[0]:.2f}s")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", FILES)
def test_graph_and_export_never_trace_back(name, tmp_path):
    want_code, _ = EXPECT[name]
    code, stdout, stderr = run_main("graph", str(corpus(name)))
    assert code == want_code and "Traceback" not in stderr
    if code != 2:
        assert stdout.lstrip().startswith("digraph")
    code, stdout, stderr = run_main("export", str(corpus(name)), "--out", str(tmp_path / "out"))
    assert code == want_code and "Traceback" not in stderr
    if code == 0:
        assert (tmp_path / "out" / "model.py").is_file()
    else:  # nothing half-written
        assert not (tmp_path / "out" / "model.py").exists()
        assert stderr.strip()


# --- the app's import -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_app_import_refuses_without_touching_the_open_design(name):
    state: dict = {}
    S.init_state(state, load_template("lenet5"))
    before = copy.deepcopy(state[S.DESIGN])
    revision = state[S.REVISION]
    problems = S.import_design(state, corpus(name).read_bytes())
    if name in IMPORTABLE:
        assert problems == []
        assert state[S.DESIGN] == load_design(corpus(name))
        assert S.undo(state) and state[S.DESIGN] == before  # and the import is one undoable step
        return
    assert problems and all(isinstance(p, str) and p and len(p) < 600 for p in problems)
    assert state[S.DESIGN] == before and state[S.REVISION] == revision and not state[S.HISTORY].can_undo
    code, want = EXPECT[name]
    if code == 1:
        assert any(p.startswith(f"{want}:") or f"{want}:" in p for p in problems), problems
    assert "Traceback" not in "".join(problems)


def test_app_import_of_generated_huge_files(tmp_path):
    for name, (path, _, _) in generated(tmp_path).items():
        state: dict = {}
        S.init_state(state, load_template("lenet5"))
        before = copy.deepcopy(state[S.DESIGN])
        start = time.process_time()
        problems = S.import_design(state, path.read_bytes())
        assert time.process_time() - start < 2.0, name  # CPU seconds: the work, not the machine's load
        assert problems and state[S.DESIGN] == before, name


@pytest.mark.parametrize("name", sorted(IMPORTABLE))
def test_page_renders_the_importable_files(name, tmp_path, monkeypatch):
    """The whole page (AppTest) on each design the import accepts: no exception, the errors shown as errors."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("NETWRIGHT_DB", str(tmp_path / "netwright.db"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    S.init_state(at.session_state, load_design(corpus(name)))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if EXPECT[name][0] == 1:
        shown = " ".join(str(e.value) for e in at.error) + " ".join(m.value for m in at.markdown)
        assert EXPECT[name][1] in shown


# --- hostile text stays text -----------------------------------------------------------------------------------


def _names(code: str) -> set[str]:
    return {t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.NAME}


@pytest.mark.parametrize("name", ["names_code_injection.json", "names_break_dot.json", "names_unicode_control.json"])
def test_hostile_names_stay_text_in_code_and_drawing(name, tmp_path):
    from designer.codegen import export_files
    from designer.graph import graphviz_binary, render, to_dot

    design = load_design(corpus(name))
    files = export_files(design)
    for fname in ("model.py", "train.py"):
        ast.parse(files[fname])
        names = _names(files[fname])
        assert all(n.isascii() and n.isidentifier() for n in names)
        assert not {"system", "__import__", "getcwd", "evil", "pwned"} & names, fname
    # The model runs, and nothing the names say happens.
    namespace: dict = {}
    exec(compile(files["model.py"], "model.py", "exec"), namespace)  # our generated code, not the user's text
    model = namespace["Model"]()
    assert tuple(model(torch.zeros(2, 8)).shape) == (2, 4)
    assert not MARKER.exists()
    # The drawing has exactly the nodes of the same design without names: no name adds or breaks one.
    plain = copy.deepcopy(design)
    plain["name"] = "plain"
    for node in plain["layers"]:
        node.pop("name", None)
    dot, plain_dot = to_dot(design), to_dot(plain)
    edge = re.compile(r"^\s*\w+ -> \w+ \[", re.M)  # node ids come from paths; names only reach labels
    assert dot.count("\n") == plain_dot.count("\n")
    assert len(edge.findall(dot)) == len(edge.findall(plain_dot)) > 0
    if graphviz_binary():
        svg = ET.fromstring(render(dot, "svg"))
        plain_svg = ET.fromstring(render(plain_dot, "svg"))
        ns = "{http://www.w3.org/2000/svg}"
        count = lambda root, cls: sum(1 for g in root.iter(f"{ns}g") if g.get("class") == cls)  # noqa: E731
        assert count(svg, "node") == count(plain_svg, "node") and count(svg, "edge") == count(plain_svg, "edge")


# --- the bounds, each with its message ---------------------------------------------------------------------------


def _issues(doc: dict) -> list:
    """validate's and analyze's issues together (each bound shows in one or both)."""
    return validate(doc) + analyze(doc).errors


def _repeat(times: int, body: list) -> dict:
    return {"type": "Repeat", "times": times, "body": body}


BOUNDS = [
    # (what, layers, input shape, path, words in the message)
    ("nodes", [{"type": "ReLU"}] * (MAX_NODES + 1), [8], "layers", f"more than {MAX_NODES:,} nodes"),
    ("nesting", [json.loads('{"type": "Sequential", "layers": [' * (MAX_DEPTH + 1) + '{"type": "ReLU"}' + "]}" * (MAX_DEPTH + 1))],
     [8], "layers", f"more than {MAX_DEPTH} levels deep"),
    ("repeat times", [_repeat(1001, [{"type": "ReLU"}])], [8], "layers[0].times", "at most 1,000, got 1001"),
    ("repeat product", [_repeat(200, [_repeat(200, [{"type": "ReLU"}])])], [8], "layers[0].times",
     f"places 40,200 layers (its copies, and their copies of inner Repeats); a network may place at most {MAX_PLACED:,}"),
    ("many repeats", [_repeat(1000, [{"type": "ReLU"}, {"type": "ReLU"}])] * 11, [8], "layers",
     f"places 22,011 layers (Repeat copies counted); a network may place at most {MAX_PLACED:,}"),
    ("copies of changing shape", [_repeat(300, [_repeat(50, [{"type": "ConvTranspose1d", "out_channels": 1, "kernel_size": 2}]),
                                                {"type": "MaxPool1d", "kernel_size": 2, "stride": 1}])],
     [1, 8], "layers[0].body[0].times", f"past {MAX_COPY_WALKS:,} such layer checks the analysis stops"),
    ("a size", [{"type": "Linear", "out_features": MAX_SIZE + 1}], [8], "layers[0].out_features",
     f"must be at most {MAX_SIZE:,}, got {MAX_SIZE + 1}"),
    ("a kernel", [{"type": "Conv1d", "out_channels": 2, "kernel_size": 10**9}], [2, 8], "layers[0].kernel_size", "must be at most"),
    ("input elements", [{"type": "ReLU"}], [1 << 15, 1 << 14], "input.shape", f"at most {MAX_INPUT_ELEMENTS:,} elements"),
    ("input rank", [{"type": "ReLU"}], [1, 1, 1, 1, 1], "input.shape", "1 to 4 whole numbers"),
    ("classes", [], [8], "task.num_classes", f"from 2 to {MAX_SIZE:,}"),
]


@pytest.mark.parametrize("what, layers, shape, path, words", BOUNDS, ids=[b[0] for b in BOUNDS])
def test_each_bound_has_a_clear_message(what, layers, shape, path, words):
    doc = new_design("bounds", shape=shape, layers=layers)
    if what == "classes":
        doc["task"] = {"kind": "classification", "num_classes": MAX_SIZE + 1}
    start = time.process_time()  # CPU time: a busy machine does not make it fail
    issues = _issues(doc)
    assert time.process_time() - start < 2.0
    match = [i for i in issues if i.path == path]
    assert match, [str(i) for i in issues]
    assert words in match[0].message, match[0].message
    assert match[0].fix


def test_designs_at_the_bounds_are_fine():
    at_nodes = new_design("n", [8], layers=[{"type": "ReLU"}] * MAX_NODES)
    at_placed = new_design("p", [8], layers=[_repeat(100, [_repeat(198, [{"type": "ReLU"}])])])  # 1 + 100 × 199 placed
    growing = new_design("g", [1, 8], layers=[_repeat(40, [{"type": "ConvTranspose1d", "out_channels": 1, "kernel_size": 2}])])
    for doc in (at_nodes, at_placed, growing):
        start = time.process_time()
        analysis = analyze(doc)
        assert time.process_time() - start < 2.0
        assert analysis.valid, [str(e) for e in analysis.errors[:3]]
        assert not validate(doc)
    assert analyze(growing).output_shape == (1, 48)


def test_build_refuses_weights_that_cannot_fit():
    design = load_design(corpus("trillion_parameters.json"))
    analysis = analyze(design)
    assert analysis.valid and analysis.params == 1_099_512_676_352  # analysing it on `meta` is free
    start = time.process_time()
    with pytest.raises(ModelTooLarge) as info:
        build_model(design, analysis)
    assert time.process_time() - start < 2.0
    message = str(info.value)
    assert message.startswith("layers: the network's 1,099,512,676,352 parameters need 4.0 TiB") and "free" in message
    with torch.device("meta"):  # the app's memory estimate builds on meta: allowed
        assert sum(p.numel() for p in build_model(design, analysis).parameters()) == analysis.params


def test_training_the_trillion_parameter_design_fails_with_a_message():
    from designer.training import JobManager, TrainConfig, Trainer

    design = load_design(corpus("trillion_parameters.json"))
    n = 4
    dataset = SimpleNamespace(name="wide", description="", input_shape=(1 << 20,), dtype="float32",
                              task={"kind": "regression"}, x_train=torch.zeros(n, 1 << 20),
                              y_train=torch.zeros(n, 1 << 20), x_val=torch.zeros(2, 1 << 20),
                              y_val=torch.zeros(2, 1 << 20), classes=None)
    result = Trainer(lambda: build_model(design), dataset, TrainConfig(epochs=1, device="cpu")).run()
    # refused from the estimate, before a weight is made (the estimate counts grads and Adam's state too)
    assert result.status == "failed" and "16.0 TiB" in result.message and "model alone does not fit" in result.message
    # and through the job manager, which then runs the next job
    manager = JobManager()
    first = manager.submit(lambda: build_model(design), dataset, TrainConfig(epochs=1, device="cpu"))
    small = new_design("small", [1 << 20], layers=[{"type": "Linear", "out_features": 1}])
    tiny = SimpleNamespace(**{**vars(dataset), "y_train": torch.zeros(n, 1), "y_val": torch.zeros(2, 1)})
    second = manager.submit(lambda: build_model(small), tiny, TrainConfig(epochs=1, batch_size=2, device="cpu"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and manager.get(second).status in ("queued", "running"):
        time.sleep(0.05)
    assert manager.get(first).snapshot()["status"] == "failed"
    assert "model alone does not fit" in manager.get(first).snapshot()["message"]
    assert manager.get(second).snapshot()["status"] == "completed", manager.get(second).snapshot()["message"]


def test_parse_refuses_what_the_loader_refuses():
    """parse_design (the app's import) and load_design (the command line) agree on every corpus file."""
    for name in FILES:
        data = corpus(name).read_bytes()
        try:
            from_path = load_design(corpus(name))
        except DesignFileError as exc:
            with pytest.raises(DesignFileError) as info:
                parse_design(data)
            assert str(info.value) == str(exc)
        else:
            assert parse_design(data) == from_path


# --- training faults ----------------------------------------------------------------------------------------------


def blobs(n: int = 400, seed: int = 0) -> SimpleNamespace:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(4, 8, generator=g)[y] * 2 + torch.randn(n, 8, generator=g)
    cut = n * 5 // 6
    return SimpleNamespace(name="blobs", description="", input_shape=(8,), dtype="float32", classes=None,
                           task={"kind": "classification", "num_classes": 4},
                           x_train=x[:cut], y_train=y[:cut], x_val=x[cut:], y_val=y[cut:])


class FailsAtStep(torch.nn.Module):
    """A small MLP whose training forward raises `error` from step `at` on (evaluation passes run fine)."""

    def __init__(self, error: BaseException, at: int = 3) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
        self.error, self.at, self.calls = error, at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls >= self.at:
                raise self.error
        return self.net(x)


def _wait(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
                                   RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8 GiB total)"),
                                   RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")],
                         ids=["OutOfMemoryError", "cuda-runtime-error", "cpu-allocator"])
def test_out_of_memory_ends_the_job_as_failed_and_the_next_job_runs(error, tmp_path):
    from designer.runs import RunStore
    from designer.training import JobManager, TrainConfig

    store = RunStore(tmp_path / "runs.db")
    manager = JobManager(max_concurrent_per_device=1)
    config = TrainConfig(epochs=2, batch_size=32, device="cpu")
    oom = manager.submit(lambda: FailsAtStep(error), blobs(), config, store=store, design={"name": "oom"})
    after = manager.submit(lambda: FailsAtStep(RuntimeError("never"), at=10**9), blobs(), config, store=store,
                           design={"name": "after"})
    assert _wait(lambda: manager.get(after).status not in ("queued", "running"))
    snap = manager.get(oom).snapshot()
    assert snap["status"] == "failed"
    assert snap["message"].startswith("out of memory on cpu at batch size 32") and "smaller batch size" in snap["message"]
    assert snap["step"] == 2 and len(snap["steps"]) == 2  # the steps before the failure are kept
    assert manager.get(after).snapshot()["status"] == "completed"
    assert _wait(lambda: store.get(snap["run_id"])["status"] == "failed")
    run = store.get(snap["run_id"])
    assert "out of memory" in run["message"] and len(store.steps(snap["run_id"])) == 2


def test_nan_loss_ends_the_job_as_diverged_with_its_steps_kept(tmp_path):
    from designer.runs import RunStore
    from designer.training import JobManager, TrainConfig

    class NaNAfter(FailsAtStep):
        def forward(self, x):
            out = self.net(x)
            if self.training:
                self.calls += 1
                return out * float("nan") if self.calls >= 4 else out
            return out

    store = RunStore(tmp_path / "runs.db")
    manager = JobManager()
    job_id = manager.submit(lambda: NaNAfter(RuntimeError()), blobs(), TrainConfig(epochs=2, device="cpu"),
                            store=store, design={"name": "nan"})
    manager.get(job_id).join(60)
    snap = manager.get(job_id).snapshot()
    assert snap["status"] == "diverged" and "nan" in snap["message"].lower()
    assert _wait(lambda: store.get(snap["run_id"])["status"] == "diverged")
    losses = [s["loss"] for s in store.steps(snap["run_id"])]
    assert len(losses) == 4 and all(v is not None for v in losses[:3]) and losses[3] is None  # NaN kept as null


def test_full_disk_while_saving_a_checkpoint_keeps_the_job_and_the_app_going(tmp_path, monkeypatch):
    import errno

    from designer.runs import RunStore
    from designer.train import checkpoints
    from designer.training import JobManager, TrainConfig

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "save_file", full)
    store = RunStore(tmp_path / "runs.db")
    manager = JobManager()
    job_id = manager.submit(lambda: FailsAtStep(RuntimeError(), at=10**9), blobs(), TrainConfig(epochs=2, device="cpu"),
                            store=store, design={"name": "full disk"})
    manager.get(job_id).join(60)
    snap = manager.get(job_id).snapshot()
    assert snap["status"] == "completed" and "disk is full" in snap["message"]
    assert _wait(lambda: store.get(snap["run_id"])["status"] == "completed")
    run = store.get(snap["run_id"])
    assert run["best_path"] is None and run["steps"] == snap["step"] and "disk is full" in run["message"]
    assert not list(tmp_path.rglob("*.safetensors")) and not list(tmp_path.rglob("*.tmp"))


def test_a_run_whose_design_name_holds_a_lone_surrogate_is_recorded(tmp_path):
    from designer.runs import RunStore
    from designer.store import DesignStore
    from designer.training import JobManager, TrainConfig

    design = load_design(corpus("names_unicode_control.json"))
    store = RunStore(tmp_path / "runs.db")
    designs = DesignStore(tmp_path / "runs.db")
    designs.autosave("session", design)  # the app autosaves every design it holds
    assert designs.load_autosave("session") == design
    designs.save(design["name"], design)
    manager = JobManager()
    job_id = manager.submit(lambda: build_model(design), SimpleNamespace(**{**vars(blobs()), "task": {"kind": "regression"},
                                                                           "y_train": torch.zeros(333, 4),
                                                                           "y_val": torch.zeros(67, 4)}),
                            TrainConfig(epochs=1, device="cpu"), store=store, design=design)
    manager.get(job_id).join(60)
    snap = manager.get(job_id).snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert store.get(snap["run_id"])["design"] == design


KILLED_RUN = r"""
import sys, time, torch
from types import SimpleNamespace
from designer.runs import RunStore
from designer.training import JobManager, TrainConfig

torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x, y = torch.randn(512, 8, generator=g), torch.randint(0, 4, (512,), generator=g)
ds = SimpleNamespace(name="blobs", description="", input_shape=(8,), dtype="float32", classes=None,
                     task={"kind": "classification", "num_classes": 4},
                     x_train=x[:448], y_train=y[:448], x_val=x[448:], y_val=y[448:])
store = RunStore()
manager = JobManager()
job_id = manager.submit(lambda: torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)),
                        ds, TrainConfig(epochs=100_000, batch_size=4, device="cpu"), store=store,
                        design={"name": "killed mid-run"})
print(manager.get(job_id).run_id, flush=True)
while True:
    time.sleep(1)
"""


def test_app_killed_during_a_run_leaves_it_interrupted_with_its_metrics(tmp_path):
    """A real process trains with a RunStore; it is killed (SIGKILL: no clean-up at all) once some steps are
    flushed; a store opened afterwards (the app's restart) shows the run as interrupted, its steps kept."""
    import signal

    from designer.runs import RunStore

    db = tmp_path / "netwright.db"
    env = {**os.environ, "NETWRIGHT_DB": str(db), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        run_id = int(proc.stdout.readline() or 0)
        assert run_id, proc.stderr.read()
        watcher = RunStore(db)  # the process is alive: its run is left alone
        assert _wait(lambda: len(watcher.steps(run_id)) >= 100, timeout=90), proc.poll()
        assert watcher.get(run_id)["status"] == "running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        seen = len(watcher.steps(run_id))
        watcher.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    after = RunStore(db)  # the restart
    run = after.get(run_id)
    assert run["status"] == "interrupted" and "ended before it finished" in run["message"]
    steps = after.steps(run_id)
    assert len(steps) >= seen >= 100 and [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert all(s["loss"] is not None for s in steps)
    assert after.list()[0]["status"] == "interrupted" and after.list()[0]["steps"] == len(steps)
    assert after.mark_interrupted() == 0  # once


# --- uploads: nothing in them runs, and no claim in them is taken on trust ------------------------------------


class _Touch:
    """Pickled, it would create MARKER when unpickled: uploads must never be unpickled."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _npy_header_only(shape: tuple, dtype: str = "<f8", payload: bytes = b"\0" * 64) -> bytes:
    """An .npy member whose header claims `shape`, followed by a few bytes of data."""
    from numpy.lib import format as npf

    buf = io.BytesIO()
    npf.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def _zip_of(members: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("shape, words", [
    ((10**13,), "says it takes 80000000000000 bytes"),
    ((10**8, 10**8), "says it takes"),
    ((600_000_000,), "says it takes 4800000000 bytes"),  # 4.8 GB: refused before NumPy allocates it
], ids=["1e13-elements", "1e16-elements", "4.8-GB"])
def test_npz_whose_header_claims_a_huge_array_is_refused_before_allocating(shape, words):
    from designer.datasets import DataError, dataset_from_npz

    upload = _zip_of({"X.npy": _npy_header_only(shape), "y.npy": _npy_header_only((4,), "<i8", b"\0" * 32)})
    assert len(upload) < 1000
    start = time.process_time()  # CPU time: a busy machine does not make it fail
    with pytest.raises(DataError, match=words):
        dataset_from_npz(upload, name="claims.npz")
    assert time.process_time() - start < 2.0


def test_npz_with_a_pickle_inside_is_refused_unread():
    import numpy as np

    from designer.datasets import DataError, dataset_from_npz

    buf = io.BytesIO()
    np.savez(buf, X=np.array([_Touch(), _Touch()], dtype=object), y=np.zeros(2, int))
    with pytest.raises(DataError, match="holds Python objects"):
        dataset_from_npz(buf.getvalue())
    assert not MARKER.exists()


def test_npz_with_empty_samples_is_refused():
    import numpy as np

    from designer.datasets import DataError, dataset_from_npz

    buf = io.BytesIO()
    np.savez(buf, X=np.zeros((4, 0), np.float32), y=np.zeros(4, int))
    with pytest.raises(DataError, match=r"shape \(4, 0\): each sample is empty"):
        dataset_from_npz(buf.getvalue())


def test_image_zip_with_a_decompression_bomb_is_refused():
    from PIL import Image

    from designer.datasets import MAX_IMAGE_PIXELS, DataError, dataset_from_image_zip

    side = int(MAX_IMAGE_PIXELS**0.5) + 100
    big, small = io.BytesIO(), io.BytesIO()
    Image.new("1", (side, side)).save(big, format="PNG")  # about 50 million pixels in a few kB
    Image.new("RGB", (8, 8)).save(small, format="PNG")
    upload = _zip_of({"cats/bomb.png": big.getvalue(), "dogs/ok.png": small.getvalue()})
    assert len(upload) < 200_000
    with pytest.raises(DataError, match=f"more than the {MAX_IMAGE_PIXELS} allowed"):
        dataset_from_image_zip(upload)


def test_a_checkpoint_that_is_a_pickle_is_refused_unread(tmp_path):
    """Weights load only as safetensors: a torch.save file (a pickle) that would run code is an error."""
    from designer.training import load_checkpoint

    path = tmp_path / "last.safetensors"
    torch.save({"weight": _Touch()}, path)
    with pytest.raises(Exception) as info:  # noqa: B017 - safetensors' own error type
        load_checkpoint(torch.nn.Linear(2, 2), path)
    assert "Traceback" not in str(info.value)
    assert not MARKER.exists()


# --- security, checked where it is stated ------------------------------------------------------------------------


def test_the_server_listens_on_this_machine_only_with_an_upload_limit():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert 0 < config["server"]["maxUploadSize"] <= 200  # MB
    lines = (ROOT / "Makefile").read_text().splitlines()
    run_line = lines[lines.index("run: install") + 1]
    assert "-m components.serve" in run_line  # `streamlit run` with the Host check (tests/test_host_check.py)
    assert "address" not in run_line  # `make run` keeps the configured address


# Calls that would evaluate, unpickle or shell out; none may appear in the code that reads designs and uploads.
FORBIDDEN = [
    (r"(?<![.\w])eval\(", "eval("), (r"(?<![.\w])exec\(", "exec("), (r"\bimport pickle\b|\bfrom pickle\b", "pickle"),
    (r"\bpickle\.loads?\(", "pickle.load"), (r"torch\.load\(", "torch.load("), (r"allow_pickle\s*=\s*True", "allow_pickle=True"),
    (r"shell\s*=\s*True", "shell=True"), (r"\bos\.system\(", "os.system("), (r"yaml\.load\(", "yaml.load("),
    (r"\b__import__\(", "__import__("), (r"(?<![.\w])compile\(", "compile("),
]


def test_nothing_in_the_app_or_the_core_evaluates_or_unpickles():
    files = sorted((ROOT / "designer").rglob("*.py")) + sorted((ROOT / "components").rglob("*.py")) + [ROOT / "app.py"]
    hits = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            hits += [f"{path.relative_to(ROOT)}:{number}: {what}" for pattern, what in FORBIDDEN if re.search(pattern, code)]
    assert not hits, hits
    # The exported train.py loads weights as safetensors, or with torch.load(weights_only=True) only.
    template = (ROOT / "designer" / "templates_code" / "train.py.tmpl").read_text()
    loads = re.findall(r"torch\.load\([^)]*\)", template)
    assert loads and all("weights_only=True" in call for call in loads), loads
    assert "allow_pickle=True" not in template
