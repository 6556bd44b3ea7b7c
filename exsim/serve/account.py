"""The account side of ``exsim serve``: balances, positions, settings and their user-data events.

:class:`AccountFeed` is built by the venue (``AccountFeed(venue)``) and fed every engine
event batch (:meth:`AccountFeed.on_events`); it keeps what the ledger does not (income
history, isolated-margin moves, last update times) and pushes Binance's user-data events:

* ``ACCOUNT_UPDATE`` ``{e, E, T, a: {m, B: [{a, wb, cw, bc}], P: [{s, pa, ep, bep, cr, up,
  mt, iw, ps}]}}``, one per account per batch that moved its money or positions. The
  reason ``m``: ``INSURANCE_CLEAR`` for the account liquidated in the batch, ``ADL`` for an
  account auto-deleveraged in it, else the first cause seen: ``ORDER`` (fills),
  ``FUNDING_FEE``, ``DEPOSIT``, ``WITHDRAW``, ``MARGIN_TRANSFER`` (isolated margin moved),
  ``MARGIN_TYPE_CHANGE``. Funding on a cross position pushes only ``B`` (as Binance does);
  on an isolated one ``B`` and that position.
* ``MARGIN_CALL`` ``{e, E, cw, p: [{s, ps, pa, mt, iw, mp, up, mm}]}`` from exsim's
  :class:`~exsim.exchange.MarginCall` (``cw`` only for a cross pool).
* ``ACCOUNT_CONFIG_UPDATE`` ``{e, E, T, ac: {s, l}}`` when a leverage changes, ``{e, E, T,
  ai: {j}}`` when Multi-Assets mode is switched on (``j`` true) or off.

The REST endpoints (``@endpoint`` below) read the ledger at the venue's clock. Every
figure comes from exsim's integers and is shown exactly, as decimal text on the settlement
asset's 8 places (``exsim.units.format_atoms``); where the ledger's exact value is finer
than an atom (unrealized PnL and notional at a mark finer than the tick) the ledger's own
display rounding applies (PnL down, notional and requirements up). Prices: marks and
liquidation prices in subticks with 8 decimals. The liquidation price is the venue's
``liquidation_price_subticks``: exactly the figure ``exsim liq-price`` prints for the
same size, entry and wallet. Entry and break-even prices are exact rationals of the
position's entry cost, shown rounded half-even to the subtick.

Settings are exchange commands sent through ``venue.send`` (``SetLeverage``,
``SetMarginMode``, ``SetPositionMode``, ``SetCollateralMode``, ``AdjustIsolatedMargin``): the answer is built
from the events *that* command produced, and exsim's refusal reasons map to Binance's
codes (:data:`REJECT_CODES`).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from exsim.exchange import (
    AdjustIsolatedMargin,
    BalanceChanged,
    CommandRejected,
    Fill,
    FundingPaid,
    Liquidation,
    MarginCall,
    PositionChanged,
    SetCollateralMode,
    SetLeverage,
    SetMarginMode,
    SetPositionMode,
    SettingChanged,
)
from exsim.exchange.exchange import RejectReason
from exsim.ledger import BOTH, CROSS, ISOLATED, LONG, POSITION_SIDE_NAMES, SHORT, Account, Position, Reason
from exsim.ledger.collateral import MULTI_ASSETS, SINGLE_ASSET
from exsim.liquidation.engine import binance_adl_score
from exsim.serve.binance import (
    ADD_ISOLATED_MARGIN_NO_POSITION_REJECT,
    ADD_ISOLATED_MARGIN_REJECT,
    AMOUNT_MUST_BE_POSITIVE,
    BAD_ACCOUNT,
    BAD_PRECISION,
    CROSS_BALANCE_INSUFFICIENT,
    INVALID_LEVERAGE,
    INVALID_POSITION_SIDE,
    INVALID_SYMBOL,
    ISOLATED_BALANCE_INSUFFICIENT,
    ISOLATED_REJECT_WITH_JOINT_MARGIN,
    JOINT_MARGIN_REJECT_WITH_ISOLATED,
    JOINT_MARGIN_REJECT_WITH_OPEN_ORDER,
    MAX_LEVERAGE_RATIO,
    MIN_LEVERAGE_RATIO,
    NO_NEED_TO_CHANGE_JOINT_MARGIN,
    NO_NEED_TO_CHANGE_MARGIN_TYPE,
    NO_NEED_TO_CHANGE_POSITION_SIDE,
    POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS,
    POSITION_SIDE_CHANGE_EXISTS_QUANTITY,
    POSITION_SIDE_NOT_MATCH,
    SIGNED,
    START_TIME_GREATER_THAN_END_TIME,
    THERE_EXISTS_OPEN_ORDERS,
    THERE_EXISTS_QUANTITY,
    UNKNOWN,
    BinanceError,
    Params,
    endpoint,
    illegal,
    ms_of,
)
from exsim.units import (
    ATOMS_E8_PER_ATOM,
    RATE_SCALE,
    atoms_e8_ceil,
    atoms_e8_floor,
    ceil_div,
    div_half_even,
    format_atoms,
    format_lots,
    format_rate_e8,
    format_subticks,
)

__all__ = ["AccountFeed", "REJECT_CODES", "reject_error"]

#: Binance's name of a margin mode in positionRisk, ACCOUNT_UPDATE (``mt``) ...
_MT_LOWER: Final = ("cross", "isolated")
#: ... and in symbolConfig, MARGIN_CALL (``mt``) and the marginType parameter
_MT_UPPER: Final = ("CROSSED", "ISOLATED")
_PS_OF_NAME: Final = {"BOTH": BOTH, "LONG": LONG, "SHORT": SHORT}
_DAY_MS: Final = 86_400_000
_MAX_LEVERAGE: Final = 125  # Binance's ceiling for the leverage parameter (1..125)

#: exsim's refusal reason (a command's ``CommandRejected.reason``) -> (Binance code, message)
#: for the settings commands; reasons that depend on the account's state (positions vs open
#: orders, add vs reduce) are decided in :func:`reject_error`.
REJECT_CODES: Final[dict[str, tuple[int, str]]] = {
    Reason.INVALID_LEVERAGE: (INVALID_LEVERAGE, "Invalid leverage"),
    Reason.LEVERAGE_ABOVE_BRACKET_MAX: (MAX_LEVERAGE_RATIO, "Exceeded the maximum allowable position at current leverage."),
    Reason.LEVERAGE_BELOW_REQUIRED: (MIN_LEVERAGE_RATIO, "Leverage is smaller than permitted: insufficient margin balance."),
    Reason.NO_ACCOUNT: (BAD_ACCOUNT, "Invalid account."),
    Reason.INVALID_AMOUNT: (AMOUNT_MUST_BE_POSITIVE, "Amount must be positive."),
    Reason.POSITION_SIDE_MISMATCH: (POSITION_SIDE_NOT_MATCH, "Order's position side does not match user's setting."),
    RejectReason.UNKNOWN_SYMBOL: (INVALID_SYMBOL, "Invalid symbol."),
    RejectReason.INVALID_ACCOUNT: (BAD_ACCOUNT, "Invalid account."),
}


def reject_error(command: str, reason: str, *, has_position: bool = False, adding: bool = True,
                 isolated: bool = True) -> BinanceError:
    """The Binance error for a settings command exsim refused with ``reason``.

    ``command`` is the command's class name (``CommandRejected.command``). A mode change
    refused for exposure is -4048 / -4068 with a position, -4047 / -4067 with open orders
    only (``has_position``); an isolated margin move refused for the balance is -4050
    (adding: the cross wallet is short) or -4051 (reducing: the bucket is); one refused
    for want of an isolated position is -4049 (the symbol is cross: ``isolated`` false) or
    -4054 (no position).

    >>> reject_error("SetMarginMode", "HAS_POSITION_OR_ORDERS", has_position=True).body()
    {'code': -4048, 'msg': 'Margin type cannot be changed if there exists position.'}
    >>> reject_error("AdjustIsolatedMargin", "INSUFFICIENT_BALANCE", adding=False).code
    -4051
    """
    if command == "SetCollateralMode":
        if reason == Reason.HAS_POSITION_OR_ORDERS:
            return BinanceError(JOINT_MARGIN_REJECT_WITH_OPEN_ORDER, "Unable to adjust Multi-Assets Mode with open orders in USDⓈ-M Futures.")
        if reason == Reason.ISOLATED_IN_MULTI_ASSETS:
            return BinanceError(
                ISOLATED_REJECT_WITH_JOINT_MARGIN,
                "Unable to adjust to Multi-Assets mode with symbols of USDⓈ-M Futures under isolated-margin mode.",
            )
    if reason == Reason.ISOLATED_IN_MULTI_ASSETS:
        return BinanceError(JOINT_MARGIN_REJECT_WITH_ISOLATED, "Unable to adjust to isolated-margin mode under the Multi-Assets mode.")
    if reason == Reason.HAS_POSITION_OR_ORDERS:
        if command == "SetPositionMode":
            if has_position:
                return BinanceError(POSITION_SIDE_CHANGE_EXISTS_QUANTITY, "Position side cannot be changed if there exists position.")
            return BinanceError(POSITION_SIDE_CHANGE_EXISTS_OPEN_ORDERS, "Position side cannot be changed if there exists open orders.")
        if has_position:
            return BinanceError(THERE_EXISTS_QUANTITY, "Margin type cannot be changed if there exists position.")
        return BinanceError(THERE_EXISTS_OPEN_ORDERS, "Margin type cannot be changed if there exists open orders.")
    if reason == Reason.INSUFFICIENT_BALANCE:
        if adding:
            return BinanceError(CROSS_BALANCE_INSUFFICIENT, "Cross balance insufficient.")
        return BinanceError(ISOLATED_BALANCE_INSUFFICIENT, "Isolated balance insufficient.")
    if reason == Reason.NO_ISOLATED_POSITION:
        if not isolated:
            return BinanceError(ADD_ISOLATED_MARGIN_REJECT, "Add margin only support for isolated position.")
        return BinanceError(ADD_ISOLATED_MARGIN_NO_POSITION_REJECT, "Cannot add position margin: position is 0.")
    hit = REJECT_CODES.get(reason)
    if hit is not None:
        return BinanceError(*hit)
    return BinanceError(UNKNOWN, f"{command} refused: {reason}")


# --------------------------------------------------------------------------- formatting
def _money(atoms: int) -> str:
    """Atoms as Binance's 8-decimal text (exact)."""
    return format_atoms(atoms)


