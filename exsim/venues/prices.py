"""Each venue's margin, liquidation-price and bankruptcy-price rules, exactly.

Pure functions over :class:`fractions.Fraction` (no state, no rounding): one function per
rule of one venue, each docstring naming its source and carrying the venue's worked
example as a doctest. Inputs are exact numbers (``Fraction``, ``int``, ``Decimal`` or a
decimal string, never a float: :func:`exsim.margin.liquidation.as_fraction`); sides are
``LONG`` (+1) and ``SHORT`` (-1) as in :mod:`exsim.margin.liquidation`. A price that is
not positive comes back as ``None`` (no such price). Rounding happens only where a price
is shown (``exsim.margin.liquidation.format_price``).

Binance's rules are :mod:`exsim.margin.liquidation`; this module holds the others:

- **Bybit** (linear USDT and inverse): MM is taken on the position value **at entry**, so
  an isolated liquidation price is fixed when the position opens; bankruptcy price is
  where the position margin is used up; the inverse cross formulas of the help page count
  the taker fee to close.
- **Hyperliquid**: MMR = 1 / (2 × max leverage of the tier), deductions per tier, the
  liquidation price of the docs solved tier by tier (tier-consistent).
- **dYdX v4**: MMF = IMF × maintenance fraction, the strict trigger TMMR > TNC, the
  bankruptcy quote of a close, the fillable price, and the liquidation price where
  TNC(P) = TMMR(P).

Sources: ``docs/venues.md`` (one table, a source per cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Final

import attrs

from exsim.errors import InputError
from exsim.margin.liquidation import LONG, SHORT, Number, as_fraction
from exsim.units import RATE_SCALE
from exsim.venues.profile import DYDX

__all__ = [
    "bybit_initial_margin",
    "bybit_maint_margin",
    "bybit_liquidation_price",
    "bybit_bankruptcy_price",
    "bybit_inverse_liquidation_price",
    "bybit_inverse_bankruptcy_price",
    "bybit_isolated_liquidation_price",
    "bybit_isolated_bankruptcy_price",
    "bybit_linear_cross_liquidation_price",
    "bybit_linear_cross_bankruptcy_price",
    "bybit_inverse_isolated_liquidation_price",
    "bybit_inverse_isolated_bankruptcy_price",
    "bybit_inverse_cross_bankruptcy_price",
    "bybit_inverse_cross_liquidation_price",
    "hyperliquid_mmr",
    "hyperliquid_deductions",
    "hyperliquid_tier_index",
    "hyperliquid_maint_margin",
    "hyperliquid_liquidation_price",
    "HyperliquidSolution",
    "dydx_mmf",
    "dydx_is_liquidatable",
    "dydx_bankruptcy_quote",
    "dydx_bankruptcy_price",
    "dydx_adjusted_bankruptcy_rating",
    "dydx_fillable_price",
    "dydx_liquidation_price",
    "DYDX_SMMR",
    "DYDX_BANKRUPTCY_ADJUSTMENT",
]

#: dYdX's spread-to-maintenance-margin ratio and bankruptcy adjustment (the profile's e8 constants)
DYDX_SMMR: Final = Fraction(DYDX.smmr_e8, RATE_SCALE)
DYDX_BANKRUPTCY_ADJUSTMENT: Final = Fraction(DYDX.bankruptcy_adjustment_e8, RATE_SCALE)


def _f(value: Number, field: str) -> Fraction:
    return as_fraction(value, field=field)


def _side(side: int) -> int:
    if isinstance(side, bool) or side not in (LONG, SHORT):
        raise InputError(f"{side!r} must be LONG (+1) or SHORT (-1)", field="side")
    return side


def _positive(value: Fraction, field: str) -> Fraction:
    if value <= 0:
        raise InputError(f"{value} must be > 0", field=field)
    return value


def _price(value: Fraction) -> Fraction | None:
    """A price, or None when the formula gives none (not positive)."""
    return value if value > 0 else None


# --------------------------------------------------------------------------- Bybit


def bybit_initial_margin(qty: Number, entry_price: Number, leverage: Number) -> Fraction:
    """Bybit's initial margin ``IM = Q × EP / L`` (linear, in USDT). Source: https://www.bybit.com/en/help-center/article/Liquidation-Price-USDT-Contract.

    >>> bybit_initial_margin(1, 20000, 50)
    Fraction(400, 1)
    """
    q = _positive(_f(qty, "qty"), "qty")
    return q * _positive(_f(entry_price, "entry"), "entry") / _positive(_f(leverage, "leverage"), "leverage")


def bybit_maint_margin(qty: Number, entry_price: Number, mmr: Number, deduction: Number = 0) -> Fraction:
    """Bybit's maintenance margin ``MM = value × MMR − deduction`` with the position value
    **at entry** (``Q × EP``), so it does not move with the mark. Source: Bybit help
    center, Liquidation Price (USDT Contract) and Maintenance Margin (USDT Contract).

    >>> bybit_maint_margin(1, 20000, "0.005")
    Fraction(100, 1)
    """
    value = _positive(_f(qty, "qty"), "qty") * _positive(_f(entry_price, "entry"), "entry")
    return value * _f(mmr, "mmr") - _f(deduction, "deduction")


def _inverse_value(contracts: Number, entry_price: Number) -> tuple[Fraction, Fraction]:
    q = _positive(_f(contracts, "contracts"), "contracts")
    return q, q / _positive(_f(entry_price, "entry"), "entry")


def bybit_liquidation_price(
    side: int, qty: Number, entry_price: Number, position_margin: Number, mmr: Number, deduction: Number = 0
) -> Fraction | None:
    """Bybit (linear USDT) from the position's margin: ``EP − side × (position margin − MM)
    / Q``, MM on the value at entry. Isolated: position margin = IM + margin added; cross
    (one position): IM + available balance = the wallet. Source:
    https://www.bybit.com/en/help-center/article/Liquidation-Price-USDT-Contract

    >>> bybit_liquidation_price(LONG, 1, 20000, 400, "0.005")
    Fraction(19700, 1)
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    ep = _positive(_f(entry_price, "entry"), "entry")
    mm = bybit_maint_margin(q, ep, mmr, deduction)
    return _price(ep - s * (_f(position_margin, "position_margin") - mm) / q)


