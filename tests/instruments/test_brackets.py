"""Specification of exsim.instruments.brackets: validated leverage brackets (MARGIN-SPEC §1)."""

from __future__ import annotations

import copy
import doctest
import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exsim.errors import SpecError
from exsim.instruments import brackets as brackets_module
from exsim.instruments.brackets import (
    Bracket,
    BracketTable,
    BracketTables,
    derive_cum_atoms,
    load_binance_brackets,
    parse_binance_brackets,
    short_symbol,
    symbol_aliases,
    validate_brackets,
)
from exsim.instruments.registry import BRACKETS_FILE, shipped_brackets
from exsim.units import ATOMS_PER_UNIT, to_atoms

U = ATOMS_PER_UNIT  # atoms per USDT

SHARED_TIERS = Path(
    os.environ.get("EXSIM_SHARED_TIERS", "/work/shared/data/binance_leverage_tiers.json")
)
needs_shared = pytest.mark.skipif(
    not SHARED_TIERS.exists(), reason=f"shared snapshot {SHARED_TIERS} not available"
)


def shipped_json() -> dict[str, Any]:
    """The shipped snapshot as plain JSON (strings and floats as in the file)."""
    text = resources.files("exsim.instruments").joinpath("data", BRACKETS_FILE).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def older_btc_table() -> BracketTable:
    """MARGIN-SPEC §1's older BTCUSDT table, cum derived."""
    return BracketTable.from_tiers(
        [
            ("0", "50000", "0.004", 125),
            ("50000", "250000", "0.005", 100),
            ("250000", "1000000", "0.01", 50),
        ],
        symbol="BTCUSDT-old",
    )


class TestDoctests:
    def test_module_doctests_pass(self) -> None:
        """Every doctest in exsim.instruments.brackets passes."""
        result = doctest.testmod(brackets_module)
        assert result.attempted > 0
        assert result.failed == 0


class TestWorkedExample:
    def test_level3_cum_is_1300(self) -> None:
        """'Maintenance Amount on Level 3 = 250,000 x (1% - 0.5%) + 50 = 1,300 USDT' is derived."""
        table = older_btc_table()
        assert [b.cum_atoms for b in table] == [0, 50 * U, 1300 * U]

    def test_validation_accepts_1300(self) -> None:
        """The table written out with cum 1300 validates; 1300 is exactly the derived value."""
        explicit = BracketTable(
            (
                Bracket(1, 0, 50_000 * U, 400_000, 0, 125),
                Bracket(2, 50_000 * U, 250_000 * U, 500_000, 50 * U, 100),
                Bracket(3, 250_000 * U, 1_000_000 * U, 1_000_000, 1300 * U, 50),
            )
        )
        assert explicit == older_btc_table()
        assert derive_cum_atoms([0, 50_000 * U, 250_000 * U], [400_000, 500_000, 1_000_000]) == (
            0,
            50 * U,
            1300 * U,
        )

    def test_validation_rejects_cum_one_atom_off(self) -> None:
        """A level-3 cum one atom away from 1300 is refused and the message gives 1300."""
        rows = list(older_btc_table())
        rows[2] = attrs.evolve(rows[2], cum_atoms=1300 * U - 1)
        with pytest.raises(SpecError, match=r"must be 1300 = 50 \+ 250000 x \(0.01 - 0.005\)") as info:
            BracketTable(rows, symbol="BTCUSDT-old")
        assert info.value.field == "cum_atoms"
        assert "BTCUSDT-old bracket 3" in info.value.where

    def test_mm_continuous_at_250k(self) -> None:
        """At the level-3 floor, level 2's and level 3's formulas both give 1,200 USDT."""
        table = older_btc_table()
        n = 250_000 * U
        assert table.brackets[1].maint_margin_atoms(n) == 1200 * U
        assert table.brackets[2].maint_margin_atoms(n) == 1200 * U
        assert table.maint_margin_atoms(n) == 1200 * U


