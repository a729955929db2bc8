"""What the benchmarks share: a PostgreSQL to run on, migrated to head and tuned, and the
service in its own process.

The data set is in bench/dataset.py; timing, memory and tables in bench/figures.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.figures import markdown_table, own_peak_rss_mb
from kpi_service.core.database import async_url
from kpi_service.core.embedded import EmbeddedPostgres
from kpi_service.core.migrations import upgrade

T = TypeVar("T")

DEFAULT_WORKDIR = Path("/tmp/kpi-bench")  # noqa: S108 (a scratch place, never committed)

# Settings of the embedded bench server (ALTER SYSTEM in its own data directory): the
# defaults (128 MB of shared buffers) suit a laptop, not a 24 GB machine with GBs of data.
SERVER_SETTINGS = {
    "shared_buffers": "2GB",
    "max_wal_size": "8GB",
    "maintenance_work_mem": "1GB",
    "checkpoint_timeout": "30min",
}
REPORTED_SETTINGS = (
    "server_version",
    "shared_buffers",
    "work_mem",
    "max_wal_size",
    "fsync",
    "synchronous_commit",
    "max_parallel_workers_per_gather",
    "jit",
)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def service_process(
    url: str, env: dict[str, str], log: Path | None = None, ready_seconds: float = 120
) -> Iterator[tuple[str, int]]:
    """`kpi-service serve` in its own process on `url`, auth `none`, with `env` on top;
    yields its base URL and pid once /readyz answers, and stops it afterwards."""
    port = free_port()
    environment = {
        **os.environ,
        "KPI_DATABASE_URL": url,
        "KPI_AUTH_MODE": "none",
        "KPI_ENV": "development",
        "KPI_LOG_LEVEL": "warning",
        **env,
    }
    command = [str(Path(sys.executable).with_name("kpi-service")), "serve", "--port", str(port)]
    if log is None:
        process = subprocess.Popen(command, env=environment)  # noqa: S603
    else:
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603
                command,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "the service did not become ready" + (f" (see {log})" if log else "")
                )
            time.sleep(0.3)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def in_fresh_interpreter(function: Callable[..., T], *args: Any) -> tuple[T, float]:
    """`function(*args)` in a fresh interpreter, with that process's peak RSS in MB: a
    contender's memory is its own, not the benchmark's."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measured, function, *args).result()


def _measured(function: Callable[..., T], *args: Any) -> tuple[T, float]:
    return function(*args), own_peak_rss_mb()


def plain_dsn(url: str) -> str:
    """The asyncpg (libpq-style) form of a service URL."""
    return make_url(async_url(url)).set(drivername="postgresql").render_as_string(False)


async def _execute(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _tune(server: EmbeddedPostgres) -> None:
    """Apply SERVER_SETTINGS, restarting the server once if they were not in force yet."""
    dsn = plain_dsn(server.url("postgres"))

    async def pending() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            for name, value in SERVER_SETTINGS.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await conn.execute("SELECT pg_reload_conf()")
            return bool(
                await conn.fetchval(
                    "SELECT bool_or(pending_restart) FROM pg_settings WHERE name = ANY($1::text[])",
                    list(SERVER_SETTINGS),
                )
            )
        finally:
            await conn.close()

    if asyncio.run(pending()):
        server.stop()
        server.start()


async def _exists(dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


@contextmanager
def bench_database(
    name: str, workdir: Path = DEFAULT_WORKDIR, *, reuse: bool = False
) -> Iterator[str]:
    """A fresh database `name` (or, with `reuse`, the one left by an earlier run), migrated
    to head, on KPI_DATABASE_URL's server (which needs CREATEDB) or on an embedded server in
    `workdir`; yields its service URL."""
    external = os.environ.get("KPI_DATABASE_URL")
    if external:
        base = make_url(async_url(external))
        admin = plain_dsn(base.set(database="postgres").render_as_string(False))
        if not (reuse and asyncio.run(_exists(admin, name))):
            asyncio.run(
                _execute(
                    admin,
                    f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                    f'CREATE DATABASE "{name}"',
                )
            )
        url = base.set(database=name).render_as_string(False)
        upgrade(url)
        yield url
        return
    server = EmbeddedPostgres(workdir / "postgres", durable=True)
    server.start()
    try:
        _tune(server)
        if not reuse:
            server.drop_database(name)
        server.ensure_database(name)
        url = server.url(name)
        upgrade(url)
        yield url
    finally:
        server.stop()


@contextmanager
def built_data_set(
    name: str, workdir: Path, build: Callable[[str], Coroutine[Any, Any, dict[str, float]]]
) -> Iterator[tuple[str, str]]:
    """A fresh bench database `name` with its data set built by `build(dsn)`: prints the
    server's settings and the seconds each build step took, then yields (URL, DSN)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with bench_database(name, workdir) as url:
        dsn = plain_dsn(url)
        settings = asyncio.run(server_settings(dsn))
        print("server:", ", ".join(f"{k}={v}" for k, v in settings.items()))
        timings = asyncio.run(build(dsn))
        print(markdown_table(["data set", "s"], list(timings.items())), "\n", flush=True)
        yield url, dsn


async def server_settings(dsn: str) -> dict[str, str]:
    """The server settings that matter to the figures, as `SHOW` prints them."""
    conn = await asyncpg.connect(dsn)
    try:
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in REPORTED_SETTINGS}
    finally:
        await conn.close()


async def settle(dsn: str) -> None:
    """Start a contender from the same state: statistics fresh, dirty pages written out."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE")
        # On an external server we may lack the right; the figures are noisier there.
        with suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def fetch_one(dsn: str, sql: str, *args: Any) -> dict[str, Any]:
    """The first row of a query, as a dict (empty without one)."""
    conn = await asyncpg.connect(dsn)
    try:
        return dict(await conn.fetchrow(sql, *args) or {})
    finally:
        await conn.close()
