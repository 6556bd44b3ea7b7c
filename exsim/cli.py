"""The ``exsim`` command line.

Commands: ``exsim demo`` (the main job: the shipped real replay with a 125x long, a
summary and plots), ``exsim replay``, ``exsim convert``, ``exsim report`` (their parsers in
:mod:`exsim.replay.cli`; :func:`cmd_report` is here, as it joins the replay's plots with
the pages), ``exsim liq-price`` (:mod:`exsim.calculator.liq_price_cli`), ``exsim margin``
(:mod:`exsim.calculator.account_cli`), ``exsim serve`` (:mod:`exsim.serve.cli`), ``exsim stress``
(:mod:`exsim.testing.stress`) and ``exsim flow``: a seeded synthetic order flow through the exchange with a small story told
by one account (a post-only order, a rejected post-only, a stop order triggered by the
last price, self-trade prevention), a book ladder and an event summary.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import traceback
import time
from pathlib import Path
from typing import Any, NoReturn, Sequence

from exsim.book.orders import (
    BUY,
    GTC,
    GTX,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_MARKET,
    STP_EXPIRE_MAKER,
    TRIGGER_LAST,
)
from exsim.errors import InputError
from exsim.exchange import (
    CancelOrder,
    Deposit,
    Exchange,
    Liquidation,
    NewOrder,
    OrderRejected,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetSelfTradePrevention,
)
from exsim.ledger import ISOLATED, Ledger
from exsim.units import ATOMS_PER_UNIT, whole_arg
from exsim.instruments import get_instrument

NS_PER_MS = 1_000_000
YOU = 100  # the demo's storytelling account


class DemoFlow:
    """A seeded crowd of 20 accounts trading around a random-walk mid, plus one story.

    Driven by a loop timer every ``step_ns``: each tick places a limit order near the mid,
    cancels a random resting crowd order, or sends a market order. Account 100 (YOU)
    acts at fixed ticks to show post-only, stop orders and self-trade prevention.
    """

    def __init__(self, exchange: Exchange, symbol: str, seed: int, steps: int) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.rng = random.Random(seed)
        self.steps = steps
        self.step = 0
        inst = exchange.markets[symbol].instrument
        self.mid_ticks = inst.ticks("61590.0")
        self.min_lots = max(inst.min_qty_lots, -(-inst.min_notional_atoms // (self.mid_ticks * inst.atoms_per_tick_lot)))
        self.story: list[tuple[int, str]] = []
        self.stp_price = 0
        self.stop_trigger = 0
        self.crash_step = (9 * steps) // 10
        self.instrument = inst

    def _px(self, ticks: int) -> str:
        return self.instrument.price_str(ticks)

    def __call__(self, loop: Any, ts_ns: int) -> None:
        self.step += 1
        if self.step > self.steps:
            return
        rng = self.rng
        if rng.random() < 0.05:
            self.mid_ticks += rng.choice((-1, 1)) * rng.randint(1, 3)
        if self.step == 1:  # funding: the crowd is deep-pocketed; YOU has 1,000 USDT, isolated 100x
            for account in range(1, 21):
                loop.schedule(Deposit(ts_ns, account, 10_000_000 * ATOMS_PER_UNIT))
            loop.schedule(Deposit(ts_ns, YOU, 1_000 * ATOMS_PER_UNIT))
            loop.schedule(SetMarginMode(ts_ns, YOU, self.symbol, ISOLATED))
            loop.schedule(SetLeverage(ts_ns, YOU, self.symbol, 100))
            self.story.append((ts_ns, "deposit 1,000 USDT; BTCUSDT in ISOLATED margin at 100x"))
            return
        book = self.exchange.book(self.symbol)
        if self.step % 20 == 0 and self.step != self.crash_step:  # the mark follows the book's mid
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and ask is not None:
                # the mark in subticks (1e-8 USDT); this toy market keeps it on the tick
                loop.schedule(SetMarkPrice(ts_ns, self.symbol, (bid + ask) // 2 * self.instrument.subticks_per_tick))
        story = self._story_command(ts_ns)
        if story is not None:
            loop.schedule(story)
            return
        u = rng.random()
        if u < 0.30 and len(book) > 0:
            orders = [o for o in book.orders.values() if o.account_id != YOU]
            if orders:
                o = orders[rng.randrange(len(orders))]
                loop.schedule(CancelOrder(ts_ns, o.account_id, self.symbol, o.order_id))
                return
        account = rng.randint(1, 20)
        side = BUY if rng.random() < 0.5 else SELL
        qty = self.min_lots * rng.randint(1, 20)
        if u < 0.40:
            loop.schedule(NewOrder(ts_ns, account, self.symbol, side, qty, 0, MARKET, IOC))
            return
        offset = 1 + int(rng.expovariate(0.15))
        price = self.mid_ticks - offset if side == BUY else self.mid_ticks + offset
        loop.schedule(NewOrder(ts_ns, account, self.symbol, side, qty, price, LIMIT, GTC))

    def _story_command(self, ts_ns: int) -> Any:
        """YOU's commands at fixed steps (None on other steps)."""
        ex, sym, n = self.exchange, self.symbol, self.steps
        book = ex.book(sym)
        bid, ask = book.best_bid(), book.best_ask()
        if self.step == n // 20 and ask is not None:
            self.story.append((ts_ns, f"market buy {self.instrument.qty_str(self.min_lots * 15)} BTC at 100x"))
            return NewOrder(ts_ns, YOU, sym, BUY, self.min_lots * 15, 0, MARKET, IOC, "you-long")
        if self.step == self.crash_step and bid is not None and ask is not None:
            mark = (bid + ask) * 99 // 200
            self.story.append((ts_ns, f"the mark price (index) drops 1 % to {self._px(mark)}"))
            return SetMarkPrice(ts_ns, sym, mark * self.instrument.subticks_per_tick)
        if self.step == n // 10 and bid is not None:
            self.story.append((ts_ns, "post-only bid one tick under the best bid: rests as a maker"))
            return NewOrder(ts_ns, YOU, sym, BUY, self.min_lots, bid - 1, LIMIT, GTX, "you-postonly-ok")
        if self.step == n // 10 + 1 and ask is not None:
            self.story.append((ts_ns, "post-only bid AT the best ask: rejected, it would take"))
            return NewOrder(ts_ns, YOU, sym, BUY, self.min_lots, ask, LIMIT, GTX, "you-postonly-bad")
        if self.step == n // 5 and bid is not None:
            trig = bid - 10
            self.stop_trigger = trig
            self.story.append((ts_ns, f"stop-market sell, trigger {self._px(trig)} on the LAST price"))
            return NewOrder(
                ts_ns, YOU, sym, SELL, self.min_lots * 3, 0, STOP_MARKET, GTC, "you-stop", False, trig, TRIGGER_LAST
            )
        if self.step == n // 2:
            self.story.append((ts_ns, "self-trade prevention set to EXPIRE_MAKER"))
            return SetSelfTradePrevention(ts_ns, YOU, STP_EXPIRE_MAKER)
        if self.step == n // 2 + 1 and ask is not None:
            self.stp_price = ask - 1 if bid is not None and ask - bid >= 2 else ask
            self.story.append((ts_ns, f"resting sell at {self._px(self.stp_price)}"))
            return NewOrder(ts_ns, YOU, sym, SELL, self.min_lots, self.stp_price, LIMIT, GTC, "you-ask")
        if self.step == n // 2 + 2 and self.stp_price:
            p = self.stp_price
            qty = book.level_lots(SELL, p) + self.min_lots
            self.story.append((ts_ns, f"IOC buy at {self._px(p)} meets your own sell: STP cancels the resting one"))
            return NewOrder(ts_ns, YOU, sym, BUY, qty, p, LIMIT, IOC, "you-ioc")
        if self.step == (3 * n) // 4 and bid is not None:
            # a crowd account sells through the bids down past the story's stop trigger
            floor = min(bid, self.stop_trigger) - 2
            qty = sum(lots for px, lots in book.depth(BUY, 500) if px >= floor) + self.min_lots
            self.story.append((ts_ns, f"account 7 market-sells {ex.markets[sym].instrument.qty_str(qty)}: the last price drops"))
            return NewOrder(ts_ns, 7, sym, SELL, qty, 0, MARKET, IOC)
        return None


