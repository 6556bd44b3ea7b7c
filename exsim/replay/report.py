"""``exsim report RUN_DIR``: PNG plots of a run directory (matplotlib, headless).

* ``price.png`` — one panel per symbol: last trade price, trade range, mark price, the
  position's liquidation price, the strategy's fills on that symbol (▲ buy, ▼ sell) and
  its liquidations (✕), and its round trips of ``trades.csv`` shaded (green long,
  orange short; up to :data:`TRIPS_SHADED` a symbol), against UTC time. The price axis spans what traded (plus a
  margin): a liquidation price far from it is marked at the panel's edge with its value,
  not drawn (it would flatten the prices into a line);
* ``equity.png`` — account equity (wallet + isolated margin + unrealized PnL at mark);
* ``margin_ratio.png`` — maintenance margin / margin balance of each symbol's scope, with
  the 100 % line at which the venue liquidates (a liquidation's trigger row reaches it).

The CSVs are read as a stream, in one pass: memory does not grow with the run's length.
Each series is reduced to its lowest and highest point in each of :data:`BUCKETS` equal
time buckets (about a pixel each), which keeps every spike, dip and the liquidation's 100 %
visible; fills likewise (per symbol and side). A run with fewer points than buckets is
drawn exactly. Time axes carry dates (matplotlib's concise date formatter). The run's
numbers are exact decimal text; they become floats here, for drawing only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from exsim.errors import InputError

BUCKETS = 1600  # time buckets per series (a figure is 1210 px wide at 110 dpi)
RATIO_CLIP_PCT = 150.0  # margin ratios above this are drawn at it (a balance <= 0 has no finite ratio)
PRICE_MARGIN = 0.08  # of the traded range, above and below it on the price axis
TRIPS_SHADED = 300  # round trips shaded per symbol panel (more would be a solid band)


def read_run_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a run directory's CSV (replay or scenario), or an error naming the missing file."""
    return list(stream_run_csv(path))


def stream_run_csv(path: Path, progress: Callable[[int], None] | None = None) -> Iterator[dict[str, str]]:
    """The rows of a run directory's CSV one by one; ``progress(bytes read)`` every 64k rows."""
    if not path.is_file():
        raise InputError("missing: is this a run directory written with --out?", where=str(path))
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        for n, row in enumerate(csv.DictReader(text), 1):
            if progress is not None and not n & 0xFFFF:
                progress(raw.tell())
            yield row


def _t(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc)


