"""``[population]``: many leveraged accounts drawn from distributions, seeded.

Each account holds one position in ``symbol`` opened at ``price``: notional uniform in
``[notional_min, notional_max]`` (whole lots, at least one), leverage drawn evenly from
``leverages``, long with probability ``long_share``, deposit = initial margin ×
``deposit_multiple``. Its margin mode is the run's mode with probability ``mostly`` and the
other mode otherwise — the draws do not depend on the run's mode, so ``exsim compare``
runs the *same* accounts mostly-isolated and then mostly-cross.
"""

from __future__ import annotations

import random

from exsim.book.orders import BUY, SELL
from exsim.instruments import Instrument
from exsim.scenario.spec import AccountSpec, PopulationSpec, PositionSpec
from exsim.units import RATE_SCALE, ceil_div, floor_div, mul_div_floor


def draw_population(pop: PopulationSpec, inst: Instrument, first_id: int, run_mode: str) -> list[AccountSpec]:
    other = "cross" if run_mode == "isolated" else "isolated"
    rng = random.Random(pop.seed)
    per_lot = pop.price_ticks * inst.atoms_per_tick_lot
    out = []
    for k in range(pop.accounts):
        notional = pop.notional_min_atoms + rng.randrange(pop.notional_max_atoms - pop.notional_min_atoms + 1)
        qty = max(1, floor_div(notional, per_lot))
        leverage = pop.leverages[rng.randrange(len(pop.leverages))]
        long = rng.randrange(RATE_SCALE) < pop.long_share_e8
        mode = run_mode if rng.randrange(RATE_SCALE) < pop.mostly_e8 else other
        im = ceil_div(qty * per_lot, leverage)
        deposit = mul_div_floor(im, pop.deposit_multiple_e8, RATE_SCALE)
        position = PositionSpec(inst.symbol, BUY if long else SELL, qty, pop.price_ticks, leverage, mode, None,
                                f"{pop.where} (account {k + 1} of the population)")
        out.append(AccountSpec(first_id + k, f"pop-{k + 1}", max(deposit, im), (position,), (), (), population=True))
    return out
