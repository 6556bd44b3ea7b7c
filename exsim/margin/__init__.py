"""Margin mathematics: liquidation and bankruptcy prices (MARGIN-SPEC §1–4).

Calculator API (exact ``Fraction``; Decimal/str in, 8-place strings out; linear and
inverse (coin-margined) positions) and engine API
(integer ticks, lots, atoms, e8 rates) live in :mod:`exsim.margin.liquidation`; the
``exsim liq-price`` command in :mod:`exsim.calculator.liq_price_cli`.
"""

from exsim.margin.liquidation import (
    CROSS,
    ISOLATED,
    LONG,
    SHORT,
    STATUS_ALWAYS,
    STATUS_NEVER,
    STATUS_PRICE,
    FixedBracket,
    LegAtPrice,
    LiquidationResult,
    Position,
    as_fraction,
    bankruptcy_price,
    cross_bankruptcy_prices,
    format_price,
    inverse_unrealized_pnl,
    is_liquidatable,
    isolated_trigger_ticks,
    liquidation_price,
    maint_margin,
    to_decimal,
    unrealized_pnl,
)

__all__ = [
    "CROSS",
    "ISOLATED",
    "LONG",
    "SHORT",
    "STATUS_ALWAYS",
    "STATUS_NEVER",
    "STATUS_PRICE",
    "FixedBracket",
    "LegAtPrice",
    "LiquidationResult",
    "Position",
    "as_fraction",
    "bankruptcy_price",
    "cross_bankruptcy_prices",
    "format_price",
    "inverse_unrealized_pnl",
    "is_liquidatable",
    "isolated_trigger_ticks",
    "liquidation_price",
    "maint_margin",
    "to_decimal",
    "unrealized_pnl",
]
