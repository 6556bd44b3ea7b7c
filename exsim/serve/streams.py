"""The WebSocket side of ``exsim serve``: the hub (stream name → subscribers), listenKeys,
and the aiohttp handler of one connection.

**Hub.** The venue publishes with :meth:`Hub.publish_market` (``btcusdt@aggTrade`` →
payload) and :meth:`Hub.publish_user` (account → payload) and asks :meth:`Hub.wants`
before building a payload nobody reads. A payload is serialized once per publish (and its
combined-stream wrapping once) whatever the number of subscribers.

**Connections never slow each other.** Each connection has a send queue bounded in bytes
(``max_queue_bytes``) and its own writer task; publishing only appends to queues. A client
that stops reading fills its socket buffer, then its queue; the next message that does not
fit disconnects it (logged, with the reason). Live connections lose nothing: every message
published while they are subscribed is queued for them in order.

**Paths** (Binance USDⓈ-M futures, ``fstream.binance.com``):

* legacy: ``/ws`` (subscribe later), ``/ws/<stream>[/<stream>...]`` (raw payloads),
  ``/stream?streams=<a>/<b>`` (combined: ``{"stream": name, "data": payload}``); a
  listenKey in place of a stream name is that account's user-data stream;
* the 2026 split (Binance, "Important WebSocket Change Notice — Base URL Split &
  Migration", announced 2026-03-06, legacy URLs retired 2026-04-23;
  https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Important-WebSocket-Change-Notice):
  ``/public`` (high-frequency public data: book tickers and depth), ``/market`` (regular
  market data: aggTrade, markPrice, kline, ticker, forceOrder ...), ``/private`` (user
  data), each with the ``/ws`` and ``/stream`` modes above; private connections name
  their listenKeys as ``/private/ws?listenKey=<key>&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE``
  or ``/private/stream?listenKey=<k1>&events=...&listenKey=<k2>&events=...`` (no ``events``:
  every event), or ``/private/ws/<listenKey>``; JSON ``SUBSCRIBE`` may name listenKey items
  (``<listenKey>`` or ``<listenKey>@<EVENT>``) there.
  exsim serves every market stream on both ``/public`` and ``/market``: the clients do
  not agree on the split (ccxt 4.5 routes ``@trade`` to ``/public``, others to
  ``/market``), and a bot must not go deaf over it. The notice lets a ``/private``
  SUBSCRIBE name market streams as well as listenKey items; a listenKey on ``/public`` or
  ``/market`` is refused (user data is private).

**Requests** on an open connection (Binance's live subscribing): ``SUBSCRIBE``,
``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY``/``GET_PROPERTY`` ``combined``;
replies ``{"result": null, "id": n}``, errors ``{"error": {"code": c, "msg": m}, "id": n}``
with Binance's codes (0 unknown property, 1 bad value type, 2 invalid request, 3 invalid
JSON).

**End of data**: ``{"e": "exsimEndOfData", "E": ms}`` on every open stream (and on any
stream subscribed afterwards). **listenKeys** live 60 minutes of wall time; PUT extends;
on expiry ``{"e": "listenKeyExpired", "E": ms, "listenKey": key}`` is sent on its streams,
which then stop (a connection left with no stream is closed).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from exsim.serve.auth import new_key
from exsim.serve.binance import INVALID_LISTEN_KEY, BinanceError
from exsim.serve.limits import wall_ms

log = structlog.get_logger("exsim.serve")

LISTEN_KEY_LIFETIME_MS = 60 * 60 * 1000
#: Binance: at most 1024 streams on one connection
MAX_STREAMS_PER_CONNECTION = 1024
#: default bound of a connection's send queue (bytes of queued text)
MAX_QUEUE_BYTES = 4 * 1024 * 1024
#: Binance pings every 3 minutes and drops a connection silent for 10 (aiohttp closes one
#: that has not answered a ping within half the interval)
HEARTBEAT_S = 180.0
#: what a client may send in one WebSocket message
MAX_MESSAGE_BYTES = 64 * 1024

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_STREAM_CHARS = re.compile(r"[A-Za-z0-9_!@.\-]{1,200}\Z")
WS_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


def is_market_stream(name: str) -> bool:
    """A market stream's name: ``<symbol>@<kind>...`` or ``!<all-market kind>``.

    >>> is_market_stream("btcusdt@depth@100ms"), is_market_stream("!bookTicker"), is_market_stream("pqia91ma19a5s61cv6a81")
    (True, True, False)
    """
    return ("@" in name or name.startswith("!")) and _STREAM_CHARS.match(name) is not None


def split_category(name: str) -> str:
    """Where Binance's 2026 split serves a market stream: ``public`` (book tickers and
    depth, the high-frequency data) or ``market`` (the rest). exsim serves both paths
    alike (see the module's docstring); this is what LIST/GET and the docs say.

    >>> split_category("btcusdt@depth@100ms"), split_category("!bookTicker"), split_category("btcusdt@aggTrade")
    ('public', 'public', 'market')
    """
    kind = name.split("@", 1)[1] if "@" in name else name.lstrip("!")
    return "public" if kind.startswith(("depth", "bookTicker")) else "market"


class ListenKeys:
    """One active listenKey per account (Binance: a POST while one is active returns it and
    extends it), each alive ``lifetime_ms`` of wall time from its last POST or PUT."""

    def __init__(self, lifetime_ms: int = LISTEN_KEY_LIFETIME_MS, clock_ms: Callable[[], int] = wall_ms) -> None:
        self.lifetime_ms = lifetime_ms
        self.clock_ms = clock_ms
        self._key_of: dict[int, str] = {}
        self._account_of: dict[str, int] = {}
        self._expires_ms: dict[str, int] = {}

    def create(self, account_id: int) -> str:
        key = self._key_of.get(account_id)
        if key is None:
            key = new_key()
            self._key_of[account_id] = key
            self._account_of[key] = account_id
        self._expires_ms[key] = self.clock_ms() + self.lifetime_ms
        return key

    def _own(self, account_id: int, key: str | None) -> str:
        active = self._key_of.get(account_id)
        if active is None or (key is not None and key != active):
            raise BinanceError(INVALID_LISTEN_KEY, "This listenKey does not exist.")
        return active

    def keep_alive(self, account_id: int, key: str | None = None) -> str:
        """Extend the account's key (``key``, if given, must be it: else -1125)."""
        active = self._own(account_id, key)
        self._expires_ms[active] = self.clock_ms() + self.lifetime_ms
        return active

    def delete(self, account_id: int, key: str | None = None) -> str:
        active = self._own(account_id, key)
        self._forget(active)
        return active

    def _forget(self, key: str) -> None:
        account_id = self._account_of.pop(key)
        del self._key_of[account_id]
        del self._expires_ms[key]

    def account_of(self, key: str) -> int | None:
        return self._account_of.get(key)

    def key_of(self, account_id: int) -> str | None:
        return self._key_of.get(account_id)

    def expires_ms(self, key: str) -> int | None:
        return self._expires_ms.get(key)

    def expire_due(self) -> list[str]:
        """Forget and return the keys whose lifetime has passed. O(keys)."""
        now = self.clock_ms()
        due = [k for k, t in self._expires_ms.items() if t <= now]
        for k in due:
            self._forget(k)
        return due


class Connection:
    """One WebSocket client: its subscriptions and its bounded send queue.

    ``send`` writes one text message (awaits the socket); ``abort`` drops the connection at
    once (no closing handshake: the peer may not be reading); ``close`` closes it politely
    once the queue is sent. Not web-library specific.
    """

    __slots__ = (
        "peer", "combined", "category", "streams", "queue", "queued_bytes", "max_queue_bytes",
        "closed", "closing", "_send", "_abort", "_close", "_wake", "_hub",
    )

    def __init__(
        self,
        hub: Hub,
        send: Callable[[str], Awaitable[None]],
        abort: Callable[[], None],
        close: Callable[[], Awaitable[Any]] | None = None,
        *,
        combined: bool = False,
        category: str | None = None,
        peer: str = "?",
        max_queue_bytes: int = MAX_QUEUE_BYTES,
    ) -> None:
        self._hub = hub
        self._send = send
        self._abort = abort
        self._close = close
        self.closing = False
        self.combined = combined
        self.category = category  # None (legacy), "public", "market" or "private"
        self.peer = peer
        #: subscribed names in order -> the user events wanted (None: all; market streams: None)
        self.streams: dict[str, frozenset[str] | None] = {}
        self.queue: deque[str] = deque()
        self.queued_bytes = 0
        self.max_queue_bytes = max_queue_bytes
        self.closed = False
        self._wake = asyncio.Event()

    def push(self, text: str) -> None:
        """Queue ``text``; a connection whose queue would pass its bound is dropped."""
        if self.closed:
            return
        size = len(text)
        if self.queued_bytes + size > self.max_queue_bytes:
            self.drop(f"send queue full ({self.queued_bytes:,} bytes waiting): the client is not reading")
            return
        self.queue.append(text)
        self.queued_bytes += size
        self._wake.set()

    def close_when_sent(self) -> None:
        """Close (with the closing handshake) once what is queued has been sent."""
        self.closing = True
        self._wake.set()

    def drop(self, reason: str, quiet: bool = False) -> None:
        """Disconnect now (logged unless ``quiet``): the hub forgets it, the socket is aborted."""
        if self.closed:
            return
        self.closed = True
        if not quiet:
            log.warning("websocket dropped", peer=self.peer, reason=reason, streams=len(self.streams))
        self._hub.remove(self)
        self.queue.clear()
        self.queued_bytes = 0
        self._wake.set()
        self._abort()

    async def write_loop(self) -> None:
        """Send the queue in order until the connection closes (a failed send drops it)."""
        queue = self.queue
        while not self.closed:
            if not queue:
                if self.closing:
                    self.closed = True
                    self._hub.remove(self)
                    if self._close is not None:
                        await self._close()
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            text = queue.popleft()
            self.queued_bytes -= len(text)
            try:
                await self._send(text)
            except (ConnectionError, RuntimeError, OSError) as exc:
                self.drop(f"send failed: {exc}")


class Hub:
    """Stream name → connections; listenKey → connections; the venue's publishing sinks.

    ``now_ms``: the venue's clock in ms, for the ``E`` of the events the hub makes itself.
    """

    def __init__(self, *, listen_keys: ListenKeys | None = None, now_ms: Callable[[], int] = wall_ms) -> None:
        self.listen_keys = listen_keys if listen_keys is not None else ListenKeys()
        self.now_ms = now_ms
        self.connections: set[Connection] = set()
        self.market: dict[str, set[Connection]] = {}
        self.user: dict[str, set[Connection]] = {}
        self.end_ms: int | None = None

    # ------------------------------------------------------------------ subscriptions
    def add(self, conn: Connection) -> None:
        self.connections.add(conn)

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` and its subscriptions. O(its streams)."""
        self.connections.discard(conn)
        for name in conn.streams:
            self._drop(conn, name)

    def subscribe(self, conn: Connection, name: str, events: frozenset[str] | None = None) -> None:
        """Subscribe ``conn`` to a market stream or (a listenKey) its account's user data,
        refusing what the connection's path does not serve (:class:`BinanceError`)."""
        if name in conn.streams:
            if not is_market_stream(name):
                conn.streams[name] = self._merge(conn.streams[name], events)
            return
        if len(conn.streams) >= MAX_STREAMS_PER_CONNECTION:
            raise BinanceError(2, f"Invalid request: at most {MAX_STREAMS_PER_CONNECTION} streams a connection")
        if is_market_stream(name):
            self.market.setdefault(name, set()).add(conn)
        else:
            if self.listen_keys.account_of(name) is None:
                raise BinanceError(INVALID_LISTEN_KEY, f"This listenKey does not exist: {name!r}.")
            if conn.category in ("public", "market"):
                raise BinanceError(2, f"Invalid request: user data (listenKey) is served on /private, not /{conn.category}")
            self.user.setdefault(name, set()).add(conn)
        conn.streams[name] = events
        if self.end_ms is not None:
            conn.push(self._wrap(conn, name, _dumps({"e": "exsimEndOfData", "E": self.end_ms})))

    @staticmethod
    def _merge(old: frozenset[str] | None, new: frozenset[str] | None) -> frozenset[str] | None:
        return None if old is None or new is None else old | new

    def unsubscribe(self, conn: Connection, name: str) -> None:
        if name not in conn.streams:
            return
        del conn.streams[name]
        self._drop(conn, name)

    def _drop(self, conn: Connection, name: str) -> None:
        """Take ``conn`` off ``name``'s subscribers (the stream's entry goes with its last)."""
        table = self.market if is_market_stream(name) else self.user
        subs = table.get(name)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del table[name]

    # ------------------------------------------------------------------ publishing
    def wants(self, stream: str) -> bool:
        """Has ``stream`` (exact name) any subscriber? O(1)."""
        return stream in self.market

    def publish_market(self, stream: str, payload: dict[str, Any]) -> None:
        """Send ``payload`` to every subscriber of ``stream``: serialized once (and wrapped
        once for combined connections). O(subscribers)."""
        subs = self.market.get(stream)
        if not subs:
            return
        raw = _dumps(payload)
        wrapped = None
        for conn in tuple(subs):  # (a push may drop a connection and change the set)
            if conn.combined:
                if wrapped is None:
                    wrapped = f'{{"stream":{_dumps(stream)},"data":{raw}}}'
                conn.push(wrapped)
            else:
                conn.push(raw)

    def publish_user(self, account_id: int, payload: dict[str, Any]) -> None:
        """Send ``payload`` to the connections on ``account_id``'s listenKey (those that
        asked for this event type). O(subscribers)."""
        key = self.listen_keys.key_of(account_id)
        if key is None:
            return
        subs = self.user.get(key)
        if not subs:
            return
        raw = _dumps(payload)
        event = payload.get("e")
        for conn in tuple(subs):
            events = conn.streams.get(key)
            if events is not None and event not in events:
                continue
            conn.push(self._wrap(conn, key, raw))

    @staticmethod
    def _wrap(conn: Connection, name: str, raw: str) -> str:
        return f'{{"stream":{_dumps(name)},"data":{raw}}}' if conn.combined else raw

    def end_of_data(self, now_ns: int) -> None:
        """The data's end: ``{"e": "exsimEndOfData", "E": ms}`` on every open stream (once
        on a connection with none); later subscriptions get it at once."""
        ms = now_ns // 1_000_000
        self.end_ms = ms
        raw = _dumps({"e": "exsimEndOfData", "E": ms})
        for conn in tuple(self.connections):
            if not conn.streams:
                conn.push(raw)
            for name in tuple(conn.streams):
                conn.push(self._wrap(conn, name, raw))

    def expire_listen_keys(self) -> list[str]:
        """Expire the keys past their lifetime: ``listenKeyExpired`` on their streams, which
        stop; a connection left with no stream is closed. Returns the expired keys."""
        due = self.listen_keys.expire_due()
        for key in due:
            self.close_user_stream(key, {"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": key})
            log.info("listenKey expired", listen_key=key[:8] + "...")
        return due

    def close_user_stream(self, key: str, last: dict[str, Any] | None = None) -> None:
        """Stop ``key``'s streams (after ``last``, if given)."""
        subs = self.user.pop(key, set())
        raw = _dumps(last) if last is not None else None
        for conn in tuple(subs):
            if raw is not None:
                conn.push(self._wrap(conn, key, raw))
            conn.streams.pop(key, None)
            if not conn.streams:
                conn.close_when_sent()


# ---------------------------------------------------------------------- paths and requests
_CATEGORIES = ("public", "market", "private")


def ws_route(path: str) -> tuple[str | None, str, list[str]] | None:
    """(category, mode, names in the path) of a WebSocket path, None if it is not one.

    >>> ws_route("/ws/btcusdt@aggTrade/ethusdt@depth"), ws_route("/private/ws"), ws_route("/market/stream")
    ((None, 'ws', ['btcusdt@aggTrade', 'ethusdt@depth']), ('private', 'ws', []), ('market', 'stream', []))
    >>> ws_route("/public/ws/0"), ws_route("//public/stream")
    (('public', 'ws', []), ('public', 'stream', []))
    >>> ws_route("/fapi/v1/ping") is None
    True
    """
    parts = path.strip("/").split("/")
    category = None
    if parts and parts[0] in _CATEGORIES:
        category = parts.pop(0)
    if not parts or parts[0] not in ("ws", "stream"):
        return None
    mode = parts.pop(0)
    # (a number is not a stream: ccxt opens /public/ws/<n>, n its connection's index, then SUBSCRIBEs)
    names = [p for p in parts if p and not p.isdigit()]
    if mode == "stream" and names:
        return None
    return category, mode, names


def _events(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    return frozenset(e for e in text.split("/") if e)


def initial_streams(category: str | None, mode: str, names: list[str], query: Any) -> list[tuple[str, frozenset[str] | None]]:
    """The streams a connection asks for in its URL: path names, ``?streams=a/b``, and on
    ``/private`` the ``listenKey=...&events=A/B`` pairs (``query``: a multi-dict)."""
    wanted: list[tuple[str, frozenset[str] | None]] = [(n, None) for n in names]
    streams = query.get("streams")
    if streams:
        wanted += [(n, None) for n in streams.split("/") if n]
    keys = query.getall("listenKey", [])
    events = query.getall("events", [])
    for i, key in enumerate(keys):
        wanted.append((key, _events(events[i] if i < len(events) else (events[0] if len(events) == 1 else None))))
    return wanted


def _error(code: int, msg: str, request_id: Any = None) -> str:
    return _dumps({"error": {"code": code, "msg": msg}, "id": request_id})


def _subscription(hub: Hub, param: str) -> tuple[str, frozenset[str] | None]:
    """(name, events) of a SUBSCRIBE item: a market stream, a listenKey, or on /private
    ``<listenKey>@<EVENT>``."""
    key, _, event = param.partition("@")
    if event and hub.listen_keys.account_of(key) is not None:
        return key, frozenset((event,))
    if not is_market_stream(param) and not _STREAM_CHARS.match(param):
        raise BinanceError(2, f"{param[:80]!r} is not a stream name")
    return param, None


def handle_request(hub: Hub, conn: Connection, text: str) -> str:
    """Answer one client message (Binance's live subscribing); returns the reply text."""
    try:
        request = json.loads(text)
    except ValueError as exc:
        return _error(3, f"Invalid JSON: {exc}")
    if not isinstance(request, dict):
        return _error(2, "Invalid request: expected a JSON object with method, params and id")
    request_id = request.get("id")
    if request_id is not None and not (
        (type(request_id) is int and 0 <= request_id < 2**64) or (isinstance(request_id, str) and len(request_id) <= 64)
    ):
        return _error(2, "Invalid request: request ID must be an unsigned integer", None)
    method = request.get("method")
    if not isinstance(method, str):
        return _error(2, "Invalid request: missing field `method`", request_id)
    params = request.get("params", [])
    if not isinstance(params, list):
        return _error(2, "Invalid request: params must be a list", request_id)
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not params or not all(isinstance(p, str) for p in params):
            return _error(2, "Invalid request: params must be a non-empty list of stream names", request_id)
        try:
            for name, events in (_subscription(hub, p) for p in params):
                if method == "SUBSCRIBE":
                    hub.subscribe(conn, name, events)
                else:
                    hub.unsubscribe(conn, name)
        except BinanceError as exc:
            return _error(2, f"Invalid request: {exc.msg}", request_id)
        return _dumps({"result": None, "id": request_id})
    if method == "LIST_SUBSCRIPTIONS":
        return _dumps({"result": list(conn.streams), "id": request_id})
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        if not params or not isinstance(params[0], str):
            return _error(2, "Invalid request: property name must be a string", request_id)
        if params[0] != "combined":
            return _error(0, "Unknown property", request_id)
        if method == "GET_PROPERTY":
            return _dumps({"result": conn.combined, "id": request_id})
        if len(params) != 2 or type(params[1]) is not bool:
            return _error(1, "Invalid value type: expected Boolean", request_id)
        conn.combined = params[1]
        return _dumps({"result": None, "id": request_id})
    return _error(2, f"Invalid request: unknown variant {method!r}, expected one of {', '.join(WS_METHODS)}", request_id)


async def websocket_session(
    request: Any,
    hub: Hub,
    route: tuple[str | None, str, list[str]],
    *,
    heartbeat_s: float = HEARTBEAT_S,
    max_queue_bytes: int = MAX_QUEUE_BYTES,
) -> Any:
    """Serve one WebSocket connection (aiohttp) on ``route`` (:func:`ws_route`'s) until it
    closes. The URL's streams are checked before the upgrade: a bad one is an HTTP 400
    with Binance's error body (raised as :class:`BinanceError`)."""
    from aiohttp import WSMsgType, web

    category, mode, names = route
    wanted = initial_streams(category, mode, names, request.query)
    peer = request.remote or "?"
    ws = web.WebSocketResponse(heartbeat=heartbeat_s, max_msg_size=MAX_MESSAGE_BYTES)

    def abort() -> None:
        transport = request.transport
        if transport is not None:
            transport.abort()

    if not ws.can_prepare(request).ok:
        raise BinanceError(-1000, f"{request.path}: not a valid WebSocket handshake (RFC 6455 headers missing or wrong).", 400)
    conn = Connection(
        hub, ws.send_str, abort, ws.close,
        combined=(mode == "stream"), category=category, peer=peer, max_queue_bytes=max_queue_bytes,
    )
    for name, events in wanted:  # checked before the upgrade: refused -> HTTP 400
        try:
            hub.subscribe(conn, name, events)
        except BinanceError:
            hub.remove(conn)
            raise
    try:
        await ws.prepare(request)
    except BaseException:
        hub.remove(conn)
        raise
    hub.add(conn)
    writer = asyncio.get_running_loop().create_task(conn.write_loop())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                conn.push(handle_request(hub, conn, msg.data))
            elif msg.type == WSMsgType.BINARY:
                conn.push(_error(3, "Invalid JSON: binary messages are not served"))
            if conn.closed:
                break
    finally:
        if not conn.closed:
            conn.closed = True
            hub.remove(conn)
        conn._wake.set()
        writer.cancel()
    return ws
