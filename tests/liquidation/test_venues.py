"""One engine, each venue's liquidation rules (``exsim.venues``, ``docs/venues.md``).

Every figure below is worked by hand in the docstring. Units: BTCUSDT tick 0.1 USDT, lot
0.001 BTC (1 BTC = 1,000 lots; 50,000 USDT = 500,000 ticks); XRPUSDT tick 0.0001, lot
0.1; 1 USDT = 1e8 atoms. The instruments are single-tier (or hand-made tiers) with no
fees, so the arithmetic stays plain.
"""

from __future__ import annotations

from exsim.instruments.brackets import BracketTable
from exsim.venues import BINANCE, BYBIT, DYDX, HYPERLIQUID

from .harness import BUY, CROSS, ISOLATED, MM, SELL, USDT, LiqHarness, fixed, liquidations

SECOND = 10**9


def _bybit_ladder_instrument():
    """Tiers 0–10k MMR 1 % 50x, 10–20k 2 % 25x (deduction 100), 20k+ 4 % 10x (deduction
    500); MM at entry; laddered partial liquidation."""
    tiers = BracketTable.from_tiers(
        [("0", "10000", "0.01", "50"), ("10000", "20000", "0.02", "25"), ("20000", "100000000", "0.04", "10")]
    )
    return fixed(brackets=tiers, maint_margin_basis="entry", partial_liquidation=True)


class TestBybit:
    def _isolated_long(self, venue):
        """Account 1: isolated 50x long 1 BTC at 20,000 (MMR 0.5 %: IM 400, MM 100 at entry)."""
        h = LiqHarness(fixed(mmr="0.005", max_leverage=100, maint_margin_basis="entry"), venue=venue)
        h.account(MM, 10_000_000)
        h.account(1, 1_000, leverage=50, mode=ISOLATED)
        h.mark(200_000)
        h.trade(1, MM, 1_000, 200_000)
        return h

    def test_liquidation_price_is_19700_with_mm_at_entry(self) -> None:
        """LP = EP − (IM − MM)/Q = 20,000 − (400 − 100)/1 = 19,700: a mark of 19,700.1
        leaves it open, 19,700 liquidates it (Bybit's worked example)."""
        h = self._isolated_long(BYBIT)
        assert h.pos(1).margin_atoms == 400 * USDT
        assert not liquidations(h.mark(197_001))
        assert liquidations(h.mark(197_000), 1)

    def test_closed_at_the_bankruptcy_price_the_rest_goes_to_the_fund(self) -> None:
        """BP = 20,000 × (1 − 1/50) = 19,600. The book bids 19,650: selling 1 BTC there loses
        350 of the 400 bucket; Bybit keeps the 50 left for the insurance fund (Binance, no
        clearance fee, would return it to the wallet)."""
        h = self._isolated_long(BYBIT)
        h.rest(MM, BUY, 1_000, 196_500)
        liq = liquidations(h.mark(197_000), 1)[0]
        assert liq.positions[0].bankruptcy_price_ticks == 196_000
        assert liq.clearance_fee_atoms == 50 * USDT
        assert h.fund == 50 * USDT
        assert h.wallet(1) == 600 * USDT
        assert liq.explanation.startswith("bybit: ")

    def test_binance_returns_what_is_left(self) -> None:
        """The same close under Binance's rules (the fixed instrument's clearance fee is 0):
        the 50 left goes back to the trader."""
        h = self._isolated_long(BINANCE)
        h.rest(MM, BUY, 1_000, 196_500)
        liq = liquidations(h.mark(197_000), 1)[0]
        assert liq.clearance_fee_atoms == 0
        assert h.wallet(1) == 650 * USDT
        assert not liq.explanation.startswith("bybit")

    def _ladder(self, venue):
        """Account 1: isolated 10x long 0.5 BTC at 50,000: cost 25,000 (tier 3), IM 2,500,
        MM at entry 25,000 × 4 % − 500 = 500, LP = 50,000 − (2,500 − 500)/0.5 = 46,000.
        The mark gaps to 45,500 (above BP 45,000) where the book bids 5 BTC."""
        h = LiqHarness(_bybit_ladder_instrument(), venue=venue)
        h.account(MM, 10_000_000)
        h.account(1, 10_000, leverage=10, mode=ISOLATED)
        h.mark(500_000)
        h.trade(1, MM, 500, 500_000)
        h.mark(470_000)
        h.rest(MM, BUY, 5_000, 455_000)
        return h, h.mark(455_000)

    def test_ladder_goes_down_two_tiers_and_stops_when_safe(self) -> None:
        """Step 1: keep ⌊(20,000 − 1e-8 − 0.5e-5)·500/25,000⌋ = 399 lots, sell 101 at 45,500:
        PnL 4,595.5 − 5,050 = −454.5, bucket 2,045.5; 0.399 BTC cost 19,950 (tier 2, MM
        19,950 × 2 % − 100 = 299) against a balance of 2,045.5 + 18,154.5 − 19,950 = 250:
        still liquidatable. Step 2: keep 199 lots, sell 200 at 45,500: cost share 10,000,
        PnL −900, bucket 1,145.5; 0.199 BTC cost 9,950 (tier 1, MM 99.5) against 1,145.5 +
        9,054.5 − 9,950 = 250: safe. One partial Liquidation with both steps."""
        h, events = self._ladder(BYBIT)
        liq = liquidations(events, 1)
        assert len(liq) == 1 and liq[0].partial
        assert [p.filled_lots for p in liq[0].positions] == [101, 200]
        pos = h.pos(1)
        assert pos.qty_lots == 199 and pos.cost_atoms == 9_950 * USDT
        assert pos.margin_atoms == 114_550_000_000

    def test_binance_takes_one_step_then_liquidates_fully(self) -> None:
        """Binance's partial rule (the instrument's flag) reduces once; still liquidatable
        after it, the rest is closed: nothing is left open."""
        h, events = self._ladder(BINANCE)
        liq = liquidations(events, 1)
        assert len(liq) == 1 and not liq[0].partial
        assert h.pos(1) is None


