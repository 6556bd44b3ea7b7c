"""``exsim serve``: a replay served as a Binance USDⓈ-M futures venue (REST + WebSocket).

The parser needs no web library (``exsim --help`` works without the ``serve`` extra);
running the command imports aiohttp, and without it says, in one line, how to install it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from typing import Any

from exsim.errors import InputError
from exsim.serve.limits import ORDERS_PER_MINUTE, REQUEST_WEIGHT_PER_MINUTE

MISSING_EXTRA = "exsim serve needs the 'serve' extra: pip install 'exsim[serve]'"
DEFAULT_PORT = 8000


def _port(text: str) -> int:
    """argparse type: a TCP port, 0 .. 65535 (0: any free port, the one taken is printed)."""
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number 0 .. 65535")
    return int(text)


def add_parser(sub: Any) -> None:
    """The ``serve`` sub-command (its options; the run is :func:`cmd_serve`)."""
    from exsim.replay.cli import add_market_arguments, add_output_arguments

    p = sub.add_parser(
        "serve",
        help="serve a replay as a Binance USDⓈ-M futures venue (REST + WebSocket) that unchanged bots trade against",
        description=(
            "Serve the replay of FILES as Binance USDⓈ-M futures: Binance's REST paths (/fapi/...), WebSocket "
            "streams (/ws, /stream, /public, /market, /private) and user-data streams (listenKey), one account "
            "per API key. Binds to 127.0.0.1 unless --host says otherwise. Prints the URL, the keys and the "
            "speed at the start, and the state hash when the data ends and when stopped (Ctrl-C)."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="tick files (.csv/.gz/.zip/.zst; format detected) merged by time")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument(
        "--speed",
        default="max",
        help="the replay's pace: max (as fast as it goes), step (only POST /exsim/v1/advance?ms=N moves it), "
        "or a multiplier of real time (1 = real time, 60 = a minute a second) (default max)",
    )
    p.add_argument("--api-key", action="append", default=[], metavar="KEY",
                   help="an account's API key (repeatable, each with an --api-secret; default: one generated pair, printed)")
    p.add_argument("--api-secret", action="append", default=[], metavar="SECRET", help="the secret of the --api-key in the same position")
    p.add_argument("--deposit", default="10000", help="USDT deposited into each account at the data's first time (default 10000)")
    p.add_argument("--latency-ms", type=_whole_ms, default=0, help="ms from an order's request to its arrival at the venue (default 0)")
    p.add_argument("--weight-limit", type=_limit, default=REQUEST_WEIGHT_PER_MINUTE,
                   help=f"request weight a client IP may use a minute, then HTTP 429 (default Binance's {REQUEST_WEIGHT_PER_MINUTE}; 0: no limit)")
    p.add_argument("--order-limit", type=_limit, default=ORDERS_PER_MINUTE,
                   help=f"orders an account may send a minute, then HTTP 429 (default Binance's {ORDERS_PER_MINUTE}; 0: no limit)")
    add_market_arguments(p)
    add_output_arguments(p)
    # the replay options serve does not take: the accounts' settings come from the API
    p.set_defaults(func=cmd_serve, balance="10000", leverage=None, margin_mode=None, latency_ns=0)


def _limit(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 10**9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0 (0: no limit)")
    return int(text)


def _whole_ms(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 3_600_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of ms in 0 .. 3,600,000")
    return int(text)


def api_keys(args: argparse.Namespace) -> tuple[list[tuple[str, str]], bool]:
    """The (key, secret) pairs of the command line, checked; none given: one generated
    pair. Returns (pairs, generated)."""
    from exsim.serve.auth import KEY_PATTERN, new_key

    keys, secrets = list(args.api_key), list(args.api_secret)
    if len(keys) != len(secrets):
        raise InputError(
            f"{len(keys)} --api-key and {len(secrets)} --api-secret given: each key needs its secret, in the same order",
            field="--api-key",
        )
    for n, (key, secret) in enumerate(zip(keys, secrets)):
        for name, value in (("--api-key", key), ("--api-secret", secret)):
            if not KEY_PATTERN.match(value):
                raise InputError(f"#{n + 1} {value[:20]!r}: expected 1 .. 128 letters, digits, '_' or '-'", field=name)
    if not keys:
        return [(new_key(), new_key())], True
    return list(zip(keys, secrets)), False


def build_venue(args: argparse.Namespace, keys: list[tuple[str, str]]) -> Any:
    """The venue of the command line's files and options."""
    from exsim.replay.cli import config_from_args
    from exsim.serve.venue import ServeConfig, Venue

    config = ServeConfig(
        speed=args.speed, deposit=args.deposit, latency_ns=args.latency_ms * 1_000_000, replay=config_from_args(args)
    )
    return Venue(
        args.files, keys, config, out_dir=args.out, formats=args.format, index_files=args.index_file,
        force=getattr(args, "force", False),
    )


