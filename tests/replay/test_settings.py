"""Runs a user can trust: strategies trade the data's symbol, the command line's settings
win (and a strategy that disagrees is warned about), settings the venue or the data cannot
serve stop before the run, the summary says the settings in force, and a strategy's error
is one line."""

from __future__ import annotations

import csv
import inspect
import re
import shlex
import zipfile
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.instruments import get_instrument
from exsim.replay import Context, Replay, ReplayConfig, Strategy
from exsim.replay.cli import SHIPPED_REPLAYS
from exsim.replay.strategy import StrategyError
from exsim.units import ATOMS_PER_UNIT
from exsim_examples.grid import Grid
from exsim_examples.holder import Holder
from exsim_examples.market_maker import MarketMaker
from exsim_examples.passive import Passive

ROOT = Path(__file__).resolve().parents[2]
CRASH = SHIPPED_REPLAYS / "btc-perp-20220121-1m.csv"
ETH = ROOT.parent / "shared" / "data" / "hftbacktest-binance-20240808" / "usdm_ethusdt_20240808.gz"
T0_MS = 1_723_161_300_000  # 2024-08-08 23:55:00 UTC


def readme_replay_example() -> list[str]:
    """The `exsim replay` command of the README's "Replaying your own files", as argv."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Replaying your own files", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    command = re.search(r"^\.venv/bin/exsim (replay .*?[^\\])$", block.replace("\\\n", " "), re.M)
    assert command is not None
    return shlex.split(command.group(1))


class TestTheReadmeExample:
    def test_the_readme_replay_runs_at_the_leverage_and_mode_it_asks_for(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The README's replay command, run as written on a Binance aggTrades zip of that name: 50x isolated, 2 ms latency, a 0.1 BTC long."""
        argv = readme_replay_example()
        monkeypatch.chdir(tmp_path)
        rows = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
        rows += [f"{k},61000.{k % 10},0.010,{k},{k},{T0_MS + k * 1000},{'true' if k % 2 else 'false'}" for k in range(300)]
        with zipfile.ZipFile(argv[1], "w") as z:
            z.writestr("BTCUSDT-aggTrades-2024-08-08.csv", "\n".join(rows) + "\n")
        assert main([*argv, "--no-progress"]) == 0
        import json

        summary = json.loads((tmp_path / "runs" / "mine" / "summary.json").read_text())
        assert summary["settings"]["symbols"]["BTCUSDT"] == {
            "leverage": 50, "leverage_from": "command line", "margin_mode": "isolated", "margin_mode_from": "command line",
            "clearance_fee": "1.2 %",  # the venue's liquidation fee in force then (the catalogue)
        }  # fmt: skip
        assert summary["settings"]["latency_ns"] == 2_000_000
        assert summary["account"]["open_position"] == "0.100"
        assert not [n for n in summary["notes"] if n["text"].startswith("warning:")]


