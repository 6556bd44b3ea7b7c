"""The web server of ``exsim serve`` (aiohttp): Binance's REST paths and WebSocket streams
over the venue.

Why aiohttp: one well-kept library serves both HTTP and WebSocket on asyncio, with
back-pressure on WebSocket writes (a send waits while the peer's socket is full, which is
what lets each connection's queue stay bounded), built-in pings, and a test client; ccxt's
own async client is built on it, so the test extra adds no second HTTP stack.

Every request goes through :meth:`Server.dispatch`:

1. WebSocket paths (``/ws``, ``/stream``, ``/public/...``, ``/market/...``, ``/private/...``)
   → :func:`exsim.serve.streams.websocket_session`;
2. control paths ``/exsim/v1/...`` (no signature; loopback clients only): ``POST
   /exsim/v1/advance?ms=N`` (``--speed step`` only) and ``GET /exsim/v1/state``;
3. Binance's REST paths: the endpoint table (:data:`exsim.serve.binance.ENDPOINTS`, plus
   the listenKey paths served here). Parameters are the query string's and the body's
   (form or JSON; the query string wins a name given in both, as on Binance); the request
   weight is counted per client IP; keys, timestamp, recvWindow and signatures are checked
   (:mod:`exsim.serve.auth`); the handler (sync or async) answers JSON.

Every refusal is Binance-shaped (``{"code": c, "msg": m}`` with its HTTP status: unknown
path 404 naming it, wrong method 405, body over 1 MiB 413, rate limits 429, keys and
signatures 401, the rest 400) and is logged (structlog, logger ``exsim.serve``) with the
method, the path, the code and the reason. Every response carries
``X-MBX-USED-WEIGHT-1M``; order endpoints also ``X-MBX-ORDER-COUNT-1M``.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import structlog
from aiohttp import web

from exsim.errors import InputError
from exsim.serve import auth
from exsim.serve.binance import (
    DISCONNECTED,
    ENDPOINTS,
    ILLEGAL_CHARS,
    NONE,
    SIGNED,
    TOO_MANY_PARAMETERS,
    UNAUTHORIZED,
    UNKNOWN,
    USER_STREAM,
    BinanceError,
    Endpoint,
    Params,
)
from exsim.serve.limits import RateLimits, wall_ms
from exsim.serve.streams import HEARTBEAT_S, MAX_QUEUE_BYTES, Hub, ListenKeys, websocket_session, ws_route
from exsim.serve.venue import VenueStopped

log = structlog.get_logger("exsim.serve")

#: the largest request body served (Binance's bodies are small forms; anything bigger is refused)
MAX_BODY_BYTES = 1024 * 1024
_dumps = json.JSONEncoder(separators=(",", ":")).encode
SERVER_KEY: web.AppKey[Server] = web.AppKey("exsim_server")


def _json_value_text(value: Any) -> str:
    """A JSON body's value as the text a form would have carried."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return _dumps(value)
    return str(value)


