"""Many sessions at once: a real `streamlit run app.py` server driven by N headless Chromium pages.

Each session opens the app (its own URL session id), loads a template from the sidebar and renames its
design to a name no other session uses, a few times; some sessions also train the signals MLP for one
epoch on the built-in dataset (runs queue: one at a time on the CPU). Measured per session: page ready
(the editor drawn), template load and rename round trips (the edit is applied on the server and the
editor shows it), training time. Checked: no session ever shows another session's design name, the
autosave row of each session holds its own design, no exception box anywhere.

The same server, warmed by one visit that is not counted, serves one session alone, then N at once, once
per browser mode: a fresh browser profile per session (cold caches: every page fetches and compiles the
app's scripts), and tabs of one profile that has opened the app before (a returning user). The printed
ratios are the p95 with N sessions over the p95 with one, in the same mode and run. While the N sessions
run, the CPU time of every process is sampled: the browsers, the server, its training workers and the
harness, each as a share of the machine. The browsers run on the server's cores here, as users' browsers
never do; the shares say how much of the figures is theirs.

    .venv/bin/python bench/bench_load.py --sessions 10 --trainers 2
    .venv/bin/python bench/bench_load.py --sessions 10 --server-arg=--runner.postScriptGC=false

`--server-arg` passes options to `streamlit run`, to compare a server setting within one command. Failed
sessions say at which step they stopped and what the server's autosave for them holds (an edit the
server applied but the page never showed); NETWRIGHT_LOAD_SHOTS=DIR keeps a screenshot of each,

Needs Playwright for Python and a Chromium (/usr/bin/chromium, $CHROMIUM_PATH or on PATH); nothing is
downloaded. tests/test_load.py runs a smaller load through `measure()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.streamlit_server import serve_streamlit  # noqa: E402

MAX_SESSIONS = 20
VIEWPORT = {"width": 1440, "height": 900}  # the screen the app is designed for
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Templates the sessions open (by display name); trainers take the one that fits a built-in dataset quickly.
EDIT_TEMPLATES = ["LeNet-5", "Small CNN (shapes)", "LSTM classifier (sequences)", "Small ResNet", "Inception block",
                  "Transformer classifier (tokens)", "BiGRU tagger", "CRNN text-line reader", "Small U-Net"]
TRAIN_TEMPLATE = "MLP forecaster (signals)"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def serve_app(home: Path, timeout: float = 120.0, extra_args: tuple[str, ...] = ()) -> contextlib.AbstractContextManager[str]:
    """`streamlit run app.py` on a free localhost port with its own database under `home`; yields the URL.

    `extra_args` go to `streamlit run` (e.g. "--runner.postScriptGC=false")."""
    env = {"NETWRIGHT_DB": str(home / "netwright.db"), "NETWRIGHT_DATA_DIR": str(home / "data"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return serve_streamlit(ROOT / "app.py", *extra_args, timeout=timeout, env=env)


@dataclass
class SessionResult:
    index: int
    session_id: str
    token: str
    page_ready_s: float | None = None
    template_s: float | None = None
    edit_s: list[float] = field(default_factory=list)
    train_s: float | None = None
    train_status: str | None = None
    final_name: str | None = None
    step: str = "start"
    crossings: list[str] = field(default_factory=list)
    exceptions: int = 0
    error: str | None = None


def token(run: str, i: int) -> str:
    """A name part that only session i of this run uses (zero-padded: no token is inside another)."""
    return f"load{run}s{i:02d}x"


async def _session(browser, url: str, res: SessionResult, others: list[str], template: str, renames: int,
                   train: bool, timeout_s: float, delay_s: float = 0.0, shared=None) -> None:
    """One user: open the app, load a template, (train,) rename a few times; fills in `res` as it goes.

    `shared`: a browser context to open a tab in (one profile for every session); else a fresh profile."""
    from playwright.async_api import expect

    await asyncio.sleep(delay_s)  # arrivals spread a little: N cold page loads in the same instant is not a user load
    context = shared if shared is not None else await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    wait_ms = timeout_s * 1000
    page.set_default_timeout(wait_ms)
    name = page.locator(".nw-model-name").first
    sidebar = page.get_by_test_id("stSidebar")

    async def check_isolation(where: str) -> None:
        text = await page.locator("body").inner_text()
        res.crossings += [f"{where}: saw {o}" for o in others if o in text]
        field_value = await sidebar.get_by_label("Design name").last.input_value()
        res.crossings += [f"{where}: name field holds {o}" for o in others if o in field_value]

    try:
        res.step = "page ready"
        start = time.perf_counter()
        await page.goto(f"{url}/?d={res.session_id}")
        await page.locator('[data-testid="nw-card"]').first.wait_for(state="visible")
        res.page_ready_s = time.perf_counter() - start

        res.step = "template"
        await sidebar.get_by_text("Start from a template").click()
        button = sidebar.get_by_role("button", name=template, exact=True)
        start = time.perf_counter()
        await button.click()
        await expect(name).to_have_text(template, timeout=wait_ms)
        res.template_s = time.perf_counter() - start
        await check_isolation("after the template")

        if train:  # before renaming: the run history (shared by design) then shows the template's name only
            res.step = "training"
            await page.get_by_test_id("stTopNavLink").filter(has_text="Train").first.click()
            panel = page.get_by_test_id("stMain")
            # The dataset box keeps the choice made for the design the session opened with: pick signals.
            dataset = panel.get_by_role("combobox", name="Dataset")
            await dataset.click()
            await page.get_by_role("option", name=re.compile(r"^signals")).click()
            await expect(dataset).to_have_value(re.compile(r"^signals"), timeout=wait_ms)
            epochs = panel.get_by_role("spinbutton", name="Epochs", exact=True)
            await epochs.fill("1")
            await epochs.press("Enter")
            await expect(epochs).to_have_value("1", timeout=wait_ms)
            start_button = panel.get_by_role("button", name="▶ Start")
            await expect(start_button).to_be_enabled(timeout=wait_ms)
            start = time.perf_counter()
            await start_button.click()
            done = panel.get_by_text(re.compile(r"^(completed|failed|diverged|stopped) ·"))
            await done.first.wait_for(state="visible", timeout=wait_ms)
            res.train_s = time.perf_counter() - start
            res.train_status = (await done.first.inner_text()).split(" ")[0]
            await page.get_by_test_id("stTopNavLink").filter(has_text="Design").first.click()
            await page.locator('[data-testid="nw-card"]').first.wait_for(state="visible", timeout=wait_ms)

        current, typed_into = template, None
        for k in range(renames):
            res.step = f"rename {k}"
            new_name = f"{res.token} {k}"
            # The name field is keyed by the design's revision ("design_name:<revision>"), and what is typed into
            # the field of an earlier revision is ignored (by design): type into the current one, which shows
            # the current name and is not the field typed into last (that one shows the typed name too).
            box = sidebar.locator('[class*="st-key-design_name-"]')
            await expect(box).to_have_count(1, timeout=wait_ms)
            if typed_into:
                await expect(box).not_to_have_class(re.compile(rf"\b{typed_into}\b"), timeout=wait_ms)
            field_ = box.get_by_label("Design name")
            await expect(field_).to_have_value(current, timeout=wait_ms)
            typed_into = await box.evaluate("e => [...e.classList].find(c => c.startsWith('st-key-design_name-'))")
            await field_.fill(new_name)
            start = time.perf_counter()
            await field_.press("Enter")
            await expect(name).to_have_text(new_name, timeout=wait_ms)
            res.edit_s.append(time.perf_counter() - start)
            await check_isolation(f"after rename {k}")
            res.final_name = current = new_name
        res.step = "done"
    except asyncio.CancelledError:
        res.error = f"not finished when the phase's time was up (at: {res.step})"
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the figures, and failed by the caller
        res.error = f"{res.step}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        if res.step == "training":  # what the Train tab said (a warning that keeps Start disabled, a message)
            with contextlib.suppress(Exception):
                said = await page.get_by_test_id("stMain").inner_text(timeout=2000)
                res.error += " | Train page: " + " ".join(said.split())[:600]
        shots = os.environ.get("NETWRIGHT_LOAD_SHOTS")  # a folder for a screenshot of each failed session
        if shots:
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(Path(shots) / f"session-{res.session_id}.png"), full_page=True)
    finally:
        with contextlib.suppress(Exception):
            res.exceptions = await page.locator('[data-testid="stException"]').count()
        with contextlib.suppress(Exception):
            await (page.close() if shared is not None else context.close())


async def _run(url: str, run: str, n: int, trainers: int, renames: int, timeout_s: float, stagger_s: float = 0.0,
               deadline_s: float | None = None, shared: bool = False) -> list[SessionResult]:
    """N sessions in one headless Chromium, concurrently; sessions still going after `deadline_s` are cancelled
    (and reported as such). Each session has a fresh browser profile of its own (cold caches: a first visit),
    or with `shared` a tab in one profile (the app's scripts cached and compiled once, as for a returning user;
    Chromium then runs the same-site tabs in a few renderer processes). A shared profile first opens the app
    once, not counted, so that its caches hold the app's scripts."""
    from playwright.async_api import async_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium not found (set CHROMIUM_PATH or install /usr/bin/chromium)")
    results = [SessionResult(i, f"{run}-{i:02d}", token(run, i)) for i in range(n)]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            profile = await browser.new_context(viewport=VIEWPORT) if shared else None
            if profile is not None:  # a returning user: the profile has opened the app before
                await _session(browser, url, SessionResult(-1, f"{run}-warm", token(run, 99)), [], EDIT_TEMPLATES[0],
                               0, False, timeout_s, 0.0, profile)
            tasks = [asyncio.create_task(_session(
                browser, url, res, [token(run, j) for j in range(n) if j != i],
                TRAIN_TEMPLATE if i < trainers else EDIT_TEMPLATES[i % len(EDIT_TEMPLATES)], renames, i < trainers,
                timeout_s, i * stagger_s, profile)) for i, res in enumerate(results)]
            _, pending = await asyncio.wait(tasks, timeout=deadline_s or timeout_s * 3)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await browser.close()
    return results


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def summarise(results: list[SessionResult]) -> dict:
    def stats(values: list[float]) -> dict:
        values = [v for v in values if v is not None]
        if not values:
            return {"n": 0}
        return {"n": len(values), "median": statistics.median(values), "p95": _p95(values), "max": max(values)}

    return {
        "sessions": len(results),
        "page_ready_s": stats([r.page_ready_s for r in results]),
        "template_s": stats([r.template_s for r in results]),
        "edit_s": stats([e for r in results for e in r.edit_s]),
        "train_s": stats([r.train_s for r in results if r.train_s is not None]),
        "train_status": [r.train_status for r in results if r.train_status],
        "crossings": [c for r in results for c in r.crossings],
        "exceptions": sum(r.exceptions for r in results),
        "errors": [f"session {r.index}: {r.error}" for r in results if r.error],
    }


