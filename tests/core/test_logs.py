"""Log lines: JSON with the request id (taken from `X-Request-ID` or made), one access line
per request with its route template, uvicorn's own lines in the same format, no passwords."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import ASGITransport, AsyncClient

from kpi_service.app import create_app
from kpi_service.core import logs
from kpi_service.core.context import request_id
from kpi_service.core.database import Database
from kpi_service.core.settings import Settings
from tests.support.api import assign, define
from tests.support.processes import free_port

GENERATED = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the service's JSON formatter writes for records of `kpi_service`."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("kpi_service")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def access(out: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in records(out) if r["logger"] == "kpi_service.access"]


async def test_an_access_line_carries_the_callers_request_id_and_the_route(
    db: Database, settings: Settings, lines: io.StringIO
) -> None:
    app = create_app(settings, database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        kpi = await define(c, key="calls")
        made = await assign(c, kpi["id"], "7", 10)
        lines.truncate(0)
        lines.seek(0)
        response = await c.get(
            f"/api/kpis/assignments/{made['id']}", headers={"X-Request-ID": "abc"}
        )
    assert response.status_code == 200 and response.headers["x-request-id"] == "abc"
    [line] = access(lines)
    assert line["request_id"] == "abc"
    assert (line["level"], line["method"], line["path"], line["route"], line["status"]) == (
        "INFO",
        "GET",
        f"/api/kpis/assignments/{made['id']}",
        "/api/kpis/assignments/{assignment_id}",
        200,
    )
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None
    assert line["message"].startswith(f"GET /api/kpis/assignments/{made['id']} 200 ")


@pytest.mark.parametrize("offered", [None, "", "has spaces", "x" * 129, "a/b", "é".encode()])
async def test_without_a_usable_request_id_one_is_made_echoed_and_logged(
    db: Database, settings: Settings, lines: io.StringIO, offered: str | bytes | None
) -> None:
    app = create_app(settings, database=db)
    headers = {} if offered is None else {"X-Request-ID": offered}
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        # The raw UTF-8 bytes are the hostile value: httpx sends them beside a str name.
        response = await c.get("/api/kpis/nope", headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 404
    made = response.headers["x-request-id"]
    assert GENERATED.match(made)
    [line] = access(lines)
    assert (line["request_id"], line["route"], line["status"]) == (made, "unmatched", 404)


async def test_every_line_of_a_request_has_its_id_and_none_outside(
    db: Database, settings: Settings, lines: io.StringIO
) -> None:
    app = create_app(settings, database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        await c.get("/healthz", headers={"X-Request-ID": "req-1"})
        await c.get("/healthz", headers={"X-Request-ID": "req-2"})
    logging.getLogger("kpi_service.outside").warning("between requests")
    mine = [
        r for r in records(lines) if r["logger"] in ("kpi_service.access", "kpi_service.outside")
    ]
    assert [(r["request_id"], r["message"].split(" ")[0]) for r in mine] == [
        ("req-1", "GET"),
        ("req-2", "GET"),
        (None, "between"),
    ]


def test_passwords_in_urls_never_reach_a_line(lines: io.StringIO) -> None:
    log = logging.getLogger("kpi_service.test")
    log.info("connecting to %s", "postgresql://kpi:s3cr%40t@db:5432/kpi")
    log.warning("source postgres://reader:pa55@warehouse/app and https://user:tok@host/x")
    log.info("no credentials: postgresql://kpi@db/kpi, mail a@b.c")
    out = lines.getvalue()
    assert "s3cr" not in out and "pa55" not in out and "tok@" not in out
    assert [r["message"] for r in records(lines) if r["logger"] == "kpi_service.test"] == [
        "connecting to postgresql://kpi:***@db:5432/kpi",
        "source postgres://reader:***@warehouse/app and https://user:***@host/x",
        "no credentials: postgresql://kpi@db/kpi, mail a@b.c",
    ]


def test_text_lines_for_a_terminal() -> None:
    record = logging.LogRecord(
        "kpi_service.x", logging.WARNING, __file__, 1, "odd %s", ("one",), None
    )
    token = request_id.set("abc")
    try:
        logs.ContextFilter().filter(record)
    finally:
        request_id.reset(token)
    line = logs.TextFormatter().format(record)
    assert line.endswith(" WARNING kpi_service.x [abc] odd one")
    bare = logging.LogRecord("kpi_service.x", logging.INFO, __file__, 1, "plain", None, None)
    logs.ContextFilter().filter(bare)
    assert logs.TextFormatter().format(bare).endswith(" INFO kpi_service.x [-] plain")


def test_an_exception_is_one_json_line_with_its_traceback(lines: io.StringIO) -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("kpi_service.test").exception("it failed")
    [line] = [r for r in records(lines) if r["logger"] == "kpi_service.test"]
    assert line["level"] == "ERROR" and line["message"] == "it failed"
    assert "ValueError: broken" in line["exc_info"]


def test_serve_writes_only_json_lines_uvicorns_included(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update(
        KPI_DATABASE_URL=database_url,
        KPI_SCHEDULER_ENABLED="false",
        KPI_LOG_FORMAT="json",
        KPI_LOG_LEVEL="info",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kpi_service.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    healthy = 0
    try:
        deadline = time.monotonic() + 60
        while not healthy:
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the service did not start"
            try:
                healthy += httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                time.sleep(0.1)
        answer = httpx.get(
            f"{base}/api/kpis/assignments/424242", headers={"X-Request-ID": "abc"}, timeout=5
        )
        assert answer.status_code == 404 and answer.headers["x-request-id"] == "abc"
        scraped = httpx.get(f"{base}/metrics", timeout=5).text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.error" in loggers and "uvicorn.access" not in loggers
    assert not any("color_message" in line for line in lines)
    assert any("Application startup complete" in line["message"] for line in lines)
    [line] = [r for r in lines if r["logger"] == "kpi_service.access" and r["request_id"] == "abc"]
    assert (line["route"], line["status"], line["path"]) == (
        "/api/kpis/assignments/{assignment_id}",
        404,
        "/api/kpis/assignments/424242",
    )
    # One access line per request: the health checks that answered, the 404, the scrape.
    assert sum(r["logger"] == "kpi_service.access" for r in lines) == healthy + 2
    assert (
        f'kpi_http_request_duration_seconds_count{{method="GET",route="/healthz",'
        f'status="200"}} {float(healthy)}'
    ) in scraped
