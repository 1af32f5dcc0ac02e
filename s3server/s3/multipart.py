"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy, CompleteMultipartUpload,
AbortMultipartUpload, ListParts, ListMultipartUploads.

Each part is one blob, written through the saga like a PutObject body (same digests, same
verification). Completing an upload moves no bytes: the object's segments are the chosen parts'
blobs, committed in the same metadata transaction that removes the upload; the blobs of parts left
out are deleted only after that commit.

Checksums follow AWS: an upload created with x-amz-checksum-algorithm gives every part that checksum
(verified when sent, computed otherwise), and the object's checksum is composed from the parts'
either as COMPOSITE (the checksum of the concatenated part checksums, then "-N") or, for the CRC
algorithms, as FULL_OBJECT (the CRCs combined as if computed over the whole object). An upload
created without one gets a FULL_OBJECT CRC of its parts when they share a CRC algorithm (the
default CRC64NVME unless the parts asked for another).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote, quote_plus

from awscrt import checksums as crt

from s3server.access import acl, ownership
from s3server.metadata.base import NULL_VERSION, ObjectRecord, Part, Segment, Upload
from s3server.metadata.errors import NoSuchUploadError
from s3server.s3 import sse, xml
from s3server.s3.bodies import payload_digests, read_verified_body
from s3server.s3.buckets import XML_HEADERS, require_bucket, writer_of
from s3server.s3.checksums import (
    ALGORITHMS,
    ChecksumRequest,
    Hasher,
    PayloadDigests,
    header_name,
)
from s3server.s3.common import (
    DEFAULT_CONTENT_TYPE,
    new_version_id,
    now,
    owner_id,
    stored_headers,
    user_metadata,
    validate_key,
)
from s3server.s3.conditions import write_condition
from s3server.s3.context import S3Request, S3Response
from s3server.s3.copy import (
    CopySourceGone,
    copy_range,
    load_copy_source,
    source_chunks,
    source_version_headers,
)
from s3server.s3.errors import S3Error
from s3server.s3.lifecycle import abort_headers
from s3server.s3.object_lock import write_lock
from s3server.s3.objects import require_length, storage_class
from s3server.s3.tagging import parse_tagging_header
from s3server.storage.base import BlobWriter

log = logging.getLogger("s3server.multipart")

MIN_PART_SIZE = 5 * 1024 * 1024  # every part but the last
MAX_PART_SIZE = 5 * 1024**3
MAX_PART_NUMBER = 10_000
MAX_LISTED = 1000  # ListParts / ListMultipartUploads page cap
MAX_INT = 2_147_483_647
COMPOSITE, FULL_OBJECT = "COMPOSITE", "FULL_OBJECT"
# Which composition each algorithm allows, and the one AWS picks when the client names none.
_TYPES = {
    "CRC32": (COMPOSITE, FULL_OBJECT),
    "CRC32C": (COMPOSITE, FULL_OBJECT),
    "CRC64NVME": (FULL_OBJECT,),
    "SHA1": (COMPOSITE,),
    "SHA256": (COMPOSITE,),
}
_DEFAULT_TYPE = {"CRC64NVME": FULL_OBJECT}
_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "CRC32": crt.combine_crc32,
    "CRC32C": crt.combine_crc32c,
    "CRC64NVME": crt.combine_crc64nvme,
}
_UNSUPPORTED_ALGORITHM = (
    "Checksum algorithm provided is unsupported. Please try again with any of the valid types: "
    "[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
)


# -- small parsers


def new_upload_id(initiated: datetime) -> str:
    """Hex microseconds then randomness: ids of one key sort by initiation, as ListMultipartUploads
    orders them."""
    micros = int(initiated.timestamp() * 1_000_000)
    return f"{micros:016x}{secrets.token_hex(16)}"


def part_number(req: S3Request) -> int:
    raw = req.query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PART_NUMBER:
        raise S3Error(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return int(raw)


def _list_int(req: S3Request, name: str, default: int) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) > MAX_INT:
        raise S3Error(
            "InvalidArgument",
            f"Argument {name} must be an integer between 0 and {MAX_INT}",
            ArgumentName=name,
            ArgumentValue=raw,
        )
    return int(raw)


