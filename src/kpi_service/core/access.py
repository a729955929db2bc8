"""The access policy (DESIGN.md section 8): who sees and who manages which subjects.

An admin sees and manages everything in the tenant. A manager manages the subjects of the
teams they manage: the rows recorded under those teams, the teams themselves, and the users
holding an assignment in one of them; they also see their own. A member sees their own.
Each rule is written once, here, as a SQL condition (`visible_*`, whole: tenant included)
or a Python check; services and repositories apply them, never spell them again. Actions
kept for a role whatever the subject (admins only; managers and admins) are checked by the
service of the action, on `principal.role`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Forbidden, InvalidInput, NotFound, field_error
from kpi_service.core.sql import among
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import Alert, Assignment, Event, Goal


def managed_teams(principal: Principal) -> list[str] | None:
    """The teams whose subjects the principal manages, sorted; None for all (an admin)."""
    if principal.role is Role.ADMIN:
        return None
    return sorted(principal.teams) if principal.role is Role.MANAGER else []


def confined_to(principal: Principal) -> str | None:
    """The one user whose rows a member sees; None for managers and admins."""
    return principal.user_id if principal.role is Role.MEMBER else None


def held_by(user_id: QueryableAttribute[str] | ColumnElement[str] | str) -> ColumnElement[bool]:
    """SQL: the assignment is the user's own (the user a column or a value)."""
    return and_(Assignment.subject_type == SubjectType.USER, Assignment.subject_id == user_id)


def _manages_user(
    teams: list[str], tenant_id: str, user_id: QueryableAttribute[str] | str
) -> ColumnElement[bool]:
    """SQL: the user (a column or a value) holds an assignment in one of these teams."""
    return exists().where(
        Assignment.tenant_id == tenant_id, held_by(user_id), among(Assignment.team_id, teams)
    )


def _seen(
    principal: Principal,
    tenant_id: QueryableAttribute[str],
    own: ColumnElement[bool],
    of_teams: Callable[[list[str]], ColumnElement[bool]],
) -> ColumnElement[bool]:
    """The rows of the tenant for an admin; else one's own, and a manager's teams' rows."""
    in_tenant = tenant_id == principal.tenant_id
    teams = managed_teams(principal)
    if teams is None:
        return in_tenant
    if teams:
        return and_(in_tenant, or_(own, of_teams(teams)))
    return and_(in_tenant, own)


def visible_assignments(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition over `Assignment` selecting what the principal may see."""
    return _seen(
        principal,
        Assignment.tenant_id,
        held_by(principal.user_id),
        lambda teams: or_(
            among(Assignment.team_id, teams),
            and_(Assignment.subject_type == SubjectType.TEAM, among(Assignment.subject_id, teams)),
        ),
    )


def visible_goals(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition over `Goal`: an admin's tenant, one's own goals, and a manager's users'."""
    return _seen(
        principal,
        Goal.tenant_id,
        Goal.user_id == principal.user_id,
        lambda teams: _manages_user(teams, principal.tenant_id, Goal.user_id),
    )


def visible_alerts(principal: Principal) -> ColumnElement[bool]:
    """Alerts of subjects whose assignments of that KPI the principal may see."""
    in_tenant = Alert.tenant_id == principal.tenant_id
    if principal.is_admin:
        return in_tenant
    return and_(
        in_tenant,
        exists().where(
            visible_assignments(principal),
            Assignment.definition_id == Alert.definition_id,
            Assignment.subject_type == Alert.subject_type,
            Assignment.subject_id == Alert.subject_id,
        ),
    )


def visible_events(principal: Principal) -> ColumnElement[bool]:
    """Admins see every event of the tenant, managers their teams' and their own, members theirs."""
    return _seen(
        principal,
        Event.tenant_id,
        Event.user_id == principal.user_id,
        lambda teams: among(Event.team_id, teams),
    )


def can_manage(
    principal: Principal, subject_type: str, subject_id: str, team_id: str | None
) -> bool:
    """Whether the principal may create, change, end (and record values of) such an assignment."""
    if principal.role is Role.ADMIN:
        return True
    # The organisation as a whole is an admin's to assign, whatever team is named.
    if principal.role is not Role.MANAGER or subject_type == SubjectType.ORGANIZATION:
        return False
    # A manager acts for the teams they manage, never for themselves as such.
    return principal.manages(team_id) or (
        subject_type == SubjectType.TEAM and principal.manages(subject_id)
    )


async def require_readable(
    session: AsyncSession, principal: Principal, subject_type: SubjectType, subject_id: str | None
) -> None:
    """Refuse unless the principal may read this subject's views.

    A user's views: the user, a manager of one of their teams, an admin. A team's: its
    manager or an admin. The organisation's: managers and admins (members are refused
    with 403, the organisation being visible to everyone). An invisible subject is 404.
    """
    if principal.role is Role.ADMIN:
        return
    if subject_type is SubjectType.ORGANIZATION:
        if principal.role is Role.MANAGER:
            return
        raise Forbidden("Organisation views are for managers and admins.")
    if subject_type is SubjectType.TEAM:
        if principal.manages(subject_id):
            return
        raise NotFound(f"Team {subject_id!r} not found.")
    if subject_id == principal.user_id:
        return
    teams = managed_teams(principal)
    if (
        subject_id is not None
        and teams
        and await session.scalar(select(_manages_user(teams, principal.tenant_id, subject_id)))
    ):
        return
    raise NotFound(f"User {subject_id!r} not found.")


async def readable_subject(
    session: AsyncSession, principal: Principal, subject_type: SubjectType, subject_id: str | None
) -> str:
    """The id of the subject whose views are asked for, once the caller may read them: the
    tenant for the organisation (no other id), the caller for a user left unnamed."""
    if subject_type is SubjectType.ORGANIZATION:
        if subject_id not in (None, principal.tenant_id):
            raise InvalidInput(
                "The organisation's subject_id is the tenant's.",
                errors=[field_error(["query", "subject_id"], "omit it for the organization")],
            )
        subject_id = principal.tenant_id
    elif subject_type is SubjectType.USER and subject_id is None:
        subject_id = principal.user_id
    await require_readable(session, principal, subject_type, subject_id)
    assert subject_id is not None  # the query models require a team's id
    return subject_id
