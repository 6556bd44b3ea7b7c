"""The columns of every file a run writes, with their type and unit (docs/results.md has
the same table for reading).

Kinds:

* ``int`` — a whole number (nanoseconds, ids, counts): read as int64;
* ``decimal`` — an exact decimal string (money in the settlement asset, prices, sizes,
  ratios): read as :class:`decimal.Decimal`, never float;
* ``text`` — text (names, reasons, UTC times: ``ts_ns`` is the exact time);
* ``bool`` — ``True`` / ``False``.

An empty cell is "no value" (None).
"""

from __future__ import annotations

from typing import Final

#: ``fills.csv`` of a replay and of a scenario (one schema)
FILL_FIELDS: Final = (
    "ts_ns",
    "time_utc",
    "account",
    "symbol",
    "order_id",
    "client_order_id",
    "order_type",
    "side",
    "position_side",
    "price",
    "qty",
    "fee",
    "liquidity",
    "leaves_qty",
    "trade_id",
    "liquidation",
    "realized_pnl",
)

#: ``trades.csv``: one round trip a row
TRADE_FIELDS: Final = (
    "account",
    "symbol",
    "position_side",
    "side",
    "entry_ts_ns",
    "entry_time_utc",
    "exit_ts_ns",
    "exit_time_utc",
    "duration_s",
    "avg_entry_price",
    "avg_exit_price",
    "entry_notional",
    "exit_notional",
    "max_qty",
    "entry_qty",
    "exit_qty",
    "realized_pnl",
    "unrealized_pnl",
    "fees",
    "clearance_fee",
    "funding",
    "net_pnl",
    "exit_reason",
    "open_at_end",
    "fills",
)

