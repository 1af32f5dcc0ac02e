"""CopyObject (within and across buckets) and the copy-source pieces UploadPartCopy shares.

A copy streams the source's bytes through the saga into a new blob, exactly like a PutObject body,
instead of pointing the new record at the source's blobs: blob deletion in the saga is not
reference-counted (replacing or deleting a key deletes its blobs), so shared blobs could vanish
under the copy. The cost is the copy's I/O; the gain is that no object ever depends on another.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from s3server.access import acl, ownership
from s3server.metadata.base import NULL_VERSION, ObjectRecord, Segment
from s3server.s3 import sse, xml
from s3server.s3.buckets import XML_HEADERS, require_bucket, writer_of
from s3server.s3.checksums import ALGORITHMS, ChecksumRequest, PayloadDigests
from s3server.s3.common import (
    DEFAULT_CONTENT_TYPE,
    new_version_id,
    now,
    stored_headers,
    user_metadata,
    valid_version_id,
    validate_key,
)
from s3server.s3.conditions import check_preconditions, write_condition
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error
from s3server.s3.lifecycle import expiration_headers
from s3server.s3.object_lock import write_lock
from s3server.s3.objects import storage_class, stream_segments
from s3server.s3.tagging import parse_tagging_header
from s3server.s3.versioning import version_headers
from s3server.storage.base import BlobStore, BlobWriter, StorageError

MAX_COPY_SIZE = 5 * 1024**3
COPY_SOURCE_PREFIX = "x-amz-copy-source-"
_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")
_RANGE_SYNTAX = (
    "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are "
    "the zero-based offsets of the first and last bytes to copy"
)
_SELF_COPY = (
    "This copy request is illegal because it is trying to copy an object to itself without changing "
    "the object's metadata, storage class, website redirect location or encryption attributes."
)
# Headers that make copying an object onto itself a legitimate change (besides REPLACE).
_SELF_COPY_CHANGES = (
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-customer-algorithm",
)


class CopySourceGone(Exception):
    """The source's bytes vanished while being read (the key was overwritten or deleted)."""


