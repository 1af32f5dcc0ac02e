"""ListObjectsV2 page latency beside old versions and delete markers, on both metadata backends.

The claim: listing cost does not grow with the number of noncurrent versions or delete markers
(`objects` holds each key's current version only; the rest lives in `object_versions`). Three
buckets hold the same live keys:

- **plain**: N keys, never versioned;
- **versioned**: versioning Enabled, the same N keys written 10 times each (9 noncurrent versions);
- **markers**: versioning Enabled, the same N live keys plus 9·N delete markers on other keys,
  interleaved in key order (9 marker keys between each two live keys).

The buckets are filled in-process, with fake blob segments (a listing never reads blobs). By default
(`--fill bulk`) the final rows are loaded a chunk of keys per transaction with the stores' own
statements and row encoding (SQLite: executemany; PostgreSQL: COPY, then VACUUM ANALYZE, as
autovacuum would sooner or later); `--fill api` writes every version through put_object and every
marker through delete_object instead, as the server does (faithful to the write path's leftovers,
such as PostgreSQL's dead row versions, but millions of transactions: slow). Then a fresh
`s3server serve` answers ListObjectsV2 over HTTP. Pages of
max-keys 1000 from the start, from the middle and (delimiter "/") over the 1,000 "directories"
are timed in turn across the three buckets, so that background work (autovacuum, other load on the
machine) weighs on all of them alike; every page is checked to list exactly the same keys in every
bucket. The report gives p50 / p99 per bucket and the ratio of each p50 to plain's.

    python -m bench versions [--backends sqlite,postgres] [--keys 100000] [--pages 200] [--warmup 10]
        [--fill bulk|api] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import server as bench_server
from bench.client import Client
from bench.postgres import running_cluster
from bench.server import Server
from bench.timing import in_parallel, percentile
from s3server.metadata import postgres_objects as postgres_store
from s3server.metadata import sqlite_objects as sqlite_store
from s3server.metadata import tables
from s3server.metadata.base import NULL_VERSION, Bucket, MetadataStore, ObjectRecord, Segment
from s3server.metadata.common import delete_marker
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.metadata.sqlite import SqliteMetadataStore
from s3server.pgdb import PgDatabase
from s3server.s3.common import new_version_id


def _sqlite_row(record: ObjectRecord) -> tuple[object, ...]:
    """The SQLite store's row parameters of a record (bucket, OBJECT_COLUMNS…)."""
    return tables.object_params(record, record.key.encode(), SqliteMetadataStore.stamp)


def _pg_row(record: ObjectRecord) -> tuple[object, ...]:
    return tables.object_params(record, record.key.encode(), PostgresMetadataStore.stamp)


BUCKETS = ("plain", "versioned", "markers")
VERSIONS = 10  # writes per key in `versioned`
SPREAD = 10  # key slots per live key in `markers`: one live key, then SPREAD - 1 marker keys
PER_DIRECTORY = 100  # live keys per "directory" (100,000 keys: 1,000 directories)
PAGE = 1000
_KEY = re.compile(rb"<Key>([^<]*)</Key>")
_PREFIX = re.compile(rb"<Prefix>([^<]*)</Prefix>")


def slot_key(slot: int) -> str:
    """The key of slot `slot`: live keys sit on multiples of SPREAD, marker keys between them."""
    return f"dir{slot // (SPREAD * PER_DIRECTORY):05d}/key{slot:08d}"


def live_key(i: int) -> str:
    return slot_key(i * SPREAD)


# --------------------------------------------------------------------------------------------------------
# filling
# --------------------------------------------------------------------------------------------------------


def version(bucket: str, key: str, blob: str, version_id: str) -> ObjectRecord:
    return ObjectRecord(
        bucket, key, 4096, "0" * 32, datetime.now(UTC), [Segment(blob, 4096)], owner="root",
        version_id=version_id,
    )  # fmt: skip


async def create_buckets(store: MetadataStore) -> None:
    for name in BUCKETS:
        await store.create_bucket(Bucket(name, "root", "us-east-1", datetime.now(UTC)))
        if name != "plain":
            await store.set_bucket_versioning(name, "Enabled")


