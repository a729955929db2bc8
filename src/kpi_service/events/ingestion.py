"""A batch of events checked item by item, in bulk: the rows to store and the refusals.

Pure CPU work (no I/O): one validation of the whole list, a second one of the valid items
only when some failed, with the cyclic garbage collector paused meanwhile.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from kpi_service.events.repository import EventRow
from kpi_service.events.schemas import EventIn, ItemError, properties_json

_EVENTS = TypeAdapter(list[EventIn])
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks drift: an event may be stamped a little in the future, not more.
FUTURE_SLACK = timedelta(days=1)


def _refusals(items: Sequence[Any], exc: ValidationError) -> dict[int, list[ItemError]]:
    """The errors of a whole-list validation, by item index, with locations inside the item."""
    refused: dict[int, list[ItemError]] = {}
    for e in exc.errors():
        index, *loc = e["loc"]
        assert isinstance(index, int)
        if not isinstance(items[index], dict):
            refused[index] = [ItemError(index=index, reason="an event must be a JSON object")]
        else:
            refused.setdefault(index, []).append(
                ItemError(index=index, reason=str(e["msg"]), loc=[str(p) for p in loc])
            )
    return refused


def _validate_all(items: Sequence[Any]) -> tuple[list[tuple[int, EventIn]], list[ItemError]]:
    """One validation of the whole list; when some fail, a second one of the others."""
    try:
        return list(enumerate(_EVENTS.validate_python(items))), []
    except ValidationError as exc:
        refused = _refusals(items, exc)
    kept = [i for i in range(len(items)) if i not in refused]
    events = _EVENTS.validate_python([items[i] for i in kept])
    errors = [error for index in sorted(refused) for error in refused[index]]
    return list(zip(kept, events, strict=True)), errors


def validate_batch(
    items: Sequence[Any], now: datetime
) -> tuple[list[tuple[int, EventIn]], list[ItemError]]:
    """The valid events (with their index) and one error list entry per refused field."""
    checked, errors = _validate_all(items)
    latest = now + FUTURE_SLACK
    valid = []
    for index, event in checked:
        if EARLIEST <= event.occurred_at <= latest:
            valid.append((index, event))
        else:
            errors.append(
                ItemError(
                    index=index,
                    loc=["occurred_at"],
                    reason="occurred_at is before 2000 or in the future",
                )
            )
    errors.sort(key=lambda e: e.index)
    return valid, errors


def _row(tenant_id: str, event: EventIn) -> EventRow:
    return EventRow(
        tenant_id,
        event.id,
        event.occurred_at,
        event.user_id,
        event.team_id,
        event.type,
        event.value,
        properties_json(event.properties),
    )


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    """A batch after validation: the rows to store (one per id), and what was refused."""

    rows: list[EventRow]
    valid: int
    errors: list[ItemError]

    @property
    def months(self) -> set[tuple[int, int]]:
        return {(row.occurred_at.year, row.occurred_at.month) for row in self.rows}


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a synchronous bulk step (no `await` inside)."""
    # A batch makes several container objects per event that stay alive while it is checked:
    # each few hundred would trigger a collection, and every few batches a full-heap one.
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _check(items: Sequence[Any], tenant_id: str, now: datetime) -> CheckedBatch:
    valid, errors = validate_batch(items, now)
    unique: dict[uuid.UUID, EventIn] = {}
    for _, event in valid:
        unique.setdefault(event.id, event)
    rows = [_row(tenant_id, event) for event in unique.values()]
    return CheckedBatch(rows, len(valid), errors)


def check_batch(items: Sequence[Any], tenant_id: str, now: datetime) -> CheckedBatch:
    """Validate a batch and build its rows; the first of events sharing an id wins."""
    with collector_paused():
        # The models are gone once `_check` returns, before the collector is back.
        return _check(items, tenant_id, now)
