"""The coin-margined built-in (``exsim compare coin-margined``): the same 10x BTC long with
USDT and with BTC collateral through one crash, and a 1x BTC-margined short that is a
synthetic dollar. Each figure is computed by hand in the docstring; every run checks the
ledger (money conserved per asset) and the exchange after every command.

Setup, no fees: BTCUSDT long 0.25 BTC at 40,000 (10,000 USDT) at 10x with 1,000 USDT;
BTCUSD_PERP long 100 contracts × 100 USD at 40,000 (0.25 BTC) at 10x with 0.025 BTC (1,000
USD at 40,000); BTCUSD_PERP short 100 contracts at 1x with 0.25 BTC. Both brackets: MMR
0.4 %, cum 0. The mark path: 40,000, 38,000, 36,800, 36,500 (30m), 36,300, 36,100 (50m),
30,000, 20,000, 40,000, 100,000, 400,000 (100m).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exsim.scenario.cli import resolve
from exsim.scenario.runner import MarkStep, ScenarioRun
from exsim.scenario.spec import load_scenario


def run(mode: str) -> dict[str, Any]:
    return ScenarioRun(load_scenario(resolve("coin-margined")), margin_mode=mode, check_every_event=True).run()


def account(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in summary["accounts"] if a["name"] == name)


@pytest.fixture(scope="module")
def isolated() -> dict[str, Any]:
    return run("isolated")


def start_liquidation_prices() -> dict[str, Decimal]:
    """Each account's liquidation price right after setup, at the start marks, as the engine computes it."""
    r = ScenarioRun(load_scenario(resolve("coin-margined")), check_every_event=True)
    t0 = r.scenario.start_ns
    r._setup(t0)
    for symbol, path in r.scenario.paths.items():
        r._mark_step(MarkStep(t0, symbol, path[0][1]))
    out = {}
    for spec in r.accounts:
        p = spec.positions[0]
        acct = r.ledger.account_for(spec.account_id, p.symbol)
        pos = acct.positions[(p.symbol, 0)]
        lp = r.exchange.liquidator.liquidation_prices(acct, [pos], True)[0]
        out[spec.name] = None if not lp else Decimal(lp).scaleb(-8)  # subticks: 1e-8 USD(T)
    return out


class TestTheLongs:
    def test_the_linear_long_liquidates_at_36_144_58(self) -> None:
        """USDT collateral: 1,000 + 0.25 (P − 40,000) = 0.004 × 0.25 P  →  P = 9,000 / 0.249 = 36,144.578…"""
        lp = start_liquidation_prices()["usdt-long"]
        assert lp is not None and lp.quantize(Decimal("0.01")) == Decimal("36144.58")

    def test_the_inverse_long_liquidates_at_36_509_09(self) -> None:
        """BTC collateral: 0.025 + 10,000 (1/40,000 − 1/P) = 0.004 × 10,000 / P  →  0.275 P = 10,040,
        P = 36,509.0909…: 365 USD higher than the linear long's, as the BTC backing it falls too.
        The engine's price is that to the cent (its coin amounts are whole satoshi: 36,509.0912…)."""
        lp = start_liquidation_prices()["btc-long"]
        assert lp is not None and lp.quantize(Decimal("0.01")) == Decimal("36509.09")

    def test_the_coin_margined_long_is_liquidated_first(self, isolated: dict[str, Any]) -> None:
        """The mark 36,500 (30m) is below 36,509.09: the BTC long goes; the USDT long holds until 36,100 (50m)."""
        btc, usdt = account(isolated, "btc-long"), account(isolated, "usdt-long")
        assert (btc["first_liquidation_after_s"], btc["liquidation_marks"]) == ("1800", ["36500.0"])
        assert (usdt["first_liquidation_after_s"], usdt["liquidation_marks"]) == ("3000", ["36100.0"])

    def test_what_each_long_keeps(self, isolated: dict[str, Any]) -> None:
        """Sold into the bids at the mark. USDT: 1,000 − 0.25 × 3,900 = 25 USDT. BTC: exit value
        floor(10,000 / 36,500 BTC) = 0.27397260, PnL 0.25 − 0.27397260, kept 0.025 − 0.02397260 = 0.00102740 BTC."""
        btc, usdt = account(isolated, "btc-long"), account(isolated, "usdt-long")
        assert (usdt["asset"], usdt["remaining_balance"]) == ("USDT", "25.00000000")
        assert (btc["asset"], btc["remaining_balance"]) == ("BTC", "0.00102740")
        assert btc["assets"]["BTC"]["realised_pnl"] == "-0.02397260"

    def test_both_modes_agree_when_the_deposit_is_the_initial_margin(self) -> None:
        """With the deposit equal to the initial margin and no fees, cross has no more behind the
        position than the isolated bucket: the same liquidation times in both modes."""
        cross = run("cross")
        for name in ("usdt-long", "btc-long"):
            assert account(cross, name)["first_liquidation_after_s"] == account(run("isolated"), name)["first_liquidation_after_s"]


