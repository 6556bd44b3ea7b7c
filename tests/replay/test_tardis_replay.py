"""Tardis book snapshots through a replay (the NautilusTrader fixtures in ../shared)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from exsim.errors import InputError
from exsim.instruments import get_instrument
from exsim.replay import Replay, ReplayConfig, Strategy

TARDIS = Path(__file__).resolve().parents[3] / "shared" / "data" / "nautilus-fixtures" / "tardis"
SNAP5 = TARDIS / "binance-futures_book_snapshot_5_BTCUSDT.csv"

pytestmark = pytest.mark.skipif(not TARDIS.is_dir(), reason="needs ../shared/data (the team's shared folder)")

#: BTCUSDT as it traded in September 2020: a 0.01 tick (the shipped 2024 spec has 0.1)
BTC_2020 = attrs.evolve(get_instrument("BTCUSDT"), tick_size=Decimal("0.01"))


class Tops(Strategy):
    def __init__(self) -> None:
        self.tops: list[tuple[int | None, int | None, int]] = []

    def on_book(self, ctx: Any, update: Any) -> None:
        book = ctx.book("BTCUSDT")
        self.tops.append((book.best_bid(), book.best_ask(), len(list(book.levels(0))) + len(list(book.levels(1)))))


def test_each_snapshot_replaces_the_book() -> None:
    s = Tops()
    summary = Replay([SNAP5], s, ReplayConfig(), instruments={"BTCUSDT": BTC_2020}).run()
    assert summary["inputs"][0]["format"] == "tardis-book_snapshot"
    assert summary["rows_by_kind"] == {"level": 100, "clear": 10}
    # every update leaves exactly the snapshot's 5 + 5 levels: the previous ones were cleared
    assert len(s.tops) == 10 and all(n == 10 for _, _, n in s.tops)
    last = SNAP5.read_text().splitlines()[-1].split(",")
    assert s.tops[-1][:2] == (BTC_2020.ticks(last[6]), BTC_2020.ticks(last[4]))  # bids[0], asks[0]


def test_the_2024_grid_refuses_2020_prices() -> None:
    """Given the 2024 tick (0.1) for these 2020 rows, the run stops at the first row and asks for 0.01."""
    with pytest.raises(InputError) as e:
        Replay([SNAP5], Tops(), ReplayConfig(tick_size="0.1")).run()
    assert f"{SNAP5}:2" in str(e.value) and "tick 0.1" in str(e.value) and "--tick-size BTCUSDT=0.01" in str(e.value)


def test_without_a_flag_the_2020_spec_is_used() -> None:
    """Without a flag the catalogue's spec in force in 2020 (tick 0.01) replays the file."""
    summary = Replay([SNAP5], Tops(), ReplayConfig()).run()
    assert summary["market_model"]["instruments"][0].startswith("BTCUSDT: tick 0.01,")
