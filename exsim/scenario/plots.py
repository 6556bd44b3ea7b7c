"""PNG plots of a scenario run directory, and of runs in different margin modes together.

:func:`write_scenario_plots` draws into the run directory:

* ``price.png`` — the mark of each symbol (best bid and ask as thin lines), with the
  explicit accounts' liquidations (✕) on the mark;
* ``equity.png`` — each explicit account's equity; a population as one total line;
* ``margin_ratio.png`` — each account's margin ratio (maintenance margin / margin
  balance) in %, with the 100 % line at which the venue liquidates; a population as its
  highest ratio among the accounts still holding positions;
* ``collateral.png`` (a run with multi-asset collateral) — each collateral asset's index
  (USD) with its value ratio at the first tier after the bid buffer (``(1 − bid buffer) ×
  ratio``, %), and below, each multi-assets account's haircut lost per asset (USD). The
  equity and margin-ratio plots draw a multi-assets account's *account* equity (USD) and
  account margin ratio.

:func:`write_compare_plot` draws runs of one scenario (isolated vs cross) on one figure.
The x axis is minutes since the scenario's start (its UTC time is in the axis label).
The run's numbers are exact decimal text; they become floats here, for drawing only.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exsim.errors import InputError
from exsim.replay.report import read_run_csv

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
RATIO_CLIP_PCT = 150.0  # ratios above this are drawn at it (the recorder caps them at 10 000 %)
MODE_COLOURS = {"isolated": "tab:blue", "cross": "tab:orange", "multi-assets": "tab:green"}
#: ``exsim compare --venues``: a colour per venue (one line per venue and account)
VENUE_COLOURS = {"binance": "goldenrod", "bybit": "tab:red", "hyperliquid": "tab:cyan", "dydx": "tab:purple"}
OTHER_COLOURS = ( "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
ACCOUNT_STYLES = ("-", "--", "-.", (0, (1, 1)))
NAN = float("nan")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def utc_ns(text: str) -> int:
    """Nanoseconds since the epoch of a UTC time as the recorder writes it.

    >>> utc_ns("1970-01-01T00:01:00.000000005Z")
    60000000005
    >>> utc_ns("1970-01-01T00:01:00Z")
    60000000000
    """
    base, _, frac = text.rstrip("Z").partition(".")
    secs = int(datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
    return secs * 1_000_000_000 + int((frac + "000000000")[:9])


def _f(text: str) -> float:
    return float(text) if text else NAN


class _Run:
    """One run directory read for drawing: samples, marks, accounts and their liquidations."""

    def __init__(self, run_dir: str | Path) -> None:
        d = Path(run_dir)
        rows, marks = read_run_csv(d / "timeseries.csv"), read_run_csv(d / "marks.csv")
        if not (d / "summary.json").is_file():
            raise InputError("missing: is this a scenario run directory written with --out?", where=str(d / "summary.json"))
        self.summary: dict[str, Any] = json.loads((d / "summary.json").read_text())
        self.scenario, self.mode = str(self.summary.get("scenario", d.name)), str(self.summary.get("margin_mode", ""))
        try:
            self.t0 = utc_ns(self.summary["start"])
            self.xlabel = f"minutes since start ({self.summary['start'][:19].replace('T', ' ')} UTC)"
        except (KeyError, ValueError):
            self.t0 = min((int(r["ts_ns"]) for r in rows + marks), default=0)
            self.xlabel = "minutes since the first sample (UTC)"
        # a sample writes every account once, in order: a new time or a repeated account opens the next one
        self.samples: list[tuple[int, dict[int, dict[str, str]]]] = []
        for r in rows:
            ts, acct = int(r["ts_ns"]), int(r["account"])
            if not self.samples or ts != self.samples[-1][0] or acct in self.samples[-1][1]:
                self.samples.append((ts, {}))
            self.samples[-1][1][acct] = r
        self.x = [self.m(ts) for ts, _ in self.samples]
        self.marks: dict[str, list[dict[str, str]]] = {}
        for r in marks:
            self.marks.setdefault(r["symbol"], []).append(r)
        self.accounts = [(int(a["account"]), str(a["name"]), list(a.get("liquidations") or []))
                         for a in self.summary.get("accounts", [])]
        self.pop = sorted({int(r["account"]) for r in rows if r["name"].startswith("pop-")})
        # a run with several assets (or a coin) draws every account's equity in USD, so that
        # a USDT and a BTC account share one axis; the price that converts is in the label
        conv = self.summary.get("usd_conversion")
        self.equity_key = "equity_usd" if conv and rows and "equity_usd" in rows[0] else "equity"
        self.money = "USDT" if self.equity_key == "equity" else (
            "USD; " + ", ".join(f"{a} at the {how}" for a, how in conv.items() if "mark" in how) if conv else "USD")

    def m(self, ts_ns: int | str) -> float:
        return (int(ts_ns) - self.t0) / 60e9

    def values(self, acct: int, field: str) -> list[float]:
        """The account's ``field`` at each sample; a sample without the account (a
        liquidation's row is the liquidated account's only) repeats its previous value."""
        out, last = [], NAN
        for _, s in self.samples:
            if acct in s:
                last = _f(s[acct][field])
            out.append(last)
        return out

    def values_text(self, acct: int, field: str) -> list[str]:
        """As :meth:`values`, the text of ``field`` ("" where the account has none yet)."""
        out, last = [], ""
        for _, s in self.samples:
            if acct in s:
                last = s[acct].get(field) or ""
            out.append(last)
        return out

    def ratio_pct(self, acct: int) -> list[float]:
        return [min(v * 100, RATIO_CLIP_PCT) for v in self.values(acct, "margin_ratio")]

    def _pop_rows(self) -> Any:
        """Each sample's population rows, an account missing from a sample at its previous row."""
        current: dict[int, dict[str, str]] = {}
        pop = set(self.pop)
        for _, s in self.samples:
            current.update((a, r) for a, r in s.items() if a in pop)
            yield current

    def pop_equity(self) -> list[float]:
        return [sum(float(r["equity"]) for r in rows.values()) for rows in self._pop_rows()]

    def pop_ratio_pct(self) -> list[float]:
        out = []
        for rows in self._pop_rows():
            held = [float(r["margin_ratio"]) for r in rows.values() if float(r["margin_ratio"]) > 0]
            out.append(min(max(held) * 100, RATIO_CLIP_PCT) if held else NAN)
        return out

    def liq_equity(self, acct: int, liq: dict[str, Any]) -> tuple[float, float] | None:
        """(minute, equity) of the account's last sample at or before the liquidation."""
        ts = int(liq["ts_ns"])
        at = [s[acct] for t, s in self.samples if acct in s and t <= ts] or [s[acct] for _, s in self.samples if acct in s][:1]
        return (self.m(ts), _f(at[-1][self.equity_key])) if at else None


