"""Linear contracts must not get slower with issue 16: this checkout against a baseline one.

Run::

    git -C . worktree add /tmp/exsim-baseline 34e63f5      # the code before issue 16
    EXSIM_BASELINE=/tmp/exsim-baseline pytest benchmarks/test_bench_linear_regression.py --benchmark-only -s

Five linear-only workloads, taken from the existing benchmarks of each checkout itself
(``test_bench_mark_tick.build``, ``test_bench_cascade.build``, ``test_bench_replay``'s
shipped capture and market-order strategy): booking 200,000 fills into the ledger (100k
open positions), 200,000 mark ticks on them, a cascade of 10,000 liquidations (100,000
accounts) in one crash tick, a full replay of the shipped Binance capture, and 100,000 workload deltas with a
strategy sending a market order on each. Each round runs every workload once in a fresh
interpreter per checkout (``PYTHONPATH`` = that checkout, so ``exsim`` is that checkout's
code), the two checkouts taking turns and alternating which goes first, so a change in the
machine's load falls on both alike. Figures: CPU time of the workload alone (the child's
``process_time``, not its start-up or set-up), best of the rounds and spread
(worst / best) per checkout; wall time beside it. Target (issue 16): no workload more than
5 % slower (best CPU time, this checkout / baseline <= 1.05).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5
WORKLOADS = ("fills_200k", "mark_ticks_200k", "cascade_100k_accounts", "replay_shipped_capture", "market_orders_100k")

#: the child: runs every workload on the checkout given, prints {name: [cpu_s, wall_s]}
CHILD = r'''
import gc, importlib.util, json, sys, time
from pathlib import Path
checkout = Path(sys.argv[1])
shared = Path(sys.argv[2])
sys.path.insert(0, str(checkout / "benchmarks"))  # the benchmarks' own helpers (timing.py)
import exsim
assert Path(exsim.__file__).resolve().is_relative_to(checkout.resolve()), exsim.__file__

def load(name):
    spec = importlib.util.spec_from_file_location(name, checkout / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

def timed(fn):
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, [time.process_time() - c0, time.perf_counter() - w0]

res = {}
from exsim.exchange import SetMarkPrice
mt = load("test_bench_mark_tick")
(ex, ledger), res["fills_200k"] = timed(lambda: mt.build(100_000))
per_tick = ex.markets["BTCUSDT"].instrument.subticks_per_tick
ticks = [SetMarkPrice(i, "BTCUSDT", (mt.MARKS["BTCUSDT"] + (1 if i % 2 else -1)) * per_tick) for i in range(1, 200_001)]
def run_ticks():
    for t in ticks:
        ex.submit(t)
_, res["mark_ticks_200k"] = timed(run_ticks)
assert not ledger.liquidatable
del ex, ledger, ticks

cas = load("test_bench_cascade")
ex, ledger, counts = cas.build(100_000)
crash = SetMarkPrice(1, "BTCUSDT", cas.MARK * 9 // 10 * ex.markets["BTCUSDT"].instrument.subticks_per_tick)
_, res["cascade_100k_accounts"] = timed(lambda: ex.submit(crash))
assert counts[cas.Liquidation] > 8_000
del ex, ledger, counts

rp = load("test_bench_replay")
summary, res["replay_shipped_capture"] = timed(lambda: rp.Replay([rp.SHIPPED], rp.Passive(), rp.ReplayConfig()).run())
assert summary["rows"] > 0
sys.path.insert(0, str(shared))
import workload
rows = rp.delta_rows(workload.generate(100_000, 20261121, 100)[1])[:100_000]
s = rp.MarketOrders()
r = rp.Replay([], s, rp.ReplayConfig(balance="1000000", leverage=20), rows=("workload deltas", frozenset({rp.LEVEL}), rows))
_, res["market_orders_100k"] = timed(r.run)
assert s.fills > 0.9 * s.sent
print(json.dumps(res))
'''


def run_child(checkout: Path) -> dict[str, list[float]]:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(checkout), str(ROOT.parent / "shared" / "bench")],
        env=env, capture_output=True, text=True, cwd=checkout, check=False,
    )
    if out.returncode:
        raise AssertionError(f"workload child on {checkout} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_linear_workloads_vs_baseline(benchmark: Any) -> None:
    """Every linear workload's best CPU time on this checkout against the baseline's (target <= 1.05x)."""
    base = os.environ.get("EXSIM_BASELINE")
    if not base:
        pytest.skip("set EXSIM_BASELINE to a checkout of the code before issue 16 (see the module docstring)")
    checkouts = {"baseline": Path(base).resolve(), "this": ROOT}
    times: dict[str, list[dict[str, list[float]]]] = {name: [] for name in checkouts}

    def rounds() -> None:
        names = list(checkouts)
        for i in range(ROUNDS):
            for name in names if i % 2 == 0 else reversed(names):
                times[name].append(run_child(checkouts[name]))

    benchmark.pedantic(rounds, rounds=1, iterations=1)
    info: dict[str, Any] = {"rounds": ROUNDS, "baseline": str(checkouts["baseline"])}
    lines = [f"{'workload':<24} {'baseline CPU best (spread)':>28} {'this CPU best (spread)':>24} {'ratio':>6}  wall best base/this"]
    for w in WORKLOADS:
        row: dict[str, Any] = {}
        for name in checkouts:
            cpus = [r[w][0] for r in times[name]]
            walls = [r[w][1] for r in times[name]]
            row[name] = {"cpu_s_best": round(min(cpus), 4), "cpu_spread": round(max(cpus) / min(cpus), 3),
                         "wall_s_best": round(min(walls), 4), "wall_spread": round(max(walls) / min(walls), 3)}
        row["cpu_ratio_best"] = round(row["this"]["cpu_s_best"] / row["baseline"]["cpu_s_best"], 3)
        row["cpu_ratio_median"] = round(
            sorted(t[w][0] for t in times["this"])[ROUNDS // 2] / sorted(t[w][0] for t in times["baseline"])[ROUNDS // 2], 3
        )
        info[w] = row
        b, t = row["baseline"], row["this"]
        lines.append(
            f"{w:<24} {b['cpu_s_best']:>18.3f} s ({b['cpu_spread']:.2f}) {t['cpu_s_best']:>14.3f} s ({t['cpu_spread']:.2f}) "
            f"{row['cpu_ratio_best']:>6.3f}  {b['wall_s_best']:.3f} / {t['wall_s_best']:.3f} s"
        )
    info["worst_cpu_ratio"] = max(info[w]["cpu_ratio_best"] for w in WORKLOADS)
    benchmark.extra_info.update(info)
    print("\n" + "\n".join(lines) + f"\nworst best-CPU ratio: {info['worst_cpu_ratio']} (target <= 1.05)")
