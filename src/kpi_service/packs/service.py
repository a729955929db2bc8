"""Packs: what is offered, and installing one in a tenant through the definitions,
assignments and alert-rule services (never their tables), in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kpi_service.alerts import rule_service
from kpi_service.alerts.rule_repository import RuleRepository
from kpi_service.alerts.schemas import RuleCreate
from kpi_service.audit import service as audit
from kpi_service.core.auth import Principal
from kpi_service.core.errors import Conflict, Forbidden, InvalidInput, field_error, found
from kpi_service.core.settings import Settings
from kpi_service.core.sources import Sources
from kpi_service.definitions import service as definitions
from kpi_service.definitions.repository import DefinitionRepository
from kpi_service.definitions.schemas import (
    DefinitionCreate,
    DefinitionRead,
    DefinitionUpdate,
    default_rollup,
)
from kpi_service.engine.vocabulary import SubjectType
from kpi_service.models import Definition, PackInstall
from kpi_service.packs.following import Wanted, assign
from kpi_service.packs.model import Assigned, Pack, Spec
from kpi_service.packs.registry import PACKS
from kpi_service.packs.repository import PackInstallRepository
from kpi_service.packs.schemas import (
    ActivityRead,
    AssignedRead,
    AssignmentMade,
    DefinitionOutcome,
    InstallReport,
    InstallRequest,
    Outcome,
    PackRead,
    PackSummary,
    PackUser,
    RuleMade,
    SourceReadOut,
)
from kpi_service.packs.sourced_users import can_follow, users_in_sources
from kpi_service.packs.starting import default_start

ENTITY = "pack"
# What never changes on a stored definition: an upgrade that changes them is refused for it.
FIXED_FIELDS = ("aggregation_period", "scope")


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Only admins can list, read and install packs.")


def _pack(name: str) -> Pack:
    return found(PACKS.get(name), f"There is no pack named {name!r}.")


def _assigned(items: tuple[Assigned, ...]) -> list[AssignedRead]:
    return [AssignedRead(key=a.key, target_value=a.target, weight=a.weight) for a in items]


async def list_packs(session: AsyncSession, principal: Principal) -> list[PackSummary]:
    """Every pack offered, with the version of it the caller's tenant installed."""
    _require_admin(principal)
    installed = await PackInstallRepository(session).versions(principal.tenant_id)
    return [
        PackSummary(
            name=p.name,
            version=p.version,
            title=p.title,
            summary=p.summary,
            installed_version=installed.get(p.name),
        )
        for p in PACKS.all()
    ]


def describe(pack: Pack, installed_version: int | None) -> PackRead:
    """A pack in full, as the API and the command show it."""
    return PackRead(
        name=pack.name,
        version=pack.version,
        title=pack.title,
        summary=pack.summary,
        installed_version=installed_version,
        definitions=[dict(spec) for spec in pack.definitions],
        organisation_assignments=_assigned(pack.organisation),
        user_assignments=_assigned(pack.users),
        alert_templates=[dict(spec) for spec in pack.alerts],
        reads=[SourceReadOut.model_validate(r) for r in pack.reads],
        activities=[ActivityRead.model_validate(a) for a in pack.activities],
    )


async def show(session: AsyncSession, principal: Principal, name: str) -> PackRead:
    """One pack in full, with the version of it the caller's tenant installed."""
    _require_admin(principal)
    pack = _pack(name)
    installed = await PackInstallRepository(session).versions(principal.tenant_id)
    return describe(pack, installed.get(pack.name))


def spec_changes(spec: Spec, stored: Definition) -> dict[str, Any]:
    """The fields a definition update would change to bring `stored` to the pack's spec
    (whatever fields an update takes; `is_active` is the admin's, never the pack's)."""
    wanted = DefinitionCreate.model_validate(spec).model_dump()
    wanted["rollup"] = wanted["rollup"] or default_rollup(wanted["unit"], wanted["window"])
    return {
        name: wanted[name]
        for name in DefinitionUpdate.model_fields
        if name != "is_active" and name in wanted and wanted[name] != getattr(stored, name)
    }


