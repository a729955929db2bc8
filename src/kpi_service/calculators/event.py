"""The `event` calculator: one grouped statement over ingested events for all subjects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, case, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators.base import CalculationRequest, ConfigError, Outcome
from kpi_service.core.sql import among
from kpi_service.engine.achievement import quantize
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import Event

PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95}
AGGREGATES = frozenset({"count", "sum", "avg", "min", "max", "distinct_users", *PERCENTILES})
# Counting aggregates give 0 for a subject without events; the others give no value.
_COUNTING = frozenset({"count", "distinct_users"})
_KEYS = frozenset({"event_type", "aggregate", "property", "filter"})
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.:\-]{0,63}$")
PROPERTY_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class EventConfigError(ConfigError):
    """The config of an event KPI is not usable; the message says which key and why."""


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config, if it names an event type, an aggregate and optional property and filter."""
    for key in sorted(set(config) - _KEYS):
        raise EventConfigError(key, "unknown config key")
    event_type = config.get("event_type")
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise EventConfigError("event_type", "an event type such as 'call' is required")
    aggregate = config.get("aggregate")
    if not isinstance(aggregate, str) or aggregate not in AGGREGATES:
        raise EventConfigError("aggregate", f"one of {', '.join(sorted(AGGREGATES))}")
    prop = config.get("property")
    if prop is not None and (not isinstance(prop, str) or not PROPERTY_NAME.match(prop)):
        raise EventConfigError("property", "a property name of letters, digits and _")
    if prop is not None and aggregate in _COUNTING:
        raise EventConfigError("property", f"{aggregate} counts events; it takes no property")
    flt = config.get("filter", {})
    if (
        not isinstance(flt, dict)
        or len(flt) > 10
        or not all(
            isinstance(k, str) and PROPERTY_NAME.match(k) and is_plain_value(v)
            for k, v in flt.items()
        )
    ):
        raise EventConfigError("filter", "at most 10 property: value pairs of plain values")
    return {k: v for k, v in config.items() if k in _KEYS}


def is_plain_value(value: Any) -> bool:
    """Whether a config may compare a property with value: short text, a boolean or a number."""
    if isinstance(value, str):
        return "\x00" not in value and len(value) <= 200
    return isinstance(value, bool | int) or (
        isinstance(value, float) and value == value and abs(value) != float("inf")
    )


def measured_value(prop: str | None) -> Any:
    """The number an event contributes: its value, or a numeric property (else null)."""
    if prop is None:
        return Event.value
    field = Event.properties[prop]
    # A property that is not a JSON number is ignored rather than failing the statement.
    return case((func.jsonb_typeof(field) == "number", field.astext.cast(Numeric)))


def aggregate_of(aggregate: str, prop: str | None) -> Any:
    """The SQL aggregate a KPI's config names, over the events' measured numbers."""
    x = measured_value(prop)
    if aggregate == "count":
        return func.count()
    if aggregate == "distinct_users":
        return func.count(distinct(Event.user_id))
    if aggregate in PERCENTILES:
        return func.percentile_cont(literal(PERCENTILES[aggregate])).within_group(x)
    return getattr(func, aggregate)(x)


def _group(scope: str) -> Any:
    if scope == SubjectType.TEAM:
        return Event.team_id
    if scope == SubjectType.ORGANIZATION:
        return Event.tenant_id
    return Event.user_id


async def calculate(
    request: CalculationRequest, session: AsyncSession, scope: str = SubjectType.USER
) -> dict[str, Outcome]:
    """Values for every due subject from one statement over the events of the period (or
    of its window)."""
    config = request.config
    start, end = request.span.instants(request.tz)
    group = _group(scope)
    stmt = (
        select(group, aggregate_of(config["aggregate"], config.get("property")))
        .where(
            Event.tenant_id == request.tenant_id,
            Event.type == config["event_type"],
            Event.occurred_at >= start,
            Event.occurred_at < end,
            among(group, request.subject_ids),
        )
        .group_by(group)
    )
    if config.get("filter"):
        stmt = stmt.where(Event.properties.contains(config["filter"]))
    values = {str(k): v for k, v in (await session.execute(stmt)).all()}
    details = {
        "event_type": config["event_type"],
        "aggregate": config["aggregate"],
        **request.span_details(),
    }
    counting = config["aggregate"] in _COUNTING
    out = {}
    for subject in request.subject_ids:
        value = values.get(subject)
        if value is None and counting:
            value = 0
        if value is None:
            out[subject] = Outcome(None, "no events for the period", details=details)
        else:
            # Stored as the engine stores every derived number: six places, half to even
            # (percentiles come from PostgreSQL as doubles, averages with 16+ digits).
            out[subject] = Outcome(quantize(Decimal(value)), details=details)
    return out
