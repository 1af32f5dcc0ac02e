"""4 KiB PUT and GET operations per second with 1 and 2 worker processes, on both metadata backends.

Each configuration gets a fresh `s3server serve --workers N` (PostgreSQL: a fresh durable server,
fsync on, as in production). The client is bench.client (asyncio, HTTP/1.1,
UNSIGNED-PAYLOAD SigV4), 32 requests in flight; it runs on the same machine, so it competes with
the server for the CPU: compare the rows with each other rather than with other machines.

    python -m bench ops [--backends sqlite,postgres] [--workers 1,2] [--count 5000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from bench import server as bench_server
from bench.client import Client
from bench.postgres import running_cluster
from bench.server import Server
from bench.timing import in_parallel, p50_p99_ms

SIZE = 4096


async def timed(
    count: int, concurrency: int, op: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """(ops/s, latencies) of `count` calls of op(i) with `concurrency` in flight."""
    seconds, latencies = await in_parallel(count, concurrency, op)
    return count / seconds, latencies


async def put_get(server: Server, count: int, concurrency: int) -> dict[str, tuple[float, list[float]]]:
    body = os.urandom(SIZE)
    async with Client(server, connections=concurrency) as client:
        await client.create_bucket("ops")

        async def put(i: int) -> None:
            reply = await client.put("ops", f"obj/{i:08d}", body)
            if reply.status != 200:
                raise RuntimeError(f"PUT: {reply.status} {reply.body[:200]!r}")

        order = list(range(count))
        random.Random(1).shuffle(order)

        async def get(i: int) -> None:
            reply = await client.get("ops", f"obj/{order[i]:08d}")
            if reply.status != 200 or len(reply.body) != SIZE:
                raise RuntimeError(f"GET: {reply.status}")

        await timed(min(200, count), concurrency, lambda i: put(count + i))  # warm up connections
        return {"PUT": await timed(count, concurrency, put), "GET": await timed(count, concurrency, get)}


@contextlib.contextmanager
def metadata_args(name: str) -> Iterator[list[str]]:
    if name == "sqlite":
        yield []
        return
    with running_cluster(durable=True) as cluster:
        yield ["--metadata", cluster.create_database("ops")]


def run(backends: list[str], workers: list[int], count: int, concurrency: int) -> None:
    lines = []
    for name in backends:
        for n in workers:
            with (
                tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp,
                metadata_args(name) as args,
                bench_server.running(Path(tmp) / "data", args, workers=n) as server,
            ):
                results = asyncio.run(put_get(server, count, concurrency))
            for op, (rate, latencies) in results.items():
                p50, p99 = p50_p99_ms(latencies)
                lines.append(
                    f"{name:<9} workers={n}  {op} 4KiB c={concurrency}  {rate:8.0f} ops/s"
                    f"  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                )
                print(lines[-1], flush=True)
    print(f"\n4 KiB objects, {count} of each operation:")
    for line in lines:
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--count", type=int, default=5000, help="PUTs (and GETs) per configuration")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    run(args.backends.split(","), [int(w) for w in args.workers.split(",")], args.count, args.concurrency)


if __name__ == "__main__":
    main()
