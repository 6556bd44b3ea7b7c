"""Sweeps with and without the input cache (exsim.sweep.cache): cells a minute, and the
memory of a worker.

Two grids of the holder, 4 cells each (leverage 20 / 125 x isolated / cross):

- ``capture``: the shipped raw WebSocket capture ``replays/binance-usdm-btcusdt-20240808.gz``
  (598,754 rows a cell, a JSON decode a line: the parse-heavy case the cache is for);
- ``crash``: the shipped minute bars ``replays/btc-perp-20220121-1m.csv`` (960 rows a
  cell: parsing is nothing, the cell's own work is everything).

``test_cells_per_minute``: each engine (1 and 2 local processes, a local Ray of 2 CPUs)
runs the grid into a fresh folder with the cache and without (each cell parsing its file
itself), the two alternating, ``ROUNDS`` times each; ``extra_info`` holds the best wall
time of each, its spread over the rounds ((worst - best) / best), cells a minute of the
best, and the CPU seconds beside the wall ones (the cells' own ``cpu_s`` summed, plus
this process's: the cache is built here), and apart: a cell's CPU seconds (the mean of the
best round) and this process's (the one-off build of the cache, the engine). Every run asserts its end state: 4 rows, all
ok, the same state hashes with and without the cache and whichever engine.

``test_peak_memory_per_worker``: one cell of the capture in a fresh process (as a
worker), from the file (= the cell run alone, ``exsim replay``'s way) and from the cache,
then two cells at once from one cache; each process reports its ``/proc/self/status``
high-water RSS (``VmHWM``), and at the cell's end its private (``RssAnon``) and
file-backed (``RssFile``: the cache's pages, shared by every worker on the machine)
resident memory and its proportional share ``Pss`` (``/proc/self/smaps_rollup``).

On the project's 2-core machine other jobs run beside these: read CPU beside wall.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from exsim.sweep.cache import prepare
from exsim.sweep.cells import grid
from exsim.sweep.engine import run_sweep
from exsim.sweep.run import run_cell
from exsim.sweep.spec import load_sweep
from exsim.sweep.table import read_results

ROOT = Path(__file__).resolve().parents[1]
INPUTS = {
    "capture": (ROOT / "replays" / "binance-usdm-btcusdt-20240808.gz", "enter_after_s = 54", "qty = \"0.4\""),
    "crash": (ROOT / "replays" / "btc-perp-20220121-1m.csv", "enter_after_s = 3600", "qty = \"0.05\""),
}
ROUNDS = 2
HASHES: dict[str, list[str]] = {}


def grid_text(name: str) -> str:
    path, enter, qty = INPUTS[name]
    return f"""
