"""Assignment rules: who may assign what to whom, dates, uniqueness, effective-dated targets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments.in_force import (
    Ending,
    Loc,
    Refusals,
    refuse_later_overlap,
    refuse_overlaps_within,
    subject_kpi,
    superseded,
)
from kpi_service.assignments.repository import (
    AssignmentFilters,
    AssignmentRepository,
    NaturalKey,
    TargetRepository,
)
from kpi_service.assignments.schemas import (
    AssignmentCreate,
    AssignmentRead,
    AssignmentUpdate,
    TargetRead,
)
from kpi_service.audit import service as audit
from kpi_service.core.access import can_manage, visible_assignments
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Forbidden, InvalidInput, NotFound, field_error
from kpi_service.core.schemas import Slice, decode_cursor, slice_of
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.measurements.derivation import rederive
from kpi_service.models import Assignment, AssignmentTarget, Definition, SubjectType

ENTITY = "assignment"


def target_on(targets: Sequence[AssignmentTarget], day: date) -> Decimal | None:
    """The target in force on `day`: the latest one effective on or before it."""
    in_force = [t for t in targets if t.effective_from <= day]
    return max(in_force, key=lambda t: t.effective_from).target_value if in_force else None


def _read(
    assignment: Assignment, definition_key: str, targets: Sequence[AssignmentTarget], day: date
) -> AssignmentRead:
    ordered = sorted(targets, key=lambda t: t.effective_from)
    current = target_on(ordered, day)
    return AssignmentRead.model_validate(
        {
            "id": assignment.id,
            "definition_id": assignment.definition_id,
            "definition_key": definition_key,
            "subject_type": assignment.subject_type,
            "subject_id": assignment.subject_id,
            "team_id": assignment.team_id,
            # Before it starts, an assignment shows the target it will start with.
            "target_value": current if current is not None else ordered[0].target_value,
            "weight": assignment.weight,
            "baseline_value": assignment.baseline_value,
            "start_date": assignment.start_date,
            "end_date": assignment.end_date,
            "is_active": assignment.start_date <= day
            and (assignment.end_date is None or assignment.end_date >= day),
            "assigned_by": assignment.assigned_by,
            "created_at": assignment.created_at,
            "updated_at": assignment.updated_at,
            "targets": [TargetRead.model_validate(t) for t in ordered],
        }
    )


async def _reads(
    session: AsyncSession, tenant_id: str, rows: Sequence[tuple[Assignment, str]], day: date
) -> list[AssignmentRead]:
    targets = await TargetRepository(session).of_assignments(tenant_id, [a.id for a, _ in rows])
    by_assignment: dict[int, list[AssignmentTarget]] = defaultdict(list)
    for target in targets:
        by_assignment[target.assignment_id].append(target)
    return [_read(a, key, by_assignment[a.id], day) for a, key in rows]


def _json(read: AssignmentRead) -> dict[str, Any]:
    return read.model_dump(mode="json")


def _definition_of(
    body: AssignmentCreate, by_id: dict[int, Definition], by_key: dict[str, Definition]
) -> Definition | None:
    if body.definition_id is not None:
        return by_id.get(body.definition_id)
    return by_key.get(body.definition_key or "")


async def create(
    session: AsyncSession, principal: Principal, body: AssignmentCreate, *, settings: Settings
) -> AssignmentRead:
    """Assign a definition to a subject, with its first target from the start date."""
    (created,) = await _create(session, principal, [body], bulk=False, settings=settings)
    await audit.record(session, principal, "create", ENTITY, created.id, after=_json(created))
    return created


async def create_many(
    session: AsyncSession,
    principal: Principal,
    bodies: Sequence[AssignmentCreate],
    *,
    settings: Settings,
) -> list[AssignmentRead]:
    """Create all these assignments, or none when any of them is refused."""
    created = await _create(session, principal, bodies, bulk=True, settings=settings)
    await audit.record_many(
        session,
        [audit.entry(principal, "create", ENTITY, read.id, None, _json(read)) for read in created],
    )
    return created


async def _create(
    session: AsyncSession,
    principal: Principal,
    bodies: Sequence[AssignmentCreate],
    *,
    bulk: bool,
    settings: Settings,
) -> list[AssignmentRead]:
    if principal.role is Role.MEMBER:
        raise Forbidden("Members cannot assign KPIs.")
    day = settings.today()
    definitions = await DefinitionRepository(session).find(
        principal.tenant_id,
        ids=sorted({b.definition_id for b in bodies if b.definition_id is not None}),
        keys=sorted({b.definition_key for b in bodies if b.definition_key is not None}),
    )
    by_id = {d.id: d for d in definitions}
    by_key = {d.key: d for d in definitions}
    refusals = Refusals(bulk=bulk)
    rows: list[dict[str, Any]] = []
    indexes: list[int] = []
    first_index: dict[NaturalKey, int] = {}
    for index, body in enumerate(bodies):
        loc = refusals.loc(index)
        row = _row(principal, body, _definition_of(body, by_id, by_key), loc, day, refusals)
        if row is None:
            continue
        natural = (row["definition_id"], row["subject_type"], row["subject_id"], row["start_date"])
        if natural in first_index:
            refusals.conflicts.append(
                field_error(
                    loc,
                    f"repeats item {first_index[natural]}: the same KPI, subject and start date",
                )
            )
            continue
        first_index[natural] = index
        rows.append(row)
        indexes.append(index)
    refuse_overlaps_within(rows, indexes, refusals)
    refusals.raise_any()
    repo = AssignmentRepository(session)
    await repo.lock_subjects(principal.tenant_id, [subject_kpi(row) for row in rows])
    held = await repo.overlapping(
        principal.tenant_id,
        [
            (position, *subject_kpi(row), row["start_date"], row["end_date"])
            for position, row in enumerate(rows)
        ],
    )
    ends = superseded(principal, rows, indexes, held, refusals)
    refusals.forbidden.sort(key=lambda e: e["loc"])
    refusals.conflicts.sort(key=lambda e: e["loc"])
    refusals.raise_any()
    await _supersede(session, principal, ends, day)
    return await _insert(session, principal, rows, day)


async def _supersede(
    session: AsyncSession, principal: Principal, ends: dict[int, Ending], day: date
) -> None:
    """End the superseded assignments (one statement), each change audited."""
    if not ends:
        return
    repo = AssignmentRepository(session)
    targets: dict[int, list[AssignmentTarget]] = defaultdict(list)
    for target in await TargetRepository(session).of_assignments(principal.tenant_id, list(ends)):
        targets[target.assignment_id].append(target)
    before = {i: _read(e.assignment, e.definition_key, targets[i], day) for i, e in ends.items()}
    ended = await repo.end_on(principal.tenant_id, {i: e.end_date for i, e in ends.items()})
    after = [_read(a, ends[a.id].definition_key, targets[a.id], day) for a in ended]
    await audit.record_many(
        session,
        [
            audit.entry(
                principal, "supersede", ENTITY, read.id, _json(before[read.id]), _json(read)
            )
            for read in after
        ],
    )


def _row(
    principal: Principal,
    body: AssignmentCreate,
    definition: Definition | None,
    loc: Loc,
    day: date,
    refusals: Refusals,
) -> dict[str, Any] | None:
    """The row for one create body, or None after noting why it is refused."""
    if definition is None:
        name = "definition_id" if body.definition_id is not None else "definition_key"
        refusals.invalid.append(field_error([*loc, name], "no such KPI definition"))
        return None
    problems = len(refusals.invalid)
    if body.subject_type != definition.scope:
        refusals.invalid.append(
            field_error(
                [*loc, "subject_type"],
                f"KPI {definition.key!r} is measured per {definition.scope}, not "
                f"{body.subject_type}",
            )
        )
    subject_id = body.subject_id
    if body.subject_type == SubjectType.ORGANIZATION:
        if subject_id not in (None, principal.tenant_id):
            refusals.invalid.append(
                field_error(
                    [*loc, "subject_id"], "an organization assignment is for the caller's tenant"
                )
            )
        subject_id = principal.tenant_id
    elif subject_id is None:
        refusals.invalid.append(
            field_error([*loc, "subject_id"], f"required for subject_type {body.subject_type}")
        )
    start = body.start_date or day
    if body.end_date is not None and body.end_date < start:
        refusals.invalid.append(
            field_error(
                [*loc, "end_date"], f"must not be before the start date {start.isoformat()}"
            )
        )
    if len(refusals.invalid) > problems or subject_id is None:
        return None
    if not can_manage(principal, body.subject_type, subject_id, body.team_id):
        refusals.forbidden.append(
            field_error(loc, "you may assign KPIs only within the teams you manage")
        )
        return None
    if not definition.is_active:
        refusals.conflicts.append(
            field_error(loc, f"KPI definition {definition.key!r} is inactive")
        )
        return None
    return {
        "tenant_id": principal.tenant_id,
        "definition_id": definition.id,
        "subject_type": body.subject_type,
        "subject_id": subject_id,
        "team_id": body.team_id,
        "weight": body.weight,
        "baseline_value": body.baseline_value,
        "start_date": start,
        "end_date": body.end_date,
        "assigned_by": principal.user_id,
        "_definition_key": definition.key,
        "_target_value": body.target_value,
        "_supersede": body.supersede,
    }


async def _insert(
    session: AsyncSession, principal: Principal, rows: list[dict[str, Any]], day: date
) -> list[AssignmentRead]:
    repo = AssignmentRepository(session)
    keys = [row.pop("_definition_key") for row in rows]
    for row in rows:
        del row["_supersede"]
    target_values = [row.pop("_target_value") for row in rows]
    assignments = await repo.add_many(rows)
    targets = await TargetRepository(session).add_many(
        [
            {
                "tenant_id": principal.tenant_id,
                "assignment_id": a.id,
                "effective_from": a.start_date,
                "target_value": value,
                "set_by": principal.user_id,
            }
            for a, value in zip(assignments, target_values, strict=True)
        ]
    )
    return [_read(a, key, [t], day) for a, key, t in zip(assignments, keys, targets, strict=True)]


async def list_assignments(
    session: AsyncSession,
    principal: Principal,
    filters: AssignmentFilters,
    *,
    cursor: str | None,
    limit: int,
    settings: Settings,
) -> Slice[AssignmentRead]:
    """One page of the assignments the principal may see, in id order."""
    rows = await AssignmentRepository(session).page_rows(
        visible_assignments(principal), filters, after=decode_cursor(cursor), limit=limit
    )
    page = slice_of(rows, limit, lambda row: row[0].id)
    items = await _reads(session, principal.tenant_id, page.items, settings.today())
    return Slice(items=items, next_cursor=page.next_cursor)


async def get_visible(
    session: AsyncSession, principal: Principal, assignment_id: int
) -> Assignment:
    """The assignment if the principal may see it, else `NotFound`."""
    assignment = await AssignmentRepository(session).get_where(
        visible_assignments(principal), assignment_id
    )
    if assignment is None:
        raise NotFound(f"Assignment {assignment_id} does not exist.")
    return assignment


async def get(
    session: AsyncSession, principal: Principal, assignment_id: int, *, settings: Settings
) -> AssignmentRead:
    """One visible assignment with all its targets."""
    row = await AssignmentRepository(session).get_with_key(
        visible_assignments(principal), assignment_id
    )
    if row is None:
        raise NotFound(f"Assignment {assignment_id} does not exist.")
    (read,) = await _reads(session, principal.tenant_id, [row], settings.today())
    return read


async def _managed(
    session: AsyncSession, principal: Principal, assignment_id: int, day: date
) -> tuple[Assignment, AssignmentRead]:
    """The assignment and its current view, if the principal may change it."""
    repo = AssignmentRepository(session)
    row = await repo.get_with_key(visible_assignments(principal), assignment_id)
    if row is None:
        raise NotFound(f"Assignment {assignment_id} does not exist.")
    assignment = row[0]
    if not can_manage(
        principal, assignment.subject_type, assignment.subject_id, assignment.team_id
    ):
        raise Forbidden("You may change only assignments within the teams you manage.")
    (read,) = await _reads(session, principal.tenant_id, [row], day)
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
    await AssignmentRepository(session).update(assignment, {"end_date": end_date})
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
    (after,) = await _reads(
        session, principal.tenant_id, [(assignment, before.definition_key)], day
    )
    await audit.record(
        session, principal, action, ENTITY, assignment.id, before=_json(before), after=_json(after)
    )
    return after
