"""The liquidation engine: close a failed isolated bucket or cross pool through the book.

``MARGIN-SPEC.md`` §4–5. When the ledger reports a scope liquidatable, the exchange calls
:meth:`LiquidationEngine.liquidate` inside the same command, so no other account's event
interleaves. For the scope (one isolated bucket, or every cross position of the account
at once):

1. cancel the account's open orders in scope, releasing their margin;
2. send one reduce-only IOC order per position into the book at its bankruptcy price
   (rounded to the tick away from bad debt: up for a sell, down for a buy). It is an
   ordinary order on the exchange's own path: it pays the taker fee (out of the bucket
   for an isolated position) and no margin check;
3. whatever did not fill within the bankruptcy price is taken over by the insurance fund
   at that price — unless the fund could not absorb the loss it would carry at the mark,
   in which case opposite positions of other accounts are auto-deleveraged at the
   bankruptcy price, highest ADL rank first (no fee);
4. the margin left is settled: the clearance fee (the instrument's rate on the liquidated
   notional, capped by what is left) goes to the insurance fund and the rest back to the
   trader's wallet; a deficit is covered by the fund, and what the fund cannot cover is
   reported as an uncovered loss, never hidden;
5. one :class:`~exsim.exchange.events.Liquidation` event explains it all.

Bankruptcy price: isolated ``BP = EP − s·WB/Q``; cross, all positions at once, the pool's
margin balance ``TNC`` is split in proportion to maintenance margin:
``BP_i = MP_i − s_i·TNC·(MM_i / ΣMM) / Q_i`` (closing every position at its BP leaves the
pool at zero).

Settlement assets and inverse contracts (Binance COIN-M:
https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-coin-margined-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93,
https://www.binance.com/en/support/faq/liquidation-protocols-360033525271). A scope is in
one asset: an isolated bucket in its instrument's margin asset, a cross pool is one
account's wallet in one asset (a BTC pool closes its BTC-margined positions only, never
the same trader's USDT ones). The clearance fee, the takeover, the deficit and ADL are
that asset's: its insurance fund, its accounts. An inverse position's money is its coin
value ``contracts × contract size / price``: the liquidated notional, fees and fills are
coin values (:meth:`Instrument.fill_value_atoms`), and the bankruptcy price is where the
bucket plus the PnL in coin is zero — isolated long ``P = Q·face / (M + C)``, short
``P = Q·face / (C − M)``, rounded up for a long and down for a short (away from bad
debt, as the linear rule); a cross leg's share of the pool's balance moves its value,
not its price (:func:`_inverse_cross_bankruptcy_ticks`). Partial liquidation cuts an
inverse position to just under its bracket's floor in coin.

Venues (:mod:`exsim.venues`, ``docs/venues.md``): the steps above are Binance's. The
engine's :class:`~exsim.venues.VenueProfile` picks the variant of each step, never a copy
of the engine: Bybit ladders the partial step down the tiers until the scope is safe and
gives what is left after the close at the bankruptcy price to the fund; Hyperliquid and
dYdX go through :meth:`LiquidationEngine._liquidate_through_book` (market orders in 20 %
chunks with a cooldown and a backstop vault; an IOC at the fillable price with a capped
per-fill fund delta, retries and deleveraging from a pseudo-random start).
"""

from __future__ import annotations

import hashlib
import heapq
from fractions import Fraction
from typing import TYPE_CHECKING, Callable, Final, NamedTuple

from exsim.book.orders import BUY, SELL
from exsim.instruments.instrument import USD_ASSETS
from exsim.ledger import CROSS, INSURANCE_FUND, POSITION_SIDE_NAMES, Account, Position
from exsim.ledger.accounts import Portfolio
from exsim.ledger.collateral import USD_E40_PER_USD_E8, AccountFigures, format_usd_e40
from exsim.ledger.risk_index import ALWAYS_SUBTICKS, LIQUIDATION_RATIO_E8, at_or_past_e8, isolated_threshold_subticks
from exsim.liquidation.interface import ExchangeForLiquidation, MarketView
from exsim.margin.liquidation import format_price
from exsim.venues.prices import dydx_fillable_price
from exsim.venues.profile import (
    ADL_AT_PREVIOUS_MARK,
    ADL_PNL_X_LEVERAGE,
    ADL_RANDOM_START,
    BANKRUPTCY_IOC,
    BINANCE,
    CLEARANCE_NONE,
    CLEARANCE_FILL_DELTA,
    CLEARANCE_REST,
    FUND_VAULT,
    MARKET,
    PARTIAL_LADDER,
    VenueProfile,
)
from exsim.units import (
    ATOMS_E8_PER_ATOM,
    ATOMS_PER_UNIT,
    RATE_SCALE,
    NS_PER_SECOND,
    SUBTICKS_PER_UNIT,
    atoms_e8_ceil,
    atoms_e8_floor,
    ceil_div,
    floor_div,
    format_atoms,
    format_scaled,
    mul_div_floor,
    rate_floor,
    subticks_ceil_ticks,
    subticks_floor_ticks,
)

if TYPE_CHECKING:
    from exsim.instruments import Instrument
    from exsim.ledger import Ledger


class LiquidatedPosition(NamedTuple):
    """How one position of a liquidation was closed."""

    symbol: str
    position_side: int
    qty_lots: int  # signed size at the trigger (+ long, − short)
    mark_price_subticks: int  # the mark at the trigger (1e-8 of the quote asset: finer than the tick)
    liquidation_price_subticks: int  # where margin balance met maintenance (others at their marks); 0: none
    bankruptcy_price_ticks: int
    order_id: int  # the liquidation IOC order
    filled_lots: int  # closed through the book
    fill_notional_atoms: int  # Σ price × lots of those fills (average = this / filled)
    taken_over_lots: int  # taken over by the insurance fund at the bankruptcy price
    adl_lots: int  # closed against auto-deleveraged accounts at the bankruptcy price


class AdlFill(NamedTuple):
    """One auto-deleveraged counterparty: it closed ``qty_lots`` at the bankruptcy price."""

    account_id: int
    symbol: str
    position_side: int
    qty_lots: int
    price_ticks: int
    rank: int  # 1 = first in the queue
    score_e8: int  # PnlPercent × MarginRatio, e8


def binance_adl_score(ledger: "Ledger", acct: Account, pos: Position) -> int:
    """``PnlPercent × MarginRatio`` in e8 (MARGIN-SPEC §5), rounded down.

    ``PnlPercent = max(0, UPnL) / max(1, WB)``; ``MarginRatio = MM / (WB + UPnL)``, 0 when
    ``WB + UPnL <= 0``; WB is the bucket (isolated) or the wallet (cross).
    """
    return _pnl_pct_times_ratio_e8(ledger, acct, pos, by_notional=False)


def leverage_adl_score(ledger: "Ledger", acct: Account, pos: Position) -> int:
    """``PnL% × effective leverage`` in e8 (Bybit's ADL ranking; Hyperliquid ranks by
    unrealized PnL and leverage alike), rounded down: as :func:`binance_adl_score` with
    the notional in place of the maintenance margin (``leverage = notional / (WB + UPnL)``).
    (https://www.bybit.com/en/help-center/article/Auto-Deleveraging-ADL)
    """
    return _pnl_pct_times_ratio_e8(ledger, acct, pos, by_notional=True)


def _pnl_pct_times_ratio_e8(ledger: "Ledger", acct: Account, pos: Position, *, by_notional: bool) -> int:
    """``max(0, UPnL) / max(1, WB) × X / (WB + UPnL)`` in e8, rounded down at each step;
    X the maintenance margin or the notional; 0 when ``WB + UPnL <= 0``."""
    notional, upnl, mm = ledger.position_figures(pos)
    wb = pos.margin_atoms if pos.isolated else acct.wallet_atoms
    equity = wb + upnl
    pnl_pct_e8 = mul_div_floor(max(0, upnl), RATE_SCALE, max(1, wb))
    ratio_e8 = mul_div_floor(notional if by_notional else mm, RATE_SCALE, equity) if equity > 0 else 0
    return mul_div_floor(pnl_pct_e8, ratio_e8, RATE_SCALE)