def _plain(atoms: int) -> str:
    """Atoms as the shortest exact text ("1000000", "0.5"): Binance's style for caps."""
    return format_atoms(atoms, 0)


def _price8(subticks: int) -> str:
    """A price in subticks with 8 decimals (exact): marks and liquidation prices."""
    return format_subticks(subticks, 8)


def _entry_subticks(cost_atoms: int, qty_lots: int, lot_size_e8: int) -> int:
    """The average entry price in subticks, rounded half-even: ``cost / |qty|`` exactly
    divided (``cost * 1e8 / qty_e8``)."""
    q = qty_lots if qty_lots >= 0 else -qty_lots
    return div_half_even(cost_atoms * ATOMS_E8_PER_ATOM, q * lot_size_e8)


def _break_even_subticks(cost_atoms: int, fees_atoms: int, qty_lots: int, lot_size_e8: int, taker_fee_e8: int) -> int:
    """The price at which closing the position (paying the taker fee) gives back its entry
    cost and the fees it paid: long ``(cost + fees) / (Q (1 - taker))``, short
    ``(cost - fees) / (Q (1 + taker))``, in subticks rounded half-even."""
    if qty_lots > 0:
        return div_half_even((cost_atoms + fees_atoms) * ATOMS_E8_PER_ATOM * RATE_SCALE, qty_lots * lot_size_e8 * (RATE_SCALE - taker_fee_e8))
    return div_half_even((cost_atoms - fees_atoms) * ATOMS_E8_PER_ATOM * RATE_SCALE, -qty_lots * lot_size_e8 * (RATE_SCALE + taker_fee_e8))


def max_notional_atoms(inst: Any, leverage: int) -> int:
    """The largest notional at which ``leverage`` is allowed: the cap of the last bracket
    whose max leverage is at least ``leverage`` (0 when none allows it), at most the
    instrument's notional limit. O(brackets)."""
    cap = 0
    for b in inst.brackets:
        if b.max_leverage >= leverage:
            cap = b.cap_atoms
    return min(cap, inst.max_notional_limit_atoms)


class _Figures:
    """One position's figures at the mark, in atoms (display rounding of the ledger)."""

    __slots__ = ("notional", "upnl_e8", "upnl", "mm", "im", "mark")

    def __init__(self, ledger: Any, pos: Position) -> None:
        n_e8, upnl_e8, mm = ledger.position_figures_e8(pos)
        self.notional = atoms_e8_ceil(n_e8)
        self.upnl_e8 = upnl_e8
        self.upnl = atoms_e8_floor(upnl_e8)
        self.mm = mm
        self.im = ceil_div(n_e8, pos.leverage * ATOMS_E8_PER_ATOM)
        self.mark = ledger.mark_subticks(pos.symbol, pos)


# --------------------------------------------------------------------------- the feed
#: the event types the account feed reads (the rest of a batch is skipped)
_KINDS: Final = frozenset({Fill, PositionChanged, BalanceChanged, FundingPaid, SettingChanged, MarginCall, Liquidation})


