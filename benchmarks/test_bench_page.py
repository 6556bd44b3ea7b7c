"""A 24-hour replay's teaching page (issue 19): its size and the time to open it in a browser.

Run: ``pytest benchmarks/test_bench_page.py --benchmark-only -s``.

The run: the first 24 hours of real 1-minute BTC perpetual bars
(``../shared/data/nautilus-fixtures/btc-perp-20211231-20220201_1m.csv``, 1,440 bars,
2021-12-31 23:01 → 2022-01-01 23:00 UTC; a few quarter-dollar prices BTCUSDT's 0.1 tick
refuses are skipped with ``--skip-bad-rows``) replayed with the shipped grid strategy and
``--sample 1s`` — a time-series row every second, 86,400 of them, the densest sampling a
day takes — then ``exsim report RUN --html PAGE``, as a user makes it.

Figures (``extra_info``; printed with ``-s``):

* the page's size in bytes (target < 10 MB), its step count and the notes saying what
  was thinned;
* the time to open it in Debian's headless Chromium, from the navigation to
  ``window.exsimPage`` being set (the page parsed, its document read, the plots drawn):
  wall time, and the CPU time of every browser process (``/proc`` utime + stime of
  chromedriver's descendants: the renderer's parsing, script and drawing), best of
  :data:`ROUNDS` and spread (worst / best). Target: under 3 s.

The benchmark asserts what it reached: the page opens with a quiet console and its
slider spans its steps.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.pages.browser import start_chromium  # noqa: E402  (the browser tests' own Chromium)

MONTH = ROOT.parent / "shared" / "data" / "nautilus-fixtures" / "btc-perp-20211231-20220201_1m.csv"
BARS = 1440  # 24 hours of 1-minute bars
ROUNDS = 5
TARGET_BYTES = 10_000_000
TARGET_OPEN_S = 3.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def exsim(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0, out.getvalue()[-2000:]
    return out.getvalue()


def day_page(folder: Path) -> Path:
    """The 24-hour replay's page (see the module's docstring)."""
    day = folder / "btc-perp-20211231-24h_1m.csv"
    with MONTH.open(encoding="utf-8") as src:
        day.write_text("".join(next(src) for _ in range(BARS + 1)), encoding="utf-8")  # header + 1,440 bars
    run = folder / "run"
    exsim("replay", str(day), "--symbol", "BTCUSDT", "--skip-bad-rows", "--strategy", "grid", "--sample", "1s",
          "--out", str(run), "--no-progress")
    page = folder / "day.html"
    exsim("report", str(run), "--html", str(page))
    return page


def browser_cpu_s(root_pid: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of every process below ``root_pid``, by pid."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    below = {root_pid}
    grew = True
    while grew:
        more = {p for p, pp in parent.items() if pp in below} - below
        grew = bool(more)
        below |= more
    return {p: cpu[p] for p in below if p in cpu}


def open_once(driver: Any, url: str, root_pid: int) -> tuple[float, float]:
    """``(wall s, browser CPU s)`` from navigating to ``url`` to ``window.exsimPage`` set."""
    driver.get("about:blank")
    before = browser_cpu_s(root_pid)
    t0 = time.perf_counter()
    driver.get(url)  # returns after the load event: the inline script has run
    while not driver.execute_script("return !!(window.exsimPage && window.exsimPage.steps > 0)"):
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    after = browser_cpu_s(root_pid)
    cpu = sum(c - before.get(p, 0.0) for p, c in after.items())
    return wall, cpu


def test_24h_replay_page_size_and_open_time(benchmark: Any, tmp_path: Path) -> None:
    if not MONTH.is_file():
        pytest.skip(f"{MONTH} not found (the team's shared/ folder)")

    page = day_page(tmp_path)
    size = page.stat().st_size
    browser = start_chromium()
    try:
        driver = browser.driver
        root = driver.service.process.pid
        url = page.resolve().as_uri()
        rounds: list[tuple[float, float]] = []

        def run() -> None:
            rounds.append(open_once(driver, url, root))

        benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
        browser.assert_quiet_console()
        steps = browser.steps()
        assert browser.find("#slider").get_attribute("max") == str(steps - 1)
        notes = driver.execute_script("return JSON.parse(document.getElementById('exsim-data').textContent).notes")
    finally:
        browser.driver.quit()
    walls = [w for w, _ in rounds]
    cpus = [c for _, c in rounds]
    benchmark.extra_info.update(
        page_bytes=size,
        page_mb=round(size / 1e6, 2),
        size_target_met=size < TARGET_BYTES,
        steps=steps,
        notes=notes,
        open_wall_s_best=round(min(walls), 3),
        open_wall_spread=round(max(walls) / min(walls), 2),
        open_cpu_s_best=round(min(cpus), 3),
        open_cpu_spread=round(max(cpus) / min(cpus), 2) if min(cpus) > 0 else None,
        open_target_met=min(walls) < TARGET_OPEN_S,
        rounds_wall_s=[round(w, 3) for w in walls],
        rounds_cpu_s=[round(c, 3) for c in cpus],
    )
    print(json.dumps(benchmark.extra_info, indent=1))
    assert size < TARGET_BYTES
