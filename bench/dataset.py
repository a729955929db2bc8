"""The benchmarks' data set: the bench week, the KPIs, and the rows built for them.

The data set is built inside PostgreSQL with set-based statements (`INSERT ... SELECT
generate_series`), seeded so two runs at the same size build the same rows (event ids
apart, which are random UUIDs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from bench.figures import stopwatch

TENANT = "default"
# A fixed past ISO week; most of the data lands in it, the rest in the weeks around it.
WEEK_START = date(2026, 11, 9)
WEEK_END = date(2026, 11, 15)
SHARE_IN_WEEK = 0.8
SPREAD_BEFORE = timedelta(days=28)
SPREAD_AFTER = timedelta(days=35)
# The bench week as instants, end exclusive: the next Monday, 00:00.
PERIOD_START = datetime.combine(WEEK_START, datetime.min.time(), UTC)
PERIOD_END = PERIOD_START + timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DefinitionSpec:
    """One KPI of the bench: its definition row and the base target of its assignments."""

    key: str
    name: str
    unit: str
    target_type: str
    calculation_type: str
    config: str  # JSON text
    rollup: str
    target: int


DEFINITIONS = (
    DefinitionSpec(
        "avg_resolution_time",
        "Average resolution time",
        "hours",
        "lower_better",
        "query",
        '{"query_key": "avg_resolution_time"}',
        "avg",
        24,
    ),
    DefinitionSpec(
        "cases_resolved",
        "Cases resolved",
        "count",
        "higher_better",
        "query",
        '{"query_key": "cases_resolved_count"}',
        "sum",
        120,
    ),
    DefinitionSpec(
        "calls_handled",
        "Calls handled",
        "count",
        "higher_better",
        "event",
        '{"event_type": "call", "aggregate": "count"}',
        "sum",
        200,
    ),
    DefinitionSpec(
        "call_duration_p90",
        "Call duration, 90th percentile",
        "seconds",
        "lower_better",
        "event",
        '{"event_type": "call", "aggregate": "p90", "property": "duration_s"}',
        "max",
        1500,
    ),
    DefinitionSpec(
        "resolved_per_100_calls",
        "Cases resolved per 100 calls",
        "ratio",
        "higher_better",
        "formula",
        '{"expression": "resolved / calls * 100", '
        '"variables": {"resolved": "cases_resolved", "calls": "calls_handled"}}',
        "avg",
        55,
    ),
)


@dataclass(frozen=True, slots=True)
class DataSpec:
    """How much data: users (each with every KPI), support cases and events."""

    users: int
    cases: int
    events: int

    @property
    def assignments(self) -> int:
        return self.users * len(DEFINITIONS)

    def scaled(self, factor: float) -> DataSpec:
        """The same shape with every count multiplied by `factor`."""
        return DataSpec(
            max(1, round(self.users * factor)),
            round(self.cases * factor),
            round(self.events * factor),
        )


def _instant_sql(seed_column: str) -> str:
    """An instant in the bench week with probability SHARE_IN_WEEK, else around it."""
    start = datetime.combine(WEEK_START, datetime.min.time(), UTC) - SPREAD_BEFORE
    days = (SPREAD_BEFORE + SPREAD_AFTER).days
    return (
        f"CASE WHEN {seed_column} < {SHARE_IN_WEEK} "
        f"THEN TIMESTAMPTZ '{WEEK_START.isoformat()} 00:00+00' "
        "+ random() * INTERVAL '7 days' "
        f"ELSE TIMESTAMPTZ '{start.isoformat()}' + random() * INTERVAL '{days} days' END"
    )


CREATE_CASES = """
CREATE TABLE public.support_cases (
    id serial PRIMARY KEY,
    assigned_to integer,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    resolved_at timestamptz
)"""

# 10% of the cases are still open; a resolved case took 30 minutes to 70 hours.
INSERT_CASES = f"""
INSERT INTO public.support_cases (assigned_to, status, created_at, resolved_at)
SELECT user_no, CASE WHEN is_open THEN 'open' ELSE 'resolved' END,
       resolved - make_interval(secs => 1800 + took * 250200),
       CASE WHEN is_open THEN NULL ELSE resolved END
FROM (SELECT 1 + floor(random() * $1)::int AS user_no, random() < 0.1 AS is_open,
             random() AS took, {_instant_sql("random()")} AS resolved
      FROM generate_series(1, $2)) AS g"""  # noqa: S608

# 60% calls (with a duration and a direction), 25% e-mails, 15% logins.
INSERT_EVENTS = f"""
INSERT INTO kpi.events (tenant_id, id, occurred_at, user_id, team_id, type, value, properties)
SELECT '{TENANT}', gen_random_uuid(), occurred_at, user_no::text, 'team-' || (user_no % 100),
       kind, NULL,
       CASE WHEN kind = 'call' THEN jsonb_build_object(
                'duration_s', 10 + floor(random() * 1790)::int,
                'direction', CASE WHEN random() < 0.5 THEN 'in' ELSE 'out' END)
            ELSE '{{}}'::jsonb END
