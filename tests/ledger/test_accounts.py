"""Account commands and order holds through the exchange: deposits, withdrawals, settings,
isolated margin moves, reduce-only, holds and INSUFFICIENT_MARGIN.

Hand-computed limits are checked at the exact boundary: the maximum passes, one atom (or
one lot) more is refused. BTCUSDT arithmetic as in ``harness.py``; default leverage 20.
"""

from __future__ import annotations

from typing import Any

from exsim.book.orders import FOK, IOC, MARKET, STOP_LIMIT, STOP_MARKET
from exsim.exchange import BalanceChanged, PositionChanged, RejectReason, SettingChanged
from exsim.ledger import BOTH, CROSS, ISOLATED, LONG, Reason

from .harness import ALICE, BOB, BTC, BUY, ETH, P, SELL, SYM, USDT, LedgerHarness, of_type, reasons, taker_fee

W0 = 10_000 * USDT


def funded(*instruments: Any, amount: int = W0, accounts: tuple[int, ...] = (ALICE,)) -> LedgerHarness:
    h = LedgerHarness(*instruments)
    for a in accounts:
        h.deposit(a, amount)
    return h


def take(h: LedgerHarness, account: int, side: int, qty: int, px: int, pside: int = BOTH, symbol: str = SYM) -> None:
    """``account`` takes exactly ``qty`` lots at ``px`` from replayed liquidity (IOC)."""
    h.level(side ^ 1, px, qty, symbol=symbol)
    events = h.new(account, side, qty, px, tif=IOC, pside=pside, symbol=symbol)
    assert not reasons(events), reasons(events)


