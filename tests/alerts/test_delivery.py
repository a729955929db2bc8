"""Webhook delivery: retries with backoff, timeouts, what is not retried, the delivery log,
secrets that never show, and deliveries left pending by a stopped process."""

from __future__ import annotations

import asyncio
import logging

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from kpi_service.alerts.delivery_service import retry_pending
from kpi_service.app import create_app
from kpi_service.core.database import Database
from tests.support.alerts import ALERTS, CHANNELS, DELIVERIES, QUICK, breach, run_and_settle, week
from tests.support.api import assign, listed, record, wait_for_run
from tests.support.app import make_settings
from tests.support.receiver import SECRET, Receiver


async def test_two_errors_then_success_is_three_logged_attempts(
    api: AsyncClient, receiver: Receiver
) -> None:
    receiver.state.plan("/flaky", "500", "503", "ok")
    await breach(api, receiver, "/flaky")
    await run_and_settle(api, period_start=week(1).isoformat())
    [delivery] = await listed(api, DELIVERIES)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        3,
        200,
    )
    log = delivery["log"]
    assert [(a["attempt"], a["status_code"], a["error"]) for a in log] == [
        (1, 500, "HTTP 500"),
        (2, 503, "HTTP 503"),
        (3, 200, None),
    ]
    assert [a["next_retry_at"] is not None for a in log] == [True, True, False]
    assert all(a["duration_ms"] >= 0 for a in log)
    sent = receiver.state.to("/flaky")
    assert len(sent) == 3 and all(r.signed for r in sent)
    # The same delivery each time: one idempotency key, one body, fresh signatures.
    assert {r.delivery for r in sent} == {str(delivery["id"])}
    assert len({r.body for r in sent}) == 1


async def test_a_hanging_receiver_is_cut_by_the_timeout(
    api: AsyncClient, receiver: Receiver
) -> None:
    receiver.state.plan("/hang", "hang")
    await breach(api, receiver, "/hang")
    await run_and_settle(api, period_start=week(1).isoformat())
    [delivery] = await listed(api, DELIVERIES)
    assert (delivery["status"], delivery["attempts"]) == ("failed", QUICK["webhook_attempts"])
    timeout = QUICK["webhook_timeout_seconds"]
    assert [a["error"] for a in delivery["log"]] == [f"no answer within {timeout:g} s"] * QUICK[
        "webhook_attempts"
    ]
    assert all(a["status_code"] is None for a in delivery["log"])
    assert len(receiver.state.to("/hang")) == QUICK["webhook_attempts"]


@pytest.mark.parametrize(
    ("plan", "codes", "status"),
    [
        (["400"], [400], "failed"),
        (["404"], [404], "failed"),
        (["429", "ok"], [429, 200], "delivered"),
        (["502", "502", "502"], [502, 502, 502], "failed"),
    ],
)
async def test_what_is_retried(
    api: AsyncClient, receiver: Receiver, plan: list[str], codes: list[int], status: str
) -> None:
    receiver.state.plan("/codes", *plan)
    await breach(api, receiver, "/codes")
    await run_and_settle(api, period_start=week(1).isoformat())
    [delivery] = await listed(api, DELIVERIES)
    assert [a["status_code"] for a in delivery["log"]] == codes
    assert delivery["status"] == status


async def test_an_unreachable_receiver_is_retried_then_failed(
    api: AsyncClient, receiver: Receiver
) -> None:
    hook = await breach(api, receiver, "/gone")
    # A port nothing listens on: connection refused on every attempt.
    closed = "http://127.0.0.1:9/gone"
    assert (await api.patch(f"{CHANNELS}/{hook['id']}", json={"url": closed})).status_code == 200
    await run_and_settle(api, period_start=week(1).isoformat())
    [delivery] = await listed(api, DELIVERIES)
    assert delivery["status"] == "failed" and delivery["attempts"] == QUICK["webhook_attempts"]
    assert all(a["url"] == closed and a["error"] for a in delivery["log"])


async def test_the_secret_is_never_stored_shown_or_logged(
    api: AsyncClient,
    receiver: Receiver,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = await breach(api, receiver, "/secret")
    await run_and_settle(api, period_start=week(1).isoformat())
    assert receiver.state.to("/secret")[0].signed
    answers = [
        await api.get(url)
        for url in (
            CHANNELS,
            f"{CHANNELS}/{hook['id']}",
            ALERTS,
            DELIVERIES,
            "/api/kpis/alerts/rules",
            "/api/kpis/audit",
        )
    ]
    assert all(a.status_code == 200 and SECRET not in a.text for a in answers)
    assert hook["secret_env"] == "KPI_WEBHOOK_SECRET_TESTS" and "secret" not in hook
    assert SECRET not in caplog.text
    async with db.engine.connect() as conn:
        dump = await conn.execute(
            text("SELECT string_agg(t::text, ' ') FROM (SELECT * FROM kpi.alert_channels) t")
        )
        assert SECRET not in (dump.scalar() or "")

    # Unset at delivery time: the delivery fails at once, naming the variable, sending nothing.
    monkeypatch.delenv("KPI_WEBHOOK_SECRET_TESTS")
    a43 = await assign(api, 1, "43", 10, start_date=week(1).isoformat())
    await record(api, a43["id"], week(1), 1)
    await run_and_settle(api, period_start=week(1).isoformat())
    failed = [d for d in await listed(api, DELIVERIES) if d["status"] == "failed"]
    assert [(d["attempts"], d["last_error"]) for d in failed] == [
        (1, "the secret KPI_WEBHOOK_SECRET_TESTS is not set")
    ]
    assert len(receiver.state.to("/secret")) == 1


async def test_a_delivery_left_pending_by_a_stopped_process_is_sent_later(
    db: Database, database_url: str, receiver: Receiver
) -> None:
    receiver.state.plan("/later", "hang", "ok")
    slow = make_settings(database_url, **{**QUICK, "webhook_timeout_seconds": 30})
    app = create_app(slow, database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        await breach(c, receiver, "/later")
        response = await c.post(
            "/api/kpis/measurements/recalculate", json={"period_start": week(1).isoformat()}
        )
        await wait_for_run(c, response.json()["id"])
        for _ in range(1500):
            if receiver.state.to("/later"):
                break
            await asyncio.sleep(0.02)
        # The process stops mid-attempt: the delivery stays claimed, with no attempt logged.
        await app.state.runs.shutdown()
        [delivery] = await listed(c, DELIVERIES)
        assert (delivery["status"], delivery["attempts"], delivery["log"]) == ("pending", 1, [])

    async with db.engine.begin() as conn:  # its lease runs out
        await conn.execute(text("UPDATE kpi.alert_deliveries SET next_attempt_at = now()"))
    quick = make_settings(database_url, **QUICK)
    assert await retry_pending(db, quick) == 1
    assert await retry_pending(db, quick) == 0
    async with db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT status, attempts FROM kpi.alert_deliveries"))).one()
    assert tuple(row) == ("delivered", 2)
    sent = receiver.state.to("/later")
    # Sent twice under one idempotency key, so the receiver keeps it once.
    assert len(sent) == 2 and len({r.delivery for r in sent}) == 1 and all(r.signed for r in sent)
