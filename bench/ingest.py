"""Ingest throughput: `POST /api/kpis/events` against the real service, versus a raw COPY.

Usage (from the repository root):
    .venv/bin/python -m bench.ingest [--batches 200] [--batch-size 5000]
        [--connections 2] [--warmup 10] [--workdir /tmp/kpi-bench-ingest]

The database is `kpi_bench_ingest`, fresh and migrated, on KPI_DATABASE_URL's server
(the role needs CREATEDB) or on a durable embedded server in `--workdir`, tuned as the
other benchmarks' (bench/common.py). The service runs as `kpi-service serve` in its own
process (auth mode `none`). This process is the client: `--connections` concurrent HTTP/1.1
connections (httpx), each posting whole batches one after the other. The bodies are
serialised before the clock starts, so the figure is the service's, not the client's JSON
encoder's. The first `--warmup` batches (sent one at a time: partitions, pools, caches) are
not timed. Then the table is emptied and the same rows are sent by asyncpg's
`copy_records_to_table` straight into `kpi.events`, one transaction per batch over as many
connections: the floor a service cannot beat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import bench_database, plain_dsn, service_process, settle
from bench.figures import load_line

TENANT = "default"
TYPES = ("call", "email", "login", "deal.won", "ticket:closed", "page_view")
COLUMNS = ("tenant_id", "id", "occurred_at", "user_id", "team_id", "type", "value", "properties")
EVENTS_URL = "/api/kpis/events"
DEFAULT_WORKDIR = Path("/tmp/kpi-bench-ingest")  # noqa: S108 (a scratch place, never committed)


@dataclass(frozen=True)
class Figures:
    events: int
    seconds: float
    cpu_seconds: float | None = None  # the service process's, when /proc tells

    @property
    def per_second(self) -> float:
        return self.events / self.seconds

    def __str__(self) -> str:
        text = f"{self.per_second:>10,.0f} events/s ({self.events:,} in {self.seconds:.2f}s)"
        if self.cpu_seconds is not None:
            text += f", service CPU {self.cpu_seconds / self.events * 1e6:.1f} µs/event"
        return text


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def generate(batches: int, size: int, seed: int = 7) -> list[list[dict[str, Any]]]:
    """Batches of events as a client would send them: types, users, teams, values, properties."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for _ in range(batches):
        batch = []
        for _ in range(size):
            user = rng.randrange(2_000)
            event: dict[str, Any] = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "user_id": f"user{user}",
                "team_id": f"team{user % 40}",
                "type": rng.choice(TYPES),
                "occurred_at": (now - timedelta(seconds=rng.randrange(90 * 86_400))).isoformat(),
                "value": round(rng.uniform(0, 1_000), 2),
                "properties": {
                    "duration": rng.randrange(5, 3_600),
                    "channel": rng.choice(("phone", "chat", "mail")),
                    "won": rng.random() < 0.3,
                },
            }
            if rng.random() < 0.2:
                del event["team_id"]
            batch.append(event)
        out.append(batch)
    return out


def as_records(batch: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows a raw COPY into `kpi.events` takes for these events."""
    return [
        (
            TENANT,
            uuid.UUID(e["id"]),
            datetime.fromisoformat(e["occurred_at"]),
            e["user_id"],
            e.get("team_id"),
            e["type"],
            Decimal(str(e["value"])),
            json.dumps(e["properties"]),
        )
        for e in batch
    ]


def service(url: str) -> AbstractContextManager[tuple[str, int]]:
    """`kpi-service serve` in its own process; yields its base URL and pid once it is ready."""
    return service_process(url, {}, ready_seconds=60)


async def post_one(client: httpx.AsyncClient, index: int, body: bytes) -> None:
    """Post one batch; anything but every event accepted is a failed benchmark."""
    response = await client.post(
        EVENTS_URL, content=body, headers={"content-type": "application/json"}
    )
    result = response.json()
    if response.status_code != 200 or result["rejected"] or result["duplicates"]:
        raise RuntimeError(f"batch {index}: {response.status_code} {result}")


async def post_all(
    base: str, pid: int, bodies: Sequence[bytes], size: int, connections: int, warmup: int
) -> Figures:
    """Post every body over `connections` connections; time all but the first `warmup`."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(warmup, len(bodies)):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                await post_one(client, index, bodies[index])

        # Warm-up batches go one at a time (partitions, pools, caches), then the clock starts.
        for index in range(warmup):
            await post_one(client, index, bodies[index])
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
        cpu_after = cpu_seconds(pid)
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return Figures(events=(len(bodies) - warmup) * size, seconds=seconds, cpu_seconds=cpu)


async def _execute(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def copy_all(
    dsn: str, batches: Sequence[list[tuple[Any, ...]]], connections: int, warmup: int
) -> Figures:
    """The same rows by `copy_records_to_table`, one transaction per batch, as many connections."""
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(batches)):
        queue.put_nowait(index)

    async def copy_one(index: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(
                "events", schema_name="kpi", records=batches[index], columns=list(COLUMNS)
            )

    async def worker() -> None:
        while not queue.empty():
            await copy_one(queue.get_nowait())

    try:
        for _ in range(warmup):
            await copy_one(queue.get_nowait())
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return Figures(events=(len(batches) - warmup) * len(batches[0]), seconds=seconds)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help="where the embedded server lives (without KPI_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.batches:
        parser.error("--warmup must be below --batches")
    return args


def run(
    url: str,
    args: argparse.Namespace,
    bodies: Sequence[bytes],
    records: Sequence[list[tuple[Any, ...]]],
) -> tuple[Figures, Figures]:
    """Both contenders on the same database, each from a settled, empty table."""
    dsn = plain_dsn(url)
    asyncio.run(settle(dsn))
    with service(url) as (base, pid):
        http = asyncio.run(
            post_all(base, pid, bodies, args.batch_size, args.connections, args.warmup)
        )
    stored = asyncio.run(_execute(dsn, "SELECT count(*) FROM kpi.events"))
    if stored != args.batches * args.batch_size:
        raise RuntimeError(f"{stored} events stored, {args.batches * args.batch_size} sent")
    # Emptied, not dropped: the monthly partitions stay, as they would in service.
    asyncio.run(_execute(dsn, "TRUNCATE kpi.events"))
    asyncio.run(settle(dsn))
    copy = asyncio.run(copy_all(dsn, records, args.connections, args.warmup))
    return http, copy


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    batches = generate(args.batches, args.batch_size)
    bodies = [json.dumps({"events": b}).encode() for b in batches]
    records = [as_records(b) for b in batches]
    print(
        f"{args.batches} batches x {args.batch_size} events, {args.connections} connection(s),"
        f" {args.warmup} warm-up batches; {sum(map(len, bodies)) / 2**20:.0f} MiB of JSON"
    )
    print(load_line())
    with bench_database("kpi_bench_ingest", args.workdir) as url:
        http, copy = run(url, args, bodies, records)
    print(f"HTTP ingest: {http}")
    print(f"raw COPY:    {copy}")
    print(f"ratio HTTP/COPY: {http.per_second / copy.per_second:.2f}")
    print(load_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