class AccountFeed:
    """Income history, isolated-margin history and user-data pushes for every account.

    Built by the venue with ``AccountFeed(venue)``; the venue calls :meth:`on_events` with
    each engine event batch (every account's), :meth:`on_clock` after each clock advance
    and :meth:`on_end` at the end of the data. Only accounts with ids > 0 are served
    (the external market and the insurance fund are not).
    """

    def __init__(self, venue: Any) -> None:
        self.venue = venue
        #: account -> income rows (time_ms, symbol, type, income_atoms, info, tran_id, trade_id)
        self.income: dict[int, list[tuple[int, str, str, int, str, int, str]]] = {}
        #: account -> isolated margin moves (time_ms, symbol, type 1/2, amount_atoms, position_side)
        self.margin_moves: dict[int, list[tuple[int, str, int, int, int]]] = {}
        self.next_tran_id = 1
        #: (account, symbol, position_side) -> cumulative realized PnL last seen (per open position)
        self._realized: dict[tuple[int, str, int], int] = {}
        #: (account, symbol, position_side) -> ms of the position's last change
        self.position_update_ms: dict[tuple[int, str, int], int] = {}
        #: account -> ms of its wallet's last change
        self.balance_update_ms: dict[int, int] = {}
        #: account -> amount into the wallet of an ISOLATED_MARGIN move waiting for its position
        self._margin_move: dict[int, tuple[int, int]] = {}

    # ------------------------------------------------------------------ venue hooks
    def on_clock(self, now_ns: int) -> None:
        """Nothing is timed on the account side (marks do not push ACCOUNT_UPDATE)."""

    def on_end(self, now_ns: int) -> None:
        """Nothing to flush: every account event is pushed with its batch."""

    def on_events(self, events: list[Any]) -> None:
        """Record income and margin moves of one engine batch and push its user-data events.

        One ``ACCOUNT_UPDATE`` per account whose money or positions the batch changed, with
        the positions it changed (their last state in the batch); one ``MARGIN_CALL`` per
        MarginCall event; one ``ACCOUNT_CONFIG_UPDATE`` per leverage change. O(events).
        """
        updates: dict[int, _Update] = {}
        liquidated: set[int] = set()
        deleveraged: set[int] = set()
        calls: list[MarginCall] = []
        configs: list[SettingChanged] = []
        last_trade: dict[tuple[int, str], int] = {}
        kinds = _KINDS
        for ev in events:
            t = type(ev)
            if t not in kinds:  # book deltas, marks, orders: most of a batch (one set lookup each)
                continue
            if t is Fill:
                if ev.taker_account_id > 0 or ev.maker_account_id > 0:  # not replayed against replayed
                    self._on_fill(ev, updates, last_trade)
            elif t is PositionChanged:
                acct = ev.account_id
                if acct <= 0:
                    continue
                key = (acct, ev.symbol, ev.position_side)
                ms = ms_of(ev.ts_ns)
                self.position_update_ms[key] = ms
                self.balance_update_ms[acct] = ms
                realized = ev.realized_pnl_atoms - self._realized.get(key, 0)
                if ev.qty_lots:
                    self._realized[key] = ev.realized_pnl_atoms
                else:
                    self._realized.pop(key, None)
                if realized:
                    trade = last_trade.get((acct, ev.symbol))
                    self._add_income(acct, ms, ev.symbol, "REALIZED_PNL", realized, "REALIZED_PNL", "" if trade is None else str(trade))
                move = self._margin_move.pop(acct, None)
                if move is not None:
                    self._record_margin_move(acct, ms, ev.symbol, ev.position_side, move[1])
                upd = _update(updates, acct, "ORDER", ev.ts_ns)
                upd.positions[(ev.symbol, ev.position_side)] = ev
            elif t is BalanceChanged:
                acct = ev.account_id
                if acct <= 0:
                    continue
                ms = ms_of(ev.ts_ns)
                self.balance_update_ms[acct] = ms
                if ev.kind == "ISOLATED_MARGIN":
                    self._margin_move[acct] = (ms, ev.amount_atoms)
                    _update(updates, acct, "MARGIN_TRANSFER", ev.ts_ns)
                else:
                    self._add_income(acct, ms, "", "TRANSFER", ev.amount_atoms, "TRANSFER", "")
                    upd = _update(updates, acct, "DEPOSIT" if ev.kind == "DEPOSIT" else "WITHDRAW", ev.ts_ns)
                    upd.balance_change += ev.amount_atoms
            elif t is FundingPaid:
                acct = ev.account_id
                if acct <= 0:
                    continue
                ms = ms_of(ev.ts_ns)
                self.balance_update_ms[acct] = ms
                self._add_income(acct, ms, ev.symbol, "FUNDING_FEE", ev.amount_atoms, "FUNDING_FEE", "")
                upd = _update(updates, acct, "FUNDING_FEE", ev.ts_ns)
                upd.balance_change += ev.amount_atoms
                upd.funded.add((ev.symbol, ev.position_side))
            elif t is SettingChanged:
                if ev.account_id <= 0:
                    continue
                if ev.setting == "LEVERAGE" or ev.setting == "COLLATERAL_MODE":
                    configs.append(ev)
                elif ev.setting == "MARGIN_MODE":
                    upd = _update(updates, ev.account_id, "MARGIN_TYPE_CHANGE", ev.ts_ns)
                    upd.mode_changed.add(ev.symbol)
            elif t is MarginCall:
                if ev.account_id > 0:
                    calls.append(ev)
            elif t is Liquidation:
                acct = ev.account_id
                if acct > 0:
                    liquidated.add(acct)
                    _update(updates, acct, "INSURANCE_CLEAR", ev.ts_ns)
                    if ev.clearance_fee_atoms:
                        self._add_income(acct, ms_of(ev.ts_ns), ev.symbol, "INSURANCE_CLEAR", -ev.clearance_fee_atoms,
                                         "INSURANCE_CLEAR", "")
                for a in ev.adl:
                    if a.account_id > 0:
                        deleveraged.add(a.account_id)
        venue = self.venue
        for call in calls:
            venue.publish_user(call.account_id, self.margin_call_payload(call))
        for cfg in configs:
            ms = ms_of(cfg.ts_ns)
            # a leverage: "ac" {symbol, leverage}; Multi-Assets mode: "ai" {"j": on}
            what = (
                {"ai": {"j": cfg.value == MULTI_ASSETS}} if cfg.setting == "COLLATERAL_MODE"
                else {"ac": {"s": cfg.symbol, "l": int(cfg.value)}}
            )
            venue.publish_user(cfg.account_id, {"e": "ACCOUNT_CONFIG_UPDATE", "E": self._event_ms(ms), "T": ms, **what})
        for acct, upd in updates.items():
            if acct in liquidated:
                upd.reason = "INSURANCE_CLEAR"
            elif acct in deleveraged:
                upd.reason = "ADL"
            venue.publish_user(acct, self.account_update_payload(acct, upd))

    def _on_fill(self, ev: Fill, updates: dict[int, _Update], last_trade: dict[tuple[int, str], int]) -> None:
        ms = ms_of(ev.ts_ns)
        for acct, fee in ((ev.taker_account_id, ev.taker_fee_atoms), (ev.maker_account_id, ev.maker_fee_atoms)):
            if acct <= 0:
                continue
            last_trade[(acct, ev.symbol)] = ev.trade_id
            if fee:
                self._add_income(acct, ms, ev.symbol, "COMMISSION", -fee, "COMMISSION", str(ev.trade_id))
            _update(updates, acct, "ORDER", ev.ts_ns)

    def _add_income(self, acct: int, ms: int, symbol: str, kind: str, atoms: int, info: str, trade: str) -> None:
        rows = self.income.get(acct)
        if rows is None:
            rows = self.income[acct] = []
        rows.append((ms, symbol, kind, atoms, info, self.next_tran_id, trade))
        self.next_tran_id += 1

    def _record_margin_move(self, acct: int, ms: int, symbol: str, position_side: int, into_wallet_atoms: int) -> None:
        # the wallet's change is minus the bucket's: into the bucket is Binance's type 1 (add)
        kind = 1 if into_wallet_atoms < 0 else 2
        moves = self.margin_moves.get(acct)
        if moves is None:
            moves = self.margin_moves[acct] = []
        moves.append((ms, symbol, kind, -into_wallet_atoms if kind == 1 else into_wallet_atoms, position_side))

    def _event_ms(self, transaction_ms: int) -> int:
        """Event time ``E``: the venue's clock, never before the transaction time ``T``."""
        now = ms_of(self.venue.now_ns)
        return now if now > transaction_ms else transaction_ms

    # ------------------------------------------------------------------ payloads
    def account_update_payload(self, account_id: int, upd: "_Update") -> dict[str, Any]:
        """``ACCOUNT_UPDATE`` for one account after a batch (ledger state at the batch's end)."""
        venue = self.venue
        ledger = venue.ledger
        acct = ledger.accounts.get(account_id) or Account(account_id)
        isolated_atoms = sum(p.margin_atoms for p in acct.positions.values() if p.isolated)
        balance = {
            "a": _asset(venue),
            "wb": _money(acct.wallet_atoms + isolated_atoms),
            "cw": _money(acct.wallet_atoms),
            "bc": _money(upd.balance_change),
        }
        rows: list[dict[str, Any]] = []
        seen: set[tuple[str, int]] = set()
        for key, ev in upd.positions.items():
            seen.add(key)
            rows.append(self._p_row(acct, key[0], key[1], ev.qty_lots, ev.cost_atoms, ev.margin_atoms, ev.realized_pnl_atoms))
        for symbol, pside in sorted(upd.funded):
            pos = acct.positions.get((symbol, pside))
            if (symbol, pside) in seen or pos is None or not pos.isolated:
                continue  # Binance: cross funding pushes only the balance
            seen.add((symbol, pside))
            rows.append(self._p_row(acct, symbol, pside, pos.qty_lots, pos.cost_atoms, pos.margin_atoms, pos.realized_pnl_atoms))
        for symbol in sorted(upd.mode_changed):
            for pside in _sides(acct):
                if (symbol, pside) in seen:
                    continue
                seen.add((symbol, pside))
                pos = acct.positions.get((symbol, pside))
                if pos is None:
                    rows.append(self._p_row(acct, symbol, pside, 0, 0, 0, 0))
                else:
                    rows.append(self._p_row(acct, symbol, pside, pos.qty_lots, pos.cost_atoms, pos.margin_atoms,
                                            pos.realized_pnl_atoms))
        ms = ms_of(upd.ts_ns)
        return {
            "e": "ACCOUNT_UPDATE",
            "E": self._event_ms(ms),
            "T": ms,
            "a": {"m": upd.reason, "B": [balance], "P": rows},
        }

    def _p_row(self, acct: Account, symbol: str, pside: int, qty: int, cost: int, margin: int, realized: int) -> dict[str, Any]:
        """One ``P`` entry of ACCOUNT_UPDATE from a position's state (an event's or the ledger's)."""
        venue = self.venue
        ledger = venue.ledger
        inst = venue.instruments[symbol]
        isolated = ledger.margin_mode(acct, symbol) == ISOLATED
        if qty:
            mark = ledger.marks.get(symbol)
            n_e8 = (qty if qty > 0 else -qty) * (mark if mark is not None else 0) * inst.lot_size_e8
            c_e8 = cost * ATOMS_E8_PER_ATOM
            upnl = atoms_e8_floor((n_e8 - c_e8 if qty > 0 else c_e8 - n_e8) if mark is not None else 0)
            ep = format_subticks(_entry_subticks(cost, qty, inst.lot_size_e8), inst.tick_places)
            pos = acct.positions.get((symbol, pside))
            fees = pos.fees_atoms if pos is not None else 0
            bep = format_subticks(_break_even_subticks(cost, fees, qty, inst.lot_size_e8, inst.taker_fee_e8), inst.tick_places)
        else:
            upnl, ep, bep = 0, "0", "0"
        return {
            "s": symbol,
            "pa": format_lots(qty, inst.lot_size),
            "ep": ep,
            "bep": bep,
            "cr": _money(realized),
            "up": _money(upnl),
            "mt": _MT_LOWER[isolated],
            "iw": _money(margin if isolated and qty else 0),  # a closed bucket is settled (engine)
            "ps": POSITION_SIDE_NAMES[pside],
        }

    def margin_call_payload(self, call: MarginCall) -> dict[str, Any]:
        """``MARGIN_CALL`` for one MarginCall event: the bucket's position (ISOLATED) or every
        cross position of the pool with the cross wallet ``cw`` (CROSS)."""
        venue = self.venue
        ledger = venue.ledger
        acct = ledger.accounts.get(call.account_id) or Account(call.account_id)
        if call.scope == "ISOLATED":
            pos = acct.positions.get((call.symbol, call.position_side))
            positions = [pos] if pos is not None else []
        else:
            positions = [p for _, p in sorted(acct.positions.items()) if not p.isolated and p.qty_lots]
        rows = []
        for pos in positions:
            inst = venue.instruments[pos.symbol]
            fig = _Figures(ledger, pos)
            rows.append({
                "s": pos.symbol,
                "ps": POSITION_SIDE_NAMES[pos.position_side],
                "pa": format_lots(pos.qty_lots, inst.lot_size),
                "mt": _MT_UPPER[pos.isolated],
                "iw": _money(pos.margin_atoms if pos.isolated else 0),
                "mp": _price8(fig.mark),
                "up": _money(fig.upnl),
                "mm": _money(fig.mm),
            })
        out: dict[str, Any] = {"e": "MARGIN_CALL", "E": self._event_ms(ms_of(call.ts_ns))}
        if call.scope != "ISOLATED":
            out["cw"] = _money(acct.wallet_atoms)
        out["p"] = rows
        return out


