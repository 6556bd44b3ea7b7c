"""The insurance fund: clearance fee, takeover, unwinding, ADL on a gap, uncovered loss.

Base position (BTCUSDT, fixed 5 % maintenance, 10x): the trader (account 1, 1,000 USDT,
isolated) buys 20 lots at 500_000 ticks (50,000.0) from the maker (account 9):
notional 1e11 atoms, bucket 1e10 (100 USDT), wallet 9e10 (900 USDT). Bankruptcy price
``(cost − bucket) / size = (1e11 − 1e10) / (20 × 10_000) = 450_000`` (45,000.0).
Bucket balance at mark m: ``2e5·m − 9e10``; MM ``1e4·m``; liquidated iff m <= 473_684.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import exsim.ledger.ledger as ledger_module
from exsim.exchange import Fill, OrderAccepted

from .harness import (
    BUY,
    INSURANCE_FUND,
    ISOLATED,
    MM,
    SELL,
    USDT,
    LiqHarness,
    fixed,
    liquidations,
    of_type,
)

TRADER = 1
ENTRY = 500_000
BP = 450_000


def world(fund: int = 0, maker: bool = True, **inst: Any) -> LiqHarness:
    """The base position; with ``maker=False`` the trader buys from replayed (EXTERNAL) liquidity."""
    kwargs = {k: inst.pop(k) for k in ("fund_unwind_lots", "adl_score") if k in inst}
    h = LiqHarness(fixed(**inst), fund=fund, **kwargs)
    h.mark(ENTRY)
    h.account(TRADER, 1_000, leverage=10, mode=ISOLATED)
    h.account(MM, 1_000_000, leverage=10)
    if maker:
        h.trade(TRADER, MM, 20, ENTRY)
    else:
        h.level(SELL, ENTRY, 20)
        h.order(TRADER, BUY, 20, ENTRY)
    assert h.pos(TRADER).qty_lots == 20
    return h


class TestClearanceFee:
    def test_fee_goes_to_the_fund(self) -> None:
        """1 % of the liquidated notional (9.47368 USDT) goes from the leftover margin to the fund."""
        h = world(clearance_fee_e8=1_000_000)
        h.rest(MM, BUY, 20, 473_684)
        (liq,) = liquidations(h.mark(473_684))
        # notional 473_684 × 20 × 10_000 = 94_736_800_000; 1 % = 947_368_000
        assert liq.clearance_fee_atoms == 947_368_000
        assert liq.insurance_fund_change_atoms == 947_368_000 and liq.insurance_fund_atoms == 947_368_000
        assert h.fund == 947_368_000
        # the bucket's 4_736_800_000 minus the fee returns: 9e10 + 3_789_432_000
        assert h.wallet(TRADER) == 93_789_432_000

    def test_fee_is_capped_by_what_margin_remains(self) -> None:
        """Filled at 45,200.0 only 4 USDT is left, less than 1 % (9.04 USDT): the fund gets 4, the trader 0."""
        h = world(clearance_fee_e8=1_000_000)
        h.rest(MM, BUY, 20, 452_000)
        (liq,) = liquidations(h.mark(452_000))
        # bucket 1e10 + 2e5 × (452_000 − 500_000) = 4e8; due 1 % × 9.04e10 = 9.04e8 > 4e8
        assert liq.clearance_fee_atoms == 4 * USDT and h.fund == 4 * USDT
        assert h.wallet(TRADER) == 900 * USDT

    def test_zero_rate_leaves_the_margin_to_the_trader(self) -> None:
        """With rate 0 the fund gets nothing and the whole leftover goes back to the wallet."""
        h = world()
        h.rest(MM, BUY, 20, 452_000)
        (liq,) = liquidations(h.mark(452_000))
        assert liq.clearance_fee_atoms == 0 and h.fund == 0
        assert h.wallet(TRADER) == 904 * USDT

    def test_fund_history_records_the_fee(self) -> None:
        """The fund's history gets (ts, balance after, change, reason) for the liquidation."""
        h = world(clearance_fee_e8=1_000_000)
        h.rest(MM, BUY, 20, 473_684)
        h.mark(473_684)
        assert h.ex.liquidator.fund_history == [(h.ts, 947_368_000, 947_368_000, "liquidation of account 1")]


def takeover_world(pace: int | None = 5, fund: int = 1_000 * USDT) -> tuple[LiqHarness, Any]:
    """The maker bids only at 44,000.0 (below BP 45,000.0); the mark drops to 45,500.0.

    The IOC sell (limit 450_000) finds nothing; the fund (1,000 USDT) would carry
    max(0, (450_000 − 455_000) × …) = 0 loss at the mark: it takes the 20 lots over at BP.
    """
    h = world(fund=fund, fund_unwind_lots={"BTCUSDT": pace} if pace else None)
    h.rest(MM, BUY, 100, 440_000)
    return h, h.mark(455_000)


