"""Specification of exsim.venues.prices: each venue's rules, exact, on the venues' own
worked examples and on real positions the venues reported."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from exsim.errors import InputError
from exsim.margin.liquidation import LONG, SHORT
from exsim.venues import prices as p
from exsim.venues.tiers import HYPERLIQUID_TESTNET_BTC_TIERS, HYPERLIQUID_TIERS

HL_BTC = HYPERLIQUID_TIERS["BTC"]


def _ceil_to(value: F, step: F) -> F:
    """``value`` rounded up to a multiple of ``step`` (a venue's tick)."""
    n = -(-value // step)
    return n * step


class TestBybit:
    def test_isolated_long_liquidation_price_is_19700(self) -> None:
        """Long 1 BTC at 20,000, 50x, MMR 0.5 %: IM 400, MM 100, LP 19,700 (the issue's vector)."""
        assert p.bybit_initial_margin(1, 20000, 50) == 400
        assert p.bybit_maint_margin(1, 20000, "0.005") == 100
        assert p.bybit_isolated_liquidation_price(LONG, 1, 20000, 50, "0.005") == 19700

    def test_isolated_short_liquidation_price_is_20300(self) -> None:
        """The same short liquidates at 20,300."""
        assert p.bybit_isolated_liquidation_price(SHORT, 1, 20000, 50, "0.005") == 20300

    def test_margin_added_moves_a_long_down_and_a_short_up(self) -> None:
        """Extra margin of 100 lowers the long's price by 100 and raises the short's by 100."""
        assert p.bybit_isolated_liquidation_price(LONG, 1, 20000, 50, "0.005", extra_margin=100) == 19600
        assert p.bybit_isolated_liquidation_price(SHORT, 1, 20000, 50, "0.005", extra_margin=100) == 20400

    def test_maintenance_margin_is_taken_at_entry(self) -> None:
        """MM is value at entry × MMR − deduction: it does not depend on any later price."""
        assert p.bybit_maint_margin(2, 30000, "0.01", 500) == 100

    def test_isolated_bankruptcy_price_is_entry_times_one_minus_imr(self) -> None:
        """Long 1 BTC at 10,000, 50x: bankruptcy at 10,000 × (1 − 2 %) = 9,800; short 10,200."""
        assert p.bybit_isolated_bankruptcy_price(LONG, 1, 10000, 50) == 9800
        assert p.bybit_isolated_bankruptcy_price(SHORT, 1, 10000, 50) == 10200

    def test_inverse_cross_bankruptcy_price_is_5718_57(self) -> None:
        """Help page: wallet 0.5 BTC, long 10,000 contracts at 8,000, taker 0.075 % → 5,718.57."""
        bp = p.bybit_inverse_cross_bankruptcy_price(LONG, 10000, 8000, "0.5", "0.00075")
        assert bp == F(10000) * F("1.00075") / (F(10000, 8000) + F("0.5"))
        assert round(bp, 2) == F("5718.57")

    def test_inverse_cross_liquidation_price_solves_the_page_equation_5739_08(self) -> None:
        """The help page's own equation gives 5,739.08 (the page prints 5,739.50)."""
        lp = p.bybit_inverse_cross_liquidation_price(LONG, 10000, 8000, "0.5", "0.005", "0.00075")
        assert lp is not None
        bp = p.bybit_inverse_cross_bankruptcy_price(LONG, 10000, 8000, "0.5", "0.00075")
        assert bp is not None
        lhs = 10000 * (F(1, 8000) - 1 / lp)
        rhs = -(F("0.5") - F(10000, 8000) * F("0.005") - 10000 * F("0.00075") / bp)
        assert lhs == rhs
        assert round(lp, 2) == F("5739.08")
        assert round(lp, 2) != F("5739.50")

    def test_inverse_cross_short_mirrors_the_long(self) -> None:
        """A short's bankruptcy price sits above entry: (1 − taker) × Q / (Q/EP − balance)."""
        bp = p.bybit_inverse_cross_bankruptcy_price(SHORT, 10000, 8000, "0.5", "0.00075")
        assert bp == F("0.99925") * 10000 / (F(10000, 8000) - F("0.5"))
        lp = p.bybit_inverse_cross_liquidation_price(SHORT, 10000, 8000, "0.5", "0.005", "0.00075")
        assert lp is not None and 8000 < lp < bp

    def test_inverse_isolated_prices(self) -> None:
        """Inverse isolated: long LP = contracts / (value + IM − MM); BP = contracts / (value + IM)."""
        value = F(10000, 8000)
        assert p.bybit_inverse_isolated_liquidation_price(LONG, 10000, 8000, 50, "0.005") == 10000 / (value + value / 50 - value * F("0.005"))
        assert p.bybit_inverse_isolated_bankruptcy_price(LONG, 10000, 8000, 50) == 10000 / (value + value / 50)

    def test_a_one_x_inverse_short_never_goes_bankrupt(self) -> None:
        """Inverse short at 1x: the denominator value − IM is 0, so there is no bankruptcy price."""
        assert p.bybit_inverse_isolated_bankruptcy_price(SHORT, 10000, 8000, 1) is None

    def test_linear_cross_uses_wallet_as_im_plus_available(self) -> None:
        """Cross, one position: LP = EP − (available + IM − MM) / Q."""
        assert p.bybit_linear_cross_liquidation_price(LONG, 1, 20000, 50, "0.005", 1000) == 18700
        assert p.bybit_liquidation_price(LONG, 1, 20000, 1400, "0.005") == 18700

    def test_a_real_bybit_position_reproduces_its_prices(self) -> None:
        """ccxt/ccxt js/bybit.js (parsePosition's linear sample, an isolated ETHUSDT position
        Bybit returned): 0.10 ETH at 1,198.45, leverage 4.2, tier MMR 0.5 % → Bybit showed
        liqPrice 919.10 and bustPrice 913.15, ours rounded up to the 0.05 tick."""
        lp = p.bybit_isolated_liquidation_price(LONG, "0.10", "1198.45", "4.2", "0.005")
        bp = p.bybit_isolated_bankruptcy_price(LONG, "0.10", "1198.45", "4.2")
        assert lp is not None and bp is not None
        assert _ceil_to(lp, F("0.05")) == F("919.10")
        assert _ceil_to(bp, F("0.05")) == F("913.15")


class TestHyperliquid:
    def test_mmr_is_one_over_twice_max_leverage_exactly(self) -> None:
        """MMR = 1/(2L): 40x → 1.25 %, 3x → 1/6 exactly (no rounding)."""
        assert p.hyperliquid_mmr(40) == F(1, 80)
        assert p.hyperliquid_mmr(3) == F(1, 6)

    def test_testnet_btc_deductions(self) -> None:
        """Testnet BTC tiers → deductions 0, 75, 1,575, 6,575, 26,575 (MARGIN-SPEC §8)."""
        assert p.hyperliquid_deductions(HYPERLIQUID_TESTNET_BTC_TIERS) == (0, 75, 1575, 6575, 26575)

    def test_maintenance_margin_is_continuous_at_every_bound(self) -> None:
        """MM just below and at a tier's lower bound agree (the deduction's purpose)."""
        for lb, _ in HYPERLIQUID_TESTNET_BTC_TIERS[1:]:
            below = p.hyperliquid_maint_margin(F(lb) - F(1, 10**9), HYPERLIQUID_TESTNET_BTC_TIERS)
            at = p.hyperliquid_maint_margin(lb, HYPERLIQUID_TESTNET_BTC_TIERS)
            assert abs(at - below) < F(1, 10**8)

    def test_issue_vector_with_shipped_40x(self) -> None:
        """0.00077 BTC long at 62,739, margin 24.137992, BTC 40x (l = 1/80): the docs' formula."""
        sol = p.hyperliquid_liquidation_price(LONG, "0.00077", 62739, "24.137992", HL_BTC)
        q, ep, m, l = F("0.00077"), F(62739), F("24.137992"), F(1, 80)
        assert sol.price == ep - (m - q * ep * l) / q / (1 - l)
        assert (sol.tier, sol.mmr, sol.deduction) == (0, l, 0)

    def test_at_the_liquidation_price_margin_equals_maintenance(self) -> None:
        """The root: isolated margin + PnL at LP = MM at LP."""
        sol = p.hyperliquid_liquidation_price(SHORT, "0.5", 60000, 3000, HL_BTC)
        assert sol.price is not None
        assert 3000 + F("-0.5") * (sol.price - 60000) == F("0.5") * sol.price * F(1, 80)

    def test_tier_consistent_solution_is_kept(self) -> None:
        """Long 2 BTC at 60,000 (tier 4, 5x) with 30,000 margin, testnet tiers: the entry
        tier's formula gives 46,347.2 whose notional is in tier 3; the kept root lies in
        tier 3 (10x): 60,000 − 25,575 / 2 / 0.95."""
        tiers = HYPERLIQUID_TESTNET_BTC_TIERS
        sol = p.hyperliquid_liquidation_price(LONG, 2, 60000, 30000, tiers)
        assert sol.price == 60000 - F(25575) / 2 / F("0.95")
        assert sol.tier == 2 and p.hyperliquid_tier_index(tiers, 2 * sol.price) == 2
        naive = 60000 - F(30000 - (120000 * F("0.1") - 6575)) / 2 / F("0.9")
        assert p.hyperliquid_tier_index(tiers, 2 * naive) != 3
        assert 30000 + 2 * (sol.price - 60000) == p.hyperliquid_maint_margin(2 * sol.price, tiers)

    def test_cross_counts_other_positions_maintenance(self) -> None:
        """Cross: margin_available = account value − (own MM + the others' MM)."""
        alone = p.hyperliquid_liquidation_price(LONG, 1, 60000, 10000, HL_BTC)
        shared = p.hyperliquid_liquidation_price(LONG, 1, 60000, 10000, HL_BTC, other_maint_margin=500)
        assert alone.price is not None and shared.price is not None
        assert shared.price - alone.price == F(500) / (1 - F(1, 80))

    def test_no_positive_price_for_an_overcollateralised_long(self) -> None:
        """A long whose margin covers a fall to zero has no liquidation price."""
        assert p.hyperliquid_liquidation_price(LONG, 1, 100, 200, HL_BTC).price is None

    # freqtrade/freqtrade tests/exchange/test_hyperliquid.py,
    # test_hyperliquid_dry_run_liquidation_price: isolated positions and the liquidationPrice
    # Hyperliquid returned (through ccxt), with the max leverage then in force (BTC/ETH 50,
    # SOL/DOGE 20). "collateral" is the position's margin, which Hyperliquid reports to
    # 6 decimals (USDC): our exact root from it must lie within that rounding, i.e. within
    # 5e-7 / (Q × (1 − side × l)) (+ 1e-8 for the printed price).
    FREQTRADE = [
        ("ETH", 50, LONG, "2458.5", "0.015", "36.864593", "0.86915825"),
        ("BTC", 50, LONG, "63287.0", "0.00039", "24.673292", "22.37166537"),
        ("SOL", 20, LONG, "145.83", "0.33", "24.045107", "74.83696193"),
        ("ETH", 50, LONG, "2459.5", "0.0199", "24.454895", "1243.0411908"),
        ("BTC", 50, LONG, "62739.0", "0.00077", "24.137992", "31708.03843631"),
        ("DOGE", 20, LONG, "0.11586", "437.0", "25.29769", "0.05945697"),
        ("ETH", 50, SHORT, "2642.8", "0.019", "25.091876", "3924.18322043"),
        ("SOL", 20, SHORT, "155.89", "0.32", "24.924941", "228.07847866"),
        ("DOGE", 20, SHORT, "0.14333", "351.0", "25.136807", "0.20970228"),
        ("BTC", 50, SHORT, "68595.0", "0.00069", "23.64871", "101849.99354283"),
        ("BTC", 50, SHORT, "65536.0", "0.00099", "21.604172", "86493.46174617"),
        ("SOL", 20, LONG, "173.06", "0.6", "20.735658", "142.05186667"),
    ]

    @pytest.mark.parametrize("coin, lev, side, entry, qty, margin, venue_lp", FREQTRADE)
    def test_real_isolated_positions_match_hyperliquid(
        self, coin: str, lev: int, side: int, entry: str, qty: str, margin: str, venue_lp: str
    ) -> None:
        """Each real isolated position's liquidation price agrees with Hyperliquid's within
        the margin's 6-decimal rounding (freqtrade/freqtrade tests/exchange/test_hyperliquid.py)."""
        sol = p.hyperliquid_liquidation_price(side, qty, entry, margin, ((0, lev),))
        assert sol.price is not None
        l = F(1, 2 * lev)
        bound = F(5, 10**7) / (F(qty) * (1 - side * l)) + F(1, 10**8)
        assert abs(sol.price - F(venue_lp)) <= bound

    def test_docs_clearinghouse_state_example(self) -> None:
        """Hyperliquid API docs (info endpoint, clearinghouseState response example, also in
        many clients' fixtures): isolated ETH szi 0.0335, positionValue 100.02765 (mark
        2,985.9), marginUsed 4.967826, maxLeverage 50 → liquidationPx 2866.26936529, within
        the margin's 6-decimal rounding."""
        q = F("0.0335")
        mark = F("100.02765") / q
        sol = p.hyperliquid_liquidation_price(LONG, q, mark, "4.967826", ((0, 50),))
        assert sol.price is not None
        assert abs(sol.price - F("2866.26936529")) <= F(5, 10**7) / (q * (1 - F(1, 100))) + F(1, 10**8)

    def test_bad_tiers_are_refused(self) -> None:
        """A table must start at 0 and rise."""
        with pytest.raises(InputError, match="lower bound of 0"):
            p.hyperliquid_deductions(((10, 40),))
        with pytest.raises(InputError, match="must rise"):
            p.hyperliquid_deductions(((0, 40), (0, 20)))


class TestDydx:
    def test_large_cap_mmf_is_three_percent(self) -> None:
        """MMF = IMF × maintenance fraction: 5 % × 60 % = 3 %."""
        assert p.dydx_mmf("0.05", "0.6") == F(3, 100)

    def test_trigger_is_strict(self) -> None:
        """Liquidatable only when TMMR > TNC; equality is safe."""
        assert not p.dydx_is_liquidatable(15, 15)
        assert p.dydx_is_liquidatable(F("14.99"), 15)

    def test_bankruptcy_price_of_closing_it_all_is_49250(self) -> None:
        """Long 1 at oracle 50,000, PMMR = TMMR = 1,500, TNC 750 → 49,250."""
        assert p.dydx_bankruptcy_price(LONG, 1, 50000, 750, 1500, 1500) == 49250

    def test_fillable_price_is_49925(self) -> None:
        """ABR = 1 × (1 − 750/1500) = 0.5; fillable = (50,000 − 0.5 × 0.1 × 1,500) / 1."""
        assert p.dydx_adjusted_bankruptcy_rating(750, 1500) == F(1, 2)
        assert p.dydx_fillable_price(LONG, 1, 50000, 750, 1500, 1500) == 49925

    def test_fillable_price_uses_the_profile_constants(self) -> None:
        """SMMR and BA come from the dYdX profile (0.1 and 1)."""
        assert (p.DYDX_SMMR, p.DYDX_BANKRUPTCY_ADJUSTMENT) == (F(1, 10), 1)

    def test_docs_a_b_example(self) -> None:
        """A and B deposit 100, long/short 500 at 1; at 2 B's bankruptcy price is 1.2; A
        closed against B at 1.2 gains 100 and B ends at 0."""
        tnc_b = 100 + (-500) * (2 - 1)
        bp = p.dydx_bankruptcy_price(SHORT, 500, 2, tnc_b, 500 * 2 * F("0.03"), 500 * 2 * F("0.03"))
        assert bp == F("1.2")
        assert 500 * (bp - 1) == 100  # A's gain
        assert 100 + (-500) * (bp - 1) == 0  # B's end

    def test_docs_long_500_example(self) -> None:
        """Long 500 at 1 with 100, MMF 3 %: MM 15 at entry; at 0.801 PnL −99.5, equity 0.5,
        liquidatable; the liquidation price lies between 0.801 and 1."""
        assert 500 * 1 * F("0.03") == 15
        pnl = 500 * (F("0.801") - 1)
        assert pnl == F("-99.5") and 100 + pnl == F("0.5")
        assert p.dydx_is_liquidatable(100 + pnl, 500 * F("0.801") * F("0.03"))
        lp = p.dydx_liquidation_price(LONG, 500, 1, 100, "0.03")
        assert lp is not None and F("0.801") < lp < 1

    def test_docs_isolated_liquidation_price_example(self) -> None:
        """dYdX docs (Liquidations, isolated liquidation price): deposit 1,000, short 3 ETH at
        3,000, MMF 5 % → p' = (1000 + 9000) / (3 × 0.05 + 3) = 3,174.60..."""
        assert p.dydx_liquidation_price(SHORT, 3, 3000, 1000, "0.05") == F(10000) / F("3.15")

    def test_liquidation_price_balances_tnc_and_tmmr(self) -> None:
        """At the liquidation price TNC = TMMR, for a long and a short, with other positions."""
        for side in (LONG, SHORT):
            lp = p.dydx_liquidation_price(side, 2, 3000, 600, "0.05", other_net_collateral=-50, other_maint_requirement=20)
            assert lp is not None
            assert 600 + side * 2 * (lp - 3000) - 50 == 2 * lp * F("0.05") + 20

    def test_partial_close_bankruptcy(self) -> None:
        """Closing half: quote = −DNNV − TNC × |DMMR| / TMMR with the half's MM."""
        bp = p.dydx_bankruptcy_price(LONG, 2, 50000, 750, 3000, 3000, close_qty=1)
        assert bp == 50000 - F(750) * 1500 / 3000
