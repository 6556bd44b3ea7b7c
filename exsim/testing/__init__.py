"""Tools for testing exsim, kept apart from the engine they test.

:mod:`exsim.testing.stress` is the whole-engine stress fuzzer (``exsim stress``, or
``python -m exsim.testing.stress``): a seeded long run of every command kind with every
invariant checked after every event; the test suite (``tests/fuzz``) and the benchmarks
reuse its driver, checker and instruments. Nothing in the engine imports this package
(``docs/architecture.md``); it is imported only when a test or the command asks for it.
"""
