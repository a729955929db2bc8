"""/packs: the packs offered, one in full, and installing one (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from kpi_service.core.auth import PrincipalDep
from kpi_service.core.deps import DatabaseDep, SessionDep, SettingsDep
from kpi_service.core.schemas import Key
from kpi_service.packs import service
from kpi_service.packs.schemas import InstallReport, InstallRequest, PackRead, PackSummary

router = APIRouter(prefix="/packs", tags=["packs"])

PackName = Annotated[Key, Path(description="The pack's name.")]


@router.get("", operation_id="listPacks", response_model=list[PackSummary])
async def list_packs(session: SessionDep, principal: PrincipalDep) -> list[PackSummary]:
    """Every pack offered, with the version of it this tenant installed (admins only)."""
    return await service.list_packs(session, principal)


@router.get("/{name}", operation_id="getPack", response_model=PackRead)
async def get_pack(name: PackName, session: SessionDep, principal: PrincipalDep) -> PackRead:
    """One pack: its KPIs, assignments, alert templates and source tables (admins only)."""
    return await service.show(session, principal, name)


@router.post("/{name}/install", operation_id="installPack", response_model=InstallReport)
async def install_pack(
    name: PackName,
    body: InstallRequest,
    session: SessionDep,
    principal: PrincipalDep,
    db: DatabaseDep,
    settings: SettingsDep,
) -> InstallReport:
    """Install or upgrade a pack in this tenant (admins only); installing it again changes
    nothing. Answers what was created, updated, left unchanged or in conflict."""
    return await service.install(
        session, principal, name, body, sources=db.sources, settings=settings
    )
