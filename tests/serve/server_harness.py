"""What the server's tests share: a small venue-like object, test endpoints registered for
the duration of a test, a real server on a free loopback port, signing helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

from exsim.serve.app import SERVER_KEY, Server, make_app
from exsim.serve.auth import sign
from exsim.serve.binance import ENDPOINTS, INVALID_SYMBOL, NONE, SIGNED, BinanceError, Endpoint, Params

KEY = "exsimTestKey0000000000000000000000000000000000000000000000000001"
SECRET = "exsimTestSecret00000000000000000000000000000000000000000000000001"
KEY2 = "exsimTestKey0000000000000000000000000000000000000000000000000002"
SECRET2 = "exsimTestSecret00000000000000000000000000000000000000000000000002"
WALL_MS = 1_765_000_000_000  # the tests' wall clock (a fixed time: recvWindow is tested against it)
#: every test's bound: a hang fails the test instead of the run
TIMEOUT_S = 120.0


class FakeVenue:
    """Just what the server uses of a venue: keys, a clock, state() and advance()."""

    def __init__(self) -> None:
        self.now_ns = 1_723_075_200_000_000_000
        self.keys = {KEY: (1, SECRET), KEY2: (2, SECRET2)}
        self.on_end_sinks: list[Any] = []
        self.advanced: list[int] = []
        self.market_sink: Any = None
        self.user_sink: Any = None
        self.wants_sink: Any = None

    def state(self) -> dict[str, Any]:
        return {"time": self.now_ns // 1_000_000, "stateHash": "0" * 64, "ended": False}

    async def advance(self, ms: int) -> dict[str, Any]:
        self.advanced.append(ms)
        self.now_ns += ms * 1_000_000
        return self.state()


def _echo(venue: Any, account_id: int | None, params: Params) -> Any:
    return {"account": account_id, "params": params.values}


async def _order(venue: Any, account_id: int | None, params: Params) -> Any:
    await asyncio.sleep(0)
    return {"account": account_id, "params": params.values}


def _refuse(venue: Any, account_id: int | None, params: Params) -> Any:
    raise BinanceError(INVALID_SYMBOL, "Invalid symbol.")


def _bug(venue: Any, account_id: int | None, params: Params) -> Any:
    raise ZeroDivisionError("a bug")


async def _stopped(venue: Any, account_id: int | None, params: Params) -> Any:
    from exsim.serve.venue import VenueStopped

    raise VenueStopped("the replay stopped: bad row")


TEST_ENDPOINTS = [
    Endpoint("GET", "/fapi/v1/exsimTestEcho", NONE, 1, _echo),
    Endpoint("POST", "/fapi/v1/exsimTestEcho", NONE, 1, _echo),
    Endpoint("GET", "/fapi/v1/exsimTestHeavy", NONE, lambda p: p.integer("w", 1), _echo),
    Endpoint("GET", "/fapi/v1/exsimTestSigned", SIGNED, 5, _echo),
    Endpoint("POST", "/fapi/v1/exsimTestOrder", SIGNED, 1, _order, counts_as_order=True),
    Endpoint("GET", "/fapi/v1/exsimTestRefuse", NONE, 1, _refuse),
    Endpoint("GET", "/fapi/v1/exsimTestBug", NONE, 1, _bug),
    Endpoint("GET", "/fapi/v1/exsimTestStopped", NONE, 1, _stopped),
]


@contextlib.contextmanager
def extra_endpoints() -> Iterator[None]:
    """The test endpoints, in the endpoint table for the duration."""
    for ep in TEST_ENDPOINTS:
        ENDPOINTS[(ep.method, ep.path)] = ep
    try:
        yield
    finally:
        for ep in TEST_ENDPOINTS:
            ENDPOINTS.pop((ep.method, ep.path), None)


class Clock:
    """A wall clock the test moves by hand (ms)."""

    def __init__(self, ms: int = WALL_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@contextlib.asynccontextmanager
async def serving(venue: Any, **options: Any) -> AsyncIterator[tuple[str, Server]]:
    """A real server on 127.0.0.1 (a free port): (base URL, the Server)."""
    from aiohttp import web

    options.setdefault("clock_ms", Clock())
    app = make_app(venue, **options)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", app[SERVER_KEY]
    finally:
        await runner.cleanup()


def run(coro: Any) -> Any:
    """Run a test's coroutine, bounded by TIMEOUT_S."""
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT_S))


def signed(params: dict[str, Any], secret: str = SECRET, timestamp: int = WALL_MS) -> str:
    """``params`` + timestamp as a query string with its signature (as clients do)."""
    text = urlencode({**params, "timestamp": timestamp})
    return f"{text}&signature={sign(secret, text)}"
