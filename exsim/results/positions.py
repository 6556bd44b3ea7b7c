"""``positions.csv`` and ``depth.csv`` rows, and each position's running risk figures.

Replays and scenarios write the same two files (docs/results.md):

* ``positions.csv`` (:data:`POSITION_FIELDS`): at each time-series sample, one row per open
  position (and one closing row, qty 0, at the first sample it is flat again), attributed
  by :func:`exsim.liquidation.risk.account_risk`;
* ``depth.csv`` (:data:`DEPTH_FIELDS`): the book's top :data:`DEPTH_LEVELS` levels per side
  at a sample, ``price:qty;price:qty`` best first, exact decimal strings.

:class:`PositionTracks` keeps, per position, what ``summary.json``'s ``positions_risk``
reports: the best and worst unrealized PnL over the samples, the deepest drawdown (the
unrealized PnL below its own best so far) and the figures at the sample where its scope's
margin ratio was highest. A position's best restarts when it opens again after being flat.
Plain dicts, lists and ints: a replay's snapshot saves it as it is.
"""

from __future__ import annotations

import csv
import functools
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Final

from exsim.errors import InputError
from exsim.ledger import POSITION_SIDE_NAMES
from exsim.units import RATE_SCALE, ceil_div, format_atoms, format_rate_e8, grid_formatter, move_fraction_e8, mul_div_floor

if TYPE_CHECKING:
    from exsim.liquidation.risk import PositionRisk

POSITION_FIELDS: Final = (
    "ts_ns",
    "time_utc",
    "account",
    "symbol",
    "position_side",
    "margin_mode",
    "qty",
    "entry_price",
    "mark",
    "unrealized_pnl",
    "maint_margin",
    "scope_margin_balance",
    "scope_maint_margin",
    "scope_margin_ratio",
    "liquidation_price",
    "distance_fraction",
    "drawdown",
    "generation",
)
DEPTH_FIELDS: Final = ("ts_ns", "time_utc", "symbol", "bids", "asks", "generation")
#: ``distances.csv`` (:mod:`exsim.scenario.distances` makes the rows)
DISTANCE_FIELDS: Final = (
    "run",
    "account",
    "name",
    "symbol",
    "position_side",
    "margin_mode",
    "qty",
    "mark",
    "liquidation_price",
    "distance_fraction",
    "what",
    "haircut_asset",
    "haircut_now",
    "haircut_at_liquidation",
)
#: the largest distances.csv read
MAX_DISTANCES_BYTES: Final = 64 << 20
#: levels per side in depth.csv
DEPTH_LEVELS: Final = 10
#: a margin ratio shown when the margin balance is <= 0 (as the time series caps it): 10,000 %
RATIO_CAP_E8: Final = 100 * RATE_SCALE


def entry_price_text(inst: Any, qty_lots: int, cost_atoms: int) -> str | None:
    """Average entry price ``cost / |qty|`` rounded down to 1e-8 of the quote; for an
    inverse instrument the harmonic one, ``|qty| × face / cost``
    (:meth:`Instrument.entry_price_ticks`). None when flat."""
    if not qty_lots:
        return None
    if inst.inverse:
        ticks = inst.entry_price_ticks(qty_lots, cost_atoms)
        if ticks is None:
            return None
        price = ticks * Fraction(inst.tick_size)
        return format_atoms(mul_div_floor(price.numerator, 10**8, price.denominator))
    lot = Fraction(inst.lot_size)
    return format_atoms(mul_div_floor(cost_atoms, lot.denominator, abs(qty_lots) * lot.numerator))


def scope_ratio_e8(balance_atoms: int, maint_atoms: int) -> int:
    """``MM / margin balance`` in e8 rounded up, capped at :data:`RATIO_CAP_E8` (a balance
    <= 0 reads as the cap), as the time series shows it."""
    if balance_atoms <= 0:
        return RATIO_CAP_E8
    return min(RATIO_CAP_E8, ceil_div(maint_atoms * RATE_SCALE, balance_atoms))


def distance_e8(mark_subticks: int, liquidation_subticks: int) -> int | None:
    """``(liquidation − mark) / mark``, signed e8 rounded toward zero; None without a price."""
    if not liquidation_subticks or mark_subticks <= 0:
        return None
    return move_fraction_e8(mark_subticks, liquidation_subticks)


def position_key(account_id: int, symbol: str, position_side: int) -> str:
    """The key of a position in :class:`PositionTracks` (text: a snapshot keeps it as is)."""
    return f"{account_id}|{symbol}|{position_side}"


class PositionTracks:
    """Per position (:func:`position_key`): ``[best upnl, worst upnl, max drawdown,
    worst-ratio row]``; and per account the keys open at its last sample. O(1) a row."""

    __slots__ = ("tracks", "open_keys")

    def __init__(self) -> None:
        self.tracks: dict[str, list[Any]] = {}
        self.open_keys: dict[str, list[str]] = {}

    def observe(self, key: str, risk: PositionRisk, ts_ns: int) -> int:
        """Take one sample of an open position; its drawdown now (atoms, >= 0)."""
        upnl = risk.upnl_atoms
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = [upnl, upnl, 0, None]
        elif track[0] is None or upnl > track[0]:  # (None: it was flat; its best restarts)
            track[0] = upnl
        if upnl < track[1]:
            track[1] = upnl
        drawdown = track[0] - upnl
        if drawdown > track[2]:
            track[2] = drawdown
        ratio = scope_ratio_e8(risk.scope_balance_atoms, risk.scope_maint_atoms)
        worst = track[3]
        if worst is None or ratio > worst[0]:
            track[3] = [ratio, ts_ns, risk.maint_margin_atoms, upnl, risk.share_e8, risk.scope]
        return drawdown

    def flat(self, key: str) -> None:
        """The position closed: the next time it opens, its best starts again."""
        track = self.tracks.get(key)
        if track is not None:
            track[0] = None