def hold_of(px: int, lots: int, leverage: int = 20) -> int:
    """BTCUSDT opening hold: ceil(notional / leverage) + taker fee."""
    notional = px * lots * 10_000
    return -(-notional // leverage) + taker_fee(px, lots)


class TestDepositWithdraw:
    def test_deposit_credits_the_wallet(self) -> None:
        """A deposit credits the cross wallet and reports the new balance."""
        h = LedgerHarness()
        events = h.deposit(ALICE, 123 * USDT)
        (ev,) = of_type(events, BalanceChanged)
        assert (ev.kind, ev.amount_atoms, ev.wallet_atoms) == ("DEPOSIT", 123 * USDT, 123 * USDT)
        assert h.ledger.total_in_atoms == 123 * USDT

    def test_bad_amounts_are_refused(self) -> None:
        """Zero or negative amounts are refused; withdrawing from an unknown account too."""
        h = funded()
        assert reasons(h.deposit(ALICE, 0)) == [Reason.INVALID_AMOUNT]
        assert reasons(h.deposit(ALICE, -5)) == [Reason.INVALID_AMOUNT]
        assert reasons(h.withdraw(ALICE, 0)) == [Reason.INVALID_AMOUNT]
        assert reasons(h.withdraw(BOB, 1)) == [Reason.NO_ACCOUNT]

    def test_withdraw_everything_when_flat(self) -> None:
        """With no position or order the whole wallet can leave, and not one atom more."""
        h = funded()
        assert reasons(h.withdraw(ALICE, W0 + 1)) == [Reason.INSUFFICIENT_BALANCE]
        events = h.withdraw(ALICE, W0)
        (ev,) = of_type(events, BalanceChanged)
        assert (ev.kind, ev.amount_atoms, ev.wallet_atoms) == ("WITHDRAW", -W0, 0)
        assert h.ledger.total_out_atoms == W0

    def test_withdraw_max_with_cross_loss_and_open_order(self) -> None:
        """Max withdrawal = wallet + min(0, cross UPnL) − cross IM − held, exactly."""
        h = funded(amount=1_000 * USDT)
        h.mark(P)
        take(h, ALICE, BUY, 10, P)  # wallet 100,000,000,000 - fee 30,000,000 = 99,970,000,000
        h.mark(595_000)
        # UPnL 10 * (595_000 - 600_000) * 10_000 = -500,000,000
        # IM at the mark: 10 * 595_000 * 10_000 / 20 = 2,975,000,000
        h.new(ALICE, BUY, 2, 590_000)
        # hold: 2 * 590_000 * 10_000 / 20 = 590,000,000 + fee 590_000 * 2 * 5 = 5,900,000
        assert h.held(ALICE) == 595_900_000
        most = 99_970_000_000 - 500_000_000 - 2_975_000_000 - 595_900_000  # 95,899,100,000
        assert h.ledger.withdrawable_atoms(h.acct(ALICE)) == most
        assert reasons(h.withdraw(ALICE, most + 1)) == [Reason.INSUFFICIENT_BALANCE]
        assert reasons(h.withdraw(ALICE, most)) == []
        assert h.wallet(ALICE) == 99_970_000_000 - most
        assert reasons(h.withdraw(ALICE, 1)) == [Reason.INSUFFICIENT_BALANCE]

    def test_unrealized_profit_cannot_be_withdrawn(self) -> None:
        """A cross profit raises no withdrawal limit: max = wallet − IM at the mark."""
        h = funded(amount=1_000 * USDT)
        h.mark(P)
        take(h, ALICE, BUY, 10, P)
        h.mark(605_000)
        # UPnL +500,000,000 (ignored); IM 10 * 605_000 * 10_000 / 20 = 3,025,000,000
        most = 99_970_000_000 - 3_025_000_000
        assert reasons(h.withdraw(ALICE, most + 1)) == [Reason.INSUFFICIENT_BALANCE]
        assert reasons(h.withdraw(ALICE, most)) == []

    def test_isolated_bucket_is_not_withdrawable_and_its_loss_does_not_count(self) -> None:
        """Only the cross wallet can leave; an isolated position's loss stays in its bucket."""
        h = funded(amount=1_000 * USDT)
        h.margin_mode(ALICE, ISOLATED)
        h.leverage(ALICE, 10)
        h.mark(P)
        take(h, ALICE, BUY, 10, P)  # bucket 6,000,000,000, wallet 100e9 - 6e9 - 30,000,000
        h.mark(590_000)
        most = 100_000_000_000 - 6_000_000_000 - 30_000_000  # 93,970,000,000
        assert reasons(h.withdraw(ALICE, most + 1)) == [Reason.INSUFFICIENT_BALANCE]
        assert reasons(h.withdraw(ALICE, most)) == []
        assert h.wallet(ALICE) == 0


class TestMarginMode:
    def test_switch_when_flat(self) -> None:
        """With nothing open on the instrument the margin mode changes and is reported."""
        h = funded()
        events = h.margin_mode(ALICE, ISOLATED)
        (ev,) = of_type(events, SettingChanged)
        assert (ev.setting, ev.value) == ("MARGIN_MODE", "ISOLATED")
        assert h.ledger.margin_mode(h.acct(ALICE), SYM) == ISOLATED

    def test_refused_with_a_position(self) -> None:
        """A position on the instrument blocks the change; another instrument is free."""
        h = funded(BTC, ETH)
        take(h, ALICE, BUY, 10, P)
        assert reasons(h.margin_mode(ALICE, ISOLATED)) == [Reason.HAS_POSITION_OR_ORDERS]
        assert reasons(h.margin_mode(ALICE, ISOLATED, symbol="ETHUSDT")) == []

    def test_refused_with_a_resting_order_until_cancelled(self) -> None:
        """A resting order blocks the change; after its cancel the change is accepted."""
        h = funded()
        h.new(ALICE, BUY, 2, 590_000)
        oid = h.last_order_id()
        assert reasons(h.margin_mode(ALICE, ISOLATED)) == [Reason.HAS_POSITION_OR_ORDERS]
        h.cancel(ALICE, oid)
        assert reasons(h.margin_mode(ALICE, ISOLATED)) == []

    def test_refused_with_a_waiting_stop_order(self) -> None:
        """An untriggered stop order holds no margin but still blocks the change."""
        h = funded()
        events = h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=610_000)
        assert not reasons(events)
        oid = h.last_order_id()
        assert h.held(ALICE) == 0
        assert reasons(h.margin_mode(ALICE, ISOLATED)) == [Reason.HAS_POSITION_OR_ORDERS]
        h.cancel(ALICE, oid)
        assert reasons(h.margin_mode(ALICE, ISOLATED)) == []

    def test_same_mode_is_a_no_op(self) -> None:
        """Setting the current mode is accepted even with a position."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        assert reasons(h.margin_mode(ALICE, CROSS)) == []


class TestPositionMode:
    def test_refused_with_a_position_on_any_instrument(self) -> None:
        """Hedge mode cannot be switched on while any position is open."""
        h = funded(BTC, ETH)
        take(h, ALICE, BUY, 10, 300_000, symbol="ETHUSDT")
        assert reasons(h.hedge(ALICE)) == [Reason.HAS_POSITION_OR_ORDERS]
        take(h, ALICE, SELL, 10, 300_000, symbol="ETHUSDT")
        assert reasons(h.hedge(ALICE)) == []
        assert h.acct(ALICE).hedge_mode

    def test_refused_with_a_resting_order(self) -> None:
        """A resting order blocks the switch."""
        h = funded()
        h.new(ALICE, SELL, 2, 610_000)
        assert reasons(h.hedge(ALICE)) == [Reason.HAS_POSITION_OR_ORDERS]

    def test_refused_with_a_waiting_stop_order(self) -> None:
        """An untriggered stop order blocks the switch back to one-way."""
        h = funded()
        h.hedge(ALICE)
        take(h, ALICE, BUY, 10, P, pside=LONG)
        take(h, ALICE, SELL, 10, P, pside=LONG)
        h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=620_000, pside=LONG)
        assert reasons(h.hedge(ALICE, False)) == [Reason.HAS_POSITION_OR_ORDERS]


class TestLeverage:
    def test_max_leverage_of_the_first_bracket_when_flat(self) -> None:
        """BTCUSDT allows 125x below 50,000 USDT notional; 126x and 0 are refused."""
        h = funded()
        assert reasons(h.leverage(ALICE, 126)) == [Reason.LEVERAGE_ABOVE_BRACKET_MAX]
        assert reasons(h.leverage(ALICE, 0)) == [Reason.INVALID_LEVERAGE]
        events = h.leverage(ALICE, 125)
        assert not reasons(events) and of_type(events, SettingChanged)[0].value == "125"

    def test_125x_allowed_just_below_50000_notional(self) -> None:
        """A position of 833 lots at 60,000 (49,980 USDT) still allows 125x."""
        h = funded()
        h.mark(P)
        take(h, ALICE, BUY, 833, P)
        assert reasons(h.leverage(ALICE, 125)) == []
        pos = h.pos(ALICE)
        assert pos is not None and pos.leverage == 125

    def test_125x_refused_at_or_above_50000_notional(self) -> None:
        """834 lots at 60,000 (50,040 USDT) is in bracket 2: 125x refused, 100x accepted."""
        h = funded()
        h.mark(P)
        take(h, ALICE, BUY, 834, P)
        assert reasons(h.leverage(ALICE, 125)) == [Reason.LEVERAGE_ABOVE_BRACKET_MAX]
        assert reasons(h.leverage(ALICE, 101)) == [Reason.LEVERAGE_ABOVE_BRACKET_MAX]
        assert reasons(h.leverage(ALICE, 100)) == []

    def test_order_crossing_the_bracket_at_125x_is_refused(self) -> None:
        """At 125x an order for 834 lots (50,040 USDT) is refused; 833 lots is accepted."""
        h = funded()
        h.leverage(ALICE, 125)
        assert reasons(h.new(ALICE, BUY, 834, P)) == [Reason.LEVERAGE_ABOVE_BRACKET_MAX]
        assert reasons(h.new(ALICE, BUY, 833, P)) == []

    def test_open_orders_count_toward_the_bracket_for_a_new_leverage(self) -> None:
        """MARGIN-SPEC §1: the position's notional *plus open orders* picks the bracket, so 900 resting lots (54,000 USDT) forbid 125x."""
        h = funded()
        assert not reasons(h.new(ALICE, BUY, 900, P))
        assert reasons(h.leverage(ALICE, 125)) == [Reason.LEVERAGE_ABOVE_BRACKET_MAX]

    def test_open_orders_count_toward_the_bracket_for_a_new_order(self) -> None:
        """MARGIN-SPEC §1: at 125x, a second 500-lot order on top of a resting 500-lot one (60,000 USDT in all) is refused."""
        h = funded()
        h.leverage(ALICE, 125)
        assert not reasons(h.new(ALICE, BUY, 500, P))
        assert reasons(h.new(ALICE, BUY, 500, P)) == [Reason.LEVERAGE_ABOVE_BRACKET_MAX]

    def test_lowering_refused_when_the_bucket_would_miss_initial_margin(self) -> None:
        """An isolated bucket must hold ceil(notional / new leverage): 1 atom short is refused."""
        h = funded()
        h.margin_mode(ALICE, ISOLATED)
        h.mark(P)
        take(h, ALICE, BUY, 10, P)  # bucket 60,000,000,000 / 20 = 3,000,000,000
        # at 19x: ceil(60,000,000,000 / 19) = ceil(3,157,894,736.84) = 3,157,894,737
        assert reasons(h.leverage(ALICE, 19)) == [Reason.LEVERAGE_BELOW_REQUIRED]
        h.adjust(ALICE, 157_894_736)
        assert reasons(h.leverage(ALICE, 19)) == [Reason.LEVERAGE_BELOW_REQUIRED]
        pos = h.pos(ALICE)
        assert pos is not None and pos.leverage == 20
        h.adjust(ALICE, 1)
        assert reasons(h.leverage(ALICE, 19)) == []
        assert pos.leverage == 19 and pos.margin_atoms == 3_157_894_737

    def test_raising_isolated_leverage_moves_no_margin(self) -> None:
        """A higher leverage is accepted and leaves the bucket as it is."""
        h = funded()
        h.margin_mode(ALICE, ISOLATED)
        h.mark(P)
        take(h, ALICE, BUY, 10, P)
        wallet = h.wallet(ALICE)
        assert reasons(h.leverage(ALICE, 50)) == []
        pos = h.pos(ALICE)
        assert pos is not None and (pos.leverage, pos.margin_atoms) == (50, 3_000_000_000)
        assert h.wallet(ALICE) == wallet

    def test_lowering_cross_leverage_refused_when_available_would_go_negative(self) -> None:
        """Cross: available = wallet + UPnL − IM − held must stay >= 0 at the new leverage."""
        h = funded(amount=100 * USDT)
        h.mark(P)
        take(h, ALICE, BUY, 30, P)
        # wallet 10,000,000,000 - fee 90,000,000 = 9,910,000,000; notional 180,000,000,000
        # 18x: IM 10,000,000,000 -> available -90,000,000; 19x: IM 9,473,684,211 -> 436,315,789
        assert reasons(h.leverage(ALICE, 18)) == [Reason.LEVERAGE_BELOW_REQUIRED]
        pos = h.pos(ALICE)
        assert pos is not None and pos.leverage == 20
        assert reasons(h.leverage(ALICE, 19)) == []
        assert h.ledger.available_atoms(h.acct(ALICE)) == 436_315_789


