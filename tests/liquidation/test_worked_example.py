"""The seeds' worked example: 1,000 USDT, a 1,000 USDT BTC long at 10x, a fixed 5 % maintenance rate.

Setup (BTCUSDT ticks of 0.1 USDT, lots of 0.001 BTC, 10_000 atoms per tick-lot; no fees,
no clearance fee): the trader deposits 1,000 USDT and buys 20 lots (0.02 BTC) at 500_000
ticks (50,000.0): notional 500_000 × 20 × 10_000 = 1e11 atoms = 1,000 USDT, initial margin
1e11 / 10 = 1e10 (100 USDT), maintenance at entry 5 % × 1,000 = 50 USDT.

The market maker (account 9) sold it the 20 lots and, along the mark path, keeps one
bid of 20 lots at the *next* mark of the path (in the fine segment: one tick under the
current mark), cancelling the previous one, so a liquidation fills exactly at the mark.

Isolated, at mark ``m`` ticks: bucket balance ``1e10 + 20 × 10_000 × (m − 500_000)``
``= 2e5·m − 9e10`` atoms; maintenance ``5 % × 2e5·m = 1e4·m``. Liquidated iff
``2e5·m − 9e10 <= 1e4·m`` iff ``m <= 9e10 / 1.9e5 = 473_684.2…``: the first mark of a
1-tick path at or below it is 473_684 (47,368.4 USDT). Analytically: loss L with
``100 − L = 5 % × (1000 − L)`` gives L = 52.63, 47.37 = 5 % of 947.37.

Cross: the pool is the whole 1,000 USDT: balance ``1e11 + 2e5·(m − 500_000) = 2e5·m``
against ``1e4·m``: never liquidatable at a positive mark (bankruptcy at 0).
"""

from __future__ import annotations

from .harness import (
    CROSS,
    ISOLATED,
    MM,
    SELL,
    USDT,
    LiqHarness,
    Liquidatable,
    Liquidation,
    fills_of_order,
    fixed,
    liquidations,
    of_type,
)

TRADER = 1
ENTRY = 500_000  # 50,000.0 USDT
#: coarse 100-USDT steps to 47,400.0, then 0.1-USDT (1-tick) steps to 47,360.0
PATH = list(range(499_000, 474_000 - 1, -1_000)) + list(range(473_999, 473_600 - 1, -1))
THRESHOLD = 473_684  # the first mark on the 1-tick path at which the isolated bucket is liquidated
PER_TICK = 10_000_000  # subticks (1e-8 USDT) per 0.1 tick: marks are finer than the tick


