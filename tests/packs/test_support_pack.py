"""The support pack on a fresh tenant: installed with two agents, fed seed 000's cases as its
contract describes them, computed for a closed week: every KPI's value equals the one worked
out here from the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import recalculate
from tests.support.expected import q
from tests.support.packs import (
    WEEK,
    WEEK_START,
    first_of_month,
    hours,
    install,
    mean,
    outcomes,
    source_table,
    stored_by_key,
    within,
)

MON = datetime(2026, 11, 9, 9, tzinfo=UTC)
H = timedelta(hours=1)
# assigned_to, status, created_at, resolved_at, first_response_at, reopened_count
Case = tuple[int, str, datetime, datetime | None, datetime | None, int]
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
]
AGENTS = ("1", "2")


def _resolved_hours(case: Case) -> Decimal:
    assert case[3] is not None
    return hours(case[2], case[3])


def _response_hours(case: Case) -> Decimal:
    assert case[4] is not None
    return hours(case[2], case[4])


def expected() -> dict[str, dict[str, Decimal]]:
    """Each user KPI's value per agent for the week, from the rows."""
    end = WEEK[1]
    out: dict[str, dict[str, Decimal]] = {}
    for agent in AGENTS:
        mine = [c for c in CASES if str(c[0]) == agent]
        resolved = [c for c in mine if c[1] == "resolved" and within(c[3], WEEK)]
        answered = [c for c in mine if within(c[2], WEEK) and c[4] is not None]
        out[agent] = {
            "support_cases_resolved": Decimal(len(resolved)),
            "support_resolution_time": mean([_resolved_hours(c) for c in resolved]),
            "support_first_response_time": mean([_response_hours(c) for c in answered]),
            "support_reopen_rate": Decimal(100)
            * sum(1 for c in resolved if c[5] > 0)
            / len(resolved),
            "support_backlog": Decimal(
                sum(1 for c in mine if c[2] < end and (c[3] is None or c[3] >= end))
            ),
        }
    return out


async def test_every_support_kpi_has_the_value_of_its_rows(
    client: AsyncClient, db: Database
) -> None:
    await source_table(db, "support_cases", CASES)
    report = await install(
        client,
        "support",
        {"users": [{"user_id": "1", "team_id": "t1"}, {"user_id": "2", "team_id": "t1"}]},
    )
    assert set(outcomes(report).values()) == {"created"}
    # The default start: the first day of the month of the earliest case.
    assert report["start_date"] == first_of_month(min(c[2] for c in CASES)).isoformat()
    assert len(report["assignments_created"]) == 1 + 5 * len(AGENTS)
    assert {r["name"] for r in report["rules_created"]} == {
        "Support: slow first response",
        "Support: backlog over 25",
    }

    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run

    stored = await stored_by_key(client)
    want = expected()
    for agent, values in want.items():
        for key, value in values.items():
            assert stored[(key, agent, WEEK_START)] == q(value), (key, agent)
    # The organisation's cases: its agents' cases added up.
    org = sum(want[a]["support_cases_resolved"] for a in AGENTS)
    assert stored[("support_org_cases_resolved", "default", WEEK_START)] == org
    assert len(stored) == 1 + 5 * len(AGENTS)
