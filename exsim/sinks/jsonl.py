"""JSON Lines event log through a private structlog logger.

One line per event, ``{"event": "Fill", "ts_ns": ..., "side": "BUY", ...}``: the fields
of :func:`~exsim.exchange.events.event_to_dict` in the event's field order, with codes
spelled out and numbers kept as fixed-point ints. No timestamp or level is added, so the
same events give a byte-identical file.

The logger is *private*: it is built with :func:`structlog.wrap_logger` and its own
processor chain, and neither reads nor changes the global ``structlog.configure``.
"""

from __future__ import annotations

import json
import os
from types import TracebackType
from typing import IO, Any, Sequence

import structlog

from exsim.exchange.events import event_to_dict

# json.dumps with any keyword builds a new JSONEncoder per call, which is most of the cost
# of a line; this one is built once. Same output format as json.dumps' defaults. No
# ``default=``: a field that is not a plain JSON value is a bug, not something to repr().
_encode = json.JSONEncoder(ensure_ascii=True, check_circular=False).encode


def _serialize(obj: Any, **_dumps_kw: Any) -> str:
    """The renderer's serializer (its ``sort_keys=False`` is the encoder's default)."""
    return _encode(obj)


def _event_fields(logger: object, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Processor: replace the event dict by the event's own fields, name first."""
    return event_to_dict(event_dict["exsim_event"])


class _LineWriter:
    """The wrapped logger: writes each rendered line to a text file, buffered.

    Not :class:`structlog.WriteLogger` / :class:`structlog.PrintLogger`: both flush (a
    system call) and take a lock on every line, which for a replay of millions of events
    costs more than the rest of the sink. Here the file's own buffer does the batching;
    :meth:`JsonlSink.flush` and :meth:`JsonlSink.close` flush it.
    """

    __slots__ = ("_write",)

    def __init__(self, file: IO[str]) -> None:
        self._write = file.write

    def msg(self, message: str) -> None:
        self._write(message + "\n")

    info = msg


class JsonlSink:
    """Write every event as one JSON object per line, in emission order.

    ``path_or_file``: a path (the file is created or truncated, UTF-8, ``\\n`` line
    ends, and closed by :meth:`close`) or an open text file (flushed, never closed, by
    :meth:`close`). Usable as a context manager. O(fields) per event.
    """

    __slots__ = ("_file", "_owns_file", "_info", "closed")

    def __init__(self, path_or_file: str | os.PathLike[str] | IO[str]) -> None:
        if isinstance(path_or_file, (str, os.PathLike)):
            self._file: IO[str] = open(path_or_file, "w", encoding="utf-8", newline="\n")
            self._owns_file = True
        else:
            self._file = path_or_file
            self._owns_file = False
        logger = structlog.wrap_logger(
            _LineWriter(self._file),
            processors=[
                _event_fields,
                structlog.processors.JSONRenderer(serializer=_serialize, sort_keys=False),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(0),
            context_class=dict,
            cache_logger_on_first_use=True,
        )
        # bind() resolves the lazy proxy once, so each event skips the proxy's rebuild
        self._info = logger.bind().info
        self.closed = False

    def __call__(self, events: Sequence[Any]) -> None:
        info = self._info
        for event in events:
            info(type(event).__name__, exsim_event=event)

    def flush(self) -> None:
        """Push buffered lines to the file."""
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this sink opened it. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._owns_file:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        name = getattr(self._file, "name", self._file)
        return f"JsonlSink({name!r}{', closed' if self.closed else ''})"
