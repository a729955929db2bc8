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
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr

from bench.common import bench_database, plain_dsn, service_process
from bench.figures import load_line, markdown_table
from bench.loadgen import percentile
from bench.views import cpu_seconds, database_cpu_seconds
from kpi_service.core.settings import Settings
from kpi_service.demo.loader import load_demo
from kpi_service.demo.people import DemoSize
from kpi_service.engine.periods import containing
from kpi_service.engine.vocabulary import PeriodKind

DATABASE = "kpi_bench_soak"
DEFAULT_WORKDIR = Path("/tmp/kpi-bench-soak")  # noqa: S108 (a scratch place, never committed)
API = "/api/kpis"
CLASSES = ("read", "write", "ingest")
WEIGHTS = (70, 15, 15)
READS = (
    "scorecard",
    "team",
    "leaderboard",
    "timeseries",
    "summary",
    "definitions",
    "assignments",
    "measurements",
    "legacy",
    "goals",
    "alerts",
)
BATCH = 100
BACKFILL_AT = (0.2, 0.6)  # shares of the duration at which a backfill is requested
BACKFILL_DAYS = 92  # the last three months of every KPI
HISTORY_DAYS = 90  # reads and manual values fall in these last days
REQUEST_TIMEOUT = 60.0
KEPT_ERRORS = 10


# ------------------------------------------------------------------------ the service