class TestIsolatedMargin:
    def isolated(self, amount: int = W0) -> LedgerHarness:
        h = funded(amount=amount)
        h.margin_mode(ALICE, ISOLATED)
        h.mark(P)
        take(h, ALICE, BUY, 10, P)  # bucket 3,000,000,000
        return h

    def test_add_moves_wallet_to_bucket(self) -> None:
        """Adding margin moves it from the wallet into the bucket and reports both."""
        h = self.isolated()
        wallet = h.wallet(ALICE)
        events = h.adjust(ALICE, 1_000_000_000)
        (bal,) = of_type(events, BalanceChanged)
        (pc,) = of_type(events, PositionChanged)
        assert (bal.kind, bal.amount_atoms, bal.wallet_atoms) == ("ISOLATED_MARGIN", -1_000_000_000, wallet - 1_000_000_000)
        assert pc.margin_atoms == 4_000_000_000
        assert h.wallet(ALICE) == wallet - 1_000_000_000

    def test_add_is_limited_by_the_available_balance(self) -> None:
        """With no cross exposure the whole wallet can be added, not one atom more."""
        h = self.isolated()
        wallet = h.wallet(ALICE)
        assert reasons(h.adjust(ALICE, wallet + 1)) == [Reason.INSUFFICIENT_BALANCE]
        assert reasons(h.adjust(ALICE, wallet)) == []
        assert h.wallet(ALICE) == 0

    def test_remove_down_to_initial_margin(self) -> None:
        """At entry price the bucket can shrink to ceil(notional / leverage) exactly."""
        h = self.isolated()
        h.adjust(ALICE, 1_000_000_000)
        assert reasons(h.adjust(ALICE, -1_000_000_001)) == [Reason.INSUFFICIENT_BALANCE]
        assert reasons(h.adjust(ALICE, -1_000_000_000)) == []
        pos = h.pos(ALICE)
        assert pos is not None and pos.margin_atoms == 3_000_000_000

    def test_remove_keeps_initial_margin_at_mark_plus_unrealized_loss(self) -> None:
        """Removal keeps ceil(notional at mark / leverage) + unrealized loss in the bucket."""
        h = self.isolated()
        h.adjust(ALICE, 1_000_000_000)  # bucket 4,000,000,000
        h.mark(598_000)
        # IM 10 * 598_000 * 10_000 / 20 = 2,990,000,000; loss 200,000,000 -> keep 3,190,000,000
        assert reasons(h.adjust(ALICE, -810_000_001)) == [Reason.INSUFFICIENT_BALANCE]
        assert reasons(h.adjust(ALICE, -810_000_000)) == []

    def test_unrealized_profit_cannot_be_removed(self) -> None:
        """A profit does not lower what must stay: IM at the mark only."""
        h = self.isolated()
        h.adjust(ALICE, 1_000_000_000)
        h.mark(602_000)
        # IM 10 * 602_000 * 10_000 / 20 = 3,010,000,000 (the +200,000,000 profit is not removable)
        assert reasons(h.adjust(ALICE, -990_000_001)) == [Reason.INSUFFICIENT_BALANCE]
        assert reasons(h.adjust(ALICE, -990_000_000)) == []

    def test_needs_an_isolated_position(self) -> None:
        """No position, a cross position or a zero amount are refused."""
        h = funded(BTC, ETH)
        assert reasons(h.adjust(ALICE, 1)) == [Reason.NO_ISOLATED_POSITION]
        take(h, ALICE, BUY, 10, 300_000, symbol="ETHUSDT")  # cross
        assert reasons(h.adjust(ALICE, 1, symbol="ETHUSDT")) == [Reason.NO_ISOLATED_POSITION]
        h.margin_mode(ALICE, ISOLATED)
        take(h, ALICE, BUY, 10, P)
        assert reasons(h.adjust(ALICE, 0)) == [Reason.INVALID_AMOUNT]

    def test_adding_margin_never_spends_unrealized_profit(self) -> None:
        """Margin moved into a bucket leaves the wallet, so a cross profit cannot pay for it: the wallet never goes negative."""
        h = funded(BTC, ETH, amount=100 * USDT)
        h.mark(P)
        h.mark(300_000, symbol="ETHUSDT")
        h.margin_mode(ALICE, ISOLATED, symbol="ETHUSDT")
        take(h, ALICE, BUY, 10, 300_000, symbol="ETHUSDT")  # isolated ETH, bucket 150,000,000
        take(h, ALICE, BUY, 10, P)  # cross BTC
        h.mark(700_000)  # cross UPnL +10 * 100_000 * 10_000 = +10,000,000,000 (100 USDT)
        wallet = h.wallet(ALICE)
        ask = h.ledger.available_atoms(h.acct(ALICE))
        assert ask > wallet  # the available balance counts the unrealized profit
        h.adjust(ALICE, ask, symbol="ETHUSDT")  # must be refused or capped, not overdraw
        assert h.wallet(ALICE) >= 0

    def test_isolated_open_never_spends_unrealized_profit(self) -> None:
        """An isolated opening's initial margin leaves the wallet, so a cross profit cannot pay for it."""
        h = funded(BTC, ETH, amount=100 * USDT)
        h.mark(P)
        h.mark(300_000, symbol="ETHUSDT")
        take(h, ALICE, BUY, 10, P)  # cross BTC, wallet 99.7 USDT
        h.mark(700_000)  # cross UPnL +100 USDT
        h.margin_mode(ALICE, ISOLATED, symbol="ETHUSDT")
        h.leverage(ALICE, 1, symbol="ETHUSDT")
        # 50 lots at 3,000 = 150 USDT of initial margin at 1x: more than the wallet holds
        h.level(SELL, 300_000, 50, symbol="ETHUSDT")
        h.new(ALICE, BUY, 50, 300_000, tif=IOC, symbol="ETHUSDT")
        assert h.wallet(ALICE) >= 0


