"""Statements over `kpi.events` for the funnel, the breakdown and the cohorts: each bounded by
tenant and `occurred_at`, so only the partitions of the range are read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, and_, distinct, func, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.calculators.event import aggregate_of, measured_value
from kpi_service.core.sql import among
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import Event


@dataclass(frozen=True, slots=True)
class EventRange:
    """Whose events, between which instants (half-open)."""

    tenant_id: str
    subject_type: SubjectType
    subject_id: str
    start: datetime
    end: datetime

    def where(self, table: Any = Event) -> ColumnElement[bool]:
        """The tenant, the instants and the subject: a team's events carry its team_id."""
        subject: ColumnElement[bool] = true()
        if self.subject_type is SubjectType.USER:
            subject = table.user_id == self.subject_id
        elif self.subject_type is SubjectType.TEAM:
            subject = table.team_id == self.subject_id
        return and_(
            table.tenant_id == self.tenant_id,
            table.occurred_at >= self.start,
            table.occurred_at < self.end,
            subject,
        )


@dataclass(frozen=True, slots=True)
class EventSlice:
    """One dimension value of an event KPI's breakdown."""

    dimension_value: str | None
    count: int
    value: Decimal | None
    total: Decimal | None
    conversions: int | None
    conversion_value: Decimal | None


@dataclass(frozen=True, slots=True)
class CohortRow:
    """A signup month: its size, its newest signup and how many were active in each week."""

    month: date
    size: int
    latest_signup: datetime
    retained: dict[int, int]


def _hours(weeks: int) -> Any:
    # Exact hours, not calendar days: `+ interval '7 days'` would follow the session's DST.
    return literal_column(f"interval '{168 * int(weeks)} hours'")


class ActivityEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def stage_counts(
        self, scope: EventRange, types: Sequence[str]
    ) -> dict[str, tuple[int, int]]:
        """(events, distinct users) per event type, in one grouped statement."""
        stmt = (
            select(Event.type, func.count(), func.count(distinct(Event.user_id)))
            .where(scope.where(), among(Event.type, types))
            .group_by(Event.type)
        )
        return {t: (n, users) for t, n, users in (await self.session.execute(stmt)).all()}

    async def breakdown(
        self,
        scope: EventRange,
        config: Mapping[str, Any],
        dimension: str,
        *,
        convert_type: str | None,
        convert_property: str | None,
        limit: int,
    ) -> list[EventSlice]:
        """An event KPI per value of a property, with conversions of another type, busiest
        value first; at most `limit + 1` values (the extra one says there are more)."""
        dim = Event.properties[dimension].astext
        is_kpi: ColumnElement[bool] = Event.type == config["event_type"]
        if config.get("filter"):
            is_kpi = and_(is_kpi, Event.properties.contains(config["filter"]))
        prop = config.get("property")
        count = func.count().filter(is_kpi).label("count")
        columns: list[Any] = [
            dim.label("dimension_value"),
            count,
            aggregate_of(config["aggregate"], prop).filter(is_kpi),
            func.sum(measured_value(prop)).filter(is_kpi),
        ]
        types = [config["event_type"]]
        if convert_type is not None:
            is_conversion = Event.type == convert_type
            columns += [
                func.count().filter(is_conversion),
                func.sum(measured_value(convert_property)).filter(is_conversion),
            ]
            types.append(convert_type)
        stmt = (
            select(*columns)
            .where(scope.where(), among(Event.type, types))
            .group_by(dim)
            .order_by(count.desc(), dim.asc().nulls_last())
            .limit(limit + 1)
        )
        out = []
        for row in (await self.session.execute(stmt)).all():
            conversions, conversion_value = (row[4], row[5]) if convert_type else (None, None)
            out.append(EventSlice(row[0], row[1], row[2], row[3], conversions, conversion_value))
        return out

    async def cohorts(
        self,
        tenant_id: str,
        *,
        signup_type: str,
        activity_type: str | None,
        window: tuple[datetime, datetime],
        active: tuple[datetime, datetime],
        tz_name: str,
        weeks: Sequence[int],
    ) -> list[CohortRow]:
        """Users whose first signup falls in the window (none earlier), by local signup month,
        with how many had an activity event in each week after signing up; the activity scan
        reads only the `active` instants."""
        start, end = window
        firsts = (
            select(Event.user_id, func.min(Event.occurred_at).label("signup_at"))
            .where(Event.tenant_id == tenant_id, Event.type == signup_type, Event.occurred_at < end)
            .group_by(Event.user_id)
            .having(func.min(Event.occurred_at) >= start)
            .cte("firsts")
        )
        members = select(
            firsts.c.user_id,
            firsts.c.signup_at,
            func.date_trunc("month", func.timezone(tz_name, firsts.c.signup_at))
            .cast(Date)
            .label("month"),
        ).cte("members")
        activity = Event.__table__.alias("activity")
        is_activity = (
            activity.c.type == activity_type
            if activity_type is not None
            else activity.c.type != signup_type
        )
        hits = (
            select(
                members.c.user_id,
                *[
                    func.bool_or(
                        and_(
                            activity.c.occurred_at >= members.c.signup_at + _hours(k),
                            activity.c.occurred_at < members.c.signup_at + _hours(k + 1),
                        )
                    ).label(f"week_{k}")
                    for k in weeks
                ],
            )
            .select_from(
                members.join(
                    activity,
                    and_(
                        activity.c.tenant_id == tenant_id,
                        activity.c.user_id == members.c.user_id,
                        activity.c.occurred_at >= active[0],
                        activity.c.occurred_at < active[1],
                        is_activity,
                    ),
                )
            )
            .group_by(members.c.user_id)
            .cte("hits")
        )
        stmt = (
            select(
                members.c.month,
                func.count(),
                func.max(members.c.signup_at),
                *[func.count().filter(hits.c[f"week_{k}"]) for k in weeks],
            )
            .select_from(members.outerjoin(hits, hits.c.user_id == members.c.user_id))
            .group_by(members.c.month)
            .order_by(members.c.month)
        )
        return [
            CohortRow(row[0], row[1], row[2], dict(zip(weeks, row[3:], strict=True)))
            for row in (await self.session.execute(stmt)).all()
        ]
