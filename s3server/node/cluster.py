"""Housekeeping across storage nodes, run by gateways: the reaper and the replica repair.

Only a gateway can run them, because only the metadata says which blobs are referenced.

- `ClusterReaper` lists every node's replicas older than --reaper-grace, asks the metadata which
  are referenced, and deletes the rest on that node: blobs whose PUT failed after some node had it,
  deletions a node missed while it was down. It refuses, like the embedded reaper, when most of
  what it sees looks unreferenced (the wrong metadata database, more likely than not).
- `ReplicaRepair` lists every node's replicas and brings each referenced blob back to --replicas
  copies: a missing copy is streamed from a node that has one (verified block by block there) to
  the next node in the blob's hash order; a blob with more copies than that (a node came back after
  its copies were replaced elsewhere) loses the ones lowest in its hash order. With `verify` every
  node first checks all its replicas against their checksums, and a replica with no good copy on
  its node is replaced from another node. It runs periodically, when a node comes back, and on
  demand (POST /_admin/scrub).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from s3server.metadata.base import MetadataStore
from s3server.node.client import StorageNode
from s3server.node.remote import RemoteBlobStore, RemoteWriter
from s3server.reaper import MIN_INTERVAL, PAGE, SUSPICIOUS_FRACTION, SUSPICIOUS_MINIMUM
from s3server.storage.base import StorageError

log = logging.getLogger("s3server.cluster")

LIST_PAGE = 5000
COPIES_AT_ONCE = 4
SCRUB_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=3, sock_read=None)


async def listing(node: StorageNode, before: float | None = None) -> AsyncIterator[list[list[Any]]]:
    """Pages of [blob id, size, created] of the node's committed replicas, in id order."""
    after = ""
    while True:
        params: dict[str, Any] = {"after": after, "limit": LIST_PAGE}
        if before is not None:
            params["before"] = repr(before)
        rows = (await node.call("GET", "/blobs", params))["blobs"]
        if rows:
            yield rows
        if len(rows) < LIST_PAGE:
            return
        after = rows[-1][0]


async def referenced(meta: MetadataStore, blob_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(blob_ids), PAGE):
        found |= await meta.referenced_blobs(blob_ids[i : i + PAGE])
    return found


@dataclass
class ReapReport:
    unreferenced: int = 0
    nodes: list[str] = field(default_factory=list)  # the nodes that were reaped
    skipped: list[str] = field(default_factory=list)  # down, or refused
    temp_files: int = 0
    deletes_finished: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ClusterReaper:
    """Removes unreferenced replicas from every node; see the module docstring."""

    name = "cluster reaper"

    def __init__(self, store: RemoteBlobStore, meta: MetadataStore, grace: float, interval: float) -> None:
        self.store = store
        self.meta = meta
        self.grace = max(0.0, grace)
        self.interval = max(MIN_INTERVAL, interval)
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return True

    async def reap_once(self, walk: bool | None = None) -> ReapReport:
        """One pass over every node that is up (`walk` is accepted for the admin API; listing a
        node already covers every replica it holds)."""
        async with self._lock:
            report = ReapReport()
            cutoff = time.time() - self.grace
            for node in self.store.nodes:
                try:
                    await self._reap_node(node, cutoff, report)
                    done = await node.call("POST", "/housekeeping")
                    report.temp_files += done["temp_files"]
                    report.deletes_finished += done["deletes_finished"]
                    report.nodes.append(node.name)
                except StorageError as exc:
                    log.warning("cluster reaper: %s", exc)
                    report.skipped.append(node.name)
            if report.unreferenced or report.skipped:
                log.info("cluster reaper: %s", report.as_dict())
            return report

    async def _reap_node(self, node: StorageNode, cutoff: float, report: ReapReport) -> None:
        orphans: list[str] = []
        checked = 0
        async for rows in listing(node, before=cutoff):
            ids = [r[0] for r in rows]
            known = await referenced(self.meta, ids)
            orphans += [b for b in ids if b not in known]
            checked += len(ids)
            if checked >= SUSPICIOUS_MINIMUM and len(orphans) > SUSPICIOUS_FRACTION * checked:
                raise StorageError(
                    f"{len(orphans)} of the first {checked} blobs on {node.name} look unreferenced; is this "
                    "the right metadata store? Deleting nothing there."
                )
        if orphans:
            await self.store.delete_on(node, orphans)
            report.unreferenced += len(orphans)


