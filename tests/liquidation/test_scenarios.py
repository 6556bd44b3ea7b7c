"""Two-instrument scenarios: a Bitcoin rally with altcoin weakness, and a correlated crash.

Instruments: BTCUSDT and ETHUSDT with a fixed 5 % maintenance rate, 10x max, no fees.
BTC 20 lots at 500_000 ticks (50,000.0) = 1,000 USDT (10_000 atoms per tick-lot);
ETH 500 lots at 200_000 ticks (2,000.00) = 1,000 USDT (1_000 atoms per tick-lot).
The maker (account 9) sells every opening position and bids at the crash marks.
"""

from __future__ import annotations

from typing import Any

from .harness import (
    BTC_SYM,
    CROSS,
    ETH_SYM,
    ISOLATED,
    MM,
    USDT,
    LiqHarness,
    Liquidatable,
    Liquidation,
    fixed,
    liquidations,
    of_type,
)

BTC0, ETH0 = 500_000, 200_000  # 50,000.0 and 2,000.00
BTC_LOTS, ETH_LOTS = 20, 500  # 1,000 USDT each
ISO, CRS = 1, 2  # the isolated and the cross account of the rally scenario


def two_markets() -> LiqHarness:
    h = LiqHarness(fixed(BTC_SYM), fixed(ETH_SYM))
    h.mark(BTC0, BTC_SYM)
    h.mark(ETH0, ETH_SYM)
    h.account(MM, 10_000_000, leverage=10)
    return h


def open_both(h: LiqHarness, account: int, btc: bool = True, eth: bool = True) -> None:
    if btc:
        h.trade(account, MM, BTC_LOTS, BTC0, symbol=BTC_SYM)
    if eth:
        h.trade(account, MM, ETH_LOTS, ETH0, symbol=ETH_SYM)


def rally_world(btc_rally: bool = True) -> tuple[LiqHarness, list[Any]]:
    """Isolated account 1 and cross account 2 long BTC and ETH; BTC +20 % (or flat), then ETH −15 %.

    Account 1 (isolated): 300 USDT; buckets 100 (BTC) and 100 + 60 added (ETH); wallet 40.
    Account 2 (cross): 200 USDT = the two initial margins (100 + 100).
    Returns the harness and the events of the ETH mark command.
    """
    h = two_markets()
    h.account(ISO, 300, leverage=10, mode=ISOLATED)
    h.account(CRS, 200, leverage=10, mode=CROSS)
    open_both(h, ISO)
    open_both(h, CRS)
    h.adjust(ISO, 60 * USDT, ETH_SYM)
    assert h.wallet(ISO) == 40 * USDT and h.pos(ISO, ETH_SYM).margin_atoms == 160 * USDT
    if btc_rally:
        h.rest(MM, 0, BTC_LOTS, 600_000, symbol=BTC_SYM)  # a bid at the new BTC mark (unused)
        assert not liquidations(h.mark(600_000, BTC_SYM))  # +20 %
    h.rest(MM, 0, 2 * ETH_LOTS, 170_000, symbol=ETH_SYM)  # bids at the new ETH mark
    return h, h.mark(170_000, ETH_SYM)  # −15 %


class TestBitcoinRallyAltcoinWeakness:
    def test_isolated_liquidates_eth_bucket_only(self) -> None:
        """The ETH bucket (160 − 150 = 10 USDT < MM 42.5) is liquidated; the BTC bucket is untouched."""
        h, events = rally_world()
        (liq,) = of_type(events, Liquidation)
        assert (liq.account_id, liq.scope, liq.symbol) == (ISO, "ISOLATED", ETH_SYM)
        # ETH bucket at 170_000: 160e8 + 500 × 1_000 × (170_000 − 200_000) = 1e9; MM 5 % × 8.5e10 = 4.25e9
        assert (liq.margin_balance_atoms, liq.maint_margin_atoms) == (10 * USDT, 4_250_000_000)
        (lp,) = liq.positions
        # BP = (cost − bucket) / size = (1e11 − 1.6e10) / (500 × 1_000) = 168_000 (1,680.00 = −16 %)
        assert lp.bankruptcy_price_ticks == 168_000 and lp.filled_lots == ETH_LOTS
        btc = h.pos(ISO, BTC_SYM)
        assert btc is not None and btc.qty_lots == BTC_LOTS and btc.margin_atoms == 100 * USDT
        assert h.pos(ISO, ETH_SYM) is None
        # the ETH bucket's 10 USDT came back: 40 + 10
        assert h.wallet(ISO) == 50 * USDT

    def test_cross_survives_because_btc_profit_supports_eth(self) -> None:
        """Cross pool: 200 + 200 − 150 = 250 USDT > MM 5 % × (1,200 + 850) = 102.5: nothing happens."""
        h, events = rally_world()
        assert not liquidations(events, CRS) and not [e for e in of_type(events, Liquidatable) if e.account_id == CRS]
        balance, mm = h.ledger.cross_margin_balance(h.ledger.accounts[CRS])
        assert (balance, mm) == (250 * USDT, 10_250_000_000)
        assert h.pos(CRS, BTC_SYM).qty_lots == BTC_LOTS and h.pos(CRS, ETH_SYM).qty_lots == ETH_LOTS

    def test_cross_without_the_rally_is_liquidated(self) -> None:
        """Control: with BTC flat the same pool has 200 − 150 = 50 USDT <= MM 5 % × (1,000 + 850) = 92.5."""
        _, events = rally_world(btc_rally=False)
        liq = liquidations(events, CRS)
        assert len(liq) == 1 and liq[0].scope == "CROSS"
        assert (liq[0].margin_balance_atoms, liq[0].maint_margin_atoms) == (50 * USDT, 9_250_000_000)
        assert {lp.symbol for lp in liq[0].positions} == {BTC_SYM, ETH_SYM}


