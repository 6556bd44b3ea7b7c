"""Instruments files: Binance exchangeInfo and leverageBracket dumps, exsim TOML; bad files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.instruments import get_instrument
from exsim.instruments.loader import MAX_FILE_BYTES, load_instruments_file, resolve_from_files

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
EXCHANGE_INFO = SHARED / "cryptofeed-samples" / "BINANCE_FUTURES.0"
TIERS = SHARED / "binance_leverage_tiers.json"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")


def exchange_info_body() -> dict[str, object]:
    line = EXCHANGE_INFO.read_text().splitlines()[0]
    return json.loads(line.partition(" -> ")[2].partition(": ")[2])


@needs_shared
class TestExchangeInfo:
    def test_cryptofeed_line_form(self) -> None:
        """The cryptofeed capture (<url> -> <ts>: <json>) is read as exchangeInfo, dated by its capture time."""
        f = load_instruments_file(EXCHANGE_INFO)
        assert f.kind == "exchangeInfo" and len(f.specs) == 122
        btc = f.specs["BTCUSDT"]
        assert (btc.tick_size, btc.lot_size, btc.min_notional, btc.liquidation_fee, btc.date) == ("0.01", "0.001", "5", "0.012000", "2021-07-22")
        assert btc.where == f"{EXCHANGE_INFO}:1"

    def test_json_body_form(self, tmp_path: Path) -> None:
        """A plain /fapi/v1/exchangeInfo JSON body is read too, dated by its serverTime."""
        path = tmp_path / "exchangeInfo.json"
        path.write_text(json.dumps(exchange_info_body(), indent=1))
        f = load_instruments_file(path)
        assert f.specs["SUSHIUSDT"].tick_size == "0.0010" and f.specs["SUSHIUSDT"].date == "2021-07-21"
        assert f.specs["SUSHIUSDT"].where.startswith(f"{path}:")

    def test_spec_becomes_an_instrument_with_shipped_brackets(self) -> None:
        """An exchangeInfo spec alone takes the shipped brackets and its own liquidationFee as clearance fee."""
        f = load_instruments_file(EXCHANGE_INFO)
        inst, text = resolve_from_files([f], "ETHUSDT")  # type: ignore[misc]
        assert inst.tick_size == Decimal("0.01") and inst.clearance_fee_e8 == 500_000
        assert inst.brackets == get_instrument("ETHUSDT").brackets
        assert "exchangeInfo of 2021-07-22" in text and "shipped 2024-10-24 brackets" in text

    def test_missing_filter_names_symbol_line_and_field(self, tmp_path: Path) -> None:
        """A symbol without a tickSize is one error naming the file, the symbol's line and the field."""
        body = exchange_info_body()
        btc = body["symbols"][0]  # type: ignore[index]
        del btc["filters"][0]["tickSize"]
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(body, indent=1))
        with pytest.raises(InputError) as e:
            load_instruments_file(path)
        assert e.value.field == "BTCUSDT.filters.PRICE_FILTER.tickSize"
        line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if '"BTCUSDT"' in text)
        assert e.value.where == f"{path}:{line}"