class TestHyperliquid:
    def _cross_long(self):
        """Account 1: cross 20x long 5 BTC at 50,000 (250,000 USDC notional) with 20,000;
        MMR 1/80 = 1.25 %. At mark P: balance 5P − 230,000, MM 0.0625·P."""
        h = LiqHarness(fixed(mmr="0.0125", max_leverage=40), venue=HYPERLIQUID)
        h.account(MM, 10_000_000)
        h.account(1, 20_000, leverage=20, mode=CROSS)
        h.mark(500_000)
        h.trade(1, MM, 5_000, 500_000)
        h.rest(MM, BUY, 10_000, 464_000)
        return h

    def test_a_position_above_100k_goes_in_20_percent_chunks_with_a_cooldown(self) -> None:
        """At 46,450: balance 2,250 ≤ MM 2,903.125 and above 2/3 of it (1,935.4): the book.
        20 % of 5 BTC = 1 BTC sells at 46,400 (PnL −3,600, wallet 16,400); at 46,450 the
        balance is 16,400 + 185,800 − 200,000 = 2,200 ≤ MM 2,322.5: it waits. A mark 1 s
        later does nothing; 30 s after the chunk, 20 % of 4 BTC = 0.8 BTC goes (PnL −2,880,
        wallet 13,520): balance 13,520 + 148,640 − 160,000 = 2,160 > MM 1,858: safe."""
        h = self._cross_long()
        first = liquidations(h.mark(464_500), 1)
        assert len(first) == 1 and first[0].partial
        assert first[0].positions[0].filled_lots == 1_000
        assert h.wallet(1) == 16_400 * USDT and h.pos(1).qty_lots == 4_000
        assert first[0].clearance_fee_atoms == 0
        chunk_ts = h.ts
        h.ts += SECOND
        assert not liquidations(h.mark(464_500), 1)
        h.ts = chunk_ts + 30 * SECOND - 1
        second = liquidations(h.mark(464_500), 1)
        assert len(second) == 1 and second[0].positions[0].filled_lots == 800
        assert h.wallet(1) == 13_520 * USDT and h.pos(1).qty_lots == 3_200
        assert not liquidations(h.mark(464_500), 1)  # safe now

    def test_below_two_thirds_of_maintenance_the_vault_takes_over(self) -> None:
        """Isolated 20x long 1 BTC at 50,000 (bucket 2,500). At 47,850 the balance is 350,
        under 2/3 of MM 598.125 (398.75): the liquidator vault takes the position at the
        bankruptcy price (50,000 − 2,500 = 47,500) and the margin left (0); no clearance
        fee; nothing goes through the book."""
        h = LiqHarness(fixed(mmr="0.0125", max_leverage=40), venue=HYPERLIQUID)
        h.account(MM, 10_000_000)
        h.account(1, 5_000, leverage=20, mode=ISOLATED)
        h.mark(500_000)
        h.trade(1, MM, 1_000, 500_000)
        h.rest(MM, BUY, 10_000, 470_000)
        liq = liquidations(h.mark(478_500), 1)[0]
        assert not liq.partial
        assert liq.positions[0].taken_over_lots == 1_000 and liq.positions[0].filled_lots == 0
        vault = h.fund_pos()
        assert vault.qty_lots == 1_000 and vault.cost_atoms == 47_500 * USDT
        assert h.wallet(1) == 2_500 * USDT
        assert "liquidator vault" in liq.explanation

    def test_the_vault_may_go_negative_and_carries_the_deficit(self) -> None:
        """A market order with one thin bid: isolated 20x long 1 BTC at 50,000; at 48,000
        (balance 500 > 2/3 × 600 = 400, ≤ MM 600) it sells into the only bid at 45,000: PnL
        −5,000, bucket −2,500. The vault pays the 2,500; its balance is −2,500, never an
        uncovered loss."""
        h = LiqHarness(fixed(mmr="0.0125", max_leverage=40), venue=HYPERLIQUID)
        h.account(MM, 10_000_000)
        h.account(1, 5_000, leverage=20, mode=ISOLATED)
        h.mark(500_000)
        h.trade(1, MM, 1_000, 500_000)
        h.rest(MM, BUY, 1_000, 450_000)
        liq = liquidations(h.mark(480_000), 1)[0]
        assert liq.positions[0].filled_lots == 1_000
        assert liq.uncovered_loss_atoms == 0
        assert h.fund == -2_500 * USDT
        assert h.wallet(1) == 2_500 * USDT


