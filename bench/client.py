"""The benchmarks' S3 client: SigV4-signed requests (bench.sign) over keep-alive HTTP/1.1 connections
(bench.http11), light enough to leave a server on the same machine most of the CPU.

- `S3`: where to connect and how to sign.
- `Slot`: one persistent connection carrying one request at a time; the load generator gives each of
  its concurrent loops a slot of its own.
- `Client`: a pool of slots for workloads that await calls from many tasks (`async with`), with the
  few operations they need: CreateBucket, PutObject, GetObject, and any other request by method,
  path and query. Statuses are the caller's to judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from urllib.parse import urlsplit

from bench.http11 import KIB, Connection, Response
from bench.server import Server
from bench.sign import EMPTY_SHA256, UNSIGNED_PAYLOAD, Signer, canonical_query, payload_sha256, uri_encode


class S3:
    """Where to connect and how to sign; `Slot`s send the requests."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1") -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the bench client speaks plain http only: {endpoint}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.signer = Signer(access_key, secret_key, parts.netloc, region)

    async def connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _transport, conn = await loop.create_connection(Connection, self.host, self.port)
        return conn

    def request_head(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: str = "",
        payload_hash: str = UNSIGNED_PAYLOAD,
        content_length: int | None = None,
    ) -> bytes:
        path = f"/{bucket}/{uri_encode(key, keep_slash=True)}" if key else f"/{bucket}"
        target = f"{path}?{query}" if query else path
        length = "" if content_length is None else f"Content-Length: {content_length}\r\n"
        auth = self.signer.headers(method, path, query, payload_hash)
        return f"{method} {target} HTTP/1.1\r\n{auth}{length}\r\n".encode()


class Slot:
    """One concurrency slot: its own persistent connection, reopened only after the peer closes it."""

    def __init__(self, s3: S3, signed_payload: bool = False) -> None:
        self.s3 = s3
        self.signed_payload = signed_payload
        self.conn: Connection | None = None

    async def open(self) -> Connection:
        if self.conn is None or self.conn.closed:
            self.conn = await self.s3.connect()
        return self.conn

    def reset(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    async def call(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: str = "",
        body: bytes | None = None,
        sink: Callable[[bytes], object] | None = None,
    ) -> Response:
        conn = await self.open()
        if self.signed_payload:
            payload_hash = payload_sha256(body) if body else EMPTY_SHA256
        else:
            payload_hash = UNSIGNED_PAYLOAD
        length = len(body) if body is not None else (0 if method in ("PUT", "POST") else None)
        head = self.s3.request_head(method, bucket, key, query, payload_hash, length)
        if body and len(body) <= 64 * KIB:
            waiter = conn.send(head + body, head_only=method == "HEAD", sink=sink)
        else:
            waiter = conn.send(head, head_only=method == "HEAD", sink=sink)
            if body:
                assert conn.transport is not None
                conn.transport.write(body)
        response = await waiter
        if not response.keep_alive:
            self.reset()
        return response

    async def stream_put(self, bucket: str, key: str, size: int, block: bytes) -> Response:
        """PUT `size` bytes made of `block` repeated, never holding more than the socket buffers."""
        conn = await self.open()
        waiter = conn.expect()
        assert conn.transport is not None
        conn.transport.write(self.s3.request_head("PUT", bucket, key, "", UNSIGNED_PAYLOAD, size))
        sent = 0
        view = memoryview(block)
        while sent < size and not waiter.done():
            piece = block if size - sent >= len(block) else bytes(view[: size - sent])
            conn.transport.write(piece)
            sent += len(piece)
            await conn.drain()
        response = await waiter
        if sent < size or not response.keep_alive:
            self.reset()  # answered before the body was complete: the connection is out of step
        return response


class Client:
    """Up to `connections` requests in flight against one server, each on an idle slot of the pool.

    A request that fails or outlives `timeout` seconds takes its connection with it (the connection
    is out of step with its responses), so a hung server fails the benchmark instead of stalling it.
    """

    def __init__(self, server: Server, *, connections: int = 64, timeout: float = 600) -> None:
        self.s3 = S3(server.endpoint, server.access_key, server.secret_key)
        self.timeout = timeout
        self._free = asyncio.Semaphore(connections)
        self._idle: list[Slot] = []
        self._slots: list[Slot] = []

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for slot in self._slots:
            slot.reset()

    async def request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        params: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """One request; `params` become the (canonical, signed) query string."""
        async with self._free:
            slot = self._idle.pop() if self._idle else self._new_slot()
            try:
                async with asyncio.timeout(self.timeout):
                    response = await slot.call(method, bucket, key, canonical_query(params), body)
            except BaseException:
                slot.reset()
                raise
            finally:
                self._idle.append(slot)
        return response

    def _new_slot(self) -> Slot:
        slot = Slot(self.s3)
        self._slots.append(slot)
        return slot

    async def create_bucket(self, bucket: str) -> None:
        response = await self.request("PUT", bucket)
        if response.status != 200:
            raise RuntimeError(f"CreateBucket {bucket}: {response.status} {response.body[:200]!r}")

    async def put(self, bucket: str, key: str, body: bytes) -> Response:
        return await self.request("PUT", bucket, key, body=body)

    async def get(self, bucket: str, key: str) -> Response:
        return await self.request("GET", bucket, key)
