"""Goal rules: whose goals, which KPIs and ranges, progress, and when a goal counts achieved."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.audit import service as audit
from kpi_service.core.access import readable_subject, visible_goals
from kpi_service.core.auth import Principal
from kpi_service.core.database import Database
from kpi_service.core.errors import Conflict, InvalidInput, field_error, found
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.settings import Settings
from kpi_service.definitions import service as definitions
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.goals import GoalPeriodError, check_fits, goal_period
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import GoalPeriodKind, PeriodKind, SubjectType
from kpi_service.goals.progress import settle, to_reads
from kpi_service.goals.repository import GoalFilters, GoalRepository, GoalRow, NaturalKey
from kpi_service.goals.schemas import GoalBulk, GoalCreate, GoalRead, GoalUpdate
from kpi_service.models import CalculationRun, Definition
from kpi_service.runs.plan import RunPlan

ENTITY = "goal"
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

Loc = list[str | int]


def _json(read: GoalRead) -> dict[str, Any]:
    return read.model_dump(mode="json")


def _invalid(loc: Loc, reason: str) -> NoReturn:
    where = ".".join(str(part) for part in loc[1:])
    raise InvalidInput(f"{where}: {reason}" if where else reason, errors=[field_error(loc, reason)])


def _definition_problem(definition: Definition) -> str | None:
    if definition.scope != SubjectType.USER:
        return (
            f"KPI {definition.key!r} is measured per {definition.scope}; goals are set "
            "on KPIs measured per user"
        )
    if not definition.is_active:
        return f"KPI {definition.key!r} is inactive"
    return None


def _period(kind: str, start: date | None, end: date | None, day: date) -> Period:
    """The goal's range (default: the calendar period holding today), or a 422 naming why."""
    goal_kind = GoalPeriodKind(kind)
    if start is None:
        if goal_kind is GoalPeriodKind.CUSTOM:
            _invalid(["body", "period_start"], "a custom goal needs a period_start")
        start = day
    try:
        return goal_period(goal_kind, start, end)
    except GoalPeriodError as exc:
        _invalid(["body", exc.field], exc.reason)


def _misfit(kind: str, period: Period, aggregation_period: str) -> GoalPeriodError | None:
    """Why the KPI's measurements (of that period kind) could never count towards such a
    goal, if so."""
    try:
        check_fits(GoalPeriodKind(kind), period, PeriodKind(aggregation_period))
    except GoalPeriodError as exc:
        return exc
    return None


def _row(
    principal: Principal,
    user_id: str,
    definition: Definition,
    kind: str,
    period: Period,
    target: Any,
) -> dict[str, Any]:
    return {
        "tenant_id": principal.tenant_id,
        "user_id": user_id,
        "definition_id": definition.id,
        "period_kind": kind,
        "period_start": period.start,
        "period_end": period.end,
        "target_value": target,
        "created_by": principal.user_id,
    }


def _key(row: dict[str, Any]) -> NaturalKey:
    return row["user_id"], row["definition_id"], row["period_start"], row["period_end"]


async def _stored(
    session: AsyncSession, settings: Settings, principal: Principal, ids: Sequence[int]
) -> list[GoalRead]:
    """These goals as stored now, in the order of `ids`."""
    rows = {r.goal.id: r for r in await GoalRepository(session).by_ids(principal.tenant_id, ids)}
    reads = {
        r.id: r for r in await to_reads(session, settings, principal.tenant_id, list(rows.values()))
    }
    return [reads[i] for i in ids]


