"""The users an install finds in the pack's source tables: every id in the column that names
the user (read as `source_tables` reads them)."""

from __future__ import annotations

import logging

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from kpi_service.core.errors import InvalidInput, field_error
from kpi_service.core.schemas import SubjectRef
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources, SourceUnavailable
from kpi_service.packs.model import Pack, SourceKind, SourceRead
from kpi_service.packs.source_tables import read_table

log = logging.getLogger(__name__)

FIELD = ["body", "follow_sources"]
_SUBJECT = TypeAdapter(SubjectRef)


def _refused(reason: str) -> InvalidInput:
    return InvalidInput(
        f"The users could not be read from the pack's source tables: {reason}.",
        errors=[field_error(FIELD, reason)],
    )


def _valid(user_id: str) -> bool:
    try:
        _SUBJECT.validate_python(user_id)
    except ValidationError:
        return False
    return True


async def _users_of(
    engine: AsyncEngine, settings: Settings, tenant_id: str, table: SourceRead, column: str
) -> list[str]:
    # Names from the pack's catalogue (ours), quoted; no tenant text reaches this statement.
    sql = (
        f'SELECT DISTINCT CAST("{column}" AS text) FROM "{table.name}" '  # noqa: S608
        f'WHERE "{column}" IS NOT NULL'
    )
    cap = settings.query_row_cap
    rows = await read_table(engine, settings, tenant_id, sql, f"{table.name}.{column}", cap + 1)
    found = [str(row[0]) for row in rows]
    if len(found) > cap:
        raise _refused(f"{table.name} names more than {cap} users (the row cap)")
    skipped = [user for user in found if not _valid(user)]
    if skipped:
        log.warning(
            "tenant %s: %d ids in %s.%s are not user ids (empty, control characters or over "
            "64 characters) and get no assignments",
            tenant_id,
            len(skipped),
            table.name,
            column,
        )
    return [user for user in found if _valid(user)]


def _user_tables(pack: Pack) -> list[tuple[SourceRead, str]]:
    return [
        (r, column) for r in pack.reads if r.kind is SourceKind.TABLE and (column := r.user_column)
    ]


def can_follow(pack: Pack) -> bool:
    """Whether the pack has user KPIs and a source table naming their users."""
    return bool(pack.users) and bool(_user_tables(pack))


async def users_in_sources(
    sources: Sources, settings: Settings, tenant_id: str, pack: Pack
) -> list[str]:
    """Every user id in the pack's source tables (one statement per table), sorted; a table
    that does not exist yet names nobody, a source that cannot be read is refused (422)."""
    tables = _user_tables(pack)
    if not tables:
        return []
    found: set[str] = set()
    try:
        engine = await sources.engine(tenant_id, None)
        for table, column in tables:
            found.update(await _users_of(engine, settings, tenant_id, table, column))
    except SourceUnavailable as exc:
        raise _refused(str(exc)) from None
    return sorted(found)
