"""Who sees and acknowledges which alerts, who configures rules, and tenants kept apart."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient

from tests.support.alerts import (
    ALERTS,
    CHANNELS,
    DELIVERIES,
    RULES,
    make_channel,
    make_rule,
    run_and_settle,
    week,
)
from tests.support.api import assign, define, listed, record
from tests.support.auth import ADMIN, bearer
from tests.support.receiver import Receiver

ACME = bearer("boss", "admin", tenant="acme")
MEMBER42, MEMBER43 = bearer("42", "member"), bearer("43", "member")
MANAGER_T1 = bearer("m1", "manager", teams=["t1"])


@pytest.fixture
async def world(jwt_api: AsyncClient, receiver: Receiver) -> dict[str, Any]:
    """Members 42 (team t1) and 43 (team t2) both under 80% of target: two firing alerts."""
    c = jwt_api
    ids: dict[str, Any] = {"definition": (await define(c, "calls", headers=ADMIN))["id"]}
    for subject, team in (("42", "t1"), ("43", "t2")):
        made = await assign(
            c,
            ids["definition"],
            subject,
            headers=ADMIN,
            team_id=team,
            start_date=week(1).isoformat(),
        )
        await record(c, made["id"], week(1), 5, headers=ADMIN)
    ids["channel"] = (await make_channel(c, receiver, "/acl", headers=ADMIN))["id"]
    ids["rule"] = (
        await make_rule(
            c,
            ids["definition"],
            {"kind": "achievement_below", "threshold": 80},
            [ids["channel"]],
            headers=ADMIN,
        )
    )["id"]
    await run_and_settle(c, headers=ADMIN, period_start=week(1).isoformat())
    alerts = {a["subject_id"]: a["id"] for a in await listed(c, ALERTS, ADMIN)}
    assert set(alerts) == {"42", "43"}
    ids["alert42"], ids["alert43"] = alerts["42"], alerts["43"]
    return ids


async def test_members_and_managers_see_the_alerts_of_whom_they_see(
    jwt_api: AsyncClient, world: dict[str, Any]
) -> None:
    c = jwt_api
    assert [a["id"] for a in await listed(c, ALERTS, MEMBER42)] == [world["alert42"]]
    assert [a["id"] for a in await listed(c, ALERTS, MANAGER_T1)] == [world["alert42"]]
    assert await listed(c, ALERTS, bearer("99", "member")) == []
    assert (await c.get(f"{ALERTS}/{world['alert42']}", headers=MEMBER42)).status_code == 200
    for who in (MEMBER42, MANAGER_T1):
        assert (await c.get(f"{ALERTS}/{world['alert43']}", headers=who)).status_code == 404
    # Rules, channels, deliveries and evaluation are the admins' business.
    for url in (
        RULES,
        CHANNELS,
        DELIVERIES,
        f"{RULES}/{world['rule']}",
        f"{CHANNELS}/{world['channel']}",
    ):
        for who in (MEMBER42, MANAGER_T1):
            response = await c.get(url, headers=who)
            assert response.status_code == 403, (url, response.text)
    for method, url, body in (
        (
            "POST",
            RULES,
            {
                "definition_id": world["definition"],
                "name": "Mine",
                "condition": {"kind": "anomaly"},
            },
        ),
        ("PATCH", f"{RULES}/{world['rule']}", {"is_active": False}),
        ("DELETE", f"{RULES}/{world['rule']}", None),
        (
            "POST",
            CHANNELS,
            {"name": "x", "url": "https://example.com/x", "secret_env": "KPI_WEBHOOK_SECRET_X"},
        ),
        ("PATCH", f"{CHANNELS}/{world['channel']}", {"name": "y"}),
        ("DELETE", f"{CHANNELS}/{world['channel']}", None),
        ("POST", f"{ALERTS}/evaluate", {}),
    ):
        response = await c.request(method, url, json=body, headers=MANAGER_T1)
        assert response.status_code == 403, (method, url, response.text)
    assert len(await listed(c, RULES, ADMIN)) == 1


async def test_acknowledge(jwt_api: AsyncClient, world: dict[str, Any]) -> None:
    c = jwt_api
    url = f"{ALERTS}/{world['alert42']}/acknowledge"
    assert (await c.post(url, headers=MEMBER42)).status_code == 403
    assert (
        await c.post(f"{ALERTS}/{world['alert43']}/acknowledge", headers=MANAGER_T1)
    ).status_code == 404
    acked = await c.post(url, headers=MANAGER_T1, json={"note": "on it"})
    assert acked.status_code == 200, acked.text
    alert = acked.json()
    assert (alert["status"], alert["acknowledged_by"], alert["acknowledgement_note"]) == (
        "firing",
        "m1",
        "on it",
    )
    assert alert["acknowledged_at"] is not None
    # A second acknowledgement keeps the first.
    again = await c.post(url, headers=ADMIN)
    assert again.status_code == 200 and again.json() == alert
    assert (await c.get(f"{ALERTS}/{world['alert42']}", headers=MEMBER42)).json() == alert
    entries = await listed(c, "/api/kpis/audit", ADMIN, entity_type="alert")
    assert [(e["actor"], e["action"]) for e in entries] == [("m1", "acknowledge")]


async def test_a_resolved_alert_is_not_acknowledged(
    jwt_api: AsyncClient, world: dict[str, Any]
) -> None:
    c = jwt_api
    assignments = await listed(c, "/api/kpis/assignments", ADMIN, user_id="42")
    await record(c, assignments[0]["id"], week(2), 10, headers=ADMIN)
    await run_and_settle(c, headers=ADMIN, period_start=week(2).isoformat())
    response = await c.post(f"{ALERTS}/{world['alert42']}/acknowledge", headers=ADMIN)
    assert response.status_code == 409, response.text


async def test_another_tenant_reaches_nothing(jwt_api: AsyncClient, world: dict[str, Any]) -> None:
    c = jwt_api
    for url in (ALERTS, RULES, CHANNELS, DELIVERIES):
        assert await listed(c, url, ACME) == [], url
    for method, url, body in (
        ("GET", f"{ALERTS}/{world['alert42']}", None),
        ("POST", f"{ALERTS}/{world['alert42']}/acknowledge", None),
        ("GET", f"{RULES}/{world['rule']}", None),
        ("PATCH", f"{RULES}/{world['rule']}", {"is_active": False}),
        ("DELETE", f"{RULES}/{world['rule']}", None),
        ("GET", f"{CHANNELS}/{world['channel']}", None),
        ("PATCH", f"{CHANNELS}/{world['channel']}", {"name": "taken"}),
        ("DELETE", f"{CHANNELS}/{world['channel']}", None),
    ):
        response = await c.request(method, url, json=body, headers=ACME)
        assert response.status_code == 404, (method, url, response.text)
    # Our definition, channel and rule ids mean nothing to acme.
    for rule in (
        {"definition_id": world["definition"], "name": "x", "condition": {"kind": "anomaly"}},
        {"definition_key": "calls", "name": "x", "condition": {"kind": "anomaly"}},
    ):
        assert (await c.post(RULES, json=rule, headers=ACME)).status_code == 422
    evaluated = await c.post(f"{ALERTS}/evaluate", json={"rule_ids": [world["rule"]]}, headers=ACME)
    assert evaluated.status_code == 422, evaluated.text
    assert [a["acknowledged_at"] for a in await listed(c, ALERTS, ADMIN)] == [None, None]
    assert (await c.get(f"{RULES}/{world['rule']}", headers=ADMIN)).json()["is_active"]
