"""The liquidation process (MARGIN-SPEC §5 steps 1–2): cancel in scope, IOC within the bankruptcy price.

Base (BTCUSDT, fixed 5 %, 10x, no fees): 20 lots at 500_000 ticks = 1,000 USDT, bucket 100 USDT.
Long BP = (1e11 − 1e10) / 2e5 = 450_000; liquidated at a mark <= 473_684.
Short BP = (1e11 + 1e10) / 2e5 = 550_000; bucket ``1e10 + 2e5·(500_000 − m)`` <= ``1e4·m``
iff m >= 1.1e11 / 2.1e5 = 523_809.5…: liquidated at a mark >= 523_810.
ETHUSDT: 500 lots at 200_000 ticks = 1,000 USDT (1_000 atoms per tick-lot).
"""

from __future__ import annotations

from exsim.book.orders import STOP_MARKET, TRIGGER_MARK
from exsim.exchange import Fill, OrderCancelled
from exsim.ledger import LONG, SHORT

from .harness import (
    BTC_SYM,
    BUY,
    ETH_SYM,
    ISOLATED,
    MM,
    SELL,
    USDT,
    LiqHarness,
    fills_of_order,
    fixed,
    liquidations,
    of_type,
)

ENTRY = 500_000


def base(fund: int = 10_000 * USDT) -> LiqHarness:
    h = LiqHarness(fixed(BTC_SYM), fixed(ETH_SYM), fund=fund)
    h.mark(ENTRY, BTC_SYM)
    h.mark(200_000, ETH_SYM)
    h.account(MM, 1_000_000)
    return h