async def serve(
    args: argparse.Namespace,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
    out: Any = None,
) -> dict[str, Any]:
    """Run the server until ``stop`` is set (Ctrl-C or SIGTERM when not given); returns the
    run's summary. ``on_ready(base_url)`` is called once it listens."""
    from aiohttp import web

    from exsim.serve.app import make_app
    from exsim.serve.limits import RateLimits

    out = out if out is not None else sys.stdout
    keys, generated = api_keys(args)
    venue = build_venue(args, keys)
    stop = stop if stop is not None else _stop_on_signals()
    app = make_app(venue, limits=RateLimits(args.weight_limit, args.order_limit))
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, args.host, args.port)
        try:
            await site.start()
        except OSError as exc:
            raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", field="--port") from None
        host, port = runner.addresses[0][:2]
        shown_host = f"[{host}]" if ":" in host else host
        base = f"http://{shown_host}:{port}"
        print(f"exsim serve: {base}  (REST {base}/fapi/v1/..., WebSocket ws://{shown_host}:{port}/ws)", file=out)
        limits = f"limits {args.weight_limit or 'none'} weight/min, {args.order_limit or 'none'} orders/min"
        print(f"speed {venue.speed}; {limits}; data {', '.join(venue.symbols)} from {_utc(venue.now_ns)}; "
              f"deposit {args.deposit} USDT per account", file=out)
        for (key, secret), (account, _) in zip(keys, venue.keys.values()):
            shown = f" secret {secret}" if generated else ""
            print(f"account {account}: api key {key}{shown}", file=out)
        if venue.speed == "step":
            print(f"step mode: POST {base}/exsim/v1/advance?ms=N moves the clock; GET {base}/exsim/v1/state", file=out)
        out.flush()

        def said_end(now_ns: int) -> None:
            print(f"end of data at {_utc(now_ns)}; state hash {venue.exchange.state_hash()}; "
                  "still serving account queries (Ctrl-C to stop)", file=out, flush=True)

        venue.on_end_sinks.append(said_end)
        clock = asyncio.get_running_loop().create_task(venue.run())
        if on_ready is not None:
            on_ready(base)
        waiter = asyncio.get_running_loop().create_task(stop.wait())
        await asyncio.wait({clock, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if clock.done() and clock.exception() is not None:
            waiter.cancel()
            raise clock.exception()  # type: ignore[misc]
        await waiter
        clock.cancel()
        try:
            await clock
        except asyncio.CancelledError:
            pass
    finally:
        await runner.cleanup()
    summary = venue.close()
    print(f"stopped at {_utc(venue.now_ns)}; state hash {venue.exchange.state_hash()}"
          + (f"; run written to {args.out}" if args.out else ""), file=out, flush=True)
    return summary


def _utc(ts_ns: int) -> str:
    from exsim.replay.recorder import utc_text

    return utc_text(ts_ns)[:23].replace("T", " ") + " UTC"


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # (not the main thread, or no signals here)
            pass
    return stop


def _configure_logging() -> None:
    """The server's log (refused requests, dropped connections) to stderr, one line each."""
    import structlog

    # (sys.stderr looked up at each line, not kept: whoever replaced it, a test's capture
    # for one, may close it)
    structlog.configure(logger_factory=lambda *args: structlog.PrintLogger(sys.stderr))


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise InputError(MISSING_EXTRA) from None
    _configure_logging()
    asyncio.run(serve(args))
    return 0