class TestLookup:
    def test_bracket_for_boundaries(self) -> None:
        """Bracket k covers [floor_k, cap_k): one atom below a floor is still the previous bracket."""
        table = older_btc_table()
        assert table.bracket_for(0).bracket == 1
        assert table.bracket_for(50_000 * U - 1).bracket == 1
        assert table.bracket_for(50_000 * U).bracket == 2
        assert table.bracket_for(250_000 * U - 1).bracket == 2
        assert table.bracket_for(250_000 * U).bracket == 3

    def test_at_and_above_last_cap_uses_last_bracket(self) -> None:
        """Notional at or beyond the last cap maps to the last bracket (the table caps nothing)."""
        table = older_btc_table()
        assert table.bracket_for(1_000_000 * U).bracket == 3
        assert table.bracket_for(10**30).bracket == 3
        assert table.max_leverage_for(10**30) == 50
        assert table.last_cap_atoms == 1_000_000 * U

    def test_negative_notional_refused(self) -> None:
        """A negative notional is a caller bug and raises ValueError."""
        table = older_btc_table()
        with pytest.raises(ValueError):
            table.bracket_for(-1)
        with pytest.raises(ValueError):
            table.maint_margin_atoms(-1)

    def test_max_leverage_for(self) -> None:
        """Max leverage is the bracket's."""
        table = older_btc_table()
        assert [table.max_leverage_for(n * U) for n in (0, 49_999, 50_000, 999_999)] == [
            125, 125, 100, 50
        ]

    def test_maint_margin_rounds_up(self) -> None:
        """Maintenance margin is a requirement: ceil, so 1 atom of notional needs 1 atom."""
        table = older_btc_table()
        assert table.maint_margin_atoms(1) == 1
        assert table.maint_margin_atoms(0) == 0
        assert table.maint_margin_atoms(250 * U) == 1 * U

    def test_table_is_frozen_and_hashable(self) -> None:
        """Tables are immutable values; labels do not affect equality."""
        table = older_btc_table()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            table.symbol = "x"  # type: ignore[misc]
        relabelled = BracketTable(table.brackets, symbol="other", source="elsewhere")
        assert relabelled == table
        assert hash(relabelled) == hash(table)
        assert len(table) == 3


def _ok_rows() -> list[Bracket]:
    return list(older_btc_table())


MUTATIONS: list[tuple[str, Callable[[list[Bracket]], None], int, str, str]] = [
    ("numbering", lambda r: r.__setitem__(1, attrs.evolve(r[1], bracket=5)), 2, "bracket", "expected 2"),
    ("first floor", lambda r: r.__setitem__(0, attrs.evolve(r[0], floor_atoms=1)), 1, "floor_atoms", "first floor"),
    ("gap", lambda r: r.__setitem__(1, attrs.evolve(r[1], floor_atoms=60_000 * U)), 2, "floor_atoms", "gap"),
    ("overlap", lambda r: r.__setitem__(1, attrs.evolve(r[1], floor_atoms=40_000 * U)), 2, "floor_atoms", "overlap"),
    ("empty bracket", lambda r: r.__setitem__(2, attrs.evolve(r[2], cap_atoms=250_000 * U)), 3, "cap_atoms", "not above floor"),
    ("mmr > 1", lambda r: r.__setitem__(2, attrs.evolve(r[2], mmr_e8=10**8 + 1)), 3, "mmr_e8", "outside"),
    ("mmr decreasing", lambda r: r.__setitem__(1, attrs.evolve(r[1], mmr_e8=300_000)), 2, "mmr_e8", "non-decreasing"),
    ("leverage 0", lambda r: r.__setitem__(2, attrs.evolve(r[2], max_leverage=0)), 3, "max_leverage", "below 1"),
    ("leverage increasing", lambda r: r.__setitem__(1, attrs.evolve(r[1], max_leverage=150)), 2, "max_leverage", "non-increasing"),
    ("first cum", lambda r: r.__setitem__(0, attrs.evolve(r[0], cum_atoms=1)), 1, "cum_atoms", "first cum"),
    ("wrong cum", lambda r: r.__setitem__(1, attrs.evolve(r[1], cum_atoms=51 * U)), 2, "cum_atoms", "must be 50"),
]


