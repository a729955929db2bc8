"""Read views under load: the metrics views and the seed's `GET /kpis/users/{id}` on the
demo data scaled up, against one uvicorn worker; the seed's Flask + psycopg2 design on the
same data for comparison.

Usage (from the repository root):
    .venv/bin/python -m bench.views [--users 10000] [--concurrency 32] [--duration 20]
        [--warmup 3] [--reuse] [--build-only] [--only scorecard,team,...] [--skip-flask]
        [--workdir /tmp/kpi-bench-views]

The database is `kpi_bench_views` on KPI_DATABASE_URL's server (the role needs CREATEDB) or
on a durable embedded server in `--workdir`, tuned as the other benchmarks' (bench/common.py).
It is filled by the demo loader (`load_demo` with `--users` agents, the same code as
`kpi-service serve --demo --demo-users N`); `--reuse` keeps a database an earlier run built.
The service runs as `kpi-service serve` (one uvicorn worker, auth mode `none`, scheduler off)
in its own process; the load generator (`bench/loadgen.py`) runs in another; this process
only orchestrates. The seed's design (`bench/seed_flask.py`) is served by gunicorn, one
process with one thread per concurrent request, over its own copy of the same rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from bench.common import bench_database, free_port, plain_dsn, settle
from bench.figures import load_line, markdown_table
from bench.seed_flask import build_seed_tables
from kpi_service.core.embedded import EmbeddedPostgres
from kpi_service.core.settings import Settings
from kpi_service.demo.loader import load_demo
from kpi_service.demo.people import TEAM_SIZE, DemoSize

DEFAULT_WORKDIR = Path("/tmp/kpi-bench-views")  # noqa: S108 (a scratch place, never committed)
DATABASE = "kpi_bench_views"
TIMEZONE = "UTC"
TARGETS = ("scorecard", "team", "leaderboard", "timeseries", "legacy", "flask")


# ------------------------------------------------------------------------------ build


async def _demo_state(dsn: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.kpi_demo_state') IS NOT NULL")
        if not exists:
            return None
        return await conn.fetchrow(
            "SELECT last_day, agents, months, events_loaded FROM public.kpi_demo_state"
        )
    finally:
        await conn.close()


def build(url: str, users: int) -> dict[str, float]:
    """Load the demo at `users` agents unless this database holds it; seconds per step."""
    timings: dict[str, float] = {}
    dsn = plain_dsn(url)
    settings = Settings(
        _env_file=None,
        database_url=SecretStr(url),
        timezone=TIMEZONE,
        scheduler_enabled=False,
        log_level="WARNING",
    )
    state = asyncio.run(_demo_state(dsn))
    if state is None or not state["events_loaded"]:
        started = time.perf_counter()
        runs = asyncio.run(load_demo(settings, DemoSize(agents=users)))
        timings["demo loader"] = time.perf_counter() - started
        failed = [run for run in runs if run.status != "succeeded"]
        if not runs or failed:
            raise RuntimeError(f"the demo's runs did not succeed: {[r.errors for r in failed]}")
        print(
            f"demo loaded in {timings['demo loader']:.0f}s: {len(runs)} runs computed "
            f"{sum(run.computed for run in runs):,} measurements",
            flush=True,
        )
    started = time.perf_counter()
    asyncio.run(build_seed_tables(dsn))
    timings["seed tables"] = time.perf_counter() - started
    asyncio.run(settle(dsn))
    return timings


# ---------------------------------------------------------------------------- servers


def _wait_ready(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not become ready")
        time.sleep(0.3)


@contextmanager
def _server(
    command: Callable[[int], list[str]], env: dict[str, str], ready_path: str, what: str
) -> Iterator[tuple[str, int]]:
    """A server process on a free port of 127.0.0.1; yields its base URL and pid."""
    port = free_port()
    process = subprocess.Popen(command(port), env=env)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base + ready_path, process, what)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def service(url: str) -> Any:
    """`kpi-service serve`: one uvicorn worker, auth `none`, no scheduler (its catch-up would
    compute periods during the measurement)."""
    env = {
        **os.environ,
        "KPI_DATABASE_URL": url,
        "KPI_AUTH_MODE": "none",
        "KPI_ENV": "development",
        "KPI_LOG_LEVEL": "warning",
        "KPI_TIMEZONE": TIMEZONE,
        "KPI_SCHEDULER_ENABLED": "false",
    }
    binary = str(Path(sys.executable).with_name("kpi-service"))
    return _server(
        lambda port: [binary, "serve", "--port", str(port)], env, "/readyz", "the service"
    )


def seed_flask(url: str, threads: int) -> Any:
    """The seed's Flask design under gunicorn: one process, `threads` threads (gthread), and
    uvicorn's keep-alive of 5 s (with gunicorn's default of 2 s, connections the load
    generator is about to reuse are dropped)."""
    env = {**os.environ, "SEED_DSN": plain_dsn(url)}
    binary = str(Path(sys.executable).with_name("gunicorn"))
    return _server(
        lambda port: [
            binary,
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "5",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bench.seed_flask:app",
        ],
        env,
        "/kpis/users/0",
        "the seed's Flask app",
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (Linux)."""
    total = 0.0
    for proc in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def database_cpu_seconds(workdir: Path) -> float | None:
    """CPU time of the embedded PostgreSQL so far: the postmaster, the backends that ended
    (counted into it once reaped) and those alive; None on an external server."""
    if os.environ.get("KPI_DATABASE_URL"):
        return None
    pid_file = EmbeddedPostgres(workdir / "postgres").pgdata / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rpartition(")")[2].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime
    return cpu_seconds(postmaster) + reaped


