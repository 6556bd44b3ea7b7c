"""Amounts of several assets (exsim.results.assets): how ``--deposit`` / ``deposit =`` read
them, and the USD value the outputs show beside each asset."""

from __future__ import annotations

import pytest

from exsim.errors import InputError
from exsim.instruments import Instrument
from exsim.instruments.brackets import BracketTable
from exsim.results.assets import UsdPricer, parse_asset_amount, parse_deposits, tells_assets

ASSETS = ("USDT", "BTC")


def parse(text: str) -> tuple[str, int]:
    return parse_asset_amount(text, home_asset="USDT", assets=ASSETS, field="--deposit")


def linear() -> Instrument:
    return Instrument.create(symbol="BTCUSDT", tick_size="0.1", lot_size="0.001",
                             brackets=BracketTable.from_tiers([("0", "50000", "0.004", 125)]))


def inverse() -> Instrument:
    return Instrument.create(symbol="BTCUSD_PERP", tick_size="0.1", lot_size="1", inverse=True, contract_size="100",
                             brackets=BracketTable.from_tiers([("0", "5", "0.004", 125)]))


class TestParsing:
    def test_an_amount_names_its_asset(self) -> None:
        """0.05BTC is 5,000,000 satoshi of BTC."""
        assert parse("0.05BTC") == ("BTC", 5_000_000)

    def test_a_space_and_lower_case_are_allowed(self) -> None:
        """'0.05 btc' reads as 0.05BTC."""
        assert parse("0.05 btc") == ("BTC", 5_000_000)

    def test_a_bare_amount_is_the_home_asset(self) -> None:
        """1000 is 1,000 of the home asset."""
        assert parse("1000") == ("USDT", 1000 * 10**8)

    @pytest.mark.parametrize("text", ["", "BTC", "0.05.1BTC", "-1BTC", "1e3BTC", "1,000USDT", "0.05 B T C"])
    def test_a_malformed_amount_names_the_flag_and_the_form(self, text: str) -> None:
        """Anything but a positive decimal and an asset name is refused with the expected form."""
        with pytest.raises(InputError) as info:
            parse(text)
        assert info.value.field == "--deposit" and "like 1000, 1000USDT or 0.05BTC" in info.value.message

    def test_zero_is_refused(self) -> None:
        """A deposit of nothing is an error, not a no-op."""
        with pytest.raises(InputError, match="not an amount > 0"):
            parse("0BTC")

    def test_an_unknown_asset_lists_the_runs_assets(self) -> None:
        """ETH in a USDT/BTC run: the message names ETH and what the run settles in."""
        with pytest.raises(InputError) as info:
            parse("1ETH")
        assert "settles in ETH (they settle in USDT, BTC)" in info.value.message

    def test_a_ninth_decimal_is_refused_not_rounded(self) -> None:
        """0.000000001 BTC is off the satoshi grid."""
        with pytest.raises(InputError, match="atom"):
            parse("0.000000001BTC")

    def test_several_amounts_one_per_asset(self) -> None:
        """Repeated flags give one wallet each, in the order given."""
        assert parse_deposits(["0.05BTC", "1000"], home_asset="USDT", assets=ASSETS, field="--deposit") == {
            "BTC": 5_000_000, "USDT": 1000 * 10**8}

    def test_the_same_asset_twice_is_refused(self) -> None:
        """1000 and 500USDT both name USDT: which one was meant is not guessed."""
        with pytest.raises(InputError, match="USDT is given twice"):
            parse_deposits(["1000", "500USDT"], home_asset="USDT", assets=ASSETS, field="--deposit")


class TestTellsAssets:
    def test_one_stablecoin_run_keeps_its_outputs(self) -> None:
        """Only USDT (or only USDC): no asset columns, no USD values."""
        assert not tells_assets(["USDT"]) and not tells_assets(["USDC"])

    def test_a_coin_or_several_assets_are_told(self) -> None:
        """A BTC-margined run, or USDT and BTC together, name each amount's asset."""
        assert tells_assets(["BTC"]) and tells_assets(["USDT", "BTC"])


class TestUsdPricer:
    def test_a_stablecoin_is_one_usd(self) -> None:
        """USDT is counted at 1 USD, and the pricer says so."""
        p = UsdPricer([linear()], lambda s: None)
        assert p.usd_atoms("USDT", 123) == 123 and p.how("USDT") == "1 USDT = 1 USD"

    def test_an_inverse_contracts_mark_prices_its_coin_first(self) -> None:
        """With BTCUSDT and BTCUSD_PERP, BTC is valued at BTCUSD_PERP's mark (USD per BTC)."""
        marks = {"BTCUSDT": 40_000 * 10**8, "BTCUSD_PERP": 36_500 * 10**8}  # subticks: 1e-8 USD
        p = UsdPricer([linear(), inverse()], marks.get)
        assert p.how("BTC") == "BTCUSD_PERP mark"
        assert p.usd_atoms("BTC", 2_500_000) == 912_50 * 10**6  # 0.025 BTC x 36,500 = 912.5 USD
        assert p.price_text("BTC") == "36500.0"

    def test_a_linear_contract_prices_its_base_without_an_inverse_one(self) -> None:
        """With only BTCUSDT, BTC is valued at its mark."""
        p = UsdPricer([linear()], {"BTCUSDT": 40_000 * 10**8}.get)
        assert p.how("BTC") == "BTCUSDT mark" and p.usd_atoms("BTC", 10**8) == 40_000 * 10**8

    def test_usd_values_round_down(self) -> None:
        """One satoshi at 36,500.1 is 0.00036500 USD (0.000365001 rounded down)."""
        p = UsdPricer([inverse()], {"BTCUSD_PERP": 3_650_010_000_000}.get)
        assert p.usd_atoms("BTC", 1) == 36_500

    def test_no_price_is_none_never_a_guess(self) -> None:
        """Before the first mark, or for an asset nothing prices, there is no USD value."""
        p = UsdPricer([inverse()], lambda s: None)
        assert p.usd_atoms("BTC", 10**8) is None and p.usd_atoms("ETH", 10**8) is None and p.how("ETH") == "-"
