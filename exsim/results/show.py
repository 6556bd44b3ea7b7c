"""The statistics and the trade list as rich tables (the run's printout and ``exsim report``)."""

from __future__ import annotations

from typing import Any


def _pct(text: str | None) -> str:
    """A ratio's text as a percent for reading (the exact text stays in summary.json)."""
    if text is None:
        return "-"
    from decimal import Decimal

    return f"{Decimal(text) * 100:.2f} %"


def _num(text: str | None) -> str:
    return "-" if text is None else text


def statistics_table(st: dict[str, Any], title: str = "statistics") -> Any:
    """A two-column table of the statistics (summary.json's ``statistics``)."""
    from rich.table import Table

    t = Table(title=title)
    t.add_column("statistic")
    t.add_column("value", justify="right")
    exits = ", ".join(f"{k} {v}" for k, v in st.get("exits", {}).items()) or "-"
    rows = [
        ("return", _pct(st["return"])),
        ("trades (closed / open)", f"{st['trades']} / {st['open_trades']}"),
        ("  ended by", exits),
        ("win rate", _pct(st["win_rate"])),
        ("profit factor", _num(st["profit_factor"])),
        ("average win / loss", f"{_num(st['average_win'])} / {_num(st['average_loss'])}"),
        ("expectancy (per trade)", _num(st["expectancy"])),
        ("max drawdown", f"{st['max_drawdown']} ({_pct(st['max_drawdown_fraction'])})"),
        ("  longest under water", f"{st['max_drawdown_duration_s']} s"),
        ("Sharpe / Sortino / Calmar", f"{_num(st['sharpe'])} / {_num(st['sortino'])} / {_num(st['calmar'])}"),
        ("  returns", st["returns_sampled"]),
        ("exposure (time in market)", _pct(st["exposure"])),
        ("turnover", f"{st['turnover']} ({_num(st['turnover_multiple'])}x deposit)"),
        ("fees / funding, share of gross PnL", f"{_pct(st['fees_share_of_gross_pnl'])} / {_pct(st['funding_share_of_gross_pnl'])}"),
        ("liquidations / margin calls / ADL", f"{st['liquidations']} / {st['margin_calls']} / {st['adl']}"),
        ("worst margin ratio", _pct(st["worst_margin_ratio"])),
    ]
    for k, v in rows:
        t.add_row(k, v)
    return t


def trades_table(trades: list[dict[str, str]], limit: int = 20, title: str = "trades") -> Any:
    """The first ``limit`` round trips of trades.csv (rows as read by csv.DictReader)."""
    from rich.table import Table

    t = Table(title=f"{title} ({len(trades)}{', first ' + str(limit) if len(trades) > limit else ''})")
    for name in ("symbol", "side", "entry (UTC)", "exit (UTC)", "entry px", "exit px", "max qty", "net PnL", "ended by"):
        t.add_column(name, justify="left" if name in ("symbol", "side", "ended by") else "right", no_wrap=True)
    for r in trades[:limit]:
        t.add_row(
            r["symbol"] if r.get("position_side") in (None, "BOTH") else f"{r['symbol']} {r['position_side']}",
            r["side"],
            r["entry_time_utc"][:23].replace("T", " "),
            r["exit_time_utc"][:23].replace("T", " "),
            r["avg_entry_price"],
            r["avg_exit_price"],
            r["max_qty"],
            r["net_pnl"],
            r["exit_reason"] + (" (at the last mark)" if r["open_at_end"] == "True" else ""),
        )
    return t