def _children(pid: int) -> list[int]:
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(p) for p in listed]


# ------------------------------------------------------------------------------ paths


def paths(target: str, last_day: date, users: int, count: int = 2000) -> list[str]:
    """The requests of one target, drawn with a fixed seed."""
    rng = random.Random(f"bench-views-{target}")
    agents = [str(101 + i) for i in range(users)]
    teams = [f"sales-{k + 1}" for k in range((users + TEAM_SIZE - 1) // TEAM_SIZE)]
    # A day in the last full month, and in the month before: both are final, fully computed.
    month_days = [last_day.replace(day=1) - timedelta(days=d) for d in (1, 15, 32, 45)]
    keys = ("agent_revenue", "agent_conversion_rate", "agent_leads_handled", "agent_response_time")
    year = (last_day - timedelta(days=364)).isoformat()
    out = []
    for _ in range(count):
        day = rng.choice(month_days).isoformat()
        if target == "scorecard":
            out.append(
                f"/api/kpis/metrics/scorecard?user_id={rng.choice(agents)}"
                f"&period_kind=monthly&date={day}"
            )
        elif target == "team":
            out.append(
                f"/api/kpis/metrics/team?team_id={rng.choice(teams)}&period_kind=monthly&date={day}"
            )
        elif target == "leaderboard":
            out.append(
                f"/api/kpis/metrics/leaderboard?definition_key={rng.choice(keys)}"
                f"&date={day}&limit=50"
            )
        elif target == "timeseries":
            out.append(
                f"/api/kpis/metrics/timeseries?definition_key=revenue_daily"
                f"&subject_type=user&subject_id={rng.choice(agents[:TEAM_SIZE])}"
                f"&start={year}&end={last_day.isoformat()}"
            )
        else:  # the seed's route, on the service and on the Flask design
            out.append(f"/kpis/users/{rng.choice(agents)}")
    return out


# -------------------------------------------------------------------------------- run


def load(
    base: str, pid: int, requests: list[str], args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Run the load generator in its own process against one server; its figures plus the
    server's and the database's CPU per request."""
    file = workdir / "paths.json"
    file.write_text(json.dumps(requests))
    before, db_before = cpu_seconds(pid), database_cpu_seconds(workdir)
    done = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            base,
            str(file),
            "--concurrency",
            str(args.concurrency),
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    spent, db_after = cpu_seconds(pid) - before, database_cpu_seconds(workdir)
    total = max(figures["requests"] * (args.duration + args.warmup) / args.duration, 1)
    figures["server_cpu_ms"] = round(spent / total * 1000, 2)
    figures["database_cpu_ms"] = (
        round((db_after - db_before) / total * 1000, 2)
        if db_after is not None and db_before is not None
        else None
    )
    return figures


def _check(base: str, requests: list[str]) -> None:
    for path in requests[:3]:
        response = httpx.get(base + path, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")


def _same_answers(service_base: str, flask_base: str, users: list[str]) -> None:
    """Both designs serve the same KPIs and latest values for these users."""
    for user in users:
        ours = httpx.get(f"{service_base}/kpis/users/{user}", timeout=30).json()["kpis"]
        seed = httpx.get(f"{flask_base}/kpis/users/{user}", timeout=30).json()["kpis"]
        mine = {k["id"]: k for k in ours}
        if sorted(mine) != sorted(k["id"] for k in seed):
            raise RuntimeError(f"user {user}: the designs list different KPIs")
        for k in seed:
            got, want = mine[k["id"]]["latest_measurement"], k["latest_measurement"]
            # The seed stores values at two places (DECIMAL(10, 2)), the service at six.
            if (got is None) != (want is None) or (
                got
                and want
                and (
                    got["period_start"] != want["period_start"]
                    or abs(float(got["actual_value"] or 0) - float(want["actual_value"] or 0))
                    > 0.006
                )
            ):
                raise RuntimeError(f"user {user}, KPI {k['id']}: {got} != {want}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.views", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--reuse", action="store_true", help="keep a database already built")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument(
        "--only", default=",".join(TARGETS), help=f"comma-separated, among {', '.join(TARGETS)}"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    chosen = [t for t in args.only.split(",") if t]
    if unknown := set(chosen) - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.WARNING)
    args.workdir.mkdir(parents=True, exist_ok=True)
    with bench_database(DATABASE, args.workdir, reuse=args.reuse) as url:
        timings = build(url, args.users)
        print("build: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()), flush=True)
        if args.build_only:
            return
        state = asyncio.run(_demo_state(plain_dsn(url)))
        print(
            f"{load_line()}; demo of {state['agents']:,} agents ending {state['last_day']}",
            flush=True,
        )
        rows = []
        with service(url) as (base, pid):
            for target in (t for t in chosen if t != "flask"):
                requests = paths(target, state["last_day"], state["agents"])
                _check(base, requests)
                figures = load(base, pid, requests, args, args.workdir)
                rows.append((target, figures))
                print(target, json.dumps(figures), flush=True)
            if "flask" in chosen:
                with seed_flask(url, args.concurrency) as (flask_base, flask_pid):
                    requests = paths("flask", state["last_day"], state["agents"])
                    _same_answers(base, flask_base, [r.rsplit("/", 1)[1] for r in requests[:20]])
                    figures = load(flask_base, flask_pid, requests, args, args.workdir)
                    rows.append(("flask (seed design)", figures))
                    print("flask", json.dumps(figures), flush=True)
        print(
            markdown_table(
                [
                    "view",
                    "requests/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "errors",
                    "server CPU ms/req",
                    "database CPU ms/req",
                    "client CPU ms/req",
                ],
                [
                    (
                        name,
                        f["rps"],
                        f["p50_ms"],
                        f["p95_ms"],
                        f["p99_ms"],
                        f["max_ms"],
                        f["errors"],
                        f["server_cpu_ms"],
                        f["database_cpu_ms"],
                        f["client_cpu_ms"],
                    )
                    for name, f in rows
                ],
            )
        )


if __name__ == "__main__":
    main()
