"""Replay behaviour on small exsim-format files written here: the market model's choices,
the strategy API, exactness of the account, and the run outputs."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.replay import OwnFill, Replay, ReplayConfig, Strategy
from exsim_examples.passive import Passive

T0 = 1_723_161_600_000_000_000  # 2024-08-09 00:00:00 UTC, a funding time
MS = 1_000_000
S = 1_000_000_000


def write_csv(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    with open(path, "w") as f:
        f.write("ts_ns,kind,symbol,side,price,qty,rate\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")
    return path


def book_rows(ts: int, bid: str, ask: str, qty: str = "2.000") -> list[tuple[Any, ...]]:
    return [(ts, "level", "BTCUSDT", "buy", bid, qty, ""), (ts, "level", "BTCUSDT", "sell", ask, qty, "")]


@pytest.fixture
def depth_file(tmp_path: Path) -> Path:
    """A two-sided book moving up 0.1 a second for a minute, with trades at the ask."""
    rows: list[tuple[Any, ...]] = []
    for k in range(60):
        ts = T0 - 30 * S + k * S
        bid = 610000 + k  # in dimes (tick 0.1)
        rows += book_rows(ts, f"{bid // 10}.{bid % 10}", f"{(bid + 1) // 10}.{(bid + 1) % 10}")
        if k:
            old = bid - 1
            rows.append((ts, "level", "BTCUSDT", "buy", f"{old // 10}.{old % 10}", "0", ""))
        rows.append((ts + MS, "trade", "BTCUSDT", "buy", f"{(bid + 1) // 10}.{(bid + 1) % 10}", "0.010", ""))
    return write_csv(tmp_path / "depth.csv", rows)


class Recorder(Strategy):
    def __init__(self) -> None:
        self.fills: list[OwnFill] = []
        self.events: list[Any] = []

    def on_fill(self, ctx: Any, fill: OwnFill) -> None:
        self.fills.append(fill)

    def on_order(self, ctx: Any, event: Any) -> None:
        self.events.append(event)


class TestPassiveStrategy:
    def test_far_quotes_end_with_exactly_the_deposit(self, depth_file: Path, tmp_path: Path) -> None:
        s = Passive()
        summary = Replay([depth_file], s, ReplayConfig(balance="1234.56789012"), out_dir=tmp_path / "run").run()
        assert s.posted
        acct = summary["account"]
        assert acct["fills"] == 0 and acct["orders_sent"] == 2
        assert acct["equity"] == acct["wallet"] == acct["deposit"] == "1234.56789012"
        assert acct["pnl"] == "0.00000000" and acct["fees"] == "0.00000000" and acct["funding"] == "0.00000000"
        assert acct["order_events"] == {"OrderAccepted": 2}

    def test_funding_is_settled_but_a_flat_account_pays_none(self, depth_file: Path, tmp_path: Path) -> None:
        summary = Replay([depth_file], Passive(), ReplayConfig(funding="computed"), out_dir=tmp_path / "run").run()
        assert "computed" in summary["market_model"]["funding"]
        events = [json.loads(line) for line in open(tmp_path / "run" / "events.jsonl")]
        settled = [e for e in events if e["event"] == "FundingSettled"]
        assert [e["ts_ns"] for e in settled] == [T0]  # the file crosses 00:00 UTC once
        assert summary["account"]["funding_payments"] == 0


class Taker(Recorder):
    """Buys 0.5 at market 5 s in, sells it back 20 s later."""

    def on_start(self, ctx: Any) -> None:
        ctx.call_at(ctx.now_ns + 5 * S, "buy")
        ctx.call_at(ctx.now_ns + 25 * S, "sell")

    def on_timer(self, ctx: Any, name: str) -> None:
        lots = ctx.qty_lots("BTCUSDT", "0.5")
        (ctx.buy if name == "buy" else ctx.sell)("BTCUSDT", lots)


class TestFillsOnlyAtOfferedPrices:
    def test_market_orders_fill_at_replayed_levels(self, depth_file: Path) -> None:
        offered: dict[int, set[int]] = {BUY: set(), SELL: set()}
        with open(depth_file) as f:
            for row in csv.DictReader(f):
                if row["kind"] == "level" and row["qty"] != "0":
                    offered[BUY if row["side"] == "buy" else SELL].add(round(float(row["price"]) * 10))
        s = Taker()
        summary = Replay([depth_file], s, ReplayConfig(balance="100000", leverage=10)).run()
        assert [f.side for f in s.fills] == [BUY, SELL]
        for f in s.fills:  # a buy takes an ask that the replay offered, a sell a bid
            assert f.price_ticks in offered[f.side ^ 1]
            assert not f.is_maker
        assert summary["account"]["open_position"] == "0.000"
        # money: equity = deposit + realized - fees (flat at the end, no funding here)
        acct = summary["account"]
        D = Decimal
        assert D(acct["equity"]) == D(acct["deposit"]) + D(acct["realized_pnl"]) - D(acct["fees"]) + D(acct["funding"])

    def test_latency_delays_arrival(self, depth_file: Path) -> None:
        fast, slow = Taker(), Taker()
        Replay([depth_file], fast, ReplayConfig(balance="100000", leverage=10)).run()
        Replay([depth_file], slow, ReplayConfig(balance="100000", leverage=10, latency_ns=1500 * MS)).run()
        assert slow.fills[0].ts_ns == fast.fills[0].ts_ns + 1500 * MS
        assert slow.fills[0].price_ticks > fast.fills[0].price_ticks  # the book moved up meanwhile


class Maker(Recorder):
    """Rests a sell at the price the tape will trade at, behind the replayed size."""

    def on_start(self, ctx: Any) -> None:
        ctx.call_at(ctx.now_ns + 10 * S + 500 * MS, "post")

    def on_timer(self, ctx: Any, name: str) -> None:
        ctx.sell("BTCUSDT", ctx.qty_lots("BTCUSDT", "0.005"), ctx.best_ask("BTCUSDT"))


class TestQueue:
    def test_resting_order_waits_behind_replayed_size(self, tmp_path: Path) -> None:
        rows = book_rows(T0, "61000.0", "61000.1", "0.010")
        rows += [(T0 + 2 * S, "trade", "BTCUSDT", "buy", "61000.1", "0.006", "")]  # eats 6 of the 10 ahead
        rows += [(T0 + 3 * S, "trade", "BTCUSDT", "buy", "61000.1", "0.006", "")]  # 4 ahead, then 2 of ours
        rows += [(T0 + 4 * S, "trade", "BTCUSDT", "buy", "61000.1", "0.006", "")]  # the other 3 of ours
        path = write_csv(tmp_path / "q.csv", rows)

        class Post(Recorder):
            def on_start(self, ctx: Any) -> None:
                ctx.call_at(ctx.now_ns + S, "post")

            def on_timer(self, ctx: Any, name: str) -> None:
                ctx.sell("BTCUSDT", ctx.qty_lots("BTCUSDT", "0.005"), ctx.price_ticks("BTCUSDT", "61000.1"))

        s = Post()
        Replay([path], s, ReplayConfig(balance="10000")).run()
        assert [(f.ts_ns - T0, f.qty_lots, f.is_maker) for f in s.fills] == [(3 * S, 2, True), (4 * S, 3, True)]


class TestSyntheticLiquidity:
    def test_trade_only_data_gets_a_ladder_and_market_orders_pay_slippage(self, tmp_path: Path) -> None:
        rows = [(T0 + k * S, "trade", "BTCUSDT", "sell", "61000.0", "0.001", "") for k in range(30)]
        path = write_csv(tmp_path / "trades.csv", rows)

        class Big(Recorder):
            def on_start(self, ctx: Any) -> None:
                ctx.call_at(ctx.now_ns + 5 * S, "go")

            def on_timer(self, ctx: Any, name: str) -> None:
                ctx.buy("BTCUSDT", ctx.qty_lots("BTCUSDT", "2.5"))

        s = Big()
        summary = Replay([path], s, ReplayConfig(balance="100000", leverage=10, synthetic_qty="1.000")).run()
        assert "synthetic" in summary["market_model"]["depth"]
        # 1.0 at 61000.1, 1.0 at 61000.2, 0.5 at 61000.3: one tick a level above the last trade
        assert [(f.price_ticks, f.qty_lots) for f in s.fills] == [(610001, 1000), (610002, 1000), (610003, 500)]


class TestOutputs:
    def test_run_directory_files(self, depth_file: Path, tmp_path: Path) -> None:
        out = tmp_path / "run"
        Replay([depth_file], Taker(), ReplayConfig(balance="100000", leverage=10, margin_mode="isolated"), out_dir=out).run()
        names = sorted(p.name for p in out.iterdir())
        assert names == ["depth.csv", "events.jsonl", "fills.csv", "instruments.json", "positions.csv", "summary.json",
                         "timeseries.csv", "trades.csv"]
        fills = list(csv.DictReader(open(out / "fills.csv")))
        assert [f["side"] for f in fills] == ["buy", "sell"] and fills[0]["qty"] == "0.500"
        series = list(csv.DictReader(open(out / "timeseries.csv")))
        assert {r["why"] for r in series} >= {"sample", "fill", "end"}
        held = [r for r in series if r["position_qty"] == "0.500"]
        assert held and all(r["liquidation_price"] and r["margin_ratio"] for r in held)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["rows"] == sum(summary["rows_by_kind"].values())
        first = json.loads(open(out / "events.jsonl").readline())
        assert first["event"] and "ts_ns" in first

    def test_same_input_same_hash(self, depth_file: Path) -> None:
        a = Replay([depth_file], Taker(), ReplayConfig(balance="100000", leverage=10)).run()
        b = Replay([depth_file], Taker(), ReplayConfig(balance="100000", leverage=10)).run()
        assert a["state_hash"] == b["state_hash"]
        c = Replay([depth_file], Taker(), ReplayConfig(balance="100000", leverage=10, latency_ns=1500 * MS)).run()
        assert c["state_hash"] != a["state_hash"]


class TestBadInput:
    def test_off_grid_price_names_file_line_field(self, tmp_path: Path) -> None:
        rows = book_rows(T0, "61000.0", "61000.1") + [(T0 + S, "trade", "BTCUSDT", "buy", "61000.15", "0.001", "")]
        path = write_csv(tmp_path / "bad.csv", rows)
        with pytest.raises(InputError) as e:
            Replay([path], Passive(), ReplayConfig()).run()
        assert f"{path}:4" in str(e.value) and "price" in str(e.value)

    def test_skip_bad_rows_counts_them(self, tmp_path: Path) -> None:
        rows = book_rows(T0, "61000.0", "61000.1") + [(T0 + S, "trade", "BTCUSDT", "buy", "61000.15", "0.001", "")]
        path = write_csv(tmp_path / "bad.csv", rows)
        summary = Replay([path], Passive(), ReplayConfig(skip_bad_rows=True)).run()
        assert summary["bad_rows"] == 1 and "61000.15" in summary["bad_row_examples"][0]

    def test_unknown_symbol(self, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "x.csv", [(T0, "trade", "NOPEUSDT", "buy", "1.0", "1", "")])
        with pytest.raises(InputError, match="NOPEUSDT"):
            Replay([path], Passive(), ReplayConfig())

    def test_bad_config(self) -> None:
        with pytest.raises(InputError, match="queue_model"):
            ReplayConfig(queue_model="optimistic")


class TestSkipBadRows:
    """--skip-bad-rows passes over rows a reader refuses too (not only values that do not
    convert), counts them, and gives the same result as the file without them."""

    def test_malformed_lines_are_skipped_and_counted(self, depth_file: Path, tmp_path: Path) -> None:
        lines = depth_file.read_text().splitlines()
        bad = list(lines)
        bad.insert(40, "1723161570000000000,trade,BTCUSDT,buy,61000.1")  # 5 fields
        bad.insert(90, "soon,trade,BTCUSDT,buy,61000.1,0.010,")  # not a timestamp
        bad.insert(140, "1723161571000000000,trade,BTCUSDT,up,61000.1,0.010,")  # no such side
        dirty = tmp_path / "dirty.csv"
        dirty.write_text("\n".join(bad) + "\n")
        with pytest.raises(InputError, match="dirty.csv:41"):
            Replay([dirty], Taker(), ReplayConfig(balance="100000", leverage=10)).run()
        clean_summary = Replay([depth_file], Taker(), ReplayConfig(balance="100000", leverage=10)).run()
        summary = Replay([dirty], Taker(), ReplayConfig(balance="100000", leverage=10, skip_bad_rows=True)).run()
        assert summary["bad_rows"] == 3
        assert [e.split(": field")[0] for e in summary["bad_row_examples"]] == [f"{dirty}:41", f"{dirty}:91", f"{dirty}:141"]
        assert summary["state_hash"] == clean_summary["state_hash"] and summary["rows"] == clean_summary["rows"]

    def test_a_bad_header_is_never_skipped(self, depth_file: Path, tmp_path: Path) -> None:
        dirty = tmp_path / "dirty.csv"
        dirty.write_text("ts,kind,symbol,side,price,qty,rate\n" + "\n".join(depth_file.read_text().splitlines()[1:]) + "\n")
        with pytest.raises(InputError, match="header"):
            Replay([dirty], Passive(), ReplayConfig(skip_bad_rows=True))
