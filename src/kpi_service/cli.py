"""The `kpi-service` command: serve, migrate, backfill, verify, packs, openapi."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import FrameType

from pydantic import SecretStr, ValidationError

from kpi_service.core import logs
from kpi_service.core.embedded import EmbeddedPostgres
from kpi_service.core.migrations import upgrade
from kpi_service.core.settings import Settings, get_settings
from kpi_service.models import RunStatus
from kpi_service.packs.command import add_parser as add_packs_parser

log = logging.getLogger("kpi_service")

EMBEDDED_DATABASE = "kpi"


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The configured database, or a private embedded server started for the duration."""
    if settings.database_url is not None:
        yield settings.database_url.get_secret_value()
        return
    server = EmbeddedPostgres(settings.data_dir)
    server.start()
    try:
        server.ensure_database(EMBEDDED_DATABASE)
        url = server.url(EMBEDDED_DATABASE)
        log.info("embedded PostgreSQL: %s (data in %s)", url, server.pgdata)
        yield url
    finally:
        server.stop()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _demo_users(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 100000")
    return int(value)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from kpi_service.app import create_app

    # uvicorn shuts down gracefully, then re-raises SIGTERM; with the default handler that
    # kills the process before the embedded database is stopped, so make it an exit.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with database_url(settings) as url:
        upgrade(url)
        bound = settings.model_copy(update={"database_url": SecretStr(url)})
        if args.demo:
            from kpi_service.demo.loader import DemoMismatch, load_demo
            from kpi_service.demo.people import DemoSize

            try:
                asyncio.run(load_demo(bound, DemoSize(agents=args.demo_users)))
            except DemoMismatch as exc:
                print(f"kpi-service: {exc}", file=sys.stderr)
                return 2
        # uvicorn's own lines go through the same formatter; the app writes the access log.
        uvicorn.run(
            create_app(bound),
            host=args.host,
            port=args.port,
            log_level=settings.log_level.lower(),
            proxy_headers=True,
            log_config=logs.config(settings.log_format, settings.log_level),
            access_log=False,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database_url(settings) as url:
        upgrade(url, args.revision)
        log.info("database upgraded to %s", args.revision)
    return 0


def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    with database_url(settings) as url:
        upgrade(url)
        bound = settings.model_copy(update={"database_url": SecretStr(url)})
        return asyncio.run(_run_backfill(args, bound))


async def _run_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from kpi_service.core.auth import Principal, Role
    from kpi_service.core.database import Database
    from kpi_service.core.errors import DomainError
    from kpi_service.measurements import service
    from kpi_service.measurements.schemas import RecalculateRequest
    from kpi_service.runs import execution
    from kpi_service.runs.hooks import HOOKS

    url = settings.database_url.get_secret_value() if settings.database_url else ""
    db = Database.connect(url, settings)
    principal = Principal(
        tenant_id=args.tenant or settings.default_tenant,
        user_id=f"cli:{_os_user()}",
        role=Role.ADMIN,
    )
    try:
        # The options are named (`dest`) for the request's fields.
        body = RecalculateRequest.model_validate(args, from_attributes=True)
        async with db.unit_of_work() as session:
            queued = await service.recalculate(session, principal, body)
        started = time.monotonic()
        with tqdm(
            total=queued.progress_total,
            unit="period",
            file=sys.stderr,
            disable=args.quiet,
            desc=f"run {queued.id}",
        ) as bar:

            def advance(done: int, total: int) -> None:
                bar.update(done - bar.n)

            run = await execution.execute(
                db,
                settings,
                principal.tenant_id,
                queued.id,
                execution.worker_name(),
                on_progress=advance,
                hooks=HOOKS,
            )
    except (DomainError, ValidationError) as exc:
        sys.stderr.write(f"kpi-service backfill: {exc}\n")
        return 2
    finally:
        await db.dispose()
    if run is None:
        sys.stderr.write(f"run {queued.id} was taken by another process\n")
        return 1
    seconds = time.monotonic() - started
    sys.stdout.write(
        f"run {run.id} {run.status}: {run.progress_done}/{run.progress_total} periods, "
        f"{run.computed} computed, {run.unchanged} unchanged, {run.failed} failed, "
        f"{run.skipped} skipped in {seconds:.1f}s\n"
    )
    for error in run.errors:
        sys.stdout.write(f"  {json.dumps(error)}\n")
    exit_codes: dict[str, int] = {RunStatus.SUCCEEDED: 0, RunStatus.PARTIAL: 3}
    return exit_codes.get(run.status, 1)


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    with database_url(settings) as url:
        bound = settings.model_copy(update={"database_url": SecretStr(url)})
        return asyncio.run(_run_verify(args, bound))


async def _run_verify(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import text

    from kpi_service.core.database import Database
    from kpi_service.measurements.derivation import Drift, drift, rederive
    from kpi_service.measurements.repository import MeasurementRepository

    url = settings.database_url.get_secret_value() if settings.database_url else ""
    db = Database.connect(url, settings)
    try:
        if args.fix:
            async with db.sessions() as session:
                tenants = (
                    [args.tenant] if args.tenant else await MeasurementRepository(session).tenants()
                )
            for tenant_id in tenants:
                async with db.unit_of_work() as session:
                    fixed = await rederive(
                        session,
                        settings,
                        tenant_id,
                        actor=f"cli:{_os_user()}",
                        reason="re-derived by kpi-service verify --fix",
                    )
                sys.stdout.write(f"{tenant_id}: {fixed} measurements re-derived\n")
        found = Drift()
        async with db.sessions() as session:
            # One snapshot for every tenant; nothing is written.
            await session.execute(
                text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            )
            tenants = (
                [args.tenant] if args.tenant else await MeasurementRepository(session).tenants()
            )
            differing = 0
            for tenant_id in tenants:
                differing += await drift(session, settings, tenant_id, found)
    finally:
        await db.dispose()
    where = f"tenant {args.tenant}" if args.tenant else f"{len(tenants)} tenant(s)"
    if found.clean:
        sys.stdout.write(f"checked {found.checked} measurements of {where}: no drift\n")
        return 0
    sys.stdout.write(
        f"checked {found.checked} measurements of {where}: {differing} differ "
        "from a clean recomputation\n"
    )
    for column, count in sorted(found.per_column.items()):
        sys.stdout.write(f"  {column}: {count}\n")
    for e in found.examples:
        sys.stdout.write(
            f"  tenant {e['tenant_id']} measurement {e['measurement_id']} "
            f"{e['column']}: stored {_shown(e['stored'])}, "
            f"expected {_shown(e['expected'])}\n"
        )
    return 1


def _shown(value: object) -> str:
    return "null" if value is None else str(value)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user with no passwd entry
        return "unknown"


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _packs(args: argparse.Namespace, settings: Settings) -> int:
    from kpi_service.packs import command

    with database_url(settings) as url:
        return command.run(args, settings, url, f"cli:{_os_user()}")


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    from kpi_service.app import create_app
    from kpi_service.core import openapi

    # The default configuration, whatever this environment sets: the committed
    # docs/openapi.json must not depend on who regenerated it.
    spec = create_app(Settings.model_construct()).openapi()
    sys.stdout.buffer.write(openapi.render(spec).encode())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="kpi-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="load the demo data set first")
    serve.add_argument(
        "--demo-users",
        type=_demo_users,
        default=12,
        metavar="N",
        help="sales agents in the demo (teams of 12; default 12)",
    )
    serve.set_defaults(handler=_serve)
    migrate = sub.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=_migrate)
    backfill = sub.add_parser(
        "backfill", help="compute every period overlapping a date range, with a progress bar"
    )
    backfill.add_argument("--from", dest="period_start", type=_day, required=True, metavar="DATE")
    backfill.add_argument("--to", dest="period_end", type=_day, required=True, metavar="DATE")
    backfill.add_argument(
        "--definition",
        dest="definition_keys",
        action="append",
        metavar="KEY",
        help="only this KPI (repeatable); default: every active KPI",
    )
    backfill.add_argument(
        "--kind",
        dest="period_kind",
        choices=["daily", "weekly", "monthly", "quarterly", "yearly"],
        help="only KPIs of this period kind",
    )
    backfill.add_argument("--tenant", help="default: KPI_DEFAULT_TENANT")
    backfill.add_argument(
        "--restate", action="store_true", help="also change closed periods (needs --reason)"
    )
    backfill.add_argument("--reason", help="why; kept on every changed measurement")
    backfill.add_argument("--quiet", action="store_true", help="no progress bar")
    backfill.set_defaults(handler=_backfill)
    verify = sub.add_parser(
        "verify",
        help="recompute every figure derived from stored values; report drift "
        "(exit 1) or none (exit 0)",
    )
    verify.add_argument("--tenant", help="only this tenant; default: every tenant")
    verify.add_argument(
        "--fix",
        action="store_true",
        help="first re-derive what drifted (each change keeps a revision)",
    )
    verify.set_defaults(handler=_verify)
    add_packs_parser(sub).set_defaults(handler=_packs)
    openapi = sub.add_parser(
        "openapi", help="print the OpenAPI document of the default configuration"
    )
    openapi.set_defaults(handler=_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kpi-service` command."""
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    try:
        result: int = args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