class TestNeverWorseThanBankruptcy:
    def test_long_sells_down_to_bp_and_not_below(self) -> None:
        """Bids at 45,500 / 45,100 / 45,000 fill; 44,999.9 and 44,000 are left; the rest goes to the fund."""
        h = base()
        h.account(1, 1_000, mode=ISOLATED)
        h.trade(1, MM, 20, ENTRY, symbol=BTC_SYM)
        for px, lots in ((455_000, 5), (451_000, 5), (450_000, 5), (449_999, 5), (440_000, 10)):
            h.rest(MM, BUY, lots, px, symbol=BTC_SYM)
        events = h.mark(460_000, BTC_SYM)
        (liq,) = liquidations(events, 1)
        (lp,) = liq.positions
        assert lp.bankruptcy_price_ticks == 450_000
        fills = fills_of_order(events, lp.order_id)
        assert [(f.price_ticks, f.qty_lots) for f in fills] == [(455_000, 5), (451_000, 5), (450_000, 5)]
        assert all(f.price_ticks >= lp.bankruptcy_price_ticks for f in fills)
        assert (lp.filled_lots, lp.taken_over_lots) == (15, 5)
        assert lp.fill_notional_atoms == (455_000 + 451_000 + 450_000) * 5 * 10_000
        assert h.ex.book(BTC_SYM).depth(BUY, 10) == [(449_999, 5), (440_000, 10)]

    def test_short_buys_up_to_bp_and_not_above(self) -> None:
        """Asks at 54,500 / 54,999.9 / 55,000 fill; 55,000.1 is left; the rest goes to the fund."""
        h = base()
        h.account(1, 1_000, mode=ISOLATED)
        h.rest(MM, BUY, 20, ENTRY, symbol=BTC_SYM)
        h.order(1, SELL, 20, ENTRY, symbol=BTC_SYM)
        assert h.pos(1, BTC_SYM).qty_lots == -20
        for px in (545_000, 549_999, 550_000, 550_001):
            h.rest(MM, SELL, 5, px, symbol=BTC_SYM)
        events = h.mark(530_000, BTC_SYM)
        (liq,) = liquidations(events, 1)
        (lp,) = liq.positions
        assert lp.bankruptcy_price_ticks == 550_000
        fills = fills_of_order(events, lp.order_id)
        assert [(f.price_ticks, f.qty_lots) for f in fills] == [(545_000, 5), (549_999, 5), (550_000, 5)]
        assert all(f.aggressor_side == BUY and f.price_ticks <= 550_000 for f in fills)
        assert (lp.filled_lots, lp.taken_over_lots) == (15, 5)
        assert h.ex.book(BTC_SYM).depth(SELL, 10) == [(550_001, 5)]

    def test_bankruptcy_price_rounds_away_from_bad_debt(self) -> None:
        """A 7x long of 3 lots has BP 42,857.14…: the sell limit is 42,857.2 (up), never 42,857.1, and the bucket ends >= 0."""
        # Notional 500_000 × 3 × 10_000 = 1.5e10; bucket ceil(1.5e10 / 7) = 2_142_857_143;
        # BP = (1.5e10 − 2_142_857_143) / 30_000 = 428_571.43 → 428_572 ticks. Closing there
        # leaves 2_142_857_143 + (428_572 − 500_000) × 30_000 = 17_143 atoms (428_571 would leave −12_857).
        h = base()
        h.account(1, 1_000, leverage=7, mode=ISOLATED)
        h.trade(1, MM, 3, ENTRY, symbol=BTC_SYM)
        assert h.pos(1, BTC_SYM).margin_atoms == 2_142_857_143
        h.rest(MM, BUY, 1, 428_572, symbol=BTC_SYM)
        h.rest(MM, BUY, 5, 428_571, symbol=BTC_SYM)
        events = h.mark(428_000, BTC_SYM)
        (liq,) = liquidations(events, 1)
        (lp,) = liq.positions
        assert lp.bankruptcy_price_ticks == 428_572
        assert [(f.price_ticks, f.qty_lots) for f in fills_of_order(events, lp.order_id)] == [(428_572, 1)]
        assert (lp.filled_lots, lp.taken_over_lots) == (1, 2)
        # closed at 428_572 throughout: 17_143 atoms come back; the wallet had 1e11 − 2_142_857_143
        assert h.wallet(1) == 100_000_000_000 - 2_142_857_143 + 17_143
        assert liq.uncovered_loss_atoms == 0

    def test_short_bankruptcy_price_rounds_down(self) -> None:
        """The same 7x position short has BP 57,142.857…: the buy limit is 57,142.8 (down)."""
        h = base()
        h.account(1, 1_000, leverage=7, mode=ISOLATED)
        h.rest(MM, BUY, 3, ENTRY, symbol=BTC_SYM)
        h.order(1, SELL, 3, ENTRY, symbol=BTC_SYM)
        # BP = (1.5e10 + 2_142_857_143) / 30_000 = 571_428.57 → 571_428
        (liq,) = liquidations(h.mark(572_000, BTC_SYM), 1)
        assert liq.positions[0].bankruptcy_price_ticks == 571_428
        assert liq.uncovered_loss_atoms == 0

    def test_cross_positions_each_respect_their_own_bp(self) -> None:
        """A cross pool's two closes each stop at their own bankruptcy price, ΣMM-weighted."""
        h = base()
        h.account(2, 200)
        h.trade(2, MM, 20, ENTRY, symbol=BTC_SYM)
        h.trade(2, MM, 500, 200_000, symbol=ETH_SYM)
        # a ladder of bids down to far below: the closes must stop at their BP
        for k in range(10):
            h.rest(MM, BUY, 2, 460_000 - 5_000 * k, symbol=BTC_SYM)
            h.rest(MM, BUY, 50, 184_000 - 2_000 * k, symbol=ETH_SYM)
        h.mark(460_000, BTC_SYM)
        events = h.mark(184_000, ETH_SYM)
        (liq,) = liquidations(events, 2)
        # TNC = 200 − 80 − 80 = 40; MM_BTC = 46, MM_ETH = 46 (ΣMM 92): each gets 20 USDT of slack
        # BTC: 460_000 − floor(20e8 / (20 × 10_000)) = 460_000 − 10_000 = 450_000
        # ETH: 184_000 − floor(20e8 / (500 × 1_000)) = 184_000 − 4_000 = 180_000
        bps = {lp.symbol: lp.bankruptcy_price_ticks for lp in liq.positions}
        assert bps == {BTC_SYM: 450_000, ETH_SYM: 180_000}
        for lp in liq.positions:
            fills = fills_of_order(events, lp.order_id)
            assert fills and all(f.price_ticks >= lp.bankruptcy_price_ticks for f in fills)
            assert min(f.price_ticks for f in fills) >= bps[lp.symbol]
        # BTC: 2 lots at each of 46,000 / 45,500 / 45,000 fill (6 lots), the other 14 go to the fund
        btc = next(lp for lp in liq.positions if lp.symbol == BTC_SYM)
        assert (btc.filled_lots, btc.taken_over_lots) == (6, 14)


