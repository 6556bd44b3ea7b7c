"""``exsim serve`` over loopback: order round-trip latency, order throughput with 1, 10 and 100
concurrent clients, and market-stream messages per second at ``--speed max``.

Run: ``pytest benchmarks/test_serve_bench.py --benchmark-only -s``. The server is a real
``exsim serve`` child process on 127.0.0.1 (as in ``tests/serve``); the clients are plain
aiohttp sessions in this process that sign requests as Binance wants (HMAC-SHA256 over the
query string): ccxt's own per-call overhead (a few hundred µs of Python) is left out, the
server's is what is measured. Orders are market orders of 0.001 BTC, buys and sells
alternating, on the January 2022 replay in step mode (the clock still: every order meets
the same synthetic book); each client is an account of its own, so Binance's limit of
1,200 orders a minute per account is never reached. Reported (``extra_info``, and printed
with ``-s``): p50 / p99 round trip in µs, orders/s, the server's and this process's CPU
seconds beside the wall time; for the streams, messages/s received by one client
subscribed to every stream of the symbol while the shipped capture plays at full speed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.serve.live_server import CAPTURE, CRASH, CRASH_ARGS, Server, exsim_serve  # noqa: E402

CLIENTS = (1, 10, 100)
ORDERS_TOTAL = 1_000  # per throughput measurement, shared among the clients
ROUND_TRIPS = 1_000  # latency samples, one client
KEYS = [(f"bench-key-{i}", f"bench-secret-{i}") for i in range(1 + sum(CLIENTS))]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def signed(params: dict[str, str], secret: str) -> str:
    query = urlencode({**params, "timestamp": str(int(time.time() * 1000)), "recvWindow": "60000"})
    return query + "&signature=" + hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


async def order_loop(http: aiohttp.ClientSession, server: Server, key: str, secret: str, n: int, lat_ns: list[int]) -> None:
    """``n`` market orders of 0.001 BTC, buy and sell alternating, one after the other."""
    url = f"{server.base}/fapi/v1/order"
    headers = {"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"}
    for i in range(n):
        side = "BUY" if i % 2 == 0 else "SELL"
        order = {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": "0.001", "newOrderRespType": "RESULT"}
        body = signed(order, secret)
        t0 = time.perf_counter_ns()
        async with http.post(url, data=body, headers=headers) as r:
            reply = await r.read()
        lat_ns.append(time.perf_counter_ns() - t0)
        assert r.status == 200, reply
        assert json.loads(reply)["status"] == "FILLED"


def run_orders(server: Server, keys: list[tuple[str, str]], per_client: int) -> dict[str, Any]:
    lat_ns: list[int] = []

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(*(order_loop(http, server, k, s, per_client, lat_ns) for k, s in keys))

    server_cpu, my_cpu, wall = cpu_s(server.pid), time.process_time(), time.perf_counter()
    asyncio.run(main())
    wall = time.perf_counter() - wall
    lat_ns.sort()
    return {
        "orders": len(lat_ns),
        "orders_per_s": round(len(lat_ns) / wall),
        "p50_us": round(lat_ns[len(lat_ns) // 2] / 1000),
        "p99_us": round(lat_ns[len(lat_ns) * 99 // 100] / 1000),
        "wall_s": round(wall, 3),
        "server_cpu_s": round(cpu_s(server.pid) - server_cpu, 3),
        "client_cpu_s": round(time.process_time() - my_cpu, 3),
    }


@pytest.fixture(scope="module")
def order_server() -> Any:
    with exsim_serve(CRASH, args=[*CRASH_ARGS, "--deposit", "1000000"], keys=KEYS) as server:
        yield server


def test_order_round_trip(benchmark: Any, order_server: Server) -> None:
    """p50 / p99 of one client's order round trip (sign, POST, match, answer) over loopback."""
    key, secret = KEYS[0]
    result: dict[str, Any] = {}
    benchmark.pedantic(lambda: result.update(run_orders(order_server, [(key, secret)], ROUND_TRIPS)), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\norder round trip, 1 client: {result}")
    assert result["orders"] == ROUND_TRIPS


@pytest.mark.parametrize("clients", CLIENTS[1:])
def test_orders_per_second(benchmark: Any, order_server: Server, clients: int) -> None:
    """Orders/s with ``clients`` concurrent clients (accounts), ORDERS_TOTAL orders in all
    (the 1-client figure is test_order_round_trip's)."""
    first = 1 + sum(c for c in CLIENTS[1:] if c < clients)
    keys = KEYS[first : first + clients]
    result: dict[str, Any] = {}
    benchmark.pedantic(lambda: result.update(run_orders(order_server, keys, ORDERS_TOTAL // clients)), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\norders with {clients} clients: {result}")
    assert result["orders"] == ORDERS_TOTAL


STREAMS = ("btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@aggTrade", "btcusdt@trade", "btcusdt@bookTicker",
           "btcusdt@markPrice@1s", "btcusdt@kline_1m", "btcusdt@depth20@100ms")  # fmt: skip


def test_market_stream_messages_per_second(benchmark: Any) -> None:
    """Messages/s one client receives on every stream of the symbol while the shipped
    Binance capture plays at --speed max, from its first message to ``exsimEndOfData``."""
    result: dict[str, Any] = {}

    async def listen(server: Server) -> None:
        url = f"{server.ws}/stream?streams=" + "/".join(STREAMS)
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
            n, first = 0, None
            while True:
                msg = await ws.receive(timeout=60)
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                data = json.loads(msg.data)
                if first is None:
                    first = time.perf_counter()
                if data.get("data", data).get("e") == "exsimEndOfData":
                    break
                n += 1
            assert first is not None
            result.update(messages=n, msgs_per_s=round(n / (time.perf_counter() - first)))

    def run() -> None:
        with exsim_serve(CAPTURE, speed="max") as server:
            server_cpu, wall = cpu_s(server.pid), time.perf_counter()
            assert not server.state()["ended"], "the replay ended before a client could connect: use a longer file"
            asyncio.run(listen(server))
            assert server.state()["ended"]
            result.update(wall_s=round(time.perf_counter() - wall, 3), server_cpu_s=round(cpu_s(server.pid) - server_cpu, 3))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\nmarket streams at --speed max: {result}")
    assert result["messages"] > 0
