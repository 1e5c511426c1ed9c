"""`python -m designer train`: trains a design as the app does, with a progress bar and a JSONL log."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from designer.train.callbacks import Callback, RunResult


class ProgressBar(Callback):
    """A one-line progress bar on a terminal (plain lines per epoch when not a terminal)."""

    def __init__(self, stream=sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.total = 0
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.last_draw = 0.0

    def on_start(self, info: dict[str, Any]) -> None:
        self.total = info["total_steps"]
        self.t0 = time.perf_counter()
        print(f"training on {info['device']}: {info['params']:,} parameters, {info['train_size']:,} samples, "
              f"{self.total:,} steps", file=self.stream)

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        now = time.perf_counter()
        if not self.tty or (now - self.last_draw < 0.1 and step < self.total):
            return
        self.last_draw = now
        frac = step / max(self.total, 1)
        filled = int(frac * self.width)
        rate = step / max(now - self.t0, 1e-9)
        left = (self.total - step) / rate if rate else 0
        bar = "█" * filled + "·" * (self.width - filled)
        self.stream.write(f"\r{bar} {step}/{self.total} epoch {epoch} loss {loss:.4f} · {left:.0f}s left ")
        self.stream.flush()

    def on_epoch(self, epoch, train_loss, val_loss, val_accuracy, val_mae) -> None:
        end = "\n" if self.tty else ""
        acc = f" val_acc {val_accuracy:.3f}" if val_accuracy is not None else ""
        mae = f" val_mae {val_mae:.4f}" if val_mae is not None else ""
        val = f" val_loss {val_loss:.4f}" if val_loss is not None else ""
        print(f"{end}epoch {epoch}: train_loss {train_loss:.4f}{val}{acc}{mae}", file=self.stream)

    def on_end(self, result: RunResult) -> None:
        if self.tty:
            self.stream.write("\n")
        print(f"{result.status}: {result.message}".rstrip(": "), file=self.stream)


def load_data(name: str, seed: int):
    """A built-in dataset by name, or the user's .npz / .csv file."""
    from designer.data import dataset_from_upload, load_dataset

    path = Path(name)
    if path.suffix.lower() in (".npz", ".csv", ".zip"):
        return dataset_from_upload(path, path.name, seed=seed)
    return load_dataset(name, seed=seed)


def train_command(args: argparse.Namespace, design: dict) -> int:
    from designer.analysis import analyze
    from designer.build import build_model
    from designer.cli_checks import output_file, output_folder, seed_value
    from designer.data import DataError, check_design_against_data
    from designer.train import ConfigError, JsonlLogger, Trainer
    from designer.train.config import config_from_args

    analysis = analyze(design)
    if not analysis.valid:
        for e in analysis.errors:
            print(f"{e.path}: {e.message}" + (f" (fix: {e.fix})" if e.fix else ""), file=sys.stderr)
        return 1
    # Options are checked before any data is read or any weight is made (one line, exit 2).
    args.seed = seed_value(str(args.seed))  # a one-line refusal (exit 2) before anything is read
    log_path = output_file(args.log, "--log") if args.log is not None else None
    if args.checkpoint_dir is not None:
        output_folder(args.checkpoint_dir)
    try:
        dataset = load_data(args.dataset, args.seed)
        config = config_from_args(args)
    except (DataError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = check_design_against_data(analysis.input_shape, analysis.input_dtype, design.get("task"),
                                         analysis.output_shape, dataset)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    callbacks: list[Callback] = [ProgressBar()]
    if log_path is not None:
        try:
            log_file = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - the logger closes it at the end
        except OSError as exc:
            print(f"error: --log {args.log}: cannot write ({exc.strerror or exc})", file=sys.stderr)
            return 2
        callbacks.append(JsonlLogger(log_file))
    try:
        from designer.layer_stats import layer_table

        table = layer_table(design) if config.stats_every else None
        result = Trainer(lambda: build_model(design, analysis), dataset, config, callbacks, layer_table=table).run()
    finally:
        if log_path is not None:
            log_file.close()
    if result.samples_per_s:
        print(f"{result.samples_per_s:,.0f} samples/s", file=sys.stderr)
    return 0 if result.status in ("completed", "stopped") else 1