def cmd_flow(args: argparse.Namespace) -> int:
    """Run the flow demo: seeded flow, story, book ladder, event summary, JSONL events."""
    from rich.console import Console
    from rich.table import Table

    from exsim.loop import EventLoop
    from exsim.units import format_atoms
    from exsim.sinks import CountingSink, JsonlSink, MemorySink, StateHasher

    console = Console()
    inst = get_instrument(args.symbol)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = CountingSink()
    hasher = StateHasher()
    mine = MemorySink()

    def only_you(events: Sequence[Any]) -> None:
        mine([e for e in events if getattr(e, "account_id", None) == YOU or _touches_you(e)])

    t0 = time.perf_counter()
    with JsonlSink(out_dir / "events.jsonl") as jsonl:
        ledger = Ledger([inst], insurance_fund_atoms=100_000 * ATOMS_PER_UNIT)
        exchange = Exchange([inst], sinks=[counts, hasher, jsonl, only_you], ledger=ledger)
        loop = EventLoop(exchange)
        flow = DemoFlow(exchange, inst.symbol, args.seed, args.events)
        start_ns = 1_700_000_000_000_000_000
        loop.call_every(start_ns, NS_PER_MS, flow)
        processed = loop.run(until_ns=start_ns + args.events * NS_PER_MS)
    wall_s = time.perf_counter() - t0

    console.print(f"[bold]exsim flow[/bold]: {args.events:,} steps of seeded order flow on {inst.symbol} (seed {args.seed})")
    ladder = Table(title=f"{inst.symbol} book, top 5 levels", show_lines=False)
    ladder.add_column("bid qty", justify="right")
    ladder.add_column("bid", justify="right", style="green")
    ladder.add_column("ask", justify="right", style="red")
    ladder.add_column("ask qty", justify="right")
    book = exchange.book(inst.symbol)
    bids, asks = book.depth(BUY, 5), book.depth(SELL, 5)
    for i in range(max(len(bids), len(asks))):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        ladder.add_row(
            inst.qty_str(b[1]) if b else "",
            inst.price_str(b[0]) if b else "",
            inst.price_str(a[0]) if a else "",
            inst.qty_str(a[1]) if a else "",
        )
    console.print(ladder)

    summary = Table(title="what happened")
    summary.add_column("event")
    summary.add_column("count", justify="right")
    for name, n in sorted(counts.as_dict().items()):
        summary.add_row(name, f"{n:,}")
    console.print(summary)

    console.print("[bold]your story[/bold] (account 100; what you did, then what the exchange said):")
    lines = [(ts, 0, f"[bold]{text}[/bold]") for ts, text in flow.story]
    lines += [(e.ts_ns, 1, "  " + _story_line(e, inst)) for e in mine.events if _story_line(e, inst)]
    for ts, _, text in sorted(lines, key=lambda x: (x[0], x[1])):
        console.print(f"  t+{(ts - start_ns) // NS_PER_MS:>6} ms  {text}")

    acct = ledger.accounts[YOU]
    console.print(
        f"your wallet: {format_atoms(acct.wallet_atoms, 2)} USDT (deposited 1,000; realized PnL "
        f"{format_atoms(acct.realized_pnl_atoms, 2)}, fees {format_atoms(acct.fees_atoms, 2)}); "
        f"insurance fund {format_atoms(ledger.insurance_fund_atoms, 2)} USDT"
    )
    rejects = [e for e in mine.events if isinstance(e, OrderRejected)]
    console.print(f"rejected orders of yours: {len(rejects)} ({', '.join(r.reason for r in rejects) or 'none'})")
    console.print(exchange.describe())
    console.print(f"state hash {exchange.state_hash()}   event-stream hash {hasher.hexdigest()}")
    console.print(f"{processed:,} loop items, {counts.total:,} events in {wall_s:.2f}s; events written to {out_dir / 'events.jsonl'}")
    exchange._check()
    ledger._check()
    return 0


