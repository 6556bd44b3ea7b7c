"""Specification of ``exsim margin ACCOUNT.toml --venue``: the account under a venue's
tiers and maintenance rule, or one line refusing what the venue does not have."""

from __future__ import annotations

import json
from fractions import Fraction as F
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.venues import prices
from exsim.venues.tiers import HYPERLIQUID_TIERS

ISOLATED_BTC = """
collateral_mode = "single-asset"
[wallets]
USDT = "0"
[[positions]]
symbol = "BTCUSDT"
side = "long"
size = "1"
entry = "60000"
mark = "60000"
leverage = 10
margin_mode = "isolated"
margin = "6000"
"""

EQUALITY = """
collateral_mode = "single-asset"
[wallets]
USDT = "0"
[[positions]]
symbol = "XYZUSDT"
side = "long"
size = "1"
entry = "100"
mark = "100"
leverage = 10
margin_mode = "isolated"
margin = "3"
maint_margin_rate = "0.03"
"""


def report(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *args: str) -> dict[str, Any]:
    path = tmp_path / "account.toml"
    path.write_text(text)
    rc = main(["margin", str(path), *args, "--json"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, "")
    data: dict[str, Any] = json.loads(out)
    return data


def test_hyperliquid_liquidation_price_is_the_docs_formula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under Hyperliquid, BTC's 40x tier: the account's liquidation price is the docs' formula."""
    r = report(tmp_path, capsys, ISOLATED_BTC, "--venue", "hyperliquid")
    pos = r["positions"][0]
    sol = prices.hyperliquid_liquidation_price(1, 1, 60000, 6000, HYPERLIQUID_TIERS["BTC"])
    assert sol.price is not None
    assert r["venue"] == "hyperliquid"
    assert (pos["maintenance_margin"], pos["maint_margin_rate"]) == ("750.00000000", "0.0125")
    assert abs(F(pos["liquidation_price"]) - sol.price) < F(1, 10**8)


def test_bybit_maintenance_is_fixed_at_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under Bybit the MM is the entry value's (tier 1, 0.5 %: 300), whatever the mark, and the
    liquidation price is EP − (margin − MM) / Q."""
    moved = ISOLATED_BTC.replace('mark = "60000"', 'mark = "50000"')
    r = report(tmp_path, capsys, moved, "--venue", "bybit")
    pos = r["positions"][0]
    assert pos["maintenance_margin"] == "300.00000000"
    assert F(pos["liquidation_price"]) == prices.bybit_liquidation_price(1, 1, 60000, 6000, "0.005")


def test_dydx_is_not_liquidated_at_equality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Balance = MM exactly: Binance liquidates, dYdX does not (TMMR > TNC is strict)."""
    assert report(tmp_path, capsys, EQUALITY)["liquidatable"] is True
    assert report(tmp_path, capsys, EQUALITY, "--venue", "dydx")["liquidatable"] is False


def test_binance_report_has_no_venue_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --venue (or with --venue binance) the report is today's."""
    plain = report(tmp_path, capsys, ISOLATED_BTC)
    assert "venue" not in plain
    assert report(tmp_path, capsys, ISOLATED_BTC, "--venue", "binance") == plain


def test_hyperliquid_stress_has_no_multi_assets_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hyperliquid has no multi-assets collateral: the stress table leaves that mode out."""
    r = report(tmp_path, capsys, ISOLATED_BTC, "--venue", "hyperliquid")
    assert set(r["stress"][0]["modes"]) == {"single-asset", "isolated"}


@pytest.mark.parametrize(
    "text, args, start",
    [
        (ISOLATED_BTC.replace('"single-asset"', '"multi-assets"').replace('margin_mode = "isolated"\nmargin = "6000"', ""),
         ["--venue", "dydx"], "exsim: error: --venue: dYdX v4 has no multi-assets collateral"),
        (ISOLATED_BTC, ["--venue", "ftx"], "exsim: error: --venue: 'ftx' is not a venue"),
        (ISOLATED_BTC.replace("leverage = 10", "leverage = 50"), ["--venue", "hyperliquid"],
         "exsim: error: "),
    ],
)
def test_refusals_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, args: list[str], start: str) -> None:
    """What a venue does not have (or a leverage above its tier) is one line, exit 2."""
    path = tmp_path / "account.toml"
    path.write_text(text)
    rc = main(["margin", str(path), *args])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and err.startswith(start)
    if "leverage = 50" in text:
        assert "40x" in err and "hyperliquid's tiers" in err
