"""The revenue benchmark's data set: a subscription ledger of 36 months among other events, and
90 days of logins, built inside PostgreSQL with set-based statements as bench/dataset.py
builds the batch's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from bench.dataset import TENANT, months_between, partition_sql
from bench.figures import stopwatch
from kpi_service.engine.periods import Period, containing, custom
from kpi_service.engine.vocabulary import PeriodKind

# The ledger: 36 months, December 2023 to November 2026; the bench month is the last one.
LEDGER_FIRST = date(2023, 12, 1)
LEDGER_END = date(2026, 12, 1)  # exclusive
MONTH = containing(PeriodKind.MONTHLY, date(2026, 11, 1))
# Logins: 90 days, 2026-09-01 to 2026-11-29; the bench day is the last, with its month of
# days (the 30 days ending on it, each a rolling 30-day MAU).
LOGINS_FIRST = date(2026, 9, 1)
LOGIN_DAYS = 90
DAY = LOGINS_FIRST + timedelta(days=LOGIN_DAYS - 1)
DAYS = [DAY - timedelta(days=n) for n in range(29, -1, -1)]
MAU_WINDOW_DAYS = 30


def instant(day: date) -> datetime:
    """The day's first instant (the bench runs in UTC)."""
    return datetime.combine(day, datetime.min.time(), UTC)


def window_of(day: date) -> Period:
    """The days a rolling 30-day MAU of `day` covers."""
    return custom(day - timedelta(days=MAU_WINDOW_DAYS - 1), day)


@dataclass(frozen=True, slots=True)
class RevenueSpec:
    """How much data: customers in the ledger, other events per ledger event, users who log
    in, and their logins."""

    customers: int
    others_per_ledger_event: int
    users: int
    logins: int

    def scaled(self, factor: float) -> RevenueSpec:
        """The same shape with every count (not the ratio) multiplied by `factor`."""
        return RevenueSpec(
            max(1, round(self.customers * factor)),
            self.others_per_ledger_event,
            max(1, round(self.users * factor)),
            round(self.logins * factor),
        )


_LEDGER_SPAN = f"(TIMESTAMPTZ '{instant(LEDGER_END).isoformat()}' - c.started)"

# Each customer starts at any time in the ledger, then has 2 to 4 more events, spread in
# order over the rest of it: each a new plan (an upgrade or a downgrade) or, 30% of the
# time, a cancellation (0); a plan after a cancellation is a comeback.
INSERT_LEDGER = f"""
INSERT INTO kpi.events (tenant_id, id, occurred_at, user_id, team_id, type, value, properties)
SELECT '{TENANT}', gen_random_uuid(),
       CASE WHEN e.n = 1 THEN c.started
            ELSE c.started + {_LEDGER_SPAN} * ((e.n - 1 + random()) / c.k) END,
       'billing', NULL, 'subscription',
       CASE WHEN r.cancelled THEN 0 ELSE (ARRAY[29, 49, 99, 199, 499])[r.plan] END,
       jsonb_build_object('customer_id', 'cus_' || c.no, 'plan', CASE WHEN r.cancelled
           THEN 'cancelled'
           ELSE (ARRAY['starter', 'team', 'business', 'scale', 'enterprise'])[r.plan] END)
FROM (SELECT no, 3 + floor(random() * 3)::int AS k,
             TIMESTAMPTZ '{instant(LEDGER_FIRST).isoformat()}'
             + random() * (TIMESTAMPTZ '{instant(LEDGER_END).isoformat()}'
                           - TIMESTAMPTZ '{instant(LEDGER_FIRST).isoformat()}') AS started
      FROM generate_series(1, $1) AS no) AS c
CROSS JOIN LATERAL generate_series(1, c.k) AS e(n)
-- Refers to e.n, so it is drawn again for every event.
CROSS JOIN LATERAL (SELECT e.n > 1 AND random() < 0.3 AS cancelled,
                           1 + floor(random() * 5)::int AS plan) AS r"""  # noqa: S608

# Events of other types over the same 36 months: the ledger's statement must skip them.
INSERT_OTHERS = f"""
INSERT INTO kpi.events (tenant_id, id, occurred_at, user_id, team_id, type, value, properties)
SELECT '{TENANT}', gen_random_uuid(),
       TIMESTAMPTZ '{instant(LEDGER_FIRST).isoformat()}'
       + random() * (TIMESTAMPTZ '{instant(LEDGER_END).isoformat()}'
                     - TIMESTAMPTZ '{instant(LEDGER_FIRST).isoformat()}'),
       (1 + floor(random() * $1))::int::text, NULL,
       (ARRAY['call', 'email', 'page_view'])[1 + floor(random() * 3)::int], NULL, '{{}}'::jsonb
FROM generate_series(1, $2)"""  # noqa: S608

# User u logs in only during its own stretch of the 90 days (first day and length fixed by u),
# so the rolling MAU changes from day to day.
INSERT_LOGINS = f"""
INSERT INTO kpi.events (tenant_id, id, occurred_at, user_id, team_id, type, value, properties)
SELECT '{TENANT}', gen_random_uuid(),
       TIMESTAMPTZ '{instant(LOGINS_FIRST).isoformat()}'
       + make_interval(secs => (s.first_day + random() * s.days) * 86400),
       g.u::text, 'team-' || (g.u % 100), 'login', NULL, '{{}}'::jsonb
FROM (SELECT 1 + floor(random() * $1)::int AS u FROM generate_series(1, $2)) AS g
CROSS JOIN LATERAL (
    SELECT (g.u * 7919) % 60 AS first_day,
           least(15 + (g.u * 104729) % 76, {LOGIN_DAYS} - (g.u * 7919) % 60) AS days
) AS s"""  # noqa: S608


async def build_revenue_data_set(dsn: str, spec: RevenueSpec) -> dict[str, float]:
    """Create the partitions, the ledger, the other events and the logins; returns the
    seconds each step took."""
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed(0.2026)")
        for year, month in months_between(LEDGER_FIRST, LEDGER_END - timedelta(days=1)):
            await conn.execute(partition_sql(year, month))
        with stopwatch(timings, f"ledger of {spec.customers:,} customers"):
            status = await conn.execute(INSERT_LEDGER, spec.customers)
        ledger_events = int(status.split()[-1])
        others = ledger_events * spec.others_per_ledger_event
        with stopwatch(timings, f"{ledger_events:,} ledger events' {others:,} others"):
            await conn.execute(INSERT_OTHERS, spec.users, others)
        with stopwatch(timings, f"{spec.logins:,} logins of {spec.users:,} users"):
            await conn.execute(INSERT_LOGINS, spec.users, spec.logins)
        with stopwatch(timings, "vacuum, analyze"):
            await conn.execute("VACUUM (ANALYZE) kpi.events")
    finally:
        await conn.close()
    return timings
