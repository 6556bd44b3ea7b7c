"""Specification of the COIN-M WebSocket captures: the same readers, the same U/u/pu rules.

The shipped COIN-M capture (hftbacktest's ``cm_btcusd_perp_20240808.gz`` and its
continuation ``..._20240809.gz`` across midnight) and cryptofeed's BINANCE_DELIVERY sample
are read by :mod:`exsim.readers.binance_ws` exactly as the USDⓈ-M ones; quantities are
contracts (100 USD each for BTCUSD_PERP, 10 USD for the alts). The book rebuilt from the
snapshot and the diffs is checked, as in ``test_binance_ws.py``, against every bookTicker
whose update id ends a diff (measured here, price and size):

================================== ================= =====================
capture                            id-aligned exact  raw price match
================================== ================= =====================
cm_btcusd_perp_20240808            2248/2248 = 1.0   32765/38252 = 0.857
cm 20240808 + 20240809 (one read)  3770/3770 = 1.0   79600/96690 = 0.823
BINANCE_DELIVERY, 10 symbols       every aligned one (see the test)
================================== ================= =====================

Replayed by exsim (the exchange's book, the run summary's ``quote_check``), the two parts
give 3,770 aligned quotes, 99.71 % matching in price and 98.89 % in price and size (the
USDⓈ-M capture: 99.28 %); 0808 alone 2,248 quotes, 99.78 % / 98.98 %.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from exsim.errors import InputError, OffGridError
from exsim.instruments import Instrument
from exsim.readers.binance_ws import link_parts, read_cryptofeed, read_hftbacktest
from exsim.readers.rows import CLEAR, LEVEL, QUOTE, TRADE
from exsim.replay import Replay, ReplayConfig
from exsim_examples.passive import Passive

from .coin_m import coin_config, inverse
from .test_binance_ws import DecimalBook, ExsimBook, hft_line, replay_and_compare

DATA = Path(__file__).parents[3] / "shared" / "data"
HFT = DATA / "hftbacktest-binance-20240808"
CF = DATA / "cryptofeed-samples"
CM_0808 = HFT / "cm_btcusd_perp_20240808.gz"
CM_0809 = HFT / "cm_btcusd_perp_20240809.gz"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} is absent")

def exsim_compare(reader: Any, inst: Instrument) -> dict[str, Any]:
    ticks, lots = lru_cache(maxsize=None)(inst.ticks), lru_cache(maxsize=None)(inst.lots)  # prices repeat
    return replay_and_compare(reader, ExsimBook(), ticks, lots)


@pytest.fixture(scope="module")
def cm_0808() -> tuple[dict[str, Any], Any]:
    """One pass over the 0808 part: its book-vs-bookTicker counters and the reader."""
    if not DATA.is_dir():
        pytest.skip(f"shared data folder {DATA} is absent")
    reader = read_hftbacktest(CM_0808)
    return exsim_compare(reader, inverse()), reader


@pytest.fixture(scope="module")
def cm_both() -> tuple[dict[str, Any], Any]:
    """One pass over both parts read as one capture."""
    if not DATA.is_dir():
        pytest.skip(f"shared data folder {DATA} is absent")
    reader = read_hftbacktest([CM_0808, CM_0809])
    return exsim_compare(reader, inverse()), reader


@needs_data
class TestHftbacktestCoinM:
    def test_rebuilt_book_matches_every_id_aligned_book_ticker(self, cm_0808: tuple[dict[str, Any], Any]) -> None:
        """Snapshot + diffs in contracts rebuild a book whose top equals every bookTicker with the same update id."""
        c, _ = cm_0808
        assert c["exact_n"] == 2248 and c["exact_both"] == c["exact_px"] == c["exact_n"]  # measured 2248/2248
        assert c["raw_px"] / c["raw_n"] > 0.8  # measured 0.857: the bookTicker stream runs ahead
        assert c["crossed_rows"] == 0 and c["symbols"] == {"BTCUSD_PERP"} and c["ts_ordered"]

    def test_counts_follow_the_readme(self, cm_0808: tuple[dict[str, Any], Any]) -> None:
        """Messages by channel match the capture folder's README; the one snapshot is bridged, no gap."""
        _, reader = cm_0808
        stats = reader.stats
        assert stats.messages == {"depth@0ms": 26847, "bookTicker": 19136, "trade": 2286, "snapshot": 1}
        assert (stats.snapshots_applied, stats.gaps, stats.diffs_unsynced) == (1, 0, 0)
        assert stats.diffs_applied + stats.diffs_stale == 26847

    def test_next_day_part_alone_never_syncs(self) -> None:
        """The 0809 file has no snapshot: read alone, its depth is never emitted (every diff unsynced)."""
        reader = read_hftbacktest(CM_0809)
        kinds = Counter(r.kind for r in reader)
        assert kinds[LEVEL] == kinds[CLEAR] == 0 and kinds[QUOTE] == 2 * 29219 and kinds[TRADE] == 2949
        assert reader.stats.diffs_unsynced == 17948

    def test_both_parts_read_as_one_capture_continue_across_midnight(self, cm_both: tuple[dict[str, Any], Any]) -> None:
        """0808 then 0809 as one capture: the 0809 diffs chain on (pu) with no gap, and the book still
        matches every id-aligned bookTicker of both days."""
        c, reader = cm_both
        stats = reader.stats
        assert (stats.snapshots_applied, stats.gaps, stats.diffs_unsynced) == (1, 0, 0)
        assert stats.diffs_applied + stats.diffs_stale == 26847 + 17948
        assert c["exact_n"] == 3770 and c["exact_both"] == c["exact_px"] == 3770  # measured 3770/3770
        assert c["crossed_rows"] == 0 and c["ts_ordered"]

    def test_rows_name_the_part_they_come_from(self) -> None:
        """A row of the later part names that file and its own line."""
        reader = read_hftbacktest([CM_0808, CM_0809])
        first_late = next(r for r in reader if r.ts_ns >= 1723161600000000000)
        assert first_late.where == f"{CM_0809}:1"

    def test_linked_readers_give_the_rows_of_one_two_part_reader(self) -> None:
        """Two readers linked (the replay's way with two files), read one after the other, give the
        rows one two-part reader gives."""
        earlier = read_hftbacktest(CM_0808)
        later = link_parts(earlier, read_hftbacktest(CM_0809))
        linked = [*earlier, *later]
        assert linked == list(read_hftbacktest([CM_0808, CM_0809]))
        assert later.stats.gaps == 0 and later.stats.diffs_unsynced == 0


