"""Analysis of a 6.7-billion-parameter transformer design: time and peak memory.

Baseline, measured in the same run: the same network built by hand in plain PyTorch on the
`meta` device and run forward once (what torchinfo-style tools must at least do). Prints our
analysis time, the baseline's, their ratio, and the peak RSS growth of each against the
26.8 GB that the weights would take as float32.

    .venv/bin/python bench/bench_analysis.py
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from designer.analysis import _run_leaf, analyze  # noqa: E402
from designer.design import load_design  # noqa: E402

DESIGN = ROOT / "bench" / "designs" / "transformer_6b.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_meta_baseline(design: dict) -> float:
    """Hand-written: the same stack on meta, one forward; returns seconds."""
    layers = design["layers"]
    emb, repeat, head = layers[0], layers[2], layers[-1]
    enc = repeat["body"][0]
    t0 = time.perf_counter()
    with torch.device("meta"):
        d = emb["embedding_dim"]
        model = nn.Sequential(
            nn.Embedding(emb["num_embeddings"], d),
            *[nn.TransformerEncoderLayer(d, enc["nhead"], enc.get("dim_feedforward", 2048), batch_first=True)
              for _ in range(repeat["times"])],
            nn.Linear(d, head["out_features"]),
        ).eval()
        x = torch.zeros((1, *design["input"]["shape"]), dtype=torch.long)
        with torch.no_grad():
            model(x)
    params = sum(p.numel() for p in model.parameters())
    assert params > 6e9, params
    return time.perf_counter() - t0


def fresh_process_s(args: list[str], runs: int = 3) -> float:
    """Median wall time of a new Python process running `args` (interpreter start-up included)."""
    import subprocess

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    # A user's first number: `python -m designer summary` in a new process, against the floor any
    # PyTorch tool pays (a bare `import torch`), measured alternately in this run.
    cli_s = fresh_process_s(["-m", "designer", "summary", str(DESIGN)])
    torch_s = fresh_process_s(["-c", "import torch"])
    design = load_design(DESIGN)
    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    analysis = analyze(design)  # first in the process: includes loading the catalogue and torch's lazy set-up
    first = time.perf_counter() - t0
    rss1 = peak_rss_mb()
    assert analysis.valid, analysis.errors[:3]
    plain_meta_baseline(design)  # warm the baseline too
    ours, base = [], []
    for _ in range(3):  # alternate, with the layer cache cleared: every layer is run on meta again
        _run_leaf.cache_clear()
        t0 = time.perf_counter()
        again = analyze(design)
        ours.append(time.perf_counter() - t0)
        base.append(plain_meta_baseline(design))
    ours_s, base_s = sorted(ours)[1], sorted(base)[1]
    rss2 = peak_rss_mb()
    weights_gb = analysis.params * 4 / 1e9
    print(json.dumps({
        "design": DESIGN.name,
        "params": analysis.params,
        "flops_per_sample": analysis.flops,
        "fresh_process_summary_s_median": round(cli_s, 3),
        "fresh_process_import_torch_s_median": round(torch_s, 3),
        "ratio_summary_vs_import_torch": round(cli_s / torch_s, 2),
        "first_analysis_in_process_s": round(first, 3),
        "analysis_s_median": round(ours_s, 3),
        "plain_meta_build_forward_s_median": round(base_s, 3),
        "ratio_analysis_vs_plain": round(ours_s / base_s, 2),
        "peak_rss_growth_analysis_mb": round(rss1 - rss0, 1),
        "peak_rss_total_mb": round(rss2, 1),
        "weights_as_float32_gb": round(weights_gb, 1),
    }, indent=2))
    assert again.params == analysis.params


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
