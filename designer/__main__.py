"""python -m designer: summary, layers, export, graph, train, lr-find, overfit, datasets, import (see shared/design-format.md).

Exit codes: 0 fine; 1 the design has errors (still printed); 2 not a readable design file or bad
usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from designer.cli_checks import CommandError, output_file, output_folder, write_file

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_UNREADABLE


def _load(path: str) -> dict[str, Any]:
    from designer.design import load_design

    return load_design(Path(path))


def summary_table(design: dict[str, Any], analysis) -> str:
    """A Keras/torchinfo-style table of a design's analysis."""
    from designer.params import human_count, size_text

    def shape(s):
        return size_text(list(s)) if s is not None else "?"

    rows = [("Layer (path)", "Type", "Output shape", "Param #", "FLOPs")]
    for r in analysis.rows:
        status = {"error": "  ✗", "unreached": "  ·"}.get(r.status, "")
        kind = r.label + (f" ×{r.copies}" if r.copies > 1 else "")
        rows.append(("  " * r.depth + r.path, kind, shape(r.output_shape) + status, f"{r.params:,}", human_count(r.flops)))
    widths = [min(max(len(row[i]) for row in rows), 48) for i in range(5)]
    line = "─" * (sum(widths) + 8)
    name = design.get("name") or "Untitled"
    inp = f"{shape(analysis.input_shape)} {analysis.input_dtype or ''}".strip()
    out = [f'Model: "{name}"   input {inp}', line]
    for i, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            out.append(line)
    out += [
        line,
        f"Total params: {analysis.params:,} ({analysis.size_mb:.2f} MB as float32)",
        f"Trainable params: {analysis.trainable_params:,}",
        f"FLOPs per sample: {human_count(analysis.flops)} ({analysis.flops:,})",
        f"Output shape: {shape(analysis.output_shape)}",
    ]
    if analysis.errors:
        out.append(f"{len(analysis.errors)} error(s):")
        for e in analysis.errors:
            out.append(f"  {e.path}: {e.message}" + (f"\n      fix: {e.fix}" if e.fix else ""))
    return "\n".join(out)


def cmd_summary(args: argparse.Namespace) -> int:
    from designer.analysis import analyze

    design = _load(args.design)
    analysis = analyze(design)
    if args.json:
        print(json.dumps(analysis.to_json()))
    else:
        print(summary_table(design, analysis))
    return EXIT_OK if analysis.valid else EXIT_INVALID


def cmd_layers(args: argparse.Namespace) -> int:
    from designer.registry import list_specs

    specs = list_specs()
    if args.json:
        print(json.dumps([s.to_dict() for s in specs]))
        return EXIT_OK
    family = None
    for spec in sorted(specs, key=lambda s: (s.family, s.type)):
        if spec.family != family:
            family = spec.family
            print(f"\n{family}")
        params = ", ".join(f"{p.name}={p.default!r}" + ("*" if p.required else "") for p in spec.params)
        print(f"  {spec.type:<26} {params}")
    print("\n* required")
    return EXIT_OK


