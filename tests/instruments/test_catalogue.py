"""The shipped instrument catalogue: every bracket symbol, dated specs, provenance."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.instruments import get_instrument, list_symbols, shipped_brackets
from exsim.instruments.catalogue import catalogue, ns_of_date
from exsim.instruments.registry import build_instrument

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")
U = 10**8


def _bracket_names() -> set[str]:
    cat = catalogue()
    return {e.symbol for e in cat.values() if e.legacy_brackets is None}


class TestCompleteness:
    def test_every_bracket_symbol_is_catalogued(self) -> None:
        """All 349 symbols of the shipped bracket snapshot are in the catalogue, under their ccxt names too."""
        tables = shipped_brackets()
        assert len(tables) == 349
        cat = catalogue()
        for ccxt in tables:
            assert cat[ccxt].ccxt == ccxt
        assert len(_bracket_names()) == 349

    def test_every_spec_names_a_dated_source(self) -> None:
        """Each spec version has a date and a source whose repository, path, commit and capture time are recorded."""
        cat = catalogue()
        for entry in cat.values():
            for v in entry.specs:
                src = cat.sources[v.source]
                assert v.date == src["captured_utc"][:10] and v.from_ns == src["captured_ns"]
                assert src["repository"].startswith("https://github.com/") and src["path"] and len(src["commit"]) == 40
        assert "VIP 0" in cat.fee_source

    def test_specs_known_for_all_but_five_bracket_symbols(self) -> None:
        """344 of the 349 bracket symbols have a tick and lot size; the rest are brackets only."""
        no_spec = sorted(e.symbol for e in catalogue().values() if not e.specs)
        assert no_spec == ["BTCSTUSDT", "BTCUSDT_241227", "ETHUSDT_241227", "FTTUSDT", "RAYUSDT"]
        assert len(list_symbols()) == len(catalogue()) - 5

    def test_every_spec_builds_an_exact_instrument(self) -> None:
        """Every dated spec of every symbol is a valid instrument: tick x lot a whole number of atoms, limits on the grid."""
        for name, entry in catalogue().items():
            for v in entry.specs:
                inst = build_instrument(name, v)
                assert inst.atoms_per_tick_lot >= 1
                assert inst.tick_size == Decimal(v.tick_size) and inst.lot_size == Decimal(v.lot_size)
                assert inst.clearance_fee_e8 == int(Decimal(v.liquidation_fee) * U)

    @needs_shared
    def test_rebuilding_from_the_dumps_gives_the_shipped_file(self) -> None:
        """tools/build_catalogue.py rebuilds the shipped catalogue byte for byte from the dumps."""
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_catalogue.py"), "--check"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr

    def test_provenance_names_every_source(self) -> None:
        """PROVENANCE.md names the repository and commit of every catalogue source."""
        text = resources.files("exsim.instruments").joinpath("data", "PROVENANCE.md").read_text()
        for src in catalogue().sources.values():
            assert src["repository"] in text and src["commit"] in text


class TestDatedSpecs:
    def test_btcusdt_tick_before_and_after_the_switch(self) -> None:
        """BTCUSDT: tick 0.01 in 2020 and January 2022 (evidenced 2021-07-22), 0.1 from the 2022-02-19 dump on."""
        tick = {d: get_instrument("BTCUSDT", ns_of_date(d)).tick_size for d in ("2020-09-01", "2022-01-21", "2022-02-20", "2024-08-08")}
        assert tick == {"2020-09-01": Decimal("0.01"), "2022-01-21": Decimal("0.01"),
                        "2022-02-20": Decimal("0.1"), "2024-08-08": Decimal("0.1")}

    def test_no_date_is_the_latest_spec(self) -> None:
        """get_instrument(symbol) without a date is the latest spec: BTCUSDT tick 0.1, min notional 100."""
        btc = get_instrument("BTCUSDT")
        assert (btc.tick_size, btc.lot_size, btc.min_notional_atoms) == (Decimal("0.1"), Decimal("0.001"), 100 * U)
        assert btc is get_instrument("BTCUSDT", None) is get_instrument("btc/usdt:usdt")

    def test_clearance_fee_is_the_venue_liquidation_fee(self) -> None:
        """The clearance fee is exchangeInfo's liquidationFee of the spec in force: BTCUSDT 1.2 % in 2021, 2 % in 2025."""
        assert get_instrument("BTCUSDT", ns_of_date("2021-08-01")).clearance_fee_e8 == 1_200_000
        assert get_instrument("BTCUSDT").clearance_fee_e8 == 2_000_000

    def test_a_spec_applies_from_its_capture_time(self) -> None:
        """The 2022-02-19 dump applies from its capture instant, not from the start of its day."""
        entry = catalogue()["BTCUSDT"]
        v = entry.specs[1]
        assert entry.spec_at(v.from_ns - 1) is entry.specs[0] and entry.spec_at(v.from_ns) is v

    def test_symbols_delisted_before_the_brackets_keep_their_2021_spec(self) -> None:
        """AKROUSDT (not in the 2024 bracket snapshot) has its 2021 spec and one bracket from exchangeInfo's margin fields."""
        akro = get_instrument("AKROUSDT")
        assert akro.tick_size == Decimal("0.00001") and akro.clearance_fee_e8 == 750_000
        assert len(akro.brackets) == 1 and akro.brackets.brackets[0].mmr_e8 == 2_500_000
        assert akro.brackets.brackets[0].max_leverage == 20


class TestLookupErrors:
    def test_unknown_symbol_suggests_catalogue_names(self) -> None:
        """An unknown symbol is an InputError that suggests close catalogue names."""
        with pytest.raises(InputError, match="did you mean SUSHIUSDT") as info:
            get_instrument("SUSHIUSTD")
        assert info.value.field == "symbol" and "--instruments FILE" in str(info.value)

    def test_brackets_only_symbol_says_what_to_pass(self) -> None:
        """A symbol with brackets but no known sizes says so and asks for --tick-size/--lot-size or --instruments."""
        with pytest.raises(InputError, match="brackets but no tick or lot size; pass --tick-size and --lot-size"):
            get_instrument("FTTUSDT")

    def test_catalogue_lists_the_cryptofeed_symbols(self) -> None:
        """The four symbols of the cryptofeed capture are shipped instruments now."""
        assert {"SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"} <= set(list_symbols())


def test_shipped_catalogue_is_json_with_sorted_specs() -> None:
    """Each symbol's spec versions are listed oldest first in the shipped file."""
    data = json.loads(resources.files("exsim.instruments").joinpath("data", "catalogue.json").read_text())
    for name, e in data["symbols"].items():
        dates = [v["from"] for v in e["specs"]]
        assert dates == sorted(dates), name
