"""One lifecycle pass over a bucket of 1,000,000 keys of which 1 % match a rule, with the process's peak RSS.

The bucket is filled in-process through the MetadataStore API (many concurrent put_object calls; the
records name no blobs, so the pass measures the metadata walk and the deletes' transactions, not
disk I/O for bytes). Then one `LifecycleWorker` pass runs in this process, exactly as the server's
periodic pass does (the lease, the saved cursor, each removal through the saga's DeleteObject).

Two rule shapes:
- `size` (default): a rule over the whole bucket, `ObjectSizeGreaterThan`, that 1 key in 100 (spread
  evenly through the key space) exceeds: the pass reads all the keys.
- `prefix`: the 1 % live under `logs/`, the rule's prefix: the pass reads only those.

Peak RSS is the kernel's VmHWM, reset (`/proc/self/clear_refs`) just before the pass, so the fill does
not count; it includes the SQLite pages the pass touched through mmap.

    python -m bench lifecycle [--keys 1000000] [--match size|prefix] [--backend sqlite|postgres]
        [--metadata postgresql://…]

`--backend postgres` runs the pass on PostgreSQL: in the fresh database `--metadata` names, or else in
a throw-away server of its own (`bench.postgres`). The peak RSS is this process's; the PostgreSQL
server's memory is its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.postgres import running_cluster
from s3server.config import Settings
from s3server.lifecycle import LifecycleWorker
from s3server.metadata.base import Bucket, MetadataStore, ObjectRecord
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.metadata.sqlite import SqliteMetadataStore
from s3server.pgdb import PgDatabase
from s3server.saga import Saga
from s3server.storage import build_blob_store

BUCKET = "lifecycle-bench"
WIDTH = 256  # put_object calls in flight while filling
EVERY = 100  # one key in EVERY matches the rule
SMALL, LARGE = 4096, 8192
PG_TIMEOUT = 600  # seconds: the fill's writers queue for the pool's connections far longer than a request


def key_and_size(i: int, match: str) -> tuple[str, int]:
    matched = i % EVERY == 0
    if match == "prefix":
        return (f"logs/{i:08d}" if matched else f"data/{i:08d}"), SMALL
    return f"objects/{i:08d}", LARGE if matched else SMALL


def rule_for(match: str) -> str:
    """The bucket's configuration, as the store keeps it."""
    flt = {"Prefix": "logs/"} if match == "prefix" else {"ObjectSizeGreaterThan": SMALL}
    rule = {"ID": "bench", "Status": "Enabled", "Filter": flt, "Expiration": {"Days": 1}}
    return json.dumps({"Rules": [rule]})


async def fill(store: MetadataStore, keys: int, match: str) -> float:
    """The bucket with `keys` keys written an hour ago; returns the rate (keys/s)."""
    await store.create_bucket(Bucket(BUCKET, "root", "us-east-1", datetime.now(UTC)))
    written = datetime.now(UTC) - timedelta(hours=1)
    numbers = iter(range(keys))
    started = time.perf_counter()

    async def writer() -> None:
        for i in numbers:
            key, size = key_and_size(i, match)
            await store.put_object(ObjectRecord(BUCKET, key, size, "0" * 32, written, [], owner="root"))
            if i and i % 100_000 == 0:
                print(f"  {i:,} keys, {i / (time.perf_counter() - started):,.0f}/s", flush=True)

    await asyncio.gather(*(writer() for _ in range(WIDTH)))
    await store.set_bucket_lifecycle(BUCKET, rule_for(match))
    return keys / (time.perf_counter() - started)


def _status(field: str) -> int:
    """A VmHWM / VmRSS line of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


async def measure(store: MetadataStore, data: Path, keys: int, match: str) -> None:
    await store.open()
    settings = Settings(data_dir=str(data))
    blobs = build_blob_store(settings)
    await blobs.open()
    try:
        rate = await fill(store, keys, match)
        print(f"filled {keys:,} keys at {rate:,.0f}/s", flush=True)
        worker = LifecycleWorker(Saga(store, blobs), store, interval=3600, day_seconds=1)
        before = _status("VmRSS")
        _reset_peak()
        started = time.perf_counter()
        report = await worker.tick()
        seconds = time.perf_counter() - started
        peak = _status("VmHWM")
        assert report is not None, "the pass did not run"
        left = await store.bucket_stats(BUCKET)
        assert report.expired == keys // EVERY, report
        print(
            f"one pass ({match} rule): {keys:,} keys, {report.expired:,} expired in {seconds:.2f}s "
            f"({keys / seconds:,.0f} keys/s scanned); RSS before {before / 1024:.0f} MiB, "
            f"peak during the pass {peak / 1024:.0f} MiB; objects left {left[0] if left else '?':,}",
            flush=True,
        )
    finally:
        await blobs.close()
        await store.close()


@contextlib.contextmanager
def store_for(backend: str, metadata: str, base: Path) -> Iterator[MetadataStore]:
    """An unopened store: SQLite in `base`, or PostgreSQL at `metadata` or in a server of its own."""
    if backend == "sqlite" and not metadata:
        yield SqliteMetadataStore(base / "metadata.db")
    elif metadata:
        yield PostgresMetadataStore(PgDatabase(metadata, timeout=PG_TIMEOUT))
    else:
        with running_cluster() as cluster:
            yield PostgresMetadataStore(PgDatabase(cluster.create_database("lifecycle"), timeout=PG_TIMEOUT))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench lifecycle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--match", choices=("size", "prefix"), default="size")
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the metadata backend (postgres: a throw-away PostgreSQL server unless --metadata names one)",
    )
    parser.add_argument(
        "--metadata", default="", help="a fresh PostgreSQL database's URL (implies --backend postgres)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        with store_for(args.backend, args.metadata, data) as store:
            print(f"backend: {'postgres' if args.metadata or args.backend == 'postgres' else 'sqlite'}")
            asyncio.run(measure(store, data, args.keys, args.match))