class _Update:
    """What one batch changed for one account (built by :meth:`AccountFeed.on_events`)."""

    __slots__ = ("reason", "ts_ns", "positions", "balance_change", "funded", "mode_changed")

    def __init__(self, reason: str, ts_ns: int) -> None:
        self.reason = reason
        self.ts_ns = ts_ns
        #: (symbol, position_side) -> the last PositionChanged of the batch
        self.positions: dict[tuple[str, int], PositionChanged] = {}
        self.balance_change = 0  # deposits, withdrawals and funding (Binance's bc: not PnL, not fees)
        self.funded: set[tuple[str, int]] = set()
        self.mode_changed: set[str] = set()


def _update(updates: dict[int, _Update], acct: int, reason: str, ts_ns: int) -> _Update:
    """The account's update of this batch (created with ``reason``: the first cause wins)."""
    upd = updates.get(acct)
    if upd is None:
        upd = updates[acct] = _Update(reason, ts_ns)
    elif ts_ns > upd.ts_ns:
        upd.ts_ns = ts_ns
    return upd


def _asset(venue: Any) -> str:
    """The settlement asset: the quote asset of the venue's instruments (USDT)."""
    for inst in venue.instruments.values():
        return str(inst.quote)
    return "USDT"


def _sides(acct: Account) -> tuple[int, ...]:
    """The position sides an account shows: BOTH in one-way mode, LONG and SHORT in hedge mode."""
    return (LONG, SHORT) if acct.hedge_mode else (BOTH,)


