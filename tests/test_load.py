"""Load: several sessions of the real app at once, in headless Chromium, against a local server.

A `streamlit run app.py` server on a free localhost port (its own NETWRIGHT_DB, OMP_NUM_THREADS=1) first
serves one session alone, then NETWRIGHT_LOAD_SESSIONS (default 6) sessions at once, arriving half a second
apart: each loads a template and renames its design to a name only it uses; two of them also train the
signals MLP for an epoch (at most NETWRIGHT_RUNS_PER_DEVICE runs at once; the rest queue). The figures (page ready, template load,
rename round trip, training; the p95 rename ratio N sessions / 1) are printed; bench/bench_load.py does the
same with up to 20 sessions.

The tests read the one measurement; they check behaviour, never a duration (the waits are generous
safeguards, so a busy machine slows the test down instead of failing it; bench/bench_load.py prints the
timings and their targets):
- nothing crosses between sessions (no page shows another session's name, each session's autosave row holds
  its own design) and no page shows an exception;
- every session gets through all its steps: every rename is applied and shown, and both training runs (each in
  a worker process of its own, so the server only reads their events) complete;
- in a steady phase (bench/bench_load.py's "steady"), first visits arriving one at a time while the other
  sessions are open and two runs train each open the app and rename, and both runs are stopped at the end.

Marked e2e: skipped without Playwright or Chromium, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import concurrent.futures
import os
import time

import pytest

from bench.bench_load import chromium_path, measure, report, serve_app

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SESSIONS = int(os.environ.get("NETWRIGHT_LOAD_SESSIONS", "6"))
TRAINERS = 2
RENAMES = 2
WAIT_S = 180.0  # a safeguard against a hang, not a timing check: the longest any one wait may take
PHASE_S = 600.0  # the same for the whole concurrent phase
ARRIVALS = 3  # first visits in the steady phase, while the others are open and two runs train


def _require_browser() -> None:
    in_ci = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed"
    else:
        reason = None if chromium_path() else "Chromium not found (set CHROMIUM_PATH or install /usr/bin/chromium)"
    if reason:
        if in_ci:
            pytest.fail(f"{reason} (CI=true: browser tests may not be skipped)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict:
    _require_browser()
    home = tmp_path_factory.mktemp("load")
    started = time.perf_counter()
    with serve_app(home) as url, concurrent.futures.ThreadPoolExecutor(1) as pool:
        # In a thread of its own: measure() runs asyncio, and this worker may already hold the sync
        # Playwright of the other browser tests (its event loop runs on this thread).
        result = pool.submit(measure, url, home / "netwright.db", SESSIONS, TRAINERS, RENAMES, timeout_s=WAIT_S,
                             stagger_s=0.5, deadline_s=PHASE_S, modes=("separate", "steady"),
                             arrivals=ARRIVALS).result()
    print(f"\n{report(result)}\n(load test {time.perf_counter() - started:.0f}s)")
    return result


def test_nothing_crosses_between_sessions_and_nothing_breaks(figures):
    one, load = figures["one"], figures["load"]
    assert not load["crossings"], load["crossings"]
    assert one["exceptions"] == 0 and load["exceptions"] == 0
    assert not one["errors"], one["errors"]  # one session alone always gets through
    assert load["page_ready_s"].get("n", 0) >= 1 and load["edit_s"].get("n", 0) >= 1  # the load did run


def test_every_session_gets_through_its_steps(figures):
    load = figures["load"]
    assert not load["errors"], "\n".join(load["errors"])
    assert load["page_ready_s"]["n"] == SESSIONS and load["edit_s"]["n"] == SESSIONS * RENAMES
    assert load["train_status"] == ["completed"] * TRAINERS


def test_first_visits_get_through_while_sessions_are_open_and_runs_train(figures):
    # The steady phase: SESSIONS - 1 sessions open, TRAINERS of them training until stopped, the others
    # renaming; ARRIVALS first visits come one at a time, each opens the app and renames once.
    steady, alone = figures["phases"]["steady"], figures["ones"]["steady"]
    assert not alone["errors"] and alone["page_ready_s"]["n"] == ARRIVALS
    assert not steady["errors"], "\n".join(steady["errors"])  # includes "its run ended before the last arrival"
    assert not steady["crossings"], steady["crossings"]
    assert steady["exceptions"] == 0
    assert steady["page_ready_s"]["n"] == ARRIVALS  # every arrival's page was ready and counted
    assert steady["edit_s"]["n"] >= ARRIVALS + SESSIONS - 1 - TRAINERS  # each arrival and each editor renamed
    assert steady["train_status"] == ["stopped"] * TRAINERS  # both runs were running to the end, and stopped
