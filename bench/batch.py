"""Batch benchmark: every user's KPIs for one week, computed three ways.

    python -m bench.batch [--scale 0.1]

(a) the service's engine: `kpi-service backfill` in a child process, start-up included;
(b) the seed's design (seed 000): per assignment one SELECT of that user's value, then an
    INSERT and a COMMIT, sequentially, in plain asyncpg, with the best indexes for it;
(c) the floor: one hand-written INSERT ... SELECT per definition inside PostgreSQL.

The three must store the same values: the script checks it and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import DEFAULT_WORKDIR, bench_database, plain_dsn, server_settings, settle
from bench.dataset import (
    PERIOD_END,
    PERIOD_START,
    TENANT,
    WEEK_END,
    WEEK_START,
    DataSpec,
    build_data_set,
)
from bench.figures import load_line, markdown_table, own_peak_rss_mb
from kpi_service.engine import achievement as ach
from kpi_service.engine.formula import parse_formula
from kpi_service.engine.vocabulary import TargetType

FULL = DataSpec(users=10_000, cases=2_000_000, events=5_000_000)
TARGET_VS_FLOOR = 1.5
TARGET_VS_SEED = 20.0
TARGET_RSS_MB = 300.0


@dataclass
class Result:
    """What one contender did: how long, how many rows, how much memory."""

    name: str
    seconds: float
    measurements: int
    rss_mb: float | None
    run_seconds: float | None = None  # the engine's own run, without process start-up

    @property
    def per_second(self) -> float:
        return self.measurements / self.seconds if self.seconds else 0.0


def in_child_process(function: Callable[[str], tuple[int, float]], dsn: str, name: str) -> Result:
    """Run a contender in a fresh interpreter, so its peak RSS is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        rows, seconds, rss = pool.submit(_measured, function, dsn).result()
    return Result(name, seconds, rows, rss)


def _measured(function: Callable[[str], tuple[int, float]], dsn: str) -> tuple[int, float, float]:
    rows, seconds = function(dsn)
    return rows, seconds, own_peak_rss_mb()


# ------------------------------------------------------------------- bench tables

BENCH_TABLE = """
CREATE TABLE bench.{name}_measurements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assignment_id bigint NOT NULL,
    definition_id bigint NOT NULL,
    subject_id text NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL,
    actual_value numeric,
    target_value numeric,
    achievement numeric,
    score numeric,
    status text,
    calculated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (assignment_id, period_start, period_end)
)"""

# The service's rules (engine/achievement.py) in SQL, for the target types of this data set
# (whose targets are all positive); and "same value" up to the stored six decimals.
BENCH_FUNCTIONS = """
CREATE FUNCTION bench.achievement(a numeric, t numeric, kind text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
  SELECT round(CASE
    WHEN a IS NULL OR t IS NULL THEN NULL
    WHEN kind = 'higher_better' THEN CASE WHEN t = 0 THEN CASE WHEN a >= 0 THEN 100 ELSE 0 END
                                          ELSE a / t * 100 END
    WHEN kind = 'lower_better' THEN CASE WHEN t = 0 THEN CASE WHEN a <= 0 THEN 100 ELSE 0 END
                                         WHEN a <= 0 THEN 100 ELSE t / a * 100 END
  END, 6)
$$;
CREATE FUNCTION bench.same(x numeric, y numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT (x IS NULL AND y IS NULL) OR abs(x - y) <= 0.000002 * greatest(1, abs(y))
$$"""


async def create_bench_tables(dsn: str) -> None:
    """The tables the seed's design and the floor write to, apart from the service's."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
        for name in ("floor", "seed"):
            await conn.execute(BENCH_TABLE.format(name=name))
        await conn.execute(BENCH_FUNCTIONS)
    finally:
        await conn.close()


# ------------------------------------------------------------------ (a) the engine

ENGINE_ENV = {
    "KPI_TIMEZONE": "UTC",
    "KPI_ENV": "development",
    "KPI_AUTH_MODE": "none",
    "KPI_LOG_LEVEL": "INFO",
    "KPI_DEFAULT_TENANT": TENANT,
}

LAST_RUN = f"""
SELECT id, status, computed, unchanged, failed,
       extract(epoch FROM finished_at - started_at)::float8 AS seconds
