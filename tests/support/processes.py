"""The service as a real process for the fault tests: started, probed, stopped; and plain
connections for reading what it stored."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from tests.support.database import plain_dsn

# The scheduler runs (its sweeps resume runs) but starts none: no catch-up, and a daily
# schedule that does not fire during a test.
QUIET_SCHEDULE = {"KPI_SCHEDULER_CATCHUP": "0", "KPI_SCHEDULE_DAILY": "0 0 1 1 *"}
# Loopback opened to the service's outbound calls, for a test whose fake source listens on
# 127.0.0.1 (refused otherwise, as every internal address).
LOOPBACK_OUTBOUND = {"KPI_OUTBOUND_ALLOW": "127.0.0.0/8"}


async def kpi_command(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kpi-service ARGS...` run to its end on this database (in a thread, so the test's
    event loop keeps serving), with no KPI_ setting of this environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update(KPI_DATABASE_URL=database_url, KPI_ENV="test")
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "kpi_service.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    """This environment without any KPI_ setting, plus the database, test defaults and these
    settings (`QUIET_SCHEDULE`, `LOOPBACK_OUTBOUND`, ...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update(KPI_DATABASE_URL=database_url, KPI_ENV="test", KPI_AUTH_MODE="none", **extra)
    return env


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Child:
    """A `kpi-service` child process; its output goes to a file, so a chatty process never
    blocks on a full pipe."""

    proc: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def base_url(self) -> str:
        """Where it serves HTTP."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(errors="replace")


def start(args: list[str], env: dict[str, str], cwd: Path, port: int = 0) -> Child:
    """`kpi-service <args>` in a child process."""
    log = cwd / f"kpi-service-{args[0]}-{free_port()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kpi_service.cli", *args],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Child(proc, log, port)


def serve(database_url: str, cwd: Path, **extra: str) -> Child:
    """`kpi-service serve` on a free port (not yet ready: see wait_ready)."""
    port = free_port()
    return start(["serve", "--port", str(port)], service_env(database_url, **extra), cwd, port)


def wait_ready(child: Child, within: float = 60) -> None:
    """Block until the service answers /readyz with 200."""
    deadline = time.monotonic() + within
    while True:
        assert child.proc.poll() is None, child.output()[-3000:]
        try:
            if httpx.get(f"{child.base_url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the service did not become ready"
        time.sleep(0.2)


def terminate(child: Child, within: float = 30) -> tuple[int, str]:
    """SIGTERM, then wait for the exit: its code and everything it printed."""
    if child.proc.poll() is None:
        child.proc.send_signal(signal.SIGTERM)
    return wait_exit(child, within)


def wait_exit(child: Child, within: float) -> tuple[int, str]:
    """Wait for the process to end by itself (a second SIGTERM would force uvicorn out)."""
    try:
        child.proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        child.proc.kill()
        child.proc.wait()
        raise AssertionError(f"no exit within {within} s:\n{child.output()[-3000:]}") from None
    return child.proc.returncode, child.output()


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    """Poll check until it holds; fail if it does not within the bound."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"still waiting for {what} after {within} s"
        await asyncio.sleep(0.02)


async def fetch(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """Rows of one statement, on a connection of its own."""
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def execute(url: str, script: str) -> None:
    """Run a script of several statements, on a connection of its own."""
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        await conn.execute(script)
    finally:
        await conn.close()


async def checksum(url: str) -> tuple[int, str]:
    """How many measurements there are and a digest of their computed columns."""
    [row] = await fetch(
        url,
        "SELECT count(*) AS n, md5(string_agg(concat_ws('|', "
        "assignment_id, period_start, actual_value, achievement, score, "
        "status, previous_value, trend), ',' ORDER BY assignment_id, "
        "period_start)) AS digest FROM kpi.measurements",
    )
    return int(row["n"]), str(row["digest"])
