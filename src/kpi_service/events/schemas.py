"""Events as clients send and read them."""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints, field_validator
from pydantic_core import PydanticSerializationError, to_json

from kpi_service.core.schemas import Input, Number, OutNumber, Output, SubjectRef

MAX_BATCH = 10_000
MAX_PROPERTIES_BYTES = 8_192

EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:\-]{0,63}$")]


MAX_DEPTH = 10
# One byte of compact UTF-8 JSON takes at most six characters in `json.dumps` (`\\u00XX`).
_WORST_EXPANSION = 6
_SUSPECT = re.compile(rb"\\u0000|NaN|Infinity")


def _clean(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"properties are nested too deeply (at most {MAX_DEPTH} levels)")
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


def _suspicious(data: bytes) -> bool:
    # Cheap scans of the encoded text; a hit (perhaps only inside a string) means a full walk.
    return _SUSPECT.search(data) is not None or data.count(b"{") + data.count(b"[") > MAX_DEPTH


def check_properties(value: dict[str, Any]) -> None:
    """Refuse properties that cannot be stored: NUL, NaN, Infinity, too deep or too big."""
    try:
        data = to_json(value, inf_nan_mode="constants")
    except PydanticSerializationError:  # a lone surrogate: not text PostgreSQL can store
        raise ValueError("properties must be valid Unicode text") from None
    if _suspicious(data):
        _clean(value)
    # The limit is on `json.dumps` text; only a value near it pays for computing that.
    if (
        len(data) * _WORST_EXPANSION > MAX_PROPERTIES_BYTES
        and len(json.dumps(value)) > MAX_PROPERTIES_BYTES
    ):
        raise ValueError(f"properties take more than {MAX_PROPERTIES_BYTES} bytes as JSON")


def properties_json(value: dict[str, Any]) -> str:
    """Checked properties as the JSON text stored."""
    return to_json(value).decode()


def _in_utc(at: datetime) -> datetime:
    # One conversion here spares an offset lookup in every later comparison and in COPY.
    return at.astimezone(UTC)


class EventIn(Input):
    """One event; `id` is the client's UUID and makes re-sending harmless."""

    id: uuid.UUID
    user_id: SubjectRef
    team_id: SubjectRef | None = None
    type: EventType
    occurred_at: Annotated[AwareDatetime, AfterValidator(_in_utc)]
    value: Number | None = None
    properties: dict[str, Any] = Field(default_factory=dict, max_length=50)

    @field_validator("properties")
    @classmethod
    def _properties_are_storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_properties(value)
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
