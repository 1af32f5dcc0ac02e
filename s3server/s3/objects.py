"""Object operations: PutObject, GetObject, HeadObject, DeleteObject."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace

from s3server.access import acl, ownership
from s3server.metadata.base import NULL_VERSION, Bucket, DeleteResult, ObjectRecord, Segment, WriteCondition
from s3server.s3 import sse
from s3server.s3.bodies import payload_digests
from s3server.s3.buckets import require_bucket, require_object, writer_of
from s3server.s3.checksums import PayloadDigests, header_name
from s3server.s3.common import (
    DEFAULT_CONTENT_TYPE,
    new_version_id,
    now,
    object_headers,
    requested_version,
    stored_headers,
    user_metadata,
    validate_key,
)
from s3server.s3.conditions import check_preconditions, delete_condition, parse_range, write_condition
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error
from s3server.s3.lifecycle import expiration_headers
from s3server.s3.object_lock import WriteLock, lock_headers, wants_bypass, write_lock
from s3server.s3.tagging import parse_tagging_header
from s3server.s3.versioning import version_headers
from s3server.storage.base import BlobStore, BlobWriter, StorageError
from s3server.storage.encryption import read_plain, read_plain_small

MAX_PUT_SIZE = 5 * 1024**3
SMALL_READ = 256 * 1024  # at or below this, a GET reads the range in one thread hop
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
        "FSX_OPENZFS",
    }
)
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def storage_class(headers: Mapping[str, str]) -> str:
    value = headers.get("x-amz-storage-class", "STANDARD")
    if value not in STORAGE_CLASSES:
        raise S3Error("InvalidStorageClass", StorageClassRequested=value)
    return value


def require_length(req: S3Request, limit: int) -> None:
    """S3 needs the size up front (Content-Length, or the decoded length of an aws-chunked body)."""
    length = req.body.length
    if length is None:
        if "chunked" not in req.headers.get("Transfer-Encoding", "").lower():
            raise S3Error("MissingContentLength")
    elif length > limit:
        raise S3Error("EntityTooLarge", ProposedSize=str(length), MaxSizeAllowed=str(limit))


@dataclass(frozen=True, slots=True)
class ObjectAttributes:
    """What a write (PutObject's headers, PostObject's form fields) says about the object it makes."""

    content_type: str
    headers: dict[str, str]
    user_metadata: dict[str, str]
    tags: dict[str, str]
    storage_class: str
    acl: str

    @classmethod
    def parse(cls, headers: Mapping[str, str], tags: dict[str, str]) -> ObjectAttributes:
        """Validated up front, so a bad header fails before any byte is read."""
        return cls(
            content_type=headers.get("Content-Type") or DEFAULT_CONTENT_TYPE,
            headers=stored_headers(headers),
            user_metadata=user_metadata(headers),
            tags=tags,
            storage_class=storage_class(headers),
            acl=acl.from_headers(headers),
        )


async def write_object(
    req: S3Request,
    bucket: Bucket,
    key: str,
    attributes: ObjectAttributes,
    chunks: AsyncIterator[bytes],
    digests: PayloadDigests,
    condition: WriteCondition | None = None,
    lock: WriteLock | None = None,
    sealing: sse.Sealing | None = None,
) -> ObjectRecord:
    """Stream a new object's bytes through the saga and point `key` at them (PutObject, PostObject):
    a new version in a versioned bucket, with the lock it is written under and sealed as `sealing`
    says (None: in clear)."""
    stored_acl = ownership.admit_acl(bucket, attributes.acl)
    owner = writer_of(req, bucket, attributes.acl)
    version_id = new_version_id()
    lock = lock or WriteLock()

    def build(writer: BlobWriter) -> ObjectRecord:
        return ObjectRecord(
            bucket=bucket.name,
            key=key,
            size=writer.size,
            etag=digests.md5_hex if sealing is None else sealing.etag(digests.md5_hex),
            checksums=digests.checksums(),
            last_modified=now(),
            segments=[Segment(writer.blob_id, writer.size)],
            content_type=attributes.content_type,
            headers=attributes.headers,
            user_metadata=attributes.user_metadata,
            tags=attributes.tags,
            storage_class=attributes.storage_class,
            owner=owner,
            acl=stored_acl,
            version_id=version_id,
            lock_mode=lock.mode,
            lock_until=lock.until,
            legal_hold=lock.legal_hold,
            encryption=None if sealing is None else sealing.record,
        )

    data_key = None if sealing is None else sealing.data_key
    return await req.services.saga.put_object(chunks, digests, build, condition, data_key)


async def put_object(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    validate_key(req.key)
    require_length(req, MAX_PUT_SIZE)
    attributes = ObjectAttributes.parse(req.headers, parse_tagging_header(req.headers.get("x-amz-tagging")))
    attributes = replace(attributes, acl=await acl.requested(attributes.acl, req.services.identity))
    condition = write_condition(req.headers)
    bucket = await require_bucket(req)
    if condition is not None:
        # Fail before reading the body; the metadata store checks again, atomically, at commit.
        condition.check(await req.services.meta.get_object(req.bucket, req.key), req.key)
    lock = write_lock(req.headers, bucket)
    sealing = await sse.for_write(req, bucket)
    digests = payload_digests(req)
    record = await write_object(
        req, bucket, req.key, attributes, req.body.chunks(), digests, condition, lock, sealing
    )
    headers = {"ETag": f'"{record.etag}"'}
    if sealing is not None:
        headers.update(sse.headers_of(sealing.record, sealing.customer, context=True))
    headers.update(checksum_headers(record.checksums))
    headers.update(version_headers(bucket, record))
    headers.update(await expiration_headers(req, record))
    return S3Response(headers=headers)


def checksum_headers(checksums: dict[str, str]) -> dict[str, str]:
    """x-amz-checksum-<algorithm> and x-amz-checksum-type for a stored checksum."""
    out = {header_name(alg): value for alg, value in checksums.items() if alg != "type"}
    if out and "type" in checksums:
        out["x-amz-checksum-type"] = checksums["type"]
    return out


async def stream_segments(
    blobs: BlobStore, segments: list[Segment], start: int, length: int, data_key: bytes | None = None
) -> AsyncIterator[bytes]:
    """The bytes [start, start+length) of an object made of consecutive segments (opened with
    `data_key` when the object is encrypted)."""
    offset = 0
    remaining = length
    for seg in segments:
        if remaining <= 0:
            break
        seg_end = offset + seg.size
        if start < seg_end:
            inner = max(0, start - offset)
            take = min(seg.size - inner, remaining)
            if data_key is None:
                pieces = blobs.read(seg.blob_id, inner, take)
            else:
                pieces = read_plain(blobs, data_key, seg.blob_id, seg.size, inner, take)
            async for piece in pieces:
                yield piece
            remaining -= take
        offset = seg_end


def _part_span(req: S3Request, record: ObjectRecord) -> tuple[int, int] | None:
    """The bytes of part `?partNumber=N` (an object not uploaded in parts is one part)."""
    raw = req.query.get("partNumber")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise S3Error(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    if "Range" in req.headers:
        raise S3Error("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
    sizes = record.part_sizes or [record.size]
    number = int(raw)
    if number > len(sizes):
        raise S3Error("InvalidPartNumber", PartNumberRequested=raw, ActualPartCount=str(len(sizes)))
    if record.size == 0:
        return None
    start = sum(sizes[: number - 1])
    return start, start + sizes[number - 1] - 1


def _read_headers(req: S3Request, record: ObjectRecord) -> tuple[dict[str, str], tuple[int, int] | None]:
    part = _part_span(req, record)
    check_preconditions(req.headers, record.etag, record.last_modified)
    headers = object_headers(record)
    if record.encryption is not None:
        headers.update(sse.read_headers(req, record.encryption))
    if record.version_id != NULL_VERSION:
        headers["x-amz-version-id"] = record.version_id
    if record.lock_mode or record.legal_hold:
        headers.update(lock_headers(record))
    if req.query:  # most reads have no query: skip the overrides' lookups
        for param, header in RESPONSE_OVERRIDES.items():
            if param in req.query:
                headers[header] = req.query[param]
    if part is not None or "partNumber" in req.query:
        if record.parts_count:
            headers["x-amz-mp-parts-count"] = str(record.parts_count)
        return headers, part
    rng = parse_range(req.headers.get("Range"), record.size)
    # A checksum describes the whole object, so a range answer carries none (as on AWS).
    if rng is None and req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers.update(checksum_headers(record.checksums))
    return headers, rng


async def get_object(req: S3Request) -> S3Response:
    blobs = req.services.blobs
    sse.refuse_on_read(req)
    for attempt in (1, 2):
        record = await require_object(req)
        data_key = await sse.data_key(req, record.encryption)
        headers, rng = _read_headers(req, record)
        headers.update(await expiration_headers(req, record))
        start, end = rng if rng is not None else (0, record.size - 1)
        length = end - start + 1 if record.size else 0
        status = 206 if rng is not None else 200
        if rng is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{record.size}"
        if length == 0:
            return S3Response(status=status, headers=headers, body=b"")
        try:
            if length <= SMALL_READ and len(record.segments) == 1:
                seg = record.segments[0]
                if data_key is None:
                    data = await blobs.read_small(seg.blob_id, start, length)
                else:
                    data = await read_plain_small(blobs, data_key, seg.blob_id, seg.size, start, length)
                return S3Response(status=status, headers=headers, body=data)
            stream = stream_segments(blobs, record.segments, start, length, data_key)
            # Open the first piece before answering, so a missing blob is still an error response.
            first = await anext(stream)
        except StorageError:
            if attempt == 1:
                continue  # the key may have been overwritten between lookup and read; look again
            raise
        return S3Response(status=status, headers=headers, body=_prepend(first, stream), length=length)
    raise AssertionError("unreachable")


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for piece in rest:
        yield piece


async def head_object(req: S3Request) -> S3Response:
    sse.refuse_on_read(req)
    record = await require_object(req)
    await sse.data_key(req, record.encryption, managed=False)  # SSE-C: HEAD needs the key too
    headers, rng = _read_headers(req, record)
    headers.update(await expiration_headers(req, record))
    if rng is not None:
        start, end = rng
        headers["Content-Range"] = f"bytes {start}-{end}/{record.size}"
        return S3Response(status=206, headers=headers, length=end - start + 1)
    return S3Response(headers=headers, length=record.size)


async def delete_object(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    version_id = requested_version(req.query)
    await require_bucket(req)
    condition = delete_condition(
        req.headers.get("If-Match"),
        req.headers.get("x-amz-if-match-last-modified-time"),
        req.headers.get("x-amz-if-match-size"),
    )
    bypass = await wants_bypass(req)
    done = await req.services.saga.delete_object(
        req.bucket,
        req.key,
        version_id,
        marker_id=new_version_id(),
        bypass_governance=bypass,
        condition=condition,
    )
    return S3Response(status=204, headers=deletion_headers(done))


def deletion_headers(done: DeleteResult) -> dict[str, str]:
    """x-amz-version-id and x-amz-delete-marker of a DeleteObject answer."""
    headers: dict[str, str] = {}
    if done.version_id is not None:
        headers["x-amz-version-id"] = done.version_id
    if done.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return headers


HANDLERS = {
    "PutObject": put_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "DeleteObject": delete_object,
}
