"""Scenario files with several assets: coin wallets, inverse instruments, and the errors a
user gets for an amount or an asset that does not fit (docs/scenarios.md, "Coin-margined
contracts and several assets")."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.scenario.spec import load_scenario

BASE = """\
[scenario]
name = "assets"

[[instruments]]
symbol = "BTCUSDT"

[[instruments]]
symbol = "BTCUSD_PERP"
inverse = true
contract_size = "100"
tick_size = "0.1"
lot_size = "1"
brackets = [{ cap = "5", mmr = "0.004", max_leverage = 125 }]

[[accounts]]
name = "coin"
deposit = "0.05 BTC"

[[accounts]]
name = "both"
deposit = { USDT = "1000", BTC = "0.5" }

[[accounts]]
name = "bare"
deposit = "1000"

[paths.BTCUSDT]
marks = [["0s", "40000"]]

[paths.BTCUSD_PERP]
marks = [["0s", "40000"]]
"""


def load(tmp_path: Path, text: str = BASE) -> object:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path)


def error(tmp_path: Path, old: str, new: str) -> InputError:
    assert old in BASE
    with pytest.raises(InputError) as info:
        load(tmp_path, BASE.replace(old, new, 1))
    return info.value


class TestInverseInstruments:
    def test_an_inverse_table_builds_a_coin_margined_contract(self, tmp_path: Path) -> None:
        """inverse = true with contract_size: BTC quoted in USD, settled in BTC, brackets' caps in BTC."""
        inst = load(tmp_path).instrument("BTCUSD_PERP")  # type: ignore[attr-defined]
        assert (inst.inverse, inst.base, inst.quote, inst.margin_asset) == (True, "BTC", "USD", "BTC")
        assert inst.brackets.brackets[0].cap_atoms == 5 * 10**8  # 5 BTC
        assert inst.fill_value_atoms(400_000, 100) == 25_000_000  # 100 contracts at 40,000.0 = 0.25 BTC

    def test_the_scenario_lists_its_assets_home_first(self, tmp_path: Path) -> None:
        """The home asset is the first instrument's margin asset; the others follow."""
        sc = load(tmp_path)
        assert (sc.home_asset, sc.assets) == ("USDT", ("USDT", "BTC"))  # type: ignore[attr-defined]

    def test_inverse_without_a_contract_size_is_refused(self, tmp_path: Path) -> None:
        """An inverse instrument must say how many USD a contract is worth."""
        e = error(tmp_path, 'contract_size = "100"\n', "")
        assert e.field == "instruments[1].contract_size" and "contract_size" in e.message

    def test_a_contract_size_makes_the_instrument_inverse(self, tmp_path: Path) -> None:
        """contract_size alone is enough: inverse = true only says so."""
        inst = load(tmp_path, BASE.replace("inverse = true\n", "")).instrument("BTCUSD_PERP")  # type: ignore[attr-defined]
        assert (inst.inverse, inst.margin_asset) == (True, "BTC")

    def test_a_contract_size_on_a_linear_instrument_is_refused(self, tmp_path: Path) -> None:
        """inverse = false with a contract_size contradicts itself: the inverse key is named."""
        e = error(tmp_path, "inverse = true\n", "inverse = false\n")
        assert e.field == "instruments[1].inverse" and "drop inverse = false" in e.message

    def test_a_notional_on_an_inverse_position_asks_for_contracts(self, tmp_path: Path) -> None:
        """Positions of an inverse contract are sized in contracts (qty), never by notional."""
        text = BASE.replace('name = "coin"\ndeposit = "0.05 BTC"\n', 'name = "coin"\ndeposit = "0.05 BTC"\n\n'
                            '[[accounts.positions]]\nsymbol = "BTCUSD_PERP"\nside = "long"\nnotional = "0.1"\n'
                            'price = "40000"\nleverage = 10\n')
        with pytest.raises(InputError) as info:
            load(tmp_path, text)
        assert info.value.field == "accounts[0].positions[0].notional" and "contracts" in info.value.message


