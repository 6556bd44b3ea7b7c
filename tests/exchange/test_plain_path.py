"""The plain-order path (``Exchange._on_new_order``) and the general path agree.

A plain limit or market order whose every field passes is checked, announced and
executed in one pass; anything else goes through ``_place_order``, the general path
that names each reject reason. The plain path must never accept what the general one
refuses nor emit anything different: here the same commands run through the exchange
and through one whose every new order takes the general path, and their events and
state hashes are compared command by command.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from exsim.book.orders import BUY, FOK, GTC, GTX, IOC, LIMIT, MARKET, SELL, STOP_MARKET, Order
from exsim.exchange import Exchange, NewOrder, SetSelfTradePrevention
from exsim.instruments import get_instrument
from exsim.ledger import Ledger

from .streams import RandomDriver, stress_instruments


class GeneralOnly(Exchange):
    """An exchange whose every new order takes the general path."""

    def _on_new_order(self, cmd: NewOrder) -> None:
        market = self.markets.get(cmd.symbol)
        if market is None:
            return self._reject(cmd, "UNKNOWN_SYMBOL")
        return self._place_order(market, cmd)


def pair(instruments: list[Any], **kw: Any) -> tuple[Exchange, list[Any], Exchange, list[Any]]:
    got: list[Any] = []
    want: list[Any] = []
    return (
        Exchange(instruments, sinks=[got.extend], **kw), got,
        GeneralOnly(instruments, sinks=[want.extend], **kw), want,
    )


def test_random_streams_agree() -> None:
    """Every command kind, a few orders with an invalid field: the same events, the same state."""
    fast, got, general, want = pair(stress_instruments())
    driver = RandomDriver(fast, 11)
    for _ in range(3_000):
        cmd = driver.next_command()
        fast.submit(cmd)
        general.submit(cmd)
        assert got == want, cmd
        got.clear()
        want.clear()
    assert fast.state_hash() == general.state_hash()
    fast._check()


BTC = "BTCUSDT"
ETH = "ETHUSDT"  # 20 USDT minimum notional


def edge_orders() -> list[NewOrder]:
    """Orders at the edges of the plain path's checks (odd types, limits, flags)."""
    base = NewOrder(1, 1, BTC, SELL, 5, 600_010, LIMIT, GTC)
    odd: list[NewOrder] = [
        base,
        base._replace(account_id=True),  # a bool is not an account id
        base._replace(account_id=0),
        base._replace(side=True),  # == SELL: accepted as a side, as the general path does
        base._replace(side=2),
        base._replace(qty_lots=True),
        base._replace(qty_lots=5.0),
        base._replace(qty_lots=0),
        base._replace(qty_lots=10**20),  # above the instrument's maximum
        base._replace(price_ticks=600_010.0),
        base._replace(price_ticks=0),
        base._replace(tif=9),
        base._replace(tif=1.0),  # == IOC
        base._replace(order_type=9),
        base._replace(order_type=0.0),  # == LIMIT
        base._replace(trigger_price_ticks=1),
        base._replace(trigger_price_ticks=0.0),
        base._replace(callback_rate_e8=100_000),
        base._replace(callback_ticks=3),
        base._replace(client_order_id="x"),
        base._replace(client_order_id="x", ts_ns=2),  # a duplicate of an open order's id
        base._replace(order_type=MARKET, price_ticks=0, tif=IOC),
        base._replace(order_type=MARKET, price_ticks=5, tif=IOC),
        base._replace(order_type=MARKET, price_ticks=0, tif=GTX),
        base._replace(order_type=MARKET, price_ticks=0, tif=FOK, qty_lots=1_000),
        base._replace(side=BUY, price_ticks=600_020, tif=GTX),  # post-only that would take
        base._replace(side=BUY, price_ticks=599_990, tif=GTX),
        base._replace(side=BUY, price_ticks=600_020, tif=FOK, qty_lots=1_000),
        base._replace(side=BUY, price_ticks=600_020, tif=IOC, qty_lots=2),
        base._replace(symbol=ETH, price_ticks=300_000, qty_lots=1),  # below the minimum notional
        base._replace(symbol=ETH, price_ticks=300_000, qty_lots=10),
        base._replace(symbol="NOPE"),
        base._replace(order_type=STOP_MARKET, price_ticks=0, trigger_price_ticks=600_100),
    ]
    return odd


@pytest.mark.parametrize("with_ledger", [False, True])
def test_edge_orders_agree(with_ledger: bool) -> None:
    """Odd values the plain path must hand to the general path (or accept exactly as it does)."""
    instruments = [
        attrs.evolve(get_instrument(BTC), min_notional_atoms=0, max_qty_lots=100_000),
        get_instrument(ETH),
    ]

    def build(cls: type[Exchange], sink: Any) -> Exchange:
        if not with_ledger:
            return cls(instruments, sinks=[sink])
        ledger = Ledger(instruments)
        ex = cls(instruments, sinks=[sink], ledger=ledger)
        ledger.deposit(1, 10**16)
        return ex

    got: list[Any] = []
    want: list[Any] = []
    fast, general = build(Exchange, got.extend), build(GeneralOnly, want.extend)
    commands: list[Any] = [SetSelfTradePrevention(0, 2, 0)] + edge_orders()
    for cmd in commands:
        fast.submit(cmd)
        general.submit(cmd)
        assert got == want, cmd
        got.clear()
        want.clear()
    assert fast.state_hash() == general.state_hash()
    fast._check()


@pytest.mark.parametrize("coid", [None, "c1"])
def test_resting_orders_are_the_same_objects(coid: str | None) -> None:
    """The plain path sets an Order's slots itself (no ``__init__`` frame): every slot of
    :class:`~exsim.book.orders.Order` holds what ``Order(...)`` on the general path gives
    (a slot added to Order and not set there fails here)."""
    inst = [attrs.evolve(get_instrument(BTC), min_notional_atoms=0)]
    fast, _, general, _ = pair(inst)
    for ex in (fast, general):
        ex.submit(NewOrder(7, 3, BTC, BUY, 4, 599_000, LIMIT, GTC, coid))
        ex.submit(NewOrder(8, 3, BTC, SELL, 2, 601_000, LIMIT, GTX, None, True))
    for order_id in (1, 2):
        a, b = fast.open_order(BTC, order_id), general.open_order(BTC, order_id)
        assert type(a) is type(b) is Order
        assert {s: getattr(a, s) for s in Order.__slots__} == {s: getattr(b, s) for s in Order.__slots__}
    assert fast.open_order(BTC, 2).reduce_only is True  # (the fields are not all defaults)