async def _fetch(dsn: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


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
    run = asyncio.run(load_demo(settings, DemoSize(agents=agents)))
    if run is None or run.status != "succeeded":
        raise RuntimeError(f"the demo's run did not succeed: {run and run.errors}")
    return time.perf_counter() - started


def service(url: str, log: Path) -> AbstractContextManager[tuple[str, int]]:
    """`kpi-service serve` with the scheduler on; yields its base URL and pid once ready."""
    return service_process(url, {"KPI_TIMEZONE": "UTC", "KPI_SCHEDULER_ENABLED": "true"}, log=log)


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak (VmHWM) of a process, in MB."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


# ---------------------------------------------------------------------- the catalogue


@dataclass
class Catalog:
    """What the traffic draws from, discovered through the API."""

    agents: list[tuple[str, str | None]]  # (user id, team id) of users with event KPIs
    teams: list[str]
    days: list[str]  # reading dates within the last HISTORY_DAYS
    leaderboard_keys: list[str]
    series: list[tuple[str, str]]  # (definition key, user id) of user assignments
    manual: list[tuple[int, str, float]]  # (assignment id, period start, target)
    event_types: dict[str, str]  # type -> one of its aggregates
    definitions: int = 0
    assignments: int = 0
    closed_skipped: int = 0


async def _all(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(1000):  # bounded: 500,000 rows at most
        response = await client.get(
            path, params={"limit": 500, **({"cursor": cursor} if cursor else {})}
        )
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items
    raise RuntimeError(f"{path}: too many pages")


async def discover(client: httpx.AsyncClient, dsn: str, today: date) -> Catalog:
    """Definitions and assignments from the API; closed periods from the database (the API
    does not list them) so that manual values go to open periods only."""
    definitions = {d["id"]: d for d in await _all(client, f"{API}/definitions") if d["is_active"]}
    assignments = [
        a
        for a in await _all(client, f"{API}/assignments")
        if a["is_active"] and a["definition_id"] in definitions
    ]
    closed = {
        (r["definition_id"], r["period_start"].isoformat())
        for r in await _fetch(dsn, "SELECT definition_id, period_start FROM kpi.closed_periods")
    }
    users = [a for a in assignments if a["subject_type"] == "user"]
    event_ids = {i for i, d in definitions.items() if d["calculation_type"] == "event"}
    agents = sorted(
        {(a["subject_id"], a["team_id"]) for a in users if a["definition_id"] in event_ids}, key=str
    )
    since = today - timedelta(days=HISTORY_DAYS)
    manual: list[tuple[int, str, float]] = []
    skipped = 0
    for a in assignments:
        d = definitions[a["definition_id"]]
        if d["calculation_type"] != "manual":
            continue
        period = containing(
            PeriodKind(d["aggregation_period"]), max(since, date.fromisoformat(a["start_date"]))
        )
        while period.start <= today and (
            a["end_date"] is None or period.start <= date.fromisoformat(a["end_date"])
        ):
            if (d["id"], period.start.isoformat()) in closed:
                skipped += 1
            else:
                manual.append((a["id"], period.start.isoformat(), float(a["target_value"])))
            period = period.next()
    return Catalog(
        agents=agents,
        teams=sorted({a["team_id"] for a in users if a["team_id"]}),
        days=[(today - timedelta(days=n)).isoformat() for n in range(1, HISTORY_DAYS + 1)],
        leaderboard_keys=sorted({a["definition_key"] for a in users}),
        series=sorted({(a["definition_key"], a["subject_id"]) for a in users}),
        manual=manual,
        event_types={
            d["config"]["event_type"]: d["config"].get("aggregate", "count")
            for d in definitions.values()
            if d["calculation_type"] == "event"
        },
        definitions=len(definitions),
        assignments=len(assignments),
        closed_skipped=skipped,
    )


# ------------------------------------------------------------------------ the traffic


def read_path(rng: random.Random, cat: Catalog, today: date) -> tuple[str, str]:
    """One read, of a kind drawn uniformly: its kind and path."""
    kind = rng.choice(READS)
    return kind, _read_path(kind, rng, cat, today)


def _read_path(kind: str, rng: random.Random, cat: Catalog, today: date) -> str:
    day = rng.choice(cat.days)
    user = rng.choice(cat.agents)[0]
    if kind == "scorecard":
        return f"{API}/metrics/scorecard?user_id={user}&period_kind=monthly&date={day}"
    if kind == "team":
        return (
            f"{API}/metrics/team?team_id={rng.choice(cat.teams)}"
            f"&period_kind={rng.choice(('weekly', 'monthly'))}&date={day}"
        )
    if kind == "leaderboard":
        return (
            f"{API}/metrics/leaderboard?definition_key={rng.choice(cat.leaderboard_keys)}"
            f"&date={day}&limit=50"
        )
    if kind == "timeseries":
        key, subject = rng.choice(cat.series)
        return (
            f"{API}/metrics/timeseries?definition_key={key}&subject_type=user"
            f"&subject_id={subject}&start={today - timedelta(days=180)}&end={day}"
        )
    if kind == "summary":
        return f"{API}/metrics/summary?period_kind=monthly&date={day}"
    if kind == "definitions":
        return f"{API}/definitions?limit=100"
    if kind == "assignments":
        return f"{API}/assignments?user_id={user}&limit=100"
    if kind == "measurements":
        return (
            f"{API}/measurements?definition_key={rng.choice(cat.leaderboard_keys)}"
            f"&period_from={day}&limit=100"
        )
    if kind == "legacy":
        return f"/kpis/users/{user}"
    if kind == "goals":
        return f"{API}/goals?user_id={user}&limit=50"
    return f"{API}/alerts?limit=50"


def event_batch(rng: random.Random, cat: Catalog, now: datetime) -> dict[str, Any]:
    """BATCH new events (fresh UUIDs) of demo agents and known types over the last 30 days."""
    events = []
    types = sorted(cat.event_types)
    for _ in range(BATCH):
        user, team = rng.choice(cat.agents)
        kind = rng.choice(types)
        value = (
            rng.uniform(500, 15_000)
            if cat.event_types[kind] == "sum"
            else rng.lognormvariate(1.8, 0.7)
        )
        at = now - timedelta(seconds=rng.uniform(0, 30 * 86_400))
        events.append(
            {
                "id": str(uuid.uuid4()),
                "user_id": user,
                "team_id": team,
                "type": kind,
                "occurred_at": at.isoformat(),
                "value": round(value, 2),
                "properties": {"source": "soak"},
            }
        )
    return {"events": events}


@dataclass
class Tally:
    """What every request did: (start offset, class, kind, seconds) samples and the errors."""

    t0: float
    samples: list[tuple[float, str, str, float]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    first_errors: list[str] = field(default_factory=list)
    error_times: list[float] = field(default_factory=list)
    accepted: int = 0

    def error(self, cls: str, what: str) -> None:
        self.errors[cls] = self.errors.get(cls, 0) + 1
        self.error_times.append(time.monotonic() - self.t0)
        if len(self.first_errors) < KEPT_ERRORS:
            self.first_errors.append(f"{cls} {what}"[:400])

    async def call(
        self,
        client: httpx.AsyncClient,
        cls: str,
        method: str,
        path: str,
        body: Any = None,
        kind: str = "",
    ) -> httpx.Response | None:
        """Send one request; record its latency, and an error unless it answered 2xx."""
        started = time.monotonic()
        self.requests[cls] = self.requests.get(cls, 0) + 1
        try:
            response = await client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.error(cls, f"{method} {path}: {type(exc).__name__} {exc}")
            return None
        finally:
            if cls in CLASSES:
                self.samples.append(
                    (started - self.t0, cls, kind or cls, time.monotonic() - started)
                )
        if not 200 <= response.status_code < 300:
            self.error(cls, f"{method} {path}: {response.status_code} {response.text[:200]}")
            return None
        return response


async def _worker(
    client: httpx.AsyncClient,
    tally: Tally,
    cat: Catalog,
    rng: random.Random,
    today: date,
    stop_at: float,
) -> None:
    while time.monotonic() < stop_at:
        cls = rng.choices(CLASSES, WEIGHTS)[0]
        if cls == "read":
            kind, path = read_path(rng, cat, today)
            await tally.call(client, cls, "GET", path, kind=kind)
        elif cls == "write":
            assignment, start, target = rng.choice(cat.manual)
            value = round(target * rng.uniform(0.6, 1.3), 2)
            await tally.call(
                client,
                cls,
                "PUT",
                f"{API}/assignments/{assignment}/measurements/{start}",
                {"value": value, "comment": "soak"},
            )
        else:
            response = await tally.call(
                client, cls, "POST", f"{API}/events", event_batch(rng, cat, datetime.now(UTC))
            )
            if response is not None:
                result = response.json()
                tally.accepted += result["accepted"]
                if result["accepted"] != BATCH:
                    tally.error(cls, f"batch: {json.dumps(result)[:300]}")


async def _backfill(
    client: httpx.AsyncClient, tally: Tally, at: float, today: date, deadline: float
) -> dict[str, Any]:
    """At offset `at`, recalculate every KPI over the last BACKFILL_DAYS; poll until done."""
    await asyncio.sleep(max(0.0, tally.t0 + at - time.monotonic()))
    asked = time.monotonic()
    out: dict[str, Any] = {"requested_at_s": round(asked - tally.t0, 1), "status": "not queued"}
    body = {
        "period_start": (today - timedelta(days=BACKFILL_DAYS)).isoformat(),
        "period_end": today.isoformat(),
    }
    response = await tally.call(client, "backfill", "POST", f"{API}/measurements/recalculate", body)
    if response is None:
        return out
    run = response.json()
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        await asyncio.sleep(1)
        polled = await tally.call(client, "backfill", "GET", f"{API}/runs/{run['id']}")
        run = polled.json() if polled is not None else run
    out["seen_done_s"] = round(time.monotonic() - asked, 1)
    started, finished = run["started_at"], run["finished_at"]
    out.update(
        {
            k: run[k]
            for k in (
                "id",
                "status",
                "computed",
                "unchanged",
                "failed",
                "skipped",
                "progress_total",
                "errors",
            )
        },
        ended_at_s=round(time.monotonic() - tally.t0, 1),
        run_s=(
            round(
                (
                    datetime.fromisoformat(finished) - datetime.fromisoformat(started)
                ).total_seconds(),
                1,
            )
            if started and finished
            else None
        ),
    )
    if run["status"] != "succeeded":
        tally.error("backfill", f"run {run['id']} ended {run['status']}: {run['errors'][:2]}")
    return out


def _sample(pid: int, workdir: Path, at: float) -> dict[str, Any]:
    return {
        "at_s": round(at, 1),
        **memory_mb(pid),
        "cpu_s": cpu_seconds(pid),
        "db_cpu_s": database_cpu_seconds(workdir),
        "client_cpu_s": time.process_time(),
    }


async def _sampler(
    pid: int, workdir: Path, tally: Tally, instants: list[float], into: dict[float, dict[str, Any]]
) -> None:
    for at in instants:
        await asyncio.sleep(max(0.0, tally.t0 + at - time.monotonic()))
        into[at] = _sample(pid, workdir, time.monotonic() - tally.t0)
        print(
            f"{at:6.0f}s: {len(tally.samples):,} requests, {len(tally.error_times)} errors, "
            f"RSS {into[at]['VmRSS']:.0f} MB",
            file=sys.stderr,
            flush=True,
        )


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
        events_before = (await _fetch(dsn, "SELECT count(*) AS n FROM kpi.events"))[0]["n"]
        tally = Tally(t0=time.monotonic() + args.warmup)
        stop_at = tally.t0 + args.duration
        ends = [
            min((k + 1) * args.window, args.duration)
            for k in range(math.ceil(args.duration / args.window))
        ]
        samples: dict[float, dict[str, Any]] = {}
        instants = sorted({0.0, args.duration / 2, *ends})
        sampler = asyncio.create_task(_sampler(pid, args.workdir, tally, instants, samples))
        deadline = stop_at + args.drain
        backfills = [
            asyncio.create_task(_backfill(client, tally, share * args.duration, today, deadline))
            for share in BACKFILL_AT
        ]
        await asyncio.gather(
            *(
                _worker(client, tally, cat, random.Random(f"{args.seed}-{k}"), today, stop_at)
                for k in range(args.concurrency)
            )
        )
        await sampler
        runs = await asyncio.gather(*backfills)
    events_after = (await _fetch(dsn, "SELECT count(*) AS n FROM kpi.events"))[0]["n"]
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


# ------------------------------------------------------------------------- the report


def _ms(values: list[float], share: float) -> float | None:
    return round(percentile(values, share) * 1000, 1) if values else None


def _latencies(
    samples: list[tuple[float, str, str, float]], cls: str | None, start: float, end: float
) -> list[float]:
    """The sorted seconds of the requests of a class or a read kind (None: all) started in
    [start, end)."""
    return sorted(s for at, c, k, s in samples if start <= at < end and cls in (None, c, k))


def _stats(
    samples: list[tuple[float, str, str, float]], cls: str | None, duration: float
) -> dict[str, Any]:
    """Latency of a class or read kind over the duration, and p99 of its first and last
    thirds."""
    values = _latencies(samples, cls, 0, duration)
    first = _ms(_latencies(samples, cls, 0, duration / 3), 0.99)
    last = _ms(_latencies(samples, cls, duration * 2 / 3, duration), 0.99)
    return {
        "requests": len(values),
        "rps": round(len(values) / duration, 1),
        "p50_ms": _ms(values, 0.5),
        "p95_ms": _ms(values, 0.95),
        "p99_ms": _ms(values, 0.99),
        "max_ms": _ms(values, 1.0),
        "p99_first_third_ms": first,
        "p99_last_third_ms": last,
        "p99_last_over_first": round(last / first, 2) if first and last else None,
    }


def summarize(raw: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Windows, classes, memory, backfills and checks, as plain values."""
    tally: Tally = raw["tally"]
    samples, ends, runs = raw["samples"], raw["ends"], raw["runs"]
    windows, start = [], 0.0
    for end in ends:
        before, after = samples[start], samples[end]
        row: dict[str, Any] = {
            "start_s": start,
            "end_s": end,
            "requests": len(_latencies(tally.samples, None, start, end)),
            "errors": sum(start <= at < end for at in tally.error_times),
        }
        for cls in (None, *CLASSES):
            values = _latencies(tally.samples, cls, start, end)
            row[cls or "all"] = [_ms(values, q) for q in (0.5, 0.95, 0.99)]
        seconds = after["at_s"] - before["at_s"] or 1
        row.update(
            rps=round(row["requests"] / (end - start), 1),
            rss_mb=round(after["VmRSS"]),
            cpu_pct=round((after["cpu_s"] - before["cpu_s"]) / seconds * 100),
            db_cpu_pct=(
                round((after["db_cpu_s"] - before["db_cpu_s"]) / seconds * 100)
                if after["db_cpu_s"] is not None
                else None
            ),
            backfill=any(
                r.get("requested_at_s", math.inf) < end and r.get("ended_at_s", math.inf) > start
                for r in runs
            ),
        )
        windows.append(row)
        start = end
    classes = {cls or "all": _stats(tally.samples, cls, args.duration) for cls in (*CLASSES, None)}
    reads = {kind: _stats(tally.samples, kind, args.duration) for kind in READS}
    warm = _latencies(tally.samples, None, -math.inf, 0)
    memory = {
        "start_mb": samples[0.0]["VmRSS"],
        "middle_mb": samples[args.duration / 2]["VmRSS"],
        "end_mb": samples[ends[-1]]["VmRSS"],
        "peak_mb": samples[ends[-1]]["VmHWM"],
    }
    memory = {k: round(v, 1) for k, v in memory.items()}
    memory["growth_mb"] = round(memory["end_mb"] - memory["start_mb"], 1)
    cat: Catalog = raw["catalog"]
    errors = sum(tally.errors.values())
    ok = (
        errors == 0 and raw["events"]["match"] and all(r.get("status") == "succeeded" for r in runs)
    )
    return {
        "ok": ok,
        "commit": _commit(),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "window_s": args.window,
            "concurrency": args.concurrency,
            "weights": dict(zip(CLASSES, WEIGHTS, strict=True)),
            "reads": READS,
            "event_batch": BATCH,
            "seed": args.seed,
            "backfill_at": BACKFILL_AT,
            "backfill_days": BACKFILL_DAYS,
        },
        "demo": {
            "agents": args.demo_users,
            "build_s": round(raw["build_s"], 1),
            "definitions": cat.definitions,
            "assignments": cat.assignments,
            "manual_periods": len(cat.manual),
            "closed_periods_skipped": cat.closed_skipped,
            "event_types": sorted(cat.event_types),
        },
        "load_before": raw["load_before"],
        "load_after": load_line(),
        "warmup": {"requests": len(warm), "p99_ms": _ms(warm, 0.99)},
        "windows": windows,
        "classes": classes,
        "reads": reads,
        "memory": memory,
        "backfills": runs,
        "events": raw["events"],
        "requests": dict(tally.requests),
        "errors": {"count": errors, "by_class": tally.errors, "first": tally.first_errors},
        "client_cpu_s": round(samples[ends[-1]]["client_cpu_s"] - samples[0.0]["client_cpu_s"], 1),
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _triple(values: list[float | None]) -> str:
    return " / ".join("-" if v is None else f"{v:,.0f}" if v >= 100 else f"{v:.1f}" for v in values)


def markdown(report: dict[str, Any]) -> str:
    """The report as GitHub Markdown, tables ready for docs/performance.md."""
    s, demo, m, ev = report["settings"], report["demo"], report["memory"], report["events"]
    head = [
        f"Soak at commit `{report['commit']}`: {s['duration_s']:.0f} s after {s['warmup_s']:.0f}"
        f" s of warm-up, {s['concurrency']} closed-loop workers (weights read {WEIGHTS[0]}, "
        f"write {WEIGHTS[1]}, ingest {WEIGHTS[2]} of {BATCH} events), one service process; "
        f"demo of {demo['agents']} agents ({demo['definitions']} KPIs, "
        f"{demo['assignments']} assignments, built in {demo['build_s']:.0f} s).",
        "",
        f"Before: {report['load_before']}. After: {report['load_after']}. The client (this "
        f"process) used {report['client_cpu_s']:.0f} s of CPU over the {s['duration_s']:.0f} s.",
        "",
        "**Per window** (latency ms as p50 / p95 / p99; CPU in % of one core):",
        "",
        markdown_table(
            [
                "window s",
                "requests",
                "req/s",
                "errors",
                "all ms",
                "read ms",
                "write ms",
                "ingest ms",
                "RSS MB",
                "service CPU %",
                "database CPU %",
                "backfill",
            ],
            [
                (
                    f"{w['start_s']:.0f}-{w['end_s']:.0f}",
                    w["requests"],
                    w["rps"],
                    w["errors"],
                    _triple(w["all"]),
                    _triple(w["read"]),
                    _triple(w["write"]),
                    _triple(w["ingest"]),
                    w["rss_mb"],
                    w["cpu_pct"],
                    w["db_cpu_pct"],
                    "running" if w["backfill"] else "",
                )
                for w in report["windows"]
            ],
        ),
        "",
        "**Per class** (whole duration; p99 of the first and the last third):",
        "",
        markdown_table(
            [
                "class",
                "requests",
                "req/s",
                "errors",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "p99 first third",
                "p99 last third",
                "last / first",
            ],
            [
                (
                    cls,
                    c["requests"],
                    c["rps"],
                    report["errors"]["by_class"].get(cls, 0)
                    if cls != "all"
                    else report["errors"]["count"],
                    c["p50_ms"],
                    c["p95_ms"],
                    c["p99_ms"],
                    c["max_ms"],
                    c["p99_first_third_ms"],
                    c["p99_last_third_ms"],
                    c["p99_last_over_first"],
                )
                for cls, c in report["classes"].items()
            ],
        ),
        "",
        "**Reads by kind**:",
        "",
        markdown_table(
            [
                "read",
                "requests",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "p99 first third",
                "p99 last third",
            ],
            [
                (
                    kind,
                    c["requests"],
                    c["p50_ms"],
                    c["p95_ms"],
                    c["p99_ms"],
                    c["max_ms"],
                    c["p99_first_third_ms"],
                    c["p99_last_third_ms"],
                )
                for kind, c in report["reads"].items()
            ],
        ),
        "",
        "**Memory** of the service process (VmRSS; peak is VmHWM):",
        "",
        markdown_table(
            ["start MB", "middle MB", "end MB", "growth MB", "peak MB"],
            [(m["start_mb"], m["middle_mb"], m["end_mb"], m["growth_mb"], m["peak_mb"])],
        ),
        "",
        f"**Backfills** (`POST /measurements/recalculate`, the last {BACKFILL_DAYS} days "
        "of every KPI):",
        "",
        markdown_table(
            [
                "run",
                "requested at s",
                "status",
                "periods",
                "computed",
                "unchanged",
                "failed",
                "run s",
                "requested to seen done s",
            ],
            [
                (
                    r.get("id"),
                    r["requested_at_s"],
                    r["status"],
                    r.get("progress_total"),
                    r.get("computed"),
                    r.get("unchanged"),
                    r.get("failed"),
                    r.get("run_s"),
                    r.get("seen_done_s"),
                )
                for r in report["backfills"]
            ],
        ),
        "",
        f"**Events**: {ev['accepted']:,} accepted; `kpi.events` held {ev['rows_before']:,} rows"
        f" before and {ev['rows_after']:,} after: "
        + ("the same count." if ev["match"] else "**a different count**."),
        "",
        f"**Errors**: {report['errors']['count']}."
        + "".join(f"\n- `{e}`" for e in report["errors"]["first"]),
        "",
        f"**Verdict**: {'passed' if report['ok'] else '**failed**'}.",
    ]
    return "\n".join(head)


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
