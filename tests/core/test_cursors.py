"""The opaque cursors of the lists: an id's, and a timeline's (instant, id)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest

from kpi_service.core.errors import InvalidInput
from kpi_service.core.schemas import (
    decode_cursor,
    decode_timeline_cursor,
    encode_cursor,
    encode_timeline_cursor,
)


def _sealed(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_cursors_point_after_what_they_were_made_from() -> None:
    at, row_id = datetime(2026, 3, 29, 1, 30, tzinfo=UTC), uuid.uuid4()
    assert decode_timeline_cursor(encode_timeline_cursor(at, row_id)) == (at, row_id)
    assert decode_cursor(encode_cursor(42)) == 42
    assert decode_cursor(None) is None and decode_timeline_cursor(None) is None


def test_a_timeline_cursor_reads_as_the_events_timeline_has_always_issued_it() -> None:
    at, row_id = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), uuid.uuid4()
    issued = _sealed({"t": at.isoformat(), "id": str(row_id)})
    assert encode_timeline_cursor(at, row_id) == issued
    assert decode_timeline_cursor(issued) == (at, row_id)


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm9wZQ",  # "nope": not JSON
        _sealed(["2026-01-01T00:00:00+00:00", str(uuid.UUID(int=1))]),
        _sealed({"t": "2026-01-01T00:00:00+00:00"}),
        _sealed({"t": "2026-01-01T00:00:00", "id": str(uuid.UUID(int=1))}),  # no offset
        _sealed({"t": "yesterday", "id": str(uuid.UUID(int=1))}),
        _sealed({"t": 20260101, "id": str(uuid.UUID(int=1))}),
        _sealed({"t": "2026-01-01T00:00:00+00:00", "id": "one"}),
        # Not strings: these once escaped as a server error.
        _sealed({"t": "2026-01-01T00:00:00+00:00", "id": 5}),
        _sealed({"t": "2026-01-01T00:00:00+00:00", "id": [1]}),
        _sealed({"t": "2026-01-01T00:00:00+00:00", "id": True}),
        # Instants with no UTC form: these too once escaped as a server error.
        _sealed({"t": "0001-01-01T00:00:00+01:00", "id": str(uuid.UUID(int=1))}),
        _sealed({"t": "9999-12-31T23:00:00-05:00", "id": str(uuid.UUID(int=1))}),
        _sealed({"after": 3}),
    ],
)
def test_a_malformed_timeline_cursor_is_the_clients_error(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_timeline_cursor(cursor)
    assert refused.value.errors == [
        {"loc": ["query", "cursor"], "msg": "malformed cursor", "type": "value_error"}
    ]


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "bm9wZQ",
        _sealed([3]),
        _sealed({"after": "3"}),
        _sealed({"after": True}),
        _sealed({"after": -1}),
        _sealed({"after": 2**63}),
        _sealed({"t": "x", "id": "y"}),
    ],
)
def test_a_malformed_id_cursor_is_the_clients_error(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)