class TestValidate:
    @pytest.mark.parametrize(
        "mutate,bracket,field,text", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
    )
    def test_each_invariant(
        self, mutate: Callable[[list[Bracket]], None], bracket: int, field: str, text: str
    ) -> None:
        """Breaking one invariant raises SpecError naming the source, symbol, bracket and field."""
        rows = _ok_rows()
        mutate(rows)
        with pytest.raises(SpecError, match=text) as info:
            validate_brackets(rows, symbol="XUSDT", source="my.json")
        assert info.value.where == f"my.json: XUSDT bracket {bracket}"
        assert info.value.field == field

    def test_non_int_field_refused(self) -> None:
        """A float (or bool) in a bracket field is refused: state holds ints only."""
        rows = _ok_rows()
        rows[1] = attrs.evolve(rows[1], mmr_e8=0.005)  # type: ignore[arg-type]
        with pytest.raises(SpecError, match="must be an int") as info:
            BracketTable(rows)
        assert info.value.field == "mmr_e8"

    def test_empty_refused(self) -> None:
        """A table needs at least one bracket."""
        with pytest.raises(SpecError, match="no brackets"):
            BracketTable(())

    def test_first_violation_reported(self) -> None:
        """With two broken brackets, the lower one is reported."""
        rows = _ok_rows()
        rows[2] = attrs.evolve(rows[2], cum_atoms=1)
        rows[1] = attrs.evolve(rows[1], max_leverage=200)
        with pytest.raises(SpecError) as info:
            validate_brackets(rows)
        assert info.value.where == "bracket 2"

    def test_field_names_translated(self) -> None:
        """With Binance names, the error names the file's field."""
        rows = _ok_rows()
        rows[1] = attrs.evolve(rows[1], cum_atoms=51 * U)
        with pytest.raises(SpecError) as info:
            validate_brackets(rows, names=brackets_module.BINANCE_FIELD_NAMES)
        assert info.value.field == "info.cum"

    def test_equal_neighbours_allowed(self) -> None:
        """Equal MMRs (cum step 0) and equal leverages in neighbouring brackets are valid."""
        BracketTable.from_tiers([("0", "10", "0.01", 20), ("10", "20", "0.01", 20)])

    def test_from_tiers_bad_value(self) -> None:
        """from_tiers names the bracket and field of a malformed value."""
        with pytest.raises(SpecError) as info:
            BracketTable.from_tiers([("0", "1e", "0.01", 20)], symbol="S")
        assert info.value.where == "S bracket 1"
        assert info.value.field == "cap_atoms"

    def test_derived_cum_must_be_whole_atoms(self) -> None:
        """A floor x MMR step that is not a whole atom is refused, never rounded."""
        with pytest.raises(SpecError, match="not a whole atom"):
            derive_cum_atoms([0, 1], [1, 2])


class TestSymbols:
    def test_short_symbol(self) -> None:
        """USDT/USDC linear perps get Binance's short name; futures and BTC-settled do not."""
        assert short_symbol("BTC/USDT:USDT") == "BTCUSDT"
        assert short_symbol("1000PEPE/USDC:USDC") == "1000PEPEUSDC"
        assert short_symbol("BTC/USDT:USDT-241227") is None
        assert short_symbol("ETH/BTC:BTC") is None
        assert short_symbol("BTCUSDT") is None
        assert short_symbol("BTC/USD:BTC") is None

    def test_alias_colliding_with_symbol(self) -> None:
        """An alias that is also a key of its own is an error, not a silent shadow."""
        with pytest.raises(SpecError, match="also a symbol of its own"):
            symbol_aliases(["BTC/USDT:USDT", "BTCUSDT"], source="f.json")

    def test_aliases_are_a_bijection(self) -> None:
        """Distinct unified symbols get distinct aliases."""
        got = symbol_aliases(["BTC/USDT:USDT", "BTC/USDC:USDC", "ETH/BTC:BTC"])
        assert got == {"BTCUSDT": "BTC/USDT:USDT", "BTCUSDC": "BTC/USDC:USDC"}


