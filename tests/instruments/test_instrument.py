"""Specification of exsim.instruments.instrument and .registry: validated instrument specs."""

from __future__ import annotations

import doctest
import json
import re
from decimal import Decimal
from importlib import resources
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import exsim.instruments as instruments_pkg
from exsim.errors import InputError, OffGridError, SpecError
from exsim.instruments import (
    Bracket,
    BracketTable,
    Instrument,
    get_instrument,
    list_symbols,
    load_binance_brackets,
)
from exsim.instruments import instrument as instrument_module
from exsim.instruments import registry
from exsim.units import ATOMS_PER_UNIT, NS_PER_HOUR

U = ATOMS_PER_UNIT

TABLE = BracketTable.from_tiers(
    [("0", "50000", "0.004", 125), ("50000", "600000", "0.005", 100)], symbol="T"
)


def make(**overrides: object) -> Instrument:
    kwargs: dict[str, object] = dict(
        symbol="BTCUSDT", tick_size="0.1", lot_size="0.001", brackets=TABLE
    )
    kwargs.update(overrides)
    return Instrument.create(**kwargs)  # type: ignore[arg-type]


class TestDoctests:
    @pytest.mark.parametrize("module", [instrument_module, registry, instruments_pkg])
    def test_module_doctests_pass(self, module: object) -> None:
        """The executable examples in the instrument modules pass."""
        result = doctest.testmod(module)  # type: ignore[arg-type]
        assert result.attempted > 0
        assert result.failed == 0


class TestCreate:
    def test_defaults(self) -> None:
        """create fills Binance-like defaults: 1-lot minimum, 0.02 %/0.05 % fees, 8 h funding."""
        inst = make()
        assert (inst.base, inst.quote) == ("BTC", "USDT")
        assert inst.tick_size == Decimal("0.1") and inst.lot_size == Decimal("0.001")
        assert inst.min_qty_lots == 1 and inst.max_qty_lots == 0
        assert inst.maker_fee_e8 == 20_000 and inst.taker_fee_e8 == 50_000
        assert inst.clearance_fee_e8 == 0
        assert inst.funding_interval_ns == 8 * NS_PER_HOUR
        assert inst.atoms_per_tick_lot == 10_000

    def test_values_converted_exactly(self) -> None:
        """Human-unit strings become exact integers in the right units."""
        inst = make(
            min_qty="0.002", max_qty="1000", min_notional="100", max_notional="500000",
            maker_fee="-0.0001", taker_fee="0.0004", clearance_fee="0.0125",
        )
        assert inst.min_qty_lots == 2 and inst.max_qty_lots == 1_000_000
        assert inst.min_notional_atoms == 100 * U
        assert inst.max_notional_atoms == 500_000 * U
        assert (inst.maker_fee_e8, inst.taker_fee_e8, inst.clearance_fee_e8) == (
            -10_000, 40_000, 1_250_000
        )

    def test_base_quote_from_unified_symbol(self) -> None:
        """Base and quote are split from a ccxt unified symbol too."""
        inst = make(symbol="ETH/USDC:USDC")
        assert (inst.base, inst.quote) == ("ETH", "USDC")

    def test_base_quote_required_when_ambiguous(self) -> None:
        """A symbol that cannot be split needs explicit base/quote."""
        with pytest.raises(SpecError, match="pass base= and quote="):
            make(symbol="XBTUSD")
        assert make(symbol="XBTUSD", base="XBT", quote="USD").quote == "USD"

    def test_inexact_grid_refused(self) -> None:
        """A tick x lot that is not a whole number of atoms refuses to build, naming the instrument."""
        with pytest.raises(SpecError) as info:
            make(symbol="PEPEUSDT", tick_size="0.0000001", lot_size="0.01")
        assert info.value.where == "instrument PEPEUSDT"
        assert "not a whole number of atoms" in str(info.value)

    @pytest.mark.parametrize(
        "overrides,field,text",
        [
            ({"tick_size": "0"}, "tick_size", "positive"),
            ({"tick_size": "-0.1"}, "tick_size", "positive"),
            ({"tick_size": "abc"}, "tick_size", "not a decimal number"),
            ({"lot_size": "nan"}, "lot_size", "not a decimal number"),
            ({"min_qty": "0.0015"}, "min_qty", "not a multiple of lot 0.001"),
            ({"min_qty": "0"}, "min_qty_lots", ">= 1"),
            ({"max_qty": "0.001", "min_qty": "0.002"}, "max_qty_lots", "min_qty_lots"),
            ({"min_notional": "-1"}, "min_notional_atoms", ">= 0"),
            ({"min_notional": "0.000000001"}, "min_notional", "not a multiple of atom"),
            ({"min_notional": "100", "max_notional": "50"}, "max_notional_atoms", "above"),
            ({"taker_fee": "-0.0001"}, "taker_fee_e8", "outside [0, 1)"),
            ({"maker_fee": "1"}, "maker_fee_e8", "outside (-1, 1)"),
            ({"clearance_fee": "1.5"}, "clearance_fee_e8", "outside [0, 1)"),
            ({"maker_fee": "0.5%"}, "maker_fee", "not a decimal number"),
            ({"funding_interval_ns": 0}, "funding_interval_ns", "> 0"),
            ({"brackets": None}, "brackets", "BracketTable"),
        ],
    )
    def test_bad_spec(self, overrides: dict[str, object], field: str, text: str) -> None:
        """Each malformed or out-of-range field is a SpecError naming the instrument and field."""
        with pytest.raises(SpecError, match=re.escape(text)) as info:
            make(**overrides)
        assert info.value.where == "instrument BTCUSDT"
        assert info.value.field == field

    def test_direct_construction_validates(self) -> None:
        """The attrs constructor validates too (create is a convenience, not the only gate)."""
        with pytest.raises(SpecError):
            Instrument(
                symbol="X", base="X", quote="USDT", tick_size=Decimal("0.1"),
                lot_size=Decimal("0.001"), brackets=TABLE, min_qty_lots=0,
            )
        with pytest.raises(SpecError):
            Instrument(
                symbol="X", base="X", quote="USDT", tick_size=Decimal("0.1"),
                lot_size=Decimal("0.001"), brackets=TABLE, taker_fee_e8=True,
            )

    def test_frozen_and_hashable(self) -> None:
        """Instruments are immutable values."""
        inst = make()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            inst.taker_fee_e8 = 0  # type: ignore[misc]
        assert make() == inst and hash(make()) == hash(inst)
        with pytest.raises(TypeError):
            Instrument(  # type: ignore[call-arg]
                symbol="X", base="X", quote="USDT", tick_size=Decimal("0.1"),
                lot_size=Decimal("0.001"), brackets=TABLE, atoms_per_tick_lot=1,
            )


