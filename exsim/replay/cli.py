"""``exsim replay``, ``exsim demo``, ``exsim convert`` and ``exsim report``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from exsim.errors import InputError
from exsim.readers.rows import shown
from exsim.units import to_int, whole_arg

def _shipped_replays() -> Path:
    """The shipped replays: the installed data package ``exsim_replays`` (``replays/`` of a
    checkout, installed editable or not)."""
    try:
        import exsim_replays
    except ImportError:  # an install without it: a checkout's folder, if this is one
        return Path(__file__).resolve().parents[2] / "replays"
    return Path(exsim_replays.__file__).resolve().parent


SHIPPED_REPLAYS = _shipped_replays()
DEFAULT_REPLAY = "binance-usdm-btcusdt-20240808.gz"
SHORT_NAMES = {
    "holder": "exsim_examples.holder:Holder",
    "market_maker": "exsim_examples.market_maker:MarketMaker",
    "grid": "exsim_examples.grid:Grid",
    "passive": "exsim_examples.passive:Passive",
    "stop_and_target": "exsim_examples.stop_and_target:StopAndTarget",
    "funding_carry": "exsim_examples.funding_carry:FundingCarry",
}


# ---------------------------------------------------------------------- strategy loading
def load_strategy(spec: str, params: list[str]) -> Any:
    """``module:Class``, ``path/to/file.py:Class`` or a short name (holder, market_maker,
    grid, passive, stop_and_target, funding_carry); ``params`` are ``key=value`` texts passed as keyword arguments.

    Only a subclass of :class:`~exsim.replay.strategy.Strategy` is ever called (to make the
    strategy): what the spec names is looked up and checked first, so ``os:system`` or any
    other callable is refused without being called. A module of Python's standard library
    is refused before it is imported (none holds a strategy). A ``.py`` file is the user's
    own code: it is imported (run) to find the class in it.
    """
    return new_strategy(strategy_class(spec), params)


def new_strategy(cls: type, params: list[str]) -> Any:
    """``cls`` (a class :func:`strategy_class` gave) called with the ``key=value`` texts
    ``params`` as keyword arguments; a refusal is one line naming ``--param``."""
    kwargs: dict[str, str] = {}
    for p in params:
        key, eq, value = p.partition("=")
        if not eq or not key:
            raise InputError(f"{p!r} is not key=value", field="--param")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{cls.__name__}({', '.join(params)}): {exc}", field="--param") from exc


def strategy_class(spec: str) -> type:
    """The strategy class ``spec`` names (see :func:`load_strategy`), checked to be one,
    not called."""
    from exsim.replay.strategy import Strategy

    spec = SHORT_NAMES.get(spec, spec)
    if ":" not in spec:
        raise InputError(
            f"{spec!r}: expected module:Class, file.py:Class or one of {', '.join(SHORT_NAMES)}", field="--strategy"
        )
    where, _, cls_name = spec.rpartition(":")
    if not where or not cls_name.isidentifier():
        raise InputError(f"{spec!r}: expected module:Class or file.py:Class (a class name after the colon)", field="--strategy")
    module = _strategy_file(where) if where.endswith(".py") else _strategy_module(where)
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise InputError(f"{where} has no {cls_name!r}", field="--strategy")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        what = f"a class ({cls.__module__}.{cls.__qualname__})" if isinstance(cls, type) else f"a {type(cls).__name__}"
        raise InputError(
            f"{spec}: {cls_name} is {what}, not a strategy: expected a subclass of exsim.replay.Strategy",
            field="--strategy",
        )
    return cls


def _strategy_module(name: str) -> Any:
    """The module ``name`` (imported), unless it is not one a strategy can be in."""
    if not all(part.isidentifier() for part in name.split(".")):
        raise InputError(f"{name!r} is not a module name (or a file ending .py)", field="--strategy")
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise InputError(f"{name!r} is a module of Python's standard library, not a strategy", field="--strategy")
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise InputError(f"cannot import {name!r}: {exc}", field="--strategy") from exc


def _strategy_file(where: str) -> Any:
    """The user's strategy file ``where`` (a .py file), imported."""
    from exsim.readers.opening import not_a_data_file

    path = Path(where)
    problem = not_a_data_file(path)
    if problem:
        raise InputError(problem.replace("a data file", "a Python file"), where=where, field="--strategy")
    mod_spec = importlib.util.spec_from_file_location(path.stem, path)
    if mod_spec is None or mod_spec.loader is None:
        raise InputError("cannot be imported as a Python module", where=where, field="--strategy")
    module = importlib.util.module_from_spec(mod_spec)
    # registered under its name, as an imported module is (so are dataclasses and the
    # like, which look their module up there) -- unless another module has that name; a
    # new load of the same file replaces the old one
    held = sys.modules.get(path.stem)
    register = held is None or getattr(held, "__file__", None) == mod_spec.origin
    if register:
        sys.modules[path.stem] = module
    try:
        mod_spec.loader.exec_module(module)
    except BaseException:
        if register:  # as it was
            if held is None:
                sys.modules.pop(path.stem, None)
            else:
                sys.modules[path.stem] = held
        raise
    return module


