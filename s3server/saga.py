"""Put and delete orchestration: storage first, metadata second, compensation when metadata fails.

PUT: stream bytes to a new blob (hashing on a worker thread), verify the client's digests, make the
blob durable, commit metadata; only then delete the blob the key pointed at before. If the metadata
commit fails (or its write condition does not hold) the new blob is deleted. DELETE: metadata first,
then bytes. Multipart uploads follow the same order: a part's blob is written before its row commits,
and completing or aborting an upload commits metadata before any part blob is deleted.

Failures leave as the layers below raise them (MetadataError, StorageError, the metadata's domain
errors, whatever the digest sink raises); the gateway answers them (`s3.errors.from_domain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor
from datetime import datetime
from typing import Protocol

from s3server.metadata.base import (
    NULL_VERSION,
    Completion,
    DeleteCondition,
    DeleteResult,
    MetadataError,
    MetadataStore,
    ObjectRecord,
    Part,
    WriteCondition,
)
from s3server.metadata.errors import NoSuchUploadError
from s3server.storage.base import BlobStore, BlobWriter, StorageError
from s3server.storage.encryption import EncryptingWriter

log = logging.getLogger("s3server.saga")

FLUSH_BYTES = 1024 * 1024  # hand bytes to the worker thread in pieces of about this size
# A body this small is hashed and written on the event loop: a few system calls cost less than the
# two thread hops they would otherwise take.
INLINE_BYTES = 64 * 1024


class DigestSink(Protocol):
    """Hashes fed alongside the blob's bytes; verify() raises the error for a mismatch."""

    size: int

    @property
    def md5_hex(self) -> str:
        """The MD5 of everything fed so far (the storage index keeps it beside the block checksums)."""

    def update(self, data: bytes | bytearray | memoryview) -> None: ...

    def verify(self) -> None: ...


def _absorb(writer: BlobWriter, sink: DigestSink, data: bytes | bytearray) -> None:
    sink.update(data)
    writer.write(data)


def _finish(writer: BlobWriter, sink: DigestSink, data: bytes | bytearray, whole: bool = False) -> None:
    """The last piece, then verify and seal; `whole`: the piece is the entire (small) blob."""
    if whole:
        sink.update(data)
        writer.write_whole(data)
    elif data:
        _absorb(writer, sink, data)
    sink.verify()
    writer.seal()