#: column -> (kind, unit, meaning). A column name means the same in every file.
COLUMNS: Final[dict[str, tuple[str, str, str]]] = {
    # times and ids
    "ts_ns": ("int", "ns since 1970 UTC", "when it happened (exact)"),
    "time_utc": ("text", "ISO 8601 UTC, ns", "ts_ns for reading"),
    "entry_ts_ns": ("int", "ns since 1970 UTC", "the trip's first fill"),
    "entry_time_utc": ("text", "ISO 8601 UTC, ns", "entry_ts_ns for reading"),
    "exit_ts_ns": ("int", "ns since 1970 UTC", "the fill that brought the position to zero (the run's end if open)"),
    "exit_time_utc": ("text", "ISO 8601 UTC, ns", "exit_ts_ns for reading"),
    "duration_s": ("decimal", "s", "exit - entry, exact"),
    "account": ("int", "id", "the account (a replay's strategy is 1)"),
    "name": ("text", "", "the account's name (scenario)"),
    "symbol": ("text", "", "instrument"),
    "order_id": ("int", "id", "the exchange's order id"),
    "client_order_id": ("text", "", "the order's client id, empty if none"),
    "order_type": ("text", "", "LIMIT, MARKET, STOP_MARKET, ..., LIQUIDATION (the engine's order)"),
    "trade_id": ("int", "id", "the exchange's trade id"),
    "side": ("text", "", "buy / sell (fills); long / short (trades)"),
    "position_side": ("text", "", "BOTH (one-way mode), LONG or SHORT (hedge mode)"),
    "liquidity": ("text", "", "maker / taker"),
    "liquidation": ("bool", "", "a fill of a liquidation order"),
    "generation": ("int", "", "cascade round (scenario; a replay's positions.csv and depth.csv: 0)"),
    "margin_mode": ("text", "", "the position's scope: isolated, cross or multi-assets"),
    "run": ("text", "", "the run's name (its folder: the mode or venue under exsim compare)"),
    "what": ("text", "", "price (a position's mark may move) or haircut (a collateral asset's haircut may rise)"),
    "haircut_asset": ("text", "", "the collateral asset of a haircut row"),
    "bids": ("text", "", "the book's best bids, price:qty;price:qty best first, at most 10"),
    "asks": ("text", "", "the book's best asks, price:qty;price:qty best first, at most 10"),
    "asset": ("text", "", "the asset of the row's money columns (a run with a coin or several assets)"),
    "usd_prices": ("text", "", "each coin's USD price used, BTC=36500.0;... (scenario with a coin)"),
    "why": ("text", "", "why the row was written"),
    "exit_reason": ("text", "", "limit, market, stop, take_profit, trailing_stop, liquidation, adl, open, unknown"),
    "open_at_end": ("bool", "", "the trip was still open at the run's end (valued at the last mark)"),
    "fills": ("int", "", "fills (and transfers) of the trip"),
    # prices (quote asset per base unit)
    "price": ("decimal", "quote per base", "fill price"),
    "mark": ("decimal", "quote per base", "mark price"),
    "last": ("decimal", "quote per base", "last trade price"),
    "trade_low": ("decimal", "quote per base", "lowest trade since the last sample"),
    "trade_high": ("decimal", "quote per base", "highest trade since the last sample"),
    "best_bid": ("decimal", "quote per base", "best bid"),
    "best_ask": ("decimal", "quote per base", "best ask"),
    "entry_price": ("decimal", "quote per base", "average entry (cost / size, rounded down to 1e-8)"),
    "liquidation_price": ("decimal", "quote per base", "liquidation price"),
    "avg_entry_price": ("decimal", "quote per base", "entry_notional / entry_qty, rounded half-even to 1e-8"),
    "avg_exit_price": ("decimal", "quote per base", "exit_notional / exit_qty, rounded half-even to 1e-8 (open: the last mark)"),
    # sizes (base asset)
    "qty": ("decimal", "base", "fill size (positions.csv, distances.csv: the signed position)"),
    "leaves_qty": ("decimal", "base", "what the order still has open after the fill"),
    "position_qty": ("decimal", "base", "signed position (+ long, - short)"),
    "max_qty": ("decimal", "base", "largest size the trip reached"),
    "entry_qty": ("decimal", "base", "every lot that opened or added to the trip"),
    "exit_qty": ("decimal", "base", "every lot that closed (open trip: less than entry_qty)"),
    # money (settlement asset, exact to 1e-8)
    "fee": ("decimal", "settlement asset", "fee paid (negative: rebate)"),
    "realized_pnl": ("decimal", "settlement asset", "PnL booked (fills: by this fill; trades: by the trip's closes)"),
    "unrealized_pnl": ("decimal", "settlement asset", "an open trip's PnL at the last mark (0 when closed); positions.csv: the position's at the mark, rounded down"),
    "drawdown": ("decimal", "settlement asset", "the position's unrealized PnL below its own best so far (>= 0)"),
    "fees": ("decimal", "settlement asset", "fees of the trip's fills (a flipping fill's split pro rata)"),
    "clearance_fee": ("decimal", "settlement asset", "the liquidation clearance fee of the trip"),
    "funding": ("decimal", "settlement asset", "funding received (+) or paid (-) while open"),
    "net_pnl": ("decimal", "settlement asset", "realized + unrealized - fees - clearance_fee + funding"),
    "entry_notional": ("decimal", "settlement asset", "sum of price x qty of the opening fills (exact)"),
    "exit_notional": ("decimal", "settlement asset", "sum of price x qty of the closing fills (exact)"),
    "equity": ("decimal", "settlement asset", "wallet + isolated margin + unrealized PnL"),
    "wallet": ("decimal", "settlement asset", "the cross wallet"),
    "equity_usd": ("decimal", "USD", "equity at its USD price, rounded down (a run with a coin or several assets)"),
    "margin_balance": ("decimal", "settlement asset", "margin balance of the scope"),
    "maint_margin": ("decimal", "settlement asset", "maintenance margin of the scope (positions.csv: of the position itself, its bracket's)"),
    "scope_margin_balance": ("decimal", "settlement asset", "margin balance of the position's scope (multi-assets: USD, rounded down)"),
    "scope_maint_margin": ("decimal", "settlement asset", "maintenance margin of the position's scope (multi-assets: USD, rounded up)"),
    # ratios
    "margin_ratio": ("decimal", "fraction", "maintenance margin / margin balance (exact e8, rounded up)"),
    "scope_margin_ratio": ("decimal", "fraction", "the position's scope's margin ratio (exact e8, rounded up, at most 100)"),
    "distance_fraction": ("decimal", "fraction", "(liquidation price - mark) / mark, signed, e8 toward zero (haircut rows: the rise)"),
    "haircut_now": ("decimal", "fraction", "the asset's haircut now: 1 - its first tier's value ratio"),
    "haircut_at_liquidation": ("decimal", "fraction", "the haircut at which the account is liquidated (rounded down)"),
}
