"""Ids typed by people: only ASCII digits and within the database's 64-bit range."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1


def parse_id(value: str | None) -> int | None:
    """The id in ``value``, or None ("²" and 20-digit numbers are not ids)."""
    value = (value or "").strip()
    if not value or not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes, refusing numbers the database cannot hold (404, not 500)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
