"""The shipped examples, each replayed by its short name on real data from ``../shared/data``
as a user would run it (``exsim replay FILE --strategy NAME``), each doing what its page
says: the holder holds, the market maker and the grid trade, the passive quoter never
does, the stop-and-target bracket ends by exactly one of its exits, and the funding carry
holds the receiving side until the settled rate turns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from exsim.cli import main
from exsim.replay import Replay, ReplayConfig
from exsim_examples.funding_carry import FundingCarry
from exsim_examples.stop_and_target import StopAndTarget

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
BTC = SHARED / "hftbacktest-binance-20240808" / "usdm_btcusdt_20240808.gz"
XRP = SHARED / "freqtrade-futures"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (the team's shared folder)")


def notes(summary: dict[str, Any], prefix: str) -> list[str]:
    return [n["text"] for n in summary["notes"] if n["text"].startswith(prefix)]


#: (short name, extra arguments, what its summary shows)
CASES: list[tuple[str, list[str], Callable[[dict[str, Any]], bool]]] = [
    ("holder", ["--param", "qty=0.1"], lambda s: s["account"]["fills"] >= 1 and s["account"]["open_position"] == "0.100"),
    ("market_maker", ["--param", "notional=500"], lambda s: s["account"]["fills"] > 10),
    ("grid", ["--param", "step_ticks=20"], lambda s: s["account"]["fills"] > 5),
    ("passive", [], lambda s: s["account"]["fills"] == 0 and s["account"]["order_events"] == {"OrderAccepted": 2}),
    (
        "stop_and_target",
        ["--param", "stop=0.001", "--param", "take_profit=0.001"],
        lambda s: len([t for t in notes(s, "stop_and_target:") if " filled at " in t]) == 1 and s["account"]["open_position"] == "0.000",
    ),
]


@pytest.mark.parametrize(("name", "args", "shows"), CASES, ids=[c[0] for c in CASES])
def test_an_example_runs_by_its_short_name_on_the_btc_capture(
    name: str, args: list[str], shows: Callable[[dict[str, Any]], bool], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``exsim replay <BTC capture> --strategy NAME`` completes and does what the example says."""
    out = tmp_path / "run"
    assert main(["replay", str(BTC), "--strategy", name, *args, "--no-progress", "--out", str(out)]) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True and summary["strategy"].startswith(f"exsim_examples.{name}:")
    assert shows(summary), summary["account"]


def test_stop_and_target_is_one_mark_triggered_bracket() -> None:
    """The example's entry is a 20x isolated market long; its stop and take-profit watch the
    mark, and when one fills the other is cancelled (never both)."""
    s = StopAndTarget(stop="0.001", take_profit="0.001")
    summary = Replay([BTC], s, ReplayConfig(balance="10000")).run()
    trade = s.trade
    assert trade is not None and trade.entry.status == "filled" and trade.trailing is None
    settings = summary["settings"]["symbols"]["BTCUSDT"]
    assert (settings["leverage"], settings["margin_mode"]) == (20, "isolated")
    assert [(h.type_name, h.trigger_name) for h in trade.exits] == [("stop_market", "mark"), ("take_profit_market", "mark")]
    statuses = sorted(h.status for h in trade.exits)
    assert statuses == ["cancelled", "filled"]
    assert s.ended in ("stop", "take-profit")
    ended_by = trade.stop if s.ended == "stop" else trade.take_profit
    assert ended_by.status == "filled" and ended_by.filled_lots == trade.entry.filled_lots


def test_funding_carry_goes_short_on_positive_funding_and_leaves_when_it_turns() -> None:
    """On a month of XRPUSDT (Binance, Nov-Dec 2021): short on the 0.01 % rates, funding
    received, then closed at the first negative settlement (2021-12-04 08:00 UTC)."""
    files = [XRP / "XRP_USDT_USDT-8h-mark.feather", XRP / "XRP_USDT_USDT-8h-funding_rate.feather"]
    s = FundingCarry()
    config = ReplayConfig(balance="10000", mark_interval_ns=60 * 10**9, sample_interval_ns=60 * 10**9)
    replay = Replay(files, s, config, formats=["freqtrade-futures", "freqtrade-funding_rate"])
    summary = replay.run()
    lines = notes(summary, "funding_carry:")
    assert "going short" in lines[0]
    assert lines[1].startswith("funding_carry: the rate turned to -") and s.exits == 1
    closed = next(n for n in summary["notes"] if "the rate turned" in n["text"])
    assert closed["time_utc"].startswith("2021-12-04T08:00")
    assert s.received_atoms > 0 and replay.ctx.position("XRPUSDT") is None
