"""The page document: what a teaching page shows, read from finished run directories.

One JSON-ready ``dict`` (format ``exsim-page/1``) holds every run side by side on one
timeline. The page's JavaScript only draws and looks values up; every figure it shows is
the run's own exact decimal string, as written in the run's CSV files.

The timeline
    A run's *frames* are its time-series samples: consecutive ``timeseries.csv`` rows with
    the same ``(ts_ns, generation)`` and distinct accounts (a scenario) or symbols (a
    replay). The k-th frame at the same ``(ts_ns, generation)`` has the key
    ``(ts_ns, generation, k)``; the document's ``steps`` are the sorted union of every
    run's keys, so two runs' frames at the same instant and cascade round line up. A
    series entry holds from its step until the run's next entry.

Size
    Every frame that is not a periodic sample (orders, fills, liquidations, cascade rounds)
    is kept; periodic samples are thinned evenly to at most :data:`MAX_SAMPLE_FRAMES` per
    run and fills to :data:`MAX_FILLS` per run, and ``notes`` says what was left out (a
    24-hour replay's page stays under 10 MB).

Files read (all optional but ``summary.json`` and ``timeseries.csv``): ``marks.csv``,
``fills.csv``, ``events.jsonl`` (liquidations, told by :func:`exsim.replay.explain.explain`),
``instruments.json``, ``positions.csv``, ``depth.csv``, ``distances.csv``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from exsim.errors import InputError
from exsim.replay.explain import explain, liquidations_of, run_instruments, run_venue_of
from exsim.replay.report import stream_run_csv
from exsim.results.positions import distance_e8, read_distances, scope_ratio_e8
from exsim.units import RATE_SCALE, div_half_even, format_atoms, format_rate_e8, format_subticks, to_subticks

FORMAT: Final = "exsim-page/1"
MAX_SAMPLE_FRAMES: Final = 4000  # periodic frames kept per run (evenly spaced)
MAX_FILLS: Final = 5000  # fills kept per run (liquidation fills first)
SAMPLE_WHYS: Final = frozenset({"sample", "mark", "index"})  # periodic frames: may be thinned
NS_PER_MS: Final = 1_000_000
DEPTH_LEVELS: Final = 10

Key = tuple[int, int, int]  # (ts_ns, generation, k)


def run_dirs_of(path: str | Path) -> list[tuple[str, Path]]:
    """``[(name, run_dir), ...]``: ``path`` itself when it is a run directory, else its
    sub-folders that are (an ``exsim compare`` or ``exsim demo`` output), by name."""
    p = Path(path)
    if (p / "summary.json").is_file():
        return [(p.name or str(p), p)]
    if not p.is_dir():
        raise InputError("not a run directory (no summary.json) nor a folder of run directories", where=str(p))
    subs = sorted((c.name, c) for c in p.iterdir() if c.is_dir() and (c / "summary.json").is_file())
    if not subs:
        raise InputError("no run directory (a folder with summary.json) in this folder", where=str(p))
    subs.sort(key=lambda s: (_ORDER.index(s[0]) if s[0] in _ORDER else len(_ORDER), s[0]))
    return subs


_ORDER: Final = ("isolated", "cross", "multi-assets", "binance", "bybit", "hyperliquid", "dydx")  # a compare's runs


def page_document(runs: Iterable[tuple[str, str | Path]], title: str) -> dict[str, Any]:
    """The page document of the named runs (see the module's docstring)."""
    loaded = [_Run(name, Path(d)) for name, d in runs]
    notes: list[str] = []
    if not loaded:
        raise InputError("no run to show", field="runs")
    for r in loaded:
        if not r.frames:
            raise InputError("the time series is empty", where=str(r.dir / "timeseries.csv"))
    # runs of one period share the clock; runs of different periods (a demo's two replays)
    # are laid side by side from their own starts
    spans = [(r.frames[0][0][0], r.frames[-1][0][0]) for r in loaded]
    together = max(a for a, _ in spans) <= min(b for _, b in spans)
    for r in loaded:
        r.shift_ns = 0 if together else -r.frames[0][0][0]
        if r.shift_ns:
            r.frames = [((k[0] + r.shift_ns, k[1], k[2]), rows) for k, rows in r.frames]
            r.labels = {(k[0] + r.shift_ns, k[1], k[2]): v for k, v in r.labels.items()}
            r.kept_keys = {(k[0] + r.shift_ns, k[1], k[2]) for k in r.kept_keys}
    keys = sorted({k for r in loaded for k in r.kept_keys})
    t0 = keys[0][0] if together else 0
    if not together:
        notes.append("the runs cover different periods: each is shown from its own start (time = since the run's start)")
    step_of = {k: i for i, k in enumerate(keys)}
    runs_out = []
    for r in loaded:
        runs_out.append(r.document(keys, step_of))
        notes.extend(f"{r.name}: {n}" for n in r.notes)
    distances = []
    for r in loaded:
        distances.extend(r.distances())
    labels: dict[Key, list[str]] = {}
    for r in loaded:  # a step's label: what its frames are, each run's once ("liquidation | book mark")
        for key, why in r.labels.items():
            if key in step_of and why not in labels.setdefault(key, []):
                labels[key].append(why)
    return {
        "format": FORMAT,
        "title": title,
        "t0_ns": str(t0),  # the clock's origin; 0 when the runs are shown from their own starts
        "aligned": "clock" if together else "start",
        "steps": [[(ts - t0) / NS_PER_MS, gen, " | ".join(labels.get((ts, gen, k), []))] for ts, gen, k in keys],
        "runs": runs_out,
        "distances": distances,
        "notes": notes,
    }


# ---------------------------------------------------------------------------- one run
class _Run:
    """One run directory read into frames and series (a scenario's or a replay's)."""

    def __init__(self, name: str, run_dir: Path) -> None:
        self.name = name
        self.dir = run_dir
        self.summary = _read_json(run_dir / "summary.json")
        self.kind = "scenario" if "scenario" in self.summary else "replay"
        self.notes: list[str] = []
        self.shift_ns = 0  # added to every time of this run (runs of different periods)
        self.labels: dict[Key, str] = {}
        self.frames: list[tuple[Key, list[dict[str, str]]]] = []
        #: (ts, generation) -> this run's sample frames there, in order, thinned or not (what
        #: positions.csv and depth.csv rows belong to: every frame but the liquidation triggers)
        self.sample_keys: dict[tuple[int, int], list[Key]] = {}
        self._read_frames()
        self.kept_keys = self._thin()

    # -- frames
    def _read_frames(self) -> None:
        who = "account" if self.kind == "scenario" else "symbol"
        path = self.dir / "timeseries.csv"
        count: dict[tuple[int, int], int] = {}
        cur: list[dict[str, str]] = []
        cur_id: tuple[int, int] | None = None
        seen: set[str] = set()
        for line_no, row in enumerate(stream_run_csv(path), 2):
            ts = _int(row, "ts_ns", path, line_no)
            gen = _int(row, "generation", path, line_no) if row.get("generation") else 0
            ident = row.get(who, "")
            if cur and (cur_id != (ts, gen) or ident in seen or row.get("why") != cur[0].get("why")):
                self._close(cur_id, cur, count)  # type: ignore[arg-type]
                cur, seen = [], set()
            if not cur:
                cur_id = (ts, gen)
            cur.append(row)
            seen.add(ident)
        if cur:
            self._close(cur_id, cur, count)  # type: ignore[arg-type]

    def _close(self, tg: tuple[int, int], rows: list[dict[str, str]], count: dict[tuple[int, int], int]) -> None:
        k = count.get(tg, 0)
        count[tg] = k + 1
        key = (tg[0], tg[1], k)
        self.frames.append((key, rows))
        self.labels[key] = rows[0].get("why", "")
        if self.labels[key] != "liquidation":  # (liquidation triggers write no positions or depth row)
            self.sample_keys.setdefault(tg, []).append(key)

    def _thin(self) -> set[Key]:
        periodic = [i for i, (_, rows) in enumerate(self.frames) if rows[0].get("why", "") in SAMPLE_WHYS]
        if len(periodic) > MAX_SAMPLE_FRAMES:
            keep = {periodic[(j * (len(periodic) - 1)) // (MAX_SAMPLE_FRAMES - 1)] for j in range(MAX_SAMPLE_FRAMES)}
            dropped = len(periodic) - len(keep)
            left_out = set(periodic) - keep
            self.frames = [f for i, f in enumerate(self.frames) if i not in left_out]
            self.notes.append(
                f"{dropped:,} of {len(periodic):,} periodic samples left out to keep the page small "
                f"(every order, fill and liquidation kept); the run's timeseries.csv has them all"
            )
        return {key for key, _ in self.frames}

    # -- the document
    def document(self, keys: list[Key], step_of: dict[Key, int]) -> dict[str, Any]:
        self._keys = keys
        self._step_of = step_of
        s = self.summary
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "margin_mode": str(s.get("margin_mode") or ""),  # a replay's is per symbol: see positions
            "venue": str(s.get("venue") or "binance"),
            "dir": str(self.dir),
            "t0_ns": str(-self.shift_ns) if self.shift_ns else "0",  # add to a step's time for this run's clock
            "symbols": [],
            "prices": {},
            "accounts": [],
            "positions": [],
            "depth": {},
            "fills": [],
            "liquidations": [],
            "generations": [],
            "figures": self._figures(),
            "frames": [[step_of[key], self.labels[key]] for key, _ in self.frames],  # [step, why]: this run's own
        }
        if self.kind == "scenario":
            self._scenario_series(out)
        else:
            self._replay_series(out)
        self._positions_file(out)
        self._depth(out)
        self._fills(out)
        self._liquidations(out)
        return out

    def step_at_or_after(self, ts: int, gen: int = 0) -> int:
        """The first global step at or after ``(ts, gen)`` (the frame that shows it), else
        the last step of that instant, else the last step."""
        ts += self.shift_ns
        i = bisect.bisect_left(self._keys, (ts, gen, 0))
        if i < len(self._keys) and self._keys[i][0] == ts:
            return i
        j = bisect.bisect_right(self._keys, (ts, 1 << 62, 1 << 62)) - 1
        if j >= 0 and self._keys[j][0] == ts:
            return j
        return min(i, len(self._keys) - 1)

    def _scenario_series(self, out: dict[str, Any]) -> None:
        accounts: dict[int, dict[str, Any]] = {}
        for key, rows in self.frames:
            step = self._step_of[key]
            for row in rows:
                aid = int(row["account"])
                a = accounts.get(aid)
                if a is None:
                    a = accounts[aid] = {"account": aid, "name": row.get("name", ""), **_series(_ACCOUNT_FIELDS)}
                a["step"].append(step)
                for f in _ACCOUNT_FIELDS:
                    a[f].append(row.get(f) or None)
        out["accounts"] = [accounts[k] for k in sorted(accounts)]
        marks_path = self.dir / "marks.csv"
        if marks_path.is_file():
            prices: dict[str, dict[str, list[Any]]] = {}
            for line_no, row in enumerate(stream_run_csv(marks_path), 2):
                sym = row["symbol"]
                p = prices.setdefault(sym, _series(_PRICE_FIELDS))
                gen = _int(row, "generation", marks_path, line_no) if row.get("generation") else 0
                p["step"].append(self.step_at_or_after(_int(row, "ts_ns", marks_path, line_no), gen))
                p["mark"].append(row.get("mark") or None)
                p["last"].append(None)
                p["best_bid"].append(row.get("best_bid") or None)
                p["best_ask"].append(row.get("best_ask") or None)
            out["prices"] = prices
            out["symbols"] = sorted(prices)
            out["generations"] = self._generations(marks_path)

    def _generations(self, marks_path: Path) -> list[dict[str, Any]]:
        """Each cascade round at a marked instant: its trigger mark, the best bid before its
        liquidation orders and after them (the next round's book), the bid's move."""
        rows = list(stream_run_csv(marks_path))
        out = []
        for i, row in enumerate(rows):
            gen = int(row.get("generation") or 0)
            if gen == 0:
                continue
            nxt = next((r for r in rows[i + 1:] if r["ts_ns"] == row["ts_ns"] and r["symbol"] == row["symbol"]), None)
            before, after = row.get("best_bid") or "", (nxt or row).get("best_bid") or ""
            impact = ""
            if before and after:
                b, a = (to_subticks(x, field="best_bid", where=str(marks_path)) for x in (before, after))
                if b > 0:  # (after − before) / before, e8, half-even (−1905 / 59242.5 → −0.03215597)
                    impact = format_rate_e8(div_half_even((a - b) * RATE_SCALE, b), 8)
            out.append({
                "generation": gen,
                "symbol": row["symbol"],
                "step": self.step_at_or_after(int(row["ts_ns"]), gen),
                "liquidations": 0,
                "mark": row.get("mark") or "",
                "best_bid_before": before,
                "best_bid_after": after,
                "impact_fraction": impact,
            })
        return out

    def _replay_series(self, out: dict[str, Any]) -> None:
        strategy = self.summary.get("strategy")
        name = str(strategy).rpartition(":")[2] if isinstance(strategy, str) and strategy else "strategy"
        acct: dict[str, Any] = {"account": 1, "name": name, **_series(_ACCOUNT_FIELDS)}
        prices: dict[str, dict[str, list[Any]]] = {}
        positions: dict[str, dict[str, Any]] = {}
        for key, rows in self.frames:
            step = self._step_of[key]
            last = rows[-1]
            acct["step"].append(step)
            acct["equity"].append(last.get("equity") or None)
            acct["wallet"].append(last.get("wallet") or None)
            for f in ("margin_balance", "maint_margin", "margin_ratio"):
                acct[f].append(None)  # a replay's margin figures are its buckets'/pool's: see positions
            for row in rows:
                sym = row.get("symbol", "")
                p = prices.setdefault(sym, _series(_PRICE_FIELDS))
                p["step"].append(step)
                p["mark"].append(row.get("mark") or None)
                p["last"].append(row.get("last") or None)
                p["best_bid"].append(None)
                p["best_ask"].append(None)
                q = positions.get(sym)
                if q is None:
                    q = positions[sym] = {"account": 1, "symbol": sym, "position_side": "BOTH",
                                          "margin_mode": self._replay_margin_mode(sym),
                                          **_series(_POSITION_FIELDS)}
                q["step"].append(step)
                vals = {"qty": row.get("position_qty"), "entry_price": row.get("entry_price"), "mark": row.get("mark"),
                        "maint_margin": row.get("maint_margin"), "scope_margin_ratio": row.get("margin_ratio"),
                        "liquidation_price": row.get("liquidation_price")}
                for f in _POSITION_FIELDS:
                    q[f].append(vals.get(f) or None)
        out["accounts"] = [acct]
        out["prices"] = prices
        out["symbols"] = sorted(prices)
        out["positions"] = [positions[s] for s in sorted(positions)]  # positions.csv, when written, replaces them

    def _replay_margin_mode(self, symbol: str) -> str:
        settings = self.summary.get("settings")
        per = settings.get("symbols", {}).get(symbol, {}) if isinstance(settings, dict) else {}
        return str(per.get("margin_mode", "")) if isinstance(per, dict) else ""

    def _positions_file(self, out: dict[str, Any]) -> None:
        path = self.dir / "positions.csv"
        if not path.is_file():
            return  # an older run: a replay's positions are its time series' (above), a scenario's none
        series: dict[tuple[int, str, str], dict[str, Any]] = {}
        for step, row, line_no in self._sample_rows(path, ("account", "symbol", "position_side")):
            try:
                ident = (int(row["account"]), row["symbol"], row.get("position_side") or "BOTH")
            except (KeyError, ValueError):
                raise InputError(f"{row.get('account')!r} is not an account id", where=f"{path}:{line_no}", field="account") from None
            q = series.get(ident)
            if q is None:
                q = series[ident] = {"account": ident[0], "symbol": ident[1], "position_side": ident[2],
                                     "margin_mode": row.get("margin_mode", ""), **_series(_POSITION_FIELDS)}
            if row.get("margin_mode"):  # (a closing row has none: the position's last mode stays)
                q["margin_mode"] = row["margin_mode"]
            q["step"].append(step)
            for f in _POSITION_FIELDS:
                q[f].append(row.get(f) or None)
        out["positions"] = [series[k] for k in sorted(series)]

    def _sample_rows(self, path: Path, ident_fields: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str], int]]:
        """``(global step, row, line)`` of a file written at the run's samples (positions.csv,
        depth.csv), rows of thinned samples left out.

        A row belongs to a sample frame of its ``(ts_ns, generation)``: the first rows to the
        first sample frame there (liquidation trigger frames write none), and a new sample
        starts when an identity (``ident_fields``: a position, a symbol) comes again; a
        sample that wrote no row at an instant with several is not told apart from the next."""
        cur: tuple[int, int] | None = None
        j = 0
        seen: set[tuple[str, ...]] = set()
        for line_no, row in enumerate(stream_run_csv(path), 2):
            ts = _int(row, "ts_ns", path, line_no)
            gen = _int(row, "generation", path, line_no) if row.get("generation") else 0
            ident = tuple(row.get(f, "") for f in ident_fields)
            if cur != (ts, gen):
                cur, j, seen = (ts, gen), 0, set()
            elif ident in seen:
                j, seen = j + 1, set()
            seen.add(ident)
            keys = self.sample_keys.get((ts, gen))
            if not keys:
                raise InputError(f"no time-series sample at ts_ns {ts}, generation {gen}", where=f"{path}:{line_no}",
                                 field="ts_ns")
            key = keys[min(j, len(keys) - 1)]
            shifted = (key[0] + self.shift_ns, key[1], key[2])
            if shifted in self.kept_keys:
                yield self._step_of[shifted], row, line_no

    def _depth(self, out: dict[str, Any]) -> None:
        path = self.dir / "depth.csv"
        if not path.is_file():
            return
        depth: dict[str, dict[str, list[Any]]] = {}
        for step, row, line_no in self._sample_rows(path, ("symbol",)):
            d = depth.setdefault(row.get("symbol", ""), {"step": [], "bids": [], "asks": []})
            d["step"].append(step)
            d["bids"].append(_levels(row.get("bids", ""), path, line_no, "bids"))
            d["asks"].append(_levels(row.get("asks", ""), path, line_no, "asks"))
        out["depth"] = depth

    def _fills(self, out: dict[str, Any]) -> None:
        path = self.dir / "fills.csv"
        if not path.is_file():
            return
        fills = []
        total = 0
        for line_no, row in enumerate(stream_run_csv(path), 2):
            total += 1
            liq = row.get("liquidation") == "True"
            if len(fills) >= MAX_FILLS and not liq:
                continue
            fills.append({"step": self.step_at_or_after(_int(row, "ts_ns", path, line_no)), "account": int(row["account"]),
                          "symbol": row["symbol"], "side": row["side"], "price": row["price"], "qty": row["qty"], "liquidation": liq})
        if total > len(fills):
            self.notes.append(f"{total - len(fills):,} of {total:,} fills not marked on the plots (every liquidation fill kept)")
        out["fills"] = fills

    def _liquidations(self, out: dict[str, Any]) -> None:
        if not (self.dir / "events.jsonl").is_file():
            return
        events = liquidations_of(self.dir)
        if not events:
            return
        instruments = run_instruments(self.dir)
        venue = run_venue_of(self.dir)
        names = {a["account"]: a["name"] for a in out["accounts"]}
        # a scenario writes a ``liquidation`` row for the liquidated account at the trigger;
        # its frame (and generation) is where the liquidation shows on the timeline
        rows_at: dict[tuple[int, int], list[Key]] = {}
        for key, rows in self.frames:
            if rows[0].get("why") == "liquidation":
                for row in rows:
                    rows_at.setdefault((key[0], int(row.get("account") or 1)), []).append(key)
        series = {(q["account"], q["symbol"], q["position_side"]): q for q in out["positions"]}
        liqs = []
        for i, e in enumerate(events, 1):
            ts, aid = int(e["ts_ns"]) + self.shift_ns, int(e["account_id"])
            found = rows_at.get((ts, aid))
            if found:
                key = found.pop(0)
                step, gen = self._step_of[key], key[1]
                if self.kind == "scenario":
                    _trigger_positions(series, e, step, instruments)
            else:
                step, gen = self.step_at_or_after(ts - self.shift_ns), 0
            pos = (e.get("positions") or [{}])[0]
            liqs.append({
                "index": i,
                "step": step,
                "account": aid,
                "name": names.get(aid, str(aid)),
                "scope": str(e.get("scope", "")).lower(),
                "symbol": e.get("symbol") or pos.get("symbol"),
                "generation": gen,
                # the trigger's figures as the event has them (the scope's asset; 1e-8 exact)
                "mark": format_subticks(int(pos["mark_price_subticks"])) if "mark_price_subticks" in pos else None,
                "margin_balance": format_atoms(int(e["margin_balance_atoms"])) if "margin_balance_atoms" in e else None,
                "maint_margin": format_atoms(int(e["maint_margin_atoms"])) if "maint_margin_atoms" in e else None,
                "explanation": explain(e, i, len(events), instruments, venue),
            })
        out["liquidations"] = liqs
        by_gen: dict[int, int] = {}
        for x in liqs:
            by_gen[x["generation"]] = by_gen.get(x["generation"], 0) + 1
        for g in out["generations"]:
            g["liquidations"] = by_gen.get(g["generation"], 0)

    def _figures(self) -> list[list[str]]:
        s = self.summary
        figs: list[list[str]] = []
        if self.kind == "scenario":
            for a in s.get("accounts", []):
                liq = a.get("liquidations") or []
                figs.append([f"{a.get('name')}: remaining balance", str(a.get("remaining_balance", ""))])
                figs.append([f"{a.get('name')}: liquidations", str(len(liq))])
            pop = s.get("population")
            if isinstance(pop, dict):
                figs.append(["population: accounts liquidated", f"{pop.get('liquidated')} of {pop.get('accounts')}"])
            if "insurance_fund_end" in s:
                figs.append(["insurance fund: start → end", f"{s.get('insurance_fund_start')} → {s.get('insurance_fund_end')}"])
        else:
            acct = s.get("account") if isinstance(s.get("account"), dict) else {}
            asset = str(acct.get("asset") or "USDT")  # a coin-margined replay's money is the coin
            figs.append([f"deposit ({asset})", str(acct.get("deposit", ""))])
            figs.append([f"equity at the end ({asset})", str(acct.get("equity", ""))])
            figs.append([f"net PnL ({asset})", str(acct.get("pnl", (s.get("statistics") or {}).get("pnl", "")))])
            liq = s.get("liquidations")
            figs.append(["liquidations", str(len(liq) if isinstance(liq, list) else liq)])
            figs.append(["from", str(s.get("first_time_utc", ""))])
            figs.append(["to", str(s.get("last_time_utc", ""))])
        return figs

    def distances(self) -> list[dict[str, Any]]:
        """The run's liquidation distances: its own ``distances.csv`` (a scenario run writes
        one; ``run`` = this run's name), else its rows of a compare's ``distances.csv``
        beside the run dirs (older compares), else none."""
        own = self.dir / "distances.csv"
        if own.is_file():
            return [dict(row) for row in read_distances(own, run=self.name)]
        path = self.dir.parent / "distances.csv"
        if not path.is_file():
            return []
        return [dict(row) for row in read_distances(path) if row.get("run") == self.name]