@dataclass
class RepairReport:
    blobs: int = 0  # distinct blobs seen on the nodes that are up
    copied: int = 0  # replicas written
    trimmed: int = 0  # surplus replicas removed
    corrupt: int = 0  # replicas a node found with no good copy of some block (with verify)
    under_replicated: int = 0  # referenced blobs still short of --replicas after the pass
    lost: list[str] = field(default_factory=list)  # referenced blobs no node that is up has
    nodes_down: list[str] = field(default_factory=list)
    verified: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReplicaRepair:
    """Keeps --replicas verified copies of every referenced blob; see the module docstring."""

    name = "replica repair"

    def __init__(self, store: RemoteBlobStore, meta: MetadataStore, interval: float) -> None:
        self.store = store
        self.meta = meta
        self.interval = max(MIN_INTERVAL, interval)
        self._lock = asyncio.Lock()
        self._kicked: asyncio.Task[Any] | None = None

    @property
    def enabled(self) -> bool:
        return True

    def kick(self, _node: StorageNode | None = None) -> None:
        """Run a pass soon (a node came back); one at a time."""
        if self._kicked is None or self._kicked.done():
            self._kicked = asyncio.ensure_future(self._quietly())

    async def _quietly(self) -> None:
        try:
            await self.reap_once()
        except Exception:
            log.exception("replica repair failed")

    async def stop(self) -> None:
        if self._kicked is not None:
            self._kicked.cancel()
            await asyncio.gather(self._kicked, return_exceptions=True)

    async def reap_once(self, verify: bool = False) -> RepairReport:
        async with self._lock:
            return await self._pass(verify)

    async def _pass(self, verify: bool) -> RepairReport:
        store = self.store
        report = RepairReport(verified=verify)
        await store.probe_all()
        up = [n for n in store.nodes if n.state.up]
        report.nodes_down = [n.name for n in store.nodes if not n.state.up]
        holders: dict[str, list[StorageNode]] = {}
        sizes: dict[str, int] = {}
        for node in up:
            async for rows in listing(node):
                for blob_id, size, _created in rows:
                    holders.setdefault(blob_id, []).append(node)
                    sizes[blob_id] = size
        bad: dict[str, list[StorageNode]] = {}
        if verify:
            for node in up:
                answer = await node.call("POST", "/scrub", timeout=SCRUB_TIMEOUT)
                for blob_id in answer["unrecoverable"]:
                    bad.setdefault(blob_id, []).append(node)
                    if node in holders.get(blob_id, []):
                        holders[blob_id].remove(node)
                    report.corrupt += 1
        report.blobs = len(holders)
        wanted = store.replicas
        suspects = [b for b, nodes in holders.items() if len(nodes) != wanted] + [
            b for b in bad if b not in holders or len(holders[b]) == wanted
        ]
        live = await referenced(self.meta, suspects)
        slots = asyncio.Semaphore(COPIES_AT_ONCE)

        async def settle(blob_id: str) -> None:
            async with slots:
                await self._settle(
                    blob_id, sizes.get(blob_id), holders.get(blob_id, []), bad.get(blob_id, []), report
                )

        await asyncio.gather(*(settle(b) for b in dict.fromkeys(suspects) if b in live))
        if report.copied or report.trimmed or report.lost or report.under_replicated or report.corrupt:
            log.info("replica repair: %s", {k: v for k, v in report.as_dict().items() if k != "lost"})
        return report

    async def _settle(
        self,
        blob_id: str,
        size: int | None,
        have: list[StorageNode],
        bad: list[StorageNode],
        report: RepairReport,
    ) -> None:
        store = self.store
        order = store.ranked(blob_id)
        if len(have) > store.replicas:
            surplus = [n for n in order if n in have][store.replicas :]
            await store.delete_on_each(surplus, blob_id)
            report.trimmed += len(surplus)
            return
        if not have or size is None:
            log.error("blob %s is referenced but no storage node that is up has a good copy", blob_id)
            report.lost.append(blob_id)
            return
        for node in bad:
            await store.delete_on_each([node], blob_id)  # its copy is beyond repair: replace it
        targets = [n for n in order if n.state.up and n not in have][: store.replicas - len(have)]
        for target in targets:
            if await self._copy(blob_id, size, have, target):
                report.copied += 1
                have = [*have, target]
        if len(have) < store.replicas:
            report.under_replicated += 1

    async def _copy(self, blob_id: str, size: int, sources: list[StorageNode], target: StorageNode) -> bool:
        """Stream a verified copy from one of `sources` to `target`."""
        writer = RemoteWriter(self.store, blob_id, [target], replicas=1)
        try:
            async for piece in self.store.read(blob_id, 0, size, nodes=sources):
                await writer.feed(piece)
            await writer.commit()
        except StorageError as exc:
            log.warning("blob %s: could not copy it to %s: %s", blob_id, target.name, exc)
            return False
        log.info("blob %s: copied to %s", blob_id, target.name)
        return True


async def storage_report(store: RemoteBlobStore) -> dict[str, Any]:
    """GET /_admin/storage with storage nodes: each node's state and what it holds."""
    nodes = store.describe()
    sizes: dict[str, int] = {}  # every distinct blob on the nodes that are up
    for entry, node in zip(nodes, store.nodes, strict=True):
        if not node.state.up:
            continue
        count = size = 0
        try:
            async for rows in listing(node):
                count += len(rows)
                size += sum(r[1] for r in rows)
                sizes.update((r[0], r[1]) for r in rows)
        except StorageError as exc:
            entry["error"] = str(exc)
            continue
        entry.update(blobs=count, bytes=size)
    return {
        "replicas": store.replicas,
        "write_quorum": store.write_quorum,
        "nodes": nodes,
        "drives": [],
        "blobs": len(sizes),  # as for local drives: blobs, and bytes of one replica each
        "bytes": sum(sizes.values()),
    }


class NodeGauges:
    """A Metrics refresher and source pair: whether each storage node is up, and how many requests
    could not reach it."""

    def __init__(self, store: RemoteBlobStore) -> None:
        self.store = store

    async def refresh(self) -> None:
        """Node state is kept current by the prober and by every request; nothing to read."""

    def collect(self) -> Iterable[Metric]:
        labels = ["node", "url"]
        up = GaugeMetricFamily("s3_storage_node_up", "1 while the storage node answers", labels=labels)
        failures = CounterMetricFamily(
            "s3_storage_node_unreachable_requests",
            "Requests to the storage node that could not reach it",
            labels=labels,
        )
        for node in self.store.nodes:
            up.add_metric([node.name, node.url], 1 if node.state.up else 0)
            failures.add_metric([node.name, node.url], node.state.failures)
        yield from (up, failures)