# --------------------------------------------------------------------------- reading the ledger
def _account(venue: Any, account_id: int | None) -> Account:
    """The caller's ledger account (an empty stand-in before its first deposit)."""
    if account_id is None:
        raise BinanceError(BAD_ACCOUNT, "Invalid account.")
    acct = venue.ledger.accounts.get(account_id)
    return acct if acct is not None else Account(account_id)


def _symbol(venue: Any, params: Params, required: bool = True) -> str | None:
    """The ``symbol`` parameter, checked against the venue's instruments (-1121)."""
    symbol = params.text("symbol") if required else params.optional("symbol")
    if symbol is not None and symbol not in venue.instruments:
        raise BinanceError(INVALID_SYMBOL, "Invalid symbol.")
    return symbol


def _open_order_margin(ledger: Any, acct: Account) -> dict[tuple[str, int], int]:
    """(symbol, position_side) -> initial margin held for the account's open orders.

    Orders waiting outside the book (stops) hold no margin; they appear with 0 on the
    BOTH side (one-way) or on both sides (hedge), so they still count as open orders."""
    out: dict[tuple[str, int], int] = {}
    for oid, symbol in acct.order_ids.items():
        hold = ledger.hold(oid)
        if hold is None:
            for side in _sides(acct):
                out.setdefault((symbol, side), 0)
        else:
            key = (symbol, hold.position_side)
            out[key] = out.get(key, 0) + hold.held_atoms
    return out


def _adl_quantile(ledger: Any, pos: Position) -> int:
    """Binance's ADL quantile 0..4 (4: first in the queue) of a position among every
    trader's positions on the same contract and side, by exsim's ADL ranking score
    (MARGIN-SPEC §5): ``ceil(4 * share of positions ranked at or below it)``, 0 for a
    position whose score is 0 (no unrealized profit: last in the queue). O(accounts)."""
    acct = ledger.accounts.get(pos.account_id)
    if acct is None or not pos.qty_lots:
        return 0
    mine = binance_adl_score(ledger, acct, pos)
    if mine <= 0:
        return 0
    long = pos.qty_lots > 0
    below = total = 0
    for other in ledger.accounts.values():
        for p in other.positions.values():
            if p.symbol != pos.symbol or not p.qty_lots or (p.qty_lots > 0) != long:
                continue
            total += 1
            if binance_adl_score(ledger, other, p) <= mine:
                below += 1
    return ceil_div(4 * below, total)


class _Totals:
    """An account's totals in atoms (one asset: the settlement asset)."""

    __slots__ = ("wallet", "cross_wallet", "upnl", "cross_upnl", "position_im", "order_im", "mm", "available",
                 "withdrawable", "figures")

    def __init__(self, ledger: Any, acct: Account) -> None:
        upnl_e8 = cross_upnl_e8 = 0
        im = mm = isolated = 0
        self.figures: dict[tuple[str, int], _Figures] = {}
        for key, pos in acct.positions.items():
            if not pos.qty_lots:
                continue
            fig = self.figures[key] = _Figures(ledger, pos)
            upnl_e8 += fig.upnl_e8
            im += fig.im
            mm += fig.mm
            if pos.isolated:
                isolated += pos.margin_atoms
            else:
                cross_upnl_e8 += fig.upnl_e8
        self.cross_wallet = acct.wallet_atoms
        self.wallet = acct.wallet_atoms + isolated
        self.upnl = atoms_e8_floor(upnl_e8)
        self.cross_upnl = atoms_e8_floor(cross_upnl_e8)
        self.position_im = im
        self.order_im = acct.held_atoms
        self.mm = mm
        self.available = ledger.available_atoms(acct) if acct.account_id in ledger.accounts else acct.wallet_atoms
        self.withdrawable = ledger.withdrawable_atoms(acct) if acct.account_id in ledger.accounts else 0


def _asset_row(venue: Any, acct: Account, tot: _Totals, update_ms: int, v2: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "asset": _asset(venue),
        "walletBalance": _money(tot.wallet),
        "unrealizedProfit": _money(tot.upnl),
        "marginBalance": _money(tot.wallet + tot.upnl),
        "maintMargin": _money(tot.mm),
        "initialMargin": _money(tot.position_im + tot.order_im),
        "positionInitialMargin": _money(tot.position_im),
        "openOrderInitialMargin": _money(tot.order_im),
        "crossWalletBalance": _money(tot.cross_wallet),
        "crossUnPnl": _money(tot.cross_upnl),
        "availableBalance": _money(tot.available),
        "maxWithdrawAmount": _money(tot.withdrawable),
    }
    if v2:
        row["marginAvailable"] = True
    row["updateTime"] = update_ms
    return row


def _account_totals(tot: _Totals) -> dict[str, Any]:
    return {
        "totalInitialMargin": _money(tot.position_im + tot.order_im),
        "totalMaintMargin": _money(tot.mm),
        "totalWalletBalance": _money(tot.wallet),
        "totalUnrealizedProfit": _money(tot.upnl),
        "totalMarginBalance": _money(tot.wallet + tot.upnl),
        "totalPositionInitialMargin": _money(tot.position_im),
        "totalOpenOrderInitialMargin": _money(tot.order_im),
        "totalCrossWalletBalance": _money(tot.cross_wallet),
        "totalCrossUnPnl": _money(tot.cross_upnl),
        "availableBalance": _money(tot.available),
        "maxWithdrawAmount": _money(tot.withdrawable),
    }


def _feed(venue: Any) -> AccountFeed | None:
    feed = getattr(venue, "account", None)
    return feed if isinstance(feed, AccountFeed) else None


def _position_ms(venue: Any, account_id: int, symbol: str, pside: int) -> int:
    feed = _feed(venue)
    return feed.position_update_ms.get((account_id, symbol, pside), 0) if feed is not None else 0


def _balance_ms(venue: Any, account_id: int) -> int:
    """The ms of the account's last wallet change; the venue's clock if it never changed
    (never 0: ccxt's fetch_balance drops an asset whose updateTime is 0)."""
    feed = _feed(venue)
    ms = feed.balance_update_ms.get(account_id, 0) if feed is not None else 0
    return ms or max(1, ms_of(venue.now_ns))


