"""exsim's exceptions: broken contracts, not expected outcomes.

Expected outcomes (an order that cannot be placed, a cancel of an unknown order) are
values: a reject reason code on an event. Exceptions are for input that breaks a
contract — a malformed file, an off-grid price — and each one subclasses the builtin it
refines, so callers can catch ``ValueError`` without knowing exsim.

Every input error names *where* (file:line, or the event/command), *which field*, what
was found and what was expected::

    replays/x.csv:1412: field 'price': '61590.35' is not a multiple of tick 0.1
"""

from __future__ import annotations


class ExsimError(Exception):
    """Base class of every exsim exception."""


class InputError(ExsimError, ValueError):
    """Bad input at a boundary (file row, command argument, spec field).

    ``where`` is ``"path:line"`` or a description of the command/event; ``field`` the
    field's name; ``message`` says what was wrong and what was expected.
    """

    def __init__(self, message: str, *, where: str = "", field: str = "") -> None:
        self.where = where
        self.field = field
        self.message = message
        parts = []
        if where:
            parts.append(f"{where}:")
        if field:
            parts.append(f"field {field!r}:")
        parts.append(message)
        super().__init__(" ".join(parts))


class OffGridError(InputError):
    """A price or quantity that is not a whole multiple of its grid (never rounded)."""


class SpecError(InputError):
    """An instrument or bracket specification that breaks an invariant."""


class StateError(ExsimError, RuntimeError):
    """An internal invariant was found broken (raised by ``_check()`` methods)."""
