"""Who is calling: the principal, from a JWT, trusted BFF headers, or nobody (development)."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from kpi_service.core.errors import Unauthenticated
from kpi_service.core.settings import AuthMode, Settings

_IDENT = re.compile(r"^[A-Za-z0-9._:@\-]{1,64}$")


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user of one tenant, with a role and the teams they manage."""

    tenant_id: str
    user_id: str
    role: Role
    teams: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def manages(self, team_id: str | None) -> bool:
        """Whether this principal manages that team."""
        return self.role is Role.MANAGER and team_id is not None and team_id in self.teams


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise Unauthenticated(f"The {what} in the credentials is missing or malformed.")
    return value


def _principal(tenant: Any, user: Any, role: Any, teams: Any) -> Principal:
    try:
        parsed_role = Role(role)
    except ValueError:
        raise Unauthenticated("The role in the credentials is missing or unknown.") from None
    if isinstance(teams, str):
        teams = [t for t in teams.split(",") if t.strip()]
    if not isinstance(teams, list):
        raise Unauthenticated("The teams in the credentials are malformed.")
    return Principal(
        tenant_id=_identifier(tenant, "tenant"),
        user_id=_identifier(user, "user id"),
        role=parsed_role,
        teams=frozenset(_identifier(t.strip(), "team") for t in teams),
    )


def _from_jwt(request: Request, settings: Settings) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("A bearer token is required.")
    if settings.jwt_public_key is not None:
        key, algorithms = settings.jwt_public_key.get_secret_value(), ["RS256"]
    else:
        assert settings.jwt_secret is not None
        key, algorithms = settings.jwt_secret.get_secret_value(), ["HS256"]
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            options={
                "require": ["exp", "sub", "tenant", "role"],
                "verify_aud": settings.jwt_audience is not None,
            },
        )
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"The bearer token is not valid: {exc}.") from None
    return _principal(
        claims.get("tenant"), claims.get("sub"), claims.get("role"), claims.get("teams", [])
    )


def _from_headers(request: Request, settings: Settings) -> Principal:
    assert settings.service_token is not None
    offered = request.headers.get("x-service-token", "")
    expected = settings.service_token.get_secret_value().encode()
    if not hmac.compare_digest(offered.encode(), expected):
        raise Unauthenticated("The service token is missing or wrong.")
    h = request.headers
    return _principal(
        h.get("x-tenant-id", settings.default_tenant),
        h.get("x-user-id"),
        h.get("x-user-role"),
        h.get("x-user-teams", ""),
    )


def has_credentials(request: Request) -> bool:
    """Whether the request carries any identity at all."""
    return "authorization" in request.headers or "x-service-token" in request.headers


def authenticate(request: Request, settings: Settings) -> Principal:
    """The principal of a request, per the configured auth mode."""
    if settings.auth_mode is AuthMode.JWT:
        return _from_jwt(request, settings)
    if settings.auth_mode is AuthMode.TRUSTED_HEADERS:
        return _from_headers(request, settings)
    return Principal(settings.default_tenant, "local-admin", Role.ADMIN)


# The dependencies are `async` though they never wait: a plain `def` would be handed to a
# thread of the pool on every request.
async def get_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller."""
    settings: Settings = request.app.state.settings
    return authenticate(request, settings)


async def get_legacy_principal(request: Request) -> Principal:
    """The caller of the seed's routes: trusted network callers act as the default admin."""
    settings: Settings = request.app.state.settings
    if settings.legacy_trust_network and not has_credentials(request):
        return Principal(settings.default_tenant, "legacy-bff", Role.ADMIN)
    return authenticate(request, settings)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
LegacyPrincipalDep = Annotated[Principal, Depends(get_legacy_principal)]