def _upload_checksum(req: S3Request) -> tuple[str | None, str | None]:
    """x-amz-checksum-algorithm / x-amz-checksum-type of CreateMultipartUpload, checked as AWS does."""
    algorithm = req.headers.get("x-amz-checksum-algorithm")
    kind = req.headers.get("x-amz-checksum-type")
    if algorithm is not None:
        algorithm = algorithm.strip().upper()
        if algorithm not in ALGORITHMS:
            raise S3Error("InvalidRequest", _UNSUPPORTED_ALGORITHM)
    if kind is not None:
        kind = kind.strip().upper()
        if kind not in (COMPOSITE, FULL_OBJECT):
            raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
        if algorithm is None:
            raise S3Error(
                "InvalidRequest",
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            )
        if kind not in _TYPES[algorithm]:
            raise S3Error(
                "InvalidRequest",
                f"The {kind} checksum type cannot be used with the {algorithm.lower()} checksum algorithm.",
            )
    if algorithm is None:
        return None, None
    return algorithm, kind or _DEFAULT_TYPE.get(algorithm, COMPOSITE)


def _checksum_mismatch(expected: str, actual: str) -> S3Error:
    return S3Error(
        "InvalidRequest",
        f"Checksum Type mismatch occurred, expected checksum Type: {expected.lower()}, "
        f"actual checksum Type: {actual.lower()}",
    )


async def _require_upload(req: S3Request) -> Upload:
    assert req.bucket is not None and req.key is not None
    upload_id = req.query.get("uploadId", "")
    upload = await req.services.meta.get_upload(req.bucket, req.key, upload_id)
    if upload is None:
        await require_bucket(req)
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    return upload


def _part_checksum_headers(upload: Upload, part: Part) -> dict[str, str]:
    """The part's checksum header, when the upload (or the part's request) chose an algorithm."""
    if upload.checksum_algorithm is None:
        return {}
    value = part.checksums.get(upload.checksum_algorithm)
    return {header_name(upload.checksum_algorithm): value} if value else {}


# -- CreateMultipartUpload


