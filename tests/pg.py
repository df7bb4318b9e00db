"""PostgreSQL for the tests marked ``pg``: a throwaway cluster, one fresh schema per test.

``pg_dsn`` (session): ``$ACCORD_TEST_PG_DSN`` if set. Otherwise a cluster made with
``initdb`` and ``pg_ctl`` (found on PATH or in /usr/lib/postgresql/*/bin) in a temporary
folder: trust auth, fsync off, listening on a free port of 127.0.0.1 and on a unix socket
in that folder; stopped and removed when the session ends. As root (initdb refuses root)
the cluster runs as the ``postgres`` system user through ``runuser``. Where PostgreSQL
cannot be had the tests are skipped with the reason, or fail if ``ACCORD_REQUIRE_PG=1``
(.ci/run sets it, so CI never skips them silently).

``pg_schema`` (function): a fresh schema name; the schema is dropped after the test.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

__all__ = ["pg_dsn", "pg_schema"]

REQUIRE_ENV = "ACCORD_REQUIRE_PG"
DSN_ENV = "ACCORD_TEST_PG_DSN"
_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "40",
    "shared_buffers": "32MB",
}


class PostgresUnavailableError(Exception):
    """PostgreSQL cannot be started here; the message says why."""


def find_bin_dir() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: PATH first, then Debian's newest version."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p / "bin" for p in debian.iterdir() if p.name.isdigit()]
        candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailableError(
        "initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin"
    )


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix (and account) to run the server as someone other than root."""
    if os.geteuid() != 0:
        return [], None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            "running as root and there is no 'postgres' system user"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailableError("running as root and runuser is missing")
    return [runuser, "-u", "postgres", "--"], account


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cluster:
    """A PostgreSQL cluster in a temporary folder, started by :meth:`start`."""

    def __init__(self) -> None:
        self.bin = find_bin_dir()
        self.prefix, account = _run_as()
        self.folder = Path(tempfile.mkdtemp(prefix="accord-pg-"))
        if account is not None:
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self.data = self.folder / "data"
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str | Path, timeout_s: float = 60) -> None:
        """Run a PostgreSQL tool as the cluster's owner; output goes to a log file, not a pipe."""
        log = self.folder / "tools.log"
        with log.open("ab") as out:
            result = subprocess.run(
                [*self.prefix, *map(str, args)],
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout_s,
                check=False,
            )
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise PostgresUnavailableError(
                f"{Path(str(args[0])).name} failed ({result.returncode}):\n{tail}"
            )

    def start(self) -> str:
        self._run(
            self.bin / "initdb",
            "-D",
            self.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        settings = {**_SERVER_SETTINGS, "port": str(self.port)}
        settings["unix_socket_directories"] = f"'{self.folder}'"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run(
            self.bin / "pg_ctl", "-D", self.data, "-l", self.folder / "server.log", "-w", "start"
        )
        return self.dsn

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A DSN for a PostgreSQL server the tests may create schemas in."""
    if os.environ.get(DSN_ENV):
        yield os.environ[DSN_ENV]
        return
    cluster: Cluster | None = None
    try:
        cluster = Cluster()
        dsn = cluster.start()
    except (PostgresUnavailableError, OSError, subprocess.SubprocessError) as exc:
        if cluster is not None:
            cluster.stop()
        reason = f"PostgreSQL unavailable: {exc}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    try:
        yield dsn
    finally:
        cluster.stop()


@pytest.fixture
def pg_schema(pg_dsn: str) -> Iterator[str]:
    """A schema name no one uses yet; it is dropped, with all in it, after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute("SET lock_timeout = '10s'")
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