def _print_errors(analysis) -> None:
    for e in analysis.errors:
        print(f"{e.path}: {e.message}" + (f" (fix: {e.fix})" if e.fix else ""), file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    from designer.analysis import analyze
    from designer.codegen import write_export

    design = _load(args.design)
    analysis = analyze(design)
    if not analysis.valid:
        _print_errors(analysis)
        return EXIT_INVALID
    out = output_folder(args.out)
    try:
        paths = write_export(design, out, analysis)
    except OSError as exc:
        raise CommandError(f"--out {args.out}: cannot write ({exc.strerror or exc})") from None
    for path in paths:
        print(path)
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from designer.analysis import analyze
    from designer.graph import GraphvizError, GraphvizMissing, render, to_dot

    design = _load(args.design)
    out = output_file(args.out) if args.out is not None else None
    analysis = analyze(design)
    dot = to_dot(design, analysis, direction=args.direction, expand_repeats=args.expand)
    if args.format == "dot":
        data = dot.encode()
    else:
        try:
            data = render(dot, args.format)
        except (GraphvizMissing, GraphvizError) as exc:
            return _fail(str(exc))
    if out is not None:
        write_file(out, data)
    elif args.format == "png":
        return _fail("PNG is binary: give --out FILE")
    else:
        sys.stdout.write(data.decode())
    return EXIT_OK if analysis.valid else EXIT_INVALID


def cmd_datasets(args: argparse.Namespace) -> int:
    from designer.datasets import list_datasets

    rows = list_datasets()
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            task = row["task"]["kind"] + (f" ({row['task']['num_classes']} classes)" if "num_classes" in row["task"] else "")
            shape = "×".join(str(s) for s in row["input"]["shape"])
            print(f"{row['name']:<16} {shape:<12} {row['input']['dtype']:<8} {task:<28} {row['size']:>7,} samples")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from designer.cli_train import train_command

    return train_command(args, _load(args.design))


def cmd_lr_find(args: argparse.Namespace) -> int:
    from designer.cli_probes import lr_find_command

    return lr_find_command(args, _load(args.design))


def cmd_overfit(args: argparse.Namespace) -> int:
    from designer.cli_probes import overfit_command

    return overfit_command(args, _load(args.design))


def cmd_import(args: argparse.Namespace) -> int:
    from designer.importing import cli_import

    return cli_import(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m designer", description="Netwright: design, check, export and train networks.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("summary", help="shapes, parameters, FLOPs and errors of a design")
    s.add_argument("design")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=cmd_summary)

    s = sub.add_parser("layers", help="the layer catalogue")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_layers)

    s = sub.add_parser("export", help="write model.py, train.py and design.json")
    s.add_argument("design")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("graph", help="the architecture drawing")
    s.add_argument("design")
    s.add_argument("--format", choices=("dot", "svg", "png"), default="dot")
    s.add_argument("--out", help="file to write (default: stdout for dot/svg)")
    s.add_argument("--direction", choices=("TB", "LR"), default="TB", help="top-to-bottom or left-to-right")
    s.add_argument("--expand", action="store_true", help="draw every copy of Repeat blocks")
    s.set_defaults(func=cmd_graph)

    s = sub.add_parser("train", help="train a design on a dataset")
    s.add_argument("design")
    s.add_argument("--dataset", required=True, help="a name from `datasets`, or a .npz/.csv file")
    from designer.train.config import add_config_flags  # torch-free: only the option declarations

    add_config_flags(s)  # every training option, from its one declaration
    s.add_argument("--log", help="write JSON lines of steps, epochs and the end")
    s.set_defaults(func=cmd_train)

    from designer.cli_probes import add_lr_find_flags, add_overfit_flags  # torch-free

    s = sub.add_parser("lr-find", help="a learning-rate range test: prints the suggested lr")
    s.add_argument("design")
    add_lr_find_flags(s)
    s.set_defaults(func=cmd_lr_find)

    s = sub.add_parser("overfit", help="train on one batch: does the loss reach near zero?")
    s.add_argument("design")
    add_overfit_flags(s)
    s.set_defaults(func=cmd_overfit)

    s = sub.add_parser("datasets", help="the datasets that train and the app offer")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_datasets)

    s = sub.add_parser("import", help="turn a PyTorch class (file.py:ClassName) or an ONNX file into a design")
    s.add_argument("source", help="file.py:ClassName (runs that file) or model.onnx")
    s.add_argument("--input-shape", help="one sample, comma-separated, e.g. 3,32,32 (ONNX: read from the file when fixed)")
    s.add_argument("--dtype", choices=("float32", "int64"), default=None)
    s.add_argument("--out", help="design file to write (default: stdout); weights go beside it as .safetensors")
    s.set_defaults(func=cmd_import)
    return p


def main(argv: list[str] | None = None) -> int:
    from designer.errors import DesignFileError

    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (DesignFileError, CommandError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