class TestHelpers:
    def test_notional_exact(self) -> None:
        """Notional is price_ticks x qty_lots x atoms_per_tick_lot, exactly, signed with qty."""
        inst = make()
        assert inst.notional_atoms(inst.ticks("61590.3"), inst.lots("1.5")) == to_units("92385.45")
        assert inst.notional_atoms(inst.ticks("61590.3"), -inst.lots("0.001")) == -to_units("61.5903")

    def test_string_round_trip(self) -> None:
        """price_str/qty_str invert ticks/lots with the grid's decimals."""
        inst = make()
        assert inst.price_str(inst.ticks("61590.3")) == "61590.3"
        assert inst.qty_str(inst.lots("2")) == "2.000"

    def test_off_grid_names_where(self) -> None:
        """ticks/lots refuse off-grid text naming where, field, value and grid."""
        inst = make()
        with pytest.raises(OffGridError) as info:
            inst.ticks("61590.35", where="replays/x.csv:1412")
        assert str(info.value) == (
            "replays/x.csv:1412: field 'price': '61590.35' is not a multiple of tick 0.1"
        )
        with pytest.raises(OffGridError, match="field 'size': '0.0001' is not a multiple of lot 0.001"):
            inst.lots("0.0001", field="size")

    def test_max_notional_limit(self) -> None:
        """max_notional 0 means the bracket table's last cap."""
        assert make().max_notional_limit_atoms == 600_000 * U
        assert make(max_notional="100000").max_notional_limit_atoms == 100_000 * U

    @given(price=st.integers(1, 10**9), qty=st.integers(-(10**9), 10**9))
    def test_notional_matches_decimal(self, price: int, qty: int) -> None:
        """Integer notional equals the Decimal product of the formatted price and qty."""
        inst = make()
        exact = Decimal(inst.price_str(price)) * Decimal(inst.qty_str(qty))
        assert Decimal(inst.notional_atoms(price, qty)).scaleb(-8) == exact


