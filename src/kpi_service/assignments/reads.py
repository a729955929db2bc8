"""What an assignment reads as: with its key, its targets and the one in force today, for
clients and for the audit log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments.repository import TargetRepository, is_in_force_during
from kpi_service.assignments.schemas import AssignmentRead, TargetRead
from kpi_service.models import Assignment, AssignmentTarget

# The audit log's name for an assignment.
ENTITY = "assignment"


def target_on(targets: Sequence[AssignmentTarget], day: date) -> Decimal | None:
    """The target in force on `day`: the latest one effective on or before it (None when it
    leaves the target out); before the first one takes effect, the first one. The SQL rule
    `target_as_of` over targets already loaded (a read shows them all)."""
    in_force = [t for t in targets if t.effective_from <= day]
    if not in_force:
        return min(targets, key=lambda t: t.effective_from).target_value
    return max(in_force, key=lambda t: t.effective_from).target_value


def to_read(
    assignment: Assignment, definition_key: str, targets: Sequence[AssignmentTarget], day: date
) -> AssignmentRead:
    ordered = sorted(targets, key=lambda t: t.effective_from)
    return AssignmentRead.model_validate(
        {
            "id": assignment.id,
            "definition_id": assignment.definition_id,
            "definition_key": definition_key,
            "subject_type": assignment.subject_type,
            "subject_id": assignment.subject_id,
            "team_id": assignment.team_id,
            # Before it starts, an assignment shows the target it will start with.
            "target_value": target_on(ordered, day),
            "weight": assignment.weight,
            "baseline_value": assignment.baseline_value,
            "start_date": assignment.start_date,
            "end_date": assignment.end_date,
            "is_active": is_in_force_during(assignment, day, day),
            "assigned_by": assignment.assigned_by,
            "created_at": assignment.created_at,
            "updated_at": assignment.updated_at,
            "targets": [TargetRead.model_validate(t) for t in ordered],
        }
    )


async def to_reads(
    session: AsyncSession, tenant_id: str, rows: Sequence[tuple[Assignment, str]], day: date
) -> list[AssignmentRead]:
    targets = await TargetRepository(session).of_assignments(tenant_id, [a.id for a, _ in rows])
    by_assignment: dict[int, list[AssignmentTarget]] = defaultdict(list)
    for target in targets:
        by_assignment[target.assignment_id].append(target)
    return [to_read(a, key, by_assignment[a.id], day) for a, key in rows]


def as_json(read: AssignmentRead) -> dict[str, Any]:
    return read.model_dump(mode="json")
