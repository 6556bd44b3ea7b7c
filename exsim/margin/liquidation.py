"""Liquidation and bankruptcy prices, exactly (MARGIN-SPEC §1–4).

Two APIs over the same mathematics:

**Calculator API** (exact rationals, for people, the CLI and reports). Numbers go in as
``Decimal``, ``int``, ``Fraction`` or decimal strings (never floats), are held as
:class:`fractions.Fraction`, and come out as ``Fraction`` (or, at the edge, as 8-place
strings / ``Decimal`` via :func:`format_price` and :func:`to_decimal`).

- :func:`liquidation_price` — isolated or cross, one-way or hedge mode, other cross
  contracts held at their marks, brackets from a :class:`BracketTable` (tier-consistent)
  or one :class:`FixedBracket`. Returns a :class:`LiquidationResult`.
- :func:`bankruptcy_price` — isolated / one position: ``BP = EP - s*WB/Q``.
- :func:`cross_bankruptcy_prices` — a cross pool closed all at once: the pool's margin
  balance split in proportion to maintenance margin (the dYdX v4 rule).
- :func:`maint_margin`, :func:`unrealized_pnl` — the pieces, exact.

**Engine API** (integers: ticks, lots, atoms, e8 rates), for the trigger index:
:func:`isolated_trigger_ticks` and :func:`is_liquidatable`.

The equation
------------
Let ``F(P) = margin balance - maintenance margin`` as a function of the price ``P`` of the
contract being solved (both legs of it in hedge mode), every other cross contract held at
its mark::

    F(P) = WB + UPNL1 - TMM1 + sum_j s_j*Q_j*(P - EP_j) - sum_j MM_j(Q_j*P)

``MM_j(N) = N*MMR_k - cum_k`` with k the bracket of ``N``. Because a bracket table's MMR is
non-decreasing and ``cum`` makes MM continuous (MARGIN-SPEC §1), each ``MM_j`` is
continuous, piecewise linear and **convex**; so ``F`` is continuous, piecewise linear and
**concave**. The account is liquidated where ``F(P) <= 0``.

Tier consistency and uniqueness
-------------------------------
Between two consecutive bracket boundaries (``floor_k / Q_j`` for any leg j) every leg
stays in one bracket and ``F`` is a line, so the solver walks those segments and solves
the line in each: that *is* "try each bracket and keep the solution whose notional falls
in the bracket used" (MARGIN-SPEC §3), done for all legs at once. The roots are unique:

- one-way long: ``F'(P) = Q*(1 - MMR) > 0`` while MMR < 1, so ``F`` is increasing and
  there is at most one root; the account is liquidated on ``(0, LP]``;
- one-way short: ``F'(P) = -Q*(1 + MMR) < 0``: one root, liquidated on ``[LP, oo)``;
- in general (hedge mode) ``F`` is concave, so ``{P > 0 : F(P) > 0}`` is one open
  interval ``(c, d)`` and the liquidation region is ``(0, c] U [d, oo)``: at most one
  root on each side. The reported :attr:`LiquidationResult.liquidation_price` is the one
  the net position runs into (net long: ``c``; net short or flat: ``d``); the other, if
  any, is :attr:`LiquidationResult.other_liquidation_price`. It exists only in hedge
  mode with brackets, e.g. a net long whose short leg's maintenance margin grows faster
  than the net position gains in the top brackets.

At a boundary ``N = floor_k`` both brackets give the same MM (continuity), so the bracket
reported is the one the table assigns to ``Q*LP``: ``[floor_k, cap_k)``, the last bracket
open above. A :class:`FixedBracket` applies at every notional (as in the spec's formula),
with ``MM = N*MMR - cum`` unclamped, so it may be negative at small notionals.

Inverse contracts (COIN-M)
--------------------------
An inverse position (:attr:`Position.contract_size` set) holds ``Q`` contracts of a face
value ``size`` in the quote (100 USD for BTCUSD_PERP); money, brackets and the wallet are
in the coin. With ``face = Q*size`` its coin notional is ``N = face/P`` and its PnL
``s*face*(1/EP - 1/P)``. In ``x = 1/P`` both are linear in x, so the leg is exactly a
linear leg of size ``face``, side ``-s`` and entry ``1/EP``::

    F(x) = WB + UPNL1 - TMM1 + sum_j s_j*face_j*(1/EP_j - x) - sum_j MM_j(face_j*x)

and everything above (concavity, one root per side, the segment walk between bracket
boundaries ``x = floor_k / face_j``) holds in x; the solver works there and maps back with
``P = 1/x``. The walk in x is the walk in P reversed: the coin notional *falls* as the
price rises, so a long's notional at its liquidation price is **above** its notional at
entry (a bracket switch upward as the price falls), a short's below. A safe interval
``(c, d)`` in x is ``(1/d, 1/c)`` in P. A 1x short (wallet = ``face/EP``) has
``F(x) = face*x*(1 - MMR) + cum > 0``: no price liquidates it (the synthetic dollar).
Bankruptcy prices: ``1/BP = 1/EP + s*WB/face`` (isolated), ``1/BP_j = 1/LP + s_j*MM_j/face_j``
(§4 split at the liquidation price).

Display rounding
----------------
Exact values are ``Fraction``; :func:`format_price` shows exactly 8 decimals rounded
**toward the safe side**: a price at or below which you are liquidated (a long's LP) is
rounded **up**, one at or above which you are liquidated (a short's LP) is rounded
**down**, so the shown price is reached no later than the true one. Bankruptcy prices
round the same way as the liquidation order's limit in MARGIN-SPEC §4 ("away from bad
debt"): up for a long, down for a short. MMR and maintenance margin (requirements) round
up, ``cum`` (subtracted from the requirement) rounds down; margin balance and maintenance
margin at the liquidation price are the same number and are both shown rounded up.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Final, Union

import attrs

from exsim.errors import InputError, StateError
from exsim.instruments.brackets import BracketTable
from exsim.units import (
    ATOM_PLACES,
    ATOMS_PER_UNIT,
    RATE_SCALE,
    ceil_div,
    floor_div,
    format_rate_e8,
    format_scaled,
    parse_decimal,
)

__all__ = [
    "LONG",
    "SHORT",
    "ISOLATED",
    "CROSS",
    "SIDE_NAMES",
    "STATUS_PRICE",
    "STATUS_NEVER",
    "STATUS_ALWAYS",
    "FixedBracket",
    "Position",
    "LegAtPrice",
    "LiquidationResult",
    "as_fraction",
    "maint_margin",
    "unrealized_pnl",
    "inverse_unrealized_pnl",
    "liquidation_price",
    "bankruptcy_price",
    "cross_bankruptcy_prices",
    "format_price",
    "to_decimal",
    "isolated_trigger_ticks",
    "is_liquidatable",
]

# Sides are the position's sign (as exsim.book.orders.SIDE_SIGN), used in s*Q*(P - EP).
# Not exsim.ledger's position_side codes (BOTH=0, LONG=1, SHORT=2): a SHORT code of 2
# passed here is refused, never silently taken as a long.
LONG: Final = 1
SHORT: Final = -1
SIDE_NAMES: Final = {LONG: "long", SHORT: "short"}
ISOLATED: Final = "isolated"
CROSS: Final = "cross"

#: :attr:`LiquidationResult.status`: there is a positive liquidation price.
STATUS_PRICE: Final = "price"
#: No positive price liquidates the account (the spec's "--"; e.g. a long whose margin
#: covers a fall to zero).
STATUS_NEVER: Final = "never"
#: Margin balance <= maintenance margin at every positive price (e.g. a short whose
#: wallet is already negative); there is no boundary price either.
STATUS_ALWAYS: Final = "always"

Number = Union[Fraction, Decimal, int, str]
"""What the calculator accepts for a number: exact values only (no ``float``, no ``bool``)."""

_ZERO: Final = Fraction(0)
_DISPLAY_SCALE: Final = 10**ATOM_PLACES  # 8 decimal places


# --------------------------------------------------------------------------- inputs


def as_fraction(value: Number, *, field: str = "value", where: str = "") -> Fraction:
    """``value`` as an exact ``Fraction``; :class:`InputError` for floats, bools, junk.

    Strings are parsed strictly (:func:`exsim.units.parse_decimal`), so ``"1e3"`` is
    accepted and ``" 1"``, ``"nan"`` or ``"1_000"`` are not.

    >>> as_fraction("32481.98", field="entry")
    Fraction(1624099, 50)
    >>> as_fraction(0.1, field="mmr")
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: field 'mmr': 0.1 has type float; expected str, Decimal or int (floats are inexact; pass a decimal string)
    """
    if isinstance(value, Fraction):
        return value
    return Fraction(parse_decimal(value, field=field, where=where))


def _side_ok(side: object) -> None:
    if isinstance(side, bool) or side not in (LONG, SHORT):
        raise InputError(f"{side!r} must be LONG (+1) or SHORT (-1)", field="side")


def _to_mark(value: Number | None) -> Fraction | None:
    return None if value is None else as_fraction(value, field="mark_price")


@attrs.frozen
class FixedBracket:
    """One maintenance bracket valid at every notional: ``MM = N*mmr - cum``.

    ``mmr`` is a fraction (``"0.025"`` = 2.5 %), ``cum`` the maintenance amount in the
    settlement asset (USDT). This is the spec's worked-example form (MARGIN-SPEC §3).
    """

    mmr: Fraction = attrs.field(converter=lambda v: as_fraction(v, field="mmr"))
    cum: Fraction = attrs.field(converter=lambda v: as_fraction(v, field="cum"))

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.mmr <= 1:
            raise InputError(f"{_plain(self.mmr)} is outside [0, 1]", field="mmr")
        if self.cum < 0:
            raise InputError(f"{_plain(self.cum)} must be >= 0", field="cum")


BracketSpec = Union[BracketTable, FixedBracket]


def _check_side(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    _side_ok(value)


def _check_positive(instance: object, attribute: attrs.Attribute[Fraction], value: Fraction) -> None:
    if value <= 0:
        raise InputError(f"{_plain(value)} must be > 0", field=attribute.name)


def _check_brackets(instance: object, attribute: attrs.Attribute[BracketSpec], value: object) -> None:
    if not isinstance(value, (BracketTable, FixedBracket)):
        raise InputError(
            f"expected a BracketTable or FixedBracket, got {type(value).__name__}", field="brackets"
        )


def _check_mark(
    instance: object, attribute: attrs.Attribute[Fraction | None], value: Fraction | None
) -> None:
    if value is not None and value <= 0:
        raise InputError(f"{_plain(value)} must be > 0", field="mark_price")


def _to_size(value: Number | None) -> Fraction | None:
    return None if value is None else as_fraction(value, field="contract_size")


def _check_size(
    instance: object, attribute: attrs.Attribute[Fraction | None], value: Fraction | None
) -> None:
    if value is not None and value <= 0:
        raise InputError(f"{_plain(value)} must be > 0", field="contract_size")


@attrs.frozen
class Position:
    """A position in one contract, in human units: ``side`` (:data:`LONG`/:data:`SHORT`),
    absolute ``qty``, ``entry_price`` (quote per base), its ``brackets`` and, for other
    cross contracts, its ``mark_price``. Numbers are converted to ``Fraction``.

    Linear (``contract_size`` None): ``qty`` in base units, money in the quote (USDT),
    notional ``qty x price``. **Inverse** (COIN-M, ``contract_size`` given, e.g. 100 USD
    for BTCUSD_PERP): ``qty`` in contracts, money in the coin, notional
    ``qty x contract_size / price`` and unrealized PnL
    ``s x qty x contract_size x (1/entry - 1/price)``; ``entry_price`` is the harmonic
    average entry (what Binance shows) and the brackets are in coin.
    """

    side: int = attrs.field(validator=_check_side)
    qty: Fraction = attrs.field(
        converter=lambda v: as_fraction(v, field="qty"), validator=_check_positive
    )
    entry_price: Fraction = attrs.field(
        converter=lambda v: as_fraction(v, field="entry_price"), validator=_check_positive
    )
    brackets: BracketSpec = attrs.field(validator=_check_brackets)
    mark_price: Fraction | None = attrs.field(
        default=None, converter=_to_mark, validator=_check_mark
    )
    contract_size: Fraction | None = attrs.field(
        default=None, converter=_to_size, validator=_check_size, kw_only=True
    )

    @property
    def inverse(self) -> bool:
        """True for an inverse (coin-margined) position: it has a contract size."""
        return self.contract_size is not None

    @property
    def face(self) -> Fraction:
        """Inverse: the face value ``qty x contract_size`` in the quote (USD). Linear: ``qty``."""
        return self.qty if self.contract_size is None else self.qty * self.contract_size

    def notional(self, price: Fraction | None = None) -> Fraction:
        """Notional in the settlement asset at ``price`` (default: the mark): linear
        ``qty x price``, inverse ``face / price`` (coin). Exact."""
        p = self._price(price)
        return self.qty * p if self.contract_size is None else self.face / p

    def unrealized_pnl(self, price: Fraction | None = None) -> Fraction:
        """``s*Q*(price - EP)`` (linear) or ``s*face*(1/EP - 1/price)`` (inverse) at
        ``price`` (default: the mark), in the settlement asset. Exact."""
        p = self._price(price)
        if self.contract_size is None:
            return unrealized_pnl(self.side, self.qty, self.entry_price, p)
        return inverse_unrealized_pnl(self.side, self.qty, self.contract_size, self.entry_price, p)

    def maint_margin(self, price: Fraction | None = None) -> Fraction:
        """Maintenance margin at ``price`` (default: the mark), its own bracket. Exact."""
        return maint_margin(self.notional(price), self.brackets)

    def _price(self, price: Fraction | None) -> Fraction:
        if price is not None:
            return price
        if self.mark_price is None:
            raise InputError("no mark price given", field="mark_price")
        return self.mark_price


# --------------------------------------------------------------------------- brackets

# A tier as the rational solver sees it: (floor, mmr, cum, bracket number or None), all
# in one money unit (USDT for the calculator, atoms for the engine).
_Tier = tuple[Fraction, Fraction, Fraction, Union[int, None]]


@lru_cache(maxsize=128)
def _table_tiers(table: BracketTable) -> tuple[_Tier, ...]:
    """A table's brackets in USDT and plain fractions (cached per table)."""
    return tuple(
        (
            Fraction(b.floor_atoms, ATOMS_PER_UNIT),
            Fraction(b.mmr_e8, RATE_SCALE),
            Fraction(b.cum_atoms, ATOMS_PER_UNIT),
            b.bracket,
        )
        for b in table.brackets
    )


