"""The ledger per settlement asset: a wallet per asset, inverse (coin-margined) fills, and
the conservation identity holding for every asset on its own, to the atom.

Hand arithmetic: BTCUSD_PERP-like inverse contract, 100 USD a contract, tick 0.1, lot 1
contract, so a fill of ``n`` contracts at ``px`` ticks is worth ``floor(n × 1e11 / px)``
satoshis (100 contracts at 25,000.0 = 250,000 ticks: 0.4 BTC = 40,000,000 sat).
"""

from __future__ import annotations

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import StateError
from exsim.instruments import Instrument, get_instrument
from exsim.instruments.brackets import BracketTable
from exsim.ledger import BOTH, EXTERNAL, Ledger, Reason

BTCUSDT = get_instrument("BTCUSDT")
INV = Instrument.create(
    symbol="BTCUSD_PERP",
    tick_size="0.1",
    lot_size="1",
    inverse=True,
    contract_size="100",
    brackets=BracketTable.from_tiers([("0", "5", "0.004", 125), ("5", "10", "0.005", 100)]),
)
SAT = 1  # atoms are 1e-8 of the asset: a satoshi for BTC
BTC = 10**8
USDT = 10**8
ALICE, BOB = 1, 2


def two_asset_ledger() -> Ledger:
    ledger = Ledger([BTCUSDT, INV], default_leverage=10)
    assert ledger.deposit(ALICE, 10_000 * USDT) is None
    assert ledger.deposit(ALICE, 1 * BTC, asset="BTC") is None
    assert ledger.deposit(BOB, 1 * BTC, asset="BTC") is None
    return ledger


def fill(ledger: Ledger, account: int, side: int, lots: int, px: int, symbol: str = "BTCUSD_PERP") -> None:
    """Book both sides of one fill: ``account`` against the replayed market (EXTERNAL)."""
    ledger.apply_fill(account, 0, symbol, side, lots, px, 0, BOTH)
    ledger.apply_fill(EXTERNAL, 0, symbol, SELL if side == BUY else BUY, lots, px, 0, BOTH)
    ledger._check()


def test_an_instrument_names_its_book_and_the_home_asset_is_the_first_instruments():
    """BTCUSDT settles in USDT (the home asset, first), BTCUSD_PERP in BTC."""
    ledger = two_asset_ledger()
    assert list(ledger.assets) == ["USDT", "BTC"]
    assert ledger.home_asset == "USDT"
    assert ledger.book_of("BTCUSD_PERP").asset == "BTC"
    assert ledger.accounts is ledger.book("USDT").accounts


def test_a_trader_holds_one_wallet_per_asset():
    """Alice's USDT and BTC deposits land in two wallets, each counted in its own asset's totals."""
    ledger = two_asset_ledger()
    usdt, btc = ledger.account(ALICE), ledger.account(ALICE, "BTC")
    assert (usdt.asset, usdt.wallet_atoms) == ("USDT", 10_000 * USDT)
    assert (btc.asset, btc.wallet_atoms) == ("BTC", 1 * BTC)
    assert ledger.book("BTC").total_in_atoms == 2 * BTC
    assert ledger.total_in_atoms == 10_000 * USDT  # the home asset's view
    assert [(a.account_id, a.asset) for a in ledger.all_accounts()] == [(1, "USDT"), (1, "BTC"), (2, "BTC")]


def test_a_deposit_in_an_asset_no_instrument_settles_in_is_refused_and_changes_nothing():
    """ETH has no book in this run: UNKNOWN_ASSET, and no money moved."""
    ledger = two_asset_ledger()
    before = list(ledger.state_lines())
    assert ledger.deposit(ALICE, 5 * BTC, asset="ETH") == Reason.UNKNOWN_ASSET
    assert ledger.withdraw(ALICE, 1, asset="ETH") == Reason.UNKNOWN_ASSET
    assert list(ledger.state_lines()) == before


def test_withdrawing_an_asset_the_account_never_held_is_refused():
    """Bob holds only BTC: a USDT withdrawal finds no account."""
    ledger = two_asset_ledger()
    assert ledger.withdraw(BOB, 1) == Reason.NO_ACCOUNT
    assert ledger.withdraw(BOB, 1, asset="BTC") is None


def test_an_inverse_long_pays_its_loss_in_coin():
    """Long 100 contracts at 25,000 (0.4 BTC), closed at 20,000 (0.5 BTC): PnL = 100 × 100 ×
    (1/25,000 − 1/20,000) = −0.1 BTC, paid from the BTC wallet; USDT untouched."""
    ledger = two_asset_ledger()
    fill(ledger, ALICE, BUY, 100, 250_000)
    pos = ledger.account(ALICE, "BTC").positions[("BTCUSD_PERP", BOTH)]
    assert pos.cost_atoms == 40_000_000
    assert INV.entry_price_ticks(pos.qty_lots, pos.cost_atoms) == 250_000
    fill(ledger, ALICE, SELL, 100, 200_000)
    btc = ledger.account(ALICE, "BTC")
    assert btc.realized_pnl_atoms == -10_000_000
    assert btc.wallet_atoms == BTC - 10_000_000
    assert ledger.account(ALICE).wallet_atoms == 10_000 * USDT


def test_an_inverse_short_gains_in_coin_as_the_price_falls():
    """Short 100 contracts at 25,000, covered at 20,000: +0.1 BTC."""
    ledger = two_asset_ledger()
    fill(ledger, BOB, SELL, 100, 250_000)
    fill(ledger, BOB, BUY, 100, 200_000)
    assert ledger.account(BOB, "BTC").realized_pnl_atoms == 10_000_000


