"""The position ledger: where every atom lives, and the margin arithmetic on it.

Money is kept **per settlement asset** (USDT, USDC, BTC, ...): each asset has its own
:class:`AssetBook` (trader wallets, the EXTERNAL mirror, the insurance fund, the fee
pool, deposits and withdrawals), an instrument settles in exactly one asset
(:attr:`Instrument.margin_asset`), and a trader's :class:`Account` object is its wallet
and cross pool in one asset (a BTC wallet backs every BTC-margined cross position, as on
Binance COIN-M). The identity below holds for every asset on its own, to the atom.

It knows nothing of the order book: the exchange tells it about holds for new orders,
fills and releases, and asks it for margin figures. All money is int atoms and every
movement has a source and a destination, so the conservation identity

    Σ wallets + Σ isolated buckets + fee pool + insurance fund − Σ signed entry costs
        − uncovered loss == Σ deposits − Σ withdrawals   (insurance fund seed counted as a deposit)

holds exactly after every event, per asset (``_check()`` verifies it and names the asset
that broke it). The signed-cost term is the open positions' value at their entry (an
inverse position's with the opposite sign: its coin value falls as the price rises, so an
inverse long is a short of coin value): positions net to zero across all accounts (the
``EXTERNAL`` account mirrors fills against replayed liquidity), so it equals minus the
sum of unrealized PnL at any common price. The uncovered loss is what the insurance fund
could not pay once it ran dry (:attr:`Ledger.uncovered_loss_atoms`): the fund is booked at
zero and the shortfall stands here, so the identity stays exact.

Rounding (all through :mod:`exsim.units`): requirements (initial margin, maintenance
margin, fees) round up, against the trader; a partial close realizes the floor of the
cost share, and the residue stays in the remaining position's cost, so the sum of the
realized PnL over a position's life is exact; proportional margin released from an
isolated bucket rounds down (the rest comes back when the position closes). An inverse
fill's coin value is rounded down once (:meth:`Instrument.fill_value_atoms`) and booked
identically to both sides, so every fill still nets to zero.
"""

from __future__ import annotations

from collections.abc import Iterator

from typing import Final, Iterable

from exsim.errors import InputError, StateError
from exsim.instruments import Instrument
from exsim.instruments.instrument import USD_ASSETS
from exsim.ledger.accounts import (
    BOTH,
    BUY,
    CONVERSION_DESK,
    CROSS,
    EXTERNAL,
    INSURANCE_FUND,
    ISOLATED,
    LONG,
    SHORT,
    NO_ORDERS,
    Account,
    Portfolio,
    Position,
    SharedMap,
)
from exsim.ledger.holds import (
    ACCOUNT_SHIFT,
    HELD_MASK,
    HELD_SHIFT,
    HOLD_CLOSING,
    HOLD_MAY_REST,
    HOLD_PSIDE_SHIFT,
    HOLD_SIDE,
    LOTS_MASK,
    LOTS_SHIFT,
    NOTIONAL_MASK,
    NOTIONAL_SHIFT,
    SYMBOL_MASK,
    SYMBOL_SHIFT,
    OpenOrders,
    OrderHold,
    fits,
    hold_flags,
    pack,
)
from exsim.ledger.collateral import (
    AUTO_EXCHANGE_THRESHOLD_USD_E8,
    COLLATERAL_MODES,
    MULTI_ASSETS,
    SINGLE_ASSET,
    USD_E40_PER_USD_E8,
    AccountFigures,
    CollateralRule,
    account_figures,
    account_ltv_e8,
    cover_negative,
    default_rule,
    plan_auto_exchange,
    usd_e40_to_atoms_floor,
)
from exsim.ledger.risk_index import (
    DEFAULT_WARN_RATIO_E8,
    LIQUIDATION_RATIO_E8,
    RiskIndex,
    at_or_past_e8,
    collateral_key,
    cross_triggers,
    isolated_threshold_subticks,
    portfolio_triggers,
)
from exsim.units import (
    ATOMS_E8_PER_ATOM,
    RATE_SCALE,
    atoms_e8_ceil,
    atoms_e8_floor,
    ceil_div,
    floor_div,
    inverse_value_floor,
    mul_div_floor,
    rate_ceil,
)


class Reason:
    """Why the ledger refuses something (carried by rejection events)."""

    NO_ACCOUNT: Final = "NO_ACCOUNT"  # the account has never been funded
    INSUFFICIENT_MARGIN: Final = "INSUFFICIENT_MARGIN"
    INSUFFICIENT_BALANCE: Final = "INSUFFICIENT_BALANCE"  # a withdrawal or margin move
    REDUCE_ONLY_WOULD_INCREASE: Final = "REDUCE_ONLY_WOULD_INCREASE"
    LEVERAGE_ABOVE_BRACKET_MAX: Final = "LEVERAGE_ABOVE_BRACKET_MAX"
    LEVERAGE_BELOW_REQUIRED: Final = "LEVERAGE_BELOW_REQUIRED"  # position would miss initial margin
    INVALID_LEVERAGE: Final = "INVALID_LEVERAGE"
    NOTIONAL_ABOVE_MAX: Final = "NOTIONAL_ABOVE_MAX"
    POSITION_SIDE_MISMATCH: Final = "POSITION_SIDE_MISMATCH"  # BOTH in hedge mode, LONG/SHORT in one-way
    HAS_POSITION_OR_ORDERS: Final = "HAS_POSITION_OR_ORDERS"  # mode change refused
    NO_ISOLATED_POSITION: Final = "NO_ISOLATED_POSITION"
    INVALID_AMOUNT: Final = "INVALID_AMOUNT"
    UNKNOWN_ASSET: Final = "UNKNOWN_ASSET"  # no instrument of the run settles in it
    INVALID_COLLATERAL_MODE: Final = "INVALID_COLLATERAL_MODE"  # not single-asset / multi-assets
    ISOLATED_IN_MULTI_ASSETS: Final = "ISOLATED_IN_MULTI_ASSETS"  # multi-assets mode is cross only
    NO_INDEX_PRICE: Final = "NO_INDEX_PRICE"  # a multi-assets account holds an asset with no index price


class AssetBook:
    """Everything the ledger keeps in one settlement asset: the trader accounts' wallets
    in it, the EXTERNAL mirror, the insurance fund, the fee pool, the uncovered loss and
    the money that came in and went out. Amounts are atoms of :attr:`asset`."""

    __slots__ = (
        "asset",
        "accounts",
        "external",
        "fund",
        "desk",
        "special",
        "fee_pool_atoms",
        "uncovered_loss_atoms",
        "total_in_atoms",
        "total_out_atoms",
        "fund_history",
        "external_flat",
    )

    def __init__(self, asset: str, insurance_fund_atoms: int = 0) -> None:
        self.asset = asset
        self.accounts: dict[int, Account] = {}
        self.external = Account(EXTERNAL, asset)
        #: the insurance fund: its wallet is the fund's balance, and it can hold positions
        self.fund = Account(INSURANCE_FUND, asset)
        self.fund.wallet_atoms = insurance_fund_atoms
        #: the venue's exchange desk: the other side of every auto-exchange conversion in
        #: this asset (its wallet may go negative, like EXTERNAL's), so no atom is created
        self.desk = Account(CONVERSION_DESK, asset)
        self.special = {EXTERNAL: self.external, INSURANCE_FUND: self.fund, CONVERSION_DESK: self.desk}
        self.fee_pool_atoms = 0
        #: losses that neither the liquidated account, the fund nor ADL could absorb:
        #: reported, never hidden (counted against the money in the identity)
        self.uncovered_loss_atoms = 0
        self.total_in_atoms = insurance_fund_atoms  # deposits (and the fund's seed)
        self.total_out_atoms = 0  # withdrawals
        #: (ts_ns, balance after, change, reason): every change of the insurance fund
        self.fund_history: list[tuple[int, int, int, str]] = []
        #: EXTERNAL's positions that went flat, kept to be reused when they reopen (not
        #: state: a flat position is no position; see :meth:`Ledger.apply_external_fill`)
        self.external_flat: dict[tuple[str, int], Position] = {}

    def __repr__(self) -> str:
        return f"AssetBook({self.asset}, accounts={len(self.accounts)}, fund={self.fund.wallet_atoms})"


