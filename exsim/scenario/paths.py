"""Price paths of a scenario: ``[paths.SYMBOL]`` → ``((ns from start, mark ticks), ...)``.

Four sources, one per path:

* ``marks = [["0s", "1000"], ["10m", "960"], ...]`` — inline, exact;
* ``csv = "file.csv"`` — a ``time,mark`` file (time a duration from the start or an ISO
  time), exact; errors name the CSV's line and field (never its content);
* ``replay = "btc-perp-20220121-1m.csv"`` — a tick file any exsim reader takes (the
  shipped replays are found by name), sampled every ``every`` (default 1m): its marks if
  it has them, else its last trade price in each interval;
* ``generator = {start, drift, volatility, correlation, jumps}`` with the top-level
  ``[generator] seed, step, duration`` — a seeded random walk in log price.

The generator is exact and the same on every machine: normal draws are Irwin–Hall sums
of twelve 32-bit integers from :class:`random.Random` (a bounded, near-normal variate that
needs no floating-point library call), the walk is computed in :mod:`decimal`, whose
``ln``/``exp`` are correctly rounded, and each price is put on the tick grid by
:func:`exsim.units.nearest_ticks`. ``drift`` is the total return over the duration
without noise (``"-0.15"``: −15 %); ``volatility`` the standard deviation of one step's
log return; ``correlation`` each instrument's correlation with one common factor (two
instruments with 0.9 and 0.8 are correlated 0.72); a jump multiplies the price by
``1 + size`` at its time; ``reversion`` (0 to 1, default 0) pulls the log price back
toward its drifting anchor by that share of the gap each step, which keeps a path in a
range (an Ornstein–Uhlenbeck walk). ``[[generator.regimes]]`` change every generated
path's correlation from a point on — at a time, or at the first point past a price — with
the same draws: only their mix ``ρ·C + √(1 − ρ²)·E`` changes (:class:`RegimeSwitch`).

**Which files a scenario may read.** A ``csv`` or ``replay`` name is resolved relative to
the scenario file's folder (then to each folder given with ``--allow-path``, then, for a
replay, to the shipped ``replays/``). The file must be a regular file whose real path
(symbolic links followed) lies under one of those folders: a scenario cannot make exsim
read ``/etc/passwd`` or ``/proc/self/environ``. A ``csv`` file is at most
:data:`MAX_CSV_BYTES` (checked before it is read); a replay is streamed. Errors name the
file, the line and the field, never the file's content.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timezone
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from exsim.errors import InputError
from exsim.instruments import Instrument
from exsim.readers import open_rows
from exsim.readers.rows import MARK, MAX_TS_NS, TRADE
from exsim.replay.cli import SHIPPED_REPLAYS
from exsim.replay.market import MAX_PRICE_TICKS
from exsim.toml_fields import Fields, duration_ns, read_regular_file
from exsim.units import NS_PER_MINUTE, NS_PER_SECOND, nearest_ticks, to_ticks

MAX_POINTS = 1_000_000


class IndexGrid(NamedTuple):
    """The grid a collateral index path is drawn on: 1e-8 USD per coin, so a path's
    "ticks" are the exchange's ``index_usd_e8`` exactly. (Paths are otherwise read on an
    instrument's tick grid; the readers below need only ``symbol`` and ``tick_size``.)"""

    symbol: str  # "BTC index"
    tick_size: Decimal = Decimal("0.00000001")


def index_key(asset: str) -> str:
    """The key a collateral index path is generated under, beside the instruments' symbols
    (``@`` sorts before every symbol: with a generated index, the draws of the instruments
    are taken after the index's at each step)."""
    return f"@{asset}"
#: the largest ``csv`` path file read (a million ``time,mark`` lines fit)
MAX_CSV_BYTES = 64 << 20