class TestOrdersInScope:
    def test_isolated_liquidation_cancels_its_instrument_orders_only(self) -> None:
        """The bucket's BTC bid and stop are cancelled (LIQUIDATION) and their holds released; the ETH order stays."""
        h = base()
        h.account(1, 1_000, mode=ISOLATED, symbols=(BTC_SYM,))
        h.account(1, 1, symbols=(ETH_SYM,))  # ETH stays cross
        h.trade(1, MM, 20, ENTRY, symbol=BTC_SYM)
        bid = h.rest(1, BUY, 2, 400_000, symbol=BTC_SYM)
        stop = h.order(1, SELL, 20, symbol=BTC_SYM, order_type=STOP_MARKET, reduce_only=True, trigger=300_000,
                       trigger_by=TRIGGER_MARK)[0].order_id
        eth = h.rest(1, BUY, 100, 100_000, symbol=ETH_SYM)
        eth_hold = h.ledger.holds[eth].held_atoms
        assert h.ledger.holds[bid].held_atoms > 0 and stop in h.ledger.accounts[1].order_ids
        h.rest(MM, BUY, 20, 460_000, symbol=BTC_SYM)
        events = h.mark(460_000, BTC_SYM)
        assert liquidations(events, 1)
        cancelled = {(e.order_id, e.reason) for e in of_type(events, OrderCancelled) if e.account_id == 1}
        assert cancelled == {(bid, "LIQUIDATION"), (stop, "LIQUIDATION")}
        acct = h.ledger.accounts[1]
        assert bid not in h.ledger.holds and stop not in acct.order_ids
        assert acct.held_atoms == eth_hold and h.ledger.holds[eth].held_atoms == eth_hold
        assert eth in h.ex.book(ETH_SYM).orders and acct.open_orders == {ETH_SYM: 1}
        # the cancels come before the liquidation order is sent
        first_cancel = next(i for i, e in enumerate(events) if type(e) is OrderCancelled)
        first_fill = next(i for i, e in enumerate(events) if type(e) is Fill)
        assert first_cancel < first_fill

    def test_hedge_mode_cancels_only_the_liquidated_legs_orders(self) -> None:
        """In hedge mode the LONG bucket's take-profit sell is cancelled; the SHORT leg's close order stays."""
        h = base()
        h.account(3, 1_000, mode=ISOLATED, hedge=True, symbols=(BTC_SYM,))
        h.trade(3, MM, 20, ENTRY, symbol=BTC_SYM, buyer_kw={"pside": LONG})
        h.rest(MM, BUY, 10, ENTRY, symbol=BTC_SYM)
        h.order(3, SELL, 10, ENTRY, symbol=BTC_SYM, pside=SHORT)
        assert h.pos(3, BTC_SYM, LONG).qty_lots == 20 and h.pos(3, BTC_SYM, SHORT).qty_lots == -10
        tp = h.rest(3, SELL, 20, 600_000, symbol=BTC_SYM, pside=LONG)
        close_short = h.rest(3, BUY, 10, 400_000, symbol=BTC_SYM, pside=SHORT)
        h.rest(MM, BUY, 20, 460_000, symbol=BTC_SYM)
        events = h.mark(460_000, BTC_SYM)
        (liq,) = liquidations(events, 3)
        assert liq.positions[0].position_side == LONG
        assert {(e.order_id, e.reason) for e in of_type(events, OrderCancelled)} == {(tp, "LIQUIDATION")}
        assert close_short in h.ex.book(BTC_SYM).orders and close_short in h.ledger.holds
        short = h.pos(3, BTC_SYM, SHORT)
        assert short.qty_lots == -10 and short.margin_atoms == 50 * USDT


class TestCrossLeavesIsolatedAlone:
    def test_cross_liquidation_does_not_touch_isolated_buckets_or_their_orders(self) -> None:
        """ETH cross pool liquidated: ETH closed and its bid cancelled; the BTC bucket and its bid untouched."""
        h = base()
        h.account(2, 300, mode=ISOLATED, symbols=(BTC_SYM,))
        h.account(2, 1, symbols=(ETH_SYM,))  # 301 USDT; ETH cross
        h.trade(2, MM, 20, ENTRY, symbol=BTC_SYM)  # bucket 100
        h.trade(2, MM, 500, 200_000, symbol=ETH_SYM)  # cross IM 100
        btc_bid = h.rest(2, BUY, 2, 400_000, symbol=BTC_SYM)
        eth_bid = h.rest(2, BUY, 10, 100_000, symbol=ETH_SYM)
        btc_hold = h.ledger.holds[btc_bid].held_atoms
        btc = h.pos(2, BTC_SYM)
        before = (btc.qty_lots, btc.cost_atoms, btc.margin_atoms)
        h.rest(MM, BUY, 500, 170_000, symbol=ETH_SYM)
        # ETH −20 %: pool = wallet 201 + UPnL 500 × 1_000 × (160_000 − 200_000) = 201 − 200 = 1 <= MM 40
        events = h.mark(160_000, ETH_SYM)
        (liq,) = liquidations(events, 2)
        assert liq.scope == "CROSS" and [lp.symbol for lp in liq.positions] == [ETH_SYM]
        assert {(e.order_id, e.reason) for e in of_type(events, OrderCancelled)} == {(eth_bid, "LIQUIDATION")}
        btc = h.pos(2, BTC_SYM)
        assert (btc.qty_lots, btc.cost_atoms, btc.margin_atoms) == before
        assert btc_bid in h.ex.book(BTC_SYM).orders and h.ledger.holds[btc_bid].held_atoms == btc_hold
        assert h.pos(2, ETH_SYM) is None


