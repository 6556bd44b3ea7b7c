"""Specification of ``exsim margin ACCOUNT.toml`` (exsim.calculator.account_cli): the figures.

Every test runs the real ``exsim.cli.main`` on an account file (the shipped examples in
``examples/accounts`` or a small file written here) and reads the ``--json`` object.
Expected figures are worked by hand in the docstrings.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import exsim.cli
from exsim.calculator.account_cli import (
    load_account,
    multi_assets_liquidation_price,
    single_asset_liquidation_price,
)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = ROOT / "examples" / "accounts"
FAQ = ACCOUNTS / "binance-multi-assets-faq.toml"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """``exsim margin ARGS --json``: exit 0, nothing on stderr, one JSON object."""
    rc = exsim.cli.main(["margin", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, "")
    data: dict[str, Any] = json.loads(out)
    return data


def shown(text: str, places: int) -> str:
    """A decimal string as a person shows it with ``places`` decimals (half up)."""
    return str(Decimal(text).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def without_positions(tmp_path: Path, source: Path) -> Path:
    """A copy of ``source`` cut before its first ``[[positions]]`` table."""
    text = source.read_text(encoding="utf-8")
    path = tmp_path / "flat.toml"
    path.write_text(text[: text.index("[[positions]]")], encoding="utf-8")
    return path


def write(tmp_path: Path, text: str, name: str = "account.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestBinanceFaq:
    """Binance's official Multi-Assets example, figure by figure, to the digits it shows."""

    def test_wallets_alone(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """USDT 200 × bid rate 0.9801 + USDC 220 = 416.02; USDT available 416.02 / 0.99495
        = 418.13; USDC 416.02; margin ratio 0."""
        r = run_json(capsys, without_positions(tmp_path, FAQ))
        assert shown(r["account_equity"], 2) == "416.02"
        assert shown(r["available_for_order"]["USDT"], 2) == "418.13"
        assert shown(r["available_for_order"]["USDC"], 2) == "416.02"
        assert r["account_margin_ratio"] == "0.00000000"
        assert r["account_margin_ratio_percent"] == "0.00"

    def test_rates(self, capsys: pytest.CaptureFixture[str]) -> None:
        """USDT: bid rate 0.99 × (1 − 0.01) = 0.9801, ask rate 0.99 × 1.005 = 0.99495."""
        r = run_json(capsys, FAQ)
        usdt = next(a for a in r["assets"] if a["asset"] == "USDT")
        assert (usdt["bid_rate"], usdt["ask_rate"]) == ("0.9801", "0.99495")

    def test_with_positions(self, capsys: pytest.CaptureFixture[str]) -> None:
        """IM = 10,000 / 100 × 0.99495 + 12,000 / 50 = 339.495, available 416.02 − 339.495
        = 76.525 (USDT 76.525 / 0.99495 = 76.91, USDC 76.525); MM = 80 × 0.99495 + 120
        = 199.596; ratio 199.596 / 416.02 = 47.98 %."""
        r = run_json(capsys, FAQ)
        assert shown(r["account_available_for_order"], 3) == "76.525"
        assert shown(r["available_for_order"]["USDT"], 2) == "76.91"
        assert shown(r["available_for_order"]["USDC"], 3) == "76.525"
        assert shown(r["account_maintenance_margin"], 3) == "199.596"
        assert r["account_margin_ratio_percent"] == "47.98"
        assert Fraction(r["account_margin_ratio"]) - Fraction(199596, 416020) < Fraction(1, 10**8)

    def test_position_figures(self, capsys: pytest.CaptureFixture[str]) -> None:
        """BTCUSDT: notional 10,000, IM 100, MM 80 (0.8 %); ETHUSDC: 12,000, 240, 120 (1 %)."""
        r = run_json(capsys, FAQ)
        got = [(p["symbol"], p["notional"], p["initial_margin"], p["maintenance_margin"], p["maint_margin_rate"])
               for p in r["positions"]]
        assert got == [
            ("BTCUSDT", "10000.00000000", "100.00000000", "80.00000000", "0.008"),
            ("ETHUSDC", "12000.00000000", "240.00000000", "120.00000000", "0.01"),
        ]

    def test_btc_liquidation_price_crosses_into_a_usdt_debt(self, capsys: pytest.CaptureFixture[str]) -> None:
        """ETHUSDC held at 600. Below 19,600 the USDT equity 0.5P − 9,800 is negative and
        counts at the ask rate: 0.99495 × (0.5P − 9,800) + 220 − 0.99495 × 0.004P − 120 = 0
        at P = 9,650.51 / 0.4934952 = 19,555.4283000... (rounded up: liquidated at or below)."""
        r = run_json(capsys, FAQ)
        btc = r["positions"][0]
        exact = Fraction("9650.51") / Fraction("0.4934952")
        assert btc["liquidation_price"] == "19555.42830002"
        assert Fraction(btc["liquidation_price"]) - exact < Fraction(1, 10**8)
        assert btc["liquidated_when_mark"] == "at or below"

    def test_text_output_shows_the_figures(self) -> None:
        """The text tables carry the same figures as the JSON (equity, ratio)."""
        import subprocess
        import sys

        out = subprocess.run(
            [sys.executable, "-m", "exsim.cli", "margin", str(FAQ)],
            capture_output=True, text=True, check=True, env={"COLUMNS": "160", "PATH": ""},
        ).stdout
        assert "416.02" in out and "47.98 %" in out and "199.596" in out


class TestMoreAccounts:
    """The other shipped example accounts, pinned by the arithmetic in their headers."""

    def test_tiered_btc_collateral(self, capsys: pytest.CaptureFixture[str]) -> None:
        """25 BTC at 60,000 through tiers 0.98 / 0.95 / 0.9: 60,000 × 23.8 = 1,428,000
        (haircut 72,000); USDT −10,000; equity 1,418,000; MM 1,450; ratio 0.11 %."""
        r = run_json(capsys, ACCOUNTS / "bybit-tiered-btc-collateral.toml")
        btc = next(a for a in r["assets"] if a["asset"] == "BTC")
        assert (btc["value"], btc["haircut"]) == ("1428000.00000000", "72000.00000000")
        assert r["account_equity"] == "1418000.00000000"
        assert r["account_maintenance_margin"] == "1450.00000000"
        assert r["account_margin_ratio_percent"] == "0.11"

    def test_tiered_collateral_liquidation_index(self, capsys: pytest.CaptureFixture[str]) -> None:
        """With ETHUSDT held, equity − MM = V(I) − 10,000 − 1,450 where V(I) = 23.8 × I
        (25 BTC through the tiers): zero at I = 11,450 / 23.8 = 481.0924369747..."""
        r = run_json(capsys, ACCOUNTS / "bybit-tiered-btc-collateral.toml")
        (btc,) = r["collateral_liquidation"]
        assert btc["liquidation_index"] == "481.09243698"
        assert btc["liquidated_when_index"] == "at or below"

    def test_haircuts_bybit_gives_the_same_tiers(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """The shipped Bybit data holds the same BTC tiers: without the file's tiers and with
        ``--haircuts bybit`` the figures do not change."""
        src = ACCOUNTS / "bybit-tiered-btc-collateral.toml"
        text = src.read_text(encoding="utf-8")
        start = text.index("tiers = [")
        end = text.index("]\n", text.index('{ value_ratio = "0" }')) + 2
        path = write(tmp_path, text[:start] + text[end:])
        a = run_json(capsys, src)
        b = run_json(capsys, path, "--haircuts", "bybit")
        keys = ("account_equity", "account_maintenance_margin", "available_for_order", "account_margin_ratio")
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
        assert b["haircuts"] == "bybit"

    def test_upnl_in_two_assets(self, capsys: pytest.CaptureFixture[str]) -> None:
        """USDT 1,200 × 0.99 + USDC 300 = 1,488; IM 626.2 + 620 = 1,246.2; available 241.8
        (USDT / 1.01 = 239.40594059); MM 25.048 + 31 = 56.048; ratio 3.77 %."""
        r = run_json(capsys, ACCOUNTS / "upnl-several-assets.toml")
        assert r["account_equity"] == "1488.00000000"
        assert r["account_initial_margin"] == "1246.20000000"
        assert r["available_for_order"] == {"USDT": "239.40594059", "USDC": "241.80000000"}
        assert r["account_maintenance_margin"] == "56.04800000"
        assert r["account_margin_ratio_percent"] == "3.77"
        assert [p["unrealized_pnl"] for p in r["positions"]] == ["200.00000000", "-200.00000000"]

    def test_negative_usdt_backed_by_btc(self, capsys: pytest.CaptureFixture[str]) -> None:
        """−5,000 USDT + 1 BTC × 60,000 × 0.95 = 52,000; MM 120; ratio 0.24 %; the BTC
        index that liquidates: 0.95 I = 5,120, I = 5,389.4736842105... (rounded up)."""
        r = run_json(capsys, ACCOUNTS / "btc-backs-negative-usdt.toml")
        assert r["account_equity"] == "52000.00000000"
        assert r["account_margin_ratio_percent"] == "0.24"
        (btc,) = r["collateral_liquidation"]
        assert btc["liquidation_index"] == "5389.47368422"

    def test_negative_usdt_position_alone_never_liquidates(self, capsys: pytest.CaptureFixture[str]) -> None:
        """BTC collateral held at 60,000: equity − MM = 57,000 − 5,000 + 0.5(P − 60,000)
        − 0.002P = 22,000 + 0.498P > 0 at every price: no liquidation price."""
        r = run_json(capsys, ACCOUNTS / "btc-backs-negative-usdt.toml")
        (pos,) = r["positions"]
        assert (pos["liquidation_status"], pos["liquidation_price"]) == ("never", None)

    def test_crash_moves_collateral_with_the_marks(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Crash −30 %: BTC at 42,000 is worth 39,900; USDT −5,000 + 0.5 × (42,000 − 60,000)
        = −14,000; equity 25,900; MM 21,000 × 0.4 % = 84; ratio 84 / 25,900 = 0.33 %."""
        r = run_json(capsys, ACCOUNTS / "btc-backs-negative-usdt.toml")
        crash = next(s for s in r["stress"] if s["shock"] == "crash -30%")["modes"]["multi-assets"]
        assert crash["margin_ratio"] == "0.00324325"  # 84 / 25,900 = 0.0032432432..., rounded up
        assert crash["margin_ratio_percent"] == "0.33"

    def test_haircuts_binance_gives_the_btc_buffer(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """Binance's shipped data values BTC at 95 % (bid buffer 0.05): the file without its
        own buffer and ``--haircuts binance`` give the same equity, 52,000 minus the USDT
        ask buffer 0.0001 on the 5,000 debt (0.5): 51,999.5."""
        text = (ACCOUNTS / "btc-backs-negative-usdt.toml").read_text(encoding="utf-8")
        r = run_json(capsys, write(tmp_path, text.replace('bid_buffer = "0.05"\n', "")), "--haircuts", "binance")
        assert r["account_equity"] == "51999.50000000"

    def test_file_shock_takes_both_legs_down(self, capsys: pytest.CaptureFixture[str]) -> None:
        """BTC −60 % with the contract: 22,800 − 5,000 − 18,000 = −200 USD of equity:
        liquidated in every mode."""
        r = run_json(capsys, ACCOUNTS / "btc-backs-negative-usdt.toml")
        row = next(s for s in r["stress"] if s["shock"].startswith("BTC -60%"))
        assert all(m["liquidated"] for m in row["modes"].values())
        assert row["modes"]["multi-assets"]["margin_ratio"] is None


class TestStress:
    """The stress table: named shocks, three modes side by side."""

    def test_rows_and_modes(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Rows now, −10 %, −20 %, crash, haircuts +5/+10, then the default gap of the largest
        position; each with single-asset, multi-assets and isolated."""
        r = run_json(capsys, FAQ)
        assert [s["shock"] for s in r["stress"]] == [
            "now", "prices -10%", "prices -20%", "crash -30%", "haircuts +5 pts", "haircuts +10 pts",
            "gap ETHUSDC -15%",
        ]
        assert all(set(s["modes"]) == {"single-asset", "multi-assets", "isolated"} for s in r["stress"])

    def test_now_row_is_the_account_ratio(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The multi-assets cell of the 'now' row is the account's margin ratio; the
        single-asset cell the worst pool (USDC: 120 / 220 = 54.55 %)."""
        r = run_json(capsys, FAQ)
        now = r["stress"][0]["modes"]
        assert now["multi-assets"]["margin_ratio"] == r["account_margin_ratio"]
        assert now["single-asset"]["margin_ratio_percent"] == "54.55"
        assert now["multi-assets"]["distance_to_liquidation"] == "0.52022498"

    def test_haircuts_move_only_multi_assets(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A haircut shock changes nothing in single-asset or isolated mode and raises the
        multi-assets ratio: USDT 200 × 0.99 × 0.99 × 0.95 + 220 × 0.95 = 395.219 at +5."""
        r = run_json(capsys, FAQ)
        rows = {s["shock"]: s["modes"] for s in r["stress"]}
        for mode in ("single-asset", "isolated"):
            assert rows["haircuts +5 pts"][mode] == rows["now"][mode] == rows["haircuts +10 pts"][mode]
        ratios = [Fraction(rows[k]["multi-assets"]["margin_ratio"]) for k in ("now", "haircuts +5 pts", "haircuts +10 pts")]
        assert ratios == sorted(ratios) and len(set(ratios)) == 3
        assert ratios[1] - Fraction("199.596") / Fraction("395.219") < Fraction(1, 10**8)

    def test_gap_option(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--gap BTCUSDT=-1%`` replaces the default gap: BTC at 19,800, the USDT equity
        100 lower: (0.9801 × 100 + 220) and MM 0.99495 × 79.2 + 120 = 198.80004."""
        r = run_json(capsys, FAQ, "--gap", "BTCUSDT=-1%")
        row = r["stress"][-1]
        assert row["shock"] == "gap BTCUSDT=-1%".replace("=", " ")
        ratio = Fraction(row["modes"]["multi-assets"]["margin_ratio"])
        assert ratio - Fraction("198.80004") / Fraction("318.01") < Fraction(1, 10**8)
        assert ratio >= Fraction("198.80004") / Fraction("318.01")

    def test_gap_up_for_a_short(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``--gap ETHUSDC=+10%`` moves the short's mark to 3,410: its UPnL −820 leaves USDC
        equity −320; equity 1,188 − 320 = 868; MM 25.048 + 34.1 = 59.148; ratio 6.82 %."""
        r = run_json(capsys, ACCOUNTS / "upnl-several-assets.toml", "--gap", "ETHUSDC=+10%")
        row = r["stress"][-1]
        assert row["shock"] == "gap ETHUSDC +10%"
        assert Fraction(row["modes"]["multi-assets"]["margin_ratio"]) - Fraction("59.148") / 868 < Fraction(1, 10**8)
        assert row["modes"]["multi-assets"]["margin_ratio_percent"] == "6.82"

    def test_single_asset_mode_account(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """In single-asset mode each asset is its own pool: available per asset is the
        pool's wallet + UPnL − IM (USDT 200 − 100, USDC 220 − 240) and the ratio the worst pool's."""
        text = FAQ.read_text(encoding="utf-8").replace('collateral_mode = "multi-assets"', 'collateral_mode = "single-asset"')
        r = run_json(capsys, write(tmp_path, text))
        assert r["available_for_order"] == {"USDT": "100.00000000", "USDC": "-20.00000000"}
        assert r["account_margin_ratio_percent"] == "54.55"
        assert r["collateral_liquidation"] == []


class TestLiquidationPrices:
    """Liquidation prices agree with ``exsim liq-price`` where the two describe one pool."""

    def test_one_usd_pool_matches_liq_price(self, tmp_path: Path) -> None:
        """A multi-assets account with one USDT pool at index 1 and no buffer is a plain cross
        pool: its liquidation price is liq-price's, to the last digit, across brackets."""
        path = write(tmp_path, """
collateral_mode = "multi-assets"
[wallets]
USDT = "150000"
[[positions]]
symbol = "BTCUSDT"
side = "long"
size = "30"
entry = "60000"
mark = "60000"
leverage = 20
[[positions]]
symbol = "ETHUSDT"
side = "short"
size = "100"
entry = "3000"
mark = "3100"
leverage = 20
""")
        acct = load_account(path)
        for pos in acct.positions:
            assert multi_assets_liquidation_price(acct, pos) == single_asset_liquidation_price(acct, pos)

    def test_buffer_moves_the_price_against_the_trader(self, tmp_path: Path) -> None:
        """A bid buffer on USDT values the wallet lower: a long is liquidated at a higher price."""
        base = """
collateral_mode = "multi-assets"
[wallets]
USDT = "10000"
{rule}
[[positions]]
symbol = "BTCUSDT"
side = "long"
size = "1"
entry = "60000"
mark = "60000"
leverage = 10
"""
        plain = load_account(write(tmp_path, base.format(rule=""), "a.toml"))
        buffered = load_account(write(tmp_path, base.format(rule='[collateral.USDT]\nindex = "1"\nbid_buffer = "0.02"'), "b.toml"))
        _, lp_plain = multi_assets_liquidation_price(plain, plain.positions[0])
        _, lp_buffered = multi_assets_liquidation_price(buffered, buffered.positions[0])
        assert lp_plain is not None and lp_buffered is not None and lp_buffered > lp_plain

    def test_short_walks_up(self, tmp_path: Path) -> None:
        """A lone short with wallet W: W − Q(P − EP) − Q·P·MMR = 0 (one flat bracket), so
        P = (W + Q·EP) / (Q(1 + MMR)) = (1,000 + 10 × 100) / (10 × 1.01) = 198.0198..."""
        path = write(tmp_path, """
collateral_mode = "multi-assets"
[wallets]
USDT = "1000"
[[positions]]
symbol = "XYZUSDT"
side = "short"
size = "10"
entry = "100"
mark = "100"
leverage = 2
maint_margin_rate = "0.01"
""")
        acct = load_account(path)
        assert multi_assets_liquidation_price(acct, acct.positions[0]) == ("price", Fraction(2000, 1) / Fraction("10.1"))


class TestAutoExchange:
    """What Binance's auto-exchange would do to the wallets now (the plan the ledger books)."""

    def test_a_usdt_balance_below_the_threshold_is_bought_back(self, capsys: pytest.CaptureFixture[str]) -> None:
        """USDT −12,000 (below −10,000 USD) with a position open, bought back from each asset
        in proportion to its value (USDC 500, BTC 57,000 of 57,500 USD): 12,000 × 500 /
        57,500 = 104.34782608 USDC, and the rest, 11,895.65217392 / 57,000 = 0.20869566 BTC
        (rounded up)."""
        data = run_json(capsys, ACCOUNTS / "auto-exchange-threshold.toml")
        assert [(c["reason"], c["from_asset"], c["sold"], c["to_asset"], c["bought"]) for c in data["auto_exchange"]] == [
            ("THRESHOLD", "USDC", "104.34782608", "USDT", "104.34782608"),
            ("THRESHOLD", "BTC", "0.20869566", "USDT", "11895.65217392"),
        ]
        assert data["wallets_after_auto_exchange"] == {"USDT": "0.00000000", "USDC": "395.65217392", "BTC": "0.79130434"}

    def test_a_small_negative_balance_waits_while_positions_are_open(self, capsys: pytest.CaptureFixture[str]) -> None:
        """USDT −5,000 is above the threshold: with a position open nothing is exchanged."""
        data = run_json(capsys, ACCOUNTS / "btc-backs-negative-usdt.toml")
        assert data["auto_exchange"] == [] and data["wallets_after_auto_exchange"] is None

    def test_with_nothing_open_a_loan_to_value_below_1_waits(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """No position, USDT −5,000 against 57,000 USD of BTC: loan to value 0.088 < 1, kept."""
        data = run_json(capsys, without_positions(tmp_path, ACCOUNTS / "btc-backs-negative-usdt.toml"))
        assert data["auto_exchange"] == []

    def test_with_nothing_open_a_loan_to_value_of_1_sells_everything(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """No position, USDT −60,000 against 1 BTC worth 57,000 USD: loan to value ≥ 1, the
        whole BTC is sold for 57,000 USDT; −3,000 USDT stays (the insurance fund's, in a run)."""
        path = write(tmp_path, 'collateral_mode = "multi-assets"\n[wallets]\nUSDT = "-60000"\nBTC = "1"\n'
                               '[collateral.BTC]\nindex = "60000"\nbid_buffer = "0.05"\n')
        data = run_json(capsys, path)
        assert [(c["reason"], c["sold"], c["bought"]) for c in data["auto_exchange"]] == [
            ("NEGATIVE_BALANCE", "1.00000000", "57000.00000000")
        ]
        assert data["wallets_after_auto_exchange"] == {"USDT": "-3000.00000000", "BTC": "0.00000000"}
