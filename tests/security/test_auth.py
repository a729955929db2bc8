"""Who is let in, as whom, and what another tenant or a lesser role can reach (DESIGN.md 8)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from httpx import AsyncClient
from pydantic import SecretStr, ValidationError

from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode, Environment
from tests.support.api import assign, define, listed
from tests.support.app import JWT_SECRET, SERVICE_TOKEN, app_client, make_settings
from tests.support.auth import ACME_ADMIN, ADMIN, b64url, bearer, claims, hand_made, with_token
from tests.support.database import snapshot
from tests.support.problems import assert_problem

DEFINITIONS = "/api/kpis/definitions"


def rsa_pair() -> tuple[bytes, bytes]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


# --- jwt ---------------------------------------------------------------------------------


def tampered(secret: bytes) -> str:
    """A validly signed token whose payload was then swapped for another tenant's."""
    header, _, signature = hand_made({"alg": "HS256", "typ": "JWT"}, claims(), secret).split(".")
    return f"{header}.{b64url(json.dumps(claims(tenant='acme')).encode())}.{signature}"


def refused_hs256_headers() -> dict[str, dict[str, str]]:
    """Credentials an HS256 deployment must refuse, by what is wrong with them."""
    other_private, _ = rsa_pair()
    hs = {"alg": "HS256", "typ": "JWT"}
    secret = JWT_SECRET.encode()
    return {
        "expired": with_token(
            jwt.encode(claims(exp=int(time.time()) - 60), JWT_SECRET, algorithm="HS256")
        ),
        "not yet valid": with_token(
            jwt.encode(claims(nbf=int(time.time()) + 600), JWT_SECRET, algorithm="HS256")
        ),
        "alg none": with_token(hand_made({"alg": "none", "typ": "JWT"}, claims(), None)),
        "alg none with a signature": with_token(
            hand_made({"alg": "none", "typ": "JWT"}, claims(), secret)
        ),
        "wrong secret": with_token(
            jwt.encode(claims(), "another-secret-that-is-also-long-enough", algorithm="HS256")
        ),
        "RS256 with a random key": with_token(
            jwt.encode(claims(), other_private, algorithm="RS256")
        ),
        # Only the configured algorithm is accepted, even with the right secret.
        "HS512 with the right secret": with_token(
            hand_made({"alg": "HS512", "typ": "JWT"}, claims(), secret, hashlib.sha512)
        ),
        "tampered payload": with_token(tampered(secret)),
        "no sub": with_token(hand_made(hs, claims(sub=None), secret)),
        "no tenant": with_token(hand_made(hs, claims(tenant=None), secret)),
        "no role": with_token(hand_made(hs, claims(role=None), secret)),
        "no exp": with_token(hand_made(hs, claims(exp=None), secret)),
        "unknown role": with_token(hand_made(hs, claims(role="superuser"), secret)),
        "role of the wrong type": with_token(hand_made(hs, claims(role=["admin"]), secret)),
        "malformed tenant": with_token(hand_made(hs, claims(tenant="acme' OR '1'='1"), secret)),
        "empty sub": with_token(hand_made(hs, claims(sub=""), secret)),
        "teams not a list": with_token(hand_made(hs, claims(teams={"t1": True}), secret)),
        "exp not a number": with_token(hand_made(hs, claims(exp="tomorrow"), secret)),
        "garbage token": with_token("not.a.jwt"),
        "scheme Basic": {"Authorization": "Basic " + b64url(b"boss:admin")},
        "scheme only": {"Authorization": "Bearer"},
        "scheme and a space": {"Authorization": "Bearer "},
        "token without scheme": {"Authorization": hand_made(hs, claims(), secret)},
        "no header": {},
    }


async def test_jwt_refusals_are_401_problems(jwt_client: AsyncClient) -> None:
    assert (await jwt_client.get(DEFINITIONS, headers=ADMIN)).status_code == 200
    hs = {"alg": "HS256", "typ": "JWT"}
    good = hand_made(hs, claims(), JWT_SECRET.encode())
    response = await jwt_client.get(DEFINITIONS, headers=with_token(good))
    assert response.status_code == 200, "the hand-made token is well formed"
    for name, headers in refused_hs256_headers().items():
        response = await jwt_client.get(DEFINITIONS, headers=headers)
        assert_problem(response, 401, name)
        assert JWT_SECRET not in response.text


