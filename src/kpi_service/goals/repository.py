"""Goal statements: goals read with what their periods hold in one statement; never committed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kpi_service.assignments.repository import in_force_during
from kpi_service.core.access import held_by
from kpi_service.core.repository import Filters, Repository, equal_to, where
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.sql import among
from kpi_service.engine.goals import Measured
from kpi_service.models import Assignment, Definition, Goal, Measurement, joins

# (user_id, definition_id, period_start, period_end): what makes a goal unique in a tenant.
NaturalKey = tuple[str, int, date, date]


@dataclass(frozen=True, slots=True)
class GoalFilters(Filters):
    """What a list of goals may be narrowed to; None means any."""

    user_id: str | None = equal_to(Goal.user_id)
    definition_id: int | None = equal_to(Goal.definition_id)
    definition_key: str | None = equal_to(Definition.key)
    period_kind: str | None = equal_to(Goal.period_kind)
    active_on: date | None = where(
        lambda day: and_(Goal.period_start <= day, Goal.period_end >= day)
    )


@dataclass(frozen=True, slots=True)
class GoalRow:
    """A goal with its KPI's settings and what the periods counted for it hold."""

    goal: Goal
    definition_key: str
    target_type: str
    rollup: str
    warning_threshold: Decimal
    measured: Measured
    aggregation_period: str


def _measured() -> Any:
    """Per goal (a LATERAL subquery): the user's aligned measured periods of the goal's KPI
    starting within its range, each under an assignment in force in it; a period measured
    under two assignments counts once, with the value of the assignment that started later."""
    per_period = (
        select(
            Measurement.period_start.label("period_start"), Measurement.actual_value.label("value")
        )
        .join(Assignment, joins.assignment_of(Measurement))
        .where(
            Assignment.tenant_id == Goal.tenant_id,
            Assignment.definition_id == Goal.definition_id,
            held_by(Goal.user_id),
            Measurement.tenant_id == Goal.tenant_id,
            Measurement.aligned.is_(True),
            Measurement.actual_value.is_not(None),
            Measurement.period_start >= Goal.period_start,
            Measurement.period_start <= Goal.period_end,
            in_force_during(
                Assignment.start_date,
                Assignment.end_date,
                Measurement.period_start,
                Measurement.period_end,
            ),
        )
        .ext(distinct_on(Measurement.period_start))
        .order_by(Measurement.period_start, Assignment.start_date.desc(), Assignment.id.desc())
        .correlate(Goal)
        .subquery("per_period")
    )
    value = per_period.c.value
    latest = func.array_agg(
        aggregate_order_by(value, per_period.c.period_start.desc()), type_=ARRAY(value.type)
    )
    return select(
        func.count().label("periods"),
        func.sum(value).label("total"),
        func.min(value).label("minimum"),
        func.max(value).label("maximum"),
        latest[1].label("last"),
    ).lateral("measured")


def _with_progress() -> Select[Any]:
    measured = _measured()
    return (
        select(
            Goal,
            Definition.key,
            Definition.target_type,
            Definition.rollup,
            Definition.warning_threshold,
            measured.c.periods,
            measured.c.total,
            measured.c.minimum,
            measured.c.maximum,
            measured.c.last,
            Definition.aggregation_period,
        )
        .join(Definition, joins.definition_of(Goal))
        .join(measured, true())
        # Rows may have been changed behind the identity map's back (achieved_at stamps).
        .execution_options(populate_existing=True)
    )


def _row(row: Any) -> GoalRow:
    goal, key, target_type, rollup, threshold, periods, total, minimum, maximum, last, kind = row
    return GoalRow(
        goal,
        key,
        target_type,
        rollup,
        threshold,
        Measured(periods, total, minimum, maximum, last),
        kind,
    )


