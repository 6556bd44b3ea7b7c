"""Specification of ``exsim margin``'s bad input: one line ``exsim: error: FILE:LINE: field
'...': ...``, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import exsim.cli

GOOD = """\
collateral_mode = "multi-assets"

[wallets]
USDT = "200"
BTC = "1"

[collateral.BTC]
index = "60000"
bid_buffer = "0.05"

[[positions]]
symbol = "BTCUSDT"
side = "long"
size = "0.5"
entry = "60000"
mark = "60000"
leverage = 10
"""


def fails(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *extra: str) -> str:
    """Run on ``text``; assert exit 2, nothing on stdout, one error line; return it."""
    path = tmp_path / "acct.toml"
    path.write_text(text, encoding="utf-8")
    rc = exsim.cli.main(["margin", str(path), *extra])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exsim: error: ")
    assert "Traceback" not in err
    return lines[0]


class TestCollateralRules:
    """Collateral tables: unknown field, haircut outside [0, 1], tiers, buffers."""

    def test_good_file_runs(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The base file of these tests is valid (each test breaks one thing)."""
        path = tmp_path / "acct.toml"
        path.write_text(GOOD, encoding="utf-8")
        assert exsim.cli.main(["margin", str(path), "--json"]) == 0

    def test_unknown_field(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A typo in a collateral table names its line and the field."""
        line = fails(tmp_path, capsys, GOOD.replace('bid_buffer = "0.05"', 'bid_bufer = "0.05"'))
        assert "acct.toml:9:" in line and "collateral.BTC.bid_bufer" in line and "unknown field" in line

    def test_haircut_outside_unit_interval(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A tier haircut of 1.5 is refused at the tiers line."""
        text = GOOD.replace('bid_buffer = "0.05"', 'tiers = [{ haircut = "1.5" }]')
        line = fails(tmp_path, capsys, text)
        assert "acct.toml:9:" in line and "outside [0, 1]" in line

    def test_tiers_not_increasing(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Tier bounds must increase."""
        text = GOOD.replace(
            'bid_buffer = "0.05"',
            'tiers = [{ upto = "10", value_ratio = "0.98" }, { upto = "5", value_ratio = "0.9" }, { value_ratio = "0" }]',
        )
        line = fails(tmp_path, capsys, text)
        assert "acct.toml:9:" in line and "tiers not increasing" in line

    def test_bid_above_ask(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A negative buffer (bid rate above the ask rate) is refused naming the field."""
        line = fails(tmp_path, capsys, GOOD.replace('bid_buffer = "0.05"', 'bid_buffer = "-0.05"'))
        assert "acct.toml:9:" in line and "bid" in line

    def test_float_is_refused(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A TOML float (binary, inexact) must be written as a string."""
        line = fails(tmp_path, capsys, GOOD.replace('bid_buffer = "0.05"', "bid_buffer = 0.05"))
        assert "acct.toml:9:" in line and "as a string" in line

    def test_asset_held_nowhere(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A collateral table for an asset the account does not hold is a typo, refused."""
        line = fails(tmp_path, capsys, GOOD.replace("[collateral.BTC]", "[collateral.ETH]"))
        assert "acct.toml:7:" in line and "ETH is held nowhere" in line

    def test_missing_index(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A non-USD asset needs an index price."""
        line = fails(tmp_path, capsys, GOOD.replace('index = "60000"\n', ""))
        assert "acct.toml:7:" in line and "BTC has no index price" in line

    def test_unknown_asset_in_shipped_data(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--haircuts bybit`` has no data for an asset it does not ship (USDC here)."""
        text = GOOD.replace('bid_buffer = "0.05"\n', "").replace('USDT = "200"', 'USDC = "200"')
        text = text.replace("BTCUSDT", "BTCUSDC")
        line = fails(tmp_path, capsys, text, "--haircuts", "bybit")
        assert "USDC is not in exsim's shipped bybit collateral data" in line

    def test_haircuts_keep_only_the_index(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """With ``--haircuts`` a buffer in the file is refused (the data gives it)."""
        line = fails(tmp_path, capsys, GOOD, "--haircuts", "binance")
        assert "acct.toml:9:" in line and "unknown field" in line

    def test_unknown_venue(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--haircuts`` names a shipped data set."""
        line = fails(tmp_path, capsys, GOOD.replace('bid_buffer = "0.05"\n', ""), "--haircuts", "okx")
        assert "--haircuts" in line and "binance, bybit" in line


class TestPositions:
    """Positions: modes, grids, made-up instruments."""

    def test_isolated_in_multi_assets(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Multi-assets mode is cross margin only (Binance)."""
        line = fails(tmp_path, capsys, GOOD + 'margin_mode = "isolated"\n')
        assert "acct.toml:18:" in line and "positions[0].margin_mode" in line

    def test_off_grid_entry(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An entry price off the instrument's tick is refused, never rounded."""
        line = fails(tmp_path, capsys, GOOD.replace('entry = "60000"', 'entry = "60000.05"'))
        assert "acct.toml:15:" in line and "positions[0].entry" in line

    def test_made_up_needs_brackets(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A symbol exsim does not ship needs maint_margin_rate or brackets."""
        line = fails(tmp_path, capsys, GOOD.replace("BTCUSDT", "FOOUSDT"))
        assert "acct.toml:12:" in line and "not a shipped instrument" in line

    def test_made_up_with_brackets_runs(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A made-up instrument with its own bracket table is accepted."""
        text = GOOD.replace("BTCUSDT", "FOOUSDT") + (
            'brackets = [{ floor = "0", cap = "50000", mmr = "0.01", max_leverage = 50 },'
            ' { floor = "50000", cap = "1000000", mmr = "0.02", max_leverage = 20 }]\n'
        )
        path = tmp_path / "acct.toml"
        path.write_text(text, encoding="utf-8")
        assert exsim.cli.main(["margin", str(path), "--json"]) == 0

    def test_leverage_above_bracket(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Leverage above the entry bracket's maximum is refused, as the ledger refuses it."""
        line = fails(tmp_path, capsys, GOOD.replace("leverage = 10", "leverage = 200"))
        assert "acct.toml:17:" in line and "200x" in line

    def test_two_positions_one_symbol(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The calculator is one-way: one position per instrument."""
        text = GOOD + GOOD[GOOD.index("[[positions]]"):]
        line = fails(tmp_path, capsys, text)
        assert "a second position in BTCUSDT" in line

    def test_unknown_top_level_field(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A misspelt table is an error, not ignored."""
        line = fails(tmp_path, capsys, GOOD.replace("[wallets]", "[wallet]"))
        assert "acct.toml:3:" in line and "unknown field" in line


class TestShocks:
    """Shock tables and ``--gap``."""

    def test_gap_unknown_symbol(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--gap`` names a position of the account."""
        line = fails(tmp_path, capsys, GOOD, "--gap", "ETHUSDT=-10%")
        assert "--gap" in line and "ETHUSDT is not a position" in line

    def test_gap_to_zero(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A move of −100 % or more is refused."""
        line = fails(tmp_path, capsys, GOOD, "--gap", "BTCUSDT=-100%")
        assert "above -100%" in line

    def test_shock_unknown_field(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A shock table refuses unknown keys at their line."""
        text = GOOD + '\n[[shocks]]\nname = "x"\nmark = "-5%"\n'
        line = fails(tmp_path, capsys, text)
        assert "acct.toml:21:" in line and "shocks[0].mark" in line

    def test_not_toml(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file that is not TOML names the line tomllib stopped at."""
        line = fails(tmp_path, capsys, GOOD + "oops = \n")
        assert "acct.toml:18:" in line and "not valid TOML" in line

    def test_gap_without_percent_sign_above_one(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``BTCUSDT=15`` is ambiguous (15 % or 1,500 %?): refused, asking for ``15%``."""
        line = fails(tmp_path, capsys, GOOD, "--gap", "BTCUSDT=15")
        assert "--gap" in line and '"15%"' in line
