"""Every route of the app, sent as every kind of caller, answers as the access matrix says
(tests/support/access_matrix.py), and a refused request changes nothing stored."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from httpx import AsyncClient, Response

from kpi_service.core.database import Database
from kpi_service.core.settings import AuthMode
from tests.support.access_matrix import ROUTES
from tests.support.access_rules import (
    ANONYMOUS,
    CALLERS,
    PUBLIC,
    TENANT,
    Caller,
    Known,
    Outcome,
    Route,
    may_see,
)
from tests.support.api import define, idle, listed, made
from tests.support.app import JWT_SECRET, SERVICE_TOKEN, app_client
from tests.support.auth import ADMIN, claims, hand_made, with_token
from tests.support.database import snapshot
from tests.support.routes import served_routes

# Sample ids for requests that are refused before any row is looked at.
PLACEHOLDERS = {
    "definition_id": 1,
    "key": "calls",
    "assignment_id": 1,
    "period_start": "2026-01-05",
    "measurement_id": 1,
    "run_id": 1,
    "goal_id": 1,
    "rule_id": 1,
    "channel_id": 1,
    "alert_id": 1,
    "user_id": "42",
    "new_user": "77",
    "event_assignment_id": 1,
    "n": 1,
    "pack": "support",
}


def test_the_matrix_covers_every_route() -> None:
    named = [(r.method, r.path) for r in ROUTES]
    assert len(named) == len(set(named)), "a route is named twice"
    served = served_routes()
    assert served - set(named) == set(), (
        "add these routes to ROUTES in tests/support/access_matrix.py"
    )
    assert set(named) - served == set(), "ROUTES names routes the app does not serve"


def test_the_matrix_is_well_formed() -> None:
    for route in ROUTES:
        outcomes = {route.outcome(c) for c in CALLERS}
        if route.expect != PUBLIC:
            assert len(route.expect.split()) == len(CALLERS), route.path
            assert route.outcome(ANONYMOUS) is Outcome.UNAUTHENTICATED
        # `own` is judged by whose rows an answer shows (or, for another tenant's view,
        # by whether it shows any data at all).
        if Outcome.OWN in outcomes:
            assert route.rows is not None or route.shows is not None, route.path
        assert route.fresh in (None, "definition", "goal", "rule", "channel"), route.path


async def _fresh(c: AsyncClient, kind: str, n: int) -> dict[str, Any]:
    """A new row of that kind (made by the admin) for one case to act on."""
    if kind == "definition":
        victim = await define(c, f"victim_{n}", name="Victim", headers=ADMIN)
        return {"definition_id": victim["id"]}
    if kind == "goal":
        made_id = (
            await made(
                c,
                "POST",
                "/api/kpis/goals",
                {
                    "definition_key": "calls",
                    "user_id": "42",
                    "period_kind": "yearly",
                    "period_start": f"{2100 + n}-01-01",
                    "target_value": 1,
                },
            )
        )["id"]
        return {"goal_id": made_id}
    if kind == "rule":
        made_id = (
            await made(
                c,
                "POST",
                "/api/kpis/alerts/rules",
                {
                    "definition_key": "calls",
                    "name": f"Victim {n}",
                    "condition": {"kind": "achievement_below", "threshold": 1},
                },
            )
        )["id"]
        return {"rule_id": made_id}
    assert kind == "channel"
    made_id = (
        await made(
            c,
            "POST",
            "/api/kpis/alerts/channels",
            {
                "name": f"victim-{n}",
                "url": "http://127.0.0.1:9/hook",
                "secret_env": "KPI_WEBHOOK_SECRET_NOT_SET_IN_TESTS",
            },
        )
    )["id"]
    return {"channel_id": made_id}


def _refusal(route: Route, response: Response, status: int) -> str | None:
    """Why this answer is not the refusal expected, in the route's shape, if it is not."""
    if response.status_code != status:
        return f"answered {response.status_code}: {response.text[:300]}"
    if route.legacy:
        if not isinstance(response.json().get("error"), str):
            return f"no 'error' in {response.text[:200]}"
    elif (
        response.headers.get("content-type") != "application/problem+json"
        or response.json().get("status") != status
    ):
        return f"not a problem+json of status {status}: {response.text[:200]}"
    return None


async def _own(
    c: AsyncClient, route: Route, url: str, caller: Caller, response: Response
) -> str | None:
    """Why this list or view shows rows the caller may not see (or misses some), if so."""
    if response.status_code != 200:
        return f"answered {response.status_code}: {response.text[:300]}"
    if route.rows is None:  # a view, for another tenant: nothing of ours shows
        assert route.shows is not None and caller.tenant != TENANT
        return "another tenant sees our data" if route.shows(response) else None
    admin = await c.request(route.method, url, params=route.params, headers=ADMIN)
    known = Known({a["id"]: a for a in await listed(c, "/api/kpis/assignments", ADMIN)})
    ours, seen = route.rows(admin, known), route.rows(response, known)
    if not ours:
        return "the walk's data shows nothing here, even to the admin"
    expected = {k for k, s in ours.items() if caller.tenant == TENANT and may_see(caller, s)}
    got = {k for k in seen if k in ours}
    if caller.tenant == TENANT and set(seen) - set(ours):
        return f"rows the admin does not see: {sorted(map(str, set(seen) - set(ours)))}"
    if got != expected:
        return f"saw {sorted(map(str, got))}, expected {sorted(map(str, expected))}"
    return None


