"""Measurement, revision and run statements: set-based, one per (definition, period)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Text,
    and_,
    bindparam,
    func,
    insert,
    select,
    text,
    true,
)

from kpi_service.assignments.repository import AssignmentRepository
from kpi_service.core.repository import Filters, Repository, equal_to, keyset
from kpi_service.core.sql import among
from kpi_service.models import (
    SCHEMA,
    Assignment,
    AssignmentTarget,
    Definition,
    Measurement,
    MeasurementRevision,
    SubjectType,
    joins,
)

# The columns a calculation writes, and the merge of staged rows into the table.
_STAGING = "kpi_measurement_staging"
_KEY = ("tenant_id", "assignment_id", "period_start", "period_end")
_UPSERTED = [c.name for c in Measurement.__table__.columns if c.name != "id"]
_MERGE = (
    f"INSERT INTO {SCHEMA}.measurements ({', '.join(_UPSERTED)}) "  # noqa: S608 (constants)
    f"SELECT {', '.join(_UPSERTED)} FROM {_STAGING} "
    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _UPSERTED if c not in _KEY)
    + " RETURNING assignment_id, id"
)


@dataclass(frozen=True, slots=True)
class MeasurementFilters(Filters):
    """What a list of measurements may be narrowed to; None means any. `period_from`: periods
    ending on or after it; `period_to`: periods starting on or before it."""

    assignment_id: int | None = equal_to(Measurement.assignment_id)
    user_id: str | None = None
    definition_id: int | None = equal_to(Measurement.definition_id)
    definition_key: str | None = equal_to(Definition.key)
    period_from: date | None = None
    period_to: date | None = None

    def more_conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.user_id is not None:
            found += [
                Assignment.subject_type == SubjectType.USER,
                Assignment.subject_id == self.user_id,
            ]
        if self.period_from is not None:
            found.append(Measurement.period_end >= self.period_from)
        if self.period_to is not None:
            found.append(Measurement.period_start <= self.period_to)
        return found


@dataclass(frozen=True, slots=True)
class DueAssignment:
    """An assignment due for a period, with the target in force for it."""

    id: int
    subject_type: str
    subject_id: str
    team_id: str | None
    weight: Decimal
    baseline_value: Decimal | None
    target_value: Decimal | None


def target_in_force(period_end: date | ColumnElement[date]) -> Any:
    """The target of the enclosing query's assignment in force on `period_end` (a date, or a
    column of the enclosing query, such as a measurement's period end)."""
    latest = (
        select(AssignmentTarget.target_value)
        .where(joins.assignment_of(AssignmentTarget), AssignmentTarget.effective_from <= period_end)
        .order_by(AssignmentTarget.effective_from.desc())
        .limit(1)
        .correlate_except(AssignmentTarget)
        .scalar_subquery()
    )
    # Before the first target took effect (only reachable through the seed's calculate
    # route, which may compute any range), the first target is the only one there is.
    first = (
        select(AssignmentTarget.target_value)
        .where(joins.assignment_of(AssignmentTarget))
        .order_by(AssignmentTarget.effective_from.asc())
        .limit(1)
        .correlate(Assignment)
        .scalar_subquery()
    )
    return func.coalesce(latest, first)


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
        )
        .join(Definition, joins.definition_of(Assignment))
        .outerjoin(latest, true())
        .where(
            Assignment.tenant_id == bindparam("tenant_id", type_=Text),
            Assignment.subject_type == SubjectType.USER,
            Assignment.subject_id == bindparam("user_id", type_=Text),
            Definition.is_active.is_(True),
            (Assignment.end_date.is_(None)) | (Assignment.end_date >= today),
        )
        .order_by(Assignment.id)
    )