# ---------------------------------------------------------------------- replay
def _duration_ns(text: str, field: str) -> int:
    """``250ms``, ``1s``, ``5us``, ``100ns`` or a plain integer of ns (ASCII digits only:
    :func:`exsim.units.to_int` with ``plain``; the range is the config's to check)."""
    units = (("ms", 1_000_000), ("us", 1_000), ("ns", 1), ("s", 1_000_000_000), ("", 1))
    for suffix, mult in units:
        if text.endswith(suffix):
            try:
                return to_int(text[: len(text) - len(suffix)], field=field, plain=True) * mult
            except InputError:
                continue
    raise InputError(f"{shown(text)} is not a duration like 250ms, 1s, 5us or an integer of ns", field=field)


_whole = whole_arg  # (argparse type of whole-number options: exsim.units.whole_arg)


#: the defaults ``exsim replay`` shows in its help (``exsim demo`` has its own)
REPLAY_DEFAULTS = {
    "strategy": "passive",
    "param": "none",
    "balance": "10000",
    "leverage": "the strategy's, else the venue's 20",
    "margin_mode": "the strategy's, else the venue's cross",
    "out": "none: nothing written",
}


def add_replay_arguments(p: argparse.ArgumentParser, *, files: bool = True, shown: dict[str, str] | None = None) -> None:
    """The options of a replay; ``shown``: the defaults to say in the help (a command
    that sets its own, like ``exsim demo``)."""
    d = dict(REPLAY_DEFAULTS, **(shown or {}))
    if files:
        p.add_argument("files", nargs="+", metavar="FILE", help="tick files (.csv/.gz/.zip/.zst; format detected) merged by time")
    p.add_argument("--strategy", default="passive", help=f"module:Class, file.py:Class or holder / market_maker / grid / passive / stop_and_target / funding_carry (default {d['strategy']})")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help=f"strategy argument (repeatable; default {d['param']})")
    p.add_argument("--balance", default=None, help=f"USDT deposited at the start, or see --deposit (default {d['balance']})")
    p.add_argument(
        "--deposit", action="append", default=[], metavar="AMOUNT[ASSET]",
        help="deposited at the start, per asset: 0.05BTC, 1000USDT, or 1000 (the home asset: the first symbol's margin "
        "asset); repeat it for several assets (replaces --balance; a coin-margined run such as BTCUSD_PERP needs it)",
    )
    p.add_argument(
        "--leverage",
        type=_whole,
        default=None,
        help=f"leverage of every symbol for the whole run: wins over the strategy's (default {d['leverage']})",
    )
    p.add_argument(
        "--margin-mode",
        choices=("isolated", "cross"),
        default=None,
        help=f"margin mode of every symbol for the whole run: wins over the strategy's (default {d['margin_mode']})",
    )
    p.add_argument(
        "--collateral-mode",
        choices=("single-asset", "multi-assets"),
        default=None,
        help="the account's collateral mode: multi-assets pools every asset's wallet (USDT, USDC, BTC ... at their "
        "collateral index, through buffers and haircuts), switched at the start (default single-asset: each asset's "
        "wallet margins its own contracts)",
    )
    p.add_argument(
        "--haircut-schedule", action="append", default=[], metavar="FILE.toml",
        help="changes of collateral buffers and haircuts over the run: [[haircut_schedule]] entries with asset, at "
        "(a UTC time or +90s from the start), bid_buffer / ask_buffer / tiers (multi-assets runs; repeatable)",
    )
    p.add_argument(
        "--haircuts", choices=("binance", "bybit"), default=None,
        help="collateral buffers and haircut tiers from the shipped venue data (docs/margin-calculator.md, with sources), "
        "in force from the first instant (multi-assets runs; default: none, every rate at its index)",
    )
    p.add_argument(
        "--venue", default=None, metavar="VENUE",
        help="the venue whose rules the run follows: binance, bybit, hyperliquid or dydx (margin tiers, maintenance "
        "margin, liquidation process, insurance fund / vault, ADL, fees, funding interval; docs/venues.md; default binance)",
    )
    p.add_argument("--latency-ns", type=_whole, default=0, help="ns from the strategy's decision to the order's arrival (default 0; at most 1 hour)")
    add_market_arguments(p)
    add_output_arguments(p, shown=shown)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_market_arguments(p: argparse.ArgumentParser) -> None:
    """The market model's options (depth, marks, funding, instruments, readers): a replay's
    and ``exsim serve``'s (its market is a replay)."""
    p.add_argument(
        "--queue-model",
        choices=("conservative", "proportional", "probabilistic"),
        default="conservative",
        help="conservative: only trades at your price advance your queue; proportional (=probabilistic): cancels do too",
    )
    p.add_argument("--mark", choices=("auto", "replayed", "computed"), default="auto", help="mark price source (default auto: replayed if the data has it)")
    p.add_argument("--funding", choices=("auto", "replayed", "computed", "none"), default="auto", help="funding source (default auto)")
    p.add_argument(
        "--index-file",
        action="append",
        default=[],
        metavar="FILE",
        help="another market's quotes (e.g. a Binance spot capture) whose mid stands in for the index of computed marks; "
        "with --collateral-mode multi-assets also a collateral asset's index (BTCUSDT quotes or index rows price BTC)",
    )
    p.add_argument("--mark-interval", default="1s", help="index sampling for computed marks when the data has no index (default 1s; 100ms .. 1 day)")
    p.add_argument(
        "--sample",
        default=None,
        help="a time-series row per symbol at every multiple of this interval (100ms .. 1 day; default: every 1s, but only when a value changed)",
    )
    p.add_argument("--synthetic-levels", type=_whole, default=10, help="without replayed depth: synthetic levels a side (default 10; 1 .. 1000)")
    p.add_argument("--synthetic-step-ticks", type=_whole, default=1, help="without replayed depth: ticks between levels (default 1; 1 .. 1,000,000)")
    p.add_argument("--synthetic-qty", default=None, help="without replayed depth: size of a level (default 100,000 USDT of notional)")
    p.add_argument("--symbol", default=None, help="replay only this symbol (default: every symbol found; strategies trade the first)")
    p.add_argument(
        "--tick-size", default=None, metavar="TICK",
        help="price grid replacing the catalogue's spec in force at the data's time: 0.01 (every symbol) or "
        "CTKUSDT=0.00001,BTCUSDT=0.01 (when the data's grid is finer; the error says what to pass)",
    )
    p.add_argument("--lot-size", default=None, metavar="LOT", help="quantity grid, like --tick-size: 0.0001 or SYMBOL=0.0001,...")
    p.add_argument(
        "--instruments", action="append", default=[], metavar="FILE",
        help="instrument specs: a Binance exchangeInfo dump, a leverageBracket dump or exsim TOML [[instruments]] (repeatable)",
    )
    p.add_argument("--format", action="append", default=None, help="force the format of each file (repeat once per file)")
    p.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip and count bad lines (a source line with a bad value goes whole; a bad depth line is a depth gap) instead of stopping",
    )
    p.add_argument("--log-book", action="store_true", help="also write every book level change to events.jsonl")