async def create(
    session: AsyncSession, settings: Settings, principal: Principal, body: GoalCreate
) -> GoalRead:
    """Set a new goal for the caller, or for a user they manage."""
    user = await readable_subject(session, principal, SubjectType.USER, body.user_id)
    definition = await definitions.referenced(session, principal.tenant_id, body)
    problem = _definition_problem(definition)
    if problem is not None:
        _invalid(["body", body.reference_field], problem)
    period = _period(body.period_kind, body.period_start, body.period_end, settings.today())
    misfit = _misfit(body.period_kind, period, definition.aggregation_period)
    if misfit is not None:
        _invalid(["body", misfit.field], misfit.reason)
    row = _row(principal, user, definition, body.period_kind, period, body.target_value)
    goals = GoalRepository(session)
    taken = await goals.existing(principal.tenant_id, [_key(row)])
    if taken:
        (held,) = taken.values()
        raise Conflict(
            f"Goal {held.goal.id} already sets {definition.key!r} for user {user!r} "
            f"over {period.start.isoformat()}..{period.end.isoformat()}."
        )
    (goal_id,) = await goals.add_many([row])
    (created,) = await _stored(session, settings, principal, [goal_id])
    await audit.record(session, principal, "create", ENTITY, goal_id, after=_json(created))
    return created


def _kpi_key(given: str) -> str:
    """The KPI key a bulk map names: itself, or the snake_case form of a camelCase spelling."""
    return _CAMEL_HUMP.sub("_", given).lower()


async def _bulk_rows(
    session: AsyncSession, settings: Settings, principal: Principal, body: GoalBulk
) -> tuple[list[dict[str, Any]], dict[NaturalKey, GoalRow]]:
    """One goal row per entry of the map (or a 422 naming every entry that is refused), and
    the goals already set for those users, KPIs and periods."""
    user = await readable_subject(session, principal, SubjectType.USER, body.user_id)
    period = _period(body.period, body.period_start, body.period_end, settings.today())
    keys = {given: _kpi_key(given) for given in body.goals}
    defined = {
        d.key: d
        for d in await DefinitionRepository(session).find(
            principal.tenant_id, keys=sorted(set(keys.values()))
        )
    }
    errors: list[dict[str, Any]] = []
    unknown = [given for given, key in keys.items() if key not in defined]
    for given in unknown:
        errors.append(field_error(["body", "goals", given], "no such KPI definition"))
    named: dict[str, str] = {}
    rows = []
    for given, key in keys.items():
        if key not in defined:
            continue
        definition = defined[key]
        misfit = _misfit(body.period, period, definition.aggregation_period)
        problem = _definition_problem(definition) or (misfit.reason if misfit else None)
        if key in named:
            problem = f"names the same KPI as {named[key]!r}"
        named.setdefault(key, given)
        if problem is not None:
            errors.append(field_error(["body", "goals", given], problem))
            continue
        rows.append(_row(principal, user, definition, body.period, period, body.goals[given]))
    if unknown:
        raise InvalidInput(f"Unknown KPI keys: {', '.join(unknown)}.", errors=errors)
    if errors:
        first = errors[0]
        raise InvalidInput(f"goals.{first['loc'][-1]}: {first['msg']}", errors=errors)
    return rows, await GoalRepository(session).existing(
        principal.tenant_id, [_key(r) for r in rows]
    )


async def create_many(
    session: AsyncSession, settings: Settings, principal: Principal, body: GoalBulk
) -> list[GoalRead]:
    """Create a goal per KPI of the map, all or none (409 when one already exists)."""
    rows, taken = await _bulk_rows(session, settings, principal, body)
    if taken:
        listed = ", ".join(f"goal {r.goal.id} (KPI {r.goal.definition_id})" for r in taken.values())
        raise Conflict(f"These goals exist already: {listed}. PUT sets them instead.")
    added = await GoalRepository(session).add_many(rows)
    created = await _stored(session, settings, principal, added)
    await audit.record_many(
        session,
        [audit.entry(principal, "create", ENTITY, read.id, None, _json(read)) for read in created],
    )
    return created


async def set_many(
    session: AsyncSession, settings: Settings, principal: Principal, body: GoalBulk
) -> list[GoalRead]:
    """Create the goals of the map, or set the targets of those that exist for that period."""
    rows, taken = await _bulk_rows(session, settings, principal, body)
    before = {
        r.id: r
        for r in await to_reads(session, settings, principal.tenant_id, list(taken.values()))
    }
    upserted = await GoalRepository(session).upsert_many(rows)
    stored = await _stored(session, settings, principal, upserted)
    await audit.record_many(
        session,
        [
            audit.entry(
                principal,
                "update" if read.id in before else "create",
                ENTITY,
                read.id,
                _json(before[read.id]) if read.id in before else None,
                _json(read),
            )
            for read in stored
        ],
    )
    return stored


