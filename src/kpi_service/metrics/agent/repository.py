"""Agent view statements: whose team an agent is in and the agent assignments of that team,
scoped by tenant, never committed here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, select

from kpi_service.assignments.repository import in_force_during, target_as_of
from kpi_service.core.access import held_by
from kpi_service.core.repository import Repository
from kpi_service.engine.periods import Period
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import Assignment


@dataclass(frozen=True, slots=True)
class AgentAssignment:
    """One agent's assignment of one agent KPI, with the target in force today."""

    subject_id: str
    definition_id: int
    weight: Decimal
    baseline_value: Decimal | None
    target: Decimal | None


class AgentRepository(Repository[Assignment]):
    """Reads of `kpi.assignments` for the agent view, for one session."""

    model = Assignment

    def _during(
        self, tenant_id: str, definition_ids: Sequence[int], window: Period
    ) -> list[ColumnElement[bool]]:
        """The tenant's user assignments of these KPIs in force during some of the window."""
        return [
            self.in_tenant(tenant_id),
            Assignment.subject_type == SubjectType.USER,
            Assignment.definition_id.in_(list(definition_ids)),
            in_force_during(Assignment.start_date, Assignment.end_date, window.start, window.end),
        ]

    async def teams_of(
        self, tenant_id: str, user_id: str, definition_ids: Sequence[int], window: Period
    ) -> list[str | None]:
        """The team of each of the user's assignments of these KPIs in force during the
        window (None: recorded under none; empty: the user holds none)."""
        stmt = select(Assignment.team_id).where(
            *self._during(tenant_id, definition_ids, window), held_by(user_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def of_team(
        self,
        tenant_id: str,
        definition_ids: Sequence[int],
        window: Period,
        today: date,
        *,
        team_id: str | None,
        user_id: str,
    ) -> list[AgentAssignment]:
        """The assignments of these KPIs in force during the window recorded under the team
        (without a team: the user's own), oldest start first, each with its target in force
        today (None: tracked without one)."""
        whose = Assignment.team_id == team_id if team_id is not None else held_by(user_id)
        stmt = (
            select(
                Assignment.subject_id,
                Assignment.definition_id,
                Assignment.weight,
                Assignment.baseline_value,
                target_as_of(Assignment.tenant_id, Assignment.id, today).label("target"),
            )
            .where(*self._during(tenant_id, definition_ids, window), whose)
            .order_by(Assignment.start_date, Assignment.id)
        )
        return [AgentAssignment(*row) for row in (await self.session.execute(stmt)).all()]
