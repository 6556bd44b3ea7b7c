"""Multi-asset collateral in replays (issue 17): ``--collateral-mode multi-assets``, a
collateral-only asset's ``--deposit``, collateral index prices from an ``--index-file`` or
from the run's perpetual's mark, ``--haircut-schedule`` — on the real hftbacktest captures
of ``../shared/data`` (BTCUSDT, ETHUSDT and spot BTCUSDT, 2024-08-08 23:54 → 24:00 UTC).
"""

from __future__ import annotations

import filecmp
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.readers import open_rows
from exsim.readers.rows import QUOTE
from exsim.replay import Replay, ReplayConfig
from exsim.replay.checkpoint import SNAPSHOT_NAME
from exsim.replay.strategy import Strategy
from exsim_examples.holder import Holder

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT.parent / "shared" / "data" / "hftbacktest-binance-20240808"
BTC = CAPTURE / "usdm_btcusdt_20240808.gz"
ETH = CAPTURE / "usdm_ethusdt_20240808.gz"
SPOT = CAPTURE / "spot_btcusdt_20240808.gz"
pytestmark = pytest.mark.skipif(not SPOT.is_file(), reason="needs ../shared/data (the team's shared folder)")

MULTI = dict(collateral_mode="multi-assets", deposits=("10USDT", "0.05BTC"))


def eth_long(**kw: Any) -> Holder:
    """5 ETH long at 100x: 134 USD of initial margin, more than the 10 USDT wallet holds."""
    return Holder(qty="5", leverage=100, **kw)


def events(run_dir: Path, name: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines())
    return [e for e in lines if e["event"] == name]


