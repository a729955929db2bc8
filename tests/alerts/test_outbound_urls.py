"""Webhook channels may not reach internal addresses: refused when saved (422 on `url`), and
refused when connecting, as one failed attempt that the receiver never sees."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.alerts import CHANNELS, DELIVERIES, QUICK, breach, run_and_settle, week
from tests.support.api import listed
from tests.support.app import make_settings
from tests.support.problems import assert_problem
from tests.support.receiver import SECRET_ENV, Receiver

INTERNAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "file:///etc/passwd",
    "gopher://example.com/hook",
    "ftp://example.com/hook",
]
REFUSED = (
    "the URL is refused: the host resolves to a loopback address; internal addresses "
    "are refused unless KPI_OUTBOUND_ALLOW opens them"
)


@pytest.fixture
async def strict(db: Database, database_url: str) -> AsyncIterator[AsyncClient]:
    """An app with quick retries and the default policy: nothing internal is allowed."""
    app = create_app(make_settings(database_url, outbound_allow="", **QUICK), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c
    await app.state.runs.shutdown()


@pytest.mark.parametrize("url", INTERNAL_URLS)
async def test_an_internal_or_non_http_webhook_url_is_refused_when_saved(
    strict: AsyncClient, url: str
) -> None:
    response = await strict.post(
        CHANNELS, json={"name": "ops", "url": url, "secret_env": SECRET_ENV}
    )
    problem = assert_problem(response, 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "url"]]
    assert (await strict.get(CHANNELS)).json()["items"] == []


@pytest.mark.parametrize("url", INTERNAL_URLS)
async def test_a_change_to_an_internal_url_is_refused_and_nothing_changes(
    strict: AsyncClient, url: str
) -> None:
    public = "https://hooks.example.com/kpi"
    created = await strict.post(
        CHANNELS, json={"name": "ops", "url": public, "secret_env": SECRET_ENV}
    )
    assert created.status_code == 201, created.text
    channel = f"{CHANNELS}/{created.json()['id']}"
    problem = assert_problem(await strict.patch(channel, json={"url": url}), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "url"]]
    assert (await strict.get(channel)).json()["url"] == public
    # Other fields still change without a URL in the body.
    assert (await strict.patch(channel, json={"name": "ops2"})).status_code == 200


async def test_the_allow_list_opens_loopback_when_saved(
    api: AsyncClient, receiver: Receiver
) -> None:
    # The tests' app allows 127.0.0.0/8, and no more.
    ok = await api.post(
        CHANNELS, json={"name": "ok", "url": receiver.url("/hook"), "secret_env": SECRET_ENV}
    )
    assert ok.status_code == 201, ok.text
    assert_problem(
        await api.post(
            CHANNELS, json={"name": "lan", "url": "http://10.0.0.1/h", "secret_env": SECRET_ENV}
        ),
        422,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_delivery_refused_when_connecting_fails_at_once_unseen(
    api: AsyncClient, strict: AsyncClient, receiver: Receiver, host: str
) -> None:
    # Saved where loopback was allowed; delivered by a process where it is not.
    hook = await breach(api, receiver, "/refused")
    url = f"http://{host}:{receiver.port}/refused"
    assert (await api.patch(f"{CHANNELS}/{hook['id']}", json={"url": url})).status_code == 200
    await run_and_settle(strict, period_start=week(1).isoformat())
    [delivery] = await listed(strict, DELIVERIES)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)  # not retried
    assert [(a["status_code"], a["error"]) for a in delivery["log"]] == [(None, REFUSED)]
    assert receiver.state.received == []


async def test_a_delivery_where_loopback_is_allowed_arrives(
    api: AsyncClient, receiver: Receiver
) -> None:
    await breach(api, receiver, "/allowed")
    await run_and_settle(api, period_start=week(1).isoformat())
    [delivery] = await listed(api, DELIVERIES)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 1)
    assert len(receiver.state.to("/allowed")) == 1
