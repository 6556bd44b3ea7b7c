"""``exsim replay --deposit AMOUNT[ASSET]``: deposits per asset, and one clear error line for
each way to get it wrong (README "Replaying your own files")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.replay import Replay, ReplayConfig
from exsim.replay.cli import SHIPPED_REPLAYS, load_strategy

SMALL = SHIPPED_REPLAYS / "btc-perp-20220121-1m.csv"  # 960 one-minute bars of BTCUSDT


def replay(**config: object) -> dict[str, object]:
    strategy = load_strategy("holder", ["qty=0.01", "leverage=20"])
    return Replay([SMALL], strategy, ReplayConfig(symbol="BTCUSDT", **config)).run()  # type: ignore[arg-type]


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc = main(["replay", str(SMALL), "--symbol", "BTCUSDT", "--no-progress", *argv])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("exsim: error: "), err
    return err


class TestDepositsInTheHomeAsset:
    def test_naming_usdt_is_the_same_run_as_balance(self) -> None:
        """--deposit 1000USDT ends in the state --balance 1000 ends in, with the same summary."""
        a, b = replay(balance="1000"), replay(deposits=("1000USDT",))
        assert a["state_hash"] == b["state_hash"] and a["account"] == b["account"]

    def test_a_bare_amount_is_the_home_asset(self) -> None:
        """--deposit 1000 on a BTCUSDT run deposits 1,000 USDT."""
        assert replay(deposits=("1000",))["account"]["deposit"] == "1000.00000000"  # type: ignore[index]

    def test_a_one_stablecoin_summary_has_no_asset_keys(self) -> None:
        """A USDT-only run's summary and config read as before --deposit existed."""
        s = replay(balance="1000")
        assert "assets" not in s and "asset" not in s["account"] and "deposits" not in s["config"]  # type: ignore[operator]


class TestBadDeposits:
    def test_an_asset_no_symbol_settles_in(self, capsys: pytest.CaptureFixture[str]) -> None:
        """0.05BTC on a BTCUSDT run: BTCUSDT settles in USDT, and the line says so."""
        err = one_line_error(["--deposit", "0.05BTC"], capsys)
        assert "field '--deposit'" in err and "no instrument of this run settles in BTC (they settle in USDT)" in err

    def test_a_malformed_amount(self, capsys: pytest.CaptureFixture[str]) -> None:
        """'lots' is not an amount: the expected forms are shown."""
        err = one_line_error(["--deposit", "lots"], capsys)
        assert "field '--deposit'" in err and "like 1000, 1000USDT or 0.05BTC" in err

    def test_the_same_asset_twice(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Two USDT deposits are refused rather than added."""
        err = one_line_error(["--deposit", "1000", "--deposit", "5USDT"], capsys)
        assert "USDT is given twice" in err

    def test_balance_and_deposit_together(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--balance is --deposit in USDT: both at once is refused."""
        err = one_line_error(["--balance", "1000", "--deposit", "1000USDT"], capsys)
        assert "give --balance or --deposit, not both" in err

    def test_nothing_is_written_for_a_refused_deposit(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The run stops before it starts: --out holds no summary."""
        one_line_error(["--deposit", "1ETH", "--out", str(tmp_path / "run")], capsys)
        assert not (tmp_path / "run" / "summary.json").exists()


def test_the_config_records_deposits_only_when_given(tmp_path: Path) -> None:
    """summary.json's config lists --deposit's amounts as given."""
    main(["replay", str(SMALL), "--symbol", "BTCUSDT", "--no-progress", "--deposit", "1000USDT", "--out", str(tmp_path / "r")])
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["config"]["deposits"] == ["1000USDT"]


class TestCoinFunds:
    def test_a_coin_fund_starts_with_ten_coins_and_a_stablecoin_fund_with_insurance_fund(self) -> None:
        """--insurance-fund is in USD stablecoins; each coin's fund starts with 10 of the coin
        (a BTC-margined run's fund is not 1,000,000 BTC)."""
        from exsim.instruments import get_instrument
        from exsim.replay.runner import insurance_fund_seeds

        seeds = insurance_fund_seeds(ReplayConfig(symbol="BTCUSDT"), [get_instrument("BTCUSDT"), get_instrument("BTCUSD_PERP")])
        assert seeds == {"USDT": 1_000_000 * 10**8, "BTC": 10 * 10**8}


def test_the_asset_table_reads_on_an_80_column_terminal() -> None:
    """A column per asset, a row per figure: no number is cut at 80 columns."""
    from rich.console import Console

    from exsim.replay.cli import asset_table

    summary = {
        "assets": {
            "USDT": {"deposit": "1000.00000000", "equity": "987.65432100", "pnl": "-12.34567900", "fees": "0.40000000",
                     "funding": "-0.01000000", "equity_usd": "987.65432100", "usd_price": "1", "usd_price_from": "stablecoin"},
            "BTC": {"deposit": "0.05000000", "equity": "0.04956188", "pnl": "-0.00043812", "fees": "0.00001000",
                    "funding": "0.00000000", "equity_usd": "3056.41000000", "usd_price": "61668.65",
                    "usd_price_from": "BTCUSD_PERP mark"},
        },
        "usd_value": {"equity": "4044.06432100"},
    }
    console = Console(width=80, record=True)
    console.print(asset_table(summary))
    text = console.export_text()
    for value in ("987.65432100", "0.04956188", "3056.41000000", "61668.65", "4044.06432100"):
        assert value in text
    assert "…" not in text
