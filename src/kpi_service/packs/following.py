"""Following a pack's sources: its user KPIs assigned to every user its source tables name,
when it is installed and before every run of the tenant, so users who appear later are
measured with the pack's targets and weights."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.assignments import service as assignments
from kpi_service.assignments.repository import AssignmentRepository
from kpi_service.assignments.schemas import AssignmentCreate
from kpi_service.core.auth import Principal, Role
from kpi_service.core.database import Database
from kpi_service.core.errors import DomainError
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.packs.model import Assigned, Pack
from kpi_service.packs.registry import PACKS
from kpi_service.packs.repository import PackInstallRepository
from kpi_service.packs.schemas import AssignmentMade
from kpi_service.packs.sourced_users import users_in_sources

log = logging.getLogger(__name__)

# An assignment an install wants: the pack's entry, the subject, and the team it records.
Wanted = tuple[Assigned, SubjectType, str, str | None]


async def assign(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    usable: Mapping[str, int],
    start: date,
    wanted: Sequence[Wanted],
) -> list[AssignmentMade]:
    """Create the wanted assignments of the usable definitions (their ids by key) from
    `start`, where the subject holds no assignment of that KPI yet (in force or not), in one
    bulk create, audited."""
    tenant = principal.tenant_id
    wanted = [w for w in wanted if w[0].key in usable]
    held = await AssignmentRepository(session).holders(
        tenant, sorted({usable[a.key] for a, *_ in wanted})
    )
    bodies = [
        AssignmentCreate.model_validate(
            {
                "definition_id": usable[a.key],
                "subject_type": subject_type,
                "subject_id": subject_id,
                "team_id": team_id,
                "target_value": a.target,
                "weight": a.weight,
                "start_date": start,
            }
        )
        for a, subject_type, subject_id, team_id in wanted
        if (usable[a.key], subject_type, subject_id) not in held
    ]
    if not bodies:
        return []
    made = await assignments.create_many(session, principal, bodies, settings=settings)
    return [
        AssignmentMade(
            definition_key=a.definition_key,
            subject_type=a.subject_type,
            subject_id=a.subject_id,
            assignment_id=a.id,
            start_date=a.start_date,
        )
        for a in made
    ]


async def assign_source_users(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    sources: Sources,
    pack: Pack,
    usable: Mapping[str, int],
    start: date,
) -> list[AssignmentMade]:
    """Assign the pack's user KPIs (its targets and weights, no team) from `start` to every
    user its source tables name who holds no assignment of them yet: one statement per table,
    one bulk create; a source that cannot be read is refused (422 on `follow_sources`)."""
    found = await users_in_sources(sources, settings, principal.tenant_id, pack)
    wanted: list[Wanted] = [(a, SubjectType.USER, user, None) for user in found for a in pack.users]
    return await assign(session, principal, settings, usable, start, wanted)


async def _usable(
    session: AsyncSession, tenant_id: str, pack: Pack, owned: Mapping[str, int]
) -> dict[str, int]:
    """The ids, by key, of the pack's user KPIs that the install created and that are still
    active."""
    stored = await DefinitionRepository(session).find(tenant_id, keys=[a.key for a in pack.users])
    return {d.key: d.id for d in stored if owned.get(d.key) == d.id and d.is_active}


async def follow_sources(database: Database, settings: Settings, tenant_id: str) -> int:
    """Before a run: each install of the tenant that follows its sources assigns the users
    who appeared since, in its own short transaction; a source that cannot be read is logged
    and that pack skipped. The number of assignments made."""
    async with database.sessions() as session:
        packs = await PackInstallRepository(session).following(tenant_id)
    made = 0
    for name in packs:
        pack = PACKS.get(name)
        if pack is None:
            continue
        # The actor the audit log and the assignments' `assigned_by` name.
        principal = Principal(tenant_id, f"pack:{pack.name}", Role.ADMIN)
        try:
            async with database.unit_of_work() as session:
                repo = PackInstallRepository(session)
                await repo.lock(tenant_id, pack.name)
                install = await repo.of_pack(tenant_id, pack.name)
                if install is None or not install.follow_sources:
                    continue  # an install since turned it off
                usable = await _usable(session, tenant_id, pack, install.definitions)
                new = await assign_source_users(
                    session, principal, settings, database.sources, pack, usable, install.from_date
                )
        except DomainError as exc:
            log.warning(
                "tenant %s: the users of pack %s's sources were not assigned: %s",
                tenant_id,
                pack.name,
                exc,
            )
            continue
        if new:
            log.info(
                "tenant %s: pack %s assigned %d new users",
                tenant_id,
                pack.name,
                len({a.subject_id for a in new}),
            )
        made += len(new)
    return made
