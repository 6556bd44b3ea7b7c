"""Bars (``exsim.replay.bars``): what aggregation and bar-file delivery cost a replay.

* **tick replay, with and without bars** — the shipped Binance capture (598,754 rows) with a
  passive strategy, then the same strategy subscribed to 1s and 1m bars. A strategy
  without ``on_bar`` pays one attribute test per replayed trade; with subscriptions, one
  O(1) fold per subscription. Target: bars cost under 15 % of the run.
* **a month of 1-minute bars with on_bar** — ``../shared/data/nautilus-fixtures/btc-perp-
  20211231-20220201_1m.csv`` (45,031 bars) delivered to ``on_bar`` as file bars.

Measured (2 shared cores, busy; best of 3): the capture 2.75-3.0 s without bars on this
branch and on main alike (the bar plumbing costs tick replays nothing measurable), 2.8-3.2 s
with 1s+1m subscriptions (349 bars); the month of bars (marks sampled each minute) 10.5 s
without ``on_bar``, 10.7 s with it (45,027 file bars).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from exsim.replay import Replay, ReplayConfig
from exsim_examples.passive import Passive

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "replays" / "binance-usdm-btcusdt-20240808.gz"
MONTH = ROOT.parent / "shared" / "data" / "nautilus-fixtures" / "btc-perp-20211231-20220201_1m.csv"


class Subscribed(Passive):
    """The passive strategy, also subscribed to 1s and 1m bars (counted)."""

    def on_start(self, ctx: Any) -> None:
        super().on_start(ctx)
        self.bars = 0
        ctx.subscribe_bars(ctx.default_symbol, "1s")
        ctx.subscribe_bars(ctx.default_symbol, "1m")

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.bars += 1


def timed(files: list[Path], strategy: Any, config: ReplayConfig) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    summary = Replay(files, strategy, config).run()
    return time.perf_counter() - t0, summary


def test_bars_on_a_tick_replay(benchmark: Any) -> None:
    plain = min(timed([SHIPPED], Passive(), ReplayConfig())[0] for _ in range(3))
    strategy = Subscribed()
    with_bars, summary = benchmark.pedantic(lambda: timed([SHIPPED], strategy, ReplayConfig()), rounds=1, iterations=1)
    print(f"\ncapture: {plain:.2f} s plain, {with_bars:.2f} s with 1s+1m bars ({strategy.bars} bars)")
    assert summary["rows"] == 598_754 and strategy.bars > 300
    assert with_bars < plain * 1.15


@pytest.mark.skipif(not MONTH.is_file(), reason="needs ../shared/data")
def test_a_month_of_file_bars_to_on_bar(benchmark: Any) -> None:
    class Count(Passive):
        n = 0

        def on_bar(self, ctx: Any, bar: Any) -> None:
            self.n += 1

    # (marks sampled every minute: at the default second, a month is 2.7M index samples,
    # which would measure the mark sampler, not the bars)
    config = ReplayConfig(symbol="BTCUSDT", skip_bad_rows=True, mark_interval_ns=60 * 10**9, sample_interval_ns=60 * 10**9)
    plain, _ = timed([MONTH], Passive(), config)
    strategy = Count()
    seconds, summary = benchmark.pedantic(lambda: timed([MONTH], strategy, config), rounds=1, iterations=1)
    print(f"\nmonth of 1m bars: {plain:.2f} s without on_bar, {seconds:.2f} s with ({strategy.n:,} bars, {summary['rows']:,} rows)")
    assert strategy.n > 44_000
