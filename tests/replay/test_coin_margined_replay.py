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


@pytest.fixture(scope="module")
def seen() -> dict:  # type: ignore[type-arg]
    """What a strategy trading BTCUSD_PERP beside BTCUSDT read through its context."""
    from exsim.replay import Strategy

    class Reader(Strategy):
        def __init__(self) -> None:
            self.seen: dict = {}  # type: ignore[type-arg]

        def on_start(self, ctx) -> None:  # type: ignore[no-untyped-def]
            self.seen["start"] = (ctx.home_asset, ctx.assets(), ctx.balances(), ctx.asset_of("BTCUSD_PERP"))

        def on_mark(self, ctx, mark) -> None:  # type: ignore[no-untyped-def]
            if mark.symbol == "BTCUSD_PERP" and "sent" not in self.seen:  # (a book to buy from by now)
                self.seen["sent"] = True
                ctx.buy("BTCUSD_PERP", "100")

        def on_fill(self, ctx, fill) -> None:  # type: ignore[no-untyped-def]
            pos = ctx.position("BTCUSD_PERP")
            self.seen["fill"] = (pos.asset, pos.qty, pos.entry_price, ctx.balance("BTC"), ctx.balance(), ctx.equity("BTC"),
                                 ctx.usd_value("BTC", "0.05"), ctx.mark_price("BTCUSD_PERP"), ctx.balance("USDT"))

    s = Reader()
    Replay([CM, CAPTURE / "usdm_btcusdt_20240808.gz"], s, ReplayConfig(deposits=("0.05BTC", "1000USDT"))).run()
    return s.seen


class TestTheStrategySeesItsBtcWallet:
    """A strategy trading BTCUSD_PERP beside BTCUSDT reads each wallet in its own asset."""

    def test_each_wallet_is_in_its_own_asset(self, seen: dict) -> None:  # type: ignore[type-arg]
        """Home BTC (the first file's symbol settles in it), a USDT wallet beside it, nothing added up."""
        from decimal import Decimal

        assert seen["start"] == ("BTC", ["BTC", "USDT"], {"BTC": Decimal("0.05"), "USDT": Decimal("1000")}, "BTC")

    def test_the_position_is_in_contracts_and_btc(self, seen: dict) -> None:  # type: ignore[type-arg]
        """100 contracts bought: the view's money is BTC and its entry the harmonic mean of the fills
        (not on the 0.1 grid); the BTC wallet paid the fee, the USDT wallet is untouched."""
        from decimal import Decimal

        asset, qty, entry, btc, home, equity, usd, mark, usdt = seen["fill"]
        assert (asset, qty) == ("BTC", Decimal(100)) and entry % Decimal("0.1") != 0
        assert btc == home < Decimal("0.05") and equity < Decimal("0.05") and usdt == Decimal("1000")
        assert usd == (Decimal("0.05") * mark).quantize(Decimal("0.00000001"), rounding="ROUND_FLOOR")
