"""`s3server storage-node`: one machine's drives served to gateways over signed HTTP/1.1.

The node is the embedded replicated store (storage/replicated.py) behind a small HTTP API: its own
drives, its own SQLite storage index of the replicas it holds with their block checksums, its own
group flush. Every request must be signed with the cluster secret (signing.py); anything else gets
403 before a byte of its body is read.

    GET    /health                 drives, free space, blob totals (503 when a drive cannot be written)
    PUT    /blobs/{id}             a new replica, streamed; answered after it is fsync'd and indexed,
                                   with its size and block checksums (the gateway compares them)
    GET    /blobs/{id}?offset&length   a range, every block verified before it is sent
    POST   /delete                 {"ids": [...]}: remove replicas (missing ones are no error)
    GET    /blobs?after&limit&before   committed replicas in id order (reaper and repair)
    POST   /scrub                  verify every replica here; report the ones with no good copy
    POST   /housekeeping           temporary files and unfinished deletes older than the grace period

A corrupt block is never sent: before the first byte the answer is 503, after it the connection is
cut short of its Content-Length, and the gateway reads the rest from another node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from s3server.config import Settings
from s3server.node.signing import Verifier
from s3server.reaper import Reaper
from s3server.runner import serve_until_signalled
from s3server.storage import INDEX_FILE, drive_paths
from s3server.storage.base import BlobNotFound, BlobUnreadable, StorageError
from s3server.storage.drives import is_blob_id
from s3server.storage.replicated import ReplicatedBlobStore
from s3server.storage.scrub import scrub

log = logging.getLogger("s3server.node")

IO_THREADS = 32
PIECE = 1024 * 1024  # body bytes handed to a writer thread at a time
INLINE_BYTES = 64 * 1024  # a body this small is written on the event loop (see saga.INLINE_BYTES)
LIST_LIMIT = 5000
MAX_JSON = 16 * 1024 * 1024
STORE_KEY = web.AppKey("store", ReplicatedBlobStore)
NODE_ID_KEY = web.AppKey("node_id", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def signed_only(verifier: Verifier) -> Any:
    """Middleware: refuse (403) anything not signed with the cluster secret, or signed too long ago."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = verifier.check(request.method, request.raw_path, request.headers)
        if refused is not None:
            log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote, refused)
            return _error(403, refused)
        try:
            return await handler(request)
        except StorageError as exc:
            log.error("%s %s: %s", request.method, request.path, exc)
            return _error(503, str(exc))

    return middleware


def _blob_id(request: web.Request) -> str:
    blob_id = request.match_info["blob_id"]
    if not is_blob_id(blob_id):
        raise web.HTTPBadRequest(text="not a blob id")
    return blob_id


