"""Import an existing model into an editable design: PyTorch code (`file.py:ClassName`) or an ONNX file.

`import_model(source, input_shape=None, dtype=None) -> ImportResult`: the design (None when some part
could not be mapped), its first weights (a state_dict of the design's model, or None) and the
problems, each naming the module path (PyTorch) or the node and op (ONNX) it is about. torch and
onnx are imported only when an import runs.
"""

from __future__ import annotations

from pathlib import Path

from designer.importing.mapping import ImportResult, Problem, canonical

__all__ = ["ImportResult", "Problem", "SourceError", "canonical", "import_model", "weights_path"]


class SourceError(Exception):
    """The source cannot be read (no such file or class, not ONNX, fails to load or build)."""


def import_model(source: str, input_shape: list[int] | None = None, dtype: str | None = None) -> ImportResult:
    """The design of `source`: `file.py:ClassName` (runs that file's code) or `model.onnx` (data only)."""
    if source.lower().endswith(".onnx"):
        from designer.importing import onnx_import

        try:
            return onnx_import.import_onnx_file(Path(source), input_shape, dtype)
        except onnx_import.OnnxSourceError as exc:
            raise SourceError(str(exc)) from None
    from designer.importing import fx

    try:
        return fx.import_python(source, input_shape, dtype)
    except fx.SourceError as exc:
        raise SourceError(str(exc)) from None


def weights_path(design_path: str | Path) -> Path:
    """Where the imported weights go: beside the design, the same name with .safetensors (net.json -> net.safetensors)."""
    path = Path(design_path)
    return path.with_suffix(".safetensors")


def parse_shape(text: str) -> list[int]:
    """--input-shape "3,32,32" -> [3, 32, 32]; raises ValueError naming what is wrong."""
    parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        shape = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--input-shape {text!r}: give whole numbers separated by commas, e.g. 3,32,32") from None
    if not 1 <= len(shape) <= 4 or any(s < 1 for s in shape):
        raise ValueError(f"--input-shape {text!r}: give 1 to 4 sizes of at least 1 (one sample, batch excluded)")
    return shape


def cli_import(args) -> int:
    """`python -m designer import`: 0 the design is written; 1 parts could not be mapped (each named, nothing
    written); 2 the source cannot be read."""
    import sys

    from designer.cli_checks import CommandError, output_file, write_file
    from designer.design import dump_design

    try:
        shape = parse_shape(args.input_shape) if args.input_shape else None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    out = output_file(args.out) if args.out is not None else None
    try:
        result = import_model(args.source, shape, args.dtype)
    except SourceError as exc:
        raise CommandError(str(exc)) from None
    if not result.ok:
        print(f"{args.source}: {len(result.problems)} part(s) could not be mapped; nothing written:", file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    text = dump_design(result.design)
    if out is None:
        sys.stdout.write(text)
        if result.weights:
            print("note: the weights are kept only with --out FILE (written beside it as .safetensors)", file=sys.stderr)
        return 0
    write_file(out, text.encode("utf-8"))
    print(out)
    if result.weights:
        from safetensors.torch import save_file

        target = weights_path(out)
        try:
            save_file(result.weights, str(target))
        except OSError as exc:
            raise CommandError(f"{target}: cannot write the weights ({exc.strerror or exc})") from None
        print(target)
    return 0
