"""Instruments from a file: Binance ``exchangeInfo`` / ``leverageBracket`` dumps or exsim TOML.

One loader for replays (``exsim replay --instruments FILE``) and scenarios (the
``[[instruments]]`` tables of a scenario file, :func:`instruments_from_tables`):

* **exchangeInfo** — ``GET /fapi/v1/exchangeInfo`` as JSON (``{"symbols": [...]}``), or the
  line form cryptofeed records (``<url> -> <unix ts>: <json>``). Each USDⓈ-M symbol's
  ``PRICE_FILTER.tickSize``, ``LOT_SIZE`` (``stepSize``, ``minQty``, ``maxQty``),
  ``MIN_NOTIONAL.notional`` and ``liquidationFee`` (the clearance fee) are read as exact
  decimal text. Brackets come from a leverageBracket file given alongside, else from the
  shipped snapshot.
* **leverageBracket** — ``GET /fapi/v1/leverageBracket`` as JSON (``[{"symbol", "brackets":
  [...]}]``, numbers read exactly), or the ccxt/freqtrade ``binance_leverage_tiers.json``
  form. Alone, it replaces the brackets of catalogue symbols.
* **TOML** — a file of ``[[instruments]]`` tables, as in a scenario (docs/scenarios.md).
  A table with ``contract_size`` is an inverse (coin-margined) contract: size in
  contracts, money and bracket caps in the coin (``BTCUSD_PERP``: base BTC, quote USD);
  ``brackets_from`` then names a shipped COIN-M table (``BTCUSD_PERP``). Shipped COIN-M
  symbols are taken by name like USDⓈ-M ones.

Every problem is one :class:`InputError` naming the file, the line when there is one, and
the field. A file over :data:`MAX_FILE_BYTES` is refused before it is read.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs

from exsim.errors import InputError, SpecError
from exsim.instruments.brackets import BracketTable, BracketTables, parse_binance_brackets
from exsim.instruments.catalogue import date_of_ns, plain
from exsim.instruments.instrument import Instrument
from exsim.toml_fields import Fields, Source

__all__ = [
    "MAX_FILE_BYTES",
    "FileSpec",
    "InstrumentsFile",
    "load_instruments_file",
    "parse_exchange_info",
    "parse_leverage_brackets",
    "instruments_from_tables",
    "resolve_from_files",
]

#: Largest instruments file read (a full exchangeInfo dump is about 2 MB).
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
_CRYPTOFEED_LINE = re.compile(r"^(\S+) -> (\d+(?:\.\d+)?): ")


@attrs.frozen
class FileSpec:
    """One symbol's contract spec from an exchangeInfo dump (exact decimal texts)."""

    symbol: str
    base: str
    quote: str
    tick_size: str
    lot_size: str
    min_qty: str
    max_qty: str
    min_notional: str
    liquidation_fee: str  # "" when the dump has none
    date: str  # YYYY-MM-DD of the dump ("" if it does not say)
    where: str  # file:line of the symbol


@attrs.frozen
class InstrumentsFile:
    """What one instruments file holds."""

    path: str
    kind: str  # "exchangeInfo", "leverageBracket" or "toml"
    specs: dict[str, FileSpec] = attrs.field(factory=dict)
    brackets: dict[str, BracketTable] = attrs.field(factory=dict)  # by Binance symbol
    instruments: dict[str, Instrument] = attrs.field(factory=dict)  # complete (TOML)


# --------------------------------------------------------------------------- files
def _read(path: str | os.PathLike[str]) -> tuple[str, str]:
    name = os.fspath(path)
    try:
        size = os.stat(name).st_size
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=name, field="--instruments") from None
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{size:,} bytes is more than an instruments file may hold ({MAX_FILE_BYTES:,})", where=name, field="--instruments"
        )
    raw = Path(name).read_bytes()
    try:
        return name, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("not UTF-8 text", where=f"{name}:{line}", field="file") from None


