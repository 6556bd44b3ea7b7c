"""Bad input per settlement asset: a reason code, and nothing half-applied.

An account holds one wallet per asset (USDT for BTCUSDT, BTC for BTCUSD_PERP). Money in
an asset no instrument settles in, money out of an asset the account never held, and an
order on an inverse instrument from an account with no coin wallet are each refused with
a reason code — through the ledger's API and through the exchange's commands — and leave
the whole state as it was: no account created, no total moved, the same state hash.
"""

from __future__ import annotations

from typing import Any

import pytest

from exsim.book.orders import BUY, GTC, IOC, LIMIT, MARKET
from exsim.exchange import CommandRejected, Deposit, Exchange, NewOrder, OrderRejected, SetMarkPrice, Withdraw
from exsim.instruments import get_instrument
from exsim.ledger import Ledger, Reason
from exsim.sinks import MemorySink
from exsim.testing.stress import inverse_instrument

BTC = USDT = 10**8  # atoms per unit


@pytest.fixture
def world() -> tuple[Exchange, Ledger, MemorySink]:
    """BTCUSDT (USDT) and BTCUSD_PERP (BTC); account 1 holds USDT only, account 2 USDT and BTC."""
    instruments = [get_instrument("BTCUSDT"), inverse_instrument("BTCUSD_PERP")]
    ledger = Ledger(instruments)
    sink = MemorySink()
    ex = Exchange(instruments, ledger=ledger, sinks=[sink], emit_book_deltas=False)
    for inst in instruments:
        ex.submit(SetMarkPrice(1, inst.symbol, 600_000 * inst.subticks_per_tick))
    ex.submit(Deposit(1, 1, 10_000 * USDT))
    ex.submit(Deposit(1, 2, 10_000 * USDT))
    ex.submit(Deposit(1, 2, 1 * BTC, "BTC"))
    sink.events.clear()
    return ex, ledger, sink


def snapshot(ex: Exchange, ledger: Ledger) -> tuple[Any, ...]:
    """Everything a refusal must leave alone."""
    books = {a: (b.total_in_atoms, b.total_out_atoms, len(b.accounts)) for a, b in ledger.assets.items()}
    return ex.state_hash(), list(ledger.state_lines()), books, [(a.account_id, a.asset) for a in ledger.all_accounts()]


class TestTheLedgerPerAsset:
    """(The ledger's refusal of an unknown asset is pinned in ``test_assets.py``.)"""

    def test_a_withdrawal_of_an_asset_the_account_never_held_is_refused_and_creates_nothing(self, world: Any) -> None:
        """Account 1 never held BTC: withdrawing BTC is NO_ACCOUNT, and no BTC wallet appears."""
        ex, ledger, _ = world
        before = snapshot(ex, ledger)
        assert ledger.withdraw(1, 1, "BTC") == Reason.NO_ACCOUNT
        assert ledger.find_account(1, "BTC") is None
        assert snapshot(ex, ledger) == before

    def test_a_coin_deposit_lands_in_the_coin_wallet_only(self, world: Any) -> None:
        """A BTC deposit credits the BTC wallet and the BTC book's deposits; the USDT wallet is untouched."""
        ex, ledger, _ = world
        usdt_before = ledger.account(2).wallet_atoms
        btc_in = ledger.book("BTC").total_in_atoms
        assert ledger.deposit(2, 3 * BTC, "BTC") is None
        assert ledger.account(2, "BTC").wallet_atoms == 4 * BTC
        assert ledger.book("BTC").total_in_atoms == btc_in + 3 * BTC
        assert ledger.account(2).wallet_atoms == usdt_before
        ledger._check()


class TestTheExchangeRejects:
    def test_a_deposit_command_in_an_unknown_asset_is_rejected_with_its_reason(self, world: Any) -> None:
        """Deposit(..., "DOGE"): one CommandRejected(UNKNOWN_ASSET), state unchanged."""
        ex, ledger, sink = world
        before = snapshot(ex, ledger)
        ex.submit(Deposit(2, 1, 5 * BTC, "DOGE"))
        assert [(type(e), e.reason) for e in sink.events] == [(CommandRejected, Reason.UNKNOWN_ASSET)]
        assert snapshot(ex, ledger) == before

    def test_a_withdraw_command_of_an_asset_never_held_is_rejected_with_its_reason(self, world: Any) -> None:
        """Withdraw(..., "BTC") from the USDT-only account: one CommandRejected(NO_ACCOUNT), state unchanged."""
        ex, ledger, sink = world
        before = snapshot(ex, ledger)
        ex.submit(Withdraw(2, 1, BTC // 100, "BTC"))
        assert [(type(e), e.reason) for e in sink.events] == [(CommandRejected, Reason.NO_ACCOUNT)]
        assert snapshot(ex, ledger) == before

    @pytest.mark.parametrize("order_type", [LIMIT, MARKET])
    def test_an_inverse_order_from_an_account_with_no_coin_wallet_is_rejected(self, world: Any, order_type: int) -> None:
        """Account 1 (USDT only) orders BTCUSD_PERP: one OrderRejected(NO_ACCOUNT), no BTC wallet created, state unchanged."""
        ex, ledger, sink = world
        before = snapshot(ex, ledger)
        price, tif = (590_000, GTC) if order_type == LIMIT else (0, IOC)
        ex.submit(NewOrder(2, 1, "BTCUSD_PERP", BUY, 10, price, order_type, tif))
        assert [(type(e), e.reason) for e in sink.events] == [(OrderRejected, Reason.NO_ACCOUNT)]
        assert ledger.find_account(1, "BTC") is None
        assert snapshot(ex, ledger) == before

    def test_the_same_order_from_the_account_with_a_coin_wallet_is_accepted(self, world: Any) -> None:
        """Account 2 (USDT and BTC) places the same BTCUSD_PERP order: it rests, holding BTC margin, not USDT."""
        ex, ledger, sink = world
        usdt = ledger.account(2).held_atoms
        ex.submit(NewOrder(2, 2, "BTCUSD_PERP", BUY, 10, 590_000, LIMIT, GTC))
        assert not [e for e in sink.events if type(e) is OrderRejected]
        assert ledger.account(2, "BTC").held_atoms > 0
        assert ledger.account(2).held_atoms == usdt
        ledger._check()
