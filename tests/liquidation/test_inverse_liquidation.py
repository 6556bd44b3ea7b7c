"""Inverse (COIN-M) positions liquidated through the book, per settlement asset.

The worked vector (issue 16, Binance COIN-M FAQ): an isolated long of 100 BTCUSD
contracts (100 USD each) at 25,000 with 0.04 BTC of margin (10x), MMR 0.4 %, cum 0,
liquidates at 22,818.18 (margin balance = maintenance margin = 0.0017530 BTC); the short
at 27,666.67. Exact: the long's coin value at the liquidation price is
``(M + C) / (1 + MMR) = 0.44 / 1.004`` BTC, so ``P = 10,000 × 1.004 / 0.44``; the short's
``(C − M) / (1 − MMR) = 0.36 / 0.996`` BTC, ``P = 10,000 × 0.996 / 0.36``.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from exsim.book.orders import BUY, SELL
from exsim.exchange import Fill, FundingPaid, FundingSettled, Liquidatable, Liquidation, SettleFunding
from exsim.ledger import ISOLATED
from exsim.ledger.risk_index import LIQUIDATION_RATIO_E8, at_or_past_e8, isolated_threshold_subticks

from .harness import liquidations, of_type, reasons
from .inverse_harness import BTC, SUB, USDT, InverseHarness, coin_m, linear

MM = 9  # the market maker
PX = 250_000  # 25,000.0 in ticks


def isolated_run(side: int) -> InverseHarness:
    """Account 1 isolated 10x, 100 contracts at 25,000 (0.4 BTC) on ``side``; the maker the other way."""
    h = InverseHarness(coin_m(), fund={"BTC": 10 * BTC})
    h.fund_account(1, "BTC", 1 * BTC, leverage=10, mode=ISOLATED)
    h.fund_account(MM, "BTC", 100 * BTC, leverage=10)
    h.mark(PX)
    if side == BUY:
        h.trade(1, MM, 100, PX)
    else:
        h.trade(MM, 1, 100, PX)
    return h


class TestIsolatedVector:
    def test_long_bucket_is_a_tenth_of_the_coin_value(self) -> None:
        """The long's entry cost is the coin value 0.4 BTC and its 10x bucket 0.04 BTC."""
        h = isolated_run(BUY)
        pos = h.pos_in(1, "BTCUSD_PERP")
        assert (pos.qty_lots, pos.cost_atoms, pos.margin_atoms) == (100, 40_000_000, 4_000_000)
        assert h.wallet_in(1, "BTC") == 96_000_000

    def test_long_threshold_is_the_vector_liquidation_price(self) -> None:
        """The long's exact trigger is 22,818.18 (to the cent) and is the last subtick where balance <= MM."""
        h = isolated_run(BUY)
        pos = h.pos_in(1, "BTCUSD_PERP")
        direction, t = isolated_threshold_subticks(h.ledger, pos, LIQUIDATION_RATIO_E8)
        exact = Fraction(10_000 * 1004 * SUB, 440)
        assert direction == 0 and abs(t - exact) < SUB // 100
        assert t // (SUB // 100) == 2_281_818  # 22,818.18
        self._assert_boundary(h, pos, t, below=True)

    def test_short_threshold_is_the_vector_liquidation_price(self) -> None:
        """The short's exact trigger is 27,666.67 (to the cent) and is the first subtick where balance <= MM."""
        h = isolated_run(SELL)
        pos = h.pos_in(1, "BTCUSD_PERP")
        direction, t = isolated_threshold_subticks(h.ledger, pos, LIQUIDATION_RATIO_E8)
        exact = Fraction(10_000 * 996 * SUB, 360)
        assert direction == 1 and abs(t - exact) < SUB // 100
        assert -(-t // (SUB // 100)) == 2_766_667  # 27,666.67
        self._assert_boundary(h, pos, t, below=False)

    @staticmethod
    def _assert_boundary(h: InverseHarness, pos: object, t: int, below: bool) -> None:
        """At t the bucket is at or past maintenance, one subtick on the safe side it is not."""
        ledger = h.ledger
        safe = t + 1 if below else t - 1
        for mark, expect in ((t, True), (safe, False)):
            ledger.marks["BTCUSD_PERP"] = mark
            balance, mm = ledger.isolated_margin_balance_e8(pos)  # type: ignore[arg-type]
            assert at_or_past_e8(LIQUIDATION_RATIO_E8, balance, mm) is expect, (mark, balance, mm)

    def test_long_maintenance_at_the_vector_price(self) -> None:
        """At 22,818.18 the long's maintenance margin and margin balance are both 0.0017530 BTC."""
        h = isolated_run(BUY)
        pos = h.pos_in(1, "BTCUSD_PERP")
        h.ledger.marks["BTCUSD_PERP"] = 2_281_818 * SUB // 100  # valued there, not sent (it would liquidate)
        balance_e8, mm = h.ledger.isolated_margin_balance_e8(pos)
        # shown to the vector's 7 decimals (rounded half up)
        assert (mm + 5) // 10 == 175_30  # 0.0017530 BTC
        assert (balance_e8 + 5 * 10**8) // 10**9 == 175_30

    def test_long_is_not_liquidated_one_subtick_above_its_trigger(self) -> None:
        """A mark one subtick above the trigger leaves the long open."""
        h = isolated_run(BUY)
        _, t = isolated_threshold_subticks(h.ledger, h.pos_in(1, "BTCUSD_PERP"), LIQUIDATION_RATIO_E8)
        h.rest(MM, BUY, 100, 228_000)
        events = h.mark_subticks(t + 1)
        assert not liquidations(events) and h.pos_in(1, "BTCUSD_PERP").qty_lots == 100

    def test_long_liquidates_through_the_book_at_its_trigger(self) -> None:
        """At the trigger the long sells into the bid at 22,800 (above its bankruptcy price 22,727.3):
        it realizes 0.4 − floor(1e13 / 228,000) sat and the rest of the bucket returns to the wallet."""
        h = isolated_run(BUY)
        _, t = isolated_threshold_subticks(h.ledger, h.pos_in(1, "BTCUSD_PERP"), LIQUIDATION_RATIO_E8)
        h.rest(MM, BUY, 100, 228_000)
        events = h.mark_subticks(t)
        (liq,) = liquidations(events, 1)
        (lp,) = liq.positions
        assert lp.bankruptcy_price_ticks == 227_273  # ceil(100 × 1e11 / 0.44 BTC)
        assert (lp.filled_lots, lp.fill_notional_atoms) == (100, 10**13 // 228_000)
        assert h.pos_in(1, "BTCUSD_PERP") is None
        assert h.wallet_in(1, "BTC") == 96_000_000 + 4_000_000 + 40_000_000 - 10**13 // 228_000
        assert "BTC" in liq.explanation and "0.0017" in liq.explanation

    def test_short_liquidates_through_the_book_at_its_trigger(self) -> None:
        """At the trigger the short buys from the ask at 27,700 (below its bankruptcy price 27,777.7)."""
        h = isolated_run(SELL)
        _, t = isolated_threshold_subticks(h.ledger, h.pos_in(1, "BTCUSD_PERP"), LIQUIDATION_RATIO_E8)
        h.rest(MM, SELL, 100, 277_000)
        assert not liquidations(h.mark_subticks(t - 1))
        (liq,) = liquidations(h.mark_subticks(t), 1)
        (lp,) = liq.positions
        assert lp.bankruptcy_price_ticks == 277_777  # floor(100 × 1e11 / 0.36 BTC)
        assert lp.filled_lots == 100 and h.pos_in(1, "BTCUSD_PERP") is None
        # short: PnL = exit value − cost; the bucket's rest comes back
        assert h.wallet_in(1, "BTC") == 96_000_000 + 4_000_000 + 10**13 // 277_000 - 40_000_000

    def test_clearance_fee_is_a_rate_of_the_coin_value_to_the_btc_fund(self) -> None:
        """A 0.1 % clearance fee on the liquidated coin value goes to the BTC insurance fund."""
        h = InverseHarness(coin_m(clearance_fee="0.001"), fund={"BTC": 10 * BTC})
        h.fund_account(1, "BTC", 1 * BTC, leverage=10, mode=ISOLATED)
        h.fund_account(MM, "BTC", 100 * BTC, leverage=10)
        h.mark(PX)
        h.trade(1, MM, 100, PX)
        _, t = isolated_threshold_subticks(h.ledger, h.pos_in(1, "BTCUSD_PERP"), LIQUIDATION_RATIO_E8)
        h.rest(MM, BUY, 100, 228_000)
        before = h.fund_in("BTC")
        (liq,) = liquidations(h.mark_subticks(t), 1)
        assert liq.clearance_fee_atoms == (10**13 // 228_000) // 1000  # rounded down
        assert h.fund_in("BTC") - before == liq.clearance_fee_atoms == liq.insurance_fund_change_atoms


class TestTakeoverAndAdl:
    def test_fund_takes_over_at_the_bankruptcy_price_when_no_bid(self) -> None:
        """With no bid the BTC fund takes the long over at its bankruptcy price."""
        h = isolated_run(BUY)
        _, t = isolated_threshold_subticks(h.ledger, h.pos_in(1, "BTCUSD_PERP"), LIQUIDATION_RATIO_E8)
        (liq,) = liquidations(h.mark_subticks(t), 1)
        (lp,) = liq.positions
        assert lp.taken_over_lots == 100 and not lp.adl_lots
        fund_pos = h.ledger.fund_of("BTCUSD_PERP").positions[("BTCUSD_PERP", 0)]
        assert fund_pos.qty_lots == 100 and fund_pos.cost_atoms == 10**13 // lp.bankruptcy_price_ticks
        # the bucket is exhausted, nothing returned: the account keeps only its wallet
        assert h.wallet_in(1, "BTC") == 96_000_000 + 4_000_000 + 40_000_000 - 10**13 // 227_273

    def test_adl_closes_the_most_profitable_short_when_the_fund_is_empty(self) -> None:
        """An empty BTC fund: the long is auto-deleveraged against the profitable short at its bankruptcy price."""
        h = InverseHarness(coin_m(), fund={"BTC": 0})
        h.fund_account(1, "BTC", 1 * BTC, leverage=10, mode=ISOLATED)
        h.fund_account(MM, "BTC", 100 * BTC, leverage=10)
        h.mark(PX)
        h.trade(1, MM, 100, PX)
        events = h.mark(220_000)  # below the bankruptcy price: the empty fund could not carry the loss
        (liq,) = liquidations(events, 1)
        (lp,) = liq.positions
        assert lp.adl_lots == 100 and [(a.account_id, a.qty_lots) for a in liq.adl] == [(MM, 100)]
        assert h.pos_in(MM, "BTCUSD_PERP") is None
        # the maker's short closed at the bankruptcy price: a gain of value(bp) − 0.4 BTC
        assert h.ledger.find_account(MM, "BTC").realized_pnl_atoms == 10**13 // lp.bankruptcy_price_ticks - 40_000_000

    def test_adl_stays_within_the_asset(self) -> None:
        """A profitable short on a USDT contract is never deleveraged for a BTC-margined long."""
        h = InverseHarness(coin_m(), linear(), fund={"BTC": 0, "USDT": 0})
        h.fund_account(1, "BTC", 1 * BTC, leverage=10, mode=ISOLATED)
        h.fund_account(MM, "BTC", 100 * BTC, leverage=10)
        h.fund_account(MM, "USDT", 10**6 * USDT, leverage=10)
        h.fund_account(2, "USDT", 10**6 * USDT, leverage=10)
        h.mark(PX)
        h.mark(PX, "BTCUSDT")
        h.trade(2, MM, 100, PX, "BTCUSDT")
        h.trade(1, MM, 100, PX)
        (liq,) = liquidations(h.mark(220_000), 1)
        assert {a.symbol for a in liq.adl} == {"BTCUSD_PERP"}
        assert h.pos_in(MM, "BTCUSDT").qty_lots == -100


class TestCrossPools:
    def two_inverse(self) -> InverseHarness:
        """Account 1 cross long in BTCUSD_PERP and BTCUSD_241227 (both BTC-margined), 20x."""
        h = InverseHarness(coin_m(), coin_m("BTCUSD_241227"), fund={"BTC": 10 * BTC})
        h.fund_account(1, "BTC", 5_000_000, leverage=20)
        h.fund_account(MM, "BTC", 100 * BTC, leverage=20)
        for sym in ("BTCUSD_PERP", "BTCUSD_241227"):
            h.mark(PX, sym)
            h.trade(1, MM, 100, PX, sym)
        return h

    def test_one_btc_wallet_backs_both_inverse_legs(self) -> None:
        """Two BTC-margined contracts share the BTC wallet: the pool's MM is the sum of both legs'."""
        h = self.two_inverse()
        acct = h.ledger.find_account(1, "BTC")
        balance, mm = h.ledger.cross_margin_balance_e8(acct)
        assert balance == 5_000_000 * 10**8 and mm == 2 * 160_000  # 2 × 0.4 BTC × 0.4 %

    def test_pool_is_flagged_exactly_when_the_exact_condition_first_holds(self) -> None:
        """Walking both marks down by $25, the pool is reported liquidatable at the first mark where
        wallet + Σ UPnL <= Σ MM holds exactly (conservative triggers never fire late)."""
        h = self.two_inverse()
        acct = h.ledger.find_account(1, "BTC")
        ledger = h.ledger
        price = PX * 10  # in USD × 100: a step of 25.00 USD
        for _ in range(400):
            price -= 2_500
            for sym in ("BTCUSD_PERP", "BTCUSD_241227"):
                events = h.mark_subticks(price * SUB // 100, sym)
                if any(type(e) is Liquidatable and e.account_id == 1 for e in events):
                    # flagged: the exact condition held at these marks (the balance in the event)
                    (liq,) = liquidations(events, 1)
                    assert liq.margin_balance_atoms <= liq.maint_margin_atoms
                    assert {p.symbol for p in liq.positions} == {"BTCUSD_PERP", "BTCUSD_241227"}
                    return
                # not flagged: the exact condition does not hold (no trigger fired late)
                assert not at_or_past_e8(LIQUIDATION_RATIO_E8, *ledger.cross_margin_balance_e8(acct)), (price, sym)
        pytest.fail("the pool was never liquidated")

    def test_cross_bankruptcy_prices_leave_no_bad_debt(self) -> None:
        """With no bids both legs are taken over at their cross bankruptcy prices (the pool's
        balance shared by MM, in value space, rounded away from bad debt): the BTC fund pays
        no deficit and the account keeps a wallet >= 0."""
        h = self.two_inverse()
        events = h.mark(215_000)
        events += h.mark(215_000, "BTCUSD_241227")
        (liq,) = liquidations(events, 1)
        assert all(p.taken_over_lots == 100 for p in liq.positions)
        assert liq.insurance_fund_change_atoms >= 0 and not liq.uncovered_loss_atoms
        assert 0 <= h.wallet_in(1, "BTC") < 5_000_000

    def test_usdt_and_btc_pools_of_one_account_are_independent(self) -> None:
        """A crash in BTCUSD_PERP liquidates account 1's BTC pool only; its USDT pool, wallet and
        position stay as they were (and the other way round)."""
        h = InverseHarness(coin_m(), linear(), fund={"BTC": 10 * BTC, "USDT": 10**6 * USDT})
        h.fund_account(1, "BTC", 5_000_000, leverage=20)
        h.fund_account(1, "USDT", 2_000 * USDT, leverage=20)
        h.fund_account(MM, "BTC", 100 * BTC, leverage=20)
        h.fund_account(MM, "USDT", 10**7 * USDT, leverage=20)
        h.mark(PX)
        h.mark(PX, "BTCUSDT")
        h.trade(1, MM, 100, PX)  # 0.4 BTC long
        h.trade(1, MM, 1_000, PX, "BTCUSDT")  # 1 BTC long, 25,000 USDT
        usdt_before = h.wallet_in(1, "USDT")
        usdt_fund = h.fund_in("USDT")
        events = h.mark(200_000)  # BTCUSD_PERP to 20,000: the BTC pool fails
        (liq,) = liquidations(events, 1)
        assert liq.scope == "CROSS" and [p.symbol for p in liq.positions] == ["BTCUSD_PERP"]
        assert h.pos_in(1, "BTCUSD_PERP") is None
        assert h.pos_in(1, "BTCUSDT").qty_lots == 1_000
        assert (h.wallet_in(1, "USDT"), h.fund_in("USDT")) == (usdt_before, usdt_fund)
        btc_left = h.wallet_in(1, "BTC")
        (liq,) = liquidations(h.mark(230_000, "BTCUSDT"), 1)  # now the USDT pool fails
        assert [p.symbol for p in liq.positions] == ["BTCUSDT"]
        assert h.wallet_in(1, "BTC") == btc_left


class TestPartial:
    def test_inverse_position_is_reduced_to_the_bracket_below_first(self) -> None:
        """Partial liquidation on COIN-M: a position above bracket 1 is cut to just under its floor
        (in coin) through the book; the scope survives when that is enough."""
        tiers = [("0", "1", "0.005", 50), ("1", "10", "0.03", 20)]
        inst = coin_m(tiers=tiers)
        import attrs

        inst = attrs.evolve(inst, partial_liquidation=True)
        h = InverseHarness(inst, fund={"BTC": 10 * BTC})
        h.fund_account(1, "BTC", 15_000_000, leverage=20, mode=ISOLATED)
        h.fund_account(MM, "BTC", 100 * BTC, leverage=20)
        h.mark(PX)
        h.trade(1, MM, 500, PX)  # 2 BTC: bracket 2 (MMR 3 %)
        pos = h.pos_in(1, "BTCUSD_PERP")
        _, t = isolated_threshold_subticks(h.ledger, pos, LIQUIDATION_RATIO_E8)
        h.rest(MM, BUY, 1_000, t // 10**7)  # a deep bid just under the trigger
        events = h.mark_subticks(t)
        (liq,) = liquidations(events, 1)
        assert liq.partial
        left = h.pos_in(1, "BTCUSD_PERP")
        assert left is not None and 0 < left.qty_lots < 500
        inst = h.ledger.instruments["BTCUSD_PERP"]
        assert inst.value_atoms_e8(t, left.qty_lots) < 1 * BTC * 10**8  # under bracket 2's floor, 1 BTC
        assert inst.value_atoms_e8(t, left.qty_lots + 1) >= 1 * BTC * 10**8 - 10**8  # the most that fits


class TestFunding:
    def test_inverse_funding_is_zero_sum_in_btc(self) -> None:
        """Funding on BTCUSD_PERP: 0.4 BTC × 0.01 % paid by the long to the short, in BTC; the USDT book is untouched."""
        h = InverseHarness(coin_m(), linear(), fund={"BTC": 0, "USDT": 0})
        h.fund_account(1, "BTC", 1 * BTC)
        h.fund_account(MM, "BTC", 100 * BTC)
        h.fund_account(2, "USDT", 10_000 * USDT)
        h.mark(PX)
        h.trade(1, MM, 100, PX)
        usdt_money = h.ledger.money_atoms("USDT")
        events = h.submit(SettleFunding(0, "BTCUSD_PERP", 10_000))
        paid = {e.account_id: e.amount_atoms for e in of_type(events, FundingPaid)}
        assert paid == {1: -4_000, MM: 4_000}
        (settled,) = of_type(events, FundingSettled)
        assert settled.paid_atoms - settled.received_atoms == settled.dust_atoms == 0
        assert h.ledger.money_atoms("USDT") == usdt_money

    def test_inverse_funding_dust_goes_to_the_btc_fund(self) -> None:
        """Amounts that are not whole satoshi: payers round up, receivers down, the dust to the BTC fund."""
        h = InverseHarness(coin_m(), fund={"BTC": 0})
        h.fund_account(1, "BTC", 1 * BTC)
        h.fund_account(2, "BTC", 1 * BTC)
        h.fund_account(MM, "BTC", 100 * BTC)
        h.mark(PX)
        h.trade(1, MM, 7, PX)
        h.trade(MM, 2, 3, PX)
        h.mark_subticks(2_999_999_999_999)  # 29,999.99999999: values are not whole
        events = h.submit(SettleFunding(0, "BTCUSD_PERP", 33_333))
        (settled,) = of_type(events, FundingSettled)
        amounts = [e.amount_atoms for e in of_type(events, FundingPaid)]
        assert sum(amounts) + settled.dust_atoms == 0 and settled.dust_atoms > 0
        assert h.fund_in("BTC") == settled.dust_atoms


class TestHolds:
    def market(self) -> InverseHarness:
        h = InverseHarness(coin_m(), fund={"BTC": 0})
        h.fund_account(MM, "BTC", 100 * BTC, leverage=10)
        h.mark(PX)
        h.rest(MM, SELL, 10, 240_000)
        h.rest(MM, BUY, 10, 235_000)
        return h

    def test_inverse_buy_is_held_at_the_best_ask_below_its_limit(self) -> None:
        """A buy limited at 26,000 can fill at the 24,000 ask, where the coin value is highest."""
        h = self.market()
        worst = h.ex._worst_notional(h.ex.markets["BTCUSD_PERP"], BUY, 5, 260_000)
        assert worst == 5 * 10**11 // 240_000

    def test_inverse_buy_below_the_ask_is_held_at_its_limit(self) -> None:
        """A buy resting at 23,000 fills at 23,000 at the lowest."""
        h = self.market()
        assert h.ex._worst_notional(h.ex.markets["BTCUSD_PERP"], BUY, 5, 230_000) == 5 * 10**11 // 230_000

    def test_inverse_sell_is_held_at_its_limit_even_below_the_bid(self) -> None:
        """A sell limited at 23,000 fills at 23,500 or higher: its limit bounds the coin value."""
        h = self.market()
        assert h.ex._worst_notional(h.ex.markets["BTCUSD_PERP"], SELL, 5, 230_000) == 5 * 10**11 // 230_000

    def test_inverse_market_sell_is_held_at_the_deepest_bid_it_reaches(self) -> None:
        """A market sell of 10 reaches the 23,500 bid at the lowest."""
        h = self.market()
        assert h.ex._worst_notional(h.ex.markets["BTCUSD_PERP"], SELL, 10, None) == 10 * 10**11 // 235_000

    def test_inverse_order_hold_is_the_worst_value_over_leverage(self) -> None:
        """A resting inverse buy holds ceil(value at its limit / leverage) of the BTC wallet."""
        h = self.market()
        h.fund_account(1, "BTC", 1 * BTC, leverage=10)
        oid = h.rest(1, BUY, 5, 230_000)
        hold = h.ledger.holds[oid]
        assert hold.notional_atoms == 5 * 10**11 // 230_000
        assert hold.held_atoms == -(-hold.notional_atoms // 10)
        assert h.ledger.find_account(1, "BTC").held_atoms == hold.held_atoms
