"""Mark-tick cost against the number of open positions: risk index vs full scan (issue 3).

Run: ``pytest benchmarks/test_bench_mark_tick.py --benchmark-only``. For 10k / 100k / 1M
open positions (80 % isolated, 20 % in cross pools spread over 3 instruments) one
``SetMarkPrice`` tick goes through the exchange while no position is near its trigger,
and a naive full scan evaluates every bucket and pool for the same tick. Targets: the
tick at 1M within 3x of the tick at 10k, and at least 1000x faster than the full scan
at 1M. The table is in ``extra_info`` and ``benchmarks/README.md``.
"""

from __future__ import annotations

import gc
import random
import time
from typing import Any

import pytest

from exsim.book.orders import BUY, SELL
from exsim.exchange import Exchange, SetMarkPrice
from exsim.instruments import get_instrument
from exsim.ledger import BOTH, CROSS, EXTERNAL, ISOLATED, Ledger

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MARKS = {"BTCUSDT": 600_000, "ETHUSDT": 300_000, "SOLUSDT": 15_000}  # 60,000.0 / 3,000.00 / 150.00 (ticks)


def build(n_positions: int, seed: int = 1) -> tuple[Exchange, Ledger]:
    """A ledger with ``n_positions`` open positions, none near its threshold.

    Each account holds one position per instrument: isolated accounts three isolated
    buckets, cross accounts one pool over three instruments. Fills are booked directly
    in matched pairs against EXTERNAL, as the exchange would book fills against
    replayed liquidity.
    """
    instruments = [get_instrument(s) for s in SYMBOLS]
    ledger = Ledger(instruments, default_leverage=5)
    ex = Exchange(instruments, ledger=ledger, emit_book_deltas=False)
    for inst in instruments:
        ledger.marks[inst.symbol] = MARKS[inst.symbol] * inst.subticks_per_tick  # marks are subticks
    rng = random.Random(seed)
    n_accounts = n_positions // 3
    for account_id in range(1, n_accounts + 1):
        isolated = account_id % 5 != 0  # 80 % of positions isolated, 20 % cross
        ledger.deposit(account_id, 10_000 * 10**8)
        for inst in instruments:
            symbol = inst.symbol
            ledger.set_margin_mode(account_id, symbol, ISOLATED if isolated else CROSS)
            side = BUY if rng.random() < 0.5 else SELL
            notional_target = rng.randint(100, 2_000) * 10**8  # 100..2,000 USDT
            mark = MARKS[symbol]
            lots = max(1, notional_target // (mark * inst.atoms_per_tick_lot))
            ledger.apply_fill(account_id, 0, symbol, side, lots, mark, 0, BOTH)
            ledger.apply_fill(EXTERNAL, 0, symbol, side ^ 1, lots, mark, 0, BOTH)
    assert not ledger.pending
    return ex, ledger


def full_scan(ledger: Ledger) -> int:
    """The naive check: every isolated bucket and cross pool evaluated exactly. O(N)."""
    flagged = 0
    e8 = 10**8  # the exact figures are in 1e-8 atoms (marks are finer than the tick)
    for acct in ledger.accounts.values():
        cross_balance = acct.wallet_atoms * e8
        cross_mm = 0
        has_cross = False
        for pos in acct.positions.values():
            notional, upnl, mm = ledger.position_figures_e8(pos)
            if pos.isolated:
                if pos.margin_atoms * e8 + upnl <= mm * e8:
                    flagged += 1
            else:
                has_cross = True
                cross_balance += upnl
                cross_mm += mm
        if has_cross and cross_balance <= cross_mm * e8:
            flagged += 1
    return flagged


@pytest.mark.parametrize("n_positions", [10_000, 100_000, 1_000_000])
def test_mark_tick_vs_full_scan(benchmark: Any, n_positions: int) -> None:
    """One mark tick (no position near its trigger) vs a full scan, at N open positions."""
    ex, ledger = build(n_positions)
    per_tick = ex.markets["BTCUSDT"].instrument.subticks_per_tick  # marks are subticks: ±1 tick
    ticks = [SetMarkPrice(i, "BTCUSDT", (MARKS["BTCUSDT"] + (1 if i % 2 else -1)) * per_tick) for i in range(1, 2001)]
    it = iter(ticks)
    submit = ex.submit

    def one_tick() -> None:
        submit(next(it))

    gc.collect()
    benchmark.pedantic(one_tick, rounds=1000, iterations=1, warmup_rounds=10)
    tick_s = benchmark.stats.stats.median
    t0 = time.perf_counter()
    flagged = full_scan(ledger)
    scan_s = time.perf_counter() - t0
    assert flagged == 0 and not ledger.liquidatable
    benchmark.extra_info.update(
        positions=n_positions,
        index_entries=len(ledger.risk),
        tick_us=round(tick_s * 1e6, 2),
        full_scan_ms=round(scan_s * 1e3, 1),
        speedup_vs_full_scan=round(scan_s / tick_s),
    )