async def fill_through_api(store: MetadataStore, keys: int, width: int) -> None:
    """Every version written by put_object and every marker by delete_object, as the server does."""

    async def plain(i: int) -> None:
        await store.put_object(version("plain", live_key(i), f"plain-{i}", NULL_VERSION))

    async def versioned(i: int) -> None:
        key = live_key(i)
        for v in range(VERSIONS):
            await store.put_object(version("versioned", key, f"versioned-{i}-{v}", new_version_id()))

    async def markers(slot: int) -> None:
        key = slot_key(slot)
        if slot % SPREAD == 0:
            await store.put_object(version("markers", key, f"markers-{slot}", new_version_id()))
        else:
            await store.delete_object("markers", key, marker_id=new_version_id())

    for name, count, op, per in (
        ("plain", keys, plain, 1),
        ("versioned", keys, versioned, VERSIONS),
        ("markers", keys * SPREAD, markers, 1),
    ):
        seconds, _ = await in_parallel(count, width, op, progress=name)
        rate = count / seconds
        print(f"  filled {name}: {count * per:,} writes at {rate * per:,.0f}/s", file=sys.stderr, flush=True)


@dataclass
class Chunk:
    """Rows of one bucket to load at once: current versions (`objects`) and noncurrent versions or
    delete markers (`object_versions`) with their seq."""

    bucket: str
    current: list[ObjectRecord]
    noncurrent: list[tuple[ObjectRecord, int]]


def chunks(keys: int, size: int = 5000) -> Iterator[Chunk]:
    """The final state the API fill leaves, `size` live keys at a time: plain keys; versioned keys
    with VERSIONS - 1 noncurrent versions (seq 1…) under the current one; live keys with a delete
    marker on each of the SPREAD - 1 keys after them."""
    for lo in range(0, keys, size):
        span = range(lo, min(lo + size, keys))
        yield Chunk("plain", [version("plain", live_key(i), f"plain-{i}", NULL_VERSION) for i in span], [])
        chunk = Chunk("versioned", [], [])
        for i in span:
            key = live_key(i)
            for v in range(VERSIONS - 1):
                chunk.noncurrent.append(
                    (version("versioned", key, f"versioned-{i}-{v}", new_version_id()), v + 1)
                )
            chunk.current.append(version("versioned", key, f"versioned-{i}-{VERSIONS - 1}", new_version_id()))
        yield chunk
        chunk = Chunk("markers", [], [])
        now = datetime.now(UTC)
        for i in span:
            chunk.current.append(version("markers", live_key(i), f"markers-{i}", new_version_id()))
            for slot in range(i * SPREAD + 1, (i + 1) * SPREAD):
                chunk.noncurrent.append(
                    (delete_marker("markers", slot_key(slot), new_version_id(), "root", now), 1)
                )
        yield chunk


def load_sqlite(conn: sqlite3.Connection, chunk: Chunk) -> None:
    """One chunk in one transaction, with the store's own statements and row encoding."""
    conn.executemany(sqlite_store._UPSERT_OBJECT, [_sqlite_row(r) for r in chunk.current])
    conn.executemany(
        sqlite_store._INSERT_VERSION,
        [(*_sqlite_row(r), int(r.delete_marker), seq) for r, seq in chunk.noncurrent],
    )
    conn.execute(
        sqlite_store._ADD_STATS, (len(chunk.current), sum(r.size for r in chunk.current), chunk.bucket)
    )
    sizes = sum(r.size for r, _ in chunk.noncurrent)
    conn.execute(sqlite_store._ADD_VERSION_STATS, (len(chunk.noncurrent), sizes, chunk.bucket))


_PG_COLUMNS = ["bucket", *(c.strip() for c in tables.OBJECT_COLUMNS.split(","))]


async def load_postgres(conn: asyncpg.Connection, chunk: Chunk) -> None:
    """One chunk in one transaction: COPY of the rows the store's own encoding makes."""
    await conn.copy_records_to_table(
        "objects",
        records=[_pg_row(r) for r in chunk.current],
        columns=_PG_COLUMNS,
    )
    if chunk.noncurrent:
        await conn.copy_records_to_table(
            "object_versions",
            records=[(*_pg_row(r), r.delete_marker, seq) for r, seq in chunk.noncurrent],
            columns=[*_PG_COLUMNS, "delete_marker", "seq"],
        )
    await conn.execute(
        postgres_store._COUNT, chunk.bucket, 0, len(chunk.current), sum(r.size for r in chunk.current)
    )
    sizes = sum(r.size for r, _ in chunk.noncurrent)
    await conn.execute(postgres_store._COUNT_VERSIONS, chunk.bucket, 0, len(chunk.noncurrent), sizes)


