"""Specification of ``exsim liq-price`` (exsim.calculator.liq_price_cli).

The command is wired into a local parser here (``add_parser`` on a fresh
``argparse`` subparsers object) which ``exsim.cli.main`` is made to use, so these tests
run the real ``main`` — its error handling included — without depending on the lead's
``build_parser``.
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from typing import Any

import pytest

import exsim.cli
from exsim.calculator.liq_price_cli import add_parser, run_liq_price

F = Fraction
WB = "1535443.01"
BTC = ["--side", "long", "--qty", "109.488", "--entry", "32481.98", "--wallet", WB]
BTC_FIXED = ["--mmr", "0.025", "--cum", "16300"]
BTC_OTHER = "long:109.488:32481.98:31967.27:0.025:16300"
ETH = ["--side", "long", "--qty", "3683.979", "--entry", "1456.84", "--wallet", WB]
ETH_FIXED = ["--mmr", "0.10", "--cum", "135365"]
ETH_OTHER = "long:3683.979:1456.84:1335.18:0.10:135365"


def local_parser() -> argparse.ArgumentParser:
    """A stand-in for exsim.cli.build_parser with only ``liq-price`` registered."""
    parser = argparse.ArgumentParser(prog="exsim")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_parser(sub)
    return parser


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``exsim liq-price ARGS`` through exsim.cli.main; returns (rc, stdout, stderr)."""
    monkeypatch.setattr(exsim.cli, "build_parser", local_parser)

    def run(*args: str) -> tuple[int, str, str]:
        rc = exsim.cli.main(["liq-price", *args])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def as_json(cli: Any, *args: str) -> dict[str, Any]:
    """Run with --json and parse the one object printed."""
    rc, out, err = cli(*args, "--json")
    assert (rc, err) == (0, "")
    data: dict[str, Any] = json.loads(out)
    return data


def cents(text: str) -> Fraction:
    """An 8-place decimal string rounded to the cent (half-even)."""
    return F(round(F(text), 2))