def _line(ax: Axes, x: list[float], y: list[float], **kw: Any) -> None:
    if len(x) == 1:
        kw.setdefault("marker", "o")  # a single sample is a point, not a line
    ax.plot(x, y, **kw)


def _scale(ys: list[float]) -> float:
    return max((abs(v) for v in ys if not math.isnan(v)), default=0.0)


def _equity_panel(ax: Axes, lines: list[tuple[list[float], list[float], dict[str, Any]]],
                  pop: list[tuple[list[float], list[float], dict[str, Any]]]) -> Axes:
    """Draw equity lines; population totals go on a right-hand axis when their scale is >10x off."""
    for x, y, kw in lines:
        _line(ax, x, y, **kw)
    target = ax
    a, b = _scale([v for _, y, _ in lines for v in y]), _scale([v for _, y, _ in pop for v in y])
    if lines and pop and a > 0 and b > 0 and max(a / b, b / a) > 10:
        target = ax.twinx()
        target.set_ylabel("population total equity (USDT)")
        ax.set_zorder(target.get_zorder() + 1)  # keep the accounts' lines, markers and legend on top
        ax.patch.set_visible(False)
    for x, y, kw in pop:
        _line(target, x, y, **kw)
    return target


def _finish(ax: Axes, ylabel: str, *more: Axes) -> None:
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    handles, labels = [], []
    for a in (ax, *more):
        h, lab = a.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    if handles:
        ax.legend(handles, labels, loc="best", fontsize=8)


