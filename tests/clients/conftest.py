"""The Python client generated from docs/openapi.json (as CI builds it), and a live service
process for it to talk to."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.support.spec import SPEC_FILE

PACKAGE = "kpi_service_client"


@pytest.fixture(scope="session")
def python_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package openapi-python-client generates, imported; any generator warning fails."""
    out = tmp_path_factory.mktemp("generated") / PACKAGE
    # The generator formats its output with ruff (its post hooks), which lives beside python.
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(SPEC_FILE),
            "--output-path",
            str(out),
            "--meta",
            "none",
            "--fail-on-warning",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"openapi-python-client failed:\n{done.stdout}{done.stderr}"
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    print(f"\ngenerated the Python client in {time.monotonic() - started:.2f}s")
    sys.path.insert(0, str(out.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_service(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kpi-service serve` in a process of its own on the test database; its base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update(
        KPI_DATABASE_URL=database_url,
        KPI_ENV="test",
        KPI_AUTH_MODE="none",
        KPI_SCHEDULER_ENABLED="false",
        KPI_TIMEZONE="UTC",
    )
    port = _free_port()
    workdir = tmp_path_factory.mktemp("serve")
    log = workdir / "service.log"  # a file, not a pipe: nobody reads it while it runs
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kpi_service.cli", "serve", "--port", str(port)],
            env=env,
            cwd=workdir,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-5000:]
            try:
                if httpx.get(f"{base_url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.2)
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