def _story_line(e: Any, inst: Any) -> str:
    """One plain line about an event of YOU's (empty for L2 deltas)."""
    from exsim.exchange import Fill, OrderAccepted, OrderCancelled, OrderExpired, OrderTriggered
    from exsim.units import format_atoms

    if isinstance(e, Fill):
        mine_taker = e.taker_account_id == YOU
        side = e.aggressor_side if mine_taker else e.aggressor_side ^ 1
        fee = e.taker_fee_atoms if mine_taker else e.maker_fee_atoms
        verb = "bought" if side == BUY else "sold"
        return (
            f"[cyan]fill[/cyan] {verb} {inst.qty_str(e.qty_lots)} @ {inst.price_str(e.price_ticks)} "
            f"as {'taker' if mine_taker else 'maker'}, fee {format_atoms(fee, 2)} {inst.quote}"
        )
    if isinstance(e, OrderAccepted):
        return f"[cyan]accepted[/cyan] order {e.order_id} ({e.client_order_id})"
    if isinstance(e, OrderRejected):
        return f"[red]rejected[/red] {e.client_order_id}: {e.reason}"
    if isinstance(e, OrderCancelled):
        return f"[yellow]cancelled[/yellow] order {e.order_id} ({inst.qty_str(e.leaves_lots)} open), reason {e.reason}"
    if isinstance(e, OrderExpired):
        return f"[yellow]expired[/yellow] order {e.order_id} ({inst.qty_str(e.leaves_lots)} unfilled), reason {e.reason}"
    if isinstance(e, Liquidation):
        return f"[bold red]liquidated[/bold red]: {e.explanation}"
    if isinstance(e, OrderTriggered):
        return (
            f"[magenta]triggered[/magenta] order {e.order_id}: {'mark' if e.trigger_by else 'last'} "
            f"{inst.mark_str(e.reference_price_subticks)} "
            f"reached trigger {inst.price_str(e.trigger_price_ticks)}"
        )
    return ""


