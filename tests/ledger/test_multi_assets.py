"""Multi-assets collateral mode in the ledger and the exchange (Binance Multi-Assets Mode).

Units by hand: 1 USDT (or USDC, BTC) = 10**8 atoms; BTCUSDT tick 0.1, lot 0.001 (q lots at
px ticks = px·q·10_000 atoms); index prices in USD × 1e8; usd_e40 = 1e-40 USD.
Every command in the harness is followed by ``Ledger._check()`` (conservation per asset,
the exchange desk included), the risk index's and the exchange's checks.
"""

from __future__ import annotations

import attrs
import pytest

from exsim.book.orders import BUY, SELL
from exsim.exchange import (
    AutoExchange,
    CollateralIndex,
    CollateralRuleSet,
    CommandRejected,
    Deposit,
    Fill,
    Liquidatable,
    Liquidation,
    SetCollateralMode,
    SetCollateralRule,
    SetLeverage,
    SetMarginMode,
    SettingChanged,
    Withdraw,
)
from exsim.instruments import get_instrument
from exsim.instruments.brackets import BracketTable
from exsim.ledger import EXTERNAL, ISOLATED, Ledger
from exsim.ledger.collateral import CollateralRule, CollateralTier, format_usd_e40
from exsim.ledger.ledger import Reason
from liquidation.harness import LiqHarness, fixed, of_type

USD = 10**8  # atoms of one USDT / USDC / BTC
IDX = 10**8  # index_usd_e8 of 1 USD


def one_bracket(symbol: str, mmr: str, max_leverage: int):
    """The shipped instrument with one bracket (maintenance rate ``mmr``) and no fees."""
    brackets = BracketTable.from_tiers([("0", "100000000", mmr, str(max_leverage))], symbol=symbol)
    return attrs.evolve(
        get_instrument(symbol), brackets=brackets, min_notional_atoms=0, taker_fee_e8=0, maker_fee_e8=0, clearance_fee_e8=0
    )


def reasons(events):
    return [e.reason for e in of_type(events, CommandRejected)]


class TestBinanceFaqExample:
    """Binance's Multi-Assets FAQ account, built in a real ledger (the calculator and the
    engine read the same figures)."""

    def ledger(self) -> Ledger:
        btc = one_bracket("BTCUSDT", "0.008", 125)
        eth = one_bracket("ETHUSDC", "0.01", 75)
        ledger = Ledger([btc, eth], default_leverage=20)
        ledger.deposit(1, 200 * USD, "USDT")
        ledger.deposit(1, 220 * USD, "USDC")
        ledger.set_collateral_rule("USDT", CollateralRule("USDT", 99_000_000, 1_000_000, 500_000))
        assert ledger.set_collateral_mode(1, "multi-assets") is None
        return ledger

    def test_wallets_only(self) -> None:
        """USDT 200 at bid rate 0.9801 and USDC 220 at 1: equity 416.02; USDT available
        416.02 / 0.99495 = 418.13; USDC 416.02; no margin, ratio 0."""
        ledger = self.ledger()
        f = ledger.portfolio_figures(1)
        assert format_usd_e40(f.equity_usd_e40, 2) == "416.02"
        assert f.maint_usd_e40 == 0 and f.margin_ratio_e8() == 0
        assert ledger.available_atoms(ledger.account(1, "USDT")) == 41_813_156_440  # 418.1315644 USDT, rounded down
        assert ledger.available_atoms(ledger.account(1, "USDC")) == 416_02_000_000

    def test_with_positions_at_entry(self) -> None:
        """BTCUSDT 0.5 long at 20,000 (100x, MMR 0.8 %: IM 100, MM 80 USDT) and ETHUSDC 20 long
        at 600 (50x, MMR 1 %: IM 240, MM 120 USDC): available 416.02 − 100 × 0.99495 − 240
        = 76.525 (USDT 76.91, USDC 76.525); MM 80 × 0.99495 + 120 = 199.596; ratio 47.98 %."""
        ledger = self.ledger()
        assert ledger.set_leverage(1, "BTCUSDT", 100) is None
        assert ledger.set_leverage(1, "ETHUSDC", 50) is None
        ledger.apply_fill(1, 0, "BTCUSDT", BUY, 500, 200_000, 0, 0)
        ledger.apply_fill(EXTERNAL, 0, "BTCUSDT", SELL, 500, 200_000, 0, 0)
        ledger.apply_fill(1, 0, "ETHUSDC", BUY, 20_000, 60_000, 0, 0)
        ledger.apply_fill(EXTERNAL, 0, "ETHUSDC", SELL, 20_000, 60_000, 0, 0)
        ledger.on_mark("BTCUSDT", 20_000 * 10**8)
        ledger.on_mark("ETHUSDC", 600 * 10**8)
        ledger._check()
        f = ledger.portfolio_figures(1)
        assert format_usd_e40(f.available_usd_e40, 3) == "76.525"
        assert format_usd_e40(f.maint_usd_e40, 3) == "199.596"
        assert f.margin_ratio_e8() == 47_977_502  # 199.596 / 416.02 = 0.479775..., rounded up: 47.98 %
        assert ledger.available_atoms(ledger.account(1, "USDT")) == 7_691_341_273  # 76.91341273
        assert ledger.available_atoms(ledger.account(1, "USDC")) == 7_652_500_000


