"""`kpi-service packs list | show | install` run as a process against the test database."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from httpx import AsyncClient

from kpi_service.core.database import Database
from kpi_service.packs.registry import PACKS
from tests.support.api import listed
from tests.support.auth import bearer
from tests.support.packs import source_table
from tests.support.processes import kpi_command

ACME = bearer("boss", "admin", tenant="acme")


async def _run(database_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await kpi_command(database_url, cwd, "packs", *args)


async def test_the_command_installs_a_pack_in_a_tenant_once(
    jwt_client: AsyncClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    args = ("install", "crm", "--tenant", "acme", "--from", "2026-10-01", "--user", "7:t1")
    await source_table(db, "contacts", [("8", "contacted", datetime(2026, 11, 9, 8, tzinfo=UTC))])
    done = await _run(database_url, tmp_path, *args, "--no-follow-sources", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert {d["outcome"] for d in report["definitions"]} == {"created"}
    assert (report["start_date"], report["follow_sources"]) == ("2026-10-01", False)
    pack = PACKS.get("crm")
    assert pack is not None
    assert len(report["assignments_created"]) == len(pack.organisation) + len(pack.users)
    stored = await listed(jwt_client, "/api/kpis/assignments", ACME)
    assert {(a["subject_id"], a["team_id"]) for a in stored if a["subject_type"] == "user"} == {
        ("7", "t1")
    }
    assert {a["start_date"] for a in stored} == {"2026-10-01"}
    assert await listed(jwt_client, "/api/kpis/definitions", bearer("boss", "admin")) == []

    again = await _run(database_url, tmp_path, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = again.stdout.splitlines()
    # Without the option, the earlier install's choice holds: "8" is still not assigned.
    assert lines[0].startswith("pack crm version 1 (installed before: 1)")
    assert lines[0].endswith(", does not follow its sources")
    assert sum(1 for line in lines if line.startswith("  unchanged ")) == len(pack.definitions)
    assert "assignments created: 0" in lines and "alert rules created: 0" in lines

    shown = await _run(database_url, tmp_path, "list", "--tenant", "acme")
    assert shown.returncode == 0, shown.stderr
    installed = {line.split()[0]: line.split()[4] for line in shown.stdout.splitlines()}
    assert installed == {"agent": "-", "crm": "1", "revenue": "-", "saas": "-", "support": "-"}


async def test_the_command_shows_a_pack_and_refuses_an_unknown_one(
    database_url: str, tmp_path: Path
) -> None:
    shown = await _run(database_url, tmp_path, "show", "support")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["reads"][0]["name"] == "support_cases"
    unknown = await _run(database_url, tmp_path, "install", "billing")
    assert unknown.returncode == 2
    assert "no pack named 'billing'" in unknown.stderr and "Traceback" not in unknown.stderr


async def test_the_command_assigns_the_users_of_the_source_tables(
    jwt_client: AsyncClient, db: Database, database_url: str, tmp_path: Path
) -> None:
    monday = datetime(2026, 11, 9, 8, tzinfo=UTC)
    await source_table(db, "support_cases", [(4, "open", monday, None, None, 0)])
    args = ("install", "support", "--tenant", "acme", "--user", "5:t1")
    done = await _run(database_url, tmp_path, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].endswith(", follows its sources")
    stored = await listed(jwt_client, "/api/kpis/assignments", ACME, subject_type="user")
    assert {(a["subject_id"], a["team_id"]) for a in stored} == {("4", None), ("5", "t1")}
