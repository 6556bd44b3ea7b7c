"""Round trips: a position's life from leaving zero to returning to it.

A :class:`TripBook` is fed the exchange's event batches (one command's events, as the
recorders get them) and follows every position ``(account, symbol, position side)`` of the
accounts it tracks, fill by fill, with the ledger's own integer arithmetic (the cost share
of a close is ``floor(cost * closed / size)``, exactly as :meth:`exsim.ledger.Ledger.apply_fill`
books it), so each trip's realized PnL is the ledger's to the atom. Each ``PositionChanged``
the exchange emits is checked against the position followed here (size, entry cost,
realized PnL): a mismatch is a broken invariant (:class:`TripMismatch`).

* A trip **starts** when a position leaves zero and **ends** when it returns to zero.
* A **flip** (one-way mode: a fill larger than the position) ends the trip and starts the
  next with the remainder. The flipping fill's size splits exactly (closed lots to the old
  trip, the rest to the new one); its fee splits pro rata, the closing part rounded down
  (``floor(fee * closed / filled)``) and the opening part the rest, so the two add up to
  the fee to the atom.
* Lots closed without a fill (the insurance fund taking over a liquidated position, or an
  auto-deleveraging) are booked at the bankruptcy price the ``Liquidation`` event names,
  fee 0, as the liquidation engine books them.
* **How it ended** comes from the order of the closing fill (``OrderAccepted`` carries its
  type): ``limit``, ``market``, ``stop`` (STOP_MARKET, STOP_LIMIT), ``take_profit``
  (TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT), ``trailing_stop`` (TRAILING_STOP_MARKET), or
  ``liquidation`` (the liquidation engine's order, or the fund's takeover), ``adl`` (the
  position was auto-deleveraged), ``open`` (still open when the run ended: valued at the
  last mark, flagged).
* Funding paid or received while the trip is open is the trip's; a liquidation's
  clearance fee is the liquidated trip's (a cross liquidation's split over its positions
  by notional at the mark, rounded down, the remainder to the last — as the replay's
  per-symbol figures split it).
* **Inverse** (coin-margined) instruments, named in ``inverse``: money is in the coin, a
  fill's value is ``floor(lots × k / price_ticks)`` (:meth:`Instrument.fill_value_atoms`,
  ``k`` its ``inverse_atoms_per_lot_tick``), a long's PnL is ``cost share − exit value``
  (a short's the opposite), and a flipping fill's ONE value splits like its fee: the
  closing part ``floor(value × closed / filled)``, the opening part the rest — as the
  ledger books it. Linear values are exact, so the same split gives today's figures.

Cost: O(1) per fill and event, plus the open trips (one per open position) and one
``order id -> order type`` entry per working order.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

import attrs

from exsim.exchange.events import (
    Fill,
    FundingPaid,
    Liquidation,
    MarginCall,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    PositionChanged,
)
from exsim.book.orders import ORDER_TYPE_NAMES
from exsim.ledger import INSURANCE_FUND
from exsim.units import inverse_value_floor, mul_div_floor

#: how a trip ended, by the closing order's type (exsim.book.orders: LIMIT 0, MARKET 1,
#: STOP_MARKET 2, STOP_LIMIT 3, TAKE_PROFIT_MARKET 4, TAKE_PROFIT_LIMIT 5, TRAILING_STOP_MARKET 6)
END_BY_ORDER_TYPE: tuple[str, ...] = ("limit", "market", "stop", "stop", "take_profit", "take_profit", "trailing_stop")
LIQUIDATION = "liquidation"
ADL = "adl"
OPEN = "open"
#: every value of the ``exit_reason`` column
END_REASONS: tuple[str, ...] = ("limit", "market", "stop", "take_profit", "trailing_stop", LIQUIDATION, ADL, OPEN, "unknown")
#: the order types' names, TRAILING_STOP_MARKET (6) included where exsim.book.orders does not list it yet
_TYPE_NAMES: tuple[str, ...] = tuple(ORDER_TYPE_NAMES) if len(ORDER_TYPE_NAMES) > 6 else (*ORDER_TYPE_NAMES, "TRAILING_STOP_MARKET")


#: what :meth:`TripBook.on_events` reads, by event type (every other type is skipped)
_FILL, _POSITION, _ACCEPTED, _ENDED, _FUNDING, _MARGIN_CALL = range(6)
_KINDS: dict[type, int] = {
    Fill: _FILL,
    PositionChanged: _POSITION,
    OrderAccepted: _ACCEPTED,
    OrderCancelled: _ENDED,
    OrderExpired: _ENDED,
    FundingPaid: _FUNDING,
    MarginCall: _MARGIN_CALL,
}
_NO_TRANSFERS: dict[tuple[int, str, int], tuple[int, str]] = {}  # (a batch without a liquidation: never written)
_NO_ORDERS: frozenset[int] = frozenset()
_UNKNOWN_ORDER = (-1, None)
#: a fill's (order type name, how a close by it ends a trip), by its order's type; an
#: order not seen accepted gets _UNKNOWN_END, the liquidation engine's _LIQUIDATION_END
_END_OF_TYPE: dict[int, tuple[str, str]] = {t: (_TYPE_NAMES[t], END_BY_ORDER_TYPE[t]) for t in range(len(END_BY_ORDER_TYPE))}
_UNKNOWN_END = ("", "unknown")
_LIQUIDATION_END = ("LIQUIDATION", LIQUIDATION)
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


class TripMismatch(AssertionError):
    """The trips no longer follow the ledger: a broken invariant, never an expected outcome."""


@attrs.define(slots=True, eq=False)
class Trip:
    """One round trip of a position (mutable while it is open). Money in atoms, sizes in
    lots, prices as exact notional sums (``price_ticks * lots * atoms_per_tick_lot``)."""

    account_id: int
    symbol: str
    position_side: int
    long: bool
    entry_ts_ns: int
    qty_lots: int = 0  # signed, now
    cost_atoms: int = 0  # the ledger's entry cost of the open size
    max_lots: int = 0
    entry_lots: int = 0  # every lot that opened or added
    entry_value_atoms: int = 0  # their notional
    exit_lots: int = 0
    exit_value_atoms: int = 0
    realized_atoms: int = 0
    fees_atoms: int = 0  # paid (negative: rebates)
    funding_atoms: int = 0  # received (+) or paid (-)
    clearance_atoms: int = 0
    fills: int = 0
    exit_ts_ns: int = 0
    exit_reason: str = ""
    unrealized_atoms: int = 0  # an open trip at the end: at the last mark
    mark_subticks: int = 0  # an open trip at the end: the mark it is valued at

    @property
    def net_atoms(self) -> int:
        """Realized + unrealized − fees − clearance fee + funding."""
        return self.realized_atoms + self.unrealized_atoms - self.fees_atoms - self.clearance_atoms + self.funding_atoms


@attrs.define(slots=True, eq=False)
class FillRecord:
    """One side of a fill of a followed account (a row of ``fills.csv``): what the Fill
    event says, the order's type and client id (from its ``OrderAccepted``), and, once the
    position change is matched, the position side and the realized PnL it booked."""

    ts_ns: int
    account_id: int
    symbol: str
    order_id: int
    client_order_id: str | None
    order_type: str  # ORDER_TYPE_NAMES' name, "LIQUIDATION" for the engine's order, "" unknown
    side: int  # 0 buy, 1 sell
    price_ticks: int
    qty_lots: int
    fee_atoms: int
    is_maker: bool
    leaves_lots: int
    trade_id: int
    liquidation: bool
    position_side: int = 0
    realized_atoms: int | None = None  # None: not followed (the insurance fund's)


class _Piece(NamedTuple):
    ts_ns: int
    order_id: int
    side: int  # 0 buy, 1 sell
    price_ticks: int
    qty_lots: int
    fee_atoms: int
    reason: str | None  # how a close by it ends a trip
    record: FillRecord | None  # None: a transfer (liquidation takeover, ADL)


@attrs.define(slots=True, eq=False)
class _Held:
    """The ledger's position as followed here: size, entry cost, its realized PnL (the
    ledger's Position object's running total, which starts again when it reopens)."""

    qty_lots: int = 0
    cost_atoms: int = 0
    realized_atoms: int = 0


@attrs.define(slots=True, eq=False)
class AccountTally:
    """Running figures of one account's trips (the statistics read them)."""

    closed: int = 0
    wins: int = 0
    losses: int = 0
    win_atoms: int = 0  # Σ net PnL of winning trips
    loss_atoms: int = 0  # Σ net PnL of losing trips (<= 0)
    net_atoms: int = 0  # Σ net PnL of closed trips
    realized_atoms: int = 0  # of every trip, open ones too
    fees_atoms: int = 0
    funding_atoms: int = 0
    clearance_atoms: int = 0
    traded_atoms: int = 0  # Σ notional of every fill and transfer
    open_positions: int = 0
    exposed_since_ns: int = 0
    exposed_ns: int = 0
    margin_calls: int = 0
    liquidations: int = 0
    adl: int = 0
    by_reason: dict[str, int] = attrs.Factory(dict)


