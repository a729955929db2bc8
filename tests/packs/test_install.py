"""Installing a pack: twice changes nothing, another definition with a pack's key is left
alone, and an upgrade changes only what the new version changed, keeping every measurement."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from httpx import AsyncClient
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.engine.vocabulary import PeriodKind, SubjectType, TargetType
from kpi_service.packs.model import Assigned, Pack
from kpi_service.packs.registry import PACKS
from kpi_service.packs.revenue import REVENUE
from kpi_service.packs.saas import SAAS
from kpi_service.packs.specs import query_kpi
from kpi_service.packs.support import SUPPORT
from tests.support.api import define, ingest, listed, measurements, recalculate
from tests.support.app import app_client
from tests.support.database import snapshot
from tests.support.packs import (
    WEEK_START,
    assert_installing_again_changes_nothing,
    install,
    outcomes,
    pack_event,
    source_table,
)
from tests.support.problems import assert_problem, error_locs

USERS = {"users": [{"user_id": "1", "team_id": "t1"}, {"user_id": "2", "team_id": "t2"}]}
MON = datetime(2026, 11, 9, 9, tzinfo=UTC)
H = timedelta(hours=1)
CASES = [
    (1, "resolved", MON, MON + 5 * H, MON + H, 0),
    (2, "resolved", MON + H, MON + 3 * H, MON + 2 * H, 1),
    (2, "open", MON + 9 * H, None, None, 0),
]


def _version_2() -> Pack:
    """Support at version 2: resolution time rolled up by its maximum, a KPI added."""
    changed = {**SUPPORT.definition("support_resolution_time"), "rollup": "max"}
    added = query_kpi(
        "support_org_reopen_rate",
        "Reopen rate, all agents",
        "reopen_rate_org",
        category="customer_support",
        target_type=TargetType.LOWER_BETTER,
        period=PeriodKind.WEEKLY,
        scope=SubjectType.ORGANIZATION,
    )
    return replace(
        SUPPORT,
        version=2,
        definitions=(
            *(changed if d["key"] == "support_resolution_time" else d for d in SUPPORT.definitions),
            added,
        ),
        organisation=(*SUPPORT.organisation, Assigned("support_org_reopen_rate", Decimal(5))),
    )


async def test_installing_twice_changes_nothing(client: AsyncClient, db: Database) -> None:
    await source_table(db, "support_cases", CASES)
    first = await install(client, "support", USERS)
    assert first["previous_version"] is None

    again = await assert_installing_again_changes_nothing(client, db, "support", first, USERS)
    assert again["previous_version"] == 1


async def test_a_definition_the_pack_did_not_install_is_left_alone(client: AsyncClient) -> None:
    mine = await define(client, "support_backlog", name="Our own backlog", unit="count")
    report = await install(client, "support", USERS)
    [conflict] = [d for d in report["definitions"] if d["outcome"] == "conflict"]
    assert (conflict["key"], conflict["definition_id"]) == ("support_backlog", mine["id"])
    assert "did not install" in conflict["reason"]
    [stored] = [
        d for d in await listed(client, "/api/kpis/definitions") if d["key"] == "support_backlog"
    ]
    assert stored == mine  # not overwritten, version 1
    # Nothing of the pack's is hung on it: no assignment, no alert rule.
    held = [
        a for a in await listed(client, "/api/kpis/assignments") if a["definition_id"] == mine["id"]
    ]
    assert held == []
    assert "Support: backlog over 25" not in {r["name"] for r in report["rules_created"]}
    # Installing again still reports it, and still leaves it alone.
    assert outcomes(await install(client, "support", USERS))["support_backlog"] == "conflict"


async def test_an_upgrade_keeps_every_measurement_and_raises_only_the_changed_version(
    client: AsyncClient, db: Database
) -> None:
    await source_table(db, "support_cases", CASES)
    first = await install(client, "support", USERS)
    await recalculate(client, period_start=WEEK_START)
    kept = await measurements(client)
    assert kept and all(m["actual_value"] is not None for m in kept)
    versions = {d["key"]: d["version"] for d in await listed(client, "/api/kpis/definitions")}
    audited = len(await listed(client, "/api/kpis/audit"))

    with PACKS.registered(_version_2()):
        report = await install(client, "support")
        done = outcomes(report)
        assert done.pop("support_resolution_time") == "updated"
        assert done.pop("support_org_reopen_rate") == "created"
        assert set(done.values()) == {"unchanged"}
        assert report["previous_version"] == 1 and report["version"] == 2
        # The added organisation KPI is assigned from the first install's date.
        [made] = report["assignments_created"]
        assert (made["definition_key"], made["start_date"]) == (
            "support_org_reopen_rate",
            first["start_date"],
        )
        after = await snapshot(db)
        assert outcomes(await install(client, "support")) == outcomes(report) | {
            "support_resolution_time": "unchanged",
            "support_org_reopen_rate": "unchanged",
        }
        assert await snapshot(db) == after

    assert await measurements(client) == kept
    now = {d["key"]: d for d in await listed(client, "/api/kpis/definitions")}
    raised = {k for k, v in versions.items() if now[k]["version"] != v}
    assert raised == {"support_resolution_time"}
    assert now["support_resolution_time"]["version"] == 2
    assert now["support_resolution_time"]["rollup"] == "max"
    # The update, the new definition, its assignment and the upgrade itself.
    assert len(await listed(client, "/api/kpis/audit")) == audited + 4
    listed_packs = (await client.get("/api/kpis/packs")).json()
    assert {p["name"]: p["installed_version"] for p in listed_packs}["support"] == 2


async def test_without_data_or_a_date_the_assignments_cover_any_history_fed_later(
    client: AsyncClient,
) -> None:
    # No contacts table at all: the data is fed after the install, whatever its dates.
    report = await install(client, "crm")
    assert report["start_date"] == "2000-01-01"
    assert {a["start_date"] for a in report["assignments_created"]} == {report["start_date"]}


async def test_a_source_table_whose_dates_cannot_be_read_is_refused_not_taken_for_no_data(
    client: AsyncClient, db: Database
) -> None:
    # The cases table is there, without the column that dates its rows: no start is known.
    async with db.engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE public.support_cases (id serial PRIMARY KEY, assigned_to text)")
        )
    before = await snapshot(db)
    response = await client.post("/api/kpis/packs/support/install", json={})
    assert error_locs(assert_problem(response, 422)) == [["body", "start_date"]]
    assert "support_cases.created_at" in response.text
    assert await snapshot(db) == before
    # Given a start, nothing dates it from the table: the install goes ahead.
    given = {"start_date": "2026-11-01"}
    assert (await install(client, "support", given))["start_date"] == "2026-11-01"


async def test_a_dating_column_that_holds_no_dates_is_refused_not_taken_for_no_data(
    client: AsyncClient, db: Database
) -> None:
    # The column is there and has rows, but as text: its earliest value is not a day.
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE public.support_cases "
                "(id serial PRIMARY KEY, assigned_to text, created_at text)"
            )
        )
        await conn.execute(
            text("INSERT INTO public.support_cases (assigned_to, created_at) VALUES ('42', 'x')")
        )
    before = await snapshot(db)
    response = await client.post("/api/kpis/packs/support/install", json={})
    assert error_locs(assert_problem(response, 422)) == [["body", "start_date"]]
    assert "support_cases.created_at" in response.text
    assert await snapshot(db) == before


async def test_an_event_pack_starts_in_the_local_month_of_its_first_event(
    db: Database, database_url: str
) -> None:
    zone = "Asia/Tokyo"
    async with app_client(db, database_url, timezone=zone) as tokyo:
        # 20:00 UTC on 31 July is 1 August in Tokyo; the earlier call is no pack's event.
        first = pack_event("job", datetime(2026, 7, 31, 20, tzinfo=UTC))
        await ingest(tokyo, [first, pack_event("call", datetime(2026, 1, 5, tzinfo=UTC))])
        assert (await install(tokyo, "saas"))["start_date"] == "2026-08-01"
        # The revenue pack reads subscription events only: none, so any history fed later.
        assert (await install(tokyo, "revenue"))["start_date"] == "2000-01-01"


async def test_an_upgrade_changing_nothing_leaves_every_event_pack_kpi_unchanged(
    client: AsyncClient,
) -> None:
    # Each stored definition (configs as the services store them, windows, rollups) reads
    # as its spec: a later version of these packs updates only what it changes.
    for pack in (SAAS, REVENUE):
        await install(client, pack.name)
        with PACKS.registered(replace(pack, version=2)):
            report = await install(client, pack.name)
        assert set(outcomes(report).values()) == {"unchanged"}, pack.name