def read_paths(
    root: Fields,
    by_symbol: dict[str, Instrument],
    start_ns: int,
    generator: Fields | None,
    indexes: dict[str, Fields] | None = None,
    switches: list[RegimeSwitch] | None = None,
) -> tuple[dict[str, tuple[tuple[int, int], ...]], dict[str, str], dict[str, tuple[tuple[int, int], ...]]]:
    """The instruments' paths ``{symbol: ((ns from start, ticks), ...)}``, their kinds, and
    the collateral index paths of ``indexes`` (``{asset: the [collateral.ASSET.index]
    table}``: ``marks``, ``csv`` or ``generator``, in ``index_usd_e8``). A generated index
    shares the ``[generator]`` and its common factor with the generated instruments. The
    correlation regimes that take over are appended to ``switches`` (when given), in time order."""
    paths: dict[str, tuple[tuple[int, int], ...]] = {}
    kinds: dict[str, str] = {}
    index_paths: dict[str, tuple[tuple[int, int], ...]] = {}
    grids: dict[str, Any] = dict(by_symbol)
    generated: dict[str, Fields] = {}
    for asset, f in (indexes or {}).items():
        f.only(("marks", "csv", "generator"))
        given = [k for k in ("marks", "csv", "generator") if f.has(k)]
        if len(given) != 1:
            raise f.error("marks", "give exactly one of marks, csv or generator (or index = \"<price>\" / \"path:SYMBOL\")")
        grid = IndexGrid(f"{asset} index")
        if given[0] == "marks":
            index_paths[asset] = _inline(f, grid)  # type: ignore[arg-type]
        elif given[0] == "csv":
            index_paths[asset] = _csv(f, grid, start_ns)  # type: ignore[arg-type]
        else:
            generated[index_key(asset)] = f.table_of("generator")
            grids[index_key(asset)] = grid
    table = root.table_of("paths", None)
    if table is None:
        table = Fields(root.source, "paths", {})
    for symbol, _ in table.items():
        if symbol not in by_symbol:
            raise table.error(symbol, f"{symbol!r} is not an instrument of this scenario (listed: {', '.join(by_symbol)})")
        f = table.table_of(symbol)
        f.only(("marks", "csv", "replay", "every", "generator"))
        given = [k for k in ("marks", "csv", "replay", "generator") if f.has(k)]
        if len(given) != 1:
            raise f.error("marks", "give exactly one of marks, csv, replay or generator")
        kind = given[0]
        kinds[symbol] = kind
        inst = by_symbol[symbol]
        if kind == "marks":
            paths[symbol] = _inline(f, inst)
        elif kind == "csv":
            paths[symbol] = _csv(f, inst, start_ns)
        elif kind == "replay":
            paths[symbol] = _replay(f, inst)
        else:
            generated[symbol] = f.table_of("generator")
        if f.has("every") and kind != "replay":
            raise f.error("every", "only a replay path is sampled")
    if generated:
        if generator is None:  # no [generator] line to name: name the first path that needs it
            first = next(iter(generated.values()))
            raise InputError("missing: a generated path needs [generator] with seed, step and duration",
                             where=first.source.where(first.path), field="generator")
        for key, path in _generate(generator, generated, grids, switches).items():
            if key in by_symbol:
                paths[key] = path
            else:
                index_paths[key[1:]] = path
    elif generator is not None:
        raise generator.error("seed", "[generator] is set but no path uses it (give a path generator = {...})")
    return paths, kinds, index_paths


def _checked(points: list[tuple[int, int]], f: Fields, key: str) -> tuple[tuple[int, int], ...]:
    if not points:
        raise f.error(key, "the path has no points")
    if points[0][0] != 0:
        raise f.error(key, "the path must start at the scenario's start (time \"0s\")")
    for (t0, _), (t1, _) in zip(points, points[1:]):
        if t1 <= t0:
            raise f.error(key, f"times must increase: {t1} ns after {t0} ns")
    if len(points) > MAX_POINTS:
        raise f.error(key, f"more than {MAX_POINTS} points")
    return tuple(points)


def _inline(f: Fields, inst: Instrument) -> tuple[tuple[int, int], ...]:
    rows = f.raw("marks", types=(list,))
    points = []
    for i, row in enumerate(rows):
        field = f"{f.field('marks')}[{i}]"
        if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str) and isinstance(row[1], (str, int))
                and not isinstance(row[1], bool)):
            raise f.source.error(field, f"expected [\"<time>\", \"<price>\"] like [\"10m\", \"960\"], got {row!r}")
        t = duration_ns(row[0], f, "marks")
        price = to_ticks(str(row[1]), inst.tick_size, field=field, where=f.source.where(field))
        if not 0 < price < MAX_PRICE_TICKS:
            raise f.source.error(field, f"price {row[1]!r} must be greater than 0 and below 2^61 ticks")
        points.append((t, price))
    return _checked(points, f, "marks")