def parse_form(text: str, where: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` as sent (percent-encoded UTF-8); -1100 naming ``where`` if not decodable.

    >>> parse_form("symbol=BTCUSDT&price=61800.1&newClientOrderId=a%2Fb", "query string")
    [('symbol', 'BTCUSDT'), ('price', '61800.1'), ('newClientOrderId', 'a/b')]
    """
    try:
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise BinanceError(ILLEGAL_CHARS, f"Illegal characters found in the {where}: {exc}.") from None


def parse_json_body(text: str) -> list[tuple[str, str]]:
    """A JSON object body's members as text parameters (numbers kept as written)."""
    try:
        value = json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except ValueError as exc:
        raise BinanceError(ILLEGAL_CHARS, f"Malformed JSON body: {exc}.") from None
    if not isinstance(value, dict):
        raise BinanceError(ILLEGAL_CHARS, "Malformed JSON body: expected an object of parameters.")
    return [(str(k), _json_value_text(v)) for k, v in value.items()]


def merge_params(query: list[tuple[str, str]], body: list[tuple[str, str]]) -> dict[str, str]:
    """Query and body parameters in one table; a name twice in the same part is -1101, a
    name in both parts takes the query's value (Binance's rule).

    >>> merge_params([("symbol", "BTCUSDT")], [("symbol", "ETHUSDT"), ("side", "BUY")])
    {'symbol': 'BTCUSDT', 'side': 'BUY'}
    """
    merged: dict[str, str] = {}
    for part in (body, query):
        seen: set[str] = set()
        for name, value in part:
            if name in seen:
                raise BinanceError(TOO_MANY_PARAMETERS, f"Duplicate values for parameter '{name}'.")
            seen.add(name)
            merged[name] = value
    return merged


def _stopped(exc: BaseException) -> BinanceError:
    """The refusal of a request the venue cannot serve any more (its replay failed or it is
    closed): Binance's -1001, HTTP 503, saying why."""
    return BinanceError(DISCONNECTED, f"Internal error; unable to process your request: {exc}", 503)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Server:
    """The venue behind Binance's paths: dispatch, checks, limits, listenKeys, the hub.

    ``venue``: what :class:`exsim.serve.binance.VenueView` describes, plus ``keys`` (api key
    → (account id, secret)), ``state()`` and, in step mode, ``advance(ms)``. ``speed`` is
    the venue's pace ("step" serves ``/exsim/v1/advance``; default: ``venue.speed``). ``clock_ms`` is the wall clock
    of recvWindow, rate windows and listenKey lifetimes (tests pass their own).
    """

    def __init__(
        self,
        venue: Any,
        *,
        speed: str | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        limits: RateLimits | None = None,
        listen_key_lifetime_ms: int = 60 * 60 * 1000,
        heartbeat_s: float = HEARTBEAT_S,
        max_queue_bytes: int = MAX_QUEUE_BYTES,
    ) -> None:
        self.venue = venue
        self.speed = speed if speed is not None else getattr(venue, "speed", "max")
        self.clock_ms = clock_ms
        self.limits = limits if limits is not None else RateLimits(clock_ms=clock_ms)
        self.hub = Hub(
            listen_keys=ListenKeys(listen_key_lifetime_ms, clock_ms),
            now_ms=lambda: venue.now_ns // 1_000_000,
        )
        self.heartbeat_s = heartbeat_s
        self.max_queue_bytes = max_queue_bytes
        self.own: dict[tuple[str, str], Endpoint] = {}
        for method, handler in (("POST", self._listen_key_new), ("PUT", self._listen_key_keep), ("DELETE", self._listen_key_close)):
            self.own[(method, "/fapi/v1/listenKey")] = Endpoint(method, "/fapi/v1/listenKey", USER_STREAM, 1, handler)

    # ------------------------------------------------------------------ listenKeys
    def _listen_key_new(self, venue: Any, account_id: int, params: Params) -> dict[str, Any]:
        return {"listenKey": self.hub.listen_keys.create(account_id)}

    def _listen_key_keep(self, venue: Any, account_id: int, params: Params) -> dict[str, Any]:
        return {"listenKey": self.hub.listen_keys.keep_alive(account_id, params.optional("listenKey"))}

    def _listen_key_close(self, venue: Any, account_id: int, params: Params) -> dict[str, Any]:
        key = self.hub.listen_keys.delete(account_id, params.optional("listenKey"))
        self.hub.close_user_stream(key)
        return {}

    # ------------------------------------------------------------------ responses
    def _json(self, body: Any, status: int, headers: dict[str, str]) -> web.Response:
        return web.Response(text=_dumps(body), status=status, content_type="application/json", headers=headers)

    def _refuse(self, request: web.Request, exc: BinanceError, headers: dict[str, str]) -> web.Response:
        if exc.http_status == 429:  # (as Binance: the seconds until the rate window ends)
            headers["Retry-After"] = str(60 - (self.clock_ms() // 1000) % 60)
        log.warning(
            "request refused", method=request.method, path=request.path, code=exc.code, reason=exc.msg,
            status=exc.http_status, peer=request.remote,
        )
        return self._json(exc.body(), exc.http_status, headers)

    # ------------------------------------------------------------------ dispatch
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        route = ws_route(path)
        if route is not None:
            return await self._websocket(request, route)
        if path.startswith("/exsim/"):
            return await self._control(request)
        return await self._rest(request)

    async def _websocket(self, request: web.Request, route: Any) -> web.StreamResponse:
        headers: dict[str, str] = {}
        if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
            return self._refuse(
                request,
                BinanceError(UNKNOWN, f"{request.path} is a WebSocket path: connect to it with a WebSocket client.", 400),
                headers,
            )
        try:
            return await websocket_session(
                request, self.hub, route, heartbeat_s=self.heartbeat_s, max_queue_bytes=self.max_queue_bytes
            )
        except BinanceError as exc:
            return self._refuse(request, exc, headers)

    async def _control(self, request: web.Request) -> web.Response:
        headers: dict[str, str] = {}
        try:
            if not _is_loopback(request.remote):
                raise BinanceError(UNAUTHORIZED, "The /exsim/v1 control paths are served to loopback clients only.")
            params = Params(dict(parse_form(request.raw_path.partition("?")[2], "query string")))
            if request.path == "/exsim/v1/state" and request.method == "GET":
                return self._json(self.venue.state(), 200, headers)
            if request.path == "/exsim/v1/advance" and request.method == "POST":
                if self.speed != "step":
                    raise BinanceError(
                        UNKNOWN, f"/exsim/v1/advance is served with --speed step only; this server runs at --speed {self.speed}.", 400
                    )
                ms = params.integer("ms")
                if ms < 0:
                    raise BinanceError(UNKNOWN, f"ms={ms}: expected a whole number of milliseconds >= 0.", 400)
                try:
                    state = await self.venue.advance(ms)
                except (VenueStopped, InputError) as exc:  # (the replay failed: this run is over)
                    raise _stopped(exc) from exc
                return self._json(state, 200, headers)
            raise BinanceError(
                UNKNOWN,
                f"{request.method} {request.path} is not served; the control paths are POST /exsim/v1/advance?ms=N "
                "and GET /exsim/v1/state.",
                404,
            )
        except BinanceError as exc:
            return self._refuse(request, exc, headers)
        except Exception as exc:  # a bug: Binance's -1000, and the traceback in the log
            return self._failed(request, exc, headers)

    def _failed(self, request: web.Request, exc: Exception, headers: dict[str, str]) -> web.Response:
        log.exception("request failed", method=request.method, path=request.path, code=UNKNOWN, reason=repr(exc))
        return self._json({"code": UNKNOWN, "msg": "An unknown error occurred while processing the request."}, 500, headers)

    def _endpoint(self, method: str, path: str) -> Endpoint:
        ep = self.own.get((method, path)) or ENDPOINTS.get((method, path))
        if ep is not None:
            return ep
        methods = sorted({m for (m, p) in (*self.own, *ENDPOINTS) if p == path})
        if methods:
            raise BinanceError(UNKNOWN, f"Method {method} is not served on {path}; it serves {', '.join(methods)}.", 405)
        raise BinanceError(UNKNOWN, f"Path {path} is not served by exsim (method {method}).", 404)

    async def _body(self, request: web.Request) -> str:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            raise BinanceError(UNKNOWN, f"Request body of {request.content_length:,} bytes is over the 1 MiB served.", 413)
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise BinanceError(UNKNOWN, "Request body over the 1 MiB served.", 413) from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BinanceError(ILLEGAL_CHARS, "Illegal characters found in the request body: not UTF-8.") from None

    async def _rest(self, request: web.Request) -> web.Response:
        ip = request.remote or "?"
        headers: dict[str, str] = {}
        weight = 1
        ep: Endpoint | None = None
        try:
            try:
                ep = self._endpoint(request.method, request.path)
                query = request.raw_path.partition("?")[2]
                body = await self._body(request)
                body_params: list[tuple[str, str]] = []
                if body:
                    # (JSON when it says so and looks so: a client whose session says JSON on
                    # every request may still send a form, and Binance reads forms)
                    if request.content_type == "application/json" and body.lstrip()[:1] in ("{", "["):
                        body_params = parse_json_body(body)
                    else:
                        body_params = parse_form(body, "request body")
                values = merge_params(parse_form(query, "query string"), body_params)
                params = Params(values)
                try:
                    weight = ep.weight_of(params)
                except Exception:  # (a malformed parameter: the handler says what is wrong)
                    weight = 1
            finally:
                used = self.limits.add_weight(ip, weight)
                headers["X-MBX-USED-WEIGHT-1M"] = str(used)
            self.limits.check_weight(used)
            account_id = self._authenticate(request, ep, query, body, params)
            if ep.counts_as_order and account_id is not None:
                try:
                    headers["X-MBX-ORDER-COUNT-1M"] = str(self.limits.add_order(account_id))
                except BinanceError:
                    headers["X-MBX-ORDER-COUNT-1M"] = str(self.limits.orders.used(account_id))
                    raise
            if "signature" in values:
                values = dict(values)
                del values["signature"]
                params = Params(values)
            result = ep.handler(self.venue, account_id, params)
            if inspect.isawaitable(result):
                result = await result
            return self._json(result, 200, headers)
        except BinanceError as exc:
            return self._refuse(request, exc, headers)
        except VenueStopped as exc:
            return self._refuse(request, _stopped(exc), headers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: Binance's -1000, and the traceback in the log
            return self._failed(request, exc, headers)

    def _authenticate(self, request: web.Request, ep: Endpoint, query: str, body: str, params: Params) -> int | None:
        if ep.security == NONE:
            return None
        keys = self.venue.keys
        api_key = request.headers.get("X-MBX-APIKEY")
        if ep.security == SIGNED:
            return auth.check_signed(keys, api_key, query, body, params, self.clock_ms, self.venue.now_ns // 1_000_000)
        return auth.account_of_key(keys, api_key)[0]

    # ------------------------------------------------------------------ background
    async def sweep_listen_keys(self, every_s: float = 1.0) -> None:
        """Expire listenKeys past their lifetime, forever (a background task)."""
        while True:
            await asyncio.sleep(every_s)
            self.hub.expire_listen_keys()


def attach(venue: Any, hub: Hub) -> None:
    """Wire the venue's publishing to the hub (its sinks are settable attributes)."""
    venue.market_sink = hub.publish_market
    venue.user_sink = hub.publish_user
    venue.wants_sink = hub.wants
    sinks = getattr(venue, "on_end_sinks", None)
    if sinks is not None:
        sinks.append(hub.end_of_data)


def make_app(venue: Any, *, run_clock: bool = False, sweep_every_s: float = 1.0, **options: Any) -> web.Application:
    """The aiohttp application serving ``venue`` (``options``: :class:`Server`'s).

    ``run_clock``: start ``venue.run()`` (the replay clock) with the server, and stop it
    with the server; the listenKey sweeper runs with the server either way."""
    server = Server(venue, **options)
    attach(venue, server.hub)
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVER_KEY] = server
    app.router.add_route("*", "/{tail:.*}", server.dispatch)

    async def background(app: web.Application) -> Any:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(server.sweep_listen_keys(sweep_every_s))]
        if run_clock:
            tasks.append(loop.create_task(venue.run()))
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def close_connections(app: web.Application) -> None:
        # (before the server waits for its handlers: a WebSocket handler ends only when its
        # connection does)
        for conn in tuple(server.hub.connections):
            conn.drop("server shutting down", quiet=True)

    app.cleanup_ctx.append(background)
    app.on_shutdown.append(close_connections)
    return app
