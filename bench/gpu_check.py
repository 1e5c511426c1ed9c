"""GPU check: the app's trainer on CUDA in fp32, bf16 autocast and bf16 + torch.compile.

Trains two templates for a fixed number of steps in each mode, through the same path as the
app (designer.build.build_model, designer.training.Trainer and TrainConfig):

- assets/templates/resnet_small.json on the built-in `shapes-rgb` dataset,
- assets/templates/transformer_classifier.json on `tokens`,

and prints, for each mode, the training throughput (samples/s from the end of the warm-up
steps to the end of the last, so compilation is left out; the trainer's own figure beside
it), the ratio to fp32, the time to the end of the first step (compilation included), the
loss of the first and last steps (mean of a few) and the validation accuracy at the end, to
show that each mode learns. The training set is the dataset's, repeated so that one epoch
holds all the steps (no validation pass between them), cut to whole batches; validation runs
once at the end on whole batches (so torch.compile sees no new shapes).

    python bench/gpu_check.py [--steps 150] [--batch-size 256] [--warmup 10]
    python bench/gpu_check.py --device cpu --steps 6 --batch-size 16   # the script itself

About two minutes on an H200 (most of it compiling). Without a CUDA GPU it says so and
exits with code 0; it exits 1 when a run fails or does not learn. `--device cpu` runs the
same on the CPU (bf16 then trains in fp32, as the trainer notes) to check the script.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from designer import build_model, load_design  # noqa: E402
from designer.datasets import Dataset, load_dataset  # noqa: E402
from designer.training import Callback, RunResult, TrainConfig, Trainer  # noqa: E402

RUNS = (("resnet_small", "shapes-rgb"), ("transformer_classifier", "tokens"))
MODES = (("fp32", "fp32", False), ("bf16", "bf16", False), ("bf16+compile", "bf16", True))


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Clock(Callback):
    """The time at the start and at the end of every step, and every step's loss."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.times: list[float] = []
        self.losses: list[float] = []

    def on_start(self, info: dict) -> None:
        _sync()
        self.start = time.perf_counter()

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self.times.append(time.perf_counter())  # loss is a float: the step has synchronised
        self.losses.append(loss)


def sized(ds: Dataset, steps: int, batch_size: int, max_val: int = 1024) -> Dataset:
    """The dataset with its training set repeated to steps × batch_size samples and its
    validation set cut to whole batches."""
    idx = torch.arange(steps * batch_size) % len(ds.x_train)
    n_val = min(len(ds.x_val), max_val) // batch_size * batch_size or len(ds.x_val)
    return Dataset(ds.name, ds.description, ds.input_shape, ds.dtype, ds.task, ds.x_train[idx],
                   ds.y_train[idx], ds.x_val[:n_val], ds.y_val[:n_val], ds.classes)


def run_mode(design: dict, data: Dataset, precision: str, compile_model: bool, args: argparse.Namespace) -> dict:
    clock = Clock()
    config = TrainConfig(epochs=1, batch_size=args.batch_size, lr=args.lr, optimizer="adamw", device=args.device,
                         precision=precision, compile=compile_model, max_steps=args.steps, seed=0)
    _sync()
    began = time.perf_counter()
    result: RunResult = Trainer(lambda: build_model(design), data, config, [clock]).run()
    wall = time.perf_counter() - began
    times, losses = clock.times, clock.losses
    warm = min(args.warmup, max(len(times) - 2, 0))
    rate = None
    if len(times) - 1 > warm and times[-1] > times[warm]:
        rate = args.batch_size * (len(times) - 1 - warm) / (times[-1] - times[warm])
    k = max(1, min(10, len(losses) // 4))
    return {
        "status": result.status, "message": result.message, "rate": rate, "trainer_rate": result.samples_per_s,
        "first_step_s": times[0] - clock.start if times else None, "wall_s": wall, "steps": len(times),
        "loss_start": statistics.fmean(losses[:k]) if losses else None,
        "loss_end": statistics.fmean(losses[-k:]) if losses else None,
        "val_accuracy": result.val_accuracy, "warnings": result.warnings,
    }


def _num(value: float | None, fmt: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{fmt}}".rjust(width)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150, help="optimizer steps per template and mode")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=10, help="steps left out of the throughput")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="cpu: check the script itself")
    args = parser.parse_args(argv)
    if args.steps < 2 or args.batch_size < 1 or args.warmup < 0:
        parser.error("--steps must be at least 2, --batch-size at least 1, --warmup at least 0")

    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU here (torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
              "nothing to check. Run it on a machine with an NVIDIA GPU.")
        return 0
    if args.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        print(f"{torch.cuda.get_device_name(0)}, {props.total_memory / 2**30:.0f} GiB; torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}; bf16 supported: {torch.cuda.is_bf16_supported()}; TF32 matmul "
              f"{torch.backends.cuda.matmul.allow_tf32}, cuDNN {torch.backends.cudnn.allow_tf32}")
    else:
        print(f"CPU (a check of the script, not of a GPU); torch {torch.__version__}")
    print(f"{args.steps} steps of batch {args.batch_size} per mode; samples/s after {args.warmup} warm-up steps\n")

    failed = False
    started = time.perf_counter()
    for template, dataset in RUNS:
        design = load_design(ROOT / "assets" / "templates" / f"{template}.json")
        data = sized(load_dataset(dataset), args.steps, args.batch_size)
        params = sum(p.numel() for p in build_model(design).parameters())
        print(f"{template} on {dataset}: {params:,} parameters, input {tuple(data.input_shape)} {data.dtype}, "
              f"{len(data.x_val)} validation samples")
        print(f"  {'mode':<13} {'samples/s':>10} {'trainer':>10} {'vs fp32':>8} {'1st step':>9} "
              f"{'loss first':>10} {'loss last':>10} {'val acc':>8} {'wall':>7}")
        base = None
        for label, precision, compile_model in MODES:
            try:
                row = run_mode(design, data, precision, compile_model, args)
            except Exception as exc:  # one broken mode (a compiler missing) must not hide the others
                print(f"  {label:<13} failed: {type(exc).__name__}: {exc}")
                failed = True
                continue
            if label == "fp32":
                base = row["rate"]
            ratio = row["rate"] / base if row["rate"] and base else None
            print(f"  {label:<13} {_num(row['rate'], ',.0f', 10)} {_num(row['trainer_rate'], ',.0f', 10)} "
                  f"{_num(ratio, '.2f', 7)}x {_num(row['first_step_s'], '.1f', 7)} s "
                  f"{_num(row['loss_start'], '.4f', 10)} {_num(row['loss_end'], '.4f', 10)} "
                  f"{_num(row['val_accuracy'], '.3f', 8)} {_num(row['wall_s'], '.1f', 5)} s")
            learned = row["loss_end"] is not None and row["loss_start"] is not None and (
                row["loss_end"] < row["loss_start"])
            if row["status"] != "completed":
                print(f"    ! {row['status']}: {row['message']}")
                failed = True
            else:
                for warning in row["warnings"]:
                    print(f"    note: {warning}")
                if not learned:
                    print("    ! the loss did not go down")
                    failed = True
            if args.device == "cuda":
                torch.cuda.empty_cache()
        print()
    print(f"total {time.perf_counter() - started:.0f} s; {'FAILED' if failed else 'all modes trained and learned'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
