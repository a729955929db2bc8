"""Soak: mixed traffic (reads, manual writes, event ingestion, two backfills) against one
`kpi-service serve` process for ten minutes; errors, latency, memory and CPU per window.

Usage (from the repository root):
    .venv/bin/python -m bench.soak [--duration 600] [--concurrency 16] [--window 30]
        [--warmup 10] [--demo-users 12] [--seed 2026] [--drain 300] [--json]
        [--workdir /tmp/kpi-bench-soak]

The database is `kpi_bench_soak`, rebuilt at each run on KPI_DATABASE_URL's server (the role
needs CREATEDB) or on a durable embedded server in `--workdir`, tuned as the other
benchmarks' (bench/common.py), and filled by the demo loader (`load_demo`, the code behind
`kpi-service serve --demo`). The service runs as `kpi-service serve`: one uvicorn worker,
auth `none`, scheduler on, log level warning, its output in `<workdir>/service.log`. This
process is the client: `--concurrency` closed-loop workers, each choosing its next request
by fixed weights from a seeded RNG; ids and keys are discovered through the API. Every
request counts: any non-2xx answer, transport error or timeout, and any event of a batch not
accepted, is an error. The exit status is 1 on any error, on a backfill that did not
succeed and on a count of stored events other than the accepted ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
import time
from collections.abc import Coroutine
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.common import bench_database, plain_dsn, service_process
from bench.figures import load_line
from bench.soak_report import markdown, summarize
from bench.soak_sampling import sample_service
from bench.soak_traffic import (
    BACKFILL_AT,
    REQUEST_TIMEOUT,
    Tally,
    backfill,
    discover,
    fetch,
    worker,
)
from kpi_service.core.settings import Settings
from kpi_service.demo.loader import load_demo
from kpi_service.demo.people import DemoSize

DATABASE = "kpi_bench_soak"
DEFAULT_WORKDIR = Path("/tmp/kpi-bench-soak")  # noqa: S108 (a scratch place, never committed)


def build(url: str, agents: int) -> float:
    """Load the demo at `agents` sales agents; the seconds it took."""
    settings = Settings(
        _env_file=None,
        database_url=SecretStr(url),
        timezone="UTC",
        scheduler_enabled=False,
        log_level="WARNING",
    )
    started = time.perf_counter()
    runs = asyncio.run(load_demo(settings, DemoSize(agents=agents)))
    failed = [run for run in runs if run.status != "succeeded"]
    if not runs or failed:
        raise RuntimeError(f"the demo's runs did not succeed: {[r.errors for r in failed]}")
    return time.perf_counter() - started


def service(url: str, log: Path) -> AbstractContextManager[tuple[str, int]]:
    """`kpi-service serve` with the scheduler on; yields its base URL and pid once ready."""
    return service_process(url, {"KPI_TIMEZONE": "UTC", "KPI_SCHEDULER_ENABLED": "true"}, log=log)


async def soak(base: str, pid: int, dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, run the traffic for the duration, let the backfills end; the raw figures."""
    today = datetime.now(UTC).date()
    limits = httpx.Limits(
        max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4
    )
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=REQUEST_TIMEOUT) as client:
        cat = await discover(client, dsn, today)
        if not (cat.agents and cat.manual and cat.event_types and cat.teams):
            raise RuntimeError(f"the demo lacks agents, manual KPIs or event types: {cat}")
        events_before = (await fetch(dsn, "SELECT count(*) AS n FROM kpi.events"))[0]["n"]
        tally = Tally(t0=time.monotonic() + args.warmup)
        stop_at = tally.t0 + args.duration
        ends = [
            min((k + 1) * args.window, args.duration)
            for k in range(math.ceil(args.duration / args.window))
        ]
        samples: dict[float, dict[str, Any]] = {}
        instants = sorted({0.0, args.duration / 2, *ends})
        sampler = asyncio.create_task(sample_service(pid, args.workdir, tally, instants, samples))
        deadline = stop_at + args.drain
        backfills = [
            asyncio.create_task(backfill(client, tally, share * args.duration, today, deadline))
            for share in BACKFILL_AT
        ]
        await asyncio.gather(
            *(
                worker(client, tally, cat, random.Random(f"{args.seed}-{k}"), today, stop_at)
                for k in range(args.concurrency)
            )
        )
        await sampler
        runs = await asyncio.gather(*backfills)
    events_after = (await fetch(dsn, "SELECT count(*) AS n FROM kpi.events"))[0]["n"]
    return {
        "catalog": cat,
        "tally": tally,
        "samples": samples,
        "ends": ends,
        "runs": runs,
        "events": {
            "accepted": tally.accepted,
            "rows_before": events_before,
            "rows_after": events_after,
            "match": events_after - events_before == tally.accepted,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before")
    parser.add_argument("--window", type=float, default=30.0, help="seconds per window")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--demo-users", type=int, default=12, help="sales agents")
    parser.add_argument("--seed", default="2026")
    parser.add_argument(
        "--drain",
        type=float,
        default=300.0,
        help="seconds a backfill may take after the traffic ends",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, not Markdown")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    if not (
        30 <= args.duration <= 86_400
        and 0 <= args.warmup <= 600
        and 5 <= args.window <= args.duration
        and 1 <= args.concurrency <= 500
        and 1 <= args.demo_users <= 100_000
        and 0 <= args.drain <= 3600
    ):
        parser.error(
            "duration 30 s to a day, warm-up up to 600 s, window 5 s to the "
            "duration, concurrency 1 to 500, 1 to 100,000 agents, drain up to 3600 s"
        )
    args.workdir.mkdir(parents=True, exist_ok=True)
    with bench_database(DATABASE, args.workdir) as url:
        build_s = build(url, args.demo_users)
        print(
            f"demo of {args.demo_users} agents loaded in {build_s:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        load_before = load_line()
        with service(url, args.workdir / "service.log") as (base, pid):
            raw = _run(soak(base, pid, plain_dsn(url), args))
    raw.update(build_s=build_s, load_before=load_before)
    report = summarize(raw, args)
    print(json.dumps(report, default=_plain, indent=1) if args.json else markdown(report))
    return 0 if report["ok"] else 1


def _run(main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _plain(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