def _int(request: web.Request, name: str, default: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise web.HTTPBadRequest(text=f"{name} is required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None


async def health(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    drives = [{"id": d.drive_id, "path": str(d.path), "online": d.online} for d in store.drives]
    answer: dict[str, Any] = {"node_id": request.app[NODE_ID_KEY], "drives": drives}
    try:
        await store.ping()
    except StorageError as exc:
        answer.update(status="fail", error=str(exc))
        return web.json_response(answer, status=503)
    answer["status"] = "ok"
    return web.json_response(answer)


async def put_blob(request: web.Request) -> web.Response:
    """Receive the next piece while a thread writes the previous one; answer once durable."""
    store = request.app[STORE_KEY]
    blob_id = _blob_id(request)
    if await store.index.get(blob_id) is not None:
        return _error(409, f"blob {blob_id} exists here already")
    writer = store.new_writer(blob_id)
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[None] | None = None
    buf = bytearray()
    written = False
    try:
        async for chunk in request.content.iter_any():
            buf += chunk
            if len(buf) >= PIECE:
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(None, writer.write, buf)
                written = True
                buf = bytearray()
        if pending is not None:
            await pending
            pending = None
        if not written and len(buf) <= INLINE_BYTES:
            writer.write_whole(buf)
            writer.seal()
        else:
            await store.run(writer.write, buf)
            await store.run(writer.seal)
        await writer.commit(None)
    except BaseException:
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending
        await store.run(writer.abort)
        raise
    return web.json_response({"size": writer.size, "blocks": writer.blocks.hex()})


async def get_blob(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    blob_id = _blob_id(request)
    offset, length = _int(request, "offset", 0), _int(request, "length")
    try:
        info = await store.info(blob_id)
        if offset < 0 or length < 0 or offset + length > info.size:
            return _error(416, f"blob {blob_id} has {info.size} bytes, not {offset}+{length}")
        if length <= INLINE_BYTES:
            data = await store.read_small(blob_id, offset, length)
            return web.Response(body=data, headers={"x-blob-size": str(info.size)})
        pieces = store.read(blob_id, offset, length)
        first = await anext(pieces)  # a bad first block is still an error answer
    except BlobNotFound:
        return _error(404, f"no blob {blob_id} here")
    except BlobUnreadable as exc:
        return _error(503, str(exc))
    response = web.StreamResponse(headers={"x-blob-size": str(info.size)})
    response.content_length = length
    await response.prepare(request)
    try:
        await response.write(first)
        async for piece in pieces:
            await response.write(piece)
    except StorageError as exc:
        # Mid-stream: the only honest thing left is to cut the connection short of Content-Length.
        log.error("blob %s: %s; cutting the answer short", blob_id, exc)
        if request.transport is not None:
            request.transport.close()
    finally:
        await pieces.aclose()
    return response


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_JSON)
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(value, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return value


async def delete_blobs(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    ids = [b for b in (await _json(request)).get("ids", []) if isinstance(b, str) and is_blob_id(b)]
    await store.delete(ids)
    return web.json_response({"deleted": len(ids)})


async def list_blobs(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    after = request.query.get("after", "")
    limit = min(LIST_LIMIT, max(1, _int(request, "limit", LIST_LIMIT)))
    before = request.query.get("before")
    rows = await store.index.page(after, limit, created_before=float(before) if before else None)
    return web.json_response({"blobs": [[r.blob_id, r.size, r.created] for r in rows]})


async def scrub_node(request: web.Request) -> web.Response:
    """Verify every replica here against its checksums (repairing from this node's other drives
    where it has several); the blobs with no good copy here are for the gateway to copy back."""
    store = request.app[STORE_KEY]
    summary = await scrub(store, repair=True)
    return web.json_response(
        {
            "summary": summary.line(),
            "checked": summary.checked,
            "unrecoverable": [v.blob_id for v in summary.damaged_blobs if v.status == "unrecoverable"],
        }
    )


class NodeHousekeeping:
    """The node's share of the reaper: crash leftovers and deletes that could not finish. Which
    blobs are unreferenced only the metadata knows, so gateways decide that (cluster.py)."""

    name = "node housekeeping"

    def __init__(self, store: ReplicatedBlobStore, grace: float, interval: float) -> None:
        self.store = store
        self.grace = grace
        self.interval = max(1.0, interval)

    @property
    def enabled(self) -> bool:
        return True

    async def reap_once(self) -> dict[str, int]:
        temp = await self.store.run(self.store.clean_temp, time.time() - self.grace)
        finished = await self.store.finish_deletes()
        if temp or finished:
            log.info("housekeeping: %d temporary file(s) removed, %d delete(s) finished", temp, finished)
        return {"temp_files": temp, "deletes_finished": finished}


def default_node_id(settings: Settings) -> str:
    return settings.node_id or f"{socket.gethostname()}:{settings.node_port}"


def build_node_app(settings: Settings) -> web.Application:
    """The storage node's application; the store opens on startup and closes after requests drain."""
    verifier = Verifier(settings.cluster_secret)
    app = web.Application(middlewares=[signed_only(verifier)], client_max_size=MAX_JSON)
    app[NODE_ID_KEY] = default_node_id(settings)
    housekeeping: list[NodeHousekeeping] = []

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="s3node")
        asyncio.get_running_loop().set_default_executor(executor)
        paths = drive_paths(settings)
        store = ReplicatedBlobStore(settings.data_path / INDEX_FILE, paths, settings.replicas or 1, executor)
        await store.open()
        app[STORE_KEY] = store
        housekeeping.append(NodeHousekeeping(store, settings.reaper_grace, settings.reaper_interval))
        reaper = Reaper(housekeeping)
        reaper.start()
        yield
        await reaper.stop()
        await store.close()

    async def run_housekeeping(request: web.Request) -> web.Response:
        return web.json_response(await housekeeping[0].reap_once())

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/health", health)
    app.router.add_put("/blobs/{blob_id}", put_blob)
    app.router.add_get("/blobs/{blob_id}", get_blob)
    app.router.add_get("/blobs", list_blobs)
    app.router.add_post("/delete", delete_blobs)
    app.router.add_post("/scrub", scrub_node)
    app.router.add_post("/housekeeping", run_housekeeping)
    return app


def serve_node(settings: Settings) -> int:
    """Run a storage node until SIGTERM/SIGINT."""
    try:
        app = build_node_app(settings)
    except ValueError as exc:
        print(f"s3server: {exc}", file=sys.stderr)
        return 2
    settings.data_path.mkdir(parents=True, exist_ok=True)
    print(
        f"s3server storage node {app[NODE_ID_KEY]} on http://{settings.address}:{settings.node_port}; "
        f"drives: {', '.join(str(p) for p in drive_paths(settings))}",
        flush=True,
    )
    asyncio.run(
        serve_until_signalled(
            app,
            host=settings.address,
            port=settings.node_port,
            shutdown_timeout=settings.shutdown_timeout,
        )
    )
    return 0
