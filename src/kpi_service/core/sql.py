"""Small SQL building blocks the repositories share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, any_, literal
from sqlalchemy.dialects.postgresql import ARRAY


def among(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY(:array)`: one bound array, however many values (an IN list would bind,
    and compile, one parameter per value: slow for the 10,000 subjects of a period)."""
    return column == any_(literal(list(values), ARRAY(column.type)))  # type: ignore[no-any-return]