@dataclass
class _Installing:
    """One install in progress: the caller, the pack, and what it has found and done."""

    session: AsyncSession
    principal: Principal
    pack: Pack
    sources: Sources
    settings: Settings
    upgrading: bool
    owned: dict[str, int]
    # The ids of the pack's definitions assignments and rules may use, by key.
    usable: dict[str, int] = field(default_factory=dict)
    outcomes: list[DefinitionOutcome] = field(default_factory=list)

    def outcome(
        self,
        key: str,
        outcome: Outcome,
        d: Definition | DefinitionRead | None,
        reason: str | None = None,
    ) -> None:
        self.outcomes.append(
            DefinitionOutcome(
                key=key,
                outcome=outcome,
                definition_id=d.id if d else None,
                version=d.version if d else None,
                reason=reason,
            )
        )
        if d is not None and outcome is not Outcome.CONFLICT and d.is_active:
            self.usable[key] = d.id

    async def definitions(self) -> None:
        """Create what is missing, bring what the pack made to its spec when upgrading, and
        leave every other definition with a pack key alone (a conflict)."""
        tenant = self.principal.tenant_id
        stored = {
            d.key: d
            for d in await DefinitionRepository(self.session).find(tenant, keys=self.pack.keys)
        }
        for spec in self.pack.definitions:
            key = str(spec["key"])
            current = stored.get(key)
            if current is None:
                made = await definitions.create(
                    self.session,
                    self.principal,
                    DefinitionCreate.model_validate(spec),
                    sources=self.sources,
                    settings=self.settings,
                )
                self.owned[key] = made.id
                self.outcome(key, Outcome.CREATED, made)
            elif self.owned.get(key) != current.id:
                reason = "a definition with this key exists that the pack did not install"
                self.outcome(key, Outcome.CONFLICT, current, reason)
            elif not self.upgrading:
                self.outcome(key, Outcome.UNCHANGED, current)
            else:
                await self._upgrade(spec, current)

    async def _upgrade(self, spec: Spec, current: Definition) -> None:
        wanted = DefinitionCreate.model_validate(spec).model_dump()
        fixed = [name for name in FIXED_FIELDS if wanted[name] != getattr(current, name)]
        if fixed:
            reason = f"the pack changes its {' and '.join(fixed)}, which never change"
            self.outcome(current.key, Outcome.CONFLICT, current, reason)
            return
        changes = spec_changes(spec, current)
        if not changes:
            self.outcome(current.key, Outcome.UNCHANGED, current)
            return
        updated = await definitions.update(
            self.session,
            self.principal,
            current.id,
            DefinitionUpdate.model_validate(changes),
            sources=self.sources,
            settings=self.settings,
        )
        self.outcome(current.key, Outcome.UPDATED, updated)

    async def assignments(
        self, start: date, users: list[PackUser], sourced: list[str]
    ) -> list[AssignmentMade]:
        """Assign the pack's organisation KPIs to the tenant, and its user KPIs to `users`
        (with their teams) and to the users its sources name (`sourced`, no team), where the
        subject holds no assignment of that KPI yet: one bulk create."""
        tenant = self.principal.tenant_id
        wanted: list[Wanted] = [
            (a, SubjectType.ORGANIZATION, tenant, None) for a in self.pack.organisation
        ]
        wanted += [
            (a, SubjectType.USER, u.user_id, u.team_id) for u in users for a in self.pack.users
        ]
        named = {u.user_id for u in users}
        wanted += [
            (a, SubjectType.USER, user, None)
            for user in sourced
            if user not in named
            for a in self.pack.users
        ]
        return await assign(self.session, self.principal, self.settings, self.usable, start, wanted)

    async def rules(self) -> list[RuleMade]:
        """Create each alert rule template on a KPI of the pack whose name no rule has."""
        templates = [RuleCreate.model_validate(spec) for spec in self.pack.alerts]
        taken = await RuleRepository(self.session).existing_names(
            self.principal.tenant_id, [t.name for t in templates]
        )
        made: list[RuleMade] = []
        for template in templates:
            if template.name in taken or template.definition_key not in self.usable:
                continue
            rule = await rule_service.create_rule(self.session, self.principal, template)
            made.append(
                RuleMade(name=rule.name, definition_key=rule.definition_key, rule_id=rule.id)
            )
        return made


