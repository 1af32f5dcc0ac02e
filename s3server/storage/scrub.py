"""`s3server scrub`: read every replica of every blob in the storage index, verify each block, rewrite
damaged replicas from good copies, and top blobs up to --replicas copies.

It works on the data dir and drives of a stopped or a running server alike: repairs are written to a
temporary file and renamed over the bad replica, which is what a running server's background repair
does too, and the index is SQLite in WAL mode, shared safely between processes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tqdm import tqdm

from s3server.config import Settings
from s3server.storage import build_blob_store
from s3server.storage.replicated import ReplicatedBlobStore, Verdict

log = logging.getLogger("s3server.scrub")

PAGE = 256
CHECKS_AT_ONCE = 4


@dataclass
class ScrubSummary:
    checked: int = 0
    bytes: int = 0
    ok: int = 0
    repaired: int = 0
    degraded: int = 0  # every block has a good copy, but fewer replicas than wanted could be kept
    unrecoverable: int = 0
    damaged_blobs: list[Verdict] = field(default_factory=list)

    def add(self, verdict: Verdict, size: int) -> None:
        self.checked += 1
        self.bytes += size
        if verdict.status == "ok":
            self.ok += 1
        elif verdict.status == "repaired":
            self.repaired += 1
        elif verdict.status == "degraded":
            self.degraded += 1
        else:
            self.unrecoverable += 1
        if verdict.status != "ok":
            self.damaged_blobs.append(verdict)

    def line(self) -> str:
        return (
            f"{self.checked} blobs checked ({self.bytes / 1e6:.1f} MB): {self.ok} ok, "
            f"{self.repaired} repaired, {self.degraded} degraded, {self.unrecoverable} unrecoverable"
        )


async def scrub(
    store: ReplicatedBlobStore,
    *,
    repair: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ScrubSummary:
    """Check (and repair) every committed blob; `progress(blobs, bytes)` is called after each one."""
    summary = ScrubSummary()
    slots = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def one(info) -> None:  # type: ignore[no-untyped-def]
        async with slots:
            verdict = await store.run(store.check_blob, info, repair)
        summary.add(verdict, info.size)
        if verdict.status != "ok":
            log.debug("blob %s: %s (%s)", info.blob_id, verdict.status, "; ".join(verdict.problems))
        if progress is not None:
            progress(1, info.size)

    after = ""
    while True:
        rows = await store.index.page(after, PAGE)
        if not rows:
            break
        after = rows[-1].blob_id
        await asyncio.gather(*(one(info) for info in rows))
    return summary


async def _run(settings: Settings, repair: bool, show_progress: bool) -> ScrubSummary:
    executor = ThreadPoolExecutor(max_workers=CHECKS_AT_ONCE * 2, thread_name_prefix="scrub")
    store = build_blob_store(settings, executor)
    await store.open()
    try:
        count, size = await store.index.totals()
        with tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc="scrub",
            disable=not show_progress,
            file=sys.stderr,
            postfix={"blobs": f"0/{count}"},
        ) as bar:
            done = 0

            def progress(blobs: int, nbytes: int) -> None:
                nonlocal done
                done += blobs
                bar.set_postfix(blobs=f"{done}/{count}", refresh=False)
                bar.update(nbytes)

            return await scrub(store, repair=repair, progress=progress)
    finally:
        await store.close()
        executor.shutdown(wait=True)


def run_scrub(settings: Settings, *, repair: bool = True, show_progress: bool | None = None) -> int:
    """The CLI entry: scrub, print the summary; exit status 1 when some blob is unrecoverable."""
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    summary = asyncio.run(_run(settings, repair, show_progress))
    for verdict in summary.damaged_blobs:
        print(f"  {verdict.status}: blob {verdict.blob_id}: {'; '.join(verdict.problems)}")
    print(f"scrub: {summary.line()}", flush=True)
    return 1 if summary.unrecoverable else 0