def add_output_arguments(p: argparse.ArgumentParser, *, shown: dict[str, str] | None = None) -> None:
    """``--out`` (the run directory) and ``--force``: a replay's and ``exsim serve``'s."""
    d = dict(REPLAY_DEFAULTS, **(shown or {}))
    p.add_argument(
        "--out",
        default=None,
        help=f"run directory for events.jsonl, fills.csv, timeseries.csv, summary.json: new, empty or this same command's "
        f"run (default {d['out']})",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="write into an --out holding another run or other files: exsim's own files there are replaced, nothing else is touched",
    )


def config_from_args(args: argparse.Namespace) -> Any:
    from exsim.replay import ReplayConfig

    # (replay's --deposit is a list; exsim serve has a --deposit of its own, one USDT amount per account)
    deposits = args.deposit if isinstance(getattr(args, "deposit", None), list) else []
    if args.balance is not None and deposits:
        raise InputError("give --balance or --deposit, not both (--deposit 1000USDT is --balance 1000)", field="--deposit")
    return ReplayConfig(
        balance=args.balance if args.balance is not None else "10000",
        deposits=tuple(deposits),
        leverage=args.leverage,
        margin_mode=args.margin_mode,
        latency_ns=args.latency_ns,
        queue_model=args.queue_model,
        mark=args.mark,
        funding=args.funding,
        mark_interval_ns=_duration_ns(args.mark_interval, "--mark-interval"),
        sample_interval_ns=_duration_ns(args.sample or "1s", "--sample"),
        sample_all=args.sample is not None,
        synthetic_levels=args.synthetic_levels,
        synthetic_step_ticks=args.synthetic_step_ticks,
        synthetic_qty=args.synthetic_qty,
        symbol=args.symbol,
        tick_size=getattr(args, "tick_size", None),
        lot_size=getattr(args, "lot_size", None),
        instruments=tuple(getattr(args, "instruments", None) or ()),
        skip_bad_rows=args.skip_bad_rows,
        log_book=args.log_book,
        collateral_mode=getattr(args, "collateral_mode", None) or "single-asset",
        haircut_schedule=tuple(getattr(args, "haircut_schedule", None) or ()),
        haircuts=getattr(args, "haircuts", None),
        venue=_venue_option(getattr(args, "venue", None)),
    )


def _venue_option(text: str | None) -> str:
    """``--venue``'s value (default binance); an unknown name is one line naming the option."""
    from exsim.replay.venue import run_venue

    return run_venue(text).name