# --------------------------------------------------------------------------- files


def write_json(tmp_path: Path, data: Any, name: str = "tiers.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2))
    return path


def corrupt(symbol: str, bracket: int, key: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(shipped_json())
    info = data[symbol][bracket - 1]["info"]
    if value is _DELETE:
        del info[key]
    else:
        info[key] = value
    return data


_DELETE = object()

CORRUPTIONS = [
    ("gap", "BTC/USDT:USDT", 3, "notionalFloor", "650000", "gap"),
    ("wrong cum", "ETH/USDT:USDT", 4, "cum", "11451.0", "must be 11450 ="),
    ("first floor non-zero", "SOL/USDT:USDT", 1, "notionalFloor", "1", "first floor is 1"),
    ("first cum non-zero", "SOL/USDT:USDT", 1, "cum", "0.5", "first cum is 0.5"),
    ("non-numeric", "XRP/USDT:USDT", 2, "maintMarginRatio", "abc", "'abc' is not a decimal number"),
    ("nan", "XRP/USDT:USDT", 2, "maintMarginRatio", "NaN", "not a decimal number"),
    ("empty", "ADA/USDT:USDT", 5, "notionalCap", "", "'' is not a decimal number"),
    ("number not string", "BNB/USDT:USDT", 2, "cum", 10.0, "expected a decimal string"),
    ("missing", "LINK/USDT:USDT", 3, "cum", _DELETE, "missing"),
    ("sub-atom cum", "LTC/USDT:USDT", 2, "cum", "50.000000001", "not a multiple of atom"),
    ("fractional leverage", "AVAX/USDT:USDT", 2, "initialLeverage", "50.5", "not a whole number"),
    ("mmr down", "DOGE/USDT:USDT", 3, "maintMarginRatio", "0.006", "non-decreasing"),
    ("leverage up", "DOGE/USDT:USDT", 3, "initialLeverage", "60", "non-increasing"),
    ("bracket id", "BTC/USDT:USDT", 2, "bracket", "7", "expected 2"),
]


class TestLoadCorrupted:
    @pytest.mark.parametrize(
        "symbol,bracket,key,value,text", [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS]
    )
    def test_error_names_file_symbol_bracket_field(
        self, tmp_path: Path, symbol: str, bracket: int, key: str, value: Any, text: str
    ) -> None:
        """A corrupted tier raises SpecError naming file, symbol, bracket number and the file's field."""
        path = write_json(tmp_path, corrupt(symbol, bracket, key, value))
        with pytest.raises(SpecError, match=text) as info:
            load_binance_brackets(path)
        assert info.value.where == f"{path}: {symbol} bracket {bracket}"
        assert info.value.field == f"info.{key}"
        assert str(info.value).startswith(f"{path}: {symbol} bracket {bracket}: field 'info.{key}': ")

    def test_first_symbol_in_file_order_reported(self, tmp_path: Path) -> None:
        """With corruptions in two symbols, the one earlier in the file is reported."""
        data = corrupt("LTC/USDT:USDT", 3, "cum", "1.0")
        data["ADA/USDT:USDT"][1]["info"]["cum"] = "1.0"
        with pytest.raises(SpecError) as info:
            load_binance_brackets(write_json(tmp_path, data))
        assert "ADA/USDT:USDT bracket 2" in info.value.where

    def test_invalid_json_names_line(self, tmp_path: Path) -> None:
        """A syntax error names the file and line."""
        path = tmp_path / "bad.json"
        path.write_text('{\n  "BTC/USDT:USDT": [\n    {,}\n  ]\n}\n')
        with pytest.raises(SpecError) as info:
            load_binance_brackets(path)
        assert info.value.where == f"{path}:3"

    def test_wrong_shapes(self, tmp_path: Path) -> None:
        """Non-object top level, empty tier lists and tiers without info are refused."""
        for data, text in (
            ([], "top level"),
            ({"X/USDT:USDT": []}, "non-empty list"),
            ({"X/USDT:USDT": [{"tier": 1}]}, "missing or not an object"),
            ({"X/USDT:USDT": [3]}, "not an object"),
        ):
            with pytest.raises(SpecError, match=text):
                load_binance_brackets(write_json(tmp_path, data))

    def test_alias_collision_in_file(self, tmp_path: Path) -> None:
        """A file holding both 'BTC/USDT:USDT' and 'BTCUSDT' is refused instead of shadowing."""
        data = shipped_json()
        data["BTCUSDT"] = data["BTC/USDT:USDT"]
        with pytest.raises(SpecError, match="short alias 'BTCUSDT'"):
            load_binance_brackets(write_json(tmp_path, data))

    def test_parse_from_text(self) -> None:
        """parse_binance_brackets reads the same format from a string."""
        text = json.dumps({"X/USDC:USDC": shipped_json()["BTC/USDT:USDT"]})
        tables = parse_binance_brackets(text, source="inline")
        assert tables["XUSDC"] == shipped_brackets()["BTCUSDT"]


# --------------------------------------------------------------------------- real data


def assert_continuous(table: BracketTable) -> None:
    """MM is continuous at each floor: both neighbours' formulas agree there exactly, and
    one atom below the floor MM is at most one atom smaller (the ceil of a tiny step)."""
    for prev, b in zip(table.brackets, table.brackets[1:]):
        f = b.floor_atoms
        at_floor = table.maint_margin_atoms(f)
        assert prev.maint_margin_atoms(f) == b.maint_margin_atoms(f) == at_floor
        below = table.maint_margin_atoms(f - 1)
        assert table.bracket_for(f - 1) == prev
        assert 0 <= at_floor - below <= 1
        # ... and in units, the jump is zero at the precision Binance quotes (1e-8 USDT)
        assert b.cum_atoms >= prev.cum_atoms


class TestShippedData:
    def test_symbols(self) -> None:
        """The shipped snapshot is the whole file: 349 symbols, 344 of them USDT/USDC perpetuals with a short alias."""
        tables = shipped_brackets()
        assert len(tables) == 349 and len(tables.aliases) == 344
        assert {"ADAUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT", "SUSHIUSDT", "BTCUSDC"} <= set(tables.aliases)
        assert "BTC/USDT:USDT-241227" in tables and "ETH/BTC:BTC" in tables

    def test_alias_and_unified_name_same_table(self) -> None:
        """Tables are reachable as 'BTCUSDT' and 'BTC/USDT:USDT' and are the same object."""
        tables = shipped_brackets()
        assert tables["BTCUSDT"] is tables["BTC/USDT:USDT"]
        assert "BTCUSDT" in tables and "BTC/USDT:USDT" in tables
        assert tables.get("ETHUSDT") is tables["ETH/USDT:USDT"]
        assert tables.canonical("ETHUSDT") == "ETH/USDT:USDT"
        assert "NOPE" not in tables and tables.get("NOPE") is None
        with pytest.raises(KeyError):
            tables["NOPE"]
        assert list(tables) == sorted(tables)  # file order, which is sorted

    def test_btc_table_values(self) -> None:
        """BTCUSDT's table matches the README: 12 brackets, tier 2 cum 50, tier 12 cum 421,481,450."""
        btc = shipped_brackets()["BTCUSDT"]
        assert len(btc) == 12
        assert btc.brackets[0] == Bracket(1, 0, 50_000 * U, 400_000, 0, 125)
        assert btc.brackets[1] == Bracket(2, 50_000 * U, 600_000 * U, 500_000, 50 * U, 100)
        assert btc.brackets[2].cum_atoms == 950 * U and btc.brackets[2].mmr_e8 == 650_000
        assert btc.brackets[-1] == Bracket(
            12, 1_200_000_000 * U, 1_800_000_000 * U, 50_000_000, 421_481_450 * U, 1
        )

    def test_binance_mm_examples(self) -> None:
        """MM of 1 BTC at 60,000 (bracket 2) is 250 USDT; of 100,000 USDT notional, 450 USDT."""
        btc = shipped_brackets()["BTCUSDT"]
        assert btc.maint_margin_atoms(60_000 * U) == 250 * U
        assert btc.maint_margin_atoms(100_000 * U) == 450 * U

    @pytest.mark.parametrize("symbol", sorted(shipped_json()))
    def test_continuity_at_every_boundary(self, symbol: str) -> None:
        """Maintenance margin is continuous at every bracket floor of every shipped symbol."""
        assert_continuous(shipped_brackets()[symbol])

    @given(
        symbol=st.sampled_from(sorted(shipped_json())),
        a=st.integers(0, 2 * 10**9 * U),
        b=st.integers(0, 2 * 10**9 * U),
    )
    def test_mm_monotone(self, symbol: str, a: int, b: int) -> None:
        """A larger notional never needs less maintenance margin (metamorphic)."""
        table = shipped_brackets()[symbol]
        lo, hi = sorted((a, b))
        assert table.maint_margin_atoms(lo) <= table.maint_margin_atoms(hi)

    @given(symbol=st.sampled_from(sorted(shipped_json())), n=st.integers(0, 2 * 10**9 * U))
    def test_mm_matches_exact_formula(self, symbol: str, n: int) -> None:
        """MM equals ceil(N*MMR - cum) computed with exact fractions, for any notional."""
        from fractions import Fraction

        table = shipped_brackets()[symbol]
        k = table.bracket_for(n)
        exact = Fraction(n * k.mmr_e8, 10**8) - k.cum_atoms
        assert table.maint_margin_atoms(n) == max(0, exact.__ceil__())
        assert k.floor_atoms <= n and (n < k.cap_atoms or k is table.brackets[-1])

    @needs_shared
    def test_verbatim_subset_of_shared_file(self) -> None:
        """The shipped snapshot is the shared one: every symbol's tiers identical."""
        shared = json.loads(SHARED_TIERS.read_text())
        assert sorted(shipped_json()) == sorted(shared)
        for symbol, tiers in shipped_json().items():
            assert tiers == shared[symbol], symbol


@pytest.fixture(scope="module")
def shared_tables() -> BracketTables:
    """The full shared bracket file, loaded once for the module."""
    return load_binance_brackets(SHARED_TIERS)


@needs_shared
class TestFullSharedFile:
    @pytest.fixture
    def tables(self, shared_tables: BracketTables) -> BracketTables:
        return shared_tables

    def test_all_symbols_validate(self, tables: BracketTables) -> None:
        """All 349 symbols (2,805 tiers) of the 2024-10-24 snapshot pass exact validation."""
        assert len(tables) == 349
        assert sum(len(t) for t in tables.values()) == 2805
        assert {len(t) for t in tables.values()} == set(range(5, 13))

    def test_aliases(self, tables: BracketTables) -> None:
        """The 318 USDT and 26 USDC perpetuals get short aliases; dated futures and ETH/BTC do not."""
        assert len(tables.aliases) == 344
        assert tables["BTCUSDC"] is tables["BTC/USDC:USDC"]
        assert "BTC/USDT:USDT-241227" in tables
        assert "ETHBTC" not in tables
        assert all(tables.canonical(a) == s for a, s in tables.aliases.items())

    def test_continuity_everywhere(self, tables: BracketTables) -> None:
        """Maintenance margin is continuous at all 2,456 bracket boundaries of the snapshot."""
        for table in tables.values():
            assert_continuous(table)

    def test_cum_needs_no_tolerance(self, tables: BracketTables) -> None:
        """Every cum equals its derivation exactly: the snapshot's cum values are not rounded."""
        for table in tables.values():
            floors = [b.floor_atoms for b in table]
            mmrs = [b.mmr_e8 for b in table]
            assert derive_cum_atoms(floors, mmrs) == tuple(b.cum_atoms for b in table)

    def test_int64_sentinel_cap(self, tables: BracketTables) -> None:
        """BTCST's last cap is Binance's int64-max sentinel, kept exactly (its float field is not)."""
        btcst = tables["BTCSTUSDT"]
        assert btcst.last_cap_atoms == to_atoms("9223372036854775807", field="cap")
        assert btcst.maint_margin_atoms(btcst.last_cap_atoms) > 0
