"""Replays of real files take the spec in force at the data's time; a finer grid stops the run with what to pass."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.replay.cli import load_strategy

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
WS = SHARED / "cryptofeed-samples" / "BINANCE_FUTURES.ws.1.0"
HTTP = SHARED / "cryptofeed-samples" / "BINANCE_FUTURES.http.0.0"
EXCHANGE_INFO = SHARED / "cryptofeed-samples" / "BINANCE_FUTURES.0"
TARDIS = SHARED / "nautilus-fixtures" / "tardis"
SNAPSHOTS = [TARDIS / "binance-futures_book_snapshot_5_BTCUSDT.csv", TARDIS / "binance-futures_book_snapshot_25_BTCUSDT.csv"]
BARS = SHARED / "nautilus-fixtures" / "btc-perp-20211231-20220201_1m.csv"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")


class Idle(Strategy):
    """Trades nothing: the replay's instruments are what is under test."""


def native_trades(tmp_path: Path, rows: list[tuple[int, str, str]]) -> Path:
    path = tmp_path / "trades.csv"
    path.write_text("ts_ns,kind,symbol,side,price,qty,rate\n" + "".join(f"{ts},trade,BTCUSDT,buy,{p},{q},\n" for ts, p, q in rows))
    return path


class TestRealFiles:
    @pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.name)
    def test_tardis_2020_btcusdt_replays_without_a_flag(self, path: Path) -> None:
        """Tardis BTCUSDT book snapshots of 2020-09-01 replay on the 0.01 tick, the earliest known spec."""
        summary = Replay([path], load_strategy("passive", []), ReplayConfig()).run()
        (note,) = summary["market_model"]["instruments"]
        assert note.startswith("BTCUSDT: tick 0.01, lot 0.001") and "earliest known spec, assumed at 2020-09-01" in note
        assert summary["rows_by_kind"]["level"] > 0

    def test_cryptofeed_capture_names_the_snapshot_line_off_the_tick(self) -> None:
        """The cryptofeed capture (with its .http.0.0 depth snapshots) stops at CTKUSDT's snapshot, whose far levels are
        on a 0.00001 grid, and says what to pass."""
        with pytest.raises(InputError) as e:
            Replay([WS], Idle(), ReplayConfig())
        assert e.value.where == f"{HTTP}:4" and e.value.field == "price"
        assert "CTKUSDT's prices are on a 0.00001 grid at 2021-07-22" in e.value.message
        assert "pass --tick-size CTKUSDT=0.00001" in e.value.message

    def test_cryptofeed_capture_replays_all_four_symbols(self) -> None:
        """With the tick asked for, all four symbols replay with the passive strategy, each on its 2021 spec."""
        config = ReplayConfig(tick_size="CTKUSDT=0.00001")
        summary = Replay([WS], load_strategy("passive", ["symbol=SUSHIUSDT"]), config).run()
        assert summary["symbols"] == ["SUSHIUSDT", "AKROUSDT", "CTKUSDT", "KEEPUSDT"]
        notes = dict(n.split(": ", 1) for n in summary["market_model"]["instruments"])
        assert notes["SUSHIUSDT"].startswith("tick 0.001, lot 1, min notional 5, clearance fee 0.75 %")
        assert notes["CTKUSDT"].startswith("tick 0.00001,") and notes["CTKUSDT"].endswith("(--tick-size/--lot-size given)")
        assert "one, from exchangeInfo maintMarginPercent 2.5 %" in notes["AKROUSDT"]
        assert summary["account"]["orders_sent"] == 2  # the passive strategy's two far orders on SUSHIUSDT

    def test_january_2022_bars_are_on_the_grid_then(self, tmp_path: Path) -> None:
        """The first 2,000 lines of the January 2022 bars (quarter-dollar prices) replay on the 0.01 tick in force then."""
        head = tmp_path / BARS.name
        head.write_text("".join(BARS.read_text().splitlines(keepends=True)[:2001]))
        prices = [Decimal(p) for line in head.read_text().splitlines()[1:] for p in line.split(",")[1:5]]
        assert any(p % Decimal("0.1") for p in prices)  # quarter dollars: off the 0.1 tick of later
        summary = Replay([head], Idle(), ReplayConfig(symbol="BTCUSDT")).run()
        assert "tick 0.01" in summary["market_model"]["instruments"][0] and "in force at 2021-12-31" in summary["market_model"]["instruments"][0]


