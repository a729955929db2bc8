"""`kpi-service packs list | show NAME | install NAME`: the packs API from the command line,
as an admin of the tenant named (default: KPI_DEFAULT_TENANT)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

from pydantic import SecretStr, ValidationError

from kpi_service.core.settings import Settings

if TYPE_CHECKING:  # the command's grammar is built without loading the services
    from kpi_service.core.database import Database
    from kpi_service.packs.schemas import InstallReport


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _user(value: str) -> dict[str, str | None]:
    user_id, _, team_id = value.partition(":")
    if not user_id:
        raise argparse.ArgumentTypeError(f"{value!r} is not USER or USER:TEAM")
    return {"user_id": user_id, "team_id": team_id or None}


def report_lines(report: InstallReport) -> Iterator[str]:
    """The install report as the command prints it."""
    was = report.previous_version or "none"
    follows = "follows its sources" if report.follow_sources else "does not follow its sources"
    yield (
        f"pack {report.pack} version {report.version} (installed before: {was}), "
        f"assignments from {report.start_date.isoformat()}, {follows}"
    )
    for d in report.definitions:
        where = f" (id {d.definition_id}, version {d.version})" if d.definition_id else ""
        why = f": {d.reason}" if d.reason else ""
        yield f"  {d.outcome:<9} {d.key}{where}{why}"
    yield f"assignments created: {len(report.assignments_created)}"
    for a in report.assignments_created:
        yield f"  {a.definition_key} for {a.subject_type} {a.subject_id} from {a.start_date}"
    yield f"alert rules created: {len(report.rules_created)}"
    for r in report.rules_created:
        yield f"  {r.name!r} on {r.definition_key}"


def run(args: argparse.Namespace, settings: Settings, url: str, user: str) -> int:
    """Carry out `packs <action>` on the database at `url`; 2 when it is refused."""
    from kpi_service.core.auth import Principal, Role
    from kpi_service.core.database import Database
    from kpi_service.core.errors import DomainError
    from kpi_service.core.migrations import upgrade
    from kpi_service.packs import service
    from kpi_service.packs.schemas import InstallRequest

    upgrade(url)
    bound = settings.model_copy(update={"database_url": SecretStr(url)})
    principal = Principal(
        tenant_id=args.tenant or settings.default_tenant, user_id=user, role=Role.ADMIN
    )

    async def act(db: Database) -> str:
        async with db.unit_of_work() as session:
            if args.action == "list":
                packs = await service.list_packs(session, principal)
                return "".join(
                    f"{p.name:<12} version {p.version:<3} installed "
                    f"{p.installed_version or '-':<3} {p.title}\n"
                    for p in packs
                )
            if args.action == "show":
                return (await service.show(session, principal, args.name)).model_dump_json(
                    indent=2
                ) + "\n"
            body = InstallRequest.model_validate(
                {
                    "start_date": args.start,
                    "users": args.users,
                    "follow_sources": args.follow_sources,
                }
            )
            report = await service.install(
                session, principal, args.name, body, sources=db.sources, settings=bound
            )
            if args.json:
                return report.model_dump_json(indent=2) + "\n"
            return "".join(f"{line}\n" for line in report_lines(report))

    async def connected() -> str:
        db = Database.connect(url, bound)
        try:
            return await act(db)
        finally:
            await db.dispose()

    try:
        sys.stdout.write(asyncio.run(connected()))
    except (DomainError, ValidationError) as exc:
        sys.stderr.write(f"kpi-service packs: {exc}\n")
        return 2
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """The `packs` command and its actions."""
    packs = sub.add_parser("packs", help="list, show and install KPI packs")
    actions = packs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the packs offered and the versions installed")
    show = actions.add_parser("show", help="one pack: its KPIs, assignments, alerts and tables")
    show.add_argument("name")
    install = actions.add_parser("install", help="install or upgrade a pack in a tenant")
    install.add_argument("name")
    install.add_argument(
        "--from",
        dest="start",
        type=_day,
        metavar="DATE",
        help="start of the assignments it creates (default: docs/packs.md)",
    )
    install.add_argument(
        "--user",
        dest="users",
        type=_user,
        action="append",
        default=[],
        metavar="USER[:TEAM]",
        help="assign the pack's user KPIs to this user (repeatable)",
    )
    install.add_argument(
        "--follow-sources",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="assign (or, with --no-follow-sources, do not) the pack's user KPIs to the users "
        "its source tables name, now and at each run (default: as an earlier install chose, "
        "else follow where the pack can)",
    )
    install.add_argument("--json", action="store_true", help="print the report as JSON")
    for each in (listing, show, install):
        each.add_argument("--tenant", help="default: KPI_DEFAULT_TENANT")
    return packs