async def list_goals(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    filters: GoalFilters,
    paging: Paging,
) -> Slice[GoalRead]:
    """One page of the goals the caller may see, in id order, each with its progress."""
    page = await GoalRepository(session).page_rows(visible_goals(principal), filters, paging)
    return Slice(
        await to_reads(session, settings, principal.tenant_id, page.items), page.next_cursor
    )


async def _visible(session: AsyncSession, principal: Principal, goal_id: int) -> GoalRow:
    row = await GoalRepository(session).get_where(visible_goals(principal), goal_id)
    return found(row, f"Goal {goal_id} does not exist.")


async def get(
    session: AsyncSession, settings: Settings, principal: Principal, goal_id: int
) -> GoalRead:
    """One goal the caller may see, with its progress."""
    (read,) = await to_reads(
        session, settings, principal.tenant_id, [await _visible(session, principal, goal_id)]
    )
    return read


async def update(
    session: AsyncSession, settings: Settings, principal: Principal, goal_id: int, body: GoalUpdate
) -> GoalRead:
    """Change a goal's target or range; a changed goal's achievement is judged afresh."""
    row = await _visible(session, principal, goal_id)
    (before,) = await to_reads(session, settings, principal.tenant_id, [row])
    goal, requested = row.goal, body.model_dump(exclude_unset=True)
    kind = requested.get("period_kind", goal.period_kind)
    start = requested.get("period_start", goal.period_start)
    # An aligned goal's end follows from its start; a custom one keeps its end unless given.
    end = requested.get("period_end", goal.period_end if kind == GoalPeriodKind.CUSTOM else None)
    period = _period(kind, start, end, start)
    misfit = _misfit(kind, period, row.aggregation_period)  # the row carries its KPI's
    if misfit is not None:
        _invalid(["body", misfit.field], misfit.reason)
    changes: dict[str, Any] = {
        "period_kind": kind,
        "period_start": period.start,
        "period_end": period.end,
        "target_value": requested.get("target_value", goal.target_value),
    }
    changes = {k: v for k, v in changes.items() if getattr(goal, k) != v}
    goals = GoalRepository(session)
    moved = (goal.user_id, goal.definition_id, period.start, period.end)
    if {"period_start", "period_end"} & changes.keys():
        taken = await goals.existing(principal.tenant_id, [moved])
        if taken:
            raise Conflict(
                f"Goal {taken[moved].goal.id} already covers that range for this KPI and user."
            )
    if changes.keys() - {"period_kind"}:
        changes["achieved_at"] = None
    if changes:
        await goals.update_by_id(principal.tenant_id, goal.id, changes)
    (after,) = await _stored(session, settings, principal, [goal.id])
    await audit.record(
        session, principal, "update", ENTITY, goal.id, before=_json(before), after=_json(after)
    )
    return after


async def delete(
    session: AsyncSession, settings: Settings, principal: Principal, goal_id: int
) -> GoalRead:
    """Remove a goal; the answer is the goal as it was."""
    row = await _visible(session, principal, goal_id)
    (before,) = await to_reads(session, settings, principal.tenant_id, [row])
    await GoalRepository(session).delete(principal.tenant_id, goal_id)
    await audit.record(session, principal, "delete", ENTITY, goal_id, before=_json(before))
    return before


async def after_run(database: Database, settings: Settings, run: CalculationRun) -> None:
    """Bring the achievement stamps of every goal the run's periods touch up to date
    (`settle`): one statement reads them all with what their periods hold."""
    pairs = [(step.definition_id, step.start) for step in RunPlan.decode(run.plan)]
    if not pairs:
        return
    async with database.unit_of_work() as session:
        goals = GoalRepository(session)
        rows = await goals.touched_by(run.tenant_id, [d for d, _ in pairs], [s for _, s in pairs])
        await settle(session, settings, run.tenant_id, rows)
