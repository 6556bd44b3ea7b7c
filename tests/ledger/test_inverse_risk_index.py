"""The risk index on inverse (COIN-M) positions: exact isolated thresholds, conservative
cross triggers, against the exact check on random positions (seeded).

* isolated: the trigger t of :func:`isolated_threshold_subticks` is the exact boundary of
  ``ratio × margin balance <= MM`` on the ledger's own figures: it holds at t, and not one
  subtick on the safe side (long: t + 1, short: t − 1);
* cross: with every instrument's mark strictly inside its triggers, the pool is never at
  its threshold (the triggers are conservative), and a pool at its threshold has none;
* a mark tick over inverse positions pops only the scopes it crossed.

Positions are booked straight into the ledger (the trader and its EXTERNAL mirror); the
marks are set on ``ledger.marks`` (valuation only) or sent through ``Ledger.on_mark``.
"""

from __future__ import annotations

import random

import attrs

from exsim.book.orders import BUY, SELL
from exsim.instruments import BracketTable, Instrument
from exsim.ledger import BOTH, EXTERNAL, ISOLATED, Ledger
from exsim.ledger.risk_index import (
    DEFAULT_WARN_RATIO_E8,
    DOWN,
    LIQUIDATION_RATIO_E8,
    UP,
    at_or_past_e8,
    cross_triggers,
    isolated_threshold_subticks,
)

BTC = 10**8
SUB = 10**8  # subticks per USD
TIERS = [  # in BTC (COIN-M brackets are in coin)
    ("0", "5", "0.005", 125),
    ("5", "10", "0.01", 50),
    ("10", "20", "0.025", 20),
    ("20", "1000", "0.05", 10),
]


def coin_m(symbol: str, contract_size: str = "100", tick: str = "0.1", basis: str = "mark") -> Instrument:
    inst = Instrument.create(
        symbol=symbol, tick_size=tick, lot_size="1", brackets=BracketTable.from_tiers(TIERS, symbol=symbol),
        inverse=True, contract_size=contract_size, maker_fee="0", taker_fee="0",
    )
    return attrs.evolve(inst, maint_margin_basis=basis) if basis != "mark" else inst


def book(ledger: Ledger, account: int, symbol: str, side: int, lots: int, price_ticks: int) -> None:
    """A fill of ``lots`` at ``price_ticks`` between ``account`` and the EXTERNAL mirror."""
    ledger.apply_fill(account, 0, symbol, side, lots, price_ticks, 0, BOTH)
    ledger.apply_fill(EXTERNAL, 0, symbol, side ^ 1, lots, price_ticks, 0, BOTH)


def at(ledger: Ledger, scope: object, ratio: int, marks: dict[str, int]) -> bool:
    """Whether ``scope`` is at ``ratio`` with ``marks`` (valuation only; restored after)."""
    saved = dict(ledger.marks)
    ledger.marks.update(marks)
    try:
        if hasattr(scope, "qty_lots"):
            return at_or_past_e8(ratio, *ledger.isolated_margin_balance_e8(scope))  # type: ignore[arg-type]
        return at_or_past_e8(ratio, *ledger.cross_margin_balance_e8(scope))  # type: ignore[arg-type]
    finally:
        ledger.marks.clear()
        ledger.marks.update(saved)


class TestIsolatedInverse:
    def test_random_isolated_thresholds_are_exact_boundaries(self) -> None:
        """On 300 random isolated inverse positions (either side, 1x to 100x, extra margin, both
        ratios, mark and entry bases), the trigger holds and one subtick on the safe side does not."""
        rng = random.Random(16)
        insts = [coin_m("BTCUSD_PERP"), coin_m("ETHUSD_PERP", "10", "0.01"), coin_m("BTCUSD_241227", basis="entry")]
        checked = 0
        for _ in range(300):
            inst = rng.choice(insts)
            ledger = Ledger([inst], default_leverage=rng.choice([1, 2, 5, 10, 20, 50, 100]))
            asset = inst.margin_asset
            ledger.deposit(1, 10_000 * BTC, asset)
            ledger.set_margin_mode(1, inst.symbol, ISOLATED)
            px = rng.randrange(100_000, 10_000_000)
            side = rng.choice([BUY, SELL])
            book(ledger, 1, inst.symbol, side, rng.randrange(1, 200_000), px)
            pos = ledger.find_account(1, asset).positions[(inst.symbol, BOTH)]
            if rng.random() < 0.3:
                pos.margin_atoms += rng.randrange(0, pos.margin_atoms + 1)  # as if margin had been added
                ledger.find_account(1, asset).wallet_atoms -= 0  # (conservation is not what this tests)
            for ratio in (LIQUIDATION_RATIO_E8, DEFAULT_WARN_RATIO_E8):
                hit = isolated_threshold_subticks(ledger, pos, ratio)
                if hit is None:
                    continue
                direction, t = hit
                assert direction == (DOWN if side == BUY else UP)
                safe = t + 1 if direction == DOWN else t - 1
                assert at(ledger, pos, ratio, {inst.symbol: t}), (inst.symbol, side, t)
                if safe >= 1:
                    assert not at(ledger, pos, ratio, {inst.symbol: safe}), (inst.symbol, side, t)
                checked += 1
        assert checked > 400

    def test_one_x_short_has_no_reachable_trigger_below_astronomic_prices(self) -> None:
        """A 1x inverse short (a synthetic dollar) is safe until its contracts are worth one satoshi
        (10,000 USD of face at 1e12 USD), where the maintenance margin rounds up to a whole atom."""
        inst = coin_m("BTCUSD_PERP")
        ledger = Ledger([inst], default_leverage=1)
        ledger.deposit(1, 10 * BTC, "BTC")
        ledger.set_margin_mode(1, "BTCUSD_PERP", ISOLATED)
        book(ledger, 1, "BTCUSD_PERP", SELL, 100, 250_000)
        pos = ledger.find_account(1, "BTC").positions[("BTCUSD_PERP", BOTH)]
        hit = isolated_threshold_subticks(ledger, pos, LIQUIDATION_RATIO_E8)
        assert hit is None or hit[1] >= 10**12 * SUB


