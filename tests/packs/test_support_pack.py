"""The support pack on a fresh tenant, fed seed 000's cases as its contract describes them and
computed for a closed week: the organisation's KPIs have the values of all the rows with no
user assigned, and with the users found in the rows (at the install, or by the run after they
appear) every user KPI has its agent's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.packs.support import SUPPORT
from tests.support.api import listed, recalculate
from tests.support.packs import (
    WEEK,
    WEEK_START,
    first_of_month,
    hours,
    install,
    mean,
    outcomes,
    percent,
    source_table,
    stored_as,
    stored_by_key,
    within,
)

MON = datetime(2026, 11, 9, 9, tzinfo=UTC)
H = timedelta(hours=1)
# assigned_to, status, created_at, resolved_at, first_response_at, reopened_count
Case = tuple[int | None, str, datetime, datetime | None, datetime | None, int]
CASES: list[Case] = [
    # Agent 1: two resolved in the week (one reopened), one still open, one from October
    # still open at the week's end, one resolved after it.
    (1, "resolved", MON, MON + 6 * H, MON + H, 0),
    (1, "resolved", MON + 24 * H, MON + 27 * H, MON + 26 * H, 2),
    (1, "open", MON + 48 * H, None, MON + 50 * H, 0),
    (1, "open", datetime(2026, 10, 20, 8, tzinfo=UTC), None, None, 0),
    (1, "resolved", MON + 100 * H, MON + 8 * 24 * H, None, 0),
    # Agent 2: three resolved in the week (one reopened), created the week before one of them.
    (2, "resolved", MON - 72 * H, MON + 2 * H, MON - 70 * H, 1),
    (2, "resolved", MON + 10 * H, MON + 11 * H, MON + 10 * H + H / 2, 0),
    (2, "resolved", MON + 30 * H, MON + 40 * H, MON + 34 * H, 0),
    # Resolved the week before: in no figure of this week.
    (2, "resolved", MON - 100 * H, MON - 90 * H, MON - 99 * H, 3),
    # Agent 3: one open case, unanswered: a backlog, no resolution or response time.
    (3, "open", MON + 5 * H, None, None, 0),
    # Nobody's: the organisation's figures count it, no agent's does.
    (None, "resolved", MON + 3 * H, MON + 9 * H, MON + 4 * H, 1),
]
# Each organisation KPI and the user KPI whose figure it is over every case.
ORGANISATION = {
    "support_org_cases_resolved": "support_cases_resolved",
    "support_org_resolution_time": "support_resolution_time",
    "support_org_first_response_time": "support_first_response_time",
    "support_org_backlog": "support_backlog",
}


def _resolved_hours(case: Case) -> Decimal:
    assert case[3] is not None
    return hours(case[2], case[3])


def _response_hours(case: Case) -> Decimal:
    assert case[4] is not None
    return hours(case[2], case[4])


def figures(cases: list[Case]) -> dict[str, Decimal | None]:
    """Each user KPI's figure for the week over these cases (None: no value)."""
    end = WEEK[1]
    resolved = [c for c in cases if c[1] == "resolved" and within(c[3], WEEK)]
    answered = [c for c in cases if within(c[2], WEEK) and c[4] is not None]
    return {
        "support_cases_resolved": Decimal(len(resolved)),
        "support_resolution_time": mean([_resolved_hours(c) for c in resolved]),
        "support_first_response_time": mean([_response_hours(c) for c in answered]),
        "support_reopen_rate": percent(sum(1 for c in resolved if c[5] > 0), len(resolved)),
        "support_backlog": Decimal(
            sum(1 for c in cases if c[2] < end and (c[3] is None or c[3] >= end))
        ),
    }


def organisation_values(cases: list[Case]) -> dict[tuple[str, str, str], Decimal | None]:
    everyone = figures(cases)
    return {(org, "default", WEEK_START): stored_as(everyone[u]) for org, u in ORGANISATION.items()}