def test_unrealized_pnl_and_maintenance_margin_are_in_coin_at_the_mark():
    """Long 100 contracts at 25,000; at a mark of 20,000 the notional is 0.5 BTC (UPnL −0.1
    BTC) and the maintenance margin 0.5 × 0.4 % = 0.002 BTC."""
    ledger = two_asset_ledger()
    fill(ledger, ALICE, BUY, 100, 250_000)
    ledger.on_mark("BTCUSD_PERP", 20_000 * 10**8)
    pos = ledger.account(ALICE, "BTC").positions[("BTCUSD_PERP", BOTH)]
    assert ledger.position_figures(pos) == (50_000_000, -10_000_000, 200_000)


def test_a_fill_that_closes_and_flips_splits_its_one_coin_value_so_both_sides_still_net_to_zero():
    """3 contracts at 30,000.0 are worth floor(3e11/300,000) = 1,000,000 sat; a long of 1
    sold 3: the close takes floor(1,000,000 × 1/3) = 333,333 and the new short 666,667,
    exactly what the counterparty booked for the whole fill."""
    ledger = two_asset_ledger()
    fill(ledger, ALICE, BUY, 1, 300_000)
    fill(ledger, ALICE, SELL, 3, 300_000)
    pos = ledger.account(ALICE, "BTC").positions[("BTCUSD_PERP", BOTH)]
    assert (pos.qty_lots, pos.cost_atoms) == (-2, 666_667)


def test_conservation_holds_per_asset_and_a_break_names_the_asset():
    """The identity is checked for each asset; a satoshi created in BTC is reported as BTC's."""
    ledger = two_asset_ledger()
    fill(ledger, ALICE, BUY, 7, 312_345)
    fill(ledger, BOB, SELL, 3, 299_999)
    fill(ledger, ALICE, SELL, 7, 287_654)
    ledger.account(BOB, "BTC").wallet_atoms += SAT
    with pytest.raises(StateError, match="money not conserved in BTC"):
        ledger._check()


def test_inverse_funding_is_paid_in_coin_and_is_zero_sum_to_the_satoshi():
    """Long 100 contracts, mark 25,000, rate 0.01 %: the long pays 0.4 BTC × 0.0001 = 4,000
    sat to the market (EXTERNAL); nothing is created or lost."""
    ledger = two_asset_ledger()
    fill(ledger, ALICE, BUY, 100, 250_000)
    amounts, dust = ledger.settle_funding("BTCUSD_PERP", 10_000, 25_000 * 10**8)
    assert [(p.account_id, a) for p, a in amounts] == [(ALICE, -4_000), (EXTERNAL, 4_000)]
    assert dust == 0
    ledger._check()


def test_inverse_funding_rounds_each_payment_down_and_the_dust_goes_to_that_assets_fund():
    """At a mark of 30,000 the exact payment of 1 contract at 0.01 % is 33.33… sat: the
    payer pays 34, the receiver gets 33, the BTC fund the 1 sat of dust."""
    ledger = two_asset_ledger()
    fill(ledger, ALICE, BUY, 1, 300_000)
    amounts, dust = ledger.settle_funding("BTCUSD_PERP", 10_000, 30_000 * 10**8)
    assert [a for _, a in amounts] == [-34, 33]
    assert dust == 1
    assert ledger.book("BTC").fund.wallet_atoms == 1
    assert ledger.fund.wallet_atoms == 0  # the home (USDT) fund is another asset's
    ledger._check()


def test_a_one_asset_ledger_hashes_as_before_with_no_asset_lines():
    """Linear-only state lines carry no ``ASSET`` header, so existing golden hashes stay."""
    ledger = Ledger([BTCUSDT])
    ledger.deposit(ALICE, 100 * USDT)
    lines = list(ledger.state_lines())
    assert not any(line.startswith("ASSET") for line in lines)
    assert lines[0] == f"T {100 * USDT} 0 0\n"


def test_another_assets_lines_follow_the_home_asset_under_a_header():
    """A BTC wallet adds ``ASSET BTC`` and that book's own T and A lines after USDT's."""
    lines = list(two_asset_ledger().state_lines())
    at = lines.index("ASSET BTC\n")
    assert lines[at + 1] == f"T {2 * BTC} 0 0\n"
    assert not any(line.startswith("ASSET") for line in lines[:at])


def test_an_inverse_long_that_no_price_can_save_fires_at_any_mark_instead_of_searching_forever():
    """An inverse long's balance never exceeds margin + entry value (its contracts are worth
    nothing at an infinite price): with a bucket of −0.4 BTC against 0.4 BTC of entry value
    it is at its threshold at every price, and the search says so at once (it used to gallop
    up without end). The liquidation engine shows the mark as its price."""
    from exsim.ledger import Position
    from exsim.ledger.risk_index import ALWAYS_SUBTICKS, DOWN, LIQUIDATION_RATIO_E8, isolated_threshold_subticks

    ledger = two_asset_ledger()
    ledger.on_mark("BTCUSD_PERP", 25_000 * 10**8)
    pos = Position(ALICE, "BTCUSD_PERP", BOTH, True, 10)
    pos.qty_lots, pos.cost_atoms, pos.margin_atoms = 100, 40_000_000, -40_000_000
    assert isolated_threshold_subticks(ledger, pos, LIQUIDATION_RATIO_E8) == (DOWN, ALWAYS_SUBTICKS)
