"""Cost of per-layer statistics (designer.layer_stats) on training throughput.

The same training loop on the Small CNN template and the shapes dataset, with the collector
sampling every K steps (K = 1, 10, 50, 100) and without it, measured alternately in one run.
Prints samples per CPU-second and the ratio to the loop without statistics; the default K (the Trainer's
stats_every) is the smallest K whose cost stays within 5 %.

    .venv/bin/python bench/bench_stats.py [--steps N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from designer import build_model  # noqa: E402
from designer.datasets import load_dataset  # noqa: E402
from designer.layer_stats import design_stats  # noqa: E402
from designer.templates import load_template  # noqa: E402


def run(design, data, steps: int, every: int | None, batch: int = 64) -> float:
    torch.manual_seed(0)
    model = build_model(design)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    stats = design_stats(model, design, every) if every else None
    n = len(data.x_train)
    t0 = time.process_time()  # CPU seconds: steadier than wall time on a shared machine
    for step in range(1, steps + 1):
        lo = (step * batch) % (n - batch)
        x, y = data.x_train[lo:lo + batch], data.y_train[lo:lo + batch]
        if stats:
            stats.step(step)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if stats:
            stats.done(step)
    return steps * batch / (time.process_time() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    design, data = load_template("cnn_shapes"), load_dataset("shapes", seed=0)
    run(design, data, 20, None)  # warm-up
    ks = [None, 1, 10, 50, 100]
    speeds: dict = {k: [] for k in ks}
    for _ in range(args.rounds):  # alternate, so that a busy moment hits every K alike
        for k in ks:
            speeds[k].append(run(design, data, args.steps, k))
    base = sorted(speeds[None])[len(speeds[None]) // 2]
    rows = {("none" if k is None else f"every {k}"): round(sorted(v)[len(v) // 2], 1) for k, v in speeds.items()}
    ratios = {f"every {k}": round(sorted(speeds[k])[len(speeds[k]) // 2] / base, 3) for k in ks if k}
    within = [k for k in ks if k and ratios[f"every {k}"] >= 0.95]
    print(json.dumps({"template": "cnn_shapes", "batch": 64, "steps": args.steps, "samples_per_s": rows,
                      "ratio_to_no_stats": ratios, "smallest_k_within_5_percent": within[0] if within else None},
                     indent=2))


if __name__ == "__main__":
    main()