def run_replay(files: list[str], args: argparse.Namespace, *, title: str) -> dict[str, Any]:
    """Build and run a replay with a progress bar; print the summary table."""
    from rich.console import Console

    from exsim.replay import Replay
    from exsim.replay.progress import Bar, BytesRead
    from exsim.replay.recorder import utc_text

    console = Console(stderr=False)
    strategy = load_strategy(args.strategy, args.param)
    config = config_from_args(args)
    progress = Bar(title, show=not args.no_progress, fields="{task.fields[rows]:>12,} rows  {task.fields[rate]:>9,.0f} rows/s  sim {task.fields[sim]}")
    show = progress.show
    read = BytesRead([*files, *args.index_file])
    checkpoint_every = getattr(args, "checkpoint_every", None)
    resume = getattr(args, "resume", None)
    if checkpoint_every is not None and checkpoint_every <= 0:
        raise InputError(f"{checkpoint_every} is not a positive number of rows", field="--checkpoint-every")
    t0 = time.perf_counter()
    with progress:
        progress.start(rows=0, rate=0.0, sim="")

        def report(rows: int, ts_ns: int) -> None:
            dt = time.perf_counter() - t0
            progress.update(read.fraction(), rows=rows, rate=rows / dt if dt > 0 else 0.0, sim=utc_text(ts_ns)[:19].replace("T", " "))

        replay = Replay(
            files,
            strategy,
            config,
            formats=args.format,
            out_dir=args.out,
            progress=report if show else None,
            index_files=args.index_file,
            checkpoint_every=checkpoint_every,
            checkpoint_dir=getattr(args, "checkpoint_dir", None),
            resume=resume,
            run_options={"strategy": args.strategy, "param": list(args.param)},
            force=getattr(args, "force", False),
        )
        if replay.resumed_from is not None:
            progress.print(f"resumed from {resume} at row {replay.resumed_from['rows']:,}")
        if replay.checkpoint_path is not None:
            progress.print(f"checkpoints: every {checkpoint_every:,} rows to {replay.checkpoint_path} (the latest kept)")
        if replay.multi_assets:  # (the mode and where each collateral index comes from, before the run)
            progress.print("collateral: multi-assets (--collateral-mode), the account switched at the first instant")
            for line in replay.collateral_sources.values():
                progress.print(line)
        summary = replay.run()
    print_summary(console, summary, args.out)
    return summary


