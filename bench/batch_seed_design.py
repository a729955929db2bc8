"""The batch benchmark's contender (b): the seed's design (seed 000), per assignment one
SELECT of that user's value, then an INSERT and a COMMIT, sequentially, in plain asyncpg,
with the best indexes for it."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import asyncpg

from bench.dataset import PERIOD_END, PERIOD_START, TENANT, WEEK_END, WEEK_START
from kpi_service.engine import achievement as ach
from kpi_service.engine.formula import parse_formula
from kpi_service.engine.vocabulary import TargetType

# The best indexes for the seed's per-user statements: covering, so each SELECT is an
# index-only range scan of one user's rows. Created for its run only.
SEED_INDEXES = {
    "bench_seed_cases": "public.support_cases (assigned_to, resolved_at) INCLUDE (created_at) "
    "WHERE status = 'resolved'",
    "bench_seed_events": "kpi.events (tenant_id, user_id, type, occurred_at) INCLUDE (properties)",
    "bench_seed_inputs": "bench.seed_measurements (subject_id, period_start)",
}

_CASES_OF_USER = (
    "FROM support_cases WHERE assigned_to = $1 AND status = 'resolved' "
    "AND resolved_at >= $2 AND resolved_at < $3"
)
_CALLS_OF_USER = (
    f"FROM kpi.events WHERE tenant_id = '{TENANT}' AND user_id = $1 "
    "AND type = 'call' AND occurred_at >= $2 AND occurred_at < $3"
)
# Seed 000's queries, one user at a time (its COALESCE(..., 0) and its lost Sundays fixed,
# so the values compare); for event KPIs the same shape over events.
SEED_VALUE_SQL = {
    "avg_resolution_time": "SELECT AVG(EXTRACT(EPOCH FROM (resolved_at - created_at)) / 3600) "  # noqa: S608
    + _CASES_OF_USER,
    "cases_resolved": "SELECT COUNT(*) " + _CASES_OF_USER,
    "calls_handled": "SELECT COUNT(*) " + _CALLS_OF_USER,
    "call_duration_p90": "SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY CASE WHEN "
    "jsonb_typeof(properties -> 'duration_s') = 'number' THEN "
    "(properties ->> 'duration_s')::numeric END) " + _CALLS_OF_USER,
}
SEED_INPUTS_SQL = """
SELECT definition_id, actual_value FROM bench.seed_measurements
WHERE subject_id = $1 AND period_start = $2 AND definition_id = ANY($3::bigint[])"""

SEED_DUE = f"""
SELECT a.id, a.subject_id, d.id AS definition_id, d.key, d.calculation_type, d.config,
       d.target_type, d.score_cap, d.warning_threshold,
       (SELECT t.target_value FROM kpi.assignment_targets AS t
        WHERE t.tenant_id = a.tenant_id AND t.assignment_id = a.id AND t.effective_from <= $1
        ORDER BY t.effective_from DESC LIMIT 1) AS target_value
FROM kpi.assignments AS a
JOIN kpi.definitions AS d ON d.tenant_id = a.tenant_id AND d.id = a.definition_id
WHERE a.tenant_id = '{TENANT}' AND d.is_active AND d.aggregation_period = 'weekly'
  AND d.calculation_type <> 'manual'
ORDER BY d.calculation_type = 'formula', a.id"""  # noqa: S608

SEED_INSERT = """
INSERT INTO bench.seed_measurements (assignment_id, definition_id, subject_id, period_start,
    period_end, actual_value, target_value, achievement, score, status, calculated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CURRENT_TIMESTAMP)
ON CONFLICT (assignment_id, period_start, period_end) DO UPDATE SET
    actual_value = EXCLUDED.actual_value, target_value = EXCLUDED.target_value,
    achievement = EXCLUDED.achievement, score = EXCLUDED.score, status = EXCLUDED.status,
    calculated_at = CURRENT_TIMESTAMP
RETURNING id"""


async def seed_indexes(dsn: str, *, create: bool) -> None:
    """Create (or drop) the seed's indexes."""
    conn = await asyncpg.connect(dsn)
    try:
        for name, target in SEED_INDEXES.items():
            schema = target.split(".", 1)[0]
            sql = (
                f"CREATE INDEX {name} ON {target}"
                if create
                else f"DROP INDEX IF EXISTS {schema}.{name}"
            )
            await conn.execute(sql)
        if create:
            await conn.execute("VACUUM (ANALYZE) public.support_cases, kpi.events")
    finally:
        await conn.close()


async def _seed_value(
    conn: asyncpg.Connection, due: asyncpg.Record, keys: dict[int, str]
) -> Decimal | None:
    if due["calculation_type"] != "formula":
        user: int | str = due["subject_id"]
        if due["key"] in ("avg_resolution_time", "cases_resolved"):
            user = int(user)  # seed 000's assigned_to is an integer user id
        value = await conn.fetchval(SEED_VALUE_SQL[due["key"]], user, PERIOD_START, PERIOD_END)
        return None if value is None else Decimal(value)
    config = json.loads(due["config"])
    formula = parse_formula(config["expression"], config["variables"])
    ids = [i for i, key in keys.items() if key in config["variables"].values()]
    stored = {
        keys[r["definition_id"]]: r["actual_value"]
        for r in await conn.fetch(SEED_INPUTS_SQL, due["subject_id"], WEEK_START, ids)
    }
    value, _ = formula.evaluate({n: stored.get(k) for n, k in config["variables"].items()})
    return value


async def _seed_one(conn: asyncpg.Connection, due: asyncpg.Record, keys: dict[int, str]) -> None:
    async with conn.transaction():  # BEGIN; SELECT; INSERT; COMMIT, as the seed's psycopg2
        actual = await _seed_value(conn, due, keys)
        achievement = ach.achievement(actual, due["target_value"], TargetType(due["target_type"]))
        status = ach.status(achievement, due["warning_threshold"])
        await conn.fetchval(
            SEED_INSERT,
            due["id"],
            due["definition_id"],
            due["subject_id"],
            WEEK_START,
            WEEK_END,
            actual,
            due["target_value"],
            achievement,
            ach.score(achievement, due["score_cap"]),
            None if status is None else status.value,
        )


async def seed_design(dsn: str) -> tuple[int, float]:
    """Seed 000's weekly job: list the assignments, then one at a time, one commit each."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        due = await conn.fetch(SEED_DUE, WEEK_END)
        keys = {r["definition_id"]: r["key"] for r in due}
        for item in due:
            await _seed_one(conn, item, keys)
        return len(due), time.perf_counter() - started
    finally:
        await conn.close()


def run_seed_design(dsn: str) -> tuple[int, float]:
    """The seed's design, from a synchronous caller (a child process)."""
    return asyncio.run(seed_design(dsn))
