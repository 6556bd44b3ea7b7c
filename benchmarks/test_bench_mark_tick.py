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


# ---------------------------------------------------------------------- 20 % inverse (issue 16)
INVERSE_SYMBOLS = ("BTCUSD_PERP", "ETHUSD_PERP", "SOLUSD_PERP")  # margined in BTC, ETH, SOL
INVERSE_MARKS = {"BTCUSD_PERP": 600_000, "ETHUSD_PERP": 300_000, "SOLUSD_PERP": 15_000}  # same prices (ticks)
MIXED_SIZES = (10_000, 1_000_000)
MIXED_BATCHES, MIXED_TICKS = 10, 2_000  # alternating batches of mark ticks per size


def build_mixed(n_positions: int, seed: int = 1) -> tuple[Exchange, Ledger]:
    """Like :func:`build`, with one account in five holding inverse positions instead:
    20 % of the positions are coin-margined (BTCUSD_PERP, ETHUSD_PERP, SOLUSD_PERP, each in
    its own coin wallet: a BTC, an ETH and a SOL account of the same trader), 80 % linear.
    Isolated / cross as in :func:`build` (every fifth trader cross), independently of the
    kind; nobody near a trigger."""
    from exsim.testing.stress import inverse_instrument  # the stress run's BTCUSD_PERP-like contracts

    linear = [get_instrument(s) for s in SYMBOLS]
    inverse = [inverse_instrument(s) for s in INVERSE_SYMBOLS]
    ledger = Ledger(linear + inverse, default_leverage=5)
    ex = Exchange(linear + inverse, ledger=ledger, emit_book_deltas=False)
    marks = {**MARKS, **INVERSE_MARKS}
    for inst in linear + inverse:
        ledger.marks[inst.symbol] = marks[inst.symbol] * inst.subticks_per_tick  # marks are subticks
    rng = random.Random(seed)
    for account_id in range(1, n_positions // 3 + 1):
        isolated = account_id % 5 != 0  # 80 % isolated, 20 % cross
        coin = (account_id // 5) % 5 == 0  # 20 % of the traders (and positions) coin-margined
        for inst in inverse if coin else linear:
            symbol = inst.symbol
            mark = marks[symbol]
            if coin:  # each coin wallet: 10,000 USD worth at the mark (the value of 10,000 USD of contracts)
                face = int(inst.contract_size * inst.lot_size)
                ledger.deposit(account_id, inst.fill_value_atoms(mark, 10_000 // face), inst.margin_asset)
            elif inst is linear[0]:
                ledger.deposit(account_id, 10_000 * 10**8)
            ledger.set_margin_mode(account_id, symbol, ISOLATED if isolated else CROSS)
            side = BUY if rng.random() < 0.5 else SELL
            notional_target = rng.randint(100, 2_000) * 10**8  # 100..2,000 USD worth
            if coin:  # contracts of the face value
                lots = max(1, notional_target // int(inst.contract_size * inst.lot_size * 10**8))
            else:
                lots = max(1, notional_target // (mark * inst.atoms_per_tick_lot))
            ledger.apply_fill(account_id, 0, symbol, side, lots, mark, 0, BOTH)
            ledger.apply_fill(EXTERNAL, 0, symbol, side ^ 1, lots, mark, 0, BOTH)
    assert not ledger.pending
    return ex, ledger


def full_scan_all_assets(ledger: Ledger) -> int:
    """:func:`full_scan` over every asset's wallets (each its own cross pool). O(N)."""
    flagged = 0
    e8 = 10**8
    for acct in ledger.all_accounts():
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


def test_mark_tick_with_20pct_inverse_1m_vs_10k(benchmark: Any) -> None:
    """Mark ticks on a linear (BTCUSDT) and an inverse (BTCUSD_PERP) symbol at 10k and 1M open
    positions, 20 % of them inverse; the two sizes take turns batch by batch in this process.

    Target (issue 16): the tick at 1M within 3x of the tick at 10k. Figures per tick: wall
    time (median of the batch) and CPU time (the batch's process time / its ticks), best
    batch and spread (worst / best) over the alternating batches.
    """
    states = {n: build_mixed(n) for n in MIXED_SIZES}
    for ex, ledger in states.values():
        assert sum(1 for a in ledger.all_accounts() if a.asset != "USDT") > 0

    def batch(n: int, symbol: str, i: int) -> tuple[float, float]:
        """MIXED_TICKS ticks of ±1 tick on ``symbol``: (median wall s per tick, CPU s per tick)."""
        ex, _ = states[n]
        inst = ex.markets[symbol].instrument
        base = (MARKS | INVERSE_MARKS)[symbol]
        cmds = [SetMarkPrice(i * MIXED_TICKS + k + 1, symbol, (base + (1 if k % 2 else -1)) * inst.subticks_per_tick)
                for k in range(MIXED_TICKS)]
        submit = ex.submit
        walls = []
        pc = time.perf_counter
        c0 = time.process_time()
        for cmd in cmds:
            t0 = pc()
            submit(cmd)
            walls.append(pc() - t0)
        cpu = (time.process_time() - c0) / MIXED_TICKS
        walls.sort()
        return walls[len(walls) // 2], cpu

    results: dict[tuple[int, str], list[tuple[float, float]]] = {
        (n, s): [] for n in MIXED_SIZES for s in ("BTCUSDT", "BTCUSD_PERP")
    }

    def all_batches() -> None:
        for i in range(MIXED_BATCHES):
            order = list(results) if i % 2 == 0 else list(reversed(results))
            for n, symbol in order:
                gc.collect()
                results[(n, symbol)].append(batch(n, symbol, i))

    gc.collect()
    benchmark.pedantic(all_batches, rounds=1, iterations=1)
    for ex, ledger in states.values():
        assert not ledger.liquidatable and not ledger.pending
    t0 = time.perf_counter()
    assert full_scan_all_assets(states[MIXED_SIZES[-1]][1]) == 0
    scan_s = time.perf_counter() - t0

    def figures(n: int, symbol: str) -> dict[str, float]:
        walls = [w for w, _ in results[(n, symbol)]]
        cpus = [c for _, c in results[(n, symbol)]]
        return {
            "wall_us_best": round(min(walls) * 1e6, 2),
            "wall_us_spread": round(max(walls) / min(walls), 2),
            "cpu_us_best": round(min(cpus) * 1e6, 2),
            "cpu_us_spread": round(max(cpus) / min(cpus), 2),
        }

    info: dict[str, Any] = {"positions": list(MIXED_SIZES), "inverse_share": 0.2, "batches": MIXED_BATCHES,
                            "ticks_per_batch": MIXED_TICKS, "full_scan_1m_ms": round(scan_s * 1e3, 1)}
    for n in MIXED_SIZES:
        for symbol in ("BTCUSDT", "BTCUSD_PERP"):
            info[f"{symbol}@{n}"] = figures(n, symbol)
    small, big = MIXED_SIZES
    for symbol in ("BTCUSDT", "BTCUSD_PERP"):
        a, b = info[f"{symbol}@{small}"], info[f"{symbol}@{big}"]
        info[f"{symbol}_ratio_1m_vs_10k_wall"] = round(b["wall_us_best"] / a["wall_us_best"], 2)
        info[f"{symbol}_ratio_1m_vs_10k_cpu"] = round(b["cpu_us_best"] / a["cpu_us_best"], 2)
    info["index_entries"] = {n: len(states[n][1].risk) for n in MIXED_SIZES}
    benchmark.extra_info.update(info)
    print("\n" + "\n".join(f"{k}: {v}" for k, v in info.items()))
