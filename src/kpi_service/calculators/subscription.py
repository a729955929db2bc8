"""The `subscription` calculator: revenue KPIs (MRR, movements, churn, NRR, ...) from
subscription events, one statement per (definition, period) for the organisation.

An event of the configured type with `properties.customer_id` and `value` sets that
customer's MRR from its instant on (0 when cancelled). Events without a customer id (a JSON
string or number, not empty), with a null or a negative value are ignored. Events at the
same instant are ordered by `received_at`, then `id`: the last one holds. With a segment,
a customer's MRR counts in it while its last event carries the segment's property value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Select, and_, case, func, literal, not_, select, true
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators.base import CalculationRequest, ConfigError, Outcome
from kpi_service.calculators.event import EVENT_TYPE, PROPERTY_NAME, is_plain_value
from kpi_service.engine.subscription import (
    METRICS,
    SubscriptionFigures,
    metric_outcome,
    months_of,
    year_before_end,
)
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import Event

DEFAULT_EVENT_TYPE = "subscription"
_KEYS = frozenset({"metric", "event_type", "segment"})


class SubscriptionConfigError(ConfigError):
    """The config (or scope) of a subscription KPI is not usable: which key, and why."""


def validate_config(config: Mapping[str, Any], scope: str) -> dict[str, Any]:
    """The config with its event type filled in, if it names a metric, an event type and an
    optional segment, for an organisation KPI."""
    if scope != SubjectType.ORGANIZATION:
        raise SubscriptionConfigError(
            "scope", "subscription KPIs measure the organisation; use scope organization"
        )
    for key in sorted(set(config) - _KEYS):
        raise SubscriptionConfigError(key, "unknown config key")
    metric = config.get("metric")
    if not isinstance(metric, str) or metric not in METRICS:
        raise SubscriptionConfigError("metric", f"one of {', '.join(sorted(METRICS))}")
    event_type = config.get("event_type", DEFAULT_EVENT_TYPE)
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise SubscriptionConfigError("event_type", "an event type such as 'subscription'")
    checked: dict[str, Any] = {"metric": metric, "event_type": event_type}
    if "segment" in config:
        checked["segment"] = _segment(config["segment"])
    return checked


def _segment(segment: Any) -> dict[str, Any]:
    if not isinstance(segment, dict) or set(segment) != {"property", "value"}:
        raise SubscriptionConfigError(
            "segment", "an object with exactly a property name and a value"
        )
    prop, value = segment["property"], segment["value"]
    if not isinstance(prop, str) or not PROPERTY_NAME.match(prop):
        raise SubscriptionConfigError("segment", "property: a name of letters, digits and _")
    if not is_plain_value(value):
        raise SubscriptionConfigError("segment", "value: text, a number or a boolean")
    return {"property": prop, "value": value}


def _last_value_before(value: Any, cutoff: datetime) -> Any:
    """A customer's value from its last event strictly before the cutoff (null if none)."""
    latest_first = (Event.occurred_at.desc(), Event.received_at.desc(), Event.id.desc())
    ordered = func.array_agg(aggregate_order_by(value, *latest_first), type_=ARRAY(Numeric))
    return ordered.filter(Event.occurred_at < cutoff)[1]


def figures_statement(
    tenant_id: str,
    config: Mapping[str, Any],
    start: datetime,
    end: datetime,
    year_before: datetime,
) -> Select[Any]:
    """One statement: each customer's MRR at the start, the end and a year before the end,
    and whether it ever paid before the start; then the period's sums and counts."""
    customer = Event.properties["customer_id"]
    segment = config.get("segment")
    in_segment: ColumnElement[bool] = (
        Event.properties.contains({segment["property"]: segment["value"]}) if segment else true()
    )
    # A customer whose last event is outside the segment has no MRR in it.
    mrr = case((in_segment, Event.value), else_=literal(0))
    customers = (
        select(
            func.coalesce(_last_value_before(mrr, start), 0).label("m0"),
            func.coalesce(_last_value_before(mrr, end), 0).label("m1"),
            func.coalesce(_last_value_before(mrr, year_before), 0).label("my"),
            func.coalesce(func.bool_or(and_(mrr > 0, Event.occurred_at < start)), False).label(
                "paid_before"
            ),
        )
        .where(
            Event.tenant_id == tenant_id,
            Event.type == config["event_type"],
            Event.occurred_at < end,
            Event.value.is_not(None),
            Event.value >= 0,
            func.jsonb_typeof(customer).in_(("string", "number")),
            customer.astext != "",
        )
        .group_by(customer.astext)
        .subquery("customers")
    )
    m0, m1 = customers.c.m0, customers.c.m1
    new = and_(m0 == 0, m1 > 0, not_(customers.c.paid_before))
    reactivated = and_(m0 == 0, m1 > 0, customers.c.paid_before)
    expanded = and_(m0 > 0, m1 > m0)
    contracted = and_(m1 > 0, m1 < m0)
    churned = and_(m0 > 0, m1 == 0)

    def total(amount: Any, where: ColumnElement[bool] | None = None) -> Any:
        summed = func.sum(amount) if where is None else func.sum(amount).filter(where)
        return func.coalesce(summed, 0)

    return select(
        total(m0).label("mrr_start"),
        total(m1).label("mrr_end"),
        total(customers.c.my).label("mrr_year_before"),
        func.count().filter(m0 > 0).label("customers_start"),
        func.count().filter(m1 > 0).label("customers_end"),
        func.count().filter(new).label("new_customers"),
        total(m1, new).label("new_mrr"),
        func.count().filter(reactivated).label("reactivated_customers"),
        total(m1, reactivated).label("reactivation_mrr"),
        func.count().filter(expanded).label("expanded_customers"),
        total(m1 - m0, expanded).label("expansion_mrr"),
        func.count().filter(contracted).label("contracted_customers"),
        total(m0 - m1, contracted).label("contraction_mrr"),
        func.count().filter(churned).label("churned_customers"),
        total(m0, churned).label("churned_mrr"),
    ).select_from(customers)


async def calculate(request: CalculationRequest, session: AsyncSession) -> dict[str, Outcome]:
    """The configured metric of the period, for the organisation (every due subject)."""
    config = request.config
    start, end = request.period.instants(request.tz)
    year_before = year_before_end(request.period, request.tz)
    stmt = figures_statement(request.tenant_id, config, start, end, year_before)
    row = (await session.execute(stmt)).one()
    figures = SubscriptionFigures(**row._asdict(), months=months_of(request.period))
    value, reason = metric_outcome(config["metric"], figures)
    details = {
        "metric": config["metric"],
        "event_type": config["event_type"],
        **({"segment": config["segment"]} if "segment" in config else {}),
        **figures.as_details(),
    }
    return {subject: Outcome(value, reason, details=details) for subject in request.subject_ids}
