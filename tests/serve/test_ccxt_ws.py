"""ccxt's async WebSocket client (``ccxt.pro.binanceusdm``, unchanged) against ``exsim serve``:
the order book it keeps from the diff-depth stream stays equal to the venue's through a
replay, and the user-data stream shows a 125x long liquidated in the January 2022 crash
with Binance's liquidation flags.

Each test runs a server of its own in step mode and moves its clock with
``POST /exsim/v1/advance``; nothing here depends on wall-clock pace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.pro
import pytest

from .live_server import CAPTURE, CRASH, CRASH_ARGS, Server, exsim_serve

S = "BTC/USDT:USDT"
#: the crash lasts minutes; the 125x long must be liquidated well before this much data
CRASH_MINUTES = 60
TIMEOUT_S = 60.0


def run(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(make())


async def advance(http: aiohttp.ClientSession, server: Server, ms: int) -> dict[str, Any]:
    async with http.post(f"{server.base}/exsim/v1/advance", params={"ms": str(ms)}) as r:
        assert r.status == 200, await r.text()
        return await r.json()  # type: ignore[no-any-return]


async def rest(http: aiohttp.ClientSession, server: Server, path: str, **params: str) -> Any:
    async with http.get(f"{server.base}{path}", params=params) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def eventually(check: Callable[[], bool], what: str, watcher: asyncio.Future[Any] | None = None) -> None:
    """Wait (yielding to the client's tasks) until ``check()`` holds; fail after TIMEOUT_S,
    or at once with the ``watcher`` task's own error if it has failed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT_S
    while not check():
        if watcher is not None and watcher.done():
            watcher.result()  # raises the client's error
            raise AssertionError(f"the watcher stopped before {what}")
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def user_stream_open(ex: ccxt.pro.binanceusdm) -> bool:
    """ccxt's user-data connection (``/private/ws?listenKey=...``) is open."""
    return any("listenKey" in url and c.connected.done() for url, c in ex.clients.items())


async def collect(watch: Callable[[], Awaitable[list[dict[str, Any]]]], into: list[dict[str, Any]]) -> None:
    """Append every update ``watch()`` resolves with (ccxt hands out only the new ones)."""
    while True:
        into.extend(dict(x) for x in await watch())


def pro(server: Server) -> ccxt.pro.binanceusdm:
    return ccxt.pro.binanceusdm({**server.ccxt_config(), "newUpdates": True})


# --------------------------------------------------------------------------- order book
def test_watch_order_book_stays_in_sync_through_a_replay() -> None:
    """Through 30 s of the shipped Binance capture, after every step the book ccxt keeps
    from ``@depth@100ms`` (synced on ``/depth`` by U/u/pu) reaches the venue's update id
    and equals the venue's ``/depth`` level for level; ccxt never finds a gap."""

    async def scenario() -> None:
        with exsim_serve(CAPTURE) as server:
            ex = pro(server)
            try:
                async with aiohttp.ClientSession() as http:
                    book = await ex.watch_order_book(S)
                    first_nonce = book["nonce"]
                    now_ms = (await rest(http, server, "/fapi/v1/time"))["serverTime"]
                    await advance(http, server, 100 - now_ms % 100 or 100)  # steps end on 100 ms pushes
                    for _ in range(30):
                        await advance(http, server, 1000)
                        venue = await rest(http, server, "/fapi/v1/depth", symbol="BTCUSDT", limit="1000")
                        while book["nonce"] < venue["lastUpdateId"]:
                            book = await asyncio.wait_for(ex.watch_order_book(S), TIMEOUT_S)
                        assert book["nonce"] == venue["lastUpdateId"]
                        for side in ("bids", "asks"):
                            ours = [[Decimal(p), Decimal(q)] for p, q in venue[side][:50]]
                            theirs = [[Decimal(str(p)), Decimal(str(q))] for p, q in book[side][:50]]
                            assert theirs == ours, side
                    assert book["nonce"] > first_nonce  # the diffs moved the book
            finally:
                await ex.close()

    run(scenario)


# --------------------------------------------------------------------------- other market streams
@pytest.fixture(scope="module")
def capture_server() -> Any:
    """One stepped server on the capture for the stream tests below; each moves its clock on."""
    with exsim_serve(CAPTURE) as server:
        yield server


async def first_update(server: Server, watch: Callable[[], Awaitable[Any]], steps: int = 15) -> tuple[Any, int, int]:
    """Subscribe (``watch()``), then advance the capture a second at a time until the
    subscription delivers; (what it delivered, venue ms before, venue ms after)."""
    async with aiohttp.ClientSession() as http:
        before = (await rest(http, server, "/exsim/v1/state"))["time"]
        task = asyncio.ensure_future(watch())
        try:
            for _ in range(steps):
                after = (await advance(http, server, 1000))["time"]
                done, _ = await asyncio.wait({task}, timeout=1.0)
                if done:
                    return task.result(), before, after
        finally:
            task.cancel()
    raise AssertionError(f"nothing delivered over {steps} s of the capture")


def stream_test(server: Server, body: Callable[[ccxt.pro.binanceusdm], Coroutine[Any, Any, None]]) -> None:
    async def scenario() -> None:
        ex = pro(server)
        try:
            await ex.load_markets()
            await body(ex)
        finally:
            await ex.close()

    run(lambda: scenario())


def test_watch_trades_follows_the_tape(capture_server: Server) -> None:
    """watch_trades delivers the capture's prints as the clock passes them: the symbol, a
    price and an amount, times inside the stepped interval and in order."""

    async def body(ex: ccxt.pro.binanceusdm) -> None:
        trades, before, after = await first_update(capture_server, lambda: ex.watch_trades(S))
        assert trades and {t["symbol"] for t in trades} == {S}
        assert all(t["price"] > 0 and t["amount"] > 0 for t in trades)
        times = [t["timestamp"] for t in trades]
        assert times == sorted(times) and before <= times[0] and times[-1] <= after

    stream_test(capture_server, body)


def test_watch_ohlcv_builds_minute_candles(capture_server: Server) -> None:
    """watch_ohlcv('1m') delivers candles on the minute with low <= open, close <= high."""

    async def body(ex: ccxt.pro.binanceusdm) -> None:
        candles, _, after = await first_update(capture_server, lambda: ex.watch_ohlcv(S, "1m"))
        for ts, o, h, low, c, v in candles:
            assert ts % 60_000 == 0 and ts <= after
            assert low <= min(o, c) <= max(o, c) <= h and v >= 0

    stream_test(capture_server, body)


def test_watch_ticker_gives_the_last_price(capture_server: Server) -> None:
    """watch_ticker (Binance's 24-hour ticker stream) gives the symbol's last price."""

    async def body(ex: ccxt.pro.binanceusdm) -> None:
        ticker, _, after = await first_update(capture_server, lambda: ex.watch_ticker(S))
        assert ticker["symbol"] == S and ticker["last"] > 0 and ticker["timestamp"] <= after

    stream_test(capture_server, body)


def test_watch_bids_asks_gives_an_uncrossed_top_of_book(capture_server: Server) -> None:
    """watch_bids_asks (``@bookTicker``) gives a best bid below the best ask."""

    async def body(ex: ccxt.pro.binanceusdm) -> None:
        quotes, _, _ = await first_update(capture_server, lambda: ex.watch_bids_asks([S]))
        q = quotes[S]
        assert 0 < q["bid"] < q["ask"]

    stream_test(capture_server, body)


def test_watch_mark_price_follows_the_mark(capture_server: Server) -> None:
    """watch_mark_price (``@markPrice``) gives the mark within 1 % of the best bid."""

    async def body(ex: ccxt.pro.binanceusdm) -> None:
        mark, _, after = await first_update(capture_server, lambda: ex.watch_mark_price(S))
        async with aiohttp.ClientSession() as http:
            bid = Decimal((await rest(http, capture_server, "/fapi/v1/depth", symbol="BTCUSDT", limit="5"))["bids"][0][0])
        assert abs(Decimal(mark["info"]["p"]) / bid - 1) < Decimal("0.01")
        assert mark["timestamp"] <= after

    stream_test(capture_server, body)


# --------------------------------------------------------------------------- liquidation on the crash
async def open_125x_long(ex: ccxt.pro.binanceusdm) -> dict[str, Any]:
    await ex.load_markets()
    await ex.set_leverage(125, S)
    await ex.set_margin_mode("isolated", S)
    return await ex.create_order(S, "market", "buy", 0.01)  # type: ignore[no-any-return]


async def run_until_flat(http: aiohttp.ClientSession, server: Server, ex: ccxt.pro.binanceusdm) -> None:
    """Advance the crash a minute at a time until the account holds no BTCUSDT position."""
    for _ in range(CRASH_MINUTES):
        await advance(http, server, 60_000)
        positions = await ex.fetch_positions([S])
        if not any(p["contracts"] for p in positions):
            return
    raise AssertionError(f"the 125x long was still open after {CRASH_MINUTES} minutes of the crash")


def test_watch_orders_sees_the_125x_long_liquidated_with_binances_flags() -> None:
    """A 125x isolated long opened at the start of the January 2022 replay is liquidated;
    watch_orders delivers the liquidation order as Binance sends it: order type LIQUIDATION,
    execution type CALCULATED, client id ``autoclose-...``, a filled sell of the whole long."""

    async def scenario() -> None:
        with exsim_serve(CRASH, args=CRASH_ARGS) as server:
            ex = pro(server)
            seen: list[dict[str, Any]] = []
            watcher = asyncio.ensure_future(collect(lambda: ex.watch_orders(S), seen))
            try:
                async with aiohttp.ClientSession() as http:
                    await eventually(lambda: user_stream_open(ex), "the user-data stream", watcher)
                    entry = await open_125x_long(ex)
                    await eventually(lambda: any(o["id"] == entry["id"] for o in seen), "the entry's update", watcher)
                    await run_until_flat(http, server, ex)
                    await eventually(lambda: any(o["info"].get("o") == "LIQUIDATION" for o in seen), "the liquidation", watcher)
            finally:
                watcher.cancel()
                await ex.close()
            (liq,) = {o["id"]: o for o in seen if o["info"].get("o") == "LIQUIDATION" and o["status"] == "closed"}.values()
            assert liq["info"]["x"] == "CALCULATED"
            assert liq["info"]["c"].startswith("autoclose-")
            assert (liq["side"], liq["amount"], liq["filled"]) == ("sell", 0.01, 0.01)

    run(scenario)


def test_watch_positions_sees_the_125x_long_closed_by_the_liquidation() -> None:
    """watch_positions first shows the 125x long (0.01 BTC), then the ACCOUNT_UPDATE of the
    liquidation leaves the position at zero contracts."""

    async def scenario() -> None:
        with exsim_serve(CRASH, args=CRASH_ARGS) as server:
            ex = pro(server)
            seen: list[dict[str, Any]] = []
            try:
                async with aiohttp.ClientSession() as http:
                    await open_125x_long(ex)
                    snapshot = await ex.watch_positions([S])  # the REST snapshot
                    assert [(p["symbol"], p["side"], p["contracts"]) for p in snapshot if p["contracts"]] == [
                        (S, "long", 0.01)
                    ]
                    watcher = asyncio.ensure_future(collect(lambda: ex.watch_positions([S]), seen))
                    try:
                        await eventually(lambda: user_stream_open(ex), "the user-data stream", watcher)
                        await run_until_flat(http, server, ex)
                        await eventually(lambda: any(p["contracts"] == 0 for p in seen), "the closed position", watcher)
                    finally:
                        watcher.cancel()
            finally:
                await ex.close()
            assert {p["symbol"] for p in seen} == {S}
            assert seen[-1]["contracts"] == 0

    run(scenario)
