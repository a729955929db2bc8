"""Creating assignments, one or many at once: each body checked, overlaps refused or the
superseded assignments ended, then all rows and first targets inserted together."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments.in_force import (
    Ending,
    Loc,
    Refusals,
    refuse_overlaps_within,
    subject_kpi,
    superseded,
)
from kpi_service.assignments.reads import ENTITY, as_json, to_read
from kpi_service.assignments.repository import AssignmentRepository, NaturalKey, TargetRepository
from kpi_service.assignments.schemas import AssignmentCreate, AssignmentRead
from kpi_service.audit import service as audit
from kpi_service.core.access import can_manage
from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Forbidden, field_error
from kpi_service.core.settings import Settings
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import AssignmentTarget, Definition


def _definition_of(
    body: AssignmentCreate, by_id: dict[int, Definition], by_key: dict[str, Definition]
) -> Definition | None:
    if body.definition_id is not None:
        return by_id.get(body.definition_id)
    return by_key.get(body.definition_key or "")


async def create_all(
    session: AsyncSession,
    principal: Principal,
    bodies: Sequence[AssignmentCreate],
    *,
    bulk: bool,
    settings: Settings,
) -> list[AssignmentRead]:
    """Create the assignments of the bodies, or none: every refusal is raised together
    (one problem per body, at its index when `bulk`)."""
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
    before = {i: to_read(e.assignment, e.definition_key, targets[i], day) for i, e in ends.items()}
    ended = await repo.end_on(principal.tenant_id, {i: e.end_date for i, e in ends.items()})
    after = [to_read(a, ends[a.id].definition_key, targets[a.id], day) for a in ended]
    await audit.record_many(
        session,
        [
            audit.entry(
                principal, "supersede", ENTITY, read.id, as_json(before[read.id]), as_json(read)
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
        refusals.invalid.append(field_error([*loc, body.reference_field], "no such KPI definition"))
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
    return [to_read(a, key, [t], day) for a, key, t in zip(assignments, keys, targets, strict=True)]
