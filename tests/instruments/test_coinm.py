"""Shipped Binance COIN-M (inverse) instruments: specs from the real dapi exchangeInfo capture,
BTCUSD_PERP / ETHUSD_PERP brackets in coin, lookups by Binance and ccxt names."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from exsim.errors import InputError, SpecError
from exsim.instruments import get_instrument, list_symbols
from exsim.instruments.brackets import Bracket, parse_binance_coinm_brackets, validate_brackets
from exsim.instruments.catalogue import coinm_catalogue
from exsim.instruments.registry import catalogue_entry, shipped_coinm_brackets

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
DELIVERY = SHARED / "cryptofeed-samples" / "BINANCE_DELIVERY.0"
needs_shared = pytest.mark.skipif(not DELIVERY.exists(), reason="needs ../shared/data (the team's shared folder)")
U = 10**8  # atoms per coin


def _capture_symbols() -> dict[str, dict]:
    """The real GET /dapi/v1/exchangeInfo body of the cryptofeed capture, by symbol."""
    first = DELIVERY.read_text(encoding="utf-8").splitlines()[0]
    body = first.split(" -> ", 1)[1].split(": ", 1)[1]
    return {s["symbol"]: s for s in json.loads(body, parse_float=str)["symbols"]}


class TestInstruments:
    @pytest.mark.parametrize("name", ["BTCUSD_PERP", "btcusd_perp", "BTC/USD:BTC", " btc/usd:btc "])
    def test_btcusd_perp_by_every_spelling(self, name: str) -> None:
        """BTCUSD_PERP is reachable by its Binance and ccxt names, any case, and cached."""
        assert get_instrument(name) is get_instrument("BTCUSD_PERP")

    def test_btcusd_perp_is_inverse_with_the_captured_spec(self) -> None:
        """BTCUSD_PERP: inverse, 100 USD a contract, BTC margin, tick 0.1, one-contract lots, 0.6 % clearance fee."""
        btc = get_instrument("BTCUSD_PERP")
        assert (btc.symbol, btc.base, btc.quote, btc.margin_asset) == ("BTCUSD_PERP", "BTC", "USD", "BTC")
        assert btc.inverse and btc.contract_size == Decimal(100)
        assert (btc.tick_size, btc.lot_size, btc.min_qty_lots, btc.max_qty_lots) == (
            Decimal("0.1"), Decimal(1), 1, 1_000_000
        )
        assert btc.clearance_fee_e8 == 600_000
        # one contract at 25,000.0 (250,000 ticks) is worth 100/25,000 = 0.004 BTC exactly
        assert btc.fill_value_atoms(250_000, 1) == 400_000

    def test_ethusd_perp_has_ten_dollar_contracts(self) -> None:
        """ETHUSD_PERP: 10 USD a contract, ETH margin, tick 0.01."""
        eth = get_instrument("ETH/USD:ETH")
        assert (eth.symbol, eth.margin_asset, eth.contract_size, eth.tick_size) == (
            "ETHUSD_PERP", "ETH", Decimal(10), Decimal("0.01")
        )

    def test_coin_m_listing_is_separate(self) -> None:
        """list_symbols() stays USDⓈ-M; 'coinm' lists the two COIN-M perpetuals with brackets; 'all' both."""
        assert list_symbols("coinm") == ["BTCUSD_PERP", "ETHUSD_PERP"]
        assert not any(s.endswith("_PERP") for s in list_symbols())
        assert list_symbols("all") == sorted(list_symbols() + list_symbols("coinm"))
        with pytest.raises(InputError, match="usdm, coinm, all"):
            list_symbols("spot")

    def test_alt_without_published_brackets_is_a_clear_error(self) -> None:
        """A COIN-M symbol whose bracket table was never published has a spec but no instrument."""
        entry = catalogue_entry("ADA/USD:ADA")
        assert entry.symbol == "ADAUSD_PERP" and entry.inverse and entry.specs
        with pytest.raises(InputError, match="ADAUSD_PERP: no leverage brackets are shipped") as info:
            get_instrument("ADAUSD_PERP")
        assert info.value.field == "symbol"

    def test_quarterly_has_dated_ccxt_name(self) -> None:
        """A COIN-M quarterly's ccxt name carries its delivery date (YYMMDD)."""
        assert catalogue_entry("BTC/USD:BTC-211231").symbol == "BTCUSD_211231"

    def test_unknown_symbol_mentions_coin_m(self) -> None:
        """An unknown symbol's error still counts the USDⓈ-M symbols and says where COIN-M ones are listed."""
        with pytest.raises(InputError, match=r"370 Binance USDⓈ-M symbols shipped: .*list_symbols\('coinm'\)"):
            get_instrument("ZZZUSD_PERPX")