class _Row:
    """Everything a position row needs, for a held or a flat (symbol, side)."""

    __slots__ = ("symbol", "pside", "inst", "pos", "fig", "leverage", "isolated", "mark", "order_im")

    def __init__(self, venue: Any, acct: Account, tot: _Totals, orders: dict[tuple[str, int], int], symbol: str, pside: int) -> None:
        ledger = venue.ledger
        self.symbol = symbol
        self.pside = pside
        self.inst = venue.instruments[symbol]
        pos = acct.positions.get((symbol, pside))
        self.pos = pos if pos is not None and pos.qty_lots else None
        self.fig = tot.figures.get((symbol, pside)) if self.pos is not None else None
        self.leverage = self.pos.leverage if self.pos is not None else ledger.leverage(acct, symbol)
        self.isolated = self.pos.isolated if self.pos is not None else ledger.margin_mode(acct, symbol) == ISOLATED
        self.mark = ledger.marks.get(symbol, 0)
        self.order_im = orders.get((symbol, pside), 0)

    def amount(self) -> str:
        return format_lots(self.pos.qty_lots if self.pos is not None else 0, self.inst.lot_size)

    def entry(self) -> str:
        pos = self.pos
        if pos is None:
            return "0.0"
        return format_subticks(_entry_subticks(pos.cost_atoms, pos.qty_lots, self.inst.lot_size_e8), self.inst.tick_places)

    def break_even(self) -> str:
        pos = self.pos
        if pos is None:
            return "0.0"
        inst = self.inst
        return format_subticks(
            _break_even_subticks(pos.cost_atoms, pos.fees_atoms, pos.qty_lots, inst.lot_size_e8, inst.taker_fee_e8),
            inst.tick_places,
        )

    def upnl(self) -> int:
        return self.fig.upnl if self.fig is not None else 0

    def notional(self) -> str:
        """Signed notional at the mark (negative for a short), atoms rounded up in size."""
        if self.fig is None or self.pos is None:
            return "0"
        n = self.fig.notional
        return _money(n if self.pos.qty_lots > 0 else -n)

    def isolated_wallet(self) -> int:
        return self.pos.margin_atoms if self.pos is not None and self.isolated else 0

    def position_im(self) -> int:
        return self.fig.im if self.fig is not None else 0

    def mm(self) -> int:
        return self.fig.mm if self.fig is not None else 0

    def liquidation_price(self, venue: Any, account_id: int) -> str:
        if self.pos is None:
            return "0"
        lp = venue.liquidation_price_subticks(account_id, self.symbol, self.pside)
        return _price8(lp) if lp else "0"

    def max_notional(self) -> str:
        return _plain(max_notional_atoms(self.inst, self.leverage))


def _rows(venue: Any, acct: Account, tot: _Totals, symbols: Iterable[str], held_only: bool) -> list[_Row]:
    """Position rows in symbol order: every (symbol, side) of ``symbols`` (``held_only``:
    only sides with a position or open orders)."""
    orders = _open_order_margin(venue.ledger, acct)
    out = []
    for symbol in sorted(symbols):
        for pside in _sides(acct):
            if held_only:
                pos = acct.positions.get((symbol, pside))
                if (pos is None or not pos.qty_lots) and (symbol, pside) not in orders:
                    continue
            out.append(_Row(venue, acct, tot, orders, symbol, pside))
    return out


