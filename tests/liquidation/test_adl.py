"""Auto-deleveraging (MARGIN-SPEC §5): BitMEX's published example, and the default ranking.

Instrument: BTCUSDT re-gridded to ticks of 1 USDT and lots of 1 contract (so price 650 is
650 ticks and ``atoms_per_tick_lot = 1e8``: one tick × one lot = 1 USDT), fixed 5 %
maintenance, 10x max, no fees.
"""

from __future__ import annotations

from typing import Any

from exsim.exchange import NewOrder, PositionChanged, SetMarkPrice
from exsim.ledger import LONG, SHORT, Account, Ledger, Position

from .harness import (
    BUY,
    CROSS,
    ISOLATED,
    SELL,
    USDT,
    LiqHarness,
    fixed,
    liquidations,
    of_type,
)

ENTRY = 500
LONGS = {1: 10, 2: 10, 3: 20, 4: 30, 5: 20, 6: 10}  # BitMEX: accounts 1–6 and their longs
SCORES = {1: 3, 2: 6, 3: 1, 4: 4, 5: 5, 6: 2}  # BitMEX's given ranking scores: queue 2, 5, 4, 1, 6, 3
BANKRUPT, OTHER = 7, 8  # the liquidated short of 20, and the other seller (short 80)


def bitmex_score(ledger: Ledger, acct: Account, pos: Position) -> int:
    """The ranking as given in the example (instead of PnL% × leverage)."""
    return SCORES.get(acct.account_id, 0)


def one_usdt_grid(**changes: Any) -> Any:
    return fixed(tick_size="1", lot_size="1", **changes)


def bitmex_world(adl_score: Any = bitmex_score, fund: int = 0) -> LiqHarness:
    """Accounts 1–6 long 10, 10, 20, 30, 20, 10 at 500; account 7 isolated short 20 with BP 650.

    Account 7: 5,000 USDT, 5x isolated: bucket 20 × 500 / 5 = 2,000, plus 1,000 added = 3,000;
    BP = (cost + bucket) / size = (10,000 + 3,000) / 20 = 650. Account 8 (cross, 100,000
    USDT) sells the other 80. The book keeps no ask afterwards.
    """
    inst = one_usdt_grid()
    assert inst.atoms_per_tick_lot == USDT
    h = LiqHarness(inst, fund=fund, adl_score=adl_score)
    h.mark(ENTRY)
    h.account(BANKRUPT, 5_000, leverage=5, mode=ISOLATED)
    h.account(OTHER, 100_000, leverage=10)
    for account in LONGS:
        h.account(account, 10_000, leverage=10, mode=CROSS)
    h.rest(BANKRUPT, SELL, 20, ENTRY)  # first in the queue: accounts 1 and 2 buy from account 7
    h.rest(OTHER, SELL, 80, ENTRY)
    for account, lots in LONGS.items():
        h.order(account, BUY, lots, ENTRY)
        assert h.pos(account).qty_lots == lots
    assert h.pos(BANKRUPT).qty_lots == -20 and h.pos(OTHER).qty_lots == -80
    h.adjust(BANKRUPT, 1_000 * USDT)
    assert h.pos(BANKRUPT).margin_atoms == 3_000 * USDT
    assert not h.ex.book(h.sym).depth(SELL, 10)  # nothing to buy back from
    return h


