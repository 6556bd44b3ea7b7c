"""The WebSocket hub and streams: subscriptions, combined wrapping, user data, listenKeys,
live requests, the 2026 split paths, end of data."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from exsim.serve.binance import BinanceError
from exsim.serve.streams import Connection, Hub, ListenKeys, handle_request, initial_streams, split_category, ws_route

from .server_harness import KEY, Clock, FakeVenue, run, serving


def _conn(hub: Hub, *, combined: bool = False, category: str | None = None, max_queue_bytes: int = 1 << 20) -> Connection:
    aborted: list[bool] = []

    async def send(text: str) -> None:  # (the unit tests read the queue; nothing is sent)
        pass

    conn = Connection(hub, send, lambda: aborted.append(True), combined=combined, category=category,
                      max_queue_bytes=max_queue_bytes)
    hub.add(conn)
    return conn


def _sent(conn: Connection) -> list[Any]:
    return [json.loads(t) for t in conn.queue]


class TestHub:
    def test_market_payload_reaches_raw_subscriber_unwrapped(self) -> None:
        """A /ws subscriber gets the payload itself."""
        hub = Hub()
        c = _conn(hub)
        hub.subscribe(c, "btcusdt@aggTrade")
        hub.publish_market("btcusdt@aggTrade", {"e": "aggTrade", "a": 1})
        assert _sent(c) == [{"e": "aggTrade", "a": 1}]

    def test_combined_subscriber_gets_stream_and_data(self) -> None:
        """A combined connection gets {"stream": name, "data": payload}."""
        hub = Hub()
        c = _conn(hub, combined=True)
        hub.subscribe(c, "btcusdt@aggTrade")
        hub.publish_market("btcusdt@aggTrade", {"e": "aggTrade"})
        assert _sent(c) == [{"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade"}}]

    def test_other_streams_do_not_arrive(self) -> None:
        """Only the subscribed stream's payloads are queued."""
        hub = Hub()
        c = _conn(hub)
        hub.subscribe(c, "btcusdt@aggTrade")
        hub.publish_market("ethusdt@aggTrade", {"e": "aggTrade"})
        assert _sent(c) == []

    def test_wants_follows_subscriptions(self) -> None:
        """wants(stream) is true exactly while someone subscribes to it."""
        hub = Hub()
        c = _conn(hub)
        before = hub.wants("btcusdt@depth@100ms")
        hub.subscribe(c, "btcusdt@depth@100ms")
        during = hub.wants("btcusdt@depth@100ms")
        hub.unsubscribe(c, "btcusdt@depth@100ms")
        assert (before, during, hub.wants("btcusdt@depth@100ms")) == (False, True, False)

    def test_removed_connection_leaves_no_subscription(self) -> None:
        """A closed connection is forgotten by every stream it had."""
        hub = Hub()
        c = _conn(hub)
        hub.subscribe(c, "btcusdt@aggTrade")
        hub.remove(c)
        assert not hub.wants("btcusdt@aggTrade") and c not in hub.connections

    def test_full_queue_drops_that_connection_only(self) -> None:
        """A connection whose queue would pass its bound is dropped; the others get the message."""
        hub = Hub()
        slow, live = _conn(hub, max_queue_bytes=100), _conn(hub)
        for c in (slow, live):
            hub.subscribe(c, "btcusdt@aggTrade")
        for i in range(10):
            hub.publish_market("btcusdt@aggTrade", {"e": "aggTrade", "a": i})
        assert slow.closed and slow not in hub.connections
        assert [m["a"] for m in _sent(live)] == list(range(10))

    def test_user_payload_reaches_the_accounts_listen_key_streams(self) -> None:
        """publish_user goes to the connections on that account's listenKey only."""
        hub = Hub()
        key1, key2 = hub.listen_keys.create(1), hub.listen_keys.create(2)
        a, b = _conn(hub), _conn(hub)
        hub.subscribe(a, key1)
        hub.subscribe(b, key2)
        hub.publish_user(1, {"e": "ORDER_TRADE_UPDATE"})
        assert (_sent(a), _sent(b)) == ([{"e": "ORDER_TRADE_UPDATE"}], [])

    def test_user_payload_without_listen_key_goes_nowhere(self) -> None:
        """An account with no listenKey has no user stream: nothing is queued anywhere."""
        hub = Hub()
        c = _conn(hub)
        hub.subscribe(c, "btcusdt@aggTrade")
        hub.publish_user(1, {"e": "ORDER_TRADE_UPDATE"})
        assert _sent(c) == []

    def test_events_filter_on_private(self) -> None:
        """A private subscription with events=ACCOUNT_UPDATE gets only those."""
        hub = Hub()
        key = hub.listen_keys.create(1)
        c = _conn(hub, category="private")
        hub.subscribe(c, key, frozenset({"ACCOUNT_UPDATE"}))
        hub.publish_user(1, {"e": "ORDER_TRADE_UPDATE"})
        hub.publish_user(1, {"e": "ACCOUNT_UPDATE"})
        assert _sent(c) == [{"e": "ACCOUNT_UPDATE"}]

    def test_combined_user_stream_is_named_by_listen_key(self) -> None:
        """On a combined connection the user data's stream name is the listenKey."""
        hub = Hub()
        key = hub.listen_keys.create(1)
        c = _conn(hub, combined=True)
        hub.subscribe(c, key)
        hub.publish_user(1, {"e": "MARGIN_CALL"})
        assert _sent(c) == [{"stream": key, "data": {"e": "MARGIN_CALL"}}]

    def test_unknown_listen_key_is_refused(self) -> None:
        """A name that is neither a market stream nor a live listenKey: -1125."""
        with pytest.raises(BinanceError) as err:
            Hub().subscribe(_conn(Hub()), "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1")
        assert err.value.code == -1125

    def test_listen_key_on_public_or_market_is_refused(self) -> None:
        """User data is private: a listenKey on /market or /public is refused."""
        hub = Hub()
        key = hub.listen_keys.create(1)
        for category in ("market", "public"):
            with pytest.raises(BinanceError):
                hub.subscribe(_conn(hub, category=category), key)
        assert key not in hub.user

    def test_private_may_subscribe_market_streams_too(self) -> None:
        """Binance's notice: a /private SUBSCRIBE may name market streams besides listenKey items."""
        hub = Hub()
        hub.subscribe(_conn(hub, category="private"), "btcusdt@aggTrade")
        assert hub.wants("btcusdt@aggTrade")

    def test_public_and_market_serve_every_market_stream(self) -> None:
        """A depth stream on /market and an aggTrade on /public are both served (clients disagree on the split)."""
        hub = Hub()
        a, b = _conn(hub, category="market"), _conn(hub, category="public")
        hub.subscribe(a, "btcusdt@depth@100ms")
        hub.subscribe(b, "btcusdt@aggTrade")
        assert hub.wants("btcusdt@depth@100ms") and hub.wants("btcusdt@aggTrade")

    def test_split_categories_follow_binance(self) -> None:
        """Depth and book tickers are 'public'; trades, marks, klines are 'market'."""
        names = ["btcusdt@depth20@100ms", "!bookTicker", "btcusdt@markPrice@1s", "btcusdt@kline_1m", "!forceOrder@arr"]
        assert [split_category(n) for n in names] == ["public", "public", "market", "market", "market"]

    def test_end_of_data_on_every_open_stream(self) -> None:
        """At the end each stream of each connection gets exsimEndOfData with the venue's ms."""
        hub = Hub()
        c = _conn(hub, combined=True)
        idle = _conn(hub)
        hub.subscribe(c, "btcusdt@aggTrade")
        hub.subscribe(c, "btcusdt@bookTicker")
        hub.end_of_data(1_723_075_200_123_456_789)
        end = {"e": "exsimEndOfData", "E": 1_723_075_200_123}
        assert _sent(c) == [{"stream": "btcusdt@aggTrade", "data": end}, {"stream": "btcusdt@bookTicker", "data": end}]
        assert _sent(idle) == [end]

    def test_subscription_after_the_end_gets_end_of_data(self) -> None:
        """A stream subscribed after the end of data is told at once."""
        hub = Hub()
        hub.end_of_data(5_000_000)
        c = _conn(hub)
        hub.subscribe(c, "btcusdt@aggTrade")
        assert _sent(c) == [{"e": "exsimEndOfData", "E": 5}]