async def test_jwt_audience_is_checked_when_configured(db: Database, database_url: str) -> None:
    async with app_client(db, database_url, auth_mode=AuthMode.JWT, jwt_audience="kpi") as c:
        ok = await c.get(DEFINITIONS, headers=bearer("boss", "admin", aud="kpi"))
        assert ok.status_code == 200, ok.text
        for name, headers in (
            ("another audience", bearer("boss", "admin", aud="other")),
            ("no audience", bearer("boss", "admin")),
        ):
            assert_problem(await c.get(DEFINITIONS, headers=headers), 401, name)


async def test_rs256_accepts_its_key_and_refuses_key_confusion(
    db: Database, database_url: str
) -> None:
    private, public = rsa_pair()
    other_private, _ = rsa_pair()
    async with app_client(
        db,
        database_url,
        auth_mode=AuthMode.JWT,
        jwt_secret=None,
        jwt_public_key=SecretStr(public.decode()),
    ) as c:
        signed = jwt.encode(claims(), private, algorithm="RS256")
        ok = await c.get(DEFINITIONS, headers=with_token(signed))
        assert ok.status_code == 200, ok.text
        refused = {
            # The classic confusion: HMAC keyed with the public key's PEM text.
            "HS256 keyed with the public PEM": hand_made(
                {"alg": "HS256", "typ": "JWT"}, claims(), public
            ),
            "HS256 keyed with the stripped public PEM": hand_made(
                {"alg": "HS256", "typ": "JWT"}, claims(), public.strip()
            ),
            "HS256 with the test secret": jwt.encode(claims(), JWT_SECRET, algorithm="HS256"),
            "RS256 by another key": jwt.encode(claims(), other_private, algorithm="RS256"),
            "alg none": hand_made({"alg": "none", "typ": "JWT"}, claims(), None),
            "RS256 expired": jwt.encode(
                claims(exp=int(time.time()) - 60), private, algorithm="RS256"
            ),
            "RS256 without tenant": jwt.encode(claims(tenant=None), private, algorithm="RS256"),
        }
        for name, token in refused.items():
            assert_problem(await c.get(DEFINITIONS, headers=with_token(token)), 401, name)


# --- trusted headers ---------------------------------------------------------------------


def bff(
    user: str,
    role: str,
    tenant: str | None = None,
    teams: str | None = None,
    token: str = SERVICE_TOKEN,
) -> dict[str, str]:
    """The headers the BFF forwards."""
    headers = {"X-Service-Token": token, "X-User-Id": user, "X-User-Role": role}
    if tenant is not None:
        headers["X-Tenant-Id"] = tenant
    if teams is not None:
        headers["X-User-Teams"] = teams
    return headers


