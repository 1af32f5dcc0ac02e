"""A throw-away PostgreSQL server for the benchmarks, made from Debian's postgresql binaries.

initdb and pg_ctl run in a fresh temporary directory; the server listens only on a unix socket there
(its port number just names the socket), so it never collides with anything on the machine. initdb
refuses to run as root, so as root the cluster's files belong to the `postgres` user and its
programs run as that user. fsync is off unless `durable`: the data is thrown away afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.server import free_port

SUPERUSER = "postgres"


def bin_dir() -> Path:
    """The newest /usr/lib/postgresql/N/bin holding initdb, else the directory of initdb on PATH."""
    found = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise RuntimeError("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")


class Cluster:
    """One initialised, started PostgreSQL server; `destroy` stops it and removes its files."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bin = bin_dir()
        self.port = free_port()
        self.owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self.base = Path(tempfile.mkdtemp(prefix="s3server-bench-pg-"))  # open to `postgres`
        if self.owner is not None:
            os.chown(self.base, self.owner.pw_uid, self.owner.pw_gid)
        self.data = self.base / "data"
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-instructions")  # fmt: skip
        on = "on" if durable else "off"
        settings = {
            "listen_addresses": "''",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base}'",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "fsync": on,
            "synchronous_commit": on,
            "full_page_writes": on,
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-w", "-t", "60", "start"
        )

    def _run(self, tool: str, *args: str) -> str:
        as_owner: dict[str, Any] = {}
        if self.owner is not None:
            as_owner = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if k != "PGDATA"} | {"LC_ALL": "C", "LANG": "C"}
        done = subprocess.run(
            [str(self.bin / tool), *args], capture_output=True, text=True, env=env, cwd=self.base,
            timeout=300, **as_owner,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}")
        return done.stdout

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.base}&port={self.port}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        return self._run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.base),
                         "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", statement)  # fmt: skip

    def create_database(self, name: str) -> str:
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    cluster = Cluster(durable=durable)
    try:
        yield cluster
    finally:
        cluster.destroy()
