"""One assignment in force per KPI and subject: which stored assignments a new one supersedes,
and which requests conflict (docs/analytics.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from kpi_service.assignments.repository import AssignmentRepository, SubjectKpi, overlaps
from kpi_service.core.access import can_manage
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Conflict, Forbidden, InvalidInput, field_error
from kpi_service.models import Assignment

Loc = tuple[str | int, ...]


@dataclass
class Refusals:
    """The reasons items of a request are refused, grouped by the answer they call for."""

    bulk: bool
    invalid: list[dict[str, Any]] = field(default_factory=list)
    forbidden: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def loc(self, index: int) -> Loc:
        return ("body", "items", index) if self.bulk else ("body",)

    def raise_any(self) -> None:
        for errors, kind in (
            (self.invalid, InvalidInput),
            (self.forbidden, Forbidden),
            (self.conflicts, Conflict),
        ):
            if errors:
                first, more = errors[0], f" ({len(errors)} problems in all)" * (len(errors) > 1)
                # Said as the validation errors are: "items.3.subject_id: why".
                where = ".".join(str(part) for part in first["loc"][1:])
                said = first["msg"]
                msg = f"{where}: {said}" if where else said[:1].upper() + said[1:]
                raise kind(f"{msg}{more}", errors=errors)


def subject_kpi(row: dict[str, Any]) -> SubjectKpi:
    return row["definition_id"], row["subject_type"], row["subject_id"]


def refuse_overlaps_within(
    rows: Sequence[dict[str, Any]], indexes: Sequence[int], refusals: Refusals
) -> None:
    """Items of one request never overlap each other for the same KPI and subject."""
    kept: dict[SubjectKpi, list[tuple[int, date, date | None]]] = defaultdict(list)
    for index, row in zip(indexes, rows, strict=True):
        start, end = row["start_date"], row["end_date"]
        earlier = kept[subject_kpi(row)]
        clash = next((i for i, s, e in earlier if overlaps(start, end, s, e)), None)
        if clash is not None:
            refusals.conflicts.append(
                field_error(
                    refusals.loc(index),
                    f"overlaps item {clash}: the same KPI and subject on overlapping dates",
                )
            )
        else:
            earlier.append((index, start, end))


def held_by(held: Assignment) -> str:
    """How a 409 names the assignment in force: its id, subject and dates."""
    until = f"to {held.end_date.isoformat()}" if held.end_date else "with no end date"
    return (
        f"assignment {held.id} gives this KPI to {held.subject_type} {held.subject_id!r} "
        f"from {held.start_date.isoformat()} {until}"
    )


@dataclass
class Ending:
    """A stored assignment a new one supersedes, and the day it now ends."""

    assignment: Assignment
    definition_key: str
    end_date: date


def superseded(
    principal: Principal,
    rows: Sequence[dict[str, Any]],
    indexes: Sequence[int],
    held: Sequence[tuple[int, Assignment]],
    refusals: Refusals,
) -> dict[int, Ending]:
    """The stored assignments the new rows supersede, by id; refusals noted for the rest.

    A new assignment supersedes the ones in force on its start date that started before it:
    they end the day before. One that starts on or after the new start date is not superseded
    (the caller would lose it whole): that, or `supersede: false`, is a conflict naming it.
    """
    ends: dict[int, Ending] = {}
    for position, stored in held:
        row, loc = rows[position], refusals.loc(indexes[position])
        start: date = row["start_date"]
        if stored.start_date == start:
            refusals.conflicts.append(
                field_error(
                    loc,
                    (
                        f"assignment {stored.id} already gives this KPI to {stored.subject_type} "
                        f"{stored.subject_id!r} from {start.isoformat()}"
                    ),
                )
            )
        elif stored.start_date > start:
            refusals.conflicts.append(
                field_error(
                    loc,
                    (
                        f"{held_by(stored)}, overlapping these dates; only an assignment that "
                        "started earlier is superseded: end or change it first"
                    ),
                )
            )
        elif not row["_supersede"]:
            refusals.conflicts.append(
                field_error(
                    loc,
                    (
                        f"{held_by(stored)}; with supersede true (the default) it would end on "
                        f"{(start - timedelta(days=1)).isoformat()}"
                    ),
                )
            )
        elif not can_manage(principal, stored.subject_type, stored.subject_id, stored.team_id):
            refusals.forbidden.append(
                field_error(
                    loc,
                    (f"{held_by(stored)}, in a team you do not manage: it cannot be superseded"),
                )
            )
        else:
            end = start - timedelta(days=1)
            if stored.id not in ends or end < ends[stored.id].end_date:
                ends[stored.id] = Ending(stored, row["_definition_key"], end)
    return ends


async def refuse_later_overlap(
    repo: AssignmentRepository, principal: Principal, assignment: Assignment, end_date: date | None
) -> None:
    """A later end date must not reach into the next assignment of the KPI and subject."""
    pair = (assignment.definition_id, assignment.subject_type, assignment.subject_id)
    await repo.lock_subjects(principal.tenant_id, [pair])
    held = await repo.overlapping(
        principal.tenant_id, [(0, *pair, assignment.start_date, end_date)]
    )
    others = [stored for _, stored in held if stored.id != assignment.id]
    if others:
        msg = f"{held_by(others[0])}, within these dates"
        raise Conflict(
            msg[:1].upper() + msg[1:] + ".", errors=[field_error(["body", "end_date"], msg)]
        )
