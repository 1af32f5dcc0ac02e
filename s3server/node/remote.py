"""The BlobStore of a gateway whose bytes live on storage nodes (`--storage-nodes`).

Placement: a blob's replicas go to the first --replicas nodes of its rendezvous order (nodes known
to be down moved to the end), so every gateway given the same node list agrees without asking
anyone. The gateway keeps no index: the nodes do, and a read asks nodes in that same order until
one has the blob.

Write: one streaming PUT per replica node. The saga's write() calls arrive on executor threads;
each hands its piece to the event loop, which feeds a bounded queue per node that the request
body drains (so memory per upload is a couple of pieces per node, whatever the object's size), and
returns when every queue took it. The first few MiB are kept, so a node that fails early is
replaced by the next one in the hash order and fed from the start; a small blob therefore always
fails over. Past that a failing node is dropped, and the write still succeeds while a majority of
--replicas nodes hold it (the replica repair in cluster.py adds the missing copy). commit() ends
every body and waits for the nodes' answers, which come after each node fsync'd and indexed its
replica; each answer carries the node's block checksums, compared with the gateway's own.

Read: a range from the first node that has the blob; if that node fails mid-stream (it went away,
or found a corrupt block and cut the answer short) the rest comes from the next node, from the
byte where the first stopped. The client notices nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import Executor
from typing import Any, TypeVar

import aiohttp

from s3server.config import Settings
from s3server.node.client import UNREACHABLE, StorageNode, parse_nodes
from s3server.storage.base import BlobNotFound, BlobUnreadable, Opener, StorageError
from s3server.storage.drives import rendezvous
from s3server.storage.index import BlockHasher

log = logging.getLogger("s3server.nodes")

T = TypeVar("T")

QUEUE_PIECES = 2  # pieces waiting per replica stream
REPLAY_BYTES = 4 * 1024 * 1024  # kept so an early node failure moves to the next node
READ_PIECE = 256 * 1024
PROBE_INTERVAL = 2.0  # seconds between health probes of every node
PROBE_TIMEOUT = 2.0
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 60.0  # a node that sends nothing for this long is treated as gone
DELETE_BATCH = 1000
CONNECTIONS_PER_NODE = 128
_EOF = None


class _Stream:
    """One replica's PUT, its body fed from a bounded queue on the event loop."""

    def __init__(self, writer: RemoteWriter, node: StorageNode) -> None:
        self.node = node
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_PIECES)
        self.task = asyncio.ensure_future(self._send(writer.blob_id))

    async def _body(self) -> AsyncIterator[bytes]:
        while True:
            piece = await self.queue.get()
            if piece is _EOF:
                return
            yield piece

    async def _send(self, blob_id: str) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT)
        try:
            async with self.node.request(
                "PUT", f"/blobs/{blob_id}", data=self._body(), timeout=timeout
            ) as resp:
                value = await resp.json(content_type=None)
        except UNREACHABLE as exc:
            self.node.unreachable(exc)
            raise StorageError(f"{self.node.name}: {exc or type(exc).__name__}") from exc
        if resp.status != 200:
            raise StorageError(f"{self.node.name}: {resp.status} {value}")
        return value  # type: ignore[no-any-return]

    async def feed(self, pieces: Iterable[bytes | None]) -> bool:
        """Queue pieces in order; False when the request ended (failed) first."""
        for piece in pieces:
            if piece == b"":
                continue  # an empty chunk would end a chunked body early
            if self.task.done():
                return False
            put = asyncio.ensure_future(self.queue.put(piece))
            await asyncio.wait({put, self.task}, return_when=asyncio.FIRST_COMPLETED)
            if not put.done():
                put.cancel()
                return False
        return True

    def failure(self) -> str:
        if not self.task.done() or self.task.cancelled():
            return "stopped"
        exc = self.task.exception()
        return str(exc) if exc is not None else "no failure"


