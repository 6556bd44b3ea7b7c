"""A running fingerprint of the event stream, identical on any machine and in any process.

Each event is encoded canonically as the compact JSON array ``["ClassName",[field, ...]]``
(ASCII only: non-ASCII text is ``\\uXXXX``-escaped; ints in decimal; ``true``/``false``
and ``null`` distinct from numbers; floats, should one ever appear, by the shortest
round-trip repr). Each encoding is followed by ``,``, and the bytes are folded into one
BLAKE2b digest that starts from a versioned domain tag. Nothing depends on ``id()``,
``hash()`` (``PYTHONHASHSEED``), set order, the platform or the Unicode tables of the
Python version (which ``repr`` of a ``str`` would depend on), and batching does not
matter: the same events in any split into batches give the same digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

#: prefix of every digest: change it when the encoding changes
DOMAIN_TAG = b"exsim.events.v1\n"

# One C-accelerated encoder for whole batches (tuples, NamedTuples included, encode as
# JSON arrays). No ``default=``: an event field that is not a plain JSON value is a bug
# that should fail loudly, not be hashed through a repr that may carry an id().
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), check_circular=False).encode


class StateHasher:
    """Callable sink folding every event into a BLAKE2b digest; read it with :meth:`hexdigest`.

    ``digest_size`` in bytes (default 32: 64 hex digits). O(total field text) per batch.
    """

    __slots__ = ("_hash", "count")

    def __init__(self, *, digest_size: int = 32) -> None:
        self._hash = hashlib.blake2b(DOMAIN_TAG, digest_size=digest_size)
        self.count = 0  # events folded in

    def __call__(self, events: Sequence[Any]) -> None:
        if not events:
            return
        # '[["A",[...]],["B",[...]]]' -> '["A",[...]],["B",[...]],' : one event per
        # element, a comma after each, so batch boundaries leave no trace.
        text = _encode([(type(e).__name__, e) for e in events])
        self._hash.update(text[1:-1].encode("ascii") + b",")
        self.count += len(events)

    def hexdigest(self) -> str:
        """Hex digest of every event so far (the hasher keeps accepting events)."""
        return self._hash.hexdigest()

    def __repr__(self) -> str:
        return f"StateHasher({self.count} events, {self.hexdigest()[:16]}...)"


def hash_events(events: Sequence[Any], *, digest_size: int = 32) -> str:
    """Hex digest of ``events`` as a :class:`StateHasher` fed them would give.

    >>> from exsim.exchange.events import MarkPriceUpdated
    >>> hash_events([MarkPriceUpdated(1, "BTCUSDT", 615903)]) == hash_events(
    ...     [MarkPriceUpdated(1, "BTCUSDT", 615903)])
    True
    >>> hash_events([MarkPriceUpdated(1, "BTCUSDT", 615903)]) == hash_events(
    ...     [MarkPriceUpdated(1, "BTCUSDT", 615904)])
    False
    """
    hasher = StateHasher(digest_size=digest_size)
    hasher(events)
    return hasher.hexdigest()
