"""The server under misbehaving and many clients: a client that never reads, clients that
vanish, 1,000 open connections, garbage; the others keep being served, memory stays bounded."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from structlog.testing import capture_logs

from .server_harness import FakeVenue, extra_endpoints, run, serving

STREAM = "btcusdt@depth20@100ms"


async def _drain(ws: Any, count: int) -> list[int]:
    """Read ``count`` messages; their ``u`` fields."""
    seen = []
    for _ in range(count):
        msg = await ws.receive(timeout=60)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        seen.append(json.loads(msg.data)["u"])
    return seen


class TestSlowClients:
    def test_client_that_never_reads_is_dropped_and_others_get_everything(self) -> None:
        """A subscriber that never reads is disconnected (logged) when its bounded queue
        overflows; a reading subscriber receives every message, in order."""
        count, pad = 1500, "x" * 10_000  # 15 MB: more than the sockets' buffers can hide

        async def go() -> tuple[list[int], bool, int, Any]:
            async with serving(FakeVenue(), max_queue_bytes=256 * 1024) as (base, server):
                async with aiohttp.ClientSession() as s:
                    idle = await s.ws_connect(base + "/ws/" + STREAM)  # never read
                    live = await s.ws_connect(base + "/ws/" + STREAM)
                    reader = asyncio.ensure_future(_drain(live, count))
                    peak = 0
                    for u in range(count):
                        server.hub.publish_market(STREAM, {"e": "depthUpdate", "u": u, "pad": pad})
                        peak = max(peak, max((c.queued_bytes for c in server.hub.connections), default=0))
                        await asyncio.sleep(0)
                    seen = await reader
                    dropped = len(server.hub.market.get(STREAM, ())) == 1
                    await live.close()
                    await idle.close()
                    return seen, dropped, peak, server

        with capture_logs() as logs:
            seen, dropped, peak, _ = run(go())
        assert seen == list(range(count))
        assert dropped
        assert peak <= 256 * 1024
        assert any(e["event"] == "websocket dropped" and "not reading" in e["reason"] for e in logs)

    def test_vanished_clients_are_forgotten(self) -> None:
        """Clients that disconnect abruptly leave no subscription behind; the server serves on."""

        async def go() -> tuple[bool, int]:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s:
                    for _ in range(20):
                        ws = await s.ws_connect(base + "/ws/" + STREAM)
                        ws._response.connection.transport.abort()  # gone without a close frame
                    for _ in range(100):  # (bounded wait for the server to notice)
                        if not server.hub.connections:
                            break
                        server.hub.publish_market(STREAM, {"u": 0})
                        await asyncio.sleep(0.01)
                    gone = not server.hub.connections
                    async with s.ws_connect(base + "/ws/" + STREAM) as ws:
                        server.hub.publish_market(STREAM, {"e": "depthUpdate", "u": 5})
                        return gone, (await _drain(ws, 1))[0]

        assert run(go()) == (True, 5)

    def test_garbage_frames_get_error_replies_and_the_connection_lives(self) -> None:
        """Non-JSON text and binary frames are answered with errors; the stream still flows."""

        async def go() -> list[Any]:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s, s.ws_connect(base + "/ws/" + STREAM) as ws:
                    await ws.send_str("{{{")
                    await ws.send_bytes(b"\x00\x01")
                    out = [json.loads((await ws.receive(timeout=30)).data) for _ in range(2)]
                    server.hub.publish_market(STREAM, {"u": 1})
                    out.append(json.loads((await ws.receive(timeout=30)).data))
                    return out

        out = run(go())
        assert [o.get("error", {}).get("code") for o in out[:2]] == [3, 3] and out[2] == {"u": 1}


class TestManyClients:
    def test_a_thousand_open_connections_all_served(self) -> None:
        """1,000 WebSocket clients at once (the real aiohttp client, loopback): each gets every
        message; REST requests are served meanwhile; queues stay within their bound."""
        clients, messages = 1000, 3

        async def go() -> tuple[int, int, int, int]:
            async with serving(FakeVenue(), max_queue_bytes=64 * 1024) as (base, server):
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as s:
                    sockets = []
                    for i in range(clients):
                        sockets.append(await s.ws_connect(base + "/ws/" + STREAM, heartbeat=None))
                    open_now = len(server.hub.connections)
                    for u in range(messages):
                        server.hub.publish_market(STREAM, {"e": "depthUpdate", "u": u})
                    peak = max(c.queued_bytes for c in server.hub.connections)
                    results = await asyncio.gather(*(_drain(ws, messages) for ws in sockets))
                    complete = sum(1 for r in results if r == list(range(messages)))
                    with extra_endpoints():
                        async with s.get(base + "/fapi/v1/exsimTestEcho") as r:
                            status = r.status
                    await asyncio.gather(*(ws.close() for ws in sockets))
                    return open_now, complete, status, peak

        open_now, complete, status, peak = run(go())
        assert (open_now, complete, status) == (1000, 1000, 200)
        assert peak <= 64 * 1024
