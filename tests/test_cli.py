"""The `kpi-service` command as a user runs it: serve with demo data, openapi."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kpi_service.core.embedded import EmbeddedPostgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env["KPI_DATA_DIR"] = str(data_dir)
    return env


def test_serve_demo_answers_the_seed_route_and_stops_its_database(tmp_path: Path) -> None:
    # A deep working directory: the socket path must stay short regardless.
    data_dir = tmp_path / ("deep-" * 12) / ".kpi"
    data_dir.parent.mkdir(parents=True)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kpi_service.cli", "serve", "--demo", "--port", str(port)],
        env=_env(data_dir), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.3)
        body = httpx.get(f"http://127.0.0.1:{port}/kpis/users/1").json()
        assert body["user_id"] == 1
        names = {k["name"] for k in body["kpis"]}
        assert names == {"Average Resolution Time", "Cases Resolved", "Customer Satisfaction"}
        latest = {k["name"]: k["latest_measurement"] for k in body["kpis"]}
        assert latest["Cases Resolved"] is not None
        assert latest["Cases Resolved"]["period_end"] < time.strftime("%Y-%m-%d")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    server = EmbeddedPostgres(data_dir)
    assert not (server.socket_dir / ".s.PGSQL.5432").exists(), "embedded server left running"
    assert not (server.pgdata / "postmaster.pid").exists()


def test_openapi_has_unique_operation_ids() -> None:
    out = subprocess.run([sys.executable, "-m", "kpi_service.cli", "openapi"],
                         capture_output=True, check=True, env=_env(Path(".kpi-unused")))
    spec = json.loads(out.stdout)
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert {"listDefinitions", "recordMeasurement", "recalculateMeasurements",
            "createAssignments"} <= set(ids)