class TestTakeover:
    def test_fund_takes_over_what_the_book_cannot_fill_within_bp(self) -> None:
        """Nothing fills at or above 45,000.0: the fund now holds the trader's 20 lots at exactly 45,000.0."""
        h, events = takeover_world()
        (liq,) = liquidations(events)
        (lp,) = liq.positions
        assert (lp.filled_lots, lp.taken_over_lots, lp.adl_lots) == (0, 20, 0)
        assert not [f for f in of_type(events, Fill) if f.taker_order_id == lp.order_id]
        fund_pos = h.fund_pos()
        assert fund_pos.qty_lots == 20 and fund_pos.cost_atoms == BP * 20 * 10_000
        # the trader closed at its bankruptcy price: the bucket is exactly zero, the wallet keeps 900
        assert h.pos(TRADER) is None and h.wallet(TRADER) == 900 * USDT
        assert h.fund == 1_000 * USDT

    def test_fund_unwinds_through_the_book_at_its_pace(self) -> None:
        """On each following mark tick the fund sells at most 5 lots into the book: 20 → 15 → 10 → 5 → flat."""
        h, _ = takeover_world(pace=5)
        sizes = []
        for _ in range(5):
            events = h.mark(455_000)
            unwind = [e for e in of_type(events, Fill) if e.taker_account_id == INSURANCE_FUND]
            assert sum(f.qty_lots for f in unwind) <= 5
            assert all(f.maker_account_id == MM and f.price_ticks == 440_000 for f in unwind)
            sizes.append(h.fund_pos().qty_lots if h.fund_pos() else 0)
        assert sizes == [15, 10, 5, 0, 0]
        # each lot lost (450_000 − 440_000) × 10_000 = 1e8: 20 USDT in all
        assert h.fund == 980 * USDT

    def test_fund_unwinds_everything_at_once_by_default(self) -> None:
        """Without a pace the fund sends all 20 lots on the next mark tick."""
        h, _ = takeover_world(pace=None)
        events = h.mark(455_000)
        (order,) = [e for e in of_type(events, OrderAccepted) if e.account_id == INSURANCE_FUND]
        assert order.qty_lots == 20 and h.fund_pos() is None

    def test_fund_history_accounts_for_every_change_of_the_balance(self) -> None:
        """After the unwind, the fund history's last balance is the fund's balance and its changes add up to it."""
        h, _ = takeover_world(pace=5)
        for _ in range(4):
            h.mark(455_000)
        assert h.fund == 980 * USDT
        history = h.ex.liquidator.fund_history
        assert history, "the fund's balance changed (−20 USDT on the unwind) but its history is empty"
        assert history[-1][1] == h.fund
        assert 1_000 * USDT + sum(change for _, _, change, _ in history) == h.fund


class TestGapAndAdl:
    def test_gap_through_bp_with_empty_fund_deleverages(self) -> None:
        """Mark 44,000.0 (< BP) with no bid within BP and an empty fund: the maker's short is closed at 45,000.0."""
        h = world(fund=0)
        h.rest(MM, BUY, 20, 400_000)
        events = h.mark(440_000)
        (liq,) = liquidations(events)
        (lp,) = liq.positions
        assert (lp.filled_lots, lp.taken_over_lots, lp.adl_lots) == (0, 0, 20)
        assert [(a.account_id, a.qty_lots, a.price_ticks, a.rank) for a in liq.adl] == [(MM, 20, BP, 1)]
        assert h.pos(MM) is None and h.fund_pos() is None
        assert h.wallet(TRADER) == 900 * USDT and h.fund == 0 and h.ledger.uncovered_loss_atoms == 0

    def test_nobody_ends_below_zero_after_a_gap(self) -> None:
        """After the gap and the ADL every wallet, bucket and the fund are >= 0."""
        h = world(fund=0)
        h.rest(MM, BUY, 20, 400_000)
        h.mark(440_000)
        h.mark(300_000)
        for acct in h.ledger.accounts.values():
            assert acct.wallet_atoms >= 0
            assert all(p.margin_atoms >= 0 for p in acct.positions.values())
        assert h.fund >= 0


