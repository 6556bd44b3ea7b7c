"""The run record: what a replay writes and what its summary says.

With an output directory a run writes:

* ``events.jsonl`` — every exchange event (structlog JSON lines; book deltas only with
  ``log_book``);
* ``fills.csv`` — the strategy's fills, exact decimal prices, sizes and fees;
* ``timeseries.csv`` — every ``sample_interval_ns`` and at each of the strategy's fills
  and liquidations: mark, last, equity, wallet, position, margin balance, maintenance
  margin, margin ratio and liquidation price of the first symbol's position;
* ``summary.json`` — inputs, the market model's choices, the account's figures, checks.

Money is formatted from int atoms and prices from int ticks, exactly; floats appear only
in ratios (rates, margin ratio as a fraction) meant for reading and plotting.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from exsim import __version__
from exsim.readers.rows import KIND_NAMES
from exsim.replay.rundir import atomic_write
from exsim.replay.strategy import ACCOUNT_ID
from exsim.sinks import JsonlSink
from exsim.units import format_atoms, format_rate_e8

if TYPE_CHECKING:
    from exsim.replay.runner import Replay
    from exsim.replay.strategy import OwnFill

SERIES_FIELDS = (
    "ts_ns",
    "time_utc",
    "mark",
    "last",
    "trade_low",
    "trade_high",
    "equity",
    "wallet",
    "position_qty",
    "margin_balance",
    "maint_margin",
    "margin_ratio",
    "liquidation_price",
    "why",
)
FILL_FIELDS = ("ts_ns", "time_utc", "symbol", "order_id", "side", "price", "qty", "fee", "liquidity", "leaves_qty", "trade_id", "liquidation")


def utc_text(ts_ns: int) -> str:
    """``2024-08-08T23:55:09.422080865Z`` — exact to the nanosecond."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