class TripBook:
    """Follows the positions of the tracked accounts and cuts them into round trips.

    ``atoms_per_tick_lot`` and ``lot_size_e8`` map each symbol to its instrument's;
    ``inverse`` maps each inverse symbol to its ``inverse_atoms_per_lot_tick`` (see the module);
    ``only_account`` is the one account to follow (a replay's strategy), None for every
    trader (``account_id > 0``: a scenario's accounts). ``on_events`` returns the
    trips that ended in the batch, in the order they ended.
    """

    def __init__(self, atoms_per_tick_lot: dict[str, int], lot_size_e8: dict[str, int], only_account: int | None = None,
                 fund_fills: bool = False, inverse: dict[str, int] | None = None) -> None:
        self.atpl = dict(atoms_per_tick_lot)
        #: symbol -> (atoms per tick-lot, inverse k or 0): what :func:`_value` needs
        self.money = {sym: (atpl, (inverse or {}).get(sym, 0)) for sym, atpl in self.atpl.items()}
        self.lot_e8 = dict(lot_size_e8)  # (a cross liquidation's clearance fee splits by notional)
        self.only_account = only_account  # None: every trader (account_id > 0)
        self.fund_fills = fund_fills  # also return the insurance fund's fills (a scenario's fills.csv)
        self.held: dict[tuple[int, str, int], _Held] = {}
        self.open: dict[tuple[int, str, int], Trip] = {}
        self.orders: dict[int, tuple[int, str | None]] = {}  # working orders: id -> (type, client order id)
        self.tallies: dict[int, AccountTally] = {}
        self.trips_closed = 0

    def tracks(self, account_id: int) -> bool:
        only = self.only_account
        return account_id > 0 if only is None else account_id == only

    def tally(self, account_id: int) -> AccountTally:
        t = self.tallies.get(account_id)
        if t is None:
            t = self.tallies[account_id] = AccountTally()
        return t

    # ------------------------------------------------------------------ events
    def on_events(self, events: Iterable[Any], records: bool = True) -> tuple[list[FillRecord], list[Trip]]:
        """Process one command's events. O(len(events)).

        ``records``: also return a :class:`FillRecord` for each fill side of a followed
        account (a run that writes no ``fills.csv`` passes False: the trips and tallies are
        the same, the records list is empty). An event of a type the trips do not read
        costs one dict look-up; a fill side of an account not followed, one comparison.
        """
        if type(events) is not list:
            events = list(events)
        if len(events) == 3:  # (a followed account's order that filled at once: the usual batch)
            done_at_once = self._filled_at_once(events, records)
            if done_at_once is not None:
                return done_at_once
        only = self.only_account
        # a liquidation's fills come before its Liquidation event in the batch: read it first
        liquidations = [e for e in events if type(e) is Liquidation]
        transfers: dict[tuple[int, str, int], tuple[int, str]] = _NO_TRANSFERS
        liquidation_orders: set[int] | frozenset[int] = _NO_ORDERS
        if liquidations:
            transfers, liquidation_orders = {}, set()
            for e in liquidations:
                for p in e.positions:
                    liquidation_orders.add(p.order_id)  # type: ignore[union-attr]
                    transfers[(e.account_id, p.symbol, p.position_side)] = (p.bankruptcy_price_ticks, LIQUIDATION)
                for a in e.adl:
                    transfers[(a.account_id, a.symbol, a.position_side)] = (a.price_ticks, ADL)
        closed: list[Trip] = []
        out: list[FillRecord] | None = [] if records else None
        pending: dict[tuple[int, str], list[_Piece]] = {}
        orders = self.orders
        done: list[int] = []
        fund = INSURANCE_FUND if self.fund_fills else 0
        kinds = _KINDS
        for e in events:
            kind = kinds.get(type(e))
            if kind is None:
                continue
            if kind == _FILL:
                acct = e.taker_account_id
                if acct == only if only is not None else acct > 0:
                    self._fill_side(e, False, acct, True, liquidation_orders, pending, out, done)
                elif fund and acct == fund:
                    self._fill_side(e, False, acct, False, liquidation_orders, pending, out, done)
                acct = e.maker_account_id
                if acct == only if only is not None else acct > 0:
                    self._fill_side(e, True, acct, True, liquidation_orders, pending, out, done)
                elif fund and acct == fund:
                    self._fill_side(e, True, acct, False, liquidation_orders, pending, out, done)
            elif kind == _POSITION:
                acct = e.account_id
                if acct == only if only is not None else acct > 0:
                    self._position(e, pending, transfers, closed)
            elif kind == _ACCEPTED:
                acct = e.account_id
                if acct == only if only is not None else acct > 0:
                    orders[e.order_id] = (e.order_type, e.client_order_id)
            elif kind == _ENDED:
                done.append(e.order_id)
            elif kind == _FUNDING:
                acct = e.account_id
                if acct == only if only is not None else acct > 0:
                    trip = self.open.get((acct, e.symbol, e.position_side))
                    if trip is None:
                        raise TripMismatch(f"funding {e.amount_atoms} for {e.symbol} of account {acct} with no open trip")
                    trip.funding_atoms += e.amount_atoms
                    self.tally(acct).funding_atoms += e.amount_atoms
            elif kind == _MARGIN_CALL:
                acct = e.account_id
                if acct == only if only is not None else acct > 0:
                    self.tally(acct).margin_calls += 1
        for oid in done:  # (after the batch: a fill's order may be named again in it)
            orders.pop(oid, None)
        if pending:
            for key, left in pending.items():
                if left:
                    raise TripMismatch(f"{len(left)} fill(s) of account {key[0]} on {key[1]} matched no position change")
        for e in liquidations:
            self._liquidation(e, closed, self.tracks)
        for trip in closed:  # (counted once its clearance fee is known)
            self._count(trip)
        return out if out is not None else [], closed

    def _filled_at_once(self, events: list[Any], records: bool) -> tuple[list[FillRecord], list[Trip]] | None:
        """``on_events`` of the batch a followed account's order makes when it fills
        completely on arrival against a side not followed — ``OrderAccepted``, one ``Fill``,
        the ``PositionChanged`` — in one step: what the general pass does with it, without
        the per-event dispatch, the pending pieces and the working-order entry (added and
        dropped in the same batch). None for any other batch, with nothing changed; and None
        for a position change this fill does not give, with nothing booked (the position's
        empty entry in :attr:`held` stays, as the general pass makes it too, before it says
        what is wrong)."""
        accepted, fill, position = events
        if type(fill) is not Fill or type(accepted) is not OrderAccepted or type(position) is not PositionChanged:
            return None
        acct = accepted.account_id
        oid = accepted.order_id
        symbol = fill.symbol
        only = self.only_account
        maker = fill.maker_account_id
        if (
            fill.taker_account_id != acct or fill.taker_order_id != oid or fill.taker_leaves_lots
            or position.account_id != acct or position.symbol != symbol
            or not (acct == only if only is not None else acct > 0)
            or (maker == only if only is not None else maker > 0) or (self.fund_fills and maker == INSURANCE_FUND)
        ):
            return None
        key = (acct, symbol, position.position_side)
        held = self.held.get(key)
        if held is None:
            held = self.held[key] = _Held()
        type_name, reason = _END_OF_TYPE.get(accepted.order_type, _UNKNOWN_END)
        ts, side, price, lots, fee = fill.ts_ns, fill.aggressor_side, fill.price_ticks, fill.qty_lots, fill.taker_fee_atoms
        rec = None
        if records:
            rec = FillRecord(ts, acct, symbol, oid, accepted.client_order_id, type_name, side, price, lots, fee, False, 0,
                             fill.trade_id, False)
        piece = _new(_Piece, (ts, oid, side, price, lots, fee, reason, rec))
        target = (position.qty_lots, position.cost_atoms, position.realized_pnl_atoms)
        closed: list[Trip] = []
        if not self._apply(key, held, piece, closed, target):  # (touches nothing when it does not match)
            return None
        if self.orders:  # (an order accepted again, a triggered stop: its entry goes, as the general pass drops it)
            self.orders.pop(oid, None)
        for trip in closed:
            self._count(trip)
        return [rec] if rec is not None else [], closed

    def _fill_side(self, e: Any, maker: bool, acct: int, followed: bool, liquidation_orders: set[int] | frozenset[int],
                   pending: dict[tuple[int, str], list[_Piece]], out: list[FillRecord] | None, done: list[int]) -> None:
        """One side of a Fill of a followed account (or, not ``followed``, of the fund, with
        ``fund_fills``): its record, and the piece its position change will be matched with."""
        if maker:
            oid, side, fee, leaves = e.maker_order_id, e.aggressor_side ^ 1, e.maker_fee_atoms, e.maker_leaves_lots
        else:
            oid, side, fee, leaves = e.taker_order_id, e.aggressor_side, e.taker_fee_atoms, e.taker_leaves_lots
        otype, client = self.orders.get(oid, _UNKNOWN_ORDER)
        liquidation = oid in liquidation_orders
        type_name, reason = _LIQUIDATION_END if liquidation else _END_OF_TYPE.get(otype, _UNKNOWN_END)
        rec = None
        if out is not None:
            rec = FillRecord(e.ts_ns, acct, e.symbol, oid, client, type_name, side, e.price_ticks, e.qty_lots, fee,
                             maker, leaves, e.trade_id, liquidation)
            out.append(rec)
        if followed:  # (the fund's fills are records only)
            key = (acct, e.symbol)
            piece = _new(_Piece, (e.ts_ns, oid, side, e.price_ticks, e.qty_lots, fee, reason, rec))
            pieces = pending.get(key)
            if pieces is None:
                pending[key] = [piece]
            else:
                pieces.append(piece)
        if not leaves:
            done.append(oid)

    def _liquidation(self, e: Any, closed: list[Trip], tracks: Callable[[int], bool]) -> None:
        """Count it; book its clearance fee to the liquidated trips (split as documented)."""
        for a in e.adl:
            if tracks(a.account_id):
                self.tally(a.account_id).adl += 1
        if not tracks(e.account_id):
            return
        tally = self.tally(e.account_id)
        tally.liquidations += 1
        fee = e.clearance_fee_atoms
        if not fee:
            return
        tally.clearance_atoms += fee
        weights = [(p, abs(p.qty_lots) * p.mark_price_subticks * self.lot_e8[p.symbol]) for p in e.positions]
        total = sum(w for _, w in weights)
        left = fee
        for k, (p, w) in enumerate(weights):
            share = left if k == len(weights) - 1 or not total else mul_div_floor(fee, w, total)
            left -= share
            key = (e.account_id, p.symbol, p.position_side)
            trip = self.open.get(key)
            if trip is None:  # closed by it: the last trip of that position closed in this batch
                trip = next((c for c in reversed(closed) if (c.account_id, c.symbol, c.position_side) == key), None)
            if trip is None:
                raise TripMismatch(f"a liquidation of account {e.account_id} on {p.symbol} with no trip")
            trip.clearance_atoms += share

    def _position(self, e: Any, pending: dict[tuple[int, str], list[_Piece]],
                  transfers: dict[tuple[int, str, int], tuple[int, str]], closed: list[Trip]) -> None:
        acct, symbol = e.account_id, e.symbol
        key = (acct, symbol, e.position_side)
        held = self.held.get(key)
        if held is None:
            held = self.held[key] = _Held()
        q, cost, realized = target = (e.qty_lots, e.cost_atoms, e.realized_pnl_atoms)
        if held.qty_lots == q and held.cost_atoms == cost and (held.realized_atoms == realized or q == 0 and realized == 0):
            return  # a funding, a margin move: no size change (_same, inlined)
        pieces = pending.get((acct, symbol))
        if pieces:
            if len(pieces) == 1 and self._apply(key, held, pieces[0], closed, target):
                pieces.pop()  # the usual case: one fill, its position change (_matching_prefix of one)
                return
            money = self.money[symbol]
            n = _matching_prefix(held, pieces, target, money)
            if n:
                for piece in pieces[:n]:
                    self._apply(key, held, piece, closed)
                del pieces[:n]
                return
            chosen = _matching_orders(held, pieces, target, money)
            if chosen is not None:
                for i in chosen:
                    self._apply(key, held, pieces[i], closed)
                for i in reversed(chosen):
                    del pieces[i]
                return
        transfer = transfers.get(key)
        if transfer is None:
            raise TripMismatch(
                f"account {e.account_id} {e.symbol} side {e.position_side}: the ledger says {target}, "
                f"the trips follow {(held.qty_lots, held.cost_atoms, held.realized_atoms)}"
            )
        price, reason = transfer
        dq = e.qty_lots - held.qty_lots
        self._apply(key, held, _Piece(e.ts_ns, 0, 0 if dq > 0 else 1, price, abs(dq), 0, reason, None), closed)
        if not _same(held, target):
            raise TripMismatch(f"account {e.account_id} {e.symbol}: a {reason} transfer does not give the ledger's {target}")

    def _apply(self, key: tuple[int, str, int], held: _Held, piece: _Piece, closed: list[Trip],
               target: tuple[int, int, int] | None = None) -> bool:
        """Book one fill (or transfer) on the position and its trip(s), as the ledger does.

        With ``target`` (the ledger's ``(size, entry cost, realized PnL)`` after it), only
        when the piece gives exactly that: False and nothing touched otherwise. The
        position's new figures are worked out before anything changes, so checking a
        single fill against its position change costs no second pass (``_step``'s
        arithmetic, which this repeats on the pieces it books)."""
        money = self.money[key[1]]
        q0 = held.qty_lots
        lots = piece.qty_lots
        buy = piece.side == 0
        k = money[1]  # (_value, inlined)
        value = inverse_value_floor(lots, k, piece.price_ticks) if k else lots * piece.price_ticks * money[0]
        if q0 == 0 or (q0 > 0) == buy:  # opens or adds
            q = q0 + lots if buy else q0 - lots
            cost = held.cost_atoms + value
            realized = held.realized_atoms if q0 else 0  # (0: the ledger's new Position object)
            if target is not None and not (q == target[0] and cost == target[1] and realized == target[2]):
                return False
            held.qty_lots, held.cost_atoms, held.realized_atoms = q, cost, realized
            tally = self.tallies.get(key[0]) or self.tally(key[0])
            tally.traded_atoms += value
            rec = piece.record
            if rec is not None:
                rec.position_side = key[2]
                rec.realized_atoms = 0
            self._opened(key, piece, lots, piece.fee_atoms, value, q, cost, tally)
            return True
        size = abs(q0)
        close = min(lots, size)
        share = held.cost_atoms if close == size else mul_div_floor(held.cost_atoms, close, size)
        exit_value = value if close == lots else mul_div_floor(value, close, lots)
        pnl = exit_value - share if (q0 > 0) != bool(k) else share - exit_value
        rest = lots - close  # > 0: a flip, the remainder opens the next trip
        realized = held.realized_atoms + pnl
        if rest:
            q, cost = (rest if buy else -rest), value - exit_value
        else:
            q, cost = q0 + (close if buy else -close), held.cost_atoms - share
        if target is not None and not (
            q == target[0] and cost == target[1] and (realized == target[2] or q == 0 and target[2] == 0)
        ):
            return False
        fee_close = piece.fee_atoms if close == lots else mul_div_floor(piece.fee_atoms, close, lots)
        held.qty_lots, held.cost_atoms, held.realized_atoms = q, cost, realized
        tally = self.tallies.get(key[0]) or self.tally(key[0])
        tally.traded_atoms += value
        trip = self.open[key]
        trip.exit_lots += close
        trip.exit_value_atoms += exit_value
        trip.realized_atoms += pnl
        trip.fees_atoms += fee_close
        trip.fills += 1
        tally.realized_atoms += pnl
        tally.fees_atoms += fee_close
        rec = piece.record
        if rec is not None:
            rec.position_side = key[2]
            rec.realized_atoms = pnl
        if rest or not q:  # the trip ends (the position reached zero, or flipped through it)
            trip.qty_lots = 0
            trip.cost_atoms = 0
            trip.exit_ts_ns = piece.ts_ns
            trip.exit_reason = piece.reason or "unknown"
            del self.open[key]
            tally.open_positions -= 1
            if tally.open_positions == 0:
                tally.exposed_ns += piece.ts_ns - tally.exposed_since_ns
            closed.append(trip)
            if rest:
                self._opened(key, piece, rest, piece.fee_atoms - fee_close, value - exit_value, q, cost, tally)
        else:
            trip.qty_lots = q
            trip.cost_atoms = cost
        return True

    def _opened(self, key: tuple[int, str, int], piece: _Piece, lots: int, fee: int, value: int, q: int, cost: int,
                tally: AccountTally) -> None:
        """``lots`` of ``piece`` (``value`` atoms, ``fee``) opened or added to the position,
        now ``q`` lots at entry cost ``cost``: its trip, started if there is none."""
        trip = self.open.get(key)
        if trip is None:
            trip = self.open[key] = Trip(key[0], key[1], key[2], piece.side == 0, piece.ts_ns)
            if tally.open_positions == 0:
                tally.exposed_since_ns = piece.ts_ns
            tally.open_positions += 1
        trip.qty_lots = q
        trip.cost_atoms = cost
        trip.entry_lots += lots
        trip.entry_value_atoms += value
        if abs(q) > trip.max_lots:
            trip.max_lots = abs(q)
        trip.fees_atoms += fee
        trip.fills += 1
        tally.fees_atoms += fee

    def _count(self, trip: Trip) -> None:
        tally = self.tallies.get(trip.account_id) or self.tally(trip.account_id)
        self.trips_closed += 1
        tally.closed += 1
        net = trip.net_atoms
        tally.net_atoms += net
        if net > 0:
            tally.wins += 1
            tally.win_atoms += net
        else:
            tally.losses += 1
            tally.loss_atoms += net
        tally.by_reason[trip.exit_reason] = tally.by_reason.get(trip.exit_reason, 0) + 1

    # ------------------------------------------------------------------ the end
    def exposed_ns(self, account_id: int, end_ns: int) -> int:
        """Time with at least one open position, up to ``end_ns``."""
        t = self.tallies.get(account_id)
        if t is None:
            return 0
        return t.exposed_ns + (end_ns - t.exposed_since_ns if t.open_positions else 0)

    def open_trips(self, end_ns: int, value: Callable[[int, str, int], tuple[int, int]]) -> list[Trip]:
        """The trips still open, flagged ``open`` at ``end_ns``; ``value(account, symbol,
        position side)`` gives ``(unrealized PnL atoms, mark subticks)`` at the last mark.
        The book is left as it was (a run may go on after an interrupted run's summary)."""
        out = []
        for key in sorted(self.open, key=lambda k: (k[0], k[1], k[2])):
            src = self.open[key]
            trip = attrs.evolve(src)
            trip.exit_ts_ns = end_ns
            trip.exit_reason = OPEN
            trip.unrealized_atoms, trip.mark_subticks = value(*key)
            out.append(trip)
        return out

    def check(self, account_id: int, realized_atoms: int, fees_atoms: int, funding_atoms: int) -> None:
        """The run-end invariant: the trips' realized PnL, fees and funding are the
        ledger's account totals to the atom."""
        t = self.tallies.get(account_id, AccountTally())
        got = (t.realized_atoms, t.fees_atoms, t.funding_atoms)
        want = (realized_atoms, fees_atoms, funding_atoms)
        if got != want:
            raise TripMismatch(f"account {account_id}: trips sum to (realized, fees, funding) {got}, the ledger says {want}")

    def _check(self) -> None:
        """O(open trips): every open trip follows its position."""
        for key, trip in self.open.items():
            held = self.held[key]
            assert held.qty_lots == trip.qty_lots != 0, key
            assert held.cost_atoms == trip.cost_atoms, key
            assert (trip.qty_lots > 0) == trip.long, key


