"""Scale, at a size that runs in seconds: 50,000 resting orders and 50,000 open positions.

``benchmarks/test_bench_scale.py`` measures memory and latency at a million of each; this
checks, at a twentieth of that, that the structures stay sound (every ``_check()``, holds
against resting orders) and that a mark tick over 50,000 positions liquidates exactly the
isolated buckets and cross pools a naive full scan finds liquidatable at the new mark.
No timing: correctness only.
"""

from __future__ import annotations

import random
from typing import Any

from ledger.harness import check_all
from ledger.test_risk_index import NaiveRisk, liquidatable

from exsim.book.orders import BUY, GTC, LIMIT, SELL
from exsim.exchange import CancelOrder, Deposit, Exchange, Liquidation, NewOrder, SetMarkPrice
from exsim.instruments import get_instrument
from exsim.ledger import BOTH, CROSS, EXTERNAL, ISOLATED, Ledger
from exsim.ledger.accounts import NO_ENTRIES
from exsim.sinks import MemorySink

USDT = 10**8
MIDS = {"BTCUSDT": 600_000, "ETHUSDT": 300_000, "SOLUSDT": 150_000}  # 60,000.0 / 3,000.00 / 150.000


def mark_subticks(symbol: str, ticks: int) -> int:
    """A tick price as a mark: marks are in subticks (1e-8 USDT)."""
    return ticks * get_instrument(symbol).subticks_per_tick