class TestBitmexExample:
    def test_deleverages_account_2_fully_and_half_of_account_5(self) -> None:
        """A short of 20 with BP 650, no ask and an empty fund closes account 2's 10 and 10 of account 5's 20 at 650."""
        h = bitmex_world()
        # mark 700: bucket 3,000 + 20 × (500 − 700) = −1,000 <= MM; the fund (0) would carry
        # (700 − 650) × 20 = 1,000 USDT at the mark: it cannot absorb it → ADL
        events = h.mark(700)
        (liq,) = liquidations(events, BANKRUPT)
        (lp,) = liq.positions
        assert (lp.qty_lots, lp.bankruptcy_price_ticks, lp.filled_lots, lp.taken_over_lots, lp.adl_lots) == (
            -20, 650, 0, 0, 20
        )
        assert [(a.account_id, a.qty_lots, a.price_ticks, a.rank) for a in liq.adl] == [(2, 10, 650, 1), (5, 10, 650, 2)]
        assert [a.score_e8 for a in liq.adl] == [6, 5]

    def test_positions_after_adl(self) -> None:
        """Account 2 is flat with (650 − 500) × 10 = 1,500 USDT realized; account 5 keeps 10; the rest untouched."""
        h = bitmex_world()
        h.mark(700)
        assert h.pos(2) is None and h.wallet(2) == 11_500 * USDT
        assert h.pos(5).qty_lots == 10 and h.pos(5).cost_atoms == 10 * ENTRY * USDT
        assert h.wallet(5) == 11_500 * USDT  # 10 of 20 closed at 650: +1,500
        for account in (1, 3, 4, 6):
            assert h.pos(account).qty_lots == LONGS[account] and h.wallet(account) == 10_000 * USDT
        # account 7 closed at its BP: the bucket is exactly used up; 5,000 − 2,000 − 1,000 = 2,000 stays
        assert h.pos(BANKRUPT) is None and h.wallet(BANKRUPT) == 2_000 * USDT
        assert h.fund == 0 and h.ledger.uncovered_loss_atoms == 0

    def test_adl_counterparties_are_told(self) -> None:
        """Each deleveraged account gets a PositionChanged at 650 in the liquidation's command, no fee."""
        h = bitmex_world()
        events = h.mark(700)
        changed = {e.account_id: e for e in of_type(events, PositionChanged)}
        assert changed[2].qty_lots == 0 and changed[2].realized_pnl_atoms == 1_500 * USDT
        assert changed[5].qty_lots == 10 and changed[5].realized_pnl_atoms == 1_500 * USDT
        assert h.ledger.accounts[2].fees_atoms == 0 and h.ledger.accounts[5].fees_atoms == 0
        assert "ADL: #1 account 2 10 lots, #2 account 5 10 lots" in liquidations(events)[0].explanation

    def test_a_fund_that_can_absorb_takes_over_instead(self) -> None:
        """With 2,000 USDT in the fund (loss at the mark 1,000), the fund takes the 20 over and nobody is deleveraged."""
        h = bitmex_world(fund=2_000 * USDT)
        (liq,) = liquidations(h.mark(700))
        assert liq.adl == () and liq.positions[0].taken_over_lots == 20
        assert h.fund_pos().qty_lots == -20 and h.fund_pos().cost_atoms == 20 * 650 * USDT
        assert all(h.pos(a).qty_lots == q for a, q in LONGS.items())


