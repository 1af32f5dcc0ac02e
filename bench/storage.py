"""PUT and GET throughput for small (4 KiB) and large (64 MiB) objects, replicas 1 and 3, side by side.

Each configuration gets a fresh `s3server serve` (one worker) with three drive directories on the same
disk, so the numbers differ only in the replica count. The client is bench.client (asyncio, HTTP/1.1,
SigV4 with UNSIGNED-PAYLOAD), light enough to leave the server most of the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench import server as bench_server
from bench.client import Client
from bench.server import Server
from bench.timing import in_parallel, p50_p99_ms


@dataclass
class Result:
    label: str
    ops: int
    seconds: float
    latencies: list[float]
    nbytes: int

    def line(self) -> str:
        p50, p99 = p50_p99_ms(self.latencies)
        rate = self.ops / self.seconds
        mbs = self.nbytes / self.seconds / 1e6
        return f"{self.label:<28} {rate:9.0f} op/s {mbs:9.1f} MB/s   p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"


async def _timed_many(
    label: str, count: int, concurrency: int, size: int, op: Callable[[int], Awaitable[object]]
) -> Result:
    seconds, latencies = await in_parallel(count, concurrency, op)
    return Result(label, count, seconds, latencies, count * size)


async def run_config(server: Server, label: str, small_count: int, large_count: int) -> list[Result]:
    async with Client(server, connections=64, timeout=600) as client:
        await client.create_bucket("bench")
        small = os.urandom(4096)

        async def put(key: str, body: bytes) -> None:
            reply = await client.put("bench", key, body)
            if reply.status != 200:
                raise RuntimeError(f"PUT {key}: {reply.status} {reply.body[:200]!r}")

        async def get(key: str, size: int) -> bytes:
            reply = await client.get("bench", key)
            if reply.status != 200 or len(reply.body) != size:
                raise RuntimeError(f"GET {key}: {reply.status} {reply.body[:200]!r}")
            return reply.body

        results = [
            await _timed_many(f"{label} PUT 4KiB c=1", 200, 1, len(small), lambda i: put(f"seq/{i}", small)),
            await _timed_many(
                f"{label} PUT 4KiB c=32", small_count, 32, len(small), lambda i: put(f"small/{i}", small)
            ),
            await _timed_many(
                f"{label} GET 4KiB c=32", small_count, 32, len(small), lambda i: get(f"small/{i}", 4096)
            ),
        ]
        large = os.urandom(64 * 1024 * 1024)
        results.append(
            await _timed_many(
                f"{label} PUT 64MiB c=1", large_count, 1, len(large), lambda i: put(f"large/{i}", large)
            )
        )
        if hashlib.md5(await get("large/0", len(large))).hexdigest() != hashlib.md5(large).hexdigest():
            raise RuntimeError("64 MiB object read back wrong")
        results.append(
            await _timed_many(
                f"{label} GET 64MiB c=1", large_count, 1, len(large), lambda i: get(f"large/{i}", len(large))
            )
        )
        return results


def run(replicas: list[int], small_count: int, large_count: int) -> None:
    all_results: list[Result] = []
    for count in replicas:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            base = Path(tmp)
            args: list[str] = []
            for i in range(3):
                args += ["--drive", str(base / f"drive{i}")]
            args += ["--replicas", str(count)]
            with bench_server.running(base / "data", args) as server:
                label = f"replicas={count}"
                all_results += asyncio.run(run_config(server, label, small_count, large_count))
    for result in all_results:
        print(result.line())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", default="1,3", help="comma-separated replica counts to compare")
    parser.add_argument("--small", type=int, default=2000, help="number of 4 KiB objects")
    parser.add_argument("--large", type=int, default=3, help="number of 64 MiB objects")
    args = parser.parse_args(argv)
    run([int(r) for r in args.replicas.split(",")], args.small, args.large)


if __name__ == "__main__":
    main()