def _trigger_positions(series: dict[tuple[int, str, str], dict[str, Any]], e: dict[str, Any], step: int,
                       instruments: dict[str, Any]) -> None:
    """A scenario's positions at a liquidation's trigger step, from the event (positions.csv
    has no row there: the trigger row is written after the engine acted): size, mark,
    liquidation price, distance and the scope's ratio as the engine saw them; the entry
    price carried; what the event does not tell (a cross leg's own maintenance margin,
    its unrealized PnL and drawdown) left empty rather than shown stale."""
    balance, maint = int(e.get("margin_balance_atoms", 0)), int(e.get("maint_margin_atoms", 0))
    alone = len(e.get("positions") or []) == 1
    for p in e.get("positions") or []:
        q = series.get((int(e["account_id"]), p["symbol"], p.get("position_side", "BOTH")))
        inst = instruments.get(p["symbol"])
        if q is None or inst is None or e.get("scope") == "MULTI_ASSETS":
            continue
        mark, liq = int(p["mark_price_subticks"]), int(p.get("liquidation_price_subticks") or 0)
        dist = distance_e8(mark, liq) if liq else None
        i = bisect.bisect_right(q["step"], step)
        entry = q["entry_price"][i - 1] if i else None
        values = {
            "qty": inst.qty_str(int(p["qty_lots"])), "entry_price": entry, "mark": inst.mark_str(mark),
            "unrealized_pnl": None, "maint_margin": format_atoms(maint) if alone else None,
            "scope_margin_ratio": format_rate_e8(scope_ratio_e8(balance, maint), 8),
            "liquidation_price": inst.mark_str(liq) if liq else None,
            "distance_fraction": None if dist is None else format_rate_e8(dist, 8), "drawdown": None,
        }
        q["step"].insert(i, step)
        for f in _POSITION_FIELDS:
            q[f].insert(i, values[f])