@needs_data
class TestCryptofeedDelivery:
    def test_every_symbol_matches_its_id_aligned_book_tickers(self) -> None:
        """Each of the ten COIN-M books (perpetuals and quarterlies) rebuilt from its http snapshot
        and @100ms diffs equals every bookTicker with the same update id."""
        symbols = sorted({r.symbol for r in read_cryptofeed(CF / "BINANCE_DELIVERY.ws.1.0") if r.kind == CLEAR})
        assert len(symbols) == 10 and "BTCUSD_211231" in symbols and "TRXUSD_PERP" in symbols
        aligned = 0
        for symbol in symbols:
            c = replay_and_compare(read_cryptofeed(CF / "BINANCE_DELIVERY.ws.1.0", symbol), DecimalBook(), Decimal, Decimal)
            assert c["exact_both"] == c["exact_n"], symbol
            assert c["crossed_rows"] == 0 and c["symbols"] == {symbol}
            aligned += c["exact_n"]
        assert aligned > 50

    def test_a_perpetual_of_the_sample_replays_as_an_inverse_instrument(self, tmp_path: Path) -> None:
        """TRXUSD_PERP (10 USD contracts, tick 0.00001) replays from the cryptofeed sample with no gap."""
        summary = Replay(
            [CF / "BINANCE_DELIVERY.ws.1.0"],
            Passive(),
            coin_config("TRXUSD_PERP"),
            instruments={"TRXUSD_PERP": inverse("TRXUSD_PERP", "0.00001", "10")},
            out_dir=tmp_path,
        ).run()
        assert summary["depth_gaps"] == 0 and summary["rows_by_kind"]["level"] > 0
        assert summary["quote_check"]["aligned_price_match_rate"] == 1.0


