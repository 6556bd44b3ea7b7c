"""Conservation per settlement asset, with inverse contracts, under a hypothesis state machine.

Three instruments in three assets: BTCUSDT (linear, USDT), BTCUSD_PERP and ETHUSD_PERP
(inverse: contracts of 100 / 10 USD, margined and settled in BTC / ETH). Four accounts:
every one holds USDT, three hold BTC, two hold ETH, so some of them order inverse contracts
without the coin. Rules: orders of every kind on any symbol (takers against replayed depth
and each other), deposits and withdrawals in any asset (also DOGE, which nothing settles
in), leverage and margin modes, marks, replayed depth and trades, funding. After every
step, for EVERY asset:

* ``ledger.money_atoms(asset) == deposits − withdrawals`` of that asset's book (Σ wallets +
  Σ buckets + fee pool + fund − Σ signed entry costs, inverse costs entering with the
  opposite sign) — and ``Ledger._check()``, the risk index's and the exchange's;
* positions of each symbol net to zero (traders, EXTERNAL and the fund of its asset);
* no trader wallet below zero (solvent by construction: leverage 1..10, prices within ±2 %);
* every resting order holds margin in its own asset and every hold belongs to one;
* a refused money command (unknown asset, an asset never held) changes nothing.

Bounded for CI: derandomized, 60 examples of 40 steps.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from exsim.book.orders import BUY, FOK, GTC, GTX, IOC, LIMIT, MARKET, SELL, STOP_MARKET, TRIGGER_LAST, TRIGGER_MARK
from exsim.exchange import (
    CommandRejected,
    Deposit,
    Exchange,
    NewOrder,
    ReplayedTrade,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetReplayedLevel,
    SettleFunding,
    Withdraw,
)
from exsim.instruments import get_instrument
from exsim.ledger import BOTH, Ledger
from exsim.sinks import MemorySink
from exsim.testing.stress import inverse_instrument

INSTRUMENTS = (get_instrument("BTCUSDT"), inverse_instrument("BTCUSD_PERP"), inverse_instrument("ETHUSD_PERP"))
SYMBOLS = tuple(i.symbol for i in INSTRUMENTS)
INST = {i.symbol: i for i in INSTRUMENTS}
BASE = {"BTCUSDT": 600_000, "BTCUSD_PERP": 600_000, "ETHUSD_PERP": 300_000}  # 60,000.0 / 60,000.0 / 3,000.00
BAND = {s: b // 50 for s, b in BASE.items()}  # ±2 %
LOTS = {"BTCUSDT": (2, 120), "BTCUSD_PERP": (1, 120), "ETHUSD_PERP": (1, 600)}  # up to ~7,200 / 12,000 / 6,000 USD
ASSETS = ("USDT", "BTC", "ETH", "DOGE")  # DOGE: nothing settles in it
UNIT = {"USDT": 10**8, "BTC": 10**8 // 60_000, "ETH": 10**8 // 3_000, "DOGE": 10**8}  # atoms worth about 1 USD
HOLDINGS = {1: ("USDT", "BTC", "ETH"), 2: ("USDT", "BTC", "ETH"), 3: ("USDT", "BTC"), 4: ("USDT",)}
MAX_LEVERAGE = 10


def clamp(symbol: str, px: int) -> int:
    return max(BASE[symbol] - BAND[symbol], min(BASE[symbol] + BAND[symbol], px))


class AssetsMachine(RuleBasedStateMachine):
    """The exchange and its ledger over three assets; every per-asset invariant after every step."""

    @initialize()
    def setup(self) -> None:
        self.sink = MemorySink()
        self.ledger = Ledger(INSTRUMENTS, default_leverage=MAX_LEVERAGE,
                             insurance_fund_atoms={"USDT": 1_000 * UNIT["USDT"], "BTC": UNIT["BTC"] * 1_000,
                                                   "ETH": UNIT["ETH"] * 1_000})
        self.ex = Exchange(INSTRUMENTS, sinks=[self.sink], ledger=self.ledger)
        self.ts = 0
        for s in SYMBOLS:
            self.submit(SetMarkPrice(0, s, BASE[s] * INST[s].subticks_per_tick))
        for a, assets in HOLDINGS.items():
            for asset in assets:
                self.submit(Deposit(0, a, 30_000 * UNIT[asset]) if asset == "USDT" else Deposit(0, a, 30_000 * UNIT[asset], asset))
        for s in SYMBOLS:  # replayed depth on both sides for the takers
            hi = LOTS[s][1]
            for k in range(1, 11):
                self.submit(SetReplayedLevel(0, s, BUY, BASE[s] - k * BAND[s] // 10, 2 * hi))
                self.submit(SetReplayedLevel(0, s, SELL, BASE[s] + k * BAND[s] // 10, 2 * hi))

    def submit(self, cmd: Any) -> list[Any]:
        self.ts += 1
        self.sink.events.clear()
        self.ex.submit(cmd._replace(ts_ns=self.ts))
        return list(self.sink.events)

    def snapshot(self) -> tuple[Any, ...]:
        books = {a: (b.total_in_atoms, b.total_out_atoms, len(b.accounts)) for a, b in self.ledger.assets.items()}
        return self.ex.state_hash(), books

    # ------------------------------------------------------------------ invariants
    @invariant()
    def conserved_per_asset(self) -> None:
        ledger, ex = self.ledger, self.ex
        ledger._check()
        ledger.risk._check()
        ex._check()
        for asset, book in ledger.assets.items():
            assert ledger.money_atoms(asset) == book.total_in_atoms - book.total_out_atoms, asset
            for acct in book.accounts.values():
                assert acct.asset == asset
                assert acct.wallet_atoms >= 0, f"{acct!r}"
                for symbol, _ in acct.positions:
                    assert INST[symbol].margin_asset == asset, (acct, symbol)
        net = dict.fromkeys(SYMBOLS, 0)
        holders = [*ledger.all_accounts()]
        for book in ledger.assets.values():
            holders += [book.external, book.fund]
        for acct in holders:
            for (symbol, _), pos in acct.positions.items():
                net[symbol] += pos.qty_lots
        assert net == dict.fromkeys(SYMBOLS, 0), f"positions do not net to zero: {net}"

    @invariant()
    def holds_match_resting_orders(self) -> None:
        resting = {}
        for symbol, market in self.ex.markets.items():
            for oid, order in market.book.orders.items():
                if order.account_id > 0:
                    resting[oid] = symbol
        assert set(self.ledger.holds) == set(resting)
        for oid, hold in self.ledger.holds.items():
            acct = self.ledger.find_account(hold.account_id, INST[resting[oid]].margin_asset)
            assert acct is not None and oid in acct.order_ids, (oid, hold)

    # ------------------------------------------------------------------ rules
    @rule(
        account=st.sampled_from(sorted(HOLDINGS)),
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from((BUY, SELL)),
        size=st.floats(0, 1),
        offset=st.integers(-10, 10),
        kind=st.sampled_from(("limit", "limit", "market", "stop")),
        tif=st.sampled_from((GTC, IOC, FOK, GTX)),
        by_mark=st.booleans(),
    )
    def order(self, account: int, symbol: str, side: int, size: float, offset: int, kind: str, tif: int,
              by_mark: bool) -> None:
        lo, hi = LOTS[symbol]
        qty = lo + int((hi - lo) * size)
        px = clamp(symbol, BASE[symbol] + offset * BAND[symbol] // 10)
        otype = {"limit": LIMIT, "market": MARKET, "stop": STOP_MARKET}[kind]
        if otype != LIMIT and tif == GTX:
            tif = GTC
        trigger = clamp(symbol, px + (BAND[symbol] // 5) * (1 if side == BUY else -1)) if otype == STOP_MARKET else 0
        self.submit(NewOrder(0, account, symbol, side, qty, px if otype == LIMIT else 0, otype, tif, None, False,
                             trigger, TRIGGER_MARK if by_mark else TRIGGER_LAST, BOTH))

    @rule(account=st.sampled_from(sorted(HOLDINGS)), symbol=st.sampled_from(SYMBOLS), side=st.sampled_from((BUY, SELL)))
    def close(self, account: int, symbol: str, side: int) -> None:
        """A reduce-only market order for the whole position (if any)."""
        acct = self.ledger.find_account(account, INST[symbol].margin_asset)
        pos = acct.positions.get((symbol, BOTH)) if acct is not None else None
        if pos is not None and pos.qty_lots:
            side = SELL if pos.qty_lots > 0 else BUY
            self.submit(NewOrder(0, account, symbol, side, abs(pos.qty_lots), 0, MARKET, IOC, None, True, 0,
                                 TRIGGER_LAST, BOTH))

    @rule(account=st.sampled_from(sorted(HOLDINGS)), asset=st.sampled_from(ASSETS), usd=st.integers(1, 5_000),
          withdraw=st.booleans())
    def money(self, account: int, asset: str, usd: int, withdraw: bool) -> None:
        """A deposit or withdrawal in any asset; refused ones change nothing."""
        atoms = usd * UNIT[asset]
        before = self.snapshot()
        cls = Withdraw if withdraw else Deposit
        events = self.submit(cls(0, account, atoms) if asset == "USDT" else cls(0, account, atoms, asset))
        rejected = [e for e in events if type(e) is CommandRejected]
        if asset == "DOGE" or (withdraw and asset not in HOLDINGS[account]
                               and self.ledger.find_account(account, asset) is None):
            assert rejected, (cls.__name__, account, asset)
        if rejected:
            assert self.snapshot() == before

    @rule(account=st.sampled_from(sorted(HOLDINGS)), symbol=st.sampled_from(SYMBOLS), value=st.integers(0, 99))
    def settings(self, account: int, symbol: str, value: int) -> None:
        if value % 2:
            self.submit(SetLeverage(0, account, symbol, 1 + value % MAX_LEVERAGE))
        else:
            self.submit(SetMarginMode(0, account, symbol, value // 2 % 2))

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        what=st.sampled_from(("mark", "mark", "level", "trade", "funding")),
        side=st.sampled_from((BUY, SELL)),
        offset=st.integers(-10, 10),
        lots=st.integers(0, 300),
    )
    def market_data(self, symbol: str, what: str, side: int, offset: int, lots: int) -> None:
        px = clamp(symbol, BASE[symbol] + offset * BAND[symbol] // 10)
        if what == "mark":
            self.submit(SetMarkPrice(0, symbol, px * INST[symbol].subticks_per_tick + lots))  # a subtick offset too
        elif what == "level":
            self.submit(SetReplayedLevel(0, symbol, side, px, lots))
        elif what == "trade":
            self.submit(ReplayedTrade(0, symbol, side, px, max(1, lots)))
        else:
            self.submit(SettleFunding(0, symbol, offset * 5_000))  # ±0.05 %


TestAssetsMachine = AssetsMachine.TestCase
TestAssetsMachine.__doc__ = "Random command streams over USDT, BTC and ETH keep money conserved per asset after every step."
TestAssetsMachine.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
