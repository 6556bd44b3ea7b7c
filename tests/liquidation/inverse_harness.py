"""Harness for the inverse (COIN-M) and multi-asset liquidation tests.

Units by hand (Binance COIN-M, ``BTCUSD_PERP``): tick 0.1 USD, lot 1 contract of 100 USD,
so a fill of ``q`` contracts at ``px`` ticks is worth ``q × 1e11 // px`` satoshi
(:attr:`Instrument.inverse_atoms_per_lot_tick` = 100 × 1 × 1e8 / 0.1): 100 contracts at
25,000.0 (250_000 ticks) are 0.4 BTC = 40_000_000 sat. Marks are in subticks (1e-8 USD).

:class:`InverseHarness` is :class:`LiqHarness` with wallets per asset; after every command
it runs the ledger's ``_check()`` (conservation per asset, to the atom), the risk index's
and the exchange's, and checks every liquidation against the bankruptcy price and the
pool of the right asset.
"""

from __future__ import annotations

from typing import Any

from exsim.book.orders import BUY, SELL
from exsim.exchange import Deposit, Fill, Liquidation, SetLeverage, SetMarginMode
from exsim.instruments import Instrument
from exsim.instruments.brackets import BracketTable
from exsim.ledger import CROSS, Position

from .harness import LiqHarness, check_state, of_type, reasons

BTC = 10**8  # satoshi per BTC
USDT = 10**8
SUB = 10**8  # subticks per USD


def coin_m(
    symbol: str = "BTCUSD_PERP",
    contract_size: str = "100",
    tick: str = "0.1",
    tiers: list[tuple[str, str, str, int]] | None = None,
    **changes: Any,
) -> Instrument:
    """An inverse instrument with one bracket (MMR 0.4 %, cum 0, brackets in coin) and no fees."""
    table = BracketTable.from_tiers(tiers or [("0", "1000000", "0.004", 125)], symbol=symbol)
    spec: dict[str, Any] = dict(maker_fee="0", taker_fee="0", clearance_fee="0")
    spec.update(changes)
    return Instrument.create(
        symbol=symbol, tick_size=tick, lot_size="1", brackets=table, inverse=True, contract_size=contract_size, **spec
    )


def linear(symbol: str = "BTCUSDT", mmr: str = "0.004") -> Instrument:
    """A linear USDT-margined instrument: tick 0.1, lot 0.001, one bracket, no fees."""
    table = BracketTable.from_tiers([("0", "100000000", mmr, 125)], symbol=symbol)
    return Instrument.create(
        symbol=symbol, tick_size="0.1", lot_size="0.001", brackets=table, maker_fee="0", taker_fee="0"
    )


def check_pools(ledger: Any, events: list[Any]) -> None:
    """A full cross liquidation emptied the pool of the asset it was in, and only that one:
    the liquidated positions all settle in one asset."""
    for liq in of_type(events, Liquidation):
        assets = {ledger.instruments[p.symbol].margin_asset for p in liq.positions}
        assert len(assets) == 1, f"a liquidation across assets {assets}: {liq}"
        (asset,) = assets
        if liq.scope == "CROSS" and not liq.partial:
            acct = ledger.find_account(liq.account_id, asset)
            left = [p for p in acct.positions.values() if not p.isolated]
            assert not left, f"cross liquidation of account {liq.account_id} in {asset} left {left}"


class InverseHarness(LiqHarness):
    """:class:`LiqHarness` with ``fund`` per asset and deposits in any asset."""

    def submit(self, command: Any, same_ts: bool = False) -> list[Any]:
        if not same_ts:
            self.ts += 1
        start = len(self.sink.events)
        self.ex.submit(command._replace(ts_ns=self.ts))
        events = self.sink.events[start:]
        check_state(self.ex, self.ledger)
        check_pools(self.ledger, events)
        self._check_bankruptcy_fills(events)
        return events

    def _check_bankruptcy_fills(self, events: list[Any]) -> None:
        bp_of = {}
        for liq in of_type(events, Liquidation):
            for lp in liq.positions:
                bp_of[lp.order_id] = (lp.bankruptcy_price_ticks, lp.qty_lots > 0)
        for e in of_type(events, Fill):
            hit = bp_of.get(e.taker_order_id)
            if hit is not None:
                bp, long = hit
                assert (e.aggressor_side == SELL and e.price_ticks >= bp) if long else (
                    e.aggressor_side == BUY and e.price_ticks <= bp
                ), f"liquidation fill {e} beyond bankruptcy {bp}"

    def fund_account(
        self, account: int, asset: str, atoms: int, leverage: int = 10, mode: int = CROSS,
        symbols: tuple[str, ...] | None = None,
    ) -> None:
        """Deposit ``atoms`` of ``asset``; set leverage and margin mode on that asset's instruments."""
        assert not reasons(self.submit(Deposit(0, account, atoms, asset)))
        for inst in self.instruments:
            if inst.margin_asset != asset or (symbols is not None and inst.symbol not in symbols):
                continue
            assert not reasons(self.submit(SetLeverage(0, account, inst.symbol, leverage)))
            if mode != CROSS:
                assert not reasons(self.submit(SetMarginMode(0, account, inst.symbol, mode)))

    def wallet_in(self, account: int, asset: str) -> int:
        acct = self.ledger.find_account(account, asset)
        return acct.wallet_atoms if acct is not None else 0

    def pos_in(self, account: int, symbol: str) -> Position | None:
        acct = self.ledger.find_account(account, self.ledger.book_of(symbol).asset)
        return acct.positions.get((symbol, 0)) if acct is not None else None

    def fund_in(self, asset: str) -> int:
        return self.ledger.book(asset).fund.wallet_atoms
