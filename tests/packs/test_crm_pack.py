"""The crm pack on a fresh tenant: seed 004's contacts as its contract describes them,
computed for a closed week: every stage count and funnel step equals the one worked out here
from the rows and the documented rule for blocked and lost contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import AsyncClient

from kpi_service.core.database import Database
from tests.support.api import recalculate
from tests.support.packs import WEEK, WEEK_START, install, source_table, stored_by_key, within

STAGES = (
    "needs_outreach",
    "contacted",
    "meeting_set",
    "proposal_sent",
    "negotiation",
    "blocked",
    "closed_won",
    "closed_lost",
)
# docs/packs.md: the funnel's order; a blocked contact reached the first step only, a lost
# one the second (it was contacted).
REACHED = {
    "needs_outreach": 1,
    "contacted": 2,
    "meeting_set": 3,
    "proposal_sent": 4,
    "negotiation": 5,
    "closed_won": 6,
    "blocked": 1,
    "closed_lost": 2,
}
STEPS = ("assigned", "contacted", "meeting_set", "proposal_sent", "negotiation", "won")
MON = datetime(2026, 11, 9, 8, tzinfo=UTC)
H = timedelta(hours=5)
# owner_id, funnel_stage, created_at: every stage in the week for owner a1, a few for a2,
# some created before the week (stocks only) and one after it (in nothing).
CONTACTS = [
    *(("a1", stage, MON + n * H) for n, stage in enumerate(STAGES)),
    ("a1", "closed_won", MON + 30 * H),
    ("a1", "negotiation", MON - 10 * 24 * H),
    ("a2", "contacted", MON + 2 * H),
    ("a2", "closed_lost", MON + 3 * H),
    ("a2", "blocked", MON + 4 * H),
    ("a2", "needs_outreach", MON - 3 * 24 * H),
    ("a2", "closed_won", WEEK[1] + H),
]
OWNERS = ("a1", "a2")


def expected(owner: str) -> dict[str, Decimal]:
    mine = [c for c in CONTACTS if c[0] == owner]
    before_end = [c for c in mine if c[2] < WEEK[1]]
    created = [c for c in mine if within(c[2], WEEK)]
    values = {
        f"crm_stage_{stage}": Decimal(sum(1 for c in before_end if c[1] == stage))
        for stage in STAGES
    }
    for n, step in enumerate(STEPS, start=1):
        values[f"crm_funnel_{step}"] = Decimal(sum(1 for c in created if REACHED[c[1]] >= n))
    return values


async def test_every_crm_kpi_has_the_value_of_its_rows(client: AsyncClient, db: Database) -> None:
    await source_table(db, "contacts", CONTACTS)
    report = await install(
        client, "crm", {"users": [{"user_id": o, "team_id": "crm"} for o in OWNERS]}
    )
    assert len(report["definitions"]) == len(STAGES) + len(STEPS) + 2
    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run

    stored = await stored_by_key(client)
    want = {owner: expected(owner) for owner in OWNERS}
    for owner, values in want.items():
        for key, value in values.items():
            assert stored[(key, owner, WEEK_START)] == value, (key, owner)
    for org_key, user_key in (
        ("crm_org_contacts", "crm_funnel_assigned"),
        ("crm_org_won", "crm_funnel_won"),
    ):
        assert stored[(org_key, "default", WEEK_START)] == sum(want[o][user_key] for o in OWNERS)
    assert len(stored) == 2 + (len(STAGES) + len(STEPS)) * len(OWNERS)
