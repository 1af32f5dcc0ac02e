"""ListObjectsV2 page latency over buckets of 10,000 and 1,000,000 keys, on both metadata backends.

The buckets are filled directly through the MetadataStore API (many concurrent put_object calls; no
HTTP, no blobs: listing reads metadata only), then a fresh `s3server serve` answers the listings
over HTTP. Both buckets hold 1,000 "directories", so a delimiter listing of the root returns one full
page of 1,000 common prefixes from each; the big bucket just has 100 times more keys under each. A
listing whose cost grows with the bucket shows up as a larger p50 for the 1,000,000-key bucket.

    python -m bench listing [--backends sqlite,postgres] [--sizes 10000,1000000] [--pages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench import server as bench_server
from bench.client import Client
from bench.postgres import running_cluster
from bench.server import Server
from bench.timing import in_parallel, p50_p99_ms
from s3server.metadata.base import Bucket, ObjectRecord, Segment
from s3server.metadata.postgres import PostgresMetadataStore
from s3server.metadata.sqlite import SqliteMetadataStore

DIRECTORIES = 1000
WIDTH = 256  # put_object calls in flight while filling
_START_POINTS = random.Random(1)  # where flat listings start: anywhere in the bucket


def key_of(i: int, size: int) -> str:
    per_directory = size // DIRECTORIES
    return f"dir{i // per_directory:04d}/file{i % per_directory:06d}.dat"


async def fill(store: SqliteMetadataStore | PostgresMetadataStore, bucket: str, size: int) -> float:
    """Create `bucket` with `size` keys; returns the rate (keys/s)."""
    await store.create_bucket(Bucket(bucket, "root", "us-east-1", datetime.now(UTC)))
    now = datetime.now(UTC)

    async def put(i: int) -> None:
        record = ObjectRecord(
            bucket, key_of(i, size), 4096, "0" * 32, now, [Segment(f"bench-{bucket}-{i}", 4096)], owner="root"
        )
        await store.put_object(record)

    seconds, _ = await in_parallel(size, WIDTH, put, progress=bucket)
    return size / seconds


async def measure(client: Client, bucket: str, size: int, pages: int, delimiter: bool) -> list[float]:
    """Latencies (s) of `pages` ListObjectsV2 requests of up to 1,000 entries."""
    latencies: list[float] = []
    for _ in range(pages):
        params = {"list-type": "2", "max-keys": "1000", "encoding-type": "url"}
        if delimiter:
            params["delimiter"] = "/"
        else:  # a page starting anywhere in the bucket
            params["start-after"] = key_of(_START_POINTS.randrange(size - 1000), size)
        started = time.perf_counter()
        reply = await client.request("GET", bucket, params=params)
        latencies.append(time.perf_counter() - started)
        if reply.status != 200:
            raise RuntimeError(f"ListObjectsV2 {bucket}: {reply.status} {reply.body[:200]!r}")
        entries = reply.body.count(b"<Contents>") + reply.body.count(b"<CommonPrefixes>")
        if entries != 1000:
            raise RuntimeError(f"ListObjectsV2 {bucket} returned {entries} entries, not 1000")
    return latencies


@contextlib.contextmanager
def backend(name: str, base: Path) -> Iterator[tuple[list[str], SqliteMetadataStore | PostgresMetadataStore]]:
    """(server flags, an unopened store) for a backend, with its PostgreSQL server when needed."""
    if name == "sqlite":
        yield [], SqliteMetadataStore(base / "data" / "metadata.db")
        return
    with running_cluster() as cluster:
        url = cluster.create_database("listing")
        yield ["--metadata", url], PostgresMetadataStore(url)


async def fill_all(store: SqliteMetadataStore | PostgresMetadataStore, sizes: list[int]) -> None:
    await store.open()
    try:
        for size in sizes:
            rate = await fill(store, f"keys-{size}", size)
            print(f"  filled keys-{size}: {size:,} keys at {rate:,.0f}/s", flush=True)
    finally:
        await store.close()


async def measure_all(server: Server, sizes: list[int], pages: int) -> list[tuple[int, str, list[float]]]:
    """Every case, page by page in turn, so that background work in the database (autovacuum after
    the fill) or on the machine weighs on all of them alike."""
    cases = [(size, delimiter) for delimiter in (False, True) for size in sizes]
    latencies: dict[tuple[int, bool], list[float]] = {case: [] for case in cases}
    async with Client(server, connections=4) as client:
        for size, delimiter in cases:  # warm caches and query plans
            await measure(client, f"keys-{size}", size, 10, delimiter)
        for _ in range(pages):
            for size, delimiter in cases:
                latencies[size, delimiter] += await measure(client, f"keys-{size}", size, 1, delimiter)
    return [
        (size, "delimiter /" if delim else "no delimiter", latencies[size, delim]) for size, delim in cases
    ]


def run(backends: list[str], sizes: list[int], pages: int) -> None:
    lines = []
    for name in backends:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            base = Path(tmp)
            (base / "data").mkdir()
            with backend(name, base) as (args, store):
                print(f"{name}: filling {', '.join(f'{s:,}' for s in sizes)} keys", flush=True)
                asyncio.run(fill_all(store, sizes))
                with bench_server.running(base / "data", args) as server:
                    measured = asyncio.run(measure_all(server, sizes, pages))
            for size, kind, latencies in measured:
                p50, p99 = p50_p99_ms(latencies)
                lines.append(
                    f"{name:<9} {size:>10,} keys  {kind:<13} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
                    f"  ({len(latencies)} pages)"
                )
                print(lines[-1], flush=True)
    print("\nListObjectsV2, 1,000 entries per page:")
    for line in lines:
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--sizes", default="10000,1000000", help="bucket sizes (multiples of 1,000)")
    parser.add_argument("--pages", type=int, default=200, help="pages measured per case")
    args = parser.parse_args(argv)
    run(args.backends.split(","), [int(s) for s in args.sizes.split(",")], args.pages)


if __name__ == "__main__":
    main()
