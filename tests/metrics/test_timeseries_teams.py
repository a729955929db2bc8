"""GET /metrics/timeseries of teams and the organisation: their own assignment, or derived
from their members' values, recomputed in plain Python."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import assign, define, event, ingest, recalculate, record
from tests.support.expected import achieved, q
from tests.support.timeseries import TS, Values, combine, series

MEMBERS = {"u1": "A", "u2": "A", "u3": "A", "u4": "B"}
TARGETS = {"u1": 10, "u2": 20, "u3": 30, "u4": 40}
WEEKS = [date(2025, 6, 23) + timedelta(weeks=i) for i in range(4)]  # to the week of 14 July


async def test_a_team_and_the_organisation_derive_from_members_event_kpi(
    client: AsyncClient, db: Database
) -> None:
    rng = random.Random(7)
    events, minutes = [], {}  # (user, week) -> call minutes
    for user in MEMBERS:
        for monday in WEEKS:
            if user == "u3" and monday == WEEKS[1]:
                continue  # u3 made no call that week: no average, not a zero
            calls = [rng.randint(1, 30) for _ in range(rng.randint(1, 4))]
            minutes[(user, monday)] = calls
            events += [
                event(
                    "call",
                    f"{monday + timedelta(days=i % 7)}T10:00:00Z",
                    user,
                    team_id=MEMBERS[user],
                    value=m,
                )
                for i, m in enumerate(calls)
            ]
    await ingest(client, events)
    definition = await define(
        client,
        key="call_minutes",
        unit="minutes",
        calculation_type="event",
        config={"event_type": "call", "aggregate": "avg"},
    )
    assert definition["rollup"] == "avg"
    for user, team in MEMBERS.items():
        await assign(
            client, definition["id"], user, TARGETS[user], start_date="2025-01-01", team_id=team
        )
    run = await recalculate(
        client,
        period_start=WEEKS[0].isoformat(),
        period_end=(WEEKS[-1] + timedelta(days=6)).isoformat(),
    )
    assert run["status"] == "succeeded", run

    def per_user(user: str) -> Values:
        return {m: Decimal(sum(v)) / len(v) for (u, m), v in minutes.items() if u == user}

    def derived(users: list[str]) -> tuple[Values, dict[date, Decimal], dict[date, int]]:
        """Members combined per week (mean of members' means; targets of those measured)."""
        values, targets, counts = {}, {}, {}
        for monday in WEEKS:
            measured = {u: q(per_user(u)[monday]) for u in users if monday in per_user(u)}
            values[monday] = sum(measured.values(), Decimal(0)) / len(measured)
            targets[monday] = Decimal(sum(TARGETS[u] for u in measured)) / len(measured)
            counts[monday] = len(measured)
        return values, targets, counts

    for subject_type, subject_id, users in (
        ("team", "A", ["u1", "u2", "u3"]),
        ("organization", None, list(MEMBERS)),
    ):
        values, targets, counts = derived(users)
        weekly = await series(
            client,
            definition_key="call_minutes",
            subject_type=subject_type,
            subject_id=subject_id,
            start=WEEKS[0],
            end=WEEKS[-1] + timedelta(days=6),
        )
        assert (weekly["source"], weekly["members"]) == ("members", len(users))
        assert [p["members_measured"] for p in weekly["points"]] == [counts[w] for w in WEEKS]
        for point, monday in zip(weekly["points"], WEEKS, strict=True):
            assert point["value"] == pytest.approx(float(q(values[monday])), abs=1e-6)
            assert point["target"] == pytest.approx(float(q(targets[monday])), abs=1e-6)
            assert point["achievement"] == pytest.approx(
                float(achieved(q(values[monday]), q(targets[monday]), "higher_better")), abs=1e-6
            )
        monthly = await series(
            client,
            definition_key="call_minutes",
            subject_type=subject_type,
            subject_id=subject_id,
            grain="monthly",
            start=date(2025, 6, 1),
            end=date(2025, 7, 31),
        )
        # June: the weeks of 23 June (Thursday 26 June); July: 30 June, 7 and 14 July.
        june = {m: values[m] for m in WEEKS[:1]}
        july = {m: values[m] for m in WEEKS[1:]}
        got = [
            (p["value"], p["periods_measured"], p["periods_expected"]) for p in monthly["points"]
        ]
        assert got == [
            pytest.approx((float(q(combine(june, "avg"))), 1, 4), abs=1e-6),
            pytest.approx((float(q(combine(july, "avg"))), 3, 5), abs=1e-6),
        ]
        assert [p["members_measured"] for p in monthly["points"]] == [len(users), len(users)]


async def test_a_team_with_its_own_assignment_shows_it(client: AsyncClient, db: Database) -> None:
    own = await define(
        client, key="nps", unit="none", rollup="last", scope="team", aggregation_period="monthly"
    )
    team = await assign(client, own["id"], "A", 50, subject_type="team", start_date="2025-01-01")
    for month, value in ((1, 40), (2, 55), (3, 52)):
        await record(client, team["id"], date(2025, month, 1), value)
    body = await series(
        client,
        definition_key="nps",
        subject_type="team",
        subject_id="A",
        grain="quarterly",
        start=date(2025, 1, 1),
        end=date(2025, 3, 31),
    )
    # `last`: the quarter shows March's value and target.
    assert (body["source"], body["members"]) == ("own", None)
    assert [(p["value"], p["target"], p["achievement"]) for p in body["points"]] == [(52, 50, 104)]
    # A user-scope KPI rolled up by `last` cannot be combined over a team's members.
    user_kpi = await define(client, key="mood", unit="none", aggregation_period="monthly")
    await assign(client, user_kpi["id"], "u1", 5, start_date="2025-01-01", team_id="A")
    refused = await client.get(
        TS,
        params={
            "definition_key": "mood",
            "subject_type": "team",
            "subject_id": "A",
            "start": "2025-01-01",
        },
    )
    assert refused.status_code == 422, refused.text
    assert "rollup 'last'" in refused.json()["detail"]