class TestDefaultRanking:
    def test_default_score_is_pnl_percent_times_margin_ratio(self) -> None:
        """Without a hook the queue is PnlPercent × MarginRatio: the long with the thinner wallet goes first."""
        h = bitmex_world(adl_score=None)
        # at mark 700 each long has UPnL (700 − 500) × lots; MM 5 % × 700 × lots.
        # Account 1 (10 lots, wallet 10,000): PnL% = 2,000 / 10,000 = 0.2; ratio = 350 / 12,000
        # Account 4 (30 lots): PnL% = 6,000 / 10,000 = 0.6; ratio = 1,050 / 16,000 → highest
        scores = {}
        for account, lots in LONGS.items():
            wb = 10_000 * USDT
            upnl = (700 - ENTRY) * lots * USDT
            mm = 700 * lots * USDT * 5 // 100
            scores[account] = (upnl * 10**8 // wb) * (mm * 10**8 // (wb + upnl)) // 10**8
        queue = sorted(LONGS, key=lambda a: (-scores[a], a))
        events = h.mark(700)
        (liq,) = liquidations(events, BANKRUPT)
        want, left = [], 20
        for account in queue:
            take = min(left, LONGS[account])
            if take:
                want.append((account, take, scores[account]))
            left -= take
        assert [(a.account_id, a.qty_lots, a.score_e8) for a in liq.adl] == want
        assert want[0][0] == 4  # 30 lots with the same wallet: the most profitable and most leveraged


class TestAdlQueue:
    def test_adl_never_picks_the_liquidated_accounts_own_leg(self) -> None:
        """Hedge mode: a bankrupt LONG bucket is deleveraged against other accounts' shorts, not its own SHORT leg."""
        h = LiqHarness(fixed(), fund=0)  # BTCUSDT grid: 20 lots at 500_000 = 1,000 USDT
        h.mark(500_000)
        h.account(1, 1_000, mode=ISOLATED, hedge=True)
        h.account(9, 1_000_000)
        for account in (2, 3):
            h.account(account, 100_000)
        h.trade(1, 9, 20, 500_000, buyer_kw={"pside": LONG})  # LONG leg, bucket 100
        h.rest(9, BUY, 20, 500_000)
        h.order(1, SELL, 20, 500_000, pside=SHORT)  # SHORT leg, bucket 100; the maker is flat again
        h.trade(3, 2, 20, 500_000)  # account 2 holds the only other short
        # mark 44,000.0: LONG bucket 100 − 120 = −20; BP 45,000.0; no bid; the empty fund would carry
        # (450_000 − 440_000) × 20 × 10_000 = 2e9 at the mark → ADL among the shorts
        events = h.mark(440_000)
        (liq,) = liquidations(events, 1)
        assert liq.positions[0].position_side == LONG
        assert [(a.account_id, a.qty_lots) for a in liq.adl] == [(2, 20)]
        assert h.pos(1, pside=SHORT).qty_lots == -20  # the account's own SHORT bucket is untouched

    def test_positions_opened_later_in_the_same_timestamp_are_ranked(self) -> None:
        """Two liquidations at one timestamp: a short opened between them is deleveraged by the second."""
        h = LiqHarness(fixed(), fund=0)
        h.mark(500_000)
        for account in (1, 4):
            h.account(account, 100)  # 10x on 1,000 USDT of notional
        for account in (2, 5):
            h.account(account, 10_000)
        h.trade(1, 2, 20, 500_000)
        # ts T: mark 44,000.0 → account 1 (pool 100 − 120 = −20) is deleveraged against account 2
        (first,) = liquidations(h.mark(440_000), 1)
        assert [(a.account_id, a.qty_lots) for a in first.adl] == [(2, 20)]
        # same T: account 5 shorts 20 to account 4 at 44,000.0, then the mark falls to 38,000.0:
        # account 4's pool 100 − 0.02 × 6,000 = −20; BP = 380_000 + 20e8 / (20 × 10_000) = 390_000
        h.submit(NewOrder(0, 5, h.sym, SELL, 20, 440_000), same_ts=True)
        h.submit(NewOrder(0, 4, h.sym, BUY, 20, 440_000), same_ts=True)
        events = h.submit(SetMarkPrice(0, h.sym, 380_000), same_ts=True)
        (second,) = liquidations(events, 4)
        assert second.positions[0].bankruptcy_price_ticks == 390_000
        assert [(a.account_id, a.qty_lots) for a in second.adl] == [(5, 20)]
        assert h.fund_pos() is None


class TestAdlNeverBelowZero:
    def test_adl_does_not_push_a_counterparty_below_zero(self) -> None:
        """A pool bankrupt by its own sweep (BP 620 above the mark 500) must not leave the ADL'd isolated short below zero."""
        # 1-USDT grid. Account 2 (isolated 10x, 520 USDT = its bucket) sells 10 at 520; account 3
        # (cross, 100,000) sells 10 at 900; account 1 (cross, 1,800) buys 20 up to 900: its pool is
        # 1,800 + (20 × 500 − 5,200 − 9,000) = −2,400 at the mark 500, so BP = 500 + 2,400 / 20 = 620.
        # No ask is left and the fund is empty: ADL. Account 2 ranks first (PnL% 200/520 × ratio
        # 250/720 ≫ account 3's 4,000/100,000 × 250/104,000); closing its short at 620 costs
        # (620 − 520) × 10 = 1,000 > its 520 bucket.
        h = LiqHarness(one_usdt_grid(), fund=0)
        h.mark(ENTRY)
        h.account(1, 1_800, leverage=10)
        h.account(2, 520, leverage=10, mode=ISOLATED)
        h.account(3, 100_000, leverage=10)
        h.rest(2, SELL, 10, 520)
        h.rest(3, SELL, 10, 900)
        events = h.order(1, BUY, 20, 900)  # the harness checks every wallet >= 0 after this command
        (liq,) = liquidations(events, 1)
        assert liq.positions[0].bankruptcy_price_ticks == 620
        # account 2 ranks first, but closing its short at 620 would realize a loss beyond
        # its bucket: the engine deleverages only positions profitable at the bankruptcy
        # price, so account 3 (short at 900, +280 a lot at 620) takes it, and 2 is untouched
        assert [(a.account_id, a.qty_lots, a.rank) for a in liq.adl] == [(3, 10, 2)]
        assert h.ledger.accounts[2].positions[("BTCUSDT", 0)].qty_lots == -10
        assert h.wallet(2) >= 0
