"""A strategy trades the shipped COIN-M capture (``../shared/data/hftbacktest-binance-20240808/
cm_btcusd_perp_*.gz``, Binance BTCUSD_PERP) with a BTC wallet: the summary speaks BTC and
its USD value, the entry is the harmonic one, and a coin-margined run must say its coin."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.replay import Replay, ReplayConfig
from exsim.replay.cli import load_strategy

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT.parent / "shared" / "data" / "hftbacktest-binance-20240808"
CM = CAPTURE / "cm_btcusd_perp_20240808.gz"

pytestmark = pytest.mark.skipif(not CM.is_file(), reason="needs ../shared/data (the team's shared folder)")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cm") / "run"
    rc = main(["replay", str(CM), "--symbol", "BTCUSD_PERP", "--deposit", "0.05BTC", "--strategy", "holder",
               "--param", "qty=100", "--leverage", "125", "--margin-mode", "isolated", "--no-progress", "--out", str(out)])
    assert rc == 0
    return out


def summary(run_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((run_dir / "summary.json").read_text())  # type: ignore[no-any-return]


def test_the_account_is_told_in_btc(run_dir: Path) -> None:
    """The deposit, equity and fees are BTC: 0.05 BTC in, fees in satoshi."""
    acct = summary(run_dir)["account"]
    assert (acct["asset"], acct["deposit"]) == ("BTC", "0.05000000")


def test_the_entry_is_the_harmonic_mean(run_dir: Path) -> None:
    """100 contracts bought at 61,804.8: cost floor(10,000 / 61,804.8 BTC) = 0.16179973 BTC; the entry
    shown is 10,000 / 0.16179973 = 61,804.80029…, the harmonic price Binance shows (above the fill's)."""
    pos = summary(run_dir)["positions"][0]
    assert (pos["asset"], pos["entry_price"]) == ("BTC", "61804.80029231")


def test_the_btc_is_valued_at_the_contracts_own_mark(run_dir: Path) -> None:
    """equity_usd = equity × the last BTCUSD_PERP mark, rounded down, and the summary says which mark."""
    s = summary(run_dir)
    btc = s["assets"]["BTC"]
    assert btc["usd_price_from"] == "BTCUSD_PERP mark"
    from decimal import ROUND_FLOOR, Decimal
    want = (Decimal(btc["equity"]) * Decimal(btc["usd_price"])).quantize(Decimal("0.00000001"), rounding=ROUND_FLOOR)
    assert Decimal(btc["equity_usd"]) == want and s["usd_value"]["equity"] == btc["equity_usd"]


def test_the_time_series_names_the_asset_and_its_usd_value(run_dir: Path) -> None:
    """timeseries.csv rows carry asset BTC and, once a mark exists, equity_usd."""
    with open(run_dir / "timeseries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["asset"] for r in rows} == {"BTC"} and rows[-1]["equity_usd"]


def test_the_trades_file_shows_the_harmonic_entry(run_dir: Path) -> None:
    """trades.csv's entry price of the open trip is the position's harmonic entry."""
    with open(run_dir / "trades.csv", newline="") as f:
        trips = list(csv.DictReader(f))
    assert trips[0]["avg_entry_price"] == "61804.80029231"


def test_a_coin_margined_run_must_say_its_coin() -> None:
    """Without --deposit there is no sensible amount of BTC: the run stops and says what to pass."""
    with pytest.raises(InputError) as info:
        Replay([CM], load_strategy("holder", ["qty=1"]), ReplayConfig(symbol="BTCUSD_PERP"))
    assert info.value.field == "--deposit" and "--deposit 0.05BTC" in info.value.message


def test_the_report_draws_the_btc_equity_and_its_usd_value(run_dir: Path) -> None:
    """exsim report on the BTC run: the equity plot has the BTC line and, on a right axis, its USD value."""
    from exsim.replay.report import figures

    figs = figures(run_dir)
    try:
        ax = figs["equity.png"].axes[0]
        labels = [line.get_label() for line in ax.get_lines()]
        assert "equity, BTC" in labels and "BTC equity in USD, right axis (BTCUSD_PERP mark)" in labels
        assert len(figs["equity.png"].axes) == 2
    finally:
        import matplotlib.pyplot as plt

        for fig in figs.values():
            plt.close(fig)