def liquidatable_at(p: int) -> bool:
    """The worked example's isolated condition at a mark of ``p`` subticks, exactly: balance
    ``1e10 + 20 lots × p × 1e5 (1e-8 atoms) − 1e11`` against MM ``ceil(5 % × notional)``."""
    notional_e8 = 20 * p * 100_000
    balance_e8 = 10**10 * 10**8 + notional_e8 - 10**11 * 10**8
    mm_atoms = -(-(notional_e8 * 5_000_000) // 10**16)
    return balance_e8 <= mm_atoms * 10**8


def exact_liquidation_subticks() -> int:
    """The highest subtick at which :func:`liquidatable_at` holds (bisection on the formula)."""
    lo, hi = THRESHOLD * PER_TICK, (THRESHOLD + 1) * PER_TICK
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if liquidatable_at(mid) else (lo, mid)
    return lo


def build(mode: int) -> LiqHarness:
    """The worked example's exchange: trader long 20 lots at 50,000.0 (10x), maker short."""
    h = LiqHarness(fixed())
    h.mark(ENTRY)
    h.account(TRADER, 1_000, leverage=10, mode=mode)
    h.account(MM, 1_000_000, leverage=10)
    h.trade(TRADER, MM, 20, ENTRY)
    return h


def walk(h: LiqHarness, path: list[int]) -> tuple[int | None, list]:
    """Walk the mark path with the maker's bid at each next mark; stop at the first liquidation."""
    for m in path:
        h.requote_bid(MM, m, 20)
        events = h.mark(m)
        if liquidations(events, TRADER):
            return m, events
    return None, []


class TestIsolatedWorkedExample:
    def test_liquidated_at_the_first_mark_where_balance_reaches_maintenance(self) -> None:
        """The bucket is liquidated at 47,368.4 (balance 47.368 <= MM 47.3684) and not one tick above."""
        h = build(ISOLATED)
        m, events = walk(h, PATH)
        assert m == THRESHOLD
        # one tick above: 2e5 × 473_685 − 9e10 = 4_737_000_000 > 1e4 × 473_685 = 4_736_850_000
        (flag,) = of_type(events, Liquidatable)
        assert flag.scope == "ISOLATED" and flag.mark_price_subticks == THRESHOLD * PER_TICK
        # at 473_684: balance 2e5 × 473_684 − 9e10 = 4_736_800_000; MM 1e4 × 473_684 = 4_736_840_000
        assert (flag.margin_balance_atoms, flag.maint_margin_atoms) == (4_736_800_000, 4_736_840_000)

    def test_trader_ends_with_947_37(self) -> None:
        """Closed at the mark, the trader keeps 900 + 47.368 = 947.368 USDT, within a cent of 947.37."""
        h = build(ISOLATED)
        walk(h, PATH)
        # fill 20 lots at 473_684: realized (473_684 − 500_000) × 20 × 10_000 = −5_263_200_000;
        # bucket 1e10 − 5_263_200_000 = 4_736_800_000 back to the wallet of 9e10
        assert h.pos(TRADER) is None
        assert h.wallet(TRADER) == 94_736_800_000
        assert abs(h.wallet(TRADER) - 947.37 * USDT) < 0.01 * USDT

    def test_liquidation_event_explains_the_close(self) -> None:
        """The Liquidation event carries the trigger figures, the bankruptcy price 45,000.0 and a fill at the mark."""
        h = build(ISOLATED)
        _, events = walk(h, PATH)
        (liq,) = of_type(events, Liquidation)
        assert (liq.scope, liq.symbol, liq.account_id) == ("ISOLATED", "BTCUSDT", TRADER)
        assert (liq.margin_balance_atoms, liq.maint_margin_atoms) == (4_736_800_000, 4_736_840_000)
        (lp,) = liq.positions
        # BP = EP − WB/Q = 50,000 − 100 / 0.02 = 45,000.0 → 450_000 ticks
        assert lp.bankruptcy_price_ticks == 450_000
        assert (lp.qty_lots, lp.mark_price_subticks, lp.filled_lots) == (20, THRESHOLD * PER_TICK, 20)
        assert lp.fill_notional_atoms == THRESHOLD * 20 * 10_000
        assert (lp.taken_over_lots, lp.adl_lots) == (0, 0)
        assert (liq.clearance_fee_atoms, liq.insurance_fund_change_atoms, liq.uncovered_loss_atoms) == (0, 0, 0)
        (fill,) = fills_of_order(events, lp.order_id)
        assert (fill.price_ticks, fill.qty_lots, fill.aggressor_side, fill.maker_account_id) == (THRESHOLD, 20, SELL, MM)
        assert "47368.4" in liq.explanation and "isolated" in liq.explanation

    def test_no_margin_is_lost_to_the_maker_or_the_fund(self) -> None:
        """Without fees the maker's gain is exactly the trader's loss and the fund is untouched."""
        h = build(ISOLATED)
        mm_before = h.wallet(MM)
        walk(h, PATH)
        assert h.pos(MM) is None  # the maker's short of 20 was closed by the liquidation fill
        assert h.wallet(MM) - mm_before == 5_263_200_000
        assert h.fund == 0 and h.ledger.uncovered_loss_atoms == 0


class TestCrossWorkedExample:
    def test_same_path_does_not_liquidate_cross(self) -> None:
        """The cross pool (the whole 1,000 USDT) survives the path that liquidated the bucket."""
        h = build(CROSS)
        m, _ = walk(h, PATH)
        assert m is None
        assert h.pos(TRADER).qty_lots == 20
        assert h.wallet(TRADER) == 1_000 * USDT

    def test_down_to_just_above_cross_bankruptcy_liquidates_nothing(self) -> None:
        """Down to a mark of 0.1 USDT (equity 0.002 USDT > MM 0.0001) no Liquidatable nor Liquidation is emitted."""
        h = build(CROSS)
        start = len(h.sink.events)
        walk(h, PATH)
        m, _ = walk(h, [400_000, 200_000, 100_000, 10_000, 1_000, 100, 10, 1])
        assert m is None
        seen = h.sink.events[start:]
        assert not of_type(seen, Liquidatable) and not of_type(seen, Liquidation)
        balance, mm = h.ledger.cross_margin_balance(h.ledger.accounts[TRADER])
        # at 1 tick: balance 2e5 × 1 = 200_000 atoms (0.002 USDT); MM 1e4 × 1 = 10_000
        assert (balance, mm) == (200_000, 10_000)
        assert h.pos(TRADER).qty_lots == 20


class TestLiquidationEventExplains:
    def test_liquidation_price_in_the_event_is_the_exact_threshold(self) -> None:
        """The event's liquidation price is the worked example's exact boundary at subtick
        resolution (47,368.421053: the mark is finer than the tick), inside the tick 47,368.4
        that liquidated on the 1-tick path."""
        h = build(ISOLATED)
        mark, events = walk(h, PATH)
        (liq,) = [e for e in events if type(e) is Liquidation]
        (closed,) = liq.positions
        exact = exact_liquidation_subticks()
        assert liquidatable_at(exact) and not liquidatable_at(exact + 1)
        assert closed.liquidation_price_subticks == exact and exact // PER_TICK == THRESHOLD == mark
        assert "liquidation price 47368.421053" in liq.explanation
        # the fill at the mark: average 47,368.40000000, slippage +0 vs the mark
        assert "at average 47368.40000000 (+0.00000000 vs mark)" in liq.explanation
