"""Which instrument a replay uses for a symbol: the spec in force at the data's time, on the data's grid.

:func:`choose_instrument` is called once per symbol with the first rows the replay peeked
at (prices and quantities as the file wrote them). In order:

1. an ``--instruments`` file that defines the symbol (exchangeInfo, leverageBracket or TOML);
2. the catalogue: the spec in force at the symbol's first timestamp; if the data's prices or
   quantities are not on its grid, another dated spec of the symbol whose grid they are on
   (said in the note), else an error that says what grid the data is on and what to pass.

``--tick-size`` / ``--lot-size`` replace the chosen spec's grids. Nothing is ever rounded:
a value off every known grid stops the run with a message, never a silent rounding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal

import attrs

from exsim.errors import InputError, OffGridError
from exsim.instruments.catalogue import SpecVersion, catalogue, date_of_ns, plain
from exsim.instruments.instrument import Instrument
from exsim.instruments.loader import InstrumentsFile, resolve_from_files
from exsim.units import format_rate_e8, parse_decimal

__all__ = ["choose_instrument", "grid_for", "grid_of", "describe_instrument"]


def grid_for(symbol: str, option: str | None) -> str | None:
    """The grid ``--tick-size`` / ``--lot-size`` give ``symbol``: ``"0.01"`` is every
    symbol's, ``"CTKUSDT=0.00001,SUSHIUSDT=0.001"`` names them one by one.

    >>> grid_for("BTCUSDT", "0.01"), grid_for("CTKUSDT", "CTKUSDT=0.00001"), grid_for("BTCUSDT", "CTKUSDT=0.00001")
    ('0.01', '0.00001', None)
    """
    if option is None or "=" not in option:
        return option
    for item in option.split(","):
        name, _, value = item.partition("=")
        if name.strip().upper() == symbol:
            return value.strip()
    return None


def grid_of(texts: Sequence[str]) -> str:
    """The coarsest decimal grid (a power of ten, at most 1) all ``texts`` are on.

    >>> grid_of(["46000", "46000.25", "0.5"]), grid_of(["12"]), grid_of([])
    ('0.01', '1', '1')
    """
    places = 0
    for t in texts:
        exp = Decimal(t).normalize().as_tuple().exponent
        if isinstance(exp, int) and -exp > places:
            places = -exp
    return "1" if places == 0 else "0." + "0" * (places - 1) + "1"


def _parsed(values: Sequence[tuple[str, str]], field: str, strict: bool) -> list[tuple[str, str]]:
    """``values`` that are decimals by :func:`exsim.units.parse_decimal` (ASCII digits,
    bounded length); a bad one raises its row's :class:`InputError` when ``strict``, else
    it is left out."""
    good = []
    for text, where in values:
        try:
            parse_decimal(text, field=field, where=where)
        except InputError:
            if strict:
                raise
            continue
        good.append((text, where))
    return good


def _off_grid(values: Sequence[tuple[str, str]], step: Decimal) -> tuple[str, str] | None:
    """The first ``(text, where)`` not a whole multiple of ``step``, or None."""
    for text, where in values:
        if Decimal(text) % step:
            return text, where
    return None


def describe_instrument(inst: Instrument) -> str:
    """``tick 0.1, lot 0.001, min notional 100, clearance fee 1.2 %``."""
    return (
        f"tick {inst.tick_size}, lot {inst.lot_size}, min notional {Decimal(inst.min_notional_atoms).scaleb(-8).normalize():f}, "
        f"clearance fee {format_rate_e8(inst.clearance_fee_e8 * 100)} %"
    )


def _with_grids(inst: Instrument, tick_size: str | None, lot_size: str | None) -> Instrument:
    if tick_size is None and lot_size is None:
        return inst
    changes: dict[str, object] = {}
    if tick_size is not None:
        changes["tick_size"] = plain(tick_size)
    if lot_size is not None:
        changes.update(lot_size=plain(lot_size), min_qty_lots=1, max_qty_lots=0)
    try:
        return attrs.evolve(inst, **changes)
    except InputError as exc:
        raise InputError(exc.message, where="replay config", field=exc.field) from None


def choose_instrument(
    symbol: str,
    *,
    first_ts_ns: int,
    first_where: str,
    prices: Sequence[tuple[str, str]],
    qtys: Sequence[tuple[str, str]],
    files: Sequence[InstrumentsFile] = (),
    tick_size: str | None = None,
    lot_size: str | None = None,
    check_grid: bool = True,
) -> tuple[Instrument, str]:
    """The instrument to replay ``symbol`` with, and a line saying what it is and where it
    came from (for the run summary).

    ``prices`` / ``qtys``: ``(decimal text, "path:line")`` of the symbol's first traded
    prices and sizes (trades, depth, quotes, liquidations — not marks). ``first_ts_ns``:
    its first timestamp; the catalogue's spec in force then is used. Unless
    ``check_grid`` is false (``--skip-bad-rows``: the replay skips off-grid rows), a value
    off the chosen grid raises :class:`InputError` naming its row, the grid the data is on,
    the specs the catalogue knows and what to pass.
    """
    date = date_of_ns(first_ts_ns) if first_ts_ns > 0 else "?"
    # the peeked values are the data's, not yet validated: the units parser first (a bad one
    # is its row's error; under --skip-bad-rows it is left out, as the replay will skip it)
    prices, qtys = _parsed(prices, "price", check_grid), _parsed(qtys, "qty", check_grid)
    tick_size, lot_size = grid_for(symbol, tick_size), grid_for(symbol, lot_size)
    price_grid, qty_grid = grid_of([p for p, _ in prices]), grid_of([q for q, _ in qtys])
    overrides = " (--tick-size/--lot-size given)" if tick_size or lot_size else ""

    def check(inst: Instrument, what: str, known: str = "") -> None:
        if not check_grid:
            return
        known = f"; the catalogue's tick / lot: {known}" if known else ""
        bad = _off_grid(prices, inst.tick_size)
        if bad is not None:
            raise OffGridError(
                f"{bad[0]!r} is not a multiple of tick {inst.tick_size} ({what}): {symbol}'s prices are on a {price_grid} "
                f"grid at {date}{known}; pass --tick-size {symbol}={price_grid} or --instruments FILE",
                where=bad[1], field="price",
            )
        bad = _off_grid(qtys, inst.lot_size)
        if bad is not None:
            raise OffGridError(
                f"{bad[0]!r} is not a multiple of lot {inst.lot_size} ({what}): {symbol}'s quantities are on a {qty_grid} "
                f"grid at {date}{known}; pass --lot-size {symbol}={qty_grid} or --instruments FILE",
                where=bad[1], field="qty",
            )

    if _COINM_SYMBOL.match(symbol):
        return _coin_margined(symbol, first_ts_ns, first_where, files, tick_size, lot_size, check, overrides)
    cat = catalogue()
    name = cat.resolve(symbol)
    if files:
        found = resolve_from_files(list(files), symbol, (lambda: _catalogue_default(name, first_ts_ns)) if name else None)
        if found is not None:
            inst, source = found
            inst = _with_grids(inst, tick_size, lot_size)
            check(inst, "the --instruments spec" + (" and --tick-size/--lot-size" if overrides else ""))
            return inst, f"{symbol}: {describe_instrument(inst)}; {source}{overrides}"
    from exsim.instruments.registry import build_instrument, catalogue_entry

    try:
        entry = catalogue_entry(symbol)
    except InputError as exc:
        raise InputError(exc.message, where=first_where, field="symbol") from None
    if not entry.specs:
        if tick_size is None or lot_size is None:
            raise InputError(
                f"{entry.symbol}: the catalogue has its leverage brackets but no tick or lot size; the data's prices are on a "
                f"{price_grid} grid and quantities on a {qty_grid} grid at {date}; pass --tick-size {entry.symbol}={price_grid} "
                f"--lot-size {entry.symbol}={qty_grid} or --instruments FILE (a Binance exchangeInfo dump)",
                where=first_where, field="symbol",
            )
        inst = build_instrument(entry.symbol, None, plain(tick_size), plain(lot_size))
        check(inst, "--tick-size/--lot-size")
        return inst, (f"{entry.symbol}: {describe_instrument(inst)}; grids from --tick-size/--lot-size, no venue spec known "
                      f"(fees VIP 0, clearance fee 0); {_brackets_words(entry.symbol)}")
    spec = entry.spec_at(first_ts_ns)
    assert spec is not None
    inst = _with_grids(build_instrument(entry.symbol, spec), tick_size, lot_size)
    known = ", ".join(f"{plain(v.tick_size)} / {plain(v.lot_size)} from {v.date}" for v in entry.specs)
    what = f"the spec in force at {date}, of {spec.date}" + (", with --tick-size/--lot-size" if overrides else "")
    check(inst, what, known)
    prov = _provenance(spec, first_ts_ns, date)
    return inst, f"{entry.symbol}: {describe_instrument(inst)}; {prov}; {_brackets_words(entry.symbol)}{overrides}"


#: a COIN-M contract's name: a perpetual (``BTCUSD_PERP``) or a quarterly (``BTCUSD_211231``)
_COINM_SYMBOL = re.compile(r"[A-Z0-9]+USD_(PERP|\d{6})\Z")


def _coin_margined(
    symbol: str,
    first_ts_ns: int,
    first_where: str,
    files: Sequence[InstrumentsFile],
    tick_size: str | None,
    lot_size: str | None,
    check: Callable[[Instrument, str], None],
    overrides: str,
) -> tuple[Instrument, str]:
    """The inverse instrument of a COIN-M perpetual: an ``--instruments`` file's, else the
    shipped one (:func:`exsim.instruments.get_instrument`). A quarterly (delivery) contract
    is refused: exsim models perpetuals, with no delivery at expiry."""
    m = _COINM_SYMBOL.match(symbol)
    assert m is not None
    if m.group(1) != "PERP":
        raise InputError(
            f"{symbol} is a COIN-M quarterly (delivery) contract, settled at its expiry; exsim replays perpetuals "
            f"only (no delivery): replay {symbol.split('_')[0]}_PERP",
            where=first_where,
            field="symbol",
        )
    found = resolve_from_files(list(files), symbol) if files else None
    if found is not None:
        inst, source = found
    else:
        from exsim.instruments.registry import get_instrument

        try:
            inst = get_instrument(symbol, first_ts_ns if first_ts_ns > 0 else None)
        except InputError:
            raise InputError(
                f"{symbol} is a COIN-M perpetual, and exsim ships no inverse spec of it "
                "(exsim.instruments.get_instrument does not know it); give its Instrument through the Python API "
                f"(Replay(..., instruments={{'{symbol}': Instrument.create(..., inverse=True, contract_size=...)}}))",
                where=first_where,
                field="symbol",
            ) from None
        source = "the shipped COIN-M spec"
    if not inst.inverse:
        raise InputError(
            f"{symbol} is a COIN-M (coin-margined) contract, but its spec is linear; an inverse spec is needed "
            "(contracts of a USD face value, margin in the coin)",
            where=first_where,
            field="symbol",
        )
    inst = _with_grids(inst, tick_size, lot_size)
    try:
        check(inst, source + (" with --tick-size/--lot-size" if overrides else ""))
    except OffGridError as exc:
        if exc.field != "qty":
            raise
        text = exc.message.split("'")[1]
        raise OffGridError(
            f"{text!r} is not a whole number of contracts: a COIN-M quantity is in contracts of "
            f"{plain(str(inst.contract_size))} USD (lot {plain(str(inst.lot_size))})",
            where=exc.where,
            field="qty",
        ) from None
    return inst, (
        f"{symbol}: inverse, {plain(str(inst.contract_size))} USD a contract, margin in {inst.margin_asset}; "
        f"{describe_instrument(inst)}; {source}{overrides}"
    )


def _catalogue_default(name: str | None, at_ns: int) -> tuple[Instrument, str] | None:
    from exsim.instruments.registry import build_instrument

    if name is None:
        return None
    entry = catalogue()[name]
    spec = entry.spec_at(at_ns)
    if spec is None:
        return None
    return build_instrument(name, spec), f"catalogue spec of {spec.date} ({spec.source})"


def _provenance(spec: SpecVersion, first_ts_ns: int, date: str) -> str:
    """Where a catalogue spec came from and why it applies at ``date``."""
    why = f"the earliest known spec, assumed at {date}" if first_ts_ns < spec.from_ns else f"in force at {date}"
    return f"Binance exchangeInfo of {spec.date} [{spec.source}], {why}"


def _brackets_words(name: str) -> str:
    entry = catalogue()[name]
    if entry.legacy_brackets is None:
        return "brackets of 2024-10-24 [freqtrade-2024-10-24]"
    maint, required, cap = entry.legacy_brackets
    return (f"brackets: one, from exchangeInfo maintMarginPercent {plain(maint)} % / requiredMarginPercent {plain(required)} % "
            f"(cap {int(cap):,} assumed; the 2024-10-24 bracket snapshot does not list {name})")
