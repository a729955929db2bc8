"""The repository base every domain repository builds on.

One table per repository (`model`), one session, never a commit: the unit of work commits.
What each domain used to write again lives here once: the tenant scope, one row by id, a
keyset page from a cursor (of the table, or of a statement joining more to it), add (insert,
flush, read back the server-set columns), update (stamping `updated_at`), and a filters
object turned into conditions.

Database errors are not caught here nor in any repository: they reach `core.errors`, the
one place that maps them to problems (a unique or foreign key violation is a 409).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import field, fields
from typing import Any, ClassVar, Generic, TypeVar, TypeVarTuple, cast

from sqlalchemy import ColumnElement, Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.core.schemas import Paging, Slice, decode_cursor, slice_of

M = TypeVar("M")
Ts = TypeVarTuple("Ts")


def where(condition: Callable[[Any], ColumnElement[bool]]) -> Any:
    """A `Filters` field that narrows the list to `condition(value)` when set; None (its
    default) means any."""
    return field(default=None, metadata={"condition": condition})


def equal_to(column: Any) -> Any:
    """A `Filters` field that narrows the list to `column = value` (`IS` for a boolean)."""
    return where(lambda value: column.is_(value) if isinstance(value, bool) else column == value)


class Filters:
    """What a list may be narrowed to: a frozen dataclass per list, handed to its repository,
    whose fields say their condition (made with `where` or `equal_to`)."""

    def conditions(self) -> list[ColumnElement[bool]]:
        """The conditions of the filters that are set."""
        found = []
        for each in fields(cast(Any, self)):
            value = getattr(self, each.name)
            if value is not None:
                found.append(each.metadata["condition"](value))
        return found


class Repository(Generic[M]):
    """Reads and writes of `model` for one session, scoped by tenant."""

    model: ClassVar[type[Any]]
    # Pages of this table show the newest first (alerts, audit, deliveries, revisions, runs)
    # rather than the oldest.
    newest_first: ClassVar[bool] = False

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def in_tenant(cls, tenant_id: str) -> ColumnElement[bool]:
        """The tenant's rows of this table."""
        return cast(ColumnElement[bool], cls.model.tenant_id == tenant_id)

    def select(self, tenant_id: str) -> Select[M]:
        """The tenant's rows of this table, as a statement to narrow further."""
        return select(self.model).where(self.in_tenant(tenant_id))

    async def one_or_none(self, stmt: Select[M]) -> M | None:
        """The one row the statement finds, if any."""
        return (await self.session.scalars(stmt)).one_or_none()

    async def all(self, stmt: Select[M]) -> Sequence[M]:
        """Every row the statement finds."""
        return (await self.session.scalars(stmt)).all()

    async def get(self, tenant_id: str, row_id: int) -> M | None:
        """The tenant's row with that id, if any."""
        return await self.one_or_none(self.select(tenant_id).where(self.model.id == row_id))

    async def page(
        self, tenant_id: str, paging: Paging, filters: Filters | None = None
    ) -> Slice[M]:
        """The page `paging` asks for of the tenant's rows matching `filters`."""
        stmt = self.select(tenant_id)
        if filters is not None:
            stmt = stmt.where(*filters.conditions())
        return (await self.page_of(stmt, paging)).map(lambda row: row[0])

    async def page_of(self, stmt: Select[M, *Ts], paging: Paging) -> Slice[Row[M, *Ts]]:
        """The page `paging` asks for of the rows `stmt` finds (this table's row first in each):
        in id order, or newest first when `newest_first`. A malformed cursor is the client's
        `InvalidInput`."""
        after = decode_cursor(paging.cursor)
        id_column = self.model.id
        if after is not None:
            stmt = stmt.where(id_column < after if self.newest_first else id_column > after)
        order = id_column.desc() if self.newest_first else id_column
        # One row more than the page: it only says there is more.
        rows = (await self.session.execute(stmt.order_by(order).limit(paging.limit + 1))).all()
        # M is any table: that its rows have an `id` is known from `model`, not from M.
        return slice_of(rows, paging.limit, lambda row: cast(Any, row[0]).id)

    async def add(self, tenant_id: str, values: dict[str, Any]) -> M:
        """Insert a row and return it with its server-set columns."""
        row = await self.add_row(cast(M, self.model(tenant_id=tenant_id, **values)))
        await self.session.refresh(row)
        return row

    async def add_row(self, row: M) -> M:
        """Insert a row built by the caller, as given (not read back)."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def update(self, row: M, values: dict[str, Any]) -> M:
        """Apply changes, stamp `updated_at`, and return the row as stored."""
        for name, value in values.items():
            setattr(row, name, value)
        setattr(row, "updated_at", func.now())  # noqa: B010 (M is any table with the column)
        await self.session.flush()
        await self.session.refresh(row)
        return row