class TestDydx:
    def _long(self):
        """Account 1: cross long 1 BTC at 52,000 with 2,750 (IMF 5 %: IM 2,600). At the
        oracle 50,000: TNC 750, TMMR 1,500 (MMF 3 %) → fillable 49,925, bankruptcy 49,250."""
        h = LiqHarness(fixed(mmr="0.03", max_leverage=20), venue=DYDX)
        h.account(MM, 10_000_000)
        h.account(1, 2_750, leverage=20, mode=CROSS)
        h.mark(520_000)
        h.trade(1, MM, 1_000, 520_000)
        h.rest(MM, BUY, 400, 499_500)
        h.rest(MM, BUY, 1_000, 499_000)
        return h

    def test_fills_stop_at_the_fillable_price_and_the_fund_takes_its_capped_delta(self) -> None:
        """The IOC sells at ≥ 49,925: 0.4 BTC at 49,950 (the 49,900 bid is below it). Quote
        19,980; bankruptcy quote 0.4 × 49,250 = 19,700; delta 280, capped at 0.5 % of
        19,980 = 99.9 for the fund. Wallet 2,750 − 820 − 99.9 = 1,830.1; 0.6 BTC stays open
        (balance 630.1 ≤ MM 900) and is retried."""
        h = self._long()
        liq = liquidations(h.mark(500_000), 1)[0]
        assert liq.partial
        assert liq.positions[0].bankruptcy_price_ticks == 492_500
        assert liq.positions[0].filled_lots == 400
        assert liq.clearance_fee_atoms == 9_990_000_000
        assert h.fund == 9_990_000_000
        assert h.wallet(1) == 183_010_000_000
        assert "fillable price 49925.0" in liq.explanation

    def test_the_rest_is_retried_on_a_later_command(self) -> None:
        """A bid of 0.6 at 49,990 arrives: TNC 630.1, TMMR 900, BP = 50,000 − 630.1/0.6 =
        48,949.8333…; quote 29,994, bankruptcy quote 29,369.9, delta 624.1, capped at 149.97
        for the fund. Wallet 1,830.1 − 1,206 − 149.97 = 474.13; closed."""
        h = self._long()
        h.mark(500_000)
        events = h.order(MM, BUY, 600, 499_900)
        liq = liquidations(events, 1)[0]
        assert not liq.partial and liq.positions[0].filled_lots == 600
        assert liq.clearance_fee_atoms == 14_997_000_000
        assert h.wallet(1) == 47_413_000_000
        assert h.pos(1) is None

    def test_past_bankruptcy_with_no_fund_it_deleverages_at_the_bankruptcy_price(self) -> None:
        """dYdX docs: A and B deposit 100; B shorts 500 at 1 to A. The price jumps to 2: B's
        TNC = 100 − 500 = −400, the book is empty and the fund (0) cannot cover: B is
        deleveraged against A at B's bankruptcy price 2 − 400/500 = 1.2. A gains 100 (wallet
        200), B ends at 0."""
        inst = fixed("XRPUSDT", mmr="0.03", max_leverage=20)
        h = LiqHarness(inst, venue=DYDX)
        h.account(1, 100, leverage=20)
        h.account(2, 100, leverage=20)
        h.mark(10_000)
        h.trade(1, 2, 5_000, 10_000)
        liq = liquidations(h.mark(20_000), 2)[0]
        assert liq.positions[0].bankruptcy_price_ticks == 12_000
        assert liq.positions[0].adl_lots == 5_000
        assert [(a.account_id, a.qty_lots, a.price_ticks) for a in liq.adl] == [(1, 5_000, 12_000)]
        assert h.wallet(1) == 200 * USDT and h.wallet(2) == 0
        assert h.pos(1) is None and h.pos(2) is None