def print_summary(console: Any, s: dict[str, Any], out: str | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    acct = s["account"]
    t = Table(title=f"{s['strategy']} on {', '.join(s['symbols'])}  ({s['first_time_utc'][:19]} → {s['last_time_utc'][:19]} UTC)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    hs = acct["min_margin_headroom"]
    asset = acct.get("asset", "USDT")  # (a run with other assets names the block's: the home asset)
    rows = [
        (f"deposit ({asset})", acct["deposit"]),
        ("equity at the end", acct["equity"]),
        ("PnL", acct["pnl"]),
        ("  realized", acct["realized_pnl"]),
        ("  fees paid", acct["fees"]),
        ("  funding received", acct["funding"]),
        ("max drawdown", acct["max_drawdown"]),
        ("min margin headroom", "n/a (no position)" if hs is None else f"{hs['headroom']:.2%} at {hs['time_utc'][11:23]}"),
        ("fills / orders sent", f"{acct['fills']} / {acct['orders_sent']}"),
        ("liquidations", str(acct["liquidations"])),
        ("auto-deleveraged", str(acct["adl"])),
    ]
    positions = s.get("positions")
    if not positions:  # (a run directory written before per-symbol figures)
        rows.append(("open position", acct["open_position"]))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if s.get("assets"):
        console.print(asset_table(s))
    if positions:
        def short(text: str | None) -> str:  # 46319.10000000 -> 46319.1 (display only)
            return "-" if not text else (text.rstrip("0").rstrip(".") if "." in text else text)

        pt = Table(title="per symbol")
        for name in ("symbol", "position", "entry", "liq. price", "PnL", "liq."):
            pt.add_column(name, justify="left" if name == "symbol" else "right", no_wrap=True)
        for p in positions:
            legs = p.get("hedge_positions")  # hedge mode: the long and the short leg
            held = " / ".join(f"{side} {qty}" for side, qty in legs.items()) if legs else p["open_position"]
            pnl = short(p["pnl"]) + (f" {p['asset']}" if p.get("asset") else "")
            pt.add_row(p["symbol"], held, short(p["entry_price"]), short(p["liquidation_price"]), pnl, str(p["liquidations"]))
        console.print(pt)
    if s.get("statistics"):
        from exsim.results.show import statistics_table

        console.print(statistics_table(s["statistics"]))
    span = s.get("span") or {}
    if span.get("warning"):
        console.print(f"[bold yellow]warning:[/bold yellow] {span['warning']}")
    mm = s["market_model"]
    console.print(f"[dim]depth:[/dim] {mm['depth']}")
    console.print(f"[dim]mark:[/dim] {mm['mark']}")
    console.print(f"[dim]funding:[/dim] {mm['funding']}")
    for line in mm.get("instruments", ()):
        console.print(f"[dim]instrument:[/dim] {escape(line)}", highlight=False)
    if (settings := settings_line(s)) is not None:
        console.print(f"[dim]settings in force:[/dim] {settings}", markup=True, highlight=False)
    venue_lines(console, s)
    if s.get("collateral"):
        console.print(collateral_table(s["collateral"]))
        for line in s["collateral"]["index_sources"]:
            console.print(f"[dim]collateral:[/dim] {escape(line)}", highlight=False)
    qc = s.get("quote_check")
    if qc:
        console.print(
            f"[dim]book check:[/dim] rebuilt best bid/ask matched {qc['price_match_rate']:.2%} of {qc['quotes']:,} replayed quotes "
            f"(price and size {qc['price_and_size_match_rate']:.2%})"
        )
    if s["bad_rows"] or s["depth_gaps"]:
        console.print(f"[yellow]bad rows skipped: {s['bad_rows']}, depth gaps: {s['depth_gaps']}[/yellow]")
    for n in s["notes"]:
        console.print(f"  {n['time_utc'][11:23]}  {n['text']}")
    for liq in s["liquidations"]:
        console.print(f"[bold red]liquidation[/bold red] {liq['time_utc'][11:23]}: {liq['explanation']}")
    sampling = s.get("sampling") or {}
    if sampling.get("more"):
        console.print(f"[dim]time series:[/dim] {sampling['timeseries']} ({sampling['rows']:,} rows); {sampling['more']}")
    ck = s.get("checkpoint")
    if ck:
        if ck.get("resumed_from"):
            console.print(f"[dim]resumed from[/dim] {ck['resumed_from']['path']} (row {ck['resumed_from']['rows']:,})")
        if ck.get("every_rows"):
            where = f"latest snapshot {ck['latest']} (row {ck['latest_at_row']:,})" if ck["latest"] else "none written yet"
            console.print(f"[dim]checkpoints:[/dim] every {ck['every_rows']:,} rows, {ck['written']} written; {where}")
    console.print(
        f"{s['rows']:,} rows in {s['wall_s']:.2f} s ({(s['rows_per_s'] or 0):,} rows/s); state hash {s['state_hash'][:16]}"
        + (f"; run written to {out}" if out else "")
    )


def venue_lines(console: Any, s: dict[str, Any]) -> None:
    """A run under a venue other than Binance: the venue and its rules, one line each (a
    Binance run, and a run directory written before venues, print nothing here)."""
    from exsim.replay.venue import rule_lines
    from exsim.venues.profile import get_venue

    name = s.get("venue", "binance")
    if name == "binance":
        return
    venue = get_venue(name)
    console.print(f"[bold]venue:[/bold] {venue.title} (--venue {name})", highlight=False)
    for line in rule_lines(venue):
        console.print(f"  {line}", highlight=False, markup=False)


def asset_table(s: dict[str, Any]) -> Any:
    """A run with several assets (or a coin): each asset's figures in that asset (a column
    per asset, so it reads on an 80-column terminal), its equity in USD and the price that
    converted it; the USD total is the only sum across assets."""
    from rich.table import Table

    assets = s["assets"]
    total = (s.get("usd_value") or {}).get("equity")
    sources = "; ".join(f"{name}: {a['usd_price_from']}" for name, a in assets.items() if a["usd_price"] is not None)
    caption = f"USD: {sources}" if sources else "USD: no price converted these assets"
    if total is not None and len(assets) > 1:
        caption += f"; all assets {total} USD"
    t = Table(title="per asset (each in its own units)", caption=caption)
    t.add_column("figure", no_wrap=True)
    for name in assets:
        t.add_column(name, justify="right", no_wrap=True)
    for label, key in (("deposit", "deposit"), ("equity", "equity"), ("PnL", "pnl"), ("fees paid", "fees"),
                       ("funding received", "funding"), ("equity, USD", "equity_usd"), ("USD price", "usd_price")):
        t.add_row(label, *[(a.get(key) or "-") for a in assets.values()])
    return t


def collateral_table(c: dict[str, Any]) -> Any:
    """A multi-assets run's collateral at the end: the account in USD (equity, available,
    maintenance margin, margin ratio last / highest), then per asset (a column each) its
    equity, index, buffers, the haircut it lost and what is available for order in it;
    the auto-exchanges by asset pair in the caption."""
    from rich.table import Table

    mode = c["mode"]
    acct = c.get("account")
    pairs = c.get("auto_exchange") or {}
    caption = "auto-exchange: " + (
        "; ".join(f"{pair} ×{t['count']} ({t['from_amount']} → {t['to_amount']})" for pair, t in pairs.items()) if pairs else "none"
    )
    if c.get("rule_changes"):
        caption += f"; collateral rule changes: {c['rule_changes']}"
    t = Table(title=f"collateral: {mode} (account figures in USD)", caption=caption)
    assets = c.get("assets") or {}
    t.add_column("figure", no_wrap=True)
    t.add_column("account", justify="right", no_wrap=True)
    for name in assets:
        t.add_column(name, justify="right", no_wrap=True)
    blank = ["" for _ in assets]
    if acct is None:
        t.add_row("mode", mode, *blank)
        return t

    def cents(text: str) -> str:  # a USD figure cut to the cent for reading (summary.json has it to 1e-8)
        whole, _, frac = text.partition(".")
        return f"{whole}.{(frac + '00')[:2]}"

    def trimmed(text: str) -> str:  # an amount without its trailing zeros (display only)
        return text.rstrip("0").rstrip(".") if "." in text else text

    def pct(ratio: str) -> str:  # a ratio as a percent, cut at 1e-4 % (display only)
        whole, _, frac = ratio.partition(".")
        frac = (frac + "0" * 8)[:8]
        value = int(whole) * 10**8 + int(frac)
        return f"{value // 10**6}.{value % 10**6 // 100:04d} %"

    def per(key: str, show: Any = trimmed) -> list[str]:
        return [show(a[key]) if a.get(key) is not None else "-" for a in assets.values()]

    t.add_row("equity", cents(acct["equity_usd"]), *per("equity"))
    t.add_row("index (USD)", "", *per("index_usd"))
    t.add_row("bid / ask buffer", "", *[f"{a.get('bid_buffer', '0')} / {a.get('ask_buffer', '0')}" for a in assets.values()])
    t.add_row("value (USD)", cents(acct["equity_usd"]), *per("value_usd", cents))
    t.add_row("haircut (USD)", "", *per("haircut_usd", cents))
    t.add_row("maint. margin (USD)", cents(acct["maint_margin_usd"]), *per("maint_margin_usd", cents))
    t.add_row("available for order", cents(acct["available_usd"]), *per("available_for_order"))
    t.add_row("margin ratio", pct(acct["margin_ratio"]), *blank)
    t.add_row("  highest", pct(acct["margin_ratio_max"]), *blank)
    return t


def interrupted_line(stop: Any, args: argparse.Namespace) -> str:
    """What a Ctrl-C'd run says: what was done, where the partial summary is, how to go on."""
    from exsim.replay.recorder import utc_text

    line = f"exsim: interrupted after {stop.rows:,} rows (simulated time {utc_text(stop.sim_ts_ns)[:19]}Z)"
    if stop.summary_path is not None:
        line += f"; partial summary in {stop.summary_path} (marked incomplete)"
    if stop.resume_from is not None:
        line += f"; to go on, run the same command with --resume {stop.resume_from}"
    elif getattr(args, "checkpoint_every", None) is not None:
        line += "; no snapshot was written yet: run the command again"
    elif hasattr(args, "resume"):
        line += "; a run with --checkpoint-every N can be resumed"
    return line


def settings_line(s: dict[str, Any]) -> str | None:
    """The settings in force, one line: ``BTCUSDT 50x isolated (command line); mark ...``."""
    st = s.get("settings")
    if not st:
        return None
    parts = []
    for sym, e in st["symbols"].items():
        srcs = {e["leverage_from"], e["margin_mode_from"]}
        src = e["leverage_from"] if len(srcs) == 1 else f"leverage: {e['leverage_from']}, mode: {e['margin_mode_from']}"
        parts.append(f"{sym} {e['leverage']}x {e['margin_mode']} ({src}), clearance fee {e['clearance_fee']}")
    parts.append(f"mark {st['mark']}, funding {st['funding']}, latency {st['latency_ns']:,} ns, queue model {st['queue_model']}")
    if st.get("collateral_mode"):  # (a run directory written before issue 17 has none)
        parts.append(f"collateral {st['collateral_mode']}")
    return "; ".join(parts)


def _interruptible(run: Any) -> Any:
    """Ctrl-C in a replay command: the one line of :func:`interrupted_line`, exit 130."""

    def command(args: argparse.Namespace) -> int:
        from exsim.replay.runner import RunInterrupted

        try:
            return int(run(args))
        except RunInterrupted as stop:
            print(interrupted_line(stop, args), file=sys.stderr)
            return 130

    command.__doc__ = run.__doc__
    return command


@_interruptible
def cmd_replay(args: argparse.Namespace) -> int:
    run_replay(args.files, args, title="replay")
    return 0


#: the demo's two runs: (title, shipped file, symbol, holder parameters, story)
DEMO_RUNS = (
    (
        "capture",
        DEFAULT_REPLAY,
        None,
        ["qty=0.4", "leverage=125", "margin_mode=isolated", "enter_after_s=54"],
        "6 minutes of the real Binance BTCUSDT perpetual feed (raw WebSocket capture, 2024-08-08 23:54 UTC; "
        "depth, trades and quotes) replayed through exsim's book. A 125x isolated long opened 54 s in, at the "
        "window's high, holds through a 0.4 % slide: the last price touches its liquidation price for under a "
        "second; the mark price, sampled each second as on the venue, does not — no liquidation.",
    ),
    (
        "crash",
        "btc-perp-20220121-1m.csv",
        "BTCUSDT",
        ["qty=0.4", "leverage=125", "margin_mode=isolated", "enter_after_s=3600"],
        "4 hours of 1-minute BTC perpetual bars from the January 2022 sell-off (2022-01-21 20:00 UTC), as a "
        "price path with synthetic depth. The same 125x long, opened at 21:00, is liquidated when the mark "
        "crosses its liquidation price. Each bar is a bar model of four points (open, the extreme nearer the "
        "open, the other extreme, close; 20 s apart): the 21:33 bar steps from its high to its low past the "
        "bankruptcy price in one move — a step of the bar model, not a gap of the market — so nothing fills "
        "at or better than bankruptcy and the insurance fund takes the position over.",
    ),
)


@_interruptible
def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the shipped replays: a 125x long on real ticks, then through a crash."""
    from rich.console import Console

    from exsim.replay.report import write_report

    console = Console()
    out_root = Path(args.out)
    for name, file_name, symbol, params, story in DEMO_RUNS:
        path = SHIPPED_REPLAYS / file_name
        if not path.is_file():
            raise InputError("the shipped replay is missing: reinstall exsim (pip install .)", where=str(path))
        console.rule(f"[bold]exsim demo: {name}[/bold]")
        console.print(story)
        run_args = argparse.Namespace(**vars(args))
        run_args.param = params + list(args.param)
        run_args.out = str(out_root / name)
        run_args.symbol = symbol or args.symbol
        run_replay([str(path)], run_args, title=name)
        pngs = write_report(run_args.out)
        console.print("report: " + ", ".join(str(p) for p in pngs))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Read the files, merge them by time, write them in exsim's format.

    The output never replaces one of the inputs (the same path, or a symbolic or hard link
    to it: refused before anything is read), and it is written to a temporary file in its
    folder, renamed over the output at the end: a convert that fails leaves no partial
    output, and an output that was there before is left as it was.
    """
    from exsim.readers import merge_rows, open_rows
    from exsim.readers.binance_ws import link_parts
    from exsim.readers.native import write_rows
    from exsim.readers.opening import repeated_file

    fmts = args.format or [None] * len(args.files)
    if len(fmts) != len(args.files):
        raise InputError("give --format once per file, or not at all", field="--format")
    output = Path(args.output)
    for f in args.files:
        if _same_file(f, output):
            raise InputError(
                f"is the input {f}: convert never writes over one of its inputs; give another output name",
                where=str(output),
                field="--output",
            )
    twice = repeated_file(args.files)
    if twice is not None:
        raise InputError(f"the same file as {twice[0]}: each input is converted once; give it once", where=twice[1], field="files")
    streams = [open_rows(f, fmt, args.symbol)[1] for f, fmt in zip(args.files, fmts)]
    for earlier, later in zip(streams, streams[1:]):
        link_parts(earlier, later)  # a capture split at midnight: the later part continues the earlier's book
    out_fmt = args.to or ("exsim-jsonl" if args.output.endswith((".jsonl", ".jsonl.gz")) else "exsim-csv")
    t0 = time.perf_counter()
    from exsim.replay.progress import Bar, BytesRead

    read = BytesRead(args.files)

    def counted(rows: Any, bar: Bar) -> Any:
        for n, row in enumerate(rows, 1):
            if not n & 0x3FFF:
                bar.update(read.fraction(), rows=n)
            yield row

    tmp = output.with_name(f".{output.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # (the umask applies, as to any new file)
    except OSError as exc:  # (named as the output, not as its temporary file)
        raise OSError(exc.errno, exc.strerror, str(output)) from None
    try:
        with open(fd, "wb") as raw:
            if args.output.endswith(".gz"):
                import gzip

                binary: Any = gzip.GzipFile(filename=output.name, mode="wb", fileobj=raw)
            else:
                binary = raw
            with io.TextIOWrapper(binary, encoding="utf-8", newline="") as out, Bar(
                "convert", show=True, fields="{task.fields[rows]:>12,} rows"
            ) as bar:
                bar.start(rows=0)
                n = write_rows(counted(merge_rows(streams), bar), out, out_fmt)
                out.flush()
                if binary is not raw:
                    binary.close()
                raw.flush()
                os.fsync(raw.fileno())
        os.replace(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    print(f"wrote {n:,} rows as {out_fmt} to {args.output} in {time.perf_counter() - t0:.2f} s")
    return 0


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether paths ``a`` and ``b`` name one file: the same resolved path, or (both there)
    the same device and inode (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


#: what ``print_summary`` and ``write_report`` read of a run's summary.json
SUMMARY_KEYS = (
    "symbols", "strategy", "first_time_utc", "last_time_utc", "account", "market_model", "bad_rows", "depth_gaps",
    "notes", "liquidations", "rows", "wall_s", "rows_per_s", "state_hash",
)  # fmt: skip


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """A run directory's ``summary.json``; damaged (not JSON, not a run's summary): an
    InputError naming the file."""
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise InputError("missing: is this a run directory written with --out?", where=str(path))
    try:
        summary = json.loads(path.read_bytes())
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"damaged: not JSON ({exc}); write the run again", where=str(path)) from None
    if not isinstance(summary, dict):
        raise InputError(f"damaged: a JSON {type(summary).__name__}, not a replay run's summary", where=str(path))
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise InputError(
            f"not the summary of a replay run (no {', '.join(missing)}): damaged, or written by another command",
            where=str(path),
        )
    return summary


def cmd_explain(args: argparse.Namespace) -> int:
    from exsim.replay.explain import explain_run
    from exsim.replay.rundir import check_finished

    check_finished(args.run_dir)  # "no liquidation" in a partial run means nothing
    print(explain_run(args.run_dir, args.liquidation))
    return 0


def add_parsers(sub: Any) -> None:
    rp = sub.add_parser(
        "replay",
        help="replay tick files with a strategy's orders queued among the replayed liquidity",
        description=(
            "Replay historical tick files (Binance public data CSVs and raw WebSocket captures, Tardis CSV, "
            "OHLCV bars, NautilusTrader depth CSV, freqtrade/NautilusTrader Parquet and Feather with "
            "pip install 'exsim[parquet]', exsim's own CSV/JSONL) through exsim's order book, ledger and liquidation engine with "
            "a strategy trading in it. The market model (replayed or synthetic depth, replayed or computed mark "
            "and funding) is chosen from what the data holds and printed with the summary. Example: "
            "exsim replay replays/binance-usdm-btcusdt-20240808.gz --strategy holder --param qty=0.4 "
            "--leverage 125 --out runs/holder && exsim report runs/holder"
        ),
    )
    add_replay_arguments(rp)
    ck = rp.add_argument_group(
        "checkpoints",
        "A snapshot of the whole run (exchange, ledger, books, queued events and timers, strategy, recorder) every "
        "N input rows, so a long replay can stop and continue: run the same command with --resume SNAPSHOT (same "
        "files and options; a different file or option is refused). The resumed run ends in the same state hash, "
        "account figures and output files as one that never stopped. Snapshots are plain data (no code runs on "
        "--resume); they are read only by the exsim version that wrote them.",
    )
    ck.add_argument("--checkpoint-every", type=_whole, default=None, metavar="N", help="write a snapshot every N input rows")
    ck.add_argument(
        "--checkpoint-dir",
        default=None,
        metavar="DIR",
        help="where the snapshot goes: DIR/replay.snapshot, replaced by each new one (default OUT/checkpoint, or ./exsim-checkpoint without --out)",
    )
    ck.add_argument("--resume", default=None, metavar="SNAPSHOT", help="continue the run from this snapshot")
    rp.set_defaults(func=cmd_replay)

    demo = sub.add_parser(
        "demo",
        help="the main job on the shipped replays: a 125x long on real ticks, then through a crash; summaries and plots",
        description=(
            "Runs the holder strategy (a 0.4 BTC long at 125x isolated, 1000 USDT deposited) on the two shipped "
            "replays: the Binance BTCUSDT raw capture (real depth and trades; the mark never reaches the "
            "liquidation price) and the January 2022 sell-off bars (liquidated, explained). Prints each summary "
            "and writes events, fills, time series and PNG plots to OUT/capture and OUT/crash."
        ),
    )
    add_replay_arguments(
        demo,
        files=False,
        shown={
            "strategy": "holder",
            "param": "the demo's own: qty=0.4 leverage=125 margin_mode=isolated, and enter_after_s=54 / 3600 (yours are added)",
            "balance": "1000",
            "leverage": "125, set by the demo's holder",
            "margin_mode": "isolated, set by the demo's holder",
            "out": "runs/demo: OUT/capture and OUT/crash",
        },
    )
    demo.set_defaults(strategy="holder", balance="1000", out="runs/demo", func=cmd_demo)

    cv = sub.add_parser(
        "convert",
        help="write any readable tick file(s) in exsim's own format (CSV or JSONL)",
        description=(
            "Reads FILEs with their readers, merges them by time, and writes exsim-csv or exsim-jsonl exactly (no rounding). "
            "The output is never one of the inputs, and appears whole at the end (written to a temporary file beside it)."
        ),
    )
    cv.add_argument("files", nargs="+", metavar="FILE")
    cv.add_argument("-o", "--output", required=True, help="output file (.csv, .jsonl, optionally .gz)")
    cv.add_argument("--to", choices=("exsim-csv", "exsim-jsonl"), default=None, help="output format (default from the extension)")
    cv.add_argument("--format", action="append", default=None, help="force the format of each file")
    cv.add_argument("--symbol", default=None, help="keep only this symbol")
    cv.set_defaults(func=cmd_convert)

    rep = sub.add_parser(
        "report",
        help="draw PNG plots of a run directory and print its summary",
        description=(
            "Writes price.png (last, mark, liquidation price, fills, liquidations), equity.png and margin_ratio.png into "
            "RUN_DIR. With --html FILE, also a teaching page to step through in the browser; RUN_DIR may then be a folder "
            "of run directories, shown side by side. Example: exsim report runs/demo --html demo.html"
        ),
    )
    rep.add_argument("run_dir", metavar="RUN_DIR")
    rep.add_argument("--html", metavar="FILE", help=(
        "also write a teaching page: one self-contained HTML file (works offline) to step through the run and click "
        "each liquidation (docs/pages.md); RUN_DIR may then be a folder of run directories (exsim demo's or compare's "
        "--out: side by side) or a scenario's run; an existing file is replaced only if it is an exsim page"))
    # (its command, exsim.cli.cmd_report, joins the plots with exsim.pages: set there)

    ex = sub.add_parser(
        "explain",
        help="the story of each liquidation of a run, in plain words and numbers",
        description=(
            "Reads RUN_DIR/events.jsonl and tells each liquidation: margin balance vs maintenance margin at the "
            "trigger, the bracket that set the maintenance margin and its arithmetic, liquidation and bankruptcy "
            "prices, what filled through the book and its slippage against the mark, insurance-fund takeover, "
            "ADL, clearance fee and the fund's balance."
        ),
    )
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument("--liquidation", type=_whole, default=None, metavar="N", help="only the N-th liquidation (1-based)")
    ex.set_defaults(func=cmd_explain)
