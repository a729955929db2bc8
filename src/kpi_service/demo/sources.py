"""The demo's source tables in the public schema, with the columns the packs read
(docs/packs.md): the seed's `support_cases`, seed 003's `leads` and seed 004's `contacts`, each
filled once (COPY, a chunk of agents at a time)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi_service.calculators.builtin import CRM_STAGES
from kpi_service.demo.crm import agent_contacts, agent_leads
from kpi_service.demo.people import SUPPORT_USERS, SUPPORT_WEEKS, DemoSize, Window

log = logging.getLogger(__name__)

AGENTS_PER_CHUNK = 200

_CREATE_CASES = """
CREATE TABLE IF NOT EXISTS public.support_cases (
    id serial PRIMARY KEY,
    assigned_to integer,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    resolved_at timestamptz,
    first_response_at timestamptz,
    reopened_count integer NOT NULL DEFAULT 0
)"""

_CREATE_LEADS = """
CREATE TABLE IF NOT EXISTS public.leads (
    id bigint PRIMARY KEY,
    assigned_agent_id varchar(50) NOT NULL,
    source text NOT NULL,
    created_at timestamptz NOT NULL,
    contacted_at timestamptz,
    interested_at timestamptz,
    converted_at timestamptz,
    disposition text NOT NULL,
    response_time_hours numeric(6, 2),
    satisfaction_rating integer CHECK (satisfaction_rating BETWEEN 1 AND 5),
    revenue numeric(12, 2)
)"""

_STAGES = ", ".join(f"'{stage}'" for stage in CRM_STAGES)
_CREATE_CONTACTS = f"""
CREATE TABLE IF NOT EXISTS public.contacts (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    company text,
    status text NOT NULL,
    funnel_stage text NOT NULL CHECK (funnel_stage IN ({_STAGES})),
    owner_id varchar(50) NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
)"""

# Each KPI reads one period's slice by one of these times, for many agents at once.
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS support_cases_resolved_at ON public.support_cases (resolved_at)",
    "CREATE INDEX IF NOT EXISTS support_cases_created_at ON public.support_cases (created_at)",
    "CREATE INDEX IF NOT EXISTS leads_created_at ON public.leads (created_at)",
    "CREATE INDEX IF NOT EXISTS leads_contacted_at ON public.leads (contacted_at)",
    "CREATE INDEX IF NOT EXISTS leads_converted_at ON public.leads (converted_at)",
    "CREATE INDEX IF NOT EXISTS leads_agent ON public.leads (assigned_agent_id, created_at)",
    "CREATE INDEX IF NOT EXISTS contacts_created_at ON public.contacts (created_at)",
    "CREATE INDEX IF NOT EXISTS contacts_owner_stage ON public.contacts (owner_id, funnel_stage)",
)

LEAD_COLUMNS = (
    "id",
    "assigned_agent_id",
    "source",
    "created_at",
    "contacted_at",
    "interested_at",
    "converted_at",
    "disposition",
    "response_time_hours",
    "satisfaction_rating",
    "revenue",
)
CONTACT_COLUMNS = (
    "id",
    "name",
    "email",
    "company",
    "status",
    "funnel_stage",
    "owner_id",
    "created_at",
    "updated_at",
)


def generate_cases(first_monday: date, weeks: int, tz: Any) -> list[dict[str, Any]]:
    """Deterministic cases: a few per user per week, some resolved late on Sunday night; most
    answered within hours (some not yet), a few reopened before they were resolved."""
    rng = random.Random(20251001)
    cases: list[dict[str, Any]] = []
    for week in range(weeks):
        monday = first_monday + timedelta(weeks=week)
        for user in SUPPORT_USERS:
            for _ in range(rng.randint(3, 11)):
                created = datetime.combine(monday, time(0), tz) + timedelta(
                    minutes=rng.randint(0, 7 * 24 * 60 - 1)
                )
                hours = rng.choice([0.5, 1, 2, 4, 8, 12, 20, 30, 48, 70])
                resolved = created + timedelta(hours=hours)
                status = "open" if rng.random() < 0.1 else "resolved"
                answered = created + timedelta(hours=min(hours, rng.uniform(0.1, 8)))
                cases.append(
                    {
                        "a": int(user),
                        "s": status,
                        "c": created,
                        "r": resolved if status == "resolved" else None,
                        "f": None if status == "open" and rng.random() < 0.5 else answered,
                        "n": rng.choice((1, 1, 2)) if rng.random() < 0.08 else 0,
                    }
                )
            # Every week, a case resolved on Sunday a few minutes before midnight.
            sunday_late = datetime.combine(monday + timedelta(days=6), time(23, 50 + week % 9), tz)
            created = sunday_late - timedelta(hours=rng.choice([1, 3, 6]))
            cases.append(
                {
                    "a": int(user),
                    "s": "resolved",
                    "c": created,
                    "r": sunday_late,
                    "f": created + timedelta(minutes=30),
                    "n": 0,
                }
            )
    return cases


async def _is_empty(conn: AsyncConnection, table: str) -> bool:
    found = await conn.execute(text(f"SELECT 1 FROM public.{table} LIMIT 1"))  # noqa: S608
    return found.first() is None


async def _copy(
    conn: AsyncConnection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        table, schema_name="public", records=list(rows), columns=list(columns)
    )


async def _fill_cases(conn: AsyncConnection, window: Window) -> int:
    # The full weeks, then the days of the current week up to the window's last day.
    rows = []
    for case in generate_cases(window.support_start, SUPPORT_WEEKS + 1, window.tz):
        if case["c"] >= window.end:
            continue
        if case["r"] is not None and case["r"] >= window.end:
            case.update(s="open", r=None)
        if case["f"] is not None and case["f"] >= window.end:
            case.update(f=None)
        rows.append(case)
    await conn.execute(
        text(
            "INSERT INTO public.support_cases (assigned_to, status, created_at, resolved_at, "
            "first_response_at, reopened_count) VALUES (:a, :s, :c, :r, :f, :n)"
        ),
        rows,
    )
    return len(rows)


async def _fill_crm(conn: AsyncConnection, size: DemoSize, window: Window) -> tuple[int, int]:
    leads = contacts = 0
    for first in range(0, size.agents, AGENTS_PER_CHUNK):
        chunk = range(first, min(first + AGENTS_PER_CHUNK, size.agents))
        lead_rows = [
            (leads + n + 1, *lead)
            for n, lead in enumerate(lead for i in chunk for lead in agent_leads(i, window))
        ]
        contact_rows = [
            (
                contacts + n + 1,
                f"Contact {contacts + n + 1}",
                f"contact{contacts + n + 1}@example.com",
                *c[1:4],
                c[0],
                *c[4:],
            )
            for n, c in enumerate(c for i in chunk for c in agent_contacts(i, window))
        ]
        await _copy(conn, "leads", LEAD_COLUMNS, lead_rows)
        await _copy(conn, "contacts", CONTACT_COLUMNS, contact_rows)
        leads += len(lead_rows)
        contacts += len(contact_rows)
    return leads, contacts


async def ensure_sources(source: AsyncEngine, size: DemoSize, window: Window) -> None:
    """Create the source tables and fill each one that is empty."""
    async with source.begin() as conn:
        for ddl in (_CREATE_CASES, _CREATE_LEADS, _CREATE_CONTACTS):
            await conn.execute(text(ddl))
        if await _is_empty(conn, "support_cases"):
            log.info("demo: %s support cases created", await _fill_cases(conn, window))
        if await _is_empty(conn, "leads") and await _is_empty(conn, "contacts"):
            leads, contacts = await _fill_crm(conn, size, window)
            log.info("demo: %s leads and %s contacts created", leads, contacts)
        # Indexes after the rows: one sort each instead of a tree grown row by row.
        for ddl in _INDEXES:
            await conn.execute(text(ddl))
        await conn.execute(text("ANALYZE public.support_cases, public.leads, public.contacts"))
