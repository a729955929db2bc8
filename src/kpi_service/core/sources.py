"""Source databases: where admin SQL runs, as which role, for which tenants, in what sandbox.

Every statement a tenant wrote (query KPIs, their breakdowns, the check at save) runs here and
nowhere else: on a source the tenant owns, through that source's own pool, in a READ ONLY
transaction with a statement timeout, `kpi.tenant_id` set for row-level security, and the
session reset before the connection goes back to the pool. The service's own pool never runs
tenant SQL. See docs/security.md for what a source role can and cannot reach.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kpi_service.core.errors import sqlstate
from kpi_service.core.settings import Settings
from kpi_service.models import SCHEMA

log = logging.getLogger(__name__)

DEFAULT_SOURCE = "default"
# Tenants' SQL reads this with current_setting('kpi.tenant_id', true) in RLS policies.
TENANT_SETTING = "kpi.tenant_id"
_PROVISION_LOCK = 0x6B70695F737263  # "kpi_src": one provisioning at a time per database
# After every tenant statement: whatever a function in the source did to the session
# (session advisory locks, settings, cursors, LISTEN) is undone before the pool takes it back.
_RESET = "SELECT pg_advisory_unlock_all(); RESET ALL; CLOSE ALL; UNLISTEN *"


class SourceUnavailable(Exception):
    """The tenant cannot use the named source now; str() says why, in our words."""


# What a source role must not be or hold; each query answers one problem, or NULL.
_ROLE_PROBLEMS = (
    ("SELECT 'it is a superuser' FROM pg_roles WHERE rolname = current_user AND rolsuper"),
    (
        "SELECT 'it may create roles, databases or replicate, or bypasses row-level security' "
        "FROM pg_roles WHERE rolname = current_user AND (rolcreaterole OR rolcreatedb OR "
        "rolreplication OR rolbypassrls)"
    ),
    (
        "SELECT 'it is a member of ' || r.rolname FROM pg_roles r WHERE r.rolname IN "
        "('pg_read_all_data', 'pg_write_all_data', 'pg_read_server_files', "
        "'pg_write_server_files', 'pg_execute_server_program', 'pg_read_all_settings', "
        "'pg_read_all_stats', 'pg_monitor') AND pg_has_role(current_user, r.oid, 'USAGE') "
        "LIMIT 1"
    ),
    (
        f"SELECT 'it has a privilege on schema {SCHEMA}' "
        f"WHERE to_regnamespace('{SCHEMA}') IS NOT NULL AND "
        f"(has_schema_privilege('{SCHEMA}', 'USAGE') OR has_schema_privilege('{SCHEMA}', 'CREATE'))"
    ),
    (
        f"SELECT 'it has a privilege on table ' || c.oid::regclass::text "  # noqa: S608
        f"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{SCHEMA}' AND (has_table_privilege(c.oid, 'SELECT') OR "
        "has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE') OR "
        "has_table_privilege(c.oid, 'DELETE')) LIMIT 1"
    ),
    (
        "SELECT 'it may write to ' || c.oid::regclass::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' "
        "AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE') "
        "OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE')) "
        "LIMIT 1"
    ),
    (
        "SELECT 'it may create objects in schema ' || n.nspname FROM pg_namespace n "
        "WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' "
        "AND has_schema_privilege(n.oid, 'CREATE') LIMIT 1"
    ),
    (
        "SELECT 'it may create schemas in the database' "
        "WHERE has_database_privilege(current_database(), 'CREATE')"
    ),
)


@dataclass(frozen=True, slots=True)
class SourceState:
    """What a check found: a usable source, an unsafe role, or no answer."""

    usable: bool
    reached: bool
    problem: str | None

    @property
    def unsafe(self) -> bool:
        return self.reached and not self.usable


@dataclass
class Source:
    """One source database and the tenants allowed to use it."""

    name: str
    engine: AsyncEngine
    tenants: frozenset[str] | None  # None: every tenant
    provisioned_role: str | None = None  # the role the service keeps, on its own database
    provisioned: bool = False  # once per process; checks repeat, creation does not
    problem: str | None = None  # why the role is refused, once checked
    checked: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def serves(self, tenant_id: str) -> bool:
        return self.tenants is None or tenant_id in self.tenants


def _tenants(spec: list[str]) -> frozenset[str] | None:
    names = frozenset(t.strip() for t in spec if t.strip())
    return None if "*" in names else names


class Sources:
    """Every configured source, found by (tenant, name), never by name alone."""

    def __init__(
        self, sources: dict[str, Source], settings: Settings, service_engine: AsyncEngine
    ) -> None:
        self._sources = sources
        self._settings = settings
        self._service_engine = service_engine

    @classmethod
    def configure(
        cls,
        service_url: str,
        service_engine: AsyncEngine,
        settings: Settings,
        pool: Callable[[str, str], AsyncEngine],
    ) -> Sources:
        """The sources of the settings, each with a pool made by `pool(url, name)`; no
        connection is made until one is used."""
        sources: dict[str, Source] = {}
        default_tenants = _tenants(settings.source_tenants.split(","))
        if settings.source_database_url is not None:
            sources[DEFAULT_SOURCE] = Source(
                DEFAULT_SOURCE,
                pool(settings.source_database_url.get_secret_value(), DEFAULT_SOURCE),
                default_tenants,
            )
        else:
            password = settings.source_role_password
            url = make_url(service_url).set(
                username=settings.source_role,
                password=password.get_secret_value() if password else None,
            )
            sources[DEFAULT_SOURCE] = Source(
                DEFAULT_SOURCE,
                pool(url.render_as_string(hide_password=False), DEFAULT_SOURCE),
                default_tenants,
                provisioned_role=settings.source_role,
            )
        for name, named in settings.sources.items():
            sources[name] = Source(
                name, pool(named.url.get_secret_value(), name), _tenants(named.tenants)
            )
        return cls(sources, settings, service_engine)

    def names(self, tenant_id: str) -> list[str]:
        """The sources this tenant may name, sorted."""
        return sorted(name for name, s in self._sources.items() if s.serves(tenant_id))

    async def engine(self, tenant_id: str, name: str | None) -> AsyncEngine:
        """The pool of the tenant's source `name` (default: `default`), once its role is
        known to be safe; another tenant's source is as unknown as a missing one."""
        source = self._sources.get(name or DEFAULT_SOURCE)
        if source is None or not source.serves(tenant_id):
            raise SourceUnavailable(
                f"unknown source {name or DEFAULT_SOURCE!r}; this tenant's "
                f"sources: {', '.join(self.names(tenant_id)) or 'none'}"
            )
        if not source.checked:
            async with source.lock:
                if not source.checked:
                    try:
                        await self._prepare(source)
                    except (DBAPIError, OSError, PoolTimeout) as exc:
                        raise SourceUnavailable(
                            f"source {source.name!r} could not be reached ({_why(exc)})"
                        ) from None
        if source.problem is not None:
            raise SourceUnavailable(
                f"source {source.name!r} is refused: its database role is "
                f"not safe for tenant SQL ({source.problem})"
            )
        return source.engine

    async def check(self) -> dict[str, SourceState]:
        """Prepare and check every source again. A source that cannot be reached is reported,
        and checked again on its next use."""
        found: dict[str, SourceState] = {}
        for source in self._sources.values():
            async with source.lock:
                try:
                    await self._prepare(source)
                    found[source.name] = SourceState(source.problem is None, True, source.problem)
                except (DBAPIError, OSError, PoolTimeout) as exc:
                    found[source.name] = SourceState(False, False, f"not reachable ({_why(exc)})")
        return found

    async def _prepare(self, source: Source) -> None:
        if source.provisioned_role is not None and not source.provisioned:
            await provision_role(self._service_engine, source.provisioned_role, self._settings)
            source.provisioned = True
        async with source.engine.connect() as conn:
            source.problem = await role_problem(conn)
            await conn.rollback()
        source.checked = True
        if source.problem is not None:
            log.warning("source %s refused: its role %s", source.name, source.problem)

    def engines(self) -> Iterator[tuple[str, AsyncEngine]]:
        """Each source's engine, by name."""
        for name, source in self._sources.items():
            yield name, source.engine

    def pools(self) -> Iterator[tuple[str, Any]]:
        """Each source's pool, for the pool gauges."""
        for name, engine in self.engines():
            yield f"source:{name}", engine.sync_engine.pool

    async def dispose(self) -> None:
        """Close every pooled source connection."""
        for source in self._sources.values():
            await source.engine.dispose()