def _ratio_axes(ax: Axes, ys: list[list[float]]) -> None:
    ax.axhline(100, color="red", lw=0.9, ls="--", label="liquidation (100 %)")
    top = max((_scale(y) for y in ys), default=0.0)
    ax.set_ylim(0, max(110.0, top * 1.05))


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def price_figure(run: _Run) -> Figure:
    plt = _pyplot()
    symbols = list(run.marks) or ["no marks recorded"]
    fig, axes = plt.subplots(len(symbols), 1, sharex=True, squeeze=False, figsize=(11, 1.5 + 2.8 * len(symbols)))
    for ax, symbol in zip(axes[:, 0], symbols):
        rows = run.marks.get(symbol, [])
        x = [run.m(r["ts_ns"]) for r in rows]
        for field, colour in (("best_bid", "tab:green"), ("best_ask", "tab:brown")):
            y = [_f(r[field]) for r in rows]
            if any(not math.isnan(v) for v in y):
                _line(ax, x, y, lw=0.6, alpha=0.8, color=colour, drawstyle="steps-post", label=field.replace("_", " "))
        if rows:
            _line(ax, x, [float(r["mark"]) for r in rows], lw=1.2, color="tab:blue", label="mark")
        label = "liquidation"
        for _, name, liqs in run.accounts:
            for liq in liqs:
                at = [r for r in rows if int(r["ts_ns"]) <= int(liq["ts_ns"])] or rows[:1]
                if at and any(p.split()[0] == symbol for p in liq.get("positions", [])):
                    point = (run.m(liq["ts_ns"]), float(at[-1]["mark"]))
                    ax.scatter(*point, marker="x", color="red", s=80, linewidths=2, zorder=5, label=label)
                    ax.annotate(name, point, textcoords="offset points", xytext=(6, 6), fontsize=8, color="red")
                    label = "_nolegend_"
        ax.set_title(symbol, fontsize=10)
        _finish(ax, "mark (USDT)" if run.equity_key == "equity" else "mark (USD or USDT)")
    axes[-1, 0].set_xlabel(run.xlabel)
    fig.suptitle(f"{run.scenario} ({run.mode}): mark price and liquidations")
    return fig


def equity_figure(run: _Run) -> Figure:
    fig, ax = _pyplot().subplots(figsize=(11, 4.5))
    lines = [(run.x, run.values(aid, run.equity_key), {"lw": 1.1, "label": name}) for aid, name, _ in run.accounts]
    pop = [(run.x, run.pop_equity(), {"lw": 2, "ls": ":", "color": "0.3",
                                      "label": f"population ({len(run.pop)} accounts): total equity"})] if run.pop else []
    twin = _equity_panel(ax, lines, pop)
    label = "liquidation"
    for aid, _, liqs in run.accounts:
        for point in filter(None, (run.liq_equity(aid, liq) for liq in liqs)):
            ax.scatter(*point, marker="x", color="red", s=80, linewidths=2, zorder=5, label=label)
            label = "_nolegend_"
    ax.set_title(f"{run.scenario} ({run.mode}): equity")
    ax.set_xlabel(run.xlabel)
    _finish(ax, f"equity ({run.money})", *([twin] if twin is not ax else []))
    return fig


def ratio_figure(run: _Run) -> Figure:
    fig, ax = _pyplot().subplots(figsize=(11, 4.5))
    ys = []
    for aid, name, _ in run.accounts:
        ys.append(run.ratio_pct(aid))
        _line(ax, run.x, ys[-1], lw=1.1, label=name)
    if run.pop:
        ys.append(run.pop_ratio_pct())
        _line(ax, run.x, ys[-1], lw=2, ls=":", color="0.3",
              label=f"population ({len(run.pop)} accounts): highest ratio of those holding positions")
    liq_x = [run.m(liq["ts_ns"]) for _, _, liqs in run.accounts for liq in liqs]
    if liq_x:
        ax.scatter(liq_x, [100.0] * len(liq_x), marker="x", color="red", s=80, linewidths=2, zorder=5, label="liquidation")
    _ratio_axes(ax, ys)
    ax.set_title(f"{run.scenario} ({run.mode}): margin ratio (maintenance margin / margin balance)")
    ax.set_xlabel(run.xlabel)
    _finish(ax, f"margin ratio (%, drawn at most {RATIO_CLIP_PCT:.0f})")
    return fig


def collateral_figure(run: _Run, rows: list[dict[str, str]]) -> Figure:
    """Index per collateral asset (value ratio on a right axis), then the haircut lost per asset and account."""
    plt = _pyplot()
    assets = list(dict.fromkeys(r["asset"] for r in rows)) or ["no collateral"]
    fig, axes = plt.subplots(len(assets) + 1, 1, sharex=True, squeeze=False, figsize=(11, 2.2 + 2.6 * (len(assets) + 1)))
    for ax, asset in zip(axes[:, 0], assets):
        mine = [r for r in rows if r["asset"] == asset]
        x = [run.m(r["ts_ns"]) for r in mine]
        _line(ax, x, [float(r["index"]) for r in mine], lw=1.2, color="tab:blue", drawstyle="steps-post", label=f"{asset} index")
        twin = ax.twinx()
        ratio = [(1 - float(r["bid_buffer"])) * float(r["tiers"].split(";")[0].split(":")[-1]) * 100 for r in mine]
        _line(twin, x, ratio, lw=1.0, color="tab:red", ls="--", drawstyle="steps-post",
              label="value ratio, first tier (%)")
        twin.set_ylabel("value ratio (%)")
        twin.set_ylim(0, 105)
        ax.set_title(f"{asset}: collateral index and value ratio", fontsize=10)
        _finish(ax, "index (USD)", twin)
    ax = axes[-1, 0]
    drawn = False
    for aid, name, _ in run.accounts:
        cells = run.values_text(aid, "haircut_usd")
        names = sorted({kv.split("=")[0] for c in cells for kv in c.split(";") if "=" in kv})
        for asset in names:
            y = [NAN if not c else float(dict(kv.split("=") for kv in c.split(";") if "=" in kv).get(asset, "nan"))
                 for c in cells]
            if any(v for v in y if not math.isnan(v)):
                _line(ax, run.x, y, lw=1.1, label=f"{name}: {asset}")
                drawn = True
    ax.set_title("haircut lost per asset (multi-assets accounts)" + ("" if drawn else ": none"), fontsize=10)
    ax.set_xlabel(run.xlabel)
    _finish(ax, "haircut (USD)")
    fig.suptitle(f"{run.scenario} ({run.mode}): collateral")
    return fig