async def test_trusted_headers(db: Database, database_url: str) -> None:
    async with app_client(db, database_url, auth_mode=AuthMode.TRUSTED_HEADERS) as c:
        admin = bff("boss", "admin")
        for name, headers in {
            "no service token": {k: v for k, v in admin.items() if k != "X-Service-Token"},
            "wrong service token": bff("boss", "admin", token="guess"),
            "service token prefix": bff("boss", "admin", token=SERVICE_TOKEN[:-1]),
            "service token with more": bff("boss", "admin", token=SERVICE_TOKEN + "x"),
            "empty service token": bff("boss", "admin", token=""),
            "a bearer token instead": ADMIN,
            "no user id": {k: v for k, v in admin.items() if k != "X-User-Id"},
            "no role": {k: v for k, v in admin.items() if k != "X-User-Role"},
            "unknown role": bff("boss", "root"),
            "malformed tenant": bff("boss", "admin", tenant="a b"),
            "malformed team": bff("m1", "manager", teams="t1,t 2"),
        }.items():
            assert_problem(await c.get(DEFINITIONS, headers=headers), 401, name)

        created = await define(c, "calls", headers=admin)
        assert created["created_by"] == "boss"
        kpi = created["id"]
        a42, a43, a44 = [
            (await assign(c, kpi, u, headers=admin, team_id=t, start_date="2026-01-05"))["id"]
            for u, t in (("42", "t1"), ("43", "t2"), ("44", "t3"))
        ]

        url = "/api/kpis/assignments"
        assert [a["id"] for a in await listed(c, url, admin)] == [a42, a43, a44]
        assert [a["id"] for a in await listed(c, url, bff("42", "member"))] == [a42]
        assert [a["id"] for a in await listed(c, url, bff("43", "member"))] == [a43]
        assert await listed(c, url, bff("99", "member")) == []
        manager = bff("m1", "manager", teams="t1, t3")
        assert [a["id"] for a in await listed(c, url, manager)] == [a42, a44]
        assert_problem(await c.get(f"{url}/{a43}", headers=manager), 404)
        # X-Tenant-Id names the tenant; the default tenant is the settings' one.
        assert [
            d["id"] for d in await listed(c, DEFINITIONS, bff("boss", "admin", tenant="default"))
        ] == [kpi]
        acme = bff("boss", "admin", tenant="acme")
        assert await listed(c, DEFINITIONS, acme) == []
        assert await listed(c, url, acme) == []
        assert_problem(await c.get(f"{url}/{a42}", headers=acme), 404)
        assert_problem(await c.get(f"{DEFINITIONS}/{kpi}", headers=acme), 404)

        audit = await listed(c, "/api/kpis/audit", admin)
        assert {(e["actor"], e["actor_role"]) for e in audit} == {("boss", "admin")}
        assert len(audit) == 4


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"auth_mode": AuthMode.NONE, "env": Environment.PRODUCTION}, "production"),
        ({"auth_mode": AuthMode.JWT, "jwt_secret": None, "jwt_public_key": None}, "KPI_JWT_SECRET"),
        ({"auth_mode": AuthMode.TRUSTED_HEADERS, "service_token": None}, "KPI_SERVICE_TOKEN"),
    ],
)
def test_settings_refuse_unsafe_auth(
    database_url: str, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        make_settings(database_url, **overrides)


def test_settings_accept_real_auth_in_production(database_url: str) -> None:
    settings = make_settings(database_url, env=Environment.PRODUCTION, auth_mode=AuthMode.JWT)
    assert settings.auth_mode is AuthMode.JWT


# --- tenant isolation beyond the walk ---------------------------------------------------


async def test_another_tenant_reaches_nothing(
    jwt_client: AsyncClient, db: Database, default_data: dict[str, Any]
) -> None:
    """What the walk (test_route_walk.py) does not send: filters naming our ids or keys, and
    the seed's routes' shapes, as another tenant's admin."""
    c, ids = jwt_client, default_data
    before = await snapshot(db)
    for url, params in (
        ("/api/kpis/assignments", {"definition_id": ids["definition_id"]}),
        ("/api/kpis/assignments", {"user_id": "42"}),
        ("/api/kpis/assignments", {"team_id": "t1"}),
        ("/api/kpis/measurements", {"assignment_id": ids["assignment_id"]}),
        ("/api/kpis/measurements", {"definition_key": "calls"}),
        ("/api/kpis/measurements", {"user_id": "42"}),
        ("/api/kpis/goals", {"user_id": "42"}),
        ("/api/kpis/events", {"user_id": "42"}),
        ("/api/kpis/alerts", {"rule_id": ids["rule_id"]}),
        ("/api/kpis/alerts/deliveries", {"channel_id": ids["channel_id"]}),
        ("/api/kpis/audit", {"entity_type": "definition", "entity_id": str(ids["definition_id"])}),
    ):
        response = await c.get(url, params=params, headers=ACME_ADMIN)
        assert response.status_code == 200 and response.json()["items"] == [], (url, params)
        ours = await c.get(url, params=params, headers=ADMIN)
        assert ours.json()["items"], ("the filter finds our rows", url, params)
    # Our definition is unknown to acme, whether it assigns or recalculates with it.
    refused = [
        (
            "POST",
            "/api/kpis/assignments",
            {
                "definition_key": "calls",
                "subject_type": "user",
                "subject_id": "42",
                "target_value": 1,
            },
        ),
        (
            "POST",
            "/api/kpis/measurements/recalculate",
            {"period_start": "2026-01-05", "definition_keys": ["calls"]},
        ),
        ("POST", "/api/kpis/alerts/evaluate", {"rule_ids": [ids["rule_id"]]}),
    ]
    for method, url, body in refused:
        response = await c.request(method, url, json=body, headers=ACME_ADMIN)
        assert_problem(response, 422, f"{method} {url}")
    # The seed's routes answer in their own shape.
    legacy = await c.get("/kpis/users/42", headers=ACME_ADMIN)
    assert legacy.status_code == 200 and legacy.json() == {"user_id": 42, "kpis": []}
    assert (await c.get("/kpis/definitions", headers=ACME_ADMIN)).json() == {"definitions": []}
    calc = await c.post(
        f"/kpis/calculate/{ids['event_assignment_id']}",
        headers=ACME_ADMIN,
        json={"period_start": "2026-01-05", "period_end": "2026-01-11"},
    )
    assert calc.status_code == 404 and "error" in calc.json(), calc.text
    assert await snapshot(db) == before
    revisions = await c.get(
        f"/api/kpis/measurements/{ids['measurement_id']}/revisions", headers=ADMIN
    )
    assert [r["actual_value"] for r in revisions.json()["items"]] == [10]
