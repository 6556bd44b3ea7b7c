"""Replay throughput: parse-only vs full replay, and the delta stream against NautilusTrader.

* **parse-only vs full replay** — rows/s of reading a file into exchange commands (reader +
  market model: every row validated and converted to ticks/lots) vs the whole replay
  (the same + event loop + book + ledger + a passive strategy), on the shipped Binance
  capture and on a generated 1,000,000-row Binance ``aggTrades`` file. Target: full replay
  at least half the parse-only rate.
* **delta stream vs NautilusTrader** — the 1.2M market-by-order deltas of
  ``../shared/bench/workload.py`` (aggregated to L2 levels in memory beforehand, as a
  backtest engine has its data loaded) replayed with a strategy subscribed to every book
  change. NautilusTrader's backtest engine: about 0.32M events/s (measured on this machine
  class). Target: at least 0.32M events/s.
* **strategy market orders** — the same stream with a strategy sending one market order per
  book change (margin checks and liquidation on). NautilusTrader: about 2.2k orders/s.
  Target: at least 100k strategy orders/s.
"""

from __future__ import annotations

import gzip
import random
import time
from pathlib import Path
from typing import Any

import pytest

from exsim.readers import open_rows
from exsim.readers.rows import LEVEL, Row
from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.replay.market import MarketModel
from exsim.instruments import get_instrument
from exsim_examples.passive import Passive

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "replays" / "binance-usdm-btcusdt-20240808.gz"


def parse_only(path: Path) -> tuple[int, float]:
    """Rows through reader + market model, nothing else; returns (rows, seconds)."""
    t0 = time.perf_counter()
    fmt, rows = open_rows(path)
    symbol = None
    model = None
    n = 0
    first = next(rows)
    symbol = first.symbol
    model = MarketModel([get_instrument(symbol)], marks_replayed=True, funding_replayed=True)
    import itertools

    for _ in model.commands(itertools.chain((first,), rows)):
        n += 1
    return sum(model.counts), time.perf_counter() - t0


def full_replay(path: Path) -> tuple[int, float, dict[str, Any]]:
    t0 = time.perf_counter()
    summary = Replay([path], Passive(), ReplayConfig()).run()
    return summary["rows"], time.perf_counter() - t0, summary


def write_agg_trades(path: Path, n: int, seed: int = 20261121) -> None:
    """A Binance UM aggTrades CSV (with header) of ``n`` rows: a random walk around 61,600."""
    rnd = random.Random(seed)
    px = 616_000  # dimes
    ts_ms = 1_723_075_200_000  # 2024-08-08 00:00 UTC
    with gzip.open(path, "wt") as f:
        f.write("agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n")
        tid = 5_000_000_000
        for i in range(n):
            ts_ms += rnd.randint(0, 170)
            px += rnd.choice((-1, 0, 0, 1))
            k = rnd.randint(1, 3)
            f.write(f"{2_200_000_000 + i},{px // 10}.{px % 10},{rnd.randint(1, 900) / 1000:.3f},{tid},{tid + k - 1},{ts_ms},{'true' if rnd.random() < 0.5 else 'false'}\n")
            tid += k


def _ratio_case(benchmark: Any, path: Path) -> None:
    def run() -> tuple[Any, ...]:
        rows_p, s_p = parse_only(path)
        rows_f, s_f, summary = full_replay(path)
        return rows_p, s_p, rows_f, s_f, summary

    rows_p, s_p, rows_f, s_f, summary = benchmark.pedantic(run, rounds=2, iterations=1)
    assert rows_p == rows_f
    acct = summary["account"]
    assert acct["fills"] == 0 and acct["equity"] == acct["deposit"]  # the passive strategy never trades
    parse_rate, full_rate = rows_p / s_p, rows_f / s_f
    benchmark.extra_info.update(
        rows=rows_p, parse_rows_per_s=round(parse_rate), full_rows_per_s=round(full_rate), full_over_parse=round(full_rate / parse_rate, 3)
    )
    print(f"\n{path.name}: {rows_p:,} rows; parse-only {parse_rate:,.0f} rows/s, full replay {full_rate:,.0f} rows/s: {full_rate / parse_rate:.2f}x")