def _touches_you(event: Any) -> bool:
    return getattr(event, "taker_account_id", None) == YOU or getattr(event, "maker_account_id", None) == YOU


class UsageError(Exception):
    """A command line argparse refuses (unknown option, missing or malformed value)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is raised (and printed by :func:`main` as one line)
    instead of printing the usage and exiting. Subcommand parsers are of this class too
    (``add_subparsers`` makes its parsers of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


#: names ``exsim convert`` can tell its output format from (else --to must say)
CONVERT_SUFFIXES = {".csv": "exsim-csv", ".csv.gz": "exsim-csv", ".jsonl": "exsim-jsonl", ".jsonl.gz": "exsim-jsonl"}


def _checked_convert(args: argparse.Namespace) -> int:
    """``exsim convert``, with its output name checked first: the writer knows only
    exsim-csv and exsim-jsonl, plain or gzip, and would otherwise write plain CSV into a
    file named ``.parquet`` or ``.zst`` that nothing could read back."""
    from exsim.replay.cli import cmd_convert

    out = str(args.output)
    lower = out.lower()
    suffix = next((s for s in sorted(CONVERT_SUFFIXES, key=len, reverse=True) if lower.endswith(s)), None)
    if Path(out).is_dir():
        raise InputError("is a directory; expected an output file name", where=out, field="--output")
    if lower.endswith((".zst", ".zip", ".bz2", ".xz")):
        raise InputError("the output can be compressed with gzip only; expected a name ending .gz", where=out, field="--output")
    if suffix is None and args.to is None:
        raise InputError(
            f"cannot tell the output format from the name; expected one of {', '.join(CONVERT_SUFFIXES)}, or --to",
            where=out,
            field="--output",
        )
    if suffix is not None and args.to is not None and CONVERT_SUFFIXES[suffix] != args.to:
        raise InputError(f"the name says {CONVERT_SUFFIXES[suffix]} but --to says {args.to}", where=out, field="--output")
    return int(cmd_convert(args))


def _checked_demo(args: argparse.Namespace) -> int:
    """``exsim demo``, with its options checked before the first run prints anything."""
    from exsim.replay.cli import cmd_demo, config_from_args

    config_from_args(args)  # raises InputError on a bad option
    return int(cmd_demo(args))


def cmd_report(args: argparse.Namespace) -> int:
    """``exsim report RUN_DIR [--html FILE]``: a replay's plots, summary and trades, and the
    teaching page of one or more runs. Here, above both, because it joins the replay's
    report (:mod:`exsim.replay.report`) with the pages (:mod:`exsim.pages`), which read
    the replay's run directories: the replay package does not import the pages."""
    from exsim.replay.cli import print_summary, read_summary
    from exsim.replay.report import write_report
    from exsim.replay.rundir import check_finished

    check_finished(args.run_dir)  # a partial run's figures are not a run's
    html = report_page_target(args)
    if html is not None and not _is_replay_run(args.run_dir):  # a folder of runs, a scenario's run: the page only
        print(html_page(args, html))
        return 0
    if (Path(args.run_dir) / "summary.json").is_file():
        read_summary(args.run_dir)  # a damaged one is an error before anything is drawn
    from exsim.replay.progress import Bar

    with Bar("report", show=True) as bar:
        paths = write_report(args.run_dir, progress=bar.update)
    for p in paths:
        print(p)
    summary = read_summary(args.run_dir)
    from rich.console import Console

    console = Console()
    print_summary(console, summary, args.run_dir)
    from exsim.results.show import trades_table

    trades = Path(args.run_dir) / "trades.csv"
    if trades.is_file():  # (a run written before trades.csv has none)
        console.print(trades_table(trades))
    if html is not None:
        print(html_page(args, html))
    return 0