name = "bench-{name}"
[inputs]
files = ["{path}"]
symbol = "BTCUSDT"
[strategy]
name = "holder"
params = {{ {qty}, {enter} }}
[config]
balance = "1000"
[axes]
leverage = [20, 125]
margin_mode = ["isolated", "cross"]
"""


def _ray_or_skip() -> None:
    from exsim.errors import InputError
    from exsim.sweep.ray_engine import import_ray

    try:
        import_ray(local=True)
    except InputError as exc:
        print(f"\nRay skipped: {exc}")
        pytest.skip(str(exc))


@pytest.mark.parametrize("data", ["capture", "crash"])
@pytest.mark.parametrize(
    "engine, options",
    [("processes-1", {"jobs": 1}), ("processes-2", {"jobs": 2}), ("ray-2", {"jobs": 2, "ray_address": True})],
)
def test_cells_per_minute(benchmark: Any, tmp_path: Path, data: str, engine: str, options: dict[str, Any]) -> None:
    if "ray_address" in options:
        _ray_or_skip()
    path = tmp_path / "grid.toml"
    path.write_text(grid_text(data), encoding="utf-8")
    sweep = load_sweep(path)
    walls: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    cells_cpu: dict[bool, list[float]] = {True: [], False: []}  # the cells' own cpu_s, summed
    parent_cpu: dict[bool, list[float]] = {True: [], False: []}  # this process's: the engine, and the cache's build
    runs = iter(range(1_000))

    def one(use_cache: bool) -> None:
        out = tmp_path / f"out-{next(runs)}"
        w0, c0 = time.perf_counter(), time.process_time()
        run_sweep(sweep, out, progress=False, use_cache=use_cache, **options)
        wall = time.perf_counter() - w0
        here = time.process_time() - c0
        rows = read_results(out)
        assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), rows
        hashes = [r["state_hash"] for r in rows]
        assert HASHES.setdefault(data, hashes) == hashes  # (the same rows with or without the cache, any engine)
        walls[use_cache].append(wall)
        cpus[use_cache].append(here + sum(r["cpu_s"] for r in rows))
        cells_cpu[use_cache].append(sum(r["cpu_s"] for r in rows))
        parent_cpu[use_cache].append(here)

    def rounds() -> None:
        for _ in range(ROUNDS):  # alternating: the machine's load weighs on both alike
            one(True)
            one(False)

    benchmark.pedantic(rounds, rounds=1, iterations=1)
    info: dict[str, Any] = {"engine": engine, "data": data, "cells": 4, "rounds": ROUNDS}
    for use_cache, tag in ((True, "cache"), (False, "no_cache")):
        best = min(walls[use_cache])
        info[f"{tag}_wall_s_best"] = round(best, 2)
        info[f"{tag}_wall_spread"] = round((max(walls[use_cache]) - best) / best, 3)
        info[f"{tag}_cells_per_min"] = round(60 * 4 / best, 1)
        info[f"{tag}_cpu_s_best"] = round(min(cpus[use_cache]), 2)
        info[f"{tag}_cell_cpu_s_best"] = round(min(cells_cpu[use_cache]) / 4, 3)
        info[f"{tag}_parent_cpu_s_best"] = round(min(parent_cpu[use_cache]), 2)
    benchmark.extra_info.update(info)
    print(f"\n{engine} {data}: {info}")


# ---------------------------------------------------------------------- memory
def _status() -> dict[str, int]:
    """kB figures of this process: VmHWM, RssAnon, RssFile (/proc/self/status), Pss (smaps_rollup)."""
    out: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0])
    with open("/proc/self/smaps_rollup", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Pss":
                out[key] = int(value.split()[0])
    return out


def _cell_in_a_worker(sweep: Any, cell: Any, group: Any, source: Any, start_at: float) -> dict[str, Any]:
    """One cell in this (fresh) process; its row's state hash and this process's memory."""
    while time.time() < start_at:  # (two workers start their cells together)
        time.sleep(0.01)
    row = run_cell(sweep, cell, group, source=source)
    return {"state_hash": row["state_hash"], "status": row["status"], "error": row["error"], **_status()}


def _in_fresh_processes(n: int, sweep: Any, cell: Any, group: Any, source: Any) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        start_at = time.time() + 3.0  # after both interpreters are up
        futures = [pool.submit(_cell_in_a_worker, sweep, cell, group, source, start_at) for _ in range(n)]
        return [f.result() for f in futures]


def test_peak_memory_per_worker(benchmark: Any, tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(grid_text("capture"), encoding="utf-8")
    sweep = load_sweep(path)
    prepared = prepare(sweep, tmp_path / "out")
    group = prepared.groups[0]
    source = prepared.sources[group.name]
    cell = grid(sweep, prepared.groups)[1]  # (leverage 125, isolated: the golden run's settings)
    results: dict[str, list[dict[str, Any]]] = {}

    def measure() -> None:
        results["alone, from the file"] = _in_fresh_processes(1, sweep, cell, group, None)
        results["alone, from the cache"] = _in_fresh_processes(1, sweep, cell, group, source)
        results["2 workers, from the file"] = _in_fresh_processes(2, sweep, cell, group, None)
        results["2 workers, one cache"] = _in_fresh_processes(2, sweep, cell, group, source)

    benchmark.pedantic(measure, rounds=1, iterations=1)
    hashes = {r["state_hash"] for rs in results.values() for r in rs}
    assert all(r["status"] == "ok" for rs in results.values() for r in rs) and len(hashes) == 1
    cache_mb = sum(p.stat().st_size for p in Path(source.caches[0]).iterdir()) / 1e6
    info: dict[str, Any] = {"cache_mb": round(cache_mb, 1), "file_mb": round(INPUTS["capture"][0].stat().st_size / 1e6, 1)}
    for name, rs in results.items():
        for i, r in enumerate(rs):
            info[f"{name} #{i + 1}"] = {k: f"{r[k] / 1024:.0f} MB" for k in ("VmHWM", "RssAnon", "RssFile", "Pss")}
    benchmark.extra_info.update(info)
    print()
    for key, value in info.items():
        print(f"{key}: {value}")