class TestSwitching:
    """Switching the collateral mode, refused as Binance refuses it."""

    def harness(self) -> LiqHarness:
        h = LiqHarness(fixed("BTCUSDT", mmr="0.008", max_leverage=100), fund=10**12)
        h.ledger.add_asset("BTC")
        h.submit(Deposit(0, 1, 100 * USD))
        return h

    def test_switch_emits_the_setting(self) -> None:
        """A funded account switches; the event names the mode."""
        h = self.harness()
        ev = h.submit(SetCollateralMode(0, 1, "multi-assets"))
        assert of_type(ev, SettingChanged)[0][3:] == ("COLLATERAL_MODE", "multi-assets")
        assert h.ledger.collateral_mode(1) == "multi-assets"

    def test_unknown_mode(self) -> None:
        """Only single-asset and multi-assets exist."""
        assert reasons(self.harness().submit(SetCollateralMode(0, 1, "portfolio"))) == [Reason.INVALID_COLLATERAL_MODE]

    def test_refused_with_a_position(self) -> None:
        """A position in any asset blocks the switch."""
        h = self.harness()
        h.account(9, 1_000_000)
        h.mark(200_000)
        h.trade(1, 9, 10, 200_000)
        assert reasons(h.submit(SetCollateralMode(0, 1, "multi-assets"))) == [Reason.HAS_POSITION_OR_ORDERS]

    def test_refused_with_isolated_margin_set(self) -> None:
        """Multi-assets mode is cross only: an instrument set to isolated blocks it, and
        isolated margin cannot be chosen once in it."""
        h = self.harness()
        h.submit(SetMarginMode(0, 1, "BTCUSDT", ISOLATED))
        assert reasons(h.submit(SetCollateralMode(0, 1, "multi-assets"))) == [Reason.ISOLATED_IN_MULTI_ASSETS]
        h.submit(SetMarginMode(0, 1, "BTCUSDT", 0))
        h.submit(SetCollateralMode(0, 1, "multi-assets"))
        assert reasons(h.submit(SetMarginMode(0, 1, "BTCUSDT", ISOLATED))) == [Reason.ISOLATED_IN_MULTI_ASSETS]

    def test_a_held_asset_needs_an_index_price(self) -> None:
        """BTC with no index price cannot be valued: no switch, and no BTC deposit into a
        multi-assets account, until an index arrives."""
        h = self.harness()
        h.submit(Deposit(0, 1, USD, "BTC"))
        assert reasons(h.submit(SetCollateralMode(0, 1, "multi-assets"))) == [Reason.NO_INDEX_PRICE]
        h.submit(Deposit(0, 2, USD))
        h.submit(SetCollateralMode(0, 2, "multi-assets"))
        assert reasons(h.submit(Deposit(0, 2, USD, "BTC"))) == [Reason.NO_INDEX_PRICE]
        h.submit(CollateralIndex(0, "BTC", 20_000 * IDX))
        assert not reasons(h.submit(Deposit(0, 2, USD, "BTC")))


