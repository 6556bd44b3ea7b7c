"""Seeded stress: a random trader during replays, with the invariants checked after every
exchange command — conservation of money and no negative balance (``Ledger._check``),
a consistent, uncrossed book and trigger index (``Exchange._check``) — and the same seed
giving the same state hash."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from exsim.book.orders import BUY, IOC, SELL
from exsim.readers import format_kinds, open_rows
from exsim.replay import Replay, ReplayConfig, Strategy

REPLAYS = Path(__file__).resolve().parents[2] / "replays"
CRASH = REPLAYS / "btc-perp-20220121-1m.csv"


class RandomTrader(Strategy):
    """Every 2 s of simulated time: a random order, cancel, amend, leverage change, margin
    mode switch or isolated-margin move, all through the context."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.actions = 0

    def on_start(self, ctx: Any) -> None:
        ctx.call_every(2_000_000_000, "act")

    def on_timer(self, ctx: Any, name: str) -> None:
        rng, sym = self.rng, "BTCUSDT"
        bid, ask = ctx.best_bid(sym), ctx.best_ask(sym)
        if bid is None or ask is None:
            return
        self.actions += 1
        lots = rng.choice((1, 5, 20, 100, 400))
        r = rng.random()
        if r < 0.35:
            side = rng.choice((BUY, SELL))
            ctx.order(sym, side, lots, order_type=2, tif=IOC)  # market
        elif r < 0.65:
            side = rng.choice((BUY, SELL))
            away = rng.randint(-20, 200)
            px = bid - away if side == BUY else ask + away
            ctx.order(sym, side, lots, max(1, px), reduce_only=rng.random() < 0.1)
        elif r < 0.8:
            open_ids = ctx.open_orders(sym)
            if open_ids:
                oid = rng.choice(open_ids)
                if rng.random() < 0.5:
                    ctx.cancel(sym, oid)
                else:
                    order = ctx.book(sym).orders.get(oid)
                    if order is not None:
                        ctx.amend(sym, oid, order.price_ticks + rng.randint(-50, 50), max(1, order.leaves_lots + rng.randint(-3, 3)))
        elif r < 0.88:
            ctx.set_leverage(sym, rng.choice((5, 20, 50, 125)))
        elif r < 0.94:
            ctx.set_margin_mode(sym, rng.choice(("isolated", "cross")))
        else:
            amount = rng.randint(1, 200) * 10**8
            (ctx.add_margin if rng.random() < 0.6 else ctx.remove_margin)(sym, amount)


def run(seed: int, path: Path, rows: int | None = None, **config: Any) -> tuple[dict[str, Any], int, RandomTrader]:
    trader = RandomTrader(seed)
    # log_book: every command that changes the book emits events, so the check below runs
    # after each of them (the exchange calls its sinks only when a command said something)
    cfg = ReplayConfig(balance="3000", leverage=50, log_book=True, **config)
    if rows is None:
        replay = Replay([path], trader, cfg)
    else:  # the first rows of the file (every check walks the whole book)
        fmt, it = open_rows(path, None, config.get("symbol"))
        replay = Replay([], trader, cfg, rows=(str(path), format_kinds(path, fmt), itertools.islice(it, rows)))
    checks = 0

    def check(events: Any) -> None:
        nonlocal checks
        replay.exchange._check()
        replay.ledger._check()
        book = replay.exchange.book("BTCUSDT")
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask, (bid, ask)
        for acct in replay.ledger.accounts.values():
            assert acct.wallet_atoms >= 0 or any(not p.isolated for p in acct.positions.values())
        checks += 1

    replay.exchange.sinks.append(check)
    return replay.run(), checks, trader


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_trader_through_the_crash(seed: int) -> None:
    summary, checks, trader = run(seed, CRASH, symbol="BTCUSDT")
    assert trader.actions > 3000 and checks > 10_000
    again, _, _ = run(seed, CRASH, symbol="BTCUSDT")
    assert again["state_hash"] == summary["state_hash"]


def test_random_trader_on_the_capture_with_latency() -> None:
    path = REPLAYS / "binance-usdm-btcusdt-20240808.gz"
    summary, checks, trader = run(7, path, rows=150_000, latency_ns=5_000_000, queue_model="proportional")
    assert trader.actions > 20 and checks > 3_000 and summary["account"]["fills"] > 5
