"""Reading a TOML file (a scenario, an account, instruments, a haircut schedule) field by
field, every error naming ``file:line`` and the field.

:mod:`tomllib` gives values but no line numbers. :class:`LineMap` recovers them from the
text: it follows the table headers (``[a]``, ``[[a.b]]``, counting array-of-tables
entries) and records the line of every ``key = value``. A field that is missing is
reported at the line of its table. :class:`Fields` wraps one table and hands out typed,
checked values; it refuses keys it does not know, so a typo is an error, not a default.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from exsim.errors import InputError
from exsim.units import NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND, parse_decimal

# Linear-time patterns: key parts and the whitespace around them never overlap (an overlap made a
# line like "[" + 2,000 spaces take seconds to reject, before tomllib could report it).
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=")
_DURATION = re.compile(r"^([0-9]{1,20}(?:\.[0-9]{1,20})?)(ns|us|ms|s|m|h|d)$", re.ASCII)
#: the longest duration a scenario may give (100 years of 365 days): any time it sets
#: stays far inside the years a date can be written in
MAX_DURATION_NS = 36_500 * NS_PER_DAY
#: the largest scenario file read (checked before reading it)
MAX_SCENARIO_BYTES = 16 << 20
_DURATION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": NS_PER_SECOND, "m": NS_PER_MINUTE, "h": NS_PER_HOUR, "d": NS_PER_DAY}


class LineMap:
    """``field path -> line`` for a TOML text, e.g. ``accounts[1].positions[0].qty -> 14``."""

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        counts: dict[str, int] = {}  # resolved array-of-tables path -> entries so far
        table = ""
        # lines end at "\n" only, as TOML's do (str.splitlines would also break at U+2028,
        # NEL, form feeds..., shifting every line number after one)
        for no, line in enumerate(text.split("\n"), 1):
            m = _HEADER.match(line)
            if m:
                parts = [p.strip() for p in m.group(2).split(".")]
                resolved = ""
                for i, part in enumerate(parts):
                    resolved = f"{resolved}.{part}" if resolved else part
                    last = i == len(parts) - 1
                    if last and m.group(1) == "[[":
                        counts[resolved] = counts.get(resolved, 0) + 1
                    if resolved in counts:
                        resolved = f"{resolved}[{counts[resolved] - 1}]"
                table = resolved
                self.lines.setdefault(table, no)
                continue
            k = _KEY.match(line)
            if k:
                key = ".".join(p.strip() for p in k.group(1).split("."))
                self.lines.setdefault(f"{table}.{key}" if table else key, no)

    def line_of(self, path: str) -> int | None:
        """The line of ``path``, else of the nearest enclosing table or key that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


class Source:
    """One scenario file: its name, its parsed data and its line map."""

    def __init__(self, name: str, text: str, base_dir: Path | None, allowed: tuple[Path, ...] = ()) -> None:
        self.name = name
        self.base_dir = base_dir
        #: folders besides the scenario's own whose files it may name (``--allow-path``)
        self.allowed = allowed
        if text.startswith("\ufeff"):  # a byte-order mark, as editors on Windows write: not TOML's, dropped
            text = text[1:]
        self.map = LineMap(text)
        try:
            self.data = tomllib.loads(text)
        except (ValueError, RecursionError) as exc:  # TOMLDecodeError; an int over 4300 digits; [[[[... nested
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            line = m.group(1) if m else text.count("\n") + (not text.endswith("\n")) if "at end of document" in str(exc) else 1
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise InputError(f"not valid TOML: {detail}", where=f"{name}:{max(1, int(line))}", field="toml") from exc

    @classmethod
    def read(cls, path: str | Path, allowed: Iterable[str | Path] = (), max_bytes: int = MAX_SCENARIO_BYTES) -> Source:
        """The TOML file ``path`` (a regular file of at most ``max_bytes``, checked before it
        is read); ``allowed``: more folders its files may be in."""
        p = Path(path)
        try:
            raw = read_regular_file(p, max_bytes, "file")
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror}", where=str(p), field="file") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise InputError("not UTF-8 text", where=f"{p}:{line}", field="file") from exc
        return cls(str(p), text, p.resolve().parent, tuple(Path(d).resolve() for d in allowed))

    def where(self, path: str) -> str:
        """``file:line`` of ``path``; line 1 when not even its top-level key is in the file."""
        return f"{self.name}:{self.map.line_of(path) or 1}"

    def error(self, path: str, message: str) -> InputError:
        return InputError(message, where=self.where(path), field=path)

    def root(self) -> Fields:
        return Fields(self, "", self.data)