def position_cells(ts_ns: int, time_utc: str, account_id: int, risk: PositionRisk, inst: Any, drawdown: int,
                   generation: int) -> tuple[Any, ...]:
    """One positions.csv row of an open position, exact text (empty where none)."""
    lp = risk.liquidation_subticks
    dist = distance_e8(risk.mark_subticks, lp)
    return (
        ts_ns, time_utc, account_id, risk.symbol, POSITION_SIDE_NAMES[risk.position_side], risk.scope,
        inst.qty_str(risk.qty_lots), entry_price_text(inst, risk.qty_lots, risk.cost_atoms) or "",
        inst.mark_str(risk.mark_subticks) if risk.mark_subticks else "", format_atoms(risk.upnl_atoms),
        format_atoms(risk.maint_margin_atoms), format_atoms(risk.scope_balance_atoms), format_atoms(risk.scope_maint_atoms),
        format_rate_e8(scope_ratio_e8(risk.scope_balance_atoms, risk.scope_maint_atoms), 8),
        inst.mark_str(lp) if lp else "", "" if dist is None else format_rate_e8(dist, 8), format_atoms(drawdown), generation,
    )


def closing_cells(ts_ns: int, time_utc: str, key: str, inst: Any, mark_subticks: int, generation: int) -> tuple[Any, ...]:
    """The row of a position that went flat since the last sample: qty 0, its mark, no figures."""
    account, symbol, side = key.split("|")
    return (ts_ns, time_utc, account, symbol, POSITION_SIDE_NAMES[int(side)], "", inst.qty_str(0), "",
            inst.mark_str(mark_subticks) if mark_subticks else "", format_atoms(0), format_atoms(0), "", "", "", "", "",
            format_atoms(0), generation)


def depth_text(levels: list[tuple[int, int]], inst: Any) -> str:
    """Book levels ``[(price ticks, lots), ...]`` as ``price:qty;price:qty`` (exact, as
    :meth:`Instrument.price_str` and :meth:`Instrument.qty_str` write them). O(levels)."""
    price, qty = _formatters(inst.tick_size, inst.lot_size)
    return ";".join([f"{price(p)}:{qty(q)}" for p, q in levels])


@functools.lru_cache(maxsize=64)
def _formatters(tick_size: Any, lot_size: Any) -> tuple[Callable[[int], str], Callable[[int], str]]:
    """The price and size formatters of a grid (validated once: a replay writes a depth row
    at every sample)."""
    return grid_formatter(tick_size), grid_formatter(lot_size)


def positions_risk(tracks: PositionTracks, account_id: int, open_now: dict[str, PositionRisk],
                   symbol_inst: Any) -> list[dict[str, Any]]:
    """``summary.json``'s ``positions_risk`` of one account (docs/results.md): every position
    it held at a sample, in the order first seen."""
    out = []
    prefix = f"{account_id}|"
    for key, (_, worst_upnl, max_dd, at_worst) in tracks.tracks.items():
        if not key.startswith(prefix):
            continue
        _, symbol, side = key.split("|")
        ratio, ts_ns, mm, upnl, share, scope = at_worst
        now = open_now.get(key)
        out.append({
            "symbol": symbol,
            "position_side": POSITION_SIDE_NAMES[int(side)],
            "margin_mode": scope,
            "open_at_end": symbol_inst(symbol).qty_str(now.qty_lots if now is not None else 0),
            "maint_margin": format_atoms(mm),
            "unrealized_pnl": format_atoms(upnl),
            "share_of_pool_maint_margin": format_rate_e8(share, 8),
            "scope_margin_ratio": format_rate_e8(ratio, 8),
            "worst_point_ts_ns": ts_ns,
            "worst_unrealized_pnl": format_atoms(worst_upnl),
            "max_drawdown": format_atoms(max_dd),
            "end_maint_margin": format_atoms(now.maint_margin_atoms) if now is not None else format_atoms(0),
            "end_unrealized_pnl": format_atoms(now.upnl_atoms) if now is not None else format_atoms(0),
        })
    return out


def write_distances(path: Path, rows: list[dict[str, str]]) -> None:
    """Write distances.csv (:data:`DISTANCE_FIELDS`)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, DISTANCE_FIELDS)
        w.writeheader()
        w.writerows(rows)


def read_distances(path: Path, run: str | None = None) -> list[dict[str, str]]:
    """A distances.csv's rows (``run`` replaces each row's run name when given). A file
    that is not one (its header, a row's number of cells) is an :class:`InputError`
    naming the file and line."""
    if path.stat().st_size > MAX_DISTANCES_BYTES:
        raise InputError(f"larger than {MAX_DISTANCES_BYTES} bytes", where=str(path), field="distances.csv")
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header) != DISTANCE_FIELDS:
            raise InputError(f"expected the header {','.join(DISTANCE_FIELDS)}", where=f"{path}:1", field="header")
        for line, cells in enumerate(reader, start=2):
            if len(cells) != len(DISTANCE_FIELDS):
                raise InputError(f"{len(cells)} cells, expected {len(DISTANCE_FIELDS)}", where=f"{path}:{line}",
                                 field="row")
            row = dict(zip(DISTANCE_FIELDS, cells))
            if run is not None:
                row["run"] = run
            rows.append(row)
    return rows