class RemoteWriter:
    """One blob being written to its replica nodes; see the module docstring."""

    def __init__(
        self,
        store: RemoteBlobStore,
        blob_id: str,
        candidates: list[StorageNode],
        replicas: int | None = None,
    ) -> None:
        """`replicas`: how many nodes to write (default --replicas; the repair copies one)."""
        self.blob_id = blob_id
        self.size = 0
        self._store = store
        self._replicas = replicas or store.replicas
        self._quorum = self._replicas // 2 + 1
        self._candidates = candidates  # the hash order, nodes known to be down last
        self._next = 0
        self._streams: list[_Stream] = []
        self._hasher = BlockHasher()
        self._replay: list[bytes | None] | None = []
        self._replay_bytes = 0
        self._whole: bytes | None = None
        self._sealed = False
        self._finished = False
        self.replicas: tuple[str, ...] = ()  # the nodes that acknowledged, after commit

    # -- the BlobWriter protocol (write, write_whole, seal: threads, or the loop for small blobs)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._finished or self._sealed:
            raise StorageError(f"blob {self.blob_id} is already sealed, committed or aborted")
        view = memoryview(data)
        self._hasher.update(view)
        self.size += len(view)
        self._store.blocking(self._push(bytes(view)))

    def write_whole(self, data: bytes | bytearray | memoryview) -> None:
        """A small blob, sent by commit() (this may run on the event loop, which must not wait)."""
        view = memoryview(data)
        self._hasher.update(view)
        self.size = len(view)
        self._whole = bytes(view)

    def seal(self) -> None:
        if self._finished:
            raise StorageError(f"blob {self.blob_id} is already committed or aborted")
        if self._whole is None and threading.get_ident() != self._store.loop_thread:
            self._store.blocking(self._push(_EOF))
            self._sealed = True

    async def commit(self, md5_hex: str | None = None) -> None:
        try:
            if self._finished:
                raise StorageError(f"blob {self.blob_id} is already committed or aborted")
            if self._whole is not None:
                await self._push(self._whole)
            if not self._sealed:
                await self._push(_EOF)
                self._sealed = True
            await self._answers(self._hasher.finish().hex())
        except BaseException:
            await self._abort()
            raise
        self._finished = True

    async def feed(self, data: bytes) -> None:
        """write() for a caller on the event loop (the replica repair streaming a copy)."""
        self._hasher.update(memoryview(data))
        self.size += len(data)
        await self._push(data)

    def abort(self) -> None:
        if threading.get_ident() == self._store.loop_thread:
            self._store.spawn(self._abort())
        else:
            self._store.blocking(self._abort())

    # -- on the event loop

    def _open_streams(self) -> list[_Stream]:
        opened = []
        while len(self._streams) + len(opened) < self._replicas and self._next < len(self._candidates):
            opened.append(_Stream(self, self._candidates[self._next]))
            self._next += 1
        return opened

    async def _push(self, piece: bytes | None) -> None:
        """Feed one piece (or the end) to every stream, replacing failed ones while the start is kept."""
        if self._replay is not None:
            self._replay.append(piece)
            self._replay_bytes += len(piece) if piece else 0
        if not self._streams:
            self._streams = self._open_streams()
            await self._settle(list(self._streams), list(self._replay or [piece]))
            return
        await self._settle(list(self._streams), [piece])
        if self._replay is not None and self._replay_bytes > REPLAY_BYTES:
            self._replay = None

    async def _settle(self, streams: list[_Stream], pieces: list[bytes | None]) -> None:
        oks = await asyncio.gather(*(s.feed(pieces) for s in streams))
        failed = [s for s, ok in zip(streams, oks, strict=True) if not ok]
        for stream in failed:
            self._drop(stream)
        while failed and self._replay is not None:
            fresh = self._open_streams()
            if not fresh:
                break
            self._streams += fresh
            oks = await asyncio.gather(*(s.feed(self._replay) for s in fresh))
            failed = [s for s, ok in zip(fresh, oks, strict=True) if not ok]
            for stream in failed:
                self._drop(stream)
        self._check_quorum(len(self._streams))

    def _drop(self, stream: _Stream) -> None:
        log.warning(
            "blob %s: dropping the replica on %s: %s", self.blob_id, stream.node.name, stream.failure()
        )
        stream.task.cancel()
        self._streams.remove(stream)

    def _check_quorum(self, have: int) -> None:
        if have < self._quorum:
            raise StorageError(
                f"blob {self.blob_id}: only {have} of {self._replicas} replica nodes could be written "
                f"(at least {self._quorum} needed)"
            )

    async def _answers(self, blocks: str) -> None:
        """Wait for every node's answer; replace failures while the whole blob is still kept."""
        good: list[_Stream] = []
        pending = list(self._streams)
        while pending:
            await asyncio.wait([s.task for s in pending])
            for stream in pending:
                value = None if stream.task.cancelled() or stream.task.exception() else stream.task.result()
                if value is not None and value.get("size") == self.size and value.get("blocks") == blocks:
                    good.append(stream)
                    continue
                if value is not None:  # durable there, but not the bytes we sent: remove it
                    log.error(
                        "blob %s: %s stored different bytes; removing that copy",
                        self.blob_id,
                        stream.node.name,
                    )
                    self._store.spawn(self._store.delete_on(stream.node, [self.blob_id]))
                else:
                    log.warning("blob %s: %s failed: %s", self.blob_id, stream.node.name, stream.failure())
                self._streams.remove(stream)
            pending = []
            if len(good) < self._replicas and self._replay is not None:
                pending = self._open_streams()
                self._streams += pending
                await asyncio.gather(*(s.feed(self._replay) for s in pending))
        self._check_quorum(len(good))
        self.replicas = tuple(s.node.name for s in good)

    async def _abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        written: list[StorageNode] = []
        for stream in self._streams:
            if stream.task.done() and not stream.task.cancelled() and stream.task.exception() is None:
                written.append(stream.node)
            else:
                stream.task.cancel()
        for stream in self._streams:
            with contextlib.suppress(BaseException):
                await stream.task
        self._streams = []
        # A node that answered already holds a durable copy: remove it (the reaper would, later).
        await asyncio.gather(
            *(self._store.delete_on(node, [self.blob_id]) for node in written), return_exceptions=True
        )