class Fields:
    """One TOML table under ``path``; typed getters that name the field on every error."""

    def __init__(self, source: Source, path: str, table: Any) -> None:
        self.source = source
        self.path = path
        if not isinstance(table, dict):
            raise source.error(path, f"expected a table, got {_kind(table)}")
        self.table = table

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> InputError:
        return self.source.error(self.field(key), message)

    def only(self, allowed: Iterable[str]) -> None:
        """Refuse keys the table may not hold (a typo must not fall back to a default)."""
        allowed = tuple(allowed)
        for key in self.table:
            if key not in allowed:
                raise self.error(key, f"unknown field; expected one of: {', '.join(allowed)}")

    def has(self, key: str) -> bool:
        return key in self.table

    def raw(self, key: str, default: Any = ..., *, types: tuple[type, ...] = ()) -> Any:
        if key not in self.table:
            if default is ...:
                raise self.error(key, "missing")
            return default
        value = self.table[key]
        if types and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            raise self.error(key, f"expected {' or '.join(t.__name__ for t in types)}, got {_kind(value)} {value!r}")
        return value

    def text(self, key: str, default: Any = ...) -> Any:
        return self.raw(key, default, types=(str,))

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> Any:
        value = self.text(key, default)
        if value is not default and value not in options:
            raise self.error(key, f"{value!r} is not one of: {', '.join(options)}")
        return value

    def boolean(self, key: str, default: Any = ...) -> Any:
        return self.raw(key, default, types=(bool,))

    def integer(self, key: str, default: Any = ..., *, minimum: int | None = None, maximum: int | None = None) -> Any:
        value = self.raw(key, default, types=(int,))
        if value is default:
            return value
        if minimum is not None and value < minimum:
            raise self.error(key, f"{value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"{value} is above the maximum {maximum}")
        return value

    def decimal_text(self, key: str, default: Any = ..., *, positive: bool = False, non_negative: bool = False) -> Any:
        """A decimal number given as a string (``"0.05"``) or an integer; floats are refused.

        TOML floats are binary: ``0.1`` is not one tenth. Money, prices and rates are read
        from text so they stay exact.
        """
        value = self.raw(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or isinstance(value, float):
            raise self.error(key, f"write {value!r} as a string (\"{value}\") so it stays exact")
        if not isinstance(value, (str, int)):
            raise self.error(key, f"expected a decimal number as a string, got {_kind(value)}")
        text = str(value)
        number = parse_decimal(text, field=self.field(key), where=self.source.where(self.field(key)))
        if positive and number <= 0:
            raise self.error(key, f"{text!r} must be greater than 0")
        if non_negative and number < 0:
            raise self.error(key, f"{text!r} must not be negative")
        return text

    def decimal(self, key: str, default: Any = ..., **kw: bool) -> Any:
        text = self.decimal_text(key, default, **kw)
        return text if text is default else Decimal(text)

    def duration_ns(self, key: str, default: Any = ..., *, positive: bool = False) -> Any:
        value = self.raw(key, default)
        if value is default:
            return value
        return duration_ns(value, self, key, positive=positive)

    def table_of(self, key: str, default: Any = ...) -> Any:
        value = self.raw(key, default)
        if value is default:
            return value
        return Fields(self.source, self.field(key), value)

    def tables(self, key: str) -> list[Fields]:
        """An array of tables (``[[key]]``); missing gives an empty list."""
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"expected a list of tables ([[{self.field(key)}]]), got {_kind(value)}")
        return [Fields(self.source, f"{self.field(key)}[{i}]", v) for i, v in enumerate(value)]

    def items(self) -> list[tuple[str, Any]]:
        return list(self.table.items())


def duration_ns(value: Any, fields: Fields, key: str, *, positive: bool = False) -> int:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``, ``"250ms"`` or ``"1.5h"`` as exact ns
    (ASCII digits; at most :data:`MAX_DURATION_NS`, 100 years)."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    if m is None:
        shown = value[:40] + "..." if isinstance(value, str) and len(value) > 40 else value
        raise fields.error(key, f"{shown!r} is not a duration like \"90s\", \"15m\", \"2h\", \"1d\" or \"250ms\"")
    ns = Decimal(m.group(1)) * _DURATION_NS[m.group(2)]
    if ns > MAX_DURATION_NS:
        raise fields.error(key, f"{value!r} is out of range: at most 36500d (100 years)")
    if ns != ns.to_integral_value():
        raise fields.error(key, f"{value!r} is not a whole number of nanoseconds")
    if positive and ns <= 0:
        raise fields.error(key, f"{value!r} must be longer than 0")
    return int(ns)


def read_regular_file(path: Path, max_bytes: int, field: str) -> bytes:
    """The bytes of ``path`` if it is a regular file (not a folder, FIFO or device) of at
    most ``max_bytes``, both checked before reading; else an :class:`InputError` naming
    the path and ``field`` (never the file's content). ``OSError`` if it cannot be read."""
    import stat

    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise InputError("is not a regular file", where=str(path), field=field)
    if st.st_size > max_bytes:
        raise InputError(f"is {st.st_size:,} bytes; at most {max_bytes:,} are read", where=str(path), field=field)
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:  # (a file that grew, or whose size the system does not tell)
        raise InputError(f"is more than {max_bytes:,} bytes", where=str(path), field=field)
    return raw


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    return type(value).__name__
