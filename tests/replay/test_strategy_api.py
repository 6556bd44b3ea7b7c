"""The strategy's context: orders, cancels, amends, settings, margin moves and the figures
it reads, each checked against what the exchange and ledger actually hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exsim.errors import InputError
from exsim.replay import Replay, ReplayConfig, Strategy

from .test_replay_native import MS, S, T0, book_rows, write_csv


@pytest.fixture
def flat_book(tmp_path: Path) -> Path:
    """A two-sided book at 61000.0 / 61000.1 refreshed every second for 40 s."""
    rows: list[tuple[Any, ...]] = []
    for k in range(40):
        rows += book_rows(T0 + k * S, "61000.0", "61000.1", "5.000")
    return write_csv(tmp_path / "flat.csv", rows)


class Script(Strategy):
    """Runs ``steps[name](ctx)`` at 1 s, 2 s, ... and keeps every order event."""

    def __init__(self, *steps: Any) -> None:
        self.steps = steps
        self.events: list[Any] = []
        self.seen: dict[str, Any] = {}

    def on_start(self, ctx: Any) -> None:
        for i in range(len(self.steps)):
            ctx.call_at(ctx.now_ns + (i + 1) * S, str(i))

    def on_timer(self, ctx: Any, name: str) -> None:
        self.steps[int(name)](ctx, self.seen)

    def on_order(self, ctx: Any, event: Any) -> None:
        self.events.append(event)


def test_isolated_long_figures_match_the_ledger(flat_book: Path) -> None:
    def open_(ctx: Any, seen: dict[str, Any]) -> None:
        ctx.set_margin_mode("BTCUSDT", "isolated")
        ctx.set_leverage("BTCUSDT", 50)
        ctx.buy("BTCUSDT", ctx.qty_lots("BTCUSDT", "1"))

    def read(ctx: Any, seen: dict[str, Any]) -> None:
        pos = ctx.position("BTCUSDT")
        seen["pos"] = pos
        seen["lp"] = ctx.liquidation_price_subticks("BTCUSDT")
        seen["ratio"] = ctx.margin_ratio_e8("BTCUSDT")
        ctx.add_margin("BTCUSDT", 100 * 10**8)

    def read_again(ctx: Any, seen: dict[str, Any]) -> None:
        seen["pos2"] = ctx.position("BTCUSDT")
        seen["lp2"] = ctx.liquidation_price_subticks("BTCUSDT")
        ctx.remove_margin("BTCUSDT", 10**6 * 10**8)  # far too much: refused by the venue

    s = Script(open_, read, read_again)
    summary = Replay([flat_book], s, ReplayConfig(balance="10000")).run()
    pos = s.seen["pos"]
    assert pos.qty_lots == 1000 and pos.isolated and pos.leverage == 50
    assert pos.entry_price_ticks == 610001
    # IM = 61000.1 / 50 = 1220.002 USDT in the bucket
    assert pos.margin_atoms == 1220_002_00000
    # liquidation price of an isolated long: (margin + cum - entry notional) / (qty * (mmr - 1));
    # 61,000.1 of notional is in BTCUSDT's second bracket (MMR 0.5 %, cum 50):
    # (1220.002 + 50 - 61000.1) / (0.005 - 1) = 60030.2492462..., the mark (1e-8 USDT, finer
    # than the tick) at or below it: at a mark of p subticks the notional is p atoms and MM
    # ceil(p / 200) - 50 USDT, liquidatable iff p - ceil(p / 200) <= 59,730.098 USDT
    assert s.seen["lp"] == 6_003_024_924_624
    assert 0 < s.seen["ratio"] < 10**8
    assert s.seen["pos2"].margin_atoms == pos.margin_atoms + 100 * 10**8
    assert s.seen["lp2"] < s.seen["lp"]  # more margin, further away
    assert summary["account"]["open_position"] == "1.000"
    assert summary["account"]["order_events"] == {"OrderAccepted": 1}


def test_cancel_and_amend_through_the_context(flat_book: Path) -> None:
    def post(ctx: Any, seen: dict[str, Any]) -> None:
        seen["cid"] = ctx.buy("BTCUSDT", ctx.qty_lots("BTCUSDT", "0.5"), ctx.price_ticks("BTCUSDT", "60000.0"))

    def amend(ctx: Any, seen: dict[str, Any]) -> None:
        (oid,) = ctx.open_orders("BTCUSDT")
        seen["oid"] = oid
        ctx.amend("BTCUSDT", oid, ctx.price_ticks("BTCUSDT", "60500.0"), ctx.qty_lots("BTCUSDT", "0.2"))

    def cancel(ctx: Any, seen: dict[str, Any]) -> None:
        seen["before"] = ctx.book("BTCUSDT").orders[seen["oid"]].price_ticks
        ctx.cancel("BTCUSDT", seen["oid"])

    def check(ctx: Any, seen: dict[str, Any]) -> None:
        seen["after"] = ctx.open_orders()

    s = Script(post, amend, cancel, check)
    Replay([flat_book], s, ReplayConfig(balance="10000")).run()
    kinds = [type(e).__name__ for e in s.events]
    assert kinds == ["OrderAccepted", "OrderAmended", "OrderCancelled"]
    assert s.events[0].client_order_id == s.seen["cid"].client_order_id == "s1"
    assert s.seen["before"] == 605000 and s.seen["after"] == []


def test_orders_a_strategy_cannot_place_are_rejected_not_raised(flat_book: Path) -> None:
    def greedy(ctx: Any, seen: dict[str, Any]) -> None:
        ctx.buy("BTCUSDT", ctx.qty_lots("BTCUSDT", "100"))  # 6.1M notional on 100 USDT

    s = Script(greedy)
    summary = Replay([flat_book], s, ReplayConfig(balance="100")).run()
    assert [type(e).__name__ for e in s.events] == ["OrderRejected"]
    assert summary["account"]["equity"] == "100.00000000"


def test_off_grid_text_in_a_strategy_is_an_error(flat_book: Path) -> None:
    def bad(ctx: Any, seen: dict[str, Any]) -> None:
        ctx.price_ticks("BTCUSDT", "61000.05")

    with pytest.raises(InputError, match="tick"):
        Replay([flat_book], Script(bad), ReplayConfig()).run()


def test_hooks_see_the_state_after_the_event(flat_book: Path) -> None:
    class Reader(Strategy):
        def __init__(self) -> None:
            self.tops: list[tuple[int | None, int | None]] = []

        def on_book(self, ctx: Any, update: Any) -> None:
            assert update.symbol == "BTCUSDT" and all(side in (0, 1) for side, _, _ in update.levels)
            self.tops.append((ctx.best_bid("BTCUSDT"), ctx.best_ask("BTCUSDT")))

    r = Reader()
    Replay([flat_book], r, ReplayConfig()).run()
    assert len(r.tops) == 40 and set(r.tops) == {(610000, 610001)}


def test_timer_in_the_past_is_refused(flat_book: Path) -> None:
    class Past(Strategy):
        def on_start(self, ctx: Any) -> None:
            ctx.call_at(ctx.now_ns - MS, "late")

    with pytest.raises(InputError):
        Replay([flat_book], Past(), ReplayConfig()).run()
