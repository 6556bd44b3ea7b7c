"""Rows of ``fills.csv`` and ``trades.csv`` as exact text (columns: :mod:`exsim.results.schema`)."""

from __future__ import annotations

from datetime import datetime, timezone
from fractions import Fraction
from typing import Any

from exsim.ledger import POSITION_SIDE_NAMES
from exsim.results.trips import OPEN, FillRecord, Trip
from exsim.units import format_atoms, format_scaled, mul_div_half_even


def utc_text(ts_ns: int) -> str:
    """``2024-08-08T23:55:09.422080865Z`` — exact to the nanosecond.

    >>> utc_text(1_723_161_309_422_080_865)
    '2024-08-08T23:55:09.422080865Z'
    """
    secs, ns = divmod(ts_ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def average_price(inst: Any, value_atoms: int, lots: int) -> str:
    """``value / (lots * lot size)`` in the quote asset, rounded half-even to 1e-8 (empty for
    no lots). The exact figure is the notional column over the qty column. An inverse
    instrument's is the harmonic mean: ``lots × lot size × contract size / value`` (the
    value in coin), as Binance shows it."""
    if not lots:
        return ""
    if inst.inverse:
        if not value_atoms:
            return ""
        face = Fraction(inst.lot_size) * Fraction(inst.contract_size) * lots * 10**8  # USD × 1e8 atoms of coin
        return format_atoms(mul_div_half_even(face.numerator, 10**8, face.denominator * value_atoms))
    lot = Fraction(inst.lot_size)
    return format_atoms(mul_div_half_even(value_atoms, lot.denominator, lots * lot.numerator))


def fill_row(rec: FillRecord, inst: Any) -> tuple[Any, ...]:
    """One ``fills.csv`` row (schema.FILL_FIELDS)."""
    return (
        rec.ts_ns,
        utc_text(rec.ts_ns),
        rec.account_id,
        rec.symbol,
        rec.order_id,
        rec.client_order_id or "",
        rec.order_type,
        "buy" if rec.side == 0 else "sell",
        POSITION_SIDE_NAMES[rec.position_side],
        inst.price_str(rec.price_ticks),
        inst.qty_str(rec.qty_lots),
        format_atoms(rec.fee_atoms),
        "maker" if rec.is_maker else "taker",
        inst.qty_str(rec.leaves_lots),
        rec.trade_id,
        rec.liquidation,
        "" if rec.realized_atoms is None else format_atoms(rec.realized_atoms),
    )


def trip_row(trip: Trip, inst: Any) -> tuple[Any, ...]:
    """One ``trades.csv`` row (schema.TRADE_FIELDS)."""
    is_open = trip.exit_reason == OPEN
    if is_open:
        exit_price = format_atoms(trip.mark_subticks) if trip.mark_subticks else ""  # (subticks: 1e-8 of the quote)
    else:
        exit_price = average_price(inst, trip.exit_value_atoms, trip.exit_lots)
    return (
        trip.account_id,
        trip.symbol,
        POSITION_SIDE_NAMES[trip.position_side],
        "long" if trip.long else "short",
        trip.entry_ts_ns,
        utc_text(trip.entry_ts_ns),
        trip.exit_ts_ns,
        utc_text(trip.exit_ts_ns),
        format_scaled(trip.exit_ts_ns - trip.entry_ts_ns, 9),
        average_price(inst, trip.entry_value_atoms, trip.entry_lots),
        exit_price,
        format_atoms(trip.entry_value_atoms),
        format_atoms(trip.exit_value_atoms),
        inst.qty_str(trip.max_lots),
        inst.qty_str(trip.entry_lots),
        inst.qty_str(trip.exit_lots),
        format_atoms(trip.realized_atoms),
        format_atoms(trip.unrealized_atoms),
        format_atoms(trip.fees_atoms),
        format_atoms(trip.clearance_atoms),
        format_atoms(trip.funding_atoms),
        format_atoms(trip.net_atoms),
        trip.exit_reason,
        is_open,
        trip.fills,
    )
