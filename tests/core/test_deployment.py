"""The deployment files agree with the code: every variable they set is a real setting, the
image's command and health check are real, and it runs as a non-root user.

No Docker engine runs in CI, so the image itself is not built here; these checks catch the
drift that would break it (a renamed setting, a removed route, a typo in a variable)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpi_service.cli import build_parser
from kpi_service.core.migrations import head_revision, migrations_dir
from kpi_service.core.settings import Settings
from tests.support.routes import app_routes

ROOT = Path(__file__).resolve().parents[2]
# Read by code outside Settings: secrets named by KPI and channel configs, the scripts' path,
# and compose's own interpolation of the database password.
NOT_SETTINGS = re.compile(r"^KPI_(SECRET_\w*|WEBHOOK_SECRET_\w*|MIGRATIONS_DIR|DB_PASSWORD)$")


def _settings_variables() -> set[str]:
    return {f"KPI_{name.upper()}" for name in Settings.model_fields}


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _stages(dockerfile: str) -> list[str]:
    """The Dockerfile's build stages, each as its text from its FROM line."""
    return re.split(r"(?m)^(?=FROM )", dockerfile)[1:]


def _instruction(stage: str, name: str) -> list[str]:
    """Every value of an instruction in a stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", stage)
    return [m.group(1).strip() for m in re.finditer(rf"(?m)^{name}\s+(.*)$", joined)]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _variables_in(text: str) -> set[str]:
    return set(re.findall(r"\bKPI_[A-Z0-9_]+", text))


@pytest.mark.parametrize("name", ["Dockerfile", "docker-compose.yml", ".env.example"])
def test_every_variable_a_deployment_file_names_is_a_setting(name: str) -> None:
    unknown = {
        v
        for v in _variables_in((ROOT / name).read_text())
        if v not in _settings_variables() and not NOT_SETTINGS.match(v)
    }
    assert unknown == set(), f"{name} names variables no code reads"


def test_the_env_example_lists_every_setting() -> None:
    listed = _variables_in((ROOT / ".env.example").read_text())
    assert _settings_variables() - listed == set(), "document these in .env.example"


def test_the_image_is_built_in_stages_and_runs_as_a_non_root_user() -> None:
    stages = _stages(_dockerfile())
    assert len(stages) >= 2
    runtime = stages[-1]
    # Only the built virtual environment is carried over: no compiler, no sources.
    assert _instruction(runtime, "COPY")[0].startswith("--from=build /opt/kpi")
    [user] = _instruction(runtime, "USER")
    assert user.split(":")[0] not in {"0", "root"}
    assert all(not line.startswith("pip") for line in _instruction(runtime, "RUN"))


def test_the_image_command_and_health_check_are_real() -> None:
    runtime = _stages(_dockerfile())[-1]
    [cmd] = _instruction(runtime, "CMD")
    argv = yaml.safe_load(cmd)  # the exec form is a JSON array
    assert argv[0] == "kpi-service"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8000)  # noqa: S104 (in a container)

    [check] = _instruction(runtime, "HEALTHCHECK")
    probe = yaml.safe_load(check[check.index("CMD") + 3 :].strip())
    urls = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", shlex.join(probe))
    assert urls == [("8000", "/healthz")]
    assert ("GET", "/healthz") in app_routes()


def test_the_image_finds_the_migrations_where_it_copies_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = _stages(_dockerfile())[-1]
    env = dict(re.findall(r"(KPI_\w+)=(\S+)", " ".join(_instruction(runtime, "ENV"))))
    copies = [line.split() for line in _instruction(runtime, "COPY")]
    assert ["migrations", "./migrations"] in copies and "/app" in _instruction(runtime, "WORKDIR")
    assert env["KPI_MIGRATIONS_DIR"] == "/app/migrations"
    # The same layout elsewhere: the scripts are found by the variable alone.
    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    monkeypatch.setenv("KPI_MIGRATIONS_DIR", str(tmp_path / "migrations"))
    assert migrations_dir() == tmp_path / "migrations"
    assert head_revision() is not None


def test_compose_runs_postgresql_16_and_a_production_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = _compose()["services"]
    assert services["db"]["image"] == "postgres:16"
    kpi = services["kpi"]
    assert kpi["depends_on"]["db"]["condition"] == "service_healthy"
    assert kpi["build"] == "."
    # The service's settings as compose would pass them (its defaults for the ${...} parts).
    environment = {
        key: re.sub(
            r"\$\{(\w+):[-?]([^}]*)\}",
            lambda m: (
                "a-secret-of-32-characters-or-more"
                if m.group(1) == "KPI_JWT_SECRET"
                else m.group(2)
            ),
            str(value),
        )
        for key, value in kpi["environment"].items()
    }
    for key in list(Settings.model_fields):
        monkeypatch.delenv(f"KPI_{key.upper()}", raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.env.value == "production" and settings.auth_mode.value == "jwt"
    assert settings.database_url is not None
    assert "@db:5432/kpi" in settings.database_url.get_secret_value()
