"""Alert rules and the period in progress, through the API: rules judge ended periods only;
`on_projection` rules also judge the period in progress on its pace, and its final figure
once it has ended; alerts judged too early by earlier versions are withdrawn.

Expectations are worked out here in plain Python: achievement = value / target x 100
(higher_better); a sum KPI's projected value = value / share of the period elapsed when the
value was taken (`calculated_at`), both rounded to six places, half to even. The clock cannot
be moved: periods in progress are the ones holding today (the test settings' time zone is
UTC), ended ones are before it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from tests.support.alerts import ALERTS, DELIVERIES, evaluate_and_settle, make_channel, make_rule
from tests.support.api import assign, define, listed, record
from tests.support.app import today
from tests.support.expected import month_start, num, q
from tests.support.receiver import Receiver

TARGET = 1_000_000
FIGURES = (
    "subject_id",
    "period_start",
    "last_period_start",
    "status",
    "value",
    "observed",
    "threshold",
    "details",
)


def bounds(kind: str, day: date) -> tuple[date, date]:
    """The period of that kind holding day, first and last day."""
    if kind == "daily":
        return day, day
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if kind == "yearly":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    months = 1 if kind == "monthly" else 3
    first_month = (day.month - 1) // months * months + 1
    first = date(day.year, first_month, 1)
    return first, month_start(first, -months) - timedelta(days=1)


def share(start: date, end: date, at: datetime) -> Decimal:
    """The share of the period [start 00:00, end + 1 day 00:00) in UTC elapsed at `at`."""
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    finish = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    micro = timedelta(microseconds=1)
    return Decimal((at - begin) // micro) / Decimal((finish - begin) // micro)


def least_elapsed() -> tuple[str, date, date]:
    """The period kind whose period in progress is the least elapsed now (so a value so far
    is well below what it projects to), with that period."""
    now = datetime.now(UTC)
    return min(
        (
            (kind, *bounds(kind, now.date()))
            for kind in ("weekly", "monthly", "quarterly", "yearly")
        ),
        key=lambda p: share(p[1], p[2], now),
    )


def taken_at(stored: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(stored["calculated_at"])


def projection(stored: dict[str, Any], start: date, end: date) -> tuple[Decimal, Decimal]:
    """A sum KPI's projected value of a period in progress, and the share elapsed when its
    value so far was taken."""
    elapsed = share(start, end, taken_at(stored))
    return q(Decimal(str(stored["actual_value"])) / elapsed), elapsed


def so_far(factor: float, start: date, end: date) -> float:
    """A value so far that projects to about factor x TARGET at the period's end."""
    return round(TARGET * factor * float(share(start, end, datetime.now(UTC))), 2)