def _tiers(brackets: BracketSpec) -> tuple[_Tier, ...]:
    if isinstance(brackets, FixedBracket):
        return ((_ZERO, brackets.mmr, brackets.cum, None),)
    return _table_tiers(brackets)


@lru_cache(maxsize=128)
def _floors(tiers: tuple[_Tier, ...]) -> tuple[Fraction, ...]:
    return tuple(t[0] for t in tiers)


def _tier_for(tiers: tuple[_Tier, ...], notional: Fraction) -> _Tier:
    """The tier whose ``[floor, cap)`` holds ``notional`` (the last one open above). O(log K)."""
    if len(tiers) == 1:
        return tiers[0]
    return tiers[max(bisect_right(_floors(tiers), notional) - 1, 0)]


def maint_margin(notional: Number, brackets: BracketSpec) -> Fraction:
    """Maintenance margin ``N*MMR_k - cum_k`` in USDT for ``notional`` (USDT, >= 0), exact.

    k is the table's bracket holding ``notional``; a :class:`FixedBracket` applies as is
    (and may give a negative value at small notionals). Not rounded: the engine's integer
    version (:meth:`BracketTable.maint_margin_atoms`) rounds up. O(log n).

    >>> mm = maint_margin(Fraction("109.488") * Fraction("31967.27"), FixedBracket("0.025", "16300"))
    >>> mm, format_price(mm, round_up=True)
    (Fraction(17800202861, 250000), '71200.81144400')
    """
    n = as_fraction(notional, field="notional")
    if n < 0:
        raise ValueError(f"notional must be >= 0 (absolute notional), got {n}")
    _, mmr, cum, _ = _tier_for(_tiers(brackets), n)
    return n * mmr - cum