class TestReduceOnly:
    def test_reduce_only_that_would_open_or_increase_is_refused(self) -> None:
        """Reduce-only with no position, on the position's side, or above its size is refused."""
        h = funded()
        assert reasons(h.new(ALICE, SELL, 2, P, reduce_only=True)) == [Reason.REDUCE_ONLY_WOULD_INCREASE]
        take(h, ALICE, BUY, 10, P)
        assert reasons(h.new(ALICE, BUY, 2, P, reduce_only=True)) == [Reason.REDUCE_ONLY_WOULD_INCREASE]
        assert reasons(h.new(ALICE, SELL, 11, 610_000, reduce_only=True)) == [Reason.REDUCE_ONLY_WOULD_INCREASE]
        assert reasons(h.new(ALICE, SELL, 10, 610_000, reduce_only=True)) == []

    def test_reduce_only_holds_the_fee_only(self) -> None:
        """A reduce-only close holds its worst-case taker fee and no initial margin."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        h.new(ALICE, SELL, 10, 610_000, reduce_only=True)
        assert h.held(ALICE) == taker_fee(610_000, 10)  # 30,500,000

    def test_reduce_only_stop_that_would_increase_is_refused(self) -> None:
        """A reduce-only stop order is checked at submission although it holds nothing."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        events = h.new(ALICE, BUY, 2, order_type=STOP_MARKET, trigger=620_000, reduce_only=True)
        assert reasons(events) == [Reason.REDUCE_ONLY_WOULD_INCREASE]

    def test_reduce_only_stop_fired_after_the_position_closed_is_refused(self) -> None:
        """A reduce-only stop is re-checked when it fires: with the position gone it opens nothing."""
        h = funded(accounts=(ALICE, BOB))
        take(h, ALICE, BUY, 10, P)
        assert not reasons(h.new(ALICE, SELL, 10, order_type=STOP_MARKET, trigger=590_000, reduce_only=True))
        take(h, ALICE, SELL, 10, 599_000)  # closed by hand
        h.level(BUY, 589_000, 50)
        events = h.tape(SELL, 590_000, 1)  # last price 590_000 fires the stop
        assert Reason.REDUCE_ONLY_WOULD_INCREASE in reasons(events)
        assert h.pos(ALICE) is None

    def test_resting_reduce_only_never_opens_a_position(self) -> None:
        """A resting reduce-only order that outlives its position (closed by another order) does not open one when it fills."""
        h = funded(accounts=(ALICE, BOB))
        take(h, ALICE, BUY, 10, P)
        assert not reasons(h.new(ALICE, SELL, 10, 610_000, reduce_only=True))
        take(h, ALICE, SELL, 10, 599_900)  # the position is closed by another order
        assert h.pos(ALICE) is None
        h.new(BOB, BUY, 10, 610_000)  # Bob lifts the stale reduce-only sell
        assert h.pos(ALICE) is None, f"reduce-only order opened {h.pos(ALICE)!r}"

    def test_resting_reduce_only_never_flips_a_shrunken_position(self) -> None:
        """A resting reduce-only order larger than what is left of the position closes at most what is left."""
        h = funded(accounts=(ALICE, BOB))
        take(h, ALICE, BUY, 10, P)
        assert not reasons(h.new(ALICE, SELL, 10, 610_000, reduce_only=True))
        take(h, ALICE, SELL, 6, 599_900)  # 4 lots left
        h.new(BOB, BUY, 10, 610_000)
        pos = h.pos(ALICE)
        assert pos is None or pos.qty_lots >= 0, f"reduce-only order flipped the position: {pos!r}"


