"""The `kpi-service` command: serve, migrate, openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from pydantic import SecretStr

from kpi_service.core.embedded import EmbeddedPostgres
from kpi_service.core.migrations import upgrade
from kpi_service.core.settings import Settings, get_settings

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
            from kpi_service.demo.loader import load_demo

            asyncio.run(load_demo(bound))
        uvicorn.run(create_app(bound), host=args.host, port=args.port,
                    log_level=settings.log_level.lower(), proxy_headers=True)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database_url(settings) as url:
        upgrade(url, args.revision)
        log.info("database upgraded to %s", args.revision)
    return 0


def _openapi(args: argparse.Namespace, settings: Settings) -> int:
    from kpi_service.app import create_app

    spec = create_app(settings).openapi()
    sys.stdout.write(json.dumps(spec, indent=2, sort_keys=False) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="kpi-service", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="apply migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="load the demo data set first")
    serve.set_defaults(handler=_serve)
    migrate = sub.add_parser("migrate", help="upgrade the database schema")
    migrate.add_argument("--revision", default="head")
    migrate.set_defaults(handler=_migrate)
    openapi = sub.add_parser("openapi", help="print the OpenAPI document")
    openapi.set_defaults(handler=_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kpi-service` command."""
    args = build_parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result: int = args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