class TestWiring:
    def test_add_parser_sets_the_run_function(self) -> None:
        """add_parser registers liq-price with func=run_liq_price."""
        args = local_parser().parse_args(["liq-price", *BTC, *BTC_FIXED])
        assert args.func is run_liq_price and args.command == "liq-price"

    def test_run_function_returns_exit_code(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The run function returns 0 after printing."""
        args = local_parser().parse_args(["liq-price", *BTC, *BTC_FIXED])
        assert run_liq_price(args) == 0
        assert "liquidation price" in capsys.readouterr().out


class TestSpecExamples:
    def test_cross_btc(self, cli: Any) -> None:
        """§3: cross LP of BTC is 26,316.89, with ETH's MM and UPnL exactly as in the spec."""
        d = as_json(cli, *BTC, *BTC_FIXED, "--mode", "cross", "--other", ETH_OTHER)
        assert cents(d["liquidation_price"]) == F("26316.89")
        assert d["liquidation_price"] == "26316.89326452"
        assert d["other_contracts_maint_margin"] == "356512.50812200"
        assert d["other_contracts_upnl"] == "-448192.88514000"
        assert (d["mmr"], d["cum"], d["bracket"]) == ("0.02500000", "16300.00000000", None)
        assert d["margin_balance_at_lp"] == d["maint_margin_at_lp"]

    def test_cross_eth(self, cli: Any) -> None:
        """§3: cross LP of ETH is 1,153.26, with BTC's MM and UPnL exactly as in the spec."""
        d = as_json(cli, *ETH, *ETH_FIXED, "--mode", "cross", "--other", BTC_OTHER)
        assert cents(d["liquidation_price"]) == F("1153.26")
        assert d["other_contracts_maint_margin"] == "71200.81144400"
        assert d["other_contracts_upnl"] == "-56354.56848000"
        assert (d["mmr"], d["cum"]) == ("0.10000000", "135365.00000000")

    def test_isolated_btc(self, cli: Any) -> None:
        """§3: isolated LP of BTC with WB 1,535,443.01 is 18,778.73."""
        d = as_json(cli, *BTC, *BTC_FIXED, "--mode", "isolated")
        assert cents(d["liquidation_price"]) == F("18778.73")

    def test_isolated_eth(self, cli: Any) -> None:
        """§3: isolated LP of ETH with WB 1,535,443.01 is 1,114.78 (isolated is the default)."""
        d = as_json(cli, *ETH, *ETH_FIXED)
        assert cents(d["liquidation_price"]) == F("1114.78")

    @pytest.mark.parametrize("side, bp", [("long", "54000.00000000"), ("short", "66000.00000000")])
    def test_bankruptcy(self, cli: Any, side: str, bp: str) -> None:
        """§4: 1 BTC @ 60,000 with WB 6,000: bankruptcy 54,000 long, 66,000 short."""
        base = ["--side", side, "--qty", "1", "--entry", "60000", "--wallet", "6000"]
        assert as_json(cli, *base, "--symbol", "BTCUSDT")["bankruptcy_price"] == bp
        assert as_json(cli, *base, "--mmr", "0.005", "--cum", "0")["bankruptcy_price"] == bp
        rc, out, _ = cli(*base, "--symbol", "BTCUSDT")
        assert rc == 0 and f"bankruptcy price {bp}" in out

    @pytest.mark.parametrize("mmr, cum", [("0.005", "50"), ("0.01", "1300")])
    def test_level_3_maintenance_amount(self, cli: Any, mmr: str, cum: str) -> None:
        """§1: level 3's cum 1,300 is consistent with level 2 at 250,000: same LP and MM there."""
        base = ["--side", "long", "--qty", "10", "--entry", "30000", "--wallet", "51200"]
        d = as_json(cli, *base, "--mmr", mmr, "--cum", cum)
        assert d["liquidation_price"] == "25000.00000000"
        assert d["maint_margin_at_lp"] == "1200.00000000"

    def test_text_output_explains(self, cli: Any) -> None:
        """Without --json: the bracket, margin balance = maintenance margin, and the BP."""
        rc, out, err = cli(*BTC, *BTC_FIXED, "--mode", "cross", "--other", ETH_OTHER)
        assert (rc, err) == (0, "")
        assert "liquidation price 26316.89326452" in out
        assert "fixed bracket, MMR 2.5 %, cum 16300" in out
        assert "margin balance 412247.10836565 = maintenance margin 412247.10836565" in out
        assert "bankruptcy price 25807.84569544" in out

    def test_symbol_brackets_name_the_bracket(self, cli: Any) -> None:
        """--symbol accepts the unified name and reports the bracket number at the LP."""
        base = ["--side", "long", "--qty", "1", "--entry", "60000", "--wallet", "6000"]
        d = as_json(cli, *base, "--symbol", "BTC/USDT:USDT")
        assert (d["symbol"], d["bracket"], d["mmr"], d["cum"]) == (
            "BTCUSDT", 2, "0.00500000", "50.00000000",
        )
        rc, out, _ = cli(*base, "--symbol", "BTCUSDT")
        assert "bracket 2, MMR 0.5 %, cum 50" in out

    def test_no_positive_price_is_null(self, cli: Any) -> None:
        """A long covered down to zero: liquidation_price null, '--' in text."""
        base = ["--side", "long", "--qty", "1", "--entry", "60000", "--wallet", "70000"]
        d = as_json(cli, *base, "--symbol", "BTCUSDT")
        assert d["liquidation_price"] is None and d["bankruptcy_price"] is None
        assert d["status"] == "never"
        rc, out, _ = cli(*base, "--symbol", "BTCUSDT")
        assert rc == 0 and "liquidation price: --" in out

    def test_hedge_leg(self, cli: Any) -> None:
        """--hedge-leg adds the opposite leg; both legs are reported at the LP."""
        d = as_json(
            cli, "--side", "long", "--qty", "2", "--entry", "60000", "--wallet", "10000",
            "--mode", "cross", "--symbol", "BTCUSDT", "--hedge-leg", "short:1:61000",
        )
        assert [leg["side"] for leg in d["legs"]] == ["long", "short"]
        assert [leg["bracket"] for leg in d["legs"]] == [2, 1]
        assert d["margin_balance_at_lp"] == d["maint_margin_at_lp"]

    def test_short_json_rounds_down(self, cli: Any) -> None:
        """A short's LP is shown rounded down, its BP too."""
        d = as_json(
            cli, "--side", "short", "--qty", "3", "--entry", "100", "--wallet", "10",
            "--mmr", "0.01", "--cum", "0",
        )
        exact = (F(300) + 10) / (3 * F("1.01"))
        assert F(d["liquidation_price"]) < exact < F(d["liquidation_price"]) + F(1, 10**8)


class TestHelp:
    def test_help_explains_the_numbers(self, local_help: str) -> None:
        """--help says what margin balance, MM, LP, BP and bracket mean."""
        for phrase in (
            "margin balance",
            "maintenance margin",
            "liquidation price",
            "bankruptcy price",
            "bracket, mmr, cum",
            "SIDE:QTY:ENTRY:MARK:MMR:CUM",
            "--hedge-leg",
        ):
            assert phrase in local_help

    @pytest.fixture
    def local_help(self, cli: Any, capsys: pytest.CaptureFixture[str]) -> str:
        """The liq-price --help text."""
        with pytest.raises(SystemExit) as exc:
            cli("--help")
        assert exc.value.code == 0
        return capsys.readouterr().out


BASE = ["--side", "long", "--qty", "1", "--entry", "60000", "--wallet", "6000"]


class TestBadInput:
    @pytest.mark.parametrize(
        "args, start, expected",
        [
            (["--qty", "abc", "--side", "long", "--entry", "1", "--wallet", "1", "--symbol", "BTCUSDT"],
             "--qty: 'abc' is not a decimal number", "size in base units"),
            (["--qty", "0", "--side", "long", "--entry", "1", "--wallet", "1", "--symbol", "BTCUSDT"],
             "--qty: '0' must be > 0", "e.g. 0.5"),
            (["--qty", "1", "--entry", "1", "--wallet", "1", "--symbol", "BTCUSDT"],
             "--side: missing", "'long' or 'short'"),
            (["--side", "up", "--qty", "1", "--entry", "1", "--wallet", "1", "--symbol", "BTCUSDT"],
             "--side: 'up'", "'long' or 'short'"),
            (["--side", "long", "--qty", "1", "--entry", "1", "--symbol", "BTCUSDT"],
             "--wallet: missing", "USDT"),
            ([*BASE[:-1], "-5", "--symbol", "BTCUSDT"], "--wallet: '-5' must be >= 0", "USDT"),
            ([*BASE, "--entry", "1e999", "--symbol", "BTCUSDT"], "--entry:", "entry price"),
            ([*BASE, "--mode", "both", "--symbol", "BTCUSDT"], "--mode: 'both'", "'isolated' or 'cross'"),
            ([*BASE, "--symbol", "BTCUSDX"], "--symbol: unknown symbol 'BTCUSDX'", "BTCUSDT"),
            ([*BASE], "--symbol: missing", "--mmr R --cum C"),
            ([*BASE, "--symbol", "BTCUSDT", "--mmr", "0.01"], "--symbol: give either", "not both"),
            ([*BASE, "--mmr", "0.01"], "--cum: --mmr needs --cum", "USDT"),
            ([*BASE, "--cum", "5"], "--mmr: --cum needs --mmr", "0.025"),
            ([*BASE, "--mmr", "1.5", "--cum", "0"], "--mmr: '1.5' is above 1", "[0, 1]"),
            ([*BASE, "--mmr", "0.01", "--cum", "x"], "--cum: 'x' is not a decimal number", "USDT"),
            ([*BASE, "--symbol", "BTCUSDT", "--other", ETH_OTHER],
             "--other #1: other contracts share the cross wallet", "--mode cross"),
            ([*BASE, "--symbol", "BTCUSDT", "--mode", "cross", "--other", ETH_OTHER, "--other", "long:1:2:3"],
             "--other #2: 'long:1:2:3' has 4 field(s)", "SIDE:QTY:ENTRY:MARK:MMR:CUM"),
            ([*BASE, "--symbol", "BTCUSDT", "--mode", "cross", "--other", "long:1:2:0:0.01:0"],
             "--other #1: field 'mark': '0' must be > 0", "mark price"),
            ([*BASE, "--symbol", "BTCUSDT", "--mode", "cross", "--other", "flat:1:2:3:0.01:0"],
             "--other #1: field 'side': 'flat'", "'long' or 'short'"),
            ([*BASE, "--symbol", "BTCUSDT", "--mode", "cross", "--other", "long:1:2:3:2:0"],
             "--other #1: field 'mmr': '2' is above 1", "[0, 1]"),
            ([*BASE, "--symbol", "BTCUSDT", "--mode", "cross", "--other", "long:1:2:3:0.01:-1"],
             "--other #1: field 'cum': '-1' must be >= 0", "maintenance amount"),
            ([*BASE, "--symbol", "BTCUSDT", "--mode", "cross", "--hedge-leg", "long:1:60000"],
             "--hedge-leg: field 'side': 'long' is the same side", "opposite side"),
            ([*BASE, "--symbol", "BTCUSDT", "--mode", "cross", "--hedge-leg", "short:1"],
             "--hedge-leg: 'short:1' has 2 field(s)", "SIDE:QTY:ENTRY"),
            ([*BASE, "--symbol", "BTCUSDT", "--hedge-leg", "short:1:60000"],
             "--hedge-leg: in isolated mode", "--mode cross"),
        ],
    )
    def test_one_line_error_naming_the_option(
        self, cli: Any, args: list[str], start: str, expected: str
    ) -> None:
        """Bad input prints one 'exsim: error:' line naming the option and what was expected; exit 2."""
        rc, out, err = cli(*args)
        assert rc == 2 and out == ""
        assert err.startswith(f"exsim: error: {start}")
        assert expected in err
        assert err.count("\n") == 1 and "Traceback" not in err

    def test_unknown_option_is_argparse_usage_error(self, cli: Any) -> None:
        """An unknown option is argparse's usage error (exit 2), not a traceback."""
        with pytest.raises(SystemExit) as exc:
            cli(*BASE, "--symbol", "BTCUSDT", "--no-such-option", "10")
        assert exc.value.code == 2