class TestCommandLineWins:
    def test_a_strategy_asking_for_another_leverage_is_warned_and_the_command_line_holds(self) -> None:
        """--leverage 50 with a holder told 125x: 50x in force, and a warning naming both values."""
        summary = Replay(
            [CRASH], Holder(qty="0.4", leverage=125, margin_mode="isolated"), ReplayConfig(balance="1000", symbol="BTCUSDT", leverage=50)
        ).run()
        entry = summary["settings"]["symbols"]["BTCUSDT"]
        assert (entry["leverage"], entry["leverage_from"]) == (50, "command line")
        assert (entry["margin_mode"], entry["margin_mode_from"]) == ("isolated", "strategy")
        warnings = [n["text"] for n in summary["notes"] if n["text"].startswith("warning:")]
        assert warnings == ["warning: the strategy set leverage 125x on BTCUSDT; the command line's --leverage 50 wins (50x in force)"]

    def test_the_same_value_as_the_command_line_is_no_warning(self) -> None:
        """A strategy asking for what the command line gave is not warned about."""
        summary = Replay([CRASH], Holder(qty="0.4", leverage=50), ReplayConfig(balance="1000", symbol="BTCUSDT", leverage=50)).run()
        assert not [n for n in summary["notes"] if n["text"].startswith("warning:")]

    def test_without_the_command_line_the_strategys_settings_apply(self) -> None:
        """No --leverage / --margin-mode: the strategy's 125x isolated is in force, said to come from it."""
        summary = Replay([CRASH], Holder(qty="0.4", leverage=125, margin_mode="isolated"), ReplayConfig(balance="1000", symbol="BTCUSDT")).run()
        assert summary["settings"]["symbols"]["BTCUSDT"] == {
            "leverage": 125, "leverage_from": "strategy", "margin_mode": "isolated", "margin_mode_from": "strategy",
            "clearance_fee": "1.2 %",  # the venue's liquidation fee in force then (the catalogue)
        }  # fmt: skip

    def test_a_symbol_nobody_sets_runs_at_the_venue_default(self) -> None:
        """Neither the command line nor the strategy: 20x cross, from the venue's default."""
        summary = Replay([CRASH], Passive(), ReplayConfig(symbol="BTCUSDT")).run()
        assert summary["settings"]["symbols"]["BTCUSDT"]["leverage"] == 20
        assert summary["settings"]["symbols"]["BTCUSDT"]["leverage_from"] == "venue default"
        assert summary["settings"]["symbols"]["BTCUSDT"]["margin_mode"] == "cross"

    def test_the_summary_says_the_settings_in_force(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The printed summary has one line of settings: leverage, mode, clearance fee, mark, funding, latency, queue model."""
        argv = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--leverage", "10", "--latency-ns", "1000", "--no-progress"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert (
            "settings in force: BTCUSDT 10x cross (leverage: command line, mode: venue default), clearance fee 1.2 %; mark computed, "
            "funding computed, latency 1,000 ns, queue model conservative"
        ) in " ".join(out.split())


class TestRefusedBeforeTheRun:
    def test_replayed_marks_on_data_without_marks_is_an_error(self) -> None:
        """--mark replayed on bars (no mark rows) stops before the run, saying what to do."""
        with pytest.raises(InputError) as info:
            Replay([CRASH], Passive(), ReplayConfig(mark="replayed", symbol="BTCUSDT"))
        assert str(info.value) == (
            "field 'mark': replayed: the inputs (ohlcv) hold no mark prices; use --mark computed (or auto), or add a mark "
            "price file (e.g. Binance markPriceKlines)"
        )

    def test_replayed_marks_on_a_capture_without_the_mark_stream_is_an_error(self) -> None:
        """The shipped raw capture recorded no markPrice stream: --mark replayed is refused (the capture is read to know)."""
        with pytest.raises(InputError) as info:
            Replay([SHIPPED_REPLAYS / "binance-usdm-btcusdt-20240808.gz"], Passive(), ReplayConfig(mark="replayed"))
        assert str(info.value).startswith("field 'mark': replayed: the inputs (binance-ws-hftbacktest) hold no mark prices")

    def test_replayed_funding_without_funding_rows_is_an_error(self) -> None:
        """--funding replayed on bars (no funding rows) stops before the run."""
        with pytest.raises(InputError, match=r"^field 'funding': replayed: the inputs \(ohlcv\) hold no funding rates"):
            Replay([CRASH], Passive(), ReplayConfig(funding="replayed", symbol="BTCUSDT"))

    def test_nothing_is_written_when_a_setting_is_refused(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A refused --leverage leaves no run directory behind."""
        out = tmp_path / "run"
        assert main(["replay", str(CRASH), "--symbol", "BTCUSDT", "--leverage", "126", "--out", str(out), "--no-progress"]) == 2
        assert "125x" in capsys.readouterr().err
        assert not out.exists()


class TestSymbolFromTheData:
    @pytest.mark.parametrize("cls", [Holder, MarketMaker, Grid, Passive])
    def test_no_example_names_a_symbol_in_its_defaults(self, cls: type) -> None:
        """Every shipped example's defaults are symbol-free: no BTCUSDT, no size in BTC."""
        defaults = [p.default for p in inspect.signature(cls).parameters.values()]
        assert "BTCUSDT" not in defaults
        assert inspect.signature(cls).parameters["symbol"].default is None

    @pytest.mark.parametrize("name", ["holder", "market_maker", "grid", "passive"])
    def test_every_example_replays_the_eth_capture_with_its_defaults(self, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`exsim replay usdm_ethusdt_20240808.gz --strategy NAME` trades ETHUSDT (it crashed on BTCUSDT)."""
        out = tmp_path / name
        assert main(["replay", str(ETH), "--strategy", name, "--out", str(out), "--no-progress"]) == 0
        fills = list(csv.DictReader((out / "fills.csv").open()))
        assert {f["symbol"] for f in fills} <= {"ETHUSDT"}
        if name == "holder":
            assert len(fills) >= 1

    def test_the_holder_sizes_a_notional_in_whole_lots_rounded_down(self) -> None:
        """notional=1000 on ETH: the position is the largest whole number of lots worth at most 1000 USDT at the ask."""
        seen: dict[str, Any] = {}

        class Watch(Holder):
            def on_timer(self, ctx: Context, name: str) -> None:
                if self.state == "waiting" and ctx.best_ask(ctx.default_symbol) is not None:
                    seen["ask"] = ctx.best_ask(ctx.default_symbol)
                super().on_timer(ctx, name)

        summary = Replay([ETH], Watch(notional="1000"), ReplayConfig()).run()
        inst = get_instrument("ETHUSDT")
        lots = inst.lots(summary["account"]["open_position"])
        per_lot = seen["ask"] * inst.atoms_per_tick_lot  # atoms of one lot at the ask
        assert lots * per_lot <= 1000 * ATOMS_PER_UNIT < (lots + 1) * per_lot

    def test_the_holder_watches_only_its_own_symbols_marks(self, tmp_path: Path) -> None:
        """On a BTC+ETH run the holder's "worst mark" is BTCUSDT's lowest, never ETHUSDT's
        (it compared every symbol's marks with its BTC liquidation price)."""
        t0 = T0_MS * 1_000_000
        rows = ["ts_ns,kind,symbol,side,price,qty,rate"]
        for k in range(30):
            ts = t0 + k * 1_000_000_000
            rows += [f"{ts},trade,BTCUSDT,buy,{61800 - k}.0,0.010,", f"{ts},trade,ETHUSDT,sell,2680.00,0.100,",
                     f"{ts},mark,BTCUSDT,,{61800 - k}.5,,", f"{ts},mark,ETHUSDT,,2679.5,,"]  # fmt: skip
        path = tmp_path / "two.csv"
        path.write_text("\n".join(rows) + "\n")
        summary = Replay([path], Holder(notional="2000", leverage=50, margin_mode="isolated"), ReplayConfig(mark="replayed")).run()
        survived = [n["text"] for n in summary["notes"] if n["text"].startswith("holder: survived")]
        assert len(survived) == 1 and "(worst mark 61771.5)" in survived[0], survived

    def test_the_context_names_the_runs_symbols(self) -> None:
        """ctx.symbols lists the data's symbols in order; ctx.default_symbol is the first."""
        seen: list[Any] = []

        class Look(Strategy):
            def on_start(self, ctx: Context) -> None:
                seen.append((ctx.symbols, ctx.default_symbol))

        Replay([ETH], Look(), ReplayConfig()).run()
        assert seen == [(["ETHUSDT"], "ETHUSDT")]


class TestStrategyErrors:
    def test_an_exception_in_a_hook_is_one_line_naming_strategy_hook_and_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A ZeroDivisionError in on_mark: exit 2, `exsim: error: strategy Boom.on_mark (FILE:4): ZeroDivisionError: division by zero`."""
        boom = tmp_path / "boom.py"
        boom.write_text("from exsim.replay import Strategy\nclass Boom(Strategy):\n    def on_mark(self, ctx, mark):\n        1 / 0\n")
        assert main(["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", f"{boom}:Boom", "--no-progress"]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"exsim: error: strategy Boom.on_mark ({boom}:4): ZeroDivisionError: division by zero\n"

    def test_an_error_in_exsim_code_a_hook_called_names_the_hooks_line(self) -> None:
        """An off-grid size given to ctx.qty_lots is blamed on the strategy's line that asked, in the hook that ran."""

        class OffGrid(Strategy):
            def on_start(self, ctx: Context) -> None:
                ctx.qty_lots(ctx.default_symbol, "0.0001")

        line = inspect.getsourcelines(OffGrid.on_start)[1] + 1
        with pytest.raises(StrategyError) as info:
            Replay([CRASH], OffGrid(), ReplayConfig(symbol="BTCUSDT")).run()
        assert str(info.value).startswith(f"strategy OffGrid.on_start (tests/replay/test_settings.py:{line}): OffGridError: ") or str(
            info.value
        ).startswith(f"strategy OffGrid.on_start ({__file__}:{line}): OffGridError: ")
        assert isinstance(info.value.__cause__, InputError)

    def test_debug_adds_the_traceback(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim --debug: the same last line, with the Python traceback before it."""
        boom = tmp_path / "boom.py"
        boom.write_text("from exsim.replay import Strategy\nclass Boom(Strategy):\n    def on_end(self, ctx):\n        raise KeyError('x')\n")
        assert main(["--debug", "replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", f"{boom}:Boom", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" in err and err.endswith(f"exsim: error: strategy Boom.on_end ({boom}:4): KeyError: 'x'\n")


class TestCommandHelp:
    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim --version prints the package version."""
        from exsim import __version__

        with pytest.raises(SystemExit) as info:
            main(["--version"])
        assert info.value.code == 0 and capsys.readouterr().out == f"exsim {__version__}\n"

    def test_demo_help_shows_the_demos_own_defaults(self, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim demo --help: holder, 1000 USDT, 125x isolated, runs/demo — not replay's defaults."""
        with pytest.raises(SystemExit):
            main(["demo", "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for phrase in ("(default holder)", "(default 1000)", "(default 125, set by the demo's holder)", "isolated, set by the demo's holder", "(default runs/demo"):
            assert phrase in text, phrase
        assert "(default passive)" not in text and "(default 10000)" not in text