class MeasurementRepository(Repository[Measurement]):
    """Reads and writes of `kpi.measurements` and their revisions for one session."""

    model = Measurement

    async def lock_definitions(self, tenant_id: str, definition_ids: Sequence[int]) -> None:
        """Hold, until the transaction ends, the lock under which the definitions' stored
        figures are written: two writers of adjacent periods (two replicas, a run and a
        manual entry) then see each other's values, so neither comparison goes stale."""
        await self.session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(CAST(:tenant AS text) || '/' "
                "|| d::text, 20261206)) FROM unnest(CAST(:ids AS bigint[])) AS d ORDER BY d"
            ),
            {"tenant": tenant_id, "ids": sorted(set(definition_ids))},
        )

    async def due_assignments(
        self,
        tenant_id: str,
        definition_id: int,
        start: date,
        end: date,
        *,
        assignment_ids: Sequence[int] | None = None,
        subject_ids: Sequence[str] | None = None,
        require_overlap: bool = True,
    ) -> list[DueAssignment]:
        """Assignments of a definition due for [start, end], each with its target in force."""
        stmt = select(
            Assignment.id,
            Assignment.subject_type,
            Assignment.subject_id,
            Assignment.team_id,
            Assignment.weight,
            Assignment.baseline_value,
            target_in_force(end).label("target_value"),
        ).where(
            AssignmentRepository.in_tenant(tenant_id), Assignment.definition_id == definition_id
        )
        if require_overlap:
            stmt = stmt.where(
                Assignment.start_date <= end,
                (Assignment.end_date.is_(None)) | (Assignment.end_date >= start),
            )
        if assignment_ids is not None:
            stmt = stmt.where(among(Assignment.id, assignment_ids))
        if subject_ids is not None:
            stmt = stmt.where(among(Assignment.subject_id, subject_ids))
        rows = (await self.session.execute(stmt.order_by(Assignment.id))).all()
        return [DueAssignment(*row) for row in rows]

    async def for_period(
        self, tenant_id: str, assignment_ids: Sequence[int], start: date, end: date
    ) -> dict[int, Any]:
        """Existing measurements of these assignments for exactly [start, end], as rows
        (attribute access like the model, without the cost of ORM objects)."""
        stmt = select(*Measurement.__table__.columns).where(
            self.in_tenant(tenant_id),
            among(Measurement.assignment_id, assignment_ids),
            Measurement.period_start == start,
            Measurement.period_end == end,
        )
        return {m.assignment_id: m for m in (await self.session.execute(stmt)).all()}

    async def aligned_values(
        self, tenant_id: str, assignment_ids: Sequence[int], start: date
    ) -> dict[int, Decimal | None]:
        """Actual values of the aligned period starting on `start`, by assignment."""
        stmt = select(Measurement.assignment_id, Measurement.actual_value).where(
            self.in_tenant(tenant_id),
            among(Measurement.assignment_id, assignment_ids),
            Measurement.aligned.is_(True),
            Measurement.period_start == start,
        )
        return {row[0]: row[1] for row in (await self.session.execute(stmt)).all()}

    async def values_of(
        self,
        tenant_id: str,
        keys: Sequence[str],
        start: date,
        end: date,
        subject_type: str,
        subject_ids: Sequence[str],
    ) -> dict[tuple[str, str], Decimal | None]:
        """Actual values of other KPIs for the same period and subjects, by (subject, key)."""
        stmt = (
            select(Assignment.subject_id, Definition.key, Measurement.actual_value)
            .join(Assignment, joins.assignment_of(Measurement))
            .join(Definition, joins.definition_of(Measurement))
            .where(
                self.in_tenant(tenant_id),
                Definition.key.in_(list(keys)),
                Measurement.period_start == start,
                Measurement.period_end == end,
                Assignment.subject_type == subject_type,
                among(Assignment.subject_id, subject_ids),
            )
        )
        return {(s, k): v for s, k, v in (await self.session.execute(stmt)).all()}

    async def members(
        self, tenant_id: str, team_ids: Sequence[str] | None, start: date, end: date
    ) -> dict[str, list[str]]:
        """Member user ids by team (or, with team_ids None, by the organisation's subject id,
        the tenant): users with a user assignment of any of the tenant's definitions in force
        during [start, end], recording that team. The service keeps no roster of its own."""
        group = Assignment.team_id if team_ids is not None else Assignment.tenant_id
        stmt = (
            select(group, Assignment.subject_id)
            .distinct()
            .where(
                AssignmentRepository.in_tenant(tenant_id),
                Assignment.subject_type == SubjectType.USER,
                Assignment.start_date <= end,
                (Assignment.end_date.is_(None)) | (Assignment.end_date >= start),
            )
            .order_by(group, Assignment.subject_id)
        )
        if team_ids is not None:
            stmt = stmt.where(among(Assignment.team_id, team_ids))
        found: dict[str, list[str]] = {}
        for subject, user in (await self.session.execute(stmt)).all():
            found.setdefault(str(subject), []).append(user)  # never null: filtered above
        return found

    def derivation_inputs(
        self,
        tenant_id: str,
        *,
        definition_ids: Sequence[int] | None,
        assignment_ids: Sequence[int] | None,
        since: date | None,
        until: date | None,
        unfinal_before: date | None,
    ) -> Select[Any]:
        """Stored measurements with everything their derived figures depend on, in one
        statement: the row (its columns), its definition, its assignment's fields, the
        target in force at the period's end and the previous aligned period's stored value.

        `since`: periods ending on or after it; `until`: periods starting on or before it;
        `unfinal_before`: only rows stored as not final whose period ended before that day.
        """
        prev = Measurement.__table__.alias("prev")
        stmt = (
            select(
                *Measurement.__table__.columns,
                Definition,
                Assignment.subject_type.label("a_subject_type"),
                Assignment.subject_id.label("a_subject_id"),
                Assignment.team_id.label("a_team_id"),
                Assignment.weight.label("a_weight"),
                Assignment.baseline_value.label("a_baseline"),
                target_in_force(Measurement.__table__.c.period_end).label("target_in_force"),
                prev.c.actual_value.label("previous_stored"),
            )
            .join(Assignment, joins.assignment_of(Measurement))
            .join(Definition, joins.definition_of(Measurement))
            # The previous aligned period of the same kind ends the day before this one starts.
            .outerjoin(
                prev,
                and_(
                    Measurement.aligned.is_(True),
                    prev.c.aligned.is_(True),
                    prev.c.tenant_id == Measurement.tenant_id,
                    prev.c.assignment_id == Measurement.assignment_id,
                    prev.c.period_end == Measurement.period_start - 1,
                ),
            )
            .where(self.in_tenant(tenant_id))
            .order_by(Measurement.id)
        )
        if definition_ids is not None:
            stmt = stmt.where(among(Measurement.definition_id, definition_ids))
        if assignment_ids is not None:
            stmt = stmt.where(among(Measurement.assignment_id, assignment_ids))
        if since is not None:
            stmt = stmt.where(Measurement.period_end >= since)
        if until is not None:
            stmt = stmt.where(Measurement.period_start <= until)
        if unfinal_before is not None:
            stmt = stmt.where(
                Measurement.is_final.is_(False), Measurement.period_end < unfinal_before
            )
        return stmt

    async def tenants(self, unfinal_before: date | None = None) -> list[str]:
        """Tenants with measurements (only those stored not final whose period ended before
        `unfinal_before`, when given)."""
        stmt = select(Measurement.tenant_id).distinct().order_by(Measurement.tenant_id)
        if unfinal_before is not None:
            stmt = stmt.where(
                Measurement.is_final.is_(False), Measurement.period_end < unfinal_before
            )
        return list((await self.session.scalars(stmt)).all())

    async def lock_tenant(self, tenant_id: str, purpose: str) -> None:
        """A transaction-level advisory lock on (purpose, tenant): replicas doing the same
        work for the same tenant take turns."""
        await self.session.execute(
            select(
                func.pg_advisory_xact_lock(func.hashtextextended(f"kpi-{purpose}:{tenant_id}", 0))
            )
        )

    async def add_revisions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Keep the previous state of changed measurements, in one batch."""
        if rows:
            await self.session.execute(insert(MeasurementRevision), list(rows))

    async def upsert(self, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
        """Insert or update measurements in bulk; returns measurement id by assignment id.

        The rows are COPied into a session-local staging table, then merged with one
        INSERT ... SELECT ... ON CONFLICT DO UPDATE: no SQL is built per row.
        """
        if not rows:
            return {}
        await self.session.execute(
            text(
                f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} ON COMMIT DELETE ROWS AS "  # noqa: S608
                f"SELECT {', '.join(_UPSERTED)} FROM {SCHEMA}.measurements WITH NO DATA"
            )
        )
        records = [
            tuple(json.dumps(row[c]) if c == "details" else row[c] for c in _UPSERTED)
            for row in rows
        ]
        connection = await self.session.connection()
        driver: Any = (await connection.get_raw_connection()).driver_connection
        await driver.copy_records_to_table(_STAGING, records=records, columns=_UPSERTED)
        result = await self.session.execute(text(_MERGE))
        ids = {a: m for a, m in result.all()}
        await self.session.execute(text(f"TRUNCATE {_STAGING}"))
        return ids

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

    async def rows(self, stmt: Select[Measurement, str, str, str]) -> Sequence[Any]:
        result: Sequence[Any] = (await self.session.execute(stmt)).all()
        return result

    async def page_rows(
        self,
        tenant_id: str,
        visible: ColumnElement[bool],
        filters: MeasurementFilters,
        *,
        after: int | None,
        limit: int,
    ) -> Sequence[Any]:
        """Up to `limit + 1` listing rows (see `listing`) after the id `after`."""
        stmt = self.listing(tenant_id, visible).where(*filters.conditions())
        return await self.rows(keyset(stmt, Measurement.id, after, limit))

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