class TestBrackets:
    def test_level_five_maintenance_amount(self) -> None:
        """Binance's worked figure: the BTCUSD level-5 maintenance amount is 50 BTC x (5 % - 2.5 %) + 0.56 BTC = 1.81 BTC."""
        b = get_instrument("BTCUSD_PERP").brackets.brackets
        assert (b[3].mmr_e8, b[3].cum_atoms) == (2_500_000, 56 * U // 100)
        assert (b[4].floor_atoms, b[4].mmr_e8) == (50 * U, 5_000_000)
        assert b[4].cum_atoms == 50 * U * (5_000_000 - 2_500_000) // 10**8 + b[3].cum_atoms == 181 * U // 100

    def test_three_hundred_btc(self) -> None:
        """Binance's worked figure: a 300 BTC BTCUSD position has MMR 12.5 % and maintenance amount 11.81 BTC."""
        table = get_instrument("BTCUSD_PERP").brackets
        b = table.bracket_for(300 * U)
        assert (b.bracket, b.mmr_e8, b.cum_atoms) == (7, 12_500_000, 1181 * U // 100)
        assert table.maint_margin_atoms(300 * U) == 300 * U // 8 - 1181 * U // 100  # 25.69 BTC

    def test_hundred_contracts_at_25000_is_level_one(self) -> None:
        """100 BTCUSD contracts at 25,000: notional 0.4 BTC in level 1, maintenance margin 0.0016 BTC."""
        btc = get_instrument("BTCUSD_PERP")
        notional = btc.notional_atoms(250_000, 100)
        assert notional == 40_000_000
        assert btc.brackets.bracket_for(notional).bracket == 1
        assert btc.brackets.maint_margin_atoms(notional) == 160_000

    @pytest.mark.parametrize("symbol", ["BTCUSD_PERP", "ETHUSD_PERP"])
    def test_tables_pass_the_usdm_invariants_in_coin_atoms(self, symbol: str) -> None:
        """Each shipped COIN-M table is contiguous from 0, MMR non-decreasing, leverage non-increasing, cum exact."""
        table = shipped_coinm_brackets()[symbol]
        validate_brackets(table.brackets, symbol=symbol)
        assert table.brackets[0].floor_atoms == 0 and len(table) == 9
        assert get_instrument(symbol).brackets == table

    def test_parser_names_the_broken_field(self) -> None:
        """A cum that breaks continuity is a SpecError naming source, symbol, bracket and the dapi field."""
        text = json.dumps([{"symbol": "BTCUSD_PERP", "brackets": [
            {"bracket": 1, "initialLeverage": 125, "qtyCap": 10, "qtyFloor": 0, "maintMarginRatio": "0.004", "cum": 0},
            {"bracket": 2, "initialLeverage": 100, "qtyCap": 20, "qtyFloor": 10, "maintMarginRatio": "0.005", "cum": "0.02"},
        ]}])
        with pytest.raises(SpecError, match=r"f\.json: BTCUSD_PERP bracket 2.*field 'cum'|field 'cum'.*f\.json: BTCUSD_PERP bracket 2"):
            parse_binance_coinm_brackets(text, source="f.json")

    def test_parser_reads_numbers_exactly(self) -> None:
        """JSON numbers (as the API sends them) become exact atoms and e8 rates, never floats."""
        text = '[{"pair": "ETHUSD", "brackets": [{"bracket": 1, "initialLeverage": 75, "qtyCap": 100, "qtyFloor": 0, "maintMarginRatio": 0.0065, "cum": 0.0}]}]'
        table = parse_binance_coinm_brackets(text)["ETHUSD"]
        assert table.brackets == (Bracket(1, 0, 100 * U, 650_000, 0, 75),)

    @pytest.mark.parametrize(
        ("text", "field"),
        [
            ('{"symbol": "X"}', None),
            ('[{"brackets": []}]', "symbol"),
            ('[{"symbol": "X", "brackets": []}]', "brackets"),
            ('[{"symbol": "X", "brackets": [{"bracket": 1}]}]', "qtyFloor"),
            ('[{"symbol": "X", "brackets": [{"bracket": 1, "initialLeverage": 5, "qtyCap": 1, "qtyFloor": 0, "maintMarginRatio": true, "cum": 0}]}]', "maintMarginRatio"),
        ],
    )
    def test_parser_rejects_malformed_files(self, text: str, field: str | None) -> None:
        """Malformed bracket files are SpecErrors naming the field, never half-read."""
        with pytest.raises(SpecError) as info:
            parse_binance_coinm_brackets(text, source="f.json")
        if field is not None:
            assert info.value.field == field


class TestProvenance:
    @needs_shared
    def test_every_spec_matches_the_real_capture(self) -> None:
        """All 36 symbols' contract size, margin asset, tick, lot, limits and liquidation fee are the dump's own."""
        captured = _capture_symbols()
        cat = coinm_catalogue()
        assert sorted(cat) == sorted(captured) and len(cat) == 36
        for name, s in captured.items():
            e, f = cat[name], {x["filterType"]: x for x in s["filters"]}
            v = e.spec_at(None)
            assert v is not None and v.date == "2021-07-22"
            assert (e.contract_size, e.margin_asset, e.base, e.quote) == (
                str(s["contractSize"]), s["marginAsset"], s["baseAsset"], s["quoteAsset"]
            )
            assert (v.tick_size, v.lot_size, v.min_qty, v.max_qty, v.liquidation_fee) == (
                f["PRICE_FILTER"]["tickSize"], f["LOT_SIZE"]["stepSize"], f["LOT_SIZE"]["minQty"],
                f["LOT_SIZE"]["maxQty"], s["liquidationFee"],
            )

    @needs_shared
    def test_rebuilding_gives_the_shipped_files(self) -> None:
        """tools/build_coinm_data.py rebuilds both shipped COIN-M files byte for byte."""
        r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_coinm_data.py"), "--check"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr

    def test_provenance_names_the_sources(self) -> None:
        """PROVENANCE.md names the capture's repository and commit and the Binance pages the brackets come from."""
        text = resources.files("exsim.instruments").joinpath("data", "PROVENANCE.md").read_text()
        src = coinm_catalogue().sources["cryptofeed-dapi-2021-07-22"]
        assert src["repository"] in text and src["commit"] in text
        for page in ("be2c7d9d95b04a7e8044ed02dd7dfe5c", "9c6a1766be424fccacd2549db3d61a3f", "ceccfcfb4e3a45e3b48b0b1bb1a8ae46"):
            assert page in text