class TestHolds:
    def test_resting_order_holds_initial_margin_and_fee_until_cancelled(self) -> None:
        """A resting limit holds ceil(notional / leverage) + taker fee; the cancel releases it all."""
        h = funded()
        h.new(ALICE, BUY, 10, 590_000)
        # 59,000,000,000 / 20 = 2,950,000,000 + fee 590_000 * 10 * 5 = 29,500,000
        assert h.held(ALICE) == 2_979_500_000 == hold_of(590_000, 10)
        assert h.wallet(ALICE) == W0  # a hold moves no money
        h.cancel(ALICE, h.last_order_id())
        assert h.held(ALICE) == 0
        assert h.acct(ALICE).open_orders == {}

    def test_ioc_remainder_releases_its_hold(self) -> None:
        """An IOC that finds nothing to trade expires and holds nothing afterwards."""
        h = funded()
        h.new(ALICE, BUY, 10, 590_000, tif=IOC)
        assert h.held(ALICE) == 0

    def test_fok_that_cannot_fill_releases_its_hold(self) -> None:
        """A FOK that cannot fill completely expires and holds nothing afterwards."""
        h = funded()
        h.level(SELL, P, 5)
        h.new(ALICE, BUY, 10, P, tif=FOK)
        assert h.held(ALICE) == 0 and h.pos(ALICE) is None

    def test_market_order_without_liquidity_releases_its_hold(self) -> None:
        """A market order into an empty book expires and holds nothing."""
        h = funded()
        h.mark(P)
        h.new(ALICE, BUY, 10, order_type=MARKET)
        assert h.held(ALICE) == 0

    def test_partial_fill_releases_pro_rata_then_cancel_releases_the_rest(self) -> None:
        """A maker fill releases floor(hold * filled / open); the cancel releases what is left."""
        h = funded()
        h.new(ALICE, BUY, 10, 590_000)
        full = hold_of(590_000, 10)
        h.tape(SELL, 590_000, 4)  # the tape fills 4 of Alice's 10
        assert h.held(ALICE) == full - full * 4 // 10
        h.cancel(ALICE, h.last_order_id())
        assert h.held(ALICE) == 0

    def test_full_fill_as_maker_releases_everything(self) -> None:
        """A resting order filled completely in several pieces holds nothing afterwards."""
        h = funded()
        h.new(ALICE, BUY, 10, 590_000)
        h.tape(SELL, 590_000, 3)
        h.tape(SELL, 590_000, 7)
        assert h.held(ALICE) == 0
        pos = h.pos(ALICE)
        assert pos is not None and pos.qty_lots == 10

    def test_taker_fill_then_rest_holds_only_the_resting_part(self) -> None:
        """A GTC that partly trades holds the margin of its resting remainder only; its fill then releases it."""
        h = funded(accounts=(ALICE, BOB))
        h.level(SELL, P, 4)
        h.new(ALICE, BUY, 10, P)
        full = hold_of(P, 10)
        assert h.held(ALICE) == full - full * 4 // 10
        h.new(BOB, SELL, 6, P)
        assert h.held(ALICE) == 0

    def test_amend_resizes_the_hold(self) -> None:
        """An amend re-holds for the new size and price exactly; the cancel releases it."""
        h = funded()
        h.new(ALICE, BUY, 10, 590_000)
        oid = h.last_order_id()
        h.amend(ALICE, oid, 590_000, 6)
        assert h.held(ALICE) == hold_of(590_000, 6)
        h.amend(ALICE, oid, 580_000, 12)
        assert h.held(ALICE) == hold_of(580_000, 12)
        h.cancel(ALICE, oid)
        assert h.held(ALICE) == 0

    def test_stop_limit_holds_only_once_triggered(self) -> None:
        """A stop-limit holds nothing while waiting, holds when it rests, releases on cancel."""
        h = funded()
        h.new(ALICE, BUY, 10, 615_000, order_type=STOP_LIMIT, trigger=610_000)
        oid = h.last_order_id()
        assert h.held(ALICE) == 0
        h.tape(BUY, 610_000, 1)  # last 610_000 fires it; nothing to buy: it rests at 615_000
        assert h.held(ALICE) == hold_of(615_000, 10)
        h.cancel(ALICE, oid)
        assert h.held(ALICE) == 0

    def test_stop_market_fired_and_filled_holds_nothing(self) -> None:
        """A stop-market that fires and fills leaves no hold behind."""
        h = funded()
        h.new(ALICE, BUY, 10, order_type=STOP_MARKET, trigger=610_000)
        h.level(SELL, 611_000, 50)
        h.tape(BUY, 610_000, 1)
        assert h.held(ALICE) == 0
        pos = h.pos(ALICE)
        assert pos is not None and pos.qty_lots == 10

    def test_insufficient_margin_at_the_exact_boundary(self) -> None:
        """An order needing exactly the available balance passes; one atom less available refuses it."""
        need = hold_of(P, 33)  # 9,900,000,000 + 99,000,000 = 9,999,000,000
        assert need == 9_999_000_000
        h = LedgerHarness()
        h.deposit(ALICE, need)
        h.deposit(BOB, need - 1)
        assert reasons(h.new(ALICE, BUY, 33, P)) == []
        assert h.held(ALICE) == need
        assert reasons(h.new(BOB, BUY, 33, P)) == [Reason.INSUFFICIENT_MARGIN]
        assert h.held(BOB) == 0 and h.acct(BOB).open_orders == {}

    def test_rejected_amend_keeps_the_old_hold(self) -> None:
        """An amend refused for margin leaves the order and its hold unchanged."""
        need = hold_of(590_000, 10)
        h = LedgerHarness()
        h.deposit(ALICE, need)
        h.new(ALICE, BUY, 10, 590_000)
        oid = h.last_order_id()
        events = h.amend(ALICE, oid, 590_000, 11)
        assert reasons(events) == [Reason.INSUFFICIENT_MARGIN]
        assert h.held(ALICE) == need

    def test_orders_of_unfunded_accounts_are_refused(self) -> None:
        """An account that never deposited cannot place orders."""
        h = LedgerHarness()
        assert reasons(h.new(ALICE, BUY, 2, P)) == [Reason.NO_ACCOUNT]
        assert reasons(h.leverage(ALICE, 10)) == [Reason.NO_ACCOUNT]
        assert reasons(h.new(-3, BUY, 2, P)) == [RejectReason.INVALID_ACCOUNT]
