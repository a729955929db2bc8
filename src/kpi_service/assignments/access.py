"""Who sees and who manages which assignments (DESIGN.md section 8)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from kpi_service.core.auth import Principal, Role
from kpi_service.models import Assignment


def visible_assignments(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition over `Assignment` selecting what the principal may see."""
    in_tenant = Assignment.tenant_id == principal.tenant_id
    if principal.role is Role.ADMIN:
        return in_tenant
    own = and_(Assignment.subject_type == "user", Assignment.subject_id == principal.user_id)
    if principal.role is Role.MANAGER and principal.teams:
        teams = sorted(principal.teams)
        of_teams = or_(
            Assignment.team_id.in_(teams),
            and_(Assignment.subject_type == "team", Assignment.subject_id.in_(teams)),
        )
        return and_(in_tenant, or_(own, of_teams))
    return and_(in_tenant, own)


def can_manage(principal: Principal, subject_type: str, subject_id: str,
               team_id: str | None) -> bool:
    """Whether the principal may create, change, end (and record values of) such an assignment."""
    if principal.role is Role.ADMIN:
        return True
    # The organisation as a whole is an admin's to assign, whatever team is named.
    if principal.role is not Role.MANAGER or subject_type == "organization":
        return False
    # A manager acts for the teams they manage, never for themselves as such.
    return principal.manages(team_id) or (subject_type == "team"
                                          and principal.manages(subject_id))
