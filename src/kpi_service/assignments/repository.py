"""Assignment and target statements: scoped by the caller's condition, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Row,
    Text,
    and_,
    bindparam,
    column,
    func,
    insert,
    or_,
    select,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kpi_service.core.access import held_by
from kpi_service.core.repository import Filters, Repository, equal_to, where
from kpi_service.core.schemas import Paging, Slice
from kpi_service.models import Assignment, AssignmentTarget, Definition, joins

# (definition_id, subject_type, subject_id, start_date): what makes an assignment unique.
NaturalKey = tuple[int, str, str, date]
# (definition_id, subject_type, subject_id): at most one assignment of it in force on a day.
SubjectKpi = tuple[int, str, str]
# (index, definition_id, subject_type, subject_id, start_date, end_date or None): wanted dates.
Span = tuple[int, int, str, str, date, date | None]


def in_force_during(
    start_date: Any, end_date: Any, period_start: Any, period_end: Any
) -> ColumnElement[bool]:
    """An assignment dated [start_date, end_date] (null: open) is in force during some of
    [period_start, period_end]: only then does a measurement of that period show for it."""
    return and_(start_date <= period_end, or_(end_date.is_(None), end_date >= period_start))


def overlaps(start: date, end: date | None, other_start: date, other_end: date | None) -> bool:
    """Two date spans (an end None: open) share a day: `in_force_during` in Python."""
    return (end is None or other_start <= end) and (other_end is None or other_end >= start)


def is_in_force_during(assignment: Assignment, period_start: date, period_end: date) -> bool:
    """`in_force_during` for an assignment already loaded: it is in force during some of
    [period_start, period_end]."""
    return overlaps(assignment.start_date, assignment.end_date, period_start, period_end)


def target_as_of(tenant_id: Any, assignment_id: Any, day: Any) -> Any:
    """The target of an assignment in force on `day`, as a scalar subquery (each argument a
    value or a column of the enclosing query): the latest one effective on or before it, its
    value None when it leaves the target out; before the first one takes effect (only the
    seed's calculate route computes such a range), the first one."""
    effective_from = AssignmentTarget.effective_from
    # One row, not `coalesce(latest, first)`: a target left out is a null to keep, not to
    # replace. Those in force come first, the latest of them; else the earliest to come.
    return (
        select(AssignmentTarget.target_value)
        .where(
            AssignmentTarget.tenant_id == tenant_id,
            AssignmentTarget.assignment_id == assignment_id,
        )
        .order_by(effective_from > day, func.abs(effective_from - day))
        .limit(1)
        .correlate_except(AssignmentTarget)
        .scalar_subquery()
    )


@dataclass(frozen=True, slots=True)
class AssignmentFilters(Filters):
    """What a list of assignments may be narrowed to; None means any."""

    user_id: str | None = where(held_by)
    subject_type: str | None = equal_to(Assignment.subject_type)
    subject_id: str | None = equal_to(Assignment.subject_id)
    team_id: str | None = equal_to(Assignment.team_id)
    definition_id: int | None = equal_to(Assignment.definition_id)
    active_on: date | None = where(
        lambda day: in_force_during(Assignment.start_date, Assignment.end_date, day, day)
    )


class AssignmentRepository(Repository[Assignment]):
    """Reads and writes of `kpi.assignments` and `kpi.assignment_targets` for one session."""

    model = Assignment

    async def get_with_definition(
        self, condition: ColumnElement[bool], assignment_id: int
    ) -> tuple[Assignment, Definition] | None:
        """The assignment with that id and its definition, if it meets the condition."""
        stmt = (
            select(Assignment, Definition)
            .join(Definition, joins.definition_of(Assignment))
            .where(condition, Assignment.id == assignment_id)
        )
        return (await self.session.execute(stmt)).one_or_none()

    async def page_rows(
        self,
        condition: ColumnElement[bool],
        filters: AssignmentFilters,
        paging: Paging,
    ) -> Slice[Row[Assignment, str]]:
        """One page of the assignments meeting the condition and filters, with their
        definitions' keys."""
        stmt = (
            select(Assignment, Definition.key)
            .join(Definition, joins.definition_of(Assignment))
            .where(condition, *filters.conditions())
        )
        return await self.page_of(stmt, paging)

    async def lock_subjects(self, tenant_id: str, pairs: Sequence[SubjectKpi]) -> None:
        """Serialise the requests that change who holds these (definition, subject) pairs,
        until the transaction ends (taken in one order, so two requests cannot deadlock)."""
        keys = sorted({f"kpi-assign:{tenant_id}:{d}:{t}:{s}" for d, t, s in pairs})
        ordered = (
            select(func.unnest(bindparam("keys", keys, type_=ARRAY(Text))).label("key"))
            .order_by("key")
            .subquery("ordered")
        )
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(ordered.c.key, 0)))
        )

    async def overlapping(
        self, tenant_id: str, spans: Sequence[Span]
    ) -> list[tuple[int, Assignment]]:
        """The stored assignments whose dates overlap each span (its index in `spans`, the
        assignment), for all spans in one statement, by index then start date."""
        if not spans:
            return []
        wanted = values(
            column("i", Integer),
            column("definition_id", BigInteger),
            column("subject_type", Text),
            column("subject_id", Text),
            column("start_date", Date),
            column("end_date", Date),
            # An open end as the last day: a NULL in VALUES would have no type.
            name="wanted",
        ).data([(*span[:5], span[5] or date.max) for span in spans])
        stmt = (
            select(wanted.c.i, Assignment)
            .join(
                wanted,
                and_(
                    Assignment.definition_id == wanted.c.definition_id,
                    Assignment.subject_type == wanted.c.subject_type,
                    Assignment.subject_id == wanted.c.subject_id,
                ),
            )
            .where(
                self.in_tenant(tenant_id),
                in_force_during(
                    Assignment.start_date,
                    Assignment.end_date,
                    wanted.c.start_date,
                    wanted.c.end_date,
                ),
            )
            .order_by(wanted.c.i, Assignment.start_date, Assignment.id)
        )
        return [(i, a) for i, a in (await self.session.execute(stmt)).all()]

    async def holders(self, tenant_id: str, definition_ids: Sequence[int]) -> set[SubjectKpi]:
        """Every (definition, subject type, subject) holding an assignment of these
        definitions, in force or not."""
        stmt = (
            select(Assignment.definition_id, Assignment.subject_type, Assignment.subject_id)
            .distinct()
            .where(self.in_tenant(tenant_id), Assignment.definition_id.in_(list(definition_ids)))
        )
        return {(d, t, s) for d, t, s in (await self.session.execute(stmt)).all()}

    async def end_on(self, tenant_id: str, ends: dict[int, date]) -> Sequence[Assignment]:
        """Set these assignments' end dates (id: end) in one statement; the rows as stored."""
        if not ends:
            return []
        given = values(column("id", BigInteger), column("end_date", Date), name="given").data(
            sorted(ends.items())
        )
        stmt = (
            update(Assignment)
            .where(self.in_tenant(tenant_id), Assignment.id == given.c.id)
            .values(end_date=given.c.end_date, updated_at=func.now())
            .returning(Assignment)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.scalars(stmt)).all()

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> list[Assignment]:
        """Insert assignments in one statement; returned in the order given."""
        # Asking SQLAlchemy to keep the order costs one statement per row with this key
        # (tenant_id given, id generated), so match the rows up by their natural key instead.
        stmt = insert(Assignment).returning(Assignment)
        inserted = (await self.session.scalars(stmt, list(rows))).all()
        by_key = {
            (a.definition_id, a.subject_type, a.subject_id, a.start_date): a for a in inserted
        }
        return [
            by_key[(r["definition_id"], r["subject_type"], r["subject_id"], r["start_date"])]
            for r in rows
        ]


