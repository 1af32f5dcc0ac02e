"""A small async runner for sqlite3: one writer thread, a few reader threads, WAL.

SQLite allows one writer at a time, so every write runs on a single dedicated thread in a
`BEGIN IMMEDIATE` transaction and is acknowledged only after COMMIT (synchronous=FULL: the WAL is
fsync'd). Writes that queue up while a commit is in progress are committed together (group commit),
each inside its own SAVEPOINT so one failing write does not undo its neighbours. Reads run on a pool of
reader connections in WAL mode, so a listing never waits behind a commit.

Functions passed to `write`/`read` run in the database thread and receive its `sqlite3.Connection`;
they must not touch the event loop. Errors are sqlite3's own exceptions (or whatever the function
raised): translating them into a layer's error type is that layer's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["Database", "SchemaTooNewError", "apply_migrations", "schema_version"]

T = TypeVar("T")

log = logging.getLogger(__name__)

_STOP = object()
MMAP_BYTES = 1 << 30  # address space only; the kernel's page cache holds the pages either way
LOOP_BUSY_MS = 50  # how long a read on the event loop may wait for a lock before falling back


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class SchemaTooNewError(sqlite3.DatabaseError):
    """The database was migrated by a newer release than this one; refuse rather than misread it."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The version recorded by `apply_migrations` (0 for a fresh database)."""
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return row[0] or 0


