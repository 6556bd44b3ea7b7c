"""Specification of COIN-M public-data files: Binance ``futures/cm`` CSVs and Tardis ``binance-delivery``.

The files under ``coin_m_files/`` are constructed by hand from the documented layouts (see
its README): Binance's COIN-M files share the USDⓈ-M layouts but for ``trades`` (``base_qty``
instead of ``quote_qty``); quantities are contracts. A COIN-M file is told by its trades
header, else by its symbol; a quantity that is not whole contracts is an
:class:`~exsim.errors.OffGridError` naming the row and field; a file of one market under a
symbol of the other is one line naming the line that shows it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError, OffGridError
from exsim.readers import detect_format, open_rows
from exsim.readers.markets import COINM, USDM, market_of
from exsim.readers.rows import FUNDING, INDEX, LEVEL, MARK, QUOTE, TRADE
from exsim.replay import Replay
from exsim_examples.passive import Passive

from .checks import assert_names_place, one_line_error
from .coin_m import coin_config, inverse

FILES = Path(__file__).parent / "coin_m_files"
CM = FILES / "futures" / "cm" / "daily"
TRADES = CM / "trades" / "BTCUSD_PERP" / "BTCUSD_PERP-trades-2024-08-09.csv"
AGG = CM / "aggTrades" / "BTCUSD_PERP" / "BTCUSD_PERP-aggTrades-2024-08-09.csv"
TICKER = CM / "bookTicker" / "BTCUSD_PERP" / "BTCUSD_PERP-bookTicker-2024-08-09.csv"
KLINES = CM / "klines" / "BTCUSD_PERP" / "1m" / "BTCUSD_PERP-1m-2024-08-09.csv"
MARKS = CM / "markPriceKlines" / "BTCUSD_PERP" / "1m" / "BTCUSD_PERP-1m-2024-08-09.csv"
INDEXES = CM / "indexPriceKlines" / "BTCUSD" / "1m" / "BTCUSD-1m-2024-08-09.csv"
FUNDING_FILE = FILES / "futures" / "cm" / "monthly" / "fundingRate" / "BTCUSD_PERP" / "BTCUSD_PERP-fundingRate-2024-08.csv"
TARDIS = FILES / "tardis"
T_TRADES = TARDIS / "binance-delivery_trades_2024-08-09_BTCUSD_PERP.csv"
T_BOOK = TARDIS / "binance-delivery_incremental_book_L2_2024-08-09_BTCUSD_PERP.csv"
T_QUOTES = TARDIS / "binance-delivery_quotes_2024-08-09_BTCUSD_PERP.csv"
T_TICKER = TARDIS / "binance-delivery_derivative_ticker_2024-08-09_BTCUSD_PERP.csv"


def copy_with(tmp_path: Path, source: Path, replace: tuple[str, str], count: int = 1) -> Path:
    """``source`` copied into ``tmp_path`` with the first ``count`` occurrences of a text replaced (-1: all)."""
    text = source.read_text()
    assert replace[0] in text
    path = tmp_path / source.name
    path.write_text(text.replace(replace[0], replace[1], count))
    return path


class TestBinanceCoinMFiles:
    @pytest.mark.parametrize(
        ("path", "fmt"),
        [
            (TRADES, "binance-trades"),
            (AGG, "binance-aggTrades"),
            (TICKER, "binance-bookTicker"),
            (KLINES, "binance-klines"),
            (MARKS, "binance-markPriceKlines"),
            (INDEXES, "binance-indexPriceKlines"),
            (FUNDING_FILE, "binance-fundingRate"),
        ],
        ids=lambda v: v.parts[-4] if isinstance(v, Path) else v,
    )
    def test_each_kind_is_detected_by_header_and_folder(self, path: Path, fmt: str) -> None:
        """Every COIN-M file kind is detected as the Binance format of its kind."""
        assert detect_format(path) == fmt

    def test_trades_header_with_base_qty_is_coin_m_evidence(self) -> None:
        """The COIN-M trades header itself says the market, on line 1."""
        assert market_of(TRADES, "binance-trades") == (COINM, "line 1: the COIN-M trades header (quantity in contracts, base_qty in coin)")

    @pytest.mark.parametrize("path", [AGG, TICKER, KLINES, MARKS, FUNDING_FILE], ids=lambda p: p.parts[-3])
    def test_other_kinds_are_coin_m_by_the_symbol_of_their_name(self, path: Path) -> None:
        """Files with USDⓈ-M-like headers are COIN-M by their file name's symbol."""
        market, evidence = market_of(path, detect_format(path))
        assert market == COINM and evidence.endswith("symbol BTCUSD_PERP")

    def test_trade_quantities_are_contracts_as_written(self) -> None:
        """Trades keep qty in contracts as the file wrote it ('83.0' too); base_qty is not read."""
        rows = list(open_rows(TRADES)[1])
        assert [(r.symbol, r.side, r.price, r.qty) for r in rows[:2]] == [("BTCUSD_PERP", BUY, "61650.0", "5"), ("BTCUSD_PERP", SELL, "61650.1", "12")]
        assert rows[-1].qty == "83.0" and rows[0].ts_ns == 1723161600123 * 10**6

    def test_agg_trades_and_book_ticker_sizes_are_contracts(self) -> None:
        """aggTrades give one trade per aggregate; bookTicker a bid then an ask, sizes in contracts."""
        agg = list(open_rows(AGG)[1])
        assert len(agg) == 5 and {r.kind for r in agg} == {TRADE} and agg[2].qty == "1"
        quotes = list(open_rows(TICKER)[1])
        assert [(r.kind, r.side, r.price, r.qty) for r in quotes[:2]] == [(QUOTE, BUY, "61649.9", "1243"), (QUOTE, SELL, "61650.0", "871")]

    def test_mark_klines_and_funding_rows(self) -> None:
        """Mark klines become mark paths and the funding file funding rows, for BTCUSD_PERP."""
        marks = list(open_rows(MARKS)[1])
        assert len(marks) == 12 and {(r.kind, r.symbol) for r in marks} == {(MARK, "BTCUSD_PERP")}
        funding = list(open_rows(FUNDING_FILE)[1])
        assert [(r.kind, r.rate) for r in funding][-1] == (FUNDING, "0.00010000")

    def test_index_klines_named_by_the_pair_need_the_contract(self) -> None:
        """A futures/cm index file is named by its pair (BTCUSD): without a symbol it says to pass the contract."""
        with pytest.raises(InputError) as info:
            list(open_rows(INDEXES)[1])
        assert info.value.field == "symbol" and "--symbol BTCUSD_PERP" in info.value.message

    def test_index_klines_with_the_contract_symbol(self) -> None:
        """Given the contract, the pair-named index file gives its index rows."""
        rows = list(open_rows(INDEXES, symbol="BTCUSD_PERP")[1])
        assert len(rows) == 12 and {(r.kind, r.symbol) for r in rows} == {(INDEX, "BTCUSD_PERP")} and rows[0].price == "61640.12"