async def create_multipart_upload(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    validate_key(req.key)
    algorithm, kind = _upload_checksum(req)
    bucket = await require_bucket(req)
    owner = req.principal.user if req.principal is not None else writer_of(req, bucket)
    lock = write_lock(req.headers, bucket, require_integrity=False)
    sealing = await sse.for_write(req, bucket)
    initiated = now()
    upload = Upload(
        bucket=req.bucket,
        key=req.key,
        upload_id=new_upload_id(initiated),
        initiated=initiated,
        owner=owner,
        content_type=req.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE,
        headers=stored_headers(req.headers),
        user_metadata=user_metadata(req.headers),
        tags=parse_tagging_header(req.headers.get("x-amz-tagging")),
        storage_class=storage_class(req.headers),
        checksum_algorithm=algorithm,
        checksum_type=kind,
        acl=ownership.admit_acl(
            bucket, await acl.requested(acl.from_headers(req.headers), req.services.identity)
        ),
        lock_mode=lock.mode,
        lock_until=lock.until,
        legal_hold=lock.legal_hold,
        encryption=None if sealing is None else sealing.record,
    )
    await req.services.meta.create_upload(upload)
    root = xml.element("InitiateMultipartUploadResult")
    xml.subs(root, [("Bucket", req.bucket), ("Key", req.key), ("UploadId", upload.upload_id)])
    headers = dict(XML_HEADERS)
    if sealing is not None:
        headers.update(sse.headers_of(sealing.record, sealing.customer, context=True))
    headers.update(await abort_headers(req, req.bucket, req.key, initiated))
    if algorithm is not None and kind is not None:
        headers["x-amz-checksum-algorithm"] = algorithm
        headers["x-amz-checksum-type"] = kind
    return S3Response(body=xml.render(root), headers=headers)


# -- UploadPart / UploadPartCopy


def _part_builder(
    number: int, digests: PayloadDigests, upload: Upload, data_key: bytes | None
) -> Callable[[BlobWriter], Part]:
    def build(writer: BlobWriter) -> Part:
        return Part(
            part_number=number,
            size=writer.size,
            etag=sse.etag_of(upload.encryption, data_key, digests.md5_hex),
            last_modified=now(),
            blob_id=writer.blob_id,
            checksums={digests.checksum.algorithm: digests.checksum.b64()},
        )

    return build


async def upload_part(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    number = part_number(req)
    require_length(req, MAX_PART_SIZE)
    upload = await _require_upload(req)
    # Every part is sealed under the upload's data key (SSE-C: each part must bring the same key).
    data_key = await sse.data_key(req, upload.encryption)
    digests = payload_digests(req, default_algorithm=upload.checksum_algorithm)
    requested = digests.request
    expected = upload.checksum_algorithm
    if expected is not None and requested is not None and requested.algorithm != expected:
        raise _checksum_mismatch(expected, requested.algorithm)
    build = _part_builder(number, digests, upload, data_key)
    part = await req.services.saga.upload_part(
        req.body.chunks(), digests, req.bucket, req.key, upload.upload_id, build, data_key
    )
    headers = {"ETag": f'"{part.etag}"'}
    headers.update(sse.read_headers(req, upload.encryption))
    if upload.checksum_algorithm is not None:
        headers.update(_part_checksum_headers(upload, part))
    elif requested is not None and requested.algorithm in part.checksums:
        headers[header_name(requested.algorithm)] = part.checksums[requested.algorithm]
    return S3Response(headers=headers)


async def upload_part_copy(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    number = part_number(req)
    upload = await _require_upload(req)
    data_key = await sse.data_key(req, upload.encryption)
    for attempt in (1, 2):
        source = await load_copy_source(req)
        start, length = copy_range(req, source.record.size)
        if length > MAX_PART_SIZE:
            raise S3Error(
                "InvalidRequest",
                "The specified copy source is larger than the maximum allowable size for a copy source: "
                f"{MAX_PART_SIZE}",
            )
        algorithm = upload.checksum_algorithm
        digests = PayloadDigests(checksum=ChecksumRequest(algorithm, None) if algorithm else None)
        source_key = await sse.data_key(req, source.record.encryption, sse.COPY_SOURCE)
        chunks = source_chunks(req.services.blobs, source.record, start, length, source_key)
        build = _part_builder(number, digests, upload, data_key)
        try:
            part = await req.services.saga.upload_part(
                chunks, digests, req.bucket, req.key, upload.upload_id, build, data_key
            )
        except CopySourceGone:
            if attempt == 2:
                raise S3Error("ServiceUnavailable", "The copy source changed while it was read") from None
            continue  # the source was overwritten while we read it; read the new one
        break
    root = xml.element("CopyPartResult")
    xml.sub(root, "ETag", f'"{part.etag}"')
    xml.sub(root, "LastModified", xml.iso8601(part.last_modified))
    if algorithm is not None and algorithm in part.checksums:
        xml.sub(root, f"Checksum{algorithm}", part.checksums[algorithm])
    headers = dict(XML_HEADERS)
    headers.update(sse.read_headers(req, upload.encryption))
    headers.update(source_version_headers(source))
    return S3Response(body=xml.render(root), headers=headers)


# -- CompleteMultipartUpload


class _Listed:
    """One <Part> of a CompleteMultipartUpload request."""

    __slots__ = ("checksums", "etag", "number")

    def __init__(self, number: int, etag: str, checksums: dict[str, str]) -> None:
        self.number = number
        self.etag = etag
        self.checksums = checksums


def _parse_complete(body: bytes) -> list[_Listed]:
    root = xml.parse(body)
    if xml.local(root) != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    listed: list[_Listed] = []
    for element in xml.children(root, "Part"):
        raw_number = xml.child_text(element, "PartNumber")
        etag = xml.child_text(element, "ETag")
        if raw_number is None or etag is None:
            raise S3Error("MalformedXML")
        try:
            number = int(raw_number.strip())
        except ValueError as exc:
            raise S3Error("MalformedXML") from exc
        if number < 1:
            raise S3Error(
                "InvalidArgument",
                "PartNumber must be >= 1",
                ArgumentName="PartNumber",
                ArgumentValue=raw_number,
            )
        checksums = {}
        for algorithm in ALGORITHMS:
            value = xml.child_text(element, f"Checksum{algorithm}")
            if value is not None:
                checksums[algorithm] = value.strip()
        listed.append(_Listed(number, etag.strip().strip('"'), checksums))
    if not listed:
        raise S3Error("MalformedXML")
    return listed


def _object_checksum_header(req: S3Request) -> tuple[str, str] | None:
    """The full-object checksum a Complete request may carry (x-amz-checksum-<algorithm>)."""
    sent = [
        (alg, req.headers[header_name(alg)].strip()) for alg in ALGORITHMS if header_name(alg) in req.headers
    ]
    if len(sent) > 1:
        raise S3Error(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    return sent[0] if sent else None


def _choose_parts(upload: Upload, listed: list[_Listed], stored: dict[int, Part]) -> list[Part]:
    """Validate the requested list against the uploaded parts, in AWS's order of complaints."""
    previous = 0
    for item in listed:
        if item.number <= previous:
            raise S3Error("InvalidPartOrder", UploadId=upload.upload_id)
        previous = item.number
    algorithm = upload.checksum_algorithm
    chosen: list[Part] = []
    for item in listed:
        part = stored.get(item.number)
        invalid = S3Error(
            "InvalidPart", UploadId=upload.upload_id, PartNumber=str(item.number), ETag=item.etag
        )
        if part is None or item.etag != part.etag:
            raise invalid
        for name, value in item.checksums.items():
            if (algorithm is not None and name != algorithm) or part.checksums.get(name) != value:
                raise invalid
        if algorithm is not None and upload.checksum_type == COMPOSITE and algorithm not in item.checksums:
            raise S3Error(
                "InvalidRequest",
                f"The upload was created using a {algorithm.lower()} checksum. The complete request must "
                f"include the checksum for each part. It was missing for part {item.number} in the request.",
            )
        chosen.append(part)
    if algorithm is not None and [p.part_number for p in chosen] != list(range(1, len(chosen) + 1)):
        # With a checksum algorithm AWS wants the parts numbered 1..N without gaps.
        raise S3Error("InvalidPartOrder", UploadId=upload.upload_id)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise S3Error(
                "EntityTooSmall",
                ProposedSize=str(part.size),
                MinSizeAllowed=str(MIN_PART_SIZE),
                PartNumber=str(part.part_number),
                ETag=part.etag,
            )
    return chosen


def multipart_etag(parts: list[Part]) -> str:
    """MD5 of the concatenated binary part MD5s, hex, then -N."""
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest()
    return f"{digest}-{len(parts)}"


def compose_checksum(upload: Upload, parts: list[Part]) -> dict[str, str]:
    """The object's checksum from its parts' checksums: {algorithm: base64, "type": …}, or {}."""
    algorithm = upload.checksum_algorithm
    kind = upload.checksum_type
    if algorithm is None:
        shared = {name for p in parts for name in p.checksums}
        if len(shared) != 1:
            return {}
        algorithm = shared.pop()
        if algorithm not in _COMBINE or any(algorithm not in p.checksums for p in parts):
            return {}
        kind = FULL_OBJECT
    try:
        values = [base64.b64decode(p.checksums[algorithm], validate=True) for p in parts]
    except (KeyError, binascii.Error, ValueError):
        log.error("upload %s has a part without a valid %s checksum", upload.upload_id, algorithm)
        return {}
    if kind == COMPOSITE:
        hasher = Hasher(algorithm)
        for value in values:
            hasher.update(value)
        return {algorithm: f"{hasher.b64()}-{len(parts)}", "type": COMPOSITE}
    combine = _COMBINE[algorithm]
    crc = int.from_bytes(values[0], "big")
    for value, part in zip(values[1:], parts[1:], strict=True):
        crc = combine(crc, int.from_bytes(value, "big"), part.size)
    full = crc.to_bytes(Hasher.DIGEST_SIZES[algorithm], "big")
    return {algorithm: base64.b64encode(full).decode(), "type": FULL_OBJECT}


def _check_complete_headers(req: S3Request, upload: Upload, checksums: dict[str, str], size: int) -> None:
    kind = req.headers.get("x-amz-checksum-type")
    if kind is not None and upload.checksum_type is not None and kind.strip().upper() != upload.checksum_type:
        raise S3Error(
            "BadDigest",
            f"The upload was created using the {upload.checksum_type} checksum mode. The complete request "
            "must use the same checksum mode.",
        )
    sent = _object_checksum_header(req)
    if sent is not None:
        name, value = sent
        if upload.checksum_algorithm is not None and name != upload.checksum_algorithm:
            raise _checksum_mismatch(upload.checksum_algorithm, name)
        if checksums.get(name) != value:
            raise S3Error("BadDigest", f"The {name} you specified did not match the calculated checksum.")
    expected_size = req.headers.get("x-amz-mp-object-size")
    if expected_size is not None and expected_size.strip() != str(size):
        raise S3Error(
            "InvalidRequest", "The provided 'x-amz-mp-object-size' header does not match what was computed"
        )


def _location(req: S3Request) -> str:
    settings = req.services.settings
    scheme = "https" if (settings.tls_cert or settings.tls == "auto") else "http"
    host = req.headers.get("Host", f"{settings.address}:{settings.port}")
    name = host.rsplit(":", 1)[0].lower()
    key = quote(req.key or "", safe="")
    if settings.domain and name.endswith("." + settings.domain.lower()):
        return f"{scheme}://{host}/{key}"
    return f"{scheme}://{host}/{quote(req.bucket or '', safe='')}/{key}"


async def complete_multipart_upload(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    condition = write_condition(req.headers)
    upload = await _require_upload(req)
    bucket = await require_bucket(req)
    # x-amz-checksum-* here describe the object being assembled, not this small XML body.
    body = await read_verified_body(req, xml.MAX_XML_BODY, integrity_required=False, body_checksums=False)
    listed = _parse_complete(body)
    meta = req.services.meta
    page = await meta.list_parts(req.bucket, req.key, upload.upload_id, max_parts=MAX_PART_NUMBER)
    chosen = _choose_parts(upload, listed, {p.part_number: p for p in page.parts})
    size = sum(p.size for p in chosen)
    checksums = compose_checksum(upload, chosen)
    _check_complete_headers(req, upload, checksums, size)
    record = ObjectRecord(
        bucket=req.bucket,
        key=req.key,
        size=size,
        etag=multipart_etag(chosen),
        # AWS dates a multipart object by the start of its upload.
        last_modified=upload.initiated,
        segments=[Segment(p.blob_id, p.size) for p in chosen],
        content_type=upload.content_type,
        headers=upload.headers,
        user_metadata=upload.user_metadata,
        checksums=checksums,
        tags=upload.tags,
        parts_count=len(chosen),
        part_sizes=[p.size for p in chosen],
        part_checksums=[dict(p.checksums) for p in chosen] if upload.checksum_algorithm else None,
        storage_class=upload.storage_class,
        owner=ownership.object_owner(bucket, upload.owner, upload.acl),
        acl=upload.acl,
        version_id=new_version_id(),
        lock_mode=upload.lock_mode,
        lock_until=upload.lock_until,
        legal_hold=upload.legal_hold,
        encryption=upload.encryption,
    )
    await req.services.saga.complete_upload(req.bucket, req.key, upload.upload_id, record, condition)
    root = xml.element("CompleteMultipartUploadResult")
    xml.subs(root, [("Location", _location(req)), ("Bucket", req.bucket), ("Key", req.key)])
    xml.sub(root, "ETag", f'"{record.etag}"')
    for name, value in checksums.items():
        if name != "type":
            xml.sub(root, f"Checksum{name}", value)
    if "type" in checksums:
        xml.sub(root, "ChecksumType", checksums["type"])
    headers = dict(XML_HEADERS)
    headers.update(sse.headers_of(record.encryption))
    if record.version_id != NULL_VERSION:
        headers["x-amz-version-id"] = record.version_id
    return S3Response(body=xml.render(root), headers=headers)


# -- AbortMultipartUpload


async def abort_multipart_upload(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    try:
        await req.services.saga.abort_upload(req.bucket, req.key, req.query.get("uploadId", ""))
    except NoSuchUploadError:
        await require_bucket(req)
        raise
    return S3Response(status=204)


# -- ListParts / ListMultipartUploads


def _owner(parent: object, tag: str, user: str) -> None:
    element = xml.sub(parent, tag)  # type: ignore[arg-type]
    xml.sub(element, "ID", owner_id(user))
    xml.sub(element, "DisplayName", user)


async def list_parts(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    max_parts = _list_int(req, "max-parts", MAX_LISTED)
    marker = _list_int(req, "part-number-marker", 0)
    upload = await _require_upload(req)
    shown = min(max_parts, MAX_LISTED)
    page = await req.services.meta.list_parts(
        req.bucket, req.key, upload.upload_id, after=marker, max_parts=shown
    )
    root = xml.element("ListPartsResult")
    xml.subs(root, [("Bucket", req.bucket), ("Key", req.key), ("UploadId", upload.upload_id)])
    xml.sub(root, "PartNumberMarker", marker)
    xml.sub(root, "NextPartNumberMarker", page.parts[-1].part_number if page.parts else marker)
    xml.sub(root, "MaxParts", shown)
    xml.sub(root, "IsTruncated", page.is_truncated and shown > 0)  # AWS: max-parts=0 is never truncated
    algorithm = upload.checksum_algorithm
    for part in page.parts:
        entry = xml.sub(root, "Part")
        xml.sub(entry, "PartNumber", part.part_number)
        xml.sub(entry, "LastModified", xml.iso8601(part.last_modified))
        xml.sub(entry, "ETag", f'"{part.etag}"')
        xml.sub(entry, "Size", part.size)
        if algorithm is not None and algorithm in part.checksums:
            xml.sub(entry, f"Checksum{algorithm}", part.checksums[algorithm])
    _owner(root, "Initiator", upload.owner)
    _owner(root, "Owner", upload.owner)
    xml.sub(root, "StorageClass", upload.storage_class)
    if algorithm is not None:
        xml.sub(root, "ChecksumAlgorithm", algorithm)
        xml.sub(root, "ChecksumType", upload.checksum_type)
    headers = {**XML_HEADERS, **await abort_headers(req, req.bucket, req.key, upload.initiated)}
    return S3Response(body=xml.render(root), headers=headers)


def _encoder(req: S3Request) -> Callable[[str], str]:
    """encoding-type=url, as AWS writes it for uploads: form encoding (a space is `+`)."""
    encoding = req.query.get("encoding-type")
    if encoding is None:
        return lambda s: s
    if encoding.lower() != "url":
        raise S3Error(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=encoding,
        )
    return lambda s: quote_plus(s, safe="/*")


async def list_multipart_uploads(req: S3Request) -> S3Response:
    assert req.bucket is not None
    enc = _encoder(req)
    max_uploads = _list_int(req, "max-uploads", MAX_LISTED)
    shown = min(max_uploads, MAX_LISTED)
    prefix = req.query.get("prefix", "")
    delimiter = req.query.get("delimiter", "")
    key_marker = req.query.get("key-marker", "")
    # Without a key marker AWS ignores the upload id marker.
    id_marker = req.query.get("upload-id-marker", "") if key_marker else ""
    await require_bucket(req)
    page = await req.services.meta.list_uploads(
        req.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=id_marker,
        max_uploads=shown,
    )
    root = xml.element("ListMultipartUploadsResult")
    xml.sub(root, "Bucket", req.bucket)
    xml.sub(root, "KeyMarker", enc(key_marker))
    xml.sub(root, "UploadIdMarker", id_marker)
    xml.sub(root, "NextKeyMarker", enc(page.next_key_marker or ""))
    xml.sub(root, "NextUploadIdMarker", page.next_upload_id_marker or "")
    if delimiter:
        xml.sub(root, "Delimiter", enc(delimiter))
    xml.sub(root, "Prefix", enc(prefix))
    xml.sub(root, "MaxUploads", shown)
    xml.sub(root, "IsTruncated", page.is_truncated)
    for upload in page.uploads:
        entry = xml.sub(root, "Upload")
        xml.sub(entry, "Key", enc(upload.key))
        xml.sub(entry, "UploadId", upload.upload_id)
        _owner(entry, "Initiator", upload.owner)
        _owner(entry, "Owner", upload.owner)
        xml.sub(entry, "StorageClass", upload.storage_class)
        xml.sub(entry, "Initiated", xml.iso8601(upload.initiated))
        if upload.checksum_algorithm is not None:
            xml.sub(entry, "ChecksumAlgorithm", upload.checksum_algorithm)
            xml.sub(entry, "ChecksumType", upload.checksum_type)
    for common in page.common_prefixes:
        xml.sub(xml.sub(root, "CommonPrefixes"), "Prefix", enc(common))
    if "encoding-type" in req.query:
        xml.sub(root, "EncodingType", "url")
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


HANDLERS = {
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
    "ListMultipartUploads": list_multipart_uploads,
}