class TestCollateralBacksOtherAssets:
    """BTC collateral backs USDT contracts; a BTC move moves both legs."""

    def harness(self, usdt: int, btc_atoms: int, bid_buffer_e8: int = 5_000_000) -> LiqHarness:
        h = LiqHarness(fixed("BTCUSDT", mmr="0.008", max_leverage=100), fund=10**12)
        h.ledger.add_asset("BTC")
        h.submit(CollateralIndex(0, "BTC", 20_000 * IDX))
        h.submit(SetCollateralRule(0, "BTC", bid_buffer_e8=bid_buffer_e8))
        if usdt:
            h.submit(Deposit(0, 1, usdt * USD))
        h.submit(Deposit(0, 1, btc_atoms, "BTC"))
        assert not reasons(h.submit(SetCollateralMode(0, 1, "multi-assets")))
        h.submit(SetLeverage(0, 1, "BTCUSDT", 100))
        h.account(9, 1_000_000)
        h.mark(200_000)
        return h

    def test_an_order_in_usdt_is_held_against_btc(self) -> None:
        """With no USDT at all, 0.01 BTC (worth 190 USD after a 5 % haircut) backs a
        1,000 USDT position at 100x (IM 10)."""
        h = self.harness(0, 10**6)
        h.trade(1, 9, 50, 200_000)
        pos = h.ledger.account(1, "USDT").positions[("BTCUSDT", 0)]
        assert pos.qty_lots == 50
        f = h.ledger.portfolio_figures(1)
        assert format_usd_e40(f.equity_usd_e40, 2) == "190.00"

    def test_a_btc_fall_moves_both_legs_and_liquidates(self) -> None:
        """USDT 5 + 0.001 BTC (19 USD) long 0.05 BTCUSDT at 20,000: at 19,600 the position
        has lost 20 and the BTC is worth 0.001 × 19,600 × 0.95 = 18.62: equity 3.62 < MM
        0.0004 × 19,600 = 7.84: the whole account is liquidated, the USDT deficit bought
        back with the BTC (auto-exchange, reason LIQUIDATION)."""
        h = self.harness(5, 10**5)
        h.trade(1, 9, 50, 200_000)
        h.requote_bid(9, 195_000, 1000)
        assert not of_type(h.submit(CollateralIndex(0, "BTC", 19_800 * IDX)) + h.mark(198_000), Liquidation)
        ev = h.submit(CollateralIndex(0, "BTC", 19_600 * IDX)) + h.mark(196_000)
        liq = of_type(ev, Liquidation)
        assert len(liq) == 1 and liq[0].scope == "MULTI_ASSETS"
        assert (liq[0].margin_balance_atoms, liq[0].maint_margin_atoms) == (362_000_000, 784_000_000)
        assert "BTC equity 0.00100000 BTC worth 18.62 USD (haircut 0.98 USD)" in liq[0].explanation
        # liquidation price: 5 + 0.05 (p − 20,000) + 18.62 = 0.0004 p → p = 976.38 / 0.0496
        # = 19,685.08064516...; the ledger rounds MM up to the atom (against the trader),
        # which moves the highest liquidating subtick 4 subticks above the real root
        assert liq[0].positions[0].liquidation_price_subticks == 1_968_508_064_520
        conv = of_type(ev, AutoExchange)
        assert [(c.from_asset, c.to_asset, c.reason) for c in conv] == [("BTC", "USDT", "LIQUIDATION")]
        assert h.ledger.account(1, "USDT").wallet_atoms >= 0 and not h.ledger.account(1, "USDT").positions

    def test_the_collateral_index_alone_can_liquidate(self) -> None:
        """With the mark held, the BTC collateral index falling is enough: the trigger is the
        index, named in the event and the explanation."""
        h = self.harness(0, 10**5)  # 0.001 BTC: 19 USD
        h.trade(1, 9, 50, 200_000)  # MM 8 USDT
        h.requote_bid(9, 199_000, 1000)
        ev = h.submit(CollateralIndex(0, "BTC", 8_000 * IDX))  # 0.001 × 8,000 × 0.95 = 7.6 < 8 × 1
        liq = of_type(ev, Liquidation)
        assert liq and liq[0].symbol == "@BTC"
        assert "when the BTC index moved to 8000.00 USD" in liq[0].explanation

    def test_a_haircut_shock_liquidates(self) -> None:
        """The same account survives at a 5 % haircut and is liquidated when the haircut
        rises to 60 %: 0.001 BTC × 20,000 × 0.4 = 8 ≤ MM 8."""
        h = self.harness(0, 10**5)
        h.trade(1, 9, 50, 200_000)
        h.requote_bid(9, 199_000, 1000)
        ev = h.submit(SetCollateralRule(0, "BTC", bid_buffer_e8=60_000_000))
        assert of_type(ev, CollateralRuleSet)[0].bid_buffer_e8 == 60_000_000
        liq = of_type(ev, Liquidation)
        assert liq and "haircut 12.00 USD" in liq[0].explanation
        assert liq[0].symbol == "@BTC:rule"
        assert "after the BTC haircut changed (bid buffer 60.00 %, ask buffer 0.00 %, value ratio 1.0000)" in liq[0].explanation

    def test_tiers_value_collateral_marginally(self) -> None:
        """15 BTC with tiers 0–10 at 0.98 and above at 0.95, index 20,000: 10 × 0.98 × 20,000
        + 5 × 0.95 × 20,000 = 291,000 USD."""
        h = self.harness(0, 15 * USD, bid_buffer_e8=0)
        tiers = ((10 * USD, 98_000_000), (None, 95_000_000))
        h.submit(SetCollateralRule(0, "BTC", tiers=tiers))
        assert h.ledger.collateral["BTC"].tiers == (CollateralTier(10 * USD, 98_000_000), CollateralTier(None, 95_000_000))
        assert format_usd_e40(h.ledger.portfolio_figures(1).equity_usd_e40, 2) == "291000.00"