class TestListenKeys:
    def test_key_expires_after_its_lifetime(self) -> None:
        """A key unused for its lifetime expires; before that it is alive."""
        clock = Clock(0)
        keys = ListenKeys(lifetime_ms=60_000, clock_ms=clock)
        key = keys.create(1)
        clock.ms = 59_999
        early = keys.expire_due()
        clock.ms = 60_000
        assert (early, keys.expire_due(), keys.account_of(key)) == ([], [key], None)

    def test_keep_alive_extends_the_lifetime(self) -> None:
        """PUT at 50 s moves the expiry to 50 s + lifetime."""
        clock = Clock(0)
        keys = ListenKeys(lifetime_ms=60_000, clock_ms=clock)
        key = keys.create(1)
        clock.ms = 50_000
        keys.keep_alive(1)
        assert keys.expires_ms(key) == 110_000

    def test_keep_alive_of_another_key_is_refused(self) -> None:
        """PUT naming a key that is not the account's: -1125."""
        keys = ListenKeys()
        keys.create(1)
        with pytest.raises(BinanceError) as err:
            keys.keep_alive(1, "x" * 64)
        assert err.value.code == -1125

    def test_expiry_sends_listen_key_expired_then_stops_the_stream(self) -> None:
        """On expiry the stream gets listenKeyExpired (venue ms, the key) and nothing after."""
        clock = Clock(0)
        hub = Hub(listen_keys=ListenKeys(60_000, clock), now_ms=lambda: 777)
        key = hub.listen_keys.create(1)
        c = _conn(hub)
        hub.subscribe(c, key)
        clock.ms = 60_000
        hub.expire_listen_keys()
        hub.publish_user(1, {"e": "ORDER_TRADE_UPDATE"})
        assert _sent(c) == [{"e": "listenKeyExpired", "E": 777, "listenKey": key}]
        assert c.closing