def _same(held: _Held, target: tuple[int, int, int]) -> bool:
    return held.qty_lots == target[0] and held.cost_atoms == target[1] and (
        held.realized_atoms == target[2] or held.qty_lots == 0 and target[2] == 0
    )


def _value(money: tuple[int, int], price_ticks: int, lots: int) -> int:
    """A fill's value in atoms of the margin asset (``money``: ``(atoms per tick-lot,
    inverse k)``): linear ``lots × price × money`` exact; inverse ``floor(lots × k / price)``
    (:meth:`exsim.instruments.Instrument.fill_value_atoms`)."""
    k = money[1]
    return inverse_value_floor(lots, k, price_ticks) if k else lots * price_ticks * money[0]


def _step(q: int, cost: int, realized: int, p: _Piece, money: tuple[int, int]) -> tuple[int, int, int]:
    """``(size, entry cost, realized PnL)`` of a position after one more piece, with the
    ledger's arithmetic (no trip is touched)."""
    lots = p.qty_lots
    dq = lots if p.side == 0 else -lots
    k = money[1]  # (_value, inlined)
    value = inverse_value_floor(lots, k, p.price_ticks) if k else lots * p.price_ticks * money[0]
    if q == 0 or (q > 0) == (dq > 0):
        return q + dq, cost + value, 0 if q == 0 else realized
    size = abs(q)
    close = min(lots, size)
    share = cost if close == size else mul_div_floor(cost, close, size)
    exit_value = value if close == lots else mul_div_floor(value, close, lots)
    realized += exit_value - share if (q > 0) != bool(money[1]) else share - exit_value
    rest = lots - close
    if rest:  # a flip: the remainder opens the other way
        return (rest if dq > 0 else -rest), value - exit_value, realized
    return q + (close if dq > 0 else -close), cost - share, realized