async def role_problem(conn: AsyncConnection) -> str | None:
    """Why the connection's role must not run tenant SQL, or None when it is safe."""
    for statement in _ROLE_PROBLEMS:
        problem = await conn.scalar(text(statement))
        if problem is not None:
            return str(problem)
    return None


async def provision_role(service_engine: AsyncEngine, role: str, settings: Settings) -> None:
    """Create (or repair) the service-kept source role on the service's own database: it may
    log in and SELECT the tables of the source schemas, and nothing else."""
    quoted = f'"{role}"'  # the name is checked by the settings: [a-z_][a-z0-9_]*
    password = settings.source_role_password
    for attempt in range(3):
        try:
            async with service_engine.begin() as conn:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PROVISION_LOCK})
                if (
                    await conn.scalar(
                        text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
                    )
                    is None
                ):
                    await conn.execute(text(f"CREATE ROLE {quoted} LOGIN"))
                await conn.execute(
                    text(
                        f"ALTER ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                        "NOREPLICATION NOBYPASSRLS NOINHERIT"
                    )
                )
                if password is not None:
                    statement = await conn.scalar(
                        text(
                            "SELECT format('ALTER ROLE %I PASSWORD "
                            "%L', CAST(:r AS text), "
                            "CAST(:p AS text))"
                        ),
                        {"r": role, "p": password.get_secret_value()},
                    )
                    await conn.execute(text(str(statement)))
                await conn.execute(text(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM {quoted}"))
                await conn.execute(
                    text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM {quoted}")
                )
                for schema in settings.source_schema_list:
                    if await conn.scalar(text("SELECT to_regnamespace(:s)"), {"s": schema}) is None:
                        continue
                    await conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO {quoted}'))
                    await conn.execute(
                        text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {quoted}')
                    )
                    await conn.execute(
                        text(
                            f'ALTER DEFAULT PRIVILEGES IN SCHEMA "{schema}" '
                            f"GRANT SELECT ON TABLES TO {quoted}"
                        )
                    )
            return
        except DBAPIError as exc:
            # Roles are shared by every database of a server: another database's service may
            # create the same role at the same moment (duplicate, or "tuple concurrently
            # updated"); anything else (no right to create roles) is left to the role check.
            if sqlstate(exc) in ("42710", "23505", "XX000", "40001") and attempt < 2:
                continue
            log.warning(
                "could not provision the source role %s (SQLSTATE %s)",
                role,
                sqlstate(exc) or "none",
            )
            return


@asynccontextmanager
async def sandbox(
    engine: AsyncEngine, settings: Settings, tenant_id: str, tz_name: str
) -> AsyncIterator[AsyncConnection]:
    """A source connection in a READ ONLY transaction with the statement timeout, the
    tenant's zone and `kpi.tenant_id`; rolled back and reset (or dropped) afterwards."""
    try:
        conn = await engine.connect()
    except (DBAPIError, OSError, PoolTimeout) as exc:
        # The source is down or its pool is full: this source's problem, not the service's.
        raise SourceUnavailable(f"the source database could not be reached ({_why(exc)})") from None
    try:
        await conn.begin()
        await conn.execute(text("SET TRANSACTION READ ONLY"))
        # SET LOCAL takes no bind parameters; the value comes from validated settings.
        await conn.execute(text(f"SET LOCAL statement_timeout = {int(settings.query_timeout_ms)}"))
        await conn.execute(
            text("SELECT set_config('TimeZone', :tz, true), set_config(:name, :tenant, true)"),
            {"tz": tz_name, "name": TENANT_SETTING, "tenant": tenant_id},
        )
        yield conn
    finally:
        await _reset(conn)
        await conn.close()


async def _reset(conn: AsyncConnection) -> None:
    """Roll back, then undo what outlives a transaction; a connection that cannot be reset
    is closed instead of going back to the pool."""
    try:
        await conn.rollback()
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(_RESET)  # type: ignore[union-attr]
    except Exception:  # any failure: the session's state is unknown, never reuse it
        await conn.invalidate()


# SQLSTATEs (or their classes) a tenant's SQL may meet, in our words.
_REASONS: tuple[tuple[str, str], ...] = (
    ("57014", "it ran longer than the statement timeout"),
    ("42501", "the source role may not read a table, view or function it uses"),
    ("42P01", "a table or view it reads does not exist on the source"),
    ("42703", "a column it names does not exist"),
    ("42883", "a function or operator it uses does not exist for these types"),
    ("42804", "a value has the wrong type"),
    ("25006", "it tried to write; source queries are read-only"),
    ("21000", "a subquery returned more than one row"),
    ("22012", "it divided by zero"),
    ("22", "a value could not be converted or computed"),
    ("42", "it is not valid on the source database"),
    ("53", "the source database ran out of resources"),
    ("54", "it exceeds a limit of the source database"),
    ("08", "the source database could not be reached"),
    ("57", "the source database cancelled it or is shutting down"),
    ("40", "it was cancelled by a conflict on the source database"),
)


def _why(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and (code := sqlstate(exc)):
        return f"SQLSTATE {code}"
    return type(exc).__name__


def describe_failure(exc: DBAPIError, context: str) -> str:
    """What failed, in our words and the SQLSTATE only; the driver's message, which may
    quote source data, goes to the log alone."""
    code = sqlstate(exc)
    reason = next(
        (words for prefix, words in _REASONS if code.startswith(prefix)),
        "the source database refused it",
    )
    log.warning(
        "source query failed (%s): SQLSTATE %s: %s",
        context,
        code or "none",
        (str(exc.orig or exc).strip().splitlines() or ["?"])[0][:300],
    )
    return f"{reason} (SQLSTATE {code})" if code else reason
