"""The batch benchmark's contender (c): the floor, one hand-written INSERT ... SELECT per
definition inside PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bench.dataset import PERIOD_END, PERIOD_START, TENANT, WEEK_END, WEEK_START

_PERIOD = (f"TIMESTAMPTZ '{PERIOD_START.isoformat()}'", f"TIMESTAMPTZ '{PERIOD_END.isoformat()}'")
_CASES_IN_WEEK = (
    f"FROM public.support_cases WHERE status = 'resolved' "
    f"AND resolved_at >= {_PERIOD[0]} AND resolved_at < {_PERIOD[1]} "
    "GROUP BY assigned_to"
)
_CALLS_IN_WEEK = (
    f"FROM kpi.events WHERE tenant_id = '{TENANT}' AND type = 'call' "
    f"AND occurred_at >= {_PERIOD[0]} AND occurred_at < {_PERIOD[1]} "
    "GROUP BY user_id"
)
_FORMULA_INPUTS = """
SELECT r.subject_id, round(r.actual_value / NULLIF(c.actual_value, 0) * 100, 6)
FROM bench.floor_measurements AS r
JOIN kpi.definitions AS dr ON dr.id = r.definition_id AND dr.key = 'cases_resolved'
JOIN bench.floor_measurements AS c ON c.subject_id = r.subject_id
                                  AND c.period_start = r.period_start
JOIN kpi.definitions AS dc ON dc.id = c.definition_id AND dc.key = 'calls_handled'
WHERE r.period_start = DATE '{week}'"""

# Per definition: (subject_id, value) for every subject with data, and the value of a
# subject without (the engine's `value_when_no_rows`: 0 for counts, else none).
FLOOR_VALUES = {
    "avg_resolution_time": (
        "SELECT assigned_to::text, avg(extract(epoch FROM resolved_at "  # noqa: S608
        "- created_at) / 3600) " + _CASES_IN_WEEK,
        "NULL",
    ),
    "cases_resolved": ("SELECT assigned_to::text, count(*) " + _CASES_IN_WEEK, "0"),
    "calls_handled": ("SELECT user_id, count(*) " + _CALLS_IN_WEEK, "0"),
    "call_duration_p90": (
        "SELECT user_id, percentile_cont(0.9) WITHIN GROUP (ORDER BY CASE "
        "WHEN jsonb_typeof(properties -> 'duration_s') = 'number' THEN "
        "(properties ->> 'duration_s')::numeric END) " + _CALLS_IN_WEEK,
        "NULL",
    ),
    "resolved_per_100_calls": (_FORMULA_INPUTS.format(week=WEEK_START), "NULL"),
}

FLOOR_INSERT = """
WITH d AS (SELECT * FROM kpi.definitions WHERE tenant_id = '{tenant}' AND key = '{key}'),
v (subject_id, value) AS ({values}),
due AS (
    SELECT a.id, a.subject_id,
           CASE WHEN v.subject_id IS NULL THEN {no_rows} ELSE v.value END::numeric AS actual,
           (SELECT t.target_value FROM kpi.assignment_targets AS t
            WHERE t.tenant_id = a.tenant_id AND t.assignment_id = a.id
              AND t.effective_from <= DATE '{end}'
            ORDER BY t.effective_from DESC LIMIT 1) AS target
    FROM kpi.assignments AS a
    JOIN d ON a.tenant_id = d.tenant_id AND a.definition_id = d.id
    LEFT JOIN v ON v.subject_id = a.subject_id
    WHERE a.start_date <= DATE '{end}' AND (a.end_date IS NULL OR a.end_date >= DATE '{start}')
)
INSERT INTO bench.floor_measurements (assignment_id, definition_id, subject_id, period_start,
    period_end, actual_value, target_value, achievement, score, status)
SELECT due.id, d.id, due.subject_id, DATE '{start}', DATE '{end}', due.actual, due.target,
       x.achievement, least(greatest(x.achievement, 0), d.score_cap),
       CASE WHEN x.achievement >= 100 THEN 'met'
            WHEN x.achievement >= d.warning_threshold THEN 'at_risk'
            WHEN x.achievement IS NOT NULL THEN 'off_track' END
FROM due CROSS JOIN d
CROSS JOIN LATERAL (SELECT bench.achievement(due.actual, due.target, d.target_type)
                    AS achievement) AS x"""


FORMULAS = frozenset({"resolved_per_100_calls"})


def floor_statement(key: str) -> str:
    """The floor's INSERT ... SELECT for one definition."""
    values, no_rows = FLOOR_VALUES[key]
    return FLOOR_INSERT.format(
        tenant=TENANT, key=key, values=values, no_rows=no_rows, start=WEEK_START, end=WEEK_END
    )


async def floor(dsn: str) -> tuple[int, float]:
    """One statement per definition (the formula last), in one transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        rows = 0
        async with conn.transaction():
            for key in FLOOR_VALUES:
                if key in FORMULAS:
                    # Fresh statistics, else the self-join of the inputs may plan as a
                    # nested loop over an "empty" table (seen: 9 s became 39 s).
                    await conn.execute("ANALYZE bench.floor_measurements")
                status = await conn.execute(floor_statement(key))
                rows += int(status.split()[-1])
        return rows, time.perf_counter() - started
    finally:
        await conn.close()


def run_floor(dsn: str) -> tuple[int, float]:
    """The floor, from a synchronous caller (a child process)."""
    return asyncio.run(floor(dsn))