class Recorder:
    """Collects the strategy account's story during a run and writes the run directory."""

    def __init__(self, replay: Replay, out_dir: str | Path | None) -> None:
        self.replay = replay
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.jsonl: JsonlSink | None = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.jsonl = JsonlSink(self.out_dir / "events.jsonl")
        self.fills: list[OwnFill] = []
        self.liquidation_fill_orders: set[int] = set()
        self.series: list[tuple[Any, ...]] = []  # ints; see _series_row for the columns
        self.liquidations: list[dict[str, Any]] = []  # of the strategy's account
        self.other_liquidations = 0
        self.adl_events = 0  # the strategy's account was auto-deleveraged
        self.funding_atoms = 0
        self.funding_payments = 0
        self.order_events: dict[str, int] = {}
        self.min_headroom: tuple[int, int, int] | None = None  # (ts, balance, mm) at the smallest balance/mm
        self.last_fill_sample_ns = -(1 << 62)

    # ------------------------------------------------------------------ event hooks
    def log(self, events: list[Any]) -> None:
        if self.jsonl is not None:
            self.jsonl(events)

    def on_fill(self, fill: OwnFill) -> None:
        self.fills.append(fill)
        if not fill.leaves_lots and fill.ts_ns >= self.last_fill_sample_ns + self.replay.config.sample_interval_ns:
            # the position right after an order completed, at most once per sampling
            # interval (a busy strategy's fills are in fills.csv; the series samples them)
            self.last_fill_sample_ns = fill.ts_ns
            self._sample(fill.ts_ns, "fill")

    def on_mark(self, e: Any) -> None:
        figures = self.replay.margin_figures(e.symbol)
        if figures is not None:
            balance, mm = figures
            # headroom = 1 - mm/balance; compare exactly: a/b < c/d  <=>  a*d < c*b (b, d > 0)
            if balance <= 0:
                headroom_key = (-1, 1)
            else:
                headroom_key = (balance - mm, balance)
            best = self.min_headroom
            if best is None or headroom_key[0] * best[2] < best[1] * headroom_key[1]:
                self.min_headroom = (e.ts_ns, headroom_key[0], headroom_key[1])

    def on_liquidation(self, e: Any) -> None:
        if e.account_id == ACCOUNT_ID:
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
                    "positions": [
                        {
                            "symbol": p.symbol,
                            "qty": self._qty(p.symbol, p.qty_lots),
                            "mark_price": self._mark_px(p.symbol, p.mark_price_subticks),
                            "liquidation_price": self._mark_px(p.symbol, p.liquidation_price_subticks),
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
            self._sample(e.ts_ns, "liquidation")
        else:
            self.other_liquidations += 1
        if any(a.account_id == ACCOUNT_ID for a in e.adl):
            self.adl_events += 1

    def on_funding(self, e: Any) -> None:
        self.funding_atoms += e.amount_atoms
        self.funding_payments += 1

    def on_order_event(self, e: Any) -> None:
        name = type(e).__name__
        self.order_events[name] = self.order_events.get(name, 0) + 1

    def sample_timer(self, loop: Any, ts_ns: int) -> None:
        self._sample(ts_ns, "sample")

    # ------------------------------------------------------------------ helpers
    def _inst(self, symbol: str) -> Any:
        return self.replay.exchange.markets[symbol].instrument

    def _px(self, symbol: str, ticks: int | None) -> str | None:
        return None if not ticks else str(self._inst(symbol).price_str(ticks))

    def _mark_px(self, symbol: str, subticks: int | None) -> str | None:
        """A mark or liquidation price (subticks) as exact text: the tick's decimals, more
        when it is finer (a venue mark such as ``0.52345`` at tick 0.0001)."""
        return None if not subticks else str(self._inst(symbol).mark_str(subticks))

    def _qty(self, symbol: str, lots: int) -> str:
        return str(self._inst(symbol).qty_str(lots))

    def _sample(self, ts_ns: int, why: str) -> None:
        r = self.replay
        sym = r.symbols[0]
        acct = r.ledger.accounts.get(ACCOUNT_ID)
        pos = acct.positions.get((sym, 0)) if acct is not None else None
        qty = pos.qty_lots if pos is not None else 0
        figures = r.margin_figures(sym)
        balance, mm = figures if figures is not None else (None, None)
        ratio_e8 = None
        if balance is not None and mm is not None:
            ratio_e8 = r.ledger.margin_ratio_e8(balance, mm)
        lp = r.liquidation_price_subticks(sym) if qty else None
        equity = r.equity_atoms()
        low, high = r.trade_low_ticks, r.trade_high_ticks
        if why == "sample" or why == "end":  # the range restarts at each periodic sample
            r.trade_low_ticks, r.trade_high_ticks = 1 << 62, 0
        # ints now, text when written (a run without --out never formats them)
        self.series.append(
            (
                ts_ns,
                r.exchange.mark_price_subticks(sym),
                r.exchange.last_price(sym),
                low if high else None,
                high or None,
                equity,
                acct.wallet_atoms if acct is not None else 0,
                qty,
                balance,
                mm,
                ratio_e8,
                lp,
                why,
            )
        )

    def _series_row(self, row: tuple[Any, ...]) -> list[Any]:
        """One time-series row as exact text (empty where there is no value)."""
        sym = self.replay.symbols[0]
        ts, mark, last, low, high, equity, wallet, qty, balance, mm, ratio_e8, lp, why = row
        px = self._px
        cells = [
            ts,
            utc_text(ts),
            self._mark_px(sym, mark),
            px(sym, last),
            px(sym, low),
            px(sym, high),
            format_atoms(equity),
            format_atoms(wallet),
            self._qty(sym, qty),
            None if balance is None else format_atoms(balance),
            None if mm is None else format_atoms(mm),
            None if ratio_e8 is None else format_rate_e8(ratio_e8, 8),
            self._mark_px(sym, lp),
            why,
        ]
        return ["" if v is None else v for v in cells]

    # ------------------------------------------------------------------ the end
    def finish(self) -> dict[str, Any]:
        r = self.replay
        self._sample(r.loop.now_ns, "end")
        summary = self.summary()
        if self.out_dir is not None:
            assert self.jsonl is not None
            self.jsonl.close()
            with atomic_write(self.out_dir / "fills.csv", newline="") as f:
                w = csv.writer(f)
                w.writerow(FILL_FIELDS)
                for fl in self.fills:
                    w.writerow(
                        (
                            fl.ts_ns,
                            utc_text(fl.ts_ns),
                            fl.symbol,
                            fl.order_id,
                            "buy" if fl.side == 0 else "sell",
                            self._px(fl.symbol, fl.price_ticks),
                            self._qty(fl.symbol, fl.qty_lots),
                            format_atoms(fl.fee_atoms),
                            "maker" if fl.is_maker else "taker",
                            self._qty(fl.symbol, fl.leaves_lots),
                            fl.trade_id,
                            fl.order_id in self.liquidation_fill_orders,
                        )
                    )
            with atomic_write(self.out_dir / "timeseries.csv", newline="") as f:
                w = csv.writer(f)
                w.writerow(SERIES_FIELDS)
                for row in self.series:
                    w.writerow(self._series_row(row))
            with atomic_write(self.out_dir / "summary.json") as f:
                json.dump(summary, f, indent=1)
                f.write("\n")
        return summary

    def summary(self) -> dict[str, Any]:
        r = self.replay
        cfg = r.config
        acct = r.ledger.accounts.get(ACCOUNT_ID)
        deposit = acct.deposited_atoms if acct is not None else 0
        equity = r.equity_atoms()
        fees = sum(f.fee_atoms for f in self.fills)
        # max drawdown over the recorded equity points (samples, fills, liquidations)
        peak = None
        max_dd = 0
        for eq in (row[5] for row in self.series):  # equity
            peak = eq if peak is None or eq > peak else peak
            max_dd = max(max_dd, peak - eq)
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
        hs = self.min_headroom
        sim_span_ns = max(0, (r.last_ts_ns or r.loop.now_ns) - r.first_ts_ns)
        return {
            "exsim_version": __version__,
            "inputs": inputs,
            "index_files": list(r.index_files),
            "symbols": r.symbols,
            "strategy": f"{type(r.strategy).__module__}:{type(r.strategy).__qualname__}",
            "config": attrs.asdict(cfg),
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
            "simulated_s": sim_span_ns / 1e9,
            "wall_s": round(r.wall_s, 3),
            "rows_per_s": round(r.rows_done / r.wall_s) if r.wall_s > 0 else None,
            "account": {
                "deposit": format_atoms(deposit),
                "wallet": format_atoms(acct.wallet_atoms if acct is not None else 0),
                "equity": format_atoms(equity),
                "pnl": format_atoms(equity - deposit),
                "realized_pnl": format_atoms(acct.realized_pnl_atoms if acct is not None else 0),
                "fees": format_atoms(fees),
                "funding": format_atoms(self.funding_atoms),
                "funding_payments": self.funding_payments,
                "max_drawdown": format_atoms(max_dd),
                "min_margin_headroom": (
                    None
                    if hs is None
                    else {
                        "ts_ns": hs[0],
                        "time_utc": utc_text(hs[0]),
                        "headroom": round(hs[1] / hs[2], 6),
                        "note": "1 - maintenance margin / margin balance at the worst mark; 0 or less is liquidation",
                    }
                ),
                "fills": len(self.fills),
                "orders_sent": r.commands_sent,
                "order_events": dict(sorted(self.order_events.items())),
                "liquidations": len(self.liquidations),
                "adl": self.adl_events,
                "open_position": self._qty(r.symbols[0], _qty_of(acct, r.symbols[0])),
            },
            "liquidations": self.liquidations,
            "other_accounts_liquidations": self.other_liquidations,
            "insurance_fund": format_atoms(r.ledger.fund.wallet_atoms),
            "notes": [{"ts_ns": ts, "time_utc": utc_text(ts), "text": t} for ts, t in r.notes],
            "state_hash": r.exchange.state_hash(),
        }


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


def _qty_of(acct: Any, symbol: str) -> int:
    if acct is None:
        return 0
    pos = acct.positions.get((symbol, 0))
    return pos.qty_lots if pos is not None else 0