class TestRequests:
    def _ask(self, hub: Hub, conn: Connection, request: Any) -> Any:
        return json.loads(handle_request(hub, conn, json.dumps(request) if not isinstance(request, str) else request))

    def test_subscribe_replies_result_null_with_id(self) -> None:
        """SUBSCRIBE answers {"result": null, "id": n} and subscribes."""
        hub = Hub()
        c = _conn(hub)
        reply = self._ask(hub, c, {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 1})
        assert reply == {"result": None, "id": 1} and hub.wants("btcusdt@depth")

    def test_list_subscriptions_in_order(self) -> None:
        """LIST_SUBSCRIPTIONS answers the names in subscription order."""
        hub = Hub()
        c = _conn(hub)
        self._ask(hub, c, {"method": "SUBSCRIBE", "params": ["b@aggTrade", "a@aggTrade"], "id": 1})
        self._ask(hub, c, {"method": "UNSUBSCRIBE", "params": ["b@aggTrade"], "id": 2})
        assert self._ask(hub, c, {"method": "LIST_SUBSCRIPTIONS", "id": 3}) == {"result": ["a@aggTrade"], "id": 3}

    def test_set_and_get_combined(self) -> None:
        """SET_PROPERTY combined true makes the connection combined; GET_PROPERTY says so."""
        hub = Hub()
        c = _conn(hub)
        set_reply = self._ask(hub, c, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5})
        assert set_reply == {"result": None, "id": 5} and c.combined
        assert self._ask(hub, c, {"method": "GET_PROPERTY", "params": ["combined"], "id": 6}) == {"result": True, "id": 6}

    @pytest.mark.parametrize(
        ("request_", "code"),
        [
            ("not json", 3),
            ({"method": "FROBNICATE", "id": 1}, 2),
            ({"params": ["a@aggTrade"], "id": 1}, 2),
            ({"method": "SUBSCRIBE", "params": "a@aggTrade", "id": 1}, 2),
            ({"method": "SUBSCRIBE", "params": ["a@aggTrade"], "id": -1}, 2),
            ({"method": "SET_PROPERTY", "params": ["colour", True], "id": 1}, 0),
            ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 1}, 1),
        ],
    )
    def test_bad_requests_get_binance_error_codes(self, request_: Any, code: int) -> None:
        """Bad requests are answered {"error": {"code", "msg"}, "id"} with Binance's codes."""
        hub = Hub()
        reply = self._ask(hub, _conn(hub), request_)
        assert reply["error"]["code"] == code and reply["error"]["msg"]