def crash_world() -> LiqHarness:
    """Cross accounts 1 and 3 long ETH only (100 USDT each), cross account 2 long both (200 USDT),
    isolated account 4 long both (200 USDT); the maker bids at the crash marks (−8 % each)."""
    h = two_markets()
    h.account(1, 100)
    h.account(2, 200)
    h.account(3, 100)
    h.account(4, 200, mode=ISOLATED)
    open_both(h, 1, btc=False)
    open_both(h, 2)
    open_both(h, 3, btc=False)
    open_both(h, 4)
    h.rest(MM, 0, 2 * BTC_LOTS, 460_000, symbol=BTC_SYM)  # BTC −8 %: 46,000.0
    h.rest(MM, 0, 4 * ETH_LOTS, 184_000, symbol=ETH_SYM)  # ETH −8 %: 1,840.00
    return h


class TestCorrelatedCrash:
    def test_cross_pool_liquidated_in_one_event(self) -> None:
        """Account 2's pool fails on the ETH tick and BOTH its positions are closed in one Liquidation event."""
        h = crash_world()
        # BTC −8 %: pool 200 − 80 = 120 > MM 5 % × (920 + 1,000) = 96: survives
        assert not liquidations(h.mark(460_000, BTC_SYM), 2)
        # ETH −8 %: pool 120 − 80 = 40 <= MM 5 % × (920 + 920) = 92
        events = h.mark(184_000, ETH_SYM)
        (liq,) = liquidations(events, 2)
        assert liq.scope == "CROSS" and (liq.margin_balance_atoms, liq.maint_margin_atoms) == (40 * USDT, 92 * USDT)
        assert sorted((lp.symbol, lp.qty_lots, lp.filled_lots) for lp in liq.positions) == [
            (BTC_SYM, BTC_LOTS, BTC_LOTS), (ETH_SYM, ETH_LOTS, ETH_LOTS)
        ]
        assert h.pos(2, BTC_SYM) is None and h.pos(2, ETH_SYM) is None
        # closed at the marks: 200 − 80 − 80 = 40 USDT left in the wallet
        assert h.wallet(2) == 40 * USDT

    def test_no_other_account_interleaves_a_cross_liquidation(self) -> None:
        """Between an account's Liquidatable and its Liquidation only its own events (and its makers' fills) appear."""
        h = crash_world()
        h.mark(460_000, BTC_SYM)
        events = h.mark(184_000, ETH_SYM)
        liqs = of_type(events, Liquidation)
        assert [(e.account_id, e.scope) for e in liqs] == [(1, "CROSS"), (2, "CROSS"), (3, "CROSS"), (4, "ISOLATED")]
        for liq in liqs:
            start = next(i for i, e in enumerate(events) if type(e) is Liquidatable and e.account_id == liq.account_id)
            end = events.index(liq)
            for e in events[start:end]:
                accounts = {getattr(e, f) for f in ("account_id", "taker_account_id", "maker_account_id") if hasattr(e, f)}
                assert accounts <= {liq.account_id, MM}, f"{e} interleaves account {liq.account_id}'s liquidation"
                assert type(e) not in (Liquidatable, Liquidation) or e.account_id == liq.account_id

    def test_isolated_buckets_liquidated_one_by_one(self) -> None:
        """Account 4's BTC bucket goes on the BTC tick alone; its ETH bucket on the ETH tick, in another event."""
        h = crash_world()
        # BTC bucket: 100 − 80 = 20 <= MM 46
        (btc_liq,) = liquidations(h.mark(460_000, BTC_SYM), 4)
        assert (btc_liq.scope, btc_liq.symbol, len(btc_liq.positions)) == ("ISOLATED", BTC_SYM, 1)
        eth = h.pos(4, ETH_SYM)
        assert eth is not None and eth.qty_lots == ETH_LOTS and eth.margin_atoms == 100 * USDT
        (eth_liq,) = liquidations(h.mark(184_000, ETH_SYM), 4)
        assert (eth_liq.scope, eth_liq.symbol, len(eth_liq.positions)) == ("ISOLATED", ETH_SYM, 1)
        # wallet 0 after funding both buckets; each returns 20 USDT
        assert h.wallet(4) == 40 * USDT
