"""The Python client generated from docs/openapi.json (as CI builds it), and a live service
process for it to talk to."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.processes import serve, terminate, wait_ready
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


@pytest.fixture(scope="module")
def live_service(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kpi-service serve` in a process of its own on the test database; its base URL."""
    workdir = tmp_path_factory.mktemp("serve")
    child = serve(database_url, workdir, KPI_SCHEDULER_ENABLED="false", KPI_TIMEZONE="UTC")
    try:
        wait_ready(child)
        yield child.base_url
    finally:
        terminate(child)
