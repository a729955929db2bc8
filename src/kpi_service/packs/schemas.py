"""Packs as the API shows them, an install request, and what an install did."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator

from kpi_service.core.schemas import Choice, Day, Input, OutNumber, Output, SubjectRef
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.packs.model import ActivityFilter, SourceKind

MAX_USERS = 1000


class PackUser(Input):
    """A user to assign the pack's user KPIs to, and the team the assignments record."""

    user_id: SubjectRef
    team_id: SubjectRef | None = None


class InstallRequest(Input):
    """Where an install starts and whom it assigns the pack's user KPIs to."""

    start_date: Day | None = Field(
        default=None,
        description="The start date of the organisation (and user) assignments the install "
        "creates. Default: the date of an earlier install of the pack, else the first day of "
        "the earliest month with rows in the pack's source tables (or its events), else "
        "2000-01-01, so that data fed after the install is covered.",
    )
    users: Annotated[list[PackUser], Field(max_length=MAX_USERS)] = Field(
        default_factory=list,
        description="Assign the pack's user KPIs (with its targets and weights) to these users "
        "(each user once).",
    )
    follow_sources: bool | None = Field(
        default=None,
        description="Assign the pack's user KPIs (with its targets and weights, no team unless "
        "`users` gives one) to every user its source tables name (the column `user_column` "
        "of each of its `reads`): now, and before every run to the users who appeared since. "
        "Default: the choice of an earlier install of the pack, else true for a pack with user "
        "KPIs and a `user_column` (support, agent, crm); true on any other pack is a 422.",
    )

    @field_validator("users")
    @classmethod
    def _each_user_once(cls, users: list[PackUser]) -> list[PackUser]:
        seen: set[str] = set()
        for user in users:
            if user.user_id in seen:
                raise ValueError(f"user {user.user_id!r} is named twice")
            seen.add(user.user_id)
        return users


class AssignedRead(Output):
    key: str
    target_value: OutNumber | None
    weight: OutNumber


class SourceReadOut(Output):
    kind: Choice[SourceKind]
    name: str
    columns: list[str]
    dated_by: str | None
    origin: str
    user_column: str | None = Field(
        description="The column naming the user the per-user KPIs measure (null: none)."
    )


class ActivityRead(Output):
    """How events of `event_type` show in the activity timeline (`GET /metrics/activities`)."""

    event_type: str
    type: str
    title: str
    filter: Choice[ActivityFilter] | None
    description: list[str] = Field(
        description="The event properties whose values, those present, make the description "
        "(joined by ' - ')."
    )


class PackSummary(Output):
    """A pack offered, and the version of it this tenant installed (null: none)."""

    name: str
    version: int
    title: str
    summary: str
    installed_version: int | None


class PackRead(PackSummary):
    """A pack in full: its KPIs as definition bodies, the assignments it makes, its alert
    rule templates, the tables (or events) that feed it, and how its events show in the
    activity timeline."""

    definitions: list[dict[str, Any]]
    organisation_assignments: list[AssignedRead]
    user_assignments: list[AssignedRead]
    alert_templates: list[dict[str, Any]]
    reads: list[SourceReadOut]
    activities: list[ActivityRead]


class Outcome(StrEnum):
    """What an install did with one of the pack's definitions."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"


class DefinitionOutcome(Output):
    key: str
    outcome: Choice[Outcome]
    definition_id: int | None
    version: int | None
    reason: str | None = None


class AssignmentMade(Output):
    definition_key: str
    subject_type: Choice[SubjectType]
    subject_id: str
    assignment_id: int
    start_date: date


class RuleMade(Output):
    name: str
    definition_key: str
    rule_id: int


class InstallReport(Output):
    """What an install did: per definition, and the assignments and rules it created."""

    pack: str
    version: int
    previous_version: int | None
    start_date: date
    follow_sources: bool = Field(
        description="Whether each run assigns the pack's user KPIs to the users new in its "
        "source tables."
    )
    definitions: list[DefinitionOutcome]
    assignments_created: list[AssignmentMade]
    rules_created: list[RuleMade]