class TestParseVsFull:
    def test_shipped_capture(self, benchmark: Any) -> None:
        if not SHIPPED.is_file():
            pytest.skip("shipped replay missing")
        _ratio_case(benchmark, SHIPPED)

    def test_generated_1m_agg_trades(self, benchmark: Any, tmp_path_factory: Any) -> None:
        path = tmp_path_factory.mktemp("agg") / "BTCUSDT-aggTrades-2024-08-08.csv.gz"
        write_agg_trades(path, 1_000_000)
        _ratio_case(benchmark, path)


def delta_rows(deltas: list[Any]) -> list[Row]:
    """Market-by-order deltas → L2 level rows (the level's new total), in memory."""
    totals: dict[tuple[int, int], int] = {}
    orders: dict[int, int] = {}
    out = []
    t0 = 1_700_000_000_000_000_000
    for action, side, price, qty, oid, ev in deltas:
        if action == 0:
            orders[oid] = qty
            d = qty
        elif action == 1:
            d = qty - orders[oid]
            orders[oid] = qty
        else:
            d = -orders.pop(oid)
        key = (side, price)
        tot = totals[key] = totals.get(key, 0) + d
        out.append(Row(t0 + ev * 1000, LEVEL, "BTCUSDT", side, f"{price // 10}.{price % 10}", f"{tot // 1000}.{tot % 1000:03d}", "", "workload"))
    return out


class Subscribed(Strategy):
    """Hears every book update (one per workload event: its deltas come as one update)."""

    def __init__(self) -> None:
        self.updates = 0
        self.levels = 0

    def on_book(self, ctx: Any, update: Any) -> None:
        self.updates += 1
        self.levels += len(update.levels)


class MarketOrders(Strategy):
    """One 0.001 BTC market order per book update, alternating sides."""

    def __init__(self) -> None:
        self.sent = 0
        self.fills = 0

    def on_book(self, ctx: Any, update: Any) -> None:
        self.sent += 1
        if self.sent & 1:
            ctx.buy("BTCUSDT", 1)
        else:
            ctx.sell("BTCUSDT", 1)

    def on_fill(self, ctx: Any, fill: Any) -> None:
        self.fills += 1


@pytest.fixture(scope="session")
def workload_rows(workload_1m: Any) -> list[Row]:
    return delta_rows(workload_1m[1])


class TestAgainstNautilus:
    def test_delta_stream_with_subscribed_strategy(self, benchmark: Any, workload_rows: list[Row]) -> None:
        def run() -> tuple[float, Subscribed, dict[str, Any]]:
            s = Subscribed()
            r = Replay([], s, ReplayConfig(), rows=("workload deltas", frozenset({LEVEL}), workload_rows))
            t0 = time.perf_counter()
            summary = r.run()
            return time.perf_counter() - t0, s, summary

        secs, s, summary = benchmark.pedantic(run, rounds=2, iterations=1)
        assert s.levels == len(workload_rows) == summary["rows"]
        rate = len(workload_rows) / secs
        benchmark.extra_info.update(
            events=len(workload_rows), book_updates=s.updates, events_per_s=round(rate), vs_nautilus=round(rate / 320_000, 2)
        )
        print(
            f"\n{len(workload_rows):,} deltas ({s.updates:,} book updates) with a subscribed strategy: "
            f"{rate:,.0f} events/s ({rate / 320_000:.2f}x NautilusTrader's 0.32M)"
        )

    def test_strategy_market_orders(self, benchmark: Any, workload_rows: list[Row]) -> None:
        rows = workload_rows[:200_000]

        def run() -> tuple[float, MarketOrders, dict[str, Any]]:
            s = MarketOrders()
            r = Replay([], s, ReplayConfig(balance="1000000", leverage=20), rows=("workload deltas", frozenset({LEVEL}), rows))
            t0 = time.perf_counter()
            summary = r.run()
            return time.perf_counter() - t0, s, summary

        secs, s, summary = benchmark.pedantic(run, rounds=2, iterations=1)
        assert summary["account"]["orders_sent"] == s.sent > 0.8 * len(rows)
        assert s.fills > 0.9 * s.sent  # nearly every market order found liquidity
        rate = s.sent / secs
        benchmark.extra_info.update(orders=s.sent, fills=s.fills, orders_per_s=round(rate), vs_nautilus=round(rate / 2_200, 1))
        print(f"\n{s.sent:,} strategy market orders among {len(rows):,} deltas ({secs:.2f} s): {rate:,.0f} orders/s ({rate / 2_200:,.0f}x NautilusTrader's 2.2k)")
