"""Many sessions at once: a real `streamlit run app.py` server driven by N headless Chromium pages.

Each session opens the app (its own URL session id), loads a template from the sidebar and renames its
design to a name no other session uses, a few times; some sessions also train the signals MLP for one
epoch on the built-in dataset (runs queue: one at a time on the CPU). Measured per session: page ready
(the editor drawn), template load and rename round trips (the edit is applied on the server and the
editor shows it), training time. Checked: no session ever shows another session's design name, the
autosave row of each session holds its own design, no exception box anywhere.

The same server, warmed by one visit that is not counted, serves one session alone, then N at once, in
three phases:
- separate: the N sessions arrive together (half a second apart), each with a fresh browser profile (cold
  caches: every page fetches and compiles the app's scripts);
- shared: the same, in tabs of one profile that has opened the app before (a returning user);
- steady: N - 1 sessions are open, two of them training (runs that last until stopped), the others
  renaming their design every few seconds (--think); while this goes on, first visits (fresh profiles)
  arrive one at a time and rename once. Page ready is the arrivals'; renames are everyone's. Its one
  session alone is the same arrivals on an idle server.
The printed ratios are the p95 with N sessions over the p95 with one, in the same phase and run. While the
N sessions run, the CPU time of every process is sampled: the browsers, the server, its training workers
and the harness, each as a share of the machine. The browsers run on the server's cores here, as users'
browsers never do; the shares say how much of the figures is theirs.

    .venv/bin/python bench/bench_load.py --sessions 10 --trainers 2
    .venv/bin/python bench/bench_load.py --phases steady --think 1
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


class _Steps:
    """What a user does on one page of the app, step by step (each step waits until the page shows its effect)."""

    def __init__(self, page, res: SessionResult, others: list[str], timeout_s: float) -> None:
        self.page, self.res, self.others = page, res, others
        self.wait_ms = timeout_s * 1000
        page.set_default_timeout(self.wait_ms)
        self.name = page.locator(".nw-model-name").first
        self.sidebar = page.get_by_test_id("stSidebar")
        self.current: str | None = None  # the design's name as the editor shows it
        self.typed_into: str | None = None  # the class of the name field typed into last

    async def open(self, url: str) -> float:
        """Open the app under this session's URL id; seconds until the editor is drawn."""
        self.res.step = "page ready"
        start = time.perf_counter()
        await self.page.goto(f"{url}/?d={self.res.session_id}")
        await self.page.locator('[data-testid="nw-card"]').first.wait_for(state="visible")
        return time.perf_counter() - start

    async def check_isolation(self, where: str) -> None:
        text = await self.page.locator("body").inner_text()
        self.res.crossings += [f"{where}: saw {o}" for o in self.others if o in text]
        field_value = await self.sidebar.get_by_label("Design name").last.input_value()
        self.res.crossings += [f"{where}: name field holds {o}" for o in self.others if o in field_value]

    async def template(self, template: str) -> float:
        from playwright.async_api import expect

        self.res.step = "template"
        await self.sidebar.get_by_text("Start from a template").click()
        button = self.sidebar.get_by_role("button", name=template, exact=True)
        start = time.perf_counter()
        await button.click()
        await expect(self.name).to_have_text(template, timeout=self.wait_ms)
        self.current = template
        elapsed = time.perf_counter() - start
        await self.check_isolation("after the template")
        return elapsed

    async def start_training(self, epochs: int) -> float:
        """On the Train page: the signals dataset, `epochs` epochs, Start; returns when Start was clicked."""
        from playwright.async_api import expect

        self.res.step = "training"
        page, wait_ms = self.page, self.wait_ms
        await page.get_by_test_id("stTopNavLink").filter(has_text="Train").first.click()
        panel = page.get_by_test_id("stMain")
        # The dataset box keeps the choice made for the design the session opened with: pick signals.
        dataset = panel.get_by_role("combobox", name="Dataset")
        await dataset.click()
        await page.get_by_role("option", name=re.compile(r"^signals")).click()
        await expect(dataset).to_have_value(re.compile(r"^signals"), timeout=wait_ms)
        box = panel.get_by_role("spinbutton", name="Epochs", exact=True)
        await box.fill(str(epochs))
        await box.press("Enter")
        await expect(box).to_have_value(str(epochs), timeout=wait_ms)
        start_button = panel.get_by_role("button", name="▶ Start")
        await expect(start_button).to_be_enabled(timeout=wait_ms)
        start = time.perf_counter()
        await start_button.click()
        return start

    def _status(self, pattern: str):
        return self.page.get_by_test_id("stMain").get_by_text(re.compile(rf"^({pattern}) ·")).first

    async def training_running(self) -> None:
        """Until the run's progress says it is running (a step has run)."""
        await self._status("running").wait_for(state="visible", timeout=self.wait_ms)

    async def training_ended(self, stop: bool = False) -> tuple[str, float]:
        """(Click Stop, then) until the run has ended, and back to the Design page: its status, and when the
        page showed it (perf_counter)."""
        if stop:
            await self.page.get_by_test_id("stMain").get_by_role("button", name="■ Stop").click()
        done = self._status("completed|failed|diverged|stopped")
        await done.wait_for(state="visible", timeout=self.wait_ms)
        ended = time.perf_counter()
        status = (await done.inner_text()).split(" ")[0]
        await self.page.get_by_test_id("stTopNavLink").filter(has_text="Design").first.click()
        await self.page.locator('[data-testid="nw-card"]').first.wait_for(state="visible", timeout=self.wait_ms)
        return status, ended

    async def rename(self, new_name: str) -> float:
        """Rename the design in the sidebar; seconds until the editor shows the new name."""
        from playwright.async_api import expect

        self.res.step = f"rename {len(self.res.edit_s)}"
        wait_ms = self.wait_ms
        # The name field is keyed by the design's revision ("design_name:<revision>"), and what is typed into
        # the field of an earlier revision is ignored (by design): type into the current one, which shows
        # the current name and is not the field typed into last (that one shows the typed name too).
        box = self.sidebar.locator('[class*="st-key-design_name-"]')
        await expect(box).to_have_count(1, timeout=wait_ms)
        if self.typed_into:
            await expect(box).not_to_have_class(re.compile(rf"\b{self.typed_into}\b"), timeout=wait_ms)
        field_ = box.get_by_label("Design name")
        await expect(field_).to_have_value(self.current, timeout=wait_ms)
        self.typed_into = await box.evaluate("e => [...e.classList].find(c => c.startsWith('st-key-design_name-'))")
        await field_.fill(new_name)
        start = time.perf_counter()
        await field_.press("Enter")
        await expect(self.name).to_have_text(new_name, timeout=wait_ms)
        elapsed = time.perf_counter() - start
        self.res.edit_s.append(elapsed)
        await self.check_isolation(f"after rename {len(self.res.edit_s) - 1}")
        self.res.final_name = self.current = new_name
        return elapsed

    async def failed(self, exc: BaseException) -> None:
        """Say in `res` at which step and why the session stopped (what the Train page said; a screenshot)."""
        res = self.res
        if isinstance(exc, asyncio.CancelledError):
            res.error = f"not finished when the phase's time was up (at: {res.step})"
            return
        res.error = f"{res.step}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        if res.step == "training":  # what the Train tab said (a warning that keeps Start disabled, a message)
            with contextlib.suppress(Exception):
                said = await self.page.get_by_test_id("stMain").inner_text(timeout=2000)
                res.error += " | Train page: " + " ".join(said.split())[:600]
        shots = os.environ.get("NETWRIGHT_LOAD_SHOTS")  # a folder for a screenshot of each failed session
        if shots:
            with contextlib.suppress(Exception):
                await self.page.screenshot(path=str(Path(shots) / f"session-{res.session_id}.png"), full_page=True)

    async def close(self, context=None) -> None:
        with contextlib.suppress(Exception):
            self.res.exceptions = await self.page.locator('[data-testid="stException"]').count()
        with contextlib.suppress(Exception):
            await (context.close() if context is not None else self.page.close())

    @contextlib.asynccontextmanager
    async def recorded(self, context=None):
        """Around a session's steps: a failure is said in `res` (a cancellation too, and raised on), and the
        page, or with `context` its browser profile, is closed after."""
        try:
            yield self
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - reported with the figures
            await self.failed(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            await self.close(context)


async def _session(browser, url: str, res: SessionResult, others: list[str], template: str, renames: int,
                   train: bool, timeout_s: float, delay_s: float = 0.0, shared=None) -> None:
    """One user: open the app, load a template, (train,) rename a few times; fills in `res` as it goes.

    `shared`: a browser context to open a tab in (one profile for every session); else a fresh profile."""
    await asyncio.sleep(delay_s)  # arrivals spread a little: N cold page loads in the same instant is not a user load
    context = shared if shared is not None else await browser.new_context(viewport=VIEWPORT)
    user = _Steps(await context.new_page(), res, others, timeout_s)
    async with user.recorded(None if shared is not None else context):
        res.page_ready_s = await user.open(url)
        res.template_s = await user.template(template)
        if train:  # before renaming: the run history (shared by design) then shows the template's name only
            start = await user.start_training(1)
            res.train_status, ended = await user.training_ended()
            res.train_s = ended - start
        for k in range(renames):
            await user.rename(f"{res.token} {k}")
        res.step = "done"


async def _launch(pw):
    """Headless Chromium (the system's: nothing is downloaded)."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium not found (set CHROMIUM_PATH or install /usr/bin/chromium)")
    return await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


async def _within(tasks: list[asyncio.Task], seconds: float) -> None:
    """Wait for the sessions' tasks; those still going after `seconds` are cancelled (and say so)."""
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def _run(url: str, run: str, n: int, trainers: int, renames: int, timeout_s: float, stagger_s: float = 0.0,
               deadline_s: float | None = None, shared: bool = False) -> list[SessionResult]:
    """N sessions in one headless Chromium, concurrently; sessions still going after `deadline_s` are cancelled
    (and reported as such). Each session has a fresh browser profile of its own (cold caches: a first visit),
    or with `shared` a tab in one profile (the app's scripts cached and compiled once, as for a returning user;
    Chromium then runs the same-site tabs in a few renderer processes). A shared profile first opens the app
    once, not counted, so that its caches hold the app's scripts."""
    from playwright.async_api import async_playwright

    results = [SessionResult(i, f"{run}-{i:02d}", token(run, i)) for i in range(n)]
    async with async_playwright() as pw:
        browser = await _launch(pw)
        try:
            profile = await browser.new_context(viewport=VIEWPORT) if shared else None
            if profile is not None:  # a returning user: the profile has opened the app before
                await _session(browser, url, SessionResult(-1, f"{run}-warm", token(run, 99)), [], EDIT_TEMPLATES[0],
                               0, False, timeout_s, 0.0, profile)
            tasks = [asyncio.create_task(_session(
                browser, url, res, [token(run, j) for j in range(n) if j != i],
                TRAIN_TEMPLATE if i < trainers else EDIT_TEMPLATES[i % len(EDIT_TEMPLATES)], renames, i < trainers,
                timeout_s, i * stagger_s, profile)) for i, res in enumerate(results)]
            await _within(tasks, deadline_s or timeout_s * 3)
        finally:
            await browser.close()
    return results


STEADY_EPOCHS = 100_000  # the residents' runs train until they are stopped: they must outlast the arrivals
MAX_ARRIVALS = 50
# Once every resident is in, the arrivals wait this long: the runs' first charts (the browser fetches and compiles
# the charting library) and the workers' start are the arrival of the residents, not the steady state.
STEADY_SETTLE_S = 3.0


async def _steady(url: str, run: str, n: int, trainers: int, arrivals: int, timeout_s: float, think_s: float = 3.0,
                  gap_s: float = 1.0, stagger_s: float = 0.5, deadline_s: float | None = None) -> list[SessionResult]:
    """The steady state of `n` sessions, `trainers` of them training. n - 1 residents open the app (a fresh
    profile each), load a template, and `trainers` of them start a run that lasts. Once every resident is in
    and every run is running (and STEADY_SETTLE_S more), `arrivals` visitors open the app one after another,
    `gap_s` apart, each with a fresh profile (a first visit: cold caches), and rename their design once;
    meanwhile the other residents rename theirs every `think_s` seconds. Then the runs are stopped; each must
    still have been running.

    Returns the residents, then the arrivals: page ready is the arrivals' (the residents' own arrival is the
    other phases' figure), renames are everyone's while the arrivals came. With n = 1 there are no residents:
    the arrivals meet an idle server, the baseline."""
    from playwright.async_api import async_playwright

    residents = [SessionResult(i, f"{run}-{i:02d}", token(run, i)) for i in range(n - 1)]
    visitors = [SessionResult(i, f"{run}-{i:02d}", token(run, i)) for i in range(n - 1, n - 1 + arrivals)]
    everyone = residents + visitors

    def others(res: SessionResult) -> list[str]:
        return [r.token for r in everyone if r is not res]

    settled, finished = asyncio.Event(), asyncio.Event()
    in_count = 0

    def came_in() -> None:  # a resident is in (or gave up): the arrivals start once all are
        nonlocal in_count
        in_count += 1
        if in_count == len(residents):
            settled.set()

    async with async_playwright() as pw:
        browser = await _launch(pw)

        async def resident(res: SessionResult) -> None:
            await asyncio.sleep(res.index * stagger_s)
            context = await browser.new_context(viewport=VIEWPORT)
            user = _Steps(await context.new_page(), res, others(res), timeout_s)
            counted = False
            try:
                async with user.recorded(context):
                    await user.open(url)
                    trains = res.index < trainers
                    await user.template(TRAIN_TEMPLATE if trains else EDIT_TEMPLATES[res.index % len(EDIT_TEMPLATES)])
                    if trains:
                        await user.start_training(STEADY_EPOCHS)
                        await user.training_running()
                    came_in()
                    counted = True
                    await settled.wait()
                    if trains:
                        await finished.wait()
                        still = await user._status("running").is_visible()
                        res.train_status, _ = await user.training_ended(stop=True)
                        if not still:
                            res.error = "its run ended before the last arrival did: the arrivals were not under load"
                    else:
                        while not finished.is_set():
                            await user.rename(f"{res.token} {len(res.edit_s)}")
                            with contextlib.suppress(asyncio.TimeoutError):
                                await asyncio.wait_for(finished.wait(), think_s)
                    if not res.error:
                        res.step = "done"
            finally:
                if not counted:  # gave up before it was in: the arrivals must not wait for it
                    came_in()

        async def arrive() -> None:
            if residents:
                await settled.wait()
                await asyncio.sleep(STEADY_SETTLE_S)
            try:
                for res in visitors:
                    context = await browser.new_context(viewport=VIEWPORT)
                    user = _Steps(await context.new_page(), res, others(res), timeout_s)
                    async with user.recorded(context):
                        res.page_ready_s = await user.open(url)
                        # The name the editor shows (the sidebar's field can still be filling in: rename
                        # waits until it holds this name too).
                        user.current = await user.name.inner_text()
                        await user.rename(f"{res.token} 0")
                        res.step = "done"
                    await asyncio.sleep(gap_s)
            finally:
                finished.set()

        try:
            tasks = [asyncio.create_task(resident(res)) for res in residents] + [asyncio.create_task(arrive())]
            await _within(tasks, deadline_s or timeout_s * 3 + arrivals * timeout_s)
        finally:
            await browser.close()
    return everyone


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
        # A child of the server is a worker even while its command line is still the server's (seen between
        # fork and exec, and then kept: that had counted a worker's whole time as the server's in some runs).
        if "chrom" in cmd.lower():
            kind = "browsers"
        elif any(self._kind(c, parents, kinds) == "server" for c in chain):
            kind = "training workers"
        elif "components.serve" in cmd or "streamlit" in cmd:
            kind = "server"
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


BROWSER_MODES = {"separate": "arriving together, a fresh browser profile each (cold caches, a first visit)",
                 "shared": "arriving together, tabs of one browser profile (scripts cached: returning users)",
                 "steady": "open, the runs running; first visits arrive one at a time"}
PHASES = tuple(BROWSER_MODES)


def measure(url: str, db: Path, sessions: int, trainers: int = 2, renames: int = 3, timeout_s: float = 60.0,
            stagger_s: float = 0.5, deadline_s: float | None = None, modes: tuple[str, ...] = ("separate",),
            arrivals: int = 20, think_s: float = 3.0) -> dict:
    """Per phase (see BROWSER_MODES), on the same server: one session alone, then `sessions` at once. In
    "separate" and "shared" they all arrive, `stagger_s` apart, and do their steps (all cut off after
    `deadline_s`); in "steady", `arrivals` first visits come one at a time while the sessions are open and their
    runs run (see _steady; its baseline is the same arrivals on an idle server). Returns the figures of each;
    "load" and its ratios are the first phase's."""
    if not 1 <= sessions <= MAX_SESSIONS:
        raise ValueError(f"sessions must be 1 to {MAX_SESSIONS}")
    if not 1 <= arrivals <= MAX_ARRIVALS:
        raise ValueError(f"arrivals must be 1 to {MAX_ARRIVALS}")
    if unknown := [m for m in modes if m not in BROWSER_MODES]:
        raise ValueError(f"unknown phases {unknown}: choose from {', '.join(BROWSER_MODES)}")
    run = f"{os.getpid() % 1000}{int(time.time()) % 1000}"
    asyncio.run(_run(url, run + "w", 1, 0, 0, timeout_s))  # warm the server: its first run imports the app
    phases, ones = {}, {}
    for k, mode in enumerate(modes):
        shared = mode == "shared"
        wall = time.perf_counter()
        if mode == "steady":
            one = summarise(asyncio.run(_steady(url, f"{run}a{k}", 1, 0, arrivals, timeout_s, think_s)))
        else:
            one = summarise(asyncio.run(_run(url, f"{run}a{k}", 1, 0, renames, timeout_s, shared=shared)))
        one["wall_s"], one["mode"] = time.perf_counter() - wall, mode
        with CpuMeter() as meter:
            if mode == "steady":
                many = asyncio.run(_steady(url, f"{run}b{k}", sessions, min(trainers, sessions - 1), arrivals,
                                           timeout_s, think_s, stagger_s=stagger_s, deadline_s=deadline_s))
            else:
                many = asyncio.run(_run(url, f"{run}b{k}", sessions, min(trainers, sessions), renames, timeout_s,
                                        stagger_s, deadline_s, shared=shared))
        crossings = autosave_crossings(db, many)  # before summarising: it adds to the sessions' errors
        load = summarise(many)
        load["sessions"] = sessions  # steady: the residents and the one arriving, not every visitor
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
        out += [line("page ready", f["page_ready_s"])]
        out += [line("template load", f["template_s"])] if f["template_s"].get("n") or f["mode"] != "steady" else []
        out += [line("rename", f["edit_s"])]
        out += [line("training", f["train_s"])] if f["train_s"].get("n") or f["mode"] != "steady" else []
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
    parser.add_argument("--trainers", type=int, default=2,
                        help="how many of them also train (one epoch; steady: until the arrivals are done)")
    parser.add_argument("--renames", type=int, default=3, help="renames per session")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds any one wait may take")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between session arrivals")
    parser.add_argument("--phases", default=",".join(PHASES),
                        help="comma-separated, in order (default: all): " + "; ".join(
                            f"{k}: {v}" for k, v in BROWSER_MODES.items()))
    parser.add_argument("--arrivals", type=int, default=20, help="steady: first visits, one at a time")
    parser.add_argument("--think", type=float, default=3.0,
                        help="steady: seconds a resident waits between its renames (a person reads and decides)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help='passed to `streamlit run` (repeatable), e.g. --server-arg=--runner.postScriptGC=false')
    args = parser.parse_args()
    if not 1 <= args.sessions <= MAX_SESSIONS:
        parser.error(f"--sessions must be 1 to {MAX_SESSIONS}")
    if not 1 <= args.arrivals <= MAX_ARRIVALS:
        parser.error(f"--arrivals must be 1 to {MAX_ARRIVALS}")
    modes = tuple(m.strip() for m in args.phases.split(",") if m.strip())
    if not modes or any(m not in BROWSER_MODES for m in modes):
        parser.error(f"--phases: choose from {', '.join(BROWSER_MODES)} (got {args.phases!r})")
    with tempfile.TemporaryDirectory() as home, serve_app(Path(home), extra_args=tuple(args.server_arg)) as url:
        figures = measure(url, Path(home) / "netwright.db", args.sessions, args.trainers, args.renames, args.timeout,
                          args.stagger, modes=modes, arrivals=args.arrivals, think_s=args.think)
    print(report(figures))
    bad = any(f["crossings"] or f["exceptions"] or f["errors"] for f in figures["phases"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