FROM kpi.calculation_runs WHERE tenant_id = '{TENANT}' ORDER BY id DESC LIMIT 1"""  # noqa: S608


def engine_command() -> list[str]:
    """`kpi-service backfill` for the bench week, from the same virtual environment."""
    program = str(Path(sys.executable).with_name("kpi-service"))
    return [
        program,
        "backfill",
        "--from",
        WEEK_START.isoformat(),
        "--to",
        WEEK_END.isoformat(),
        "--tenant",
        TENANT,
        "--quiet",
    ]


def run_engine(url: str, log_path: Path, name: str = "engine (kpi-service backfill)") -> Result:
    """Run the engine's CLI as a child and read its run row; wall time includes start-up."""
    env = {k: v for k, v in os.environ.items() if k != "KPI_SOURCE_DATABASE_URL"}
    env.update(ENGINE_ENV, KPI_DATABASE_URL=url)
    started = time.perf_counter()
    with log_path.open("w") as log:
        # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would mix in psql & co).
        child = subprocess.Popen(  # noqa: S603
            engine_command(),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
        )
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-20:])
        raise RuntimeError(f"the engine failed ({child.returncode}):\n{tail}")
    run = asyncio.run(_fetch_one(plain_dsn(url), LAST_RUN))
    if run["failed"]:
        raise RuntimeError(f"the engine's run {run['id']} failed for {run['failed']} rows")
    return Result(
        name,
        seconds,
        run["computed"] + run["unchanged"],
        usage.ru_maxrss / 1024,
        run_seconds=run["seconds"],
    )


async def _fetch_one(dsn: str, sql: str, *args: Any) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return dict(await conn.fetchrow(sql, *args) or {})
    finally:
        await conn.close()


# ------------------------------------------------------------- (b) the seed's design

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


# ----------------------------------------------------------------------- (c) the floor

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


# -------------------------------------------------------------------------- the check

AGREEMENT = f"""
SELECT count(*) AS assignments,
       count(*) FILTER (WHERE m.id IS NOT NULL AND f.id IS NOT NULL
                        AND bench.same(m.actual_value, f.actual_value)
                        AND bench.same(m.achievement, f.achievement)
                        AND m.status IS NOT DISTINCT FROM f.status) AS engine_agrees,
       count(*) FILTER (WHERE s.id IS NOT NULL AND f.id IS NOT NULL
                        AND bench.same(s.actual_value, f.actual_value)
                        AND bench.same(s.achievement, f.achievement)
                        AND s.status IS NOT DISTINCT FROM f.status) AS seed_agrees,
       count(*) FILTER (WHERE f.actual_value IS NULL) AS without_value,
       round(sum(round(m.actual_value, 4)), 2) AS engine_checksum,
       round(sum(round(f.actual_value, 4)), 2) AS floor_checksum,
       round(sum(round(s.actual_value, 4)), 2) AS seed_checksum
FROM kpi.assignments AS a
LEFT JOIN kpi.measurements AS m ON m.tenant_id = a.tenant_id AND m.assignment_id = a.id
     AND m.period_start = $1 AND m.period_end = $2
LEFT JOIN bench.floor_measurements AS f ON f.assignment_id = a.id AND f.period_start = $1
LEFT JOIN bench.seed_measurements AS s ON s.assignment_id = a.id AND s.period_start = $1
WHERE a.tenant_id = '{TENANT}'"""  # noqa: S608


async def agreement(dsn: str) -> dict[str, Any]:
    """How many assignments got the same value, achievement and status from each contender."""
    return await _fetch_one(dsn, AGREEMENT, WEEK_START, WEEK_END)


def agreement_lines(check: dict[str, Any], with_seed: bool) -> list[str]:
    """The check, in words."""
    total = check["assignments"]
    lines = [
        f"engine = floor for {check['engine_agrees']:,} of {total:,} assignments "
        f"(value, achievement, status; {check['without_value']:,} without a value)"
    ]
    if with_seed:
        lines.append(f"seed   = floor for {check['seed_agrees']:,} of {total:,} assignments")
    lines.append(
        "checksums (sum of values): engine {engine_checksum}, floor {floor_checksum}, "
        "seed {seed_checksum}".format(**check)
    )
    return lines


def agrees(check: dict[str, Any], with_seed: bool) -> bool:
    return check["engine_agrees"] == check["assignments"] and (
        not with_seed or check["seed_agrees"] == check["assignments"]
    )


# ------------------------------------------------------------------------- the report


