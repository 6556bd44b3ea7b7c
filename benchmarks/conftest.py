"""Shared fixtures for exsim's benchmarks: the reference workload of ``../shared/bench``.

The workload and the two reference books live beside the checkout (``../shared/bench``);
they are a yardstick, imported from there, never copied in. Benchmarks run only when
asked: ``pytest benchmarks/ --benchmark-only``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

SHARED_BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"


def _import_reference() -> tuple[Any, Any]:
    if not SHARED_BENCH.is_dir():
        pytest.skip(f"reference workload not found at {SHARED_BENCH} (the team's shared/ folder)")
    if str(SHARED_BENCH) not in sys.path:
        sys.path.insert(0, str(SHARED_BENCH))
    import run_reference  # type: ignore[import-not-found]
    import workload  # type: ignore[import-not-found]

    return workload, run_reference


@pytest.fixture(scope="session")
def reference() -> Any:
    """The shared bench's ``run_reference`` module (``measure(events, meta)``)."""
    return _import_reference()[1]


@pytest.fixture(scope="session")
def workload_1m() -> tuple[list[tuple[int, int, int, int, int]], list[Any], dict[str, Any]]:
    """The 1,000,000-event reference stream: ``(events, deltas, meta)``."""
    workload, _ = _import_reference()
    return workload.generate(1_000_000, 20261121, 100)


@pytest.fixture(scope="session")
def workload_module() -> Any:
    """The shared bench's ``workload`` module (``generate``, ``book_digest``)."""
    return _import_reference()[0]


@pytest.fixture(scope="session")
def workload_rows(workload_1m: Any) -> list[Any]:
    """The 1M-event workload's 1.2M market-by-order deltas as L2 level rows (``Row``), in memory."""
    from test_bench_replay import delta_rows

    return delta_rows(workload_1m[1])
