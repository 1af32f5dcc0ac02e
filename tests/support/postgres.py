"""A real PostgreSQL server for the test session, made from Debian's postgresql binaries.

`PostgresCluster` runs initdb and pg_ctl in a fresh temporary directory and listens only on a unix
socket inside it (its port number just names the socket), so clusters never collide with each other
or with anything on the machine. initdb refuses to run as root, so when the tests run as root (as CI
does) the cluster's files belong to the `postgres` user and its programs run as that user.

`postgres_cluster` is the one session-scoped fixture the unit and integration suites share; each test
server or contract test gets its own database from `create_database`.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from tests.support.server import free_port

C = TypeVar("C", bound="Counter")

SUPERUSER = "postgres"
INSTALL_HINT = (
    "PostgreSQL's server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin "
    "or on PATH; install them (Debian: `apt-get install -y postgresql`) or run the README's test command"
)


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/N/bin that has initdb, else the directory of initdb on PATH."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    raise RuntimeError(INSTALL_HINT)


class PostgresCluster:
    """One throw-away PostgreSQL server: start, stop, restart, and databases on demand.

    `durable=False` (the default for tests) turns fsync off: the data is thrown away anyway.
    """

    _names = itertools.count()

    def __init__(self, *, durable: bool = False, max_connections: int = 300) -> None:
        self.bin_dir = find_bin_dir()
        self.durable = durable
        self.max_connections = max_connections
        self.port = free_port()
        self._run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError(
                    "running as root needs the `postgres` user that Debian's package creates"
                ) from exc
        # Directly under the system temp dir: a root-owned pytest tmp dir would be closed to `postgres`.
        self.base = Path(tempfile.mkdtemp(prefix="s3server-pg-"))
        self.data_dir = self.base / "data"
        self.socket_dir = self.base
        self.log_path = self.base / "server.log"
        if self._run_as is not None:
            os.chown(self.base, self._run_as.pw_uid, self._run_as.pw_gid)
        self._initdb()

    # -- processes

    def _as_owner(self) -> dict[str, Any]:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _tool(self, name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        result = subprocess.run(
            [str(self.bin_dir / name), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.base,
            timeout=timeout,
            **self._as_owner(),
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{name} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def _initdb(self) -> None:
        self._tool(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C",
            "--no-instructions",
        )  # fmt: skip
        settings = {
            "listen_addresses": "''",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": str(self.max_connections),
            "shared_buffers": "'128MB'",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "logging_collector": "off",
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# s3server test cluster\n")
            for name, value in settings.items():
                conf.write(f"{name} = {value}\n")

    def start(self) -> None:
        self._tool("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; "fast" ends client sessions at once, "immediate" is a crash."""
        self._tool("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self._tool(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path),
            "-m", "fast", "-w", "-t", "60", "restart",
        )  # fmt: skip

    def is_running(self) -> bool:
        env = {**os.environ, "LC_ALL": "C"}
        result = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"],
            capture_output=True,
            env=env,
            **self._as_owner(),
        )
        return result.returncode == 0

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.is_running():
                self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- databases

    def dsn(self, database: str = "postgres") -> str:
        """A libpq-style URL that reaches the server over its unix socket."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._tool(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
            "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql,
        )  # fmt: skip
        return result.stdout

    def create_database(self, prefix: str = "s3test") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        name = dsn.split("?", 1)[0].rsplit("/", 1)[1]
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_cluster(**options: Any) -> Iterator[PostgresCluster]:
    """A started cluster, stopped and removed afterwards."""
    cluster = PostgresCluster(**options)
    try:
        try:
            cluster.start()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\nserver log:\n{cluster.log()[-4000:]}") from exc
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL server, started on first use."""
    with running_cluster() as cluster:
        yield cluster


# -- measuring how much a PostgreSQL store's statements read (the contract suite's "work")


class Counter(Protocol):
    count: int
    work: int


def rows_read(plan: Any) -> int:
    """Rows that a plan's scans of `objects` produced, over all their loops (EXPLAIN ANALYZE JSON)."""
    if isinstance(plan, list):
        return sum(rows_read(node) for node in plan)
    if not isinstance(plan, dict):
        return 0
    rows = 0
    if plan.get("Relation Name") == "objects":
        rows += int(plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1))
    return rows + sum(rows_read(child) for child in plan.get("Plans", [])) + rows_read(plan.get("Plan"))


class _CountingConnection:
    """Counts the statements run through it; a read-only query is also EXPLAIN ANALYZEd to learn how
    many rows of `objects` it read."""

    def __init__(self, conn: Any, counter: Counter) -> None:
        self._conn = conn
        self._counter = counter

    async def _count(self, sql: str, args: tuple[Any, ...]) -> None:
        self._counter.count += 1
        words = sql.upper().split()
        if words[0] in {"SELECT", "WITH"} and not {"INSERT", "UPDATE", "DELETE"} & set(words):
            plan = await self._conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
            self._counter.work += rows_read(json.loads(plan))

    async def fetch(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        await self._count(sql, args)
        return await self._conn.fetch(sql, *args, **kwargs)

    async def fetchrow(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        await self._count(sql, args)
        return await self._conn.fetchrow(sql, *args, **kwargs)

    async def fetchval(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        await self._count(sql, args)
        return await self._conn.fetchval(sql, *args, **kwargs)

    async def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        await self._count(sql, args)
        return await self._conn.execute(sql, *args, **kwargs)


class _CountingDatabase:
    """Stands in for a store's `db` (a PgDatabase), handing its functions counting connections."""

    def __init__(self, db: Any, counter: Counter) -> None:
        self._db = db
        self._counter = counter
        self.name = db.name

    async def run(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        return await self._db.run(lambda conn: fn(_CountingConnection(conn, self._counter)))

    async def transaction(self, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        return await self._db.transaction(lambda conn: fn(_CountingConnection(conn, self._counter)))


def statement_counting(store: Any, make_counter: Callable[[], C]) -> Callable[[], AbstractContextManager[C]]:
    """For a PostgresMetadataStore: a context manager counting statements (`count`) and the rows of
    `objects` they read (`work`) while it is open."""

    @contextlib.contextmanager
    def counting() -> Iterator[C]:
        counter = make_counter()
        real = store.db
        store.db = _CountingDatabase(real, counter)
        try:
            yield counter
        finally:
            store.db = real

    return counting
