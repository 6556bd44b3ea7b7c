"""Contingent orders in a replay of real data: a strategy sends brackets (a trailing stop,
a take-profit limit, a mark stop) and OCO pairs as raw commands (``ctx._send``), and a run
checkpointed while they are open resumes to the uninterrupted run's state hash."""

from __future__ import annotations

import gzip
import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest

from exsim.book.orders import BUY, LIMIT, MARKET, SELL, STOP_MARKET, TRAILING_STOP_MARKET, TRIGGER_MARK
from exsim.exchange import NewBracket, NewOco, NewOrder
from exsim.readers import open_rows
from exsim.readers.native import write_rows
from exsim.replay import Replay, ReplayConfig
from exsim.replay.strategy import Strategy

ROOT = Path(__file__).resolve().parents[2]
# hftbacktest's capture of Binance USDⓈ-M BTCUSDT depth and trades, 2024-08-08 (see its README)
CAPTURE = ROOT.parent / "shared" / "data" / "hftbacktest-binance-20240808" / "usdm_btcusdt_20240808.gz"
EXCERPT_ROWS = 150_000  # its first minutes of depth, trades and quotes
CONFIG = ReplayConfig(balance="100000", symbol="BTCUSDT")


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capture's first rows, in exsim's own format (a slice that replays in seconds)."""
    path = tmp_path_factory.mktemp("excerpt") / "capture-excerpt.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
        write_rows(itertools.islice(open_rows(CAPTURE)[1], EXCERPT_ROWS), f, "exsim-csv")
    return path


class Brackets(Strategy):
    """Every 200th trade, when flat: a 0.05 BTC market long with a 0.1 % trailing stop, a
    take-profit limit 0.1 % up and a mark stop 0.2 % down; every 997th trade an OCO pair of
    stops 0.1 % away on either side. Counts its order events by type and reason."""

    def __init__(self) -> None:
        self.trades = 0
        self.seen: dict[str, int] = {}
        self.n = 0

    def on_trade(self, ctx: Any, trade: Any) -> None:
        self.trades += 1
        sym = "BTCUSDT"
        px = trade.price_ticks
        ts = ctx._arrival_ns()
        qty = ctx.qty_lots(sym, "0.05")
        if self.trades % 200 == 0 and ctx.position(sym) is None:
            self.n += 1
            entry = NewOrder(ts, ctx.account_id, sym, BUY, qty, 0, MARKET, client_order_id=f"e{self.n}")
            exits = (
                NewOrder(ts, ctx.account_id, sym, SELL, 0, 0, TRAILING_STOP_MARKET, callback_rate_e8=100_000,
                         client_order_id=f"trail{self.n}"),
                NewOrder(ts, ctx.account_id, sym, SELL, 0, px * 1001 // 1000, LIMIT, client_order_id=f"tp{self.n}"),
                NewOrder(ts, ctx.account_id, sym, SELL, 0, 0, STOP_MARKET, trigger_price_ticks=px * 998 // 1000,
                         trigger_by=TRIGGER_MARK, client_order_id=f"sl{self.n}"),
            )
            ctx._send(NewBracket(ts, ctx.account_id, sym, entry, exits))
        if self.trades % 997 == 0:
            legs = (
                NewOrder(ts, ctx.account_id, sym, BUY, qty, 0, STOP_MARKET, trigger_price_ticks=px * 1001 // 1000),
                NewOrder(ts, ctx.account_id, sym, SELL, qty, 0, STOP_MARKET, trigger_price_ticks=px * 999 // 1000),
            )
            ctx._send(NewOco(ts, ctx.account_id, sym, legs))

    def on_order(self, ctx: Any, event: Any) -> None:
        key = type(event).__name__ + ":" + str(getattr(event, "reason", ""))
        self.seen[key] = self.seen.get(key, 0) + 1


class Kept:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.snapshots: list[Path] = []

    def __call__(self, info: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        copy = self.folder / f"{len(self.snapshots)}.snapshot"
        shutil.copyfile(info["path"], copy)
        self.snapshots.append(copy)


def test_brackets_and_ocos_trade_on_real_data(tmp_path: Path, excerpt: Path) -> None:
    """On the capture the brackets' exits are placed, exits fire, and the siblings of fired
    exits go with reason OCO (the exchange's checks run after every command's batch)."""
    strategy = Brackets()
    Replay([excerpt], strategy, CONFIG, out_dir=tmp_path / "run").run()
    seen = strategy.seen
    assert seen.get("OrderTriggered:", 0) >= 1
    assert seen.get("OrderCancelled:OCO", 0) >= 2
    assert not any(k.startswith("OrderRejected") for k in seen), seen


def test_a_run_with_open_contingent_orders_resumes_to_the_same_hash(tmp_path: Path, excerpt: Path) -> None:
    """Resumed from each snapshot (some taken with brackets and OCO pairs open), the run ends
    in the uninterrupted run's state hash."""
    plain = Replay([excerpt], Brackets(), CONFIG, out_dir=tmp_path / "plain").run()
    kept = Kept(tmp_path / "kept")
    Replay([excerpt], Brackets(), CONFIG, out_dir=tmp_path / "checked", checkpoint_every=40_000, on_checkpoint=kept).run()
    assert kept.snapshots
    open_at_snapshot = 0
    for i, snapshot in enumerate(kept.snapshots):
        out = tmp_path / f"resumed{i}"
        shutil.copytree(tmp_path / "checked", out)
        replay = Replay([excerpt], Brackets(), CONFIG, out_dir=out, resume=snapshot)
        open_at_snapshot += bool(replay.exchange.contingent)
        replay.exchange._check()
        assert replay.run()["state_hash"] == plain["state_hash"]
    assert open_at_snapshot >= 1
