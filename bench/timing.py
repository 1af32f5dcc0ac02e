"""How the single-server workloads time many concurrent calls, and read their latencies."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable


async def in_parallel(
    count: int, concurrency: int, op: Callable[[int], Awaitable[object]], progress: str = ""
) -> tuple[float, list[float]]:
    """op(0), …, op(count - 1) with `concurrency` calls in flight: (wall seconds, each call's seconds).
    With a `progress` label, a line on stderr every fifth of the way (for fills that take minutes)."""
    items = iter(range(count))
    latencies: list[float] = []
    step = max(1, count // 5)
    started = time.perf_counter()

    async def worker() -> None:
        for i in items:
            began = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - began)
            if progress and i and i % step == 0:
                rate = i / (time.perf_counter() - started)
                print(f"  {progress}: {i:,}/{count:,} at {rate:,.0f}/s", file=sys.stderr, flush=True)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of them lie (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def p50_p99_ms(latencies: list[float]) -> tuple[float, float]:
    """The median and the 99th percentile of latencies in seconds, in milliseconds."""
    return statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000
