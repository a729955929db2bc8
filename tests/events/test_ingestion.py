"""Bulk checking of a batch (no database): it must answer exactly as checking item by item."""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from kpi_service.events.ingestion import check_batch, collector_paused
from kpi_service.events.schemas import EventIn

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_ONE = TypeAdapter(EventIn)


def one_by_one(items: list[Any]) -> tuple[list[str], list[tuple[int, list[str], str]]]:
    """The reference: each item validated on its own, as a careful reader would."""
    kept: list[str] = []
    errors: list[tuple[int, list[str], str]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append((index, [], "an event must be a JSON object"))
            continue
        try:
            event = _ONE.validate_python(item)
        except ValidationError as exc:
            errors += [(index, [str(p) for p in e["loc"]], e["msg"]) for e in exc.errors()]
            continue
        if not datetime(2000, 1, 1, tzinfo=UTC) <= event.occurred_at <= NOW + timedelta(days=1):
            errors.append((index, ["occurred_at"], "occurred_at is before 2000 or in the future"))
            continue
        kept.append(str(event.id))
    return list(dict.fromkeys(kept)), errors


GOOD = {
    "user_id": "7",
    "type": "call",
    "occurred_at": "2026-11-02T10:00:00+01:00",
    "value": 3.5,
    "properties": {"outcome": "won"},
}
FLAWS: list[dict[str, Any]] = [
    {"user_id": ""},
    {"type": "Call"},
    {"occurred_at": "2026-11-02T10:00:00"},
    {"occurred_at": "1999-01-01T00:00:00Z"},
    {"occurred_at": "2030-01-01T00:00:00Z"},
    {"value": "lots"},
    {"value": 1e16},
    {"properties": {"x": float("inf")}},
    {"properties": {"k": "a\u0000"}},
    {"extra": True},
    {"team_id": None},
    {"value": None},
]
ITEMS = st.one_of(
    st.builds(lambda: dict(GOOD)),
    st.sampled_from(FLAWS).map(lambda flaw: {**GOOD, **flaw}),
    st.sampled_from(["text", 3, None, ["list"]]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(ITEMS, st.integers(0, 5)), max_size=25))
def test_bulk_checking_answers_as_item_by_item_checking(drawn: list[tuple[Any, int]]) -> None:
    ids = [uuid.UUID(int=n + 1) for n in range(6)]  # few ids: repeats happen
    items = [{**item, "id": str(ids[n])} if isinstance(item, dict) else item for item, n in drawn]
    kept, errors = one_by_one(items)
    batch = check_batch(items, "default", NOW)
    assert [str(row.id) for row in batch.rows] == kept
    assert [(e.index, e.loc, e.reason) for e in batch.errors] == errors
    assert batch.valid == len(items) - len({e[0] for e in errors})


def test_rows_are_in_utc_with_the_properties_as_json_text() -> None:
    item = {**GOOD, "id": str(uuid.uuid4())}
    (row,) = check_batch([item], "acme", NOW).rows
    assert row.tenant_id == "acme"
    assert row.occurred_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert row.occurred_at.utcoffset() == timedelta(0)
    assert row.properties == '{"outcome":"won"}'
    assert str(row.value) == "3.5"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_comes_back_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(RuntimeError), collector_paused():
            raise RuntimeError("boom")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
