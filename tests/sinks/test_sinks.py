"""Sinks: memory list, per-type counts, JSON Lines through structlog, and the state hasher."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog

from exsim.book.orders import BUY, GTX, IOC, LIMIT, MARKET, SELL, TRIGGER_MARK
from exsim.exchange.events import (
    BookDelta,
    MarkPriceUpdated,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    OrderTriggered,
    event_to_dict,
)
from exsim.sinks import CountingSink, JsonlSink, MemorySink, StateHasher, hash_events
from exsim.sinks.state_hash import DOMAIN_TAG

REPO = Path(__file__).resolve().parents[2]


def sample_events() -> list[Any]:
    """A small stream touching every kind of field: codes, text, None, bools, big ints."""
    return [
        BookDelta(1_700_000_000_000_000_000, "BTCUSDT", SELL, 615_903, 25),
        OrderAccepted(1_700_000_000_000_000_001, "BTCUSDT", 1, 7, "c-1", BUY, LIMIT, GTX, 615_900, 3, 0),
        OrderAccepted(1_700_000_000_000_000_001, "BTCUSDT", 2, 8, None, SELL, MARKET, IOC, 0, 2, 0),
        OrderAmended(1_700_000_000_000_000_002, "BTCUSDT", 1, 7, 615_899, 2, 2, True),
        OrderTriggered(1_700_000_000_000_000_003, "BTCUSDT", 3, 7, 610_000, 609_999, TRIGGER_MARK),
        OrderRejected(1_700_000_000_000_000_004, "ÉTHUSDT", 9, "naïve-✓", 0, "UNKNOWN_SYMBOL"),
        MarkPriceUpdated(1_700_000_000_000_000_005, "BTCUSDT", 2**70),
    ]


class TestMemorySink:
    def test_keeps_every_event_in_order(self) -> None:
        """Each batch is appended to .events in emission order."""
        sink = MemorySink()
        events = sample_events()
        sink(events[:3])
        sink([])
        sink(events[3:])
        assert sink.events == events
        assert len(sink) == len(events)

    def test_does_not_keep_the_batch_list(self) -> None:
        """The exchange reuses its batch list; clearing it afterwards loses nothing."""
        sink = MemorySink()
        batch = sample_events()[:2]
        sink(batch)
        kept = list(batch)
        batch.clear()
        assert sink.events == kept
        assert sink.events is not batch

    def test_of_type_and_clear(self) -> None:
        """of_type filters by exact class; clear empties the kept list."""
        sink = MemorySink()
        sink(sample_events())
        assert [e.order_id for e in sink.of_type(OrderAccepted)] == [1, 2]
        sink.clear()
        assert sink.events == []


class TestCountingSink:
    def test_counts_per_event_type(self) -> None:
        """Counts per class, a total, and a name-sorted dict."""
        sink = CountingSink()
        sink(sample_events())
        sink(sample_events()[:2])
        assert sink[OrderAccepted] == 3
        assert sink[BookDelta] == 2
        assert sink[OrderCancelledLike] == 0
        assert sink.total == 9
        assert list(sink.as_dict()) == sorted(sink.as_dict())
        assert sink.as_dict()["OrderRejected"] == 1


class OrderCancelledLike:
    """A type no event has, to count zero."""


class TestJsonlSink:
    def test_lines_parse_with_event_names_and_spelled_out_codes(self, tmp_path: Path) -> None:
        """Each line is one JSON object: event name first, codes as names, ints exact."""
        path = tmp_path / "events.jsonl"
        events = sample_events()
        with JsonlSink(path) as sink:
            sink(events[:2])
            sink(events[2:])
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(events)
        rows = [json.loads(line) for line in lines]
        assert [r["event"] for r in rows] == [type(e).__name__ for e in events]
        assert rows[0]["side"] == "SELL"
        assert (rows[1]["side"], rows[1]["order_type"], rows[1]["tif"]) == ("BUY", "LIMIT", "GTX")
        assert (rows[2]["order_type"], rows[2]["tif"], rows[2]["client_order_id"]) == ("MARKET", "IOC", None)
        assert rows[4]["trigger_by"] == "MARK"
        assert rows[5]["client_order_id"] == "naïve-✓"
        assert rows[6]["mark_price_subticks"] == 2**70
        for row, event in zip(rows, events):
            assert row == event_to_dict(event)
            assert list(row) == list(event_to_dict(event))  # field order kept, name first

    def test_adds_no_timestamp_or_level(self) -> None:
        """Only the event's own fields are written (determinism: no wall clock)."""
        out = io.StringIO()
        sink = JsonlSink(out)
        sink([MarkPriceUpdated(5, "BTCUSDT", 1)])
        sink.flush()
        assert json.loads(out.getvalue()) == {
            "event": "MarkPriceUpdated", "ts_ns": 5, "symbol": "BTCUSDT", "mark_price_subticks": 1,
        }

    def test_same_events_same_bytes(self, tmp_path: Path) -> None:
        """Two logs of the same events are byte-identical."""
        paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
        for path in paths:
            with JsonlSink(str(path)) as sink:
                sink(sample_events())
        assert paths[0].read_bytes() == paths[1].read_bytes()

    def test_given_file_is_flushed_not_closed(self) -> None:
        """close() flushes a caller's file but leaves it open; the sink's own file is closed."""
        out = io.StringIO()
        sink = JsonlSink(out)
        sink(sample_events()[:1])
        sink.close()
        sink.close()
        assert not out.closed
        assert sink.closed
        assert out.getvalue().count("\n") == 1

    def test_own_file_is_closed(self, tmp_path: Path) -> None:
        """A sink opened on a path closes its file on close / context exit."""
        sink = JsonlSink(tmp_path / "x.jsonl")
        with sink:
            pass
        assert sink._file.closed

    def test_global_structlog_config_untouched(self) -> None:
        """The private logger neither changes nor depends on structlog.configure."""
        before = structlog.get_config()
        structlog.configure(processors=[lambda *a: "global chain ran"])
        try:
            out = io.StringIO()
            sink = JsonlSink(out)
            sink([MarkPriceUpdated(5, "BTCUSDT", 1)])
            assert json.loads(out.getvalue())["event"] == "MarkPriceUpdated"
        finally:
            structlog.configure(**before)
        assert structlog.get_config() == before


