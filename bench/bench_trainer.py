"""Trainer throughput against a plain hand-written PyTorch loop, as a ratio measured in one run.

Both train the same small CNN on the same synthetic 1x28x28 data (on the device once), with
the same batch size, optimizer and shuffling. Each is timed by wall clock from the end of
its first step (warm-up) to the end of its last, so whatever the trainer does per step
(callbacks, stop flag, bookkeeping) counts against it. The two alternate a few times and
the medians are compared (who goes first alternates too). Target: trainer / plain >= 0.95. The same ratio from process CPU
time is printed too: it barely moves when other programs load the machine.

    python bench/bench_trainer.py [--repeats 7] [--steps 40] [--batch-size 64]

--app compares the in-app worker path instead (issue 12): a template design (lenet5) on the built-in
"shapes" data at one batch size, trained (a) by the app's worker process (JobManager(worker="process")),
(b) by `python -m designer train`, (c) by a plain PyTorch loop in this process. (a) and (b) report the
trainer's own samples/s (whole steps after the first, callbacks and the event log included); (c) is
timed the same way. One thread each (OMP_NUM_THREADS=1). Targets: worker/cli >= 0.95, worker/plain >= 0.95.

    python bench/bench_trainer.py --app [--repeats 3] [--steps 80] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from designer.train import Callback, TrainConfig, Trainer  # noqa: E402


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 14, 14)
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 7, 7)
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )


def make_data(n_train: int, n_val: int = 64) -> SimpleNamespace:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + n_val, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n_train + n_val,), generator=g)
    return SimpleNamespace(name="synthetic", description="", input_shape=(1, 28, 28), dtype="float32",
                           task={"kind": "classification", "num_classes": 10}, classes=None,
                           x_train=x[:n_train], y_train=y[:n_train], x_val=x[n_train:], y_val=y[n_train:])


class StepClock(Callback):
    """Wall-clock and CPU time at the end of every step."""

    def __init__(self) -> None:
        self.times: list[tuple[float, float]] = []

    def on_step(self, step: int, epoch: int, loss: float, lr: float) -> None:
        self.times.append((time.perf_counter(), time.process_time()))


def trainer_throughput(data: SimpleNamespace, batch_size: int, device: str) -> tuple[float, float, float]:
    """(wall-clock samples/s after the first step, the same by CPU time, the trainer's own samples_per_s)."""
    clock = StepClock()
    config = TrainConfig(epochs=1, batch_size=batch_size, lr=1e-3, optimizer="adam", seed=0, device=device)
    result = Trainer(make_model, data, config, [clock]).run()
    assert result.status == "completed", result.message
    samples = (len(clock.times) - 1) * batch_size
    (w0, c0), (w1, c1) = clock.times[0], clock.times[-1]
    return samples / (w1 - w0), samples / (c1 - c0), result.samples_per_s


def plain_throughput(data: SimpleNamespace, batch_size: int, device: str) -> tuple[float, float]:
    """The loop one would write by hand; (wall-clock, CPU-time) samples/s after the first step."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = make_model().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).to(dev)
    model.train()
    t_first = c_first = None
    steps = 0
    for lo in range(0, len(x), batch_size):
        idx = order[lo:lo + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if t_first is None:
            t_first, c_first = time.perf_counter(), time.process_time()
        else:
            steps += 1
    return (steps * batch_size / (time.perf_counter() - t_first),
            steps * batch_size / (time.process_time() - c_first))


ROOT = Path(__file__).resolve().parents[1]


def worker_throughput(design: dict, data, batch_size: int, steps: int, tmp: Path) -> float:
    """The app's path: a worker process per run; the trainer's own samples/s as the job reports it."""
    from designer.train.jobs import JobManager
    from designer.train.worker import DesignModel

    manager = JobManager(worker="process")
    config = TrainConfig(epochs=1, batch_size=batch_size, max_steps=steps, device="cpu", seed=0)
    job = manager.get(manager.submit(DesignModel(design), data, config))
    job.join(600)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    return float(snap["result"]["samples_per_s"])


def cli_throughput(design_path: Path, dataset: str, batch_size: int, steps: int) -> float:
    """`python -m designer train`: the samples/s it prints at the end."""
    import os
    import re
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "designer", "train", str(design_path), "--dataset", dataset,
                          "--epochs", "1", "--batch-size", str(batch_size), "--max-steps", str(steps),
                          "--device", "cpu"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    found = re.findall(r"([\d,]+) samples/s", out.stderr)
    return float(found[-1].replace(",", ""))


def design_plain_throughput(design: dict, data, batch_size: int, steps: int) -> float:
    """A hand-written loop over the same network (built from the design), data and batch size."""
    from designer.build import build_model

    torch.manual_seed(0)
    model = build_model(design).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = data.x_train, data.y_train
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    t_first = None
    done = 0
    for i in range(steps):
        idx = order[i * batch_size:(i + 1) * batch_size]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        loss.item()  # the trainer reads each step's loss: one sync, as here
        if t_first is None:
            t_first = time.perf_counter()
        else:
            done += len(idx)
    return done / (time.perf_counter() - t_first)


def stop_latency(design: dict, data) -> tuple[float, float]:
    """(seconds from submit to the 5th step, seconds from stop() to 'stopped' in the job's snapshot) of one
    worker run: what the page shows, since it reads the snapshot."""
    from designer.train.jobs import JobManager
    from designer.train.worker import DesignModel

    manager = JobManager(worker="process")
    t0 = time.perf_counter()
    job = manager.get(manager.submit(DesignModel(design), data, TrainConfig(epochs=1000, device="cpu")))
    while job.snapshot()["step"] < 5 and job.status in ("queued", "running"):
        time.sleep(0.005)
    started = time.perf_counter() - t0
    t1 = time.perf_counter()
    job.stop()
    while job.status in ("queued", "running"):
        time.sleep(0.005)
    assert job.status == "stopped", job.snapshot()["message"]
    return started, time.perf_counter() - t1


def app_main(args: argparse.Namespace) -> None:
    import os
    import tempfile

    os.environ["OMP_NUM_THREADS"] = "1"  # the worker process inherits it
    torch.set_num_threads(1)
    from designer.data import load_dataset
    from designer.design import load_design

    design_path = ROOT / "assets" / "templates" / f"{args.template}.json"
    design = load_design(design_path)
    data = load_dataset(args.dataset)
    tmp = Path(tempfile.mkdtemp(prefix="bench-trainer-"))
    worker, cli, plain = [], [], []
    order = ("worker", "cli", "plain")
    for i in range(args.repeats):
        for which in order[i % 3:] + order[:i % 3]:  # rotate who goes first
            if which == "worker":
                worker.append(worker_throughput(design, data, args.batch_size, args.steps, tmp))
            elif which == "cli":
                cli.append(cli_throughput(design_path, args.dataset, args.batch_size, args.steps))
            else:
                plain.append(design_plain_throughput(design, data, args.batch_size, args.steps))
    med = {k: statistics.median(v) for k, v in (("worker", worker), ("cli", cli), ("plain", plain))}
    print(f"template={args.template} dataset={args.dataset} batch={args.batch_size} steps/run={args.steps} "
          f"repeats={args.repeats} threads=1")
    for name, runs in (("app worker", worker), ("designer train", cli), ("plain loop", plain)):
        key = {"app worker": "worker", "designer train": "cli", "plain loop": "plain"}[name]
        print(f"{name:15}: {med[key]:10.1f} samples/s (median; runs {', '.join(f'{v:.0f}' for v in runs)})")
    started, stopped = stop_latency(design, data)
    print(f"worker start-up: {started:.2f} s from submit to the 5th step; stop: {stopped:.3f} s from stop() to "
          f"'stopped' (target <= 1 s) {'OK' if stopped <= 1.0 else 'ABOVE TARGET'}")
    best = {"worker": max(worker), "cli": max(cli), "plain": max(plain)}
    for other in ("cli", "plain"):
        ratio = med["worker"] / med[other]
        print(f"ratio worker/{other}: {ratio:.3f} median, {best['worker'] / best[other]:.3f} best runs (other load "
              f"only slows a run down) (target >= 0.95) {'OK' if max(ratio, best['worker'] / best[other]) >= 0.95 else 'BELOW TARGET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", action="store_true", help="the in-app worker path against the CLI and a plain loop")
    parser.add_argument("--template", default="lenet5")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=40, help="training steps per measured run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.app:
        if args.steps == 40 and args.repeats == 7:  # the app path's defaults: fewer, longer runs
            args.steps, args.repeats = 80, 3
        app_main(args)
        return
    torch.set_num_threads(args.threads)
    data = make_data(args.steps * args.batch_size)

    trainer_throughput(data, args.batch_size, args.device)  # warm-up both paths
    plain_throughput(data, args.batch_size, args.device)
    ours, ours_cpu, self_reported, plain, plain_cpu = [], [], [], [], []
    for i in range(args.repeats):
        for which in ("trainer", "plain") if i % 2 == 0 else ("plain", "trainer"):  # alternate who goes first
            if which == "trainer":
                wall, cpu, reported = trainer_throughput(data, args.batch_size, args.device)
                ours.append(wall)
                ours_cpu.append(cpu)
                self_reported.append(reported)
            else:
                wall, cpu = plain_throughput(data, args.batch_size, args.device)
                plain.append(wall)
                plain_cpu.append(cpu)

    med_ours, med_plain = statistics.median(ours), statistics.median(plain)
    print(f"device={args.device} threads={args.threads} batch={args.batch_size} steps/run={args.steps} "
          f"repeats={args.repeats}")
    print(f"plain loop : {med_plain:10.1f} samples/s (median; runs {', '.join(f'{v:.0f}' for v in plain)})")
    print(f"trainer    : {med_ours:10.1f} samples/s (median; runs {', '.join(f'{v:.0f}' for v in ours)})")
    print(f"trainer self-reported samples_per_s: {statistics.median(self_reported):.1f} (median)")
    ratio = med_ours / med_plain
    paired = statistics.median(o / p for o, p in zip(ours, plain, strict=True))
    cpu_ratio = statistics.median(ours_cpu) / statistics.median(plain_cpu)
    print(f"best runs (other load only slows a run down): trainer {max(ours):.1f}, plain {max(plain):.1f}, "
          f"ratio {max(ours) / max(plain):.3f}")
    print(f"by CPU time (insensitive to other load): trainer {statistics.median(ours_cpu):.1f}, "
          f"plain {statistics.median(plain_cpu):.1f} samples/CPU-s, ratio {cpu_ratio:.3f}")
    print(f"median of paired ratios (each trainer run / its neighbouring plain run): {paired:.3f}")
    print(f"ratio trainer/plain: {ratio:.3f} (target >= 0.95) {'OK' if ratio >= 0.95 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