def _resolve(f: Fields, key: str) -> Path:
    """The file ``f[key]`` names, under a folder the scenario may read (see the module doc)."""
    name = f.text(key)
    src = f.source
    own = [src.base_dir] if src.base_dir is not None else []
    roots = [*own, *src.allowed]
    if key == "replay":
        roots.append(SHIPPED_REPLAYS.resolve())
    p = Path(name)
    candidates = [p] if p.is_absolute() else [root / p for root in roots]
    for c in candidates:
        try:
            exists = c.exists()
        except OSError:  # (a name too long, a symbolic link loop)
            exists = False
        if not exists:
            continue
        real = c.resolve()
        if not any(real.is_relative_to(root) for root in roots):
            folder = src.base_dir or "the built-in scenarios"
            raise f.error(key, f"{name!r} is outside the scenario's folder ({folder}); "
                               "pass --allow-path DIR to let a scenario read files under DIR")
        if not real.is_file():
            raise f.error(key, f"{name!r} is not a regular file")
        return real
    raise f.error(key, f"{name!r} not found (looked beside the scenario file{', in --allow-path folders' if src.allowed else ''}"
                       f"{' and in replays/' if key == 'replay' else ''})")


def utc_ns(text: str, f: Fields, key: str) -> int:
    """The ns since the epoch of an ISO time with a zone (``2024-01-01T00:00:00Z``), in
    [1970, 2099]; ``f``'s error naming ``key`` otherwise (the scenario's start and a
    csv path's times are read alike)."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise f.error(key, f"{text!r} is not an ISO time like 2024-01-01T00:00:00Z") from None
    if dt.tzinfo is None:
        raise f.error(key, f"{text!r} has no time zone; end it with Z for UTC")
    try:
        delta = dt.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    except OverflowError:
        raise f.error(key, f"{text!r} is out of range (years 1970 to 2099 in UTC)") from None
    ns = (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000
    if not 0 <= ns < MAX_TS_NS:  # (a scenario's times stay printable: start + at most 100 years of durations)
        raise f.error(key, f"{text!r} is out of range (years 1970 to 2099 in UTC)")
    return ns


def _csv(f: Fields, inst: Instrument, start_ns: int) -> tuple[tuple[int, int], ...]:
    path = _resolve(f, "csv")
    points = []
    with io.StringIO(_utf8(path), newline="") as fh:
        reader = csv.reader(fh, strict=True)  # strict: an unclosed quote is an error, not a value
        rows = _csv_rows(reader, path)
        header = next(rows, None)
        if header is None:
            raise InputError("empty file; expected a header time,mark", where=f"{path}:1", field="header")
        if [h.strip() for h in header] != ["time", "mark"]:  # (its content is not repeated: see the module doc)
            raise InputError("the first line is not the header; expected time,mark", where=f"{path}:1", field="header")
        for row in rows:
            where = f"{path}:{reader.line_num}"
            if len(row) != 2:
                raise InputError(f"{len(row)} columns; expected 2 (time,mark)", where=where, field="columns")
            t_text, price_text = row[0].strip(), row[1].strip()
            stub = Fields(f.source, "", {"time": t_text})
            try:
                if t_text[:1].isdigit() and ("T" in t_text or "-" in t_text):
                    t = utc_ns(t_text, stub, "time") - start_ns
                else:
                    t = duration_ns(t_text, stub, "time")
            except InputError as exc:
                raise _unquoted(exc, t_text, "the time", where, "time") from None
            try:
                ticks = to_ticks(price_text, inst.tick_size, field="mark", where=where)
            except InputError as exc:
                raise _unquoted(exc, price_text, "the mark", where, "mark") from None
            if not 0 < ticks < MAX_PRICE_TICKS:
                raise InputError("the mark must be greater than 0 and below 2^61 ticks", where=where, field="mark")
            if points and t <= points[-1][0]:
                raise InputError("time goes backwards (or repeats)", where=where, field="time")
            points.append((t, ticks))
    return _checked(points, f, "csv")


def _unquoted(exc: InputError, text: str, name: str, where: str, field: str) -> InputError:
    """``exc`` at ``where``/``field`` with the file's ``text`` replaced by ``name`` (errors
    about a file a scenario names never repeat its content: see the module doc)."""
    message = exc.message.replace(repr(text), name) if text else exc.message
    return type(exc)(message if text not in message else f"{name} is not valid", where=where, field=field)


def _utf8(path: Path) -> str:
    try:
        raw = read_regular_file(path, MAX_CSV_BYTES, "file")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path), field="file") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("not UTF-8 text", where=f"{path}:{line}", field="file") from exc


def _csv_rows(reader: Any, path: Path) -> Iterator[list[str]]:
    """The reader's rows; a malformed one (an unclosed quote, a huge field) is an InputError naming its line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # (its messages say what, never quote the text)
            raise InputError(f"not valid CSV: {exc}", where=f"{path}:{reader.line_num}", field="csv") from None
        yield row