FROM (SELECT 1 + floor(random() * $1)::int AS user_no, {_instant_sql("random()")} AS occurred_at,
             random() AS pick
      FROM generate_series(1, $2)) AS g
CROSS JOIN LATERAL (SELECT CASE WHEN g.pick < 0.6 THEN 'call'
                                WHEN g.pick < 0.85 THEN 'email' ELSE 'login' END AS kind) AS k"""  # noqa: S608

INSERT_DEFINITION = f"""
INSERT INTO kpi.definitions (tenant_id, key, name, unit, target_type, aggregation_period,
                             scope, calculation_type, config, rollup, created_by)
VALUES ('{TENANT}', $1, $2, $3, $4, 'weekly', 'user', $5, $6::jsonb, $7, 'bench')"""  # noqa: S608

INSERT_ASSIGNMENTS = f"""
INSERT INTO kpi.assignments (tenant_id, definition_id, subject_type, subject_id, team_id,
                             weight, start_date, assigned_by)
SELECT d.tenant_id, d.id, 'user', u::text, 'team-' || (u % 100), 20, DATE '2026-01-05', 'bench'
FROM kpi.definitions AS d CROSS JOIN generate_series(1, $1) AS u
WHERE d.tenant_id = '{TENANT}'
ORDER BY d.id, u"""  # noqa: S608

# Targets vary a little between users (base target + 0..4).
INSERT_TARGETS = f"""
INSERT INTO kpi.assignment_targets (tenant_id, assignment_id, effective_from, target_value,
                                    set_by)
SELECT a.tenant_id, a.id, a.start_date, t.target + a.subject_id::int % 5, 'bench'
FROM kpi.assignments AS a
JOIN kpi.definitions AS d ON d.tenant_id = a.tenant_id AND d.id = a.definition_id
JOIN unnest($1::text[], $2::numeric[]) AS t(key, target) ON t.key = d.key
WHERE a.tenant_id = '{TENANT}'"""  # noqa: S608


def months_between(first: date, last: date) -> list[tuple[int, int]]:
    """The (year, month) pairs from `first`'s month to `last`'s, both included."""
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = year + month // 12, month % 12 + 1
    return months


def partition_sql(year: int, month: int) -> str:
    """The monthly events partition, named and bounded as the service's repository does."""
    nxt_year, nxt_month = year + month // 12, month % 12 + 1
    return (
        f"CREATE TABLE IF NOT EXISTS kpi.events_y{year:04d}m{month:02d} "
        f"PARTITION OF kpi.events FOR VALUES FROM ('{year:04d}-{month:02d}-01 00:00+00') "
        f"TO ('{nxt_year:04d}-{nxt_month:02d}-01 00:00+00')"
    )


async def _definitions(conn: asyncpg.Connection, spec: DataSpec) -> None:
    await conn.executemany(
        INSERT_DEFINITION,
        [
            (d.key, d.name, d.unit, d.target_type, d.calculation_type, d.config, d.rollup)
            for d in DEFINITIONS
        ],
    )
    await conn.execute(INSERT_ASSIGNMENTS, spec.users)
    await conn.execute(
        INSERT_TARGETS, [d.key for d in DEFINITIONS], [d.target for d in DEFINITIONS]
    )


async def build_data_set(dsn: str, spec: DataSpec) -> dict[str, float]:
    """Create definitions, assignments, targets, support cases and events; returns the
    seconds each step took."""
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT setseed(0.2026)")
        with stopwatch(timings, "definitions, assignments, targets"):
            await _definitions(conn, spec)
        with stopwatch(timings, f"{spec.cases:,} support cases"):
            await conn.execute(CREATE_CASES)
            await conn.execute(INSERT_CASES, spec.users, spec.cases)
            # The index the demo loader creates: the service's own query reads by period.
            await conn.execute(
                "CREATE INDEX support_cases_resolved_at ON public.support_cases (resolved_at)"
            )
        with stopwatch(timings, f"{spec.events:,} events"):
            for year, month in months_between(
                WEEK_START - SPREAD_BEFORE, WEEK_START + SPREAD_AFTER
            ):
                await conn.execute(partition_sql(year, month))
            await conn.execute(INSERT_EVENTS, spec.users, spec.events)
        with stopwatch(timings, "vacuum, analyze"):
            await conn.execute(
                "VACUUM (ANALYZE) public.support_cases, kpi.events, "
                "kpi.definitions, kpi.assignments, kpi.assignment_targets"
            )
    finally:
        await conn.close()
    return timings
