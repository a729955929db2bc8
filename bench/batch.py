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
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

from bench.batch_floor import run_floor
from bench.batch_report import Outcome, Result, agreement, agrees, report
from bench.batch_seed_design import run_seed_design, seed_indexes
from bench.common import (
    DEFAULT_WORKDIR,
    built_data_set,
    fetch_one,
    in_fresh_interpreter,
    plain_dsn,
    settle,
)
from bench.dataset import TENANT, WEEK_END, WEEK_START, DataSpec, build_data_set
from bench.figures import load_line

FULL = DataSpec(users=10_000, cases=2_000_000, events=5_000_000)


def in_child_process(function: Callable[[str], tuple[int, float]], dsn: str, name: str) -> Result:
    """Run a contender in a fresh interpreter, so its peak RSS is its own."""
    (rows, seconds), rss = in_fresh_interpreter(function, dsn)
    return Result(name, seconds, rows, rss)


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
    run = asyncio.run(fetch_one(plain_dsn(url), LAST_RUN))
    if run["failed"]:
        raise RuntimeError(f"the engine's run {run['id']} failed for {run['failed']} rows")
    return Result(
        name,
        seconds,
        run["computed"] + run["unchanged"],
        usage.ru_maxrss / 1024,
        run_seconds=run["seconds"],
    )


# --------------------------------------------------------------------------- the run


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
    print("machine:", load_line())
    print(
        f"batch: {spec.users:,} users x 5 KPIs = {spec.assignments:,} assignments, "
        f"{spec.cases:,} support cases, {spec.events:,} events, week {WEEK_START}..{WEEK_END}"
    )
    with built_data_set("kpi_bench_batch", args.workdir, lambda dsn: build_data_set(dsn, spec)) as (
        url,
        _,
    ):
        outcome = run_contenders(
            url, args.workdir, with_seed=not args.skip_seed, rerun=not args.no_rerun
        )
    print(report(outcome))
    return 0 if agrees(outcome.check, outcome.with_seed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