def _replay(f: Fields, inst: Instrument) -> tuple[tuple[int, int], ...]:
    path = _resolve(f, "replay")
    every = f.duration_ns("every", NS_PER_MINUTE, positive=True)
    # the last mark / trade in each interval, intervals counted from each kind's own first row
    sampled: dict[int, dict[int, int]] = {MARK: {}, TRADE: {}}
    first: dict[int, int] = {}
    try:
        _, rows = open_rows(path, None, inst.symbol)
        for r in rows:
            if r.symbol != inst.symbol or r.kind not in (MARK, TRADE):
                continue
            start = first.setdefault(r.kind, r.ts_ns - r.ts_ns % every)
            ticks = to_ticks(r.price, inst.tick_size, field="price", where=r.where)
            if not 0 < ticks < MAX_PRICE_TICKS:
                raise InputError("out of range", where=r.where, field="price")
            sampled[r.kind][(r.ts_ns - start) // every * every] = ticks
    except InputError as exc:  # where and field only: a reader's message may quote the file
        raise InputError(f"cannot be read as market data (`exsim replay {path}` tells more)",
                         where=exc.where or str(path), field=exc.field or "replay") from None
    marks, trades = sampled[MARK], sampled[TRADE]
    chosen = marks or trades
    if not chosen:
        raise f.error("replay", f"{path} holds no trades or marks of {inst.symbol}")
    return _checked(sorted(chosen.items()), f, "replay")


def _irwin_hall(rng: random.Random) -> Decimal:
    """A near-normal draw (mean 0, variance 1, within ±6): twelve uniforms summed, minus 6."""
    total = sum(rng.getrandbits(32) for _ in range(12))
    return Decimal(total) / Decimal(1 << 32) - 6


class RegimeSwitch(NamedTuple):
    """A correlation regime taking over: from ``at_ns`` (a point of the paths) the steps are
    drawn with ``correlation`` (``[[generator.regimes]]`` number ``regime``, from 0)."""

    at_ns: int
    regime: int
    correlation: Decimal
    where: str


class _Regime(NamedTuple):
    correlation: Decimal
    at_step: int  # a time trigger: in force for the steps after point at_step; -1: a level trigger
    key: str  # a level trigger: the generated path it watches
    level_ticks: int
    below: bool  # when_below (the point is below the level); else when_above
    where: str


#: at most this many regimes (each is checked at every step until it fires)
MAX_REGIMES = 100


def _regimes(g: Fields, step: int, duration: int, tables: dict[str, Fields],
             grids: dict[str, Any]) -> list[_Regime]:
    """``[[generator.regimes]]``: ``correlation`` and one trigger, ``at`` (a whole number of
    steps after the start, before the end), ``when_below`` or ``when_above`` (``{symbol,
    price}``: a generated instrument path and a price on its tick grid)."""
    out = []
    regimes = g.tables("regimes")
    if len(regimes) > MAX_REGIMES:
        raise g.error("regimes", f"more than {MAX_REGIMES} regimes")
    for f in regimes:
        f.only(("correlation", "at", "when_below", "when_above"))
        corr = f.decimal("correlation")
        if not -1 <= corr <= 1:
            raise f.error("correlation", "must be between -1 and 1")
        given = [k for k in ("at", "when_below", "when_above") if f.has(k)]
        if len(given) != 1:
            raise f.error("at", "give exactly one trigger: at, when_below or when_above")
        where = f.source.where(f.path)
        if given[0] == "at":
            at = f.duration_ns("at")
            if at % step or not 0 < at < duration:
                raise f.error("at", "must fall on a step after the start and before the end")
            out.append(_Regime(corr, at // step, "", 0, False, where))
            continue
        level = f.table_of(given[0])
        level.only(("symbol", "price"))
        symbol = level.text("symbol")
        if symbol not in grids or symbol.startswith("@"):
            raise level.error("symbol", f"{symbol!r} is not an instrument of this scenario")
        if symbol not in tables:
            raise level.error("symbol", f"the path of {symbol} is not generated: a level trigger watches a generated path")
        text = level.decimal_text("price", positive=True)
        ticks = to_ticks(text, grids[symbol].tick_size, field=level.field("price"), where=level.source.where(level.field("price")))
        if ticks >= MAX_PRICE_TICKS:
            raise level.error("price", f"{text!r} is out of range: prices must be below 2^61 ticks")
        out.append(_Regime(corr, -1, symbol, ticks, given[0] == "when_below", where))
    return out


def _generate(g: Fields, tables: dict[str, Fields], by_symbol: dict[str, Any],
              switches: list[RegimeSwitch] | None = None) -> dict[str, tuple[tuple[int, int], ...]]:
    """The generated paths; each regime that takes over is appended to ``switches``."""
    g.only(("seed", "step", "duration", "regimes"))
    seed = g.integer("seed", minimum=0)
    step = g.duration_ns("step", positive=True)
    duration = g.duration_ns("duration", positive=True)
    if duration % step:
        raise g.error("duration", "must be a whole number of steps")
    n = duration // step
    if n + 1 > MAX_POINTS:
        raise g.error("duration", f"more than {MAX_POINTS} steps")
    specs: dict[str, dict[str, Any]] = {}
    for symbol in sorted(tables):
        f = tables[symbol]
        f.only(("start", "drift", "volatility", "correlation", "reversion", "jumps"))
        corr = f.decimal("correlation", Decimal(0))
        if not -1 <= corr <= 1:
            raise f.error("correlation", "must be between -1 and 1")
        drift = f.decimal("drift", Decimal(0))
        if drift <= -1:
            raise f.error("drift", "a total return of -100 % or less has no log path")
        reversion = f.decimal("reversion", Decimal(0), non_negative=True)
        if reversion > 1:
            raise f.error("reversion", "must be between 0 and 1 (the share of the gap to the anchor closed per step)")
        jumps: dict[int, Decimal] = {}
        for i, j in enumerate(f.raw("jumps", [], types=(list,))):
            jf = Fields(f.source, f"{f.field('jumps')}[{i}]", j)
            jf.only(("at", "size"))
            at = jf.duration_ns("at")
            if at % step or not 0 < at <= duration:
                raise jf.error("at", "must fall on a step after the start and within the duration")
            size = jf.decimal("size")
            if size <= -1:
                raise jf.error("size", "a jump of -100 % or more")
            jumps[at // step] = jumps.get(at // step, Decimal(0)) + size
        specs[symbol] = {
            "start": f.decimal("start", positive=True),
            "drift": drift,
            "vol": f.decimal("volatility", Decimal(0), non_negative=True),
            "corr": corr,
            "reversion": reversion,
            "jumps": jumps,
        }
    pending = list(enumerate(_regimes(g, step, duration, tables, by_symbol)))
    rng = random.Random(seed)
    out: dict[str, list[tuple[int, int]]] = {}
    with localcontext() as ctx:
        ctx.prec = 34
        logs = {}
        for symbol, s in specs.items():
            logs[symbol] = s["anchor"] = s["start"].ln()
            s["mu"] = (1 + s["drift"]).ln() / n
            s["idio"] = (1 - s["corr"] * s["corr"]).sqrt()
            out[symbol] = [(0, nearest_ticks(s["start"], by_symbol[symbol].tick_size))]
        for k in range(1, n + 1):
            if pending:  # regimes fire on the point before this step: k − 1
                _switch(pending, k - 1, step, out, specs, switches)
            common = _irwin_hall(rng)
            for symbol, s in specs.items():
                z = s["corr"] * common + s["idio"] * _irwin_hall(rng)
                if k in s["jumps"]:  # a jump moves the level the path reverts to as well
                    s["anchor"] += (1 + s["jumps"][k]).ln()
                    logs[symbol] += (1 + s["jumps"][k]).ln()
                s["anchor"] += s["mu"]
                logs[symbol] += s["mu"] + s["reversion"] * (s["anchor"] - logs[symbol]) + s["vol"] * z
                out[symbol].append((k * step, nearest_ticks(logs[symbol].exp(), by_symbol[symbol].tick_size)))
    return {s: tuple(p) for s, p in out.items()}


def _switch(pending: list[tuple[int, _Regime]], point: int, step: int, out: dict[str, list[tuple[int, int]]],
            specs: dict[str, dict[str, Any]], switches: list[RegimeSwitch] | None) -> None:
    """Fire the pending regimes whose trigger holds at ``point`` (a time reached, a path's
    point past its level), in file order; the last one fired sets every generated path's
    correlation from the next step on. A regime fires once."""
    fired = []
    for item in pending:
        r = item[1]
        if r.at_step >= 0:
            hit = point >= r.at_step
        else:
            ticks = out[r.key][point][1]
            hit = ticks < r.level_ticks if r.below else ticks > r.level_ticks
        if hit:
            fired.append(item)
    if not fired:
        return
    for item in fired:
        pending.remove(item)
        if switches is not None:
            switches.append(RegimeSwitch(point * step, item[0], item[1].correlation, item[1].where))
    corr = fired[-1][1].correlation
    idio = (1 - corr * corr).sqrt()  # (inside the caller's 34-digit context)
    for s in specs.values():
        s["corr"], s["idio"] = corr, idio