def figures(alert: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(alert[name] for name in FIGURES)


async def subjects(
    c: AsyncClient,
    kind: str,
    *names: str,
    **fields: Any,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    kpi = await define(c, key="calls", aggregation_period=kind, **fields)
    held = {
        name: await assign(c, kpi["id"], name, TARGET, start_date="2020-01-01") for name in names
    }
    return kpi, held


async def test_a_plain_rule_judges_the_ended_period_not_the_one_in_progress(
    api: AsyncClient, receiver: Receiver
) -> None:
    start, _ = bounds("monthly", today())
    previous, _ = bounds("monthly", start - timedelta(days=1))
    kpi, held = await subjects(api, "monthly", "ann")
    hook = await make_channel(api, receiver)
    await make_rule(api, kpi["id"], {"kind": "achievement_below", "threshold": 80}, [hook["id"]])
    await record(api, held["ann"]["id"], previous, 500_000)  # 50 %: below
    await record(api, held["ann"]["id"], start, 10)  # far below, but not over yet
    # A range reaching today, then the default (the latest ended month): the same answer.
    await evaluate_and_settle(
        api, period_start=previous.isoformat(), period_end=today().isoformat()
    )
    await evaluate_and_settle(api)
    (alert,) = await listed(api, ALERTS)
    assert figures(alert) == (
        "ann",
        previous.isoformat(),
        previous.isoformat(),
        "firing",
        500_000,
        50,
        80,
        {},
    )
    (sent,) = receiver.state.received
    assert sent.payload["alert"]["period_start"] == previous.isoformat()


async def test_a_projecting_rule_judges_the_period_in_progress_on_its_pace(
    api: AsyncClient, receiver: Receiver
) -> None:
    kind, start, end = least_elapsed()
    kpi, held = await subjects(api, kind, "ann", "bob")
    hook = await make_channel(api, receiver)
    await make_rule(
        api,
        kpi["id"],
        {"kind": "achievement_below", "threshold": 100, "clear_margin": 1, "on_projection": True},
        [hook["id"]],
    )
    # ann is heading for half the target; bob for 103 %, though his value so far is lower.
    ann = await record(api, held["ann"]["id"], start, so_far(0.5, start, end))
    bob = await record(api, held["bob"]["id"], start, so_far(1.03, start, end))
    ann_projected, ann_share = projection(ann, start, end)
    bob_projected, _ = projection(bob, start, end)
    ann_pace = q(ann_projected / TARGET * 100)
    bob_pace = q(bob_projected / TARGET * 100)
    assert ann_pace < 100 <= bob_pace
    assert Decimal(str(bob["actual_value"])) / TARGET * 100 < 100  # bob so far: under the target
    # By default a projecting rule judges the latest ended period and the one in progress.
    await evaluate_and_settle(api)
    await evaluate_and_settle(api)  # again: nothing changes, nothing is sent again
    (alert,) = await listed(api, ALERTS)
    assert figures(alert) == (
        "ann",
        start.isoformat(),
        start.isoformat(),
        "firing",
        ann["actual_value"],
        num(ann_pace),
        100,
        {"projected_value": num(ann_projected), "elapsed_fraction": num(q(ann_share))},
    )
    assert (alert["period_end"], alert["kind"]) == (end.isoformat(), "achievement_below")
    (sent,) = receiver.state.received
    assert sent.signed and sent.payload["type"] == "alert.firing"
    assert {k: sent.payload["alert"][k] for k in ("value", "observed", "details")} == {
        "value": ann["actual_value"],
        "observed": num(ann_pace),
        "details": alert["details"],
    }


async def test_a_projecting_value_threshold_judges_the_projected_value(
    api: AsyncClient, receiver: Receiver
) -> None:
    kind, start, end = least_elapsed()
    kpi, held = await subjects(api, kind, "ann", "bob")
    await make_rule(
        api,
        kpi["id"],
        {
            "kind": "value_threshold",
            "direction": "below",
            "threshold": 500_000,
            "on_projection": True,
        },
        [],
    )
    ann = await record(api, held["ann"]["id"], start, so_far(0.3, start, end))
    bob = await record(api, held["bob"]["id"], start, so_far(0.7, start, end))
    ann_projected, ann_share = projection(ann, start, end)
    bob_projected, _ = projection(bob, start, end)
    assert ann_projected < 500_000 <= bob_projected
    # A range that reaches the period in progress.
    await evaluate_and_settle(api, period_start=start.isoformat(), period_end=today().isoformat())
    (alert,) = await listed(api, ALERTS)
    assert figures(alert) == (
        "ann",
        start.isoformat(),
        start.isoformat(),
        "firing",
        ann["actual_value"],
        num(ann_projected),
        500_000,
        {"projected_value": num(ann_projected), "elapsed_fraction": num(q(ann_share))},
    )


async def test_an_average_is_its_own_projection(api: AsyncClient) -> None:
    """avg, last, min, max already describe the whole period: projected as they are."""
    kind, start, end = least_elapsed()
    kpi, held = await subjects(api, kind, "ann", "bob", unit="hours", rollup="avg")
    await make_rule(
        api,
        kpi["id"],
        {"kind": "value_threshold", "direction": "above", "threshold": 10, "on_projection": True},
        [],
    )
    ann = await record(api, held["ann"]["id"], start, 12.5)
    await record(api, held["bob"]["id"], start, 9)
    await evaluate_and_settle(api)
    (alert,) = await listed(api, ALERTS)
    elapsed = q(share(start, end, taken_at(ann)))
    assert figures(alert) == (
        "ann",
        start.isoformat(),
        start.isoformat(),
        "firing",
        12.5,
        12.5,
        10,
        {"projected_value": 12.5, "elapsed_fraction": num(elapsed)},
    )


async def _insert_alert(
    db: Database,
    rule: dict[str, Any],
    channel: int,
    subject: str,
    start: date,
    end: date,
    value: int,
) -> tuple[int, int]:
    """An alert and its delivered firing notice, as an earlier version wrote them; ids."""
    async with db.engine.begin() as conn:
        alert_id = (
            await conn.execute(
                text(
                    "INSERT INTO kpi.alerts (tenant_id, rule_id, definition_id, subject_type, "
                    "subject_id, period_start, period_end, last_period_start, "
                    "last_period_end, status, "
                    "severity, streak, value, observed, threshold, details, opened_at, fired_at) "
                    "VALUES ('default', :rule, :definition, 'user', :subject, :start, :end, "
                    ":start, "
                    ":end, 'firing', 'critical', 1, :value, :observed, 80, '{}', now(), now()) "
                    "RETURNING id"
                ),
                {
                    "rule": rule["id"],
                    "definition": rule["definition_id"],
                    "subject": subject,
                    "start": start,
                    "end": end,
                    "value": value,
                    "observed": Decimal(value) * 100 / TARGET,
                },
            )
        ).scalar_one()
        delivery_id = (
            await conn.execute(
                text(
                    "INSERT INTO kpi.alert_deliveries (tenant_id, alert_id, channel_id, "
                    "event, body, "
                    "status, attempts, delivered_at) VALUES ('default', :alert, :channel, "
                    "'firing', '{}', "
                    "'delivered', 1, now()) RETURNING id"
                ),
                {"alert": alert_id, "channel": channel},
            )
        ).scalar_one()
    return alert_id, delivery_id


async def test_an_alert_judged_too_early_is_withdrawn_at_the_next_evaluation(
    api: AsyncClient, receiver: Receiver, db: Database
) -> None:
    start, end = bounds("monthly", today())
    previous, previous_end = bounds("monthly", start - timedelta(days=1))
    kpi, held = await subjects(api, "monthly", "ann")
    hook = await make_channel(api, receiver)
    rule = await make_rule(
        api, kpi["id"], {"kind": "achievement_below", "threshold": 80}, [hook["id"]]
    )
    await record(api, held["ann"]["id"], previous, 500_000)
    await record(api, held["ann"]["id"], start, 10)
    ended = await _insert_alert(db, rule, hook["id"], "ann", previous, previous_end, 500_000)
    early = await _insert_alert(db, rule, hook["id"], "ann", start, end, 10)
    assert {a["id"] for a in await listed(api, ALERTS)} == {ended[0], early[0]}
    await evaluate_and_settle(api)
    (alert,) = await listed(api, ALERTS)
    assert figures(alert) == (
        "ann",
        previous.isoformat(),
        previous.isoformat(),
        "firing",
        500_000,
        50,
        80,
        {},
    )
    assert alert["id"] == ended[0]
    assert (await api.get(f"{ALERTS}/{early[0]}")).status_code == 404
    assert [d["id"] for d in await listed(api, DELIVERIES)] == [ended[1]]
    async with db.engine.connect() as conn:
        left = (
            (await conn.execute(text("SELECT alert_id FROM kpi.alert_deliveries ORDER BY id")))
            .scalars()
            .all()
        )
    assert left == [ended[0]]


async def test_once_the_period_has_ended_the_same_alert_is_judged_on_the_final_figure(
    api: AsyncClient, receiver: Receiver, db: Database
) -> None:
    """A daily KPI: today is in progress. Its projected alerts are moved back to yesterday
    (as if the day had ended since), and yesterday's final values are recorded."""
    day = today()
    yesterday = day - timedelta(days=1)
    kpi, held = await subjects(api, "daily", "ann", "bob", "cy")
    hook = await make_channel(api, receiver)
    rule = await make_rule(
        api,
        kpi["id"],
        {"kind": "achievement_below", "threshold": 80, "on_projection": True},
        [hook["id"]],
    )
    for name in held:
        await record(api, held[name]["id"], day, 0)  # nothing so far: projected to miss
    await evaluate_and_settle(api)
    # cy's pace recovers (to about twice the target): a projection never resolves an alert,
    # it only says where the period is heading; the final figure decides.
    cy = await record(api, held["cy"]["id"], day, so_far(2, day, day))
    await evaluate_and_settle(api)
    alerts = {a["subject_id"]: a for a in await listed(api, ALERTS)}
    cy_projected, cy_share = projection(cy, day, day)
    assert figures(alerts["cy"]) == (
        "cy",
        day.isoformat(),
        day.isoformat(),
        "firing",
        cy["actual_value"],
        num(q(cy_projected / TARGET * 100)),
        80,
        {"projected_value": num(cy_projected), "elapsed_fraction": num(q(cy_share))},
    )
    assert {a["status"] for a in alerts.values()} == {"firing"}
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE kpi.alerts SET period_start = period_start - 1, period_end = "
                "period_end - 1,"
                " last_period_start = last_period_start - 1, last_period_end = last_period_end - 1"
                " WHERE rule_id = :rule"
            ),
            {"rule": rule["id"]},
        )
    finals = {"ann": 500_000, "bob": 900_000, "cy": 100_000}  # 50 %, 90 %, 10 %
    for name, value in finals.items():
        await record(api, held[name]["id"], yesterday, value)
    await evaluate_and_settle(api, period_start=yesterday.isoformat())
    after = {a["subject_id"]: a for a in await listed(api, ALERTS)}
    assert {name: a["id"] for name, a in after.items()} == {
        name: a["id"] for name, a in alerts.items()
    }
    # ann and cy still miss (below 80), bob made it (90 >= 80 + the default margin of 5).
    expected: dict[str, tuple[Any, ...]] = {
        name: (
            name,
            yesterday.isoformat(),
            yesterday.isoformat(),
            "firing" if value * 100 / TARGET < 80 else "resolved",
            value,
            value * 100 / TARGET,
            80,
            {},
        )
        for name, value in finals.items()
    }
    assert {name: figures(a) for name, a in after.items()} == expected
    sent = sorted((r.payload["subject"]["id"], r.payload["type"]) for r in receiver.state.received)
    assert sent == [
        ("ann", "alert.firing"),
        ("bob", "alert.firing"),
        ("bob", "alert.resolved"),
        ("cy", "alert.firing"),
    ]
    (resolved,) = [
        r.payload for r in receiver.state.received if r.payload["type"] == "alert.resolved"
    ]
    assert (resolved["alert"]["value"], resolved["alert"]["last_period_start"]) == (
        900_000,
        yesterday.isoformat(),
    )
