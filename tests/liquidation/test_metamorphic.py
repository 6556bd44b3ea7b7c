"""Metamorphic checks on seeded random populations (STYLE habit 12).

A population of 40 accounts holds one BTCUSDT position each (long or short, 2–10x, cross
or isolated), opened at 50,000.0 against a maker with a bottomless wallet; a deep
insurance fund takes over every liquidation (the book is empty), so no account's fate
depends on another's. Each account's margin balance minus its maintenance margin is then
monotone in the mark (a long's falls with the price, a short's rises), and we compare the
step of the mark path at which each account is first liquidated across variants:

* a higher maintenance rate liquidates no later;
* more margin (a deposit for cross, an isolated margin add) liquidates no earlier;
* a recovery before the trigger prevents liquidation: cutting the path before an
  account's trigger and moving the mark only within the range already visited
  liquidates exactly the accounts liquidated before the cut.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from exsim.exchange import Deposit

from .harness import BUY, CROSS, ISOLATED, MM, SELL, USDT, LiqHarness, fixed, liquidations

ENTRY = 500_000
N_ACCOUNTS = 40
N_STEPS = 150
ACCOUNTS = range(101, 101 + N_ACCOUNTS)  # the maker is account 9


def population(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    people = []
    for account in ACCOUNTS:
        lots = rng.randint(5, 50)
        leverage = rng.randint(2, 10)
        im = -(-ENTRY * lots * 10_000 // leverage)
        people.append(dict(
            account=account,
            long=rng.random() < 0.5,
            lots=lots,
            leverage=leverage,
            mode=rng.choice((CROSS, ISOLATED)),
            deposit=im + rng.randint(0, 30) * USDT,
            extra=rng.randint(1, 200) * USDT,
        ))
    return people


def mark_path(seed: int) -> list[int]:
    """A rally, a crash through the entry, then a noisy drift back: liquidates shorts and longs."""
    rng = random.Random(seed * 7919)
    path, m = [], ENTRY
    for i in range(N_STEPS):
        drift = 0.006 if i < 40 else -0.008 if i < 110 else 0.002
        step = rng.uniform(-0.08, 0.08) if rng.random() < 0.05 else drift + rng.gauss(0, 0.01)
        m = min(max(int(m * (1 + step)), ENTRY // 3), ENTRY * 2)
        path.append(m)
    return path


def first_liquidations(seed: int, path: list[int], mmr: str = "0.05", more_margin: bool = False) -> dict[int, int]:
    """Account -> index of the path step at which it was first liquidated."""
    h = LiqHarness(fixed(mmr=mmr), fund=10**9 * USDT)
    h.mark(ENTRY)
    h.account(MM, 10_000_000, leverage=10)
    for p in population(seed):
        a = p["account"]
        h.account(a, p["deposit"] // USDT + 1, leverage=p["leverage"], mode=p["mode"])
        if p["long"]:
            h.trade(a, MM, p["lots"], ENTRY)
        else:
            h.rest(MM, BUY, p["lots"], ENTRY)
            h.order(a, SELL, p["lots"], ENTRY)
        assert abs(h.pos(a).qty_lots) == p["lots"]
        if more_margin:
            if p["mode"] == ISOLATED:
                h.submit(Deposit(0, a, p["extra"]))
                h.adjust(a, p["extra"])
            else:
                h.submit(Deposit(0, a, p["extra"]))
    first: dict[int, int] = {}
    for i, m in enumerate(path):
        for liq in liquidations(h.mark(m)):
            first.setdefault(liq.account_id, i)
    return first


SEEDS = [11, 12]


@pytest.mark.parametrize("seed", SEEDS)
class TestMetamorphic:
    def test_higher_maintenance_rate_liquidates_no_later(self, seed: int) -> None:
        """With MMR 1 % < 3 % < 5 % < 8 %, each account's first liquidation step never moves later."""
        path = mark_path(seed)
        runs = [first_liquidations(seed, path, mmr) for mmr in ("0.01", "0.03", "0.05", "0.08")]
        never = N_STEPS
        for lo, hi in zip(runs, runs[1:]):
            for a in ACCOUNTS:
                assert hi.get(a, never) <= lo.get(a, never), f"account {a}: {lo.get(a)} -> {hi.get(a)}"
        assert len(runs[-1]) > len(runs[0])  # the rate did matter on this path

    def test_more_margin_liquidates_no_earlier(self, seed: int) -> None:
        """Adding 1–200 USDT to each bucket or pool never brings its first liquidation forward."""
        path = mark_path(seed)
        base = first_liquidations(seed, path)
        more = first_liquidations(seed, path, more_margin=True)
        never = N_STEPS
        for a in ACCOUNTS:
            assert more.get(a, never) >= base.get(a, never), f"account {a}: {base.get(a)} -> {more.get(a)}"
        assert len(more) < len(base) or any(more[a] > base[a] for a in more)  # the extra margin did matter

    def test_recovery_before_the_trigger_prevents_liquidation(self, seed: int) -> None:
        """Cut the path just before a liquidation and wander only within the visited range: nobody new is liquidated."""
        path = mark_path(seed)
        base = first_liquidations(seed, path)
        steps = sorted(set(base.values()))
        assert steps, "the path liquidated nobody"
        rng = random.Random(seed)
        for k in (steps[0], steps[len(steps) // 2]):
            lo, hi = min(path[:k] + [ENTRY]), max(path[:k] + [ENTRY])
            recovered = path[:k] + [ENTRY] + [rng.randint(lo, hi) for _ in range(30)]
            got = first_liquidations(seed, recovered)
            assert set(got) == {a for a, i in base.items() if i < k}
            assert all(got[a] == base[a] for a in got)
