"""The margin calculators: ``exsim margin ACCOUNT.toml`` (:mod:`exsim.calculator.account_cli`)
and ``exsim liq-price`` (:mod:`exsim.calculator.liq_price_cli`).

They sit above the ledger and the venue profiles they compute with, so they are not in
:mod:`exsim.margin`: that package is the margin mathematics the ledger and the venues
themselves build on (``docs/architecture.md``). Formulas and format:
``docs/margin-calculator.md``.
"""