def _follows(pack: Pack, body: InstallRequest, installed: PackInstall | None) -> bool:
    """Whether the install follows the pack's sources: as asked, else as an earlier install
    chose, else whenever the pack can. Users named for a pack without user KPIs are refused
    rather than ignored."""
    if body.users and not pack.users:
        reason = "the pack has no user KPIs to assign"
        raise InvalidInput(
            f"Pack {pack.name!r} assigns no users: {reason}.",
            errors=[field_error(["body", "users"], reason)],
        )
    if body.follow_sources is None:
        return installed.follow_sources if installed is not None else can_follow(pack)
    if body.follow_sources and not can_follow(pack):
        reason = "the pack has no user KPIs read from source tables"
        raise InvalidInput(
            f"Pack {pack.name!r} cannot follow its sources: {reason}.",
            errors=[field_error(["body", "follow_sources"], reason)],
        )
    return body.follow_sources


def _snapshot(row: PackInstall) -> dict[str, Any]:
    return {
        "pack": row.pack,
        "version": row.version,
        "from_date": row.from_date.isoformat(),
        "definitions": row.definitions,
        "follow_sources": row.follow_sources,
        "installed_by": row.installed_by,
    }


async def install(
    session: AsyncSession,
    principal: Principal,
    name: str,
    body: InstallRequest,
    *,
    sources: Sources,
    settings: Settings,
) -> InstallReport:
    """Install (or upgrade) the pack in the caller's tenant (admins only): create what is
    missing, never delete or deactivate; installing the same version again changes nothing."""
    _require_admin(principal)
    pack = _pack(name)
    repo = PackInstallRepository(session)
    await repo.lock(principal.tenant_id, pack.name)
    installed = await repo.of_pack(principal.tenant_id, pack.name)
    previous = installed.version if installed else None
    if previous is not None and previous > pack.version:
        raise Conflict(
            f"Version {previous} of pack {pack.name!r} is installed; this service offers "
            f"version {pack.version} only."
        )
    if body.start_date is not None:
        start = body.start_date
    elif installed is not None:
        start = installed.from_date
    else:
        start = await default_start(session, sources, settings, principal.tenant_id, pack)
    work = _Installing(
        session,
        principal,
        pack,
        sources,
        settings,
        upgrading=previous is not None and previous < pack.version,
        owned=dict(installed.definitions) if installed else {},
    )
    follows = _follows(pack, body, installed)
    # Read before anything is made: a source that cannot be read refuses the install.
    sourced = (
        await users_in_sources(sources, settings, principal.tenant_id, pack) if follows else []
    )
    await work.definitions()
    made = await work.assignments(start, list(body.users), sourced)
    rules = await work.rules()
    if (
        installed is None
        or work.upgrading
        or work.owned != installed.definitions
        or follows != installed.follow_sources
    ):
        before = _snapshot(installed) if installed else None
        row = await repo.record(
            principal.tenant_id,
            installed,
            {
                "pack": pack.name,
                "version": pack.version,
                "from_date": installed.from_date if installed else start,
                "definitions": work.owned,
                "follow_sources": follows,
                "installed_by": principal.user_id,
            },
        )
        if installed is None:
            action = "install"
        elif work.upgrading or work.owned != installed.definitions:
            action = "upgrade"
        else:
            action = "update"  # only whether it follows its sources changed
        await audit.record(
            session, principal, action, ENTITY, pack.name, before=before, after=_snapshot(row)
        )
    return InstallReport(
        pack=pack.name,
        version=pack.version,
        previous_version=previous,
        start_date=start,
        follow_sources=follows,
        definitions=work.outcomes,
        assignments_created=made,
        rules_created=rules,
    )