class LiquidationEngine:
    """Runs liquidations for an exchange that has a ledger.

    It asks the exchange only what :class:`~exsim.liquidation.interface.ExchangeForLiquidation`
    lists (cancel in scope, submit a liquidation order, report a takeover or ADL, emit).

    ``fund_unwind_lots``: per symbol, the most lots the insurance fund sends to the book
    per mark tick when it unwinds positions it took over (default: everything at once).
    """

    def __init__(
        self,
        exchange: ExchangeForLiquidation,
        *,
        fund_unwind_lots: dict[str, int] | None = None,
        adl_score: "Callable[[Ledger, Account, Position], int] | None" = None,
        venue: VenueProfile | None = None,
    ) -> None:
        self.exchange = exchange
        self.fund_unwind_lots = dict(fund_unwind_lots or {})
        #: whose rules: the process, who keeps what is left, who absorbs a loss
        self.venue = venue if venue is not None else BINANCE
        #: ADL ranking score (higher first); default: the venue's (Binance: MARGIN-SPEC §5's
        #: PnlPercent × MarginRatio; Bybit, Hyperliquid: PnL% × leverage; dYdX: none, a
        #: pseudo-random start)
        self.adl_score = adl_score or (
            leverage_adl_score if self.venue.adl == ADL_PNL_X_LEVERAGE else binance_adl_score
        )
        self._adl_cache: dict[tuple[int, str, bool], list] = {}
        #: scopes left liquidatable on purpose — a chunk's cooldown (Hyperliquid), or an
        #: unfilled rest retried later (Hyperliquid, dYdX): a heap of ``(due ts, seq,
        #: scope)``; the scope's ``wait_until_ns`` says whether it still waits (O(1))
        self.waiting: list[tuple[int, int, Account | Position]] = []
        self._wait_seq = 0

    @property
    def fund_history(self) -> list[tuple[int, int, int, str]]:
        """Every change of the insurance fund: ``(ts_ns, balance after, change, reason)``."""
        ledger = self.exchange.ledger
        assert ledger is not None
        return ledger.fund_history

    # ------------------------------------------------------------------ entry point
    def liquidate(self, ts: int, scope: Account | Position, balance_atoms: int, mm_atoms: int, trigger_symbol: str) -> None:
        """Liquidate one scope completely, emitting its events (see the module docstring)."""
        if type(scope) is Portfolio:
            self._liquidate_portfolio(ts, scope, balance_atoms, mm_atoms, trigger_symbol)
            return
        if self.venue.liquidation_order != BANKRUPTCY_IOC:
            self._liquidate_through_book(ts, scope, balance_atoms, mm_atoms, trigger_symbol)
            return
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        isolated = type(scope) is Position
        # the scope's account in its asset: a pool is one asset's, a bucket its instrument's
        acct = ledger.account_for(scope.account_id, scope.symbol) if isolated else scope  # type: ignore[union-attr]
        book = ledger.book(acct.asset)
        fund = book.fund
        fund_before = fund.wallet_atoms
        if isolated:
            positions = [scope]  # type: ignore[list-item]
        else:
            positions = sorted(
                (p for p in acct.positions.values() if not p.isolated),
                key=lambda p: (p.symbol, p.position_side),
            )
        self._cancel_orders_in_scope(ts, acct, scope, isolated)
        if any(ex.instrument(p.symbol).partial_liquidation for p in positions):
            if self._partial(ts, acct, scope, positions, isolated, balance_atoms, mm_atoms, trigger_symbol, fund_before):
                return  # reduced to a lower bracket and no longer liquidatable
            # a partial reduction never closes a position (it keeps the lots under the floor)
        bps = self._bankruptcy_prices(acct, positions, isolated)
        marks = [ledger.mark_subticks(p.symbol, p) for p in positions]
        lps = self.liquidation_prices(acct, positions, isolated)
        results, liquidated_notional, adl_fills = self._close_positions(ts, positions, bps, marks, lps)
        clearance, uncovered = self._settle_margin(ts, acct, positions, isolated, liquidated_notional)
        uncovered += ledger.absorb_fund_shortfall(book.asset)
        fund_change = fund.wallet_atoms - fund_before
        if fund_change:
            book.fund_history.append((ts, fund.wallet_atoms, fund_change, f"liquidation of account {acct.account_id}"))
        ex.set_fund_seen(book)
        ex.emit_liquidation(
            ts, acct.account_id, "ISOLATED" if isolated else "CROSS",
            positions[0].symbol if isolated else trigger_symbol,
            balance_atoms, mm_atoms, tuple(results), clearance, fund_change, fund.wallet_atoms,
            uncovered, tuple(adl_fills),
            self._venue_said(self.explain(
                isolated, balance_atoms, mm_atoms, trigger_symbol if not isolated else positions[0].symbol,
                results, clearance, fund_change, uncovered, adl_fills,
            ), "clearance"),
            False,
        )

    # ------------------------------------------------------------------ venues
    def release_waiting(self, ts: int) -> None:
        """Scopes whose chunk cooldown is over or whose retry is due go back to the
        ledger's pending list: liquidated again if still past the threshold. O(log waiting)
        per scope released."""
        ledger = self.exchange.ledger
        assert ledger is not None
        waiting = self.waiting
        while waiting and waiting[0][0] <= ts:
            due_ts, _, scope = heapq.heappop(waiting)
            if scope.wait_until_ns != due_ts:
                continue  # liquidated again (or recovered) since: a stale entry
            scope.wait_until_ns = 0
            if ledger.liquidatable.get(id(scope)) is scope:
                del ledger.liquidatable[id(scope)]
                ledger.pending.append(scope)

    def _venue_said(self, text: str, rule: str) -> str:
        """A non-Binance venue's explanation starts with its name and ends with the rule
        it applied (Binance's text is unchanged)."""
        venue = self.venue
        if venue.is_binance:
            return text
        sentence = venue.rule(rule)
        return f"{venue.name}: {text}" + (f" [{venue.name} rule: {sentence}]" if sentence else "")

    def _liquidate_through_book(
        self, ts: int, scope: Account | Position, balance_atoms: int, mm_atoms: int, trigger_symbol: str
    ) -> None:
        """Hyperliquid's and dYdX's process (the venue profile says which).

        - Hyperliquid: a scope past bankruptcy (margin balance < 0) is auto-deleveraged at
          the previous mark; one whose balance is under ``backstop`` (2/3) of its
          maintenance margin is taken over by the liquidator vault (the asset's fund
          account) at the bankruptcy prices, with what is left of its margin; otherwise
          each position goes to the book as a market order — a position whose notional
          is above ``chunk_above`` 20 % at a time, then a 30 s cooldown. No clearance fee.
        - dYdX: each position goes to the book as an IOC at its fillable price; per fill
          the insurance fund gets the quote received minus the bankruptcy quote, at most
          0.5 % of the quote; a rest the book did not take stays open and is retried on a
          later command, unless the scope is past bankruptcy and the fund cannot cover
          it: then it is deleveraged at the bankruptcy price from a pseudo-random start.

        A scope still open afterwards stays liquidatable and waits (:attr:`waiting`).
        """
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        venue = self.venue
        isolated = type(scope) is Position
        if scope.wait_until_ns:
            if scope.wait_until_ns > ts:
                return  # cooling down: it stays liquidatable and is retried when due
            scope.wait_until_ns = 0  # (its heap entry is then stale)
        acct = ledger.account_for(scope.account_id, scope.symbol) if isolated else scope  # type: ignore[union-attr]
        book = ledger.book(acct.asset)
        fund = book.fund
        fund_before = fund.wallet_atoms
        self._cancel_orders_in_scope(ts, acct, scope, isolated)
        positions = [scope] if isolated else sorted(  # type: ignore[list-item]
            (p for p in acct.positions.values() if not p.isolated and p.qty_lots),
            key=lambda p: (p.symbol, p.position_side),
        )
        balance_e8, mm = ledger.scope_balance_e8(scope)
        if not positions:
            return
        bps = self._bankruptcy_prices(acct, positions, isolated)
        marks = [ledger.mark_subticks(p.symbol, p) for p in positions]
        lps = self.liquidation_prices(acct, positions, isolated)
        results: list[LiquidatedPosition] = []
        adl_fills: list[AdlFill] = []
        retry_at = 0
        due: int | None = 0
        notes: list[str] = []
        rule = "order"
        money = _money_format(acct.asset)
        if venue.liquidation_order == MARKET and (
            balance_e8 < 0 or venue.backstop_den * balance_e8 < venue.backstop_num * mm * ATOMS_E8_PER_ATOM
        ):
            rule = "fund" if balance_e8 >= 0 else "adl"
            for pos, bp, mark, lp in zip(positions, bps, marks, lps):
                qty0 = pos.qty_lots
                size = abs(qty0)
                if balance_e8 >= 0:  # the vault takes the position over at its bankruptcy price
                    self._transfer(ts, pos, SELL if qty0 > 0 else BUY, size, bp, INSURANCE_FUND)
                    taken, adl_part = size, []
                else:  # past bankruptcy: deleveraged at the previous mark
                    taken, adl_part = self._absorb_remainder(ts, pos, size, bp, mark, takeover=False)
                adl_fills.extend(adl_part)
                results.append(LiquidatedPosition(pos.symbol, pos.position_side, qty0, mark, lp, bp, 0, 0, 0, taken, size - taken))
            due = ALL_LEFT if balance_e8 >= 0 else 0  # the vault takes the margin left with the positions
            notes.append(
                f"margin balance {money(atoms_e8_floor(balance_e8))} below {venue.backstop_num}/{venue.backstop_den} "
                f"of maintenance {money(mm)}: the liquidator vault took the positions and their margin over"
                if balance_e8 >= 0 else
                f"margin balance {money(atoms_e8_floor(balance_e8))} below zero: auto-deleveraged at the previous mark"
            )
        elif venue.liquidation_order == MARKET:
            for pos, bp, mark, lp in zip(positions, bps, marks, lps):
                qty0 = pos.qty_lots
                size = abs(qty0)
                qty = size
                chunked = bool(venue.chunk_above_atoms) and ledger.position_figures(pos)[0] > venue.chunk_above_atoms
                if chunked:
                    qty = min(size, max(1, ceil_div(size * venue.chunk_e8, RATE_SCALE)))
                order_id, filled, notional = self._close_through_book(ts, pos, None, qty)
                results.append(LiquidatedPosition(pos.symbol, pos.position_side, qty0, mark, lp, bp, order_id, filled, notional, 0, 0))
                if chunked and qty < size:
                    inst = ledger.instruments[pos.symbol]
                    notes.append(
                        f"{pos.symbol}: a {_shown_fixed(venue.chunk_e8, 6, 0)} % chunk ({inst.qty_str(qty)} of {inst.qty_str(size)}) "
                        f"of a position above {money(venue.chunk_above_atoms)}"
                    )
                if pos.qty_lots:
                    retry_at = max(retry_at, ts + (venue.cooldown_ns if chunked else 1))
        else:  # dYdX: IOC at the fillable price, the fund's delta per fill
            due = 0
            smmr = Fraction(venue.smmr_e8, RATE_SCALE)
            ba = Fraction(venue.bankruptcy_adjustment_e8, RATE_SCALE)
            for pos, bp, mark, lp in zip(positions, bps, marks, lps):
                inst = ledger.instruments[pos.symbol]
                qty0 = pos.qty_lots
                size = abs(qty0)
                long = qty0 > 0
                notional_e8, upnl_e8, pmmr = ledger.position_figures_e8(pos)
                # the share of the margin balance this position may lose (isolated: all of it)
                share = Fraction(balance_e8) if isolated else (
                    Fraction(balance_e8 * pmmr, mm) if mm else Fraction(balance_e8)
                )
                limit = bp
                if mm:
                    # the venue's fillable price (exsim.venues.prices, in quote units), as a
                    # tick limit: a sell's rounded up, a buy's down (never worse than it)
                    fillable = dydx_fillable_price(
                        1 if long else -1, Fraction(size * inst.lot_size_e8, RATE_SCALE),
                        Fraction(mark, SUBTICKS_PER_UNIT), Fraction(balance_e8, ATOMS_E8_PER_ATOM * ATOMS_PER_UNIT),
                        Fraction(pmmr, ATOMS_PER_UNIT), Fraction(mm, ATOMS_PER_UNIT), smmr=smmr, bankruptcy_adjustment=ba,
                    )
                    per_tick = inst.subticks_per_tick
                    if fillable is None:  # a long whose fillable price is not positive: any bid
                        limit = 1
                    elif long:
                        limit = max(1, ceil_div(fillable.numerator * SUBTICKS_PER_UNIT, fillable.denominator * per_tick))
                    else:
                        limit = max(1, floor_div(fillable.numerator * SUBTICKS_PER_UNIT, fillable.denominator * per_tick))
                fills: list[tuple[int, int]] = []
                order_id, filled, notional = self._close_through_book(ts, pos, limit, 0, fills)
                # bankruptcy quote of q lots: (notional at mark ∓ share) × q / size
                bankrupt_e8 = Fraction(notional_e8) - share if long else Fraction(notional_e8) + share
                gain = 0
                for px, q in fills:
                    quote = inst.fill_value_atoms(px, q)
                    delta = (quote * ATOMS_E8_PER_ATOM - bankrupt_e8 * q / size) if long else (
                        bankrupt_e8 * q / size - quote * ATOMS_E8_PER_ATOM
                    )
                    if delta > 0:
                        gain += min(floor_div(delta.numerator, delta.denominator * ATOMS_E8_PER_ATOM),
                                    rate_floor(quote, venue.clearance_cap_e8))
                due += gain
                results.append(LiquidatedPosition(pos.symbol, pos.position_side, qty0, mark, lp, bp, order_id, filled, notional, 0, 0))
                notes.append(
                    f"{pos.symbol}: fillable price {inst.price_str(limit)}, insurance fund delta {money(gain)} "
                    f"(at most {_shown_fixed(venue.clearance_cap_e8, 6, 1)} % of the quote)"
                )
            if any(p.qty_lots for p in positions):
                after_e8 = ledger.scope_balance_e8(scope)[0] - due * ATOMS_E8_PER_ATOM
                if after_e8 < 0 and fund.wallet_atoms * ATOMS_E8_PER_ATOM < -after_e8:
                    rule = "adl"
                    rest_positions = [p for p in positions if p.qty_lots]
                    rest_bps = self._bankruptcy_prices(acct, rest_positions, isolated)
                    for pos, bp in zip(rest_positions, rest_bps):
                        rest = abs(pos.qty_lots)
                        taken, adl_part = self._absorb_remainder(
                            ts, pos, rest, bp, ledger.mark_subticks(pos.symbol, pos), takeover=False
                        )
                        adl_fills.extend(adl_part)
                        for i, r in enumerate(results):
                            if r.symbol == pos.symbol and r.position_side == pos.position_side:
                                # (the rest's bankruptcy price, after the fills: the ADL price)
                                results[i] = r._replace(
                                    taken_over_lots=taken, adl_lots=rest - taken, bankruptcy_price_ticks=bp
                                )
                    notes.append("past bankruptcy and the insurance fund cannot cover it: deleveraged at the bankruptcy price")
                else:
                    retry_at = ts + 1
            rule = "clearance" if rule == "order" else rule
        closed = not any(p.qty_lots for p in positions)
        if closed:
            clearance, uncovered = self._settle_margin(ts, acct, positions, isolated, 0, due)
        else:
            clearance, uncovered = self._take_from_scope(acct, scope, isolated, due or 0), 0
        uncovered += ledger.absorb_fund_shortfall(book.asset)
        fund_change = fund.wallet_atoms - fund_before
        if fund_change:
            book.fund_history.append((ts, fund.wallet_atoms, fund_change, f"liquidation of account {acct.account_id}"))
        ex.set_fund_seen(book)
        if retry_at and not closed:
            scope.wait_until_ns = retry_at
            self._wait_seq += 1
            heapq.heappush(self.waiting, (retry_at, self._wait_seq, scope))
            if retry_at > ts + 1:
                notes.append(f"the next chunk after a {venue.cooldown_ns // NS_PER_SECOND} s cooldown")
            else:
                notes.append("the rest stays open and is retried")
        if closed or not retry_at:
            ledger.liquidatable.pop(id(scope), None)
        if not closed and not retry_at:
            ledger.refile(scope)
        symbol = positions[0].symbol if isolated else trigger_symbol
        text = self.explain(isolated, balance_atoms, mm_atoms, symbol, results, clearance, fund_change, uncovered, adl_fills)
        if notes:
            text += "; " + "; ".join(notes)
        ex.emit_liquidation(
            ts, acct.account_id, "ISOLATED" if isolated else "CROSS", symbol, balance_atoms, mm_atoms,
            tuple(results), clearance, fund_change, fund.wallet_atoms, uncovered, tuple(adl_fills),
            self._venue_said(text, rule), not closed,
        )

    def _take_from_scope(self, acct: Account, scope: Account | Position, isolated: bool, due: int) -> int:
        """A fee paid to the fund from a scope that stays open: from the bucket, or from
        the wallet's free part, as far as it goes. Returns what was paid."""
        ledger = self.exchange.ledger
        assert ledger is not None
        fund = ledger.book(acct.asset).fund
        if isolated:
            paid = min(due, max(0, scope.margin_atoms))  # type: ignore[union-attr]
            scope.margin_atoms -= paid  # type: ignore[union-attr]
        else:
            paid = min(due, max(0, acct.wallet_atoms - acct.held_atoms))
            acct.wallet_atoms -= paid
        fund.wallet_atoms += paid
        ledger.refile(scope)
        return paid

    def _close_positions(
        self, ts: int, positions: list[Position], bps: list[int], marks: list[int], lps: list[int]
    ) -> tuple[list[LiquidatedPosition], int, list[AdlFill]]:
        """Steps 2–3 for each position: the IOC at its bankruptcy price through the book,
        then the rest to the insurance fund or ADL. Returns the results, the liquidated
        notional (atoms: what filled plus the rest at the bankruptcy price) and the ADL fills."""
        ex = self.exchange
        results: list[LiquidatedPosition] = []
        adl_fills: list[AdlFill] = []
        liquidated_notional = 0
        for pos, bp, mark, lp in zip(positions, bps, marks, lps):
            qty0 = pos.qty_lots
            order_id, filled, notional = self._close_through_book(ts, pos, bp)
            liquidated_notional += notional
            rest = abs(pos.qty_lots)
            taken = adl = 0
            if rest:
                taken, adl_part = self._absorb_remainder(ts, pos, rest, bp, mark)
                adl = rest - taken
                adl_fills.extend(adl_part)
                liquidated_notional += ex.instrument(pos.symbol).fill_value_atoms(bp, rest)
            results.append(
                LiquidatedPosition(pos.symbol, pos.position_side, qty0, mark, lp, bp, order_id, filled, notional, taken, adl)
            )
        return results, liquidated_notional, adl_fills

    def _partial(
        self,
        ts: int,
        acct: Account,
        scope: Account | Position,
        positions: list[Position],
        isolated: bool,
        balance_atoms: int,
        mm_atoms: int,
        trigger_symbol: str,
        fund_before: int,
    ) -> bool:
        """Binance-style partial liquidation: reduce each position on a partial-liquidation
        instrument that sits above the first bracket to just under its bracket's floor
        (its notional at mark, or its entry cost when the instrument's maintenance margin
        is held at its entry value), through the book at the bankruptcy price. True when the scope is then no longer
        liquidatable (a ``Liquidation`` event with ``partial=True`` is emitted).
        """
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        results: list[LiquidatedPosition] = []
        ladder = self.venue.partial == PARTIAL_LADDER
        while True:
            step = self._reduce_one_bracket(ts, acct, positions, isolated)
            results.extend(step)
            if not any(r.filled_lots for r in step):
                break  # nothing to reduce, or the book took none of it
            if isolated and not scope.qty_lots:  # type: ignore[union-attr]
                return False
            if not ladder or not at_or_past_e8(LIQUIDATION_RATIO_E8, *ledger.scope_balance_e8(scope)):
                break  # Binance: one step; Bybit: down the tiers until safe
        if not results:
            return False
        if isolated and not scope.qty_lots:  # type: ignore[union-attr]
            return False
        balance_e8, mm = ledger.scope_balance_e8(scope)
        balance = atoms_e8_floor(balance_e8)
        if not at_or_past_e8(LIQUIDATION_RATIO_E8, balance_e8, mm):  # exact, at the subtick mark
            ledger.liquidatable.pop(id(scope), None)
            ledger.refile(scope)
            symbol = positions[0].symbol if isolated else trigger_symbol
            text = self.explain(isolated, balance_atoms, mm_atoms, symbol, results, 0, 0, 0, []).replace(
                " closed" if self.venue.is_binance else " reduced", " reduced to a lower bracket", 1
            )
            money = _money_format(acct.asset)
            fund = ledger.book(acct.asset).fund
            ex.emit_liquidation(
                ts, acct.account_id, "ISOLATED" if isolated else "CROSS", symbol, balance_atoms, mm_atoms,
                tuple(results), 0, fund.wallet_atoms - fund_before, fund.wallet_atoms, 0, (),
                self._venue_said(text + f"; now margin balance {money(balance)} > maintenance {money(mm)}", "order"), True,
            )
            return True
        return False

    def _reduce_one_bracket(
        self, ts: int, acct: Account, positions: list[Position], isolated: bool
    ) -> list[LiquidatedPosition]:
        """One partial step: every position on a partial-liquidation instrument above its
        first bracket is cut to just under its bracket's floor, through the book at its
        bankruptcy price. Returns what was sent (empty: nothing to reduce)."""
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        positions = [p for p in positions if p.qty_lots]
        if not positions:
            return []
        bps = self._bankruptcy_prices(acct, positions, isolated)
        lps = self.liquidation_prices(acct, positions, isolated)
        results: list[LiquidatedPosition] = []
        for pos, bp, lp in zip(positions, bps, lps):
            inst = ex.instrument(pos.symbol)
            if not inst.partial_liquidation:
                continue
            mark = ledger.mark_subticks(pos.symbol, pos)
            if inst.maint_margin_basis == "entry":
                # MM is on the entry cost: get the cost left under the bracket's floor. Each
                # fill leaves ceil(cost·left/size) (the ledger realizes the floor of the
                # share), so after n fills the cost left is < cost·keep/size + n, n < size:
                # keep ≤ (floor − 1 − size)·size / cost is enough whatever the fills
                size = abs(pos.qty_lots)
                bracket = inst.brackets.bracket_for(pos.cost_atoms)
                if bracket.bracket <= 1:
                    continue
                keep = floor_div((bracket.floor_atoms - 1 - size) * size, pos.cost_atoms)
            elif inst.inverse:
                # coin notional ceil(lots × face / mark) (1e-8 atoms); it is at most the
                # floor less one atom exactly when lots × face ≤ (floor − 1) × 1e8 × mark
                bracket = inst.brackets.bracket_for(inst.value_atoms_e8(mark, abs(pos.qty_lots)) // ATOMS_E8_PER_ATOM)
                if bracket.bracket <= 1:
                    continue
                keep = floor_div((bracket.floor_atoms - 1) * ATOMS_E8_PER_ATOM * mark, inst.inverse_atoms_e8_per_lot_subtick)
            else:
                per_lot = mark * inst.lot_size_e8  # 1e-8 atoms of notional per lot at the mark
                bracket = inst.brackets.bracket_for(abs(pos.qty_lots) * per_lot // ATOMS_E8_PER_ATOM)
                if bracket.bracket <= 1:
                    continue
                keep = floor_div((bracket.floor_atoms - 1) * ATOMS_E8_PER_ATOM, per_lot)  # lots under the floor
            cut = abs(pos.qty_lots) - keep
            if cut <= 0 or keep <= 0:
                continue
            qty0 = pos.qty_lots
            order_id, filled, fill_notional = self._close_through_book(ts, pos, bp, cut)
            results.append(
                LiquidatedPosition(pos.symbol, pos.position_side, qty0, mark, lp, bp, order_id, filled, fill_notional, 0, 0)
            )
        return results

    # ------------------------------------------------------------------ steps
    def _cancel_orders_in_scope(self, ts: int, acct: Account, scope: Account | Position, isolated: bool) -> None:
        """Cancel the account's open orders on the liquidated scope (arrival order)."""
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        for order_id, symbol in list(acct.order_ids.items()):
            if isolated:
                if symbol != scope.symbol:  # type: ignore[union-attr]
                    continue
                order = ex.open_order(symbol, order_id)
                if order is not None and order.position_side != scope.position_side:  # type: ignore[union-attr]
                    continue
            elif ledger.margin_mode(acct, symbol) != CROSS:
                continue
            ex.cancel_in_scope(ts, symbol, order_id)

    def _bankruptcy_prices(
        self, acct: Account, positions: list[Position], isolated: bool, pool_e8: int | None = None
    ) -> list[int]:
        """Each position's bankruptcy price in ticks (an order price), rounded away from bad
        debt (min 1 tick); a cross position's is the mark (subticks) less its share.
        ``pool_e8``: the margin balance the positions share (1e-8 atoms; default the
        pool's own, wallet − held + UPnL; a multi-assets account passes its part of the
        account equity)."""
        ledger = self.exchange.ledger
        assert ledger is not None
        out = []
        if isolated:
            pos = positions[0]
            inst = ledger.instruments[pos.symbol]
            if inst.inverse:
                out.append(_inverse_isolated_bankruptcy_ticks(inst, pos))
                return out
            atpl = inst.atoms_per_tick_lot
            size = abs(pos.qty_lots) * atpl
            if pos.qty_lots > 0:  # long: sell at BP = (cost − margin) / size, rounded up
                out.append(max(1, ceil_div(pos.cost_atoms - pos.margin_atoms, size)))
            else:  # short: buy at BP = (cost + margin) / size, rounded down
                out.append(max(1, floor_div(pos.cost_atoms + pos.margin_atoms, size)))
            return out
        figures = [ledger.position_figures_e8(p) for p in positions]
        # money still held for orders outside the scope (isolated ones) is not the pool's
        tnc = (acct.wallet_atoms - acct.held_atoms) * ATOMS_E8_PER_ATOM + sum(f[1] for f in figures)
        if pool_e8 is not None:
            tnc = pool_e8
        total_mm = sum(f[2] for f in figures) or 1
        for pos, (_, _, mm) in zip(positions, figures):
            inst = ledger.instruments[pos.symbol]
            per_tick = inst.subticks_per_tick
            mark = ledger.mark_subticks(pos.symbol, pos)
            if inst.inverse:
                out.append(_inverse_cross_bankruptcy_ticks(inst, pos, mark, floor_div(tnc * mm, total_mm)))
                continue
            size = abs(pos.qty_lots) * inst.lot_size_e8
            # the position's share of the pool's margin balance, in subticks of price move
            num = tnc * mm
            den = total_mm * size
            if pos.qty_lots > 0:  # BP = MP − share: a sell, rounded up to a tick
                out.append(max(1, subticks_ceil_ticks(mark - floor_div(num, den), per_tick)))
            else:  # BP = MP + share: a buy, rounded down to a tick
                out.append(max(1, subticks_floor_ticks(mark + floor_div(num, den), per_tick)))
        return out

    def liquidation_prices(self, acct: Account, positions: list[Position], isolated: bool) -> list[int]:
        """Each position's liquidation price in subticks at the trigger (0 when there is none).

        Isolated: the bucket's exact threshold. Cross: the price of that contract at which
        the pool's margin balance meets its maintenance margin, the other contracts held at
        their marks — the same search on a stand-in bucket holding the rest of the pool.
        """
        ledger = self.exchange.ledger
        assert ledger is not None
        if isolated:
            hit = isolated_threshold_subticks(ledger, positions[0], LIQUIDATION_RATIO_E8)
            return [self._shown_threshold(hit, ledger.marks.get(positions[0].symbol, 0))]
        figures = [ledger.position_figures(p) for p in positions]
        base = acct.wallet_atoms - acct.held_atoms + sum(f[1] for f in figures) - sum(f[2] for f in figures)
        out = []
        for pos, (_, upnl, mm) in zip(positions, figures):
            stand_in = Position(pos.account_id, pos.symbol, pos.position_side, True, pos.leverage)
            stand_in.qty_lots = pos.qty_lots
            stand_in.cost_atoms = pos.cost_atoms
            stand_in.margin_atoms = base - upnl + mm  # the rest of the pool backs this contract
            hit = isolated_threshold_subticks(ledger, stand_in, LIQUIDATION_RATIO_E8)
            out.append(self._shown_threshold(hit, ledger.marks.get(pos.symbol, 0)))
        return out

    @staticmethod
    def _shown_threshold(hit: tuple[int, int] | None, mark_subticks: int) -> int:
        """A threshold as a liquidation price: 0 for none; the mark for a position that is
        at its threshold at every price (``ALWAYS_SUBTICKS``: nothing above it to show)."""
        if hit is None:
            return 0
        return mark_subticks if hit[1] >= ALWAYS_SUBTICKS else hit[1]

    def _close_through_book(
        self, ts: int, pos: Position, bp: int | None, qty: int = 0, fills_out: list | None = None
    ) -> tuple[int, int, int]:
        """Send the reduce-only IOC liquidation order for ``qty`` lots (default: all) at
        limit ``bp`` ticks (None: a market order); return (order id, filled lots,
        notional). ``fills_out`` receives each fill's ``(price ticks, lots)``."""
        inst = self.exchange.instrument(pos.symbol)
        qty = qty or abs(pos.qty_lots)
        side = SELL if pos.qty_lots > 0 else BUY
        order_id, filled, fills = self.exchange.submit_liquidation_order(
            ts, pos.symbol, pos.account_id, side, qty, bp, pos.position_side
        )
        if inst.inverse:  # each fill's coin value, rounded down as the ledger books it
            notional = sum(inst.fill_value_atoms(px, q) for px, q in fills)
        else:
            notional = sum(px * q for px, q in fills) * inst.atoms_per_tick_lot
        if fills_out is not None:
            fills_out.extend(fills)
        return order_id, filled, notional

    def _absorb_remainder(
        self, ts: int, pos: Position, rest: int, bp: int, mark: int, takeover: bool = True
    ) -> tuple[int, list[AdlFill]]:
        """Insurance-fund takeover at the bankruptcy price, or ADL when the fund cannot absorb it.

        ``takeover=False`` (dYdX): straight to deleveraging. ADL closes at the bankruptcy
        price, or at the previous mark under Hyperliquid's rule. Returns (lots taken over,
        ADL fills).
        """
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        inst = ledger.instruments[pos.symbol]
        long = pos.qty_lots > 0
        close_side = SELL if long else BUY
        # the fund would hold the position at bp; its loss at the (subtick) mark right away,
        # rounded up (the fund must be able to carry all of it)
        if inst.inverse:  # the coin value booked at bp, valued at the mark
            upnl = inst.upnl_atoms_e8(rest if long else -rest, inst.fill_value_atoms(bp, rest), mark)
            loss_now = max(0, atoms_e8_ceil(-upnl))
        else:
            bp_sub = bp * inst.subticks_per_tick
            per = rest * inst.lot_size_e8
            loss_now = max(0, atoms_e8_ceil((bp_sub - mark) * per if long else (mark - bp_sub) * per))
        fund = ledger.fund_of(pos.symbol)  # the insurance fund of the instrument's margin asset
        fund_upnl = sum(ledger.position_figures(p)[1] for p in fund.positions.values())
        if takeover and fund.wallet_atoms + fund_upnl - loss_now >= 0:
            self._transfer(ts, pos, close_side, rest, bp, INSURANCE_FUND)
            return rest, []
        price = bp
        if self.venue.adl_price == ADL_AT_PREVIOUS_MARK:
            # the mark before the one that liquidated it (rounded in the deleveraged
            # counterparty's favour: it buys a long lower, sells a short higher)
            prev = ex.previous_mark_subticks(pos.symbol) or mark
            per_tick = inst.subticks_per_tick
            price = max(1, subticks_floor_ticks(prev, per_tick) if long else subticks_ceil_ticks(prev, per_tick))
        bp = price
        fills: list[AdlFill] = []
        left = rest
        queue = self._adl_queue(ex.command_seq, pos.symbol, long)
        ranked = queue[1]
        i = queue[0]
        while left and i < len(ranked):
            score, cand = ranked[i]
            if not cand.qty_lots or (cand.qty_lots > 0) == long:
                i += 1  # closed (or flipped) since the queue was ranked
                continue
            if cand.account_id == pos.account_id or not self._profitable_at(cand, bp, inst):
                # never one's own other leg; never a position that would realize a loss at
                # the bankruptcy price (it could be pushed below zero)
                i += 1
                continue
            take = min(left, abs(cand.qty_lots))
            self._transfer(ts, pos, close_side, take, bp, cand.account_id, cand)
            fills.append(AdlFill(cand.account_id, cand.symbol, cand.position_side, take, bp, i + 1, score))
            left -= take
            if not cand.qty_lots:
                i += 1
        queue[0] = i
        taken = 0
        if left:  # nobody left to deleverage: the fund takes it whatever it costs (reported)
            self._transfer(ts, pos, close_side, left, bp, INSURANCE_FUND)
            taken = left
        return taken, fills

    @staticmethod
    def _profitable_at(pos: Position, price: int, inst: "Instrument") -> bool:
        """Whether closing ``pos`` at ``price`` realizes a gain or nothing (never a loss).

        Linear: a long gains when the exit value is at least the cost. Inverse: the coin
        value falls as the price rises, so a long gains when it is at most the cost.
        """
        value = inst.fill_value_atoms(price, abs(pos.qty_lots))
        return value >= pos.cost_atoms if (pos.qty_lots > 0) != inst.inverse else value <= pos.cost_atoms

    def _adl_queue(self, ts: int, symbol: str, liquidated_long: bool) -> list:
        """``[next index, ranked (score, position) list]``: opposite positions of other
        accounts, highest :attr:`adl_score` first (ties: lower account id).

        Ranked once per command and instrument side (``ts`` is the exchange's command
        counter), then consumed from the front, so a cascade of liquidations in one
        command pays the O(positions) ranking once (venues likewise rank their ADL queue
        periodically, not per liquidation).
        """
        key = (ts, symbol, liquidated_long)
        cached = self._adl_cache.get(key)
        if cached is not None:
            return cached
        self._adl_cache = {}  # only the current timestamp's queues are kept
        ledger = self.exchange.ledger
        assert ledger is not None
        ranked: list[tuple[int, int, int, Position]] = []
        score_of = self.adl_score
        accounts = ledger.book_of(symbol).accounts  # the accounts of the instrument's margin asset
        if self.venue.adl == ADL_RANDOM_START:
            # dYdX: the offsetting accounts in account order from a pseudo-random start
            # (reproducible: drawn from the command counter, the instrument and the side)
            offsetting = [
                p for account_id in sorted(accounts)
                for (s, _), p in sorted(accounts[account_id].positions.items())
                if s == symbol and p.qty_lots and (p.qty_lots > 0) != liquidated_long
            ]
            if offsetting:
                digest = hashlib.blake2b(f"{ts}:{symbol}:{int(liquidated_long)}".encode(), digest_size=8).digest()
                start = int.from_bytes(digest, "big") % len(offsetting)
                offsetting = offsetting[start:] + offsetting[:start]
            queue = [0, [(0, p) for p in offsetting]]
            self._adl_cache[key] = queue
            return queue
        for account_id in sorted(accounts):
            acct = accounts[account_id]
            for (s, _), p in acct.positions.items():
                if s != symbol or (p.qty_lots > 0) == liquidated_long:
                    continue
                ranked.append((-score_of(ledger, acct, p), account_id, p.position_side, p))
        ranked.sort(key=lambda r: r[:3])
        queue = [0, [(-neg, p) for neg, _, _, p in ranked]]
        self._adl_cache[key] = queue
        return queue

    def _transfer(
        self, ts: int, pos: Position, close_side: int, lots: int, price: int, to_account: int, cand: Position | None = None
    ) -> None:
        """Close ``lots`` of the liquidated position against ``to_account`` at ``price``, no fee."""
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        symbol = pos.symbol
        liq = ledger.apply_fill(pos.account_id, 0, symbol, close_side, lots, price, 0, pos.position_side, True)
        other_side = cand.position_side if cand is not None else 0
        other = ledger.apply_fill(to_account, 0, symbol, close_side ^ 1, lots, price, 0, other_side)
        ex.report_transfer(ts, liq, other)  # (a deleveraged position shrank: its resting closing orders too)

    def _settle_margin(
        self,
        ts: int,
        acct: Account,
        positions: list[Position],
        isolated: bool,
        liquidated_notional: int,
        due_atoms: int | None = None,
    ) -> tuple[int, int]:
        """Clearance fee to the fund, the rest to the wallet, a deficit from the fund.

        The fee is the venue's: Binance the instrument's rate on the liquidated notional;
        Bybit everything left (the close was at the bankruptcy price); Hyperliquid none;
        dYdX ``due_atoms`` (its per-fill insurance-fund delta). Returns (clearance fee,
        uncovered loss).
        """
        ledger = self.exchange.ledger
        assert ledger is not None
        book = ledger.book(acct.asset)
        fund = book.fund
        clearance = self.venue.clearance
        if due_atoms is not None:
            due = due_atoms
        elif clearance == CLEARANCE_NONE:
            due = 0
        elif clearance == CLEARANCE_REST:
            due = ALL_LEFT
        else:
            rate = max(ledger.instruments[p.symbol].clearance_fee_e8 for p in positions)
            due = rate_floor(liquidated_notional, rate)
        if isolated:
            pos = positions[0]
            left = pos.margin_atoms
            pos.margin_atoms = 0
        else:
            left = acct.wallet_atoms - acct.held_atoms  # holds outside the scope stay backed
            acct.wallet_atoms = acct.held_atoms
        fee = min(due, max(0, left))
        left -= fee
        fund.wallet_atoms += fee
        uncovered = 0
        if left < 0:  # bad debt: the fund covers what it can (a backstop vault: all of it)
            cover = -left if ledger.fund_may_go_negative else min(-left, fund.wallet_atoms)
            fund.wallet_atoms -= cover
            uncovered = -left - cover
            book.uncovered_loss_atoms += uncovered
            left = 0
        acct.wallet_atoms += left
        ledger.refile(acct)
        return fee, uncovered

    # ------------------------------------------------------------------ multi-assets
    def _liquidate_portfolio(self, ts: int, pf: Portfolio, balance_usd_e8: int, mm_usd_e8: int, trigger: str) -> None:
        """Liquidate a multi-assets account: every position of every asset at once.

        1. cancel every open order of the trader;
        2. the account equity (USD, after haircuts) is shared among the positions in
           proportion to their maintenance margin at the ask rate; each asset's part,
           converted back at its ask rate, is the pool its positions' bankruptcy prices
           come from (the cross rule, per asset); each position goes to the book at its
           bankruptcy price, the rest to the asset's insurance fund or ADL;
        3. settlement: negative asset balances are bought back with the others through
           the exchange desk (auto-exchange, reason LIQUIDATION); each asset's clearance
           fee is paid from what is left in it, then by auto-exchange from the other
           assets as far as they go (the rest is waived); a balance still negative is the
           asset's bad debt, covered by its insurance fund (or reported uncovered);
        4. one ``Liquidation`` event per asset that had positions (scope ``MULTI_ASSETS``;
           the balance and maintenance margin fields are the account's, in 1e-8 USD; the
           money fields that asset's), each explaining the whole account.
        """
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        figures = ledger.portfolio_figures(pf.account_id)
        accounts = [a for a in pf.accounts.values() if a.positions]
        funds_before = {a.asset: ledger.book(a.asset).fund.wallet_atoms for a in pf.accounts.values()}
        for acct in list(pf.accounts.values()):
            self._cancel_orders_in_scope(ts, acct, acct, False)
        by_asset = {f.asset: f for f in figures.assets}
        total_mm = figures.maint_usd_e40
        per: list[tuple[Account, list[Position], list[LiquidatedPosition], int, list[AdlFill]]] = []
        conversions: list[tuple[int, str, int, str, int, str]] = []
        for acct in accounts:
            positions = sorted(acct.positions.values(), key=lambda p: (p.symbol, p.position_side))
            rule = ledger.collateral[acct.asset]
            # this asset's part of the account equity, back in its atoms (1e-8) at the ask rate
            share_usd = floor_div(figures.equity_usd_e40 * by_asset[acct.asset].maint_usd_e40, total_mm) if total_mm else 0
            ask = rule.ask_rate_e24()
            pool_e8 = floor_div(share_usd, ask) if ask else 0
            bps = self._bankruptcy_prices(acct, positions, False, pool_e8)
            marks = [ledger.mark_subticks(p.symbol, p) for p in positions]
            lps = [portfolio_liquidation_subticks(ledger, pf, p) for p in positions]
            results, notional_total, adl_fills = self._close_positions(ts, positions, bps, marks, lps)
            per.append((acct, positions, results, notional_total, adl_fills))
        # settlement: buy back negative balances, then clearance fees, then bad debt
        for acct in list(pf.accounts.values()):
            if acct.wallet_atoms < 0:
                conversions.extend(ledger.auto_exchange(pf.account_id, acct.asset, "LIQUIDATION"))
        fees: dict[str, int] = {}
        for acct, positions, _, notional, _ in per:
            rate = max(ledger.instruments[p.symbol].clearance_fee_e8 for p in positions)
            due = rate_floor(notional, rate)
            paid = min(due, max(0, acct.wallet_atoms))
            acct.wallet_atoms -= paid
            unpaid = due - paid
            if unpaid:
                acct.wallet_atoms -= unpaid  # bought with the other assets as far as they go
                conversions.extend(ledger.auto_exchange(pf.account_id, acct.asset, "LIQUIDATION"))
                waived = max(0, -acct.wallet_atoms)
                acct.wallet_atoms += waived
                paid += unpaid - waived
            ledger.book(acct.asset).fund.wallet_atoms += paid
            fees[acct.asset] = paid
        uncovered: dict[str, int] = {}
        for acct in list(pf.accounts.values()):
            book = ledger.book(acct.asset)
            if acct.wallet_atoms < 0:  # bad debt of this asset: its fund covers what it can
                book.fund.wallet_atoms += acct.wallet_atoms
                acct.wallet_atoms = 0
            uncovered[acct.asset] = ledger.absorb_fund_shortfall(acct.asset)
        ledger.liquidatable.pop(id(pf), None)
        ledger.refile(pf)
        for conversion in conversions:
            ex.emit_auto_exchange(ts, conversion)
        head = self._explain_portfolio(pf.account_id, figures, trigger)
        for acct, positions, results, _, adl_fills in per:
            book = ledger.book(acct.asset)
            fund = book.fund
            change = fund.wallet_atoms - funds_before[acct.asset]
            if change:
                book.fund_history.append((ts, fund.wallet_atoms, change, f"liquidation of account {acct.account_id}"))
            ex.set_fund_seen(book)
            text = head + "; " + self.explain(
                False, 0, 0, "", results, fees[acct.asset], change, uncovered.get(acct.asset, 0), adl_fills
            ).split("; ", 1)[1]
            ex.emit_liquidation(
                ts, pf.account_id, "MULTI_ASSETS", trigger, balance_usd_e8, mm_usd_e8, tuple(results),
                fees[acct.asset], change, fund.wallet_atoms, uncovered.get(acct.asset, 0), tuple(adl_fills), text, False,
            )

    def _explain_portfolio(self, account_id: int, figures: AccountFigures, trigger: str) -> str:
        """The account-level half of a multi-assets liquidation's explanation: per asset its
        equity, the haircut lost, the maintenance margin at the ask rate; the account
        margin ratio at the trigger."""
        ledger = self.exchange.ledger
        assert ledger is not None
        usd = lambda v: format_usd_e40(v, 2)  # noqa: E731
        ratio = figures.margin_ratio_e8()
        shown = "∞" if ratio >= 1 << 62 else f"{_shown_fixed(ratio, 6, 2)} %"
        where = ""
        if trigger.startswith("@"):
            asset, _, what = trigger[1:].partition(":")
            rule = ledger.collateral[asset]
            if what == "rule":
                ratios = ", ".join(_shown_fixed(r, 8, 4) for _, r in rule.tiers)
                where = (
                    f" after the {asset} haircut changed (bid buffer {_shown_fixed(rule.bid_buffer_e8, 6, 2)} %, "
                    f"ask buffer {_shown_fixed(rule.ask_buffer_e8, 6, 2)} %, value ratio{'s' if len(rule.tiers) > 1 else ''} {ratios})"
                )
            else:
                where = f" when the {asset} index moved to {_shown_fixed(rule.index_usd_e8, 8, 2)} USD"
        elif trigger:
            where = f" at {trigger} mark {ledger.instruments[trigger].mark_str(ledger.marks.get(trigger, 0))}"
        items = []
        for f in figures.assets:
            if not (f.equity_atoms_e8 or f.maint_margin_atoms):
                continue
            money = _money_format(f.asset)
            text = f"{f.asset} equity {money(atoms_e8_floor(f.equity_atoms_e8))} worth {usd(f.value_usd_e40)} USD"
            if f.haircut_usd_e40:
                text += f" (haircut {usd(f.haircut_usd_e40)} USD)"
            if f.maint_margin_atoms:
                text += f", maintenance {money(f.maint_margin_atoms)} = {usd(f.maint_usd_e40)} USD at the ask rate"
            items.append(text)
        return (
            f"multi-assets account {account_id}: margin ratio {shown} (maintenance {usd(figures.maint_usd_e40)} USD "
            f"vs account equity {usd(figures.equity_usd_e40)} USD){where}; " + "; ".join(items)
        )

    # ------------------------------------------------------------------ fund unwinding
    def unwind_fund(self, ts: int, market: MarketView) -> None:
        """Send the fund's positions on this instrument to the book, ``fund_unwind_lots`` at a time."""
        ex = self.exchange
        ledger = ex.ledger
        assert ledger is not None
        symbol = market.instrument.symbol
        pos = ledger.fund_of(symbol).positions.get((symbol, 0))
        if pos is None or not pos.qty_lots:
            return
        qty = abs(pos.qty_lots)
        pace = self.fund_unwind_lots.get(symbol)
        if pace:
            qty = min(qty, pace)
        side = SELL if pos.qty_lots > 0 else BUY
        ex.submit_liquidation_order(ts, symbol, INSURANCE_FUND, side, qty, None, label="FUND_UNWIND", liquidation=False)

    # ------------------------------------------------------------------ words
    def explain(
        self,
        isolated: bool,
        balance: int,
        mm: int,
        symbol: str,
        results: list[LiquidatedPosition],
        clearance: int,
        fund_change: int,
        uncovered: int,
        adl: list[AdlFill],
    ) -> str:
        """One line a person can read: why, at which mark, what was closed and who paid."""
        ex = self.exchange
        # every position of a scope settles in one asset (a pool is one asset's)
        money = _money_format(ex.instrument(results[0].symbol if results else symbol).margin_asset)
        scope = "isolated bucket" if isolated else "cross pool"
        mark = next((r.mark_price_subticks for r in results if r.symbol == symbol), 0)
        where = f" at {symbol} mark {ex.instrument(symbol).mark_str(mark)}" if symbol and mark else ""
        held, steps, done = len(results), "", "closed"  # (Binance's words, as they always were)
        if not self.venue.is_binance:
            held = len({(r.symbol, r.position_side) for r in results})
            steps = f" in {len(results)} steps" if len(results) > held else ""
            if not all(r.filled_lots + r.taken_over_lots + r.adl_lots == abs(r.qty_lots) for r in results):
                done = "reduced"
        fund_name = "liquidator vault" if self.venue.fund == FUND_VAULT else "insurance fund"
        parts = [
            f"{scope}: margin balance {money(balance)} <= maintenance {money(mm)}{where}; "
            f"{held} position{'s' if held != 1 else ''} {done}{steps}"
        ]
        for r in results:
            inst = ex.instrument(r.symbol)
            side = "long" if r.qty_lots > 0 else "short"
            text = f"{r.symbol} {POSITION_SIDE_NAMES[r.position_side].lower()} {side} {inst.qty_str(abs(r.qty_lots))}"
            if r.liquidation_price_subticks:
                text += f" (liquidation price {inst.mark_str(r.liquidation_price_subticks)},"
            else:
                text += " ("
            text += f" bankruptcy {inst.price_str(r.bankruptcy_price_ticks)}): {inst.qty_str(r.filled_lots)} through the book"
            if r.filled_lots:
                tick = Fraction(inst.tick_size)
                # the average fill price: the notional over the size (harmonic for inverse)
                avg = (inst.entry_price_ticks(r.filled_lots, r.fill_notional_atoms) or Fraction(0)) * tick
                slip = avg - Fraction(r.mark_price_subticks, SUBTICKS_PER_UNIT)
                text += f" at average {format_price(avg, round_up=r.qty_lots > 0)}"
                text += f" ({'+' if slip >= 0 else '-'}{format_price(abs(slip), round_up=True)} vs mark)"
            if r.taken_over_lots:
                text += f", {inst.qty_str(r.taken_over_lots)} taken over by the {fund_name}"
            if r.adl_lots:
                text += f", {inst.qty_str(r.adl_lots)} auto-deleveraged"
            parts.append(text)
        fee_name = _FEE_NAMES.get(self.venue.clearance, "clearance fee")
        fee = "no clearance fee" if self.venue.clearance == CLEARANCE_NONE and not clearance else f"{fee_name} {money(clearance)}"
        parts.append(f"{fee}; {fund_name} {'+' if fund_change >= 0 else ''}{money(fund_change)}")
        if adl:
            parts.append("ADL: " + ", ".join(f"#{a.rank} account {a.account_id} {a.qty_lots} lots" for a in adl))
        if uncovered:
            parts.append(f"UNCOVERED LOSS {money(uncovered)}")
        return "; ".join(parts)


def portfolio_liquidation_subticks(ledger: "Ledger", pf: Portfolio, pos: Position) -> int:
    """The mark (subticks) of ``pos``'s instrument at which the multi-assets account
    reaches a 100 % margin ratio, every other price held; 0 when no price does. For
    display: a bisection on the ledger's exact figures (the ratio is monotone in one
    instrument's price while haircuts stay above its maintenance rate). O(log price × positions)."""
    symbol = pos.symbol
    marks = ledger.marks
    saved = marks.get(symbol)
    mark = ledger.mark_subticks(symbol, pos)
    long = pos.qty_lots > 0

    def hit(price: int) -> bool:
        marks[symbol] = price
        return ledger.portfolio_figures(pf.account_id).liquidatable(LIQUIDATION_RATIO_E8)

    try:
        # long: the liquidating prices are those at or below the threshold (the highest
        # price that hits); short: at or above it (the lowest). Bracket the boundary from
        # the mark by doubling, then bisect.
        at_mark = hit(mark)
        if long:
            if at_mark:
                lo, hi = mark, mark * 2
                for _ in range(64):
                    if not hit(hi):
                        break
                    lo, hi = hi, hi * 2
                else:
                    return mark  # every price liquidates it: nothing above to show
            else:
                if not hit(1):
                    return 0
                lo, hi = 1, mark
            while hi - lo > 1:  # hit(lo), not hit(hi)
                mid = (lo + hi) // 2
                if hit(mid):
                    lo = mid
                else:
                    hi = mid
            return lo
        if at_mark:
            lo, hi = mark // 2, mark
            while lo >= 1 and hit(lo):
                hi, lo = lo, lo // 2
            if lo < 1:
                return mark
        else:
            lo, hi = mark, mark * 2
            for _ in range(64):
                if hit(hi):
                    break
                lo, hi = hi, hi * 2
            else:
                return 0
        while hi - lo > 1:  # not hit(lo), hit(hi)
            mid = (lo + hi) // 2
            if hit(mid):
                hi = mid
            else:
                lo = mid
        return hi
    finally:
        if saved is None:
            marks.pop(symbol, None)
        else:
            marks[symbol] = saved


#: a fee "due" larger than any margin: the fund (or vault) takes whatever is left
ALL_LEFT: Final = 1 << 127

#: what the explanation calls the event's ``clearance_fee_atoms`` under each venue's rule
_FEE_NAMES: Final = {
    CLEARANCE_REST: "margin left to the insurance fund",
    CLEARANCE_NONE: "margin to the liquidator vault",
    CLEARANCE_FILL_DELTA: "insurance fund's share of the fills",
}


def _shown_fixed(n: int, scale_places: int, places: int) -> str:
    """A non-negative ``n × 10**-scale_places`` (a rate e8 as a percent: scale 6; an index
    e8: scale 8) shown with exactly ``places`` decimals, truncated (for explanations)."""
    return format_scaled(floor_div(n, 10 ** (scale_places - places)), places, places)


def _money_format(asset: str) -> "Callable[[int], str]":
    """How an explanation shows atoms of ``asset``: a USD stablecoin with 2 decimals (as
    always), any other asset (a coin: BTC of COIN-M) with all 8 and its name."""
    if asset in USD_ASSETS:
        return lambda a: format_atoms(a, 2)
    return lambda a: f"{format_atoms(a, 8)} {asset}"


#: settlement assets shown in cents (linear explanations stay as they were)


def _inverse_isolated_bankruptcy_ticks(inst: "Instrument", pos: Position) -> int:
    """The bankruptcy price (ticks) of an isolated inverse position: where bucket M, cost
    C and exit value ``V(P) = Q × face / P`` leave nothing. O(1).

    Long: ``M + C − V(P) = 0`` → ``P = Q·k / (M + C)`` (k: atoms per lot-tick), rounded
    **up** (a higher sell price: V and the loss smaller); short: ``M + V(P) − C = 0`` →
    ``P = Q·k / (C − M)``, rounded **down** (a lower buy price, V larger). Away from bad
    debt, as the linear rule (MARGIN-SPEC §4); the fill's value is rounded down
    (:meth:`Instrument.fill_value_atoms`), which keeps both sides whole: at the long's
    price ``floor(Q·k/P) ≤ M + C``, at the short's ``floor(Q·k/P) ≥ C − M``. A short
    whose bucket covers its cost (``M ≥ C``: 1x, a synthetic dollar) has no bankruptcy
    price: it gets ``Q·k``, where the whole position is worth one atom.
    (Binance COIN-M: https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-coin-margined-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93)
    """
    qk = abs(pos.qty_lots) * inst.inverse_atoms_per_lot_tick
    if pos.qty_lots > 0:
        return max(1, ceil_div(qk, pos.cost_atoms + pos.margin_atoms))
    den = pos.cost_atoms - pos.margin_atoms
    return max(1, floor_div(qk, den) if den > 0 else qk)


def _inverse_cross_bankruptcy_ticks(inst: "Instrument", pos: Position, mark: int, share_e8: int) -> int:
    """The bankruptcy price (ticks) of an inverse leg of a cross pool that may lose
    ``share_e8`` (1e-8 atoms, its part of the pool's margin balance) from the mark. O(1).

    The coin value moves, not the price: a long is bankrupt when its value has risen by
    the share, ``V = Q·face/m + X`` → ``P = Q·face·m / (Q·face + X·m)`` (subticks, rounded
    up to a tick: a sell); a short when it has fallen by it, ``P = Q·face·m / (Q·face − X·m)``
    (rounded down: a buy). When no price gives that value (a long whose share is below
    minus its whole value: the pool is past bankruptcy) the long is sold from the mark
    rounded up; a short that no price makes bankrupt gets ``Q·k`` ticks (see
    :func:`_inverse_isolated_bankruptcy_ticks`).
    """
    per_tick = inst.subticks_per_tick
    qf = abs(pos.qty_lots) * inst.inverse_atoms_e8_per_lot_subtick
    if pos.qty_lots > 0:
        den = qf + share_e8 * mark
        if den <= 0:
            return max(1, subticks_ceil_ticks(mark, per_tick))
        return max(1, subticks_ceil_ticks(ceil_div(qf * mark, den), per_tick))
    den = qf - share_e8 * mark
    if den <= 0:
        return max(1, abs(pos.qty_lots) * inst.inverse_atoms_per_lot_tick)
    return max(1, subticks_floor_ticks(floor_div(qf * mark, den), per_tick))


__all__ = ["AdlFill", "LiquidatedPosition", "LiquidationEngine", "binance_adl_score"]