def _series(fields: tuple[str, ...]) -> dict[str, list[Any]]:
    """An empty series: its ``step`` list and one list per field, entry for entry."""
    return {"step": [], **{f: [] for f in fields}}


_ACCOUNT_FIELDS: Final = ("equity", "wallet", "margin_balance", "maint_margin", "margin_ratio")
_PRICE_FIELDS: Final = ("mark", "last", "best_bid", "best_ask")
_POSITION_FIELDS: Final = ("qty", "entry_price", "mark", "unrealized_pnl", "maint_margin", "scope_margin_ratio",
                           "liquidation_price", "distance_fraction", "drawdown")


# ---------------------------------------------------------------------------- small readers
def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("missing: is this a run directory written with --out?", where=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"damaged: not JSON ({exc})", where=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("damaged: expected a JSON object", where=str(path))
    return data


def _int(row: dict[str, str], field: str, path: Path, line_no: int) -> int:
    text = row.get(field)
    try:
        return int(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{text!r} is not a whole number", where=f"{path}:{line_no}", field=field) from None


def _levels(text: str, path: Path, line_no: int, field: str) -> list[list[str]]:
    out = []
    for part in _split(text):
        price, sep, qty = part.partition(":")
        if not sep or not price or not qty:
            raise InputError(f"{part!r} is not price:qty", where=f"{path}:{line_no}", field=field)
        out.append([price, qty])
    return out[:DEPTH_LEVELS]


def _split(text: str) -> Iterator[str]:
    return (p for p in text.split(";") if p)


def write_json(doc: dict[str, Any]) -> str:
    """The document as compact JSON text (what the page embeds)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


__all__ = ["FORMAT", "MAX_FILLS", "MAX_SAMPLE_FRAMES", "page_document", "run_dirs_of", "write_json"]