def write_scenario_plots(run_dir: str | Path) -> list[Path]:
    """Draw ``price.png``, ``equity.png`` and ``margin_ratio.png`` into ``run_dir`` (and
    ``collateral.png`` when it has ``collateral.csv``); returns their paths."""
    run, d = _Run(run_dir), Path(run_dir)
    out = [_save(price_figure(run), d / "price.png"), _save(equity_figure(run), d / "equity.png"),
           _save(ratio_figure(run), d / "margin_ratio.png")]
    if (d / "collateral.csv").is_file():
        out.append(_save(collateral_figure(run, read_run_csv(d / "collateral.csv")), d / "collateral.png"))
    return out


def compare_figure(runs: dict[str, str | Path]) -> Figure:
    """One figure of runs keyed by margin mode (or by venue): equity on top, margin ratio (%) below."""
    loaded = {mode: _Run(p) for mode, p in runs.items()}
    fig, (top, bottom) = _pyplot().subplots(2, 1, sharex=True, figsize=(11, 8))
    spare = iter(OTHER_COLOURS * (1 + len(loaded)))
    colours = {mode: MODE_COLOURS.get(mode.lower()) or VENUE_COLOURS.get(mode.lower()) or next(spare) for mode in loaded}
    styles: dict[str, Any] = {}
    lines, pop, ratios = [], [], []
    for k, (mode, run) in enumerate(loaded.items()):
        c, lw = colours[mode], max(1.2, 2.8 - 1.6 * k)  # earlier modes wider: equal stretches stay visible
        for aid, name, _ in run.accounts:
            kw = {"color": c, "ls": styles.setdefault(name, ACCOUNT_STYLES[len(styles) % len(ACCOUNT_STYLES)]), "lw": lw}
            lines.append((run.x, run.values(aid, run.equity_key), {**kw, "label": f"{mode} · {name}"}))
            ratios.append((run.x, run.ratio_pct(aid), {**kw, "label": f"{mode} · {name}"}))
        if run.pop:
            kw = {"color": c, "ls": ":", "lw": lw + 1.0, "alpha": 0.8}
            pop.append((run.x, run.pop_equity(), {**kw, "label": f"{mode} · population ({len(run.pop)}): total equity"}))
            ratios.append((run.x, run.pop_ratio_pct(), {**kw, "label": f"{mode} · population: highest ratio"}))
    twin = _equity_panel(top, lines, pop)
    for x, y, kw in ratios:
        _line(bottom, x, y, **kw)
    for mode, run in loaded.items():
        points = [p for aid, _, liqs in run.accounts for p in filter(None, (run.liq_equity(aid, liq) for liq in liqs))]
        if points:
            mark = {"marker": "x", "color": colours[mode], "s": 90, "linewidths": 2.2, "zorder": 6}
            top.scatter([p[0] for p in points], [p[1] for p in points], label=f"liquidation ({mode})", **mark)
            bottom.scatter([p[0] for p in points], [100.0] * len(points), **mark)
    _ratio_axes(bottom, [y for _, y, _ in ratios])
    first = next(iter(loaded.values()), None)
    fig.suptitle(f"{first.scenario if first else 'scenario'}: {' vs '.join(loaded)}")
    top.set_title("equity", fontsize=10)
    bottom.set_title("margin ratio (maintenance margin / margin balance)", fontsize=10)
    bottom.set_xlabel(first.xlabel if first else "minutes since start")
    _finish(top, f"equity ({next(iter(loaded.values())).money})", *([twin] if twin is not top else []))
    _finish(bottom, f"margin ratio (%, drawn at most {RATIO_CLIP_PCT:.0f})")
    return fig


def write_compare_plot(runs: dict[str, Path], out_png: Path) -> Path:
    """Draw :func:`compare_figure` of ``runs`` (e.g. ``{"isolated": dir1, "cross": dir2}``) to ``out_png``."""
    return _save(compare_figure(runs), Path(out_png))
