"""Assignment rules: who may assign what to whom, dates, uniqueness, effective-dated targets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments.creation import create_all
from kpi_service.assignments.in_force import refuse_later_overlap
from kpi_service.assignments.reads import ENTITY, as_json, to_reads
from kpi_service.assignments.repository import (
    AssignmentFilters,
    AssignmentRepository,
    TargetRepository,
)
from kpi_service.assignments.schemas import (
    AssignmentCreate,
    AssignmentRead,
    AssignmentUpdate,
)
from kpi_service.audit import service as audit
from kpi_service.core.access import can_manage, visible_assignments
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Forbidden, InvalidInput, field_error, found
from kpi_service.core.schemas import Paging, Slice
from kpi_service.core.settings import Settings
from kpi_service.measurements.derivation import rederive
from kpi_service.models import Assignment, Definition


async def create(
    session: AsyncSession, principal: Principal, body: AssignmentCreate, *, settings: Settings
) -> AssignmentRead:
    """Assign a definition to a subject, with its first target from the start date."""
    (created,) = await create_all(session, principal, [body], bulk=False, settings=settings)
    await audit.record(session, principal, "create", ENTITY, created.id, after=as_json(created))
    return created


async def create_many(
    session: AsyncSession,
    principal: Principal,
    bodies: Sequence[AssignmentCreate],
    *,
    settings: Settings,
) -> list[AssignmentRead]:
    """Create all these assignments, or none when any of them is refused."""
    created = await create_all(session, principal, bodies, bulk=True, settings=settings)
    await audit.record_many(
        session,
        [
            audit.entry(principal, "create", ENTITY, read.id, None, as_json(read))
            for read in created
        ],
    )
    return created


async def list_assignments(
    session: AsyncSession,
    principal: Principal,
    filters: AssignmentFilters,
    paging: Paging,
    *,
    settings: Settings,
) -> Slice[AssignmentRead]:
    """One page of the assignments the principal may see, in id order."""
    page = await AssignmentRepository(session).page_rows(
        visible_assignments(principal), filters, paging
    )
    items = await to_reads(session, principal.tenant_id, page.items, settings.today())
    return Slice(items=items, next_cursor=page.next_cursor)


async def get_visible_with_definition(
    session: AsyncSession, principal: Principal, assignment_id: int
) -> tuple[Assignment, Definition]:
    """The assignment and its definition if the principal may see it, else `NotFound`."""
    row = await AssignmentRepository(session).get_with_definition(
        visible_assignments(principal), assignment_id
    )
    return found(row, f"Assignment {assignment_id} does not exist.")


async def get(
    session: AsyncSession, principal: Principal, assignment_id: int, *, settings: Settings
) -> AssignmentRead:
    """One visible assignment with all its targets."""
    assignment, definition = await get_visible_with_definition(session, principal, assignment_id)
    row = (assignment, definition.key)
    (read,) = await to_reads(session, principal.tenant_id, [row], settings.today())
    return read


async def _managed(
    session: AsyncSession, principal: Principal, assignment_id: int, day: date
) -> tuple[Assignment, AssignmentRead]:
    """The assignment and its current view, if the principal may change it."""
    assignment, definition = await get_visible_with_definition(session, principal, assignment_id)
    if not can_manage(
        principal, assignment.subject_type, assignment.subject_id, assignment.team_id
    ):
        raise Forbidden("You may change only assignments within the teams you manage.")
    (read,) = await to_reads(session, principal.tenant_id, [(assignment, definition.key)], day)
    return assignment, read


async def update(
    session: AsyncSession,
    principal: Principal,
    assignment_id: int,
    body: AssignmentUpdate,
    *,
    settings: Settings,
) -> AssignmentRead:
    """Change weight, baseline, end date, team, or the target from a date on."""
    day = settings.today()
    assignment, before = await _managed(session, principal, assignment_id, day)
    requested = body.model_dump(exclude_unset=True)
    if "team_id" in requested and not can_manage(
        principal, assignment.subject_type, assignment.subject_id, requested["team_id"]
    ):
        raise Forbidden(
            "You may move an assignment only to a team you manage.",
            errors=[field_error(["body", "team_id"], "not a team you manage")],
        )
    end_date = requested.get("end_date", assignment.end_date)
    if end_date is not None and end_date < assignment.start_date:
        _before_start("end_date", assignment.start_date)
    repo = AssignmentRepository(session)
    if (
        "end_date" in requested
        and (assignment.end_date is not None)
        and (end_date is None or end_date > assignment.end_date)
    ):
        await refuse_later_overlap(repo, principal, assignment, end_date)
    effective_from = assignment.start_date
    if "target_value" in requested:
        # A change applies from today unless dated; never before the assignment starts.
        effective_from = requested.get("target_effective_from") or max(day, assignment.start_date)
        if effective_from < assignment.start_date:
            _before_start("target_effective_from", assignment.start_date)
        await TargetRepository(session).set_target(
            principal.tenant_id,
            assignment.id,
            effective_from,
            requested["target_value"],
            principal.user_id,
        )
    changes: dict[str, Any] = {
        name: requested[name]
        for name in ("weight", "baseline_value", "end_date", "team_id")
        if name in requested
    }
    await repo.update(assignment, changes)
    # Stored figures derived from the target or baseline follow them (weights are applied
    # when overall scores are read; nothing stored depends on them).
    if "target_value" in requested or "baseline_value" in requested:
        # Periods before the first target's date fall back to it: a change on the start
        # date may reach them too.
        since = (
            None
            if ("baseline_value" in requested or effective_from <= assignment.start_date)
            else effective_from
        )
        await rederive(
            session,
            settings,
            principal.tenant_id,
            assignment_ids=[assignment.id],
            definition_ids=[assignment.definition_id],
            since=since,
            actor=principal.user_id,
            reason="re-derived: target or baseline changed",
        )
    return await _audited(session, principal, "update", assignment, before, day)


async def end(
    session: AsyncSession,
    principal: Principal,
    assignment_id: int,
    end_date: date | None,
    *,
    settings: Settings,
) -> AssignmentRead:
    """End an assignment on a date (default today); its history stays."""
    day = settings.today()
    assignment, before = await _managed(session, principal, assignment_id, day)
    end_date = end_date or day
    if end_date < assignment.start_date:
        _before_start("end_date", assignment.start_date)
    repo = AssignmentRepository(session)
    if assignment.end_date is not None and end_date > assignment.end_date:
        # As a PATCH: a later end must not reach into the next assignment of the pair.
        await refuse_later_overlap(repo, principal, assignment, end_date)
    await repo.update(assignment, {"end_date": end_date})
    return await _audited(session, principal, "end", assignment, before, day)


def _before_start(name: str, start: date) -> NoReturn:
    msg = f"must not be before the start date {start.isoformat()}"
    raise InvalidInput(f"The {name} {msg}.", errors=[field_error(["body", name], msg)])


async def _audited(
    session: AsyncSession,
    principal: Principal,
    action: str,
    assignment: Assignment,
    before: AssignmentRead,
    day: date,
) -> AssignmentRead:
    (after,) = await to_reads(
        session, principal.tenant_id, [(assignment, before.definition_key)], day
    )
    await audit.record(
        session,
        principal,
        action,
        ENTITY,
        assignment.id,
        before=as_json(before),
        after=as_json(after),
    )
    return after