class TestBinanceCoinMBadInput:
    def test_fractional_contracts_in_trades_are_off_grid(self, tmp_path: Path) -> None:
        """qty 2.5 in a COIN-M trades file: OffGridError naming file, line and the qty field."""
        path = copy_with(tmp_path, TRADES, (",12,", ",2.5,"))
        with pytest.raises(OffGridError) as info:
            list(open_rows(path)[1])
        assert_names_place(info.value, path, 3, "qty", "'2.5' is not a whole number of contracts")

    def test_fractional_contracts_in_agg_trades_are_off_grid(self, tmp_path: Path) -> None:
        """A COIN-M aggTrades file (by its symbol) refuses 0.5 contracts, naming the quantity field."""
        path = copy_with(tmp_path, AGG, (",61649.9,1,", ",61649.9,0.5,"))
        with pytest.raises(OffGridError) as info:
            list(open_rows(path)[1])
        assert_names_place(info.value, path, 4, "quantity", "'0.5' is not a whole number of contracts")

    def test_fractional_contracts_in_book_ticker_are_off_grid(self, tmp_path: Path) -> None:
        """A COIN-M bookTicker with a best ask of 871.5 contracts names that field."""
        path = copy_with(tmp_path, TICKER, (",871,", ",871.5,"))
        with pytest.raises(OffGridError) as info:
            list(open_rows(path)[1])
        assert_names_place(info.value, path, 2, "best_ask_qty", "'871.5' is not a whole number of contracts")

    def test_coin_m_trades_under_a_usdm_symbol_names_the_header(self) -> None:
        """A COIN-M trades file read as BTCUSDT: the header line and the symbol field."""
        with pytest.raises(InputError) as info:
            list(open_rows(TRADES, symbol="BTCUSDT")[1])
        assert_names_place(info.value, TRADES, 1, "symbol", "--symbol BTCUSDT is a USDⓈ-M symbol")

    def test_usdm_trades_under_a_coin_m_name_names_the_header(self, tmp_path: Path) -> None:
        """A USDⓈ-M trades header in a file named BTCUSD_PERP: the header line and the symbol field."""
        path = copy_with(tmp_path, TRADES, ("base_qty", "quote_qty"))
        with pytest.raises(InputError) as info:
            list(open_rows(path)[1])
        assert_names_place(info.value, path, 1, "symbol", "the symbol of its file name BTCUSD_PERP is a COIN-M symbol")

    def test_cli_coin_m_trades_under_a_usdm_symbol(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Through the CLI: one line naming the file's line 1 and the symbol field, no traceback."""
        line = one_line_error(["replay", str(TRADES), "--symbol", "BTCUSDT", "--no-progress"], capsys)
        assert line.startswith(f"exsim: error: {TRADES}:1: field 'symbol': the file holds COIN-M (coin-margined) contracts (line 1: the COIN-M trades header")

    def test_cli_usdm_name_symbol_on_a_coin_m_symbol(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A USDⓈ-M aggTrades file (by its name) replayed as BTCUSD_PERP: one line naming its first row."""
        path = tmp_path / "BTCUSDT-aggTrades-2024-08-09.csv"
        shutil.copy(AGG, path)
        line = one_line_error(["replay", str(path), "--symbol", "BTCUSD_PERP", "--no-progress"], capsys)
        assert f"{path}:2: field 'symbol': the file holds USDⓈ-M contracts (line 2: symbol BTCUSDT)" in line


class TestReplayBinanceCoinM:
    def test_trades_with_mark_and_index_replay_as_an_inverse_instrument(self, tmp_path: Path) -> None:
        """COIN-M trades, mark and index klines replay together for BTCUSD_PERP: marks replayed, no bad row."""
        summary = Replay(
            [TRADES, MARKS, INDEXES],
            Passive(),
            coin_config("BTCUSD_PERP"),
            instruments={"BTCUSD_PERP": inverse()},
            out_dir=tmp_path,
        ).run()
        assert summary["symbols"] == ["BTCUSD_PERP"] and summary["bad_rows"] == 0
        assert summary["rows_by_kind"]["trade"] == 5 and summary["rows_by_kind"]["mark"] > 0
        assert summary["market_model"]["mark"].startswith("replayed")


class TestTardisBinanceDelivery:
    @pytest.mark.parametrize("path", [T_TRADES, T_BOOK, T_QUOTES, T_TICKER], ids=lambda p: p.name.split("_2024")[0])
    def test_exchange_column_is_coin_m_evidence(self, path: Path) -> None:
        """Every binance-delivery file is COIN-M by its exchange column, on line 2."""
        assert market_of(path, detect_format(path)) == (COINM, "line 2: exchange 'binance-delivery' (Tardis's Binance COIN-M)")

    def test_book_and_trades_replay_with_contract_sizes(self, tmp_path: Path) -> None:
        """Tardis L2 book, quotes, trades and ticker of BTCUSD_PERP replay together as an inverse instrument."""
        summary = Replay(
            [T_BOOK, T_QUOTES, T_TRADES, T_TICKER], Passive(), coin_config("BTCUSD_PERP"), instruments={"BTCUSD_PERP": inverse()}, out_dir=tmp_path
        ).run()
        kinds = summary["rows_by_kind"]
        assert (kinds["level"], kinds["trade"], kinds["quote"]) == (7, 3, 6) and kinds["mark"] == 2
        assert summary["bad_rows"] == 0 and summary["depth_gaps"] == 0

    def test_book_rows_are_contracts_as_written(self) -> None:
        """The L2 snapshot's sizes are whole contracts, kept as the file wrote them."""
        rows = [r for r in open_rows(T_BOOK)[1] if r.kind == LEVEL]
        assert [(r.side, r.price, r.qty) for r in rows[:2]] == [(SELL, "61650.1", "655"), (SELL, "61650.5", "120")]

    def test_delivery_file_under_a_usdm_symbol(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A binance-delivery file replayed as BTCUSDT: one line naming line 2 and the symbol field."""
        line = one_line_error(["replay", str(T_TRADES), "--symbol", "BTCUSDT", "--no-progress"], capsys)
        assert line.startswith(f"exsim: error: {T_TRADES}:2: field 'symbol': the file holds COIN-M (coin-margined) contracts (line 2: exchange 'binance-delivery'")

    def test_fractional_contracts_in_tardis_trades_are_off_grid(self, tmp_path: Path) -> None:
        """A binance-delivery trade of 1.5 contracts stops the replay with an OffGridError on its row's amount."""
        path = copy_with(tmp_path, T_TRADES, (",61649.9,1", ",61649.9,1.5"))
        with pytest.raises(OffGridError) as info:
            Replay([path], Passive(), coin_config("BTCUSD_PERP"), instruments={"BTCUSD_PERP": inverse()}, out_dir=tmp_path / "run").run()
        assert (info.value.where, info.value.field) == (f"{path}:4", "qty") and "whole number of contracts" in info.value.message

    def test_usdm_default_is_kept_for_binance_futures(self, tmp_path: Path) -> None:
        """A binance-futures file with BTCUSDT rows is USDⓈ-M, by its first row's symbol."""
        path = copy_with(tmp_path, T_TRADES, ("binance-delivery,BTCUSD_PERP", "binance-futures,BTCUSDT"), -1)
        assert market_of(path, "tardis-trades")[0] == USDM
