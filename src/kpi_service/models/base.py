"""The one metadata (schema `kpi`) and the column types every table shares."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    MetaData,
    Numeric,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "kpi"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        Decimal: Numeric,
        datetime: DateTime(timezone=True),
        str: Text,
    }


TenantId = Annotated[str, mapped_column(Text, primary_key=True)]
CreatedAt = Annotated[datetime, mapped_column(server_default=func.now())]
UpdatedAt = Annotated[datetime, mapped_column(server_default=func.now())]


class TenantKeyed:
    """Mixin: the key `(tenant_id, id)`, the id drawn from an identity column.

    The sort orders keep the two key columns first in the table, as the migrations have them.
    """

    tenant_id: Mapped[TenantId] = mapped_column(sort_order=-2)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, sort_order=-1)


class Timestamped:
    """Mixin: when the row was created and last changed, last in the table."""

    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


def tenant_fk(column: str, table: str, *, ondelete: str | None = None) -> ForeignKeyConstraint:
    """The foreign key from `(tenant_id, column)` to the key `(tenant_id, id)` of `table`."""
    return ForeignKeyConstraint(
        ["tenant_id", column],
        [f"{SCHEMA}.{table}.tenant_id", f"{SCHEMA}.{table}.id"],
        ondelete=ondelete,
    )


def one_of(column: str, vocabulary: type[StrEnum]) -> CheckConstraint:
    """The CHECK, named after the column, that keeps it within the vocabulary's values."""
    values = ", ".join(f"'{member.value}'" for member in vocabulary)
    return CheckConstraint(f"{column} IN ({values})", name=column)