async def fill_in_bulk(store: MetadataStore, keys: int) -> None:
    """The same rows as fill_through_api, loaded a chunk of keys per transaction (no blob links:
    there are no blobs)."""
    started = time.perf_counter()
    rows = 0
    for n, chunk in enumerate(chunks(keys)):
        if isinstance(store, SqliteMetadataStore):
            await store.db.write(lambda conn, chunk=chunk: load_sqlite(conn, chunk))
        elif isinstance(store, PostgresMetadataStore):
            await store.db.transaction(lambda conn, chunk=chunk: load_postgres(conn, chunk))
        else:
            raise TypeError(f"no bulk load for {type(store).__name__}")
        rows += len(chunk.current) + len(chunk.noncurrent)
        if n % 30 == 29:
            rate = rows / (time.perf_counter() - started)
            print(f"  {rows:,} rows at {rate:,.0f}/s", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------
# listing over HTTP
# --------------------------------------------------------------------------------------------------------


async def list_page(client: Client, bucket: str, params: dict[str, str]) -> tuple[float, list[bytes]]:
    """(seconds, the page's keys and common prefixes) of one ListObjectsV2 request."""
    started = time.perf_counter()
    response = await client.request("GET", bucket, params={"list-type": "2", "max-keys": str(PAGE), **params})
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"ListObjectsV2 {bucket} {params}: {response.status} {response.body[:300]!r}")
    body = response.body
    entries = _KEY.findall(body)
    if b"<CommonPrefixes>" in body:
        entries += _PREFIX.findall(body.split(b"<CommonPrefixes>", 1)[1])
    return elapsed, entries


