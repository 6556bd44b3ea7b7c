"""A second client family against ``exsim serve``: python-binance (the PyPI package,
unchanged; its futures base URLs set as docs/serve.md says) places, amends and cancels
orders over REST and reads them back on the futures user-data stream.

python-binance signs differently from ccxt (parameters sorted, a DELETE's parameters in
the form body, no recvWindow) and sends conditional orders to the algo endpoint itself:
the server must take both clients as Binance does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from binance import AsyncClient, BinanceSocketManager, Client
from binance.exceptions import BinanceAPIException

from .live_server import CAPTURE, CRASH, CRASH_ARGS, Server, crash_first_open, exsim_serve

SYMBOL = "BTCUSDT"
ACCOUNTS = 12


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    keys = [(f"pb-key-{i}", f"pb-secret-{i}") for i in range(ACCOUNTS)]
    with exsim_serve(CRASH, args=CRASH_ARGS, keys=keys) as srv:
        yield srv


_next_account = count()


@pytest.fixture
def account(server: Server) -> tuple[str, str]:
    i = next(_next_account)
    assert i < ACCOUNTS, "more tests than accounts: raise ACCOUNTS"
    return f"pb-key-{i}", f"pb-secret-{i}"


@pytest.fixture
def client(server: Server, account: tuple[str, str]) -> Client:
    """python-binance's sync client on an account of its own."""
    c = Client(*account, ping=False)
    c.FUTURES_URL = f"{server.base}/fapi"
    return c


def resting_price() -> str:
    """A buy price 3 % under the market's first price, on the grid: it rests."""
    return str((crash_first_open() * Decimal("0.97")).quantize(Decimal("0.01")))


def test_python_binance_places_a_limit_order(client: Client) -> None:
    """futures_create_order(LIMIT) rests: status NEW, listed by futures_get_open_orders."""
    price = resting_price()
    order = client.futures_create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price=price)
    assert order["status"] == "NEW"
    assert Decimal(order["price"]) == Decimal(price)
    assert [o["orderId"] for o in client.futures_get_open_orders(symbol=SYMBOL)] == [order["orderId"]]


def test_python_binance_amends_a_limit_order(client: Client) -> None:
    """futures_modify_order (PUT /fapi/v1/order) moves the resting order's price; the
    order keeps its id and futures_get_order reads the new price."""
    price = resting_price()
    order = client.futures_create_order(symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price=price)
    lower = str(Decimal(price) - Decimal("1.00"))
    amended = client.futures_modify_order(symbol=SYMBOL, orderId=order["orderId"], side="BUY", quantity="0.010", price=lower)
    assert amended["orderId"] == order["orderId"]
    assert Decimal(client.futures_get_order(symbol=SYMBOL, orderId=order["orderId"])["price"]) == Decimal(lower)


def test_python_binance_cancels_an_order(client: Client) -> None:
    """futures_cancel_order (DELETE with its parameters in the body) cancels: CANCELED, no
    open order left."""
    order = client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price=resting_price()
    )
    cancelled = client.futures_cancel_order(symbol=SYMBOL, orderId=order["orderId"])
    assert (cancelled["orderId"], cancelled["status"]) == (order["orderId"], "CANCELED")
    assert client.futures_get_open_orders(symbol=SYMBOL) == []


def test_python_binance_cancel_of_an_unknown_order_is_binances_error(client: Client) -> None:
    """Cancelling an order the account never had raises BinanceAPIException -2011."""
    with pytest.raises(BinanceAPIException) as err:
        client.futures_cancel_order(symbol=SYMBOL, orderId=987654321)
    assert err.value.code == -2011


def test_python_binance_stop_market_is_an_algo_order(client: Client) -> None:
    """A STOP_MARKET (python-binance sends it to /fapi/v1/algoOrder) waits as a
    conditional order with its trigger price, and is cancelled by its algo id."""
    trigger = str((Decimal(resting_price()) * Decimal("0.9")).quantize(Decimal("0.01")))
    algo = client.futures_create_order(
        symbol=SYMBOL, side="SELL", type="STOP_MARKET", stopPrice=trigger, quantity="0.010", workingType="MARK_PRICE"
    )
    assert algo["algoStatus"] == "NEW"
    assert Decimal(algo["triggerPrice"]) == Decimal(trigger)
    client.futures_cancel_order(symbol=SYMBOL, algoId=algo["algoId"])
    assert client.futures_get_open_orders(symbol=SYMBOL, conditional=True) == []


def test_python_binance_user_stream_reads_order_updates(server: Server, account: tuple[str, str]) -> None:
    """The futures user socket (listenKey from POST /fapi/v1/listenKey) delivers
    ORDER_TRADE_UPDATE for a new order (x NEW), its amendment (x AMENDMENT) and its cancel
    (x CANCELED), each naming the order."""

    async def scenario() -> list[dict[str, Any]]:
        client = AsyncClient(*account)
        client.FUTURES_URL = f"{server.base}/fapi"
        bsm = BinanceSocketManager(client)
        bsm.FSTREAM_URL = f"{server.ws}/"
        updates: list[dict[str, Any]] = []
        try:
            async with bsm.futures_user_socket() as stream:
                price = Decimal(resting_price())
                order = await client.futures_create_order(
                    symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.010", price=str(price)
                )
                await client.futures_modify_order(
                    symbol=SYMBOL, orderId=order["orderId"], side="BUY", quantity="0.010", price=str(price - 1)
                )
                await client.futures_cancel_order(symbol=SYMBOL, orderId=order["orderId"])
                while len(updates) < 3:
                    msg = await asyncio.wait_for(stream.recv(), 60)
                    if msg.get("e") == "ORDER_TRADE_UPDATE" and msg["o"]["i"] == order["orderId"]:
                        updates.append(msg["o"])
        finally:
            await client.close_connection()
        return updates

    updates = asyncio.run(scenario())
    assert [(u["x"], u["X"]) for u in updates] == [("NEW", "NEW"), ("AMENDMENT", "NEW"), ("CANCELED", "CANCELED")]
    assert {u["s"] for u in updates} == {SYMBOL}


def test_python_binance_futures_depth_socket_streams_the_top_of_the_book() -> None:
    """python-binance's futures_depth_socket (``/public/stream?streams=btcusdt@depth10``)
    delivers the capture's top ten levels a side as the stepped clock runs: combined-stream
    frames whose bids are below their asks."""

    async def scenario() -> dict[str, Any]:
        with exsim_serve(CAPTURE) as server:
            client = AsyncClient(server.key, server.secret)
            client.FUTURES_URL = f"{server.base}/fapi"
            bsm = BinanceSocketManager(client)
            bsm.FSTREAM_URL = f"{server.ws}/"
            try:
                async with bsm.futures_depth_socket(SYMBOL) as stream:
                    for _ in range(30):
                        await asyncio.to_thread(server.advance, 1000)
                        try:
                            return await asyncio.wait_for(stream.recv(), 2.0)  # type: ignore[no-any-return]
                        except TimeoutError:
                            continue
            finally:
                await client.close_connection()
        raise AssertionError("no depth message over 30 s of the capture")

    frame = asyncio.run(scenario())
    assert frame["stream"] == "btcusdt@depth10"
    book = frame["data"]
    assert book["s"] == SYMBOL and 0 < len(book["b"]) <= 10 and 0 < len(book["a"]) <= 10
    assert Decimal(book["b"][0][0]) < Decimal(book["a"][0][0])