def write_schedule(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "haircuts.toml"
    path.write_text(text)
    return path


SHOCK = '[[haircut_schedule]]\nasset = "BTC"\nat = "+2m"\ntiers = [{haircut = "0.99"}]\n'


@pytest.fixture(scope="module")
def two_symbols(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """BTCUSDT + ETHUSDT with 1,000 USDT and 0.05 BTC as collateral, a 0.2 BTC long."""
    out = tmp_path_factory.mktemp("two") / "run"
    config = ReplayConfig(collateral_mode="multi-assets", deposits=("1000USDT", "0.05BTC"))
    return Replay([BTC, ETH], Holder(qty="0.2"), config, out_dir=out).run(), out


@pytest.fixture(scope="module")
def shocked(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """ETHUSDT, BTC indexed by the spot capture, BTC's haircut raised to 99 % two minutes in."""
    tmp = tmp_path_factory.mktemp("shock")
    config = ReplayConfig(**MULTI, haircut_schedule=(str(write_schedule(tmp, SHOCK)),))  # type: ignore[arg-type]
    return Replay([ETH], eth_long(), config, index_files=[SPOT], out_dir=tmp / "run").run(), tmp / "run"


class TestTheModeAndTheBooks:
    def test_the_account_is_switched_at_the_first_instant(self, two_symbols: tuple[dict[str, Any], Path]) -> None:
        """The run's first instant switches the strategy's account to multi-assets (a SettingChanged in events.jsonl)."""
        summary, out = two_symbols
        (switch,) = events(out, "SettingChanged")
        assert (switch["setting"], switch["value"], switch["account_id"]) == ("COLLATERAL_MODE", "multi-assets", 1)
        assert switch["ts_ns"] == summary["first_ts_ns"]
        assert summary["collateral"]["mode"] == "multi-assets"

    def test_a_collateral_only_deposit_gets_a_book(self, two_symbols: tuple[dict[str, Any], Path]) -> None:
        """0.05 BTC, which no instrument of the run settles in, is held in a BTC book and counted as collateral."""
        summary, _ = two_symbols
        assert summary["assets"]["BTC"]["deposit"] == "0.05000000"
        assert summary["collateral"]["assets"]["BTC"]["equity"] == "0.05000000"

    def test_the_btc_index_follows_the_btcusdt_mark(self, two_symbols: tuple[dict[str, Any], Path]) -> None:
        """Without an index file the BTC index is the BTCUSDT mark × the USDT index (1), and the run says so."""
        summary, _ = two_symbols
        (btc,) = [p for p in summary["positions"] if p["symbol"] == "BTCUSDT"]
        assert Decimal(summary["collateral"]["assets"]["BTC"]["index_usd"]) == Decimal(btc["mark_price"])
        assert summary["collateral"]["index_sources"] == ["BTC collateral index: BTCUSDT mark × the USDT index (no --index-file)"]

    def test_account_equity_is_the_assets_values_added(self, two_symbols: tuple[dict[str, Any], Path]) -> None:
        """The account equity in USD is the sum of each asset's value (no buffers: each at its index)."""
        c = two_symbols[0]["collateral"]
        assert Decimal(c["account"]["equity_usd"]) == sum(Decimal(a["value_usd"]) for a in c["assets"].values())
        assert Decimal(c["assets"]["BTC"]["value_usd"]) == Decimal("0.05") * Decimal(c["assets"]["BTC"]["index_usd"])

    def test_the_settings_line_says_the_mode(self, two_symbols: tuple[dict[str, Any], Path]) -> None:
        """The settings in force name the collateral mode and where it came from."""
        assert two_symbols[0]["settings"]["collateral_mode"] == "multi-assets (--collateral-mode)"

    def test_a_single_asset_run_says_its_default_and_keeps_its_config(self) -> None:
        """A run without the option is single-asset, said as the default; its config has no collateral keys."""
        summary = Replay([ETH], Holder(qty="0.01"), ReplayConfig(balance="1000")).run()
        assert summary["settings"]["collateral_mode"] == "single-asset (default)"
        assert "collateral" not in summary and "collateral_mode" not in summary["config"]


class TestCollateralFromAnIndexFile:
    def test_btc_collateral_lets_an_order_past_the_usdt_wallet(self, shocked: tuple[dict[str, Any], Path]) -> None:
        """5 ETH at 100x needs 134 USDT of margin: 10 USDT alone refuse it, 0.05 BTC of collateral lets it fill."""
        single = Replay([ETH], eth_long(), ReplayConfig(deposits=("10USDT",))).run()
        assert single["account"]["fills"] == 0
        assert shocked[0]["account"]["fills"] >= 1

    def test_the_btc_index_is_the_spot_mid(self, shocked: tuple[dict[str, Any], Path]) -> None:
        """The BTC index is the mid of the spot capture's last best bid/ask before the run's end, exactly."""
        summary, _ = shocked
        best: dict[int, Decimal] = {}
        for row in open_rows(SPOT, None, None)[1]:
            if row.ts_ns > summary["last_ts_ns"]:
                break
            if row.kind == QUOTE:
                best[row.side] = Decimal(row.price)
        assert Decimal(summary["collateral"]["assets"]["BTC"]["index_usd"]) == (best[0] + best[1]) / 2
        assert summary["collateral"]["index_sources"] == ["BTC collateral index: BTCUSDT in --index-file"]


    def test_index_rows_price_the_collateral_too(self, tmp_path: Path) -> None:
        """A file of index rows (exsim-csv kind index, as Binance indexPriceKlines read) prices BTC: its last row in the run is the index."""
        index = tmp_path / "btc-index.csv"
        index.write_text(
            "ts_ns,kind,symbol,side,price,qty,rate\n"
            "1723161200000000000,index,BTCUSDT,,61000.5,,\n"  # before the run: the index at its start
            "1723161400000000000,index,BTCUSDT,,50000.25,,\n"  # 23:56:40, inside it
        )
        summary = Replay([ETH], Holder(qty="0.01"), ReplayConfig(**MULTI), index_files=[index]).run()  # type: ignore[arg-type]
        btc = summary["collateral"]["assets"]["BTC"]
        assert btc["index_usd"] == "50000.25000000"
        assert btc["value_usd"] == "2500.01250000"


class TestHaircutSchedule:
    def test_a_haircut_shock_liquidates_the_account(self, shocked: tuple[dict[str, Any], Path]) -> None:
        """BTC's haircut raised to 99 % two minutes in: the account is liquidated at that instant, as one account."""
        summary, out = shocked
        (rule,) = events(out, "CollateralRuleSet")
        (liq,) = summary["liquidations"]
        assert liq["ts_ns"] == rule["ts_ns"] == summary["first_ts_ns"] + 120 * 10**9
        assert liq["scope"] == "MULTI_ASSETS"
        assert Decimal(summary["collateral"]["account"]["margin_ratio_max"]) >= 1

    def test_exsim_explain_tells_it_as_the_whole_account(self, shocked: tuple[dict[str, Any], Path]) -> None:
        """exsim explain names the multi-assets account and gives its equity and maintenance margin in USD, as the event has them."""
        from exsim.replay.explain import explain_run

        text = explain_run(shocked[1], None)
        (liq,) = events(shocked[1], "Liquidation")
        assert "the multi-assets account" in text
        assert f"was {Decimal(liq['margin_balance_atoms']) / 10**8} USD" in text
        assert "haircut" in text  # the engine's one-line story itemizes each asset's haircut

    def test_the_rule_change_is_recorded(self, shocked: tuple[dict[str, Any], Path]) -> None:
        """events.jsonl carries the CollateralRuleSet; the summary counts it and shows the tiers."""
        summary, out = shocked
        (rule,) = events(out, "CollateralRuleSet")
        assert rule["asset"] == "BTC" and rule["tiers"] == [[None, 1_000_000]]
        assert summary["collateral"]["rule_changes"] == 1
        assert summary["collateral"]["assets"]["BTC"]["tiers"] == [{"upto": None, "value_ratio": "0.01"}]

    def test_auto_exchanges_are_booked_and_summed_per_pair(self, shocked: tuple[dict[str, Any], Path]) -> None:
        """The USDT left negative by the liquidation is bought back with BTC: each AutoExchange in events.jsonl, summed per pair."""
        summary, out = shocked
        exchanged = [e for e in events(out, "AutoExchange") if e["account_id"] == 1]
        assert exchanged and {(e["from_asset"], e["to_asset"]) for e in exchanged} == {("BTC", "USDT")}
        pair = summary["collateral"]["auto_exchange"]["BTC->USDT"]
        assert pair["count"] == len(exchanged)
        assert Decimal(pair["from_amount"]) == sum(Decimal(e["from_atoms"]) for e in exchanged) / 10**8
        assert Decimal(pair["to_amount"]) == sum(Decimal(e["to_atoms"]) for e in exchanged) / 10**8

    def test_an_offset_before_any_change_keeps_the_account(self, tmp_path: Path) -> None:
        """The same run with the shock 10 minutes in (past the data's end) is never liquidated."""
        late = write_schedule(tmp_path, SHOCK.replace("+2m", "+10m"))
        config = ReplayConfig(**MULTI, haircut_schedule=(str(late),))  # type: ignore[arg-type]
        summary = Replay([ETH], eth_long(), config, index_files=[SPOT]).run()
        assert summary["liquidations"] == [] and summary["collateral"]["rule_changes"] == 0


class TestShippedHaircuts:
    def test_binance_buffers_are_in_force_from_the_first_instant(self, tmp_path: Path) -> None:
        """--haircuts binance: the shipped BTC and USDT rules (exsim/instruments/data) are set
        at the first row, before the strategy trades, and the run says where they come from."""
        from exsim.ledger.collateral_data import collateral_rules

        config = ReplayConfig(**MULTI, haircuts="binance")  # type: ignore[arg-type]
        summary = Replay([ETH], eth_long(), config, index_files=[SPOT], out_dir=tmp_path / "run").run()
        shipped = collateral_rules("binance")
        rules = {e["asset"]: e for e in events(tmp_path / "run", "CollateralRuleSet")}
        assert set(rules) == {"BTC", "USDT"}
        for asset, e in rules.items():
            assert (e["bid_buffer_e8"], e["ask_buffer_e8"]) == (shipped[asset].bid_buffer_e8, shipped[asset].ask_buffer_e8)
        first_fill = min(e["ts_ns"] for e in events(tmp_path / "run", "Fill"))
        assert all(e["ts_ns"] <= first_fill for e in rules.values())
        assert summary["collateral"]["rule_changes"] == 2

    def test_shipped_haircuts_need_the_mode(self) -> None:
        """Without multi-assets collateral the shipped haircuts would value nothing: refused."""
        with pytest.raises(InputError, match="--collateral-mode multi-assets"):
            Replay([ETH], eth_long(), ReplayConfig(haircuts="binance"), index_files=[SPOT])


class TestDeterminism:
    def test_two_runs_end_in_the_same_state_hash(self, shocked: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
        """The shocked run again, from scratch: the same state hash and events.jsonl."""
        config = ReplayConfig(**MULTI, haircut_schedule=(str(write_schedule(tmp_path, SHOCK)),))  # type: ignore[arg-type]
        again = Replay([ETH], eth_long(), config, index_files=[SPOT], out_dir=tmp_path / "again").run()
        assert again["state_hash"] == shocked[0]["state_hash"]
        assert filecmp.cmp(tmp_path / "again" / "events.jsonl", shocked[1] / "events.jsonl", shallow=False)

    def test_a_resumed_run_ends_as_the_uninterrupted_one(self, shocked: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
        """A snapshot taken before the shock (the mode, the BTC book, its index and rule in it) resumes to the uninterrupted run's hash and figures."""
        config = ReplayConfig(**MULTI, haircut_schedule=(str(write_schedule(tmp_path, SHOCK)),))  # type: ignore[arg-type]
        first = tmp_path / "first.snapshot"

        def keep_first(info: dict[str, Any]) -> None:
            if not first.exists():
                shutil.copy(tmp_path / "ck" / SNAPSHOT_NAME, first)

        Replay([ETH], eth_long(), config, index_files=[SPOT], checkpoint_every=100_000, checkpoint_dir=tmp_path / "ck",
               on_checkpoint=keep_first).run()
        resumed = Replay([ETH], eth_long(), config, index_files=[SPOT], resume=first).run()
        plain = shocked[0]
        assert 100_000 <= resumed["checkpoint"]["resumed_from"]["rows"] < 200_000  # (the first: a minute in, before the shock)
        assert resumed["state_hash"] == plain["state_hash"]
        assert resumed["collateral"] == plain["collateral"] and resumed["liquidations"] == plain["liquidations"]


class TestStrategyContext:
    def test_the_context_reads_the_mode_figures_and_available(self) -> None:
        """ctx.collateral_mode(), ctx.account_figures() and ctx.available(asset): with nothing held, the whole account
        equity is available, in every asset at its ask rate, rounded down."""

        class Look(Strategy):
            seen: dict[str, Any] = {}

            def on_end(self, ctx: Any) -> None:
                figures = ctx.account_figures()
                Look.seen = {
                    "mode": ctx.collateral_mode(),
                    "figures": figures,
                    "btc_index_e8": ctx._replay.ledger.collateral["BTC"].index_usd_e8,
                    "btc": ctx.available_atoms("BTC"),
                    "usdt": ctx.available_atoms("USDT"),
                }

        Replay([ETH], Look(), ReplayConfig(**MULTI), index_files=[SPOT]).run()  # type: ignore[arg-type]
        seen = Look.seen
        figures = seen["figures"]
        assert seen["mode"] == "multi-assets"
        assert figures.available_usd_e40 == figures.equity_usd_e40 > 0
        assert seen["usdt"] == figures.available_usd_e40 // 10**32
        assert seen["btc"] == figures.available_usd_e40 // (seen["btc_index_e8"] * 10**24)

    def test_a_strategy_can_switch_the_mode_itself(self) -> None:
        """ctx.set_collateral_mode('multi-assets') in on_start (a USDT-only run) switches the account."""

        class Switch(Strategy):
            seen = ""

            def on_start(self, ctx: Any) -> None:
                ctx.set_collateral_mode("multi-assets")

            def on_end(self, ctx: Any) -> None:
                Switch.seen = ctx.collateral_mode()

        Replay([ETH], Switch(), ReplayConfig(balance="100")).run()
        assert Switch.seen == "multi-assets"

    def test_single_asset_context_has_no_account_figures(self) -> None:
        """ctx.account_figures() is None and the mode single-asset without the option."""

        class Look(Strategy):
            seen: tuple[Any, Any] = (None, None)

            def on_end(self, ctx: Any) -> None:
                Look.seen = (ctx.collateral_mode(), ctx.account_figures())

        Replay([ETH], Look(), ReplayConfig(balance="100")).run()
        assert Look.seen == ("single-asset", None)


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc = main(["replay", str(ETH), "--no-progress", *argv])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("exsim: error: "), err
    return err


class TestTheCommandLine:
    def test_the_run_says_the_mode_and_each_index_source_first(self, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim replay --collateral-mode multi-assets prints the mode and where BTC's index comes from before the run, and the collateral table after."""
        argv = ["replay", str(ETH), "--index-file", str(SPOT), "--collateral-mode", "multi-assets", "--deposit", "10USDT",
                "--deposit", "0.05BTC", "--no-progress"]
        assert main(argv) == 0
        out, err = capsys.readouterr()  # (the lines before the run go where the progress bar goes: stderr)
        lines = err.splitlines()
        assert lines[:2] == [
            "collateral: multi-assets (--collateral-mode), the account switched at the first instant",
            "BTC collateral index: BTCUSDT in --index-file",
        ]
        assert "collateral: multi-assets (account figures in USD)" in out
        assert "collateral multi-assets (--collateral-mode)" in " ".join(out.split())


class TestBadInput:
    def test_an_unknown_collateral_mode(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--collateral-mode portfolio is one line naming the option and the choices."""
        err = one_line_error(["--collateral-mode", "portfolio"], capsys)
        assert "--collateral-mode" in err and "multi-assets" in err

    def test_a_collateral_deposit_without_the_mode_says_what_to_add(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--deposit 0.05BTC on a USDT run in single-asset mode names --collateral-mode multi-assets."""
        err = one_line_error(["--deposit", "10USDT", "--deposit", "0.05BTC"], capsys)
        assert "--deposit" in err and "--collateral-mode multi-assets" in err

    def test_a_collateral_asset_with_no_index_source(self, capsys: pytest.CaptureFixture[str]) -> None:
        """BTC collateral on an ETHUSDT run with neither an index file nor a BTC perpetual: named, with the options."""
        err = one_line_error(["--collateral-mode", "multi-assets", "--deposit", "10USDT", "--deposit", "0.05BTC"], capsys)
        assert "BTC" in err and "--index-file" in err and "BTCUSDT perpetual" in err

    def test_an_index_file_for_an_asset_with_no_book(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A spot BTCUSDT index file on a multi-assets ETHUSDT run without BTC: the file, line and field symbol."""
        err = one_line_error(["--collateral-mode", "multi-assets", "--index-file", str(SPOT)], capsys)
        assert f"{SPOT}:" in err and "field 'symbol'" in err and "BTC has no book" in err

    def test_an_unreadable_index_file(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """An index file that is not a tick file: one line naming it."""
        bad = tmp_path / "index.csv"
        bad.write_text("hello,world\n1,2\n")
        err = one_line_error(["--collateral-mode", "multi-assets", "--index-file", str(bad)], capsys)
        assert str(bad) in err

    @pytest.mark.parametrize(
        ("entry", "where", "phrase"),
        [
            ('asset = "BTC"\nat = "+1m"\nbid_buffer = "1.5"\n', ":4:", "bid_buffer"),
            ('asset = "BTC"\nat = "+1m"\nbid_buffer = 0.05\n', ":4:", "as a string"),
            ('asset = "BTC"\nat = "soon"\nbid_buffer = "0.05"\n', ":3:", "'haircut_schedule[0].at'"),
            ('asset = "BTC"\nat = "+1m"\ntiers = [{upto = "10", haircut = "0.1"}, {upto = "5", haircut = "0.2"}]\n', ":4:", "not increasing"),
            ('asset = "BTC"\nat = "+1m"\ncolour = "red"\n', ":4:", "unknown field"),
            ('asset = "DOGE"\nat = "+1m"\nbid_buffer = "0.05"\n', ":2:", "DOGE has no book"),
            ('asset = "BTC"\nat = "+1m"\n', ":2:", "changes nothing"),
        ],
    )
    def test_schedule_errors_name_file_line_and_field(
        self, entry: str, where: str, phrase: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """Each bad [[haircut_schedule]] entry is one line: the file and line of the field, and what is wrong."""
        path = write_schedule(tmp_path, "[[haircut_schedule]]\n" + entry)
        err = one_line_error(
            ["--collateral-mode", "multi-assets", "--deposit", "10USDT", "--deposit", "0.05BTC", "--index-file", str(SPOT),
             "--haircut-schedule", str(path)],
            capsys,
        )
        assert f"{path}{where}" in err and phrase in err, err

    def test_a_schedule_without_the_mode(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        """A haircut schedule on a single-asset run says to add --collateral-mode multi-assets."""
        path = write_schedule(tmp_path, SHOCK)
        err = one_line_error(["--haircut-schedule", str(path)], capsys)
        assert "--collateral-mode multi-assets" in err

    def test_the_config_refuses_an_unknown_mode(self) -> None:
        """ReplayConfig(collateral_mode='both') is an InputError naming the field."""
        with pytest.raises(InputError) as info:
            ReplayConfig(collateral_mode="both")
        assert info.value.field == "collateral_mode"
