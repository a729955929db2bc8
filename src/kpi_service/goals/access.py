"""Whose goals a principal sees and manages (DESIGN.md section 8): the same people."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_

from kpi_service.core.auth import Principal, Role
from kpi_service.core.sql import among
from kpi_service.models import Assignment, Goal


def visible_goals(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition over `Goal`: an admin's tenant, a member's own goals, a manager's own
    and those of users holding an assignment in a team they manage."""
    in_tenant = Goal.tenant_id == principal.tenant_id
    if principal.role is Role.ADMIN:
        return in_tenant
    own = Goal.user_id == principal.user_id
    if principal.role is Role.MANAGER and principal.teams:
        managed = exists().where(
            Assignment.tenant_id == Goal.tenant_id,
            Assignment.subject_type == "user",
            Assignment.subject_id == Goal.user_id,
            among(Assignment.team_id, sorted(principal.teams)),
        )
        return and_(in_tenant, or_(own, managed))
    return and_(in_tenant, own)