def results_table(results: list[Result]) -> str:
    """The contenders, side by side."""
    floor_seconds = next((r.seconds for r in results if r.name.startswith("floor")), None)
    rows = [
        [
            r.name,
            r.seconds,
            r.run_seconds,
            r.measurements,
            round(r.per_second),
            r.rss_mb,
            r.seconds / floor_seconds if floor_seconds else None,
        ]
        for r in results
    ]
    return markdown_table(
        [
            "contender",
            "wall s",
            "own run s",
            "measurements",
            "measurements/s",
            "peak RSS MB",
            "x floor",
        ],
        rows,
    )


def target_lines(engine: Result, floor_result: Result, seed: Result | None) -> list[str]:
    """Each target of the issue, with the figure and whether it is met."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    vs_floor = engine.seconds / floor_result.seconds
    run_vs_floor = (engine.run_seconds or engine.seconds) / floor_result.seconds
    lines = [
        f"engine / floor: {vs_floor:.2f}x wall, {run_vs_floor:.2f}x own run "
        f"(target <= {TARGET_VS_FLOOR}x): {verdict(vs_floor <= TARGET_VS_FLOOR)}",
        f"engine peak RSS: {engine.rss_mb:.0f} MB (target <= {TARGET_RSS_MB:.0f} MB): "
        f"{verdict((engine.rss_mb or 0) <= TARGET_RSS_MB)}",
    ]
    if seed is not None:
        vs_seed = seed.seconds / engine.seconds
        lines.insert(
            1,
            f"seed / engine: {vs_seed:.1f}x faster (target >= {TARGET_VS_SEED}x): "
            f"{verdict(vs_seed >= TARGET_VS_SEED)}",
        )
    return lines


# --------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    """Everything one batch run measured."""

    results: list[Result]
    check: dict[str, Any]
    with_seed: bool

    def result(self, prefix: str) -> Result | None:
        return next((r for r in self.results if r.name.startswith(prefix)), None)


def run_contenders(url: str, workdir: Path, *, with_seed: bool, rerun: bool) -> Outcome:
    """Engine, floor and (optionally) the seed's design on a loaded database; then the check."""
    dsn = plain_dsn(url)
    asyncio.run(create_bench_tables(dsn))
    asyncio.run(settle(dsn))
    results = [run_engine(url, workdir / "engine.log")]
    if rerun:
        asyncio.run(settle(dsn))
        results.append(
            run_engine(url, workdir / "engine-rerun.log", name="engine, re-run (nothing changed)")
        )
    asyncio.run(settle(dsn))
    results.append(in_child_process(run_floor, dsn, "floor (INSERT ... SELECT)"))
    if with_seed:
        asyncio.run(seed_indexes(dsn, create=True))
        asyncio.run(settle(dsn))
        results.append(in_child_process(run_seed_design, dsn, "seed's design (row by row)"))
        asyncio.run(seed_indexes(dsn, create=False))
    return Outcome(results, asyncio.run(agreement(dsn)), with_seed)


def report(outcome: Outcome) -> str:
    """The results table, the check and the targets, as Markdown-ish text."""
    engine, floor_result = outcome.result("engine ("), outcome.result("floor")
    assert engine is not None and floor_result is not None
    lines = [results_table(outcome.results), ""]
    lines += [*agreement_lines(outcome.check, outcome.with_seed), ""]
    lines += target_lines(engine, floor_result, outcome.result("seed"))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply users, cases and events (default 1: 10k, 2M, 5M)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"embedded server and logs (default {DEFAULT_WORKDIR})",
    )
    parser.add_argument("--skip-seed", action="store_true", help="leave out the seed's design")
    parser.add_argument(
        "--no-rerun",
        action="store_true",
        help="leave out the engine's second run over unchanged data",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spec = FULL.scaled(args.scale)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("machine:", load_line())
    print(
        f"batch: {spec.users:,} users x 5 KPIs = {spec.assignments:,} assignments, "
        f"{spec.cases:,} support cases, {spec.events:,} events, week {WEEK_START}..{WEEK_END}"
    )
    with bench_database("kpi_bench_batch", args.workdir) as url:
        dsn = plain_dsn(url)
        print(
            "server:", ", ".join(f"{k}={v}" for k, v in asyncio.run(server_settings(dsn)).items())
        )
        build = asyncio.run(build_data_set(dsn, spec))
        print(markdown_table(["data set", "s"], list(build.items())), "\n", flush=True)
        outcome = run_contenders(
            url, args.workdir, with_seed=not args.skip_seed, rerun=not args.no_rerun
        )
    print(report(outcome))
    return 0 if agrees(outcome.check, outcome.with_seed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