def test_binance_is_the_default_profile() -> None:
    """An exchange built without a venue runs Binance's rules (today's engine)."""
    h = LiqHarness(fixed())
    assert h.ex.venue is BINANCE and h.ex.liquidator.venue is BINANCE


def test_profiles_convert_instruments_to_the_venue_terms() -> None:
    """Bybit: MM at entry and laddered partials; Hyperliquid/dYdX: their tiers (BTC 40x →
    MMR 1.25 %; dYdX large-cap MMF 3 %, 20x), hourly funding."""
    from exsim.instruments import get_instrument

    btc = get_instrument("BTCUSDT")
    bybit = BYBIT.instrument(btc)
    assert bybit.maint_margin_basis == "entry" and bybit.partial_liquidation
    hl = HYPERLIQUID.instrument(btc)
    assert hl.brackets.brackets[0].mmr_e8 == 1_250_000 and hl.brackets.brackets[0].max_leverage == 40
    assert hl.funding_interval_ns == 3_600 * SECOND
    dydx = DYDX.instrument(btc)
    assert dydx.brackets.brackets[0].mmr_e8 == 3_000_000 and dydx.brackets.brackets[0].max_leverage == 20
    assert BINANCE.instrument(btc) is btc


def test_bybit_risk_limit_tier_counts_each_side_apart() -> None:
    """Long 0.15 BTC at 50,000 (7,500, tier 1: up to 50x) at 50x. A 50x sell order of 0.15
    BTC: Binance counts position + orders together (15,000: tier 2, at most 25x) and
    refuses it; Bybit takes max(long 7,500, short 7,500) = 7,500: tier 1, accepted."""
    from .harness import reasons

    out = {}
    for venue in (BINANCE, BYBIT):
        h = LiqHarness(_bybit_ladder_instrument(), venue=venue)
        h.account(MM, 10_000_000)
        h.account(1, 1_000, leverage=50, mode=CROSS)
        h.mark(500_000)
        h.trade(1, MM, 150, 500_000)
        out[venue.name] = reasons(h.order(1, SELL, 150, 510_000))
    assert out == {"binance": ["LEVERAGE_ABOVE_BRACKET_MAX"], "bybit": []}


def test_computed_funding_uses_the_venue_interest() -> None:
    """With no premium sampled (P = 0) the computed rate is the interest component:
    Binance 0.01 % per 8 h; Hyperliquid an eighth of it each hour (0.00125 %); dYdX 0 —
    each at its own funding time (8 h; 1 h; 1 h)."""
    from exsim.exchange import FundingSettled, SettleFunding

    rates = {}
    for venue in (BINANCE, HYPERLIQUID, DYDX):
        inst = venue.instrument(fixed())
        h = LiqHarness(inst, venue=venue, computed_funding=True)
        h.account(MM, 1_000_000)
        h.account(1, 100_000)
        h.mark(500_000)
        h.trade(1, MM, 1_000, 500_000)
        h.ts = inst.funding_interval_ns - 1  # the next command is at the first funding time
        events = h.submit(SettleFunding(0, h.sym, None))
        rates[venue.name] = [e.rate_e8 for e in events if type(e) is FundingSettled]
    assert rates == {"binance": [10_000], "hyperliquid": [1_250], "dydx": [0]}


def test_a_scope_made_safe_earlier_in_the_batch_is_not_liquidated() -> None:
    """Accounts 1 and 2: isolated 100x long 1 BTC at 50,000 (bucket 500, MMR 0.5 %, LP
    49,748.74); account 2 also bids 1 BTC at 49,700. The mark falls to 49,700: both are
    liquidatable. Account 1 goes first; its IOC (bankruptcy 49,500) sells into account 2's
    bid, so account 2 is long 2 BTC with a bucket of 997: balance 997 + 99,400 − 99,700 =
    697 > MM 497. Account 2 is then left alone (re-filed), not liquidated on the stale
    figures — under every venue."""
    from .harness import Liquidatable, of_type

    for venue in (BINANCE, BYBIT, HYPERLIQUID, DYDX):
        h = LiqHarness(fixed(mmr="0.005", max_leverage=100), venue=venue)
        h.account(MM, 10_000_000)
        h.account(1, 1_000, leverage=100, mode=ISOLATED)
        h.account(2, 2_000, leverage=100, mode=ISOLATED)
        h.mark(500_000)
        h.trade(1, MM, 1_000, 500_000)
        h.trade(2, MM, 1_000, 500_000)
        h.rest(2, BUY, 1_000, 497_000)
        events = h.mark(497_000)
        assert [e.account_id for e in liquidations(events)] == [1], venue.name
        assert [e.account_id for e in of_type(events, Liquidatable)] == [1], venue.name
        pos = h.pos(2)
        assert pos.qty_lots == 2_000 and pos.margin_atoms == 997 * USDT, venue.name
