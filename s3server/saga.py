"""Put and delete orchestration: storage first, metadata second, compensation when metadata fails.

PUT: stream bytes to a new blob (hashing on a worker thread), verify the client's digests, make the
blob durable, commit metadata; only then delete the blob the key pointed at before. If the metadata
commit fails the new blob is deleted and the client gets 503. DELETE: metadata first, then bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor
from typing import Protocol

from s3server.metadata.base import MetadataError, MetadataStore, ObjectRecord
from s3server.s3.errors import S3Error
from s3server.storage.base import BlobStore, BlobWriter, StorageError

log = logging.getLogger("s3server.saga")

FLUSH_BYTES = 1024 * 1024  # hand bytes to the worker thread in pieces of about this size


class DigestSink(Protocol):
    """Hashes fed alongside the blob's bytes; verify() raises the S3 error for a mismatch."""

    size: int

    def update(self, data: bytes | bytearray | memoryview) -> None: ...

    def verify(self) -> None: ...


def _absorb(writer: BlobWriter, sink: DigestSink, data: bytes | bytearray) -> None:
    sink.update(data)
    writer.write(data)


def _finish(writer: BlobWriter, sink: DigestSink, data: bytes | bytearray) -> None:
    if data:
        _absorb(writer, sink, data)
    sink.verify()
    writer.commit()


class Saga:
    """The one place that sequences storage and metadata writes."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore, executor: Executor | None = None) -> None:
        self.meta = meta
        self.blobs = blobs
        self._executor = executor

    async def _run(self, fn: Callable[..., None], *args: object) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write_blob(self, chunks: AsyncIterator[bytes], sink: DigestSink) -> BlobWriter:
        """Stream a body into a new durable blob; on any failure nothing is left behind.

        The next piece is received while the worker hashes and writes the previous one.
        """
        writer = self.blobs.new_writer()
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[None] | None = None
        buf = bytearray()
        try:
            async for chunk in chunks:
                buf += chunk
                if len(buf) >= FLUSH_BYTES:
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(self._executor, _absorb, writer, sink, buf)
                    buf = bytearray()
            if pending is not None:
                await pending
                pending = None
            await self._run(_finish, writer, sink, buf)
        except BaseException:
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await pending
            await self._run(writer.abort)
            raise
        return writer

    async def put_object(
        self,
        chunks: AsyncIterator[bytes],
        sink: DigestSink,
        build: Callable[[BlobWriter], ObjectRecord],
    ) -> ObjectRecord:
        """Write the bytes, then point the key at them; `build` makes the record once digests are known."""
        try:
            writer = await self.write_blob(chunks, sink)
        except StorageError as exc:
            log.error("storage write failed: %s", exc)
            raise S3Error("ServiceUnavailable", "Storage is unavailable, please retry") from exc
        record = build(writer)
        await self.commit_record(record, new_blobs=[writer.blob_id])
        return record

    async def commit_record(self, record: ObjectRecord, new_blobs: Iterable[str]) -> ObjectRecord | None:
        """Commit metadata for blobs already durable; on failure delete them (compensation)."""
        try:
            replaced = await self.meta.put_object(record)
        except BaseException as exc:
            await self._discard(new_blobs)
            if isinstance(exc, MetadataError):
                log.error("metadata commit failed, new bytes deleted: %s", exc)
                raise S3Error("ServiceUnavailable", "Metadata is unavailable, please retry") from exc
            raise
        if replaced is not None:
            keep = {seg.blob_id for seg in record.segments}
            await self._discard(seg.blob_id for seg in replaced.segments if seg.blob_id not in keep)
        return replaced

    async def delete_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """Metadata first, then bytes; a failed byte removal is left for the reaper."""
        try:
            removed = await self.meta.delete_object(bucket, key)
        except MetadataError as exc:
            raise S3Error("ServiceUnavailable", "Metadata is unavailable, please retry") from exc
        if removed is not None:
            await self._discard(seg.blob_id for seg in removed.segments)
        return removed

    async def _discard(self, blob_ids: Iterable[str]) -> None:
        ids = list(blob_ids)
        if not ids:
            return
        try:
            await asyncio.shield(self.blobs.delete(ids))
        except Exception as exc:  # the reaper removes unreferenced blobs later
            log.warning("could not delete blobs %s now: %s", ids, exc)
