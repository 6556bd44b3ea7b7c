"""API keys, HMAC-SHA256 signatures, timestamp and recvWindow, as Binance checks them.

No web library here: the server hands over the raw query string and raw body text exactly
as they arrived (still percent-encoded), because that is what the client signed.

Binance's rules (USDⓈ-M futures "General Info → SIGNED Endpoint Security"):

* the key travels in the ``X-MBX-APIKEY`` header;
* ``signature`` = hex HMAC-SHA256, keyed by the secret, of *totalParams*: the query string
  concatenated with the request body (no separator), with the ``signature`` parameter
  itself left out;
* ``timestamp`` (ms) is mandatory; ``recvWindow`` defaults to 5000 and may be at most
  60000; the request is refused (-1021) when ``timestamp`` is 1000 ms or more ahead of the
  server's clock or more than ``recvWindow`` ms behind it.

The clock is the server's **wall clock**, not the venue's replayed clock: bots sign with
their machine's time (ccxt, python-binance and Binance's connector all do). A timestamp
within the window of the venue's clock is accepted too (clients that sync their clock
from ``/fapi/v1/time`` sign with it; see :func:`check_timestamp`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Callable

from exsim.serve.binance import (
    BAD_API_KEY_FMT,
    INVALID_SIGNATURE,
    INVALID_TIMESTAMP,
    REJECTED_MBX_KEY,
    BinanceError,
    Params,
    mandatory,
)
from exsim.serve.limits import wall_ms

#: Binance's code for a recvWindow over its maximum (not in exsim.serve.binance's table)
BAD_RECV_WINDOW = -1131
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
#: a timestamp this far or further ahead of the server's clock is refused
AHEAD_LIMIT_MS = 1000

#: what a key or secret may be made of (Binance's are 64 letters and digits)
KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,128}\Z")
_ALPHANUMERIC = string.ascii_letters + string.digits


def new_key(length: int = 64) -> str:
    """A random key or secret in Binance's shape (64 letters and digits)."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def without_signature(raw: str) -> str:
    """``raw`` (a query string or form body, as sent) without its ``signature=`` parameter.

    >>> without_signature("symbol=BTCUSDT&timestamp=1&signature=ab12")
    'symbol=BTCUSDT&timestamp=1'
    >>> without_signature("signature=ab12&timestamp=1")
    'timestamp=1'
    """
    if "signature=" not in raw:
        return raw
    return "&".join(part for part in raw.split("&") if not part.startswith("signature="))


def total_params(query: str, body: str) -> str:
    """The text Binance signs: the query string then the body, without ``signature``.

    Binance's own example (query and body both carry parameters):

    >>> total_params("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
    ...              "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=x")
    'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559'
    """
    return without_signature(query) + without_signature(body)


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed by ``secret`` (Binance's published test vector):

    >>> sign("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    ...      "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
    'c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71'
    """
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def account_of_key(keys: dict[str, tuple[int, str]], api_key: str | None) -> tuple[int, str]:
    """(account id, secret) of the ``X-MBX-APIKEY`` header's key; -2014 when the header is
    missing or not a key's shape, -2015 when no account has it."""
    if api_key is None or not KEY_PATTERN.match(api_key):
        raise BinanceError(BAD_API_KEY_FMT, "API-key format invalid.")
    found = keys.get(api_key)
    if found is None:
        raise BinanceError(REJECTED_MBX_KEY, "Invalid API-key, IP, or permissions for action.")
    return found


def check_timestamp(params: Params, now_ms: int, venue_ms: int | None = None) -> None:
    """``timestamp`` and ``recvWindow`` against the server's clock ``now_ms`` (-1102 when
    ``timestamp`` is missing, -1131 for a recvWindow over 60000, -1021 outside it).

    ``venue_ms``: the venue's clock, also accepted. A client that sets its clock offset
    from ``GET /fapi/v1/time`` (ccxt's ``adjustForTimeDifference``, python-binance's
    ``AsyncClient.create()``) signs with the replay's time, not its own: such a timestamp
    is served too when it is within the window of the venue's clock (exsim is a local
    simulator; the window protects nothing a replay needs)."""
    timestamp = params.integer("timestamp")
    recv_window = params.integer("recvWindow", default=DEFAULT_RECV_WINDOW_MS)
    if recv_window <= 0 or recv_window > MAX_RECV_WINDOW_MS:
        raise BinanceError(BAD_RECV_WINDOW, f"recvWindow must be between 1 and {MAX_RECV_WINDOW_MS}.")
    if venue_ms is not None and venue_ms - recv_window <= timestamp < venue_ms + AHEAD_LIMIT_MS:
        return
    if timestamp >= now_ms + AHEAD_LIMIT_MS:
        raise BinanceError(
            INVALID_TIMESTAMP, f"Timestamp for this request was {AHEAD_LIMIT_MS}ms ahead of the server's time."
        )
    if now_ms - timestamp > recv_window:
        raise BinanceError(INVALID_TIMESTAMP, "Timestamp for this request is outside of the recvWindow.")


def check_signed(
    keys: dict[str, tuple[int, str]],
    api_key: str | None,
    query: str,
    body: str,
    params: Params,
    clock_ms: Callable[[], int] = wall_ms,
    venue_ms: int | None = None,
) -> int:
    """A SIGNED request's account id, after the checks in Binance's order: key (-2014,
    -2015), timestamp and recvWindow (-1102, -1021), signature (-1102 missing, -1022 wrong).

    ``params`` holds every parameter including ``signature``; ``query`` and ``body`` are
    the raw texts as sent; ``venue_ms``: see :func:`check_timestamp`."""
    account_id, secret = account_of_key(keys, api_key)
    check_timestamp(params, clock_ms(), venue_ms)
    given = params.optional("signature")
    if given is None:
        raise mandatory("signature")
    expected = sign(secret, total_params(query, body))
    if not hmac.compare_digest(expected, given.lower()):
        raise BinanceError(INVALID_SIGNATURE, "Signature for this request is not valid.")
    return account_id