class TargetRepository(Repository[AssignmentTarget]):
    """Reads and writes of `kpi.assignment_targets` for one session."""

    model = AssignmentTarget

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> Sequence[AssignmentTarget]:
        """Insert targets in one statement; returned in the order given."""
        stmt = insert(AssignmentTarget).returning(AssignmentTarget, sort_by_parameter_order=True)
        return (await self.session.scalars(stmt, list(rows))).all()

    async def set_target(
        self,
        tenant_id: str,
        assignment_id: int,
        effective_from: date,
        target_value: Decimal | None,
        set_by: str,
    ) -> None:
        """Add the target from that date on (None: no target from then on), or replace the
        one already set for that date."""
        stmt = pg_insert(AssignmentTarget).values(
            tenant_id=tenant_id,
            assignment_id=assignment_id,
            effective_from=effective_from,
            target_value=target_value,
            set_by=set_by,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "assignment_id", "effective_from"],
            set_={
                "target_value": stmt.excluded.target_value,
                "set_by": stmt.excluded.set_by,
                "created_at": func.now(),
            },
        )
        await self.session.execute(stmt)

    async def of_assignments(
        self, tenant_id: str, assignment_ids: Sequence[int]
    ) -> Sequence[AssignmentTarget]:
        """Every target of those assignments, by assignment then effective date."""
        if not assignment_ids:
            return []
        stmt = (
            self.select(tenant_id)
            .where(AssignmentTarget.assignment_id.in_(assignment_ids))
            .order_by(AssignmentTarget.assignment_id, AssignmentTarget.effective_from)
            # Targets may have been upserted behind the identity map's back.
            .execution_options(populate_existing=True)
        )
        return await self.all(stmt)
