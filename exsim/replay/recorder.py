"""The run record: what a replay writes and what its summary says.

With an output directory a run writes, as it goes (memory does not grow with the run's
length: rows go to disk when they are made, the summary's figures are running totals):

* ``events.jsonl`` — every exchange event (structlog JSON lines; book deltas only with
  ``log_book``), but an ``IndexPriceUpdated`` only when the index changed (the index is
  sampled every ``mark_interval_ns``: an unchanged one says nothing new);
* ``fills.csv`` — the strategy's fills, exact decimal prices, sizes and fees, the order's
  type and client id, the position side and the PnL each realized (the schema scenarios
  share: :data:`exsim.results.schema.FILL_FIELDS`);
* ``trades.csv`` — the strategy's round trips (:mod:`exsim.results.trips`), written as each
  ends; those still open at the end last, flagged;
* ``timeseries.csv`` — one row per symbol of the run at each sample (every
  ``sample_interval_ns``; with the default ``sample_all=False`` only when a value of that
  symbol's row changed since its last one), at the strategy's fills and at each of its
  liquidations: the symbol's mark, last trade, trade range since the last sample, the
  account's equity and wallet, the symbol's position, average entry price, the margin
  balance, maintenance margin and margin ratio of the scope holding it (isolated bucket
  or cross pool) and its liquidation price. A liquidation writes the trigger instant
  (``why`` = ``liquidation``: the position, margin figures, ratio >= 100 % and
  liquidation price the engine acted on) and then the state after it
  (``after liquidation``);
* ``positions.csv`` and ``depth.csv`` — at each time-series sample written (not at the
  liquidation trigger rows), the account's open positions attributed
  (:mod:`exsim.liquidation.risk`: each one's maintenance margin, PnL, drawdown, liquidation
  price; a closing row when one goes flat) and the book of each symbol written, ten levels
  a side (:mod:`exsim.results.positions`);
* ``summary.json`` — inputs, the market model's choices, the account's figures (with ``positions_risk``) and each
  symbol's (``positions``), the span of each input, checks, and the trader's
  ``statistics`` (:mod:`exsim.results.stats`).

Money is formatted from int atoms and prices from int ticks, exactly; floats appear only
in ratios (rates, margin ratio as a fraction) meant for reading and plotting.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from exsim import __version__
from exsim.exchange import IndexPriceUpdated
from exsim.book.orders import BUY, SELL
from exsim.ledger import BOTH, LONG, POSITION_SIDE_NAMES, SHORT
from exsim.liquidation.risk import account_risk
from exsim.readers.rows import KIND_NAMES
from exsim.replay.rundir import atomic_write
from exsim.replay.strategy import ACCOUNT_ID
from exsim.results.assets import UsdPricer, tells_assets
from exsim.results.positions import (  # RATIO_CAP_E8: the ratio written for a balance <= 0 (10,000 %)
    DEPTH_FIELDS,
    DEPTH_LEVELS,
    POSITION_FIELDS,
    RATIO_CAP_E8,
    PositionTracks,
    closing_cells,
    depth_text,
    entry_price_text,
    position_cells,
    position_key,
    positions_risk,
)
from exsim.results.rows import fill_row, trip_row, utc_text  # (utc_text: imported from here by others too)
from exsim.results.schema import FILL_FIELDS, TRADE_FIELDS
from exsim.results.stats import EquityCurve, statistics
from exsim.results.trips import TripBook
from exsim.sinks import JsonlSink
from exsim.ledger.collateral import format_usd_e40, usd_e40_to_atoms_floor
from exsim.units import RATE_SCALE, format_atoms, format_rate_e8, mul_div_floor

if TYPE_CHECKING:
    from exsim.replay.interfaces import ReplayForRecorder
    from exsim.replay.strategy import OwnFill

SERIES_FIELDS = (
    "ts_ns",
    "time_utc",
    "symbol",
    "mark",
    "last",
    "trade_low",
    "trade_high",
    "equity",
    "wallet",
    "position_qty",
    "entry_price",
    "margin_balance",
    "maint_margin",
    "margin_ratio",
    "liquidation_price",
    "why",
)
#: the columns a run with several assets (or a coin) adds to ``timeseries.csv``: the asset of
#: the row's money columns (its symbol's margin asset: ``equity`` and ``wallet`` are then that
#: asset's wallet) and that equity in USD (:class:`exsim.results.assets.UsdPricer`, rounded down)
ASSET_SERIES_FIELDS = ("asset", "equity_usd")
#: the run files written row by row (a checkpoint records their lengths; see exsim.replay.checkpoint)
STREAMED_CSVS = ("fills.csv", "timeseries.csv", "trades.csv", "positions.csv", "depth.csv")
_NEVER = -(1 << 62)


def open_run_file(out_dir: Path, name: str, mode: str = "w") -> IO[str]:
    """Open a file of the run directory for writing: every run file is opened here (one
    place to change how run files are made, e.g. written under a temporary name)."""
    return open(out_dir / name, mode, encoding="utf-8", newline="")



def config_dict(config: Any) -> dict[str, Any]:
    """A :class:`~exsim.replay.ReplayConfig` as a dict for run keys, snapshots and summaries;
    ``deposits`` only when given (runs without it keep the keys and summaries they had)."""
    return attrs.asdict(config, filter=_shown_option)


#: options left out of a config's dict at their defaults (runs without them keep the run
#: keys, snapshots and summaries they had): deposits, collateral mode, haircut schedules, venue
_QUIET_DEFAULTS = {"deposits": (), "collateral_mode": "single-asset", "haircut_schedule": (), "haircuts": None,
                   "venue": "binance"}


def _shown_option(a: Any, v: Any) -> bool:
    return a.name not in _QUIET_DEFAULTS or v != _QUIET_DEFAULTS[a.name]

class CsvStream:
    """A run file written row by row (buffered by the file), CSV rows by ``writerow``.
    Not saved in a snapshot: a checkpoint records its length and a resume reopens it
    (:meth:`Recorder.reopen_streams`)."""

    __slots__ = ("file", "writerow")

    def __init__(self, file: IO[str], header: tuple[str, ...] | None) -> None:
        self.file = file
        self.writerow = csv.writer(file).writerow
        if header is not None:
            self.writerow(header)

    def close(self) -> None:
        self.file.close()


def headroom_fraction(key: tuple[int, int]) -> float:
    """``1 - maintenance margin / margin balance`` of a ``(balance - mm, balance)`` key."""
    return round(key[0] / key[1], 6)


def _lower(key: tuple[int, int], than: tuple[int, int] | None) -> bool:
    """``key < than`` as fractions ``a/b`` (b > 0), exactly: a*d < c*b."""
    return than is None or key[0] * than[1] < than[0] * key[1]


def _headroom_key(balance: int, mm: int) -> tuple[int, int]:
    """``(balance - mm, balance)``: headroom ``1 - mm/balance`` as a fraction; a balance
    <= 0 (no margin left at all) counts as headroom -1 (-100 %)."""
    if balance <= 0:
        return (-1, 1)
    return (balance - mm, balance)


@attrs.define
class SymbolRecord:
    """Running figures of one symbol of the run (the strategy's account)."""

    fills: int = 0
    fees_atoms: int = 0
    clearance_atoms: int = 0  # clearance (liquidation) fees: the symbol's share of its liquidations'
    funding_atoms: int = 0
    realized_closed_atoms: int = 0  # realized PnL of positions closed (the ledger drops them)
    realized_open_atoms: int = 0  # realized PnL of the position open now
    liquidations: int = 0
    min_headroom: tuple[int, int] | None = None  # (balance - mm, balance) at the lowest
    min_headroom_ns: int = 0


class Recorder:
    """Writes the strategy account's story during a run and sums it up at the end."""

    def __init__(self, replay: ReplayForRecorder, out_dir: str | Path | None) -> None:
        self.replay = replay
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.jsonl: JsonlSink | None = None
        self.events_file: CsvStream | None = None
        self.fills_csv: CsvStream | None = None
        self.series_csv: CsvStream | None = None
        self.trades_csv: CsvStream | None = None
        self.positions_csv: CsvStream | None = None
        self.depth_csv: CsvStream | None = None
        #: several assets or a coin: rows name their asset and its USD value (else as before)
        self.multi = tells_assets(list(replay.ledger.assets))
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            events = open_run_file(self.out_dir, "events.jsonl")
            self.jsonl = JsonlSink(events)
            self.events_file = CsvStream(events, None)  # (closes it; the sink only flushes)
            self.fills_csv = CsvStream(open_run_file(self.out_dir, "fills.csv"), FILL_FIELDS)
            self.series_csv = CsvStream(open_run_file(self.out_dir, "timeseries.csv"),
                                        SERIES_FIELDS + ASSET_SERIES_FIELDS if self.multi else SERIES_FIELDS)
            self.trades_csv = CsvStream(open_run_file(self.out_dir, "trades.csv"), TRADE_FIELDS)
            self.positions_csv = CsvStream(open_run_file(self.out_dir, "positions.csv"), POSITION_FIELDS)
            self.depth_csv = CsvStream(open_run_file(self.out_dir, "depth.csv"), DEPTH_FIELDS)
        insts = list(replay.instruments)
        self.trips = TripBook({i.symbol: i.atoms_per_tick_lot for i in insts}, {i.symbol: i.lot_size_e8 for i in insts},
                              inverse={i.symbol: i.inverse_atoms_per_lot_tick for i in insts if i.inverse},
                              only_account=ACCOUNT_ID)
        self.curve = EquityCurve()
        self.open_trips: list[Any] = []  # at the end: the trips still open, valued at the last mark
        self.symbols: dict[str, SymbolRecord] = {s: SymbolRecord() for s in replay.symbols}
        self.fill_count = 0
        self.fees_atoms = 0
        self.pending_fills: list[OwnFill] = []  # this event batch's, written once its liquidations are known
        self.liquidation_fill_orders: set[int] = set()  # order ids of the current batch's liquidations
        self.liquidations: list[dict[str, Any]] = []  # of the strategy's account
        self.other_liquidations = 0
        self.adl_events = 0  # the strategy's account was auto-deleveraged
        self.funding_atoms = 0
        self.funding_payments = 0
        self.order_events: dict[str, int] = {}
        self.last_fill_sample_ns = _NEVER
        self.after_liquidation = False  # sample the state after this batch's liquidation
        self.peak_equity: int | None = None
        self.max_drawdown_atoms = 0
        self.last_rows: dict[str, tuple[Any, ...]] = {}  # symbol -> its last row written (less time and why)
        #: each position's running risk figures (summary's positions_risk) and the open ones
        self.tracks = PositionTracks()
        self.rows_written = 0
        self.samples_left_out = 0  # periodic rows equal to the symbol's previous one
        self.last_index: dict[str, int] = {}  # symbol -> index price last written to events.jsonl
        self.index_lines_left_out = 0
        # multi-assets collateral (a run with --collateral-mode multi-assets): the account
        # margin ratio (last, highest and when), auto-exchanges by asset pair, rule changes
        self.account_ratio_e8: int | None = None
        self.account_ratio_max_e8: int | None = None
        self.account_ratio_max_ns = 0
        self.auto_exchanges: dict[str, dict[str, Any]] = {}  # "BTC->USDT" -> count, amounts, reasons
        self.collateral_mode_set: list[dict[str, Any]] = []
        self.rule_changes = 0
        self.rule_change_examples: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ event hooks
    def log(self, events: list[Any]) -> None:
        """The end of one event batch: its fills (now that its liquidations are known), the
        samples it asks for, its round trips, and its events to events.jsonl."""
        self._write_trips(events)
        if self.pending_fills:
            self._write_fills()
        if self.after_liquidation:
            self.after_liquidation = False
            self._sample(self.replay.loop.now_ns, "after liquidation")
        if self.jsonl is not None:
            kept = events
            if any(type(e) is IndexPriceUpdated for e in events):
                kept = []
                last = self.last_index
                for e in events:
                    if type(e) is IndexPriceUpdated:
                        if last.get(e.symbol) == e.index_price_subticks:
                            self.index_lines_left_out += 1
                            continue
                        last[e.symbol] = e.index_price_subticks
                    kept.append(e)
            self.jsonl(kept)

    def _write_trips(self, events: list[Any]) -> None:
        """A batch through the round-trip book: its fills to fills.csv, the trips it closed
        to trades.csv."""
        records, closed = self.trips.on_events(events, self.fills_csv is not None)  # (no fills.csv: no records)
        if records and self.fills_csv is not None:
            row, inst, w = fill_row, self._inst, self.fills_csv.writerow
            for fr in records:
                w(row(fr, inst(fr.symbol)))
        if closed and self.trades_csv is not None:
            for trip in closed:
                self.trades_csv.writerow(trip_row(trip, self._inst(trip.symbol)))

    def count_filled_at_once(self, accepted: Any, fill: OwnFill) -> None:
        """``on_order_event(accepted)`` and ``on_fill(fill)`` of the batch of an order that
        filled completely on arrival (``Replay._filled_at_once``: the batch is ``[accepted,
        the Fill, a PositionChanged]``), before the strategy's ``on_fill`` as one by one;
        :meth:`log_filled_at_once` takes the rest of the batch after it. The fill is not
        kept pending: it is the batch's only one and completes its order."""
        self.order_events["OrderAccepted"] = self.order_events.get("OrderAccepted", 0) + 1  # (type(accepted).__name__)
        self._count_fill(fill)

    def log_filled_at_once(self, fill: OwnFill, position: Any, events: list[Any]) -> None:
        """``on_position(position)`` then ``log(events)`` of that batch (see
        :meth:`count_filled_at_once`). It has no liquidation, no index price and no book
        delta: its fill is the one ``_write_fills`` would sample, and its events go to
        events.jsonl as they are."""
        self.on_position(position)
        self._write_trips(events)
        if fill.ts_ns >= self.last_fill_sample_ns + self.replay.config.sample_interval_ns:  # (_write_fills)
            self.last_fill_sample_ns = fill.ts_ns
            self._sample(fill.ts_ns, "fill")
        if self.jsonl is not None:
            self.jsonl(events)

    def on_fill(self, fill: OwnFill) -> None:
        self.pending_fills.append(fill)
        self._count_fill(fill)

    def _count_fill(self, fill: OwnFill) -> None:
        """One of the strategy's fills in the run's counts and fees, and its symbol's."""
        self.fill_count += 1
        self.fees_atoms += fill.fee_atoms
        rec = self.symbols.get(fill.symbol)
        if rec is not None:
            rec.fills += 1
            rec.fees_atoms += fill.fee_atoms

    def _write_fills(self) -> None:
        fills = self.pending_fills
        liquidation_orders = self.liquidation_fill_orders
        # the position right after an order completed, at most once per sampling interval
        # (a busy strategy's fills are in fills.csv; the series samples them): the time of
        # the batch's last fill that completed an order, not a liquidation's
        done_ns = None
        for fl in reversed(fills):
            if not fl.leaves_lots and fl.order_id not in liquidation_orders:
                done_ns = fl.ts_ns
                break
        fills.clear()  # (emptied in place: one list for the run, not one per batch)
        if liquidation_orders:
            liquidation_orders.clear()
        if done_ns is not None and done_ns >= self.last_fill_sample_ns + self.replay.config.sample_interval_ns:
            self.last_fill_sample_ns = done_ns
            self._sample(done_ns, "fill")

    def on_position(self, e: Any) -> None:
        """A PositionChanged of the strategy's account: its symbol's realized PnL."""
        rec = self.symbols.get(e.symbol)
        if rec is None:
            return
        if e.qty_lots:
            rec.realized_open_atoms = e.realized_pnl_atoms
        else:  # closed: the ledger drops the position (and its running total) now
            rec.realized_closed_atoms += e.realized_pnl_atoms
            rec.realized_open_atoms = 0

    def on_mark(self, e: Any) -> None:
        figures = self.replay.margin_figures(e.symbol)
        if figures is not None:
            self._headroom(e.symbol, e.ts_ns, _headroom_key(*figures))
        if self.replay.multi_assets:
            self._account_ratio(e.ts_ns)

    def _account_ratio(self, ts_ns: int) -> None:
        """The multi-assets account's margin ratio now (exact, e8, capped at
        :data:`RATIO_CAP_E8`): the last one and the highest. O(assets + positions)."""
        ledger = self.replay.ledger
        if ledger.portfolio(ACCOUNT_ID) is None:
            return
        figures = ledger.portfolio_figures(ACCOUNT_ID)
        self._ratio_seen(ts_ns, min(RATIO_CAP_E8, figures.margin_ratio_e8()) if figures.maint_usd_e40 else 0)

    def _ratio_seen(self, ts_ns: int, ratio_e8: int) -> None:
        self.account_ratio_e8 = ratio_e8
        if self.account_ratio_max_e8 is None or ratio_e8 > self.account_ratio_max_e8:
            self.account_ratio_max_e8, self.account_ratio_max_ns = ratio_e8, ts_ns

    def on_collateral(self, e: Any) -> None:
        """An ``AutoExchange`` of the strategy's account, its ``SettingChanged`` of the
        collateral mode, or a ``CollateralRuleSet`` (a haircut or buffer change of an asset)."""
        name = type(e).__name__
        if name == "AutoExchange":
            if e.account_id != ACCOUNT_ID:
                return
            pair = self.auto_exchanges.setdefault(
                f"{e.from_asset}->{e.to_asset}", {"count": 0, "from_atoms": 0, "to_atoms": 0, "reasons": {}}
            )
            pair["count"] += 1
            pair["from_atoms"] += e.from_atoms
            pair["to_atoms"] += e.to_atoms
            pair["reasons"][e.reason] = pair["reasons"].get(e.reason, 0) + 1
        elif name == "SettingChanged":  # (setting COLLATERAL_MODE)
            if e.account_id == ACCOUNT_ID:
                self.collateral_mode_set.append({"time_utc": utc_text(e.ts_ns), "mode": e.value})
        else:
            self.rule_changes += 1
            if len(self.rule_change_examples) < 20:
                self.rule_change_examples.append({"time_utc": utc_text(e.ts_ns), **rule_texts(e)})

    def _headroom(self, symbol: str, ts_ns: int, key: tuple[int, int]) -> None:
        rec = self.symbols.get(symbol)
        if rec is not None and _lower(key, rec.min_headroom):
            rec.min_headroom, rec.min_headroom_ns = key, ts_ns

    def on_liquidation(self, e: Any) -> None:
        if e.account_id == ACCOUNT_ID:
            if e.scope == "MULTI_ASSETS":  # (the account margin ratio at the trigger: USD e8 both)
                self._ratio_seen(e.ts_ns, min(RATIO_CAP_E8, self.replay.ledger.margin_ratio_e8(e.margin_balance_atoms, e.maint_margin_atoms)))
            for p in e.positions:
                self.liquidation_fill_orders.add(p.order_id)
            self.liquidations.append(
                {
                    "ts_ns": e.ts_ns,
                    "time_utc": utc_text(e.ts_ns),
                    "scope": e.scope,
                    "symbol": e.symbol,
                    "partial": e.partial,
                    "margin_balance": format_atoms(e.margin_balance_atoms),
                    "maint_margin": format_atoms(e.maint_margin_atoms),
                    "clearance_fee": format_atoms(e.clearance_fee_atoms),
                    # (a multi-assets account's balance and maintenance margin are USD, 1e-8 USD)
                    **({"money_in": "USD (margin_balance, maint_margin)"} if e.scope == "MULTI_ASSETS" else {}),
                    "positions": [
                        {
                            "symbol": p.symbol,
                            "qty": self._qty(p.symbol, p.qty_lots),
                            "mark_price": self._mark(p.symbol, p.mark_price_subticks),
                            "liquidation_price": self._mark(p.symbol, p.liquidation_price_subticks),
                            "bankruptcy_price": self._px(p.symbol, p.bankruptcy_price_ticks),
                            "filled_qty": self._qty(p.symbol, p.filled_lots),
                            "taken_over_qty": self._qty(p.symbol, p.taken_over_lots),
                            "adl_qty": self._qty(p.symbol, p.adl_lots),
                        }
                        for p in e.positions
                    ],
                    "explanation": e.explanation,
                }
            )
            self._share_clearance(e)
            self._liquidation_rows(e)
            self.after_liquidation = True
        else:
            self.other_liquidations += 1
        if any(a.account_id == ACCOUNT_ID for a in e.adl):
            self.adl_events += 1

    def _share_clearance(self, e: Any) -> None:
        """A liquidation's clearance fee, booked to its symbols: whole to a one-symbol scope; a
        cross scope's split by the positions' notional at the mark (floored, the remainder to
        the last), so the symbols' PnL adds up to the account's to the atom."""
        fee = e.clearance_fee_atoms
        if not fee:
            return
        weights = [(p.symbol, abs(p.qty_lots) * p.mark_price_subticks * self._inst(p.symbol).lot_size_e8) for p in e.positions]
        total = sum(w for _, w in weights)
        left = fee
        for k, (sym, w) in enumerate(weights):
            share = left if k == len(weights) - 1 or not total else mul_div_floor(fee, w, total)
            left -= share
            rec = self.symbols.get(sym)
            if rec is not None:
                rec.clearance_atoms += share

    def _liquidation_rows(self, e: Any) -> None:
        """The trigger instant: each liquidated position with the scope's figures the
        engine acted on (margin ratio >= 100 %), before its fills changed them."""
        r = self.replay
        balance, mm = e.margin_balance_atoms, e.maint_margin_atoms
        ratio_e8 = min(RATIO_CAP_E8, r.ledger.margin_ratio_e8(balance, mm))
        key = _headroom_key(balance, mm)
        acct = r.ledger.accounts.get(ACCOUNT_ID)
        equity = r.equity_atoms()
        wallet = acct.wallet_atoms if acct is not None else 0
        for p in e.positions:
            rec = self.symbols.get(p.symbol)
            if rec is None:
                continue
            rec.liquidations += 1
            self._headroom(p.symbol, e.ts_ns, key)
            row = (p.mark_price_subticks, r.exchange.last_price(p.symbol), None, None, equity, wallet, p.qty_lots, None,
                   balance, mm, ratio_e8, p.liquidation_price_subticks or None)
            if self.multi:  # the liquidated symbol's own asset
                asset = self._inst(p.symbol).margin_asset
                a = r._account(asset)
                eq = r.ledger.equity_atoms(a) if a is not None else 0
                row = (*row[:4], eq, a.wallet_atoms if a is not None else 0, *row[6:], asset, self._pricer().usd_atoms(asset, eq))
            self._write_row(e.ts_ns, p.symbol, row, "liquidation")

    def on_funding(self, e: Any) -> None:
        self.funding_atoms += e.amount_atoms
        self.funding_payments += 1
        rec = self.symbols.get(e.symbol)
        if rec is not None:
            rec.funding_atoms += e.amount_atoms

    def on_order_event(self, e: Any) -> None:
        name = type(e).__name__
        self.order_events[name] = self.order_events.get(name, 0) + 1

    def sample_timer(self, loop: Any, ts_ns: int) -> None:
        self._sample(ts_ns, "sample")
        if self.replay.multi_assets:  # (a collateral index tick moves the ratio between marks)
            self._account_ratio(ts_ns)

    # ------------------------------------------------------------------ helpers
    def _pricer(self) -> UsdPricer:
        """USD values at the marks now (built when asked: a snapshot keeps no function)."""
        r = self.replay
        return UsdPricer(r.instruments, r.exchange.mark_price_subticks)

    def _inst(self, symbol: str) -> Any:
        return self.replay.exchange.markets[symbol].instrument

    def _px(self, symbol: str, ticks: int | None) -> str | None:
        return None if not ticks else str(self._inst(symbol).price_str(ticks))

    def _mark(self, symbol: str, subticks: int | None) -> str | None:
        """A mark or liquidation price (subticks) as exact text: the tick's decimals, more
        when it is finer (a venue mark such as ``0.52345`` at tick 0.0001). The one place
        that formats marks."""
        return None if not subticks else str(self._inst(symbol).mark_str(subticks))

    def _qty(self, symbol: str, lots: int) -> str:
        return str(self._inst(symbol).qty_str(lots))

    def _entry(self, symbol: str, qty_lots: int, cost_atoms: int) -> str | None:
        """Average entry price (:func:`exsim.results.positions.entry_price_text`)."""
        return entry_price_text(self._inst(symbol), qty_lots, cost_atoms)

    def _sample(self, ts_ns: int, why: str) -> None:
        """One row per symbol: the account's state now."""
        r = self.replay
        acct = r.ledger.accounts.get(ACCOUNT_ID)
        equity = r.equity_atoms()
        wallet = acct.wallet_atoms if acct is not None else 0
        self.curve.add(ts_ns, equity)
        peak = self.peak_equity
        if peak is None or equity > peak:
            self.peak_equity = peak = equity
        if peak - equity > self.max_drawdown_atoms:
            self.max_drawdown_atoms = peak - equity
        periodic = why == "sample" or why == "end"
        ranges = r.trade_ranges
        written: list[str] = []
        for sym in r.symbols:
            sym_acct = r._account(self._inst(sym).margin_asset)  # (the symbol's asset's wallet holds its position)
            pos = sym_acct.positions.get((sym, 0)) if sym_acct is not None else None
            qty = pos.qty_lots if pos is not None else 0
            figures = r.margin_figures(sym) if qty else None
            balance, mm = figures if figures is not None else (None, None)
            ratio_e8 = min(RATIO_CAP_E8, r.ledger.margin_ratio_e8(balance, mm)) if figures is not None else None
            lp = r.liquidation_price_subticks(sym) if qty else None
            rng = ranges[sym]
            low, high = rng
            if periodic:  # the range restarts at each periodic sample
                rng[0], rng[1] = 1 << 62, 0
            row = (
                r.exchange.mark_price_subticks(sym),
                r.exchange.last_price(sym),
                low if high else None,
                high or None,
                equity,
                wallet,
                qty,
                pos.cost_atoms if pos is not None and qty else None,
                balance,
                mm,
                ratio_e8,
                lp,
            )
            if self.multi:  # the symbol's own asset: its wallet's equity, and that in USD
                asset = self._inst(sym).margin_asset
                sym_equity = r.ledger.equity_atoms(sym_acct) if sym_acct is not None else 0
                row = (*row[:4], sym_equity, sym_acct.wallet_atoms if sym_acct is not None else 0, *row[6:],
                       asset, self._pricer().usd_atoms(asset, sym_equity))
            if why == "sample" and not r.config.sample_all and self.last_rows.get(sym) == row:
                self.samples_left_out += 1
                continue
            self._write_row(ts_ns, sym, row, why)
            written.append(sym)
        if written and self.positions_csv is not None:
            self._write_positions(ts_ns, written)

    def _write_positions(self, ts_ns: int, written: list[str]) -> None:
        """positions.csv and depth.csv at a sample, for the symbols whose time-series row
        was written (a row left out as unchanged leaves these out too): the account's open
        positions attributed (:func:`exsim.liquidation.risk.account_risk`, which checks
        that the maintenance margins add up to each scope's), a closing row for each one
        flat since the last, and each symbol's book. O(positions + 2 × DEPTH_LEVELS) a symbol."""
        r = self.replay
        time_utc = utc_text(ts_ns)
        tracks = self.tracks
        inst = self._inst
        assert self.positions_csv is not None and self.depth_csv is not None
        w = self.positions_csv.writerow
        risks = account_risk(r.ledger, r.exchange.liquidator, ACCOUNT_ID, list(r.ledger.assets))
        keys = []
        for k in risks:
            key = position_key(ACCOUNT_ID, k.symbol, k.position_side)
            keys.append(key)
            drawdown = tracks.observe(key, k, ts_ns)
            if k.symbol in written:
                w(position_cells(ts_ns, time_utc, ACCOUNT_ID, k, inst(k.symbol), drawdown, 0))
        for key in tracks.open_keys.get(str(ACCOUNT_ID), ()):
            if key not in keys:
                symbol = key.split("|")[1]
                w(closing_cells(ts_ns, time_utc, key, inst(symbol), r.exchange.mark_price_subticks(symbol) or 0, 0))
                tracks.flat(key)
        tracks.open_keys[str(ACCOUNT_ID)] = keys
        d = self.depth_csv.writerow
        for sym in written:
            book = r.exchange.book(sym)
            i = inst(sym)
            d((ts_ns, time_utc, sym, depth_text(book.depth(BUY, DEPTH_LEVELS), i), depth_text(book.depth(SELL, DEPTH_LEVELS), i), 0))

    def _write_row(self, ts_ns: int, sym: str, row: tuple[Any, ...], why: str) -> None:
        """Write one time-series row as exact text (empty where there is no value)."""
        self.last_rows[sym] = row
        self.rows_written += 1
        w = self.series_csv
        if w is None:
            return
        mark, last, low, high, equity, wallet, qty, cost, balance, mm, ratio_e8, lp = row[:12]
        px = self._px
        cells = (
            ts_ns,
            utc_text(ts_ns),
            sym,
            self._mark(sym, mark),
            px(sym, last),
            px(sym, low),
            px(sym, high),
            format_atoms(equity),
            format_atoms(wallet),
            self._qty(sym, qty),
            None if cost is None else self._entry(sym, qty, cost),
            None if balance is None else format_atoms(balance),
            None if mm is None else format_atoms(mm),
            None if ratio_e8 is None else format_rate_e8(ratio_e8, 8),
            self._mark(sym, lp),
            why,
        )
        if len(row) > 12:  # (a run with several assets: asset, equity in USD)
            cells = (*cells, row[12], None if row[13] is None else format_atoms(row[13]))
        w.writerow(["" if v is None else v for v in cells])

    # ------------------------------------------------------------------ checkpoints
    def flush_streams(self) -> dict[str, int]:
        """Flush the streamed CSVs; their lengths in bytes (for a checkpoint)."""
        out: dict[str, int] = {}
        for name, stream in zip(STREAMED_CSVS, (self.fills_csv, self.series_csv, self.trades_csv, self.positions_csv,
                                                self.depth_csv)):
            if stream is not None:
                stream.file.flush()
                out[name] = stream.file.tell()
        return out

    def reopen_streams(self, out_dir: Path, lengths: dict[str, int]) -> list[IO[str]]:
        """A resume: cut the streamed CSVs back to a checkpoint's lengths and append."""
        files = []
        for name in STREAMED_CSVS:
            path = out_dir / name
            with open(path, "r+b") as f:
                f.truncate(lengths[name])
            files.append(open_run_file(out_dir, name, "a"))
        self.fills_csv, self.series_csv, self.trades_csv, self.positions_csv, self.depth_csv = (CsvStream(f, None) for f in files)
        return files

    # ------------------------------------------------------------------ the end
    def finish(self) -> dict[str, Any]:
        r = self.replay
        if self.pending_fills:
            self._write_fills()
        end_ns = r.last_ts_ns or r.loop.now_ns
        self._sample(end_ns, "end")
        held = [a for a in (r._account(asset) for asset in r.ledger.assets) if a is not None]
        if len(held) == 1:  # the trips are the ledger's, to the atom (the tally adds trips up across assets: one asset)
            acct = held[0]
            self.trips.check(ACCOUNT_ID, acct.realized_pnl_atoms, acct.fees_atoms, acct.funding_atoms)
        self.trips._check()
        self.open_trips = self.trips.open_trips(end_ns, self._open_value)
        summary = self.summary()
        if self.out_dir is not None:
            assert self.jsonl is not None
            if self.trades_csv is not None:
                for trip in self.open_trips:
                    self.trades_csv.writerow(trip_row(trip, self._inst(trip.symbol)))
            self.jsonl.close()
            for stream in (self.events_file, self.fills_csv, self.series_csv, self.trades_csv, self.positions_csv, self.depth_csv):
                if stream is not None:
                    stream.close()
            with atomic_write(self.out_dir / "summary.json") as f:
                json.dump(summary, f, indent=1)
                f.write("\n")
        return summary

    def _open_value(self, account_id: int, symbol: str, position_side: int) -> tuple[int, int]:
        """An open position's unrealized PnL at the last mark (rounded down, as the
        summary's) and that mark."""
        r = self.replay
        acct = r.ledger.find_account(account_id, self._inst(symbol).margin_asset)
        pos = acct.positions.get((symbol, position_side)) if acct is not None else None
        mark = r.exchange.mark_price_subticks(symbol)
        if pos is None or not pos.qty_lots or not mark:
            return 0, mark or 0
        return r.ledger.position_figures(pos)[1], mark

    def statistics(self, deposit_atoms: int, equity_atoms: int, worst: tuple[int, int] | None, worst_ns: int) -> dict[str, Any]:
        """The trader's statistics of the run (exsim.results.stats)."""
        open_trips = getattr(self, "open_trips", [])
        ratio = None
        if worst is not None:
            ratio = Fraction(RATIO_CAP_E8, RATE_SCALE) if worst[1] <= 0 or worst == (-1, 1) else Fraction(worst[1] - worst[0], worst[1])
        end_ns = self.curve.last_ts_ns
        return statistics(
            self.curve,
            self.trips.tally(ACCOUNT_ID),
            deposit_atoms,
            equity_atoms,
            sum(t.unrealized_atoms for t in open_trips),
            self.trips.exposed_ns(ACCOUNT_ID, end_ns),
            len(open_trips),
            ratio,
            worst_ns if worst is not None else None,
        )

    def position_summary(self, symbol: str) -> dict[str, Any]:
        """One symbol's figures at the end: position, entry, mark, PnL, liquidation price."""
        r = self.replay
        rec = self.symbols[symbol]
        acct = r._account(self._inst(symbol).margin_asset)
        pos = acct.positions.get((symbol, BOTH)) if acct is not None else None
        qty = pos.qty_lots if pos is not None else 0
        mark = r.exchange.mark_price_subticks(symbol)
        # every position side of the symbol (hedge mode holds a long and a short beside BOTH)
        legs = [acct.positions.get((symbol, side)) for side in (BOTH, LONG, SHORT)] if acct is not None else []
        held = [p for p in legs if p is not None and p.qty_lots]
        upnl = sum(r.ledger.position_figures(p)[1] for p in held) if mark else 0  # (at the exact mark, rounded down)
        realized = rec.realized_closed_atoms + rec.realized_open_atoms
        hs = rec.min_headroom
        hedge = {
            POSITION_SIDE_NAMES[p.position_side].lower(): self._qty(symbol, p.qty_lots)
            for p in held
            if p.position_side != BOTH
        }
        return {
            "symbol": symbol,
            "open_position": self._qty(symbol, qty),
            **({"hedge_positions": hedge} if hedge else {}),
            "entry_price": self._entry(symbol, qty, pos.cost_atoms) if qty else None,
            "mark_price": self._mark(symbol, mark),
            "last_price": self._px(symbol, r.exchange.last_price(symbol)),
            "liquidation_price": self._mark(symbol, r.liquidation_price_subticks(symbol)) if qty else None,
            "pnl": format_atoms(realized + upnl - rec.fees_atoms - rec.clearance_atoms + rec.funding_atoms),
            "unrealized_pnl": format_atoms(upnl),
            "realized_pnl": format_atoms(realized),
            "fees": format_atoms(rec.fees_atoms),
            "clearance_fees": format_atoms(rec.clearance_atoms),
            "funding": format_atoms(rec.funding_atoms),
            "fills": rec.fills,
            "liquidations": rec.liquidations,
            "min_margin_headroom": None if hs is None else {
                "ts_ns": rec.min_headroom_ns,
                "time_utc": utc_text(rec.min_headroom_ns),
                "headroom": headroom_fraction(hs),
            },
        }

    def positions_risk(self) -> list[dict[str, Any]]:
        """The account's ``positions_risk`` (docs/results.md): each position it held at a
        sample, its figures at its scope's worst sample, its worst PnL and drawdown."""
        r = self.replay
        now = {position_key(ACCOUNT_ID, k.symbol, k.position_side): k
               for k in account_risk(r.ledger, r.exchange.liquidator, ACCOUNT_ID, list(r.ledger.assets))}
        return positions_risk(self.tracks, ACCOUNT_ID, now, self._inst)

    def sampling_summary(self) -> dict[str, Any]:
        cfg = self.replay.config
        every = f"every {cfg.sample_interval_ns / 1e9:g} s"
        if cfg.sample_all:
            how = f"{every}, at each completed order and at each liquidation"
            more = None
        else:
            how = f"{every} when a value of the symbol's row changed, at each completed order and at each liquidation"
            more = (
                f"{self.samples_left_out:,} periodic rows equal to the previous one were left out; pass "
                "--sample DURATION (e.g. --sample 1s) for a row at every multiple of it"
            )
        return {
            "timeseries": how,
            "rows": self.rows_written,
            "left_out": self.samples_left_out,
            "more": more,
            "index_lines_left_out": self.index_lines_left_out,
        }

    def summary(self) -> dict[str, Any]:
        r = self.replay
        cfg = r.config
        acct = r.ledger.accounts.get(ACCOUNT_ID)
        deposit = acct.deposited_atoms if acct is not None else 0
        equity = r.equity_atoms()
        multi = tells_assets(list(r.ledger.assets))
        model = r.model
        inputs = [dict(i) for i in r.inputs]
        depth = (
            "replayed (venue depth; the strategy queues behind replayed size, queue model "
            f"{cfg.queue_model})"
            if r.depth_replayed
            else (
                f"synthetic: {cfg.synthetic_levels} levels a side, {cfg.synthetic_step_ticks} tick(s) apart, "
                f"{cfg.synthetic_qty or '100,000 USDT of notional'} a level, around the last quote or trade"
            )
        )
        if r.mark_mode == "replayed":
            mark = "replayed from the inputs' mark rows"
        else:
            index = f"the book's mid every {cfg.mark_interval_ns} ns"
            if r.index_files:
                index = (
                    f"the mid of the best bid/ask in {', '.join(r.index_files)} (an index proxy, at its own "
                    f"precision) every {cfg.mark_interval_ns} ns"
                )
            if r.index_replayed:
                index = "replayed index rows (" + ("seen" if r.index_seen else "none came") + f"; before them, {index})"
            mark = f"computed (MARGIN-SPEC §6: median(Price1, Price2, last)) with index = {index}"
            if r.mark_mode == "auto":
                mark += "; replayed from the first mark row on" + (" (seen)" if r.replayed_marks else " (none came)")
        funding = {
            "replayed": "replayed rates from the inputs",
            "computed": computed_funding_text(r.premium_replayed, r.symbols, r.funding_settlements, r.funding_at_interest),
            "none": "off",
        }[r.funding_mode]
        checks = r.quote_checks
        quote_check = None
        if checks["quotes"]:
            aligned = checks["aligned"]
            quote_check = {
                "quotes": checks["quotes"],
                "price_match_rate": round(checks["price_match"] / checks["quotes"], 6),
                "price_and_size_match_rate": round(checks["size_match"] / checks["quotes"], 6),
                "aligned_quotes": aligned,
                "aligned_price_match_rate": round(checks["aligned_price_match"] / aligned, 6) if aligned else None,
                "aligned_price_and_size_match_rate": round(checks["aligned_size_match"] / aligned, 6) if aligned else None,
                "quotes_inside_a_diff": checks["not_aligned"],
                "aligned_mismatches": [
                    dict(m, time_utc=utc_text(m["ts_ns"]), venue=self._px(r.symbols[0], m["venue_ticks"]), book=self._px(r.symbols[0], m["book_ticks"]))
                    for m in r.quote_mismatches
                ],
                "note": (
                    "each replayed best bid/ask compared with the book rebuilt from depth: as it arrives (the "
                    "bookTicker stream runs ahead of the depth stream), and at the same venue update id (quotes "
                    "whose id ends a depth diff, compared once the book has applied it; ids inside a diff name "
                    "a state the diff stream never shows)"
                ),
            }
        positions = [self.position_summary(s) for s in r.symbols]
        worst: tuple[int, int] | None = None
        worst_ns = 0
        for s in r.symbols:
            rec = self.symbols[s]
            if rec.min_headroom is not None and _lower(rec.min_headroom, worst):
                worst, worst_ns = rec.min_headroom, rec.min_headroom_ns
        if len(positions) == 1:
            open_position = positions[0]["open_position"]
        else:
            open_position = "; ".join(f"{p['symbol']} {p['open_position']}" for p in positions)
        sim_span_ns = max(0, (r.last_ts_ns or r.loop.now_ns) - r.first_ts_ns)
        return {
            "exsim_version": __version__,
            "inputs": inputs,
            "index_files": list(r.index_files),
            "symbols": r.symbols,
            "strategy": f"{type(r.strategy).__module__}:{type(r.strategy).__qualname__}",
            "config": config_dict(cfg),
            "market_model": {"depth": depth, "mark": mark, "funding": funding, "latency_ns": cfg.latency_ns,
                             "instruments": list(getattr(r, "instrument_notes", ()))},
            "rows": r.rows_done,
            "rows_by_kind": {name: n for name, n in zip(KIND_NAMES, model.counts) if n},
            "rows_left_out": dict(model.ignored),
            "rows_of_other_symbols": model.other_symbol_rows,
            "bad_rows": model.bad_rows + len(r.skipped_lines),
            "bad_row_examples": (list(r.skipped_lines) + list(model.bad_row_examples))[:5],
            "depth_gaps": len(r.gaps),
            "quote_check": quote_check,
            "first_ts_ns": r.first_ts_ns,
            "last_ts_ns": r.last_ts_ns,
            "first_time_utc": utc_text(r.first_ts_ns),
            "last_time_utc": utc_text(r.last_ts_ns),
            "span": r.span_summary(),
            "sampling": self.sampling_summary(),
            "simulated_s": sim_span_ns / 1e9,
            "wall_s": round(r.wall_s, 3),
            "rows_per_s": round(r.rows_done / r.wall_s) if r.wall_s > 0 else None,
            "account": {
                **({"asset": r.ledger.home_asset} if multi else {}),
                "deposit": format_atoms(deposit),
                "wallet": format_atoms(acct.wallet_atoms if acct is not None else 0),
                "equity": format_atoms(equity),
                "pnl": format_atoms(equity - deposit),
                "realized_pnl": format_atoms(acct.realized_pnl_atoms if acct is not None else 0),
                # (several assets: the home asset's; each asset's are under "assets")
                "fees": format_atoms(acct.fees_atoms if multi and acct is not None else 0 if multi else self.fees_atoms),
                "funding": format_atoms(acct.funding_atoms if multi and acct is not None else 0 if multi else self.funding_atoms),
                "funding_payments": self.funding_payments,
                "max_drawdown": format_atoms(self.max_drawdown_atoms),
                "min_margin_headroom": (
                    None
                    if worst is None
                    else {
                        "ts_ns": worst_ns,
                        "time_utc": utc_text(worst_ns),
                        "headroom": headroom_fraction(worst),
                        "note": (
                            "1 - maintenance margin / margin balance at the worst mark, or at a liquidation's "
                            "trigger; 0 or less is liquidation"
                        ),
                    }
                ),
                "fills": self.fill_count,
                "orders_sent": r.commands_sent,
                "order_events": dict(sorted(self.order_events.items())),
                "liquidations": len(self.liquidations),
                "adl": self.adl_events,
                "open_position": open_position,
                "positions_risk": self.positions_risk(),
            },
            "statistics": self.statistics(deposit, equity, worst, worst_ns),
            "positions": positions,
            "liquidations": self.liquidations,
            "other_accounts_liquidations": self.other_liquidations,
            "insurance_fund": format_atoms(r.ledger.fund.wallet_atoms),
            "notes": [{"ts_ns": ts, "time_utc": utc_text(ts), "text": t} for ts, t in r.notes],
            "state_hash": r.exchange.state_hash(),
            **self.asset_summary(positions),
            **self.collateral_summary(),
        }

    def collateral_summary(self) -> dict[str, Any]:
        """A multi-assets run's ``collateral`` block: the account's mode, where each asset's
        collateral index came from, the account figures in USD at the end (equity, available
        for order, maintenance margin: exact, truncated to 1e-8 USD), the account margin
        ratio (last and highest), per asset its equity, index, buffers, tiers, the haircut
        it lost in USD and what is available for order in it, auto-exchanges by asset pair
        and the rule changes. Nothing for a single-asset run (its summary is as it was)."""
        r = self.replay
        if not r.multi_assets:
            return {}
        ledger = r.ledger
        out: dict[str, Any] = {
            "mode": ledger.collateral_mode(ACCOUNT_ID),
            "mode_from": "--collateral-mode",
            "mode_set": self.collateral_mode_set,
            "index_sources": list(r.collateral_sources.values()),
        }
        if ledger.portfolio(ACCOUNT_ID) is not None:
            f = ledger.portfolio_figures(ACCOUNT_ID)
            ratio = min(RATIO_CAP_E8, f.margin_ratio_e8()) if f.maint_usd_e40 else 0
            out["account"] = {
                "equity_usd": format_usd_e40(f.equity_usd_e40, 8),
                "available_usd": format_usd_e40(f.available_usd_e40, 8),
                "initial_margin_usd": format_usd_e40(f.initial_usd_e40, 8),
                "maint_margin_usd": format_usd_e40(f.maint_usd_e40, 8),
                "margin_ratio": format_rate_e8(ratio),
                "margin_ratio_max": format_rate_e8(max(ratio, self.account_ratio_max_e8 or 0)),
                "margin_ratio_max_time_utc": (
                    utc_text(self.account_ratio_max_ns)
                    if self.account_ratio_max_e8 is not None and self.account_ratio_max_e8 >= ratio else utc_text(r.last_ts_ns)
                ),
                "note": "account margin ratio = Σ maintenance margin at the ask rate ÷ account equity (liquidation at 1); "
                "the highest is over the marks, the samples and the liquidations",
            }
            assets = {}
            for a in f.assets:
                rule = ledger.collateral[a.asset]
                assets[a.asset] = {
                    "equity": format_equity_e8(a.equity_atoms_e8),
                    "index_usd": format_atoms(rule.index_usd_e8),
                    **rule_texts(rule),
                    "value_usd": format_usd_e40(a.value_usd_e40, 8),
                    "haircut_usd": format_usd_e40(a.haircut_usd_e40, 8),
                    "maint_margin_usd": format_usd_e40(a.maint_usd_e40, 8),
                    "available_for_order": format_atoms(usd_e40_to_atoms_floor(f.available_usd_e40, rule)),
                }
            out["assets"] = assets
        out["auto_exchange"] = {
            pair: {"count": t["count"], "from_amount": format_atoms(t["from_atoms"]), "to_amount": format_atoms(t["to_atoms"]),
                   "reasons": dict(sorted(t["reasons"].items()))}
            for pair, t in sorted(self.auto_exchanges.items())
        }
        out["rule_changes"] = self.rule_changes
        out["rule_change_examples"] = self.rule_change_examples
        return {"collateral": out}

    def asset_summary(self, positions: list[dict[str, Any]]) -> dict[str, Any]:
        """A run with money in other than one USD stablecoin (a coin-margined symbol): the
        keys it adds to the summary — ``account.asset`` (the asset of the ``account`` block:
        the home asset), each position's ``asset``, ``assets`` (per asset the account holds:
        deposit, wallet, equity, realized PnL, fees, funding in that asset, and the equity's
        USD value with the price that converted it) and ``usd_value`` (the equity of every
        asset at its USD value, summed). Nothing for a one-stablecoin run (its summary is
        as it was)."""
        r = self.replay
        ledger = r.ledger
        if not tells_assets(list(ledger.assets)):
            return {}
        pricer = UsdPricer(r.instruments, r.exchange.mark_price_subticks)
        for p in positions:
            p["asset"] = self._inst(p["symbol"]).margin_asset
        assets: dict[str, Any] = {}
        total: int | None = 0
        for asset in ledger.assets:
            acct = r._account(asset)
            if acct is None:
                continue
            equity = ledger.equity_atoms(acct)
            usd = pricer.usd_atoms(asset, equity)
            total = None if usd is None or total is None else total + usd
            assets[asset] = {
                "deposit": format_atoms(acct.deposited_atoms),
                "wallet": format_atoms(acct.wallet_atoms),
                "equity": format_atoms(equity),
                "pnl": format_atoms(equity - acct.deposited_atoms),
                "realized_pnl": format_atoms(acct.realized_pnl_atoms),
                "fees": format_atoms(acct.fees_atoms),
                "funding": format_atoms(acct.funding_atoms),
                "equity_usd": None if usd is None else format_atoms(usd),
                "usd_price": pricer.price_text(asset),
                "usd_price_from": pricer.how(asset),
            }
        return {
            "assets": assets,
            "insurance_fund_by_asset": {a: format_atoms(ledger.book(a).fund.wallet_atoms) for a in ledger.assets},
            "usd_value": {
                "equity": None if total is None else format_atoms(total),
                "note": "each asset's equity at its USD price (a stablecoin at 1, a coin at the last mark of the "
                "run's contract that prices it), rounded down to 1e-8 USD, then added",
            },
        }


def rule_texts(rule: Any) -> dict[str, Any]:
    """A collateral rule's (or a ``CollateralRuleSet``'s) buffers and tiers as exact text;
    a field a rule change kept (None) is left out."""
    out: dict[str, Any] = {"asset": rule.asset} if type(rule).__name__ == "CollateralRuleSet" else {}
    for key in ("bid_buffer", "ask_buffer"):
        value = getattr(rule, key + "_e8")
        if value is not None:
            out[key] = format_rate_e8(value)
    if rule.tiers is not None:
        out["tiers"] = [
            {"upto": None if upto is None else format_atoms(upto, 0), "value_ratio": format_rate_e8(ratio)}
            for upto, ratio in rule.tiers
        ]
    return out


def format_equity_e8(equity_atoms_e8: int) -> str:
    """An asset equity in 1e-8 atoms (exact at subtick marks) as exact decimal text of the
    asset (16 decimals at most, trailing zeros trimmed to 8).

    >>> format_equity_e8(5 * 10**15), format_equity_e8(-123456789012345678)
    ('0.50000000', '-12.3456789012345678')
    """
    from exsim.units import ATOMS_E8_PER_ATOM

    whole_atoms, rest = divmod(abs(equity_atoms_e8), ATOMS_E8_PER_ATOM)
    text = format_atoms(whole_atoms)
    if rest:
        text += f"{rest:08d}".rstrip("0")
    return "-" + text if equity_atoms_e8 < 0 else text


def computed_funding_text(premium_replayed: list[str], symbols: list[str], settlements: int, at_interest: int) -> str:
    """How computed funding was computed, and whether it was ever more than the interest rate.

    >>> computed_funding_text([], ["BTCUSDT"], 3, 3)
    "computed from the book's premium index; every settlement (3) was the 0.01 % interest floor (the premium inside the ±0.05 % clamp)"
    >>> computed_funding_text(["BTCUSDT"], ["BTCUSDT"], 3, 1)
    'computed from the replayed premium index; 2 of 3 settlements differed from the 0.01 % interest rate'
    """
    if not premium_replayed:
        source = "the book's premium index"
    elif len(premium_replayed) == len(symbols):
        source = "the replayed premium index"
    else:
        source = f"the replayed premium index for {', '.join(premium_replayed)}, the book's for the others"
    if not settlements:
        return f"computed from {source} at each funding time; no funding time passed with a mark"
    if at_interest == settlements:
        what = f"every settlement ({settlements}) was the 0.01 % interest floor (the premium inside the ±0.05 % clamp)"
    else:
        what = f"{settlements - at_interest} of {settlements} settlements differed from the 0.01 % interest rate"
    return f"computed from {source}; {what}"
