"""`/metrics` scraped after real work: request counts under route templates, runs by status,
calculations by calculator, events by outcome, webhooks by outcome, the pool."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.alerts import make_channel, make_rule, run_and_settle, week
from tests.support.api import assign, define, event, ingest, record, wait_for_run
from tests.support.app import make_settings
from tests.support.database import create_support_cases
from tests.support.problems import assert_problem
from tests.support.receiver import Receiver

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
REQUESTS = "kpi_http_request_duration_seconds"
ASSIGNMENT = "/api/kpis/assignments/{assignment_id}"
MONDAY = date(2026, 3, 2)


def parse(exposition: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def scrape(c: AsyncClient, **headers: str) -> Samples:
    response = await c.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return parse(response.text)


@pytest.fixture
async def app(db: Database, settings: Any) -> FastAPI:
    return create_app(settings, database=db)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
    await app.state.runs.shutdown()


async def finished(api: AsyncClient, app: FastAPI, **body: Any) -> dict[str, Any]:
    """Recalculate, wait for the run, and for the process's work after it (the count)."""
    response = await api.post("/api/kpis/measurements/recalculate", json=body)
    assert response.status_code == 202, response.text
    run = await wait_for_run(api, response.json()["id"])
    await app.state.runs.idle()
    return run


async def test_requests_are_counted_under_their_route_template(
    api: AsyncClient, db: Database, settings: Any
) -> None:
    kpi = await define(api, key="calls")
    ids = [(await assign(api, kpi["id"], str(user), 10))["id"] for user in (7, 8, 9)]
    for assignment_id in ids:
        assert (await api.get(f"/api/kpis/assignments/{assignment_id}")).status_code == 200
    for missing in (999_001, 999_002):
        assert (await api.get(f"/api/kpis/assignments/{missing}")).status_code == 404
    for raw in ("/nope", "/api/kpis/nope/123"):
        assert (await api.get(raw)).status_code == 404
    assert (await api.request("BREW", "/healthz")).status_code == 405

    samples = await scrape(api)
    count = REQUESTS + "_count"
    assert value(samples, count, method="GET", route=ASSIGNMENT, status="200") == 3
    assert value(samples, count, method="GET", route=ASSIGNMENT, status="404") == 2
    assert value(samples, count, method="POST", route="/api/kpis/definitions", status="201") == 1
    assert value(samples, count, method="POST", route="/api/kpis/assignments", status="201") == 3
    assert value(samples, count, method="GET", route="unmatched", status="404") == 2
    assert value(samples, count, method="other", route="/healthz", status="405") == 1
    # Every histogram's +Inf bucket holds all its requests.
    assert (
        value(
            samples, REQUESTS + "_bucket", method="GET", route=ASSIGNMENT, status="200", le="+Inf"
        )
        == 3
    )
    # Route labels are templates of the API (or `unmatched`), never a raw path.
    templates = set(api_paths(api))
    routes = {dict(labels)["route"] for name, labels in samples if name == count}
    assert routes <= templates | {"unmatched"}, routes - templates
    assert not any(str(i) in route for route in routes for i in ids)

    # Another app keeps its own request counts (the work counters are the process's).
    other = create_app(settings, database=db)
    async with AsyncClient(transport=ASGITransport(app=other), base_url="http://test") as c:
        fresh = await scrape(c)
    assert value(fresh, count, method="GET", route=ASSIGNMENT, status="200") == 0


def api_paths(api: AsyncClient) -> list[str]:
    transport = api._transport
    assert isinstance(transport, ASGITransport)
    spec: dict[str, Any] = transport.app.openapi()  # type: ignore[attr-defined]
    return list(spec["paths"])


async def test_metrics_stay_out_of_the_schema_and_speak_openmetrics_on_request(
    api: AsyncClient,
) -> None:
    assert "/metrics" not in api_paths(api)
    plain = await api.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain")
    assert "# TYPE kpi_runs_finished_total counter" in plain.text
    assert "process_resident_memory_bytes" in plain.text
    assert "_created" not in plain.text
    negotiated = await api.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert negotiated.headers["content-type"].startswith("application/openmetrics-text")
    assert negotiated.text.rstrip().endswith("# EOF")


async def test_a_metrics_token_is_required_when_configured(db: Database, database_url: str) -> None:
    app = create_app(make_settings(database_url, metrics_token="scrape-me"), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic scrape-me"},
        ):
            refused = await c.get("/metrics", headers=headers)
            assert_problem(refused, 401, headers)
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "kpi_" not in refused.text
        allowed = await c.get("/metrics", headers={"Authorization": "bearer scrape-me"})
        assert allowed.status_code == 200 and "kpi_runs_finished_total" in allowed.text