class Saga:
    """The one place that sequences storage and metadata writes."""

    def __init__(self, meta: MetadataStore, blobs: BlobStore, executor: Executor | None = None) -> None:
        self.meta = meta
        self.blobs = blobs
        self._executor = executor

    async def _run(self, fn: Callable[..., None], *args: object) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write_blob(
        self, chunks: AsyncIterator[bytes], sink: DigestSink, data_key: bytes | None = None
    ) -> BlobWriter:
        """Stream a body into a new durable blob; on any failure nothing is left behind. With a
        `data_key` the blob holds the body sealed (storage.encryption); the sink sees the plaintext.

        The next piece is received while the worker hashes and writes the previous one; durability
        comes from the storage's group flush (writer.commit), shared with concurrent writers.
        """
        writer: BlobWriter = self.blobs.new_writer()
        if data_key is not None:
            writer = EncryptingWriter(writer, data_key)
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
            elif len(buf) <= INLINE_BYTES:
                _finish(writer, sink, buf, whole=True)
            else:
                await self._run(_finish, writer, sink, buf)
            await writer.commit(sink.md5_hex)
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
        condition: WriteCondition | None = None,
        data_key: bytes | None = None,
    ) -> ObjectRecord:
        """Write the bytes, then point the key at them; `build` makes the record once digests are known."""
        writer = await self._write_new_blob(chunks, sink, data_key)
        record = build(writer)
        await self.commit_record(record, new_blobs=[writer.blob_id], condition=condition)
        return record

    async def commit_record(
        self, record: ObjectRecord, new_blobs: Iterable[str], condition: WriteCondition | None = None
    ) -> ObjectRecord | None:
        """Commit metadata for blobs already durable; on failure delete them (compensation)."""
        new = list(new_blobs)
        try:
            replaced = await self.meta.put_object(record, condition)
        except BaseException as exc:
            await self._discard(new)
            if isinstance(exc, MetadataError):
                log.error("metadata commit failed: %s", exc)
            raise
        if replaced is not None:
            await self._discard(_freed(replaced, record))
        return replaced

    async def upload_part(
        self,
        chunks: AsyncIterator[bytes],
        sink: DigestSink,
        bucket: str,
        key: str,
        upload_id: str,
        build: Callable[[BlobWriter], Part],
        data_key: bytes | None = None,
    ) -> Part:
        """Write a part's bytes to a new blob, then record the part; the part it replaced (same
        number) loses its blob only after the new row committed."""
        writer = await self._write_new_blob(chunks, sink, data_key)
        return await self.commit_part(bucket, key, upload_id, build(writer))

    async def commit_part(self, bucket: str, key: str, upload_id: str, part: Part) -> Part:
        """Record a part whose blob is already durable; on failure (upload gone, metadata down)
        the blob is deleted."""
        try:
            replaced = await self.meta.put_part(bucket, key, upload_id, part)
        except BaseException as exc:
            await self._discard([part.blob_id])
            if isinstance(exc, MetadataError):
                log.error("metadata commit failed: %s", exc)
            raise
        if replaced is not None and replaced.blob_id != part.blob_id:
            await self._discard([replaced.blob_id])
        return part

    async def complete_upload(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        record: ObjectRecord,
        condition: WriteCondition | None = None,
    ) -> Completion:
        """Point the key at the part blobs (no bytes move) in one metadata transaction; then delete
        the blobs of parts left out and of the object replaced. A failure deletes nothing."""
        try:
            done = await self.meta.complete_upload(bucket, key, upload_id, record, condition)
        except MetadataError as exc:
            log.error("metadata commit failed: %s", exc)
            raise
        await self._discard(done.unused_blobs)
        if done.replaced is not None:
            await self._discard(_freed(done.replaced, record))
        return done

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Metadata first (the upload and its parts vanish together), then the part blobs."""
        try:
            blobs = await self.meta.abort_upload(bucket, key, upload_id)
        except MetadataError as exc:
            log.error("metadata commit failed: %s", exc)
            raise
        await self._discard(blobs)

    async def delete_bucket(self, name: str) -> None:
        """Remove an empty bucket; the parts of uploads that went with it lose their blobs after."""
        try:
            blobs = await self.meta.delete_bucket(name)
        except MetadataError as exc:
            log.error("metadata commit failed: %s", exc)
            raise
        await self._discard(blobs or [])

    async def reap_uploads(self, initiated_before: datetime, batch: int = 100) -> int:
        """Abort every upload initiated before the given time; returns how many were aborted."""
        aborted = 0
        while True:
            stale = await self.meta.stale_uploads(initiated_before, limit=batch)
            for upload in stale:
                try:
                    await self.abort_upload(upload.bucket, upload.key, upload.upload_id)
                except NoSuchUploadError:  # completed or aborted meanwhile: nothing to do
                    pass
                else:
                    aborted += 1
            if len(stale) < batch:
                return aborted

    async def _write_new_blob(
        self, chunks: AsyncIterator[bytes], sink: DigestSink, data_key: bytes | None
    ) -> BlobWriter:
        try:
            return await self.write_blob(chunks, sink, data_key)
        except StorageError as exc:
            log.error("storage write failed: %s", exc)
            raise

    async def delete_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        *,
        marker_id: str = NULL_VERSION,
        bypass_governance: bool = False,
        condition: DeleteCondition | None = None,
    ) -> DeleteResult:
        """Metadata first (a version removed, or a delete marker written), then the bytes of whatever
        version was removed; a failed byte removal is left for the reaper. `condition` is checked
        by the metadata store in the deleting transaction."""
        done = await self.meta.delete_object(
            bucket,
            key,
            version_id,
            marker_id=marker_id,
            bypass_governance=bypass_governance,
            condition=condition,
        )
        if done.removed is not None:
            await self._discard(seg.blob_id for seg in done.removed.segments)
        return done

    async def discard(self, blob_ids: Iterable[str]) -> None:
        """Delete blobs no metadata points at any more (best effort: the reaper finishes the job)."""
        await self._discard(blob_ids)

    async def _discard(self, blob_ids: Iterable[str]) -> None:
        ids = list(blob_ids)
        if not ids:
            return
        try:
            await asyncio.shield(self.blobs.delete(ids))
        except Exception as exc:  # the reaper removes unreferenced blobs later
            log.warning("could not delete blobs %s now: %s", ids, exc)


def _freed(replaced: ObjectRecord, record: ObjectRecord) -> list[str]:
    """Blobs of a replaced record that the record replacing it does not use."""
    keep = {seg.blob_id for seg in record.segments}
    return [seg.blob_id for seg in replaced.segments if seg.blob_id not in keep]
