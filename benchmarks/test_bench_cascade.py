"""A liquidation cascade: 100k leveraged accounts, a crash that liquidates 10 % of them.

Run: ``pytest benchmarks/test_bench_cascade.py --benchmark-only``. 100,000 accounts hold an
isolated BTCUSDT long each (90 % at 2–5x, 10 % at 15–20x); a market maker quotes a thin
book (a few lots on each of 50 bid levels); one mark tick 10 % lower makes the high-leverage
tenth liquidatable, and the exchange liquidates them all in that command: IOC orders
into the thin book, then insurance-fund takeover or ADL once the bids are gone.
Reported: liquidations, liquidations/s and the tick's total time.

Parametrized by venue (issue 18): the instrument under the venue's terms and the exchange
under its rules — Binance's run is the one it always was; under Bybit the maintenance
margin is held at entry, under Hyperliquid the underwater tenth goes to the liquidator
vault, under dYdX each liquidation is an IOC at its fillable price (what the thin book
does not fill stays open for the next command).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from exsim.book.orders import BUY, GTC, LIMIT, SELL
from exsim.exchange import Deposit, Exchange, Liquidation, NewOrder, SetLeverage, SetMarkPrice
from exsim.instruments import get_instrument
from exsim.ledger import BOTH, EXTERNAL, ISOLATED, Ledger
from exsim.sinks import CountingSink
from exsim.venues import VENUE_NAMES, VenueProfile, get_venue

MARK = 600_000  # 60,000.0


def build(n_accounts: int, seed: int = 7, venue: VenueProfile | None = None) -> tuple[Exchange, Ledger, CountingSink]:
    venue = venue or get_venue(None)
    inst = venue.instrument(get_instrument("BTCUSDT"))
    ledger = Ledger([inst], insurance_fund_atoms=1_000_000 * 10**8)
    counts = CountingSink()
    ex = Exchange([inst], ledger=ledger, sinks=[counts], emit_book_deltas=False, venue=venue)
    ex.submit(SetMarkPrice(0, "BTCUSDT", MARK * inst.subticks_per_tick))  # marks are subticks
    ex.submit(Deposit(0, 1, 10**9 * 10**8))  # the market maker
    ex.submit(SetLeverage(0, 1, "BTCUSDT", 2))
    for k in range(50):  # a thin book: 0.005 BTC on each of 50 bid levels below the crash price
        ex.submit(NewOrder(0, 1, "BTCUSDT", BUY, 5, MARK * 9 // 10 - 10 * k, LIMIT, GTC))
        ex.submit(NewOrder(0, 1, "BTCUSDT", SELL, 5, MARK + 10 + 10 * k, LIMIT, GTC))
    rng = random.Random(seed)
    for account_id in range(2, n_accounts + 2):
        ledger.deposit(account_id, 10_000 * 10**8)
        ledger.set_margin_mode(account_id, "BTCUSDT", ISOLATED)
        lev = rng.randint(15, 20) if account_id % 10 == 0 else rng.randint(2, 5)
        ledger.set_leverage(account_id, "BTCUSDT", lev)
        lots = rng.randint(10, 100)  # 0.01–0.1 BTC
        ledger.apply_fill(account_id, 0, "BTCUSDT", BUY, lots, MARK, 0, BOTH)
        ledger.apply_fill(EXTERNAL, 0, "BTCUSDT", SELL, lots, MARK, 0, BOTH)
    assert not ledger.pending
    return ex, ledger, counts


@pytest.mark.parametrize("venue", VENUE_NAMES)
def test_cascade_liquidations(benchmark: Any, venue: str) -> None:
    """One 10 % crash tick liquidates the 10 % high-leverage accounts through a thin book."""
    n = 100_000

    def setup() -> tuple[tuple[Exchange, Ledger, CountingSink], dict[str, Any]]:
        return (build(n, venue=get_venue(venue)),), {}

    def crash(state: tuple[Exchange, Ledger, CountingSink]) -> None:
        ex = state[0]
        ex.submit(SetMarkPrice(1, "BTCUSDT", MARK * 9 // 10 * ex.markets["BTCUSDT"].instrument.subticks_per_tick))

    states: list[Any] = []

    def setup_keep() -> tuple[tuple[Any], dict[str, Any]]:
        args, kw = setup()
        states.append(args[0])
        return args, kw

    benchmark.pedantic(crash, setup=setup_keep, rounds=2, iterations=1)
    ex, ledger, counts = states[-1]
    ledger._check()
    ex._check()
    liquidations = counts[Liquidation]
    assert 0.08 * n <= liquidations <= 0.12 * n
    t = benchmark.stats.stats.min
    benchmark.extra_info.update(
        venue=venue,
        accounts=n,
        liquidations=liquidations,
        crash_tick_s=round(t, 3),
        liquidations_per_s=round(liquidations / t),
        insurance_fund_after=ledger.fund.wallet_atoms // 10**8,
        uncovered_loss_atoms=ledger.uncovered_loss_atoms,
    )


def test_cascade_venues_alternating(benchmark: Any) -> None:
    """The crash tick under each venue in alternating rounds in one process (the order
    rotates each round, so the machine's load falls on every venue alike): CPU time of the
    tick alone (``process_time``) beside wall time, best of the rounds and the spread
    (worst / best), and each venue's best CPU time over Binance's. Printed with ``-s``."""
    import time

    n, rounds = 100_000, 3
    cpu: dict[str, list[float]] = {v: [] for v in VENUE_NAMES}
    wall: dict[str, list[float]] = {v: [] for v in VENUE_NAMES}

    def run_all() -> None:
        for r in range(rounds):
            order = VENUE_NAMES[r % len(VENUE_NAMES):] + VENUE_NAMES[: r % len(VENUE_NAMES)]
            for venue in order:
                ex, ledger, counts = build(n, venue=get_venue(venue))
                mark = MARK * 9 // 10 * ex.markets["BTCUSDT"].instrument.subticks_per_tick
                c0, w0 = time.process_time(), time.perf_counter()
                ex.submit(SetMarkPrice(1, "BTCUSDT", mark))
                cpu[venue].append(time.process_time() - c0)
                wall[venue].append(time.perf_counter() - w0)
                assert counts[Liquidation] > 0

    benchmark.pedantic(run_all, rounds=1, iterations=1)
    base = min(cpu["binance"])
    print("\nvenue        CPU best (spread)   wall best   CPU ratio to binance")
    for venue in VENUE_NAMES:
        best = min(cpu[venue])
        print(f"{venue:<12} {best:8.3f} s ({max(cpu[venue]) / best:.2f})  {min(wall[venue]):8.3f} s   {best / base:.2f}")
        benchmark.extra_info[f"{venue}_cpu_best_s"] = round(best, 3)