def autosave_crossings(db: Path, results: list[SessionResult]) -> list[str]:
    """Each session's autosave row (keyed by its URL session id) holds its own last design name; a session that
    failed gets the name its row holds added to its error (did the server apply the edit the page never showed?)."""
    from designer.store import DesignStore

    store = DesignStore(db)
    try:
        problems = []
        for r in results:
            saved = store.load_autosave(r.session_id)
            name = saved.get("name") if isinstance(saved, dict) else None
            if r.error:
                r.error += f" [the server's autosave for this session holds {name!r}]"
            elif r.final_name and name != r.final_name:
                problems.append(f"session {r.index}: autosave holds {name!r}, not {r.final_name!r}")
            if name and any(token(r.session_id.rsplit("-", 1)[0], j) in name for j in range(len(results)) if j != r.index):
                problems.append(f"session {r.index}: autosave holds another session's design {name!r}")
        return problems
    finally:
        store.close()


class CpuMeter:
    """CPU seconds used by this process's descendants while it runs, by kind: the browsers, the app's server,
    the server's training workers, and the harness (Playwright's driver). Sampled from /proc (Linux) every
    `every` seconds, so a process that ends between two looks loses at most that much of its time."""

    def __init__(self, every: float = 0.25) -> None:
        self.every, self._seen, self._base = every, {}, {}
        self._thread = None
        self.wall_s = 0.0

    @staticmethod
    def _stat(pid: str) -> tuple[int, float] | None:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _kind(self, pid: str, parents: dict[str, int], kinds: dict[str, str | None]) -> str | None:
        if pid in kinds:
            return kinds[pid]
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        chain, p = [], parents.get(pid)
        while p and p > 1 and len(chain) < 50:
            chain.append(str(p))
            p = parents.get(str(p))
        if str(os.getpid()) not in chain:
            kinds[pid] = None  # not ours
            return None
        if "chrom" in cmd.lower():
            kind = "browsers"
        elif "components.serve" in cmd or "streamlit" in cmd:
            kind = "server"
        elif any(kinds.get(c) == "server" for c in chain):
            kind = "training workers"
        else:
            kind = "harness (Playwright)"
        kinds[pid] = kind
        return kind

    def _look(self, kinds: dict[str, str | None]) -> None:
        stats = {p: st for p in os.listdir("/proc") if p.isdigit() and (st := self._stat(p))}
        parents = {p: st[0] for p, st in stats.items()}
        for pid, (_, cpu) in stats.items():
            kind = self._kind(pid, parents, kinds)
            if kind:
                self._seen[pid] = (kind, cpu)

    def __enter__(self) -> CpuMeter:
        import threading

        if not Path("/proc/self/stat").exists():
            return self
        kinds: dict[str, str | None] = {}
        self._look(kinds)
        self._base = {p: cpu for p, (_, cpu) in self._seen.items()}
        self._done = threading.Event()

        def loop() -> None:
            while not self._done.wait(self.every):
                self._look(kinds)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._done.set()
            self._thread.join()
            self.wall_s = time.perf_counter() - self._t0

    def shares(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, (kind, cpu) in self._seen.items():
            out[kind] = out.get(kind, 0.0) + cpu - self._base.get(pid, 0.0)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


BROWSER_MODES = {"separate": "a fresh browser profile per session (cold caches, a first visit)",
                 "shared": "tabs of one browser profile (scripts cached, as for returning users)"}


def measure(url: str, db: Path, sessions: int, trainers: int = 2, renames: int = 3, timeout_s: float = 60.0,
            stagger_s: float = 0.5, deadline_s: float | None = None, modes: tuple[str, ...] = ("separate",)) -> dict:
    """One session alone, then `sessions` at once (arriving `stagger_s` apart, all cut off after `deadline_s`)
    once per browser mode (see BROWSER_MODES), on the same server. Returns the figures of each; "load" and its
    ratios are the first mode's."""
    if not 1 <= sessions <= MAX_SESSIONS:
        raise ValueError(f"sessions must be 1 to {MAX_SESSIONS}")
    run = f"{os.getpid() % 1000}{int(time.time()) % 1000}"
    asyncio.run(_run(url, run + "w", 1, 0, 0, timeout_s))  # warm the server: its first run imports the app
    phases, ones = {}, {}
    for k, mode in enumerate(modes):
        shared = mode == "shared"
        wall = time.perf_counter()
        one = summarise(asyncio.run(_run(url, f"{run}a{k}", 1, 0, renames, timeout_s, shared=shared)))
        one["wall_s"], one["mode"] = time.perf_counter() - wall, mode
        with CpuMeter() as meter:
            many = asyncio.run(_run(url, f"{run}b{k}", sessions, min(trainers, sessions), renames, timeout_s,
                                    stagger_s, deadline_s, shared=shared))
        crossings = autosave_crossings(db, many)  # before summarising: it adds to the sessions' errors
        load = summarise(many)
        load["crossings"] += crossings
        load["wall_s"], load["mode"], load["cpu_s"] = meter.wall_s, mode, meter.shares()
        for key, what in (("edit_p95_ratio", "edit_s"), ("ready_p95_ratio", "page_ready_s")):
            load[key] = (load[what]["p95"] / one[what]["p95"] if one[what].get("n") and load[what].get("n")
                         else None)
        phases[mode], ones[mode] = load, one
    first = modes[0]
    return {"one": ones[first], "load": phases[first], "ones": ones, "phases": phases,
            "edit_p95_ratio": phases[first]["edit_p95_ratio"], "ready_p95_ratio": phases[first]["ready_p95_ratio"]}


# Issue 12's targets with 10 sessions, 2 of them training (training runs in worker processes).
TARGET_EDIT_P95_S = 1.5
TARGET_READY_P95_S = 5.0


def report(figures: dict) -> str:
    def line(label: str, s: dict) -> str:
        if not s.get("n"):
            return f"  {label:<16} -"
        return f"  {label:<16} median {s['median']:.2f}s  p95 {s['p95']:.2f}s  max {s['max']:.2f}s  (n={s['n']})"

    out = []
    phases = figures.get("phases") or {"separate": figures["load"]}
    ones = figures.get("ones") or {"separate": figures["one"]}
    blocks = []
    for mode, f in phases.items():
        blocks += [(f"[{mode}] 1 session alone", ones[mode]),
                   (f"[{mode}] {f['sessions']} sessions at once, {BROWSER_MODES.get(mode, mode)}", f)]
    for title, f in blocks:
        out.append(f"{title} ({f['wall_s']:.1f}s wall):")
        out += [line("page ready", f["page_ready_s"]), line("template load", f["template_s"]),
                line("rename", f["edit_s"]), line("training", f["train_s"])]
        if f["train_status"]:
            out.append(f"  training runs:   {', '.join(f['train_status'])}")
        out.append(f"  crossings: {len(f['crossings'])}  exceptions: {f['exceptions']}  errors: {len(f['errors'])}")
        out += [f"    {e}" for e in f["errors"] + f["crossings"]]
        cpu = f.get("cpu_s")
        if cpu:
            used = sum(cpu.values())
            cores = os.cpu_count() or 1
            out.append(f"  CPU: {used:.1f} cpu-s of {cores} cores x {f['wall_s']:.1f}s = "
                       f"{100 * used / (cores * f['wall_s']):.0f}% of the machine; "
                       + ", ".join(f"{kind} {sec:.1f}s ({100 * sec / used:.0f}%)" for kind, sec in cpu.items()))
    for mode, f in phases.items():
        n = f["sessions"]
        for key, label, what, target in (("edit_p95_ratio", "rename", "edit_s", TARGET_EDIT_P95_S),
                                         ("ready_p95_ratio", "page ready", "page_ready_s", TARGET_READY_P95_S)):
            ratio, p95 = f.get(key), f[what].get("p95")
            verdict = "-" if p95 is None else ("OK" if p95 <= target else "ABOVE TARGET")
            out.append(f"[{mode}] {label} p95 with {n} sessions / with 1: "
                       + (f"{ratio:.2f}x" if ratio is not None else "-")
                       + (f"; p95 {p95:.2f}s (target <= {target:g}s) {verdict}" if p95 is not None else ""))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help=f"concurrent sessions (1 to {MAX_SESSIONS})")
    parser.add_argument("--trainers", type=int, default=2, help="how many of them also train for one epoch")
    parser.add_argument("--renames", type=int, default=3, help="renames per session")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds any one wait may take")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between session arrivals")
    parser.add_argument("--browsers", choices=["separate", "shared", "both"], default="both",
                        help="separate: a fresh browser profile per session; shared: tabs of one profile; both: one "
                             "phase of each (default)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help='passed to `streamlit run` (repeatable), e.g. --server-arg=--runner.postScriptGC=false')
    args = parser.parse_args()
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions must be 1 to {MAX_SESSIONS}")
    with tempfile.TemporaryDirectory() as home, serve_app(Path(home), extra_args=tuple(args.server_arg)) as url:
        modes = ("separate", "shared") if args.browsers == "both" else (args.browsers,)
        figures = measure(url, Path(home) / "netwright.db", args.sessions, args.trainers, args.renames, args.timeout,
                          args.stagger, modes=modes)
    print(report(figures))
    bad = any(f["crossings"] or f["exceptions"] or f["errors"] for f in figures["phases"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