class TestDeposits:
    def test_a_deposit_names_its_asset(self, tmp_path: Path) -> None:
        """deposit = "0.05 BTC" is 5,000,000 satoshi in the BTC wallet, nothing in the home asset."""
        coin = load(tmp_path).accounts[0]  # type: ignore[attr-defined]
        assert coin.deposits == (("BTC", 5_000_000),) and coin.deposit_atoms == 0

    def test_a_table_deposits_in_several_assets(self, tmp_path: Path) -> None:
        """{ USDT = "1000", BTC = "0.5" }: one wallet per asset, in the file's order."""
        both = load(tmp_path).accounts[1]  # type: ignore[attr-defined]
        assert both.deposits == (("USDT", 1000 * 10**8), ("BTC", 50_000_000))

    def test_a_bare_amount_is_the_home_asset(self, tmp_path: Path) -> None:
        """deposit = "1000" is 1,000 of the home asset (USDT here), as before assets existed."""
        bare = load(tmp_path).accounts[2]  # type: ignore[attr-defined]
        assert bare.deposit_list("USDT") == (("USDT", 1000 * 10**8),) and bare.deposit_atoms == 1000 * 10**8

    def test_the_asset_is_read_without_the_space_and_in_any_case(self, tmp_path: Path) -> None:
        """"0.05btc" is the same deposit as "0.05 BTC"."""
        assert load(tmp_path, BASE.replace('"0.05 BTC"', '"0.05btc"')).accounts[0].deposits == (("BTC", 5_000_000),)  # type: ignore[attr-defined]

    def test_an_asset_no_instrument_settles_in_is_refused(self, tmp_path: Path) -> None:
        """An ETH deposit in a USDT/BTC scenario names ETH and the assets that are there."""
        e = error(tmp_path, '"0.05 BTC"', '"0.05 ETH"')
        line = BASE.splitlines().index('deposit = "0.05 BTC"') + 1
        assert e.field == "accounts[0].deposit" and e.where.endswith(f":{line}")
        assert "settles in ETH" in e.message and "USDT, BTC" in e.message

    def test_a_malformed_amount_is_refused(self, tmp_path: Path) -> None:
        """'0.05.1BTC' says what an amount looks like."""
        e = error(tmp_path, '"0.05 BTC"', '"0.05.1BTC"')
        assert e.field == "accounts[0].deposit" and "like 1000, 1000USDT or 0.05BTC" in e.message

    def test_a_negative_amount_is_refused(self, tmp_path: Path) -> None:
        """A deposit is a positive amount."""
        e = error(tmp_path, '"0.05 BTC"', '"-1 BTC"')
        assert e.field == "accounts[0].deposit"

    def test_more_than_eight_decimals_is_refused_not_rounded(self, tmp_path: Path) -> None:
        """A tenth of a satoshi is not on the atom grid: the table's key is named."""
        e = error(tmp_path, 'BTC = "0.5"', 'BTC = "0.000000001"')
        assert e.field == "accounts[1].deposit.BTC" and "atom" in e.message

    def test_an_empty_deposit_table_is_refused(self, tmp_path: Path) -> None:
        """{} deposits nothing: the error asks for an asset."""
        e = error(tmp_path, '{ USDT = "1000", BTC = "0.5" }', "{}")
        assert e.field == "accounts[1].deposit" and "empty" in e.message

    def test_a_withdrawal_may_name_its_asset(self, tmp_path: Path) -> None:
        """[[accounts.actions]] amount = "0.01 BTC" is a BTC withdrawal."""
        text = BASE.replace('name = "coin"\ndeposit = "0.05 BTC"\n', 'name = "coin"\ndeposit = "0.05 BTC"\n\n'
                            '[[accounts.actions]]\nat = "1m"\nkind = "withdraw"\namount = "0.01 BTC"\n')
        action = load(tmp_path, text).accounts[0].actions[0]  # type: ignore[attr-defined]
        assert (action.kind, action.asset, action.amount_atoms) == ("withdraw", "BTC", 1_000_000)

    def test_a_population_on_an_inverse_instrument_is_refused(self, tmp_path: Path) -> None:
        """A [population] draws home-asset accounts: an inverse symbol is named as the problem."""
        text = BASE + '\n[population]\nsymbol = "BTCUSD_PERP"\naccounts = 3\nprice = "40000"\nnotional_min = "1"\n' \
            'notional_max = "2"\nleverages = [10]\n'
        with pytest.raises(InputError) as info:
            load(tmp_path, text)
        assert info.value.field == "population.symbol" and "BTCUSD_PERP settles in BTC" in info.value.message


class TestShippedCoinMargined:
    """A shipped COIN-M symbol (exsim/instruments/data: the dapi capture's specs, coin brackets)."""

    SHIPPED = BASE.replace('''symbol = "BTCUSD_PERP"
inverse = true
contract_size = "100"
tick_size = "0.1"
lot_size = "1"
brackets = [{ cap = "5", mmr = "0.004", max_leverage = 125 }]
''', 'symbol = "BTCUSD_PERP"\n')

    def test_the_symbol_alone_is_the_shipped_inverse_contract(self, tmp_path: Path) -> None:
        """symbol = "BTCUSD_PERP" with no sizes: 100 USD a contract, settled in BTC."""
        inst = load(tmp_path, self.SHIPPED).instrument("BTCUSD_PERP")  # type: ignore[attr-defined]
        assert (inst.inverse, inst.contract_size, inst.margin_asset) == (True, 100, "BTC")

    def test_an_inverse_key_on_the_shipped_symbol_is_refused(self, tmp_path: Path) -> None:
        """inverse = true without sizes would half-change the shipped spec: the key is named."""
        with pytest.raises(InputError) as info:
            load(tmp_path, self.SHIPPED.replace('symbol = "BTCUSD_PERP"\n', 'symbol = "BTCUSD_PERP"\ninverse = true\n'))
        assert info.value.field == "instruments[1].inverse" and "shipped as it is" in info.value.message
