"""The statements calculations and derivations run on measurements: set-based, one per
(definition, period); what the API lists is in `listing_repository`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Bundle

from kpi_service.assignments.repository import (
    AssignmentRepository,
    in_force_during,
    target_as_of,
)
from kpi_service.core.repository import Repository
from kpi_service.core.sql import among
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import (
    SCHEMA,
    Assignment,
    Definition,
    Measurement,
    MeasurementRevision,
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
class ValuesWanted:
    """Stored values to read: these KPIs' values for these subjects of one type."""

    subject_type: str
    keys: Sequence[str]
    subject_ids: Sequence[str]


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
    column of the enclosing query, such as a measurement's period end; see `target_as_of`)."""
    return target_as_of(Assignment.tenant_id, Assignment.id, period_end)


class _DueBundle(Bundle[DueAssignment]):
    """Columns that come back as one `DueAssignment` per row."""

    def create_row_processor(
        self,
        query: Select[Any],
        procs: Sequence[Callable[[Row[Any]], Any]],
        labels: Sequence[str],
    ) -> Callable[[Row[Any]], DueAssignment]:
        return lambda row: DueAssignment(*(proc(row) for proc in procs))


def due_assignment(period_end: date | ColumnElement[date]) -> _DueBundle:
    """The enclosing query's assignment as due for a period ending on `period_end` (see
    `target_in_force`), selected as one `DueAssignment` named `due`."""
    return _DueBundle(
        "due",
        Assignment.id,
        Assignment.subject_type,
        Assignment.subject_id,
        Assignment.team_id,
        Assignment.weight,
        Assignment.baseline_value,
        target_in_force(period_end).label("target_value"),
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
        measured_only: bool = False,
    ) -> list[DueAssignment]:
        """Assignments of a definition due for [start, end], each with its target in force
        (`measured_only`: only those with a measurement stored for exactly [start, end])."""
        stmt = select(due_assignment(end)).where(
            AssignmentRepository.in_tenant(tenant_id), Assignment.definition_id == definition_id
        )
        if require_overlap:
            stmt = stmt.where(
                in_force_during(Assignment.start_date, Assignment.end_date, start, end)
            )
        if assignment_ids is not None:
            stmt = stmt.where(among(Assignment.id, assignment_ids))
        if subject_ids is not None:
            stmt = stmt.where(among(Assignment.subject_id, subject_ids))
        if measured_only:
            stmt = stmt.where(
                exists().where(
                    joins.assignment_of(Measurement),
                    Measurement.period_start == start,
                    Measurement.period_end == end,
                )
            )
        return list((await self.session.scalars(stmt.order_by(Assignment.id))).all())

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
        self, tenant_id: str, start: date, end: date, wanted: Sequence[ValuesWanted]
    ) -> dict[tuple[str, str, str], Decimal | None]:
        """Actual values of KPIs for exactly [start, end], by (subject type, subject id, key),
        for every (subject type, keys, subject ids) wanted, in one statement."""
        if not wanted:
            return {}
        stmt = (
            select(
                Assignment.subject_type,
                Assignment.subject_id,
                Definition.key,
                Measurement.actual_value,
            )
            .join(Assignment, joins.assignment_of(Measurement))
            .join(Definition, joins.definition_of(Measurement))
            .where(
                self.in_tenant(tenant_id),
                Measurement.period_start == start,
                Measurement.period_end == end,
                or_(
                    *(
                        and_(
                            Assignment.subject_type == w.subject_type,
                            among(Definition.key, w.keys),
                            among(Assignment.subject_id, w.subject_ids),
                        )
                        for w in wanted
                    )
                ),
            )
        )
        return {(t, s, k): v for t, s, k, v in (await self.session.execute(stmt)).all()}

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
                in_force_during(Assignment.start_date, Assignment.end_date, start, end),
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
        statement: the row (its columns), its definition, its assignment (`due`, as due for
        the period) and the previous aligned period's stored value.

        `since`: periods ending on or after it; `until`: periods starting on or before it;
        `unfinal_before`: only rows stored as not final whose period ended before that day.
        """
        prev = Measurement.__table__.alias("prev")
        stmt = (
            select(
                *Measurement.__table__.columns,
                Definition,
                due_assignment(Measurement.__table__.c.period_end),
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
