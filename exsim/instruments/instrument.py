"""Instrument specification: grids, limits, fees, funding interval and brackets.

An :class:`Instrument` is an immutable, validated spec. It is built once at the boundary
(:meth:`Instrument.create` from decimal strings, or :func:`exsim.instruments.get_instrument`
for the shipped examples) and then trusted by the hot path. Building one refuses any
spec that would make integer state inexact: in particular ``tick_size * lot_size`` must be
a whole number of atoms (:func:`exsim.units.atoms_per_tick_lot`), so notional and linear
PnL are exact integers ``price_ticks * qty_lots * atoms_per_tick_lot``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

import attrs

from exsim.errors import InputError, SpecError
from exsim.instruments.brackets import BracketTable
from exsim.units import (
    NS_PER_HOUR,
    RATE_SCALE,
    ValueText,
    ATOMS_E8_PER_ATOM,
    atoms_per_tick_lot,
    format_lots,
    inverse_atoms_per_lot_tick,
    inverse_value_e8_ceil,
    inverse_value_floor,
    format_rate_e8,
    format_subticks,
    format_ticks,
    lot_size_e8,
    parse_decimal,
    subticks_per_tick,
    tick_places,
    to_subticks,
    to_atoms,
    to_lots,
    to_rate_e8,
    to_ticks,
)

__all__ = ["USD_ASSETS", "Instrument", "DEFAULT_MAKER_FEE_E8", "DEFAULT_TAKER_FEE_E8", "MAINT_MARGIN_BASES"]

#: 0.02 % maker fee (MARGIN-SPEC §7).
DEFAULT_MAKER_FEE_E8: Final = 20_000
#: 0.05 % taker fee (MARGIN-SPEC §7).
DEFAULT_TAKER_FEE_E8: Final = 50_000
DEFAULT_FUNDING_INTERVAL_NS: Final = 8 * NS_PER_HOUR
#: values of :attr:`Instrument.maint_margin_basis`: MM on the notional at mark / at entry
MAINT_MARGIN_BASES: Final = ("mark", "entry")

_UNIFIED_RE: Final = re.compile(r"([A-Z0-9]+)/([A-Z0-9]+):[A-Z0-9-]+", re.ASCII)
#: Binance COIN-M names: ``BTCUSD_PERP`` (perpetual), ``BTCUSD_240927`` (quarterly)
_COIN_M_RE: Final = re.compile(r"([A-Z0-9]+?)(USD)_(PERP|[0-9]{6})", re.ASCII)
_QUOTES: Final = ("USDT", "USDC", "BUSD", "FDUSD")
#: settlement assets counted at 1 USD (stablecoins): shown in cents, valued without a price
USD_ASSETS: Final = frozenset({"USDT", "USDC", "USD", "BUSD", "FDUSD", "TUSD"})


def _tick_size(value: ValueText) -> Decimal:
    """attrs converter: accept str/int/Decimal for ``tick_size``; SpecError if malformed."""
    try:
        return parse_decimal(value, field="tick_size")
    except InputError as exc:
        raise SpecError(exc.message, field="tick_size") from exc


def _contract_size(value: ValueText) -> Decimal:
    """attrs converter for ``contract_size``; SpecError if malformed."""
    try:
        return parse_decimal(value, field="contract_size")
    except InputError as exc:
        raise SpecError(exc.message, field="contract_size") from exc


def _lot_size(value: ValueText) -> Decimal:
    """attrs converter: accept str/int/Decimal for ``lot_size``; SpecError if malformed."""
    try:
        return parse_decimal(value, field="lot_size")
    except InputError as exc:
        raise SpecError(exc.message, field="lot_size") from exc


def _split_symbol(symbol: str) -> tuple[str, str] | None:
    """``(base, quote)`` guessed from ``BTC/USDT:USDT`` or ``BTCUSDT``; None if unsure."""
    m = _UNIFIED_RE.fullmatch(symbol) or _COIN_M_RE.fullmatch(symbol)
    if m is not None:
        return m.group(1), m.group(2)
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return None


@attrs.frozen(kw_only=True)
class Instrument:
    """A perpetual's specification, linear or inverse. All integers carry their unit in their name.

    - ``inverse``: False (linear, USDⓈ-M: size in the base asset, money in the quote) or
      True (inverse, COIN-M: size in contracts of ``contract_size`` quote units each,
      money in the base coin; notional = contracts × contract size / price).
    - ``margin_asset``: the settlement asset every amount of this instrument is in (its
      wallets, fees, PnL, funding, brackets); default the quote (linear) or the base
      (inverse). Cross margin pools the instruments that share it.
    - ``contract_size``: inverse only, the face value of one contract in the quote
      (``100`` USD for BTCUSD_PERP); ``0`` for linear. ``contract_size × lot_size × 1e8 /
      tick_size`` must be whole (:attr:`inverse_atoms_per_lot_tick`).

    - ``tick_size`` / ``lot_size``: price and quantity grids (``Decimal``), > 0.
    - ``min_qty_lots`` (>= 1) / ``max_qty_lots`` (per order; 0 = no cap).
    - ``min_notional_atoms`` (per order; 0 = none) / ``max_notional_atoms`` (per position;
      0 = the bracket table's last cap, see :attr:`max_notional_limit_atoms`).
    - ``maker_fee_e8`` (may be negative: a rebate), ``taker_fee_e8`` (>= 0),
      ``clearance_fee_e8`` (liquidation fee, >= 0), all parts per 1e8 of fill notional.
    - ``funding_interval_ns`` (> 0), ``brackets`` (validated :class:`BracketTable`).
    - ``partial_liquidation``: reduce to the bracket below before liquidating fully.
    - ``maint_margin_basis``: the notional the maintenance margin is computed on,
      ``"mark"`` (default, Binance: ``MM = N_mark * MMR - cum``, MARGIN-SPEC §1) or
      ``"entry"`` (Bybit-style, MARGIN-SPEC §8: MM is held at its entry value, computed
      on the position's exact entry cost, so it does not move with the mark; the
      isolated liquidation price is then ``LP = EP - s * (WB - MM) / Q``).
    - ``atoms_per_tick_lot``: derived, ``tick_size * lot_size / 1e-8``, exact.

    Construction validates everything and raises :class:`SpecError` naming the
    instrument and field. Instances are immutable and hashable.
    """

    symbol: str
    base: str
    quote: str
    tick_size: Decimal = attrs.field(converter=_tick_size)
    lot_size: Decimal = attrs.field(converter=_lot_size)
    brackets: BracketTable
    min_qty_lots: int = 1
    max_qty_lots: int = 0
    min_notional_atoms: int = 0
    max_notional_atoms: int = 0
    maker_fee_e8: int = DEFAULT_MAKER_FEE_E8
    taker_fee_e8: int = DEFAULT_TAKER_FEE_E8
    clearance_fee_e8: int = 0
    funding_interval_ns: int = DEFAULT_FUNDING_INTERVAL_NS
    #: Binance-style partial liquidation: first reduce a position to the bracket below,
    #: liquidate fully only if that is not enough
    partial_liquidation: bool = False
    #: notional the maintenance margin is computed on: "mark" (Binance) or "entry" (Bybit)
    maint_margin_basis: str = "mark"
    inverse: bool = False
    contract_size: Decimal = attrs.field(default=Decimal(0), converter=_contract_size)
    margin_asset: str = attrs.field(
        default=attrs.Factory(lambda self: self.base if self.inverse else self.quote, takes_self=True)
    )
    atoms_per_tick_lot: int = attrs.field(init=False)
    #: inverse: coin atoms per (lot / tick): a fill's value is ``lots × this // price_ticks``; 0 if linear
    inverse_atoms_per_lot_tick: int = attrs.field(init=False)
    #: inverse: ``face value of a lot × 1e24``, the numerator of a value at a subtick price
    #: in 1e-8 atoms (:func:`exsim.units.inverse_value_e8_ceil`); 0 if linear
    inverse_atoms_e8_per_lot_subtick: int = attrs.field(init=False)
    #: subticks (1e-8 of the quote asset: the unit of marks and index prices) per tick
    subticks_per_tick: int = attrs.field(init=False)
    #: the lot in 1e-8 of the base asset: ``_atoms_e8`` of notional per lot per subtick
    lot_size_e8: int = attrs.field(init=False)
    #: decimals of the tick (a mark on the tick is shown with as many)
    tick_places: int = attrs.field(init=False)

    @atoms_per_tick_lot.default
    def _atoms_per_tick_lot(self) -> int:
        try:
            return atoms_per_tick_lot(self.tick_size, self.lot_size)
        except SpecError as exc:
            raise SpecError(exc.message, where=self._where(), field=exc.field) from exc

    @inverse_atoms_per_lot_tick.default
    def _inverse_atoms_per_lot_tick(self) -> int:
        if not self.inverse:
            return 0
        try:
            return inverse_atoms_per_lot_tick(self.contract_size, self.lot_size, self.tick_size)
        except SpecError as exc:
            raise SpecError(exc.message, where=self._where(), field=exc.field) from exc

    @inverse_atoms_e8_per_lot_subtick.default
    def _inverse_atoms_e8_per_lot_subtick(self) -> int:
        if not self.inverse:
            return 0
        face = self.contract_size * self.lot_size * (10**24)
        if face != face.to_integral_value() or face <= 0:
            raise SpecError(
                f"contract size {self.contract_size} x lot {self.lot_size} is finer than 1e-24 or not positive",
                where=self._where(),
                field="contract_size",
            )
        return int(face)

    @subticks_per_tick.default
    def _subticks_per_tick(self) -> int:
        try:
            return subticks_per_tick(self.tick_size)
        except SpecError as exc:
            raise SpecError(exc.message, where=self._where(), field=exc.field) from exc

    @lot_size_e8.default
    def _lot_size_e8(self) -> int:
        try:
            return lot_size_e8(self.lot_size)
        except SpecError as exc:
            raise SpecError(exc.message, where=self._where(), field=exc.field) from exc

    @tick_places.default
    def _tick_places(self) -> int:
        return tick_places(self.tick_size)

    def _where(self) -> str:
        return f"instrument {self.symbol}" if self.symbol else "instrument"

    def __attrs_post_init__(self) -> None:
        where = self._where()

        def bad(field: str, message: str) -> SpecError:
            return SpecError(message, where=where, field=field)

        if not isinstance(self.inverse, bool):
            raise bad("inverse", f"{self.inverse!r} must be a bool")
        if self.inverse and self.contract_size <= 0:
            raise bad("contract_size", f"{self.contract_size} must be > 0 for an inverse contract")
        if not self.inverse and self.contract_size != 0:
            raise bad("contract_size", f"{self.contract_size}: only inverse contracts have a contract size")
        for name in ("symbol", "base", "quote", "margin_asset"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise bad(name, f"{value!r} must be a non-empty string")
        for name in (
            "min_qty_lots",
            "max_qty_lots",
            "min_notional_atoms",
            "max_notional_atoms",
            "maker_fee_e8",
            "taker_fee_e8",
            "clearance_fee_e8",
            "funding_interval_ns",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(name, f"{value!r} must be an int")
        if not isinstance(self.brackets, BracketTable):
            raise bad("brackets", f"expected a BracketTable, got {type(self.brackets).__name__}")
        if self.min_qty_lots < 1:
            raise bad("min_qty_lots", f"{self.min_qty_lots} must be >= 1")
        if self.max_qty_lots < 0 or 0 < self.max_qty_lots < self.min_qty_lots:
            raise bad(
                "max_qty_lots",
                f"{self.max_qty_lots} must be 0 (no cap) or >= min_qty_lots {self.min_qty_lots}",
            )
        if self.min_notional_atoms < 0:
            raise bad("min_notional_atoms", f"{self.min_notional_atoms} must be >= 0")
        if self.max_notional_atoms < 0 or (
            0 < self.max_notional_atoms <= self.min_notional_atoms
        ):
            raise bad(
                "max_notional_atoms",
                f"{self.max_notional_atoms} must be 0 (bracket cap) or above "
                f"min_notional_atoms {self.min_notional_atoms}",
            )
        if not -RATE_SCALE < self.maker_fee_e8 < RATE_SCALE:
            raise bad("maker_fee_e8", f"{format_rate_e8(self.maker_fee_e8)} is outside (-1, 1)")
        for name in ("taker_fee_e8", "clearance_fee_e8"):
            value = getattr(self, name)
            if not 0 <= value < RATE_SCALE:
                raise bad(name, f"{format_rate_e8(value)} is outside [0, 1)")
        if self.funding_interval_ns <= 0:
            raise bad("funding_interval_ns", f"{self.funding_interval_ns} must be > 0")
        if self.maint_margin_basis not in MAINT_MARGIN_BASES:
            raise bad(
                "maint_margin_basis",
                f"{self.maint_margin_basis!r} must be one of {', '.join(map(repr, MAINT_MARGIN_BASES))}",
            )

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        *,
        symbol: str,
        tick_size: ValueText,
        lot_size: ValueText,
        brackets: BracketTable,
        base: str | None = None,
        quote: str | None = None,
        min_qty: ValueText | None = None,
        max_qty: ValueText = "0",
        min_notional: ValueText = "0",
        max_notional: ValueText = "0",
        maker_fee: ValueText = "0.0002",
        taker_fee: ValueText = "0.0005",
        clearance_fee: ValueText = "0",
        funding_interval_ns: int = DEFAULT_FUNDING_INTERVAL_NS,
        maint_margin_basis: str = "mark",
        inverse: bool = False,
        contract_size: ValueText = "0",
        margin_asset: str | None = None,
    ) -> Instrument:
        """Build an instrument from human units given as decimal strings.

        Sizes and quantities are in base units (``min_qty="0.001"``, default one lot;
        ``max_qty="0"`` = no cap), notionals in the quote/settlement asset
        (``min_notional="100"``), fees as fractions (``taker_fee="0.0005"`` = 0.05 %).
        ``maint_margin_basis`` is ``"mark"`` (default) or ``"entry"`` (see the class).
        An inverse contract: ``inverse=True, contract_size="100"`` (quote units per
        contract; ``lot_size`` is then in contracts, notionals and fees in the coin).
        ``base``/``quote`` default to a split of ``symbol`` (``BTC/USDT:USDT`` or a
        ``...USDT``/``...USDC`` name). Every value is converted exactly; anything off-grid,
        malformed or out of range raises :class:`SpecError` naming the instrument and field.

        >>> from exsim.instruments.brackets import BracketTable
        >>> table = BracketTable.from_tiers([("0", "50000", "0.004", 125)])
        >>> btc = Instrument.create(symbol="BTCUSDT", tick_size="0.1", lot_size="0.001",
        ...                         brackets=table, min_notional="100")
        >>> btc.base, btc.quote, btc.atoms_per_tick_lot, btc.min_notional_atoms
        ('BTC', 'USDT', 10000, 10000000000)
        >>> Instrument.create(symbol="BTCUSDT", tick_size="0.1", lot_size="0.001",
        ...                   brackets=table, maint_margin_basis="entry").maint_margin_basis
        'entry'
        """
        where = f"instrument {symbol}" if symbol else "instrument"
        if base is None or quote is None:
            split = _split_symbol(symbol) if isinstance(symbol, str) else None
            if split is None:
                raise SpecError(
                    f"cannot tell base/quote from symbol {symbol!r}; pass base= and quote=",
                    where=where,
                    field="symbol",
                )
            base = split[0] if base is None else base
            quote = split[1] if quote is None else quote
        try:
            tick = parse_decimal(tick_size, field="tick_size", where=where)
            lot = parse_decimal(lot_size, field="lot_size", where=where)
            for name, size in (("tick_size", tick), ("lot_size", lot)):
                if size <= 0:
                    raise SpecError(f"{str(size)!r} must be positive", where=where, field=name)
            min_lots = (
                1 if min_qty is None else to_lots(min_qty, lot, field="min_qty", where=where)
            )
            max_lots = to_lots(max_qty, lot, field="max_qty", where=where)
            min_notional_atoms = to_atoms(min_notional, field="min_notional", where=where)
            max_notional_atoms = to_atoms(max_notional, field="max_notional", where=where)
            maker = to_rate_e8(maker_fee, field="maker_fee", where=where)
            taker = to_rate_e8(taker_fee, field="taker_fee", where=where)
            clearance = to_rate_e8(clearance_fee, field="clearance_fee", where=where)
        except SpecError:
            raise
        except InputError as exc:
            raise SpecError(exc.message, where=exc.where, field=exc.field) from exc
        return cls(
            symbol=symbol,
            base=base,
            quote=quote,
            tick_size=tick,
            lot_size=lot,
            brackets=brackets,
            min_qty_lots=min_lots,
            max_qty_lots=max_lots,
            min_notional_atoms=min_notional_atoms,
            max_notional_atoms=max_notional_atoms,
            maker_fee_e8=maker,
            taker_fee_e8=taker,
            clearance_fee_e8=clearance,
            funding_interval_ns=funding_interval_ns,
            maint_margin_basis=maint_margin_basis,
            inverse=inverse,
            contract_size=contract_size,
            **({} if margin_asset is None else {"margin_asset": margin_asset}),
        )

    # ------------------------------------------------------------------ helpers

    @property
    def max_notional_limit_atoms(self) -> int:
        """Largest position notional allowed, atoms: ``max_notional_atoms`` or, if 0, the
        bracket table's last cap."""
        return self.max_notional_atoms or self.brackets.last_cap_atoms

    def notional_atoms(self, price_ticks: int, qty_lots: int) -> int:
        """Notional at a traded price in atoms of :attr:`margin_asset`. O(1).

        Linear: exact ``price_ticks * qty_lots * atoms_per_tick_lot``. Inverse: the coin
        value ``|qty| × face / price`` rounded down (:meth:`fill_value_atoms`). Signed
        like ``qty_lots``; pass the absolute size for bracket lookups.
        """
        if self.inverse:
            v = inverse_value_floor(qty_lots if qty_lots >= 0 else -qty_lots, self.inverse_atoms_per_lot_tick, price_ticks)
            return v if qty_lots >= 0 else -v
        return price_ticks * qty_lots * self.atoms_per_tick_lot

    def fill_value_atoms(self, price_ticks: int, lots: int) -> int:
        """The money value of a fill of ``lots >= 0`` at ``price_ticks``, in atoms of
        :attr:`margin_asset`: what both sides book (entry cost, exit value). O(1).

        Linear: exact. Inverse: rounded down to the atom once per fill
        (:func:`exsim.units.inverse_value_floor`, the one rounding rule).
        """
        if self.inverse:
            return inverse_value_floor(lots, self.inverse_atoms_per_lot_tick, price_ticks)
        return price_ticks * lots * self.atoms_per_tick_lot

    def value_atoms_e8(self, price_subticks: int, lots: int) -> int:
        """The notional of ``lots >= 0`` at a subtick (mark) price, in 1e-8 atoms. O(1).

        Linear: exact ``price × lots × lot_size_e8``. Inverse: ``lots × face / price``
        rounded up to 1e-16 of the coin (:func:`exsim.units.inverse_value_e8_ceil`).
        """
        if self.inverse:
            return inverse_value_e8_ceil(lots, self.inverse_atoms_e8_per_lot_subtick, price_subticks)
        return price_subticks * lots * self.lot_size_e8

    def upnl_atoms_e8(self, qty_lots: int, cost_atoms: int, price_subticks: int) -> int:
        """Unrealized PnL in 1e-8 atoms of a position of signed ``qty_lots`` with exact
        entry cost ``cost_atoms``, at a subtick price. O(1).

        Linear: long ``value − cost``, short ``cost − value``. Inverse: the coin value of
        the contracts falls as the price rises, so a long gains ``cost − value`` (= face
        × (1/entry − 1/price)) and a short ``value − cost``.
        """
        n = self.value_atoms_e8(price_subticks, qty_lots if qty_lots >= 0 else -qty_lots)
        cost = cost_atoms * ATOMS_E8_PER_ATOM
        return n - cost if (qty_lots >= 0) != self.inverse else cost - n

    def entry_price_ticks(self, qty_lots: int, cost_atoms: int) -> Fraction | None:
        """The average entry price in ticks (exact rational) of a position with this size
        and entry cost; None when flat or costless. Linear: ``cost / (|q| × atoms per
        tick-lot)``. Inverse: the harmonic mean Binance shows, ``|q| × face / cost``."""
        q = qty_lots if qty_lots >= 0 else -qty_lots
        if not q:
            return None
        if self.inverse:
            return Fraction(q * self.inverse_atoms_per_lot_tick, cost_atoms) if cost_atoms else None
        return Fraction(cost_atoms, q * self.atoms_per_tick_lot)

    def price_str(self, price_ticks: int) -> str:
        """Ticks as a plain price string with the tick's decimals (exact)."""
        return format_ticks(price_ticks, self.tick_size)

    def qty_str(self, qty_lots: int) -> str:
        """Lots as a plain quantity string with the lot's decimals (exact)."""
        return format_lots(qty_lots, self.lot_size)

    def mark_str(self, price_subticks: int) -> str:
        """A mark / index price in subticks as an exact string: the tick's decimals, more
        when the price is finer (``0.52345`` at tick 0.0001), never rounded."""
        return format_subticks(price_subticks, self.tick_places)

    def subticks(self, price: ValueText, *, where: str = "", field: str = "mark price") -> int:
        """A mark / index price string as exact subticks (1e-8); OffGridError beyond 8 decimals."""
        return to_subticks(price, field=field, where=where)

    def ticks_to_subticks(self, price_ticks: int) -> int:
        """A tick price as subticks (exact)."""
        return price_ticks * self.subticks_per_tick

    def notional_atoms_e8(self, price_subticks: int, qty_lots: int) -> int:
        """Notional at a subtick price, in 1e-8 atoms (linear: exact; inverse: see
        :meth:`value_atoms_e8`). Signed like ``qty_lots``. O(1)."""
        if self.inverse:
            v = self.value_atoms_e8(price_subticks, qty_lots if qty_lots >= 0 else -qty_lots)
            return v if qty_lots >= 0 else -v
        return price_subticks * qty_lots * self.lot_size_e8

    def ticks(self, price: ValueText, *, where: str = "", field: str = "price") -> int:
        """A price string as exact ticks; :class:`OffGridError` if off-grid (never rounds)."""
        return to_ticks(price, self.tick_size, field=field, where=where)

    def lots(self, qty: ValueText, *, where: str = "", field: str = "qty") -> int:
        """A quantity string as exact lots; :class:`OffGridError` if off-grid (never rounds)."""
        return to_lots(qty, self.lot_size, field=field, where=where)


# --------------------------------------------------------------------------- as JSON
_JSON_INT_FIELDS = (
    "min_qty_lots", "max_qty_lots", "min_notional_atoms", "max_notional_atoms", "maker_fee_e8", "taker_fee_e8",
    "clearance_fee_e8", "funding_interval_ns",
)


def instrument_to_dict(inst: Instrument) -> dict[str, object]:
    """Every field of an instrument as plain JSON values (read back by :func:`instrument_from_dict`).

    A run directory keeps its instruments this way, so ``exsim explain`` can tell a run on
    custom instruments (a scenario's) exactly.
    """
    out: dict[str, object] = {
        "symbol": inst.symbol,
        "base": inst.base,
        "quote": inst.quote,
        "tick_size": str(inst.tick_size),
        "lot_size": str(inst.lot_size),
        "partial_liquidation": inst.partial_liquidation,
        "maint_margin_basis": inst.maint_margin_basis,
    }
    if inst.inverse or inst.margin_asset != inst.quote:  # linear records stay as they were
        out["inverse"] = inst.inverse
        out["contract_size"] = str(inst.contract_size)
        out["margin_asset"] = inst.margin_asset
    for name in _JSON_INT_FIELDS:
        out[name] = getattr(inst, name)
    out["brackets"] = [[b.floor_atoms, b.cap_atoms, b.mmr_e8, b.cum_atoms, b.max_leverage] for b in inst.brackets.brackets]
    return out


def instrument_from_dict(data: dict[str, Any], *, where: str = "") -> Instrument:
    """The instrument :func:`instrument_to_dict` wrote; every invariant is checked again."""
    from exsim.instruments.brackets import Bracket

    try:
        brackets = BracketTable(
            tuple(Bracket(i + 1, *map(int, row)) for i, row in enumerate(data["brackets"])),
            symbol=str(data["symbol"]),
            source=where,
        )
        return Instrument(
            symbol=str(data["symbol"]),
            base=str(data["base"]),
            quote=str(data["quote"]),
            tick_size=str(data["tick_size"]),
            lot_size=str(data["lot_size"]),
            brackets=brackets,
            partial_liquidation=bool(data["partial_liquidation"]),
            maint_margin_basis=str(data["maint_margin_basis"]),
            inverse=bool(data.get("inverse", False)),
            contract_size=str(data.get("contract_size", "0")),
            **({"margin_asset": str(data["margin_asset"])} if "margin_asset" in data else {}),
            **{name: int(data[name]) for name in _JSON_INT_FIELDS},
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"not an instrument record: {exc!r}", where=where, field="instrument") from exc
