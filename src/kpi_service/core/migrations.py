"""Run Alembic from the service: find the scripts, upgrade, compare."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from kpi_service.core.database import async_url
from kpi_service.models import PARTITION_PREFIX, SCHEMA, Base


def migration_engine(url: str) -> AsyncEngine:
    """An engine for schema work whose default schema is `public`, whatever the role's name.

    With PostgreSQL's default search_path (`"$user", public`) a role named `kpi` would make
    our schema the default one, and autogenerate would then compare it as schema-less.
    """
    return create_async_engine(
        async_url(url), connect_args={"server_settings": {"search_path": "public"}}
    )


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Only our schema is compared and migrated; event partitions are made at run time."""
    if type_ == "schema":
        return name == SCHEMA
    return not (type_ == "table" and name is not None and name.startswith(PARTITION_PREFIX))


def context_options() -> dict[str, Any]:
    """The options of every migration context: env.py's and the drift check's."""
    return {
        "target_metadata": Base.metadata,
        "version_table_schema": SCHEMA,
        "include_schemas": True,
        "include_name": include_name,
        "compare_type": True,
        "compare_server_default": True,
    }


def schema_drift(connection: Connection) -> list[Any]:
    """What autogenerate would change to bring the database to the models (empty: none)."""
    ctx = MigrationContext.configure(connection, opts=context_options())
    return list(compare_metadata(ctx, Base.metadata))


def migrations_dir() -> Path:
    """Where the migration scripts are: KPI_MIGRATIONS_DIR, the checkout, or the current dir."""
    candidates = [
        os.environ.get("KPI_MIGRATIONS_DIR"),
        Path(__file__).resolve().parents[3] / "migrations",
        Path.cwd() / "migrations",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "env.py").exists():
            return Path(candidate)
    raise FileNotFoundError("migration scripts not found; set KPI_MIGRATIONS_DIR")


def alembic_config(url: str | None = None, **attributes: Any) -> Config:
    """An Alembic configuration for our scripts, bound to a URL or a connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(hour).2d%%(minute).2d-%%(rev)s_%%(slug)s",
    )
    if url:
        cfg.attributes["url"] = url
    cfg.attributes.update(attributes)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` (blocking; call outside an event loop)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` (blocking; call outside an event loop)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest revision among the scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (read directly: /readyz asks on every probe, and
    Alembic's migration context logs a line each time it is made)."""
    async with engine.connect() as connection:
        table = await connection.scalar(
            text("SELECT to_regclass(:name)::text"), {"name": f"{SCHEMA}.alembic_version"}
        )
        if table is None:
            return None
        revision = await connection.scalar(
            text(f"SELECT version_num FROM {SCHEMA}.alembic_version")  # noqa: S608 (constant)
        )
        return None if revision is None else str(revision)