def _events(rng: random.Random, users: list[str], weeks: int) -> list[dict[str, Any]]:
    start = datetime(MONDAY.year, MONDAY.month, MONDAY.day, 12, tzinfo=UTC)
    return [
        event("call", start + timedelta(days=rng.randrange(7 * weeks)), user)
        for user in users
        for _ in range(rng.randint(0, 4))
    ]


async def test_runs_count_once_by_status_and_calculations_by_calculator(
    api: AsyncClient, app: FastAPI
) -> None:
    rng = random.Random(20261121)
    users = [str(100 + i) for i in range(rng.randint(3, 9))]
    weeks = 3
    await ingest(api, _events(rng, users, weeks))
    calls = await define(
        api,
        key="calls",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    for user in users:
        await assign(api, calls["id"], user, 5, start_date=MONDAY.isoformat())

    before = await scrape(api)
    end = MONDAY + timedelta(weeks=weeks - 1)
    run = await finished(api, app, period_start=MONDAY.isoformat(), period_end=end.isoformat())
    assert (run["status"], run["computed"]) == ("succeeded", len(users) * weeks)
    after = await scrape(api)
    assert (
        delta(before, after, "kpi_runs_finished_total", status="succeeded", trigger="backfill") == 1
    )
    assert (
        delta(before, after, "kpi_runs_finished_total", status="succeeded", trigger="manual") == 0
    )
    # One calculator call per (KPI, week), each answering for every assigned user.
    assert (
        delta(
            before,
            after,
            "kpi_calculation_duration_seconds_count",
            calculator="event",
            outcome="ok",
        )
        == weeks
    )
    assert delta(before, after, "kpi_calculation_rows_total", calculator="event") == (
        len(users) * weeks
    )

    # A query KPI whose source table is missing fails as a whole: with the event KPI the run
    # is partial, alone it fails.
    resolved = await define(
        api, key="resolved", calculation_type="query", config={"query_key": "cases_resolved_count"}
    )
    await assign(api, resolved["id"], users[0], 5, start_date=MONDAY.isoformat())
    mixed = await finished(api, app, period_start=MONDAY.isoformat())
    alone = await finished(api, app, period_start=MONDAY.isoformat(), definition_keys=["resolved"])
    assert (mixed["status"], alone["status"]) == ("partial", "failed")
    last = await scrape(api)
    for status in ("partial", "failed"):
        assert delta(after, last, "kpi_runs_finished_total", status=status, trigger="manual") == 1
    assert delta(after, last, "kpi_runs_finished_total", status="succeeded", trigger="manual") == 0
    assert (
        delta(
            after,
            last,
            "kpi_calculation_duration_seconds_count",
            calculator="query",
            outcome="failed",
        )
        == 2
    )
    assert delta(after, last, "kpi_calculation_rows_total", calculator="query") == 0
    assert delta(after, last, "kpi_calculation_rows_total", calculator="event") == len(users)


async def test_a_calculation_inside_a_request_is_a_finished_run_too(
    api: AsyncClient, db: Database
) -> None:
    monday = datetime(2026, 11, 9, 9, tzinfo=UTC)
    await create_support_cases(db, [(1, "resolved", monday, monday + timedelta(hours=3))])
    kpi = await define(
        api,
        key="cases_resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    made = await assign(api, kpi["id"], "1", 3)
    before = await scrape(api)
    answer = await api.post(
        f"/kpis/calculate/{made['id']}",
        json={"period_start": "2026-11-09", "period_end": "2026-11-15"},
    )
    assert answer.status_code == 200, answer.text
    after = await scrape(api)
    assert (
        delta(before, after, "kpi_runs_finished_total", status="succeeded", trigger="manual") == 1
    )
    assert (
        delta(
            before,
            after,
            "kpi_calculation_duration_seconds_count",
            calculator="query",
            outcome="ok",
        )
        == 1
    )
    assert delta(before, after, "kpi_calculation_rows_total", calculator="query") == 1


async def test_events_are_counted_by_outcome(api: AsyncClient) -> None:
    rng = random.Random(77)
    t0 = datetime(2026, 3, 3, 9, tzinfo=UTC)

    def call() -> dict[str, Any]:
        return event(
            "call",
            user_id=str(rng.randint(1, 5)),
            occurred_at=t0 + timedelta(minutes=rng.randint(0, 9999)),
        )

    stored = [call() for _ in range(rng.randint(3, 8))]
    before = await scrape(api)
    await ingest(api, stored)
    new = [call() for _ in range(rng.randint(4, 12))]
    again = rng.sample(stored, rng.randint(1, len(stored)))  # stored before
    repeated = [dict(new[0]), dict(new[1])]  # twice in the same batch
    bad = [
        {**call(), "user_id": None},
        {**call(), "occurred_at": "1999-12-31T00:00:00Z"},
        {"id": "not-a-uuid", "type": "call"},
    ]
    batch = [*new, *again, *repeated, *bad]
    rng.shuffle(batch)
    k, d, r = len(batch), len(again) + len(repeated), len(bad)
    answer = await api.post("/api/kpis/events", json={"events": batch})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["accepted"], answer.json()["duplicates"], answer.json()["rejected"]) == (
        k - d - r,
        d,
        r,
    )
    after = await scrape(api)
    name = "kpi_events_ingested_total"
    assert delta(before, after, name, outcome="accepted") == len(stored) + k - d - r
    assert delta(before, after, name, outcome="duplicate") == d
    assert delta(before, after, name, outcome="rejected") == r


@pytest.fixture
async def quick(db: Database, database_url: str, receiver: Receiver) -> AsyncIterator[AsyncClient]:
    """An app with quick webhook retries (3 attempts), the receiver's secret set."""
    app = create_app(
        make_settings(
            database_url,
            webhook_backoff_seconds=0.01,
            webhook_timeout_seconds=0.5,
            webhook_attempts=3,
        ),
        database=db,
    )
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
    await app.state.runs.shutdown()


async def test_webhook_attempts_and_deliveries_by_outcome(
    quick: AsyncClient, receiver: Receiver
) -> None:
    receiver.state.plan("/flaky", "500", "503", "ok")
    receiver.state.plan("/down", "502")
    kpi = await define(quick, key="calls")
    a42 = await assign(quick, kpi["id"], "42", 10, start_date=week(1).isoformat())
    hooks = [(await make_channel(quick, receiver, path))["id"] for path in ("/flaky", "/down")]
    await make_rule(quick, kpi["id"], {"kind": "achievement_below", "threshold": 80}, hooks)
    await record(quick, a42["id"], week(1), 5)
    before = await scrape(quick)
    await run_and_settle(quick, period_start=week(1).isoformat())
    after = await scrape(quick)
    assert len(receiver.state.received) == 6
    # /flaky: 500, 503 (retried), 200; /down: 502, 502 (retried), 502 (given up).
    attempts = "kpi_webhook_attempts_total"
    assert delta(before, after, attempts, outcome="retry") == 4
    assert delta(before, after, attempts, outcome="delivered") == 1
    assert delta(before, after, attempts, outcome="failed") == 1
    deliveries = "kpi_webhook_deliveries_total"
    assert delta(before, after, deliveries, outcome="delivered") == 1
    assert delta(before, after, deliveries, outcome="failed") == 1


async def test_pool_gauges_and_a_pool_timeout_answers_503(database_url: str, db: Database) -> None:
    settings = make_settings(database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2)
    small = Database.connect(database_url, settings)
    app = create_app(settings, database=small)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
            assert (await c.get("/api/kpis/definitions")).status_code == 200
            idle = await scrape(c)
            assert value(idle, "kpi_db_pool_size", database="service") == 1
            assert value(idle, "kpi_db_pool_max_overflow", database="service") == 0
            assert value(idle, "kpi_db_pool_checked_out", database="service") == 0
            assert value(idle, "kpi_db_pool_idle", database="service") == 1
            async with small.engine.connect() as held:
                await held.execute(text("SELECT 1"))
                busy = await scrape(c)
                assert value(busy, "kpi_db_pool_checked_out", database="service") == 1
                refused = await c.get("/api/kpis/definitions")
                assert_problem(refused, 503)
                assert int(refused.headers["retry-after"]) > 0
                assert refused.json()["status"] == 503
            assert (await c.get("/api/kpis/definitions")).status_code == 200
            samples = await scrape(c)
        count = REQUESTS + "_count"
        assert value(samples, count, method="GET", route="/api/kpis/definitions", status="503") == 1
        assert value(samples, count, method="GET", route="/api/kpis/definitions", status="200") == 2
    finally:
        await small.dispose()