def cases(keys: int) -> dict[str, tuple[dict[str, str], list[bytes]]]:
    """Case name -> (query parameters, the entries every bucket must answer)."""
    middle = keys // 2
    directories = -(-keys // PER_DIRECTORY)
    prefixes = [
        f"{live_key(d * PER_DIRECTORY).split('/')[0]}/".encode() for d in range(min(PAGE, directories))
    ]
    return {
        "from the start": ({}, [live_key(i).encode() for i in range(min(PAGE, keys))]),
        "from the middle": (
            {"start-after": live_key(middle)},
            [live_key(i).encode() for i in range(middle + 1, min(middle + 1 + PAGE, keys))],
        ),
        "delimiter /": (
            {"delimiter": "/"},
            prefixes,
        ),
    }


async def measure(server: Server, keys: int, pages: int, warmup: int) -> dict[tuple[str, str], list[float]]:
    """Latencies per (case, bucket): every round times one page of each case in each bucket, one
    request at a time over one keep-alive connection."""
    plan = cases(keys)
    latencies: dict[tuple[str, str], list[float]] = {(c, b): [] for c in plan for b in BUCKETS}
    async with Client(server, connections=1) as client:
        for round_ in range(warmup + pages):  # the first rounds warm caches and query plans
            for case, (params, expected) in plan.items():
                buckets = BUCKETS if round_ % 2 == 0 else BUCKETS[::-1]  # no bucket always goes first
                for bucket in buckets:
                    elapsed, entries = await list_page(client, bucket, params)
                    if entries != expected:
                        raise RuntimeError(
                            f"{bucket}, {case}: listed {len(entries)} entries, {entries[:3]}…, "
                            f"not the {len(expected)} live ones, {expected[:3]}…"
                        )
                    if round_ >= warmup:
                        latencies[case, bucket].append(elapsed)
    return latencies


# --------------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def backend(name: str, base: Path, postgres: str | None) -> Iterator[tuple[list[str], MetadataStore]]:
    """(server flags, an unopened store) for a backend: PostgreSQL in the empty database `postgres`,
    or else in a server of its own."""
    if name == "sqlite":
        yield [], SqliteMetadataStore(base / "data" / "metadata.db")
    elif name == "postgres" and postgres:
        yield ["--metadata", postgres], PostgresMetadataStore(PgDatabase(postgres, timeout=600))
    elif name == "postgres":
        with running_cluster() as cluster:
            url = cluster.create_database("versions")
            yield ["--metadata", url], PostgresMetadataStore(PgDatabase(url, timeout=600))
    else:
        raise ValueError(f"unknown backend {name!r} (sqlite, postgres)")


async def fill_store(store: MetadataStore, keys: int, how: str, width: int) -> None:
    await store.open()
    try:
        await create_buckets(store)
        if how == "api":
            await fill_through_api(store, keys, width)
        else:
            await fill_in_bulk(store, keys)
        if isinstance(store, PostgresMetadataStore):
            # What autovacuum does to freshly written tables sooner or later, done at once so that
            # it does not happen in the middle of the measurement.
            await store.db.run(lambda conn: conn.execute("VACUUM ANALYZE"))
    finally:
        await store.close()


def run_backend(
    name: str, keys: int, pages: int, warmup: int, how: str, postgres: str | None
) -> tuple[list[str], float]:
    """The table rows of one backend, and its largest ratio of a p50 to plain's."""
    with tempfile.TemporaryDirectory(
        prefix="s3server-bench-", dir=os.environ.get("BENCH_TMP") or None
    ) as tmp:
        base = Path(tmp)
        (base / "data").mkdir()
        with backend(name, base, postgres) as (args, store):
            print(f"{name}: filling {keys:,} keys per bucket ({how})", file=sys.stderr, flush=True)
            started = time.perf_counter()
            asyncio.run(fill_store(store, keys, how, 256 if name == "sqlite" else 32))
            print(f"{name}: filled in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            # opening a store of millions of rows may take the server a while
            with bench_server.running(base / "data", args, timeout=120) as server:
                latencies = asyncio.run(measure(server, keys, pages, warmup))
    lines = []
    worst = 0.0
    for case in cases(keys):
        plain = statistics.median(latencies[case, "plain"])
        for bucket in BUCKETS:
            values = latencies[case, bucket]
            p50, p99 = statistics.median(values), percentile(values, 0.99)
            lines.append(
                f"| {name} | {case} | {bucket} | {p50 * 1000:.2f} | {p99 * 1000:.2f} | {p50 / plain:.2f} |"
                f" {len(values)} |"
            )
            worst = max(worst, p50 / plain)
    return lines, worst


def run(backends: list[str], keys: int, pages: int, warmup: int, how: str, postgres: str | None) -> None:
    lines: list[str] = []
    worst: dict[str, float] = {}
    for name in backends:
        rows, worst[name] = run_backend(name, keys, pages, warmup, how, postgres)
        print("\n".join(rows), file=sys.stderr, flush=True)  # a later backend's failure keeps these
        lines += rows
    print(
        f"ListObjectsV2, max-keys {PAGE}: plain = {keys:,} keys; versioned = the same keys x {VERSIONS} "
        f"versions; markers = the same keys + {keys * (SPREAD - 1):,} delete markers between them\n"
    )
    print("| backend | page | bucket | p50 ms | p99 ms | p50 / plain | pages |")
    print("|---|---|---|---:|---:|---:|---:|")
    for line in lines:
        print(line)
    print()
    for name, ratio in worst.items():
        print(f"{name}: largest p50 / plain {ratio:.2f} ({'within' if ratio <= 1.2 else 'beyond'} 20 %)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench versions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--keys", type=int, default=100_000, help="live keys per bucket")
    parser.add_argument("--pages", type=int, default=200, help="pages measured per case and bucket")
    parser.add_argument("--warmup", type=int, default=10, help="rounds of pages before the measured ones")
    parser.add_argument(
        "--fill",
        choices=("bulk", "api"),
        default="bulk",
        help="bulk: load the final rows a chunk of keys per transaction (default); api: write every "
        "version and marker through put_object / delete_object (slow: millions of transactions)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="an empty PostgreSQL database to use (default: start a server of its own, as the postgres "
        "user when run as root, from the postgresql binaries)",
    )
    args = parser.parse_args(argv)
    run(args.backends.split(","), args.keys, args.pages, args.warmup, args.fill, args.postgres)


if __name__ == "__main__":
    main()