def unrealized_pnl(side: int, qty: Number, entry_price: Number, price: Number) -> Fraction:
    """Linear unrealized PnL ``s*Q*(price - EP)`` in the quote asset, exact.

    >>> unrealized_pnl(LONG, "109.488", "32481.98", "31967.27")
    Fraction(-352216053, 6250)
    """
    q = as_fraction(qty, field="qty")
    return side * q * (as_fraction(price, field="price") - as_fraction(entry_price, field="entry_price"))


def inverse_unrealized_pnl(
    side: int, contracts: Number, contract_size: Number, entry_price: Number, price: Number
) -> Fraction:
    """Inverse (coin-margined) unrealized PnL ``s*contracts*size*(1/EP - 1/price)`` in the
    coin, exact. A long gains when the price rises, by less per dollar the higher it goes.

    >>> inverse_unrealized_pnl(LONG, 100, 100, 25000, 20000)
    Fraction(-1, 10)
    """
    face = as_fraction(contracts, field="qty") * as_fraction(contract_size, field="contract_size")
    return side * face * (
        1 / as_fraction(entry_price, field="entry_price") - 1 / as_fraction(price, field="price")
    )


# --------------------------------------------------------------------------- solver

# A leg as the solver sees it: (s, q, tiers) where q converts price to notional.
_Leg = tuple[int, Fraction, tuple[_Tier, ...]]


def _line(const: Fraction, legs: Sequence[_Leg], at: Fraction) -> tuple[Fraction, Fraction]:
    """``(a, b)`` with ``F(x) = a + b*x`` on the segment starting at ``at``.

    ``const`` already holds ``WB + UPNL1 - TMM1 - sum s_j*Q_j*EP_j``.
    """
    a, b = const, _ZERO
    for s, q, tiers in legs:
        _, mmr, cum, _ = _tier_for(tiers, q * at)
        a += cum
        b += s * q - q * mmr
    return a, b


def _safe_interval(
    const: Fraction, legs: Sequence[_Leg]
) -> tuple[Fraction, Fraction | None] | None:
    """``{x > 0 : F(x) > 0}`` as ``(inf, sup)`` (``sup`` None: unbounded), None if empty.

    ``F`` is concave (module docstring), so the set is one interval: the union of its
    parts on each linear segment. O(L*K * L log K) for L legs of K brackets.
    """
    cuts = sorted({t[0] / q for _, q, tiers in legs for t in tiers[1:]})
    starts = [_ZERO, *(c for c in cuts if c > 0)]
    lo_inf: Fraction | None = None
    hi_sup: Fraction | None = None
    unbounded = False
    for i, lo in enumerate(starts):
        hi = starts[i + 1] if i + 1 < len(starts) else None
        a, b = _line(const, legs, lo)
        # the part of [lo, hi] where a + b*x > 0
        if b > 0:
            start, end = max(lo, -a / b), hi
            if end is not None and start >= end:
                continue
        elif b < 0:
            r = -a / b
            start, end = lo, (r if hi is None or r < hi else hi)
            if end <= start:
                continue
        else:
            if a <= 0:
                continue
            start, end = lo, hi
        lo_inf = start if lo_inf is None or start < lo_inf else lo_inf
        if end is None:
            unbounded = True
        elif hi_sup is None or end > hi_sup:
            hi_sup = end
    if lo_inf is None:
        return None
    return lo_inf, (None if unbounded else hi_sup)