def expected_values(cases: list[Case]) -> dict[tuple[str, str, str], Decimal | None]:
    """Every value of the week: the organisation's, and each agent's over their cases."""
    want = organisation_values(cases)
    for agent in sorted({str(c[0]) for c in cases if c[0] is not None}):
        mine = figures([c for c in cases if str(c[0]) == agent])
        want |= {(key, agent, WEEK_START): stored_as(value) for key, value in mine.items()}
    return want


async def test_the_organisation_kpis_have_the_values_of_all_rows_without_users(
    client: AsyncClient, db: Database
) -> None:
    assert set(ORGANISATION) == {a.key for a in SUPPORT.organisation}
    report = await install(client, "support", {"start_date": "2026-11-01", "follow_sources": False})
    assert report["follow_sources"] is False
    made = {(a["definition_key"], a["subject_type"]) for a in report["assignments_created"]}
    assert made == {(key, "organization") for key in ORGANISATION}
    # The cases arrive after the install.
    await source_table(db, "support_cases", CASES)

    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run
    # Not following its sources, the install assigned nobody, and the run neither.
    assert await stored_by_key(client) == organisation_values(CASES)
    assert await listed(client, "/api/kpis/assignments", subject_type="user") == []


async def test_with_the_users_of_the_rows_every_kpi_has_the_value_of_its_rows(
    client: AsyncClient, db: Database
) -> None:
    await source_table(db, "support_cases", CASES)
    report = await install(
        client,
        "support",
        {"users": [{"user_id": "1", "team_id": "t1"}]},
    )
    assert set(outcomes(report).values()) == {"created"}
    # The default start: the first day of the month of the earliest case.
    assert report["start_date"] == first_of_month(min(c[2] for c in CASES)).isoformat()
    assert {r["name"] for r in report["rules_created"]} == {
        "Support: slow first response",
        "Support: backlog over 25",
    }
    teams = {
        a["subject_id"]: a["team_id"]
        for a in await listed(client, "/api/kpis/assignments", subject_type="user")
    }
    # The team of a user named in `users`; none known for the others.
    assert teams == {"1": "t1", "2": None, "3": None}

    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run
    assert await stored_by_key(client) == expected_values(CASES)


async def test_the_users_who_appear_after_the_install_are_assigned_and_measured_by_the_runs(
    client: AsyncClient, db: Database
) -> None:
    report = await install(client, "support", {"start_date": "2026-11-01"})
    assert report["follow_sources"] is True
    assert {a["subject_type"] for a in report["assignments_created"]} == {"organization"}
    # The cases of agents 1 and 2 (and nobody's) arrive after the install.
    first = [c for c in CASES if c[0] != 3]
    await source_table(db, "support_cases", first)

    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run
    stored = await stored_by_key(client)
    assert stored == expected_values(first)
    # Every support KPI has a value, the organisation's and each agent's.
    users = {a.key for a in SUPPORT.users}
    assert {key for key, _, _ in stored} == users | set(ORGANISATION)
    assert None not in stored.values()
    assigned = await listed(client, "/api/kpis/assignments", subject_type="user")
    targets = {a.key: a.target for a in SUPPORT.users}
    assert sorted((a["subject_id"], a["definition_key"]) for a in assigned) == sorted(
        (agent, key) for agent in ("1", "2") for key in users
    )
    for a in assigned:
        assert (a["team_id"], a["start_date"], a["assigned_by"]) == (
            None,
            "2026-11-01",
            "pack:support",
        )
        want = targets[a["definition_key"]]
        assert (None if want is None else Decimal(str(want))) == (
            None if a["target_value"] is None else Decimal(str(a["target_value"]))
        )

    # Agent 3 appears: the next run assigns and measures them, and nobody else anew.
    await source_table(db, "support_cases", CASES)
    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run
    assert await stored_by_key(client) == expected_values(CASES)
    now = await listed(client, "/api/kpis/assignments", subject_type="user")
    assert [a for a in now if a["subject_id"] != "3"] == assigned
    assert sorted(a["definition_key"] for a in now if a["subject_id"] == "3") == sorted(users)