class Ledger:
    """Accounts, positions, isolated buckets, the fee pool and the insurance fund, per asset.

    ``default_leverage`` applies to an instrument until the account sets its own.
    Methods that can be refused return a :class:`Reason` string (None when done) and
    change nothing when refused.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        default_leverage: int = 20,
        insurance_fund_atoms: int | dict[str, int] = 0,
        warn_ratio_e8: int = DEFAULT_WARN_RATIO_E8,
        home_asset: str | None = None,
        assets: Iterable[str] = (),
    ) -> None:
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in instruments}
        self.default_leverage = default_leverage
        margin_assets = [i.margin_asset for i in self.instruments.values()]
        #: the asset of the one-asset views (``accounts``, ``fund``, ``fee_pool_atoms``...)
        #: and of a plain ``deposit``: given, else the first instrument's margin asset
        self.home_asset: str = home_asset or (margin_assets[0] if margin_assets else "USDT")
        seeds = insurance_fund_atoms if isinstance(insurance_fund_atoms, dict) else {self.home_asset: insurance_fund_atoms}
        names = [self.home_asset] + sorted((set(margin_assets) | set(assets) | set(seeds)) - {self.home_asset})
        #: one book per settlement asset, the home asset first
        self.assets: dict[str, AssetBook] = {a: AssetBook(a, seeds.get(a, 0)) for a in names}
        self._book_of: dict[str, AssetBook] = {sym: self.assets[i.margin_asset] for sym, i in self.instruments.items()}
        home = self.assets[self.home_asset]
        self._home = home
        #: the home asset's trader accounts, EXTERNAL mirror and insurance fund
        self.accounts: dict[int, Account] = home.accounts
        self.external = home.external
        self.fund = home.fund
        #: latest mark (or, before the first mark, last trade) price per symbol, in
        #: subticks (1e-8 of the quote asset: the venue's mark is finer than the tick)
        self.marks: dict[str, int] = {}
        #: the open orders: their holds (packed ints, see :mod:`exsim.ledger.holds`) and
        #: the symbols of those waiting for a trigger
        self._orders = OpenOrders(list(self.instruments))
        self._holds: dict[int, int] = self._orders.held  # order id -> packed hold
        self._symbol_index: dict[str, int] = {s: i for i, s in enumerate(self._orders.symbols)}
        self._position_keys: dict[tuple[str, int], tuple[str, int]] = {}  # one key tuple per (symbol, side)
        self._shared_modes: dict[frozenset[tuple[str, int]], SharedMap] = {}  # margin modes -> the one shared copy
        self.risk = RiskIndex(self, warn_ratio_e8)
        #: scopes found at or past a threshold, to evaluate at the end of the command
        self.pending: list[Account | Position] = []
        #: the fund account is a backstop vault that carries a deficit in its own balance
        #: (Hyperliquid's liquidator vault) instead of reporting it as an uncovered loss;
        #: set by the exchange from its venue profile
        self.fund_may_go_negative = False
        #: the risk-limit tier holds max(long position + buy orders, short position + sell
        #: orders) (Bybit) instead of the position and every open order together (Binance)
        self.tier_from_orders = False
        #: scopes reported liquidatable and not yet closed or recovered
        self.liquidatable: dict[int, Account | Position | Portfolio] = {}  # id(scope) -> scope, never iterated on an event path unsorted
        #: per asset, how it converts to USD in multi-assets mode (index, buffers, tiers)
        self.collateral: dict[str, CollateralRule] = {a: default_rule(a, USD_ASSETS) for a in self.assets}
        #: traders in multi-assets collateral mode: id -> their one pool over every asset
        self.portfolios: dict[int, Portfolio] = {}
        #: multi-assets traders whose wallets changed in this command: auto-exchange checks
        self.exchange_due: set[int] = set()
        #: the autoExchangeThreshold, 1e-8 USD (a USDⓈ wallet worth less is auto-exchanged)
        self.auto_exchange_threshold_usd_e8 = AUTO_EXCHANGE_THRESHOLD_USD_E8

    @property
    def holds(self) -> dict[int, OrderHold]:
        """Order id -> its margin hold, unpacked: a new dict, for inspection and checks.
        O(open orders); the ledger itself reads the packed holds."""
        symbols = self._orders.symbols
        return {order_id: OrderHold.unpack(packed, symbols) for order_id, packed in self._holds.items()}

    def hold(self, order_id: int) -> OrderHold | None:
        """The margin hold of one open order, unpacked (None: it holds nothing). O(1)."""
        packed = self._holds.get(order_id)
        return None if packed is None else OrderHold.unpack(packed, self._orders.symbols)

    # ------------------------------------------------------------------ the home asset's totals
    # one-asset views kept for callers that know only one asset (the home asset's book)
    @property
    def fee_pool_atoms(self) -> int:
        return self._home.fee_pool_atoms

    @fee_pool_atoms.setter
    def fee_pool_atoms(self, value: int) -> None:
        self._home.fee_pool_atoms = value

    @property
    def uncovered_loss_atoms(self) -> int:
        return self._home.uncovered_loss_atoms

    @uncovered_loss_atoms.setter
    def uncovered_loss_atoms(self, value: int) -> None:
        self._home.uncovered_loss_atoms = value

    @property
    def total_in_atoms(self) -> int:
        return self._home.total_in_atoms

    @total_in_atoms.setter
    def total_in_atoms(self, value: int) -> None:
        self._home.total_in_atoms = value

    @property
    def total_out_atoms(self) -> int:
        return self._home.total_out_atoms

    @total_out_atoms.setter
    def total_out_atoms(self, value: int) -> None:
        self._home.total_out_atoms = value

    @property
    def fund_history(self) -> list[tuple[int, int, int, str]]:
        return self._home.fund_history

    @property
    def insurance_fund_atoms(self) -> int:
        """The home asset's insurance fund balance (its account's wallet)."""
        return self._home.fund.wallet_atoms

    # ------------------------------------------------------------------ books and accounts
    def book(self, asset: str | None = None) -> AssetBook:
        """The book of ``asset`` (None: the home asset); InputError naming it if the run has none."""
        if asset is None:
            return self._home
        book = self.assets.get(asset)
        if book is None:
            raise InputError(
                f"no instrument of this run settles in {asset!r} (assets: {', '.join(self.assets)})", field="asset"
            )
        return book

    def book_of(self, symbol: str) -> AssetBook:
        """The book of the asset ``symbol`` settles in."""
        return self._book_of[symbol]

    def asset_of(self, symbol: str) -> str:
        """The settlement (margin) asset of ``symbol``."""
        return self._book_of[symbol].asset

    def fund_of(self, symbol: str) -> Account:
        """The insurance fund of the asset ``symbol`` settles in."""
        return self._book_of[symbol].fund

    def external_of(self, symbol: str) -> Account:
        """The EXTERNAL mirror account of the asset ``symbol`` settles in."""
        return self._book_of[symbol].external

    def find_account(self, account_id: int, asset: str | None = None) -> Account | None:
        """A trader's account in ``asset`` (None: home), or None if it never held that asset."""
        book = self.assets.get(self.home_asset if asset is None else asset)
        return None if book is None else book.accounts.get(account_id)

    def any_account(self, account_id: int, asset: str | None = None) -> Account:
        """A trader's account, EXTERNAL or INSURANCE_FUND in ``asset`` (None: home); KeyError if unknown."""
        book = self._home if asset is None else self.assets[asset]
        acct = book.accounts.get(account_id)
        return acct if acct is not None else book.special[account_id]

    def all_accounts(self) -> list[Account]:
        """Every trader account of every asset, by account id then asset (home first)."""
        order = {a: i for i, a in enumerate(self.assets)}
        out = [acct for book in self.assets.values() for acct in book.accounts.values()]
        out.sort(key=lambda a: (a.account_id, order[a.asset]))
        return out

    def account(self, account_id: int, asset: str | None = None) -> Account:
        """The account in ``asset`` (None: the home asset), created empty on first use."""
        book = self.book(asset)
        acct = book.accounts.get(account_id)
        if acct is None:
            if account_id == EXTERNAL:
                return book.external
            acct = book.accounts[account_id] = Account(account_id, book.asset)
            pf = self.portfolios.get(account_id) if self.portfolios else None
            if pf is not None:
                self._link_portfolio(pf)
        return acct

    def add_asset(self, asset: str) -> AssetBook:
        """A book for an asset no instrument settles in (collateral only: BTC for USDT
        contracts in multi-assets mode). Idempotent; call it before the run."""
        book = self.assets.get(asset)
        if book is None:
            book = self.assets[asset] = AssetBook(asset)
            self.collateral[asset] = default_rule(asset, USD_ASSETS)
            for pf in self.portfolios.values():
                self._link_portfolio(pf)
        return book

    def account_for(self, account_id: int, symbol: str) -> Account:
        """The account's wallet in the asset ``symbol`` settles in (created empty on first use)."""
        return self.account(account_id, self._book_of[symbol].asset)

    # ------------------------------------------------------------------ money in / out
    def deposit(self, account_id: int, atoms: int, asset: str | None = None) -> str | None:
        """Credit the cross wallet in ``asset`` (None: the home asset); ``atoms > 0``."""
        if type(atoms) is not int or atoms <= 0 or account_id == EXTERNAL:
            return Reason.INVALID_AMOUNT
        if asset is not None and asset not in self.assets:
            return Reason.UNKNOWN_ASSET
        pf = self.portfolios.get(account_id)
        if pf is not None and not self.collateral[asset or self.home_asset].index_usd_e8:
            return Reason.NO_INDEX_PRICE
        acct = self.account(account_id, asset)
        acct.wallet_atoms += atoms
        acct.deposited_atoms += atoms
        self.assets[acct.asset].total_in_atoms += atoms
        if pf is not None:
            self._link_portfolio(pf)
            self.exchange_due.add(account_id)
            self.refile(pf)
        elif acct.positions:
            self.refile(acct)
        return None

    def withdraw(self, account_id: int, atoms: int, asset: str | None = None) -> str | None:
        """Debit the cross wallet in ``asset`` (None: home), refused if it would leave
        cross margin short.

        The most that can leave is ``wallet + min(0, cross UPnL) − cross IM − held``:
        unrealized profit cannot be withdrawn; unrealized loss reduces what can.
        """
        if type(atoms) is not int or atoms <= 0:
            return Reason.INVALID_AMOUNT
        if asset is not None and asset not in self.assets:
            return Reason.UNKNOWN_ASSET
        acct = self.find_account(account_id, asset)
        if acct is None:
            return Reason.NO_ACCOUNT
        if atoms > self.withdrawable_atoms(acct):
            return Reason.INSUFFICIENT_BALANCE
        acct.wallet_atoms -= atoms
        acct.withdrawn_atoms += atoms
        self.assets[acct.asset].total_out_atoms += atoms
        self.refile(self.portfolios.get(account_id) or acct)
        return None

    def state_lines(self) -> Iterator[str]:
        """Every piece of ledger state as text lines, in a fixed order (for state hashes):
        per asset (the home asset first, unlabelled, so a one-asset run hashes as it always
        did; then ``ASSET <name>`` and its lines), accounts by id (wallet, holds, settings,
        positions, open orders), the insurance fund and the external account."""
        for name, book in self.assets.items():
            if name != self.home_asset:
                if not book.accounts and not book.total_in_atoms and not book.external.positions:
                    continue  # an asset nothing ever touched changes no hash
                yield f"ASSET {name}\n"
            yield from self._book_lines(book)
            if book.desk.wallet_atoms:
                yield f"DESK {book.desk.wallet_atoms}\n"
        # multi-assets state: only once used, so single-asset runs hash as before
        for account_id in sorted(self.portfolios):
            yield f"MULTI_ASSETS {account_id}\n"
        for name, rule in self.collateral.items():
            if rule.index_usd_e8 != default_rule(name, USD_ASSETS).index_usd_e8 or rule.bid_buffer_e8 or rule.ask_buffer_e8 or len(rule.tiers) > 1 or rule.tiers[0].value_ratio_e8 != RATE_SCALE:
                tiers = " ".join(f"{u}:{r}" for u, r in rule.tiers)
                yield f"COLLATERAL {name} {rule.index_usd_e8} {rule.bid_buffer_e8} {rule.ask_buffer_e8} {tiers}\n"

    @staticmethod
    def _book_lines(book: AssetBook) -> Iterator[str]:
        yield f"T {book.total_in_atoms} {book.total_out_atoms} {book.uncovered_loss_atoms}\n"
        accounts = [book.external, book.fund] + [book.accounts[a] for a in sorted(book.accounts)]
        for a in accounts:
            yield (
                f"A {a.account_id} {a.wallet_atoms} {a.held_atoms} {int(a.hedge_mode)} {a.deposited_atoms} "
                f"{a.withdrawn_atoms} {a.realized_pnl_atoms} {a.fees_atoms} {a.funding_atoms}\n"
            )
            for sym in sorted(a.margin_modes):
                yield f" mode {sym} {a.margin_modes[sym]}\n"
            for sym in sorted(a.leverages):
                yield f" lev {sym} {a.leverages[sym]}\n"
            for key in sorted(a.positions):
                p = a.positions[key]
                yield (
                    f" P {p.symbol} {p.position_side} {int(p.isolated)} {p.leverage} {p.qty_lots} {p.cost_atoms} "
                    f"{p.margin_atoms} {p.realized_pnl_atoms} {p.fees_atoms} {p.funding_atoms}\n"
                )
            yield " orders " + " ".join(f"{oid}:{sym}" for oid, sym in a.order_ids.items()) + "\n"

    # ------------------------------------------------------------------ margin figures
    def mark_subticks(self, symbol: str, pos: Position) -> int:
        """The price positions of ``symbol`` are valued at, in subticks: the mark, else (no
        mark yet) the entry price."""
        mark = self.marks.get(symbol)
        if mark is not None:
            return mark
        q = abs(pos.qty_lots)
        if not q:
            return 0
        inst = self.instruments[symbol]
        # no price seen yet: value at entry (UPnL 0 up to the floor to a whole subtick)
        if inst.inverse:
            if not pos.cost_atoms:
                return 0
            # the harmonic entry: q × face / cost, in subticks
            return floor_div(q * inst.inverse_atoms_e8_per_lot_subtick, pos.cost_atoms * ATOMS_E8_PER_ATOM)
        return floor_div(pos.cost_atoms * ATOMS_E8_PER_ATOM, q * inst.lot_size_e8)

    def position_figures_e8(self, pos: Position) -> tuple[int, int, int]:
        """``(notional_atoms_e8, upnl_atoms_e8, maint_margin_atoms)`` at the mark, exact.

        Notional and UPnL at the (subtick) mark are exact in 1e-8 atoms (an inverse
        contract's coin notional ``|q| × face / mark`` is rounded up to 1e-16 of the coin,
        :meth:`Instrument.value_atoms_e8`, and its long gains ``cost − notional``); the maintenance
        margin is rounded up once to the atom (a requirement, against the trader), on the
        exact notional at mark, or, for an instrument whose ``maint_margin_basis`` is
        ``"entry"``, on the exact entry cost (it then never moves with the mark).
        O(log brackets).
        """
        inst = self.instruments[pos.symbol]
        n, upnl = self.position_value_e8(pos)
        if inst.maint_margin_basis == "entry":
            return n, upnl, inst.brackets.maint_margin_atoms(pos.cost_atoms)
        return n, upnl, inst.brackets.maint_margin_atoms_e8(n)

    def position_value_e8(self, pos: Position) -> tuple[int, int]:
        """``(notional_atoms_e8, upnl_atoms_e8)`` at the mark, exact: the first two of
        :meth:`position_figures_e8`, for the order hold and the cross figures, which need
        no maintenance margin. O(1)."""
        inst = self.instruments[pos.symbol]
        mark = self.marks.get(pos.symbol)
        if mark is None:
            mark = self.mark_subticks(pos.symbol, pos)
        q = pos.qty_lots
        cost = pos.cost_atoms * ATOMS_E8_PER_ATOM
        if inst.inverse:
            if mark <= 0:
                return 0, 0
            # coin value of the contracts, rounded up (against a long, whose UPnL is cost − value)
            n = inst.value_atoms_e8(mark, q if q >= 0 else -q)
            return n, (cost - n if q >= 0 else n - cost)
        n = (q if q >= 0 else -q) * mark * inst.lot_size_e8
        return n, (n - cost if q >= 0 else cost - n)

    def position_figures(self, pos: Position) -> tuple[int, int, int]:
        """``(notional, upnl, maint_margin)`` of a position at its mark, in atoms. O(log brackets).

        Rounded against the trader where the mark is finer than an atom allows: the
        notional up (it is the base of initial margin and bracket limits), the UPnL down;
        the maintenance margin as in :meth:`position_figures_e8`. At a mark on the tick
        every figure is exact. Liquidation is decided on the exact figures
        (:meth:`isolated_margin_balance_e8`, :meth:`cross_margin_balance_e8`), never on these.
        """
        n, upnl, mm = self.position_figures_e8(pos)
        return atoms_e8_ceil(n), atoms_e8_floor(upnl), mm

    def cross_figures(self, acct: Account) -> tuple[int, int, int]:
        """``(Σ UPnL, Σ initial margin, Σ maintenance margin)`` of the cross positions, in
        atoms: the exact UPnL sum rounded down, each initial margin rounded up. O(positions)."""
        upnl = im = mm = 0
        if not acct.cross_positions:
            return 0, 0, 0
        figures = self.position_figures_e8
        e8 = ATOMS_E8_PER_ATOM
        for pos in acct.positions.values():
            if pos.isolated:
                continue
            n, u, m = figures(pos)
            upnl += u
            im += ceil_div(n, pos.leverage * e8)
            mm += m
        return upnl // e8, im, mm  # UPnL floored to the atom

    def available_atoms(self, acct: Account) -> int:
        """What new orders may use: ``wallet + cross UPnL − cross IM − held``. O(positions).

        In multi-assets mode: the account's available for order (account equity − Σ IM
        at the ask rate) converted to ``acct.asset`` at its ask rate, rounded down.
        """
        if self.portfolios and acct.account_id in self.portfolios:
            figures = self.portfolio_figures(acct.account_id)
            return usd_e40_to_atoms_floor(figures.available_usd_e40, self.collateral[acct.asset])
        upnl, im, _ = self.cross_figures(acct)
        return acct.wallet_atoms + upnl - im - acct.held_atoms

    def withdrawable_atoms(self, acct: Account) -> int:
        """What may leave the account: ``wallet + min(0, cross UPnL) − cross IM − held``.

        In multi-assets mode: at most the wallet, and at most what the account has
        available (converted at the ask rate), so a withdrawal never leaves it short."""
        if self.portfolios and acct.account_id in self.portfolios:
            return max(0, min(acct.wallet_atoms, self.available_atoms(acct)))
        upnl, im, _ = self.cross_figures(acct)
        return max(0, acct.wallet_atoms + min(0, upnl) - im - acct.held_atoms)

    def cross_margin_balance(self, acct: Account) -> tuple[int, int]:
        """``(margin balance, maintenance margin)`` of the cross pool in atoms: wallet + Σ
        UPnL (rounded down) vs Σ MM. For display; decisions use :meth:`cross_margin_balance_e8`."""
        balance, mm = self.cross_margin_balance_e8(acct)
        return atoms_e8_floor(balance), mm

    def isolated_margin_balance(self, pos: Position) -> tuple[int, int]:
        """``(bucket margin + UPnL, maintenance margin)`` of an isolated position in atoms
        (balance rounded down). For display; decisions use :meth:`isolated_margin_balance_e8`."""
        balance, mm = self.isolated_margin_balance_e8(pos)
        return atoms_e8_floor(balance), mm

    def cross_margin_balance_e8(self, acct: Account) -> tuple[int, int]:
        """``(margin balance in 1e-8 atoms, maintenance margin in atoms)`` of the cross
        pool, exact at the (subtick) marks: what liquidation is decided on. O(positions)."""
        upnl = mm = 0
        for pos in acct.positions.values():
            if pos.isolated or not pos.qty_lots:
                continue
            _, u, m = self.position_figures_e8(pos)
            upnl += u
            mm += m
        return acct.wallet_atoms * ATOMS_E8_PER_ATOM + upnl, mm

    def isolated_margin_balance_e8(self, pos: Position) -> tuple[int, int]:
        """``(bucket + UPnL in 1e-8 atoms, maintenance margin in atoms)`` of an isolated
        position, exact at the (subtick) mark: what liquidation is decided on. O(log brackets)."""
        _, upnl, mm = self.position_figures_e8(pos)
        return pos.margin_atoms * ATOMS_E8_PER_ATOM + upnl, mm

    def scope_balance_e8(self, scope: Account | Position) -> tuple[int, int]:
        """The exact figures liquidation is decided on for an isolated bucket or a cross
        pool (:meth:`isolated_margin_balance_e8` / :meth:`cross_margin_balance_e8`)."""
        if type(scope) is Position:
            return self.isolated_margin_balance_e8(scope)
        return self.cross_margin_balance_e8(scope)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ settings
    def margin_mode(self, acct: Account, symbol: str) -> int:
        return acct.margin_modes.get(symbol, CROSS)

    def leverage(self, acct: Account, symbol: str) -> int:
        return acct.leverages.get(symbol, self.default_leverage)

    def _has_exposure(self, acct: Account, symbol: str | None) -> bool:
        if symbol is None:
            return bool(acct.positions) or acct.order_count > 0
        return symbol in acct.order_ids.values() or any(s == symbol for s, _ in acct.positions)

    def set_margin_mode(self, account_id: int, symbol: str, mode: int) -> str | None:
        """Switch an instrument between CROSS and ISOLATED; refused with a position or open orders."""
        acct = self.find_account(account_id, self._book_of[symbol].asset)
        if acct is None:
            return Reason.NO_ACCOUNT
        if mode not in (CROSS, ISOLATED):
            return Reason.INVALID_AMOUNT
        if self.margin_mode(acct, symbol) == mode:
            return None
        if mode == ISOLATED and account_id in self.portfolios:
            return Reason.ISOLATED_IN_MULTI_ASSETS
        if self._has_exposure(acct, symbol):
            return Reason.HAS_POSITION_OR_ORDERS
        modes = dict(acct.margin_modes)
        modes[symbol] = mode
        # accounts with the same modes share one read-only mapping (184 B per account less
        # with one isolated instrument); there are at most 3 ** instruments distinct ones
        key = frozenset(modes.items())
        shared = self._shared_modes.get(key)
        if shared is None:
            shared = self._shared_modes[key] = SharedMap(modes)
        acct.margin_modes = shared
        return None

    def set_position_mode(self, account_id: int, hedge: bool, asset: str | None = None) -> str | None:
        """One-way (False) or hedge (True) mode of the account's wallet in ``asset`` (None:
        home; a USDⓈ-M and a COIN-M wallet each have their own, as on Binance); refused
        with any position or open order there."""
        acct = self.find_account(account_id, asset)
        if acct is None:
            return Reason.NO_ACCOUNT
        if acct.hedge_mode == hedge:
            return None
        if self._has_exposure(acct, None):
            return Reason.HAS_POSITION_OR_ORDERS
        acct.hedge_mode = hedge
        return None

    def set_leverage(self, account_id: int, symbol: str, leverage: int) -> str | None:
        """Change an instrument's leverage for this account.

        Refused above the max leverage of the bracket the position's notional falls in,
        and when lowering it would leave the position short of initial margin (isolated:
        the bucket below ``notional / leverage``; cross: available balance below zero).
        """
        inst = self.instruments[symbol]
        acct = self.find_account(account_id, inst.margin_asset)
        if acct is None and account_id in self.portfolios:
            acct = self.account(account_id, inst.margin_asset)  # multi-assets: other assets back it
        if acct is None:
            return Reason.NO_ACCOUNT
        if type(leverage) is not int or leverage < 1:
            return Reason.INVALID_LEVERAGE
        positions = [p for (s, _), p in acct.positions.items() if s == symbol]
        notional = sum(self.position_figures(p)[0] for p in positions) + self.open_order_notional(acct, symbol)
        if leverage > inst.brackets.max_leverage_for(notional):
            return Reason.LEVERAGE_ABOVE_BRACKET_MAX
        old = self.leverage(acct, symbol)
        if leverage < old:
            for p in positions:
                n = self.position_figures(p)[0]
                if p.isolated and p.margin_atoms < ceil_div(n, leverage):
                    return Reason.LEVERAGE_BELOW_REQUIRED
            for p in positions:
                p.leverage = leverage
            if self.available_atoms(acct) < 0:
                for p in positions:
                    p.leverage = old
                return Reason.LEVERAGE_BELOW_REQUIRED
        for p in positions:
            p.leverage = leverage
        leverages = acct.leverages
        if type(leverages) is not dict:  # still the shared empty mapping: the account gets its own
            leverages = acct.leverages = dict(leverages)
        leverages[symbol] = leverage
        return None  # leverage changes no margin balance nor maintenance margin: no re-file

    def adjust_isolated_margin(self, account_id: int, symbol: str, position_side: int, delta_atoms: int) -> str | None:
        """Move margin between the cross wallet and an isolated bucket (+ adds, − removes).

        Removal keeps the bucket at or above the position's initial margin at the mark
        (``notional / leverage``, rounded up) and at or above what the bucket needs to
        cover an unrealized loss; additions need available balance.
        """
        acct = self.find_account(account_id, self._book_of[symbol].asset)
        if acct is None:
            return Reason.NO_ACCOUNT
        pos = acct.positions.get((symbol, position_side))
        if pos is None or not pos.isolated or not pos.qty_lots:
            return Reason.NO_ISOLATED_POSITION
        if type(delta_atoms) is not int or delta_atoms == 0:
            return Reason.INVALID_AMOUNT
        if delta_atoms > 0:
            if delta_atoms > self.withdrawable_atoms(acct):  # real money, not unrealized profit
                return Reason.INSUFFICIENT_BALANCE
        else:
            n, upnl, _ = self.position_figures(pos)
            need = ceil_div(n, pos.leverage) - min(0, upnl)
            if pos.margin_atoms + delta_atoms < need:
                return Reason.INSUFFICIENT_BALANCE
        acct.wallet_atoms -= delta_atoms
        pos.margin_atoms += delta_atoms
        self.refile(pos)
        self.refile(acct)
        return None

    # ------------------------------------------------------------------ orders
    def position_side_problem(self, acct: Account, position_side: int) -> str | None:
        if acct.hedge_mode:
            return None if position_side in (LONG, SHORT) else Reason.POSITION_SIDE_MISMATCH
        return None if position_side == BOTH else Reason.POSITION_SIDE_MISMATCH

    def _hold_needed(
        self,
        acct: Account,
        symbol: str,
        side: int,
        qty_lots: int,
        notional_atoms: int,
        reduce_only: bool,
        position_side: int,
        exclude: int = 0,
        may_rest: bool = True,
    ) -> tuple[str | None, int, bool]:
        """``(refusal, atoms to hold, closing)`` for an order; see :meth:`hold_for_order`.

        ``exclude``: an order id whose own hold is being re-sized (amend). ``may_rest``:
        a closing order that can rest in the book must fit, together with the account's
        other closing orders on that position, within the position; one that executes
        now (IOC, FOK, market) need only fit by itself.
        """
        if (position_side == LONG or position_side == SHORT) if acct.hedge_mode else position_side == BOTH:
            pass
        else:
            return Reason.POSITION_SIDE_MISMATCH, 0, False
        inst = self.instruments[symbol]
        pos = acct.positions.get((symbol, position_side)) if acct.positions else None
        pos_qty = pos.qty_lots if pos is not None else 0
        buy = side == BUY
        if position_side == BOTH:
            closing = pos_qty < 0 if buy else pos_qty > 0
            if reduce_only and (not closing or qty_lots > abs(pos_qty)):
                return Reason.REDUCE_ONLY_WOULD_INCREASE, 0, False
            closing = reduce_only  # only reduce-only orders are sure to close
        else:
            closing = (position_side == LONG) != buy  # sell LONG / buy SHORT closes
            if closing and qty_lots > abs(pos_qty):
                return Reason.REDUCE_ONLY_WOULD_INCREASE, 0, False
        if closing and may_rest and qty_lots + self._closing_lots(acct, symbol, position_side, side, exclude) > abs(pos_qty):
            # resting beside the account's other closing orders on this position, one taker
            # could fill them all and open or flip it
            return Reason.REDUCE_ONLY_WOULD_INCREASE, 0, False
        fee = rate_ceil(notional_atoms, inst.taker_fee_e8)
        if closing:
            return None, fee, True
        lev = acct.leverages.get(symbol, self.default_leverage) if acct.leverages else self.default_leverage
        if self.tier_from_orders:
            total = self._tier_notional(acct, symbol, side, notional_atoms)
        else:
            total = notional_atoms
            if pos is not None:
                total += ceil_div(self.position_value_e8(pos)[0], ATOMS_E8_PER_ATOM)  # its notional, rounded up
            if acct.order_count:
                total += self.open_order_notional(acct, symbol)
        if total > inst.max_notional_limit_atoms:
            return Reason.NOTIONAL_ABOVE_MAX, 0, False
        if lev > inst.brackets.bracket_for(total).max_leverage:  # the bracket's max leverage
            return Reason.LEVERAGE_ABOVE_BRACKET_MAX, 0, False
        return None, ceil_div(notional_atoms, lev) + fee, False

    def _closing_lots(self, acct: Account, symbol: str, position_side: int, side: int, exclude: int) -> int:
        """Open lots of the account's resting closing orders on one position and side. O(its orders)."""
        held = self._holds
        total = 0
        # this instrument, closing, may rest, this position side and this side; reduce-only either way
        mask = SYMBOL_MASK << SYMBOL_SHIFT | HOLD_CLOSING | HOLD_MAY_REST | 3 << HOLD_PSIDE_SHIFT | HOLD_SIDE
        want = (
            self._symbol_index[symbol] << SYMBOL_SHIFT
            | HOLD_CLOSING | HOLD_MAY_REST | position_side << HOLD_PSIDE_SHIFT | side
        )
        for order_id in acct.order_list:
            packed = held.get(order_id)
            if packed is not None and packed & mask == want and order_id != exclude:
                total += packed >> LOTS_SHIFT & LOTS_MASK
        return total

    def _tier_notional(self, acct: Account, symbol: str, side: int, notional_atoms: int) -> int:
        """Bybit's risk-limit basis: max(long position + buy orders, short position + sell
        orders) on ``symbol``, with a new order of ``notional_atoms`` on ``side``.
        O(positions and open orders of the account on the symbol)."""
        sides = [0, 0]  # notional by side: [buy / long, sell / short]
        sides[0 if side == BUY else 1] += notional_atoms
        for (s, _), p in acct.positions.items():
            if s == symbol and p.qty_lots:
                sides[0 if p.qty_lots > 0 else 1] += self.position_figures(p)[0]
        held = self._holds
        mask = SYMBOL_MASK << SYMBOL_SHIFT | HOLD_CLOSING
        want = self._symbol_index[symbol] << SYMBOL_SHIFT  # this instrument, not closing
        for order_id in acct.order_list:
            packed = held.get(order_id)
            if packed is not None and packed & mask == want:
                sides[packed & HOLD_SIDE] += packed >> NOTIONAL_SHIFT & NOTIONAL_MASK  # BUY 0, SELL 1
        return max(sides)

    def open_order_notional(self, acct: Account, symbol: str) -> int:
        """Worst-case notional of the account's open orders on ``symbol`` that may open
        positions (closing orders excluded). O(open orders of the account)."""
        held = self._holds
        total = 0
        mask = SYMBOL_MASK << SYMBOL_SHIFT | HOLD_CLOSING
        want = self._symbol_index[symbol] << SYMBOL_SHIFT  # this instrument, not closing
        for order_id in acct.order_list:
            packed = held.get(order_id)
            if packed is not None and packed & mask == want:
                total += packed >> NOTIONAL_SHIFT & NOTIONAL_MASK
        return total

    def closing_order_ids(self, acct: Account, symbol: str) -> list[int]:
        """Ids of the account's open orders on ``symbol`` that hold as closing orders,
        in arrival order. O(open orders of the account)."""
        held = self._holds
        mask = SYMBOL_MASK << SYMBOL_SHIFT | HOLD_CLOSING
        want = self._symbol_index[symbol] << SYMBOL_SHIFT | HOLD_CLOSING
        out = []
        for order_id in acct.order_list:
            packed = held.get(order_id)
            if packed is not None and packed & mask == want:
                out.append(order_id)
        return out

    def order_problem(
        self, account_id: int, symbol: str, side: int, qty_lots: int, reduce_only: bool, position_side: int
    ) -> str | None:
        """Checks for an order that holds nothing yet (a stop waiting for its trigger)."""
        acct = self._book_of[symbol].accounts.get(account_id)
        if acct is None:
            if account_id not in self.portfolios:
                return Reason.NO_ACCOUNT
            acct = self.account_for(account_id, symbol)  # multi-assets: other assets back it
        return self._hold_needed(acct, symbol, side, qty_lots, 0, reduce_only, position_side)[0]

    def _list_order(self, acct: Account, order_id: int) -> None:
        """Add an open order to the account's list (see :mod:`exsim.ledger.holds`)."""
        order_list = acct.order_list
        if type(order_list) is not list:  # still the shared empty one: the account gets its own
            order_list = acct.order_list = []
            acct.orders_index = self._orders
        order_list.append(order_id)
        acct.order_count += 1

    def _unlist_order(self, acct: Account) -> None:
        """An open order of the account left (already gone from the index): its id stays
        in the list until the list is mostly ids of orders that left, then those go.
        O(1) amortized."""
        count = acct.order_count = acct.order_count - 1
        if not count:
            acct.order_list = NO_ORDERS  # type: ignore[assignment]
        elif len(acct.order_list) > 2 * count + 8:
            acct.order_list = list(self._orders.listing(acct.order_list))

    def count_order(self, account_id: int, symbol: str, delta: int, order_id: int) -> None:
        """Count an open order that holds no margin (stop orders) in (+1) or out (−1)."""
        acct = self._book_of[symbol].accounts[account_id]
        if delta > 0:
            self._orders.waiting[order_id] = symbol
            self._list_order(acct, order_id)
        else:
            del self._orders.waiting[order_id]
            # out of the list now, not lazily: a stop that triggered comes back as a book
            # order and is listed again, last (it arrives again); an id is never listed twice
            acct.order_list.remove(order_id)
            self._unlist_order(acct)

    def hold_for_order(
        self,
        order_id: int,
        account_id: int,
        symbol: str,
        side: int,
        qty_lots: int,
        notional_atoms: int,
        reduce_only: bool,
        position_side: int,
        may_rest: bool = True,
        store: bool = True,
    ) -> str | None:
        """Hold initial margin and the worst-case taker fee for a new order, or refuse it.

        ``notional_atoms`` is the order's worst-case notional (the exchange computes it
        from the limit price and the book). An order that only closes an existing
        position (reduce-only in one-way mode, a hedge-mode close) holds the fee only.
        Every other order holds ``ceil(notional / leverage) + ceil(notional * taker)``,
        as if it opened a position — conservative; released as it fills or ends.
        The leverage must not exceed the max leverage of the bracket that the position's
        notional plus this order's falls in.

        ``store=False`` with ``may_rest=False``: the order executes now and leaves before
        anything else in the command checks or moves margin (a plain market, IOC or FOK
        order), so it is checked only — the same verdict — and nothing is held for it:
        the hold would be released, every atom of it, before anyone could see it. A
        multi-assets account is always held (its figures span every asset).
        """
        book = self._book_of[symbol]
        acct = book.accounts.get(account_id)
        if acct is None:
            if account_id not in self.portfolios:
                return Reason.NO_ACCOUNT
            acct = self.account_for(account_id, symbol)  # multi-assets: other assets back it
        problem, hold, closing = self._hold_needed(
            acct, symbol, side, qty_lots, notional_atoms, reduce_only, position_side, 0, may_rest
        )
        if problem:
            return problem
        multi = self.portfolios and account_id in self.portfolios
        if acct.cross_positions or multi:
            if hold > self._room_for_hold(acct, symbol, closing):
                return Reason.INSUFFICIENT_MARGIN
        elif hold > acct.wallet_atoms - acct.held_atoms:  # no cross position: the room is the free wallet
            return Reason.INSUFFICIENT_MARGIN
        if not (store or may_rest or multi):
            return None
        if not fits(qty_lots, hold, notional_atoms):
            return Reason.NOTIONAL_ABOVE_MAX  # beyond any venue's limits (see exsim.ledger.holds)
        acct.held_atoms += hold
        if closing:
            acct.closing_holds += 1
        self._holds[order_id] = pack(
            account_id, self._symbol_index[symbol], hold_flags(side, position_side, reduce_only, closing, may_rest),
            qty_lots, hold, notional_atoms,
        )
        self._list_order(acct, order_id)
        return None

    def _room_for_hold(self, acct: Account, symbol: str, closing: bool) -> int:
        """How much a new hold may take. A hold is money set aside on the wallet (fees,
        and the margin an isolated fill moves into its bucket), so it must be covered by
        the wallet itself: unrealized profit can back cross margin, never a payment.
        Cross openings also need the available balance (which counts unrealized PnL);
        that is never less: ``wallet + min(0, UPnL) − IM − held``, the one figure for
        every order. O(1) without cross positions, else O(cross positions).
        """
        if self.portfolios and acct.account_id in self.portfolios:
            # multi-assets: every asset backs the hold; the wallet of this one may go negative
            return self.available_atoms(acct)
        free = acct.wallet_atoms - acct.held_atoms
        if not acct.cross_positions:
            return free  # no cross position: no UPnL, no initial margin
        upnl = 0
        value = self.position_value_e8
        e8 = ATOMS_E8_PER_ATOM
        for pos in acct.positions.values():  # the cross UPnL and initial margin (cross_figures)
            if not pos.isolated:
                n, u = value(pos)
                upnl += u
                free -= ceil_div(n, pos.leverage * e8)  # less the initial margin, rounded up
        upnl //= e8  # floored to the atom
        if upnl >= 0:
            return free  # unrealized profit backs no payment: the wallet alone
        return free + upnl  # a loss counts for both

    def _hold_owner(self, packed: int) -> Account:
        """The account a packed hold belongs to."""
        symbol = self._orders.symbols[packed >> SYMBOL_SHIFT & SYMBOL_MASK]
        return self._book_of[symbol].accounts[packed >> ACCOUNT_SHIFT]

    def rehold_order(self, order_id: int, open_lots: int, notional_atoms: int) -> str | None:
        """Re-size the hold of an amended order; refused (nothing changed) if margin is short.

        A reduction (no more lots, no more notional) is never refused.
        """
        hold = OrderHold.unpack(self._holds[order_id], self._orders.symbols)
        acct = self._book_of[hold.symbol].accounts[hold.account_id]
        problem, need, closing = self._hold_needed(
            acct, hold.symbol, hold.side, open_lots, notional_atoms, hold.reduce_only, hold.position_side, order_id
        )
        if open_lots <= hold.open_lots and notional_atoms <= hold.notional_atoms:
            # a smaller order adds no exposure and is never refused (the exchange reduces
            # orders and trims closing ones relying on it): it keeps at most its hold pro
            # rata to its new size, whatever changed since it was placed (the leverage
            # lowered, the position grown into a higher bracket)
            prorata = ceil_div(hold.held_atoms * open_lots, hold.open_lots) if hold.open_lots else 0
            if problem or need > prorata:
                need, closing = prorata, hold.closing
        elif problem:
            return problem
        grow = need - hold.held_atoms
        # only a hold that grows needs room: the room can be below zero (a loss since the
        # order was placed), and a shrinking hold must never be refused (the exchange
        # trims closing orders after fills and reduces amended orders relying on it)
        if grow > 0 and grow > self._room_for_hold(acct, hold.symbol, closing):
            return Reason.INSUFFICIENT_MARGIN
        if not fits(open_lots, need, notional_atoms):
            return Reason.NOTIONAL_ABOVE_MAX  # beyond any venue's limits (see exsim.ledger.holds)
        acct.held_atoms += grow
        if closing != hold.closing:
            acct.closing_holds += 1 if closing else -1
        flags = hold.flags & ~HOLD_CLOSING | (HOLD_CLOSING if closing else 0)
        self._holds[order_id] = pack(
            hold.account_id, self._symbol_index[hold.symbol], flags, open_lots, need, notional_atoms
        )
        return None

    def release_order(self, order_id: int) -> None:
        """The order ended (cancelled, expired, filled): release what it still holds."""
        packed = self._holds.pop(order_id, None)
        if packed is None:
            return
        acct = self._hold_owner(packed)
        acct.held_atoms -= packed >> HELD_SHIFT & HELD_MASK
        if packed & HOLD_CLOSING:
            acct.closing_holds -= 1
        self._unlist_order(acct)

    def _release_filled(self, acct: Account, order_id: int, packed: int, qty_lots: int) -> None:
        """Release the hold of an order that filled ``qty_lots`` pro rata (the rest stays
        held for the lots still open)."""
        open_lots = packed >> LOTS_SHIFT & LOTS_MASK
        held = packed >> HELD_SHIFT & HELD_MASK
        if qty_lots >= open_lots:
            release = held
        else:
            release = mul_div_floor(held, qty_lots, open_lots)
        if qty_lots > open_lots:
            raise StateError(f"order {order_id} filled {qty_lots} lots with {open_lots} open")
        # the fields hold at least what comes off them: no borrow into the next field
        self._holds[order_id] = packed - (release << HELD_SHIFT) - (qty_lots << LOTS_SHIFT)
        acct.held_atoms -= release

    # ------------------------------------------------------------------ fills
    def apply_fill(
        self,
        account_id: int,
        order_id: int,
        symbol: str,
        side: int,
        qty_lots: int,
        price_ticks: int,
        fee_atoms: int,
        position_side: int,
        liquidation: bool = False,
    ) -> Position:
        """Book one side of a fill: release the order's hold pro rata, update the position,
        move realized PnL and margin, charge the fee. Returns the position (possibly flat).

        ``account_id`` EXTERNAL books the replayed market's mirror side and
        INSURANCE_FUND the fund's (no hold, no fee, nothing to watch:
        :meth:`apply_external_fill`). Cost: O(1) plus O(log brackets) for an isolated opening,
        plus the re-file of the trader's scopes (:meth:`refile`).
        """
        if account_id <= 0:
            return self.apply_external_fill(symbol, side, qty_lots, price_ticks, position_side, account_id)
        inst = self.instruments[symbol]
        book = self._book_of[symbol]
        acct = book.accounts[account_id]
        hold = self._holds.get(order_id)
        if hold is not None:
            self._release_filled(acct, order_id, hold, qty_lots)  # pro rata: the rest stays held
        key = (symbol, position_side)
        positions = acct.positions
        pos = positions.get(key)
        if pos is None:
            if type(positions) is not dict:  # still the shared empty mapping: the account gets its own
                positions = acct.positions = dict(positions)
            # every account's position on (symbol, side) is keyed by the same tuple (56 B each)
            key = self._position_keys.setdefault(key, key)
            isolated = acct.margin_modes.get(symbol, CROSS) == ISOLATED
            pos = positions[key] = Position(
                account_id, symbol, position_side, isolated, acct.leverages.get(symbol, self.default_leverage)
            )
            if not isolated:
                acct.cross_positions += 1
        dq = qty_lots if side == BUY else -qty_lots
        q0 = pos.qty_lots
        if inst.inverse:  # the coin value, floored once for the whole fill (both sides book it)
            value = inverse_value_floor(qty_lots, inst.inverse_atoms_per_lot_tick, price_ticks)
        else:
            value = qty_lots * price_ticks * inst.atoms_per_tick_lot
        if q0 == 0 or (q0 > 0) == (dq > 0):
            pos.qty_lots = q0 + dq
            pos.cost_atoms += value
            if pos.isolated:
                self._fund_bucket(acct, pos, value)
        else:
            self._close(acct, pos, q0, dq, value, inst.inverse, liquidation, book)
        if fee_atoms:
            if liquidation and pos.isolated:
                pos.margin_atoms -= fee_atoms  # a liquidation's fee comes out of the bucket
            else:
                acct.wallet_atoms -= fee_atoms
            book.fee_pool_atoms += fee_atoms
            acct.fees_atoms += fee_atoms
            pos.fees_atoms += fee_atoms
        if not pos.qty_lots:
            del positions[key]  # a liquidated bucket's margin is settled by the engine
            if not pos.isolated:
                acct.cross_positions -= 1
        if pos.isolated:
            self.refile(pos)
        if self.portfolios and account_id in self.portfolios:
            self.exchange_due.add(account_id)
            self.refile(self.portfolios[account_id])
        elif acct.cross_positions or acct.risk_seq or self.liquidatable:
            # fees, realized PnL and margin moves change the cross pool (a pool with no
            # cross position, not watched and not flagged has nothing to re-file)
            self._refile_pool(acct)
        return pos

    def apply_external_fill(
        self, symbol: str, side: int, qty_lots: int, price_ticks: int, position_side: int, account_id: int = EXTERNAL
    ) -> Position:
        """:meth:`apply_fill` for EXTERNAL (the replayed market's mirror side of a fill
        against replayed size) or, with ``account_id``, the insurance fund: no hold, no
        fee, always cross, never watched by the risk index. O(1). The exchange calls it
        directly for the mirror side, the common case: one call, no dispatch.

        EXTERNAL's position on an instrument goes flat and reopens with every round trip
        of the simulated traders against replayed liquidity: its flat :class:`Position`
        is parked on the asset's book (:attr:`AssetBook.external_flat`) and reused, with
        the figures a new one starts with, instead of built again. Nothing else holds
        EXTERNAL's positions (no event reports them), so the reuse is unobservable.
        """
        book = self._book_of[symbol]
        acct = book.special[account_id]
        inst = self.instruments[symbol]
        key = (symbol, position_side)
        positions = acct.positions
        pos = positions.get(key)
        if pos is None:
            if type(positions) is not dict:  # still the shared empty mapping: the account gets its own
                positions = acct.positions = dict(positions)
            key = self._position_keys.setdefault(key, key)
            pos = book.external_flat.pop(key, None) if account_id == EXTERNAL else None
            if pos is None:
                pos = Position(account_id, symbol, position_side, False, self.default_leverage)
            else:  # as new: flat positions have no size, cost nor margin left
                pos.leverage = self.default_leverage
                pos.realized_pnl_atoms = pos.funding_atoms = 0
            positions[key] = pos
            acct.cross_positions += 1
        if inst.inverse:
            value = inverse_value_floor(qty_lots, inst.inverse_atoms_per_lot_tick, price_ticks)
        else:
            value = qty_lots * price_ticks * inst.atoms_per_tick_lot
        dq = qty_lots if side == BUY else -qty_lots
        q0 = pos.qty_lots
        if q0 == 0 or (q0 > 0) == (dq > 0):
            pos.qty_lots = q0 + dq
            pos.cost_atoms += value
        else:
            self._close(acct, pos, q0, dq, value, inst.inverse, False, book)
            if not pos.qty_lots:
                del positions[key]
                acct.cross_positions -= 1
                if account_id == EXTERNAL:
                    book.external_flat[key] = pos
        return pos

    def _fund_bucket(self, acct: Account, pos: Position, value_atoms: int) -> None:
        """Move the initial margin of a new isolated exposure from the wallet into the bucket."""
        im = ceil_div(value_atoms, pos.leverage)
        acct.wallet_atoms -= im
        pos.margin_atoms += im

    def _close(
        self,
        acct: Account,
        pos: Position,
        q0: int,
        dq: int,
        value: int,
        inverse: bool,
        liquidation: bool,
        book: AssetBook,
    ) -> None:
        """Reduce (and perhaps flip) a position by a fill of signed size ``dq`` and money
        value ``value`` (the whole fill's) against it.

        The closed part's exit value is the fill value's share (exact for linear; for
        inverse the floor share, so the close and the opened rest add up to the one value
        the other side booked). PnL: linear long ``exit − entry share``; inverse long
        ``entry share − exit`` (the coin value of the contracts fell as the price rose).
        """
        size = q0 if q0 > 0 else -q0
        fill = dq if dq > 0 else -dq
        close = fill if fill < size else size
        share = pos.cost_atoms if close == size else mul_div_floor(pos.cost_atoms, close, size)
        exit_value = value if close == fill else mul_div_floor(value, close, fill)
        pnl = exit_value - share if (q0 > 0) != inverse else share - exit_value
        pos.cost_atoms -= share
        pos.qty_lots = q0 + (close if dq > 0 else -close)
        pos.realized_pnl_atoms += pnl
        acct.realized_pnl_atoms += pnl
        if pos.isolated:
            margin = pos.margin_atoms + pnl
            if liquidation:
                # the loss is capped at the bucket: nothing is released here; the engine
                # settles the bucket when the liquidation is done (clearance fee, the rest
                # to the wallet, or a deficit to the insurance fund)
                pos.margin_atoms = margin
                return
            if pos.qty_lots == 0:
                # closed: the bucket goes back to the wallet; a loss beyond it (a close through
                # a thin book below the bankruptcy price) is capped at the bucket, like a
                # liquidation's: the insurance fund takes the deficit
                if margin < 0:
                    book.fund.wallet_atoms += margin
                    margin = 0
                release = margin
            elif margin > 0:
                release = mul_div_floor(margin, close, size)  # the rest returns at the close
            else:
                release = 0
            pos.margin_atoms = margin - release
            acct.wallet_atoms += release
        else:
            acct.wallet_atoms += pnl
        rest = fill - close
        if rest:  # flip through zero (one-way mode)
            pos.qty_lots = rest if dq > 0 else -rest
            rest_value = value - exit_value
            pos.cost_atoms = rest_value
            if pos.isolated:
                self._fund_bucket(acct, pos, rest_value)

    def cover_bad_debt(self, acct: Account) -> int:
        """A trader whose wallet went below zero with no cross position left to back it
        (a close far through a stale book) is reset to zero; the insurance fund takes the
        deficit. Returns the amount. A negative wallet still backed by cross positions is
        left to the risk index: the pool is liquidated if it is underwater.
        """
        debt = -acct.wallet_atoms
        if debt <= 0 or acct.account_id <= 0 or acct.cross_positions:
            return 0
        if acct.account_id in self.portfolios:
            return 0  # the other assets back it: auto-exchange settles it (settle_auto_exchange)
        acct.wallet_atoms = 0
        self.assets[acct.asset].fund.wallet_atoms -= debt
        return debt

    def absorb_fund_shortfall(self, asset: str | None = None) -> int:
        """If the fund of ``asset`` (None: home) fell below zero, book the shortfall as an
        uncovered loss of that asset.

        Returns the amount (0 when the fund is solvent). The loss is reported, not hidden:
        the book's ``uncovered_loss_atoms`` stands in the conservation identity.
        """
        book = self.book(asset)
        short = -book.fund.wallet_atoms
        if short <= 0 or self.fund_may_go_negative:
            return 0  # (a venue whose backstop vault carries a deficit in its own balance)
        book.fund.wallet_atoms = 0
        book.uncovered_loss_atoms += short
        return short

    # ------------------------------------------------------------------ funding
    def settle_funding(self, symbol: str, rate_e8: int, mark_subticks: int) -> tuple[list[tuple[Position, int]], int]:
        """Pay funding on every open position of ``symbol``: ``Q × mark × rate``, the mark
        in subticks (the notional at it is exact; only each payment is rounded).

        Positive rate: longs pay shorts. Every amount is rounded down (payers pay the
        exact amount rounded up, receivers get it rounded down); the dust this leaves
        goes to the insurance fund, so the settlement is zero-sum to the atom. Isolated
        positions pay from / receive into their bucket, cross ones their wallet; the
        EXTERNAL account takes the replayed market's side. Returns ``(position, amount)``
        in account order and the dust. O(accounts + positions of the instrument).
        """
        from exsim.margin.funding import instrument_funding_payments

        inst = self.instruments[symbol]
        book = self._book_of[symbol]
        accounts = book.accounts
        held: list[tuple[Position, int]] = []
        for account_id in sorted(accounts):
            for (s, _), pos in accounts[account_id].positions.items():
                if s == symbol:
                    held.append((pos, pos.qty_lots))
        for special in (book.fund, book.external):
            for (s, _), pos in special.positions.items():
                if s == symbol:
                    held.append((pos, pos.qty_lots))
        if not held or not rate_e8:
            return [], 0
        settlement = instrument_funding_payments(inst, held, mark_subticks, rate_e8)
        amounts, dust = list(settlement.amounts), settlement.dust_atoms
        for pos, amount in amounts:
            acct = accounts.get(pos.account_id) or book.special[pos.account_id]
            if pos.isolated:
                pos.margin_atoms += amount
            else:
                acct.wallet_atoms += amount
            pos.funding_atoms += amount
            acct.funding_atoms += amount
        book.fund.wallet_atoms += dust
        for pos, _ in amounts:
            if pos.account_id > 0:
                if self.portfolios and pos.account_id in self.portfolios:
                    self.exchange_due.add(pos.account_id)
                    self.refile(self.portfolios[pos.account_id])
                elif pos.isolated:
                    self.refile(pos)
                else:
                    self.refile(accounts[pos.account_id])
        return amounts, dust

    # ------------------------------------------------------------------ risk watch
    def refile(self, scope: Account | Position) -> None:
        """Re-file a scope in the risk index after its inputs changed (or forget it).

        A scope already at or past its next threshold goes to :attr:`pending` instead.
        Isolated: O(log P) price evaluations; cross: O(positions of the account).
        """
        if type(scope) is Account:
            if self.portfolios and scope.account_id in self.portfolios:
                self._refile_portfolio(self.portfolios[scope.account_id])  # a multi-assets trader is one pool
            else:
                self._refile_pool(scope)
            return
        if type(scope) is Portfolio:
            self._refile_portfolio(scope)
            return
        risk = self.risk
        if self.liquidatable and id(scope) in self.liquidatable:
            if scope.qty_lots:
                self.pending.append(scope)  # flagged earlier: re-evaluate (it may have recovered)
                return
            del self.liquidatable[id(scope)]
        if not scope.qty_lots or not scope.isolated:
            risk.forget(scope)
            self.liquidatable.pop(id(scope), None)
            return
        ratio = risk.threshold_e8(scope)
        hit = isolated_threshold_subticks(self, scope, ratio)
        balance, mm = self.isolated_margin_balance_e8(scope)
        if at_or_past_e8(ratio, balance, mm):
            risk.unfile(scope)
            self.pending.append(scope)
        else:
            triggers = [] if hit is None else [(scope.symbol, hit[0], hit[1])]
            if ratio == LIQUIDATION_RATIO_E8:
                # warned: also watch the way back under the warning level, to re-arm it
                back = isolated_threshold_subticks(self, scope, risk.warn_ratio_e8)
                if back is not None:
                    direction, price = back
                    # long: warned at or below price, recovered above it (and vice versa)
                    triggers.append((scope.symbol, 1 - direction, price + 1 if direction == 0 else price - 1))
            if triggers:
                risk.file(scope, triggers)
            else:
                risk.unfile(scope)  # no positive price reaches it

    def _refile_pool(self, acct: Account) -> None:
        """:meth:`refile` for a single-asset trader's cross pool (every fill of the trader
        comes here). O(its cross positions); O(1) when it has none."""
        liquidatable = self.liquidatable
        if liquidatable and id(acct) in liquidatable:
            if acct.cross_positions:
                self.pending.append(acct)  # flagged earlier: re-evaluate (it may have recovered)
                return
            del liquidatable[id(acct)]
        risk = self.risk
        if not acct.cross_positions:
            if acct.risk_seq:
                risk.forget(acct)
            return
        triggers = cross_triggers(self, acct, risk.threshold_e8(acct))
        if triggers is None:
            risk.unfile(acct)
            self.pending.append(acct)
        else:
            risk.file(acct, triggers)

    def _refile_portfolio(self, pf: Portfolio) -> None:
        """:meth:`refile` for a multi-assets account: its triggers span every instrument it
        holds and every asset's index price (:func:`portfolio_triggers`)."""
        risk = self.risk
        alive = any(acct.positions for acct in pf.accounts.values())
        if id(pf) in self.liquidatable:
            if alive:
                self.pending.append(pf)
                return
            self.liquidatable.pop(id(pf), None)
        if not alive:
            risk.forget(pf)
            return
        triggers = portfolio_triggers(self, pf, risk.threshold_e8(pf))
        if triggers is None:
            risk.unfile(pf)
            self.pending.append(pf)
        else:
            risk.file(pf, triggers)

    def on_mark(self, symbol: str, mark_subticks: int) -> None:
        """A new mark (subticks): pop the scopes whose trigger it crossed into :attr:`pending`.
        O(log N + k).

        Scopes already reported liquidatable that hold this instrument are re-checked too
        (they may have recovered).
        """
        self.marks[symbol] = mark_subticks
        self._price_moved(symbol, mark_subticks)

    def _price_moved(self, key: str, price: int) -> None:
        """A risk-index input moved (an instrument's mark, or ``@ASSET``'s collateral
        index): the scopes whose trigger it crossed, and those already liquidatable that
        hold it, go to :attr:`pending`. O(log N + k)."""
        self.pending.extend(self.risk.pop_crossed(key, price))
        if self.liquidatable:
            for k in sorted(self.liquidatable, key=lambda k: self._scope_order(self.liquidatable[k])):
                scope = self.liquidatable[k]
                if self._holds_symbol(scope, key):
                    self.pending.append(scope)

    @staticmethod
    def _scope_order(scope: Account | Position | Portfolio) -> tuple[int, str, int]:
        if type(scope) is Position:
            return scope.account_id, scope.symbol, scope.position_side
        return scope.account_id, "", -1  # type: ignore[union-attr]

    @staticmethod
    def _holds_symbol(scope: Account | Position | Portfolio, symbol: str) -> bool:
        if type(scope) is Position:
            return scope.symbol == symbol
        if type(scope) is Portfolio:
            if symbol.startswith("@"):  # a collateral index
                return symbol[1:] in scope.accounts
            return any(s == symbol for acct in scope.accounts.values() for s, _ in acct.positions)
        return any(s == symbol for s, _ in scope.positions)  # type: ignore[union-attr]

    def evaluate_pending(self) -> list[tuple[str, Account | Position, int, int]]:
        """Evaluate every pending scope exactly; return the alerts and re-file the rest.

        Each alert is ``(kind, scope, margin_balance_atoms, maint_margin_atoms)`` with kind
        ``"LIQUIDATABLE"`` or ``"MARGIN_CALL"``, in a deterministic order (account, symbol,
        side; cross pool before isolated buckets). A liquidatable scope stays listed in
        :attr:`liquidatable` until it is closed or recovers. The decision is exact at the
        subtick mark (``margin balance <= MM`` on 1e-8 atoms); the alert's balance is
        rounded down to the atom.
        """
        if not self.pending:
            return []
        scopes = {id(s): s for s in self.pending}
        self.pending = []
        alerts: list[tuple[str, Account | Position, int, int]] = []
        risk = self.risk
        for scope in sorted(scopes.values(), key=self._scope_order):
            if type(scope) is Account and self.portfolios and scope.account_id in self.portfolios:
                continue  # its portfolio is the scope (an entry filed before the switch)
            if type(scope) is Portfolio:
                if self.portfolios.get(scope.account_id) is not scope:
                    continue  # switched back to single-asset
                self._evaluate_portfolio(scope, alerts)
                continue
            if type(scope) is Position:
                if not scope.qty_lots:
                    continue
                balance, mm = self.isolated_margin_balance_e8(scope)
            else:
                balance, mm = self.cross_margin_balance_e8(scope)  # type: ignore[arg-type]
                if not mm and not scope.cross_positions:  # type: ignore[union-attr]
                    continue
            if at_or_past_e8(LIQUIDATION_RATIO_E8, balance, mm):
                risk.unfile(scope)
                risk.mark_warned(scope, True)
                if id(scope) not in self.liquidatable:
                    self.liquidatable[id(scope)] = scope
                    alerts.append(("LIQUIDATABLE", scope, atoms_e8_floor(balance), mm))
                continue
            self.liquidatable.pop(id(scope), None)
            warned = at_or_past_e8(risk.warn_ratio_e8, balance, mm)
            if warned and risk.threshold_e8(scope) != LIQUIDATION_RATIO_E8:
                alerts.append(("MARGIN_CALL", scope, atoms_e8_floor(balance), mm))
            risk.mark_warned(scope, warned)
            self.refile(scope)
        return alerts

    def recheck_liquidatable(self, scope: Account | Position | Portfolio) -> tuple[int, int] | None:
        """A scope :meth:`evaluate_pending` reported liquidatable, checked again after an
        earlier liquidation of the same batch moved money or positions: its alert figures
        ``(margin balance, maintenance margin)`` when it is still at or past its threshold;
        otherwise None, and it is no longer listed liquidatable (re-filed when it is still
        open). O(positions of the scope)."""
        if type(scope) is Portfolio:
            if any(acct.positions for acct in scope.accounts.values()):
                figures = self.portfolio_figures(scope.account_id)
                if figures.liquidatable(LIQUIDATION_RATIO_E8):
                    return (
                        floor_div(figures.equity_usd_e40, USD_E40_PER_USD_E8),
                        ceil_div(figures.maint_usd_e40, USD_E40_PER_USD_E8),
                    )
        elif scope.qty_lots if type(scope) is Position else scope.cross_positions:  # type: ignore[union-attr]
            balance, mm = self.scope_balance_e8(scope)  # type: ignore[arg-type]
            if at_or_past_e8(LIQUIDATION_RATIO_E8, balance, mm):
                return atoms_e8_floor(balance), mm
        self.liquidatable.pop(id(scope), None)
        self.refile(scope)  # type: ignore[arg-type]
        return None

    def _evaluate_portfolio(self, pf: Portfolio, alerts: list) -> None:
        """:meth:`evaluate_pending` for a multi-assets account: exact on usd_e40; the alert's
        balance and maintenance margin are in 1e-8 USD (rounded down / up)."""
        if not any(acct.positions for acct in pf.accounts.values()):
            self.liquidatable.pop(id(pf), None)
            self.risk.forget(pf)
            return
        risk = self.risk
        figures = self.portfolio_figures(pf.account_id)
        balance = floor_div(figures.equity_usd_e40, USD_E40_PER_USD_E8)
        mm = ceil_div(figures.maint_usd_e40, USD_E40_PER_USD_E8)
        if figures.liquidatable(LIQUIDATION_RATIO_E8):
            risk.unfile(pf)
            risk.mark_warned(pf, True)
            if id(pf) not in self.liquidatable:
                self.liquidatable[id(pf)] = pf
                alerts.append(("LIQUIDATABLE", pf, balance, mm))
            return
        self.liquidatable.pop(id(pf), None)
        warned = figures.liquidatable(risk.warn_ratio_e8)
        if warned and risk.threshold_e8(pf) != LIQUIDATION_RATIO_E8:
            alerts.append(("MARGIN_CALL", pf, balance, mm))
        risk.mark_warned(pf, warned)
        self._refile_portfolio(pf)

    def equity_atoms(self, acct: Account) -> int:
        """Wallet + isolated buckets + UPnL of every position at the marks, rounded down
        to the atom once (the UPnL at a subtick mark is exact in 1e-8 atoms). O(positions)."""
        total = 0
        for pos in acct.positions.values():
            if pos.qty_lots:
                total += pos.margin_atoms * ATOMS_E8_PER_ATOM + self.position_figures_e8(pos)[1]
        return acct.wallet_atoms + atoms_e8_floor(total)

    def margin_ratio_e8(self, balance_atoms: int, maint_margin_atoms: int) -> int:
        """``MM / margin balance`` in e8, rounded up; a balance <= 0 reads as a huge ratio."""
        if balance_atoms <= 0:
            return 1 << 62
        return ceil_div(maint_margin_atoms * RATE_SCALE, balance_atoms)

    # ------------------------------------------------------------------ multi-assets mode
    def collateral_mode(self, account_id: int) -> str:
        """``"multi-assets"`` or ``"single-asset"`` (the default)."""
        return MULTI_ASSETS if account_id in self.portfolios else SINGLE_ASSET

    def portfolio(self, account_id: int) -> Portfolio | None:
        """The multi-assets pool of a trader, None in single-asset mode."""
        return self.portfolios.get(account_id)

    def _link_portfolio(self, pf: Portfolio) -> None:
        accounts = pf.accounts
        accounts.clear()
        for name, book in self.assets.items():
            acct = book.accounts.get(pf.account_id)
            if acct is not None:
                accounts[name] = acct

    def set_collateral_mode(self, account_id: int, mode: str) -> str | None:
        """Switch a trader between ``single-asset`` and ``multi-assets`` collateral mode.

        As on Binance: refused with any position or open order in any asset
        (``HAS_POSITION_OR_ORDERS``), with an instrument set to isolated margin
        (``ISOLATED_IN_MULTI_ASSETS``: multi-assets mode is cross only), with a held asset
        that has no index price (``NO_INDEX_PRICE``) and, going back, with a negative
        wallet (``INSUFFICIENT_BALANCE``). The same mode again is a no-op.
        """
        if mode not in COLLATERAL_MODES:
            return Reason.INVALID_COLLATERAL_MODE
        accounts = [b.accounts[account_id] for b in self.assets.values() if account_id in b.accounts]
        if not accounts:
            return Reason.NO_ACCOUNT
        if (mode == MULTI_ASSETS) == (account_id in self.portfolios):
            return None
        if any(a.positions or a.order_count for a in accounts):
            return Reason.HAS_POSITION_OR_ORDERS
        if mode == MULTI_ASSETS:
            if any(ISOLATED in a.margin_modes.values() for a in accounts):
                return Reason.ISOLATED_IN_MULTI_ASSETS
            if any(a.wallet_atoms and not self.collateral[a.asset].index_usd_e8 for a in accounts):
                return Reason.NO_INDEX_PRICE
            pf = self.portfolios[account_id] = Portfolio(account_id, {})
            self._link_portfolio(pf)
            for a in accounts:
                self.risk.forget(a)
                self.liquidatable.pop(id(a), None)
            return None
        if any(a.wallet_atoms < 0 for a in accounts):
            return Reason.INSUFFICIENT_BALANCE
        pf = self.portfolios.pop(account_id)
        self.risk.forget(pf)
        self.liquidatable.pop(id(pf), None)
        self.exchange_due.discard(account_id)
        return None

    def portfolio_figures(self, account_id: int) -> AccountFigures:
        """The trader's account figures over every asset (exact, usd_e40; see
        :mod:`exsim.ledger.collateral`): per asset the equity (wallet + UPnL of its cross
        positions, 1e-8 atoms), the initial margin (Σ ceil(notional / leverage) + order
        holds), the maintenance margin; converted with :attr:`collateral`. O(positions + assets × tiers).
        """
        per = []
        e8 = ATOMS_E8_PER_ATOM
        for name, book in self.assets.items():
            acct = book.accounts.get(account_id)
            if acct is None:
                continue
            equity = acct.wallet_atoms * e8
            im = acct.held_atoms
            mm = 0
            for pos in acct.positions.values():
                if not pos.qty_lots or pos.isolated:
                    continue
                n, u, m = self.position_figures_e8(pos)
                equity += u
                im += ceil_div(n, pos.leverage * e8)
                mm += m
            per.append((name, equity, im, mm))
        return account_figures(per, self.collateral)

    def set_collateral_index(self, asset: str, index_usd_e8: int) -> None:
        """A collateral asset's new index price (USD per coin × 1e8): pops the
        multi-assets accounts whose trigger it crossed into :attr:`pending`. O(log N + k)."""
        rule = self.collateral.get(asset)
        if rule is None:
            raise InputError(f"no book for asset {asset!r} (assets: {', '.join(self.assets)})", field="asset")
        if type(index_usd_e8) is not int or index_usd_e8 <= 0:
            raise InputError(f"index price of {asset} must be a positive int (index_usd_e8), got {index_usd_e8!r}", field="index")
        rule.index_usd_e8 = index_usd_e8
        self._price_moved(collateral_key(asset), index_usd_e8)

    def set_collateral_rule(self, asset: str, rule: CollateralRule) -> str | None:
        """Replace how ``asset`` converts (index, buffers, tiers: a haircut change); every
        multi-assets account holding it is re-evaluated in this command. Returns
        ``INVALID_AMOUNT`` (nothing changed) for a rule that does not pass its check.
        O(multi-assets accounts)."""
        if asset not in self.collateral:
            return Reason.UNKNOWN_ASSET
        try:
            rule.check()
        except InputError:
            return Reason.INVALID_AMOUNT
        new = rule.copy()
        new.asset = asset
        self.collateral[asset] = new
        for account_id in sorted(self.portfolios):
            pf = self.portfolios[account_id]
            if asset in pf.accounts:
                self.risk.unfile(pf)
                self.pending.append(pf)
        return None

    def settle_auto_exchange(self) -> list[tuple[int, str, int, str, int, str]]:
        """Binance's auto-exchange for the multi-assets traders whose wallets changed in this
        command (:attr:`exchange_due`), as :func:`~exsim.ledger.collateral.plan_auto_exchange`
        plans it: a USDⓈ wallet worth less than the autoExchangeThreshold (−10,000 USD at
        its ask rate), or, with no position and no open order, a loan to value of 1 or
        more (then what the other assets cannot cover is bad debt, paid by that asset's
        insurance fund). Trigger (2), in a liquidation, is :meth:`auto_exchange`.
        Returns the conversions ``(account_id, from_asset, from_atoms, to_asset, to_atoms,
        reason)`` in account order. O(due accounts × assets²).
        """
        out: list[tuple[int, str, int, str, int, str]] = []
        due = sorted(self.exchange_due)
        self.exchange_due.clear()
        for account_id in due:
            pf = self.portfolios.get(account_id)
            if pf is None:
                continue
            idle = not any(a.positions or a.order_count for a in pf.accounts.values())
            wallets = {a: acct.wallet_atoms for a, acct in pf.accounts.items()}
            plan = plan_auto_exchange(
                wallets, self.collateral, idle=idle, usd_assets=USD_ASSETS,
                threshold_usd_e8=self.auto_exchange_threshold_usd_e8,
            )
            for from_asset, sold, to_asset, bought, reason in plan:
                self._book_conversion(pf, from_asset, sold, to_asset, bought)
                out.append((account_id, from_asset, sold, to_asset, bought, reason))
            # nothing open and debts worth at least the collateral: what the conversions
            # could not cover (nothing to sell, or not enough) is bad debt of that asset
            ltv = account_ltv_e8({a: acct.wallet_atoms for a, acct in pf.accounts.items()}, self.collateral) if idle else None
            if ltv is not None and ltv >= RATE_SCALE:
                for asset, acct in pf.accounts.items():
                    if acct.wallet_atoms < 0:  # nothing left to sell: bad debt of that asset
                        self.assets[asset].fund.wallet_atoms += acct.wallet_atoms
                        acct.wallet_atoms = 0
                        self.absorb_fund_shortfall(asset)
            if plan or ltv is not None:
                self.refile(pf)
        return out

    def _book_conversion(self, pf: Portfolio, from_asset: str, sold: int, to_asset: str, bought: int) -> None:
        """One conversion through the exchange desk of both assets (each asset's identity holds)."""
        pf.accounts[from_asset].wallet_atoms -= sold
        self.assets[from_asset].desk.wallet_atoms += sold
        self.assets[to_asset].desk.wallet_atoms -= bought
        pf.accounts[to_asset].wallet_atoms += bought

    def auto_exchange(self, account_id: int, asset: str, reason: str) -> list[tuple[int, str, int, str, int, str]]:
        """Buy back the trader's negative ``asset`` wallet with its positive wallets in the
        other assets, in proportion to their value, as far as they go
        (:func:`~exsim.ledger.collateral.cover_negative`: each source sold at index × (1 −
        bid buffer), the target bought at its ask rate, the trader paying the rounding).
        Booked against the :data:`CONVERSION_DESK` of both assets, so each asset's identity
        holds to the atom. Returns the conversions made. O(assets)."""
        pf = self.portfolios[account_id]
        wallets = {a: acct.wallet_atoms for a, acct in pf.accounts.items()}
        out: list[tuple[int, str, int, str, int, str]] = []
        for from_asset, sold, bought in cover_negative(wallets, asset, self.collateral):
            self._book_conversion(pf, from_asset, sold, asset, bought)
            out.append((account_id, from_asset, sold, asset, bought, reason))
        if out:
            self.refile(pf)
        return out

    # ------------------------------------------------------------------ checks
    def money_atoms(self, asset: str | None = None) -> int:
        """Left side of the conservation identity of ``asset`` (None: home; see the module
        docstring): an inverse position's signed entry cost counts with the opposite sign."""
        book = self.book(asset)
        instruments = self.instruments
        total = book.fee_pool_atoms - book.uncovered_loss_atoms
        for acct in (*book.accounts.values(), book.external, book.fund, book.desk):
            total += acct.wallet_atoms
            for pos in acct.positions.values():
                total += pos.margin_atoms
                signed = pos.cost_atoms if pos.qty_lots >= 0 else -pos.cost_atoms
                total += signed if instruments[pos.symbol].inverse else -signed
        return total

    def _check(self) -> None:
        """Conservation per asset, non-negative balances, holds and positions consistent,
        every position in its asset's book. O(state)."""
        for name, book in self.assets.items():
            money = self.money_atoms(name)
            if money != book.total_in_atoms - book.total_out_atoms:
                raise StateError(
                    f"money not conserved in {name}: {money} != {book.total_in_atoms - book.total_out_atoms} "
                    "(deposits − withdrawals)"
                )
            if book.fund.wallet_atoms < 0 and not self.fund_may_go_negative:
                raise StateError(f"insurance fund of {name} below zero: {book.fund.wallet_atoms}")
        net: dict[str, int] = {}
        held: dict[tuple[int, str], int] = {}
        closing: dict[tuple[int, str], int] = {}
        listed: dict[int, tuple[Account, dict[int, str]]] = {}  # id(account) -> its open orders
        for order_id, hold in self.holds.items():
            book = self._book_of[hold.symbol]
            key = (hold.account_id, book.asset)
            held[key] = held.get(key, 0) + hold.held_atoms
            if hold.closing:
                closing[key] = closing.get(key, 0) + 1
            owner = book.accounts.get(hold.account_id)
            if owner is not None and id(owner) not in listed:
                listed[id(owner)] = (owner, owner.order_ids)
            if owner is None or listed[id(owner)][1].get(order_id) != hold.symbol:
                raise StateError(f"hold of order {order_id} missing from its account's open orders")
        for order_id, symbol in self._orders.waiting.items():
            if order_id in self._holds or symbol not in self._book_of:
                raise StateError(f"waiting order {order_id} ({symbol}) also holds margin, or has no instrument")
        for book in self.assets.values():
            for acct in book.accounts.values():
                ids = acct.order_list
                if len(set(ids)) != len(ids) or acct.order_count != len(acct.order_ids):
                    raise StateError(
                        f"account {acct.account_id}: lists {len(ids)} orders ({len(set(ids))} distinct), "
                        f"counts {acct.order_count}, has {len(acct.order_ids)} open"
                    )
                if acct.order_count and acct.orders_index is not self._orders:
                    raise StateError(f"account {acct.account_id}: its orders are indexed elsewhere")
        for book in self.assets.values():
            for acct in (*book.accounts.values(), book.external, book.fund, book.desk):
                self._check_account(acct, book, held, net)
                if acct.closing_holds != closing.get((acct.account_id, book.asset), 0):
                    raise StateError(
                        f"account {acct.account_id}: counts {acct.closing_holds} closing holds in {book.asset}, "
                        f"has {closing.get((acct.account_id, book.asset), 0)}"
                    )
            if book.desk.positions:
                raise StateError(f"the {book.asset} exchange desk holds positions")
        for account_id, pf in self.portfolios.items():
            linked = {a: b.accounts[account_id] for a, b in self.assets.items() if account_id in b.accounts}
            if pf.accounts != linked or pf.account_id != account_id:
                raise StateError(f"portfolio {account_id}: its accounts {list(pf.accounts)} != the books' {list(linked)}")
            for acct in pf.accounts.values():
                if any(p.isolated for p in acct.positions.values()) or ISOLATED in acct.margin_modes.values():
                    raise StateError(f"portfolio {account_id}: isolated margin in multi-assets mode ({acct.asset})")
                if self.risk.is_filed(acct):
                    raise StateError(f"portfolio {account_id}: its {acct.asset} pool is watched on its own")
        for symbol, q in net.items():
            if q:
                raise StateError(f"{symbol}: positions do not net to zero ({q} lots)")

    def _check_account(
        self, acct: Account, book: AssetBook, held: dict[tuple[int, str], int], net: dict[str, int]
    ) -> None:
        if acct.asset != book.asset:
            raise StateError(f"account {acct.account_id} of {acct.asset!r} filed in the {book.asset} book")
        if acct.account_id > 0:
            if acct.wallet_atoms < 0 and acct.account_id not in self.portfolios and all(
                p.isolated for p in acct.positions.values()
            ):
                # only unrealized profit of cross positions may back a wallet below zero
                raise StateError(f"account {acct.account_id}: negative {book.asset} wallet {acct.wallet_atoms}")
            if acct.held_atoms != held.get((acct.account_id, book.asset), 0):
                raise StateError(f"account {acct.account_id}: held {acct.held_atoms} {book.asset} != sum of holds")
        cross = sum(1 for p in acct.positions.values() if not p.isolated)
        if acct.cross_positions != cross:
            raise StateError(f"account {acct.account_id}: counts {acct.cross_positions} cross positions, holds {cross}")
        for key, pos in book.external_flat.items() if acct is book.external else ():
            if key in acct.positions or pos.qty_lots or pos.cost_atoms or pos.margin_atoms or pos.isolated:
                raise StateError(f"parked EXTERNAL position {pos!r} is not flat or is also open")
        for (symbol, pside), pos in acct.positions.items():
            if self._book_of[symbol] is not book:
                raise StateError(f"position {pos!r} settles in {self._book_of[symbol].asset}, held in {book.asset}")
            if (pos.symbol, pos.position_side) != (symbol, pside) or not pos.qty_lots:
                raise StateError(f"misfiled or flat position {pos!r}")
            if pos.cost_atoms < 0 or (not pos.isolated and pos.margin_atoms):
                raise StateError(f"bad position {pos!r}")
            if pside == LONG and pos.qty_lots < 0 or pside == SHORT and pos.qty_lots > 0:
                raise StateError(f"hedge leg on the wrong side {pos!r}")
            net[symbol] = net.get(symbol, 0) + pos.qty_lots