class GoalRepository(Repository[Goal]):
    """Reads and writes of `kpi.goals` for one session."""

    model = Goal

    async def _rows(self, stmt: Select[Any]) -> list[GoalRow]:
        return [_row(r) for r in (await self.session.execute(stmt)).all()]

    async def get_where(self, condition: ColumnElement[bool], goal_id: int) -> GoalRow | None:
        """The goal with that id and its progress inputs, if it meets the condition."""
        rows = await self._rows(_with_progress().where(condition, Goal.id == goal_id))
        return rows[0] if rows else None

    async def by_ids(self, tenant_id: str, ids: Sequence[int]) -> list[GoalRow]:
        """These goals of the tenant with their progress inputs, in id order."""
        stmt = _with_progress().where(self.in_tenant(tenant_id), among(Goal.id, ids))
        return await self._rows(stmt.order_by(Goal.id))

    async def page_rows(
        self,
        condition: ColumnElement[bool],
        filters: GoalFilters,
        paging: Paging,
    ) -> Slice[GoalRow]:
        """One page of the goals meeting the condition and filters, with their progress
        inputs."""
        stmt = _with_progress().where(condition, *filters.conditions())
        return (await self.page_of(stmt, paging)).map(_row)

    async def touched_by(
        self, tenant_id: str, definition_ids: Sequence[int], starts: Sequence[date]
    ) -> list[GoalRow]:
        """Goals in whose range one of these (definition, period start) pairs falls, with
        their progress inputs."""
        plan = (
            func.unnest(
                literal(list(definition_ids), ARRAY(BigInteger)), literal(list(starts), ARRAY(Date))
            )
            .table_valued("definition_id", "period_start")
            .render_derived("plan")
        )
        touched = (
            exists()
            .select_from(plan)
            .where(
                plan.c.definition_id == Goal.definition_id,
                plan.c.period_start >= Goal.period_start,
                plan.c.period_start <= Goal.period_end,
            )
        )
        stmt = _with_progress().where(
            self.in_tenant(tenant_id),
            among(Goal.definition_id, sorted(set(definition_ids))),
            touched,
        )
        return await self._rows(stmt.order_by(Goal.id))

    async def existing(
        self, tenant_id: str, keys: Sequence[NaturalKey]
    ) -> dict[NaturalKey, GoalRow]:
        """The goals holding these natural keys in the tenant, with their progress inputs."""
        if not keys:
            return {}
        columns = (Goal.user_id, Goal.definition_id, Goal.period_start, Goal.period_end)
        stmt = _with_progress().where(self.in_tenant(tenant_id), tuple_(*columns).in_(list(keys)))
        return {
            (r.goal.user_id, r.goal.definition_id, r.goal.period_start, r.goal.period_end): r
            for r in await self._rows(stmt)
        }

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert goals in one statement; their ids in the order given."""
        stmt = insert(Goal).returning(Goal.id, sort_by_parameter_order=True)
        return list((await self.session.scalars(stmt, list(rows))).all())

    async def upsert_many(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert goals, or set the kind and target of those already holding the same user,
        KPI and range (a changed target is a new goal: its achievement is judged afresh);
        one statement, ids in the order given."""
        inserted = pg_insert(Goal).values(list(rows))
        changed = Goal.target_value != inserted.excluded.target_value
        stmt = inserted.on_conflict_do_update(
            index_elements=["tenant_id", "user_id", "definition_id", "period_start", "period_end"],
            set_={
                "period_kind": inserted.excluded.period_kind,
                "target_value": inserted.excluded.target_value,
                "updated_at": func.now(),
                "achieved_at": case((changed, null()), else_=Goal.achieved_at),
            },
        ).returning(Goal.user_id, Goal.definition_id, Goal.period_start, Goal.period_end, Goal.id)
        ids = {(u, d, s, e): i for u, d, s, e, i in (await self.session.execute(stmt)).all()}
        return [
            ids[(r["user_id"], r["definition_id"], r["period_start"], r["period_end"])]
            for r in rows
        ]

    async def update_by_id(self, tenant_id: str, goal_id: int, values: dict[str, Any]) -> None:
        """Apply changes to one goal and stamp `updated_at` (the row is not loaded: goals are
        read with their progress, never as plain rows)."""
        stmt = (
            update(Goal)
            .where(self.in_tenant(tenant_id), Goal.id == goal_id)
            .values(**values, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)

    async def delete(self, tenant_id: str, goal_id: int) -> None:
        """Remove one goal."""
        await self.session.execute(
            delete(Goal).where(self.in_tenant(tenant_id), Goal.id == goal_id)
        )

    async def clear_achieved(self, tenant_id: str, ids: Sequence[int]) -> None:
        """Remove these goals' achievement stamps (stamped before their result was settled)."""
        if ids:
            await self.session.execute(
                update(Goal)
                .where(self.in_tenant(tenant_id), among(Goal.id, ids))
                .values(achieved_at=None)
                .execution_options(synchronize_session=False)
            )

    async def mark_achieved(self, tenant_id: str, ids: Sequence[int]) -> dict[int, datetime | None]:
        """Stamp these goals achieved now unless they already are; the stamp each holds."""
        if not ids:
            return {}
        stmt = (
            update(Goal)
            .where(self.in_tenant(tenant_id), among(Goal.id, ids))
            .values(achieved_at=func.coalesce(Goal.achieved_at, func.now()))
            .returning(Goal.id, Goal.achieved_at)
            .execution_options(synchronize_session=False)
        )
        return {i: at for i, at in (await self.session.execute(stmt)).all()}
