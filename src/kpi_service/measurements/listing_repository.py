"""What the API lists and shows of measurements: each with its subject and KPI key, a user's
current KPIs with their latest value (the seed's view), and the revisions of one."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Date, Row, Select, Text, and_, bindparam, select, true

from kpi_service.core.access import held_by
from kpi_service.core.repository import Filters, Repository, equal_to, where
from kpi_service.core.schemas import Paging, Slice
from kpi_service.engine.periods import Period
from kpi_service.measurements.repository import target_in_force
from kpi_service.models import (
    Assignment,
    Definition,
    Measurement,
    MeasurementRevision,
    joins,
)


@dataclass(frozen=True, slots=True)
class MeasurementFilters(Filters):
    """What a list of measurements may be narrowed to; None means any. `period_from`: periods
    ending on or after it; `period_to`: periods starting on or before it; `period`: exactly
    that period."""

    assignment_id: int | None = equal_to(Measurement.assignment_id)
    user_id: str | None = where(held_by)
    definition_id: int | None = equal_to(Measurement.definition_id)
    definition_key: str | None = equal_to(Definition.key)
    period_from: date | None = where(lambda day: Measurement.period_end >= day)
    period_to: date | None = where(lambda day: Measurement.period_start <= day)
    measurement_id: int | None = equal_to(Measurement.id)
    period: Period | None = where(
        lambda period: and_(
            Measurement.period_start == period.start, Measurement.period_end == period.end
        )
    )


@functools.cache
def _current_with_latest() -> Select[*tuple[Any, ...]]:
    """`current_with_latest`'s statement, built and compiled once: plain columns (no ORM
    objects), every value a bound parameter."""
    today = bindparam("today", type_=Date)
    latest = (
        select(
            Measurement.id,
            Measurement.actual_value,
            Measurement.achievement,
            Measurement.period_start,
            Measurement.period_end,
            Measurement.calculated_at,
        )
        .where(joins.assignment_of(Measurement))
        .order_by(Measurement.period_start.desc(), Measurement.period_end.desc())
        .limit(1)
        .correlate(Assignment)
        .lateral("latest")
    )
    return (
        select(
            Assignment.id,
            Assignment.weight,
            Assignment.start_date,
            Definition.id,
            Definition.key,
            Definition.name,
            Definition.description,
            Definition.unit,
            Definition.target_type,
            Definition.category,
            target_in_force(today).label("target_value"),
            latest.c.id,
            latest.c.actual_value,
            latest.c.achievement,
            latest.c.period_start,
            latest.c.period_end,
            latest.c.calculated_at,
            Definition.rollup,
            Definition.window,
        )
        .join(Definition, joins.definition_of(Assignment))
        .outerjoin(latest, true())
        .where(
            Assignment.tenant_id == bindparam("tenant_id", type_=Text),
            held_by(bindparam("user_id", type_=Text)),
            Definition.is_active.is_(True),
            # Not ended (not `in_force_during` today): the seed lists those yet to start too.
            (Assignment.end_date.is_(None)) | (Assignment.end_date >= today),
        )
        .order_by(Assignment.id)
    )


class ListingRepository(Repository[Measurement]):
    """Reads of `kpi.measurements` as the API lists them, scoped by what the caller may see."""

    model = Measurement

    def listing(
        self, tenant_id: str, visible: ColumnElement[bool]
    ) -> Select[Measurement, str, str, str]:
        """Measurements with their subject and definition key, as the caller may see them."""
        return (
            select(Measurement, Assignment.subject_type, Assignment.subject_id, Definition.key)
            .join(Assignment, joins.assignment_of(Measurement))
            .join(Definition, joins.definition_of(Measurement))
            .where(self.in_tenant(tenant_id), visible)
        )

    async def matching(
        self, tenant_id: str, visible: ColumnElement[bool], filters: MeasurementFilters
    ) -> Sequence[Row[Measurement, str, str, str]]:
        """Every listing row (see `listing`) matching `filters`."""
        stmt = self.listing(tenant_id, visible).where(*filters.conditions())
        return (await self.session.execute(stmt)).all()

    async def page_rows(
        self,
        tenant_id: str,
        visible: ColumnElement[bool],
        filters: MeasurementFilters,
        paging: Paging,
    ) -> Slice[Row[Measurement, str, str, str]]:
        """One page of the listing rows (see `listing`) matching `filters`."""
        stmt = self.listing(tenant_id, visible).where(*filters.conditions())
        return await self.page_of(stmt, paging)

    async def current_with_latest(
        self, tenant_id: str, user_id: str, today: date, visible: ColumnElement[bool] | None = None
    ) -> Sequence[Any]:
        """A user's current assignments, each with its definition's fields, the target in
        force today and the latest measurement (aligned or not), in one statement; `visible`
        narrows them further (None: everything in the tenant)."""
        stmt = _current_with_latest()
        if visible is not None:
            stmt = stmt.where(visible)
        params = {"tenant_id": tenant_id, "user_id": user_id, "today": today}
        result: Sequence[Any] = (await self.session.execute(stmt, params)).all()
        return result


@dataclass(frozen=True, slots=True)
class RevisionFilters(Filters):
    """Whose revisions a list shows; None means any."""

    measurement_id: int | None = equal_to(MeasurementRevision.measurement_id)


class RevisionRepository(Repository[MeasurementRevision]):
    """Reads of `kpi.measurement_revisions` (kept by `MeasurementRepository.add_revisions`);
    pages of them show the newest first."""

    model = MeasurementRevision
    newest_first = True
