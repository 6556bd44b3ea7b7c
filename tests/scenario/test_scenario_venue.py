"""A scenario's venue: the file's ``venue``, ``--venue`` over it, ``exsim compare --venues``,
and the one-line refusals (a contract kind or a collateral mode the venue lacks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.scenario.cli import resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario, parse_scenario
from exsim.toml_fields import Source

ONE = resolve("one-position").read_text()


def with_venue(line: str, where: str = "head") -> str:
    """one-position.toml naming a venue: in its [scenario] table, or at the top of the file."""
    if where == "top":
        return f"{line}\n{ONE}"
    return ONE.replace('margin_mode = "isolated"\n', f'margin_mode = "isolated"\n{line}\n', 1)


def parse(text: str) -> object:
    return parse_scenario(Source("s.toml", text, None))


class TestFileVenue:
    def test_the_scenario_table_names_the_venue(self) -> None:
        """``[scenario] venue = "Bybit"`` is read, lower case, with its line."""
        sc = parse(with_venue('venue = "Bybit"'))
        assert (sc.venue, sc.venue_where) == ("bybit", "s.toml:6")  # type: ignore[attr-defined]

    def test_a_top_level_venue_is_the_same(self) -> None:
        """``venue = "dydx"`` before the first table names it too."""
        assert parse(with_venue('venue = "dydx"', "top")).venue == "dydx"  # type: ignore[attr-defined]

    def test_no_venue_is_none(self) -> None:
        """A file that names none leaves it to --venue (default Binance)."""
        assert parse(ONE).venue is None  # type: ignore[attr-defined]

    def test_an_unknown_venue_names_the_line_and_the_choices(self) -> None:
        """``venue = "ftx"``: file, line, field and the four names."""
        with pytest.raises(InputError, match=r"s\.toml:6: field 'scenario\.venue': 'ftx' is not a venue; expected one of "
                           r"binance, bybit, hyperliquid, dydx"):
            parse(with_venue('venue = "ftx"'))

    def test_a_venue_named_twice_is_refused(self) -> None:
        """At the top and in [scenario]: name it once."""
        with pytest.raises(InputError, match="name the venue once"):
            parse(with_venue('venue = "bybit"', "top").replace('margin_mode = "isolated"\n',
                                                                  'margin_mode = "isolated"\nvenue = "dydx"\n', 1))


class TestRunVenue:
    def test_binance_by_default_leaves_the_run_as_it_was(self) -> None:
        """No venue anywhere and ``--venue binance`` give the same end state, hash for hash;
        the summary says binance, by default."""
        sc = load_scenario(resolve("one-position"))
        plain = ScenarioRun(sc).run()
        named = ScenarioRun(sc, venue="binance").run()
        assert plain["state_hash"] == named["state_hash"]
        assert (plain["venue"], plain["venue_from"], named["venue_from"]) == ("binance", "default", "--venue")

    def test_the_run_trades_the_venues_instruments(self) -> None:
        """Under Bybit the run's instruments carry Bybit's terms (maintenance margin at entry)."""
        run = ScenarioRun(load_scenario(resolve("venue-crash")), venue="bybit")
        assert run.scenario.instrument("BTCUSDT").maint_margin_basis == "entry"
        assert run.venue.name == "bybit"

    def test_a_made_up_asset_on_hyperliquid_takes_its_own_maximum_leverage(self) -> None:
        """DEMOUSDT (one bracket, 20x) has no shipped Hyperliquid tiers: one tier at 20x, MMR
        1 / (2 × 20) = 2.5 %, and the summary says so."""
        run = ScenarioRun(load_scenario(resolve("one-position")), venue="hyperliquid")
        (b,) = run.scenario.instrument("DEMOUSDT").brackets.brackets
        assert (b.max_leverage, b.mmr_e8) == (20, 2_500_000)
        assert run.run()["venue_notes"] == [
            "DEMOUSDT: Hyperliquid ships no margin tiers for DEMO: one tier at the instrument's own maximum leverage, 20x"]

    def test_an_inverse_contract_on_hyperliquid_is_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """coin-margined under --venue hyperliquid: exit 2, the file and the option named."""
        assert main(["scenario", "coin-margined", "--venue", "hyperliquid"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0
        assert "coin-margined.toml" in err and "field '--venue'" in err and "lists no inverse" in err

    def test_an_inverse_contract_named_by_the_file_points_at_its_line(self, tmp_path: Path) -> None:
        """The file's own ``venue = "dydx"`` beside an inverse contract: its line, field ``venue``."""
        text = resolve("coin-margined").read_text().replace("[scenario]\n", '[scenario]\nvenue = "dydx"\n', 1)
        path = tmp_path / "c.toml"
        path.write_text(text)
        with pytest.raises(InputError, match=r"c\.toml:\d+: field 'venue': dYdX v4 lists no inverse"):
            ScenarioRun(load_scenario(path))

    def test_multi_assets_on_dydx_is_one_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """haircut-squeeze in multi-assets mode under dYdX: refused, naming --venue and the file."""
        assert main(["scenario", "haircut-squeeze", "--mode", "multi-assets", "--venue", "dydx"]) == 2
        err = capsys.readouterr().err
        assert "haircut-squeeze.toml" in err and "no multi-assets collateral mode" in err

    def test_the_command_line_overrides_the_file_out_loud(self, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
        """A file naming dydx run with --venue binance: the run says the override, the summary
        says binance from --venue."""
        path = tmp_path / "s.toml"
        path.write_text(with_venue('venue = "dydx"'))
        assert main(["scenario", str(path), "--venue", "binance", "--out", str(tmp_path / "run")]) == 0
        out = capsys.readouterr().out
        assert '--venue binance overrides the file\'s venue = "dydx"' in " ".join(out.split())
        summary = json.loads((tmp_path / "run" / "summary.json").read_text())
        assert (summary["venue"], summary["venue_from"]) == ("binance", "--venue")


class TestCompareVenues:
    def test_venues_and_several_modes_are_alternatives(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--venues a,b with --modes x,y: one line saying to pick one."""
        assert main(["compare", "one-position", "--venues", "binance,bybit", "--modes", "isolated,cross"]) == 2
        assert "--venues and --modes are alternatives" in capsys.readouterr().err

    def test_an_empty_or_unknown_venue_list_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--venues "" and --venues binance,ftx: one line each, naming the option."""
        assert main(["compare", "one-position", "--venues", ""]) == 2
        assert "field '--venues': ''" in capsys.readouterr().err
        assert main(["compare", "one-position", "--venues", "binance,ftx"]) == 2
        assert "field '--venues': 'binance,ftx': expected venues from binance, bybit" in capsys.readouterr().err

    def test_a_venue_named_twice_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--venues bybit,bybit names it twice."""
        assert main(["compare", "one-position", "--venues", "bybit,bybit"]) == 2
        assert "names a venue twice" in capsys.readouterr().err

    def test_venue_and_venues_together_are_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--venue (all runs) and --venues (a run each) contradict."""
        assert main(["compare", "one-position", "--venue", "bybit", "--venues", "binance,dydx"]) == 2
        assert "not both" in capsys.readouterr().err

    def test_one_run_per_venue_a_table_and_one_plot(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """venue-crash under the four venues: a row per venue for the whale, each venue's rules,
        a run directory per venue and one compare.png."""
        out = tmp_path / "cmp"
        assert main(["compare", "venue-crash", "--venues", "binance,bybit,hyperliquid,dydx", "--out", str(out)]) == 0
        text = capsys.readouterr().out
        outcomes = text.split("liquidation distances")[0]  # (the distance table follows, a row per venue too)
        rows = [line for line in outcomes.splitlines() if "whale" in line and "│" in line]
        assert [r.split("│")[2].strip() for r in rows] == ["binance", "bybit", "hyperliquid", "dydx"]
        assert "52758.00" in rows[0]  # Binance: what the whale keeps (test_venue_crash.py)
        for v in ("bybit", "hyperliquid", "dydx"):
            assert f"{v}: " in text  # the engine's explanation of each step names the venue
        for v in ("binance", "bybit", "hyperliquid", "dydx"):
            assert json.loads((out / v / "summary.json").read_text())["venue"] == v
        assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
