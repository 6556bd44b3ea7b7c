"""NautilusTrader measured beside exsim in the same run (issue 21), when it is installed.

``pip install -e '.[peers]'`` brings it; without it these benchmarks are skipped with a
printed note. The figures that used to be constants from another machine (0.32M events/s,
2.2k orders/s) are measured here, in the same process, in alternating rounds with exsim,
CPU time, best of ``timing.ROUNDS`` (``timing.py``), and counted like for like:

* **events with a subscribed strategy** — the shared workload's 1.2M deltas as L2 levels
  (``delta_rows``), every delta one event for both. exsim replays them as level rows
  (``Replay(rows=...)``: it parses the price and size texts as it goes); NautilusTrader's
  ``BacktestEngine`` gets them as ``OrderBookDelta`` objects built beforehand (ADD for a
  new level, UPDATE for a changed one, DELETE at zero; ``F_LAST`` on the last delta of a
  workload event), and only ``engine.run()`` is timed. Each engine's strategy subscribes
  to the book's deltas and hears one update per workload event (NautilusTrader's data
  engine buffers the deltas up to ``F_LAST``); the test checks both heard as many.
* **marginal market orders** — the first ``EXSIM_BENCH_PEER_ROWS`` deltas (default 20,000:
  NautilusTrader spends about half a millisecond of CPU per order, so 169k orders would take
  minutes a round) replayed by each engine with the subscribed strategy and with one
  sending a 0.001 BTC market order per update; ``(CPU with orders - CPU subscribed) /
  orders``. exsim: cross margin, 1,000,000 USDT at 20x, liquidation on; NautilusTrader:
  a Binance-like perpetual (its test kit's ``BTCUSDT-PERP.BINANCE``) on a netting margin
  account with 1,000,000 USDT at 20x, its pre-trade risk checks on with the order-rate
  limit raised (the workload packs 200k deltas into 0.2 s of market time, so the default
  100 orders/s would deny nearly every order), logging at ERROR, no post-run analysis.

NautilusTrader is used through its public Python API as its documentation shows
(``BacktestEngine``, ``Strategy``, ``OrderBookDelta``); nothing of it is copied here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from test_bench_replay import MarketOrders, Subscribed, marginal_us, workload_replay
from timing import ROUNDS, Rounds, alternate, per_round, record, spread

from exsim.readers.rows import Row
from exsim.replay import ReplayConfig

try:
    import nautilus_trader
except ImportError:  # the optional peers extra
    nautilus_trader = None

PEER_ROWS = int(os.environ.get("EXSIM_BENCH_PEER_ROWS", "20000"))


@pytest.fixture(scope="session", autouse=True)  # session: set up before the session-wide workload
def need_nautilus() -> None:
    """Skip (with a printed note) when NautilusTrader is not installed, before the workload is built."""
    if nautilus_trader is None:
        note = "NautilusTrader is not installed (pip install -e '.[peers]'): the peer comparison is skipped"
        print(f"\n{note}")
        pytest.skip(note)


class NautilusRun:
    """One NautilusTrader backtest of the workload's deltas: built by :meth:`__init__`
    (untimed), run by :meth:`run` (timed)."""

    def __init__(self, data: list[Any], orders: bool) -> None:
        from nautilus_trader.backtest.config import BacktestEngineConfig
        from nautilus_trader.backtest.engine import BacktestEngine
        from nautilus_trader.config import DataEngineConfig, LoggingConfig, RiskEngineConfig
        from nautilus_trader.model.currencies import USDT
        from nautilus_trader.model.enums import AccountType, BookType, OmsType
        from nautilus_trader.model.identifiers import Venue
        from nautilus_trader.model.objects import Money

        config = BacktestEngineConfig(
            logging=LoggingConfig(log_level="ERROR"),
            data_engine=DataEngineConfig(buffer_deltas=True),
            risk_engine=RiskEngineConfig(max_order_submit_rate="1000000000/00:00:01"),
            run_analysis=False,
        )
        self.engine = BacktestEngine(config=config)
        self.engine.add_venue(
            venue=Venue("BINANCE"),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            starting_balances=[Money(1_000_000, USDT)],
            default_leverage=Decimal(20),
            book_type=BookType.L2_MBP,
        )
        self.engine.add_instrument(nautilus_instrument())
        self.engine.add_data(data)
        self.strategy = nautilus_strategy(orders)
        self.engine.add_strategy(self.strategy)

    def run(self) -> Any:
        self.engine.run()
        return self.strategy

    def dispose(self) -> None:
        self.engine.dispose()


def nautilus_instrument() -> Any:
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    return TestInstrumentProvider.btcusdt_perp_binance()


def nautilus_deltas(rows: list[Row]) -> list[Any]:
    """The level rows as NautilusTrader ``OrderBookDelta`` objects (one per row), ``F_LAST``
    on the last row of each workload event (the rows of one event share a timestamp)."""
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
    from nautilus_trader.model.objects import Price, Quantity

    iid = nautilus_instrument().id
    sides = (OrderSide.BUY, OrderSide.SELL)  # exsim's BUY = 0, SELL = 1
    live: set[tuple[int, str]] = set()
    out = []
    for i, r in enumerate(rows):
        last = i + 1 == len(rows) or rows[i + 1].ts_ns != r.ts_ns
        key = (r.side, r.price)
        size = Quantity.from_str(r.qty)
        if size.raw == 0:
            action = BookAction.DELETE
            live.discard(key)
        elif key in live:
            action = BookAction.UPDATE
        else:
            action = BookAction.ADD
            live.add(key)
        order = BookOrder(sides[r.side], Price.from_str(r.price), size, 0)
        out.append(OrderBookDelta(iid, action, order, RecordFlag.F_LAST if last else 0, 0, r.ts_ns, r.ts_ns))
    return out


def nautilus_strategy(orders: bool) -> Any:
    """A NautilusTrader strategy subscribed to the book's deltas; with ``orders``, one 0.001 BTC
    market order per update, alternating sides (as :class:`MarketOrders`)."""
    from nautilus_trader.config import StrategyConfig
    from nautilus_trader.model.enums import BookType, OrderSide
    from nautilus_trader.model.objects import Quantity
    from nautilus_trader.trading.strategy import Strategy

    iid = nautilus_instrument().id
    qty = Quantity.from_str("0.001")

    class Peer(Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(StrategyConfig(strategy_id="PEER-001"))
            self.updates = 0
            self.sent = 0
            self.fills = 0

        def on_start(self) -> None:
            self.subscribe_order_book_deltas(iid, BookType.L2_MBP)

        def on_order_book_deltas(self, deltas: Any) -> None:
            self.updates += 1
            if orders:
                self.sent += 1
                side = OrderSide.BUY if self.sent & 1 else OrderSide.SELL
                self.submit_order(self.order_factory.market(iid, side, qty))

        def on_order_filled(self, event: Any) -> None:
            self.fills += 1

    return Peer()


def nautilus_rounds(data: list[Any], orders: bool) -> tuple[Callable[[], NautilusRun], Callable[[NautilusRun], Any]]:
    """A ``(setup, run)`` pair for :func:`timing.alternate`: each round a fresh engine, the
    previous one disposed of in the setup (untimed)."""
    held: list[NautilusRun] = []

    def setup() -> NautilusRun:
        for old in held:
            old.dispose()
        held[:] = [NautilusRun(data, orders)]
        return held[0]

    return setup, NautilusRun.run


def exsim_rounds(rows: list[Row], make: Callable[[], Any], config: ReplayConfig, last: dict[str, Any], name: str) -> tuple[Callable[[], Any], Callable[[Any], Any]]:
    def setup() -> Any:
        last[name] = make()
        return last[name]

    return setup, lambda s: workload_replay(rows, s, config)()


def test_subscribed_stream_vs_nautilus(benchmark: Any, workload_rows: list[Row]) -> None:
    """Events per CPU second with a subscribed strategy, exsim and NautilusTrader alternating."""
    data = nautilus_deltas(workload_rows)
    last: dict[str, Any] = {}
    runs = {
        "exsim": exsim_rounds(workload_rows, Subscribed, ReplayConfig(), last, "exsim"),
        "nautilus": nautilus_rounds(data, orders=False),
    }
    got: dict[str, Rounds] = {}
    benchmark.pedantic(lambda: got.update(alternate(runs)), rounds=1, iterations=1)

    ours, theirs = last["exsim"], got["nautilus"].last
    assert ours.levels == len(workload_rows) == got["exsim"].last["rows"]
    assert theirs.updates == ours.updates  # one update per workload event for both
    n = len(workload_rows)
    info = benchmark.extra_info
    info.update(
        events=n,
        book_updates=ours.updates,
        rounds=ROUNDS,
        nautilus_version=nautilus_trader.__version__,
        **got["exsim"].summary("exsim"),
        **got["nautilus"].summary("nautilus"),
    )
    lines = [
        record(info, "exsim_subscribed_events_per_cpu_s", n / got["exsim"].best_cpu_s, None, got["exsim"].cpu_spread, digits=0),
        record(info, "nautilus_subscribed_events_per_cpu_s", n / got["nautilus"].best_cpu_s, None, got["nautilus"].cpu_spread, digits=0),
        record(info, "subscribed_events_vs_nautilus", got["nautilus"].best_cpu_s / got["exsim"].best_cpu_s, None,
               spread(per_round(lambda e, t: t / e, got["exsim"], got["nautilus"]))),
    ]
    print(f"\n{n:,} deltas ({ours.updates:,} updates), subscribed strategy, best of {ROUNDS} (CPU): " + "; ".join(lines))


def test_marginal_market_order_vs_nautilus(benchmark: Any, workload_rows: list[Row]) -> None:
    """CPU per marginal market order, exsim (cross) and NautilusTrader, four runs alternating."""
    rows = workload_rows[:PEER_ROWS]
    data = nautilus_deltas(rows)
    config = ReplayConfig(balance="1000000", leverage=20, margin_mode="cross")
    last: dict[str, Any] = {}
    runs = {
        "exsim_subscribed": exsim_rounds(rows, Subscribed, config, last, "exsim_subscribed"),
        "exsim_orders": exsim_rounds(rows, MarketOrders, config, last, "exsim_orders"),
        "nautilus_subscribed": nautilus_rounds(data, orders=False),
        "nautilus_orders": nautilus_rounds(data, orders=True),
    }
    got: dict[str, Rounds] = {}
    benchmark.pedantic(lambda: got.update(alternate(runs)), rounds=1, iterations=1)

    ours, theirs = last["exsim_orders"], got["nautilus_orders"].last
    assert ours.sent == last["exsim_subscribed"].updates == got["nautilus_subscribed"].last.updates == theirs.sent
    assert ours.fills > 0.9 * ours.sent and theirs.fills > 0.9 * theirs.sent  # nearly every order filled, both
    exsim_us, exsim_spread = marginal_us(got["exsim_subscribed"], got["exsim_orders"], ours.sent)
    theirs_us, theirs_spread = marginal_us(got["nautilus_subscribed"], got["nautilus_orders"], theirs.sent)
    info = benchmark.extra_info
    info.update(
        events=len(rows),
        orders=ours.sent,
        exsim_fills=ours.fills,
        nautilus_fills=theirs.fills,
        rounds=ROUNDS,
        nautilus_version=nautilus_trader.__version__,
        **{k: v for name, r in got.items() for k, v in r.summary(name).items()},
    )
    each_ratio = per_round(lambda es, eo, ns, no: (no - ns) / (eo - es), got["exsim_subscribed"], got["exsim_orders"],
                           got["nautilus_subscribed"], got["nautilus_orders"])
    lines = [
        record(info, "exsim_marginal_market_order_us", exsim_us, None, exsim_spread, digits=2),
        record(info, "nautilus_marginal_market_order_us", theirs_us, None, theirs_spread, digits=1),
        record(info, "nautilus_marginal_orders_per_cpu_s", 1e6 / theirs_us, None, theirs_spread, digits=0),
        record(info, "marginal_orders_vs_nautilus", theirs_us / exsim_us, None, spread(each_ratio) if min(each_ratio) > 0 else None),
    ]
    print(f"\n{ours.sent:,} market orders among {len(rows):,} deltas, best of {ROUNDS} (CPU): " + "; ".join(lines))
