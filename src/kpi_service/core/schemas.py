"""Field types and base models shared by every domain's schemas."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from kpi_service.core.errors import InvalidInput, field_error

MAX_ID = 2**63 - 1
MAX_VALUE = Decimal("1e15")

# Control characters (NUL above all: PostgreSQL text cannot hold it) are refused everywhere.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
_PRINTABLE_MULTILINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _not_a_boolean(value: object) -> object:
    # Lax int parsing reads JSON `true` as 1: a boolean is never an id.
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    return value


# The bounds before the validator: after it, FastAPI would publish parameters' bounds as
# `ge`/`le`, which no JSON Schema reader knows, instead of `minimum`/`maximum`.
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_not_a_boolean)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
SubjectRef = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE, strip_whitespace=True)
]
ShortText = Annotated[str, StringConstraints(max_length=100, pattern=_PRINTABLE)]
LongText = Annotated[str, StringConstraints(max_length=4000, pattern=_PRINTABLE_MULTILINE)]

# A day a client may name. Far enough from the calendar's ends that the periods, weeks and
# cohort months around it (and the instant after its last day) are valid dates.
Day = Annotated[dt.date, Field(ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31))]
# An instant a client may name: with its UTC offset (a bare local time is ambiguous), within
# the same calendar as `Day`.
Instant = Annotated[
    AwareDatetime,
    Field(ge=dt.datetime(1900, 1, 1, tzinfo=dt.UTC), le=dt.datetime(3000, 1, 1, tzinfo=dt.UTC)),
]

_as_float = PlainSerializer(float, return_type=float, when_used="json")


class _PublishedAsNumber:
    """A Decimal field documented as the JSON number clients send, not as number-or-string."""

    @staticmethod
    def __get_pydantic_json_schema__(
        schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # pydantic also reads numeric strings, and publishes any string as valid: generated
        # clients then type the field `float | str` and a fuzzer sends words.
        published = handler(schema)
        numbers = [s for s in published.get("anyOf", ()) if s.get("type") == "number"]
        if not numbers:
            return published
        return {**numbers[0], **{k: v for k, v in published.items() if k != "anyOf"}}


# A value a client may send: finite, within what any KPI sensibly holds.
Number = Annotated[
    Decimal,
    Field(allow_inf_nan=False, ge=-MAX_VALUE, le=MAX_VALUE),
    _as_float,
    _PublishedAsNumber(),
]
# A value we send back: a JSON number.
OutNumber = Annotated[Decimal, _as_float]
Weight = Annotated[
    Decimal, Field(allow_inf_nan=False, ge=0, le=100), _as_float, _PublishedAsNumber()
]


class _AsLiteral:
    """Validates and publishes a field as the Literal of a StrEnum's values, handing the code
    the enum member."""

    def __init__(self, vocabulary: type[StrEnum]) -> None:
        self.vocabulary = vocabulary

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # A plain enum field would be a `$ref` component answering `enum` errors; clients
        # know the inline `{"enum": [...]}` and its `literal_error` messages.
        values = [member.value for member in self.vocabulary]
        return core_schema.no_info_after_validator_function(
            self.vocabulary, core_schema.literal_schema(values)
        )


_Vocabulary = TypeVar("_Vocabulary", bound=StrEnum)

if TYPE_CHECKING:
    # One value of a closed vocabulary: `unit: Choice[Unit]` is a `Unit` member.
    Choice = Annotated[_Vocabulary, _AsLiteral]
else:

    class Choice:
        """One value of a closed vocabulary: `unit: Choice[Unit]` is a `Unit` member."""

        # The enum hides in the marker: FastAPI publishes a component for every Enum class
        # it finds in an annotation, even one no schema refers to.
        def __class_getitem__(cls, vocabulary: type[StrEnum]) -> object:
            return Annotated[str, _AsLiteral(vocabulary)]


def number_default(value: int) -> Any:
    """The default of a `Number` or `Weight` field, published as a JSON number (pydantic
    would write a Decimal default as a string) and validated into a Decimal."""
    return Field(default=value, validate_default=True)


def _not_null(cls: type[BaseModel], value: object) -> object:
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


def _without_null(field: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with its `null` branch (and its `null` default) taken out."""
    branches = [b for b in field.get("anyOf", ()) if b.get("type") != "null"]
    rest = {k: v for k, v in field.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**branches[0], **rest} if len(branches) == 1 else {**rest, "anyOf": branches}