class TestPaths:
    def test_routes_of_legacy_and_split_paths(self) -> None:
        """ws/stream modes with and without the split prefixes; REST paths are not WS routes."""
        assert [ws_route(p) for p in ("/ws", "/stream", "/public/ws/a@depth", "/private/ws/KEY", "/fapi/v1/ws")] == [
            (None, "ws", []), (None, "stream", []), ("public", "ws", ["a@depth"]), ("private", "ws", ["KEY"]), None,
        ]

    def test_private_query_pairs_listen_keys_with_events(self) -> None:
        """/private/stream?listenKey=k1&events=A&listenKey=k2&events=B/C pairs them in order."""
        from multidict import MultiDict

        q = MultiDict([("listenKey", "k1"), ("events", "A"), ("listenKey", "k2"), ("events", "B/C")])
        assert initial_streams("private", "stream", [], q) == [("k1", frozenset({"A"})), ("k2", frozenset({"B", "C"}))]


# ---------------------------------------------------------------------- over a real socket
async def _recv(ws: Any) -> Any:
    return json.loads((await ws.receive(timeout=30)).data)


class TestOverWebSocket:
    def test_raw_stream_from_the_path(self) -> None:
        """/ws/<stream> delivers that stream's payloads raw."""

        async def go() -> Any:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s, s.ws_connect(base + "/ws/btcusdt@aggTrade") as ws:
                    server.hub.publish_market("btcusdt@aggTrade", {"e": "aggTrade", "a": 7})
                    return await _recv(ws)

        assert run(go()) == {"e": "aggTrade", "a": 7}

    def test_combined_streams_from_the_query(self) -> None:
        """/stream?streams=a/b wraps each payload with its stream's name."""

        async def go() -> list[Any]:
            async with serving(FakeVenue()) as (base, server):
                url = base + "/stream?streams=btcusdt@aggTrade/btcusdt@bookTicker"
                async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
                    server.hub.publish_market("btcusdt@bookTicker", {"e": "bookTicker"})
                    server.hub.publish_market("btcusdt@aggTrade", {"e": "aggTrade"})
                    return [await _recv(ws), await _recv(ws)]

        assert run(go()) == [
            {"stream": "btcusdt@bookTicker", "data": {"e": "bookTicker"}},
            {"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade"}},
        ]

    def test_subscribe_on_split_market_path(self) -> None:
        """On /market/ws a SUBSCRIBE is answered, then the stream flows."""

        async def go() -> list[Any]:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s, s.ws_connect(base + "/market/ws") as ws:
                    await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@markPrice"], "id": 9}))
                    reply = await _recv(ws)
                    server.hub.publish_market("btcusdt@markPrice", {"e": "markPriceUpdate"})
                    return [reply, await _recv(ws)]

        assert run(go()) == [{"result": None, "id": 9}, {"e": "markPriceUpdate"}]

    def test_ccxt_style_indexed_public_path(self) -> None:
        """ccxt opens /public/ws/<n> (a connection index, not a stream) and then SUBSCRIBEs."""

        async def go() -> list[Any]:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s, s.ws_connect(base + "/public/ws/0") as ws:
                    await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}))
                    reply = await _recv(ws)
                    server.hub.publish_market("btcusdt@depth@100ms", {"e": "depthUpdate"})
                    return [reply, await _recv(ws)]

        assert run(go()) == [{"result": None, "id": 1}, {"e": "depthUpdate"}]

    def test_private_path_with_listen_key_and_events(self) -> None:
        """/private/ws?listenKey=K&events=ORDER_TRADE_UPDATE delivers that account's orders only."""

        async def go() -> list[Any]:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s:
                    async with s.post(base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
                        key = (await r.json())["listenKey"]
                    url = f"{base}/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE"
                    async with s.ws_connect(url) as ws:
                        server.hub.publish_user(1, {"e": "ACCOUNT_UPDATE"})
                        server.hub.publish_user(2, {"e": "ORDER_TRADE_UPDATE", "who": 2})
                        server.hub.publish_user(1, {"e": "ORDER_TRADE_UPDATE", "who": 1})
                        return [await _recv(ws)]

        assert run(go()) == [{"e": "ORDER_TRADE_UPDATE", "who": 1}]

    def test_legacy_ws_listen_key_path(self) -> None:
        """/ws/<listenKey> is the account's user-data stream."""

        async def go() -> Any:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s:
                    async with s.post(base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
                        key = (await r.json())["listenKey"]
                    async with s.ws_connect(f"{base}/ws/{key}") as ws:
                        server.hub.publish_user(1, {"e": "MARGIN_CALL"})
                        return await _recv(ws)

        assert run(go()) == {"e": "MARGIN_CALL"}

    def test_unknown_listen_key_in_url_is_http_400(self) -> None:
        """Connecting with a listenKey that does not exist is refused before the upgrade (-1125)."""

        async def go() -> tuple[int, Any]:
            async with serving(FakeVenue()) as (base, _):
                async with aiohttp.ClientSession() as s:
                    async with s.get(base + "/private/ws?listenKey=" + "x" * 64,
                                     headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                              "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as r:
                        return r.status, await r.json()

        status, body = run(go())
        assert status == 400 and body["code"] == -1125

    def test_bad_handshake_is_refused_and_leaves_no_subscription(self) -> None:
        """An Upgrade request without the RFC 6455 headers: Binance-shaped 400, nothing subscribed."""

        async def go() -> tuple[int, Any, bool]:
            async with serving(FakeVenue()) as (base, server):
                async with aiohttp.ClientSession() as s:
                    async with s.get(base + "/ws/btcusdt@aggTrade", headers={"Upgrade": "websocket", "Connection": "Upgrade"}) as r:
                        return r.status, await r.json(), server.hub.wants("btcusdt@aggTrade")

        status, body, subscribed = run(go())
        assert (status, body["code"], subscribed) == (400, -1000, False) and "handshake" in body["msg"]

    def test_listen_key_expiry_is_announced_then_the_socket_closes(self) -> None:
        """When the key's wall-time lifetime passes: listenKeyExpired, then the server closes."""
        clock = Clock()

        async def go() -> tuple[Any, Any]:
            async with serving(FakeVenue(), clock_ms=clock, listen_key_lifetime_ms=60_000, sweep_every_s=0.01) as (base, _):
                async with aiohttp.ClientSession() as s:
                    async with s.post(base + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY}) as r:
                        key = (await r.json())["listenKey"]
                    async with s.ws_connect(f"{base}/ws/{key}") as ws:
                        clock.ms += 60_000
                        first = await _recv(ws)
                        closing = await ws.receive(timeout=30)
                        return first, closing.type

        first, closing = run(go())
        assert first["e"] == "listenKeyExpired" and len(first["listenKey"]) == 64
        assert closing in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)

    def test_server_pings_and_answers_pings(self) -> None:
        """The server sends ping frames (heartbeat) and answers a client's ping with a pong."""
        kinds = {aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG}

        async def go() -> set[Any]:
            async with serving(FakeVenue(), heartbeat_s=0.05) as (base, _):
                async with aiohttp.ClientSession() as s, s.ws_connect(base + "/ws", autoping=False) as ws:
                    await ws.ping(b"hello")
                    seen: set[Any] = set()
                    for _ in range(50):
                        msg = await ws.receive(timeout=30)
                        seen.add(msg.type)
                        if msg.type == aiohttp.WSMsgType.PING:
                            await ws.pong(msg.data)
                        if kinds <= seen:
                            break
                    return seen

        assert kinds <= run(go())

    def test_end_of_data_reaches_open_streams_from_the_venue(self) -> None:
        """The venue's end-of-data sink puts exsimEndOfData on every open stream."""

        async def go() -> Any:
            venue = FakeVenue()
            async with serving(venue) as (base, _):
                async with aiohttp.ClientSession() as s, s.ws_connect(base + "/ws/btcusdt@aggTrade") as ws:
                    await asyncio.sleep(0)
                    for sink in venue.on_end_sinks:
                        sink(venue.now_ns)
                    return await _recv(ws)

        assert run(go()) == {"e": "exsimEndOfData", "E": 1_723_075_200_000}
