"""The crm pack on a fresh tenant: seed 004's contacts as its contract describes them,
computed for a closed week: every stage count and funnel step, the organisation's with no
owner assigned and the owners' found in the rows, equals the one worked out here from the
rows and the documented rule for blocked and lost contacts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.packs.crm import CRM
from tests.support.api import recalculate
from tests.support.packs import (
    CONTACT_STAGES,
    WEEK,
    WEEK_START,
    install,
    source_table,
    stored_by_key,
    within,
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
Contact = tuple[str, str, datetime]
CONTACTS: list[Contact] = [
    *(("a1", stage, MON + n * H) for n, stage in enumerate(CONTACT_STAGES)),
    ("a1", "closed_won", MON + 30 * H),
    ("a1", "negotiation", MON - 10 * 24 * H),
    ("a2", "contacted", MON + 2 * H),
    ("a2", "closed_lost", MON + 3 * H),
    ("a2", "blocked", MON + 4 * H),
    ("a2", "needs_outreach", MON - 3 * 24 * H),
    ("a2", "closed_won", WEEK[1] + H),
    # Owner a3: a contact won in the week, one lost before it.
    ("a3", "closed_won", MON + 7 * H),
    ("a3", "closed_lost", MON - 2 * 24 * H),
]
# Each organisation KPI and the user KPI whose figure it is over every contact.
ORGANISATION = {f"crm_org_stage_{stage}": f"crm_stage_{stage}" for stage in CONTACT_STAGES} | {
    f"crm_org_funnel_{step}": f"crm_funnel_{step}" for step in STEPS
}


def figures(contacts: list[Contact]) -> dict[str, Decimal]:
    """Each user KPI's figure for the week over these contacts."""
    before_end = [c for c in contacts if c[2] < WEEK[1]]
    created = [c for c in contacts if within(c[2], WEEK)]
    values = {
        f"crm_stage_{stage}": Decimal(sum(1 for c in before_end if c[1] == stage))
        for stage in CONTACT_STAGES
    }
    for n, step in enumerate(STEPS, start=1):
        values[f"crm_funnel_{step}"] = Decimal(sum(1 for c in created if REACHED[c[1]] >= n))
    return values


def organisation_values() -> dict[tuple[str, str, str], Decimal | None]:
    everyone = figures(CONTACTS)
    return {(org, "default", WEEK_START): everyone[user] for org, user in ORGANISATION.items()}


async def test_the_organisation_kpis_have_the_values_of_all_rows_without_users(
    client: AsyncClient, db: Database
) -> None:
    assert set(ORGANISATION) == {a.key for a in CRM.organisation}
    report = await install(client, "crm", {"start_date": "2026-11-01", "follow_sources": False})
    assert len(report["definitions"]) == 2 * (len(CONTACT_STAGES) + len(STEPS))
    assert {a["subject_type"] for a in report["assignments_created"]} == {"organization"}
    await source_table(db, "contacts", CONTACTS)

    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run
    assert await stored_by_key(client) == organisation_values()


async def test_with_the_users_of_the_rows_every_kpi_has_the_value_of_its_rows(
    client: AsyncClient, db: Database
) -> None:
    await source_table(db, "contacts", CONTACTS)
    await install(client, "crm")
    run = await recalculate(client, period_start=WEEK_START)
    assert run["status"] == "succeeded", run

    want = organisation_values()
    for owner in sorted({c[0] for c in CONTACTS}):
        mine = figures([c for c in CONTACTS if c[0] == owner])
        want |= {(key, owner, WEEK_START): value for key, value in mine.items()}
    assert await stored_by_key(client) == want