_HASH_SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
sys.path.insert(0, {tests!r})
from test_sinks import sample_events
from exsim.sinks import StateHasher
h = StateHasher()
events = sample_events()
h(events[:3]); h(events[3:])
print(h.hexdigest())
print(hash("BTCUSDT"))
"""


class TestStateHasher:
    def test_same_digest_in_processes_with_different_hash_seeds(self) -> None:
        """Two interpreters with different PYTHONHASHSEED agree with each other and with this one."""
        script = _HASH_SCRIPT.format(repo=str(REPO), tests=str(Path(__file__).parent))
        outputs = []
        for seed in ("1", "2"):
            env = dict(os.environ, PYTHONHASHSEED=seed)
            proc = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
            )
            outputs.append(proc.stdout.split())
        (digest_1, str_hash_1), (digest_2, str_hash_2) = outputs
        assert str_hash_1 != str_hash_2  # the seeds really did differ
        assert digest_1 == digest_2 == hash_events(sample_events())

    def test_one_field_changed_changes_the_digest(self) -> None:
        """Changing any single field of any event changes the digest."""
        events = sample_events()
        base = hash_events(events)
        for i, event in enumerate(events):
            for j, value in enumerate(event):
                if isinstance(value, bool):
                    changed = not value
                elif isinstance(value, int):
                    changed = value + 1
                elif value is None:
                    changed = ""
                else:
                    changed = value + "x"
                mutated = list(events)
                mutated[i] = type(event)(*event[:j], changed, *event[j + 1 :])
                assert hash_events(mutated) != base, (i, event._fields[j])

    def test_batching_does_not_matter(self) -> None:
        """The same events split into different batches give the same digest."""
        events = sample_events()
        one, many = StateHasher(), StateHasher()
        one(events)
        for e in events:
            many([e])
            many([])
        assert one.hexdigest() == many.hexdigest()
        assert one.count == many.count == len(events)

    def test_order_type_and_value_kinds_matter(self) -> None:
        """Reordered events, another class with equal fields, or True vs 1 hash differently."""
        a = BookDelta(1, "BTCUSDT", BUY, 10, 1)
        b = BookDelta(2, "BTCUSDT", BUY, 10, 1)
        assert hash_events([a, b]) != hash_events([b, a])
        assert hash_events([MarkPriceUpdated(1, "X", 2)]) != hash_events([_Other(1, "X", 2)])
        amended = OrderAmended(1, "X", 1, 1, 1, 1, 1, True)
        assert hash_events([amended]) != hash_events([amended._replace(kept_priority=1)])
        assert hash_events([]) == StateHasher().hexdigest()

    def test_digest_is_pinned(self) -> None:
        """The encoding is part of the API: this digest changes only with DOMAIN_TAG."""
        assert DOMAIN_TAG == b"exsim.events.v1\n"
        hasher = StateHasher()
        hasher([MarkPriceUpdated(1, "BTCUSDT", 615903)])
        import hashlib

        expected = hashlib.blake2b(
            DOMAIN_TAG + b'["MarkPriceUpdated",[1,"BTCUSDT",615903]],', digest_size=32
        ).hexdigest()
        assert hasher.hexdigest() == expected

    def test_non_json_field_fails_loudly(self) -> None:
        """A field that is not a plain JSON value is refused rather than hashed by repr."""
        with pytest.raises(TypeError):
            hash_events([MarkPriceUpdated(1, "X", object())])  # type: ignore[arg-type]


class _Other(tuple):
    """A tuple class with MarkPriceUpdated's values but another name."""

    def __new__(cls, *fields: Any) -> _Other:
        return super().__new__(cls, fields)
