"""/definitions: create, list, read, change and deactivate KPI definitions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.core.schemas import Cursor, Id, Key, Page, PageSize, Paging
from kpi_service.definitions import service
from kpi_service.definitions.repository import DefinitionFilters
from kpi_service.definitions.schemas import (
    DefinitionCreate,
    DefinitionQuery,
    DefinitionRead,
    DefinitionUpdate,
)

router = APIRouter(prefix="/definitions", tags=["definitions"])

DefinitionId = Annotated[Id, Path(description="The definition's id.")]


@router.post("", operation_id="createDefinition", response_model=DefinitionRead, status_code=201)
async def create_definition(
    body: DefinitionCreate,
    session: SessionDep,
    principal: PrincipalDep,
    db: DatabaseDep,
    settings: SettingsDep,
) -> DefinitionRead:
    """Define a new KPI (admins only)."""
    return await service.create(session, principal, body, sources=db.sources, settings=settings)


@router.get("", operation_id="listDefinitions", response_model=Page[DefinitionRead])
async def list_definitions(
    session: SessionDep,
    principal: PrincipalDep,
    query: Annotated[DefinitionQuery, Query()],
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[DefinitionRead]:
    """The tenant's KPI definitions, in id order, one page at a time (SQL text: admins only)."""
    filters = DefinitionFilters(**query.model_dump())
    page = await service.list_definitions(session, principal, filters, Paging(cursor, limit))
    return Page[DefinitionRead].of(page)


@router.get("/by-key/{key}", operation_id="getDefinitionByKey", response_model=DefinitionRead)
async def get_definition_by_key(
    key: Annotated[Key, Path()], session: SessionDep, principal: PrincipalDep
) -> DefinitionRead:
    """One KPI definition, by its key (SQL text: admins only)."""
    return await service.get_by_key(session, principal, key)


@router.get("/{definition_id}", operation_id="getDefinition", response_model=DefinitionRead)
async def get_definition(
    definition_id: DefinitionId, session: SessionDep, principal: PrincipalDep
) -> DefinitionRead:
    """One KPI definition, by its id (SQL text: admins only)."""
    return await service.get(session, principal, definition_id)


@router.patch("/{definition_id}", operation_id="updateDefinition", response_model=DefinitionRead)
async def update_definition(
    definition_id: DefinitionId,
    body: DefinitionUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    db: DatabaseDep,
    settings: SettingsDep,
) -> DefinitionRead:
    """Change a KPI definition (admins only); key, period and scope never change."""
    return await service.update(
        session, principal, definition_id, body, sources=db.sources, settings=settings
    )


@router.delete(
    "/{definition_id}", operation_id="deactivateDefinition", response_model=DefinitionRead
)
async def deactivate_definition(
    definition_id: DefinitionId, session: SessionDep, principal: PrincipalDep
) -> DefinitionRead:
    """Deactivate a KPI definition (admins only); its history stays."""
    return await service.deactivate(session, principal, definition_id)
