"""Order book and exchange throughput on the shared 1,000,000-event reference workload.

Run: ``pytest benchmarks/ --benchmark-only``. Each benchmark runs exsim and the shared
reference books (``../shared/bench/run_reference.measure``) in this same process and
records events/s and the ratios in ``extra_info``; each asserts it reproduced the
workload's fill count, traded quantity and final book. Targets (issue 2): the book alone
at least as fast as the *tuned* reference; the whole exchange at least as fast as the
*straightforward* one; per-event cost at 100k resting orders no worse than at 1k; under
400 bytes per resting order.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

import attrs

from exsim.book import Order, OrderBook
from exsim.book.orders import BUY, GTC, IOC, LIMIT, MARKET, SELL
from exsim.exchange import CancelOrder, Exchange, NewOrder
from exsim.instruments import Instrument, get_instrument

ACCOUNT = 1


def bench_instrument() -> Instrument:
    """A BTCUSDT-like contract with no minimum notional (the workload has tiny orders)."""
    return attrs.evolve(get_instrument("BTCUSDT"), min_notional_atoms=0)


def run_book(events: list[tuple[int, int, int, int, int]], book: OrderBook | None = None) -> tuple[OrderBook, int, int]:
    """Drive an OrderBook with workload tuples as the exchange would; return (book, fills, traded lots).

    Fills are consumed after every event (as the exchange does), not accumulated.
    """
    book = OrderBook() if book is None else book
    fills: list[Any] = []
    limit = book.limit
    match = book.match
    cancel = book.cancel
    n_fills = 0
    traded = 0
    for kind, side, price, qty, oid in events:
        if kind == 0:
            limit(Order(oid, ACCOUNT, side, price, qty), 0, fills)
        elif kind == 1:
            cancel(oid)
            continue
        else:
            match(oid, ACCOUNT, side, qty, None, 0, fills)
        if fills:
            n_fills += len(fills)
            for f in fills:
                traded += f[2]
            fills.clear()
    return book, n_fills, traded


def book_digest(book: OrderBook) -> int:
    """The workload's final-book digest, computed from an exsim book."""
    M = (1 << 61) - 1
    acc = 0
    for side in (BUY, SELL):
        for lv in book.levels(side):
            for i, o in enumerate(lv.live()):
                acc = (acc + (side + 1) * 1_000_003 * lv.price_ticks + 7919 * i + 104729 * o.order_id * o.leaves_lots + o.order_id) % M
    return acc


def to_commands(events: list[tuple[int, int, int, int, int]], symbol: str) -> list[Any]:
    """Workload tuples as exchange commands (ts = event index, one account)."""
    cmds: list[Any] = []
    for i, (kind, side, price, qty, oid) in enumerate(events):
        if kind == 0:
            cmds.append(NewOrder(i, ACCOUNT, symbol, side, qty, price, LIMIT, GTC))
        elif kind == 1:
            cmds.append(CancelOrder(i, ACCOUNT, symbol, oid))
        else:
            cmds.append(NewOrder(i, ACCOUNT, symbol, side, qty, 0, MARKET, IOC))
    return cmds


def best_of(fn: Any, arg: Any, repeat: int = 3) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best, result


class TestBookThroughput:
    def test_book_alone_vs_references(self, benchmark: Any, workload_1m: Any, reference: Any) -> None:
        """The book alone on 1M events, side by side with the two reference books."""
        events, _deltas, meta = workload_1m
        refs = reference.measure(events, meta, repeat=3)
        book, n_fills, traded = benchmark.pedantic(run_book, args=(events,), rounds=3, iterations=1)
        assert n_fills == meta["fills"] and traded == meta["traded_qty"]
        assert book_digest(book) == meta["final_book_digest"]
        book._check()
        eps = len(events) / benchmark.stats.stats.min
        benchmark.extra_info.update(
            events_per_s=round(eps),
            straightforward_events_per_s=refs["straightforward"]["events_per_s"],
            tuned_events_per_s=refs["tuned"]["events_per_s"],
            ratio_vs_tuned=round(eps / refs["tuned"]["events_per_s"], 3),
            ratio_vs_straightforward=round(eps / refs["straightforward"]["events_per_s"], 3),
        )

    def test_exchange_vs_references(self, benchmark: Any, workload_1m: Any, reference: Any) -> None:
        """The whole exchange (validation, book, events to a sink, STP and replay support) on 1M events."""
        events, _deltas, meta = workload_1m
        inst = bench_instrument()
        cmds = to_commands(events, inst.symbol)
        refs = reference.measure(events, meta, repeat=3, names=("straightforward",))
        counted = [0]

        def sink(batch: list[Any]) -> None:
            counted[0] += len(batch)

        def run(cmds: list[Any]) -> Exchange:
            ex = Exchange([inst], sinks=[sink])
            submit = ex.submit
            for c in cmds:
                submit(c)
            return ex

        ex = benchmark.pedantic(run, args=(cmds,), rounds=3, iterations=1)
        book = ex.book(inst.symbol)
        assert ex.next_trade_id - 1 == meta["fills"]
        assert book_digest(book) == meta["final_book_digest"]
        ex._check()
        eps = len(cmds) / benchmark.stats.stats.min
        benchmark.extra_info.update(
            events_per_s=round(eps),
            emitted_events_per_run=counted[0] // 3,
            straightforward_events_per_s=refs["straightforward"]["events_per_s"],
            ratio_vs_straightforward=round(eps / refs["straightforward"]["events_per_s"], 3),
        )


def prefilled_book(n_orders: int) -> OrderBook:
    """A book holding ``n_orders`` resting orders far from the workload's prices, 10 per level."""
    book = OrderBook()
    fills: list[Any] = []
    oid = 10_000_000
    for i in range(n_orders):
        side = i & 1
        level = i // 20
        price = 50_000 - level if side == BUY else 150_000 + level
        book.limit(Order(oid, 2, side, price, 10), 0, fills)
        oid += 1
    return book


class TestScaling:
    def test_per_event_cost_100k_vs_1k_resting(self, benchmark: Any, workload_1m: Any) -> None:
        """Per-event cost with 100k resting orders is no worse than with 1k."""
        events = workload_1m[0][:300_000]
        small_t, _ = best_of(lambda ev: run_book(ev, prefilled_book(1_000)), events)
        big = [prefilled_book(100_000) for _ in range(3)]
        it = iter(big)
        benchmark.pedantic(lambda: run_book(events, next(it)), rounds=3, iterations=1)
        big_t = benchmark.stats.stats.min
        benchmark.extra_info.update(
            events_per_s_1k_resting=round(len(events) / small_t),
            events_per_s_100k_resting=round(len(events) / big_t),
            cost_ratio_100k_over_1k=round(big_t / small_t, 3),
        )

    def test_memory_per_resting_order(self, benchmark: Any) -> None:
        """Bytes per resting order (order entity, queue slot, index entry, share of levels)."""

        def measure() -> float:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            book = prefilled_book(100_000)
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            assert len(book) == 100_000
            return (after - before) / 100_000

        per_order = benchmark.pedantic(measure, rounds=1, iterations=1)
        benchmark.extra_info.update(bytes_per_resting_order=round(per_order, 1))
        assert per_order < 400
