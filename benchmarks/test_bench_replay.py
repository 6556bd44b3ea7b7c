"""Replay throughput: parse-only vs full replay, the delta stream, and the marginal market order.

Every figure is CPU time (``time.process_time``) with wall time beside it, the runs
compared taking turns in one process, best of ``timing.ROUNDS`` rounds, the spread kept
(``timing.py``). Figures go to ``extra_info`` under the names of issue 21.

* **parse-only vs full replay** — rows per CPU second of reading a file into exchange
  commands (reader + market model: every row validated and converted to ticks/lots) vs
  the whole replay (the same + event loop + book + ledger + the venue's per-second mark
  + a passive strategy), on a generated 1,000,000-row Binance ``aggTrades`` file
  (``aggtrades_full_vs_parse``, target >= 0.5) and on the shipped capture
  (``capture_full_vs_parse``; issue 5's target, >= 0.5).
* **delta stream** — the 1.2M market-by-order deltas of ``../shared/bench/workload.py``
  (aggregated to L2 levels in memory beforehand, as a backtest engine has its data loaded)
  replayed with a strategy subscribed to every book change: events per CPU second.
  NautilusTrader's engine on the same deltas is measured beside it by
  ``test_bench_peers.py`` when it is installed (the ``peers`` extra).
* **marginal market order** — what a strategy's market order costs beyond the replay it
  rides on: the first 200,000 of those deltas replayed with the subscribed strategy and
  with one sending a 0.001 BTC market order per book update, in alternating rounds;
  ``(CPU with orders - CPU subscribed) / orders`` = ``marginal_market_order_us`` (target
  <= 10, i.e. ``marginal_orders_per_cpu_s`` >= 100k), cross and isolated margin, margin
  checks and liquidation on.
"""

from __future__ import annotations

import gzip
import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from timing import ROUNDS, Rounds, alternate, per_round, record, spread

from exsim.readers import open_rows
from exsim.readers.rows import LEVEL, Row
from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.replay.market import MarketModel
from exsim.instruments import get_instrument
from exsim_examples.passive import Passive

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "replays" / "binance-usdm-btcusdt-20240808.gz"


def parse_only(path: Path) -> int:
    """Rows through reader + market model, nothing else; returns the rows read."""
    _fmt, rows = open_rows(path)
    first = next(rows)
    model = MarketModel([get_instrument(first.symbol)], marks_replayed=True, funding_replayed=True)
    for _ in model.commands(itertools.chain((first,), rows)):
        pass
    return sum(model.counts)


def full_replay(path: Path) -> dict[str, Any]:
    """The whole replay of ``path`` with a passive strategy; its summary."""
    return Replay([path], Passive(), ReplayConfig()).run()


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


def _ratio_case(benchmark: Any, path: Path, figure: str, target: str) -> None:
    """Parse-only and full replay of ``path`` in alternating rounds: ``figure`` = the full
    replay's row rate over parse-only's, CPU time, each side's best round."""
    got: dict[str, Rounds] = {}
    runs = {"parse": lambda: parse_only(path), "full": lambda: full_replay(path)}
    benchmark.pedantic(lambda: got.update(alternate(runs)), rounds=1, iterations=1)

    rows_p = got["parse"].last
    summary = got["full"].last
    assert rows_p == summary["rows"]
    acct = summary["account"]
    assert acct["fills"] == 0 and acct["equity"] == acct["deposit"]  # the passive strategy never trades
    parse, full = got["parse"], got["full"]
    info = benchmark.extra_info
    info.update(
        rows=rows_p,
        rounds=ROUNDS,
        parse_rows_per_cpu_s=round(rows_p / parse.best_cpu_s),
        full_rows_per_cpu_s=round(rows_p / full.best_cpu_s),
        full_over_parse_wall=round(parse.best_wall_s / full.best_wall_s, 3),
        **parse.summary("parse"),
        **full.summary("full"),
    )
    line = record(info, figure, parse.best_cpu_s / full.best_cpu_s, target, spread(per_round(lambda p, f: p / f, parse, full)))
    print(
        f"\n{path.name}: {rows_p:,} rows; parse-only {rows_p / parse.best_cpu_s:,.0f} rows/CPU s, "
        f"full replay {rows_p / full.best_cpu_s:,.0f} rows/CPU s (best of {ROUNDS}): {line}"
    )


class TestParseVsFull:
    def test_shipped_capture(self, benchmark: Any) -> None:
        if not SHIPPED.is_file():
            pytest.skip("shipped replay missing")
        _ratio_case(benchmark, SHIPPED, "capture_full_vs_parse", ">= 0.5")

    def test_generated_1m_agg_trades(self, benchmark: Any, tmp_path_factory: Any) -> None:
        path = tmp_path_factory.mktemp("agg") / "BTCUSDT-aggTrades-2024-08-08.csv.gz"
        write_agg_trades(path, 1_000_000)
        _ratio_case(benchmark, path, "aggtrades_full_vs_parse", ">= 0.5")


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


#: the marginal-order workload: the first 200k deltas (about 169k book updates)
MARGINAL_ROWS = 200_000


