"""The designer in real Chromium on a warm server: time to the first design, and edit latency.

An edit here is a click on a palette chip (insert after the selection), timed from the click to
the moment the cards and the drawing show the server's answer: shapes, parameter counts and
errors of the new design. Each edit makes a design not seen before (the model grows), so no
answer comes from the cache of earlier designs. Target (issue 10): ResNet-18 p50 <= 300 ms,
p95 <= 800 ms; a new session's first design <= 2 s; `make run` to the first design <= 8 s.

    .venv/bin/python bench/bench_ui.py [--edits 25] [--sessions 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_edit import resnet18  # noqa: E402
from bench.streamlit_server import free_port, serve_streamlit  # noqa: E402
from bench.ui_driver import VIEWPORT, browser, click_chip_js, open_design, timed, wait_ready  # noqa: E402
from designer.design import new_design  # noqa: E402


def one_layer() -> dict:
    return new_design("One layer", [64], task={"kind": "regression"}, layers=[{"type": "Linear", "out_features": 8}])


def seed(db: Path) -> None:
    from designer.store import DesignStore

    store = DesignStore(db)
    store.autosave("bench-one", one_layer())
    store.autosave("bench-resnet18", resnet18())
    store.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def edit_latencies(b, url: str, session: str, edits: int) -> list[float]:
    page = open_design(b, url, session)
    timed(page, click_chip_js("Identity"))  # warm-up: first render of this page's palette path
    out = [timed(page, click_chip_js("Identity")) for _ in range(edits)]
    page.close()
    return out


def cold_start(db: Path) -> float:
    """`streamlit run app.py` (what `make run` starts) to the first design in a browser."""
    port = free_port()
    env = {"NETWRIGHT_DB": str(db), "PYTHONPATH": str(ROOT)}
    import os

    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), f"--server.port={port}",
                             "--server.headless=true"], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with browser() as b:
            page = b.new_page()
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/?d=bench-one", timeout=2000)
                    break
                except Exception:
                    if time.monotonic() - t0 > 90:
                        raise
                    time.sleep(0.2)
            wait_ready(page)
            return time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=25)
    ap.add_argument("--sessions", type=int, default=5)
    args = ap.parse_args()
    db = Path(tempfile.mkdtemp()) / "bench.db"
    seed(db)

    cold = cold_start(db)
    with serve_streamlit(ROOT / "app.py", env={"NETWRIGHT_DB": str(db)}) as url, browser() as b:
        open_design(b, url, "bench-resnet18").close()  # warm the server: imports, catalogue
        firsts, tabs = [], []
        for _ in range(args.sessions):  # a new browser each time: nothing cached
            t0 = time.monotonic()
            page = open_design(b, url, "bench-one")
            firsts.append(time.monotonic() - t0)
            page.close()
        context = b.new_context(viewport=VIEWPORT)  # a new tab of a browser that has been here before
        context.new_page().goto(f"{url}/?d=bench-one")
        for _ in range(args.sessions):
            page = context.new_page()
            t0 = time.monotonic()
            page.goto(f"{url}/?d=bench-one")
            wait_ready(page)
            tabs.append(time.monotonic() - t0)
            page.close()
        context.close()
        small = edit_latencies(b, url, "bench-one", args.edits)
        big = edit_latencies(b, url, "bench-resnet18", args.edits)

    print(f"start, streamlit run -> first design:        {cold:6.2f} s   (target <= 8 s)")
    print(f"new session on a warm server -> first design (target <= 2 s), over {len(firsts)} each:")
    print(f"  new tab, browser cache warm:   median {statistics.median(tabs):.2f} s, max {max(tabs):.2f} s")
    print(f"  fresh browser, nothing cached: median {statistics.median(firsts):.2f} s, max {max(firsts):.2f} s")
    print(f"edit -> confirmed cards + drawing, {args.edits} inserts each:")
    for name, values in (("one layer", small), ("ResNet-18 (11.7M params)", big)):
        print(f"  {name:26s} p50 {statistics.median(values):6.0f} ms   p95 {pct(values, 0.95):6.0f} ms")
    print(f"  ratio ResNet-18 / one layer: p50 {statistics.median(big) / statistics.median(small):.2f}, "
          f"p95 {pct(big, 0.95) / pct(small, 0.95):.2f}   (targets: ResNet-18 p50 <= 300 ms, p95 <= 800 ms)")


if __name__ == "__main__":
    main()