class TestTheSyntheticDollar:
    def test_no_real_price_liquidates_a_1x_short_on_its_own_coin(self) -> None:
        """Margin balance = 0.25 + 10,000 (1/P − 1/40,000) = 10,000 / P and MM = 0.004 × 10,000 / P:
        their ratio is 0.4 % at every price. In whole satoshi the two meet only where the
        short's whole value, 10,000 USD / P, is down to about one satoshi: P near 10^12 USD."""
        lp = start_liquidation_prices()["btc-short-1x"]
        assert lp is None or lp >= Decimal(10) ** 11

    def test_the_short_rides_out_the_crash_and_the_tenfold_rally(self, isolated: dict[str, Any]) -> None:
        """From 20,000 to 400,000 the short is never liquidated and its margin ratio stays at 0.4 %."""
        short = account(isolated, "btc-short-1x")
        assert short["liquidations"] == [] and Decimal(short["highest_margin_ratio"]) <= Decimal("0.0040001")

    def test_the_short_keeps_10_000_usd(self, isolated: dict[str, Any]) -> None:
        """At the last mark, 400,000: equity 10,000 / 400,000 = 0.025 BTC, worth 10,000 USD — what it started with."""
        short = account(isolated, "btc-short-1x")
        assert short["remaining_balance"] == "0.02500000"
        assert (short["usd_value"]["deposit"], short["usd_value"]["remaining_balance"]) == ("10000.00000000", "10000.00000000")

    def test_the_usd_price_is_the_inverse_contracts_mark(self, isolated: dict[str, Any]) -> None:
        """BTC is converted at BTCUSD_PERP's mark (USD per BTC); USDT at 1."""
        assert isolated["usd_conversion"] == {"USDT": "1 USDT = 1 USD", "BTC": "BTCUSD_PERP mark"}
        assert account(isolated, "btc-short-1x")["assets"]["BTC"]["usd_price"] == "400000.0"


def test_compare_prints_the_accounts_side_by_side(tmp_path: Any, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """exsim compare coin-margined: every account's collateral, liquidation mark and USD balance per mode."""
    from exsim.cli import main

    monkeypatch.setenv("COLUMNS", "200")  # (one table row a line)
    assert main(["compare", "coin-margined", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    for phrase in ("collateral", "liquidated at mark", "36500.0", "36100.0", "remaining balance, USD",
                   "BTC: BTCUSD_PERP mark"):
        assert phrase in out, phrase
    assert (tmp_path / "c" / "compare.png").is_file()
    assert "equity_usd" in (tmp_path / "c" / "isolated" / "timeseries.csv").read_text().splitlines()[0]


def test_the_trades_file_tells_the_btc_long_in_btc(tmp_path: Any) -> None:
    """trades.csv: bought 100 contracts at 40,000 (0.25 BTC), sold at 36,500 (0.27397260 BTC),
    realized 0.25 − 0.27397260 = −0.02397260 BTC — the ledger's figure (the trip book checks it)."""
    import csv

    ScenarioRun(load_scenario(resolve("coin-margined")), out_dir=tmp_path, check_every_event=True).run()
    with open(tmp_path / "trades.csv", newline="") as f:
        trip = next(r for r in csv.DictReader(f) if r["account"] == "2")
    assert (trip["avg_entry_price"], trip["avg_exit_price"]) == ("40000.00000000", "36500.00036500")
    assert (trip["entry_notional"], trip["exit_notional"], trip["realized_pnl"]) == ("0.25000000", "0.27397260", "-0.02397260")


FLIP = """\
[scenario]
name = "inverse-flip"

[[instruments]]
symbol = "BTCUSD_PERP"
inverse = true
contract_size = "100"
tick_size = "0.1"
lot_size = "1"
brackets = [{ cap = "5", mmr = "0.004", max_leverage = 125 }]
maker_fee = "0"
taker_fee = "0"

[[accounts]]
name = "flipper"
deposit = "0.1 BTC"

[[accounts.positions]]
symbol = "BTCUSD_PERP"
side = "long"
qty = "100"
price = "40000"
leverage = 10

[[accounts.orders]]
at = "15m"
symbol = "BTCUSD_PERP"
side = "sell"
type = "market"
qty = "150"

[paths.BTCUSD_PERP]
marks = [["0s", "40000"], ["10m", "41000"], ["20m", "41000"]]
"""


def test_a_flip_splits_its_one_coin_value_as_the_ledger_does(tmp_path: Any) -> None:
    """Long 100 at 40,000, then sell 150 at 41,000.0: the fill's value floor(15,000 / 41,000) =
    0.36585365 BTC splits floor(0.36585365 × 100 / 150) = 0.24390243 to the close and 0.12195122
    to the new short. The long realizes 0.25 − 0.24390243 = +0.00609757 BTC; the short's entry
    cost is the rest, 0.12195122 BTC (the trip book checks each against the ledger)."""
    import csv

    path = tmp_path / "flip.toml"
    path.write_text(FLIP)
    ScenarioRun(load_scenario(path), out_dir=tmp_path / "run", check_every_event=True).run()
    with open(tmp_path / "run" / "trades.csv", newline="") as f:
        closed, opened = list(csv.DictReader(f))
    assert (closed["exit_notional"], closed["realized_pnl"]) == ("0.24390243", "0.00609757")
    assert (opened["side"], opened["entry_qty"], opened["entry_notional"]) == ("short", "50", "0.12195122")