def resting_book(n_orders: int, n_accounts: int, seed: int = 1) -> tuple[Exchange, Ledger]:
    """``n_orders`` funded limit orders from ``n_accounts`` accounts, within 2 % of the mid on three instruments."""
    instruments = [get_instrument(s) for s in MIDS]
    ledger = Ledger(instruments)
    ex = Exchange(instruments, ledger=ledger, emit_book_deltas=False)
    for symbol, mid in MIDS.items():
        ex.submit(SetMarkPrice(0, symbol, mark_subticks(symbol, mid)))
    for a in range(1, n_accounts + 1):
        ex.submit(Deposit(0, a, 1_000_000 * USDT))
    rng = random.Random(seed)
    for i in range(n_orders):
        inst = instruments[i % 3]
        mid = MIDS[inst.symbol]
        off = 1 + rng.randrange(mid // 50)
        side = rng.getrandbits(1)
        px = mid - off if side == BUY else mid + off
        lots = -(-inst.min_notional_atoms // (px * inst.atoms_per_tick_lot)) * rng.randint(1, 5)
        ex.submit(NewOrder(i, 1 + rng.randrange(n_accounts), inst.symbol, side, lots, px, LIMIT, GTC))
    return ex, ledger


def open_positions(n_accounts: int, seed: int = 2) -> tuple[Exchange, Ledger, MemorySink]:
    """``n_accounts`` accounts × (BTCUSDT, ETHUSDT): 80 % isolated, 20 % cross, leverage 2–50x.

    Isolated accounts deposit 5,000 USDT, cross ones 50–400 USDT (so that moves of a few
    percent reach their pools too).

    Fills are booked straight into the ledger against EXTERNAL (as the mark-tick benchmark
    does); no book, so a liquidated position goes to the (well-funded) insurance fund.
    """
    symbols = ("BTCUSDT", "ETHUSDT")
    instruments = [get_instrument(s) for s in symbols]
    ledger = Ledger(instruments, insurance_fund_atoms=10**12 * USDT)
    sink = MemorySink()
    ex = Exchange(instruments, ledger=ledger, sinks=[sink], emit_book_deltas=False)
    for symbol in symbols:
        ex.submit(SetMarkPrice(0, symbol, mark_subticks(symbol, MIDS[symbol])))
    rng = random.Random(seed)
    for a in range(1, n_accounts + 1):
        ledger.deposit(a, (5_000 if a % 5 else rng.randint(50, 400)) * USDT)
        for inst in instruments:
            symbol = inst.symbol
            ledger.set_margin_mode(a, symbol, ISOLATED if a % 5 else CROSS)
            ledger.set_leverage(a, symbol, rng.choice((2, 3, 5, 10, 20, 25, 50)))
            side = BUY if rng.random() < 0.6 else SELL
            lots = max(1, rng.randint(100, 2_000) * USDT // (MIDS[symbol] * inst.atoms_per_tick_lot))
            ledger.apply_fill(a, 0, symbol, side, lots, MIDS[symbol], 0, BOTH)
            ledger.apply_fill(EXTERNAL, 0, symbol, side ^ 1, lots, MIDS[symbol], 0, BOTH)
    assert not ledger.pending
    return ex, ledger, sink


def liquidation_key(ev: Liquidation) -> tuple[Any, ...]:
    return ("C", ev.account_id) if ev.scope == "CROSS" else ("I", ev.account_id, ev.symbol, BOTH)


class TestRestingOrdersAtScale:
    def test_fifty_thousand_resting_orders_keep_every_structure_sound(self) -> None:
        """50,000 resting orders with margin holds pass every check, and still do after half are cancelled."""
        ex, ledger = resting_book(50_000, 5_000)
        assert sum(len(m.book) for m in ex.markets.values()) == 50_000  # none crossed, none refused
        check_all(ex, ledger)
        rng = random.Random(3)
        left = 0
        for symbol, market in ex.markets.items():
            cancel = rng.sample(sorted(market.book.orders), len(market.book) // 2)
            left += len(market.book) - len(cancel)
            for oid in cancel:
                ex.submit(CancelOrder(1, market.book.orders[oid].account_id, symbol, oid))
        assert sum(len(m.book) for m in ex.markets.values()) == left == len(ledger.holds)
        check_all(ex, ledger)

    def test_accounts_without_orders_share_the_empty_mappings(self) -> None:
        """An account with no order and no position holds the shared empty mappings, not dicts of its own."""
        ex, ledger = resting_book(1_000, 2_000)
        idle = [a for a in ledger.accounts.values() if not a.order_ids]
        assert idle and all(a.order_ids is NO_ENTRIES and a.positions is NO_ENTRIES for a in idle)
        assert all(a.leverages is NO_ENTRIES and a.margin_modes is NO_ENTRIES for a in ledger.accounts.values())


class TestPositionsAtScale:
    def test_mark_ticks_liquidate_exactly_what_a_full_scan_finds(self) -> None:
        """Over 50,000 positions, each mark tick liquidates exactly the scopes a full scan finds at the new mark."""
        ex, ledger, sink = open_positions(25_000)
        assert sum(len(a.positions) for a in ledger.accounts.values()) == 50_000
        check_all(ex, ledger)
        naive = NaiveRisk(tuple(m.instrument for m in ex.markets.values()))
        naive.marks.update({s: mark_subticks(s, t) for s, t in MIDS.items()})
        liquidated_total = cross_total = 0
        for symbol, factor in (("BTCUSDT", 0.97), ("ETHUSDT", 1.04), ("BTCUSDT", 0.93), ("ETHUSDT", 0.92)):
            # a mark a third of a tick above a tick, as a venue publishes it (finer than the tick)
            mark = mark_subticks(symbol, int(MIDS[symbol] * factor)) + get_instrument(symbol).subticks_per_tick // 3
            naive.marks[symbol] = mark
            expected = {k for k, fig in naive.figures(ledger).items() if liquidatable(fig)}
            sink.events.clear()
            ex.submit(SetMarkPrice(1, symbol, mark))
            got = [liquidation_key(e) for e in sink.events if type(e) is Liquidation]
            assert len(got) == len(set(got)), "a scope liquidated twice in one tick"
            assert set(got) == expected, (
                f"{symbol} at {mark}: missed {sorted(expected - set(got))[:5]}, extra {sorted(set(got) - expected)[:5]}"
            )
            liquidated_total += len(got)
            cross_total += sum(1 for k in got if k[0] == "C")
            assert not ledger.liquidatable and not ledger.pending
        assert not any(balance <= mm for balance, mm in naive.figures(ledger).values())  # all were closed
        check_all(ex, ledger)
        assert 1_000 < liquidated_total < 25_000, liquidated_total  # not vacuous, not everyone
        assert cross_total > 100, cross_total  # pools too, not only buckets
