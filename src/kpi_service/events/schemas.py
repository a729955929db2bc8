"""Events as clients send and read them."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from kpi_service.core.schemas import Input, Number, OutNumber, Output, SubjectRef

MAX_BATCH = 10_000
MAX_PROPERTIES_BYTES = 8_192

EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:\-]{0,63}$")]


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > 10:
        raise ValueError("properties are nested too deeply (at most 10 levels)")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("properties may not contain NUL characters")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("properties may not hold NaN or Infinity")
    if isinstance(value, dict):
        for key, item in value.items():
            _clean(key, depth + 1)
            _clean(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _clean(item, depth + 1)
    return value


class EventIn(Input):
    """One event; `id` is the client's UUID and makes re-sending harmless."""

    id: uuid.UUID
    user_id: SubjectRef
    team_id: SubjectRef | None = None
    type: EventType
    occurred_at: AwareDatetime
    value: Number | None = None
    properties: dict[str, Any] = Field(default_factory=dict, max_length=50)

    @field_validator("properties")
    @classmethod
    def _properties_are_storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        _clean(value)
        if len(json.dumps(value)) > MAX_PROPERTIES_BYTES:
            raise ValueError(f"properties take more than {MAX_PROPERTIES_BYTES} bytes as JSON")
        return value


class EventBatch(Input):
    """Up to 10,000 events; each is checked on its own (see the answer's `errors`)."""

    events: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class ItemError(Output):
    index: int
    reason: str
    loc: list[str | int] = Field(default_factory=list)


class IngestResult(Output):
    accepted: int = Field(description="Stored now.")
    duplicates: int = Field(description="Already stored, or repeated in this batch.")
    rejected: int
    errors: list[ItemError]


class EventRead(Output):
    id: uuid.UUID
    user_id: str
    team_id: str | None
    type: str
    occurred_at: datetime
    value: OutNumber | None
    properties: dict[str, Any]
    received_at: datetime