def load_instruments_file(path: str | os.PathLike[str]) -> InstrumentsFile:
    """Read an exchangeInfo, leverageBracket or TOML instruments file (kind told by content)."""
    name, text = _read(path)
    stripped = text.lstrip()
    if not stripped:
        raise InputError("the file is empty", where=f"{name}:1", field="file")
    if stripped[0] == "{" or re.match(r"\[\s*[{\]]", stripped):
        data = _json(text, name)
        if isinstance(data, dict) and "symbols" in data:
            return InstrumentsFile(name, "exchangeInfo", specs=parse_exchange_info(data, name, text))
        return InstrumentsFile(name, "leverageBracket", brackets=parse_leverage_brackets(data, name, text))
    if _CRYPTOFEED_LINE.match(stripped):
        return InstrumentsFile(name, "exchangeInfo", specs=_cryptofeed_exchange_info(text, name))
    return _load_toml(name, text)


def _json(text: str, name: str, line_offset: int = 0) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (column {exc.colno})", where=f"{name}:{exc.lineno + line_offset}", field="json") from None
    except RecursionError:
        raise InputError("not valid JSON: nested too deeply", where=name, field="json") from None


def _line_of(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return None if at < 0 else text.count("\n", 0, at) + 1


def _where(name: str, text: str, symbol: str, line_offset: int = 0) -> str:
    line = _line_of(text, f'"{symbol}"')
    return f"{name}:{line + line_offset}" if line is not None else name


# --------------------------------------------------------------------------- exchangeInfo
def _cryptofeed_exchange_info(text: str, name: str) -> dict[str, FileSpec]:
    """The exchangeInfo body of a cryptofeed ``.0`` file (``<url> -> <ts>: <json>`` lines)."""
    for no, line in enumerate(text.splitlines()):
        m = _CRYPTOFEED_LINE.match(line)
        if m and "exchangeInfo" in m.group(1):
            body = line[m.end():]
            data = _json(body, name, line_offset=no)
            ts_ns = int(Decimal(m.group(2)) * 1_000_000_000)
            return parse_exchange_info(data, name, body, line_offset=no, date=date_of_ns(ts_ns))
    raise InputError("no exchangeInfo line (<url>/exchangeInfo -> <ts>: <json>)", where=f"{name}:1", field="exchangeInfo")


def _text(value: Any, where: str, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise InputError(f"{value!r} is not a decimal number", where=where, field=field)
    text = str(value)
    try:
        Decimal(text)
    except ArithmeticError:
        raise InputError(f"{text!r} is not a decimal number", where=where, field=field) from None
    return text


def parse_exchange_info(data: Any, name: str, text: str = "", *, line_offset: int = 0, date: str = "") -> dict[str, FileSpec]:
    """Symbol -> :class:`FileSpec` from a parsed ``/fapi/v1/exchangeInfo`` body.

    Coin-margined entries (with ``contractSize``) are skipped: exsim models linear
    USDⓈ-M contracts only.
    """
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        raise InputError("not an exchangeInfo body: no \"symbols\" list", where=f"{name}:{1 + line_offset}", field="symbols")
    if not date and isinstance(data.get("serverTime"), int):
        date = date_of_ns(data["serverTime"] * 1_000_000)
    out: dict[str, FileSpec] = {}
    for i, s in enumerate(data["symbols"]):
        if not isinstance(s, dict) or not isinstance(s.get("symbol"), str):
            raise InputError("entry has no \"symbol\"", where=f"{name}:{1 + line_offset}", field=f"symbols[{i}].symbol")
        sym = s["symbol"]
        where = _where(name, text, sym, line_offset)
        if "contractSize" in s:
            continue
        filters = s.get("filters")
        if not isinstance(filters, list):
            raise InputError("missing or not a list", where=where, field=f"{sym}.filters")
        by_type = {f.get("filterType"): f for f in filters if isinstance(f, dict)}

        def get(ftype: str, key: str, sym: str = sym, where: str = where, by_type: dict[Any, Any] = by_type) -> str:
            f = by_type.get(ftype)
            if f is None or key not in f:
                raise InputError("missing", where=where, field=f"{sym}.filters.{ftype}.{key}")
            return _text(f[key], where, f"{sym}.filters.{ftype}.{key}")

        fee = s.get("liquidationFee")
        base, quote = s.get("baseAsset"), s.get("quoteAsset")
        if not isinstance(base, str) or not isinstance(quote, str) or not base or not quote:
            raise InputError("missing baseAsset/quoteAsset", where=where, field=f"{sym}.baseAsset")
        min_notional = get("MIN_NOTIONAL", "notional") if "MIN_NOTIONAL" in by_type else "0"
        out[sym] = FileSpec(
            symbol=sym,
            base=base,
            quote=quote,
            tick_size=get("PRICE_FILTER", "tickSize"),
            lot_size=get("LOT_SIZE", "stepSize"),
            min_qty=get("LOT_SIZE", "minQty"),
            max_qty=get("LOT_SIZE", "maxQty"),
            min_notional=min_notional,
            liquidation_fee="" if fee is None else _text(fee, where, f"{sym}.liquidationFee"),
            date=date,
            where=where,
        )
    if not out:
        raise InputError("no USDⓈ-M symbol in the exchangeInfo body", where=f"{name}:{1 + line_offset}", field="symbols")
    return out


def spec_instrument(spec: FileSpec, brackets: BracketTable) -> Instrument:
    """The instrument an exchangeInfo spec describes; its clearance fee the dump's ``liquidationFee``."""
    try:
        kw: dict[str, Any] = {}
        if spec.liquidation_fee:
            kw["clearance_fee"] = spec.liquidation_fee
        min_qty = spec.min_qty if Decimal(spec.min_qty) > 0 else spec.lot_size
        return Instrument.create(
            symbol=spec.symbol, base=spec.base, quote=spec.quote, tick_size=plain(spec.tick_size),
            lot_size=plain(spec.lot_size), brackets=brackets, min_qty=min_qty, max_qty=spec.max_qty,
            min_notional=spec.min_notional, **kw,
        )
    except InputError as exc:
        raise InputError(exc.message, where=spec.where, field=f"{spec.symbol}.{exc.field}") from None


# --------------------------------------------------------------------------- leverageBracket
def parse_leverage_brackets(data: Any, name: str, text: str = "") -> dict[str, BracketTable]:
    """Binance symbol -> :class:`BracketTable` from ``/fapi/v1/leverageBracket`` (a list of
    ``{"symbol", "brackets"}``) or the ccxt ``binance_leverage_tiers.json`` object."""
    if isinstance(data, dict):  # ccxt / freqtrade form: unified symbol -> tiers
        try:
            tables: BracketTables = parse_binance_brackets(json.dumps(data, default=str), source=name)
        except InputError as exc:
            raise _with_line(exc, name, text) from None
        return {_binance_name(key): tables[key] for key in tables}
    if not isinstance(data, list):
        raise InputError("not a leverageBracket body (a list of {\"symbol\", \"brackets\"})", where=f"{name}:1", field="brackets")
    tiers_by_symbol: dict[str, list[dict[str, Any]]] = {}
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("symbol"), str) or not isinstance(entry.get("brackets"), list):
            raise InputError("expected {\"symbol\": ..., \"brackets\": [...]}", where=f"{name}:1", field=f"[{i}]")
        sym = entry["symbol"]
        tiers = []
        for k, b in enumerate(entry["brackets"]):
            where = _where(name, text, sym)
            if not isinstance(b, dict):
                raise InputError("bracket is not an object", where=where, field=f"{sym}.brackets[{k}]")
            info = {}
            for key in ("bracket", "initialLeverage", "notionalCap", "notionalFloor", "maintMarginRatio", "cum"):
                if key not in b:
                    raise InputError("missing", where=where, field=f"{sym}.brackets[{k}].{key}")
                info[key] = _text(b[key], where, f"{sym}.brackets[{k}].{key}")
            tiers.append({"info": info})
        tiers_by_symbol[sym] = tiers
    try:
        tables = parse_binance_brackets(json.dumps(tiers_by_symbol), source=name)
    except InputError as exc:
        raise _with_line(exc, name, text) from None
    return {sym: tables[sym] for sym in tables}


def _binance_name(ccxt: str) -> str:
    """``BTC/USDT:USDT`` -> ``BTCUSDT``; ``BTC/USDT:USDT-241227`` -> ``BTCUSDT_241227``; other keys as they are.

    >>> _binance_name("BTC/USDT:USDT-241227"), _binance_name("ETH/BTC:BTC"), _binance_name("BTCUSDT")
    ('BTCUSDT_241227', 'ETHBTC', 'BTCUSDT')
    """
    m = re.fullmatch(r"([A-Z0-9]+)/([A-Z0-9]+):[A-Z0-9]+(?:-(\d+))?", ccxt)
    if m is None:
        return ccxt
    return m.group(1) + m.group(2) + (f"_{m.group(3)}" if m.group(3) else "")


def _with_line(exc: InputError, name: str, text: str) -> InputError:
    """A bracket error ``file: SYMBOL bracket K`` with the symbol's line in the file."""
    m = re.match(re.escape(name) + r"[: ]+(\S+)(.*)$", exc.where)
    if not m:
        return exc
    line = _line_of(text, f'"{m.group(1)}"')
    where = f"{name}:{line}" if line else name
    return InputError(exc.message, where=where, field=f"{m.group(1)}{m.group(2)}.{exc.field}".replace(" ", "_") if exc.field else m.group(1))


# --------------------------------------------------------------------------- TOML
def _load_toml(name: str, text: str) -> InstrumentsFile:
    src = Source(name, text, Path(name).resolve().parent)
    root = src.root()
    root.only(("instruments",))
    insts = instruments_from_tables(root, at_ns=None, default_clearance="venue")
    return InstrumentsFile(name, "toml", instruments={i.symbol: i for i in insts})


_INSTRUMENT_KEYS = (
    "symbol", "tick_size", "lot_size", "brackets", "brackets_from", "maker_fee", "taker_fee", "clearance_fee",
    "maint_margin_basis", "inverse", "contract_size",
)


def instruments_from_tables(root: Any, *, at_ns: int | None, default_clearance: str = "zero") -> tuple[Instrument, ...]:
    """The ``[[instruments]]`` tables of a TOML file (``root``: its
    :class:`~exsim.toml_fields.Fields`), validated into instruments.

    A catalogue symbol given without sizes is the shipped instrument with the spec in force
    at ``at_ns``; its clearance fee is the venue's when ``default_clearance`` is
    ``"venue"``, else 0 (scenarios: their hand arithmetic stays as written) unless the
    table sets one. Errors name ``file:line`` and the field path (``instruments[1].tick_size``).
    """
    from exsim.instruments.catalogue import catalogue
    from exsim.instruments.registry import get_instrument, list_symbols

    tables = root.tables("instruments")
    if not tables:
        raise root.error("instruments", "missing: list at least one [[instruments]] with a symbol")
    out: list[Instrument] = []
    shipped_names = set(list_symbols("all"))
    for f in tables:
        f.only(_INSTRUMENT_KEYS)
        symbol = f.text("symbol")
        if any(i.symbol == symbol for i in out):
            raise f.error("symbol", f"{symbol!r} is listed twice")
        shipped = symbol in shipped_names or _shipped_coinm(symbol, at_ns)
        try:
            custom = ("tick_size", "lot_size", "brackets", "brackets_from", "contract_size")
            if shipped and not any(f.has(key) for key in custom):
                inst = get_instrument(symbol, at_ns)
                for key in ("inverse", "contract_size"):
                    if f.has(key):
                        raise f.error(key, f"{symbol!r} is shipped as it is: an {key} of its own makes a custom instrument "
                                      "(give tick_size, lot_size and brackets too)")
                if default_clearance != "venue":
                    inst = attrs.evolve(inst, clearance_fee_e8=0)
            else:
                if not (f.has("tick_size") and f.has("lot_size")):
                    missing = "lot_size" if f.has("tick_size") else "tick_size"
                    if shipped:
                        raise f.error(missing, f"missing: {symbol!r} with its own sizes or brackets needs tick_size, lot_size "
                                      "and brackets (or brackets_from); or give none of them for the shipped instrument")
                    raise f.error(missing, f"missing: {symbol!r} is not a shipped instrument (none of the catalogue's "
                                  f"{len(catalogue())} Binance symbols); give tick_size, lot_size and brackets (or brackets_from)")
                # inverse: contract_size (USD per contract) makes it one; inverse = true says so and needs it
                inverse = f.boolean("inverse", f.has("contract_size"))
                if inverse != f.has("contract_size"):
                    raise f.error("contract_size" if inverse else "inverse",
                                  "missing: an inverse instrument needs its contract_size (USD per contract, e.g. \"100\")"
                                  if inverse else "a contract_size is for an inverse instrument: drop inverse = false")
                base, quote = _custom_assets(symbol, inverse)
                inst = Instrument.create(
                    symbol=symbol,
                    tick_size=f.decimal_text("tick_size", positive=True),
                    lot_size=f.decimal_text("lot_size", positive=True),
                    brackets=_toml_brackets(f, symbol, inverse=inverse),
                    base=base,
                    quote=quote,
                    inverse=inverse,
                    contract_size=f.decimal_text("contract_size", positive=True) if inverse else "0",
                )
            changes: dict[str, Any] = {}
            for key, attr in (("maker_fee", "maker_fee_e8"), ("taker_fee", "taker_fee_e8"), ("clearance_fee", "clearance_fee_e8")):
                if f.has(key):
                    changes[attr] = _rate(f, key)
            if f.has("maint_margin_basis"):
                changes["maint_margin_basis"] = f.choice("maint_margin_basis", ("mark", "entry"))
            if changes:
                inst = attrs.evolve(inst, **changes)
        except InputError as exc:
            if exc.where.startswith(f.source.name):
                raise
            field = f"{f.path}.{exc.field}" if exc.field else f.path
            raise InputError(exc.message, where=f.source.where(field), field=field) from exc
        out.append(inst)
    return tuple(out)


def _shipped_coinm(symbol: str, at_ns: int | None) -> bool:
    """Whether ``symbol`` is a COIN-M name (``BTCUSD_PERP``) the registry ships a spec of
    (the USDⓈ-M listing does not list them)."""
    from exsim.instruments.registry import get_instrument

    if not re.fullmatch(r"[A-Z0-9]+USD_(PERP|[0-9]{6})", symbol):
        return False
    try:
        return bool(get_instrument(symbol, at_ns).inverse)
    except InputError:
        return False


def _custom_assets(symbol: str, inverse: bool) -> tuple[str, str]:
    """Base and quote of a custom symbol: ``…USDT``/``…USDC`` split at the suffix, an inverse
    ``BTCUSD_PERP`` / ``BTCUSD`` is BTC quoted in USD (it settles in BTC), any other name is
    its own base quoted in USDT."""
    if inverse:
        core = symbol.split("_", 1)[0]
        if core.endswith("USD") and len(core) > 3:
            return core[:-3], "USD"
        return core, "USD"
    if symbol.endswith(("USDT", "USDC")) and len(symbol) > 4:
        return symbol[:-4], symbol[-4:]
    return symbol, "USDT"


def _rate(f: Any, key: str) -> int:
    from exsim.units import to_rate_e8

    text = f.decimal_text(key)
    return to_rate_e8(text, field=f.field(key), where=f.source.where(f.field(key)))


def _toml_brackets(f: Any, symbol: str, *, inverse: bool = False) -> BracketTable:
    """The table's brackets: its own rows (caps in the settlement asset: coin if inverse)
    or a shipped table of the same kind (USDⓈ-M for linear, COIN-M for inverse)."""
    from exsim.instruments.catalogue import coinm_catalogue
    from exsim.instruments.registry import shipped_brackets, shipped_coinm_brackets

    if f.has("brackets_from"):
        if f.has("brackets"):
            raise f.error("brackets", "give brackets or brackets_from, not both")
        name = f.text("brackets_from")
        tables = shipped_brackets()
        coin_name = coinm_catalogue().resolve(name)
        coin_tables = shipped_coinm_brackets()
        if name in tables:
            if inverse:
                raise f.error("brackets_from", f"{name!r}'s brackets are in USDT; an inverse instrument "
                              f"(contract_size) needs coin brackets, e.g. one of {', '.join(coin_tables)}")
            return tables[name]
        if coin_name is not None and coin_name in coin_tables:
            if not inverse:
                raise f.error("brackets_from", f"{name!r}'s brackets are in coin, for an inverse instrument; "
                              "give contract_size, or USDⓈ-M brackets (e.g. BTCUSDT)")
            return coin_tables[coin_name]
        raise f.error("brackets_from", f"{name!r} is not in the shipped bracket file")
    rows = f.raw("brackets", types=(list,))
    if not rows:
        raise f.error("brackets", "give at least one bracket")
    tiers = []
    floor = "0"
    for i, row in enumerate(rows):
        b = Fields(f.source, f"{f.field('brackets')}[{i}]", row)
        b.only(("cap", "mmr", "max_leverage"))
        cap = b.decimal_text("cap", positive=True)
        tiers.append((floor, cap, b.decimal_text("mmr", positive=True), b.integer("max_leverage", minimum=1)))
        floor = cap
    try:
        return BracketTable.from_tiers(tiers, symbol=symbol, source=f.source.where(f.field("brackets")))
    except SpecError as exc:  # where is "file:line: SYMBOL bracket K", field the Bracket's: name the TOML's
        m = re.search(r"bracket (\d+)$", exc.where)
        key = {"cap_atoms": "cap", "floor_atoms": "cap", "max_leverage": "max_leverage"}.get(exc.field, "mmr")
        field = f"{f.field('brackets')}[{int(m.group(1)) - 1}].{key}" if m else f.field("brackets")
        raise SpecError(exc.message, where=f.source.where(field), field=field) from exc


# --------------------------------------------------------------------------- combining
def resolve_from_files(files: list[InstrumentsFile], symbol: str, catalogue_spec: Any = None) -> tuple[Instrument, str] | None:
    """The instrument the given files define for ``symbol`` and a line saying where it came
    from, or None if they say nothing of it.

    A TOML instrument is taken whole. An exchangeInfo spec takes its brackets from a
    leverageBracket file, else the shipped snapshot. Brackets alone replace the shipped
    instrument's (``catalogue_spec``: a callable giving that instrument, or None).
    """
    from exsim.instruments.registry import catalogue_entry, shipped_brackets

    for f in files:
        if symbol in f.instruments:
            return f.instruments[symbol], f"from {f.path} (TOML)"
    brackets: tuple[BracketTable, str] | None = None
    for f in files:
        if symbol in f.brackets:
            brackets = (f.brackets[symbol], f.path)
    for f in reversed(files):
        spec = f.specs.get(symbol)
        if spec is None:
            continue
        if brackets is not None:
            table, bsrc = brackets
        else:
            try:
                entry = catalogue_entry(symbol)
            except InputError:
                raise InputError(
                    f"{symbol}: {f.path} gives its sizes but no leverage brackets are known for it; "
                    "add a leverageBracket dump (--instruments FILE, repeatable)",
                    where=spec.where, field="brackets",
                ) from None
            table, bsrc = shipped_brackets()[entry.ccxt], "the shipped 2024-10-24 brackets"
        inst = spec_instrument(spec, table)
        dated = f" of {spec.date}" if spec.date else ""
        return inst, f"tick {plain(spec.tick_size)}, lot {plain(spec.lot_size)} from {f.path} (exchangeInfo{dated}); brackets from {bsrc}"
    if brackets is not None and catalogue_spec is not None:
        base = catalogue_spec()
        if base is not None:
            inst, text = base
            return attrs.evolve(inst, brackets=brackets[0]), f"{text}; brackets from {brackets[1]}"
    return None