@needs_shared
class TestLeverageBrackets:
    def test_freqtrade_form_is_a_leverage_bracket_dump(self) -> None:
        """The shared bracket file (ccxt/freqtrade form of /fapi/v1/leverageBracket) gives tables by Binance name."""
        f = load_instruments_file(TIERS)
        assert f.kind == "leverageBracket" and len(f.brackets) == 349
        assert f.brackets["BTCUSDT"] == get_instrument("BTCUSDT").brackets

    def test_raw_api_form_with_json_numbers(self, tmp_path: Path) -> None:
        """The raw leverageBracket body, numbers as JSON numbers, is read exactly (no float on the way)."""
        tiers = json.loads(TIERS.read_text())["BTC/USDT:USDT"]
        raw = [{"symbol": "BTCUSDT", "brackets": [
            {k: (int(v) if k in ("bracket", "initialLeverage") else float(v) if "." in v else int(v)) for k, v in t["info"].items()}
            for t in tiers]}]
        path = tmp_path / "leverageBracket.json"
        path.write_text(json.dumps(raw))
        f = load_instruments_file(path)
        assert f.kind == "leverageBracket" and f.brackets["BTCUSDT"].brackets == get_instrument("BTCUSDT").brackets.brackets

    def test_brackets_alone_replace_the_shipped_ones(self, tmp_path: Path) -> None:
        """A bracket dump alone keeps the catalogue's spec and replaces its brackets."""
        tiers = json.loads(TIERS.read_text())
        path = tmp_path / "tiers.json"
        path.write_text(json.dumps({"BTC/USDT:USDT": tiers["ETH/USDT:USDT"]}))
        f = load_instruments_file(path)
        inst, text = resolve_from_files([f], "BTCUSDT", lambda: (get_instrument("BTCUSDT"), "catalogue"))  # type: ignore[misc]
        assert inst.brackets.brackets == get_instrument("ETHUSDT").brackets.brackets and inst.tick_size == Decimal("0.1")
        assert f"brackets from {path}" in text

    def test_inconsistent_cum_names_symbol_and_bracket(self, tmp_path: Path) -> None:
        """A bracket whose cum breaks continuity is one error naming the symbol's line and the bracket field."""
        tiers = json.loads(TIERS.read_text())
        btc = tiers["BTC/USDT:USDT"]
        btc[1]["info"]["cum"] = "51.0"
        path = tmp_path / "tiers.json"
        path.write_text(json.dumps({"BTC/USDT:USDT": btc}, indent=1))
        with pytest.raises(InputError) as e:
            load_instruments_file(path)
        assert e.value.where == f"{path}:2" and "cum" in e.value.field


class TestToml:
    def test_instruments_tables(self, tmp_path: Path) -> None:
        """exsim's [[instruments]] tables: a custom instrument and a catalogue one (with its venue clearance fee)."""
        path = tmp_path / "inst.toml"
        path.write_text(
            '[[instruments]]\nsymbol = "DEMOUSDT"\ntick_size = "0.001"\nlot_size = "0.001"\n'
            'brackets = [{cap = "1000000", mmr = "0.05", max_leverage = 10}]\nclearance_fee = "0.005"\n\n'
            '[[instruments]]\nsymbol = "BTCUSDT"\n'
        )
        f = load_instruments_file(path)
        assert f.kind == "toml" and f.instruments["DEMOUSDT"].clearance_fee_e8 == 500_000
        assert f.instruments["BTCUSDT"] == get_instrument("BTCUSDT")

    def test_toml_error_names_line_and_field_path(self, tmp_path: Path) -> None:
        """A bad TOML instrument is one error naming file:line and the field path."""
        path = tmp_path / "inst.toml"
        path.write_text('[[instruments]]\nsymbol = "DEMOUSDT"\ntick_size = "0"\nlot_size = "0.001"\n')
        with pytest.raises(InputError) as e:
            load_instruments_file(path)
        assert (e.value.where, e.value.field) == (f"{path}:3", "instruments[0].tick_size")


class TestBadFiles:
    def test_invalid_json_names_the_line(self, tmp_path: Path) -> None:
        """Broken JSON is an error at its line."""
        path = tmp_path / "x.json"
        path.write_text('{"symbols": [\n{"symbol": "BTCUSDT",\n}]}')
        with pytest.raises(InputError) as e:
            load_instruments_file(path)
        assert e.value.where == f"{path}:3" and e.value.field == "json"

    def test_too_big_is_refused_before_reading(self, tmp_path: Path) -> None:
        """A file over the size bound is refused from its size alone (a sparse file: nothing is read)."""
        path = tmp_path / "huge.json"
        with path.open("wb") as fh:
            fh.truncate(MAX_FILE_BYTES + 1)
        with pytest.raises(InputError, match="more than an instruments file may hold"):
            load_instruments_file(path)

    def test_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are an error at their line."""
        path = tmp_path / "x.json"
        path.write_bytes(b'{"symbols": []}\n\xff\n')
        with pytest.raises(InputError) as e:
            load_instruments_file(path)
        assert e.value.where == f"{path}:2"

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that does not exist is one line naming it."""
        with pytest.raises(InputError, match="cannot read"):
            load_instruments_file(tmp_path / "nope.json")

    def test_body_without_usdm_symbols(self, tmp_path: Path) -> None:
        """An exchangeInfo body with no linear symbol (a COIN-M dump) says so."""
        path = tmp_path / "dapi.json"
        path.write_text(json.dumps({"symbols": [{"symbol": "BTCUSD_PERP", "contractSize": 100, "filters": []}]}))
        with pytest.raises(InputError, match="no USDⓈ-M symbol"):
            load_instruments_file(path)
