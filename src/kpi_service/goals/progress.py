"""A goal's progress from its periods, when it counts achieved (its stamp kept up to date),
and what it reads as."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.settings import Settings
from kpi_service.engine.goals import (
    GoalProgress,
    goal_progress,
    is_achieved,
    settles_on,
    stamped_too_early,
)
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import GoalStatus, PeriodKind
from kpi_service.goals.repository import GoalRepository, GoalRow
from kpi_service.goals.schemas import GoalRead
from kpi_service.models import Goal

# The goal's own columns a read shows as stored (its stamp and status are worked out).
_SHOWN_COLUMNS = [name for name in GoalRead.model_fields if name in inspect(Goal).columns]


def progress_of(row: GoalRow) -> GoalProgress:
    """A goal's progress from what its periods hold, as its KPI rolls them up."""
    return goal_progress(
        row.measured,
        rollup=row.rollup,
        target=row.goal.target_value,
        target_type=row.target_type,
        warning_threshold=row.warning_threshold,
    )


def _range(row: GoalRow) -> Period:
    return Period(None, row.goal.period_start, row.goal.period_end)


def achieved_now(row: GoalRow, progress: GoalProgress, day: date) -> bool:
    """Whether the goal counts achieved on `day` (see `engine.goals.is_achieved`)."""
    return is_achieved(
        progress,
        row.measured,
        rollup=row.rollup,
        target_type=row.target_type,
        goal=_range(row),
        kpi_kind=PeriodKind(row.aggregation_period),
        today=day,
    )


def premature(row: GoalRow, settings: Settings) -> bool:
    """Whether the goal's stored achievement stamp came before its result was settled."""
    stamp = row.goal.achieved_at
    return stamp is not None and stamped_too_early(
        settings.today(stamp),
        row.measured,
        rollup=row.rollup,
        target_type=row.target_type,
        goal=_range(row),
        kpi_kind=PeriodKind(row.aggregation_period),
    )


def to_read(
    row: GoalRow, progress: GoalProgress, achieved_at: datetime | None, day: date
) -> GoalRead:
    goal = row.goal
    final = day > settles_on(_range(row), PeriodKind(row.aggregation_period))
    status = progress.status
    if not final and achieved_at is None and status is not GoalStatus.NO_DATA:
        # Not judged met, at risk or off track before the range is over.
        status = GoalStatus.IN_PROGRESS
    return GoalRead.model_validate(
        {
            **{name: getattr(goal, name) for name in _SHOWN_COLUMNS},
            "definition_key": row.definition_key,
            "target_type": row.target_type,
            "rollup": row.rollup,
            **dataclasses.asdict(progress),
            "status": status.value,
            "is_final": final,
            "achieved_at": achieved_at,
        }
    )


async def settle(
    session: AsyncSession, settings: Settings, tenant_id: str, rows: Sequence[GoalRow]
) -> dict[int, datetime | None]:
    """Bring the goals' achievement stamps up to date: stamps made before the result was
    settled are cleared, goals achieved now and not stamped are stamped now (a statement
    each); every goal's stamp."""
    day = settings.today()
    cleared = [row.goal.id for row in rows if premature(row, settings)]
    held = {row.goal.id: None if row.goal.id in cleared else row.goal.achieved_at for row in rows}
    achieved = [
        row.goal.id
        for row in rows
        if held[row.goal.id] is None and achieved_now(row, progress_of(row), day)
    ]
    goals = GoalRepository(session)
    await goals.clear_achieved(tenant_id, cleared)
    return {**held, **await goals.mark_achieved(tenant_id, achieved)}


async def to_reads(
    session: AsyncSession, settings: Settings, tenant_id: str, rows: Sequence[GoalRow]
) -> list[GoalRead]:
    """The goals as the API shows them, their stamps brought up to date first (`settle`), so
    a value recorded since the last run is not missed."""
    stamps = await settle(session, settings, tenant_id, rows)
    day = settings.today()
    return [to_read(row, progress_of(row), stamps[row.goal.id], day) for row in rows]
