"""Every USDⓈ-M perpetual file in ``../shared/data`` replays from the command line as a new
user would run it: ``exsim replay FILE`` with the default strategy, adding only what an
error message asks for (issue 12's acceptance rule). Each case pins the messages met on
the way, so a message that stops naming its fix fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
HFT = SHARED / "hftbacktest-binance-20240808"
FREQTRADE = SHARED / "freqtrade-futures"
NAUTILUS = SHARED / "nautilus-fixtures"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")

#: (case, input files, [(a fragment of the error met, the arguments it asks for)], symbols replayed)
CASES = [
    ("hftbacktest BTCUSDT capture", [HFT / "usdm_btcusdt_20240808.gz"], [], ["BTCUSDT"]),
    ("hftbacktest ETHUSDT capture", [HFT / "usdm_ethusdt_20240808.gz"], [], ["ETHUSDT"]),
    (
        "cryptofeed USD-M capture (2021)",
        [SHARED / "cryptofeed-samples" / "BINANCE_FUTURES.ws.1.0"],
        [("pass --tick-size CTKUSDT=0.00001", ["--tick-size", "CTKUSDT=0.00001"])],
        ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"],
    ),
    ("Tardis book_snapshot_5 (2020)", [NAUTILUS / "tardis" / "binance-futures_book_snapshot_5_BTCUSDT.csv"], [], ["BTCUSDT"]),
    ("Tardis book_snapshot_25 (2020)", [NAUTILUS / "tardis" / "binance-futures_book_snapshot_25_BTCUSDT.csv"], [], ["BTCUSDT"]),
    ("Nautilus Binance depth snapshot", [NAUTILUS / "binance" / "btcusdt-depth-snap.csv"], [], ["BTCUSDT"]),
    (
        "freqtrade XRP futures, mark and funding (Feather)",
        [FREQTRADE / "XRP_USDT_USDT-5m-futures.feather", FREQTRADE / "XRP_USDT_USDT-1h-mark.feather",
         FREQTRADE / "XRP_USDT_USDT-8h-funding_rate.feather"],
        [],
        ["XRPUSDT"],
    ),  # fmt: skip
]


@pytest.mark.parametrize(("files", "steps", "symbols"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_replays_with_only_what_the_messages_ask(
    files: list[Path], steps: list[tuple[str, list[str]]], symbols: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default strategy replays the file; each stop on the way is one line naming its fix."""
    argv = ["replay", *map(str, files), "--no-progress", "--out", str(tmp_path / "run")]
    for fragment, fix in steps:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("exsim: error: ") and err.count("\n") == 1 and fragment in err, err
        argv += fix
    capsys.readouterr()
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["complete"] is True
    assert sorted(p["symbol"] for p in summary["positions"]) == sorted(symbols)


def test_a_month_of_bars_asks_for_its_symbol_then_its_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Nautilus bars (the first 20,000 lines: through 2022-01-13's eighth-dollar prices)
    name no symbol, then hold a price finer than January 2022's 0.01 tick: each stop says
    what to pass, and with both the bars replay."""
    head = tmp_path / "btc-perp-20211231-20220201_1m.csv"
    with open(NAUTILUS / "btc-perp-20211231-20220201_1m.csv", encoding="utf-8") as f:
        head.write_text("".join(line for _, line in zip(range(20_000), f)))
    argv = ["replay", str(head), "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert "an OHLCV file names no symbol: pass the symbol" in capsys.readouterr().err
    argv += ["--symbol", "BTCUSDT"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "'43613.875' is not a multiple of tick 0.01" in err and "pass --tick-size BTCUSDT=0.001" in err, err
    argv += ["--tick-size", "BTCUSDT=0.001"]
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["complete"] is True and [p["symbol"] for p in summary["positions"]] == ["BTCUSDT"]


def test_a_timer_made_at_the_datas_last_instant_ends_with_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The holder's entry timer, made in on_start on a one-instant snapshot (all rows at one time), stops at the
    data's end like the run's own timers (it ran the clock on for ever: found by issue 20's sweeps)."""
    argv = ["replay", str(NAUTILUS / "binance" / "btcusdt-depth-snap.csv"), "--strategy", "holder", "--no-progress",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["complete"] is True
    assert summary["first_ts_ns"] == summary["last_ts_ns"]
    assert summary["account"]["orders_sent"] == 0  # (the entry waits for a later look, which never comes)
