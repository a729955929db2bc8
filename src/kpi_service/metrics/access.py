"""Who may read the views of which subject (DESIGN.md section 8)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.auth import Principal, Role
from kpi_service.core.errors import Forbidden, NotFound
from kpi_service.core.sql import among
from kpi_service.models import Assignment


class SubjectType(StrEnum):
    USER = "user"
    TEAM = "team"
    ORGANIZATION = "organization"


async def manages_user(session: AsyncSession, principal: Principal, user_id: str) -> bool:
    """Whether the user holds any assignment in a team the principal manages."""
    if principal.role is not Role.MANAGER or not principal.teams:
        return False
    stmt = select(exists().where(
        Assignment.tenant_id == principal.tenant_id,
        Assignment.subject_type == "user",
        Assignment.subject_id == user_id,
        among(Assignment.team_id, sorted(principal.teams)),
    ))
    return bool(await session.scalar(stmt))


async def require_readable(session: AsyncSession, principal: Principal,
                           subject_type: SubjectType, subject_id: str | None) -> None:
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
    if subject_id is not None and await manages_user(session, principal, subject_id):
        return
    raise NotFound(f"User {subject_id!r} not found.")