class MinMax:
    """A series reduced to its lowest and highest point per time bucket. O(buckets) memory."""

    __slots__ = ("t0", "width", "lo", "hi")

    def __init__(self, t0: int, t1: int, buckets: int = BUCKETS) -> None:
        self.t0 = t0
        self.width = max(1, -(-(t1 - t0 + 1) // buckets))  # ns per bucket (ceiling)
        self.lo: dict[int, tuple[float, int]] = {}  # bucket -> (value, ts)
        self.hi: dict[int, tuple[float, int]] = {}

    def add(self, ts: int, v: float) -> None:
        b = (ts - self.t0) // self.width
        lo = self.lo.get(b)
        if lo is None:
            self.lo[b] = self.hi[b] = (v, ts)
            return
        if v < lo[0]:
            self.lo[b] = (v, ts)
        elif v > self.hi[b][0]:
            self.hi[b] = (v, ts)

    def points(self) -> tuple[list[datetime], list[float]]:
        """The kept points in time order (a bucket's low and high, in the order they came)."""
        pts: list[tuple[int, float]] = []
        for b in sorted(self.lo):
            lo, hi = self.lo[b], self.hi[b]
            pair = [(lo[1], lo[0])] if lo[1] == hi[1] else sorted([(lo[1], lo[0]), (hi[1], hi[0])])
            pts += pair
        return [_t(t) for t, _ in pts], [v for _, v in pts]

    def values(self) -> list[float]:
        return [v for v, _ in self.lo.values()] + [v for v, _ in self.hi.values()]

    def __bool__(self) -> bool:
        return bool(self.lo)


class _Symbol:
    """What one symbol's panels need, reduced as the CSVs stream by."""

    def __init__(self, t0: int, t1: int) -> None:
        self.series = {name: MinMax(t0, t1) for name in ("last", "mark", "trade_low", "trade_high", "liquidation_price", "margin_ratio")}
        self.fills = {(side, liq): MinMax(t0, t1) for side in ("buy", "sell") for liq in (False, True)}
        self.trips: list[tuple[int, int, bool]] = []  # (entry ns, exit ns, long), the first TRIPS_SHADED
        self.trips_total = 0


def _load(d: Path, summary: dict[str, Any], progress: Callable[[float], None] | None,
          usd: dict[str, MinMax] | None = None) -> tuple[dict[str, _Symbol], MinMax]:
    """The symbols' series and the home asset's equity; ``usd`` (filled when given and the
    run wrote ``equity_usd``): each asset's equity in USD (a run with a coin or several assets)."""
    t0, t1 = int(summary["first_ts_ns"]), max(int(summary["first_ts_ns"]), int(summary["last_ts_ns"]))
    symbols = {s: _Symbol(t0, t1) for s in summary["symbols"]}
    equity = MinMax(t0, t1)
    home = (summary.get("account") or {}).get("asset")
    last_asset_ts: dict[str, int] = {}
    files = [d / "timeseries.csv", d / "fills.csv"]
    sizes = [p.stat().st_size if p.is_file() else 0 for p in files]
    total = max(1, sum(sizes))

    def reporter(before: int) -> Callable[[int], None] | None:
        if progress is None:
            return None
        return lambda done: progress((before + done) / total)

    first = summary["symbols"][0]
    last_equity_ts = None
    for r in stream_run_csv(files[0], reporter(0)):
        ts = int(r["ts_ns"])
        sym = symbols.get(r.get("symbol") or first)  # (no symbol column: a run written before them)
        if sym is None:
            continue
        s = sym.series
        for name in ("last", "mark", "trade_low", "trade_high", "liquidation_price"):
            text = r.get(name)
            if text:
                s[name].add(ts, float(text))
        ratio = r.get("margin_ratio")
        if ratio:
            s["margin_ratio"].add(ts, min(float(ratio) * 100, RATIO_CLIP_PCT))
        asset = r.get("asset")
        if asset:  # (a run with several assets: each row's equity is its symbol's asset's)
            if usd is not None and r.get("equity_usd") and last_asset_ts.get(asset) != ts:
                last_asset_ts[asset] = ts
                usd.setdefault(asset, MinMax(t0, t1)).add(ts, float(r["equity_usd"]))
            if asset != home:
                continue
        if ts != last_equity_ts:  # (the account's equity repeats on each symbol's row)
            last_equity_ts = ts
            equity.add(ts, float(r["equity"]))
    for f in stream_run_csv(files[1], reporter(sizes[0])):
        sym = symbols.get(f["symbol"])
        if sym is not None:
            sym.fills[(f["side"], f["liquidation"] == "True")].add(int(f["ts_ns"]), float(f["price"]))
    if (d / "trades.csv").is_file():  # (a run written before trades.csv has none)
        for r in stream_run_csv(d / "trades.csv"):
            sym = symbols.get(r["symbol"])
            if sym is not None:
                sym.trips_total += 1
                if len(sym.trips) < TRIPS_SHADED:
                    sym.trips.append((int(r["entry_ts_ns"]), int(r["exit_ts_ns"]), r["side"] == "long"))
    return symbols, equity


def _date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _title(summary: dict[str, Any]) -> str:
    """The strategy, the data's files and symbols, and the span (dates)."""
    names = [Path(str(i.get("path", ""))).name for i in summary.get("inputs", [])]
    first, last = summary["first_time_utc"][:19].replace("T", " "), summary["last_time_utc"][:19].replace("T", " ")
    if first[:10] == last[:10]:
        last = last[11:]
    data = ", ".join(names) or ", ".join(summary["symbols"])
    sep = "\n" if len(data) > 40 else " "  # (a long list of files gets a line of its own)
    return f"{summary['strategy'].rsplit(':', 1)[-1]} on {data}{sep}({first} → {last} UTC)"


def _price_limits(sym: _Symbol) -> tuple[float, float] | None:
    """The traded range (last, trade range, mark, fills) plus :data:`PRICE_MARGIN`."""
    vals = [v for name in ("last", "mark", "trade_low", "trade_high") for v in sym.series[name].values()]
    vals += [v for mm in sym.fills.values() for v in mm.values()]
    if not vals:
        return None
    lo, hi = min(vals), max(vals)
    pad = max((hi - lo) * PRICE_MARGIN, abs(hi) * 0.001, 1e-9)
    return lo - pad, hi + pad


def price_figure(summary: dict[str, Any], symbols: dict[str, _Symbol]) -> Any:
    """One panel per symbol (shared time axis)."""
    import matplotlib.pyplot as plt

    n = len(symbols)
    fig, axes = plt.subplots(n, 1, sharex=True, squeeze=False, figsize=(11, 1.5 + 3.5 * n))
    liqs = summary.get("liquidations", [])
    for ax, (name, sym) in zip(axes[:, 0], symbols.items()):
        s = sym.series
        lows, highs = s["trade_low"], s["trade_high"]
        if lows and highs:
            # the band between each bucket's lowest trade and highest trade
            lo_t, lo_v = lows.points()
            hi_t, hi_v = highs.points()
            ax.plot(lo_t, lo_v, lw=0.5, color="0.6", alpha=0.8, label="trade range per sample")
            ax.plot(hi_t, hi_v, lw=0.5, color="0.6", alpha=0.8)
        if s["last"]:
            ax.plot(*s["last"].points(), lw=0.8, label="last trade", color="0.35")
        if s["mark"]:
            ax.plot(*s["mark"].points(), lw=1.0, label="mark", color="tab:blue")
        if s["liquidation_price"]:
            ax.plot(*s["liquidation_price"].points(), lw=1.2, ls="--", label="liquidation price", color="tab:red", drawstyle="steps-post")
        for (side, liq), mm in sym.fills.items():
            if mm and not liq:
                marker, colour = ("^", "tab:green") if side == "buy" else ("v", "tab:orange")
                ax.scatter(*mm.points(), marker=marker, color=colour, s=40, zorder=5, label=f"{side} fill")
        shade = {True: "long trip", False: "short trip"}
        for entry, exit_, long in sym.trips:
            ax.axvspan(_t(entry), _t(exit_), color="tab:green" if long else "tab:orange", alpha=0.08, lw=0,
                       label=shade.pop(long, "_nolegend_"))
        label = "liquidation"
        for liq in liqs:
            for p in liq["positions"]:
                if p["symbol"] != name:
                    continue
                at = (_t(int(liq["ts_ns"])), float(p["mark_price"]))
                ax.scatter(*at, marker="X", color="red", s=120, zorder=6, label=label)
                label = "_nolegend_"
                ax.annotate(f"liquidated\nmark {p['mark_price']}", at, textcoords="offset points", xytext=(10, -30), fontsize=8, color="red")
        limits = _price_limits(sym)
        if limits is not None:
            ax.set_ylim(*limits)
            _off_axis(ax, s["liquidation_price"], limits)
        ax.set_title(name, fontsize=10)
        ax.set_ylabel("price (USDT)" if not summary.get("assets") else "price (quote: USD or USDT)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        _date_axis(ax)
    axes[-1, 0].set_xlabel("time (UTC)")
    fig.suptitle(f"{_title(summary)}: price, mark and liquidation price", fontsize=11)
    return fig


def _off_axis(ax: Any, lp: MinMax, limits: tuple[float, float]) -> None:
    """Say where a liquidation price off the price axis is: an arrow at the edge, its value."""
    if not lp:
        return
    times, values = lp.points()
    lo, hi = limits
    for edge, outside, y_text, va in (("below", [v for v in values if v < lo], 0.04, "bottom"), ("above", [v for v in values if v > hi], 0.96, "top")):
        if not outside:
            continue
        nearest = max(outside) if edge == "below" else min(outside)
        ax.annotate(
            f"liquidation price {nearest:,.6g} ({edge}, off the axis)",
            xy=(0.99, 0.0 if edge == "below" else 1.0),
            xycoords="axes fraction",
            xytext=(0.99, y_text + (0.08 if edge == "below" else -0.08)),
            textcoords="axes fraction",
            ha="right",
            va=va,
            fontsize=8,
            color="tab:red",
            arrowprops={"arrowstyle": "->", "color": "tab:red"},
        )


def equity_figure(summary: dict[str, Any], equity: MinMax, usd: dict[str, MinMax] | None = None) -> Any:
    """The home asset's equity in its units; with ``usd`` (a run with a coin or several
    assets) each asset's equity in USD on a right-hand axis, the converting price named."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.5))
    home = (summary.get("account") or {}).get("asset", "USDT")
    if equity:
        ax.plot(*equity.points(), lw=1.0, color="tab:purple", label=f"equity, {home}")
    if usd:
        right = ax.twinx()
        assets = summary.get("assets") or {}
        for k, (asset, series) in enumerate(sorted(usd.items())):
            how = (assets.get(asset) or {}).get("usd_price_from", "")
            style = {"lw": 0.9, "ls": "--", "color": ("tab:green", "tab:orange", "tab:brown")[k % 3]}
            right.plot(*series.points(), **style)
            ax.plot([], [], **style, label=f"{asset} equity in USD, right axis ({how})")  # (one legend: the left axis')
        right.set_ylabel("USD")
    label = "liquidation"
    for liq in summary.get("liquidations", []):
        ax.axvline(_t(int(liq["ts_ns"])), color="red", lw=0.8, ls=":", label=label)
        label = "_nolegend_"
    ax.set_title(f"{_title(summary)}: equity", fontsize=11)
    ax.set_ylabel(home)
    return fig, ax


def ratio_figure(summary: dict[str, Any], symbols: dict[str, _Symbol]) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.5))
    for name, sym in symbols.items():
        if sym.series["margin_ratio"]:
            ax.plot(*sym.series["margin_ratio"].points(), lw=1.0, label=f"{name}: margin ratio (MM / margin balance)")
    ax.axhline(100, color="red", lw=0.8, ls="--", label="liquidation (100 %)")
    ax.set_title(f"{_title(summary)}: margin ratio", fontsize=11)
    ax.set_ylabel(f"% (drawn at most {RATIO_CLIP_PCT:.0f})")
    return fig, ax


def figures(run_dir: str | Path, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """The run's figures by file name (``price.png``, ``equity.png``, ``margin_ratio.png``);
    ``progress(share read)`` is called as the CSVs are read. Close them when done."""
    import matplotlib

    matplotlib.use("Agg")
    d = Path(run_dir)
    for name in ("timeseries.csv", "fills.csv"):
        if not (d / name).is_file():
            raise InputError("missing: is this a run directory written with --out?", where=str(d / name))
    summary_path = d / "summary.json"
    if not summary_path.is_file():
        raise InputError("missing: is this a run directory written with --out?", where=str(summary_path))
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    usd: dict[str, MinMax] = {}
    symbols, equity = _load(d, summary, progress, usd)
    out = {"price.png": price_figure(summary, symbols)}
    for name, (fig, ax) in (("equity.png", equity_figure(summary, equity, usd)), ("margin_ratio.png", ratio_figure(summary, symbols))):
        ax.set_xlabel("time (UTC)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        _date_axis(ax)
        ax.set_xlim(_t(int(summary["first_ts_ns"])), _t(max(int(summary["first_ts_ns"]), int(summary["last_ts_ns"]))))
        out[name] = fig
    if progress is not None:
        progress(1.0)
    return out


def write_report(run_dir: str | Path, progress: Callable[[float], None] | None = None) -> list[Path]:
    """Draw the three plots into ``run_dir``; returns their paths."""
    import matplotlib.pyplot as plt

    d = Path(run_dir)
    paths = []
    for name, fig in figures(d, progress).items():
        fig.tight_layout()
        fig.savefig(d / name, dpi=110)
        plt.close(fig)
        paths.append(d / name)
    return paths


__all__ = ["BUCKETS", "MinMax", "figures", "read_run_csv", "stream_run_csv", "write_report"]
