"""Replay: tick files + a strategy through the exchange, with a run record.

The pipeline of one run, in the order data flows::

    files ─ readers (exsim.readers) ─ merge by ts ─ MarketModel (rows → commands)
          ─ EventLoop (ts, priority, seq) ─ Replay.submit ─ Exchange (book, ledger,
          liquidations) ─ events ─ Replay._on_events ─ strategy hooks + Recorder

How the market is modelled (each choice is stated in the run summary):

* **Depth.** When an input carries depth (``level`` rows), the book's anonymous size is
  the venue's, level by level; the strategy's orders queue behind the size already at
  their price (``queue_model``: ``conservative`` — only trades at the level advance the
  queue, cancels come from behind; ``proportional`` (alias ``probabilistic``) — cancels
  also advance it, in proportion). When a strategy or liquidation order takes replayed
  size, the book has less than the venue until the venue's next update for that level,
  which sets the level's replayed size to the venue's figure again (the venue never saw
  our order). Replayed trades at or through an order's price fill it once the size ahead
  is gone.
* **No depth (trades, quotes or bars only).** A synthetic ladder stands in:
  ``synthetic_levels`` levels a side, ``synthetic_step_ticks`` apart, each of
  ``synthetic_qty`` (default: 100,000 USDT of notional at the first price). With quotes
  it hangs from the quoted best bid/ask (the top level has the quoted size); without, it
  starts one step above and below the last trade. It is brought up to date (only the
  levels that changed) before each strategy order and each mark/index update, so market
  and liquidation orders pay slippage through it.
* **Mark price.** Replayed from ``mark`` rows when the inputs have them; otherwise
  computed as in MARGIN-SPEC §6 (``median(Price1, Price2, last)``) on each index update,
  with index = replayed ``index`` rows or, when there are none, the book's mid (the
  synthetic reference without depth) sampled every ``mark_interval_ns``.
* **Funding.** Replayed rates when an input format carries funding; otherwise computed
  from the premium index at each funding time (``funding="computed"``) or off. The
  premium index is the venue's when an input replays it (``premium`` rows: Binance
  ``premiumIndexKlines``), for those symbols only that one; else the book's, sampled at
  each index update (best bid/ask against the index). The summary says which, and how
  many settlements came out at the bare interest rate (0.01 %: the premium inside the
  ±0.05 % clamp) — with the book's premium against an index that is the book's own mid,
  that is every one.
* **Latency.** A strategy command reaches the exchange ``latency_ns`` after the hook that
  sent it.
* **Gaps in the data.** The periodic samplers (the computed mark's index sampler, the
  time-series sampler, computed funding) walk the first :data:`MAX_WALKED_GAP_NS` (six
  hours) of a gap between two consecutive market-data rows as usual; past it they jump
  to their first time at or after the next row instead of firing through the rest of the
  gap (a week without data would otherwise be 600,000 one-second samples of an unchanged
  market). Other timers (a strategy's, an order's latency) are not moved. The summary
  counts the gaps jumped (``gaps_jumped``).

Checkpoints (``checkpoint_every``, ``resume``; :mod:`exsim.replay.checkpoint`): every
``checkpoint_every`` input rows (rows of the merged input stream the market model has
taken), once the loop has run everything queued at the current timestamp, the whole run
is saved as plain data — exchange, ledger, books, the loop's queue and timers, the
strategy's attributes and its context, the recorder — except the input streams, which are
re-opened on resume and fast-forwarded past the items already read. A resumed run ends in the same state hash,
account figures and output files as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.exchange import (
    AmendOrder,
    AutoExchange,
    BookDelta,
    CollateralIndex,
    CollateralRuleSet,
    CommandRejected,
    ClearReplayedLevels,
    Deposit,
    Exchange,
    Fill,
    FundingPaid,
    FundingSettled,
    Liquidation,
    MarkPriceUpdated,
    NewBracket,
    NewOco,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    PositionChanged,
    ReplayedTrade,
    SetIndexPrice,
    SetLeverage,
    SetMarginMode,
    SetCollateralMode,
    SetCollateralRule,
    SetMarkPrice,
    SetReplayedLevels,
    SettingChanged,
    SettleFunding,
)
from exsim.instruments import Instrument, get_instrument, instrument_to_dict
from exsim.instruments.choose import choose_instrument, grid_of
from exsim.instruments.loader import load_instruments_file
from exsim.ledger import Ledger
from exsim.ledger.collateral import COLLATERAL_MODES, MULTI_ASSETS, SINGLE_ASSET, usd_e40_to_usd_e8_floor
from exsim.liquidation.risk import position_liquidation_subticks
from exsim.loop.event_loop import (
    PRIORITY,
    PRIORITY_COMMAND,
    PRIORITY_FUNDING,
    PRIORITY_MARK,
    PRIORITY_MARKET_DATA,
    PRIORITY_TIMER,
    EventLoop,
    stop_run,
)
from exsim.margin.funding import DEFAULT_INTEREST_E8, funding_rate_e8, next_funding_time_ns
from exsim.readers import format_kinds, merge_rows, open_rows
from exsim.readers.binance_ws import link_parts
from exsim.readers.markets import COINM, check_index, check_traded, symbol_market
from exsim.readers.opening import SKIPPED_LINES, repeated_file
from exsim.readers.rows import FUNDING, INDEX, LEVEL, LIQUIDATION, MARK, PREMIUM, QUOTE, TRADE, Row
from exsim.ledger.collateral_data import collateral_rules
from exsim.replay.market import DepthUpdateId, IndexQuote, MarketModel, index_quotes, ReplayedBar, ReplayedGap, ReplayedPremium, ReplayedQuote
from exsim.replay.bars import BarAggregator, interval_ns
from exsim.replay.checkpoint import SNAPSHOT_NAME, remove_stale_temporaries, restore, write_snapshot
from exsim.replay.recorder import Recorder, config_dict, utc_text
from exsim.replay.rundir import RunDir, atomic_write
from exsim.replay.strategy import ACCOUNT_ID, MARGIN_MODES, Context, OwnFill, Strategy, StrategyError
from exsim.replay.collateral import (
    FROM_FILE,
    FROM_MARK,
    SEED,
    CollateralQuote,
    ScheduledRule,
    follow_symbol,
    index_items,
    read_haircut_schedule,
    scheduled_at,
    usd_index_e8,
)
from exsim.results.assets import USD_ASSETS, deposit_assets
from exsim.replay.venue import check_collateral_mode, exchange_venue, run_venue, venue_instruments
from exsim.venues.profile import VENUE_NAMES
from exsim.units import ceil_div, div_half_even, floor_div, format_atoms, format_rate_e8, parse_decimal, to_atoms, to_subticks

NS_PER_S = 1_000_000_000
#: the part of a gap in the market data the periodic samplers walk (see the module doc)
MAX_WALKED_GAP_NS = 6 * 3_600 * NS_PER_S
#: same-timestamp priority of the checkpoint timer: after everything else at its timestamp
PRIORITY_CHECKPOINT = PRIORITY_TIMER + 1
#: of the timer that stops a loop at the data's end (``stop_at_data_end``): after that too
PRIORITY_DATA_END = PRIORITY_CHECKPOINT + 1
_PROGRESS_ROWS = 1 << 14  # rows between two progress reports
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
QUEUE_MODELS = {"conservative": "conservative", "proportional": "proportional", "probabilistic": "proportional"}
MARK_MODES = ("auto", "replayed", "computed")
FUNDING_MODES = ("auto", "replayed", "computed", "none")
_PEEK_ROWS = 5000  # rows read ahead per file to learn its symbols
_MAX_BAD_LINES = 1000  # lines a reader refused that skip_bad_rows passes over, per file
#: row kinds of price data: the run ends at the last of them (funding, index and premium
#: rows are auxiliary series: rows of theirs past the prices' end are left out)
PRICE_KINDS = frozenset({TRADE, QUOTE, LEVEL, MARK, LIQUIDATION})
_SPAN_SLACK_NS = 60 * NS_PER_S  # inputs whose ends differ by more get the span warning
#: ``(path, format or None, symbol or None) -> (format, rows)``: where a replay's input
#: files are read (:func:`exsim.readers.open_rows`, or a stand-in such as the sweep cache's)
RowOpener = Callable[[str | Path, str | None, str | None], tuple[str, Iterator[Row]]]


def _read_file(path: str | Path, fmt: str | None, symbol: str | None) -> tuple[str, Iterator[Row]]:
    """The default :data:`RowOpener`: the file's reader (``open_rows`` looked up at each call)."""
    return open_rows(path, fmt, symbol)


#: commands that bring the synthetic depth up to date before they reach the exchange
_USER_ORDERS = frozenset((NewOrder, AmendOrder, NewOco, NewBracket))


def _line_of(where: str, path: str) -> int | None:
    """The line number of ``path:line``, when the error is about that file."""
    prefix, _, line = where.rpartition(":")
    return int(line) if prefix == path and line.isdigit() else None


def _instrument_of(symbol: str, where: str, at_ns: int | None = None) -> Instrument:
    """The shipped instrument of ``symbol`` in force at ``at_ns``; an unknown one is an error
    naming ``where`` (the first row that holds it)."""
    try:
        return get_instrument(symbol, at_ns)
    except InputError as exc:
        if not where or exc.where:
            raise
        raise InputError(exc.message, where=where, field=exc.field or "symbol") from None


_OFF_GRID = re.compile(r"^'([0-9.]+)' is not a multiple of (tick|lot) ([0-9.]+)$")


def _grid_hint(exc: InputError, symbols: Sequence[str]) -> InputError:
    """``exc`` with what to pass when it is a traded price or size off the instrument's grid
    (met after the rows the instrument choice peeked at); other errors as they are."""
    m = _OFF_GRID.match(exc.message)
    if m is None or exc.field not in ("price", "qty"):
        return exc
    if m.group(2) == "lot" and all(symbol_market(s) == COINM for s in symbols):  # contracts do not split
        return type(exc)(
            f"{exc.message}: a COIN-M quantity is a whole number of contracts (or --skip-bad-rows to leave such rows out)",
            where=exc.where, field=exc.field,
        )
    grid = grid_of([m.group(1)])
    flag = "--tick-size" if m.group(2) == "tick" else "--lot-size"
    value = f"{symbols[0]}={grid}" if len(symbols) == 1 else grid
    return type(exc)(
        f"{exc.message}: the data is on a finer grid than the spec in force; pass {flag} {value} "
        "(or --skip-bad-rows to leave such rows out)",
        where=exc.where, field=exc.field,
    )


_GRID_KINDS = frozenset((TRADE, LEVEL, QUOTE, LIQUIDATION))  # rows whose price/qty must be on the grids


def _choose_instruments(
    symbols: Sequence[str], heads: Sequence[Row], first_where: dict[str, str], config: ReplayConfig
) -> tuple[list[Instrument], list[str]]:
    """Each symbol's instrument: the spec in force at its first row, checked against the grid
    of the rows peeked at (``_PEEK_ROWS`` a file), ``--instruments`` files and
    ``--tick-size``/``--lot-size`` first (:func:`exsim.instruments.choose.choose_instrument`);
    and a line per symbol saying what was used and where it came from."""
    files = [load_instruments_file(p) for p in config.instruments]
    first_ts: dict[str, int] = {}
    prices: dict[str, list[tuple[str, str]]] = {s: [] for s in symbols}
    qtys: dict[str, list[tuple[str, str]]] = {s: [] for s in symbols}
    for r in heads:
        if r.symbol not in prices:
            continue
        if r.symbol not in first_ts or r.ts_ns < first_ts[r.symbol]:
            first_ts[r.symbol] = r.ts_ns
        if r.kind in _GRID_KINDS:
            if r.price:
                prices[r.symbol].append((r.price, r.where))
            if r.qty:
                qtys[r.symbol].append((r.qty, r.where))
    out: list[Instrument] = []
    notes: list[str] = []
    for s in symbols:
        inst, note = choose_instrument(
            s, first_ts_ns=first_ts.get(s, 0), first_where=first_where.get(s, ""), prices=prices[s], qtys=qtys[s],
            files=files, tick_size=config.tick_size, lot_size=config.lot_size,
            check_grid=not config.skip_bad_rows,  # then the market model skips off-grid rows, one by one
        )
        out.append(inst)
        notes.append(note)
    return out, notes


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or value <= 0:
        raise InputError(f"{value!r} is not a positive whole number", where="replay config", field=attribute.name)


