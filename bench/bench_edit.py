"""One edit-and-rerun of the page: a ResNet-18-size design against a near-empty one.

Each measurement applies one parameter edit (as the inspector does) and reruns the whole page
with Streamlit's AppTest, so analysis, drawing, code and the editor payload are all redone for
the new design. Target: the big one under about 3x the small one (work is cached by the
design's content and only changed layers are re-analysed).

    .venv/bin/python bench/bench_edit.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NETWRIGHT_DB", str(Path(tempfile.mkdtemp()) / "bench.db"))

from streamlit.testing.v1 import AppTest  # noqa: E402

from components import state as S  # noqa: E402
from designer.design import new_design  # noqa: E402


def basic_block(channels: int, stride: int, project: bool) -> dict:
    body = [
        {"type": "Conv2d", "out_channels": channels, "kernel_size": 3, "stride": stride, "padding": 1, "bias": False},
        {"type": "BatchNorm2d"},
        {"type": "ReLU"},
        {"type": "Conv2d", "out_channels": channels, "kernel_size": 3, "padding": 1, "bias": False},
        {"type": "BatchNorm2d"},
    ]
    shortcut = []
    if project:
        shortcut = [{"type": "Conv2d", "out_channels": channels, "kernel_size": 1, "stride": stride, "bias": False},
                    {"type": "BatchNorm2d"}]
    return {"type": "Residual", "body": body, "shortcut": shortcut}


def resnet18() -> dict:
    layers = [
        {"type": "Conv2d", "out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3, "bias": False},
        {"type": "BatchNorm2d"}, {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 3, "stride": 2, "padding": 1},
    ]
    for i, channels in enumerate((64, 128, 256, 512)):
        for j in range(2):
            stride = 2 if i > 0 and j == 0 else 1
            layers += [basic_block(channels, stride, project=stride != 1), {"type": "ReLU"}]
    layers += [{"type": "AdaptiveAvgPool2d", "output_size": 1}, {"type": "Flatten"}, {"type": "Linear", "out_features": 1000}]
    return new_design("ResNet-18", [3, 224, 224], task={"kind": "classification", "num_classes": 1000}, layers=layers)


def tiny() -> dict:
    return new_design("Tiny", [16], task={"kind": "classification", "num_classes": 2},
                      layers=[{"type": "Linear", "out_features": 2}])


def edit_times(design: dict, path: str, key: str, values: list[int], repeats: int) -> list[float]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    S.init_state(at.session_state, design)
    at.session_state[S.SELECTED] = path
    at.run()
    times = []
    for k in range(repeats):
        S.do_action(at.session_state, {"op": "set", "path": path, "key": key, "value": values[k % len(values)]})
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    return times


def main() -> None:
    big, small = resnet18(), tiny()
    a = S.analysis_of(big)
    assert a.valid and 11_000_000 < a.params < 12_500_000, a.params
    repeats = 5
    big_t, small_t = [], []
    for _ in range(2):  # alternate the two to share the machine's noise
        big_t += edit_times(big, f"layers[{len(big['layers']) - 1}]", "out_features", [999, 998, 997, 996, 995], repeats)
        small_t += edit_times(small, "layers[0]", "out_features", [3, 4, 5, 6, 7], repeats)
    b, s = statistics.median(big_t), statistics.median(small_t)
    print(json.dumps({"resnet18_params": a.params, "resnet18_edit_rerun_s": round(b, 3),
                      "tiny_edit_rerun_s": round(s, 3), "ratio": round(b / s, 2), "target": "< 3"}, indent=2))


if __name__ == "__main__":
    main()