def workload_replay(rows: list[Row], strategy: Strategy, config: ReplayConfig) -> Callable[[], dict[str, Any]]:
    """One replay of the workload's level ``rows`` with ``strategy``: a callable returning its summary."""
    return lambda: Replay([], strategy, config, rows=("workload deltas", frozenset({LEVEL}), rows)).run()


def marginal_rounds(rows: list[Row], config: ReplayConfig, rounds: int = ROUNDS) -> tuple[dict[str, Rounds], Subscribed, MarketOrders]:
    """``rows`` replayed with :class:`Subscribed` and with :class:`MarketOrders`, alternating;
    each round a fresh strategy (the last rounds' are returned for the end-state checks)."""
    last: dict[str, Any] = {}

    def with_strategy(name: str, make: Callable[[], Strategy]) -> tuple[Callable[[], Strategy], Callable[[Strategy], Any]]:
        def setup() -> Strategy:
            last[name] = make()
            return last[name]

        return setup, lambda s: workload_replay(rows, s, config)()

    got = alternate({"subscribed": with_strategy("subscribed", Subscribed), "orders": with_strategy("orders", MarketOrders)}, rounds)
    return got, last["subscribed"], last["orders"]


def marginal_us(subscribed: Rounds, orders: Rounds, n_orders: int) -> tuple[float, float | None]:
    """CPU µs per order beyond the replay (best rounds), and the spread of the per-round figure
    (None when a round's difference was not positive: noise larger than the orders' cost)."""
    best = (orders.best_cpu_s - subscribed.best_cpu_s) / n_orders * 1e6
    each = per_round(lambda s, o: (o - s) / n_orders * 1e6, subscribed, orders)
    return best, spread(each) if min(each) > 0 else None


class TestDeltaStream:
    def test_delta_stream_with_subscribed_strategy(self, benchmark: Any, workload_rows: list[Row]) -> None:
        """The 1.2M deltas with a subscribed strategy: events per CPU second (best of the rounds)."""
        last: list[Subscribed] = []

        def setup() -> Subscribed:
            last[:] = [Subscribed()]
            return last[0]

        got: dict[str, Rounds] = {}
        runs = {"subscribed": (setup, lambda s: workload_replay(workload_rows, s, ReplayConfig())())}
        benchmark.pedantic(lambda: got.update(alternate(runs)), rounds=1, iterations=1)
        s, summary = last[0], got["subscribed"].last
        assert s.levels == len(workload_rows) == summary["rows"]
        r = got["subscribed"]
        info = benchmark.extra_info
        info.update(events=len(workload_rows), book_updates=s.updates, rounds=ROUNDS, **r.summary("subscribed"))
        line = record(info, "subscribed_events_per_cpu_s", len(workload_rows) / r.best_cpu_s, None, r.cpu_spread, digits=0)
        print(f"\n{len(workload_rows):,} deltas ({s.updates:,} book updates) with a subscribed strategy: {line}")


@pytest.mark.parametrize("margin_mode", ["cross", "isolated"])
def test_marginal_market_order(benchmark: Any, workload_rows: list[Row], margin_mode: str) -> None:
    """CPU µs per strategy market order beyond the replay it rides on (issue 21: <= 10)."""
    rows = workload_rows[:MARGINAL_ROWS]
    config = ReplayConfig(balance="1000000", leverage=20, margin_mode=margin_mode)
    ends: list[Any] = []
    benchmark.pedantic(lambda: ends.extend(marginal_rounds(rows, config)), rounds=1, iterations=1)
    got, passive, orders = ends

    summary = got["orders"].last
    settings = summary["settings"]["symbols"]["BTCUSDT"]
    assert (settings["margin_mode"], settings["leverage"]) == (margin_mode, 20)  # the case measured what it says
    assert got["subscribed"].last["account"]["fills"] == 0 and passive.levels == len(rows)
    assert summary["account"]["orders_sent"] == orders.sent > 0.8 * len(rows)
    assert orders.sent == passive.updates  # one order per book update
    assert orders.fills > 0.9 * orders.sent  # nearly every market order found liquidity
    us, us_spread = marginal_us(got["subscribed"], got["orders"], orders.sent)
    info = benchmark.extra_info
    info.update(
        margin_mode=margin_mode,
        events=len(rows),
        orders=orders.sent,
        fills=orders.fills,
        rounds=ROUNDS,
        orders_per_cpu_s_with_replay=round(orders.sent / got["orders"].best_cpu_s),
        **got["subscribed"].summary("subscribed"),
        **got["orders"].summary("orders"),
    )
    # the order's cost in replayed events' worth: an absolute CPU time still moves with the
    # machine's load (other processes on the same cores evict its caches), this ratio much less
    per_event = per_round(lambda s, o: (o - s) / orders.sent / (s / len(rows)), got["subscribed"], got["orders"])
    lines = [
        record(info, "marginal_market_order_us", us, "<= 10", us_spread, digits=2),
        record(info, "marginal_orders_per_cpu_s", 1e6 / us, ">= 100000", us_spread, digits=0),
        record(info, "marginal_order_in_replayed_events", us / (got["subscribed"].best_cpu_s / len(rows) * 1e6), None,
               spread(per_event) if min(per_event) > 0 else None, digits=2),
    ]
    print(f"\n{margin_mode}: {orders.sent:,} market orders among {len(rows):,} deltas, best of {ROUNDS} (CPU): " + "; ".join(lines))
