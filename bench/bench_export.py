"""Exported code against the same network written by hand: forward + backward time, as a ratio.

The exported model is model.py generated from the ResNet-style template
(assets/templates/resnet_small.json, or the same design written below when the template is
missing or has changed), executed as text. The hand-written one is the usual torchvision-style
BasicBlock ResNet in plain PyTorch. Both get the same weights, are checked to give the same
outputs, then alternate (who goes first alternates too) on the same batch, single-threaded on
the CPU; the ratio is the median of the per-repeat ratios. Target: exported / hand = 1.00 +- 0.05.
The same ratio from process CPU time is printed too: it barely moves when other programs load
the machine.

    python bench/bench_export.py [--repeats 25] [--steps 2] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere

from designer import analyze, load_design, new_design  # noqa: E402
from designer.codegen import generate_model_py  # noqa: E402

TEMPLATE = ROOT / "assets" / "templates" / "resnet_small.json"


def _conv(out: int, k: int, stride: int = 1) -> dict:
    node = {"type": "Conv2d", "out_channels": out, "kernel_size": k, "bias": False}
    if k == 3:
        node["padding"] = 1
    if stride != 1:
        node["stride"] = stride
    return node


def _block(out: int, stride: int, project: bool) -> list[dict]:
    bn = {"type": "BatchNorm2d"}
    body = [_conv(out, 3, stride), bn, {"type": "ReLU"}, _conv(out, 3), bn]
    shortcut = [_conv(out, 1, stride), bn] if project else []
    return [{"type": "Residual", "body": body, "shortcut": shortcut}, {"type": "ReLU"}]


def fallback_design() -> dict:
    """The ResNet-style template as it stands, in case the file is missing or changes."""
    layers = [_conv(16, 3), {"type": "BatchNorm2d"}, {"type": "ReLU"}]
    for out, stride, project in ((16, 1, False), (32, 2, True), (32, 1, False), (64, 2, True), (64, 1, False)):
        layers += _block(out, stride, project)
    layers += [{"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"},
               {"type": "Linear", "out_features": 10}]
    return new_design("Small ResNet", [3, 32, 32], task={"kind": "classification", "num_classes": 10}, layers=layers)


# --- the same network, by hand ------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class HandResNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layers = nn.Sequential(
            BasicBlock(16, 16), BasicBlock(16, 32, 2), BasicBlock(32, 32), BasicBlock(32, 64, 2), BasicBlock(64, 64),
        )
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 16, 32, 32)
        x = self.layers(x)  # (B, 64, 8, 8)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (B, 64)
        return self.fc(x)


# --- measuring ---------------------------------------------------------------------------------------------


def exported_model(design: dict) -> nn.Module:
    namespace: dict = {"__name__": "exported_model"}
    exec(compile(generate_model_py(design), "model.py", "exec"), namespace)  # noqa: S102 - our generated code
    return namespace["Model"]()


def copy_weights(source: nn.Module, target: nn.Module) -> bool:
    """Copies the state in order; False when the two networks' tensors do not line up."""
    src, dst = list(source.state_dict().values()), target.state_dict()
    if len(src) != len(dst) or any(a.shape != b.shape for a, b in zip(src, dst.values(), strict=True)):
        return False
    target.load_state_dict(dict(zip(dst.keys(), src, strict=True)))
    return True


def step_times(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> tuple[float, float]:
    """(wall-clock, CPU) seconds per forward + backward step, averaged over `steps`."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--steps", type=int, default=2, help="steps per timed run")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    design, source = fallback_design(), "inline copy"
    if TEMPLATE.exists():
        design, source = load_design(TEMPLATE), TEMPLATE.relative_to(ROOT)
    exported, hand = exported_model(design), HandResNet()
    if not copy_weights(exported, hand):
        print(f"note: {source} no longer matches the hand-written ResNet; using the inline copy")
        design, source = fallback_design(), "inline copy"
        exported = exported_model(design)
        assert copy_weights(exported, hand), "the inline design and HandResNet disagree"
    params = analyze(design).params
    assert params == sum(p.numel() for p in hand.parameters())

    x = torch.randn(args.batch_size, *design["input"]["shape"])
    y = torch.randint(0, 10, (args.batch_size,))
    with torch.no_grad():
        same = torch.allclose(exported.eval()(x), hand.eval()(x), atol=1e-5)
    assert same, "the exported and hand-written networks give different outputs"
    exported.train(), hand.train()
    for model in (exported, hand):  # warm-up
        step_times(model, x, y, 1)

    results: dict[str, list[tuple[float, float]]] = {"exported": [], "hand": []}
    for r in range(args.repeats):
        order = ("exported", "hand") if r % 2 == 0 else ("hand", "exported")
        for name in order:
            results[name].append(step_times(exported if name == "exported" else hand, x, y, args.steps))

    wall = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
    # Each repeat times the two back to back, so the median of the per-repeat ratios cancels slow drifts in load.
    pairs = list(zip(results["exported"], results["hand"], strict=True))
    ratio = statistics.median(e[0] / h[0] for e, h in pairs)
    cpu_ratio = statistics.median(e[1] / h[1] for e, h in pairs)
    print(f"design: {source} ({params:,} parameters), batch {args.batch_size} x {tuple(x.shape[1:])}, "
          f"1 thread, {args.repeats} x {args.steps} forward+backward steps each")
    print(f"exported model.py: {wall['exported'] * 1e3:8.2f} ms/step (CPU {cpu['exported'] * 1e3:.2f})")
    print(f"hand-written:      {wall['hand'] * 1e3:8.2f} ms/step (CPU {cpu['hand'] * 1e3:.2f})")
    verdict = "ok" if abs(ratio - 1) <= 0.05 else "OUTSIDE 1.00 +- 0.05"
    if wall["hand"] > 1.5 * cpu["hand"]:
        print("note: wall-clock time is well above CPU time, so other programs load this machine; "
              "cpu_ratio is the steadier measure")
    print(json.dumps({"bench": "export", "ratio": round(ratio, 4), "cpu_ratio": round(cpu_ratio, 4),
                      "exported_ms": round(wall["exported"] * 1e3, 3), "hand_ms": round(wall["hand"] * 1e3, 3),
                      "target": "1.00 +- 0.05", "verdict": verdict}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