def to_units(text: str) -> int:
    return int(Decimal(text) * U)


class TestRegistry:
    def test_symbols(self) -> None:
        """The shipped symbols are the catalogue's with a known spec, sorted; the ten of old among them."""
        names = list_symbols()
        assert names == sorted(names) and len(names) == 365
        assert {"ADAUSDT", "AVAXUSDT", "BNBUSDT", "BTCUSDT", "DOGEUSDT", "ETHUSDT", "LINKUSDT", "LTCUSDT", "SOLUSDT", "XRPUSDT"} <= set(names)

    @pytest.mark.parametrize("name", ["BTCUSDT", "BTC/USDT:USDT", "btcusdt", " btc/usdt:usdt "])
    def test_both_spellings(self, name: str) -> None:
        """BTCUSDT is reachable by Binance and unified names, any case, and cached."""
        assert get_instrument(name) is get_instrument("BTCUSDT")
        assert get_instrument(name).symbol == "BTCUSDT"

    def test_btc_and_eth_specs(self) -> None:
        """BTCUSDT: tick 0.1, lot 0.001, min notional 100; ETHUSDT: tick 0.01, lot 0.001, min 20."""
        btc, eth = get_instrument("BTCUSDT"), get_instrument("ETHUSDT")
        assert (btc.tick_size, btc.lot_size, btc.min_notional_atoms) == (
            Decimal("0.1"), Decimal("0.001"), 100 * U
        )
        assert (eth.tick_size, eth.lot_size, eth.min_notional_atoms) == (
            Decimal("0.01"), Decimal("0.001"), 20 * U
        )
        assert btc.brackets.brackets[0] == Bracket(1, 0, 50_000 * U, 400_000, 0, 125)
        assert btc.max_notional_limit_atoms == 1_800_000_000 * U

    @pytest.mark.parametrize("symbol", list_symbols())
    def test_every_shipped_instrument_builds(self, symbol: str) -> None:
        """Each shipped instrument builds exactly, with its catalogue entry's brackets, names and limits."""
        from exsim.instruments.catalogue import catalogue

        entry = catalogue()[symbol]
        inst = get_instrument(symbol)
        assert inst.atoms_per_tick_lot >= 1
        assert inst.brackets == entry.brackets() and inst.brackets.symbol == entry.ccxt
        assert (inst.base, inst.quote) == (entry.base, entry.quote) and inst.min_notional_atoms >= 0

    def test_unknown_symbol_lists_close_matches(self) -> None:
        """An unknown symbol is an InputError suggesting close matches."""
        with pytest.raises(InputError, match="did you mean BTCUSDT") as info:
            get_instrument("BTCUSTD")
        assert info.value.field == "symbol"
        with pytest.raises(InputError, match="370 Binance USDⓈ-M symbols shipped: "):
            get_instrument("ZZZZZZ")
        with pytest.raises(InputError):
            get_instrument(3)  # type: ignore[arg-type]

    def test_load_brackets_file_reexport(self, tmp_path: Path) -> None:
        """Users load their own bracket JSON with load_brackets_file (same as load_binance_brackets)."""
        assert registry.load_brackets_file is load_binance_brackets
        text = resources.files("exsim.instruments").joinpath("data", registry.BRACKETS_FILE)
        data = json.loads(text.read_text())
        path = tmp_path / "mine.json"
        path.write_text(json.dumps({"BTC/USDT:USDT": data["BTC/USDT:USDT"]}))
        tables = registry.load_brackets_file(path)
        inst = make(brackets=tables["BTCUSDT"])
        assert inst.brackets == get_instrument("BTCUSDT").brackets

    def test_shipped_provenance_present(self) -> None:
        """The data folder carries its provenance and licence note."""
        text = resources.files("exsim.instruments").joinpath("data", "PROVENANCE.md").read_text()
        for needle in (
            "https://github.com/freqtrade/freqtrade",
            "c9ae5e1e9ff25bb55dd61f5e5519f7c479291edb",
            "GPL-3.0",
            "dated snapshot, not live truth",
        ):
            assert needle in text
