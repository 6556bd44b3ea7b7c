"""exsim TOML [[instruments]] with inverse (COIN-M) contracts: the shipped BTCUSD_PERP by
name, a custom inverse instrument (``contract_size``), and brackets that must match the
instrument's kind (coin brackets only for inverse contracts)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.instruments import get_instrument, load_instruments_file


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "inst.toml"
    path.write_text(body)
    return path


class TestInverseToml:
    def test_shipped_coin_m_symbol_by_name(self, tmp_path: Path) -> None:
        """A TOML table naming BTCUSD_PERP alone is the shipped inverse instrument."""
        f = load_instruments_file(write(tmp_path, '[[instruments]]\nsymbol = "BTCUSD_PERP"\n'))
        assert f.instruments["BTCUSD_PERP"] == get_instrument("BTCUSD_PERP")

    def test_custom_inverse_instrument(self, tmp_path: Path) -> None:
        """contract_size makes a custom instrument inverse: coin margin, size in contracts, the named coin brackets."""
        f = load_instruments_file(write(
            tmp_path,
            '[[instruments]]\nsymbol = "XYZUSD_PERP"\ntick_size = "0.01"\nlot_size = "1"\n'
            'contract_size = "10"\nbrackets_from = "ETHUSD_PERP"\n',
        ))
        inst = f.instruments["XYZUSD_PERP"]
        assert inst.inverse and inst.contract_size == Decimal(10)
        assert (inst.base, inst.quote, inst.margin_asset) == ("XYZ", "USD", "XYZ")
        assert inst.brackets == get_instrument("ETHUSD_PERP").brackets

    def test_custom_inverse_with_its_own_brackets_in_coin(self, tmp_path: Path) -> None:
        """An inverse instrument's own brackets are caps in coin."""
        f = load_instruments_file(write(
            tmp_path,
            '[[instruments]]\nsymbol = "XYZUSD_PERP"\ntick_size = "0.01"\nlot_size = "1"\ncontract_size = "10"\n'
            'brackets = [{cap = "50", mmr = "0.01", max_leverage = 50}, {cap = "500", mmr = "0.025", max_leverage = 20}]\n',
        ))
        b = f.instruments["XYZUSD_PERP"].brackets.brackets
        assert (b[0].cap_atoms, b[1].cum_atoms) == (50 * 10**8, 75_000_000)  # cum 0.75 = 50 x 1.5 %

    def test_linear_instrument_refuses_coin_brackets(self, tmp_path: Path) -> None:
        """A linear (USDT) instrument cannot take brackets that are in coin."""
        path = write(
            tmp_path,
            '[[instruments]]\nsymbol = "DEMOUSDT"\ntick_size = "0.01"\nlot_size = "0.001"\nbrackets_from = "BTCUSD_PERP"\n',
        )
        with pytest.raises(InputError, match="in coin") as e:
            load_instruments_file(path)
        assert (e.value.where, e.value.field) == (f"{path}:5", "instruments[0].brackets_from")

    def test_inverse_instrument_refuses_usdt_brackets(self, tmp_path: Path) -> None:
        """An inverse instrument cannot take USDT brackets."""
        path = write(
            tmp_path,
            '[[instruments]]\nsymbol = "XYZUSD_PERP"\ntick_size = "0.01"\nlot_size = "1"\ncontract_size = "10"\n'
            'brackets_from = "BTCUSDT"\n',
        )
        with pytest.raises(InputError, match="in USDT") as e:
            load_instruments_file(path)
        assert e.value.field == "instruments[0].brackets_from"

    def test_contract_size_must_be_positive(self, tmp_path: Path) -> None:
        """contract_size 0 is an error at its line."""
        path = write(
            tmp_path,
            '[[instruments]]\nsymbol = "XYZUSD_PERP"\ntick_size = "0.01"\nlot_size = "1"\ncontract_size = "0"\n'
            'brackets_from = "BTCUSD_PERP"\n',
        )
        with pytest.raises(InputError) as e:
            load_instruments_file(path)
        assert (e.value.where, e.value.field) == (f"{path}:5", "instruments[0].contract_size")

    def test_contract_size_on_a_shipped_symbol_needs_the_grids(self, tmp_path: Path) -> None:
        """Giving contract_size makes the table custom, so it needs tick_size and lot_size like any custom one."""
        path = write(tmp_path, '[[instruments]]\nsymbol = "BTCUSD_PERP"\ncontract_size = "100"\n')
        with pytest.raises(InputError, match="tick_size"):
            load_instruments_file(path)