def _judged(route: Route, expected: Outcome | str, response: Response) -> str | None:
    if expected == PUBLIC or expected is Outcome.OK:
        if not 200 <= response.status_code < 300:
            return f"answered {response.status_code}: {response.text[:300]}"
        if route.shows is not None and not route.shows(response):
            return "allowed, yet the answer shows none of the walk's data"
        return None
    assert isinstance(expected, Outcome)
    return _refusal(route, response, int(expected.value))


async def test_every_route_answers_every_caller_as_the_matrix_says(
    jwt_client: AsyncClient, db: Database, default_data: dict[str, Any]
) -> None:
    c = jwt_client
    failures: list[str] = []
    tally: Counter[str] = Counter()
    full, ours = await snapshot(db), await snapshot(db, TENANT)
    n = 0
    for route in ROUTES:
        for caller in (*CALLERS, ANONYMOUS):
            n += 1
            ids = {**default_data, "n": n, "new_user": f"u{n}"}
            if route.fresh is not None:
                ids.update(await _fresh(c, route.fresh, n))
                full, ours = await snapshot(db), await snapshot(db, TENANT)
            expected = route.outcome(caller)
            url, body = route.request(ids)
            try:
                response = await c.request(
                    route.method, url, params=route.params, json=body, headers=caller.headers()
                )
            except Exception as exc:  # the app's own error, re-raised by the test transport
                problem: str | None = f"raised {exc!r}"[:300]
            else:
                if expected is Outcome.OWN:
                    problem = await _own(c, route, url, caller, response)
                else:
                    problem = _judged(route, expected, response)
            await idle(c)
            if route.writes and expected is Outcome.OK:
                if caller.tenant != TENANT and await snapshot(db, TENANT) != ours:
                    problem = "another tenant's allowed write changed our rows"
                full, ours = await snapshot(db), await snapshot(db, TENANT)
            elif (after := await snapshot(db)) != full:
                problem = (
                    (problem or "")
                    + " and changed "
                    + ", ".join(sorted(t for t in after if after[t] != full[t]))
                )
                full, ours = after, await snapshot(db, TENANT)
            tally[str(expected)] += 1
            if problem is not None:
                failures.append(
                    f"{route.method} {route.path} as {caller.name} (expected {expected}): {problem}"
                )
    print(f"\nroute walk: {len(ROUTES)} routes, {n} cases: {dict(sorted(tally.items()))}")
    assert not failures, f"{len(failures)} of {n} cases:\n" + "\n".join(failures)


# --- no credentials, or bad ones: 401 on every route but the public ones -----------------


def _bad_bearers() -> dict[str, dict[str, str]]:
    hs = {"alg": "HS256", "typ": "JWT"}
    return {
        "no credentials": {},
        "expired": with_token(
            jwt.encode(claims(exp=int(time.time()) - 60), JWT_SECRET, algorithm="HS256")
        ),
        "alg none": with_token(hand_made({"alg": "none", "typ": "JWT"}, claims(), None)),
        "wrong key": with_token(
            jwt.encode(claims(), "another-secret-that-is-long-enough-too", algorithm="HS256")
        ),
        "no tenant claim": with_token(hand_made(hs, claims(tenant=None), JWT_SECRET.encode())),
        "no role claim": with_token(hand_made(hs, claims(role=None), JWT_SECRET.encode())),
    }


def _bad_bff_headers() -> dict[str, dict[str, str]]:
    identity = {"X-User-Id": "boss", "X-User-Role": "admin", "X-Tenant-Id": TENANT}
    return {
        "no service token": identity,
        "wrong service token": {**identity, "X-Service-Token": "guess"},
        "the token, no identity": {"X-Service-Token": SERVICE_TOKEN},
        "the token and a user, no role": {"X-Service-Token": SERVICE_TOKEN, "X-User-Id": "boss"},
        "a bearer token instead": ADMIN,
    }


@pytest.fixture(params=["jwt", "trusted_headers"])
async def refusing(
    request: pytest.FixtureRequest, db: Database, database_url: str
) -> AsyncIterator[tuple[AsyncClient, dict[str, Any]]]:
    """A client on an app of that auth mode, and the credentials it must refuse."""
    mode = AuthMode(request.param)
    bad = _bad_bearers() if mode is AuthMode.JWT else _bad_bff_headers()
    async with app_client(db, database_url, auth_mode=mode) as c:
        yield c, bad


async def test_bad_credentials_are_refused_on_every_route(
    refusing: tuple[AsyncClient, dict[str, dict[str, str]]], db: Database
) -> None:
    c, bad = refusing
    before = await snapshot(db)
    failures = []
    for route in ROUTES:
        url, body = route.request(PLACEHOLDERS)
        for name, headers in bad.items():
            response = await c.request(
                route.method, url, params=route.params, json=body, headers=headers
            )
            if route.expect == PUBLIC:
                problem = _judged(route, PUBLIC, response)
            else:
                problem = _refusal(route, response, 401)
            if problem is not None:
                failures.append(f"{route.method} {route.path} with {name}: {problem}")
    assert not failures, "\n".join(failures)
    assert await snapshot(db) == before
