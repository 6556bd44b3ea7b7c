"""What a scenario run keeps, and the run directory it writes.

With an output directory a run writes:

* ``events.jsonl`` — every exchange event (``exsim explain`` reads its liquidations);
* ``timeseries.csv`` — each account at the start, at every mark and at the end: equity,
  wallet, the margin balance and maintenance margin of its most loaded scope (the
  isolated bucket or cross pool with the highest margin ratio) and that ratio; and a
  liquidated account at the liquidation's trigger (``why`` = ``liquidation``: the
  scope's figures the engine acted on, ratio >= 100 %);
* ``marks.csv`` — every mark with the book's best bid and ask at that moment;
* ``fills.csv`` — every fill of an account and of the insurance fund (liquidation orders
  flagged), in the schema replays share (:data:`exsim.results.schema.FILL_FIELDS`);
* ``trades.csv`` — every account's round trips (:mod:`exsim.results.trips`);
* ``instruments.json`` — the instruments as run (custom ones too), for ``exsim explain``;
* ``positions.csv`` — every account's open positions at every sample (not at liquidation
  rows), each attributed its own maintenance margin, PnL, drawdown and liquidation price
  (:mod:`exsim.liquidation.risk`, :mod:`exsim.results.positions`); ``depth.csv`` — each
  instrument's book, ten levels a side, at every sample; ``distances.csv`` — how far each
  price and haircut may move before liquidation, at the start (:mod:`exsim.scenario.distances`);
  ``timeseries.csv`` ends with the row's cascade round (``generation``);
* ``summary.json`` — per account (with its ``statistics``, :mod:`exsim.results.stats`, and
  ``positions_risk``), the
  population and the cascade (see :meth:`summary`).

Money is kept as int atoms and written exactly; ratios are e8 integers, written as
fractions for reading.

**Several assets** (a run with an instrument that does not settle in a USD stablecoin,
e.g. the inverse ``BTCUSD_PERP`` settling in BTC): an account's figures are told in its
*main* asset (its only deposit's; the home asset when it deposits several), and beside them
every asset it holds is reported in that asset and at its USD value, with the price that
converts it (:class:`exsim.results.assets.UsdPricer`: a stablecoin is 1 USD, a coin is
worth the mark of the run's instrument that prices it). ``timeseries.csv`` then gains the
columns :data:`ASSET_SERIES_FIELDS` and ``summary.json`` the keys ``assets`` and
``usd_value``. A run whose every amount is in one USD stablecoin writes exactly what it
wrote before.

**Multi-asset collateral** (a scenario with ``[collateral.ASSET]`` tables, or a run in
which an account is in multi-assets collateral mode): a multi-assets account's figures are
the *account's*, in USD (its ``asset`` is ``USD``): ``equity`` and ``margin_balance`` the
account equity (every asset at its bid rate through its tiers, or its ask rate when
negative), ``wallet`` its wallets at their index (no haircut), ``maint_margin`` the account
maintenance margin at the ask rates, ``margin_ratio`` the account margin ratio; all
rounded down to 1e-8 USD but the maintenance margin (up) and the ratio (up, exact from
:mod:`exsim.ledger.collateral`). ``timeseries.csv`` gains :data:`COLLATERAL_SERIES_FIELDS`
(each row's collateral mode and the haircut lost per asset, ``BTC=100.00000000;USDT=0``);
``collateral.csv`` holds every collateral index tick and rule change
(:data:`COLLATERAL_FIELDS`); ``summary.json`` gains ``collateral`` (per asset: where its
index comes from, its start, lowest and end index, the rule at the end, the number of
changes) and, per account, ``collateral_mode``, ``account`` (equity, maintenance margin,
margin ratio and haircut per asset at the end, and the highest margin ratio) and
``idle_collateral`` (a single-asset account's wallets in an asset none of the contracts
settles in: they back nothing in that mode).
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exsim import __version__
from exsim.exchange import MarkPriceUpdated
from exsim.instruments import instrument_to_dict
from exsim.ledger import INSURANCE_FUND
from exsim.liquidation.risk import account_risk
from exsim.replay.recorder import utc_text
from exsim.results.assets import USD_ASSETS, UsdPricer, tells_assets
from exsim.results.positions import (
    DEPTH_FIELDS,
    DEPTH_LEVELS,
    POSITION_FIELDS,
    PositionTracks,
    closing_cells,
    depth_text,
    position_cells,
    position_key,
    positions_risk,
)
from exsim.results.rows import fill_row, trip_row
from exsim.results.schema import FILL_FIELDS, TRADE_FIELDS
from exsim.results.stats import EquityCurve, statistics
from exsim.results.trips import FillRecord, Trip, TripBook
from exsim.scenario.distances import run_distances, write_distances
from exsim.sinks import JsonlSink
from exsim.ledger.collateral import MULTI_ASSETS, CollateralRule, usd_e40_to_usd_e8_floor
from exsim.book.orders import BUY, SELL
from exsim.units import ATOMS_E8_PER_ATOM, RATE_SCALE, ceil_div, format_atoms, format_rate_e8, format_scaled

if TYPE_CHECKING:
    from exsim.scenario.interfaces import ScenarioForRecorder

SERIES_FIELDS = ("ts_ns", "time_utc", "account", "name", "equity", "wallet", "margin_balance", "maint_margin", "margin_ratio", "why")
#: the columns a run with several assets adds to ``timeseries.csv``: the asset of the row's
#: money columns, the account's whole equity in USD (every asset it holds at its USD value,
#: rounded down) and, per asset, the USD price used (``BTC=36500.0``; ``;``-separated)
ASSET_SERIES_FIELDS = ("asset", "equity_usd", "usd_prices")
#: the columns a run with multi-asset collateral adds to ``timeseries.csv``
COLLATERAL_SERIES_FIELDS = ("collateral_mode", "haircut_usd")
#: ``collateral.csv``: every index tick and rule change of a collateral asset
COLLATERAL_FIELDS = ("ts_ns", "time_utc", "asset", "index", "bid_buffer", "ask_buffer", "tiers", "why")
MARK_FIELDS = ("ts_ns", "time_utc", "symbol", "mark", "best_bid", "best_ask", "generation")
#: ``timeseries.csv``'s last column, after every other: the cascade round of the row
#: (0 outside book-driven cascades; a liquidation row: the round that triggered it)
GENERATION_SERIES_FIELDS = ("generation",)
UNBOUNDED_RATIO_E8 = 100 * RATE_SCALE  # margin ratio shown when the margin balance is <= 0


class ScenarioRecorder:
    def __init__(self, run: ScenarioForRecorder, out_dir: str | Path | None) -> None:
        self.run = run
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.jsonl: JsonlSink | None = None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.jsonl = JsonlSink(self.out_dir / "events.jsonl")
        self.series: list[tuple[int, int, int, int, int, int, int, str]] = []  # ts, acct, equity, wallet, bal, mm, ratio, why
        #: (ts, symbol, mark in subticks, best bid ticks, best ask ticks, generation)
        self.marks: list[tuple[int, str, int, int | None, int | None, int]] = []
        insts = run.scenario.instruments
        self.trips = TripBook({i.symbol: i.atoms_per_tick_lot for i in insts}, {i.symbol: i.lot_size_e8 for i in insts},
                              inverse={i.symbol: i.inverse_atoms_per_lot_tick for i in insts if i.inverse},
                              fund_fills=True)
        self.fills: list[FillRecord] = []
        self.trades: list[Trip] = []  # in the order they ended; the open ones added at the end
        self.liquidations: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.fund_path: list[tuple[int, int, int]] = []  # (ts, generation, fund balance) at each change
        sc = run.scenario
        self.home = sc.home_asset
        #: account id -> True for a multi-assets account (its figures are the account's, in USD)
        self.portfolio = {a.account_id: run.collateral_modes.get(a.account_id) == MULTI_ASSETS for a in run.accounts}
        #: True when the run has collateral rules or a multi-assets account (adds columns and keys)
        self.collateral_run = bool(sc.collateral) or any(self.portfolio.values())
        #: True when some amount is not in a USD stablecoin or there are several assets
        self.multi = tells_assets(sc.assets + sc.collateral_assets) or self.collateral_run
        self.pricer = UsdPricer(insts, lambda symbol: run.exchange.mark_price_subticks(symbol))
        self.main_asset = {a.account_id: "USD" if self.portfolio[a.account_id] else a.main_asset(self.home)
                           for a in run.accounts}
        #: collateral runs: per series row, (collateral mode, haircut per asset)
        self.series_collateral: list[tuple[str, str]] = []
        #: (ts, asset, index e8, bid e8, ask e8, tiers text, why) at every index tick and rule change
        self.collateral_rows: list[tuple[int, str, int, int, int, str, str]] = []
        #: the index of each collateral asset at the start (the first row of it)
        self.start_index: dict[str, int] = {}
        #: multi-asset runs: per series row, (equity in USD or None, "BTC=36500.0;...")
        self.series_usd: list[tuple[int | None, str]] = []
        #: per series row, its cascade round (timeseries.csv's last column)
        self.series_generation: list[int] = []
        #: positions.csv and depth.csv rows (exact text), and each position's running figures
        self.position_rows: list[tuple[Any, ...]] = []
        self.depth_rows: list[tuple[Any, ...]] = []
        self.tracks = PositionTracks()
        #: distances.csv rows (:mod:`exsim.scenario.distances`), taken at the ``start`` sample
        self.distances: list[dict[str, str]] = []

    # ------------------------------------------------------------------ events
    def log(self, events: list[Any]) -> None:
        # (a liquidation's fills come before its Liquidation event, in the same batch: the
        # trip book reads the whole batch)
        records, closed = self.trips.on_events(events)
        self.fills += records
        self.trades += closed
        for e in events:
            t = type(e)
            if t is MarkPriceUpdated:
                book = self.run.exchange.book(e.symbol)
                self.marks.append((e.ts_ns, e.symbol, e.mark_price_subticks, book.best_bid(), book.best_ask(), self.run.generation))
        if self.jsonl is not None:
            self.jsonl(events)

    def on_collateral(self, ts_ns: int, asset: str, why: str) -> None:
        """Record ``asset``'s rule after an index tick or a rule change."""
        rule = self.run.ledger.collateral[asset]
        self.start_index.setdefault(asset, rule.index_usd_e8)
        row = (ts_ns, asset, rule.index_usd_e8, rule.bid_buffer_e8, rule.ask_buffer_e8, tiers_text(rule), why)
        if any(r[:6] == row[:6] for r in self.collateral_rows[-len(self.run.scenario.collateral):]):
            return  # (the start marks re-send the index that setup set: one row)
        self.collateral_rows.append(row)

    def on_liquidation(self, e: Any, generation: int) -> None:
        run = self.run
        if e.scope == "MULTI_ASSETS" and self.portfolio.get(e.account_id):
            # one Liquidation per asset account of the portfolio: the first one's trigger
            # figures (USD e8) are the account's; the row is written once
            if not any(x["account"] == e.account_id and x["ts_ns"] == e.ts_ns and x["scope"] == "multi_assets"
                       for x in self.liquidations):
                ratio = min(UNBOUNDED_RATIO_E8, run.ledger.margin_ratio_e8(e.margin_balance_atoms, e.maint_margin_atoms))
                eq, wallet, _, _, _ = self.figures(e.account_id)
                self.series.append((e.ts_ns, e.account_id, eq, wallet, e.margin_balance_atoms, e.maint_margin_atoms,
                                    ratio, "liquidation"))
                self.series_generation.append(generation)
                self.series_usd.append((eq, self.usd_prices(e.account_id)))
                self.series_collateral.append((MULTI_ASSETS, self.haircut_text(e.account_id)))
        # the trigger instant: the scope's figures the engine acted on (ratio >= 100 %),
        # before its fills; equity and wallet as they are after them
        asset = run.scenario.instrument(e.positions[0].symbol).margin_asset if e.positions else self.home
        acct = run.ledger.find_account(e.account_id, asset) if e.account_id in self.main_asset else None
        if acct is not None and asset == self.main_asset[e.account_id]:
            ratio = min(UNBOUNDED_RATIO_E8, run.ledger.margin_ratio_e8(e.margin_balance_atoms, e.maint_margin_atoms))
            self.series.append((e.ts_ns, e.account_id, run.ledger.equity_atoms(acct), acct.wallet_atoms,
                                e.margin_balance_atoms, e.maint_margin_atoms, ratio, "liquidation"))
            self.series_generation.append(generation)
            if self.multi:
                self.series_usd.append(self.usd_equity(e.account_id))
            if self.collateral_run:
                self.series_collateral.append(self.collateral_cells(e.account_id))
        self.liquidations.append(
            {
                "ts_ns": e.ts_ns,
                "after_s": _seconds(e.ts_ns - run.scenario.start_ns),
                "account": e.account_id,
                "scope": e.scope.lower(),
                "generation": generation,
                "partial": e.partial,
                "positions": [
                    f"{p.symbol} {'long' if p.qty_lots > 0 else 'short'} "
                    f"{run.scenario.instrument(p.symbol).qty_str(abs(p.qty_lots))}"
                    for p in e.positions
                ],
                "marks": [run.scenario.instrument(p.symbol).mark_str(p.mark_price_subticks) for p in e.positions],
                "margin_balance": format_atoms(e.margin_balance_atoms),
                "maint_margin": format_atoms(e.maint_margin_atoms),
                "clearance_fee": format_atoms(e.clearance_fee_atoms),
                "insurance_fund_change": format_atoms(e.insurance_fund_change_atoms),
                "insurance_fund_after": format_atoms(e.insurance_fund_atoms),
                "adl": [{"account": a.account_id, "qty": run.scenario.instrument(a.symbol).qty_str(a.qty_lots)} for a in e.adl],
                "uncovered_loss": format_atoms(e.uncovered_loss_atoms),
                "explanation": e.explanation,
                "_ratio_e8": min(UNBOUNDED_RATIO_E8, run.ledger.margin_ratio_e8(e.margin_balance_atoms, e.maint_margin_atoms)),
                "_adl_lots": sum(a.qty_lots for a in e.adl),
                "_marks_subticks": [p.mark_price_subticks for p in e.positions],
            }
        )

    def on_rejected(self, e: Any) -> None:
        self.rejected.append({"ts_ns": e.ts_ns, "account": e.account_id, "what": type(e).__name__, "reason": e.reason})

    # ------------------------------------------------------------------ samples
    def figures(self, account_id: int) -> tuple[int, int, int, int, int]:
        """``(equity, wallet, margin balance, maintenance margin, margin ratio e8)`` of an account.

        The margin figures are those of its most loaded scope (highest ratio); an account
        without positions has ratio 0. Exact integers; the ratio is rounded up.
        """
        ledger = self.run.ledger
        if self.portfolio.get(account_id):
            return self.portfolio_row(account_id)
        acct = ledger.find_account(account_id, self.main_asset.get(account_id, self.home))
        if acct is None:
            return 0, 0, 0, 0, 0
        scopes: list[tuple[int, int]] = []
        cross = False
        for pos in acct.positions.values():
            if not pos.qty_lots:
                continue
            if pos.isolated:
                scopes.append(ledger.isolated_margin_balance(pos))
            else:
                cross = True
        if cross:
            scopes.append(ledger.cross_margin_balance(acct))
        best = (0, 0, 0)
        for balance, mm in scopes:
            ratio = min(UNBOUNDED_RATIO_E8, ledger.margin_ratio_e8(balance, mm))
            if ratio >= best[2]:
                best = (balance, mm, ratio)
        return ledger.equity_atoms(acct), acct.wallet_atoms, best[0], best[1], best[2]

    def sample(self, ts_ns: int, why: str) -> None:
        generation = self.run.generation
        time_utc = utc_text(ts_ns)
        for acct in self.run.accounts:
            eq, wallet, bal, mm, ratio = self.figures(acct.account_id)
            self.series.append((ts_ns, acct.account_id, eq, wallet, bal, mm, ratio, why))
            self.series_generation.append(generation)
            if self.multi:
                self.series_usd.append(self.usd_equity(acct.account_id))
            if self.collateral_run:
                self.series_collateral.append(self.collateral_cells(acct.account_id))
            self.sample_positions(ts_ns, time_utc, acct.account_id, generation)
        if self.out_dir is not None:  # (the files only: positions_risk needs the tracks alone)
            self.sample_depth(ts_ns, time_utc, generation)
            if why == "start":
                self.distances = run_distances(self.run)

    def sample_positions(self, ts_ns: int, time_utc: str, account_id: int, generation: int) -> None:
        """positions.csv rows of one account at a sample: each open position attributed
        (:func:`exsim.liquidation.risk.account_risk`, which checks that the maintenance
        margins add up to each scope's), then a closing row for each one flat since the
        account's last sample. O(positions) plus the liquidation-price searches."""
        run = self.run
        risks = account_risk(run.ledger, run.exchange.liquidator, account_id, [a for a, _ in self.held_assets(account_id)])
        tracks = self.tracks
        write = self.out_dir is not None
        rows = self.position_rows
        inst = run.scenario.instrument
        keys = []
        for r in risks:
            key = position_key(account_id, r.symbol, r.position_side)
            keys.append(key)
            drawdown = tracks.observe(key, r, ts_ns)
            if write:
                rows.append(position_cells(ts_ns, time_utc, account_id, r, inst(r.symbol), drawdown, generation))
        for key in tracks.open_keys.get(str(account_id), ()):
            if key not in keys:
                symbol = key.split("|")[1]
                if write:
                    rows.append(closing_cells(ts_ns, time_utc, key, inst(symbol), run.exchange.mark_price_subticks(symbol) or 0,
                                              generation))
                tracks.flat(key)
        tracks.open_keys[str(account_id)] = keys

    def sample_depth(self, ts_ns: int, time_utc: str, generation: int) -> None:
        """A depth.csv row per instrument: the book's top levels each side, exact."""
        run = self.run
        for inst in run.scenario.instruments:
            book = run.exchange.book(inst.symbol)
            self.depth_rows.append((ts_ns, time_utc, inst.symbol, depth_text(book.depth(BUY, DEPTH_LEVELS), inst),
                                    depth_text(book.depth(SELL, DEPTH_LEVELS), inst), generation))

    # ------------------------------------------------------------------ multi-asset collateral
    def portfolio_row(self, account_id: int) -> tuple[int, int, int, int, int]:
        """A multi-assets account's ``(equity, wallet, margin balance, maintenance margin,
        margin ratio e8)`` in USD e8: the ledger's exact account figures, equity and
        wallet rounded down, maintenance margin up, the ratio as the collateral module gives it."""
        ledger = self.run.ledger
        if ledger.portfolio(account_id) is None:
            return 0, 0, 0, 0, 0
        fig = ledger.portfolio_figures(account_id)
        eq = usd_e40_to_usd_e8_floor(fig.equity_usd_e40)
        mm = ceil_div(fig.maint_usd_e40, 10**32)
        wallet = 0
        for asset, acct in self.held_assets(account_id):
            wallet += ledger.collateral[asset].full_value_usd_e40(acct.wallet_atoms * ATOMS_E8_PER_ATOM)
        ratio = min(UNBOUNDED_RATIO_E8, fig.margin_ratio_e8()) if fig.maint_usd_e40 else 0
        return eq, usd_e40_to_usd_e8_floor(wallet), eq, mm, ratio

    def haircut_text(self, account_id: int) -> str:
        """The haircut lost per asset of a multi-assets account, ``BTC=100.00000000;USDT=0`` (USD, rounded down)."""
        ledger = self.run.ledger
        if ledger.portfolio(account_id) is None:
            return ""
        fig = ledger.portfolio_figures(account_id)
        return ";".join(f"{a.asset}={format_atoms(usd_e40_to_usd_e8_floor(a.haircut_usd_e40))}" for a in fig.assets)

    def collateral_cells(self, account_id: int) -> tuple[str, str]:
        if self.portfolio.get(account_id):
            return MULTI_ASSETS, self.haircut_text(account_id)
        return "single-asset", ""

    def usd_prices(self, account_id: int) -> str:
        return ";".join(f"{a}={self.usd_price_text(a)}" for a, _ in self.held_assets(account_id) if a not in USD_ASSETS)

    def usd_value(self, asset: str, atoms: int) -> int | None:
        """``atoms`` of ``asset`` in USD atoms, rounded down: a collateral asset at its index
        (no haircut), any other as :class:`UsdPricer` converts it."""
        if asset in self.run.scenario.collateral:
            rule = self.run.ledger.collateral[asset]
            return usd_e40_to_usd_e8_floor(rule.full_value_usd_e40(atoms * ATOMS_E8_PER_ATOM)) if rule.index_usd_e8 else None
        return self.pricer.usd_atoms(asset, atoms)

    def usd_price_text(self, asset: str) -> str:
        if asset in self.run.scenario.collateral:
            return format_atoms(self.run.ledger.collateral[asset].index_usd_e8)
        return self.pricer.price_text(asset)

    def usd_how(self, asset: str) -> str:
        c = self.run.scenario.collateral.get(asset)
        if c is not None:
            source = f"the mark of {c.follows}" if c.follows else "fixed" if c.index_source == "price" else f"its {c.index_source} path"
            return f"collateral index ({source})"
        return self.pricer.how(asset)

    def held_assets(self, account_id: int) -> list[tuple[str, Any]]:
        """``[(asset, Account), ...]`` of the account, in the ledger's asset order."""
        ledger = self.run.ledger
        out = []
        for asset in ledger.assets:
            acct = ledger.find_account(account_id, asset)
            if acct is not None:
                out.append((asset, acct))
        return out

    def usd_equity(self, account_id: int) -> tuple[int | None, str]:
        """The account's equity over all its assets in USD atoms (None if an asset has no
        USD price yet) and the prices used (``"BTC=36500.0"``, ``;``-separated)."""
        if self.portfolio.get(account_id):  # (the account equity, haircuts applied)
            return self.portfolio_row(account_id)[0], self.usd_prices(account_id)
        total: int | None = 0
        prices = []
        for asset, acct in self.held_assets(account_id):
            v = self.usd_value(asset, self.run.ledger.equity_atoms(acct))
            if asset not in USD_ASSETS:
                prices.append(f"{asset}={self.usd_price_text(asset)}")
            total = None if v is None or total is None else total + v
        return total, ";".join(prices)

    # ------------------------------------------------------------------ the end
    def finish(self) -> dict[str, Any]:
        run = self.run
        end_ns = run.loop.now_ns or run.scenario.start_ns
        self.sample(end_ns, "end")
        for acct in run.accounts:  # the trips are the ledger's, to the atom
            held = [a for _, a in self.held_assets(acct.account_id)]
            if len(held) == 1:  # (an account's tally adds its trips up across assets: compared when it has one)
                a = held[0]
                self.trips.check(acct.account_id, a.realized_pnl_atoms, a.fees_atoms, a.funding_atoms)
        self.trips._check()
        self.open_trips = self.trips.open_trips(end_ns, self._open_value)
        summary = self.summary()
        if self.out_dir is not None:
            assert self.jsonl is not None
            self.jsonl.close()
            self._write_csvs()
            with open(self.out_dir / "instruments.json", "w") as f:  # (always: the run's grids, to read its files)
                json.dump([instrument_to_dict(i) for i in run.scenario.instruments], f, indent=1)
                f.write("\n")
            with open(self.out_dir / "summary.json", "w") as f:
                json.dump(summary, f, indent=1)
                f.write("\n")
        return summary

    def _write_csvs(self) -> None:
        assert self.out_dir is not None
        run = self.run
        names = {a.account_id: a.name for a in run.accounts}
        names[INSURANCE_FUND] = "insurance fund"
        with open(self.out_dir / "timeseries.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(SERIES_FIELDS + (ASSET_SERIES_FIELDS if self.multi else ())
                       + (COLLATERAL_SERIES_FIELDS if self.collateral_run else ()) + GENERATION_SERIES_FIELDS)
            for k, (ts, aid, eq, wallet, bal, mm, ratio, why) in enumerate(self.series):
                row: tuple[Any, ...] = (ts, utc_text(ts), aid, names[aid], format_atoms(eq), format_atoms(wallet),
                                        format_atoms(bal), format_atoms(mm), format_rate_e8(ratio, 8), why)
                if self.multi:  # (the asset columns: the account's main asset, all of it in USD, the prices)
                    usd, prices = self.series_usd[k]
                    row += (self.main_asset[aid], "" if usd is None else format_atoms(usd), prices)
                if self.collateral_run:
                    row += self.series_collateral[k]
                w.writerow(row + (self.series_generation[k],))
        with open(self.out_dir / "positions.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(POSITION_FIELDS)
            w.writerows(self.position_rows)
        with open(self.out_dir / "depth.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(DEPTH_FIELDS)
            w.writerows(self.depth_rows)
        write_distances(self.out_dir / "distances.csv", self.distances)
        if self.collateral_run:
            with open(self.out_dir / "collateral.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(COLLATERAL_FIELDS)
                for ts, asset, index, bid, ask, tiers, why in self.collateral_rows:
                    w.writerow((ts, utc_text(ts), asset, format_atoms(index), format_rate_e8(bid, 8), format_rate_e8(ask, 8),
                                tiers, why))
        with open(self.out_dir / "marks.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(MARK_FIELDS)
            for ts, symbol, mark, bid, ask, gen in self.marks:
                inst = run.scenario.instrument(symbol)
                w.writerow((ts, utc_text(ts), symbol, inst.mark_str(mark), inst.price_str(bid) if bid is not None else "",
                            inst.price_str(ask) if ask is not None else "", gen))
        with open(self.out_dir / "fills.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(FILL_FIELDS)
            for rec in self.fills:
                w.writerow(fill_row(rec, run.scenario.instrument(rec.symbol)))
        with open(self.out_dir / "trades.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(TRADE_FIELDS)
            for trip in self.trades + self.open_trips:
                w.writerow(trip_row(trip, run.scenario.instrument(trip.symbol)))

    def _open_value(self, account_id: int, symbol: str, position_side: int) -> tuple[int, int]:
        """An open position's unrealized PnL at the last mark (rounded down) and that mark."""
        ledger = self.run.ledger
        acct = ledger.find_account(account_id, self.run.scenario.instrument(symbol).margin_asset)
        pos = acct.positions.get((symbol, position_side)) if acct is not None else None
        mark = self.run.exchange.mark_price_subticks(symbol)
        if pos is None or not pos.qty_lots or not mark:
            return 0, mark or 0
        return ledger.position_figures(pos)[1], mark

    def account_summary(self, spec: Any) -> dict[str, Any]:
        run = self.run
        main = self.main_asset[spec.account_id]
        acct = run.ledger.find_account(spec.account_id, main)
        deposit_atoms = dict(spec.deposit_list(self.home)).get(main, 0)
        if self.portfolio.get(spec.account_id):  # the deposits at their index at the start, no haircut
            deposit_atoms = sum(self.start_usd_atoms(a, x) or 0 for a, x in spec.deposit_list(self.home))
        rows = [r for r in self.series if r[1] == spec.account_id]
        peak = None
        drawdown = 0
        drawdown_peak = 0
        low_ratio = (0, 0)  # (ratio, ts)
        for ts, _, eq, _, _, _, ratio, _ in rows:
            if peak is None or eq > peak:
                peak = eq
            if peak - eq > drawdown:
                drawdown, drawdown_peak = peak - eq, peak
            if ratio > low_ratio[0]:
                low_ratio = (ratio, ts)
        for x in self.liquidations:  # the ratio at each trigger (past 100 %), which no sample sees
            if x["account"] == spec.account_id and x["_ratio_e8"] > low_ratio[0]:
                low_ratio = (x["_ratio_e8"], x["ts_ns"])
        equity = rows[-1][2] if rows else 0
        curve = EquityCurve()
        for ts, _, eq, *_ in rows:
            curve.add(ts, eq)
        open_trips = [t for t in getattr(self, "open_trips", ()) if t.account_id == spec.account_id]
        stats = statistics(
            curve,
            self.trips.tally(spec.account_id),
            deposit_atoms,
            equity,
            sum(t.unrealized_atoms for t in open_trips),
            self.trips.exposed_ns(spec.account_id, curve.last_ts_ns),
            len(open_trips),
            Fraction(low_ratio[0], RATE_SCALE) if rows else None,
            low_ratio[1] if rows else None,
        )
        liqs = [dict((k, v) for k, v in x.items() if not k.startswith("_")) for x in self.liquidations if x["account"] == spec.account_id]
        adl = [x for x in self.liquidations if any(a["account"] == spec.account_id for a in x["adl"])]
        modes = sorted({p.margin_mode or run.margin_mode for p in spec.positions})
        positions = [p for _, a in self.held_assets(spec.account_id) for p in a.positions.values() if p.qty_lots]
        realised = (acct.realized_pnl_atoms - acct.fees_atoms + acct.funding_atoms) if acct is not None else 0
        wallet = acct.wallet_atoms if acct is not None else 0
        fees = acct.fees_atoms if acct is not None else 0
        funding = acct.funding_atoms if acct is not None else 0
        extra: dict[str, Any] = {}
        if self.collateral_run:
            extra = self.collateral_figures(spec)
        if self.portfolio.get(spec.account_id):  # (the account's money in USD: each asset at its index at the end)
            held = self.held_assets(spec.account_id)
            realised = sum(self.usd_value(a, x.realized_pnl_atoms - x.fees_atoms + x.funding_atoms) or 0 for a, x in held)
            fees = sum(self.usd_value(a, x.fees_atoms) or 0 for a, x in held)
            funding = sum(self.usd_value(a, x.funding_atoms) or 0 for a, x in held)
            wallet = rows[-1][3] if rows else 0
        return {
            "account": spec.account_id,
            "name": spec.name,
            "margin_mode": "/".join(modes) if modes else "-",
            "deposit": format_atoms(deposit_atoms),
            "remaining_balance": format_atoms(equity),
            "wallet": format_atoms(wallet),
            "realised_pnl": format_atoms(realised),
            "realised_loss": format_atoms(max(0, -realised)),
            "fees": format_atoms(fees),
            "funding": format_atoms(funding),
            "max_drawdown": format_atoms(drawdown),
            "max_drawdown_fraction": format_rate_e8(ceil_div(drawdown * RATE_SCALE, drawdown_peak), 8) if drawdown_peak > 0 else "0",
            "highest_margin_ratio": format_rate_e8(low_ratio[0], 8),
            "lowest_headroom": format_rate_e8(RATE_SCALE - low_ratio[0], 8),
            "lowest_headroom_after_s": _seconds(low_ratio[1] - run.scenario.start_ns) if rows else None,
            "liquidations": liqs,
            "first_liquidation_after_s": liqs[0]["after_s"] if liqs else None,
            "auto_deleveraged": len(adl),
            "open_positions": [
                f"{p.symbol} {'long' if p.qty_lots > 0 else 'short'} {run.scenario.instrument(p.symbol).qty_str(abs(p.qty_lots))}"
                for p in positions
            ],
            "statistics": stats,
            "positions_risk": self.positions_risk(spec.account_id),
            **(self.asset_figures(spec, liqs) if self.multi else {}),
            **extra,
            "_equity_atoms": equity,
            "_deposit_atoms": deposit_atoms,
            "_realised_atoms": realised,
        }

    def positions_risk(self, account_id: int) -> list[dict[str, Any]]:
        """The account's ``positions_risk`` (docs/results.md): each position it held at a
        sample, its figures at its scope's worst sample, its worst PnL and drawdown."""
        run = self.run
        risks = account_risk(run.ledger, run.exchange.liquidator, account_id, [a for a, _ in self.held_assets(account_id)])
        now = {position_key(account_id, r.symbol, r.position_side): r for r in risks}
        return positions_risk(self.tracks, account_id, now, run.scenario.instrument)

    def asset_figures(self, spec: Any, liqs: list[dict[str, Any]]) -> dict[str, Any]:
        """A multi-asset run's keys of an account: ``asset`` (the one its figures above are
        in), ``assets`` (per asset held: deposit, wallet, equity, realised PnL, fees and
        funding in that asset, and the equity's USD value), ``usd_value`` (the deposits and
        the equity over all its assets, at the start's and the end's prices)."""
        ledger = self.run.ledger
        deposits = dict(spec.deposit_list(self.home))
        assets: dict[str, Any] = {}
        start_usd: int | None = 0
        end_usd: int | None = 0
        for asset, acct in self.held_assets(spec.account_id):
            equity = ledger.equity_atoms(acct)
            usd = self.usd_value(asset, equity)
            realised = acct.realized_pnl_atoms - acct.fees_atoms + acct.funding_atoms
            assets[asset] = {
                "deposit": format_atoms(deposits.get(asset, 0)),
                "wallet": format_atoms(acct.wallet_atoms),
                "equity": format_atoms(equity),
                "realised_pnl": format_atoms(realised),
                "fees": format_atoms(acct.fees_atoms),
                "funding": format_atoms(acct.funding_atoms),
                "equity_usd": None if usd is None else format_atoms(usd),
                "usd_price": self.usd_price_text(asset),
                "usd_price_from": self.usd_how(asset),
            }
            end_usd = None if usd is None or end_usd is None else end_usd + usd
            start = self.start_usd_atoms(asset, deposits.get(asset, 0))
            start_usd = None if start is None or start_usd is None else start_usd + start
        return {
            "asset": self.main_asset[spec.account_id],
            "assets": assets,
            "usd_value": {
                "deposit": None if start_usd is None else format_atoms(start_usd),
                "remaining_balance": None if end_usd is None else format_atoms(end_usd),
            },
            "liquidation_marks": [m for x in liqs for m in x["marks"]],
        }

    def start_usd_atoms(self, asset: str, atoms: int) -> int | None:
        """``atoms`` of ``asset`` at the first mark of the instrument that prices it (a
        collateral asset: at its index at the start, no haircut)."""
        if asset in self.start_index:
            rule = CollateralRule(asset, self.start_index[asset])
            return usd_e40_to_usd_e8_floor(rule.full_value_usd_e40(atoms * ATOMS_E8_PER_ATOM))
        inst = self.pricer.source.get(asset)
        if inst is None:
            return self.pricer.usd_atoms(asset, atoms)  # a stablecoin, or None
        first = next((m[2] for m in self.marks if m[1] == inst.symbol), None)
        if first is None:
            return None
        return UsdPricer(self.run.scenario.instruments, {inst.symbol: first}.get).usd_atoms(asset, atoms)

    def summary(self) -> dict[str, Any]:
        run = self.run
        sc = run.scenario
        accounts = [self.account_summary(a) for a in run.accounts]
        explicit = [a for a, spec in zip(accounts, run.accounts) if not spec.population]
        out: dict[str, Any] = {
            "exsim_version": __version__,
            "scenario": sc.name,
            "description": sc.description,
            "source": sc.source,
            "margin_mode": run.mode,
            "venue": run.venue.name,
            "venue_from": run.venue_from,
            **({"venue_notes": list(run.venue_notes)} if run.venue_notes else {}),
            "mark": sc.mark_source,
            "paths": dict(sc.path_kinds),
            "start": utc_text(sc.start_ns),
            "duration_s": _seconds(run.loop.now_ns - sc.start_ns) if run.loop.now_ns else 0,
            "accounts": [_public(a) for a in explicit],
            "liquidations": len(self.liquidations),
            "insurance_fund_start": format_atoms(sc.insurance_fund_atoms),
            "insurance_fund_end": format_atoms(run.ledger.insurance_fund_atoms),
            "rejected": self.rejected[:20],
            "rejected_count": len(self.rejected),
            "commands": run.commands,
            "state_hash": run.exchange.state_hash(),
        }
        if self.multi:  # (a one-stablecoin run's summary is as it was)
            out["assets"] = list(run.ledger.assets)
            out["usd_conversion"] = {a: self.usd_how(a) for a in run.ledger.assets}
            out["insurance_fund_by_asset"] = {a: format_atoms(run.ledger.book(a).fund.wallet_atoms) for a in run.ledger.assets}
        if sc.population is not None:
            pop = [a for a, spec in zip(accounts, run.accounts) if spec.population]
            liquidated = [a for a in pop if a["liquidations"]]
            out["population"] = {
                "accounts": len(pop),
                "isolated": sum(1 for a in pop if a["margin_mode"] == "isolated"),
                "cross": sum(1 for a in pop if a["margin_mode"] == "cross"),
                "liquidated": len(liquidated),
                "liquidated_isolated": sum(1 for a in liquidated if a["margin_mode"] == "isolated"),
                "liquidated_cross": sum(1 for a in liquidated if a["margin_mode"] == "cross"),
                "deposits": format_atoms(sum(a["_deposit_atoms"] for a in pop)),
                "remaining_balance": format_atoms(sum(a["_equity_atoms"] for a in pop)),
                "realised_pnl": format_atoms(sum(a["_realised_atoms"] for a in pop)),
            }
        out["cascade"] = self.cascade()
        if self.collateral_run:
            out["collateral"] = self.collateral_summary()
        return out

    def collateral_figures(self, spec: Any) -> dict[str, Any]:
        """A collateral run's keys of an account (see the module doc)."""
        aid = spec.account_id
        out: dict[str, Any] = {"collateral_mode": MULTI_ASSETS if self.portfolio.get(aid) else "single-asset"}
        if self.portfolio.get(aid):
            eq, _, _, mm, ratio = self.portfolio_row(aid)
            rows = [r for r in self.series if r[1] == aid]
            out["portfolio"] = {
                "equity_usd": format_atoms(eq),
                "maint_margin_usd": format_atoms(mm),
                "margin_ratio": format_rate_e8(ratio, 8),
                "highest_margin_ratio": format_rate_e8(max((r[6] for r in rows), default=0), 8),
                "haircut_usd": dict(x.split("=") for x in self.haircut_text(aid).split(";") if x),
            }
            out["idle_collateral"] = []
        else:  # a wallet in an asset no contract settles in backs nothing in single-asset mode
            idle = self.run.scenario.collateral_assets
            out["idle_collateral"] = [f"{format_atoms(a.wallet_atoms)} {asset}" for asset, a in self.held_assets(aid)
                                      if asset in idle and a.wallet_atoms]
        return out

    def collateral_summary(self) -> dict[str, Any]:
        """Per collateral asset: where its index comes from, its start, lowest and end index,
        its rule at the end and how many times it changed."""
        out: dict[str, Any] = {}
        for asset, c in sorted(self.run.scenario.collateral.items()):
            rows = [r for r in self.collateral_rows if r[1] == asset]
            rule = self.run.ledger.collateral[asset]
            out[asset] = {
                "index_from": c.index_source,
                "start_index": format_atoms(rows[0][2]) if rows else None,
                "lowest_index": format_atoms(min(r[2] for r in rows)) if rows else None,
                "end_index": format_atoms(rule.index_usd_e8),
                "bid_buffer": format_rate_e8(rule.bid_buffer_e8, 8),
                "ask_buffer": format_rate_e8(rule.ask_buffer_e8, 8),
                "tiers": tiers_text(rule),
                "rule_changes": sum(1 for r in rows if r[6] == "rule"),
            }
        return out

    def cascade(self) -> dict[str, Any]:
        """Depth (rounds of book-driven marks that liquidated someone), price impact, fund path, ADL."""
        run = self.run
        out: dict[str, Any] = {}
        for symbol in run.scenario.paths:
            inst = run.scenario.instrument(symbol)
            marks = [m[2] for m in self.marks if m[1] == symbol]
            if not marks:
                continue
            start, low, high = marks[0], min(marks), max(marks)
            out[symbol] = {
                "start_mark": inst.mark_str(start),
                "lowest_mark": inst.mark_str(low),
                "highest_mark": inst.mark_str(high),
                "move_down_fraction": format_rate_e8(ceil_div((start - low) * RATE_SCALE, start), 8),
                "move_up_fraction": format_rate_e8(ceil_div((high - start) * RATE_SCALE, start), 8),
            }
        return {
            "generations": max((x["generation"] for x in self.liquidations), default=0),
            "liquidated_accounts": len({x["account"] for x in self.liquidations}),
            "liquidations_by_generation": _count_by(x["generation"] for x in self.liquidations),
            "price": out,
            "insurance_fund_path": [
                {"after_s": _seconds(ts - run.scenario.start_ns), "generation": g, "balance": format_atoms(b)}
                for ts, g, b in self.fund_path
            ],
            "adl_events": sum(len(x["adl"]) for x in self.liquidations),
            "adl_qty_lots": sum(x["_adl_lots"] for x in self.liquidations),
        }


def tiers_text(rule: CollateralRule) -> str:
    """A rule's tiers as text: ``"0-10:0.98;10-:0.95"`` (coins, value ratio); one open tier: its ratio."""
    if len(rule.tiers) == 1:
        return format_rate_e8(rule.tiers[0].value_ratio_e8, 8)
    out, lower = [], 0
    for upto, ratio in rule.tiers:
        top = "" if upto is None else format_scaled(upto, 8)
        out.append(f"{format_scaled(lower, 8)}-{top}:{format_rate_e8(ratio, 8)}")
        lower = upto or 0
    return ";".join(out)


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not k.startswith("_")}


def _count_by(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def _seconds(ns: int) -> str:
    """Exact seconds as text (``"600"``, ``"0.25"``)."""
    return format_scaled(ns, 9)