class TestAutoExchange:
    """Binance's three auto-exchange triggers, booked through the exchange desk."""

    def harness(self) -> LiqHarness:
        h = LiqHarness(fixed("BTCUSDT", mmr="0.008", max_leverage=100), fund=10**12)
        h.ledger.add_asset("BTC")
        h.submit(CollateralIndex(0, "BTC", 20_000 * IDX))
        h.submit(SetCollateralRule(0, "BTC", bid_buffer_e8=1_000_000, ask_buffer_e8=0))
        h.submit(SetCollateralRule(0, "USDT", ask_buffer_e8=500_000))
        h.submit(Deposit(0, 1, 2 * USD, "BTC"))
        h.submit(SetCollateralMode(0, 1, "multi-assets"))
        h.submit(SetLeverage(0, 1, "BTCUSDT", 100))
        h.account(9, 10_000_000)
        h.mark(200_000)
        return h

    def test_negative_balance_with_nothing_open_waits_while_the_ltv_is_below_1(self) -> None:
        """Long 1 BTC at 20,000 closed at 19,000: USDT −1,000 with no position left, but the
        2 BTC are worth 39,600 USD: loan to value 1,005 / 39,600 < 1: nothing is exchanged."""
        h = self.harness()
        h.trade(1, 9, 1000, 200_000)
        h.rest(9, BUY, 1000, 190_000)
        assert not of_type(h.order(1, SELL, 1000), AutoExchange)
        assert h.ledger.account(1, "USDT").wallet_atoms == -1000 * USD

    def test_negative_balance_with_nothing_open_at_ltv_1(self) -> None:
        """With only 0.05 BTC (990 USD at the bid rate) the same loss is a loan to value of
        1,005 / 990 ≥ 1: all the BTC is sold, floor(0.05 × 19,800 / 1.005) = 985.07462686
        USDT bought, through the desk of both assets; the 14.92537314 USDT still owed is
        bad debt, paid by the USDT insurance fund."""
        h = self.harness()
        h.submit(Withdraw(0, 1, 195 * 10**6, "BTC"))  # 2 → 0.05 BTC
        h.trade(1, 9, 1000, 200_000)
        h.rest(9, BUY, 1000, 190_000)
        fund = h.ledger.book("USDT").fund.wallet_atoms
        conv = of_type(h.order(1, SELL, 1000), AutoExchange)
        assert [(c.from_asset, c.from_atoms, c.to_asset, c.to_atoms, c.reason) for c in conv] == [
            ("BTC", 5_000_000, "USDT", 98_507_462_686, "NEGATIVE_BALANCE")
        ]
        ledger = h.ledger
        assert (ledger.account(1, "USDT").wallet_atoms, ledger.account(1, "BTC").wallet_atoms) == (0, 0)
        assert ledger.book("BTC").desk.wallet_atoms == 5_000_000
        assert ledger.book("USDT").desk.wallet_atoms == -98_507_462_686
        assert ledger.book("USDT").fund.wallet_atoms == fund - 1_492_537_314

    def test_threshold_with_positions_open(self) -> None:
        """A USDT balance worth less than −10,000 USD is exchanged even with a position open."""
        h = self.harness()
        h.submit(Deposit(0, 1, 20 * USD, "BTC"))
        h.trade(1, 9, 10_000, 200_000)  # long 10 BTC
        h.rest(9, BUY, 6000, 180_000)
        ev = h.order(1, SELL, 6000)  # realize −12,000 USDT on 6 BTC, 4 still open
        conv = of_type(ev, AutoExchange)
        assert conv and conv[0].reason == "THRESHOLD" and conv[0].to_atoms == 12_000 * USD
        assert h.ledger.account(1, "USDT").wallet_atoms == 0

    def test_small_negative_balance_waits(self) -> None:
        """Above the threshold, with a position still open, a negative USDT balance stays."""
        h = self.harness()
        h.trade(1, 9, 2000, 200_000)
        h.rest(9, BUY, 1000, 190_000)
        ev = h.order(1, SELL, 1000)
        assert not of_type(ev, AutoExchange)
        assert h.ledger.account(1, "USDT").wallet_atoms == -1000 * USD

    def test_withdrawal_cannot_leave_the_account_short(self) -> None:
        """Only what is available (at the ask rate) may leave, and never more than the wallet."""
        h = self.harness()
        h.trade(1, 9, 1000, 200_000)  # IM 200 USDT × 1.005 = 201 USD of 39,600 USD
        assert reasons(h.submit(Withdraw(0, 1, 2 * USD + 1, "BTC"))) == [Reason.INSUFFICIENT_BALANCE]
        assert not reasons(h.submit(Withdraw(0, 1, USD, "BTC")))