def report_page_target(args: argparse.Namespace) -> Path | None:
    """``--html``'s file, checked before any work, and every run under RUN_DIR finished."""
    if args.html is None:
        return None
    from exsim.pages.data import run_dirs_of
    from exsim.pages.html import check_target
    from exsim.replay.rundir import check_finished

    target = check_target(args.html)
    for _, run_dir in run_dirs_of(args.run_dir):
        check_finished(run_dir)
    return target


def _is_replay_run(path: str | Path) -> bool:
    """RUN_DIR is one replay's run directory (a scenario's summary names its scenario)."""
    summary = Path(path) / "summary.json"
    if not summary.is_file():
        return False
    try:
        data = json.loads(summary.read_bytes())
    except ValueError:
        return True  # damaged: read_summary says how
    return not (isinstance(data, dict) and "scenario" in data)


def html_page(args: argparse.Namespace, target: Path) -> str:
    from exsim.pages.data import run_dirs_of
    from exsim.pages.html import write_runs_page

    return write_runs_page(run_dirs_of(args.run_dir), target, f"exsim report {args.run_dir}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="exsim",
        description=(
            "exsim: an exchange matching and liquidation simulator for crypto perpetual futures. "
            "Prices are integer ticks, sizes integer lots, money integer atoms (1e-8)."
        ),
    )
    from exsim import __version__

    parser.add_argument("--version", action="version", version=f"exsim {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, also print the Python traceback (or set EXSIM_DEBUG=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from exsim.replay.cli import add_parsers as add_replay_parsers

    add_replay_parsers(sub)
    # checks of the replay module's commands that must come before any work or output
    sub.choices["convert"].set_defaults(func=_checked_convert)
    sub.choices["demo"].set_defaults(func=_checked_demo)
    sub.choices["report"].set_defaults(func=cmd_report)
    from exsim.scenario.cli import add_parsers as add_scenario_parsers

    add_scenario_parsers(sub)
    from exsim.sweep.cli import add_parser as add_sweep  # (imports the engines only when a sweep runs)

    add_sweep(sub)
    demo = sub.add_parser(
        "flow",
        help="seeded synthetic order flow: a story of order types, book ladder, event log",
        description=(
            "Seeded order flow from 20 accounts on one instrument, driven by the event loop's timer, "
            "plus account 100 showing post-only (accepted and rejected), a stop-market order triggered "
            "by the last price, and self-trade prevention. Prints the book, an event summary and the "
            "state hash; writes every event to OUT/events.jsonl. Same seed, same hash."
        ),
    )
    demo.add_argument("--events", type=_positive_int, default=20_000, help="timer steps to run (default 20000)")
    demo.add_argument("--seed", type=whole_arg, default=7, help="random seed of the order flow (default 7)")
    demo.add_argument("--symbol", default="BTCUSDT", help="shipped instrument to trade (default BTCUSDT)")
    demo.add_argument("--out", default="runs/flow", help="output folder (default runs/flow)")
    demo.set_defaults(func=cmd_flow)
    from exsim.calculator.liq_price_cli import add_parser as add_liq_price

    add_liq_price(sub)
    from exsim.calculator.account_cli import add_parser as add_margin

    add_margin(sub)
    from exsim.serve.cli import add_parser as add_serve  # (imports no web library: the run does)

    add_serve(sub)
    # listed here; its words go to its own parser (main), as it is a tool for testing
    sub.add_parser(
        "stress",
        add_help=False,
        help="the whole-engine stress fuzzer: a seeded run of every command kind, every invariant after every event",
    )
    return parser


def cmd_stress(words: Sequence[str]) -> int:
    """``exsim stress ...``: the stress fuzzer of :mod:`exsim.testing.stress`, with its own
    options (``exsim stress --help``); imported only when asked for."""
    from exsim.testing.stress import main as stress_main

    return stress_main(words)


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code.

    Bad input of any kind — a usage error, an :class:`~exsim.errors.InputError` from a
    file, an option or a spec, an exception in a strategy's hook, a file that cannot be
    opened or written — is one line ``exsim: error: ...`` on stderr and exit code 2, never
    a traceback (``--debug`` or ``EXSIM_DEBUG=1`` adds it). Ctrl-C is one line and exit
    code 130.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["stress"]:
        return cmd_stress(words[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        message, prog = exc.args
        words = list(sys.argv[1:] if argv is None else argv)
        if prog == parser.prog and words and words[0] in _commands(parser):  # unknown options end here
            prog = f"{parser.prog} {words[0]}"
        command = prog.removeprefix(parser.prog).strip()
        print(f"exsim: error: {command + ': ' if command else ''}{message} (see '{prog} --help')", file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False) or os.environ.get("EXSIM_DEBUG"))
    try:
        return int(args.func(args))
    except InputError as exc:
        if debug:
            traceback.print_exc()
        print(f"exsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a run (a run says more: exsim.replay.cli)
        if debug:
            traceback.print_exc()
        print("exsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file that cannot be opened or written (--out, -o, a strategy file...)
        if debug:
            traceback.print_exc()
        place = f"{exc.filename}: " if exc.filename else ""
        print(f"exsim: error: {place}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
