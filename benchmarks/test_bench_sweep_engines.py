"""Sweep engines: cells per minute on local processes (1 and 2) and on a local Ray.

The grid: 24 cells of the holder on the shipped crash bars (``replays/btc-perp-20220121-1m.csv``,
960 rows a cell): 3 leverages x 2 margin modes x 4 entry delays, with the input cache
(exsim.sweep.cache, where it is installed). Each engine runs it into a fresh folder; the
figures (``extra_info``) are cells a minute of wall time, the cells' own CPU seconds
(summed ``cpu_s``) and, for Ray, the seconds its start takes (``ray.init`` of 2 CPUs on the
loopback). Each run asserts its end state: 24 rows, all ok, the same state hashes
whichever engine ran them. On the project's 2-core machine, the other jobs running
beside it decide how much the second worker adds: read the CPU column with the wall one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from exsim.sweep.engine import run_sweep
from exsim.sweep.spec import load_sweep
from exsim.sweep.table import read_results

ROOT = Path(__file__).resolve().parents[1]
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"
GRID = f"""
name = "bench-engines"
[inputs]
files = ["{CRASH}"]
symbol = "BTCUSDT"
[strategy]
name = "holder"
params = {{ qty = "0.05" }}
[config]
balance = "1000"
[axes]
leverage = [10, 50, 125]
margin_mode = ["isolated", "cross"]
[axes.param]
enter_after_s = {{ from = 0, to = 5400, step = 1800 }}
"""
HASHES: dict[str, list[str]] = {}


def _ray() -> Any:
    """ray, imported as the engine imports it for a Ray of its own (on the loopback); skip without the extra."""
    from exsim.errors import InputError
    from exsim.sweep.ray_engine import import_ray

    try:
        return import_ray(local=True)
    except InputError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize(
    "engine, options",
    [("processes-1", {"jobs": 1}), ("processes-2", {"jobs": 2}), ("ray-2", {"jobs": 2, "ray_address": True})],
)
def test_cells_per_minute(benchmark: Any, tmp_path: Path, engine: str, options: dict[str, Any]) -> None:
    if "ray_address" in options:
        _ray()
    path = tmp_path / "grid.toml"
    path.write_text(GRID, encoding="utf-8")
    sweep = load_sweep(path)
    runs = iter(range(1_000))

    def run() -> float:
        out = tmp_path / f"out-{next(runs)}"
        t0 = time.perf_counter()
        run_sweep(sweep, out, progress=False, **options)
        return time.perf_counter() - t0

    wall = benchmark.pedantic(run, rounds=1, iterations=1)
    rows = read_results(tmp_path / "out-0")
    assert len(rows) == 24 and all(r["status"] == "ok" for r in rows)
    hashes = [r["state_hash"] for r in rows]
    assert HASHES.setdefault("grid", hashes) == hashes  # (the same rows whichever engine)
    benchmark.extra_info.update(
        engine=engine,
        cells=len(rows),
        wall_s=round(wall, 2),
        cells_per_min=round(60 * len(rows) / wall, 1),
        cells_cpu_s=round(sum(r["cpu_s"] for r in rows), 2),
        cell_wall_s_mean=round(sum(r["wall_s"] for r in rows) / len(rows), 3),
    )


def test_ray_start(benchmark: Any) -> None:
    """A local Ray of 2 CPUs as the engine starts it: ray.init, then shutdown."""
    from exsim.sweep.ray_engine import start

    ray = _ray()
    assert not ray.is_initialized()

    def cycle() -> float:
        t0 = time.perf_counter()
        assert start(True, 2)
        up = time.perf_counter() - t0
        assert ray.cluster_resources()["CPU"] == 2
        ray.shutdown()
        return up

    up = benchmark.pedantic(cycle, rounds=1, iterations=1)
    benchmark.extra_info.update(ray_init_s=round(up, 2))
    assert not ray.is_initialized()