def _simulate(held: _Held, pieces: Iterable[_Piece], money: tuple[int, int]) -> tuple[int, int, int]:
    """The position after ``pieces``, with the ledger's arithmetic (no trip is touched)."""
    q, cost, realized = held.qty_lots, held.cost_atoms, held.realized_atoms
    for p in pieces:
        q, cost, realized = _step(q, cost, realized, p, money)
    return q, cost, realized


def _matching_prefix(held: _Held, pieces: list[_Piece], target: tuple[int, int, int], money: tuple[int, int]) -> int:
    """The shortest prefix of the pending fills that gives the ledger's position (0: none).
    The shortest: a position closed and reopened in one sweep reports the closed one first.
    O(len(pieces)): each prefix is the previous one plus a piece."""
    q, cost, realized = held.qty_lots, held.cost_atoms, held.realized_atoms
    want_q, want_cost, want_realized = target
    for n, p in enumerate(pieces, 1):
        q, cost, realized = _step(q, cost, realized, p, money)
        if q == want_q and cost == want_cost and (realized == want_realized or q == 0 and want_realized == 0):
            return n
    return 0


def _matching_orders(held: _Held, pieces: list[_Piece], target: tuple[int, int, int], money: tuple[int, int]) -> list[int] | None:
    """Hedge mode, one sweep touching both position sides of an account: the fills of the
    orders (grouped by order id, in order) that give the ledger's position. Tries every
    subset of at most 10 orders; None when none fits."""
    orders: list[int] = []
    for p in pieces:
        if p.order_id not in orders:
            orders.append(p.order_id)
    if len(orders) > 10:
        return None
    for mask in range(1, 1 << len(orders)):
        chosen_orders = {o for i, o in enumerate(orders) if mask >> i & 1}
        idx = [i for i, p in enumerate(pieces) if p.order_id in chosen_orders]
        got = _simulate(held, (pieces[i] for i in idx), money)
        if got[:2] == target[:2] and (got[2] == target[2] or got[0] == 0 and target[2] == 0):
            return idx
    return None
