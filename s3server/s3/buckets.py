"""Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable

from s3server.access import acl, ownership
from s3server.metadata.base import Bucket, MetadataStore, ObjectRecord
from s3server.s3 import xml
from s3server.s3.common import http_date, now, owner_id, requested_version
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# "Must not be formatted as an IP address": four dot-separated runs of digits, leading zeros or not.
_IP_FORM = re.compile(r"\d+\.\d+\.\d+\.\d+")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
XML_HEADERS = {"Content-Type": "application/xml"}


def validate_bucket_name(name: str) -> None:
    """AWS's general-purpose bucket naming rules → InvalidBucketName."""
    ok = (
        _BUCKET_CHARS.fullmatch(name) is not None
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and _IP_FORM.fullmatch(name) is None
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
    )
    if not ok:
        raise S3Error("InvalidBucketName", BucketName=name)


async def require_bucket(req: S3Request) -> Bucket:
    """The request's bucket, or NoSuchBucket."""
    assert req.bucket is not None
    known = req.bucket_row
    if known is not None and known.name == req.bucket:
        return known
    bucket = await req.services.meta.get_bucket(req.bucket)
    if bucket is None:
        raise S3Error("NoSuchBucket", BucketName=req.bucket)
    return bucket


async def clear_bucket_setting(
    req: S3Request, clear: Callable[[MetadataStore, str], Awaitable[None]]
) -> S3Response:
    """DeleteBucket<Setting> (policy, CORS, encryption, …): NoSuchBucket first, else the setting
    removed and 204, whether or not one was set (as on AWS)."""
    bucket = await require_bucket(req)
    await clear(req.services.meta, bucket.name)
    return S3Response(status=204)


async def require_object(req: S3Request) -> ObjectRecord:
    """The request's object: its current version, or the one `?versionId=` names.

    A missing key is NoSuchKey (with x-amz-delete-marker when a delete marker is the key's newest
    version), a missing version NoSuchVersion, a missing bucket NoSuchBucket; a delete marker named
    by id is 405 MethodNotAllowed, as on AWS.
    """
    assert req.bucket is not None and req.key is not None
    version_id = requested_version(req.query)
    meta = req.services.meta
    record = await meta.get_object(req.bucket, req.key, version_id)
    if record is None:
        bucket = await require_bucket(req)
        if version_id is not None:
            raise S3Error("NoSuchVersion", Key=req.key, VersionId=version_id)
        marker = await meta.get_delete_marker(req.bucket, req.key) if bucket.versioning else None
        if marker is not None:
            raise S3Error("NoSuchKey", Key=req.key, headers=marker_headers(marker))
        raise S3Error("NoSuchKey", Key=req.key)
    if record.delete_marker:
        headers = marker_headers(record)
        headers["Allow"] = "DELETE"
        headers["Last-Modified"] = http_date(record.last_modified)
        raise S3Error("MethodNotAllowed", Method=req.method, ResourceType="DeleteMarker", headers=headers)
    return record


def marker_headers(marker: ObjectRecord) -> dict[str, str]:
    return {"x-amz-delete-marker": "true", "x-amz-version-id": marker.version_id}


def writer_of(req: S3Request, bucket: Bucket, requested_acl: str = acl.DEFAULT) -> str:
    """Who owns what a request writes with `requested_acl`: its signer (for an anonymous write, which
    an ACL or a policy allowed, the bucket's owner), unless the bucket's Object Ownership gives it
    to the bucket's owner."""
    writer = req.principal.user if req.principal is not None else bucket.owner
    return ownership.object_owner(bucket, writer, requested_acl)


def _owner(parent: object, user: str) -> None:
    owner = xml.sub(parent, "Owner")  # type: ignore[arg-type]
    xml.sub(owner, "ID", owner_id(user))
    xml.sub(owner, "DisplayName", user)


async def list_buckets(req: S3Request) -> S3Response:
    assert req.principal is not None
    # A user sees their own buckets; admins (root) see every bucket.
    owner = None if req.principal.is_admin else req.principal.user
    buckets = await req.services.meta.list_buckets(owner)
    prefix = req.query.get("prefix", "")
    if prefix:
        buckets = [b for b in buckets if b.name.startswith(prefix)]
    token = req.query.get("continuation-token")
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise S3Error("InvalidArgument", "The continuation token provided is incorrect") from exc
        buckets = [b for b in buckets if b.name > after]
    max_buckets = _int_param(req, "max-buckets", 10000, 1, 10000)
    page, truncated = buckets[:max_buckets], len(buckets) > max_buckets

    root = xml.element("ListAllMyBucketsResult")
    _owner(root, req.principal.user)
    container = xml.sub(root, "Buckets")
    for b in page:
        entry = xml.sub(container, "Bucket")
        xml.sub(entry, "Name", b.name)
        xml.sub(entry, "CreationDate", xml.iso8601(b.created))
        xml.sub(entry, "BucketRegion", b.region)
    if truncated:
        xml.sub(root, "ContinuationToken", base64.urlsafe_b64encode(page[-1].name.encode()).decode())
    if prefix:
        xml.sub(root, "Prefix", prefix)
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


def _int_param(req: S3Request, name: str, default: int, low: int, high: int) -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise S3Error(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=raw,
        ) from exc
    if value < low:
        raise S3Error(
            "InvalidArgument",
            f"Argument {name} must be an integer between {low} and {high}",
            ArgumentName=name,
            ArgumentValue=raw,
        )
    return min(value, high)


async def create_bucket(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.principal is not None
    validate_bucket_name(req.bucket)
    canned = await acl.requested(acl.from_headers(req.headers), req.services.identity)
    object_ownership = ownership.from_create_header(req.headers)
    if object_ownership == ownership.ENFORCED and acl.grants_of(canned, req.principal.user) != acl.grants_of(
        acl.DEFAULT, req.principal.user
    ):
        raise S3Error("InvalidBucketAclWithObjectOwnership")
    region = req.services.settings.region
    body = await req.body.read(64 * 1024)
    if body.strip():
        root = xml.parse(body)
        if xml.local(root) != "CreateBucketConfiguration":
            raise S3Error("MalformedXML")
        constraint = xml.child_text(root, "LocationConstraint")
        if constraint:
            region = constraint
    lock = req.headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true"
    await req.services.meta.create_bucket(
        Bucket(
            name=req.bucket,
            owner=req.principal.user,
            region=region,
            created=now(),
            acl=canned,
            # Object Lock needs versioning, so a bucket made with it is versioned from the start.
            versioning="Enabled" if lock else "",
            object_lock="{}" if lock else None,
            ownership=object_ownership,
        )
    )
    return S3Response(headers={"Location": f"/{req.bucket}"})


async def head_bucket(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    return S3Response(headers={"x-amz-bucket-region": bucket.region}, length=0)


async def delete_bucket(req: S3Request) -> S3Response:
    assert req.bucket is not None
    # Uploads in progress go with the bucket (as on AWS); the saga deletes their part blobs.
    await req.services.saga.delete_bucket(req.bucket)
    return S3Response(status=204)


async def get_bucket_location(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    root = xml.element("LocationConstraint")
    # AWS reports us-east-1 as an empty constraint.
    if bucket.region != "us-east-1":
        root.text = bucket.region
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


HANDLERS = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketLocation": get_bucket_location,
}
