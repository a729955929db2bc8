"""The `kpi-service` command as a user runs it: serve with demo data, openapi."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from kpi_service.core.database import Database
from kpi_service.core.embedded import EmbeddedPostgres
from tests.support.api import assign, define, measurements
from tests.support.database import create_support_cases
from tests.support.processes import free_port, kpi_command, start, terminate, wait_ready


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env["KPI_DATA_DIR"] = str(data_dir)
    return env


def test_serve_demo_answers_the_seed_route_and_stops_its_database(tmp_path: Path) -> None:
    # A deep working directory: the socket path must stay short regardless.
    data_dir = tmp_path / ("deep-" * 12) / ".kpi"
    data_dir.parent.mkdir(parents=True)
    port = free_port()
    child = start(["serve", "--demo", "--port", str(port)], _env(data_dir), tmp_path, port)
    try:
        wait_ready(child, within=90)
        body = httpx.get(f"{child.base_url}/kpis/users/1").json()
        assert body["user_id"] == 1
        names = {k["name"] for k in body["kpis"]}
        # The support pack's KPIs, assigned to the support team.
        assert names == {
            "Cases resolved",
            "Average resolution time",
            "First response time",
            "Reopen rate",
            "Open cases at the week's end",
        }
        latest = {k["name"]: k["latest_measurement"] for k in body["kpis"]}
        assert latest["Cases resolved"] is not None
        # Computed through yesterday: the latest week may still be in progress.
        assert latest["Cases resolved"]["period_start"] < time.strftime("%Y-%m-%d")
        agent = httpx.get(f"{child.base_url}/kpis/users/101").json()
        # The agent and crm packs' KPIs, and the demo's own.
        assert {"Conversion rate", "Revenue", "Funnel 6: won", "Calls Made", "Daily Revenue"} <= {
            k["name"] for k in agent["kpis"]
        }
        assert all(k["latest_measurement"] is not None for k in agent["kpis"])
    finally:
        code, output = terminate(child, within=60)
        assert code == 0, output[-4000:]
    server = EmbeddedPostgres(data_dir)
    assert not (server.socket_dir / ".s.PGSQL.5432").exists(), "embedded server left running"
    assert not (server.pgdata / "postmaster.pid").exists()


def test_openapi_has_unique_operation_ids() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kpi_service.cli", "openapi"],
        capture_output=True,
        check=True,
        env=_env(Path(".kpi-unused")),
    )
    spec = json.loads(out.stdout)
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert {
        "listDefinitions",
        "recordMeasurement",
        "recalculateMeasurements",
        "createAssignments",
    } <= set(ids)


async def test_backfill_computes_the_range_with_a_progress_bar(
    client: httpx.AsyncClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    monday = datetime(2026, 11, 2, 10, tzinfo=UTC)
    await create_support_cases(
        db,
        [
            (1, "resolved", monday, monday + timedelta(hours=1)),
            (1, "resolved", monday + timedelta(days=7), monday + timedelta(days=7, hours=2)),
        ],
    )
    d = await define(
        client,
        key="cases_resolved",
        calculation_type="query",
        config={"query_key": "cases_resolved_count"},
    )
    await define(
        client, key="other", calculation_type="query", config={"query_key": "cases_resolved_count"}
    )
    await assign(client, d["id"], "1", 1, start_date="2026-10-01")

    done = await kpi_command(
        database_url,
        tmp_path,
        "backfill",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-15",
        "--definition",
        "cases_resolved",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2/2 periods, 2 computed, 0 unchanged, 0 failed" in done.stdout
    assert "100%" in done.stderr  # the progress bar's last state
    got = {m["period_start"]: m["actual_value"] for m in await measurements(client)}
    assert got == {"2026-11-02": 1, "2026-11-09": 1}
    [run] = (await client.get("/api/kpis/runs")).json()["items"]
    assert (run["trigger"], run["requested_by"][:4]) == ("backfill", "cli:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2026-13-01", "--to", "2026-11-02"), "is not a date"),
        (("--from", "2026-11-09", "--to", "2026-11-02"), "period_end is before period_start"),
        (("--from", "2026-11-02", "--to", "2026-11-08", "--definition", "nope"), "nope"),
        (("--from", "2026-11-02", "--to", "2026-11-08", "--restate"), "needs a reason"),
    ],
)
async def test_backfill_refuses_bad_arguments_with_a_message(
    database_url: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = await kpi_command(database_url, tmp_path, "backfill", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


async def test_verify_reports_figures_corrupted_in_sql_and_fix_rederives_them(
    client: httpx.AsyncClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    d = await define(client, key="csat", aggregation_period="monthly")
    a = await assign(client, d["id"], "7", 100, start_date="2025-01-01")
    ids = []
    for month, value in (("2025-01-01", 70), ("2025-02-01", 90), ("2025-03-01", 120)):
        answer = await client.put(
            f"/api/kpis/assignments/{a['id']}/measurements/{month}", json={"value": value}
        )
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["id"])
    clean = await kpi_command(database_url, tmp_path, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "checked 3 measurements of 1 tenant(s): no drift" in clean.stdout

    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE kpi.measurements SET achievement = 91, score = 91 WHERE id = :i"),
            {"i": ids[1]},
        )
        await conn.execute(
            text("UPDATE kpi.measurements SET change_pct = 1 WHERE id = :i"), {"i": ids[2]}
        )
    found = await kpi_command(database_url, tmp_path, "verify")
    assert found.returncode == 1, found.stdout + found.stderr
    lines = found.stdout.splitlines()
    assert "3 measurements of 1 tenant(s): 2 differ from a clean recomputation" in lines[0]
    assert lines[1:4] == ["  achievement: 1", "  change_pct: 1", "  score: 1"]
    # Expected: 90 / 100; (120 - 90) / 90.
    assert (
        f"  tenant default measurement {ids[1]} achievement: stored 91, expected 90.000000" in lines
    )
    assert (
        f"  tenant default measurement {ids[2]} change_pct: stored 1, expected 33.333333" in lines
    )
    other = await kpi_command(database_url, tmp_path, "verify", "--tenant", "acme")
    assert other.returncode == 0 and "checked 0 measurements of tenant acme" in other.stdout

    fixed = await kpi_command(database_url, tmp_path, "verify", "--fix")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "default: 2 measurements re-derived" in fixed.stdout and "no drift" in fixed.stdout
    m = (await client.get(f"/api/kpis/measurements/{ids[1]}")).json()
    assert (m["achievement"], m["score"], m["revision"]) == (90, 90, 2)
    kept = (await client.get(f"/api/kpis/measurements/{ids[1]}/revisions")).json()
    kept = kept["items"] if isinstance(kept, dict) else kept
    assert (kept[0]["achievement"], kept[0]["change_reason"]) == (
        91,
        "re-derived by kpi-service verify --fix",
    )