@needs_data
class TestReplayCoinM:
    def test_both_parts_replay_with_the_book_matching_the_venue(self, tmp_path: Path) -> None:
        """Given as two files, the parts replay as one capture: no depth gap, the rebuilt book
        matches the venue's best bid/ask at 99 % of the 3,770 aligned update ids."""
        summary = Replay(
            [CM_0808, CM_0809], Passive(), coin_config("BTCUSD_PERP"), instruments={"BTCUSD_PERP": inverse()}, out_dir=tmp_path
        ).run()
        qc = summary["quote_check"]
        assert summary["depth_gaps"] == 0 and qc["quotes"] == 96710
        assert qc["aligned_quotes"] == 3770 and qc["aligned_price_match_rate"] >= 0.99  # measured 0.9971


    def test_coin_m_replay_keeps_its_wallet_in_btc(self, tmp_path: Path) -> None:
        """Replaying BTCUSD_PERP, the run's ledger settles in BTC: the balance is deposited as
        satoshis of the BTC book, whose money is conserved to the atom at the end."""
        replay = Replay(
            [CM_0808], Passive(), coin_config("BTCUSD_PERP"), instruments={"BTCUSD_PERP": inverse()}, out_dir=tmp_path
        )
        summary = replay.run()
        ledger = replay.ledger
        assert ledger.home_asset == "BTC" and list(ledger.assets) == ["BTC"]
        assert ledger.account(1, "BTC").wallet_atoms == 5_000_000  # 0.05 BTC in satoshis
        assert summary["account"]["deposit"] == "0.05000000"
        ledger._check()


class TestBadCoinMInput:
    def test_fractional_contract_quantity_is_off_grid(self, tmp_path: Path) -> None:
        """A trade of 2.5 contracts in a COIN-M capture: OffGridError naming the file, line and field."""
        trade = {"e": "trade", "E": 1, "T": 1, "s": "BTCUSD_PERP", "t": 7, "p": "61800.0", "q": "2.5", "X": "MARKET", "m": False}
        book_ticker = {"e": "bookTicker", "u": 1, "s": "BTCUSD_PERP", "b": "61799.9", "B": "10", "a": "61800.0", "A": "12", "T": 1, "E": 1}
        path = tmp_path / "cm_capture.txt"
        lines = [hft_line(0, {"stream": "btcusd_perp@bookTicker", "data": book_ticker}), hft_line(1, {"stream": "btcusd_perp@trade", "data": trade})]
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(OffGridError) as info:
            Replay([path], Passive(), coin_config("BTCUSD_PERP"), instruments={"BTCUSD_PERP": inverse()}, out_dir=tmp_path / "run").run()
        err = info.value
        assert (err.where, err.field) == (f"{path}:2", "qty") and "'2.5'" in err.message

    def test_quarterly_contract_is_refused_through_the_api(self, tmp_path: Path) -> None:
        """A quarterly COIN-M symbol: an InputError naming its first row and the symbol field."""
        with pytest.raises(InputError) as info:
            Replay([CF / "BINANCE_DELIVERY.ws.1.0"], Passive(), ReplayConfig(symbol="BTCUSD_211231"), out_dir=tmp_path)
        assert info.value.field == "symbol" and "quarterly (delivery) contract" in info.value.message

    def test_fractional_contracts_among_the_first_rows_are_off_grid_too(self, tmp_path: Path) -> None:
        """A fractional contract among the rows the instrument choice peeks at: the same OffGridError on its row."""
        from exsim.instruments.choose import choose_instrument
        from unittest import mock

        with mock.patch("exsim.instruments.registry.get_instrument", return_value=inverse()):
            with pytest.raises(OffGridError) as info:
                choose_instrument("BTCUSD_PERP", first_ts_ns=1, first_where="x:1", prices=[("61800.0", "x:1")], qtys=[("3", "x:1"), ("0.5", "x:2")])
        assert (info.value.where, info.value.field) == ("x:2", "qty") and "'0.5' is not a whole number of contracts" in info.value.message


class TestConvertCoinM:
    def test_convert_of_the_two_parts_continues_the_book_across_midnight(self, tmp_path: Path) -> None:
        """``exsim convert`` of both parts links them as the replay does: the 0809 part's
        diffs continue the 0808 book, so its level changes are written (0 before the link),
        and the output holds the 763,351 rows a replay of the two parts reads."""
        from exsim.cli import main

        out = tmp_path / "cm.csv"
        assert main(["convert", str(CM_0808), str(CM_0809), "-o", str(out)]) == 0
        midnight_ns = 1_723_161_600_000_000_000
        rows = out.read_text().splitlines()[1:]
        after = Counter(line.split(",", 2)[1] for line in rows if int(line.split(",", 1)[0]) >= midnight_ns)
        assert after["level"] > 0
        assert len(rows) == 763_351