def test_single_asset_accounts_keep_their_own_pools() -> None:
    """Without the switch, BTC in the wallet does not back a USDT position (as before)."""
    h = LiqHarness(fixed("BTCUSDT", mmr="0.008", max_leverage=100), fund=10**12)
    h.ledger.add_asset("BTC")
    h.submit(CollateralIndex(0, "BTC", 20_000 * IDX))
    h.submit(Deposit(0, 1, USD, "BTC"))
    h.account(9, 1_000_000)
    h.mark(200_000)
    h.rest(9, SELL, 50, 200_000)
    ev = h.order(1, BUY, 50, 200_000)
    assert reasons(ev) == [] and of_type(ev, Liquidatable) == []
    assert not h.ledger.find_account(1, "USDT") or not h.ledger.account(1, "USDT").positions


@pytest.mark.parametrize("bad", [-1, 0])
def test_collateral_index_must_be_positive(bad: int) -> None:
    """A collateral index of zero or below is a broken command, not a price."""
    h = LiqHarness(fixed("BTCUSDT"), fund=0)
    h.ledger.add_asset("BTC")
    with pytest.raises(ValueError, match="index"):
        h.ex.submit(CollateralIndex(1, "BTC", bad))


def test_bad_debt_with_nothing_to_sell_is_the_funds() -> None:
    """A multi-assets trader with only USDT closes 0.05 BTC bought at 20,000 into a bid at
    19,500 (the mark still 20,000, so no liquidation): its 10 USDT wallet ends at −15 with
    nothing open and nothing to sell (loan to value infinite). No auto-exchange is
    possible, so the 15 USDT are bad debt, paid by the USDT insurance fund, and the wallet
    is back at zero."""
    h = LiqHarness(fixed("BTCUSDT", mmr="0.008", max_leverage=100), fund=10**12)
    h.submit(Deposit(0, 1, 10 * USD))
    h.submit(SetCollateralMode(0, 1, "multi-assets"))
    h.submit(SetLeverage(0, 1, "BTCUSDT", 100))
    h.account(9, 1_000_000)
    h.mark(200_000)
    h.trade(1, 9, 50, 200_000)
    h.rest(9, BUY, 50, 195_000)
    fund = h.ledger.book("USDT").fund.wallet_atoms
    ev = h.order(1, SELL, 50, reduce_only=True)
    assert sum(f.qty_lots for f in of_type(ev, Fill)) == 50
    assert not of_type(ev, AutoExchange) and not of_type(ev, Liquidation)
    assert h.ledger.account(1, "USDT").wallet_atoms == 0
    assert h.ledger.book("USDT").fund.wallet_atoms == fund - 15 * USD
