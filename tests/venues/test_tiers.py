"""Specification of exsim.venues.tiers: the venues' published tables as bracket tables."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from exsim.errors import InputError
from exsim.instruments import get_instrument
from exsim.instruments.brackets import derive_cum_atoms
from exsim.units import ATOMS_PER_UNIT, RATE_SCALE
from exsim.venues import prices, tiers


class TestHyperliquid:
    def test_btc_mainnet_is_40x_then_20x_above_150m(self) -> None:
        """BTC: 40x up to 150M USDC of notional, 20x above (the docs' mainnet table)."""
        table = tiers.venue_brackets("hyperliquid", get_instrument("BTCUSDT"))
        first, second = table.brackets
        assert (first.max_leverage, first.mmr_e8, second.max_leverage, second.mmr_e8) == (40, 1_250_000, 20, 2_500_000)
        assert second.floor_atoms == 150_000_000 * ATOMS_PER_UNIT
        assert second.cum_atoms == 150_000_000 * ATOMS_PER_UNIT * (2_500_000 - 1_250_000) // RATE_SCALE

    def test_table_deductions_follow_the_docs_formula(self) -> None:
        """The bracket table's cum = deduction(n) of the exact formula, for every shipped coin
        whose MMR is a whole number of 1e-8."""
        for coin, rows in tiers.HYPERLIQUID_TIERS.items():
            exact = prices.hyperliquid_deductions(rows)
            table = tiers.hyperliquid_table(rows, coin)
            for bracket, d in zip(table.brackets, exact):
                if all((RATE_SCALE % (2 * lev)) == 0 for _, lev in rows):
                    assert F(bracket.cum_atoms, ATOMS_PER_UNIT) == d

    def test_testnet_btc_table_is_kept_for_tests(self) -> None:
        """The MARGIN-SPEC testnet BTC table: 40, 25, 10, 5, 3x from 0, 10k, 50k, 100k, 300k."""
        assert tiers.HYPERLIQUID_TESTNET_BTC_TIERS == ((0, 40), (10_000, 25), (50_000, 10), (100_000, 5), (300_000, 3))

    def test_group_tables(self) -> None:
        """DOGE is in the 20M/10x group, ARB in the 3M/10x group."""
        assert tiers.HYPERLIQUID_TIERS["DOGE"] == ((0, 10), (20_000_000, 5))
        assert tiers.HYPERLIQUID_TIERS["ARB"] == ((0, 10), (3_000_000, 5))

    def test_max_leverage_overrides(self) -> None:
        """--max-leverage 50: one tier at 50x (MMR 1 %)."""
        assert tiers.hyperliquid_tiers("BTC", max_leverage=50) == ((0, 50),)
        table = tiers.venue_brackets("hyperliquid", get_instrument("BTCUSDT"), max_leverage=50)
        assert [(b.max_leverage, b.mmr_e8) for b in table.brackets] == [(50, 1_000_000)]

    def test_unknown_coin_asks_for_max_leverage(self) -> None:
        """A coin without shipped tiers: an InputError that names --max-leverage."""
        with pytest.raises(InputError, match="--max-leverage"):
            tiers.hyperliquid_tiers("NOPE")


class TestDydx:
    def test_large_cap_is_imf_5_mmf_3(self) -> None:
        """BTC and ETH are large-cap: IMF 5 %, MMF 3 % (IMF × 60 %)."""
        assert tiers.DYDX_TIERS["BTC"] == tiers.DYDX_TIERS["ETH"] == (5_000_000, 3_000_000)

    def test_liquidity_tiers_mmf(self) -> None:
        """MMF = IMF × maintenance fraction for every tier (small-cap 5 %, long-tail 10 %)."""
        got = {name: imf * frac // RATE_SCALE for name, (imf, frac) in tiers.DYDX_LIQUIDITY_TIERS.items()}
        assert (got["small-cap"], got["long-tail"], got["fx"]) == (5_000_000, 10_000_000, 500_000)

    def test_max_leverage_sets_imf(self) -> None:
        """--max-leverage 10 on a large-cap: IMF 10 %, MMF 6 %."""
        assert tiers.dydx_fractions("BTC", max_leverage=10) == (10_000_000, 6_000_000)


class TestBybit:
    def test_btcusdt_tiers(self) -> None:
        """BTCUSDT: 2M steps, MMR 0.5 % a step; tier 2 (to 4M) MMR 1 %, IMR 1.75 % → 57x."""
        table = tiers.venue_brackets("bybit", get_instrument("BTCUSDT"))
        b2 = table.brackets[1]
        assert (b2.floor_atoms, b2.cap_atoms, b2.mmr_e8, b2.max_leverage) == (
            2_000_000 * ATOMS_PER_UNIT, 4_000_000 * ATOMS_PER_UNIT, 1_000_000, 57
        )

    def test_inverse_tiers_are_in_coin(self) -> None:
        """BTCUSD inverse: 150 BTC steps, tier 1 MMR 0.5 % at 100x."""
        b1 = tiers.venue_brackets("bybit", get_instrument("BTCUSD_PERP")).brackets[0]
        assert (b1.cap_atoms, b1.mmr_e8, b1.max_leverage) == (150 * ATOMS_PER_UNIT, 500_000, 100)

    def test_derived_deductions_match_bybit_v5_mm_deduction(self) -> None:
        """Bybit's v5 API lists mmDeduction 0, 510, 1,710 for its lowest BTCUSDT tiers; the
        continuity rule derives the same from the limits and MMRs."""
        rows = tiers.BYBIT_BTCUSDT_V5_TIERS
        floors = [0] + [r[0] * ATOMS_PER_UNIT for r in rows[:-1]]
        cums = derive_cum_atoms(floors, [r[1] for r in rows])
        assert [c // ATOMS_PER_UNIT for c in cums] == [r[3] for r in rows]
