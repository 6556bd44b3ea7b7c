"""Teaching scenarios: TOML files of accounts, positions and price paths, run one margin mode at a time.

The pipeline, in the order data moves: :mod:`~exsim.scenario.spec` (TOML → validated
integers; :mod:`~exsim.scenario.paths` and :mod:`~exsim.scenario.population` build the
price paths and drawn accounts) → :mod:`~exsim.scenario.runner` (the exchange, ledger and
liquidation engine of the replays, driven by the path) → :mod:`~exsim.scenario.record`
(run directory) → :mod:`~exsim.scenario.plots`; :mod:`~exsim.scenario.cli` is
``exsim scenario`` and ``exsim compare``. The format is in docs/scenarios.md.
"""

from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import Scenario, load_scenario

__all__ = ["Scenario", "ScenarioRun", "load_scenario"]
