"""Turning rows of plain values into CSV text, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from kpi_service.engine.achievement import quantize

# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def number(value: Decimal) -> str:
    """A number as the JSON answers carry it: six places, half to even, in plain notation
    without trailing zeros (150.000000 is 150, as JSON's 150.0)."""
    rounded = quantize(value)
    assert rounded is not None
    return format(rounded.normalize(), "f")


def cell(value: object) -> str:
    """One value as CSV cell text: numbers as `number` does, ISO dates, empty for None, objects
    as JSON, and text that a spreadsheet would read as a formula defused with a leading quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(cell(v) for v in value)
    # An object (an activity's metadata) as its JSON text.
    text = json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def lines(rows: Iterable[Sequence[object]]) -> str:
    """CSV text (RFC 4180: CRLF line ends, quoted where needed) of these rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([cell(v) for v in row] for row in rows)
    return buffer.getvalue()