class TestUncoveredLoss:
    def test_liquidation_fee_beyond_the_bucket_is_reported_uncovered(self) -> None:
        """Filled exactly at BP with a 0.05 % taker fee and an empty fund, the 0.45 USDT fee is an uncovered loss."""
        h = world(fund=0, taker_fee_e8=50_000)
        h.rest(MM, BUY, 20, BP)
        (liq,) = liquidations(h.mark(448_000))
        # bucket at BP: 1e10 + 2e5 × (450_000 − 500_000) = 0; fee ceil(9e10 × 5e4 / 1e8) = 4.5e7 from the bucket
        assert liq.positions[0].filled_lots == 20
        assert liq.uncovered_loss_atoms == 45_000_000
        assert h.ledger.uncovered_loss_atoms == 45_000_000
        assert "UNCOVERED LOSS 0.45" in liq.explanation
        assert h.fund == 0 and h.wallet(TRADER) >= 0

    def test_the_documented_money_identity_needs_the_uncovered_loss(self) -> None:
        """README's "Money" identity (and ledger.py's docstring), term by term, once the fund
        has run dry: Σ wallets + Σ isolated buckets + fee pool + insurance fund − Σ signed
        entry costs − uncovered loss = Σ deposits − Σ withdrawals; without its last term
        the left side is off by exactly the uncovered loss."""
        h = world(fund=0, taker_fee_e8=50_000)
        h.rest(MM, BUY, 20, BP)
        h.mark(448_000)
        ledger = h.ledger
        holders = [*ledger.accounts.values(), ledger.external, ledger.fund]
        positions = [p for a in holders for p in a.positions.values()]
        wallets = sum(a.wallet_atoms for a in holders if a is not ledger.fund)
        buckets = sum(p.margin_atoms for p in positions)
        costs = sum(p.cost_atoms if p.qty_lots >= 0 else -p.cost_atoms for p in positions)
        before_uncovered = wallets + buckets + ledger.fee_pool_atoms + ledger.insurance_fund_atoms - costs
        assert ledger.uncovered_loss_atoms == 45_000_000
        assert before_uncovered - ledger.uncovered_loss_atoms == ledger.total_in_atoms - ledger.total_out_atoms
        readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
        assert "− uncovered loss" in (ledger_module.__doc__ or "") and "− uncovered loss = Σ deposits − Σ withdrawals" in readme

    def test_fund_covers_the_fee_deficit_when_it_can(self) -> None:
        """The same deficit with 10 USDT in the fund is covered by the fund: nothing uncovered."""
        h = world(fund=10 * USDT, taker_fee_e8=50_000)
        h.rest(MM, BUY, 20, BP)
        (liq,) = liquidations(h.mark(448_000))
        assert liq.uncovered_loss_atoms == 0 and liq.insurance_fund_change_atoms == -45_000_000
        assert h.fund == 10 * USDT - 45_000_000

    def test_forced_takeover_loss_beyond_the_fund_is_reported_not_hidden(self) -> None:
        """Bought from replayed liquidity (no one to deleverage), an empty fund must not go negative unwinding at a loss."""
        h = world(fund=0, maker=False)
        h.level(BUY, 400_000, 100)  # replayed bids at 40,000.0 only
        (liq,) = liquidations(h.mark(440_000))
        assert liq.positions[0].taken_over_lots == 20  # nobody to deleverage: the fund takes it
        h.mark(430_000)  # the fund unwinds 20 lots at 40,000.0: (450_000 − 400_000) × 20 × 10_000 = 1e10 lost
        assert h.fund_pos() is None
        assert h.fund == 0
        assert h.ledger.uncovered_loss_atoms == 100 * USDT


class TestVoluntaryCloseBelowBankruptcy:
    def test_closing_through_a_thin_book_never_leaves_the_wallet_negative(self) -> None:
        """A reduce-only market sell of the isolated long that can only fill at 40,000.0 (BP 45,000.0) leaves no wallet below zero."""
        # The trader deposits exactly the 100 USDT bucket (wallet 0). At 40,000.0 the close would
        # lose (500_000 − 400_000) × 20 × 10_000 = 2e10 = 200 USDT, twice the bucket; DESIGN §5:
        # an isolated bucket's loss is capped at its margin.
        h = LiqHarness(fixed(), fund=0)
        h.mark(ENTRY)
        h.account(TRADER, 100, leverage=10, mode=ISOLATED)
        h.account(MM, 1_000_000, leverage=10)
        h.trade(TRADER, MM, 20, ENTRY)
        assert h.wallet(TRADER) == 0
        h.rest(MM, BUY, 20, 400_000)
        h.order(TRADER, SELL, 20, reduce_only=True)  # market; the harness checks every wallet >= 0
        assert h.wallet(TRADER) >= 0