def _non_negative_int(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or value < 0:
        raise InputError(f"{value!r} is not a whole number >= 0", where="replay config", field=attribute.name)


#: the ranges of the options that size a run's work or memory, checked before it starts
#: (``--sample 1ns`` would fill memory with samples, ``--mark-interval 1ns`` never end,
#: ``--synthetic-levels 10000000`` build ten million levels): (low, high, how to say a value)
OPTION_RANGES: dict[str, tuple[int, int, str]] = {
    "mark_interval_ns": (100_000_000, 86_400 * NS_PER_S, "ns (100ms .. 1 day)"),
    "sample_interval_ns": (100_000_000, 86_400 * NS_PER_S, "ns (100ms .. 1 day)"),
    "latency_ns": (0, 3_600 * NS_PER_S, "ns (0 .. 1 hour)"),
    "synthetic_levels": (1, 1_000, "levels a side (1 .. 1000, Binance's deepest book snapshot)"),
    "synthetic_step_ticks": (1, 1_000_000, "ticks (1 .. 1,000,000)"),
    "leverage": (1, 1_000, "(1 .. 1000)"),
}


def _in_range(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    """A whole number within :data:`OPTION_RANGES` for the field (its sign checked first)."""
    low, high, unit = OPTION_RANGES[attribute.name]
    (_positive_int if low > 0 else _non_negative_int)(instance, attribute, value)
    assert type(value) is int
    if not low <= value <= high:
        raise InputError(f"{value:,} is out of range: expected {low:,} .. {high:,} {unit}", where="replay config", field=attribute.name)


def _usdt_at_least_zero(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    """An amount of USDT: decimal text (or int, Decimal) on the 1e-8 grid, >= 0."""
    atoms = to_atoms(value, field=attribute.name, where="replay config")  # type: ignore[arg-type]
    if atoms < 0:
        raise InputError(f"{value!r} is not an amount >= 0 (USDT)", where="replay config", field=attribute.name)


def _positive_decimal(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    """A decimal number > 0 (its grid is the instrument's, checked where it is used)."""
    if parse_decimal(value, field=attribute.name, where="replay config") <= 0:  # type: ignore[arg-type]
        raise InputError(f"{value!r} is not a positive quantity", where="replay config", field=attribute.name)


def _grids(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    """``--tick-size`` / ``--lot-size``: a positive decimal, or ``SYMBOL=decimal`` items joined by commas."""
    if not isinstance(value, str):
        raise InputError(f"{value!r} is not text", where="replay config", field=attribute.name)
    for item in value.split(",") if "=" in value else [value]:
        name, eq, grid = item.rpartition("=")
        if eq and not name.strip():
            raise InputError(f"{item!r}: expected SYMBOL=SIZE", where="replay config", field=attribute.name)
        _positive_decimal(instance, attribute, grid.strip())


def _one_of(options: Iterable[str]) -> Callable[[object, attrs.Attribute[str], object], None]:
    allowed = tuple(options)

    def check(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
        if value not in allowed:
            raise InputError(f"{value!r} is not one of {', '.join(allowed)}", where="replay config", field=attribute.name)

    return check


@attrs.frozen(kw_only=True)
class ReplayConfig:
    """Parameters of one replay (the command line's options, with the same names)."""

    balance: str = attrs.field(default="10000", validator=_usdt_at_least_zero)  # USDT deposited at the start (exact)
    #: ``--deposit``: amounts with their asset (``"0.05BTC"``, ``"1000"`` = the home asset),
    #: one per asset; given, they replace ``balance`` (checked against the run's assets at its start)
    deposits: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    leverage: int | None = attrs.field(default=None, validator=attrs.validators.optional(_in_range))  # every symbol
    margin_mode: str | None = attrs.field(default=None, validator=attrs.validators.optional(_one_of(MARGIN_MODES)))
    latency_ns: int = attrs.field(default=0, validator=_in_range)
    queue_model: str = attrs.field(default="conservative", validator=_one_of(QUEUE_MODELS))
    mark: str = attrs.field(default="auto", validator=_one_of(MARK_MODES))
    funding: str = attrs.field(default="auto", validator=_one_of(FUNDING_MODES))
    mark_interval_ns: int = attrs.field(default=NS_PER_S, validator=_in_range)
    sample_interval_ns: int = attrs.field(default=NS_PER_S, validator=_in_range)
    # False: a periodic time-series row only when a value of its symbol changed (a month of
    # bars stays small); True: a row at every multiple of sample_interval_ns
    sample_all: bool = False
    synthetic_levels: int = attrs.field(default=10, validator=_in_range)
    synthetic_step_ticks: int = attrs.field(default=1, validator=_in_range)
    # per level, base-asset text; None: 100,000 USDT notional
    synthetic_qty: str | None = attrs.field(default=None, validator=attrs.validators.optional(_positive_decimal))
    insurance_fund: str = attrs.field(default="1000000", validator=_usdt_at_least_zero)  # USDT in the fund at the start
    symbol: str | None = None  # replay only this symbol (default: every symbol found)
    # instruments: the catalogue's spec in force at the data's time unless these say otherwise
    # a grid for every symbol ("0.01") or symbol by symbol ("CTKUSDT=0.00001,AKROUSDT=0.00001")
    tick_size: str | None = attrs.field(default=None, validator=attrs.validators.optional(_grids))
    lot_size: str | None = attrs.field(default=None, validator=attrs.validators.optional(_grids))
    instruments: tuple[str, ...] = attrs.field(default=(), converter=tuple)  # exchangeInfo / leverageBracket / TOML files
    skip_bad_rows: bool = False
    log_book: bool = False  # put every book delta in events.jsonl too
    #: ``--collateral-mode``: the strategy's account's (``multi-assets``: switched at the start;
    #: see exsim.replay.collateral)
    collateral_mode: str = attrs.field(default=SINGLE_ASSET, validator=_one_of(COLLATERAL_MODES))
    #: ``--haircut-schedule``: TOML files of ``[[haircut_schedule]]`` entries (multi-assets runs)
    haircut_schedule: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    #: ``--haircuts``: the shipped collateral rules of a venue (``binance`` / ``bybit``,
    #: exsim/instruments/data/collateral_*.json) in force from the first instant
    haircuts: str | None = None
    #: ``--venue``: whose rules the run follows (exsim.venues.profile; binance: today's engine path)
    venue: str = attrs.field(default="binance", converter=str.lower, validator=_one_of(VENUE_NAMES))


@attrs.define
class _Ladder:
    """Synthetic liquidity of one symbol without replayed depth."""

    qty_lots: int = 0
    bid_ticks: int = 0  # quoted best bid (0: none)
    bid_lots: int = 0
    ask_ticks: int = 0
    ask_lots: int = 0
    last_ticks: int = 0  # last trade
    version: int = 0  # bumped by every quote / trade
    built_version: int = -1
    #: the ladder of the last build: (bid top, ask top, steps from the tops to the first
    #: level (0 quoted, 1 around the last trade), quoted bid lots, quoted ask lots);
    #: None before the first. Its levels are :meth:`Replay._ladder_ranges`.
    shape: tuple[int, int, int, int, int] | None = None


class _Recorder(Recorder):
    """The recorder, whose summary also says where the run's checkpoints are, the
    settings in force and whether the run finished; it leaves the book deltas out of
    ``events.jsonl`` when the exchange emits them for another sink (``book_deltas``)
    but the run does not log them (``log_book``)."""

    replay: Replay  # (the whole run: this summary reads more of it than ReplayForRecorder lists)
    drop_book_deltas = False

    def log(self, events: list[Any]) -> None:
        if self.drop_book_deltas:
            events = [e for e in events if type(e) is not BookDelta]
        Recorder.log(self, events)  # (named, not super(): once per event batch)

    def summary(self) -> dict[str, Any]:
        summary = super().summary()
        if self.replay.gaps_jumped:  # (only then: the summaries of runs without one are unchanged)
            summary["gaps_jumped"] = self.replay.gaps_jumped
        info = self.replay.checkpoint_info()
        if info is not None:
            summary["checkpoint"] = info
        summary["settings"] = self.replay.settings_in_force()
        summary["venue"] = self.replay.venue.name
        summary["run_key"] = self.replay.run_key
        stopped = self.replay.stopped
        summary["complete"] = stopped is None
        if stopped is not None:
            summary["incomplete_reason"] = stopped
        return summary


#: what each coin's insurance fund holds at the start of a replay (``--insurance-fund`` is in
#: USD stablecoins): 10 BTC was about 600,000 USD in 2024. Binance's COIN-M funds are
#: far larger; a fund's size matters only when bad debt or ADL happens, and the summary
#: reports each asset's fund at the end
COIN_INSURANCE_FUND: Final = "10"


def insurance_fund_seeds(config: ReplayConfig, instruments: Sequence[Any]) -> dict[str, int]:
    """``{asset: atoms}`` in each settlement asset's insurance fund at the start:
    ``--insurance-fund`` in every USD stablecoin, :data:`COIN_INSURANCE_FUND` units of every
    coin (a coin-margined run's fund is not 1,000,000 BTC)."""
    from exsim.results.assets import USD_ASSETS

    usd = to_atoms(config.insurance_fund, field="insurance_fund")
    coin = to_atoms(COIN_INSURANCE_FUND, field="insurance_fund")
    return {a: usd if a in USD_ASSETS else coin for a in dict.fromkeys(i.margin_asset for i in instruments)}


def run_deposits(config: ReplayConfig, home_asset: str, assets: list[str], instruments: Sequence[Any]) -> dict[str, int]:
    """``{asset: atoms}`` each account deposits at the start: the ``--deposit`` amounts, else
    ``--balance`` in the home asset, which must then be a USD stablecoin (a coin-margined run
    says how much coin: there is no sensible default)."""
    from exsim.results.assets import USD_ASSETS, parse_deposits

    if config.deposits:
        if config.collateral_mode == SINGLE_ASSET:  # an asset no instrument settles in is collateral only
            for asset in deposit_assets(config.deposits, home_asset):
                if asset not in assets:
                    raise InputError(
                        f"no instrument of this run settles in {asset} (they settle in {', '.join(assets)}); to hold "
                        f"{asset} as collateral for them, add --collateral-mode multi-assets", field="--deposit",
                    )
        return parse_deposits(config.deposits, home_asset=home_asset, assets=assets, field="--deposit")
    if home_asset not in USD_ASSETS:
        settles = ", ".join(i.symbol for i in instruments if i.margin_asset == home_asset)
        raise InputError(f"this run settles in {home_asset} ({settles}): say how much with --deposit, e.g. --deposit 0.05{home_asset} "
                         f"(--balance is in USDT)", field="--deposit")
    atoms = to_atoms(config.balance, field="balance")
    return {home_asset: atoms} if atoms else {}


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during :meth:`Replay.run`: what was done (``rows``, ``sim_ts_ns``), where
    the partial summary is, and the snapshot to resume from (None without checkpoints)."""

    def __init__(self, rows: int, sim_ts_ns: int, summary_path: Path | None, resume_from: Path | None) -> None:
        super().__init__(rows, sim_ts_ns)
        self.rows = rows
        self.sim_ts_ns = sim_ts_ns
        self.summary_path = summary_path
        self.resume_from = resume_from


def _shown_path(filename: str) -> str:
    """A source file as a user names it: relative to the current folder when under it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return filename


def strategy_error(strategy: Strategy, exc: BaseException) -> StrategyError | None:
    """The one-line error of an exception raised inside one of ``strategy``'s hooks
    (``strategy holder.on_mark (examples/holder.py:42): ZeroDivisionError: ...``), or None
    when no hook of it is on the traceback (the error is not the strategy's).

    The hook is the outermost frame running a method of the strategy; the line, the
    innermost frame in the strategy's own source file (or the hook's, when the error is
    raised deeper, in exsim code the strategy called)."""
    hook = None
    line = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if hook is None and frame.f_locals.get("self") is strategy:
            hook = (frame.f_code.co_name, frame.f_code.co_filename)
        if hook is not None and frame.f_code.co_filename == hook[1]:
            line = (frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if hook is None or line is None:
        return None
    name = type(strategy).__name__.lower() if type(strategy).__module__.startswith("exsim_examples") else type(strategy).__name__
    text = str(exc)
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return StrategyError(message, where=f"strategy {name}.{hook[0]} ({_shown_path(line[0])}:{line[1]})")


class Replay:
    """One replay run. Build it, then :meth:`run` (once), or run it in steps:
    :meth:`start`, :meth:`advance` as often as wanted, :meth:`finish` (``exsim serve``
    does, with traders' commands coming in through :meth:`submit_command`, ``accounts``
    accounts, and ``book_deltas``: BookDelta events to the sinks, kept out of
    ``events.jsonl`` unless the config's ``log_book``).

    Checkpoints: ``checkpoint_every`` rows, write a snapshot of the whole run to
    ``checkpoint_dir``/``replay.snapshot`` (default: ``out_dir``/``checkpoint``, or
    ``exsim-checkpoint`` without ``out_dir``), replacing the previous one atomically;
    ``on_checkpoint(info)`` is called after each. ``resume``: a snapshot to continue from;
    build the replay with the same files and options as the run that wrote it (it refuses
    otherwise). ``run_options``: further options to record in snapshots and compare on
    resume (the command line's strategy spec and parameters). Snapshots are plain data: a
    resume runs no code a snapshot names (see :mod:`exsim.replay.checkpoint`).

    ``out_dir`` follows :mod:`exsim.replay.rundir`'s policy: it must be new, empty or a
    run of the same files, options and strategy (``force``: replace exsim's own files of
    whatever run it holds); it is locked while the run writes and marked incomplete until
    the run ends. Settings the config fixes (leverage, margin mode) win over the
    strategy's (:mod:`exsim.replay.strategy`); a setting the venue or the data cannot
    serve is an :class:`InputError` here, before anything runs.

    ``row_opener``: where the input files' rows come from (None: :func:`open_rows`, the
    files' readers). A stand-in gives, for each file, the format name and rows its reader
    would (``exsim sweep``'s columnar cache: :mod:`exsim.sweep.cache`); it may also carry
    a ``format_kinds(path, format)`` attribute standing for :func:`format_kinds`.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        strategy: Strategy,
        config: ReplayConfig = ReplayConfig(),
        *,
        rows: tuple[str, frozenset[int], Iterable[Row]] | None = None,
        index_files: Sequence[str | Path] = (),
        formats: Sequence[str | None] | None = None,
        out_dir: str | Path | None = None,
        progress: Callable[[int, int], None] | None = None,
        instruments: dict[str, Instrument] | None = None,
        checkpoint_every: int | None = None,
        checkpoint_dir: str | Path | None = None,
        on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
        resume: str | Path | None = None,
        run_options: dict[str, Any] | None = None,
        force: bool = False,
        accounts: int = 1,
        book_deltas: bool = False,
        row_opener: RowOpener | None = None,
    ) -> None:
        if not files and rows is None:
            raise InputError("no input files given", field="files")
        if checkpoint_every is not None and (type(checkpoint_every) is not int or checkpoint_every <= 0):
            raise InputError(f"{checkpoint_every!r} is not a positive whole number of rows", field="checkpoint_every")
        if (checkpoint_every is not None or resume is not None) and rows is not None:
            raise InputError("checkpoints need input files (rows given in memory cannot be re-read)", field="rows")
        if type(accounts) is not int or accounts < 1:
            raise InputError(f"{accounts!r} is not a positive whole number of accounts", field="accounts")
        self.config = config
        self.strategy = strategy
        self.progress = progress
        #: where an input file's rows come from: ``open_rows`` (its reader), or a stand-in
        #: giving the same format name and rows (``exsim sweep``'s columnar cache)
        self._open_rows: RowOpener = row_opener or _read_file
        #: accounts 1 (the strategy's, ACCOUNT_ID: the run's story is its) .. ``accounts``,
        #: each given the deposit and settings of the config at the start (``exsim serve``)
        self.accounts = accounts
        #: BookDelta events to the sinks (in events.jsonl only with ``log_book``)
        self.book_deltas = book_deltas
        #: stop the loop at the data's end (after its last timestamp; later timers wait)
        self.stop_at_data_end = False
        # checkpoints (none of these is saved in a snapshot: they are this process's)
        self.checkpoint_every = checkpoint_every
        if checkpoint_every is None:
            self.checkpoint_path: Path | None = None
        else:
            folder = checkpoint_dir if checkpoint_dir is not None else (Path(out_dir) / "checkpoint" if out_dir is not None else "exsim-checkpoint")
            self.checkpoint_path = Path(folder) / SNAPSHOT_NAME
        self.on_checkpoint = on_checkpoint
        self.run_options = dict(run_options or {})
        self.resumed_from: dict[str, Any] | None = None
        self._out_dir = out_dir
        self._checkpoints: list[dict[str, Any]] = []  # what each snapshot of this process was
        self._checkpoint_pending = False
        self._fast_forwarding = False  # re-reading inputs on resume: no checkpoints then
        self._restored = False
        self._wall0 = 0.0
        self._open_files: list[Any] = []  # files this process opened for a resumed run
        self.commands_sent = 0
        self._started_at = time.time()  # (wall clock: which snapshot files this process wrote)
        self.notes: list[tuple[int, str]] = []
        fmts = list(formats) if formats is not None else [None] * len(files)
        if len(fmts) != len(files):
            raise InputError("give one format per file (or none)", field="format")
        for given, field in ((files, "files"), (index_files, "index_file")):
            twice = repeated_file(given)
            if twice is not None:  # its rows would be replayed twice: every trade and level doubled
                first, again = twice
                same = "given twice" if first == again else f"the same file as {first}"
                raise InputError(f"{same}: each input is replayed once; give it once", where=again, field=field)
        if self.checkpoint_path is not None:  # what a run killed while writing a snapshot left
            remove_stale_temporaries(self.checkpoint_path.parent)
        self.skipped_lines: list[str] = []  # lines readers refused (skip_bad_rows): the errors
        # 1. readers, and the symbols each file holds (peek at its first rows)
        self.inputs: list[dict[str, Any]] = []
        #: per input: its first and last row's time (the last known once it is read to its end)
        self.input_spans: list[dict[str, Any]] = []
        streams: list[Iterator[Row]] = []
        rereads: list[tuple[str, str, set[int], Generator[Row, None, None]] | None] = []  # skip_bad_rows: to read a file again
        symbols: list[str] = []
        heads: list[Row] = []  # the rows peeked at, every file (the grids the instruments must fit)
        first_where: dict[str, str] = {}  # symbol -> its first row's "path:line" (for errors)
        kinds_of: list[frozenset[int]] = []
        premium_symbols: set[str] = set()  # (kept as self._premium_symbols for _build)
        self._premium_symbols = premium_symbols
        earlier: Any = None  # the previous input's reader: a capture's later part continues it (link_parts)
        for path, fmt in zip(files, fmts):
            fmt, file_rows = self._open_rows(path, fmt, config.symbol)
            earlier = file_rows = link_parts(earlier, file_rows)
            check_traded(path, fmt, config.symbol)  # a spot file, or a COIN-M file under a USDⓈ-M --symbol (or the reverse): one line (exsim.readers.markets)
            if config.skip_bad_rows:
                skipped: set[int] = set()
                file_rows = self._rows_past_bad_lines(str(path), fmt, skipped)
                rereads.append((str(path), fmt, skipped, file_rows))
            head = list(itertools.islice(file_rows, _PEEK_ROWS))
            heads.extend(head)
            for r in head:
                if r.symbol not in first_where:
                    first_where[r.symbol] = r.where
                    symbols.append(r.symbol)
            self.inputs.append({"path": str(path), "format": fmt})
            streams.append(itertools.chain(head, file_rows))
            kinds_of.append(getattr(row_opener, "format_kinds", format_kinds)(path, fmt))
            if PREMIUM in kinds_of[-1]:  # the venue's premium index is replayed for these symbols
                premium_symbols.update(r.symbol for r in head)
            self.input_spans.append({"first_ts_ns": head[0].ts_ns if head else None, "last_ts_ns": None, "done": False})
        if rows is not None:  # rows already in memory: (name, the kinds they hold, rows)
            name, kinds_given, given = rows
            it = iter(given)
            head = list(itertools.islice(it, _PEEK_ROWS))
            heads.extend(head)
            for r in head:
                if r.symbol not in first_where:
                    first_where[r.symbol] = r.where
                    symbols.append(r.symbol)
            self.inputs.append({"path": name, "format": "rows"})
            streams.append(itertools.chain(head, it))
            rereads.append(None)
            kinds_of.append(kinds_given | {TRADE})  # (rows in memory count as price data)
            if PREMIUM in kinds_given:
                premium_symbols.update(r.symbol for r in head)
            self.input_spans.append({"first_ts_ns": head[0].ts_ns if head else None, "last_ts_ns": None, "done": False})
        if config.symbol is not None:
            symbols = [config.symbol]
        if not symbols:
            raise InputError("the input holds no rows", where=self.inputs[0]["path"])
        insts = instruments or {}
        self.first_where = first_where  # (errors about a symbol name its first row)
        chosen, notes = _choose_instruments([s for s in symbols if s not in insts], heads, first_where, config)
        by_symbol = dict(zip((s for s in symbols if s not in insts), zip(chosen, notes)))
        self.instruments = [insts[s] if s in insts else by_symbol[s][0] for s in symbols]
        #: per symbol, what instrument spec the run used and where it came from (the summary says it)
        self.instrument_notes = [f"{s}: given by the caller" if s in insts else by_symbol[s][1] for s in symbols]
        self.symbols = [i.symbol for i in self.instruments]
        if any(i.symbol != s for i, s in zip(self.instruments, symbols)):
            raise InputError(f"symbols {symbols} must be given as exchange symbols like BTCUSDT", field="symbol")
        #: the venue whose rules the run follows (``--venue``): its instruments under its terms
        #: (Binance: the instruments themselves, untouched)
        self.venue = run_venue(config.venue)
        if not self.venue.is_binance:
            fallback: list[str] = []
            self.instruments = [venue_instruments(self.venue, [inst], where=first_where.get(inst.symbol, ""),
                                                  notes=fallback)[0] for inst in self.instruments]
            self.instrument_notes = [f"{note}; under {self.venue.title}'s terms (--venue {self.venue.name}: its margin "
                                     "tiers, maintenance-margin basis, fees, funding interval, no clearance fee)"
                                     for note in self.instrument_notes] + fallback
        check_collateral_mode(self.venue, config.collateral_mode == MULTI_ASSETS)
        kinds = frozenset().union(*kinds_of)
        # kinds a file is sure to hold (a raw WebSocket capture only may: it depends on
        # which streams were recorded)
        certain = frozenset().union(*(k for i, k in zip(self.inputs, kinds_of) if not i["format"].startswith("binance-ws")))
        self._check_settings(kinds, certain)
        # 2. the market model's choices
        self.depth_replayed = LEVEL in kinds
        if config.mark == "replayed" or (config.mark == "auto" and MARK in certain):
            self.mark_mode = "replayed"
        elif config.mark == "auto" and MARK in kinds:
            self.mark_mode = "auto"  # computed until the first replayed mark, replayed after
        else:
            self.mark_mode = "computed"
        self.index_replayed = INDEX in kinds
        if config.funding == "auto":
            self.funding_mode = "replayed" if FUNDING in kinds else "computed"
        else:
            self.funding_mode = config.funding
        self.model = MarketModel(
            self.instruments,
            marks_replayed=self.mark_mode != "computed",
            funding_replayed=self.funding_mode == "replayed",
            skip_bad_rows=config.skip_bad_rows,
        )
        if config.skip_bad_rows:  # a line with a bad value is left out whole, file by file (where its rows are adjacent)
            streams = [
                self.model.whole_lines(stream) if again is None else self._rows_past_bad_values(stream, *again)
                for stream, again in zip(streams, rereads)
            ]
        # the run spans the price data: auxiliary series (funding, index, premium) are read
        # to their end, but their rows before its first row and past its last are left out
        self.input_is_price = [bool(k & PRICE_KINDS) for k in kinds_of]
        self._price_streams_left = sum(self.input_is_price)
        self._price_start_ns = min(
            (sp["first_ts_ns"] for sp, price in zip(self.input_spans, self.input_is_price) if price and sp["first_ts_ns"] is not None),
            default=0,
        )
        self._price_end_ns = 0
        self.rows_before_price_start = 0
        self.rows_after_price_end = 0
        streams = [self._spanned(i, stream) for i, stream in enumerate(streams)]
        merged = merge_rows(streams)
        if self._price_streams_left and not all(self.input_is_price):
            merged = self._until_price_end(merged)
        self.rows = merged
        # index proxies: other markets' quotes (a spot capture) standing in for the index
        self.index_files = [str(p) for p in index_files]
        inst_by_symbol = {i.symbol: i for i in self.instruments}
        self.index_proxy: dict[str, int] = {}  # symbol -> latest index proxy (ticks)
        # multi-asset collateral (exsim.replay.collateral): the assets with a book, where each
        # one's index comes from, the haircut schedule
        self.multi_assets = config.collateral_mode == MULTI_ASSETS
        margin_assets = list(dict.fromkeys(i.margin_asset for i in self.instruments))
        #: assets held as collateral only (deposited, settling no instrument of the run): a
        #: book each in the ledger (multi-assets runs)
        self.collateral_only: list[str] = []
        if self.multi_assets:
            held = deposit_assets(config.deposits, margin_assets[0])
            self.collateral_only = [a for a in held if a not in margin_assets]
        book_assets = margin_assets + self.collateral_only
        if self.multi_assets:
            sources = [
                index_items(self._index_rows(p, None, index_rows=True), self.symbols, book_assets, IndexQuote)
                for p in self.index_files
            ]
        else:  # (as before: a single-asset run's index files are index proxies only)
            sources = [index_quotes(self._index_rows(p, config.symbol), inst_by_symbol) for p in self.index_files]
        #: the loop's sources besides the market data (1, 2, ...: a snapshot counts their items)
        self.index_sources: list[Iterator[Any]] = []
        self.source_names = [f"index proxy {p}" for p in self.index_files]
        self.file_indexed: set[str] = set()  # collateral assets an index file prices (their marks are not followed)
        firsts: dict[str, CollateralQuote] = {}  # each such asset's first price in the files
        for src in sources:
            head = list(itertools.islice(src, _PEEK_ROWS)) if self.multi_assets else []
            for item in head:
                if type(item) is CollateralQuote and item.asset not in firsts:
                    firsts[item.asset] = item
            self.index_sources.append(itertools.chain(head, src))
        self.file_indexed.update(firsts)
        #: symbol -> (collateral asset, quote) whose index follows the symbol's mark
        self.mark_followers: dict[str, tuple[str, str]] = {}
        #: asset -> how its collateral index is made (the summary says it)
        self.collateral_sources: dict[str, str] = {}
        self._collateral_seeds: list[CollateralQuote] = []  # prices at the start (scheduled by _start)
        self.collateral_index: dict[str, int] = {}  # asset -> the last index sent (USD e8)
        if self.multi_assets:
            self._plan_collateral(book_assets, firsts, heads)
        self.haircut_entries: list[tuple[int | None, int, ScheduledRule]] = []
        if config.haircuts is not None:
            if not self.multi_assets:
                raise InputError("shipped haircuts value multi-assets collateral: add --collateral-mode multi-assets",
                                 field="--haircuts")
            # at the first instant, before any schedule entry of that time (file order)
            shipped = collateral_rules(config.haircuts)
            for asset in book_assets:
                rule = shipped.get(asset)
                if rule is not None:
                    entry = ScheduledRule(0, asset, rule.bid_buffer_e8, rule.ask_buffer_e8, rule.tiers, f"--haircuts {config.haircuts}")
                    self.haircut_entries.append((None, 0, entry))
        for path in config.haircut_schedule:
            if not self.multi_assets:
                raise InputError("a haircut schedule changes multi-assets collateral: add --collateral-mode multi-assets",
                                 where=str(path), field="--haircut-schedule")
            for entry in read_haircut_schedule(path):
                if entry[2].asset not in book_assets:
                    raise InputError(
                        f"{entry[2].asset} has no book in this run (assets: {', '.join(book_assets)}): deposit it "
                        f"(--deposit 1{entry[2].asset}) or leave the entry out", where=entry[2].where, field="asset",
                    )
                self.haircut_entries.append(entry)
        if self.haircut_entries:
            self.index_sources.append(self._schedule_items())
            named = ([f"--haircuts {config.haircuts}"] if config.haircuts else []) + list(config.haircut_schedule)
            self.source_names.append("haircut schedule " + ", ".join(named))
        # 3. the run directory: this run's alone, locked, marked incomplete until the end
        self.run_key = self._run_key(files, fmts)
        self.stopped: str | None = None  # why the run stopped before its end
        self.strategy_settings: dict[str, dict[str, Any]] = {}  # symbol -> setting -> what the strategy set
        self._warned: set[str] = set()  # warnings given (once each)
        self.run_dir: RunDir | None = None
        if out_dir is not None:
            self.run_dir = RunDir(out_dir, self.run_key, force=force, resuming=resume is not None)
            self.run_dir.claim()
        try:
            self._build(config, out_dir, resume)
        except BaseException:
            if self.run_dir is not None:
                self.run_dir.not_started()
            raise

    def _build(self, config: ReplayConfig, out_dir: str | Path | None, resume: str | Path | None) -> None:
        """The venue, the loop and the strategy's hooks (then a snapshot's state, on resume)."""
        strategy = self.strategy
        # 4. the venue
        if self.collateral_only:  # (a book for each asset held as collateral only)
            self.ledger = Ledger(self.instruments, insurance_fund_atoms=insurance_fund_seeds(config, self.instruments),
                                 assets=tuple(self.collateral_only))
        else:
            self.ledger = Ledger(self.instruments, insurance_fund_atoms=insurance_fund_seeds(config, self.instruments))
        #: what each account deposits at the start, ``{asset: atoms}`` (``--deposit``, else ``--balance``)
        self.deposits = run_deposits(config, self.ledger.home_asset, list(self.ledger.assets), self.instruments)
        # (a resumed run reopens the run's events.jsonl itself, without truncating it)
        self.recorder = _Recorder(self, out_dir if resume is None else None)
        self.recorder.drop_book_deltas = self.book_deltas and not config.log_book
        self.exchange = Exchange(
            self.instruments,
            sinks=[self._on_events],
            queue_model=QUEUE_MODELS[config.queue_model],
            emit_book_deltas=config.log_book or self.book_deltas,
            ledger=self.ledger,
            computed_marks=self.mark_mode != "replayed",
            computed_funding=self.funding_mode == "computed",
            **exchange_venue(self.venue),
        )
        #: computed funding: the symbols whose premium index is the venue's, replayed (the
        #: others sample the book's at each index update); settlements so far, and how many
        #: came out at the interest rate (the premium inside the clamp: F = I)
        self.premium_replayed = sorted(self._premium_symbols & set(self.symbols)) if self.funding_mode == "computed" else []
        for sym in self.premium_replayed:
            premium_averager = self.exchange.markets[sym].premium
            assert premium_averager is not None
            premium_averager.replayed = True
        self.funding_settlements = 0
        self.funding_at_interest = 0
        priorities = dict(PRIORITY)
        priorities.update({IndexQuote: PRIORITY_MARKET_DATA, DepthUpdateId: PRIORITY_MARKET_DATA, ReplayedQuote: PRIORITY_MARKET_DATA, ReplayedGap: PRIORITY_MARKET_DATA, ReplayedPremium: PRIORITY_MARK, ReplayedBar: PRIORITY_MARKET_DATA,
                           CollateralQuote: PRIORITY_MARK, ScheduledRule: PRIORITY_MARK,
                           SetCollateralMode: PRIORITY_COMMAND, SetCollateralRule: PRIORITY_MARK, CollateralIndex: PRIORITY_MARK})
        self.loop = EventLoop(self, priorities=priorities)
        self.ctx = Context(self, ACCOUNT_ID)
        self.ladders: dict[str, _Ladder] = {} if self.depth_replayed else {s: _Ladder() for s in self.symbols}
        self.replayed_marks: set[str] = set()  # symbols whose marks are replayed now
        self.index_seen: set[str] = set()
        #: replayed best bid/ask vs the rebuilt book: every quote as it arrives ("raw"),
        #: and at the same venue update id ("aligned": quotes whose id is a diff's final
        #: id, compared once the book has applied that diff)
        self.quote_checks = {
            "quotes": 0,
            "price_match": 0,
            "size_match": 0,
            "aligned": 0,
            "aligned_price_match": 0,
            "aligned_size_match": 0,
            "not_aligned": 0,
        }
        self.quote_mismatches: list[dict[str, Any]] = []  # the first aligned mismatches
        self.book_update_id: dict[str, int] = {}  # the id the book stands at, per symbol
        self.pending_quotes: dict[str, deque[ReplayedQuote]] = {}  # quotes ahead of the book, by arrival
        self.gaps: list[str] = []
        #: symbol -> [lowest, highest] trade since the last periodic sample (for the plots)
        self.trade_ranges: dict[str, list[int]] = {s: [1 << 62, 0] for s in self.symbols}
        self.first_ts_ns = 0
        self.last_ts_ns = 0
        self.rows_done = 0
        self.data_done = False
        self.timers: list[Any] = []
        #: gaps longer than MAX_WALKED_GAP_NS in the market data read so far and not yet
        #: passed: (last row before, first row after) ns; the samplers jump them
        self.data_gaps: deque[tuple[int, int]] = deque()
        self.gaps_jumped = 0
        self.wall_s = 0.0
        # hooks the strategy overrides (the others are never called)
        base = Strategy
        cls = type(strategy)
        self._hook_trade = strategy.on_trade if cls.on_trade is not base.on_trade else None
        self._hook_book = strategy.on_book if cls.on_book is not base.on_book else None
        self._hook_mark = strategy.on_mark if cls.on_mark is not base.on_mark else None
        self._hook_fill = strategy.on_fill if cls.on_fill is not base.on_fill else None
        self._hook_order = strategy.on_order if cls.on_order is not base.on_order else None
        self._hook_liq = strategy.on_liquidation if cls.on_liquidation is not base.on_liquidation else None
        self._hook_funding = strategy.on_funding if cls.on_funding is not base.on_funding else None
        self._hook_funding_rate = strategy.on_funding_rate if cls.on_funding_rate is not base.on_funding_rate else None
        self._hook_bar = strategy.on_bar if cls.on_bar is not base.on_bar else None
        #: bars (exsim.replay.bars): the subscriptions in order, by symbol; what a replayed
        #: trade feeds (None: nothing; before on_start, the first timestamp's trades are held
        #: in _first_trades for the subscriptions on_start makes)
        self.bar_aggregators: list[BarAggregator] = []
        self.bar_feeds: dict[str, list[BarAggregator]] = {}
        self._first_trades: list[ReplayedTrade] | None = []
        self._bars_closed_ns = -1  # the last close time whose bars were delivered
        self._bar_feed: Callable[[ReplayedTrade], None] | None = self._hold_first_trade if self._hook_bar is not None else None
        self._dispatch: dict[type, Callable[[Any], None]] = {
            ReplayedTrade: self._on_trade,
            SetReplayedLevels: self._on_level,
            ReplayedQuote: self._on_quote,
            DepthUpdateId: self._on_depth_update_id,
            IndexQuote: self._on_index_quote,
            ReplayedPremium: self._on_premium,
            ReplayedGap: self._on_gap,
            ReplayedBar: self._on_file_bar,
            CollateralQuote: self._on_collateral_quote,
            ScheduledRule: self._on_scheduled_rule,
            SetMarkPrice: self._on_mark,
            SetIndexPrice: self._on_index,
            NewOrder: self._on_user_order,
            AmendOrder: self._on_user_order,
            NewOco: self._on_user_order,
            NewBracket: self._on_user_order,
        }
        if self._hook_book is None:  # nobody listens: straight to the exchange
            self._dispatch[SetReplayedLevels] = self.exchange.submit
        if not self.ladders:  # replayed depth: no synthetic ladder to bring up to date first
            for t in (NewOrder, AmendOrder, NewOco, NewBracket):
                self._dispatch[t] = self.exchange.submit
        self._handlers = self._event_handlers()
        if resume is not None:
            restore(self, resume)

    def _write_instruments(self) -> None:
        """``instruments.json`` in the run directory: the specs the run used (a dated spec may
        differ from today's), so ``exsim explain`` prints prices on the run's own grid."""
        if self._out_dir is None:
            return
        with atomic_write(Path(self._out_dir) / "instruments.json") as f:
            f.write(json.dumps([instrument_to_dict(i) for i in self.instruments], indent=1) + "\n")

    # ------------------------------------------------------------------ settings
    def _check_settings(self, kinds: frozenset[int], certain: frozenset[int]) -> None:
        """Settings the venue would refuse or the data cannot serve: an error before the run.

        ``kinds``: the row kinds the inputs' formats may hold; ``certain``: those they
        surely hold. A replayed mark or funding source on a raw capture that may hold
        none is checked by reading the captures up to their first such row (all of a
        capture that has none)."""
        cfg = self.config
        for setting, kind in (("mark", MARK), ("funding", FUNDING)):
            if getattr(cfg, setting) == "replayed" and kind in kinds and kind not in certain and not self._any_row_of(kind):
                kinds = kinds - {kind}
        if cfg.leverage is not None:
            for inst in self.instruments:
                first = inst.brackets.brackets[0]
                if cfg.leverage > first.max_leverage:
                    raise InputError(
                        f"{cfg.leverage}x is above {inst.symbol}'s maximum {first.max_leverage}x (the venue refuses it; "
                        f"larger positions allow less: see the brackets)",
                        field="leverage",
                    )
        for setting, kind, what, instead in (
            ("mark", MARK, "mark prices", "--mark computed (or auto), or add a mark price file (e.g. Binance markPriceKlines)"),
            ("funding", FUNDING, "funding rates", "--funding computed, none (or auto), or add a funding file (e.g. Binance fundingRate)"),
        ):
            if getattr(cfg, setting) == "replayed" and kind not in kinds:
                names = ", ".join(sorted({i["format"] for i in self.inputs}))
                raise InputError(f"replayed: the inputs ({names}) hold no {what}; use {instead}", field=setting)

    def _any_row_of(self, kind: int) -> bool:
        """Whether an uncertain input (a raw capture) holds a row of ``kind`` (read until one comes)."""
        for i in self.inputs:
            if i["format"].startswith("binance-ws") and i["format"] != "rows":
                rows = self._open_rows(i["path"], i["format"], self.config.symbol)[1]
                try:
                    if any(r.kind == kind for r in rows):
                        return True
                except InputError:  # a bad line first: the run itself says so (or skips it)
                    return True
                finally:
                    close = getattr(rows, "close", None)
                    if close is not None:
                        close()
        return False

    def _run_key(self, files: Sequence[str | Path], fmts: Sequence[str | None]) -> str:
        """What makes two runs the same command: inputs, options, strategy (a hash)."""
        what = {
            "files": [str(Path(f).resolve()) for f in files],
            "formats": list(fmts),
            "index_files": [str(Path(f).resolve()) for f in self.index_files],
            "config": config_dict(self.config),
            "strategy": f"{type(self.strategy).__module__}:{type(self.strategy).__qualname__}",
            "run_options": self.run_options,
        }
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def strategy_setting(self, symbol: str, setting: str, value: Any) -> bool:
        """A strategy asks for ``setting`` (``leverage`` / ``margin_mode``) = ``value`` on
        ``symbol``: True to send it; False when the config fixed that setting (the
        command line wins), with a warning in the run's story when the values differ."""
        fixed = getattr(self.config, setting)
        if fixed is None:
            self.strategy_settings.setdefault(symbol, {})[setting] = value
            return True
        if value != fixed:
            option = "--" + setting.replace("_", "-")
            shown = (lambda v: f"{v}x") if setting == "leverage" else str
            text = (
                f"warning: the strategy set {setting.replace('_', ' ')} {shown(value)} on {symbol}; the command line's "
                f"{option} {fixed} wins ({shown(fixed)} in force)"
            )
            if text not in self._warned:
                self._warned.add(text)
                self.note(self.loop.now_ns, text)
        return False

    def settings_in_force(self) -> dict[str, Any]:
        """The settings the run ran with, and where each came from (for the summary)."""
        cfg = self.config
        acct = self._account()
        per_symbol = {}
        for inst in self.instruments:
            sym = inst.symbol
            entry: dict[str, Any] = {}
            for setting in ("leverage", "margin_mode"):
                if getattr(cfg, setting) is not None:
                    source = "command line"
                elif setting in self.strategy_settings.get(sym, {}):
                    source = "strategy"
                else:
                    source = "venue default"
                entry[setting + "_from"] = source
            lev = self.ledger.leverage(acct, sym) if acct is not None else self.ledger.default_leverage
            mode = self.ledger.margin_mode(acct, sym) if acct is not None else MARGIN_MODES["cross"]
            entry["leverage"] = lev
            entry["margin_mode"] = "isolated" if mode == MARGIN_MODES["isolated"] else "cross"
            entry["clearance_fee"] = f"{format_rate_e8(inst.clearance_fee_e8 * 100)} %"  # (as the instrument line says it)
            per_symbol[sym] = {k: entry[k] for k in ("leverage", "leverage_from", "margin_mode", "margin_mode_from", "clearance_fee")}
        return {
            "symbols": per_symbol,
            "mark": (
                self.mark_mode
                if self.mark_mode != "auto"
                else "computed, replayed from the first mark row on (" + ("seen" if self.replayed_marks else "none came") + ")"
            )
            + ("" if cfg.mark == "auto" else " (--mark)"),
            "funding": self.funding_mode + ("" if cfg.funding == "auto" else " (--funding)"),
            "latency_ns": cfg.latency_ns,
            "queue_model": QUEUE_MODELS[cfg.queue_model],
            "collateral_mode": cfg.collateral_mode + (" (--collateral-mode)" if self.multi_assets else " (default)"),
            "venue": self.venue.name + (" (default)" if self.venue.is_binance else " (--venue)"),
        }

    # ------------------------------------------------------------------ running
    def run(self) -> dict[str, Any]:
        """Run to the end of the data; returns the summary (also written to ``out_dir``).

        A replay built with ``resume`` continues where its snapshot was taken. An
        exception a strategy hook raises ends the run as a :class:`StrategyError`; Ctrl-C
        as :class:`RunInterrupted`, after writing the partial run (marked incomplete).
        The same as :meth:`start`, :meth:`advance` (to the end) and :meth:`finish`.
        """
        try:
            self.start()
            self.advance()
            return self.finish()
        finally:
            self._close_inputs()

    # A run in steps (``exsim serve`` drives its replay so): start() once, advance() as
    # often as wanted, finish() once. Errors end the run as run() says (a failed step
    # abandons the run directory).
    def start(self) -> None:
        """Queue the run's sources, settings and timers (a resumed run has them already).
        The loop's clock is still before the first row: :attr:`first_ts_ns` is known."""
        with self._failing_run():
            if not self._restored:
                self._start()
            self._restored = True  # (the queue holds the run now, as a resumed run's does: queued once)

    def advance(self, until_ns: int | None = None, max_events: int | None = None) -> int:
        """Run the loop (:meth:`EventLoop.run`, same arguments) up to ``until_ns`` or for
        ``max_events`` items (both None: to the end of the data); returns how many ran.
        :attr:`data_done` says when the data has ended; with :attr:`stop_at_data_end` the
        loop stops there, after the last row's timestamp has run (its clock stays)."""
        loop = self.loop
        with self._failing_run():
            self._wall0 = wall0 = time.perf_counter()
            try:
                ran = loop.run(until_ns, max_events)
            except InputError as exc:  # a row past the peeked ones off the grid: say what to pass
                if strategy_error(self.strategy, exc) is not None:
                    raise  # (the strategy's own mistake: named as its hook's, below)
                raise _grid_hint(exc, self.symbols) from None
            self.wall_s += time.perf_counter() - wall0  # (a resumed run adds to the snapshot's)
            self._wall0 = time.perf_counter()
        return ran

    def finish(self, *, run_queued: bool = True) -> dict[str, Any]:
        """The strategy's ``on_end``, then what is still queued (what ``on_end`` sent;
        ``run_queued=False``: nothing more runs, the state stays as it is — a served run's
        timers far ahead, say), the checks, the summary and the run directory made final;
        returns the summary. Before the data's end (a served run stopped early) the rest
        of the data is not run: the summary's figures are those of the moment, and its
        notes say where it stopped."""
        loop = self.loop
        try:
            with self._failing_run():
                if not self.data_done:
                    self.rows_done = sum(self.model.counts)
                    self.last_ts_ns = loop.now_ns
                    self.note(loop.now_ns, f"stopped before the data's end, after {self.rows_done:,} rows")
                self.strategy.on_end(self.ctx)
                if self.data_done and run_queued:
                    loop.run()  # what on_end sent
                self.exchange._check()
                self.ledger._check()
                summary = self.recorder.finish()
                self._write_instruments()
        finally:
            self._close_inputs()
        if self.run_dir is not None:
            self.run_dir.finish()
        return summary

    def close(self) -> None:
        """Close the input files of a replay built but not run (:meth:`run` closes its own)."""
        self._close_inputs()

    def _close_inputs(self) -> None:
        for f in self._open_files:
            f.close()
        self._open_files.clear()

    @contextlib.contextmanager
    def _failing_run(self) -> Iterator[None]:
        """What an error in a step of the run does: Ctrl-C writes the partial run
        (:class:`RunInterrupted`); an exception raised in a strategy hook becomes its
        :class:`StrategyError`; any error abandons the run directory."""
        try:
            yield
        except RunInterrupted:  # (already written)
            raise
        except KeyboardInterrupt:
            raise self._interrupted() from None
        except Exception as exc:
            error: Exception | None = strategy_error(self.strategy, exc)
            rec = self.recorder
            if error is None and isinstance(exc, OSError) and exc.filename is None and rec.jsonl is not None and rec.out_dir is not None:
                # a write that failed mid-run (a full disk): the file written as the run goes
                error = OSError(exc.errno, exc.strerror or str(exc), str(rec.out_dir / "events.jsonl"))
            if self.run_dir is not None:
                self.run_dir.abandon(f"failed: {error or exc}")
            if error is not None:
                raise error from exc
            raise

    def submit_command(self, command: Any) -> list[Any]:
        """A trader's command reaching the venue now, outside the loop's queue (``exsim
        serve`` calls it when the command's arrival comes up): handled as a strategy's
        command is (an order first brings the synthetic depth up to date); returns the
        events of the command's own ``exchange.submit`` (a copy), liquidations it caused
        included. O(the command's work)."""
        if type(command) in _USER_ORDERS:
            self._refresh_ladder(command.symbol)
        got: list[Any] = []
        grab = got.extend
        sinks = self.exchange.sinks
        sinks.append(grab)
        try:
            self.exchange.submit(command)
        finally:
            sinks.remove(grab)
        return got

    def _snapshot_to_resume(self) -> bool:
        """Whether ``checkpoint_path`` holds a snapshot of this run: written by it (the
        interrupt may come between the file's rename and its record), or resumed from."""
        path = self.checkpoint_path
        if path is None or not path.is_file():
            return False
        return bool(self._checkpoints) or self.resumed_from is not None or path.stat().st_mtime >= self._started_at

    def _interrupted(self) -> RunInterrupted:
        """Ctrl-C: write what the run has (its summary marked incomplete), say how to go on."""
        rows = sum(self.model.counts)
        now = self.loop.now_ns
        snapshot = self.checkpoint_path if self._snapshot_to_resume() else None
        self.stopped = f"interrupted (Ctrl-C) after {rows:,} rows, at simulated time {utc_text(now)[:23]}Z"
        self.rows_done, self.last_ts_ns = rows, now
        summary_path = None
        if self.run_dir is not None:
            try:  # the figures of the moment it stopped (best effort: the error to report is the interrupt)
                self.wall_s += time.perf_counter() - self._wall0
                self.recorder.finish()
                summary_path = self.run_dir.path / "summary.json"
            except Exception:
                summary_path = None
            resume = f"resume with --resume {snapshot}" if snapshot is not None else "run the command again"
            self.run_dir.abandon(self.stopped, resume=resume)
        return RunInterrupted(rows, now, summary_path, snapshot)

    def market_items(self) -> Iterator[Any]:
        """The loop's market-data source: the merged rows through the market model.

        Deterministic: a checkpoint's resume builds it again and skips the items the
        snapshot's run had read. Sets :attr:`first_ts_ns`.
        """
        rows = iter(self.rows)
        first = next(rows, None)
        if first is None:
            raise InputError("the input holds no rows", where=self.inputs[0]["path"])
        self.first_ts_ns = first.ts_ns
        return self._commands(itertools.chain((first,), rows))

    def _start(self) -> None:
        """Queue the run's sources, settings and timers (a resumed run has them already)."""
        loop = self.loop
        loop.add_source(self.market_items(), name="market data")  # source 0
        for name, source in zip(self.source_names, self.index_sources):  # sources 1, 2, ...
            loop.add_source(source, name=name)
        t0 = self.first_ts_ns
        cfg = self.config
        home = self.ledger.home_asset
        for seed in self._collateral_seeds:  # each collateral asset's index at the start (before the mode switch)
            if seed.ts_ns >= t0 and seed.source == FROM_FILE or seed.source == SEED:
                if seed.ts_ns > t0:
                    self.note(t0, f"{seed.asset} collateral index: the first price in the data ({format_atoms(seed.price_e8)} "
                                  f"{seed.quote}, at {utc_text(seed.ts_ns)[11:23]}) stands from the start until then")
                loop.schedule(seed._replace(ts_ns=t0, source=SEED), priority=PRIORITY_COMMAND)
        for account in range(ACCOUNT_ID, ACCOUNT_ID + self.accounts):
            for asset, atoms in self.deposits.items():  # (the home asset's Deposit as before: linear runs unchanged)
                loop.schedule(Deposit(t0, account, atoms) if asset == home else Deposit(t0, account, atoms, asset))
            if self.multi_assets:  # after the deposits: a wallet of any asset may be collateral from the start
                loop.schedule(SetCollateralMode(t0, account, MULTI_ASSETS), priority=PRIORITY_COMMAND)
            for sym in self.symbols:
                if cfg.margin_mode is not None:
                    loop.schedule(SetMarginMode(t0, account, sym, MARGIN_MODES[cfg.margin_mode]))
                if cfg.leverage is not None:
                    loop.schedule(SetLeverage(t0, account, sym, cfg.leverage))
        loop.call_at(t0, self._strategy_start, priority=PRIORITY_COMMAND)
        sampler = self._sampler
        if self.mark_mode != "replayed":  # index = the mid until (unless) an index row comes
            start = (floor_div(t0, cfg.mark_interval_ns) + 1) * cfg.mark_interval_ns
            self.timers.append(
                loop.call_every(start, cfg.mark_interval_ns, functools.partial(sampler, self._sample_index), priority=PRIORITY_MARK)
            )
        if self.funding_mode == "computed":
            for sym, inst in zip(self.symbols, self.instruments):
                nxt = next_funding_time_ns(t0, inst.funding_interval_ns)
                settle = functools.partial(self._settle_funding, sym)
                self.timers.append(
                    loop.call_every(nxt, inst.funding_interval_ns, functools.partial(sampler, settle), priority=PRIORITY_FUNDING)
                )
        start = (floor_div(t0, cfg.sample_interval_ns) + 1) * cfg.sample_interval_ns
        self.timers.append(loop.call_every(start, cfg.sample_interval_ns, functools.partial(sampler, self.recorder.sample_timer)))

    @staticmethod
    def _index_rows(path: str, symbol: str | None, index_rows: bool = False) -> Iterator[Row]:
        """The rows of an index proxy file (a COIN-M one is refused: exsim.readers.markets);
        ``index_rows``: a file of index rows without quotes serves too (a collateral index)."""
        fmt, rows = open_rows(path, None, symbol)
        check_index(path, fmt, index_rows=index_rows)
        return rows

    def _plan_collateral(self, assets: list[str], firsts: dict[str, CollateralQuote], heads: list[Row]) -> None:
        """Where each collateral asset's index comes from (a multi-assets run): an index file,
        else the mark of the run's perpetual on it, else an error naming the asset and the
        options. The price each starts from: the file's first, or (before the first mark)
        the perpetual's first mark or trade in the data. O(assets × rows peeked)."""
        for asset in assets:
            if asset in USD_ASSETS:  # (1 USD unless an index file prices it)
                if asset in firsts:
                    self.collateral_sources[asset] = f"{asset} collateral index: --index-file ({firsts[asset].quote} pair)"
                    self._collateral_seeds.append(firsts[asset])
                continue
            if asset in firsts:
                first = firsts[asset]
                self.collateral_sources[asset] = f"{asset} collateral index: {asset}{first.quote} in --index-file"
                self._collateral_seeds.append(first)
                continue
            inst = follow_symbol(asset, self.instruments)
            if inst is None:
                raise InputError(
                    f"{asset} is collateral of this multi-assets run but nothing gives its index price: pass --index-file "
                    f"with {asset} quotes or index rows (a spot {asset}USDT capture, Binance {asset}USDT indexPriceKlines), "
                    f"or replay the {asset}USDT perpetual beside the others",
                    field="--index-file",
                )
            quote = "USD" if inst.inverse else inst.quote
            self.mark_followers[inst.symbol] = (asset, quote)
            times = "" if inst.inverse or quote == "USD" else f" × the {quote} index"
            self.collateral_sources[asset] = f"{asset} collateral index: {inst.symbol} mark{times} (no --index-file)"
            first = next((r for r in heads if r.symbol == inst.symbol and r.kind in (MARK, TRADE) and r.price), None)
            if first is not None:
                price = to_subticks(first.price, field="price", where=first.where)
                self._collateral_seeds.append(CollateralQuote(first.ts_ns, asset, quote, price, SEED))

    def _schedule_items(self) -> Iterator[ScheduledRule]:
        """The haircut schedule's entries in time order (offsets from the run's first row:
        read once the market data has started)."""
        yield from scheduled_at(self.haircut_entries, self.first_ts_ns)

    def _strategy_start(self, loop: EventLoop, ts: int) -> None:
        self.strategy.on_start(self.ctx)
        self._first_trades = None  # (bars: later subscriptions start at their next bar)
        self._bar_feed = self._feed_bars if self.bar_feeds else None

    def _commands(self, rows: Iterable[Row]) -> Iterator[Any]:
        """The market model's commands, counting rows for the progress report and the
        checkpoints; at the end of the data, :meth:`_data_end`. (A chain, not a generator
        around the model's: the commands pass through no Python frame of the replay.)"""
        checked = self.config.skip_bad_rows  # (__init__ left out each file's bad lines already)
        rows = self._note_gaps(rows)
        if self.progress is not None or self.checkpoint_every is not None:
            rows = self._count_rows(rows)
        return itertools.chain(self.model.commands(rows, lines_checked=checked), self._data_end())

    def _data_end(self) -> Iterator[Any]:
        """Nothing, once the market model's commands are through: stops the periodic timers
        so the run ends there (read as the market data's end, in the same step)."""
        model = self.model
        self.rows_done = sum(model.counts)
        self.last_ts_ns = now = self.loop.now_ns
        for timer in self.timers:
            timer.cancel()
        self.data_done = True
        if self.stop_at_data_end:  # after everything else at the last timestamp
            self.loop.call_at(now, stop_run, priority=PRIORITY_DATA_END)
        for agg in self.bar_aggregators:  # a bar that closes at the data's last nanosecond is whole: delivered
            if (now + 1) % agg.span_ns == 0:
                self.loop.call_at(now, functools.partial(self._bar_close, agg))
        yield from ()

    def _note_gaps(self, rows: Iterable[Row]) -> Iterator[Row]:
        """``rows``, noting in :attr:`data_gaps` each gap between two of them longer than
        :data:`MAX_WALKED_GAP_NS` (the samplers jump it: :meth:`_sampler`). O(1) a row."""
        limit = MAX_WALKED_GAP_NS
        last = None
        for row in rows:
            ts = row.ts_ns
            if last is not None and ts - last > limit:
                # (looked up each time: a resume replaces data_gaps after these rows start)
                self.data_gaps.append((last, ts))
            last = ts
            yield row

    def _spanned(self, i: int, stream: Iterator[Row]) -> Iterator[Row]:
        """Input ``i``'s rows, noting its last row's time once it is read to its end (and,
        for price data, that one fewer price input is left)."""
        last = None
        for last in stream:
            yield last
        span = self.input_spans[i]
        span["done"] = True
        if last is not None:
            span["last_ts_ns"] = last[0]
        if self.input_is_price[i]:
            self._price_streams_left -= 1
            if last is not None and last[0] > self._price_end_ns:
                self._price_end_ns = last[0]

    def _until_price_end(self, rows: Iterator[Row]) -> Iterator[Row]:
        """``rows`` from the first to the last row of the price inputs; the auxiliary rows
        before and after are read (for their inputs' spans), checked and counted, not
        replayed."""
        start = self._price_start_ns
        check = self.model._check  # a row left out is still checked: a bad value is an error wherever it is
        for row in rows:
            if row[0] < start:  # (only an auxiliary input has rows before the prices' first)
                check(row)
                self.rows_before_price_start += 1
            elif self._price_streams_left or row[0] <= self._price_end_ns:
                yield row
            else:
                check(row)
                self.rows_after_price_end += 1

    def span_summary(self) -> dict[str, Any]:
        """Each input's span, the span the run used, and a warning when they differ (an
        input that starts or ends more than a minute away from the others, or auxiliary
        rows past the price data's end, which were left out)."""
        from exsim.replay.recorder import utc_text

        def text(ts: int | None) -> str | None:
            return None if ts is None else utc_text(ts)[:19].replace("T", " ")

        first, last = self.first_ts_ns, self.last_ts_ns
        files = []
        odd = False
        for info, span, price in zip(self.inputs, self.input_spans, self.input_is_price):
            a, b = span["first_ts_ns"], span["last_ts_ns"]
            files.append({"path": info["path"], "data": "prices" if price else "auxiliary (funding, index or premium)",
                          "first_time_utc": text(a), "last_time_utc": text(b)})
            if a is None or b is None:
                continue
            if price:
                odd = odd or abs(a - first) > _SPAN_SLACK_NS or abs(b - last) > _SPAN_SLACK_NS
            else:
                odd = odd or b < first or a > last
        odd = odd or self.rows_after_price_end > 0 or self.rows_before_price_start > 0
        warning = None
        if odd and len(files) > 1:
            warning = (
                "the inputs cover different spans: "
                + "; ".join(f"{Path(f['path']).name} {f['first_time_utc']} → {f['last_time_utc']} ({f['data']})" for f in files)
                + f"; the run used {text(first)} → {text(last)} (the span of the price data)"
            )
            if self.rows_before_price_start or self.rows_after_price_end:
                warning += (
                    f"; auxiliary rows left out: {self.rows_before_price_start:,} before it, "
                    f"{self.rows_after_price_end:,} after it"
                )
        return {
            "used": {"first_time_utc": text(first), "last_time_utc": text(last)},
            "files": files,
            "rows_before_price_start": self.rows_before_price_start,
            "rows_after_price_end": self.rows_after_price_end,
            "warning": warning,
        }

    def _rows_past_bad_lines(
        self, path: str, fmt: str, bad: set[int], also: frozenset[int] = frozenset()
    ) -> Generator[Row, None, None]:
        """A file's rows, reading past lines its reader refuses (``skip_bad_rows``).

        A reader stops at a bad line; the file is then read again from the start with
        that line left out, and the rows already delivered are passed over (readers are
        deterministic and refuse a line before yielding any of its rows). Each bad line
        costs one more read of the file, so at most :data:`_MAX_BAD_LINES` are skipped;
        a bad header is never skipped. ``bad``: the lines the reader refused so far, left
        out from the start (the lines found are added to it); ``also``: more lines to leave
        out (see :meth:`_rows_past_bad_values`).
        """
        delivered = 0
        try:
            while True:
                SKIPPED_LINES[path] = frozenset(bad) | also
                again = delivered
                try:
                    for row in self._open_rows(path, fmt, self.config.symbol)[1]:
                        if again:
                            again -= 1
                            continue
                        delivered += 1
                        yield row
                    return
                except InputError as exc:
                    line = _line_of(exc.where, path)
                    if line is None or line <= 1 or exc.field == "header" or line in bad or len(bad) >= _MAX_BAD_LINES:
                        raise
                    bad.add(line)
                    self.skipped_lines.append(str(exc))
        finally:
            SKIPPED_LINES.pop(path, None)

    def _rows_past_bad_values(
        self, rows: Iterator[Row], path: str, fmt: str, bad: set[int], reader: Generator[Row, None, None]
    ) -> Iterator[Row]:
        """A file's rows (``rows``, read by ``reader``), less its lines with a value the
        instrument's grid refuses (``skip_bad_rows``), each left out whole as if it were
        not in the file.

        The lines are checked whole before any row goes on (:meth:`MarketModel.lines`).
        At the first bad one the file is read once to its end to find every such line
        (up to :data:`_MAX_BAD_LINES`), then again from the start without them and without
        the lines the reader refused (the rows already passed on are passed over), as
        :meth:`_rows_past_bad_lines` does: what a reader derives from a line for the next
        ones (a bar's aggressor side from the previous close, a diff sequence) is then as
        if the bad lines were not there. Two more reads at most, however many bad lines.
        A bad depth line (a diff or snapshot) cannot just go: a ``gap`` row takes its place
        and the depth waits for the next snapshot (:meth:`MarketModel.gap_row`). A bad
        line not found on that read (one of a file read beside this one, or one past the
        limit) is left out where it is (:meth:`MarketModel.whole_lines`).
        """
        model = self.model
        values_bad: set[int] = set()  # lines with a value the grid refuses
        waiting: set[str] = set()  # symbols whose depth waits for a snapshot
        pending: list[tuple[int, Row]] = []  # the gap rows in place of bad depth lines to come, by line
        done = 0  # lines passed on (the same lines come first on a read without the bad ones)
        read_again = True
        while True:
            again = done
            for line, error in model.lines(rows):
                if again:
                    again -= 1
                    continue
                if pending:  # a gap goes where its line was: before the first later line
                    n = _line_of(line[0].where, path)
                    while pending and n is not None and n > pending[0][0]:
                        gap = pending.pop(0)[1]
                        waiting.add(gap.symbol)
                        yield gap
                if error is None:
                    done += 1
                    yield from model.after_gaps(line, waiting)
                    continue
                if read_again and (_line_of(error.where, path) or 0) > 1:
                    read_again = False
                    pending = self._bad_value_lines(path, fmt, bad, values_bad)
                    break  # read again without them
                done += 1
                model.bad_line(error)  # left out where it is
                gap = model.gap_row(line, error)
                if gap is not None:
                    waiting.add(gap.symbol)
                    yield gap
            else:
                for _, gap in pending:  # bad depth lines at the end of the file
                    yield gap
                return
            reader.close()  # (before the next read sets the file's lines to leave out)
            rows = reader = self._rows_past_bad_lines(path, fmt, bad, frozenset(values_bad))

    def _bad_value_lines(self, path: str, fmt: str, bad: set[int], values_bad: set[int]) -> list[tuple[int, Row]]:
        """Read ``path`` to its end (without the lines the reader refuses, ``bad``) for the
        lines with a value the grid refuses, at most :data:`_MAX_BAD_LINES`: add them to
        ``values_bad`` and count them; return the gap rows of the depth lines among them,
        by line."""
        model = self.model
        gaps: list[tuple[int, Row]] = []
        reader = self._rows_past_bad_lines(path, fmt, bad)
        try:
            for line, error in model.lines(reader):
                n = _line_of(error.where, path) if error is not None else None
                if n is None or n <= 1:
                    continue
                values_bad.add(n)
                self.skipped_lines.append(str(error))
                gap = model.gap_row(line, error)
                if gap is not None:
                    gaps.append((n, gap))
                if len(values_bad) >= _MAX_BAD_LINES:
                    break
        finally:
            reader.close()
        return gaps

    def _count_rows(self, rows: Iterable[Row]) -> Iterator[Row]:
        """``rows``, counted: a progress report and a checkpoint request at their marks."""
        n = 0
        mark = self._row_mark(0, 0)
        for row in rows:
            n += 1
            if n == mark:
                mark = self._row_mark(n, row.ts_ns)
            yield row
        if self.progress is not None:
            self.progress(n, self.loop.now_ns)

    def _row_mark(self, n: int, ts_ns: int) -> int:
        """At ``n`` rows taken: report progress, ask for a checkpoint; the next mark.

        The marks are multiples of fixed steps, so a resumed run's re-read of the inputs
        meets them at the same rows (and asks for no checkpoint while it fast-forwards).
        """
        marks = []
        if self.progress is not None:
            if n and not n % _PROGRESS_ROWS:
                self.progress(n, ts_ns)
            marks.append((n // _PROGRESS_ROWS + 1) * _PROGRESS_ROWS)
        every = self.checkpoint_every
        if every is not None:
            if n and not n % every and not self._fast_forwarding and not self._checkpoint_pending:
                # the snapshot is taken once everything at this timestamp has run
                self._checkpoint_pending = True
                self.loop.call_at(self.loop.now_ns, self._checkpoint, priority=PRIORITY_CHECKPOINT)
            marks.append((n // every + 1) * every)
        return min(marks)

    def _checkpoint(self, loop: EventLoop, ts: int) -> None:
        """The checkpoint timer: write the snapshot (between two dispatches, all of this
        timestamp's queued work done). None once the data has ended: what is left to run
        is this timestamp's timers and ``on_end``, and a resume re-reads the inputs to a
        source's position, which an ended source no longer has."""
        self._checkpoint_pending = False
        if self.data_done:
            return
        info = write_snapshot(self)
        self._checkpoints.append(info)
        if self.on_checkpoint is not None:
            self.on_checkpoint(info)

    def checkpoint_info(self) -> dict[str, Any] | None:
        """What the summary says of checkpoints: where the latest snapshot is, and where
        this run was resumed from (None for a run with neither)."""
        info: dict[str, Any] = {}
        if self.checkpoint_path is not None:
            info["every_rows"] = self.checkpoint_every
            info["latest"] = str(self.checkpoint_path) if self._checkpoints else None
            info["written"] = len(self._checkpoints)
            info["latest_at_row"] = self._checkpoints[-1]["rows"] if self._checkpoints else None
        if self.resumed_from is not None:
            info["resumed_from"] = self.resumed_from
        return info or None

    # ------------------------------------------------------------------ dispatch
    def submit(self, command: Any) -> None:
        """The loop's target: model-level items, the synthetic ladder, then the exchange."""
        handler = self._dispatch.get(type(command))
        if handler is not None:
            handler(command)
        else:
            self.exchange.submit(command)

    def _on_trade(self, cmd: ReplayedTrade) -> None:
        symbol, px = cmd[1], cmd[3]  # (symbol, price_ticks: read once, this runs per replayed trade)
        rng = self.trade_ranges[symbol]  # the sampling interval's trade range, for the plots
        if px < rng[0]:
            rng[0] = px
        if px > rng[1]:
            rng[1] = px
        ladder = self.ladders.get(symbol)
        if ladder is not None:
            ladder.last_ticks = px
            ladder.version += 1
        self.exchange.submit(cmd)
        if self._bar_feed is not None:
            self._bar_feed(cmd)
        if self._hook_trade is not None:
            self._hook_trade(self.ctx, cmd)

    def _on_level(self, cmd: SetReplayedLevels) -> None:
        self.exchange.submit(cmd)
        if self._hook_book is not None:
            self._hook_book(self.ctx, cmd)

    def _on_quote(self, q: ReplayedQuote) -> None:
        ladder = self.ladders.get(q.symbol)
        if ladder is None:  # depth is replayed: check the rebuilt book against the venue's top
            checks = self.quote_checks
            sides, price_ok, size_ok = self._compare_quote(q)
            checks["quotes"] += sides
            checks["price_match"] += price_ok
            checks["size_match"] += size_ok
            if q.update_id:
                self._resolve_quotes(q.symbol)
                at = self.book_update_id.get(q.symbol, 0)
                if q.update_id == at:
                    self._count_aligned(q)
                elif q.update_id > at:
                    waiting = self.pending_quotes.get(q.symbol)
                    if waiting is None:
                        waiting = self.pending_quotes[q.symbol] = deque()
                    waiting.append(q)
                else:
                    checks["not_aligned"] += sides
            return
        if q.bid_ticks:
            ladder.bid_ticks, ladder.bid_lots = q.bid_ticks, q.bid_lots
        if q.ask_ticks:
            ladder.ask_ticks, ladder.ask_lots = q.ask_ticks, q.ask_lots
        ladder.version += 1

    def _compare_quote(self, q: ReplayedQuote) -> tuple[int, int, int]:
        """``(sides quoted, sides whose price matches the book, ... price and size)``."""
        book = self.exchange.book(q.symbol)
        sides = price_ok = size_ok = 0
        if q.bid_ticks:
            sides += 1
            if book.best_bid() == q.bid_ticks:
                price_ok += 1
                size_ok += book.anonymous_lots(BUY, q.bid_ticks) == q.bid_lots
        if q.ask_ticks:
            sides += 1
            if book.best_ask() == q.ask_ticks:
                price_ok += 1
                size_ok += book.anonymous_lots(SELL, q.ask_ticks) == q.ask_lots
        return sides, price_ok, size_ok

    def _count_aligned(self, q: ReplayedQuote) -> None:
        checks = self.quote_checks
        sides, price_ok, size_ok = self._compare_quote(q)
        checks["aligned"] += sides
        checks["aligned_price_match"] += price_ok
        checks["aligned_size_match"] += size_ok
        if price_ok < sides and len(self.quote_mismatches) < 20:
            book = self.exchange.book(q.symbol)
            for side, venue, ours in ((BUY, q.bid_ticks, book.best_bid()), (SELL, q.ask_ticks, book.best_ask())):
                if venue and venue != ours:
                    self.quote_mismatches.append(
                        {"ts_ns": q.ts_ns, "update_id": q.update_id, "side": "bid" if side == BUY else "ask", "venue_ticks": venue, "book_ticks": ours}
                    )

    def _resolve_quotes(self, symbol: str) -> None:
        """Compare the quotes that waited for the book to reach their update id.

        Quotes wait in arrival order; a venue's ids rise with time, so the ones the book
        has reached are at the front (an out-of-order one just waits a little longer).
        """
        waiting = self.pending_quotes.get(symbol)
        if not waiting:
            return
        at = self.book_update_id.get(symbol, 0)
        while waiting and waiting[0].update_id <= at:
            q = waiting.popleft()
            if q.update_id == at:
                self._count_aligned(q)
            else:  # inside a diff: the book never stood at that id
                self.quote_checks["not_aligned"] += (q.bid_ticks != 0) + (q.ask_ticks != 0)

    def _on_depth_update_id(self, d: DepthUpdateId) -> None:
        """The depth rows before this one are complete: the book stands at the last id."""
        self._resolve_quotes(d.symbol)
        self.book_update_id[d.symbol] = d.update_id

    def _on_index_quote(self, q: IndexQuote) -> None:
        if not self.data_done:
            self.index_proxy[q.symbol] = q.index_subticks

    def _on_collateral_quote(self, q: CollateralQuote) -> None:
        """A collateral asset's price: its index in USD (times its quote asset's index now),
        to the ledger when it changed. A followed mark gives way to an index file's prices."""
        source = q.source
        if source == FROM_FILE:
            if self.data_done:
                return
            self.file_indexed.add(q.asset)
        elif source == FROM_MARK and q.asset in self.file_indexed:
            return
        index = usd_index_e8(q.price_e8, q.quote, self.ledger.collateral)
        if index <= 0 or self.collateral_index.get(q.asset) == index:
            return
        self.collateral_index[q.asset] = index
        self.exchange.submit(CollateralIndex(q.ts_ns, q.asset, index))

    def _on_scheduled_rule(self, r: ScheduledRule) -> None:
        """A haircut schedule entry's time: the asset's rule changes (fields not given stay)."""
        if self.data_done:
            return
        self.exchange.submit(SetCollateralRule(r.ts_ns, r.asset, r.bid_buffer_e8, r.ask_buffer_e8, r.tiers))

    def _on_premium(self, p: ReplayedPremium) -> None:
        premium = self.exchange.markets[p.symbol].premium
        if premium is not None:
            premium.on_premium(p.ts_ns, p.premium_e8)

    def _on_gap(self, g: ReplayedGap) -> None:
        """Depth is not trusted after a gap: drop the replayed size until the reader's next
        snapshot (simulated orders stay; trades still cross them)."""
        self.gaps.append(g.message)
        self.note(g.ts_ns, f"depth gap: {g.message}; replayed depth dropped until the next snapshot")
        self.exchange.submit(ClearReplayedLevels(g.ts_ns, g.symbol, -1))

    def _on_mark(self, cmd: SetMarkPrice) -> None:
        market = self.exchange.markets[cmd.symbol]
        if market.mark_calc is not None:  # auto: the first replayed mark ends the computed ones
            market.mark_calc = None
            self.note(cmd.ts_ns, f"{cmd.symbol}: marks replayed from here on")
        self.replayed_marks.add(cmd.symbol)
        self._refresh_ladder(cmd.symbol)
        self.exchange.submit(cmd)

    def _on_index(self, cmd: SetIndexPrice) -> None:
        self.index_seen.add(cmd.symbol)
        self._refresh_ladder(cmd.symbol)
        self.exchange.submit(cmd)

    def _on_user_order(self, cmd: NewOrder | AmendOrder | NewOco | NewBracket) -> None:
        """A strategy's order reaches the venue: synthetic depth rebuilt around the latest
        quote first (brackets and OCO pairs too: their entry may take liquidity at once)."""
        self._refresh_ladder(cmd.symbol)
        self.exchange.submit(cmd)

    # ------------------------------------------------------------------ timers
    def _sample_index(self, loop: EventLoop, ts: int) -> None:
        """Computed marks without a replayed index: index = the book's mid (or the synthetic reference)."""
        for sym in self.symbols:
            if sym in self.replayed_marks or sym in self.index_seen:
                continue
            proxy = self.index_proxy.get(sym)
            if proxy is not None:
                self._refresh_ladder(sym)
                self.exchange.submit(_new(SetIndexPrice, (ts, sym, proxy)))
                continue
            ladder = self.ladders.get(sym)
            if ladder is not None:
                if ladder.bid_ticks and ladder.ask_ticks:
                    bid, ask = ladder.bid_ticks, ladder.ask_ticks
                else:
                    bid = ask = ladder.last_ticks
            else:
                book = self.exchange.book(sym)
                bid, ask = book.best_bid() or 0, book.best_ask() or 0
            if bid and ask:
                self._refresh_ladder(sym)
                # the mid in subticks (an index is finer than the tick): a half-subtick mid
                # (only at a 1e-8 tick) rounds to the nearest, ties to even
                per_tick = self.exchange.markets[sym].instrument.subticks_per_tick
                self.exchange.submit(_new(SetIndexPrice, (ts, sym, div_half_even((bid + ask) * per_tick, 2))))

    def _sampler(self, callback: Callable[[EventLoop, int], None], loop: EventLoop, ts: int) -> None:
        """A periodic sampler's firing: ``callback`` at ``ts``, unless ``ts`` is past the
        walked part of a gap in the market data (:data:`MAX_WALKED_GAP_NS`): then the timer
        moves to its first time at or after the gap's end, without firing. O(1), O(timers)
        on a jump."""
        gaps = self.data_gaps
        while gaps and gaps[0][1] <= ts:
            gaps.popleft()
        if not gaps or ts <= gaps[0][0] + MAX_WALKED_GAP_NS:
            callback(loop, ts)
            return
        end = gaps[0][1]
        for i, timer in enumerate(self.timers):
            if timer.active and isinstance(timer.callback, functools.partial) and timer.callback.args == (callback,):
                timer.cancel()
                step = timer.interval_ns
                start = ts + ceil_div(end - ts, step) * step  # the first time on its grid at or after the gap's end
                self.timers[i] = loop.call_every(start, step, timer.callback, priority=timer.priority)
                self.gaps_jumped += 1
                return
        callback(loop, ts)  # (not one of the run's samplers: fires as usual)

    # (timer callbacks are bound methods and partials, not closures: a snapshot saves them by name)
    def _settle_funding(self, symbol: str, loop: EventLoop, ts: int) -> None:
        if self.exchange.mark_price_subticks(symbol) is not None:
            self.exchange.submit(SettleFunding(ts, symbol, None))
            market = self.exchange.markets[symbol]
            assert market.premium is not None
            premium_e8 = market.premium.settle(ts)  # (the same P the exchange just used: settle repeats it)
            rate_e8 = funding_rate_e8(0 if premium_e8 is None else premium_e8, cap_e8=market.funding_cap_e8)
            self.funding_settlements += 1
            self.funding_at_interest += rate_e8 == DEFAULT_INTEREST_E8

    def _strategy_timer(self, name: str, loop: EventLoop, ts: int) -> None:
        if not self.data_done:
            self.strategy.on_timer(self.ctx, name)

    # ------------------------------------------------------------------ bars (exsim.replay.bars)
    def subscribe_bars(self, symbol: str, interval: str) -> None:
        """Bars of ``symbol`` aggregated at ``interval`` from the replayed trades, to
        ``on_bar`` at each close time (see :mod:`exsim.replay.bars`). Made in ``on_start``
        it counts every trade of the run; later, it starts with the next whole bar. A
        repeated subscription is ignored."""
        if symbol not in self.symbols:
            raise InputError(f"{symbol!r} is not one of the run's symbols {self.symbols}", where="strategy", field="symbol")
        now = self.loop.now_ns
        whole = self._first_trades is not None or (now + 1) % interval_ns(interval) == 0  # (at a bar's last ns: the next is whole)
        agg = BarAggregator(symbol, interval, deliver=whole)
        if any(a.symbol == symbol and a.interval == interval for a in self.bar_aggregators) or self.data_done or self._hook_bar is None:
            return
        self.bar_feeds.setdefault(symbol, []).append(agg)
        self.bar_aggregators.append(agg)
        if self._first_trades is not None:  # in on_start: the trades of the first timestamp, read before it
            for t in self._first_trades:
                if t.symbol == symbol:
                    agg.add(t.price_ticks, t.qty_lots)
        else:
            self._bar_feed = self._feed_bars
        span = agg.span_ns
        first_close = ((now + 1) // span + 1) * span - 1  # (the bar in progress after now's nanosecond)
        timer = self.loop.call_every(first_close, span, functools.partial(self._sampler, functools.partial(self._bar_close, agg)))
        self.timers.append(timer)  # (stopped at the data's end; long gaps in the data jumped: _sampler)

    def _hold_first_trade(self, cmd: ReplayedTrade) -> None:
        """Before ``on_start``: keep the first timestamp's trades for its subscriptions."""
        first = self._first_trades
        if first is not None:
            first.append(cmd)

    def _feed_bars(self, cmd: ReplayedTrade) -> None:
        """A replayed trade into the bars of its symbol. O(subscriptions of the symbol)."""
        feeds = self.bar_feeds.get(cmd.symbol)
        if feeds:
            for agg in feeds:
                agg.add(cmd.price_ticks, cmd.qty_lots)

    def _bar_close(self, agg: BarAggregator, loop: EventLoop, ts: int) -> None:
        """A subscription's timer at close time ``ts``: the first of them closes the bars of
        every subscription that close at ``ts``, in subscription order (whatever order the
        timers come in), and delivers them; the others find it done. O(subscriptions)."""
        if ts == self._bars_closed_ns:
            return
        self._bars_closed_ns = ts
        hook = self._hook_bar
        for a in self.bar_aggregators:
            if (ts + 1) % a.span_ns == 0:
                bar = a.close(ts)
                if bar is not None and hook is not None:
                    hook(self.ctx, bar)

    def _on_file_bar(self, item: ReplayedBar) -> None:
        """A bar file's bar, after its path trades: to ``on_bar`` as it is."""
        if self._hook_bar is not None:
            self._hook_bar(self.ctx, item.bar)

    def add_strategy_timer(self, ts_ns: int, interval_ns: int, name: str) -> Any:
        """A strategy timer; returns the loop's handle (``.cancel()`` stops it)."""
        fire = functools.partial(self._strategy_timer, name)
        if interval_ns:
            timer = self.loop.call_every(ts_ns, interval_ns, fire)
            self.timers.append(timer)
            if self.data_done:  # made after the data's end (its last instant, or on_end): the end's cancel is past,
                timer.cancel()  # and a timer that fires nothing would run the clock on for ever
            return timer
        return self.loop.call_at(ts_ns, fire)

    # ------------------------------------------------------------------ synthetic liquidity
    def refresh_ladders(self) -> None:
        """Bring every symbol's synthetic depth up to date now. It is otherwise built
        lazily (before a trader's order, each mark and index update), so until the first
        of those the book is empty; ``exsim serve`` calls this at its first instant, where
        clients read the book. O(levels that changed)."""
        for symbol in self.symbols:
            self._refresh_ladder(symbol)

    def _refresh_ladder(self, symbol: str) -> None:
        """Bring the synthetic ladder up to date (only the levels that changed).

        Runs before every mark and index sample (once a simulated second) and every
        trader's order, so it is kept cheap: the levels wanted are two price ranges (the
        ladder's shape), so the levels the ladder left are found from the ranges, not from
        a dict of every level; the book is then asked level by level what trades or orders
        took from it since the last build. O(levels a side)."""
        ladder = self.ladders.get(symbol)
        if ladder is None or ladder.built_version == ladder.version:
            return
        ladder.built_version = ladder.version
        bid, ask = ladder.bid_ticks, ladder.ask_ticks
        if bid and ask:  # from the quoted tops, each keeping its quoted size
            shape = (bid, ask, 0, ladder.bid_lots, ladder.ask_lots)
        elif ladder.last_ticks:  # around the last trade, one step off it each side
            shape = (ladder.last_ticks, ladder.last_ticks, 1, 0, 0)
        else:
            return
        if not ladder.qty_lots:
            ladder.qty_lots = self._synthetic_lots(self.exchange.markets[symbol].instrument, ladder.last_ticks or ask)
        bids, asks = self._ladder_ranges(shape)
        old = ladder.shape
        if old == shape:
            changes: list[tuple[int, int, int]] = []
        else:
            if old is not None:  # levels the ladder left go first, so no new level crosses one
                old_bids, old_asks = self._ladder_ranges(old)
                changes = [(BUY, px, 0) for px in old_bids if px not in bids]
                changes += [(SELL, px, 0) for px in old_asks if px not in asks]
            else:
                changes = []
            ladder.shape = shape
        # then the levels that differ from the book (trades may have eaten into a level
        # since the last refresh), each side from its top outward; a quoted top keeps its size
        anonymous_lots = self.exchange.markets[symbol].book.anonymous_lots
        qty = ladder.qty_lots
        add = changes.append
        for side, prices, top_lots in ((BUY, bids, shape[3]), (SELL, asks, shape[4])):
            want = top_lots or qty
            for px in prices:
                if anonymous_lots(side, px) != want:
                    add((side, px, want))
                want = qty
        if changes:
            self.exchange.submit(_new(SetReplayedLevels, (self.loop.now_ns, symbol, tuple(changes))))

    def _ladder_ranges(self, shape: tuple[int, int, int, int, int]) -> tuple[range, range]:
        """The bid and ask prices (ticks) of a ladder of ``shape``, each side from its top
        outward, the bids above 0."""
        bid, ask, first = shape[0], shape[1], shape[2]
        step = self.config.synthetic_step_ticks
        end = first + self.config.synthetic_levels
        return range(bid - first * step, max(bid - end * step, 0), -step), range(ask + first * step, ask + end * step, step)

    def _synthetic_lots(self, inst: Instrument, price_ticks: int) -> int:
        if self.config.synthetic_qty is not None:
            lots = inst.lots(self.config.synthetic_qty, where="replay config", field="synthetic_qty")
        elif inst.inverse:  # 100,000 USD of face value, in whole contracts (a model parameter)
            face_e8 = to_atoms(inst.contract_size * inst.lot_size, field="contract size")
            lots = floor_div(to_atoms("100000", field="synthetic notional"), face_e8)
        else:  # 100,000 USDT of notional at the first price, in whole lots (a model parameter)
            lots = floor_div(to_atoms("100000", field="synthetic notional"), max(1, price_ticks) * inst.atoms_per_tick_lot)
        if lots <= 0 and self.config.synthetic_qty is not None:
            raise InputError(f"{self.config.synthetic_qty!r} gives no lots", where="replay config", field="synthetic_qty")
        if lots <= 0:  # the price, not an option, is at fault: name the row the ladder is sized from
            raise InputError(
                f"the price {inst.price_str(price_ticks)} is so high that the default synthetic depth (100,000 USDT of "
                f"notional a level) is less than one lot {inst.lot_size}; pass --synthetic-qty",
                where=self.first_where.get(inst.symbol, ""),
                field="price",
            )
        return int(lots)

    # ------------------------------------------------------------------ events → strategy, recorder
    def _event_handlers(self) -> dict[type, Callable[[Any], None]]:
        """What each event type the strategy or the recorder reads goes to (the others go
        to the recorder's batch log only): one dict look-up an event. Bound methods of the
        replay only (a snapshot saves them by name; the recorder is read when called)."""
        handlers: dict[type, Callable[[Any], None]] = {
            Fill: self._on_fill_event,
            MarkPriceUpdated: self._on_mark_event,
            Liquidation: self._on_liquidation_event,
            FundingPaid: self._on_funding_paid,
            FundingSettled: self._on_funding_settled,
            PositionChanged: self._on_position_event,
            AutoExchange: self._on_collateral_event,
            CollateralRuleSet: self._on_collateral_event,
            SettingChanged: self._on_setting_event,
            CommandRejected: self._on_rejected_event,
        }
        for t in (OrderAccepted, OrderRejected, OrderCancelled, OrderExpired, OrderAmended, OrderTriggered):
            handlers[t] = self._on_order_event
        return handlers

    def _on_events(self, events: list[Any]) -> None:
        """One command's events: each to its handler (the strategy's handles and hooks, the
        recorder's figures), then the batch to the recorder's log."""
        if len(events) == 3 and self._filled_at_once(events):
            return
        handlers = self._handlers
        for e in events:
            handler = handlers.get(type(e))
            if handler is not None:
                handler(e)
        self.recorder.log(events)

    def _filled_at_once(self, events: list[Any]) -> bool:
        """The batch of a strategy's order that filled completely on arrival against
        another account (``OrderAccepted``, one ``Fill``, its ``PositionChanged``: a market
        order's, the usual batch) handled in one step, in the order the handlers take its
        events one by one; False, with nothing done, for any other batch. With an
        ``on_order`` hook the events go one by one (the hook sees the handle open)."""
        accepted, fill, position = events
        if type(fill) is not Fill or type(accepted) is not OrderAccepted or type(position) is not PositionChanged:
            return False
        me = ACCOUNT_ID
        if (
            accepted.account_id != me or fill.taker_account_id != me or fill.maker_account_id == me
            or fill.taker_order_id != accepted.order_id or fill.taker_leaves_lots or position.account_id != me
            or self._hook_order is not None
        ):
            return False
        ctx = self.ctx
        handle = ctx._filled_at_once(accepted, fill.price_ticks, fill.qty_lots)
        if handle is None:
            return False
        own = _new(OwnFill, (
            fill.ts_ns, fill.symbol, fill.taker_order_id, fill.aggressor_side, fill.price_ticks, fill.qty_lots,
            fill.taker_fee_atoms, False, 0, fill.trade_id, handle.client_order_id, handle,
        ))
        recorder = self.recorder
        recorder.count_filled_at_once(accepted, own)
        if self._hook_fill is not None:
            self._hook_fill(ctx, own)
        recorder.log_filled_at_once(own, position, events)
        return True

    def _on_mark_event(self, e: MarkPriceUpdated) -> None:
        follow = self.mark_followers.get(e.symbol) if self.mark_followers else None
        if follow is not None:  # a collateral index following this mark (after this batch)
            self.loop.schedule(CollateralQuote(e.ts_ns, follow[0], follow[1], e.mark_price_subticks, FROM_MARK))
        self.recorder.on_mark(e)
        if self._hook_mark is not None:
            self._hook_mark(self.ctx, e)

    def _on_liquidation_event(self, e: Liquidation) -> None:
        self.recorder.on_liquidation(e)
        me = ACCOUNT_ID
        if self._hook_liq is not None and (e.account_id == me or any(a.account_id == me for a in e.adl)):
            self._hook_liq(self.ctx, e)

    def _on_funding_paid(self, e: FundingPaid) -> None:
        if e.account_id == ACCOUNT_ID:
            self.recorder.on_funding(e)
            if self._hook_funding is not None:
                self._hook_funding(self.ctx, e)

    def _on_funding_settled(self, e: FundingSettled) -> None:
        self.ctx._funding_e8[e.symbol] = e.rate_e8
        if self._hook_funding_rate is not None:
            self._hook_funding_rate(self.ctx, e)

    def _on_position_event(self, e: PositionChanged) -> None:
        if e.account_id == ACCOUNT_ID:
            self.recorder.on_position(e)

    def _on_collateral_event(self, e: AutoExchange | CollateralRuleSet) -> None:
        self.recorder.on_collateral(e)

    def _on_setting_event(self, e: SettingChanged) -> None:
        if e.setting == "COLLATERAL_MODE":
            self.recorder.on_collateral(e)

    def _on_rejected_event(self, e: CommandRejected) -> None:
        if e.account_id == ACCOUNT_ID:  # a setting or margin move the venue refused: say so
            self.note(e.ts_ns, f"refused: {e.command} ({e.reason})")

    def _on_order_event(self, e: Any) -> None:
        if e.account_id == ACCOUNT_ID:
            ctx = self.ctx
            handle = ctx._order_event(e)  # the order's handle first: the hook reads it
            self.recorder.on_order_event(e)
            if self._hook_order is not None:
                ctx._event_handle = (e, handle)  # (ctx.handle_of(e) in the hook)
                self._hook_order(ctx, e)
                ctx._event_handle = None

    def _on_fill_event(self, e: Fill) -> None:
        """A fill: to the strategy's handle, the recorder and ``on_fill`` when a side of it is
        the strategy's (the taker side first)."""
        me = ACCOUNT_ID
        if e.taker_account_id == me:
            handle = self.ctx._fill(e.taker_order_id, e.price_ticks, e.qty_lots, e.taker_leaves_lots)
            fill = _new(OwnFill, (
                e.ts_ns, e.symbol, e.taker_order_id, e.aggressor_side, e.price_ticks, e.qty_lots, e.taker_fee_atoms, False,
                e.taker_leaves_lots, e.trade_id, None if handle is None else handle.client_order_id, handle,
            ))
            self.recorder.on_fill(fill)
            if self._hook_fill is not None:
                self._hook_fill(self.ctx, fill)
        if e.maker_account_id == me:
            handle = self.ctx._fill(e.maker_order_id, e.price_ticks, e.qty_lots, e.maker_leaves_lots)
            fill = _new(OwnFill, (
                e.ts_ns, e.symbol, e.maker_order_id, e.aggressor_side ^ 1, e.price_ticks, e.qty_lots, e.maker_fee_atoms, True,
                e.maker_leaves_lots, e.trade_id, None if handle is None else handle.client_order_id, handle,
            ))
            self.recorder.on_fill(fill)
            if self._hook_fill is not None:
                self._hook_fill(self.ctx, fill)

    # ------------------------------------------------------------------ account figures
    def _account(self, asset: str | None = None) -> Any:
        """The strategy's account in ``asset`` (None: the home asset), or None."""
        return self.ledger.find_account(ACCOUNT_ID, asset or self.ledger.home_asset)

    def equity_atoms(self, asset: str | None = None) -> int:
        """Wallet + isolated buckets + UPnL of every position at the marks, in ``asset``
        (None: the home asset)."""
        acct = self._account(asset)
        return self.ledger.equity_atoms(acct) if acct is not None else 0

    def margin_figures(self, symbol: str, position_side: int = 0) -> tuple[int, int] | None:
        """``(margin balance, maintenance margin)`` of the scope holding the position."""
        acct = self._account(self.ledger.instruments[symbol].margin_asset)
        pos = acct.positions.get((symbol, position_side)) if acct is not None else None
        if pos is None or not pos.qty_lots:
            return None
        if pos.isolated:
            return self.ledger.isolated_margin_balance(pos)
        if self.multi_assets and self.ledger.portfolio(ACCOUNT_ID) is not None:
            # the account is the scope: its equity and maintenance margin in USD (1e-8 USD,
            # rounded down, as the engine's MULTI_ASSETS alerts carry them)
            figures = self.ledger.portfolio_figures(ACCOUNT_ID)
            return usd_e40_to_usd_e8_floor(figures.equity_usd_e40), usd_e40_to_usd_e8_floor(figures.maint_usd_e40)
        return self.ledger.cross_margin_balance(acct)

    def liquidation_price_subticks(self, symbol: str, position_side: int = 0, *, account_id: int = ACCOUNT_ID) -> int | None:
        """The position's liquidation price in subticks (1e-8 of the quote asset: the mark
        that liquidates it is finer than the tick), None without one. ``account_id``: whose
        (the strategy's by default)."""
        acct = self.ledger.find_account(account_id, self.ledger.instruments[symbol].margin_asset)
        pos = acct.positions.get((symbol, position_side)) if acct is not None else None
        if pos is None or acct is None:
            return None
        return position_liquidation_subticks(self.ledger, self.exchange.liquidator, acct, pos) or None

    def note(self, ts_ns: int, text: str) -> None:
        self.notes.append((ts_ns, text))