class RemoteBlobStore:
    """A BlobStore whose replicas live on storage nodes."""

    def __init__(
        self,
        nodes: list[tuple[str, str]],
        replicas: int,
        secret: str,
        executor: Executor | None = None,
    ) -> None:
        if not nodes:
            raise ValueError("at least one storage node is needed")
        if not secret:
            raise ValueError("--storage-nodes needs the cluster secret (S3SERVER_CLUSTER_SECRET)")
        replicas = replicas or min(3, len(nodes))
        if not 1 <= replicas <= len(nodes):
            raise ValueError(f"--replicas {replicas} needs between 1 and {len(nodes)} (the number of nodes)")
        self.nodes = [StorageNode(name, url, secret) for name, url in nodes]
        self.replicas = replicas
        self.write_quorum = replicas // 2 + 1
        self.drives: list[Any] = []  # no local drives (health and gauges look at nodes instead)
        self._executor = executor
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._prober: asyncio.Task[None] | None = None
        self.on_node_back: Callable[[StorageNode], None] | None = None

    # -- lifecycle and plumbing

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=CONNECTIONS_PER_NODE, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT),
            auto_decompress=False,
        )
        for node in self.nodes:
            node.session = self._session
        await self.probe_all()
        self._prober = asyncio.create_task(self._probe_forever(), name="node-prober")

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._session is not None:
            await self._session.close()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def blocking(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the event loop from a worker thread, and wait for it."""
        assert self._loop is not None
        if threading.get_ident() == self.loop_thread:
            raise RuntimeError("a blocking storage call on the event loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a coroutine in the background (closing waits for it)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def probe_all(self) -> list[dict[str, Any] | BaseException]:
        return await asyncio.gather(*(n.probe(PROBE_TIMEOUT) for n in self.nodes), return_exceptions=True)

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            down = {n.name for n in self.nodes if not n.state.up}
            await self.probe_all()
            for node in self.nodes:
                if node.name in down and node.state.up and self.on_node_back is not None:
                    self.on_node_back(node)

    # -- placement

    def ranked(self, blob_id: str) -> list[StorageNode]:
        """Every node in the blob's hash order, the ones known to be down moved last."""
        order = rendezvous(blob_id, self.nodes, lambda n: n.name)
        return [n for n in order if n.state.up] + [n for n in order if not n.state.up]

    def node(self, name: str) -> StorageNode:
        for node in self.nodes:
            if name in (node.name, node.url, node.state.node_id):
                return node
        raise KeyError(name)

    # -- the BlobStore protocol

    def new_writer(self) -> RemoteWriter:
        blob_id = uuid.uuid4().hex
        return RemoteWriter(self, blob_id, self.ranked(blob_id))

    async def read(
        self,
        blob_id: str,
        offset: int,
        length: int,
        nodes: list[StorageNode] | None = None,
        *,
        then: Opener | None = None,
    ) -> AsyncIterator[bytes]:
        """`nodes`: ask only these (default: every node, in the blob's hash order); `then` runs over
        each piece as it arrives."""
        pos, end = offset, offset + length
        problems: list[str] = []
        missing = 0
        asked = self.ranked(blob_id) if nodes is None else nodes
        for node in asked:
            try:
                async with node.request(
                    "GET", f"/blobs/{blob_id}", {"offset": pos, "length": end - pos}
                ) as resp:
                    if resp.status == 404:
                        missing += 1
                        continue
                    if resp.status != 200:
                        problems.append(f"{node.name}: {resp.status} {(await resp.text())[:200]}")
                        continue
                    async for piece in resp.content.iter_chunked(READ_PIECE):
                        pos += len(piece)
                        yield piece if then is None else then(memoryview(piece))
                    if pos >= end:
                        return
                    problems.append(f"{node.name}: the answer stopped at byte {pos - offset} of {length}")
            except UNREACHABLE as exc:
                node.unreachable(exc)
                problems.append(f"{node.name}: {exc or type(exc).__name__}")
            if pos > offset:
                log.warning("blob %s: %s; reading on from the next node", blob_id, problems[-1])
        if missing == len(asked):
            raise BlobNotFound(f"blob {blob_id} does not exist")
        raise BlobUnreadable(f"blob {blob_id}: no node could supply it ({'; '.join(problems)})")

    async def read_small(self, blob_id: str, offset: int, length: int) -> bytes:
        return b"".join([piece async for piece in self.read(blob_id, offset, length)])

    async def delete_on(self, node: StorageNode, blob_ids: list[str]) -> None:
        for i in range(0, len(blob_ids), DELETE_BATCH):
            await node.call("POST", "/delete", json={"ids": blob_ids[i : i + DELETE_BATCH]})

    async def delete_on_each(self, nodes: list[StorageNode], blob_id: str) -> None:
        await asyncio.gather(*(self.delete_on(n, [blob_id]) for n in nodes))

    async def delete(self, blob_ids: Iterable[str]) -> None:
        """Remove the blobs from every node (a node that is down keeps its copies until the reaper
        finds them unreferenced)."""
        ids = list(dict.fromkeys(blob_ids))
        if not ids:
            return
        results = await asyncio.gather(*(self.delete_on(n, ids) for n in self.nodes), return_exceptions=True)
        failed = [str(r) for r in results if isinstance(r, BaseException)]
        if failed:
            raise StorageError(f"{len(ids)} blob(s) not removed from every node yet: {'; '.join(failed)}")

    async def ping(self) -> None:
        """Enough nodes for a write quorum answer their health check."""
        results = await self.probe_all()
        up = sum(1 for r in results if not isinstance(r, BaseException))
        if up < self.write_quorum:
            raise StorageError(
                f"only {up} of {len(self.nodes)} storage nodes answer (need {self.write_quorum})"
            )

    def describe(self) -> list[dict[str, Any]]:
        """Each node's state, for the admin API, health and metrics."""
        return [
            {
                "name": n.name,
                "url": n.url,
                "node_id": n.state.node_id,
                "up": n.state.up,
                "since": n.state.since,
                "error": n.state.error,
                "unreachable_requests": n.state.failures,
            }
            for n in self.nodes
        ]


def build_remote_store(
    settings: Settings, executor: Executor | None = None, nodes: list[tuple[str, str]] | None = None
) -> RemoteBlobStore:
    """The blob store of a gateway on storage nodes (not opened yet): `nodes` as (name, URL) pairs,
    by default those of --storage-nodes."""
    if nodes is None:
        nodes = parse_nodes(settings.storage_nodes)
    return RemoteBlobStore(nodes, settings.replicas, settings.cluster_secret, executor)
