"""``exsim report RUN_DIR``: PNG plots of a run directory (matplotlib, headless).

* ``price.png`` — last trade price and mark price, the position's liquidation price,
  the strategy's fills (▲ buy, ▼ sell) and its liquidations (✕), against UTC time;
* ``equity.png`` — account equity (wallet + isolated margin + unrealized PnL at mark);
* ``margin_ratio.png`` — maintenance margin / margin balance, with the 100 % line at
  which the venue liquidates.

The run's numbers are exact decimal text; they become floats here, for drawing only.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from exsim.errors import InputError


def read_run_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a run directory's CSV (replay or scenario), or an error naming the missing file."""
    if not path.is_file():
        raise InputError("missing: is this a run directory written with --out?", where=str(path))
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _t(ts_ns: str) -> datetime:
    return datetime.fromtimestamp(int(ts_ns) / 1e9, tz=timezone.utc)


def _f(text: str) -> float | None:
    return float(text) if text else None


def write_report(run_dir: str | Path) -> list[Path]:
    """Draw the three plots into ``run_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    d = Path(run_dir)
    series = read_run_csv(d / "timeseries.csv")
    fills = read_run_csv(d / "fills.csv")
    summary_path = d / "summary.json"
    if not summary_path.is_file():
        raise InputError("missing: is this a run directory written with --out?", where=str(summary_path))
    summary: dict[str, Any] = json.loads(summary_path.read_text())
    symbol = summary["symbols"][0]
    title = f"{summary['strategy'].rsplit(':', 1)[-1]} on {symbol}"
    times = [_t(r["ts_ns"]) for r in series]
    fmt = mdates.DateFormatter("%H:%M:%S")
    out: list[Path] = []

    def finish(fig: Any, ax: Any, name: str, ylabel: str) -> None:
        ax.set_ylabel(ylabel)
        ax.set_xlabel("time (UTC)")
        ax.xaxis.set_major_formatter(fmt)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        path = d / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)

    # price, mark, liquidation price, fills, liquidations
    fig, ax = plt.subplots(figsize=(11, 5))
    lows, highs = [_f(r["trade_low"]) for r in series], [_f(r["trade_high"]) for r in series]
    if any(v is not None for v in lows):
        ax.fill_between(
            times,
            [v if v is not None else float("nan") for v in lows],
            [v if v is not None else float("nan") for v in highs],
            step="pre",
            color="0.6",
            alpha=0.35,
            lw=0,
            label="trade range per sample",
        )
    ax.plot(times, [_f(r["last"]) for r in series], lw=0.8, label="last trade", color="0.35")
    ax.plot(times, [_f(r["mark"]) for r in series], lw=1.0, label="mark", color="tab:blue")
    lp = [_f(r["liquidation_price"]) for r in series]
    if any(v is not None for v in lp):
        ax.plot(times, lp, lw=1.2, ls="--", label="liquidation price", color="tab:red", drawstyle="steps-post")
    buys = [(_t(f["ts_ns"]), float(f["price"])) for f in fills if f["side"] == "buy" and f["liquidation"] != "True"]
    sells = [(_t(f["ts_ns"]), float(f["price"])) for f in fills if f["side"] == "sell" and f["liquidation"] != "True"]
    if buys:
        ax.scatter(*zip(*buys), marker="^", color="tab:green", s=40, zorder=5, label="buy fill")
    if sells:
        ax.scatter(*zip(*sells), marker="v", color="tab:orange", s=40, zorder=5, label="sell fill")
    for liq in summary.get("liquidations", []):
        for p in liq["positions"]:
            ax.scatter([_t(str(liq["ts_ns"]))], [float(p["mark_price"])], marker="X", color="red", s=120, zorder=6, label="liquidation")
            ax.annotate(
                f"liquidated\nmark {p['mark_price']}",
                (_t(str(liq["ts_ns"])), float(p["mark_price"])),
                textcoords="offset points",
                xytext=(10, -30),
                fontsize=8,
                color="red",
            )
    ax.set_title(f"{title}: price, mark and liquidation price")
    finish(fig, ax, "price.png", "price (USDT)")

    fig, ax = plt.subplots(figsize=(11, 3.5))
    ax.plot(times, [float(r["equity"]) for r in series], lw=1.0, color="tab:purple", label="equity")
    for liq in summary.get("liquidations", []):
        ax.axvline(_t(str(liq["ts_ns"])), color="red", lw=0.8, ls=":", label="liquidation")
    ax.set_title(f"{title}: equity")
    finish(fig, ax, "equity.png", "USDT")

    fig, ax = plt.subplots(figsize=(11, 3.5))
    ratio = [(_f(r["margin_ratio"]) or 0.0) * 100 if r["margin_ratio"] else None for r in series]
    ax.plot(times, ratio, lw=1.0, color="tab:brown", label="margin ratio (MM / margin balance)")
    ax.axhline(100, color="red", lw=0.8, ls="--", label="liquidation (100 %)")
    ax.set_title(f"{title}: margin ratio")
    finish(fig, ax, "margin_ratio.png", "%")
    return out