# --------------------------------------------------------------------------- REST: reading
@endpoint("GET", "/fapi/v2/account", security=SIGNED, weight=5)
def account_v2(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Account information V2: totals, the asset, and a row for every symbol (and side)."""
    acct = _account(venue, account_id)
    tot = _Totals(venue.ledger, acct)
    out: dict[str, Any] = {
        "feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True, "canWithdraw": True, "updateTime": 0,
        "multiAssetsMargin": _multi_assets(venue, acct), "tradeGroupId": -1,
    }
    out.update(_account_totals(tot))
    out["assets"] = [_asset_row(venue, acct, tot, _balance_ms(venue, acct.account_id), True)]
    positions = []
    for r in _rows(venue, acct, tot, venue.instruments, held_only=False):
        positions.append({
            "symbol": r.symbol,
            "initialMargin": _money(r.position_im() + r.order_im),
            "maintMargin": _money(r.mm()),
            "unrealizedProfit": _money(r.upnl()),
            "positionInitialMargin": _money(r.position_im()),
            "openOrderInitialMargin": _money(r.order_im),
            "leverage": str(r.leverage),
            "isolated": r.isolated,
            "entryPrice": r.entry(),
            "breakEvenPrice": r.break_even(),
            "maxNotional": r.max_notional(),
            "bidNotional": "0",
            "askNotional": "0",
            "positionSide": POSITION_SIDE_NAMES[r.pside],
            "positionAmt": r.amount(),
            "updateTime": _position_ms(venue, acct.account_id, r.symbol, r.pside),
        })
    out["positions"] = positions
    return out


@endpoint("GET", "/fapi/v3/account", security=SIGNED, weight=5)
def account_v3(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Account information V3: totals, the asset, rows only for symbols with a position or open orders."""
    acct = _account(venue, account_id)
    tot = _Totals(venue.ledger, acct)
    out = _account_totals(tot)
    out["assets"] = [_asset_row(venue, acct, tot, _balance_ms(venue, acct.account_id), False)]
    positions = []
    for r in _rows(venue, acct, tot, venue.instruments, held_only=True):
        positions.append({
            "symbol": r.symbol,
            "positionSide": POSITION_SIDE_NAMES[r.pside],
            "positionAmt": r.amount(),
            "unrealizedProfit": _money(r.upnl()),
            "isolatedMargin": _money(r.isolated_wallet() + r.upnl() if r.isolated else 0),
            "notional": r.notional(),
            "isolatedWallet": _money(r.isolated_wallet()),
            "initialMargin": _money(r.position_im() + r.order_im),
            "maintMargin": _money(r.mm()),
            "updateTime": _position_ms(venue, acct.account_id, r.symbol, r.pside),
        })
    out["positions"] = positions
    return out


def _balance(venue: Any, account_id: int | None) -> list[dict[str, Any]]:
    acct = _account(venue, account_id)
    tot = _Totals(venue.ledger, acct)
    return [{
        "accountAlias": f"exsim{acct.account_id}",
        "asset": _asset(venue),
        "balance": _money(tot.wallet),
        "crossWalletBalance": _money(tot.cross_wallet),
        "crossUnPnl": _money(tot.cross_upnl),
        "availableBalance": _money(tot.available),
        "maxWithdrawAmount": _money(tot.withdrawable),
        "marginAvailable": True,
        "updateTime": _balance_ms(venue, acct.account_id),
    }]


@endpoint("GET", "/fapi/v2/balance", security=SIGNED, weight=5)
def balance_v2(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Futures account balance V2: one row, the settlement asset."""
    return _balance(venue, account_id)


@endpoint("GET", "/fapi/v3/balance", security=SIGNED, weight=5)
def balance_v3(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Futures account balance V3 (the same row as V2)."""
    return _balance(venue, account_id)


@endpoint("GET", "/fapi/v2/positionRisk", security=SIGNED, weight=5)
def position_risk_v2(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Position information V2: every symbol (or ``symbol``), BOTH or LONG and SHORT."""
    acct = _account(venue, account_id)
    symbol = _symbol(venue, params, required=False)
    tot = _Totals(venue.ledger, acct)
    out = []
    for r in _rows(venue, acct, tot, [symbol] if symbol else venue.instruments, held_only=False):
        out.append({
            "entryPrice": r.entry(),
            "breakEvenPrice": r.break_even(),
            "marginType": _MT_LOWER[r.isolated],
            "isAutoAddMargin": "false",
            "isolatedMargin": _money(r.isolated_wallet() + r.upnl() if r.isolated else 0),
            "leverage": str(r.leverage),
            "liquidationPrice": r.liquidation_price(venue, acct.account_id),
            "markPrice": _price8(r.mark),
            "maxNotionalValue": r.max_notional(),
            "positionAmt": r.amount(),
            "notional": r.notional(),
            "isolatedWallet": _money(r.isolated_wallet()),
            "symbol": r.symbol,
            "unRealizedProfit": _money(r.upnl()),
            "positionSide": POSITION_SIDE_NAMES[r.pside],
            "updateTime": _position_ms(venue, acct.account_id, r.symbol, r.pside),
        })
    return out


@endpoint("GET", "/fapi/v3/positionRisk", security=SIGNED, weight=5)
def position_risk_v3(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Position information V3: only symbols (sides) with a position or open orders."""
    acct = _account(venue, account_id)
    symbol = _symbol(venue, params, required=False)
    ledger = venue.ledger
    tot = _Totals(ledger, acct)
    out = []
    for r in _rows(venue, acct, tot, [symbol] if symbol else venue.instruments, held_only=True):
        out.append({
            "symbol": r.symbol,
            "positionSide": POSITION_SIDE_NAMES[r.pside],
            "positionAmt": r.amount(),
            "entryPrice": r.entry(),
            "breakEvenPrice": r.break_even(),
            "markPrice": _price8(r.mark),
            "unRealizedProfit": _money(r.upnl()),
            "liquidationPrice": r.liquidation_price(venue, acct.account_id),
            "isolatedMargin": _money(r.isolated_wallet() + r.upnl() if r.isolated else 0),
            "notional": r.notional(),
            "marginAsset": _asset(venue),
            "isolatedWallet": _money(r.isolated_wallet()),
            "initialMargin": _money(r.position_im() + r.order_im),
            "maintMargin": _money(r.mm()),
            "positionInitialMargin": _money(r.position_im()),
            "openOrderInitialMargin": _money(r.order_im),
            "adl": _adl_quantile(ledger, r.pos) if r.pos is not None else 0,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": _position_ms(venue, acct.account_id, r.symbol, r.pside),
        })
    return out


def _time_range(params: Params) -> tuple[int | None, int | None]:
    start = params.integer("startTime") if params.has("startTime") else None
    end = params.integer("endTime") if params.has("endTime") else None
    if start is not None and end is not None and start > end:
        raise BinanceError(START_TIME_GREATER_THAN_END_TIME, "Start time is greater than end time.")
    return start, end


def _limit(params: Params, default: int, most: int) -> int:
    limit = params.integer("limit", default=default)
    if not 1 <= limit <= most:
        raise illegal("limit", str(limit), f"1..{most}")
    return limit


@endpoint("GET", "/fapi/v1/income", security=SIGNED, weight=30)
def income(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Income history: REALIZED_PNL, COMMISSION, FUNDING_FEE, TRANSFER, INSURANCE_CLEAR.

    Filters ``symbol``, ``incomeType``, ``startTime``/``endTime`` (inclusive, ms; neither:
    the last 7 days of the venue's clock), ``limit`` (default 100, at most 1000) and
    ``page`` (1-based). Oldest first; with ``startTime`` the first ``limit`` rows from it,
    otherwise the last ``limit`` rows up to ``endTime``.
    """
    acct = _account(venue, account_id)
    symbol = _symbol(venue, params, required=False)
    kind = params.optional("incomeType")
    start, end = _time_range(params)
    limit = _limit(params, 100, 1000)
    page = params.integer("page", default=1)
    if page < 1:
        raise illegal("page", str(page), "a page number from 1")
    if start is None and end is None:
        start = ms_of(venue.now_ns) - 7 * _DAY_MS
    feed = _feed(venue)
    rows = feed.income.get(acct.account_id, []) if feed is not None else []
    hits = [
        r for r in rows
        if (symbol is None or r[1] == symbol) and (kind is None or r[2] == kind)
        and (start is None or r[0] >= start) and (end is None or r[0] <= end)
    ]
    skip = (page - 1) * limit
    if params.has("startTime"):
        hits = hits[skip:skip + limit]
    else:
        stop = len(hits) - skip
        hits = hits[max(0, stop - limit):max(0, stop)]
    asset = _asset(venue)
    return [
        {"symbol": s, "incomeType": k, "income": _money(a), "asset": asset, "info": info, "time": ms,
         "tranId": tran, "tradeId": trade}
        for ms, s, k, a, info, tran, trade in hits
    ]


@endpoint("GET", "/fapi/v1/commissionRate", security=SIGNED, weight=20)
def commission_rate(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """The instrument's maker and taker fee rates (exsim has no per-account tiers)."""
    symbol = _symbol(venue, params)
    inst = venue.instruments[symbol]
    return {
        "symbol": symbol,
        "makerCommissionRate": format_rate_e8(inst.maker_fee_e8),
        "takerCommissionRate": format_rate_e8(inst.taker_fee_e8),
    }


def _multi_assets(venue: Any, acct: Any) -> bool:
    """Whether the account is in Multi-Assets mode (the ledger's collateral mode)."""
    return bool(venue.ledger.collateral_mode(acct.account_id) == MULTI_ASSETS)


@endpoint("GET", "/fapi/v1/multiAssetsMargin", security=SIGNED, weight=30)
def multi_assets_margin(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Multi-Assets mode: ``{"multiAssetsMargin": true}`` when the account is in it."""
    return {"multiAssetsMargin": _multi_assets(venue, _account(venue, account_id))}


@endpoint("POST", "/fapi/v1/multiAssetsMargin", security=SIGNED, weight=1)
async def change_multi_assets_margin(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Multi-Assets mode on (``multiAssetsMargin=true``) or off, for the whole account:
    ``{code: 200, msg: "success"}``; -4171 when already so, -4167 with a symbol in
    isolated margin, -4170 with an open order or a position (exsim's venue refuses both,
    see docs/serve.md), -1102 without the parameter. Sent as
    :class:`~exsim.exchange.commands.SetCollateralMode`."""
    acct = _account(venue, account_id)
    assert account_id is not None
    if not params.has("multiAssetsMargin"):
        params.text("multiAssetsMargin")  # raises -1102 naming it
    on = params.boolean("multiAssetsMargin")
    if _multi_assets(venue, acct) == on:
        raise BinanceError(NO_NEED_TO_CHANGE_JOINT_MARGIN, "Adjusted asset mode is currently set and does not need to be adjusted repeatedly.")
    mode = MULTI_ASSETS if on else SINGLE_ASSET
    events = await venue.send(lambda ts: SetCollateralMode(ts, account_id, mode))
    refused = _rejection(events, account_id)
    if refused is not None:
        raise reject_error(refused.command, refused.reason)
    return {"code": 200, "msg": "success"}


@endpoint("GET", "/fapi/v1/positionSide/dual", security=SIGNED, weight=30)
def position_mode(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """The position mode: ``dualSidePosition`` true in hedge mode."""
    return {"dualSidePosition": bool(_account(venue, account_id).hedge_mode)}


@endpoint("GET", "/fapi/v1/symbolConfig", security=SIGNED, weight=5)
def symbol_config(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Per-symbol margin type and leverage (every symbol, or ``symbol``)."""
    acct = _account(venue, account_id)
    symbol = _symbol(venue, params, required=False)
    ledger = venue.ledger
    out = []
    for s in [symbol] if symbol else sorted(venue.instruments):
        lev = ledger.leverage(acct, s)
        out.append({
            "symbol": s,
            "marginType": _MT_UPPER[ledger.margin_mode(acct, s) == ISOLATED],
            "isAutoAddMargin": False,
            "leverage": lev,
            "maxNotionalValue": _plain(max_notional_atoms(venue.instruments[s], lev)),
        })
    return out


@endpoint("GET", "/fapi/v1/accountConfig", security=SIGNED, weight=5)
def account_config(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Account configuration: permissions, position mode, Multi-Assets mode (off)."""
    acct = _account(venue, account_id)
    return {
        "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
        "dualSidePosition": bool(acct.hedge_mode), "updateTime": 0, "multiAssetsMargin": _multi_assets(venue, acct),
        "tradeGroupId": -1,
    }


@endpoint("GET", "/fapi/v1/positionMargin/history", security=SIGNED, weight=1)
def position_margin_history(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Isolated margin moves of ``symbol``: ``type`` 1 add / 2 reduce, times inclusive,
    ``limit`` default 500 (the first ``limit`` in time order)."""
    acct = _account(venue, account_id)
    symbol = _symbol(venue, params)
    kind = params.integer("type") if params.has("type") else None
    if kind is not None and kind not in (1, 2):
        raise illegal("type", str(kind), "1 (add) or 2 (reduce)")
    start, end = _time_range(params)
    limit = _limit(params, 500, 1000)
    feed = _feed(venue)
    moves = feed.margin_moves.get(acct.account_id, []) if feed is not None else []
    asset = _asset(venue)
    out = []
    for ms, s, k, atoms, pside in moves:
        if s != symbol or (kind is not None and k != kind) or (start is not None and ms < start) or (end is not None and ms > end):
            continue
        out.append({"symbol": s, "type": k, "deltaType": "USER_ADJUST", "amount": _money(atoms), "asset": asset,
                    "time": ms, "positionSide": POSITION_SIDE_NAMES[pside]})
        if len(out) == limit:
            break
    return out


# --------------------------------------------------------------------------- REST: settings
def _rejection(events: list[Any], account_id: int) -> CommandRejected | None:
    for ev in events:
        if type(ev) is CommandRejected and ev.account_id == account_id:
            return ev
    return None


@endpoint("POST", "/fapi/v1/leverage", security=SIGNED, weight=1)
async def change_leverage(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Set the symbol's leverage (1..125, and at most its bracket's maximum for the
    position's notional): ``{leverage, maxNotionalValue, symbol}``."""
    _account(venue, account_id)
    assert account_id is not None
    symbol = _symbol(venue, params)
    assert symbol is not None
    leverage = params.integer("leverage")
    if not 1 <= leverage <= _MAX_LEVERAGE:
        raise BinanceError(INVALID_LEVERAGE, f"Leverage {leverage} is not valid")
    events = await venue.send(lambda ts: SetLeverage(ts, account_id, symbol, leverage))
    refused = _rejection(events, account_id)
    if refused is not None:
        raise reject_error(refused.command, refused.reason)
    inst = venue.instruments[symbol]
    return {"leverage": leverage, "maxNotionalValue": _plain(max_notional_atoms(inst, leverage)), "symbol": symbol}


@endpoint("POST", "/fapi/v1/marginType", security=SIGNED, weight=1)
async def change_margin_type(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Switch the symbol between ISOLATED and CROSSED: -4046 when already so, -4048 with
    a position, -4047 with open orders."""
    _account(venue, account_id)
    assert account_id is not None
    symbol = _symbol(venue, params)
    assert symbol is not None
    text = params.text("marginType").upper()
    if text not in _MT_UPPER:
        raise illegal("marginType", text, "ISOLATED or CROSSED")
    mode = ISOLATED if text == "ISOLATED" else CROSS
    if venue.ledger.margin_mode(_account(venue, account_id), symbol) == mode:
        raise BinanceError(NO_NEED_TO_CHANGE_MARGIN_TYPE, "No need to change margin type.")
    events = await venue.send(lambda ts: SetMarginMode(ts, account_id, symbol, mode))
    refused = _rejection(events, account_id)
    if refused is not None:
        acct = _account(venue, account_id)
        has_position = any(s == symbol and p.qty_lots for (s, _), p in acct.positions.items())
        raise reject_error(refused.command, refused.reason, has_position=has_position)
    return {"code": 200, "msg": "success"}


@endpoint("POST", "/fapi/v1/positionSide/dual", security=SIGNED, weight=1)
async def change_position_mode(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Hedge mode (``dualSidePosition=true``) or one-way: -4059 when already so, -4068 with
    a position, -4067 with open orders."""
    _account(venue, account_id)
    assert account_id is not None
    if not params.has("dualSidePosition"):
        params.text("dualSidePosition")  # raises -1102 naming it
    hedge = params.boolean("dualSidePosition")
    if bool(_account(venue, account_id).hedge_mode) == hedge:
        raise BinanceError(NO_NEED_TO_CHANGE_POSITION_SIDE, "No need to change position side.")
    events = await venue.send(lambda ts: SetPositionMode(ts, account_id, hedge))
    refused = _rejection(events, account_id)
    if refused is not None:
        acct = _account(venue, account_id)
        has_position = any(p.qty_lots for p in acct.positions.values())
        raise reject_error(refused.command, refused.reason, has_position=has_position)
    return {"code": 200, "msg": "success"}


def _amount_atoms(value: Decimal) -> int:
    """A USDT amount as atoms, exactly (-1111 beyond 8 decimals, never rounded)."""
    scaled = value.scaleb(8)
    if scaled != scaled.to_integral_value():
        raise BinanceError(BAD_PRECISION, "Precision is over the maximum defined for this asset.")
    return int(scaled)


@endpoint("POST", "/fapi/v1/positionMargin", security=SIGNED, weight=1)
async def modify_position_margin(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Add (``type=1``) or remove (``type=2``) isolated margin of a position:
    ``{amount, code: 200, msg, type}``."""
    acct = _account(venue, account_id)
    assert account_id is not None
    symbol = _symbol(venue, params)
    assert symbol is not None
    side_name = params.text("positionSide", default="BOTH")
    pside = _PS_OF_NAME.get(side_name)
    if pside is None:
        raise BinanceError(INVALID_POSITION_SIDE, "Invalid position side.")
    if (pside == BOTH) == bool(acct.hedge_mode):
        raise BinanceError(POSITION_SIDE_NOT_MATCH, "Order's position side does not match user's setting.")
    amount = params.decimal("amount")
    kind = params.integer("type")
    if kind not in (1, 2):
        raise illegal("type", str(kind), "1 (add) or 2 (reduce)")
    if amount <= 0:
        raise BinanceError(AMOUNT_MUST_BE_POSITIVE, "Amount must be positive.")
    atoms = _amount_atoms(amount)
    delta = atoms if kind == 1 else -atoms
    events = await venue.send(lambda ts: AdjustIsolatedMargin(ts, account_id, symbol, pside, delta))
    refused = _rejection(events, account_id)
    if refused is not None:
        acct = _account(venue, account_id)
        isolated = venue.ledger.margin_mode(acct, symbol) == ISOLATED
        raise reject_error(refused.command, refused.reason, adding=kind == 1, isolated=isolated)
    # Binance answers the amount as a JSON number: the request's own decimal, echoed
    return {"amount": float(amount), "code": 200, "msg": "Successfully modify position margin.", "type": kind}