class TestGridCheck:
    def test_finer_than_every_spec_stops_with_the_grid_and_the_flag(self, tmp_path: Path) -> None:
        """A 2024 BTCUSDT price with a cent is off every known tick: the error names the row, the grid and the flag."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.1", "0.001"), (1_723_161_601_000_000_000, "60000.005", "0.001")])
        with pytest.raises(InputError) as e:
            Replay([path], Idle(), ReplayConfig())
        assert e.value.where == f"{path}:3" and e.value.field == "price"
        assert e.value.message.startswith("'60000.005' is not a multiple of tick 0.1")
        assert "BTCUSDT's prices are on a 0.001 grid at 2024-08-09" in e.value.message
        assert "0.01 / 0.001 from 2021-07-22, 0.1 / 0.001 from 2022-02-19" in e.value.message
        assert e.value.message.endswith("pass --tick-size BTCUSDT=0.001 or --instruments FILE")

    def test_a_row_past_the_peek_off_the_grid_says_what_to_pass(self, tmp_path: Path) -> None:
        """A row beyond the first rows looked at, off the tick, still stops the run naming its line and the flag."""
        t0 = 1_723_161_600_000_000_000
        rows = [(t0 + i * 1_000_000, "60000.1", "0.001") for i in range(6000)] + [(t0 + 6_000_000_000, "60000.15", "0.001")]
        path = native_trades(tmp_path, rows)
        with pytest.raises(InputError) as e:
            Replay([path], Idle(), ReplayConfig()).run()
        assert e.value.where == f"{path}:6002"
        assert e.value.message == ("'60000.15' is not a multiple of tick 0.1: the data is on a finer grid than the spec in force; "
                                   "pass --tick-size BTCUSDT=0.01 (or --skip-bad-rows to leave such rows out)")

    def test_tick_size_flag_replays_it(self, tmp_path: Path) -> None:
        """--tick-size 0.001 replays that file, on the spec in force otherwise (lot, fees, clearance fee)."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.1", "0.001"), (1_723_161_601_000_000_000, "60000.005", "0.001")])
        summary = Replay([path], Idle(), ReplayConfig(tick_size="0.001")).run()
        assert summary["market_model"]["instruments"][0].startswith("BTCUSDT: tick 0.001, lot 0.001, min notional 10, clearance fee 1.2 %")

    def test_a_finer_lot_asks_for_the_lot_size(self, tmp_path: Path) -> None:
        """A quantity below the lot asks for --lot-size."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.1", "0.0005")])
        with pytest.raises(InputError, match=r"'0.0005' is not a multiple of lot 0.001 .* quantities are on a 0.0001 grid .* pass --lot-size BTCUSDT=0.0001"):
            Replay([path], Idle(), ReplayConfig())

    def test_the_spec_in_force_is_kept_even_if_another_fits(self, tmp_path: Path) -> None:
        """2024 prices on a 0.01 grid are refused against the 0.1 tick in force then, though the 2021 spec had 0.01: the
        error lists the known specs and asks for the grid."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.12", "0.001")])
        with pytest.raises(InputError) as e:
            Replay([path], Idle(), ReplayConfig())
        assert e.value.message.startswith("'60000.12' is not a multiple of tick 0.1 (the spec in force at 2024-08-09, of 2022-02-19)")
        assert "0.01 / 0.001 from 2021-07-22" in e.value.message and "pass --tick-size BTCUSDT=0.01" in e.value.message

    def test_skip_bad_rows_leaves_off_grid_rows_to_the_replay(self, tmp_path: Path) -> None:
        """With --skip-bad-rows a row off the grid is skipped and counted, not a reason to stop before the run."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.1", "0.001"), (1_723_161_601_000_000_000, "60000.15", "0.001")])
        summary = Replay([path], Idle(), ReplayConfig(skip_bad_rows=True)).run()
        assert summary["bad_rows"] == 1

    def test_instruments_file_overrides_the_catalogue(self, tmp_path: Path) -> None:
        """--instruments with a Binance exchangeInfo dump: its spec is used and named."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.12", "0.001")])  # the 2021 dump's 0.01 grid
        summary = Replay([path], Idle(), ReplayConfig(instruments=(str(EXCHANGE_INFO),))).run()
        note = summary["market_model"]["instruments"][0]
        assert note.startswith("BTCUSDT: tick 0.01, lot 0.001, min notional 5, clearance fee 1.2 %")
        assert f"from {EXCHANGE_INFO} (exchangeInfo of 2021-07-22)" in note


class TestClearanceFee:
    def test_liquidation_pays_the_venue_clearance_fee(self) -> None:
        """The shipped crash replay's liquidation pays BTCUSDT's 1.2 % (January 2022) clearance fee, said in the summary."""
        from exsim.replay.cli import DEMO_RUNS, SHIPPED_REPLAYS

        _, fname, symbol, params, _ = next(r for r in DEMO_RUNS if r[0] == "crash")
        summary = Replay([SHIPPED_REPLAYS / fname], load_strategy("holder", params), ReplayConfig(balance="1000", symbol=symbol)).run()
        (liq,) = summary["liquidations"]
        assert Decimal(liq["clearance_fee"]) > 0
        assert "clearance fee 1.2 %" in summary["market_model"]["instruments"][0]


class TestCommandLine:
    def test_flags_reach_the_run_and_the_summary(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim replay --tick-size / --instruments: the run uses them and prints where the instrument came from."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.005", "0.001")])
        out = tmp_path / "run"
        rc = main(["replay", str(path), "--tick-size", "0.001", "--instruments", str(EXCHANGE_INFO), "--out", str(out), "--no-progress"])
        assert rc == 0
        text = capsys.readouterr().out
        assert "instrument: BTCUSDT: tick 0.001" in text
        summary = json.loads((out / "summary.json").read_text())
        assert summary["config"]["tick_size"] == "0.001" and summary["config"]["instruments"] == [str(EXCHANGE_INFO)]

    def test_off_grid_data_is_one_error_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Without the flag the command prints one error line and exits 2."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.005", "0.001")])
        assert main(["replay", str(path), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"exsim: error: {path}:2:") and "--tick-size BTCUSDT=0.001" in err[0]

    def test_bad_instruments_file_is_one_error_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A broken --instruments file is one error line naming it and its line."""
        bad = tmp_path / "bad.json"
        bad.write_text('{"symbols": [\n}')
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.1", "0.001")])
        assert main(["replay", str(path), "--instruments", str(bad), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{bad}:2" in err[0] and "not valid JSON" in err[0]

    def test_bad_tick_size_is_refused(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--tick-size that is not a positive decimal is refused before the run."""
        path = native_trades(tmp_path, [(1_723_161_600_000_000_000, "60000.1", "0.001")])
        assert main(["replay", str(path), "--tick-size", "BTCUSDT=-1", "--no-progress"]) == 2
        assert "tick_size" in capsys.readouterr().err