class Input(BaseModel):
    """A request body: unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # A field typed `X | None = None` only to be omittable is published without the
        # `null` that `refuse_null` refuses.
        published = handler(schema)
        never_null = {
            field
            for d in cls.__pydantic_decorators__.field_validators.values()
            if getattr(d.func, "__func__", None) is _not_null
            for field in d.info.fields
        }
        properties = handler.resolve_ref_schema(published).get("properties", {})
        for name in never_null & properties.keys():
            properties[name] = _without_null(properties[name])
        return published


def refuse_null(*fields: str) -> Any:
    """A validator for a PATCH body: these fields may be omitted, never set to null."""
    return field_validator(*fields)(classmethod(_not_null))


class Output(BaseModel):
    """A response body, read from ORM objects or dicts."""

    model_config = ConfigDict(from_attributes=True)


class ListQuery(BaseModel):
    """What a list route may be narrowed to: its query parameters (each None when not given),
    which the route turns into its repository's filters. Unknown parameters are ignored,
    unlike a body's unknown keys."""


T = TypeVar("T")
S = TypeVar("S")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: Slice[T]) -> Page[T]:
        """The response for a service's `Slice` of read models; called on the parametrised
        page (`Page[ItemRead].of(...)`), the route's response model."""
        # An unparametrised Page would reach FastAPI as another class, validated afresh.
        if not cls.__pydantic_generic_metadata__["args"]:
            raise TypeError("Page.of is called on Page[ItemRead], not on Page")
        return cls(items=page.items, next_cursor=page.next_cursor)


Limit = Annotated[int, Field(ge=1, le=500)]
# The paging query parameters of the list routes: `cursor: Cursor = None, limit: PageSize = 50`,
# handed on as `Paging(cursor, limit)`.
Cursor = Annotated[ShortText | None, Query()]
PageSize = Annotated[Limit, Query()]


@dataclass(frozen=True, slots=True)
class Paging:
    """Which page of a list is asked for: the one after `cursor` (None: the first), of at most
    `limit` items."""

    cursor: str | None = None
    limit: int = 50


def _sealed(data: dict[str, Any]) -> str:
    """An opaque cursor carrying `data`: its JSON in URL-safe base64, unpadded."""
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _malformed() -> InvalidInput:
    return InvalidInput(
        "The cursor is not one this service issued.",
        errors=[field_error(["query", "cursor"], "malformed cursor")],
    )


def _opened(cursor: str) -> dict[str, Any]:
    """The data a cursor carries; one that carries none is the client's `InvalidInput`."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        data = None
    if not isinstance(data, dict):
        raise _malformed()
    return data


def encode_cursor(last_id: int) -> str:
    """An opaque cursor pointing after the row with that id."""
    return _sealed({"after": last_id})


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor points after; a malformed cursor is the client's error."""
    if cursor is None:
        return None
    after = _opened(cursor).get("after")
    if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_ID:
        raise _malformed()
    return after


def encode_timeline_cursor(at: dt.datetime, row_id: uuid.UUID) -> str:
    """An opaque cursor pointing after the row at (`at`, `row_id`) of a timeline ordered on
    (instant, id), newest first (the events timeline)."""
    return _sealed({"t": at.isoformat(), "id": str(row_id)})


def decode_timeline_cursor(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    """The (instant, id) a timeline cursor points after; a malformed cursor is the client's
    error."""
    if cursor is None:
        return None
    data = _opened(cursor)
    at, row_id = data.get("t"), data.get("id")
    if not isinstance(at, str) or not isinstance(row_id, str):
        raise _malformed()
    try:
        instant, key = dt.datetime.fromisoformat(at), uuid.UUID(row_id)
    except ValueError:
        raise _malformed() from None
    if instant.tzinfo is None:
        raise _malformed()
    try:
        # An instant with no UTC form (year 1 east of Greenwich, 9999 west of it) is not sent.
        instant.astimezone(dt.UTC)
    except OverflowError:
        raise _malformed() from None
    return instant, key


@dataclass
class Slice(Generic[T]):
    """One page of domain objects, before they become a `Page` response."""

    items: list[T]
    next_cursor: str | None

    def map(self, convert: Callable[[T], S]) -> Slice[S]:
        """The same page with each item through `convert`."""
        return Slice([convert(item) for item in self.items], self.next_cursor)


def slice_of(rows: Sequence[T], limit: int, key: Callable[[T], int]) -> Slice[T]:
    """The page from `limit + 1` fetched rows: the extra row only says there is more."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Slice(items=items, next_cursor=encode_cursor(key(items[-1])) if more else None)
