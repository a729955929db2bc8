"""API sources may not reach internal addresses: refused when saved (422 on the URL field),
and refused again when connecting, with no request reaching a server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.api import (
    assign_in_bulk,
    assignment_body,
    define,
    definition_body,
    event,
    ingest,
    measurements,
    recalculate,
)
from tests.support.app import make_settings
from tests.support.problems import assert_problem
from tests.support.source import SourceServer, value_config

DEFINITIONS = "/api/kpis/definitions"
INTERNAL_HOSTS = [
    "127.0.0.1",
    "localhost",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "[::1]",
    "[fd00::1]",
    "[::ffff:127.0.0.1]",
]
BAD_SCHEME_URLS = [
    "file:///etc/passwd",
    "gopher://example.com/{subject_id}",
    "ftp://example.com/{subject_id}",
]


async def app_client(db: Database, database_url: str, allow: str) -> AsyncIterator[AsyncClient]:
    app = create_app(make_settings(database_url, outbound_allow=allow), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
    await app.state.runs.shutdown()


@pytest.fixture
async def strict(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """The app with the default policy: nothing internal is allowed."""
    async for c in app_client(db, database_url, ""):
        yield c


@pytest.fixture
async def on_premise(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """The same database, with loopback opened (as an on-premise operator would)."""
    async for c in app_client(db, database_url, "127.0.0.0/8,::1/128"):
        yield c


@pytest.mark.parametrize(
    "url", [f"http://{host}:8080/kpi/{{subject_id}}" for host in INTERNAL_HOSTS] + BAD_SCHEME_URLS
)
async def test_an_internal_or_non_http_source_url_is_refused_when_saved(
    strict: AsyncClient, source: SourceServer, url: str
) -> None:
    config = value_config(source, url=url, retries=2, timeout_s=5)
    response = await strict.post(
        DEFINITIONS, json=definition_body("crm", calculation_type="api", config=config)
    )
    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "config", "url"]]
    assert (await strict.get(DEFINITIONS)).json()["items"] == []


@pytest.mark.parametrize("host", INTERNAL_HOSTS)
async def test_an_internal_base_url_of_a_named_adapter_is_refused(
    strict: AsyncClient, host: str
) -> None:
    config = {
        "adapter": "intercom_median_first_response",
        "base_url": f"https://{host}",
        "auth": {"secret_env": "KPI_SECRET_INTERCOM"},
    }
    response = await strict.post(
        DEFINITIONS, json=definition_body("intercom", calculation_type="api", config=config)
    )
    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "config", "base_url"]]
    assert "internal addresses are refused" in problem["errors"][0]["msg"]


async def test_a_change_to_an_internal_url_is_refused_and_nothing_changes(
    strict: AsyncClient, source: SourceServer
) -> None:
    public = value_config(
        source, url="https://crm.example.com/kpi/{subject_id}", retries=2, timeout_s=5
    )
    created = await define(strict, "crm", calculation_type="api", config=public)
    for url in ("http://169.254.169.254/latest/{subject_id}", "http://[::ffff:10.0.0.1]/x"):
        response = await strict.patch(
            f"{DEFINITIONS}/{created['id']}", json={"config": public | {"url": url}}
        )
        problem = assert_problem(response, 422)
        assert [e["loc"] for e in problem["errors"]] == [["body", "config", "url"]]
    stored = (await strict.get(f"{DEFINITIONS}/{created['id']}")).json()
    assert (stored["config"]["url"], stored["version"]) == (public["url"], created["version"])


async def test_the_allow_list_opens_its_ranges_when_saved(
    on_premise: AsyncClient, source: SourceServer
) -> None:
    for n, host in enumerate(["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"]):
        url = f"http://{host}:8080/kpi/{{subject_id}}"
        config = value_config(source, url=url, retries=2, timeout_s=5)
        await define(on_premise, f"crm{n}", calculation_type="api", config=config)
    lan = value_config(source, url="http://10.1.2.3/kpi/{subject_id}", retries=2, timeout_s=5)
    response = await on_premise.post(
        DEFINITIONS, json=definition_body("lan", calculation_type="api", config=lan)
    )
    assert_problem(response, 422)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_source_refused_when_connecting_gets_no_request_and_the_run_goes_on(
    strict: AsyncClient, on_premise: AsyncClient, source: SourceServer, host: str
) -> None:
    # Saved while loopback was allowed (or written before the rule): the connection is
    # what is refused now, for a literal address and for a name resolving to loopback.
    state = source.reset()
    state.values = {"1": 12, "2": 7}
    url = f"http://{host}:{source.port}/kpi/{{subject_id}}"
    config = value_config(source, url=url, retries=2, timeout_s=5)
    crm = await define(on_premise, "crm", calculation_type="api", config=config)
    calls = await define(
        strict,
        key="calls",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "count"},
    )
    items = [
        assignment_body(d["id"], u, start_date="2026-11-01")
        for d in (crm, calls)
        for u in ("1", "2")
    ]
    await assign_in_bulk(strict, items)
    await ingest(strict, [event("call", "2026-11-10T10:00:00Z", "1")])

    run = await recalculate(strict, period_start="2026-11-09")
    assert (run["status"], run["computed"], run["failed"]) == ("partial", 2, 2)
    assert state.seen == []  # not one request, not one retry
    reasons = {(e["definition"], e["subject_id"]): e["error"] for e in run["errors"]}
    refused = (
        "the source is refused: the host resolves to a loopback address; internal "
        "addresses are refused unless KPI_OUTBOUND_ALLOW opens them"
    )
    assert reasons == {("crm", "1"): refused, ("crm", "2"): refused}
    got = {
        (m["definition_id"], m["subject_id"]): m["actual_value"] for m in await measurements(strict)
    }
    assert got == {(calls["id"], "1"): 1, (calls["id"], "2"): 0}

    # The same definition, run where loopback is allowed, reaches the source as before.
    run = await recalculate(on_premise, period_start="2026-11-09")
    assert (run["status"], run["failed"]) == ("succeeded", 0)
    assert sorted(s.path for s in state.seen) == ["/kpi/1", "/kpi/2"]
    got = {
        (m["definition_id"], m["subject_id"]): m["actual_value"] for m in await measurements(strict)
    }
    assert (got[(crm["id"], "1")], got[(crm["id"], "2")]) == (12, 7)
