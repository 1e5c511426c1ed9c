"""`python -m designer lr-find` and `overfit`: the two quick checks of designer.probes on the command line.

lr-find DESIGN --dataset NAME [--json]: the LR range test on the dataset's training split; prints the
suggested lr (with --json `{"suggested_lr", "lrs", "losses"}`).
overfit DESIGN [--dataset NAME] [--steps N] [--json]: trains on one batch (the dataset's first one, or a
synthetic batch that fits the design) and says whether the loss reaches near zero, and if not why.

Exit codes as for `summary`: 0 fine; 1 the design has errors (printed), the data does not fit it, or
(overfit) the batch was not memorised; 2 unreadable input or bad usage (one line, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from designer.train.probe_job import OVERFIT_BATCH, OVERFIT_STEPS  # torch-free, as the app runs it

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2

LR_FIND_STEPS = 200  # "a few hundred" (design-format.md); the app runs a shorter test (probe_job.LR_FIND_STEPS)


def add_lr_find_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("--dataset", required=True, help="a name from `datasets`, or a .npz/.csv file")
    s.add_argument("--json", action="store_true", help='print {"suggested_lr", "lrs", "losses"}')
    s.add_argument("--steps", type=int, default=LR_FIND_STEPS, help="optimizer steps of the test (at least 10)")
    s.add_argument("--batch-size", type=int, default=32, help="samples per step")
    s.add_argument("--start-lr", type=float, default=1e-6, help="the lr of the first step")
    s.add_argument("--end-lr", type=float, default=1.0, help="the lr of the last step")
    s.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    s.add_argument("--seed", default="0", help="seed of the data, the weights and the batch order")


def add_overfit_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("--dataset", help="take the dataset's first batch (default: a synthetic batch that fits the design)")
    s.add_argument("--steps", type=int, default=OVERFIT_STEPS, help="at most this many optimizer steps")
    s.add_argument("--batch-size", type=int, default=OVERFIT_BATCH, help="samples in the batch")
    s.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate")
    s.add_argument("--seed", default="0", help="seed of the data and the weights")
    s.add_argument("--json", action="store_true", help="print the verdict as one JSON object")


def _checked(design: dict, dataset_name: str | None, seed: int) -> tuple[int, Any]:
    """(exit code, dataset): the design's errors (1), an unreadable dataset (2) or data that does not fit (1)."""
    from designer.analysis import analyze

    analysis = analyze(design)
    if not analysis.valid:
        for e in analysis.errors:
            print(f"{e.path}: {e.message}" + (f" (fix: {e.fix})" if e.fix else ""), file=sys.stderr)
        return EXIT_INVALID, None
    if dataset_name is None:
        return EXIT_OK, None
    from designer.cli_train import load_data
    from designer.data import DataError, check_design_against_data

    try:
        dataset = load_data(dataset_name, seed)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE, None
    problems = check_design_against_data(analysis.input_shape, analysis.input_dtype, design.get("task"),
                                         analysis.output_shape, dataset)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return EXIT_INVALID, None
    return EXIT_OK, dataset


def _positive(value: int | float, option: str) -> None:
    from designer.cli_checks import CommandError

    if not value > 0:
        raise CommandError(f"{option} must be above 0; received {value}")


def lr_find_command(args: argparse.Namespace, design: dict) -> int:
    from designer.cli_checks import CommandError, seed_value

    seed = seed_value(str(args.seed))
    if args.steps < 10:
        raise CommandError(f"--steps must be at least 10; received {args.steps}")
    _positive(args.batch_size, "--batch-size")
    if not 0 < args.start_lr < args.end_lr:
        raise CommandError(f"--start-lr and --end-lr need 0 < start < end; received {args.start_lr:g} and {args.end_lr:g}")
    code, dataset = _checked(design, args.dataset, seed)
    if code != EXIT_OK:
        return code
    from designer.probes import lr_find

    try:
        result = lr_find(design, dataset.x_train, dataset.y_train, steps=args.steps, batch_size=args.batch_size,
                         start_lr=args.start_lr, end_lr=args.end_lr, optimizer=args.optimizer, seed=seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(result))
    else:
        print(f"suggested lr: {result['suggested_lr']:.2g} (the loss was lowest at lr {result['suggested_lr'] * 10:.2g}, "
              f"{len(result['lrs'])} steps from {args.start_lr:g})")
    return EXIT_OK


def overfit_verdict(result: dict) -> tuple[bool, str, list[str]]:
    """(passed, headline, likely causes) of an overfit_one_batch result: the words of the command and the page."""
    first, last = result["initial_loss"], result["final_loss"]
    moved = f"loss {first:.3g} → {last:.3g}" if first is not None and last is not None else "the loss was not finite"
    if result["passed"]:
        return True, f"{moved} in {result['steps']} steps: model, loss and data are wired right", []
    return False, (f"{moved} in {result['steps']} steps: a batch of {result['batch_size']} samples was not "
                   "memorised. Likely causes:"), list(result["causes"])


def overfit_text(result: dict) -> str:
    """The verdict as printed: the headline, then the causes one per line."""
    _, headline, causes = overfit_verdict(result)
    return "\n".join([headline] + [f"  - {c}" for c in causes])


def overfit_command(args: argparse.Namespace, design: dict) -> int:
    from designer.cli_checks import seed_value

    seed = seed_value(str(args.seed))
    _positive(args.steps, "--steps")
    _positive(args.batch_size, "--batch-size")
    _positive(args.lr, "--lr")
    code, dataset = _checked(design, args.dataset, seed)
    if code != EXIT_OK:
        return code
    from designer.probes import overfit_one_batch

    batch = (dataset.x_train[:args.batch_size], dataset.y_train[:args.batch_size]) if dataset is not None else None
    result = overfit_one_batch(design, batch, batch_size=args.batch_size, max_steps=args.steps, lr=args.lr, seed=seed)
    print(json.dumps(result) if args.json else overfit_text(result))
    return EXIT_OK if result["passed"] else EXIT_INVALID