class TestRelapse:
    def test_a_liquidated_cross_account_is_liquidated_again(self) -> None:
        """After a cross liquidation, the account's next failing pool is liquidated like a fresh account's."""
        # Account 1 (100 USDT, 10x) is liquidated at 47,000.0 (pool 100 − 60 = 40 <= MM 47) and keeps
        # 40. Then it and a fresh account 2 each hold 140 USDT and have a bid of 20 lots at 52,000.0
        # hit by the maker while the mark is 47,000.0: pool 140 − 0.02 × 5,000 = 40 <= MM 47 at once.
        h = base()
        h.account(1, 100, symbols=(BTC_SYM,))
        h.trade(1, MM, 20, ENTRY, symbol=BTC_SYM)
        h.rest(MM, BUY, 20, 470_000, symbol=BTC_SYM)
        assert liquidations(h.mark(470_000, BTC_SYM), 1)
        assert h.wallet(1) == 40 * USDT
        h.account(1, 100, symbols=(BTC_SYM,))
        h.account(2, 140, symbols=(BTC_SYM,))
        for account in (2, 1):  # the fresh account first: the control
            h.rest(account, BUY, 20, 520_000, symbol=BTC_SYM)
            events = h.order(MM, SELL, 20, symbol=BTC_SYM)
            liqs = liquidations(events, account)
            assert len(liqs) == 1, f"account {account}: pool {h.ledger.cross_margin_balance(h.ledger.accounts[account])} not liquidated"
            liq = liqs[0]
            assert liq.scope == "CROSS" and (liq.margin_balance_atoms, liq.maint_margin_atoms) == (40 * USDT, 47 * USDT)


class TestHoldsOutsideTheScope:
    def test_isolated_order_surviving_a_cross_liquidation_stays_backed(self) -> None:
        """The margin an isolated order holds is not spent by a cross liquidation: when it fills, no wallet goes below zero."""
        # Account 2: 301 USDT; ETH cross long 500 lots at 2,000.00 (IM 100); a BTC isolated ask of
        # 20 lots at 60,000.0 holding 120. ETH at 1,400.00: pool 301 − 300 = 1 <= MM 35 → the cross
        # pool is liquidated (at the mark, 1 USDT left) but 120 USDT are still held for the BTC ask.
        # Then the maker lifts the ask: the new bucket needs 120 USDT.
        h = base()
        h.account(2, 300, mode=ISOLATED, symbols=(BTC_SYM,))
        h.account(2, 1, symbols=(ETH_SYM,))
        h.trade(2, MM, 500, 200_000, symbol=ETH_SYM)
        ask = h.rest(2, SELL, 20, 600_000, symbol=BTC_SYM)
        assert h.ledger.holds[ask].held_atoms == 120 * USDT
        h.rest(MM, BUY, 500, 140_000, symbol=ETH_SYM)
        (liq,) = liquidations(h.mark(140_000, ETH_SYM), 2)
        assert liq.scope == "CROSS" and ask in h.ex.book(BTC_SYM).orders
        h.order(MM, BUY, 20, 600_000, symbol=BTC_SYM)  # the harness checks every wallet >= 0
        assert h.wallet(2) >= 0


class TestInternalOrders:
    def test_user_client_id_named_liquidation_survives_a_liquidation(self) -> None:
        """A resting order whose client id is 'LIQUIDATION' keeps its id index entry when the account's bucket is liquidated."""
        h = base(fund=10_000 * USDT)
        h.account(1, 1_000, mode=ISOLATED, symbols=(BTC_SYM,))
        h.account(1, 1, symbols=(ETH_SYM,))
        h.trade(1, MM, 20, ENTRY, symbol=BTC_SYM)
        eth = h.rest(1, BUY, 10, 100_000, symbol=ETH_SYM, coid="LIQUIDATION")
        # no bid within BP: the liquidation IOC expires unfilled (its client id is 'LIQUIDATION' too)
        events = h.mark(440_000, BTC_SYM)  # Exchange._check() runs in the harness
        assert liquidations(events, 1)
        assert h.ex._client_ids.get((1, "LIQUIDATION")) == eth
