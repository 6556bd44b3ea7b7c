"""The command line: replay, report, convert, demo, and what bad input looks like."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from exsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"


def test_replay_then_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    rc = main(
        ["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", "grid", "--param", "step_ticks=500", "--param", "qty=0.01",
         "--leverage", "10", "--balance", "5000", "--out", str(out), "--no-progress"]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "Grid on BTCUSDT" in text and "synthetic" in text and "state hash" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["account"]["fills"] > 0 and summary["strategy"] == "exsim_examples.grid:Grid"
    assert main(["report", str(out)]) == 0
    for name in ("price.png", "equity.png", "margin_ratio.png"):
        assert (out / name).stat().st_size > 10_000
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_convert_jsonl_round_trip(tmp_path: Path) -> None:
    jl = tmp_path / "bars.jsonl"
    assert main(["convert", str(CRASH), "--symbol", "BTCUSDT", "-o", str(jl)]) == 0
    first = json.loads(jl.read_text().splitlines()[0])
    assert first == {"ts_ns": 1642795200000000000, "kind": "trade", "symbol": "BTCUSDT", "side": "buy", "price": "38031.0"}
    back = tmp_path / "bars.csv"
    assert main(["convert", str(jl), "-o", str(back)]) == 0
    rows = back.read_text().splitlines()
    assert rows[0] == "ts_ns,kind,symbol,side,price,qty,rate" and len(rows) == 961


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["replay", "nope.csv"], "nope.csv: no such file"),
        (["replay", str(CRASH), "--strategy", "nosuch"], "--strategy"),
        (["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", "holder", "--param", "sideways"], "not key=value"),
        (["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", "holder", "--param", "side=up"], "side must be"),
        (["replay", str(CRASH), "--symbol", "BTCUSDT", "--sample", "fast"], "--sample"),
        (["report", "/nonexistent/run"], "timeseries.csv"),
    ],
)
def test_bad_input_is_one_clear_line(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("exsim: error:") and expected in err


def test_bad_row_names_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bars.csv"
    lines = CRASH.read_text().splitlines()
    lines[5] = lines[5].replace(".0,", ".005,", 1)  # an open price off January 2022's 0.01 tick, on line 6
    bad.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(bad), "--symbol", "BTCUSDT", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:6" in err and "price" in err and "tick" in err


def test_a_leverage_the_venue_refuses_is_an_error_before_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    """--leverage above the first bracket's maximum stops before any row is read, naming both figures."""
    assert main(["replay", str(CRASH), "--symbol", "BTCUSDT", "--leverage", "200", "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == (
        "exsim: error: field 'leverage': 200x is above BTCUSDT's maximum 125x (the venue refuses it; larger positions "
        "allow less: see the brackets)"
    )


def test_explain_tells_the_liquidation_with_its_bracket(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "crash"
    argv = ["replay", str(CRASH), "--symbol", "BTCUSDT", "--strategy", "holder", "--param", "enter_after_s=3600",
            "--param", "qty=0.4", "--leverage", "125", "--margin-mode", "isolated",
            "--balance", "1000", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Liquidation 1 of 1: account 1, isolated bucket (BTCUSDT), 2022-01-21 21:33:40.000 UTC")
    # on the 0.01 tick in force in January 2022: 0.4 x 37755.00 = 15102 USDT, bracket 1 (MMR 0.4 %, cum 0):
    # 15102 x 0.004 = 60.408
    assert "notional 0.400 x 37755.00 = 15102.00 USDT, in bracket 1" in text
    assert "= 60.408 USDT" in text and "maintenance margin of 60.408 USDT" in text
    # the liquidation price is the exact mark (1e-8 USDT), finer than the tick; bankruptcy on the tick
    assert "liquidation price 37974.88546185:" in text and "bankruptcy price 37822.99" in text
    assert "taken over by the insurance fund: 0.400 at the bankruptcy price 37822.99" in text
    assert main(["explain", str(out), "--liquidation", "2"]) == 2
    assert "the run has 1 liquidation(s)" in capsys.readouterr().err


def test_explain_a_run_without_liquidation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "calm"
    assert main(["replay", str(CRASH), "--symbol", "BTCUSDT", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"No liquidation in {out}."


def test_demo_runs_both_shipped_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "exsim demo: capture" in text and "exsim demo: crash" in text
    assert "holder: survived" in text and "holder: liquidated" in text
    capture = json.loads((tmp_path / "capture" / "summary.json").read_text())
    crash = json.loads((tmp_path / "crash" / "summary.json").read_text())
    assert capture["account"]["liquidations"] == 0 and crash["account"]["liquidations"] == 1
    for run in ("capture", "crash"):
        for name in ("price.png", "equity.png", "margin_ratio.png"):
            assert (tmp_path / run / name).stat().st_size > 10_000