# --------------------------------------------------------------------------- results


@attrs.frozen
class LegAtPrice:
    """One leg of the solved contract at the liquidation price: its bracket (None for a
    fixed bracket), MMR, cum, notional and maintenance margin there (settlement asset:
    coin for an inverse leg) and bankruptcy price (§4 split)."""

    side: int
    qty: Fraction
    entry_price: Fraction
    bracket: int | None
    mmr: Fraction
    cum: Fraction
    maint_margin: Fraction
    bankruptcy_price: Fraction | None
    notional: Fraction = _ZERO


@attrs.frozen
class LiquidationResult:
    """What :func:`liquidation_price` found, exact.

    - ``liquidation_price``: the price of the contract at which margin balance equals
      maintenance margin, tier-consistent; None unless ``status`` is :data:`STATUS_PRICE`.
    - ``direction``: -1 if the account is liquidated when the mark falls to or below it
      (a long), +1 when it rises to or above it (a short), 0 without a price.
    - ``bankruptcy_price``: the position's bankruptcy price when liquidated there (§4:
      its share, by maintenance margin, of the margin balance left is used up); for an
      isolated / lone position this is ``EP - s*WB/Q`` whether or not there is an LP.
    - ``mmr``, ``cum``, ``bracket``: the position's bracket at ``Q*LP`` (``bracket`` None
      for a fixed bracket; all three None for a table without a price).
    - ``margin_balance_at_lp`` == ``maint_margin_at_lp`` (whole account / bucket).
    - ``legs``: the position, then the hedge leg if any, at the liquidation price.
    - ``other_liquidation_price``: a second boundary on the other side (hedge mode only).
    """

    mode: str
    status: str
    wallet: Fraction
    position: Position
    hedge_leg: Position | None
    others: tuple[Position, ...]
    other_maint_margin: Fraction
    other_upnl: Fraction
    liquidation_price: Fraction | None
    direction: int
    bankruptcy_price: Fraction | None
    mmr: Fraction | None
    cum: Fraction | None
    bracket: int | None
    margin_balance_at_lp: Fraction | None
    maint_margin_at_lp: Fraction | None
    legs: tuple[LegAtPrice, ...]
    other_liquidation_price: Fraction | None
    symbol: str = ""
    #: the settlement asset the money figures are in (a label: "USDT", "BTC"), "" if unnamed
    asset: str = ""

    @property
    def inverse(self) -> bool:
        """True when the solved position is inverse (coin-margined, sizes in contracts)."""
        return self.position.inverse

    @property
    def liquidation_price_round_up(self) -> bool:
        """True when the displayed LP rounds up (liquidated at or below it)."""
        return self.direction < 0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: every number an exact-or-safely-rounded 8-place string, or None."""
        lp_up = self.liquidation_price_round_up
        side = self.position.side
        size = self.position.contract_size
        return {
            "symbol": self.symbol or None,
            "asset": self.asset or None,
            "inverse": self.inverse,
            "contract_size": None if size is None else _plain(size),
            "mode": self.mode,
            "side": SIDE_NAMES[side],
            "status": self.status,
            "liquidation_price": _fmt(self.liquidation_price, lp_up),
            "liquidated_when": _when(self.direction),
            "bankruptcy_price": _fmt(self.bankruptcy_price, side == LONG),
            "mmr": _fmt(self.mmr, True),
            "cum": _fmt(self.cum, False),
            "bracket": self.bracket,
            "notional_at_lp": _fmt(self.legs[0].notional, True) if self.legs else None,
            "margin_balance_at_lp": _fmt(self.margin_balance_at_lp, True),
            "maint_margin_at_lp": _fmt(self.maint_margin_at_lp, True),
            "other_contracts_maint_margin": _fmt(self.other_maint_margin, True),
            "other_contracts_upnl": _fmt(self.other_upnl, False),
            "other_liquidation_price": _fmt(self.other_liquidation_price, not lp_up),
            "legs": [
                {
                    "side": SIDE_NAMES[leg.side],
                    "qty": _plain(leg.qty),
                    "entry_price": _plain(leg.entry_price),
                    "bracket": leg.bracket,
                    "mmr": _fmt(leg.mmr, True),
                    "cum": _fmt(leg.cum, False),
                    "notional_at_lp": _fmt(leg.notional, True),
                    "maint_margin_at_lp": _fmt(leg.maint_margin, True),
                    "bankruptcy_price": _fmt(leg.bankruptcy_price, leg.side == LONG),
                }
                for leg in self.legs
            ],
        }

    def explain(self) -> str:
        """A few plain lines: the price, the bracket, margin balance vs maintenance margin
        there, the bankruptcy price. Numbers with 8 decimals, rounded as documented."""
        p = self.position
        unit = f" {self.asset}" if self.asset else ""
        size = "" if p.contract_size is None else f" contracts x {_plain(p.contract_size)}"
        what = f"{SIDE_NAMES[p.side]} {_plain(p.qty)}{size}"
        if self.symbol:
            what += f" {self.symbol}"
        what += f" @ {_plain(p.entry_price)}"
        if self.hedge_leg is not None:
            h = self.hedge_leg
            what += f" + hedge {SIDE_NAMES[h.side]} {_plain(h.qty)} @ {_plain(h.entry_price)}"
        lines = [f"{what}, {self.mode} margin, wallet {_plain(self.wallet)}{unit}"]
        lone_bp_rule = (
            "1/bankruptcy = 1/entry + side x wallet / (contracts x size)"
            if p.inverse
            else "entry - side x wallet / qty"
        )
        if self.others:
            lines.append(
                f"other cross contracts held at their marks: maintenance margin "
                f"{_fmt(self.other_maint_margin, True)}, unrealized PnL "
                f"{_fmt(self.other_upnl, False)}"
            )
        bp = self.bankruptcy_price
        if self.status != STATUS_PRICE:
            if self.status == STATUS_NEVER:
                lines.append(
                    "liquidation price: -- (margin balance stays above maintenance margin "
                    "at every positive price)"
                )
            else:
                lines.append(
                    "liquidation price: -- (margin balance is at or below maintenance "
                    "margin at every positive price: liquidatable now, whatever the price)"
                )
            if bp is not None:
                lines.append(
                    f"bankruptcy price {_fmt(bp, p.side == LONG)}: margin balance reaches 0 "
                    f"there ({lone_bp_rule})"
                )
            else:
                lines.append("bankruptcy price: -- (no positive price)")
            return "\n".join(lines)
        assert self.liquidation_price is not None
        up = self.liquidation_price_round_up
        lines.append(
            f"liquidation price {_fmt(self.liquidation_price, up)}: liquidated when the mark "
            f"{'falls to or below' if up else 'rises to or above'} it "
            f"(rounded {'up' if up else 'down'}, toward the safe side)"
        )
        for i, leg in enumerate(self.legs):
            name = "position" if i == 0 else "hedge leg"
            if leg.bracket is None:
                where = "fixed bracket"
            else:
                where = f"bracket {leg.bracket}"
            notional = (
                _fmt(leg.notional, True) + unit
                if p.inverse
                else _fmt(leg.qty * self.liquidation_price, up)
            )
            lines.append(
                f"  {name}: {where}, MMR {_pct(leg.mmr)}, cum {_plain(leg.cum)}; "
                f"{'coin notional' if p.inverse else 'notional'} {notional}, "
                f"maintenance margin {_fmt(leg.maint_margin, True)}{unit if p.inverse else ''}"
            )
        lines.append(
            f"  at that price: margin balance {_fmt(self.margin_balance_at_lp, True)} = "
            f"maintenance margin {_fmt(self.maint_margin_at_lp, True)}{unit if p.inverse else ''}"
        )
        if bp is not None and self.hedge_leg is None and not self.others:
            lines.append(
                f"bankruptcy price {_fmt(bp, p.side == LONG)}: margin balance reaches 0 there "
                f"({lone_bp_rule})"
            )
        elif bp is not None:
            lines.append(
                f"bankruptcy price {_fmt(bp, p.side == LONG)}: the position's share (by "
                "maintenance margin) of the margin left at the liquidation price is used up"
            )
        else:
            lines.append("bankruptcy price: -- (not positive)")
        if self.other_liquidation_price is not None:
            lines.append(
                f"also liquidated {'at or above' if up else 'at or below'} "
                f"{_fmt(self.other_liquidation_price, not up)} (maintenance margin outgrows "
                "the net position there)"
            )
        return "\n".join(lines)


def _when(direction: int) -> str | None:
    if direction < 0:
        return "mark <= liquidation_price"
    if direction > 0:
        return "mark >= liquidation_price"
    return None


# --------------------------------------------------------------------------- formatting


def _scaled8(value: Fraction, round_up: bool) -> int:
    """``value * 1e8`` as an int, rounded up or down (units.ceil_div / floor_div)."""
    num = value.numerator * _DISPLAY_SCALE
    return ceil_div(num, value.denominator) if round_up else floor_div(num, value.denominator)


def format_price(value: Fraction, *, round_up: bool) -> str:
    """``value`` as a decimal string with exactly 8 places, rounded up or down.

    Which way is the caller's choice and part of the meaning (module docstring): a long's
    liquidation price rounds up, a short's down (toward the safe side).

    >>> format_price(Fraction(1, 3), round_up=True), format_price(Fraction(1, 3), round_up=False)
    ('0.33333334', '0.33333333')
    >>> format_price(Fraction(-1, 3), round_up=True), format_price(Fraction(26316), round_up=False)
    ('-0.33333333', '26316.00000000')
    """
    return format_scaled(_scaled8(value, round_up), ATOM_PLACES, ATOM_PLACES)


def to_decimal(value: Fraction, *, round_up: bool) -> Decimal:
    """``value`` as a ``Decimal`` with exactly 8 places, rounded as :func:`format_price`.

    >>> to_decimal(Fraction(2, 3), round_up=False)
    Decimal('0.66666666')
    """
    return Decimal(format_price(value, round_up=round_up))


def _fmt(value: Fraction | None, round_up: bool) -> str | None:
    return None if value is None else format_price(value, round_up=round_up)


def _plain(value: Fraction) -> str:
    """An exact short decimal when ``value`` has one within 8 places, else 8 places down."""
    scaled = value * _DISPLAY_SCALE
    if scaled.denominator == 1:
        return format_scaled(int(scaled), ATOM_PLACES)
    return format_price(value, round_up=False) + "..."


def _pct(rate: Fraction) -> str:
    scaled = rate * RATE_SCALE
    if scaled.denominator == 1:
        return format_rate_e8(int(scaled) * 100) + " %"
    return format_price(rate * 100, round_up=True) + " %"


# --------------------------------------------------------------------------- calculator


def bankruptcy_price(
    side: int,
    qty: Number,
    entry_price: Number,
    wallet: Number,
    *,
    contract_size: Number | None = None,
) -> Fraction:
    """Isolated / single position bankruptcy price (MARGIN-SPEC §4), exact.

    Linear: ``BP = EP - s*WB/Q``. Inverse (``contract_size`` given, ``qty`` in contracts,
    ``wallet`` in coin): margin balance ``WB + s*face*(1/EP - 1/BP)`` is 0 at
    ``1/BP = 1/EP + s*WB/face`` with ``face = qty*contract_size``.

    A result <= 0 means there is no positive BP (a linear long whose margin covers a fall
    to zero; an inverse short with at least 1x margin: 0 is returned when ``1/BP`` is 0 or
    negative).

    >>> bankruptcy_price(LONG, 1, 60000, 6000), bankruptcy_price(SHORT, 1, 60000, 6000)
    (Fraction(54000, 1), Fraction(66000, 1))
    >>> bankruptcy_price(LONG, 100, 25000, "0.04", contract_size=100)
    Fraction(250000, 11)
    """
    _side_ok(side)
    q = as_fraction(qty, field="qty")
    if q <= 0:
        raise InputError(f"{_plain(q)} must be > 0", field="qty")
    ep = as_fraction(entry_price, field="entry_price")
    wb = as_fraction(wallet, field="wallet")
    if contract_size is None:
        return ep - side * wb / q
    size = as_fraction(contract_size, field="contract_size")
    if size <= 0:
        raise InputError(f"{_plain(size)} must be > 0", field="contract_size")
    return _inverse_price(1 / ep + side * wb / (q * size))


def _inverse_price(reciprocal: Fraction) -> Fraction:
    """The price whose reciprocal is ``reciprocal``; 0 when there is none (``<= 0``)."""
    return 1 / reciprocal if reciprocal > 0 else _ZERO


def cross_bankruptcy_prices(wallet: Number, positions: Sequence[Position]) -> tuple[Fraction, ...]:
    """Bankruptcy price of every position of a cross pool closed all at once (§4).

    ``TNC = WB + sum UPnL`` (at the marks) is split in proportion to maintenance margin:
    ``BP_i = MP_i - s_i * TNC * (MM_i / sum MM) / Q_i``. Closing every position at its
    ``BP_i`` leaves the pool's margin balance at exactly 0. Each position needs a
    ``mark_price``. If ``sum MM`` is 0 the split is undefined: every BP is the mark when
    ``TNC`` is 0 too, else ``ValueError``. Exact; a BP may be <= 0. O(n).

    Inverse positions (one coin's pool, every position inverse) lose their share in coin:
    ``1/BP_i = 1/MP_i + s_i * TNC * (MM_i / sum MM) / face_i``; 0 when that is not
    positive (no positive BP). Linear and inverse positions never share a pool.

    >>> btc = Position(LONG, 1, 60000, FixedBracket("0.005", "0"), mark_price=55000)
    >>> cross_bankruptcy_prices(6000, [btc])
    (Fraction(54000, 1),)
    """
    wb = as_fraction(wallet, field="wallet")
    if not positions:
        return ()
    for i, p in enumerate(positions):
        if p.mark_price is None:
            raise InputError("needs a mark_price", where=f"position #{i + 1}", field="mark_price")
    _one_kind(positions, "positions")
    upnl = [p.unrealized_pnl() for p in positions]
    mms = [p.maint_margin() for p in positions]
    tnc = wb + sum(upnl, _ZERO)
    total_mm = sum(mms, _ZERO)
    out: list[Fraction] = []
    for p, mm in zip(positions, mms):
        assert p.mark_price is not None
        if total_mm == 0:
            if tnc != 0:
                raise ValueError(
                    "total maintenance margin is 0: the MM-proportional split of a "
                    f"non-zero margin balance {_plain(tnc)} is undefined"
                )
            out.append(p.mark_price)
        elif p.inverse:
            out.append(_inverse_price(1 / p.mark_price + p.side * tnc * (mm / total_mm) / p.face))
        else:
            out.append(p.mark_price - p.side * tnc * (mm / total_mm) / p.qty)
    return tuple(out)


def _one_kind(positions: Sequence[Position], field: str) -> None:
    """InputError unless every position is linear or every one inverse (one settlement
    asset: a cross pool never mixes USDⓈ-M and COIN-M contracts)."""
    if positions and any(p.inverse != positions[0].inverse for p in positions):
        raise InputError(
            "linear (USDⓈ-M) and inverse (COIN-M) contracts are margined in different "
            "assets and never share a wallet; give contracts of one kind",
            field=field,
        )


def liquidation_price(
    position: Position,
    wallet: Number,
    *,
    mode: str = ISOLATED,
    hedge_leg: Position | None = None,
    others: Sequence[Position] = (),
    symbol: str = "",
    asset: str = "",
) -> LiquidationResult:
    """Liquidation price of ``position`` (MARGIN-SPEC §3), exact and tier-consistent.

    - ``wallet``: the isolated bucket's margin (``mode=ISOLATED``) or the cross wallet
      balance (``mode=CROSS``), in the settlement asset.
    - ``hedge_leg`` (cross only): the opposite-side position in the same contract (hedge
      mode). Both legs move with the price; each uses the bracket of its own notional.
    - ``others`` (cross only): other cross contracts, each with a ``mark_price``; they
      contribute ``TMM1 = sum MM`` and ``UPNL1 = sum UPnL`` at their marks.
    - ``symbol`` and ``asset`` (the settlement asset's name) only label the result.

    Linear and inverse positions are solved alike (module docstring, "Inverse
    contracts"); every position given must be of one kind (one settlement asset), and a
    hedge leg has the position's contract size.

    One-way mode, fixed bracket, this is the spec's formula
    ``LP = (WB - TMM1 + UPNL1 + cum - s*Q*EP) / (Q*MMR - s*Q)``; with a bracket table it
    is solved per bracket and the self-consistent solution kept (module docstring:
    uniqueness). O(L*K log K) for L legs of K brackets.

    >>> lp = liquidation_price(Position(LONG, 1, 60000, FixedBracket("0.005", 0)), 6000)
    >>> lp.liquidation_price, lp.bankruptcy_price, lp.margin_balance_at_lp == lp.maint_margin_at_lp
    (Fraction(10800000, 199), Fraction(54000, 1), True)
    >>> inv = Position(LONG, 100, 25000, FixedBracket("0.004", 0), contract_size=100)
    >>> format_price(liquidation_price(inv, "0.04").liquidation_price, round_up=True)
    '22818.18181819'
    """
    if mode not in (ISOLATED, CROSS):
        raise InputError(f"{mode!r}; expected {ISOLATED!r} or {CROSS!r}", field="mode")
    wb = as_fraction(wallet, field="wallet")
    others = tuple(others)
    if mode == ISOLATED and (others or hedge_leg is not None):
        what = "other contracts" if others else "a hedge leg"
        raise InputError(
            f"isolated mode uses only this position's margin; {what} needs mode={CROSS!r}",
            field="others" if others else "hedge_leg",
        )
    if hedge_leg is not None and hedge_leg.side != -position.side:
        raise InputError(
            "a hedge leg is the opposite side of the same contract; both are "
            f"{SIDE_NAMES[position.side]}",
            field="hedge_leg",
        )
    if hedge_leg is not None and hedge_leg.contract_size != position.contract_size:
        raise InputError(
            "a hedge leg is the same contract: its contract size must be the position's",
            field="hedge_leg",
        )
    _one_kind((position, *others), "others")
    for i, o in enumerate(others):
        if o.mark_price is None:
            raise InputError("needs a mark_price", where=f"other #{i + 1}", field="mark_price")
    tmm1 = sum((o.maint_margin() for o in others), _ZERO)
    upnl1 = sum((o.unrealized_pnl() for o in others), _ZERO)
    book = (position,) if hedge_leg is None else (position, hedge_leg)
    inverse = position.inverse
    if inverse:
        # In x = 1/P an inverse leg is a linear one of size ``face``, side ``-s`` and entry
        # 1/EP: s*face*(1/EP - x) - MM(face*x). Solve there; map back with P = 1/x.
        legs: list[_Leg] = [(-p.side, p.face, _tiers(p.brackets)) for p in book]
        const = wb + upnl1 - tmm1 + sum((p.side * p.face / p.entry_price for p in book), _ZERO)
    else:
        legs = [(p.side, p.qty, _tiers(p.brackets)) for p in book]
        const = wb + upnl1 - tmm1 - sum((p.side * p.qty * p.entry_price for p in book), _ZERO)
    safe = _safe_interval(const, legs)
    net = sum((p.side * p.qty for p in book), _ZERO)

    lone = hedge_leg is None and not others
    lone_bp: Fraction | None = None
    if lone:
        lone_bp = bankruptcy_price(
            position.side, position.qty, position.entry_price, wb,
            contract_size=position.contract_size,
        )
        lone_bp = lone_bp if lone_bp > 0 else None

    def unsolved(status: str) -> LiquidationResult:
        fixed = position.brackets if isinstance(position.brackets, FixedBracket) else None
        return LiquidationResult(
            mode=mode,
            status=status,
            wallet=wb,
            position=position,
            hedge_leg=hedge_leg,
            others=others,
            other_maint_margin=tmm1,
            other_upnl=upnl1,
            liquidation_price=None,
            direction=0,
            bankruptcy_price=lone_bp,
            mmr=fixed.mmr if fixed else None,
            cum=fixed.cum if fixed else None,
            bracket=None,
            margin_balance_at_lp=None,
            maint_margin_at_lp=None,
            legs=(),
            other_liquidation_price=None,
            symbol=symbol,
            asset=asset,
        )

    if safe is None:
        return unsolved(STATUS_ALWAYS)
    low, high = safe
    if inverse:
        # Safe for x in (low, high), i.e. for P in (1/high, 1/low): x -> 0 is P -> oo.
        lower = None if high is None else 1 / high  # liquidated on (0, lower]
        upper = 1 / low if low > 0 else None  # liquidated on [upper, oo)
    else:
        lower = low if low > 0 else None  # liquidated on (0, lower]
        upper = high  # liquidated on [upper, oo)
    if lower is None and upper is None:
        return unsolved(STATUS_NEVER)
    if net > 0:
        lp, direction, other = (lower, -1, upper) if lower is not None else (upper, 1, None)
    else:
        lp, direction, other = (upper, 1, lower) if upper is not None else (lower, -1, None)
    assert lp is not None

    margin_balance = wb + upnl1 + sum((p.unrealized_pnl(lp) for p in book), _ZERO)
    at_lp: list[tuple[Position, _Tier, Fraction, Fraction]] = []
    for p in book:
        notional = p.notional(lp)
        tier = _tier_for(_tiers(p.brackets), notional)
        at_lp.append((p, tier, notional * tier[1] - tier[2], notional))
    total_mm = tmm1 + sum((mm for _, _, mm, _ in at_lp), _ZERO)
    if margin_balance != total_mm:  # pragma: no cover - the solver's own invariant
        raise StateError(
            f"liquidation price {lp} is not a root: margin balance {margin_balance} != "
            f"maintenance margin {total_mm}"
        )
    # §4 at the liquidation moment: TNC = margin balance = sum MM, so each leg's share of
    # TNC is its own MM and BP_j = LP - s_j * MM_j / Q_j (for a lone isolated position
    # this equals EP - s*WB/Q exactly). The other contracts close at their own BPs.
    # Inverse: s*face*(1/LP - 1/BP_j) = -MM_j, so 1/BP_j = 1/LP + s_j*MM_j/face_j.
    leg_results = tuple(
        LegAtPrice(
            side=p.side,
            qty=p.qty,
            entry_price=p.entry_price,
            bracket=tier[3],
            mmr=tier[1],
            cum=tier[2],
            maint_margin=mm,
            bankruptcy_price=_positive(
                _inverse_price(1 / lp + p.side * mm / p.face) if inverse else lp - p.side * mm / p.qty
            ),
            notional=notional,
        )
        for p, tier, mm, notional in at_lp
    )
    first = leg_results[0]
    return LiquidationResult(
        mode=mode,
        status=STATUS_PRICE,
        wallet=wb,
        position=position,
        hedge_leg=hedge_leg,
        others=others,
        other_maint_margin=tmm1,
        other_upnl=upnl1,
        liquidation_price=lp,
        direction=direction,
        bankruptcy_price=first.bankruptcy_price,
        mmr=first.mmr,
        cum=first.cum,
        bracket=first.bracket,
        margin_balance_at_lp=margin_balance,
        maint_margin_at_lp=total_mm,
        legs=leg_results,
        other_liquidation_price=other,
        symbol=symbol,
        asset=asset,
    )


def _positive(value: Fraction) -> Fraction | None:
    return value if value > 0 else None


# --------------------------------------------------------------------------- engine API


def is_liquidatable(
    side: int,
    qty_lots: int,
    entry_cost_atoms: int,
    margin_atoms: int,
    brackets: BracketTable,
    atoms_per_tick_lot: int,
    mark_ticks: int,
) -> bool:
    """Whether an isolated bucket is liquidatable at ``mark_ticks`` (MARGIN-SPEC §2).

    ``margin_atoms + upnl_atoms <= maint_margin_atoms`` with notional
    ``mark_ticks * qty_lots * atoms_per_tick_lot``, UPnL ``notional - entry_cost_atoms``
    (long) or ``entry_cost_atoms - notional`` (short), and the table's maintenance margin
    (rounded up, against the trader). ``side`` is :data:`LONG` or :data:`SHORT`;
    ``entry_cost_atoms`` the exact entry notional (sum of price x size, > 0). O(log K).

    >>> from exsim.instruments import get_instrument
    >>> btc = get_instrument("BTCUSDT")
    >>> cost = btc.notional_atoms(btc.ticks("60000"), btc.lots("1"))
    >>> args = (LONG, 1000, cost, 6000 * 10**8, btc.brackets, btc.atoms_per_tick_lot)
    >>> is_liquidatable(*args, btc.ticks("54221.1")), is_liquidatable(*args, btc.ticks("54221.2"))
    (True, False)
    """
    notional = mark_ticks * qty_lots * atoms_per_tick_lot
    upnl = notional - entry_cost_atoms if side > 0 else entry_cost_atoms - notional
    return margin_atoms + upnl <= brackets.maint_margin_atoms(notional)


def isolated_trigger_ticks(
    side: int,
    qty_lots: int,
    entry_cost_atoms: int,
    margin_atoms: int,
    brackets: BracketTable,
    atoms_per_tick_lot: int,
) -> int | None:
    """The isolated bucket's liquidation trigger on the tick grid, exact.

    Long: the **highest** tick price ``p >= 1`` at which :func:`is_liquidatable` holds
    (liquidate when ``mark_ticks <= result``); None if it holds at no positive tick.
    Short: the **lowest** such ``p >= 1`` (liquidate when ``mark_ticks >= result``); a
    short always has one (1 if it is liquidatable at every price).

    Why it is exact. With ``N = p*qty_lots*atoms_per_tick_lot`` and
    ``m(N) = N*MMR_k/1e8 - cum_k`` (continuous, convex, ``>= 0``), the table's MM is
    ``ceil(m(N))`` and, ``cum`` and every other term being whole atoms, the condition
    ``margin + upnl <= ceil(m(N))`` is exactly ``F(N) < 1`` with the rational
    ``F = margin + upnl - m``. For a long ``F`` grows with slope ``1 - MMR_k >= 0``, for a
    short it falls with slope ``-(1 + MMR_k) < 0``: the condition is **monotone in p**, so
    the liquidatable ticks are ``[1, p*]`` (long) or ``[p*, oo)`` (short). The solver
    finds the bracket where ``F`` crosses 1 (the one whose line's root lies inside it)
    and solves that line exactly; ``p*`` is ``ceil(x) - 1`` (long) or ``floor(x) + 1``
    (short) of the rational root ``x`` in ticks. The result is then checked with the
    integer condition at ``p*`` and its neighbour and moved one tick if needed (never, if
    the algebra is right: a broken check raises :class:`StateError`).

    Arguments: ``side`` the sign (+1 / -1, not the ledger's position_side code),
    ``qty_lots > 0`` the absolute size, ``entry_cost_atoms >= 0`` the exact entry cost.
    From an :mod:`exsim.ledger` position: ``side = 1 if pos.qty_lots > 0 else -1``,
    ``qty_lots = abs(pos.qty_lots)``, ``entry_cost_atoms = pos.cost_atoms``,
    ``margin_atoms = pos.margin_atoms``.

    Raises ``ValueError`` for a long liquidatable at *every* price (possible only if the
    last bracket's MMR is 100 %): there is no highest tick. O(K) for K brackets.

    >>> from exsim.instruments import get_instrument
    >>> btc = get_instrument("BTCUSDT")
    >>> cost = btc.notional_atoms(btc.ticks("60000"), btc.lots("1"))
    >>> isolated_trigger_ticks(LONG, 1000, cost, 6000 * 10**8, btc.brackets, btc.atoms_per_tick_lot)
    542211
    >>> isolated_trigger_ticks(SHORT, 1000, cost, 6000 * 10**8, btc.brackets, btc.atoms_per_tick_lot)
    657214
    """
    if side not in (LONG, SHORT):
        raise ValueError(f"side must be LONG (+1) or SHORT (-1), got {side!r}")
    if qty_lots <= 0 or atoms_per_tick_lot <= 0:
        raise ValueError(
            f"qty_lots and atoms_per_tick_lot must be > 0, got {qty_lots}, {atoms_per_tick_lot}"
        )
    k = qty_lots * atoms_per_tick_lot  # atoms of notional per tick of price
    S = RATE_SCALE
    tiers = brackets.brackets
    last = len(tiers) - 1
    if side == LONG:
        # S*F(N) = S*(margin - cost + cum_j) + N*(S - mmr_j), non-decreasing in N.
        base = margin_atoms - entry_cost_atoms
        p = 0
        for j, b in enumerate(tiers):
            if j < last and S * (base + b.cum_atoms) + b.cap_atoms * (S - b.mmr_e8) < S:
                continue  # F < 1 through the whole bracket: the crossing is further up
            if S * (base + b.cum_atoms) + b.floor_atoms * (S - b.mmr_e8) >= S:
                p = 0  # F >= 1 already at the floor: only when j == 0 (N = 0)
            elif b.mmr_e8 == S:
                raise ValueError(
                    "a long liquidatable at every price (last bracket MMR 100 %) has no "
                    "highest trigger tick"
                )
            else:
                # F(N) = 1  <=>  N = S*(1 - base - cum_j) / (S - mmr_j); x = N / k ticks
                p = ceil_div(S * (1 - base - b.cum_atoms), (S - b.mmr_e8) * k) - 1
            break
        p = _adjust(p, side, qty_lots, entry_cost_atoms, margin_atoms, brackets, atoms_per_tick_lot)
        return p if p >= 1 else None
    # S*F(N) = S*(margin + cost + cum_j) - N*(S + mmr_j), strictly decreasing in N.
    base = margin_atoms + entry_cost_atoms
    if base < 1:
        p = 1  # F(0) < 1: liquidatable at every price
    else:
        p = 1
        for j, b in enumerate(tiers):
            if j < last and S * (base + b.cum_atoms) - b.cap_atoms * (S + b.mmr_e8) >= S:
                continue  # F >= 1 through the whole bracket
            p = floor_div(S * (base + b.cum_atoms - 1), (S + b.mmr_e8) * k) + 1
            break
    p = _adjust(max(p, 1), side, qty_lots, entry_cost_atoms, margin_atoms, brackets, atoms_per_tick_lot)
    return p


def _adjust(
    p: int,
    side: int,
    qty_lots: int,
    entry_cost_atoms: int,
    margin_atoms: int,
    brackets: BracketTable,
    atoms_per_tick_lot: int,
) -> int:
    """Check ``p`` against the integer condition and move it at most one tick each way.

    Long: ``p`` must be liquidatable (or 0) and ``p + 1`` not; short: ``p`` liquidatable
    and ``p - 1`` not (or ``p == 1``). The condition is monotone in ``p`` (see
    :func:`isolated_trigger_ticks`), so a wrong ``p`` is fixed by stepping toward the
    boundary; more than one step means the algebra is broken (:class:`StateError`).
    """

    def liq(t: int) -> bool:
        return t >= 1 and is_liquidatable(
            side, qty_lots, entry_cost_atoms, margin_atoms, brackets, atoms_per_tick_lot, t
        )

    start = p
    for _ in range(3):  # check, at most two one-tick moves
        if side == LONG:
            if p >= 1 and not liq(p):
                p -= 1
            elif liq(p + 1):
                p += 1
            else:
                return p
        else:
            if not liq(p):
                p += 1
            elif p > 1 and liq(p - 1):
                p -= 1
            else:
                return p
    raise StateError(f"trigger tick {start} is more than one tick off (side {side})")