def bybit_bankruptcy_price(side: int, qty: Number, entry_price: Number, position_margin: Number) -> Fraction | None:
    """Bybit (linear USDT): where the position margin is used up, ``EP − side × margin / Q``.
    Source: https://www.bybit.com/en/help-center/article/Liquidation-Price-USDT-Contract

    >>> bybit_bankruptcy_price(SHORT, 1, 20000, 400)
    Fraction(20400, 1)
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    return _price(_positive(_f(entry_price, "entry"), "entry") - s * _f(position_margin, "position_margin") / q)


def bybit_inverse_liquidation_price(
    side: int, contracts: Number, entry_price: Number, position_margin: Number, mmr: Number, deduction: Number = 0
) -> Fraction | None:
    """Bybit inverse from the position's margin (coin): ``contracts / (value + side ×
    (margin − MM))``, value = contracts / EP, MM = value × MMR − deduction (at entry).
    Source: https://help.bybit.com/hc/en-us/articles/360039261334-How-to-calculate-Liquidation-Price-Inverse-Contract-

    >>> bybit_inverse_liquidation_price(LONG, 10000, 8000, "0.025", "0.005")
    Fraction(1600000, 203)
    """
    s = _side(side)
    q, value = _inverse_value(contracts, entry_price)
    mm = value * _f(mmr, "mmr") - _f(deduction, "deduction")
    den = value + s * (_f(position_margin, "position_margin") - mm)
    return _price(q / den) if den > 0 else None


def bybit_inverse_bankruptcy_price(side: int, contracts: Number, entry_price: Number, position_margin: Number) -> Fraction | None:
    """Bybit inverse: where the position margin (coin) is used up, ``contracts / (value +
    side × margin)`` (None when that is not positive: a 1x short). Source: as
    :func:`bybit_inverse_liquidation_price`.

    >>> bybit_inverse_bankruptcy_price(LONG, 10000, 8000, "0.025")
    Fraction(400000, 51)
    """
    s = _side(side)
    q, value = _inverse_value(contracts, entry_price)
    den = value + s * _f(position_margin, "position_margin")
    return _price(q / den) if den > 0 else None


def bybit_isolated_liquidation_price(
    side: int,
    qty: Number,
    entry_price: Number,
    leverage: Number,
    mmr: Number,
    deduction: Number = 0,
    extra_margin: Number = 0,
) -> Fraction | None:
    """Bybit isolated (linear USDT): long ``EP − (IM + extra − MM) / Q``, short
    ``EP + (IM + extra − MM) / Q``, IM = Q·EP/L and MM = Q·EP·MMR − deduction (value at
    entry). Margin added to the position (``extra_margin``) moves a long's price down and a
    short's up. Source: Bybit help center, Liquidation Price (USDT Contract).

    Worked example (the issue's): long 1 BTC at 20,000, 50x, MMR 0.5 % → IM 400, MM 100,
    liquidation price 19,700; short 20,300.

    >>> bybit_isolated_liquidation_price(LONG, 1, 20000, 50, "0.005")
    Fraction(19700, 1)
    >>> bybit_isolated_liquidation_price(SHORT, 1, 20000, 50, "0.005")
    Fraction(20300, 1)
    >>> bybit_isolated_liquidation_price(LONG, 1, 20000, 50, "0.005", extra_margin=100)
    Fraction(19600, 1)
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    ep = _positive(_f(entry_price, "entry"), "entry")
    im = bybit_initial_margin(q, ep, leverage)
    mm = bybit_maint_margin(q, ep, mmr, deduction)
    return _price(ep - s * (im + _f(extra_margin, "extra_margin") - mm) / q)


def bybit_isolated_bankruptcy_price(
    side: int, qty: Number, entry_price: Number, leverage: Number, extra_margin: Number = 0
) -> Fraction | None:
    """Bybit isolated bankruptcy price: where the position margin is used up,
    ``EP − side × (IM + extra) / Q``; without extra margin ``EP × (1 ∓ IMR)``, IMR = 1/L.
    Source: Bybit help center, Bankruptcy Price.

    Worked example: long 1 BTC at 10,000, 50x → 10,000 × (1 − 2 %) = 9,800.

    >>> bybit_isolated_bankruptcy_price(LONG, 1, 10000, 50)
    Fraction(9800, 1)
    >>> bybit_isolated_bankruptcy_price(SHORT, 1, 10000, 50)
    Fraction(10200, 1)
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    ep = _positive(_f(entry_price, "entry"), "entry")
    im = bybit_initial_margin(q, ep, leverage)
    return _price(ep - s * (im + _f(extra_margin, "extra_margin")) / q)


def bybit_linear_cross_liquidation_price(
    side: int,
    qty: Number,
    entry_price: Number,
    leverage: Number,
    mmr: Number,
    available_balance: Number,
    deduction: Number = 0,
) -> Fraction | None:
    """Bybit cross margin (linear USDT, one position): the available balance backs the
    position beside its IM: long ``EP − (available + IM − MM) / Q``, short
    ``EP + (available + IM − MM) / Q``. Source: Bybit help center, Liquidation Price (USDT
    Contract), cross margin.

    Long 1 BTC at 20,000, 50x, MMR 0.5 %, 1,000 USDT available → 20,000 − 1,300 = 18,700.

    >>> bybit_linear_cross_liquidation_price(LONG, 1, 20000, 50, "0.005", 1000)
    Fraction(18700, 1)
    """
    return bybit_isolated_liquidation_price(
        side, qty, entry_price, leverage, mmr, deduction, extra_margin=available_balance
    )


def bybit_linear_cross_bankruptcy_price(
    side: int, qty: Number, entry_price: Number, leverage: Number, available_balance: Number
) -> Fraction | None:
    """Bybit cross (linear, one position): where IM + available balance is used up,
    ``EP − side × (available + IM) / Q``. Source: as
    :func:`bybit_linear_cross_liquidation_price`.

    >>> bybit_linear_cross_bankruptcy_price(LONG, 1, 20000, 50, 1000)
    Fraction(18600, 1)
    """
    return bybit_isolated_bankruptcy_price(side, qty, entry_price, leverage, extra_margin=available_balance)


def bybit_inverse_isolated_liquidation_price(
    side: int,
    contracts: Number,
    entry_price: Number,
    leverage: Number,
    mmr: Number,
    extra_margin: Number = 0,
) -> Fraction | None:
    """Bybit inverse isolated (contracts of 1 USD, money in coin): value = contracts / EP,
    IM = value / L, MM = value × MMR; long ``contracts / (value + (IM + extra − MM))``,
    short ``contracts / (value − (IM + extra − MM))``. Source: https://help.bybit.com/hc/en-us/articles/360039261334-How-to-calculate-Liquidation-Price-Inverse-Contract-.

    Long 10,000 contracts at 8,000, 50x, MMR 0.5 %: value 1.25 BTC, IM 0.025, MM 0.00625 →
    10,000 / 1.26875 = 7,881.77...; short 10,000 / 1.23125 = 8,121.82...

    >>> bybit_inverse_isolated_liquidation_price(LONG, 10000, 8000, 50, "0.005")
    Fraction(1600000, 203)
    >>> bybit_inverse_isolated_liquidation_price(SHORT, 10000, 8000, 50, "0.005")
    Fraction(1600000, 197)
    """
    s = _side(side)
    q, value = _inverse_value(contracts, entry_price)
    im = value / _positive(_f(leverage, "leverage"), "leverage")
    mm = value * _f(mmr, "mmr")
    den = value + s * (im + _f(extra_margin, "extra_margin") - mm)
    return _price(q / den) if den > 0 else None


def bybit_inverse_isolated_bankruptcy_price(
    side: int, contracts: Number, entry_price: Number, leverage: Number, extra_margin: Number = 0
) -> Fraction | None:
    """Bybit inverse isolated bankruptcy price: long ``contracts / (value + IM + extra)``,
    short ``contracts / (value − IM − extra)`` (a 1x short never goes bankrupt: None).
    Source: https://help.bybit.com/hc/en-us/articles/360039261334-How-to-calculate-Liquidation-Price-Inverse-Contract-.

    >>> bybit_inverse_isolated_bankruptcy_price(LONG, 10000, 8000, 50)
    Fraction(400000, 51)
    """
    s = _side(side)
    q, value = _inverse_value(contracts, entry_price)
    im = value / _positive(_f(leverage, "leverage"), "leverage")
    den = value + s * (im + _f(extra_margin, "extra_margin"))
    return _price(q / den) if den > 0 else None


def bybit_inverse_cross_bankruptcy_price(
    side: int,
    contracts: Number,
    entry_price: Number,
    balance: Number,
    taker_fee: Number,
    order_margin: Number = 0,
) -> Fraction | None:
    """Bybit inverse cross bankruptcy price, with the taker fee to close counted: long
    ``(1 + taker) × Q / (Q/EP + (balance − order margin))``, short
    ``(1 − taker) × Q / (Q/EP − (balance − order margin))``. Source: https://help.bybit.com/hc/en-us/articles/360039261334-How-to-calculate-Liquidation-Price-Inverse-Contract-.

    Worked example (the help page's): wallet 0.5 BTC, long 10,000 contracts at 8,000,
    taker 0.075 % → 1.00075 × 10,000 / 1.75 = 5,718.57...

    >>> bp = bybit_inverse_cross_bankruptcy_price(LONG, 10000, 8000, "0.5", "0.00075")
    >>> bp, f"{float(bp):.2f}"
    (Fraction(40030, 7), '5718.57')
    """
    s = _side(side)
    q, value = _inverse_value(contracts, entry_price)
    avail = _f(balance, "balance") - _f(order_margin, "order_margin")
    den = value + s * avail
    return _price((1 + s * _f(taker_fee, "taker_fee")) * q / den) if den > 0 else None


def bybit_inverse_cross_liquidation_price(
    side: int,
    contracts: Number,
    entry_price: Number,
    balance: Number,
    mmr: Number,
    taker_fee: Number,
    order_margin: Number = 0,
) -> Fraction | None:
    """Bybit inverse cross liquidation price, solved from the help page's own equation
    ``side × Q × (1/EP − 1/LP) = −(balance − order margin − Q/EP × MMR − Q × taker / BP)``
    (MM on the value at entry; the fee to close at the bankruptcy price BP of
    :func:`bybit_inverse_cross_bankruptcy_price`). Source: https://help.bybit.com/hc/en-us/articles/360039261334-How-to-calculate-Liquidation-Price-Inverse-Contract-.

    Worked example (the help page's): wallet 0.5 BTC, long 10,000 contracts at 8,000,
    MMR 0.5 %, taker 0.075 %. The page prints 5,739.50; its equation gives **5,739.08**
    (1/LP = 1/8,000 + (0.5 − 0.00625 − 0.0013115...) / 10,000). We reproduce the equation,
    not the printed figure (docs/venues.md).

    >>> lp = bybit_inverse_cross_liquidation_price(LONG, 10000, 8000, "0.5", "0.005", "0.00075")
    >>> f"{float(lp):.2f}"
    '5739.08'
    """
    s = _side(side)
    q, value = _inverse_value(contracts, entry_price)
    bp = bybit_inverse_cross_bankruptcy_price(s, q, entry_price, balance, taker_fee, order_margin)
    if bp is None:
        return None
    avail = _f(balance, "balance") - _f(order_margin, "order_margin")
    rest = avail - value * _f(mmr, "mmr") - q * _f(taker_fee, "taker_fee") / bp
    # s*Q*(1/EP − 1/LP) = −rest  →  1/LP = 1/EP + s*rest/Q
    inv = 1 / _f(entry_price, "entry") + s * rest / q
    return _price(1 / inv) if inv > 0 else None


# --------------------------------------------------------------------------- Hyperliquid


def hyperliquid_mmr(max_leverage: Number) -> Fraction:
    """Hyperliquid's maintenance margin rate of a tier: ``1 / (2 × max leverage)``, exact
    (1/6 stays 1/6). Source: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers

    >>> hyperliquid_mmr(20), hyperliquid_mmr(3)
    (Fraction(1, 40), Fraction(1, 6))
    """
    return 1 / (2 * _positive(_f(max_leverage, "max_leverage"), "max_leverage"))


def _tiers(tiers: Sequence[tuple[Number, Number]]) -> list[tuple[Fraction, Fraction]]:
    """``(lower bound, max leverage)`` rows, checked: first bound 0, bounds rising."""
    rows = [(_f(lb, "lower_bound"), _f(lev, "max_leverage")) for lb, lev in tiers]
    if not rows or rows[0][0] != 0:
        raise InputError("a margin table starts at a lower bound of 0", field="tiers")
    for (a, _), (b, _) in zip(rows, rows[1:]):
        if b <= a:
            raise InputError(f"lower bounds must rise ({a} then {b})", field="tiers")
    return rows


def hyperliquid_deductions(tiers: Sequence[tuple[Number, Number]]) -> tuple[Fraction, ...]:
    """Maintenance deductions per tier: ``deduction(0) = 0``, ``deduction(n) =
    deduction(n−1) + lower_bound(n) × (mmr(n) − mmr(n−1))``, so MM is continuous in
    notional. Source: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers

    Testnet BTC (0–10k 40x, 10–50k 25x, 50–100k 10x, 100–300k 5x, >300k 3x) → 0, 75,
    1,575, 6,575, 26,575:

    >>> [int(d) for d in hyperliquid_deductions(((0, 40), (10_000, 25), (50_000, 10), (100_000, 5), (300_000, 3)))]
    [0, 75, 1575, 6575, 26575]
    """
    rows = _tiers(tiers)
    out = [Fraction(0)]
    for n in range(1, len(rows)):
        out.append(out[-1] + rows[n][0] * (hyperliquid_mmr(rows[n][1]) - hyperliquid_mmr(rows[n - 1][1])))
    return tuple(out)


def hyperliquid_tier_index(tiers: Sequence[tuple[Number, Number]], notional: Number) -> int:
    """The 0-based tier holding ``notional`` (a tier covers ``[lower bound, next bound)``).

    >>> hyperliquid_tier_index(((0, 40), (150_000_000, 20)), 150_000_000)
    1
    """
    n = abs(_f(notional, "notional"))
    rows = _tiers(tiers)
    k = 0
    for i, (lb, _) in enumerate(rows):
        if n >= lb:
            k = i
    return k


def hyperliquid_maint_margin(notional: Number, tiers: Sequence[tuple[Number, Number]]) -> Fraction:
    """``MM = notional × mmr(tier) − deduction(tier)``, the tier of the notional. Source:
    https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers

    >>> hyperliquid_maint_margin(60_000, ((0, 40), (10_000, 25), (50_000, 10), (100_000, 5), (300_000, 3)))
    Fraction(1425, 1)
    """
    n = abs(_f(notional, "notional"))
    k = hyperliquid_tier_index(tiers, n)
    rows = _tiers(tiers)
    return n * hyperliquid_mmr(rows[k][1]) - hyperliquid_deductions(tiers)[k]


@attrs.frozen
class HyperliquidSolution:
    """What :func:`hyperliquid_liquidation_price` found: the price (None: no positive
    price liquidates), the 0-based tier it lies in, and that tier's MMR and deduction."""

    price: Fraction | None
    tier: int | None
    mmr: Fraction | None
    deduction: Fraction | None


def hyperliquid_liquidation_price(
    side: int,
    qty: Number,
    price: Number,
    margin: Number,
    tiers: Sequence[tuple[Number, Number]],
    *,
    other_maint_margin: Number = 0,
) -> HyperliquidSolution:
    """Hyperliquid's liquidation price ``LP = price − side × margin_available / Q / (1 −
    l × side)``, ``l`` = the tier's MMR, ``margin_available = margin − MM required``.

    ``price`` is the mark; ``margin`` the isolated margin at that mark (collateral plus the
    position's unrealized PnL there), or in cross mode the account value (wallet plus every
    cross position's unrealized PnL at its mark); ``other_maint_margin`` the MM of the other
    cross positions (held at their marks). MM required = this position's MM at ``price``
    plus theirs.

    Tier-consistent: with margin tiers the formula is solved with each tier's MMR and
    deduction (MM at the mark computed in that tier, so the root is exact where MM is
    linear) and the one whose notional at its LP lies in that tier is kept. MM is
    continuous and convex in notional, so that root is unique. Source: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations.

    Vector (the issue's): long 0.00077 BTC at 62,739, margin 24.137992, BTC's shipped
    max leverage 40 (l = 1/80) → 62,739 − (24.137992 − 48.30903/80) / 0.00077 / (79/80).

    >>> sol = hyperliquid_liquidation_price(LONG, "0.00077", 62739, "24.137992", ((0, 40), (150_000_000, 20)))
    >>> sol.price, sol.tier, sol.mmr
    (Fraction(193368304, 6083), 0, Fraction(1, 80))

    (31,788.31234589 rounded up.) With the 50x BTC had when freqtrade recorded the same
    position (tests/exchange/test_hyperliquid.py), 31,708.03882986; Hyperliquid reported
    31,708.03843631, from a margin it rounds to 6 decimals.
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    p = _positive(_f(price, "price"), "price")
    m = _f(margin, "margin")
    others = _f(other_maint_margin, "other_maint_margin")
    rows = _tiers(tiers)
    deductions = hyperliquid_deductions(tiers)
    for k, (lb, lev) in enumerate(rows):
        l = hyperliquid_mmr(lev)
        if l * s >= 1:
            continue  # a short with MMR >= 1 never reaches the equation's root in this tier
        mm_at_price = q * p * l - deductions[k] + others
        lp = p - s * (m - mm_at_price) / q / (1 - l * s)
        if lp <= 0:
            continue
        notional = q * lp
        ub = rows[k + 1][0] if k + 1 < len(rows) else None
        if notional >= lb and (ub is None or notional < ub):
            return HyperliquidSolution(lp, k, l, deductions[k])
    return HyperliquidSolution(None, None, None, None)


# --------------------------------------------------------------------------- dYdX v4


def dydx_mmf(imf: Number, maintenance_fraction: Number) -> Fraction:
    """dYdX v4 maintenance margin fraction ``MMF = IMF × maintenance fraction``. Source:
    https://docs.dydx.exchange/concepts/trading/margin (large-cap: IMF 5 %, 60 % → 3 %).

    >>> dydx_mmf("0.05", "0.6")
    Fraction(3, 100)
    """
    return _f(imf, "imf") * _f(maintenance_fraction, "maintenance_fraction")


def dydx_is_liquidatable(total_net_collateral: Number, total_maint_requirement: Number) -> bool:
    """dYdX: an account is liquidatable when its total maintenance margin requirement is
    **greater than** its total net collateral (equality is safe). Source: https://docs.dydx.exchange/concepts/trading/liquidations.

    The docs' example: long 500 at 1 with 100 deposited, MMF 3 %: at 0.801 the PnL is
    −99.5, TNC 0.5 and TMMR 12.015 → liquidatable.

    >>> dydx_is_liquidatable("0.5", "12.015"), dydx_is_liquidatable(15, 15)
    (True, False)
    """
    return _f(total_maint_requirement, "tmmr") > _f(total_net_collateral, "tnc")


def dydx_bankruptcy_quote(
    delta_net_notional: Number, total_net_collateral: Number, delta_maint_requirement: Number, total_maint_requirement: Number
) -> Fraction:
    """dYdX: the quote a close of part of a position must receive so the account ends at
    zero collateral in proportion: ``quote = −DNNV − TNC × |DMMR| / TMMR`` (DNNV: change
    of net notional value, DMMR: change of maintenance requirement). Source: https://docs.dydx.exchange/concepts/trading/liquidations.

    Long 1 at oracle 50,000 closed whole (DNNV −50,000, DMMR −1,500), TNC 750, TMMR 1,500
    → 49,250.

    >>> dydx_bankruptcy_quote(-50000, 750, -1500, 1500)
    Fraction(49250, 1)
    """
    tmmr = _f(total_maint_requirement, "tmmr")
    if tmmr == 0:
        raise InputError("the total maintenance requirement is 0: no bankruptcy split", field="tmmr")
    return -_f(delta_net_notional, "dnnv") - _f(total_net_collateral, "tnc") * abs(_f(delta_maint_requirement, "dmmr")) / tmmr


def dydx_bankruptcy_price(
    side: int,
    qty: Number,
    oracle_price: Number,
    total_net_collateral: Number,
    position_maint_requirement: Number,
    total_maint_requirement: Number,
    close_qty: Number | None = None,
) -> Fraction | None:
    """dYdX: the bankruptcy price of closing ``close_qty`` (default: all) of a position of
    ``qty`` on ``side`` at ``oracle_price``: :func:`dydx_bankruptcy_quote` divided by the
    size closed (a long sells: the quote received; a short buys: the quote paid). The MM
    of the part closed is the position's pro rata. Source: https://docs.dydx.exchange/concepts/trading/liquidations.

    Long 1 at 50,000, PMMR = TMMR 1,500, TNC 750 → 49,250. The docs' A/B example: B short
    500 at 1 with 100 deposited, price 2: TNC = −400, closing all → B pays 600: 1.2.

    >>> dydx_bankruptcy_price(LONG, 1, 50000, 750, 1500, 1500)
    Fraction(49250, 1)
    >>> dydx_bankruptcy_price(SHORT, 500, 2, -400, 30, 30)
    Fraction(6, 5)
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    dq = q if close_qty is None else _positive(_f(close_qty, "close_qty"), "close_qty")
    if dq > q:
        raise InputError(f"close_qty {dq} is above the position's {q}", field="close_qty")
    o = _positive(_f(oracle_price, "oracle"), "oracle")
    dnnv = -s * dq * o  # closing a long lowers the net notional value, closing a short raises it
    dmmr = -_f(position_maint_requirement, "pmmr") * dq / q
    quote = dydx_bankruptcy_quote(dnnv, total_net_collateral, dmmr, total_maint_requirement)
    return _price(s * quote / dq)


def dydx_adjusted_bankruptcy_rating(
    total_net_collateral: Number, total_maint_requirement: Number, bankruptcy_adjustment: Number = DYDX_BANKRUPTCY_ADJUSTMENT
) -> Fraction:
    """dYdX: ``ABR = clamp(BA × (1 − TNC / TMMR), 0, 1)``. Source: https://docs.dydx.exchange/concepts/trading/liquidations.

    >>> dydx_adjusted_bankruptcy_rating(750, 1500)
    Fraction(1, 2)
    """
    tmmr = _f(total_maint_requirement, "tmmr")
    if tmmr == 0:
        return Fraction(0)
    abr = _f(bankruptcy_adjustment, "ba") * (1 - _f(total_net_collateral, "tnc") / tmmr)
    return min(max(abr, Fraction(0)), Fraction(1))


def dydx_fillable_price(
    side: int,
    qty: Number,
    oracle_price: Number,
    total_net_collateral: Number,
    position_maint_requirement: Number,
    total_maint_requirement: Number,
    *,
    smmr: Number = DYDX_SMMR,
    bankruptcy_adjustment: Number = DYDX_BANKRUPTCY_ADJUSTMENT,
) -> Fraction | None:
    """dYdX: the liquidation order's limit, ``(PNNV − ABR × SMMR × PMMR) / PS`` with PNNV
    the position's signed notional at the oracle, PS its signed size, PMMR its MM. SMMR
    and BA are the profile's (``exsim.venues.profile.DYDX``: 0.1 and 1). Source: https://docs.dydx.exchange/concepts/trading/liquidations.

    Long 1 at oracle 50,000, PMMR = TMMR = 1,500, TNC 750: ABR 0.5 → 50,000 − 75 = 49,925.

    >>> dydx_fillable_price(LONG, 1, 50000, 750, 1500, 1500)
    Fraction(49925, 1)
    >>> dydx_fillable_price(SHORT, 1, 50000, 750, 1500, 1500)
    Fraction(50075, 1)
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    o = _positive(_f(oracle_price, "oracle"), "oracle")
    abr = dydx_adjusted_bankruptcy_rating(total_net_collateral, total_maint_requirement, bankruptcy_adjustment)
    ps = s * q
    pnnv = ps * o
    return _price((pnnv - abr * _f(smmr, "smmr") * _f(position_maint_requirement, "pmmr")) / ps)


def dydx_liquidation_price(
    side: int,
    qty: Number,
    entry_price: Number,
    collateral: Number,
    mmf: Number,
    *,
    other_net_collateral: Number = 0,
    other_maint_requirement: Number = 0,
) -> Fraction | None:
    """dYdX: the oracle price ``P`` at which ``TNC(P) = TMMR(P)``; liquidated past it
    (strictly: TMMR > TNC). ``collateral`` is what was deposited for the position (isolated
    subaccount) or the cross account's USDC; TNC(P) = collateral + side × Q × (P − EP) +
    the others' net collateral change; TMMR(P) = Q × P × MMF + the others' requirement
    (held at their oracles). Long: ``(Q·EP − C − O + R) / (Q·(1 − MMF))``; short:
    ``(Q·EP + C + O − R) / (Q·(1 + MMF))``. Source: https://docs.dydx.exchange/concepts/trading/liquidations.

    For one isolated position this is the docs' ``p' = (e − s·p) / (|s|·MMF − s)`` (e the
    equity, s the signed size, p the entry): their example deposits 1,000 and shorts 3 ETH
    at 3,000 with MMF 5 % → 10,000 / 3.15 = 3,174.60...; the contract-loss example (long
    500 at 1 with 100, MMF 3 %) → (500 − 100) / 485 = 0.8247..., so at 0.801 it is past it
    (PnL −99.5, equity 0.5 < 12.015).

    >>> dydx_liquidation_price(SHORT, 3, 3000, 1000, "0.05")
    Fraction(200000, 63)
    >>> dydx_liquidation_price(LONG, 500, 1, 100, "0.03")
    Fraction(80, 97)
    """
    s = _side(side)
    q = _positive(_f(qty, "qty"), "qty")
    ep = _positive(_f(entry_price, "entry"), "entry")
    k = _f(mmf, "mmf")
    const = _f(collateral, "collateral") + _f(other_net_collateral, "other_net_collateral") - _f(other_maint_requirement, "other_maint_requirement")
    # const + s*Q*(P − EP) − Q*P*k = 0  →  P = (s*Q*EP − const) / (Q*(s − k))
    den = q * (s - k)
    if den == 0:
        return None
    return _price((s * q * ep - const) / den)
