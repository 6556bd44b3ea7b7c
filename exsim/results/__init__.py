"""Results of a run: round trips (``trades.csv``), the statistics a trader reads first,
the schema of every output column, and readers that load a run's files into pandas with
exact types (:func:`read_csv`, :func:`read_events`; pandas is the optional ``pandas`` extra).
See docs/results.md."""

from exsim.results.readers import read_csv, read_events, read_json
from exsim.results.schema import COLUMNS, FILL_FIELDS, TRADE_FIELDS
from exsim.results.trips import Trip, TripBook, TripMismatch

__all__ = ["COLUMNS", "FILL_FIELDS", "TRADE_FIELDS", "Trip", "TripBook", "TripMismatch", "read_csv", "read_events", "read_json"]