def apply_migrations(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]]) -> int:
    """Bring the schema up to len(migrations); run it inside a write transaction.

    migrations[i] is the list of statements that produce version i + 1. Applied migrations are never
    edited, only appended to, so re-opening (from any number of processes) is a no-op.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = schema_version(conn)
    if current > len(migrations):
        raise SchemaTooNewError(
            f"schema version {current} is newer than this release knows ({len(migrations)})"
        )
    for version in range(current + 1, len(migrations) + 1):
        for statement in migrations[version - 1]:
            conn.execute(statement)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    return len(migrations)


def _resolve(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled; the work itself is done (or failed) regardless
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _deliver(job: _Job, result: Any = None, error: BaseException | None = None) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed while we worked
        job.loop.call_soon_threadsafe(_resolve, job.future, result, error)


class Database:
    """One SQLite database file: serialised durable writes, concurrent snapshot reads.

    `await write(fn)` runs fn(conn) inside a transaction on the writer thread and returns its result
    once the transaction is durably committed; if fn raises, its changes are rolled back and the
    exception is re-raised to the caller. `await read(fn)` runs fn(conn) inside a read transaction
    (one consistent snapshot) on a reader thread. A write whose caller is cancelled still completes.
    """

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 3,
        busy_timeout: float = 10.0,
        max_batch: int = 256,
    ) -> None:
        self.path = Path(path)
        self.readers = max(1, readers)
        self.busy_timeout = busy_timeout
        self.max_batch = max(1, max_batch)
        self._write_q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._read_q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._connections: list[sqlite3.Connection] = []
        self._local = threading.local()  # read_now's connection, one per calling thread
        self._trace: Callable[[str], None] | None = None
        self._progress: tuple[Callable[[], int] | None, int] = (None, 0)
        self._open = False

    # -- lifecycle

    async def open(self) -> None:
        """Open the writer (which switches the file to WAL) and then the readers."""
        if self._open:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_q = queue.SimpleQueue()
        self._read_q = queue.SimpleQueue()
        self._connections = []
        await self._start_thread("sqlite-writer", self._writer_main)
        self._open = True
        try:
            for i in range(self.readers):
                await self._start_thread(f"sqlite-reader-{i}", self._reader_main)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Finish queued work, then close every connection."""
        if not self._open:
            return
        self._open = False
        threads, self._threads = self._threads, []
        self._write_q.put(_STOP)  # the writer is always threads[0]
        for _ in threads[1:]:
            self._read_q.put(_STOP)
        await asyncio.to_thread(lambda: [t.join() for t in threads])
        for conn in self._connections:  # read_now's (the threads closed their own already)
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._connections.clear()
        self._local = threading.local()

    @property
    def is_open(self) -> bool:
        return self._open

    # -- work

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(conn) in a write transaction; return its result after the commit is durable."""
        return await self._submit(self._write_q, fn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn(conn) in a read transaction on a reader connection (a consistent snapshot)."""
        return await self._submit(self._read_q, fn)

    def read_now(self, fn: Callable[[sqlite3.Connection], T], *, transaction: bool = True) -> T:
        """Run fn(conn) in a read transaction right here, on this thread's own connection
        (`transaction=False`: without one, for a single statement, which is its own snapshot).

        For point lookups from the event loop: in WAL mode a reader never waits for the writer, and
        a query of a few microseconds costs less than the two thread switches of `read`. A busy
        database (a rare WAL recovery) raises sqlite3.OperationalError after LOOP_BUSY_MS; callers
        fall back to `read`.
        """
        if not self._open:
            raise sqlite3.ProgrammingError(f"database {self.path} is not open")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(writer=False, busy_ms=LOOP_BUSY_MS)
            self._local.conn = conn
        if not transaction:
            return fn(conn)
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def set_trace_callback(self, callback: Callable[[str], None] | None) -> None:
        """Install `callback(sql)` on every connection (called in the database threads per statement)."""
        self._trace = callback
        for conn in self._connections:
            conn.set_trace_callback(callback)

    def set_progress_handler(self, handler: Callable[[], int] | None, n: int) -> None:
        """Install sqlite3's progress handler (called every n VM instructions) on every connection;
        tests use it to measure how much work a query did."""
        self._progress = (handler, n)
        for conn in self._connections:
            conn.set_progress_handler(handler, n)

    async def _submit(self, q: queue.SimpleQueue[Any], fn: Callable[[sqlite3.Connection], T]) -> T:
        if not self._open:
            raise sqlite3.ProgrammingError(f"database {self.path} is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        q.put(_Job(fn, loop, future))
        return await future

    # -- threads

    async def _start_thread(
        self, name: str, target: Callable[[threading.Event, list[BaseException]], None]
    ) -> None:
        """Start a database thread and wait until its connection is open (or failed to open)."""
        ready = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(target=target, args=(ready, failure), name=name, daemon=True)
        thread.start()
        await asyncio.to_thread(ready.wait)
        if failure:
            await asyncio.to_thread(thread.join)
            raise failure[0]
        self._threads.append(thread)

    def _connect(self, *, writer: bool, busy_ms: int | None = None) -> sqlite3.Connection:
        busy = int(self.busy_timeout * 1000) if busy_ms is None else busy_ms
        conn = sqlite3.connect(
            self.path,
            timeout=busy / 1000,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # owned by one thread; only the test hooks cross over
            cached_statements=256,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Pages are read through a memory map instead of one pread() each: a listing that seeks
            # to 1,000 places in a big index otherwise spends most of its time in system calls.
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            if writer:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise sqlite3.OperationalError(f"could not switch {self.path} to WAL (got {mode})")
                # FULL: the WAL is fsync'd at every commit, so an acknowledged write survives power loss.
                conn.execute("PRAGMA synchronous = FULL")
            else:
                conn.execute("PRAGMA query_only = ON")
            if self._trace is not None:
                conn.set_trace_callback(self._trace)
            if self._progress[0] is not None:
                conn.set_progress_handler(*self._progress)
        except BaseException:
            conn.close()
            raise
        self._connections.append(conn)
        return conn

    def _boot(
        self, ready: threading.Event, failure: list[BaseException], *, writer: bool
    ) -> sqlite3.Connection | None:
        try:
            conn = self._connect(writer=writer)
        except BaseException as exc:
            failure.append(exc)
            return None
        finally:
            ready.set()
        return conn

    def _reader_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        conn = self._boot(ready, failure, writer=False)
        if conn is None:
            return
        try:
            while True:
                job = self._read_q.get()
                if job is _STOP:
                    return
                try:
                    conn.execute("BEGIN")
                    try:
                        result = job.fn(conn)
                    finally:
                        if conn.in_transaction:
                            conn.execute("COMMIT")
                except BaseException as exc:
                    _deliver(job, error=exc)
                else:
                    _deliver(job, result)
        finally:
            conn.close()

    def _writer_main(self, ready: threading.Event, failure: list[BaseException]) -> None:
        conn = self._boot(ready, failure, writer=True)
        if conn is None:
            return
        try:
            stopping = False
            while not stopping:
                batch: list[_Job] = []
                item = self._write_q.get()
                while True:
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                    if len(batch) >= self.max_batch:
                        break
                    try:
                        item = self._write_q.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._run_batch(conn, batch)
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        """Run the jobs in one transaction; if the transaction itself is lost, retry them one by one."""
        if len(batch) == 1:
            self._run_single(conn, batch[0])
            return
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._fail(batch, exc)
            return
        for job in batch:
            try:
                conn.execute("SAVEPOINT job")
                result = job.fn(conn)
                conn.execute("RELEASE job")
            except BaseException as exc:
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back (I/O error, disk full, …): the jobs
                    # already run lost their changes too. Run each on its own to isolate the culprit.
                    for one in batch:
                        self._run_single(conn, one)
                    return
                try:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                except sqlite3.Error:
                    self._rollback(conn)
                    for one in batch:
                        self._run_single(conn, one)
                    return
                outcomes.append((job, None, exc))
            else:
                outcomes.append((job, result, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            self._fail(batch, exc)
            return
        for job, result, error in outcomes:
            _deliver(job, result, error)

    def _run_single(self, conn: sqlite3.Connection, job: _Job) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = job.fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                self._rollback(conn)
                raise
        except BaseException as exc:
            _deliver(job, error=exc)
        else:
            _deliver(job, result)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("ROLLBACK failed")

    @staticmethod
    def _fail(jobs: Iterable[_Job], exc: BaseException) -> None:
        for job in jobs:
            _deliver(job, error=exc)