@dataclass(slots=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None
    record: ObjectRecord


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """x-amz-copy-source: `[/]bucket/key[?versionId=…]`, the key URL-encoded (and `+` a space, as AWS
    reads it)."""
    raw = value.strip()
    path, _, query = raw.partition("?")
    version_id = None
    if query:
        for pair in query.split("&"):
            name, _, val = pair.partition("=")
            if name == "versionId":
                version_id = unquote_plus(val)
    path = path.removeprefix("/")
    bucket, slash, key = path.partition("/")
    try:
        bucket = unquote_plus(bucket, errors="strict")
        key = unquote_plus(key, errors="strict")
    except UnicodeDecodeError as exc:
        raise S3Error(
            "InvalidArgument",
            "Invalid copy source encoding",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        ) from exc
    if not slash or not bucket or not key:
        raise S3Error(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    return bucket, key, version_id


async def load_copy_source(req: S3Request) -> CopySource:
    """The source object of a copy, its x-amz-copy-source-if-* conditions checked (412 only)."""
    bucket, key, version_id = parse_copy_source(req.headers.get("x-amz-copy-source", ""))
    if req.authorize is not None:
        await req.authorize("s3:GetObject", bucket, key)  # reading the source is a GetObject
    if version_id == "":
        valid_version_id(version_id, "x-amz-copy-source")  # the empty id is InvalidArgument
    meta = req.services.meta
    record = await meta.get_object(bucket, key, version_id)
    if record is None:
        if await meta.get_bucket(bucket) is None:
            raise S3Error("NoSuchBucket", BucketName=bucket)
        if version_id is not None:
            raise S3Error("NoSuchVersion", Key=key, VersionId=version_id)
        raise S3Error("NoSuchKey", Key=key)
    if record.delete_marker:
        raise S3Error(
            "InvalidRequest",
            "The source of a copy request may not specifically refer to a delete marker by version id.",
        )
    check_preconditions(req.headers, record.etag, record.last_modified, prefix=COPY_SOURCE_PREFIX, read=False)
    return CopySource(bucket=bucket, key=key, version_id=version_id, record=record)


def source_version_headers(source: CopySource) -> dict[str, str]:
    """x-amz-copy-source-version-id, when the source is a version of a versioned key."""
    if source.version_id is None and source.record.version_id == NULL_VERSION:
        return {}
    return {"x-amz-copy-source-version-id": source.record.version_id}


def copy_range(req: S3Request, size: int) -> tuple[int, int]:
    """(start, length) of x-amz-copy-source-range (UploadPartCopy), or the whole source."""
    value = req.headers.get("x-amz-copy-source-range")
    if value is None:
        return 0, size
    match = _RANGE.match(value.strip())
    if match is None:
        raise S3Error(
            "InvalidArgument", _RANGE_SYNTAX, ArgumentName="x-amz-copy-source-range", ArgumentValue=value
        )
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise S3Error(
            "InvalidArgument",
            f"Range specified is not valid for source object of size: {size}",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=value,
        )
    return first, last - first + 1


async def source_chunks(
    blobs: BlobStore, record: ObjectRecord, start: int, length: int, data_key: bytes | None = None
) -> AsyncIterator[bytes]:
    """The source's plaintext bytes; a blob that disappeared mid-read becomes CopySourceGone (retry
    from metadata)."""
    try:
        async for piece in stream_segments(blobs, record.segments, start, length, data_key):
            yield piece
    except StorageError as exc:
        raise CopySourceGone(str(exc)) from exc


def _directive(req: S3Request, header: str, what: str) -> str:
    value = req.headers.get(header, "COPY").strip().upper()
    if value not in ("COPY", "REPLACE"):
        raise S3Error(
            "InvalidArgument",
            f"Unknown {what} directive.",
            ArgumentName=header,
            ArgumentValue=req.headers.get(header, ""),
        )
    return value


def _checksum_algorithm(req: S3Request, source: ObjectRecord) -> str | None:
    """x-amz-checksum-algorithm if given, else the source's algorithm (recomputed over the whole copy)."""
    requested = req.headers.get("x-amz-checksum-algorithm")
    if requested is not None:
        algorithm = requested.strip().upper()
        if algorithm not in ALGORITHMS:
            raise S3Error("InvalidRequest", "Value for x-amz-checksum-algorithm header is invalid.")
        return algorithm
    return next((name for name in source.checksums if name in ALGORITHMS), None)


def _builder(
    template: ObjectRecord, digests: PayloadDigests, sealing: sse.Sealing | None
) -> Callable[[BlobWriter], ObjectRecord]:
    """The copy's record once its blob is written: the template plus size, blob and digests."""

    def build(writer: BlobWriter) -> ObjectRecord:
        template.size = writer.size
        template.etag = digests.md5_hex if sealing is None else sealing.etag(digests.md5_hex)
        template.segments = [Segment(writer.blob_id, writer.size)]
        template.checksums = digests.checksums()
        template.last_modified = now()
        return template

    return build


async def copy_object(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    validate_key(req.key)
    metadata_directive = _directive(req, "x-amz-metadata-directive", "metadata")
    tagging_directive = _directive(req, "x-amz-tagging-directive", "tagging")
    condition = write_condition(req.headers)
    sclass = storage_class(req.headers)
    replace_tags = replace_meta = None
    if tagging_directive == "REPLACE":
        replace_tags = parse_tagging_header(req.headers.get("x-amz-tagging"))
    if metadata_directive == "REPLACE":
        replace_meta = user_metadata(req.headers)
    # A copy gets its own ACL (private by default), as on AWS.
    requested = await acl.requested(acl.from_headers(req.headers), req.services.identity)
    bucket = await require_bucket(req)
    canned = ownership.admit_acl(bucket, requested)
    owner = writer_of(req, bucket, requested)
    lock = write_lock(req.headers, bucket)
    # The copy is encrypted as its own headers (or the bucket's default) say: decrypted and sealed
    # again under a new data key, whatever the source's encryption was.
    sealing = await sse.for_write(req, bucket)
    record: ObjectRecord | None = None
    for attempt in (1, 2):
        source = await load_copy_source(req)
        src = source.record
        if (
            source.bucket == req.bucket
            and source.key == req.key
            and metadata_directive == "COPY"
            and not any(name in req.headers for name in _SELF_COPY_CHANGES)
        ):
            raise S3Error("InvalidRequest", _SELF_COPY)
        if src.size > MAX_COPY_SIZE:
            raise S3Error(
                "InvalidRequest",
                f"The specified copy source is larger than the maximum allowable size for a copy source: "
                f"{MAX_COPY_SIZE}",
            )
        if condition is not None:
            # Fail early, before copying any bytes; the store checks again at commit time.
            condition.check(await req.services.meta.get_object(req.bucket, req.key), req.key)
        algorithm = _checksum_algorithm(req, src)
        digests = PayloadDigests(checksum=ChecksumRequest(algorithm, None) if algorithm else None)
        template = ObjectRecord(
            bucket=req.bucket,
            key=req.key,
            size=0,
            etag="",
            last_modified=now(),
            segments=[],
            tags=replace_tags if replace_tags is not None else dict(src.tags),
            storage_class=sclass,
            owner=owner,
            acl=canned,
            version_id=new_version_id(),
            lock_mode=lock.mode,
            lock_until=lock.until,
            legal_hold=lock.legal_hold,
            encryption=None if sealing is None else sealing.record,
        )
        if metadata_directive == "REPLACE":
            template.content_type = req.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE
            template.headers, template.user_metadata = stored_headers(req.headers), replace_meta or {}
        else:
            template.content_type = src.content_type
            template.headers, template.user_metadata = dict(src.headers), dict(src.user_metadata)
        source_key = await sse.data_key(req, src.encryption, sse.COPY_SOURCE)
        chunks = source_chunks(req.services.blobs, src, 0, src.size, source_key)
        build = _builder(template, digests, sealing)
        data_key = None if sealing is None else sealing.data_key
        try:
            record = await req.services.saga.put_object(chunks, digests, build, condition, data_key)
        except CopySourceGone:
            if attempt == 2:
                raise S3Error("ServiceUnavailable", "The copy source changed while it was read") from None
            continue  # overwritten while we read it: copy what the key holds now
        break
    assert record is not None
    root = xml.element("CopyObjectResult")
    xml.sub(root, "ETag", f'"{record.etag}"')
    xml.sub(root, "LastModified", xml.iso8601(record.last_modified))
    if "type" in record.checksums:
        xml.sub(root, "ChecksumType", record.checksums["type"])
    for name, value in record.checksums.items():
        if name != "type":
            xml.sub(root, f"Checksum{name}", value)
    headers = dict(XML_HEADERS)
    if sealing is not None:
        headers.update(sse.headers_of(sealing.record, sealing.customer, context=True))
    headers.update(source_version_headers(source))
    headers.update(version_headers(bucket, record))
    headers.update(await expiration_headers(req, record))
    return S3Response(body=xml.render(root), headers=headers)


HANDLERS = {
    "CopyObject": copy_object,
}