class TestCrossInverse:
    def test_marks_inside_the_triggers_never_reach_the_threshold(self) -> None:
        """Random BTC pools of two inverse contracts (long, short or mixed): marks drawn strictly
        inside every trigger leave the pool short of its threshold."""
        rng = random.Random(1616)
        insts = [coin_m("BTCUSD_PERP"), coin_m("BTCUSD_241227")]
        trials = 0
        for _ in range(150):
            ledger = Ledger(insts, default_leverage=rng.choice([5, 10, 20, 50]))
            ledger.deposit(1, rng.randrange(1, 20 * BTC), "BTC")
            marks = {}
            for inst in insts:
                px = rng.randrange(150_000, 600_000)
                book(ledger, 1, inst.symbol, rng.choice([BUY, SELL]), rng.randrange(1, 5_000), px)
                marks[inst.symbol] = px * inst.subticks_per_tick + rng.randrange(-10**9, 10**9)
            for symbol, mark in marks.items():
                ledger.on_mark(symbol, mark)
            ledger.pending.clear()
            acct = ledger.find_account(1, "BTC")
            for ratio in (LIQUIDATION_RATIO_E8, DEFAULT_WARN_RATIO_E8):
                triggers = cross_triggers(ledger, acct, ratio)
                if triggers is None:
                    assert at(ledger, acct, ratio, {})
                    continue
                bounds = {s: [0, None] for s in marks}
                for symbol, direction, price in triggers:
                    if direction == DOWN:
                        bounds[symbol][0] = price
                    else:
                        bounds[symbol][1] = price
                for _ in range(20):
                    moved = {}
                    for symbol, (lo, hi) in bounds.items():
                        top = hi - 1 if hi is not None else marks[symbol] * 4
                        if top <= lo + 1:
                            moved[symbol] = marks[symbol]
                            continue
                        # mostly near the triggers, where it matters
                        pick = rng.random()
                        moved[symbol] = lo + 1 if pick < 0.25 else top if pick < 0.5 else rng.randrange(lo + 1, top + 1)
                    assert not at(ledger, acct, ratio, moved), (ratio, moved, triggers)
                    trials += 1
        assert trials > 2_000

    def test_inverse_mark_tick_pops_only_crossed_scopes(self) -> None:
        """A mark tick over many inverse isolated longs pops exactly those whose trigger it reached."""
        inst = coin_m("BTCUSD_PERP")
        ledger = Ledger([inst], default_leverage=20)
        rng = random.Random(7)
        triggers = {}
        for account in range(1, 201):
            ledger.deposit(account, BTC, "BTC")
            ledger.set_margin_mode(account, "BTCUSD_PERP", ISOLATED)
            book(ledger, account, "BTCUSD_PERP", BUY, rng.randrange(1, 500), rng.randrange(240_000, 260_000))
            pos = ledger.find_account(account, "BTC").positions[("BTCUSD_PERP", BOTH)]
            triggers[account] = isolated_threshold_subticks(ledger, pos, ledger.risk.threshold_e8(pos))[1]
        ledger.pending.clear()
        mark = sorted(triggers.values())[50]
        ledger.on_mark("BTCUSD_PERP", mark)
        popped = {s.account_id for s in ledger.pending}
        assert popped == {a for a, t in triggers.items() if t >= mark}
        ledger.risk._check()
