"""``exsim replay --venue``: the run follows the venue's rules on real data, records it,
and refuses in one line what the venue does not list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.replay import Replay, ReplayConfig
from exsim.replay.cli import SHIPPED_REPLAYS, load_strategy
from exsim.replay.explain import explain_run
from exsim.replay.recorder import config_dict

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
#: 4 hours of the January 2022 sell-off, 1-minute bars (the demo's "crash" replay)
CRASH = SHIPPED_REPLAYS / "btc-perp-20220121-1m.csv"
#: a 20x isolated long of 1 BTC opened at 21:00 (20x: every venue's BTC allows it)
LONG = ["qty=1", "leverage=20", "margin_mode=isolated", "enter_after_s=3600"]


def crash(venue: str, out: Path | None = None) -> dict[str, object]:
    config = ReplayConfig(balance="10000", symbol="BTCUSDT", venue=venue)
    return Replay([CRASH], load_strategy("holder", LONG), config, out_dir=out).run()


def first_liquidation_ns(summary: dict[str, object]) -> int:
    return summary["liquidations"][0]["ts_ns"]  # type: ignore[index]


class TestConfig:
    def test_binance_leaves_the_run_key_as_it_was(self) -> None:
        """The default venue is left out of the config's dict: run keys, snapshots and
        summaries of Binance runs are those they were."""
        assert "venue" not in config_dict(ReplayConfig())
        assert config_dict(ReplayConfig(venue="bybit"))["venue"] == "bybit"

    def test_an_unknown_venue_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--venue ftx: one line naming the option and the four venues."""
        assert main(["replay", str(CRASH), "--venue", "ftx", "--no-progress"]) == 2
        assert "field '--venue': 'ftx' is not a venue; expected one of binance, bybit, hyperliquid, dydx" in (
            capsys.readouterr().err)


class TestRuns:
    def test_the_summary_and_the_instruments_are_the_venues(self, tmp_path: Path) -> None:
        """A Bybit run says so (summary, settings, instrument note) and trades Bybit's terms:
        maintenance margin at entry, in instruments.json too."""
        s = crash("bybit", tmp_path / "run")
        assert s["venue"] == "bybit" and s["settings"]["venue"] == "bybit (--venue)"  # type: ignore[index]
        assert "under Bybit" in s["market_model"]["instruments"][0]  # type: ignore[index]
        (inst,) = json.loads((tmp_path / "run" / "instruments.json").read_text())
        assert inst["maint_margin_basis"] == "entry"

    def test_a_higher_maintenance_rate_liquidates_no_later(self) -> None:
        """The same 20x long on the same crash: dYdX (MMF 3 % at the mark) is liquidated no
        later than Hyperliquid (1.25 %), which is no later than Binance (0.4 %)."""
        t = {v: first_liquidation_ns(crash(v)) for v in ("dydx", "hyperliquid", "binance")}
        assert t["dydx"] <= t["hyperliquid"] <= t["binance"]

    def test_explain_names_the_venue(self, tmp_path: Path) -> None:
        """exsim explain on a Hyperliquid run: the venue, its trigger rule, and the engine's
        one-line explanation that starts with the venue's name."""
        crash("hyperliquid", tmp_path / "run")
        text = explain_run(tmp_path / "run")
        assert "Venue: Hyperliquid." in text and "In one line: hyperliquid: " in text

    def test_binance_prints_as_before(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A Binance run prints no venue line (its output is as it was); a Bybit run prints
        the venue and its rules."""
        args = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", "holder", "--no-progress"]
        args += [x for p in LONG for x in ("--param", p)]
        assert main(args) == 0
        assert "venue:" not in capsys.readouterr().out
        assert main([*args, "--venue", "bybit"]) == 0
        out = capsys.readouterr().out
        assert "venue: Bybit" in out and "laddered" in out


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")
class TestRefusals:
    def test_a_coin_margined_file_on_hyperliquid_is_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Binance's BTCUSD_PERP capture under --venue hyperliquid: the file, its line, the option."""
        path = SHARED / "hftbacktest-binance-20240808" / "cm_btcusd_perp_20240808.gz"
        assert main(["replay", str(path), "--venue", "hyperliquid", "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0
        assert f"{path}:" in err and "field '--venue': Hyperliquid lists no inverse" in err

    def test_multi_assets_on_dydx_is_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--collateral-mode multi-assets under --venue dydx: refused, naming both options."""
        path = SHARED / "hftbacktest-binance-20240808" / "usdm_btcusdt_20240808.gz"
        assert main(["replay", str(path), "--venue", "dydx", "--collateral-mode", "multi-assets", "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "field '--venue': dYdX v4 has no multi-assets collateral mode" in err and "--collateral-mode" in err
