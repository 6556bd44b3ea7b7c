"""Specification of ``exsim liq-price --venue``: every venue vector through the real CLI
(``exsim.cli.main``), bad input as one line naming the option, Binance unchanged."""

from __future__ import annotations

import json
from fractions import Fraction as F
from typing import Any

import pytest

from exsim.cli import main

HL_ISSUE = [
    "--venue", "hyperliquid", "--symbol", "BTC", "--side", "long", "--qty", "0.00077", "--entry", "62739",
    "--margin", "24.137992", "--leverage", "2", "--mode", "isolated",
]
BYBIT_ISSUE = [
    "--venue", "bybit", "--side", "long", "--qty", "1", "--entry", "20000", "--leverage", "50",
    "--mmr", "0.005", "--cum", "0", "--mode", "isolated",
]
BYBIT_INVERSE_CROSS = [
    "--venue", "bybit", "--side", "long", "--qty", "10000", "--entry", "8000", "--wallet", "0.5",
    "--mode", "cross", "--contract-size", "1", "--mmr", "0.005", "--cum", "0", "--taker-fee", "0.00075",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["liq-price", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    rc, out, err = run(capsys, *args, "--json")
    assert (rc, err) == (0, "")
    data: dict[str, Any] = json.loads(out)
    return data


class TestIssueCommands:
    def test_hyperliquid_issue_command(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The issue's Hyperliquid command: BTC's shipped 40x tier (l = 1/80), the docs' formula."""
        d = as_json(capsys, *HL_ISSUE)
        q, ep, m, l = F("0.00077"), F(62739), F("24.137992"), F(1, 80)
        exact = ep - (m - q * ep * l) / q / (1 - l)
        assert d["venue"] == "hyperliquid" and "margin_available" in d["formula"]
        assert F(d["liquidation_price_exact"]) == exact
        assert d["liquidation_price"] == "31788.31234589"
        assert (d["mmr"], d["max_leverage"], d["tier"]) == ("0.0125", 40, 1)

    def test_bybit_issue_command_gives_19700(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The issue's Bybit command: isolated margin = 20,000 / 50 = 400 → 19,700."""
        d = as_json(capsys, *BYBIT_ISSUE)
        assert d["venue"] == "bybit"
        assert (d["liquidation_price"], d["initial_margin"], d["maint_margin"]) == ("19700.00000000", "400.00000000", "100.00000000")
        assert "value at entry" in d["formula"]

    def test_bybit_short_gives_20300(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The same short: 20,300."""
        args = [a if a != "long" else "short" for a in BYBIT_ISSUE]
        assert as_json(capsys, *args)["liquidation_price"] == "20300.00000000"

    def test_bybit_bankruptcy_9800(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Long 1 at 10,000, 50x: bankruptcy price 9,800."""
        args = ["--venue", "bybit", "--side", "long", "--qty", "1", "--entry", "10000", "--leverage", "50", "--mmr", "0.005", "--cum", "0"]
        assert as_json(capsys, *args)["bankruptcy_price"] == "9800.00000000"

    def test_bybit_shipped_tier_is_chosen_at_entry_value(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--symbol BTCUSDT: 100 BTC at 30,000 (3,000,000 USDT) sits in tier 2 (MMR 1 %)."""
        args = ["--venue", "bybit", "--symbol", "BTCUSDT", "--side", "long", "--qty", "100", "--entry", "30000", "--leverage", "20"]
        d = as_json(capsys, *args)
        assert (d["tier"], d["mmr"], d["deduction"]) == (2, "0.01", "10000.00000000")
        # LP = EP − (IM − MM) / Q, MM = 3,000,000 × 1 % − 10,000
        assert F(d["liquidation_price"]) == 30000 - F(150000 - 20000) / 100


class TestBybitInverseCross:
    def test_bankruptcy_5718_57_and_equation_5739_08(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Help page example: BP 5,718.57; LP from the page's equation 5,739.08 (not 5,739.50)."""
        d = as_json(capsys, *BYBIT_INVERSE_CROSS)
        assert d["bankruptcy_price"].startswith("5718.57")
        assert d["liquidation_price"].startswith("5739.08")
        assert d["inverse"] is True and d["taker_fee"] == "0.00075"

    def test_symbol_btcusd_gives_the_same(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--symbol BTCUSD: 1 USD contracts, tier 1 (MMR 0.5 %), the same prices."""
        args = ["--venue", "bybit", "--symbol", "BTCUSD", "--side", "long", "--qty", "10000", "--entry", "8000",
                "--wallet", "0.5", "--mode", "cross", "--taker-fee", "0.00075"]
        d = as_json(capsys, *args)
        assert d["liquidation_price"].startswith("5739.08") and d["tier"] == 1

    def test_text_notes_the_printed_figure(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The explanation names the venue rule and the 5,739.50 discrepancy."""
        rc, out, _ = run(capsys, *BYBIT_INVERSE_CROSS)
        assert rc == 0 and out.startswith("Bybit")
        assert "5,739.50" in out and "rule: " in out


class TestHyperliquid:
    def test_max_leverage_overrides_the_shipped_tiers(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--max-leverage 50 reproduces the 50x era: Hyperliquid then showed 31,708.0384."""
        d = as_json(capsys, *HL_ISSUE, "--max-leverage", "50")
        assert abs(F(d["liquidation_price"]) - F("31708.03843631")) < F(1, 1000)

    def test_made_up_asset_needs_only_max_leverage(self, capsys: pytest.CaptureFixture[str]) -> None:
        """No --symbol: the asset is one tier at --max-leverage; --leverage sets the margin."""
        d = as_json(capsys, "--venue", "hyperliquid", "--side", "short", "--qty", "10", "--entry", "2", "--leverage", "4", "--max-leverage", "10")
        # margin 10 × 2 / 4 = 5, MM 20 × 1/20 = 1, l = 1/20: LP = 2 + 4 / 10 / 1.05
        assert F(d["liquidation_price_exact"]) == 2 + F(4) / 10 / F("1.05")

    def test_cross_with_other_positions(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Cross: account value = wallet + every UPnL; MM required includes the others' at their marks."""
        d = as_json(capsys, "--venue", "hyperliquid", "--symbol", "BTC", "--side", "long", "--qty", "1", "--entry", "60000",
                    "--wallet", "10000", "--mode", "cross", "--other", "short:10:3000:3100:0.0125:0")
        av = F(10000) - 1000
        mm = 60000 * F(1, 80) + 31000 * F("0.0125")
        assert F(d["account_value_at_mark"]) == av
        assert F(d["liquidation_price_exact"]) == 60000 - (av - mm) / (1 - F(1, 80))

    def test_coin_names_are_accepted(self, capsys: pytest.CaptureFixture[str]) -> None:
        """BTC, BTC-USD, BTCUSDT and BTC/USDC:USDC all name the BTC tiers."""
        prices = {as_json(capsys, *[a if a != "BTC" else name for a in HL_ISSUE])["liquidation_price"]
                  for name in ("BTC", "btc-usd", "BTCUSDT", "BTC/USDC:USDC")}
        assert len(prices) == 1


class TestDydx:
    def test_fillable_and_bankruptcy_at_the_oracle(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Long 1 at oracle 50,000, MM 1,500, TNC 750 → fillable 49,925, bankruptcy 49,250."""
        d = as_json(capsys, "--venue", "dydx", "--side", "long", "--qty", "1", "--entry", "50000", "--margin", "750", "--mmr", "0.03", "--mark", "50000")
        m = d["at_mark"]
        assert (m["total_maint_requirement"], m["total_net_collateral"]) == ("1500.00000000", "750.00000000")
        assert (m["fillable_price"], m["bankruptcy_price"], m["liquidatable"]) == ("49925.00000000", "49250.00000000", True)

    def test_b_bankruptcy_price_1_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """B: short 500 at 1 with 100, price 2 → bankruptcy price 1.2 (the docs' A/B example)."""
        d = as_json(capsys, "--venue", "dydx", "--symbol", "BTC", "--side", "short", "--qty", "500", "--entry", "1", "--margin", "100", "--mark", "2")
        assert d["at_mark"]["bankruptcy_price"] == "1.20000000" and d["mmf"] == "0.03"

    def test_long_500_at_0_801_is_liquidatable(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Long 500 at 1 with 100, MMF 3 %: MM 15 at entry; at 0.801 PnL −99.5, TNC 0.5."""
        d = as_json(capsys, "--venue", "dydx", "--symbol", "ETH-USD", "--side", "long", "--qty", "500", "--entry", "1", "--margin", "100", "--mark", "0.801")
        assert (d["maint_margin_at_entry"], d["unrealized_pnl_at_mark"]) == ("15.00000000", "-99.50000000")
        assert (d["at_mark"]["total_net_collateral"], d["at_mark"]["liquidatable"]) == ("0.50000000", True)
        assert d["liquidation_price_exact"] == "80/97"

    def test_equality_is_not_liquidatable(self, capsys: pytest.CaptureFixture[str]) -> None:
        """At TNC = TMMR exactly dYdX does not liquidate (strict trigger)."""
        d = as_json(capsys, "--venue", "dydx", "--side", "long", "--qty", "1", "--entry", "100", "--margin", "3", "--mmr", "0.03")
        assert d["at_mark"]["liquidatable"] is False


class TestBinanceUnchanged:
    BASE = ["--side", "long", "--qty", "1", "--entry", "60000", "--wallet", "6000", "--symbol", "BTCUSDT"]

    def test_default_output_is_byte_identical_to_explicit_binance_minus_the_venue_keys(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without --venue the JSON has no venue keys; --venue binance adds only them."""
        plain = as_json(capsys, *self.BASE)
        named = as_json(capsys, *self.BASE, "--venue", "binance")
        assert "venue" not in plain
        assert named.pop("venue") == "binance"
        assert "cum" in named.pop("formula")
        assert named == plain

    def test_binance_leverage_sets_isolated_margin(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--leverage 10 with no wallet: the bucket holds 60,000 / 10 = 6,000, as --wallet 6000."""
        lev = as_json(capsys, "--side", "long", "--qty", "1", "--entry", "60000", "--leverage", "10", "--symbol", "BTCUSDT")
        assert lev == as_json(capsys, *self.BASE)

    def test_binance_margin_is_the_isolated_wallet(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--margin 6000 is the isolated bucket's margin."""
        m = as_json(capsys, "--side", "long", "--qty", "1", "--entry", "60000", "--margin", "6000", "--symbol", "BTCUSDT")
        assert m == as_json(capsys, *self.BASE)


    def test_named_binance_text_is_prefixed_by_the_venue(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--venue binance prints today's explanation after the venue's title."""
        _, plain, _ = run(capsys, *self.BASE)
        _, named, _ = run(capsys, *self.BASE, "--venue", "binance")
        assert named == "Binance USDⓈ-M / COIN-M: " + plain


def _doc_commands() -> list[list[str]]:
    """The ``exsim liq-price`` commands of docs/venues.md, continuation lines joined."""
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "venues.md").read_text()
    joined = text.replace("\\\n", " ")
    return [shlex.split(line)[2:] for line in joined.splitlines() if line.startswith("exsim liq-price")]


@pytest.mark.parametrize("args", _doc_commands())
def test_docs_commands_run(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    """Every liq-price command docs/venues.md shows runs (exit 0, no error)."""
    rc, out, err = run(capsys, *args)
    assert (rc, err) == (0, "") and out


class TestBadInput:
    @pytest.mark.parametrize(
        "args, start",
        [
            (["--venue", "okx", *HL_ISSUE[2:]], "--venue: 'okx' is not a venue"),
            ([*HL_ISSUE[:2], "--side", "long", "--qty", "1", "--entry", "1", "--leverage", "2"], "--max-leverage: missing"),
            ([*HL_ISSUE, "--max-leverage", "2.5"], "--max-leverage: '2.5' is not a whole number"),
            ([*HL_ISSUE, "--mmr", "0.01"], "--mmr: Hyperliquid's MMR is 1 / (2 x max leverage)"),
            ([*HL_ISSUE[:2], "--symbol", "NOPE", *HL_ISSUE[4:]], "--symbol: no shipped Hyperliquid margin tiers for NOPE"),
            ([*HL_ISSUE[:2], "--symbol", "BTCUSD_PERP", *HL_ISSUE[4:]], "--symbol: Hyperliquid lists no inverse"),
            ([*HL_ISSUE, "--wallet", "5"], "--margin: give --wallet"),
            (["--venue", "dydx", "--side", "long", "--qty", "1", "--entry", "1", "--leverage", "2"], "--symbol: missing"),
            (["--venue", "dydx", "--side", "long", "--qty", "1", "--entry", "1", "--leverage", "2", "--mmr", "0.03", "--cum", "5"], "--cum: '5': dYdX has no maintenance deduction"),
            (["--venue", "dydx", "--side", "long", "--qty", "1", "--entry", "1", "--leverage", "2", "--mmr", "0.03", "--contract-size", "1"], "--contract-size: dYdX v4 lists no inverse"),
            ([*BYBIT_ISSUE, "--mark", "1"], "--mark: is for --venue hyperliquid|dydx, not bybit"),
            ([*BYBIT_ISSUE[:-2], "--mode", "cross"], "--leverage: sets an isolated margin"),
            ([*BYBIT_ISSUE, "--symbol", "BTCUSDT"], "--symbol: give either"),
            (["--venue", "bybit", "--symbol", "BTC-PERP", *BYBIT_ISSUE[2:10]], "--symbol: 'BTC-PERP' is not a Bybit perpetual"),
            ([*BYBIT_ISSUE, "--leverage", "0"], "--leverage: '0' must be > 0"),
            ([*BYBIT_INVERSE_CROSS, "--other", "long:1:2:3:0.01:0"], "--other #1: Bybit's cross formulas are for one position"),
            ([*BYBIT_INVERSE_CROSS[:-2], "--taker-fee", "2"], "--taker-fee: '2' is 1 or more"),
            ([*BYBIT_ISSUE, "--hedge-leg", "short:1:1"], "--hedge-leg: hedge mode is Binance's"),
            (["--side", "long", "--qty", "1", "--entry", "1", "--symbol", "BTCUSDT", "--max-leverage", "5", "--wallet", "1"], "--max-leverage: is for --venue hyperliquid|dydx"),
            (["--side", "long", "--qty", "1", "--entry", "1", "--symbol", "BTCUSDT", "--margin", "1", "--mode", "cross"], "--margin: --margin is an isolated position's collateral"),
        ],
    )
    def test_one_line_naming_the_option(self, capsys: pytest.CaptureFixture[str], args: list[str], start: str) -> None:
        """Bad input: exit 2, one ``exsim: error:`` line naming the option, no traceback."""
        rc, out, err = run(capsys, *args)
        assert (rc, out) == (2, "")
        lines = err.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"exsim: error: {start}"), lines[0]
