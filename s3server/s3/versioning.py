"""Bucket versioning: PutBucketVersioning, GetBucketVersioning, and the version ids every object
operation reads from `?versionId=` and answers in `x-amz-version-id`.

A bucket's state is "" (never versioned), "Enabled" or "Suspended"; once enabled it never returns to
"". Objects written while a bucket is unversioned or suspended carry the version id "null".
"""

from __future__ import annotations

from s3server.metadata.base import NULL_VERSION, Bucket, ObjectRecord
from s3server.s3 import xml
from s3server.s3.buckets import XML_HEADERS, require_bucket
from s3server.s3.common import new_version_id, requested_version
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

ENABLED, SUSPENDED = "Enabled", "Suspended"


def version_headers(bucket: Bucket | None, record: ObjectRecord) -> dict[str, str]:
    """`x-amz-version-id` as AWS sends it: for every object of a bucket that has had versioning on
    (the "null" version included), never for a bucket that never had it."""
    if record.version_id != NULL_VERSION or (bucket is not None and bucket.versioning):
        return {"x-amz-version-id": record.version_id}
    return {}


def _configuration(body: bytes) -> tuple[str | None, str | None]:
    """(Status, MFADelete) of a VersioningConfiguration document; bad shapes → MalformedXML."""
    root = xml.parse(body)
    if xml.local(root) != "VersioningConfiguration":
        raise S3Error("MalformedXML")
    status = xml.child_text(root, "Status")
    mfa = xml.child_text(root, "MfaDelete")
    if status is not None and status not in (ENABLED, SUSPENDED):
        raise S3Error("MalformedXML")
    if mfa is not None and mfa not in ("Enabled", "Disabled"):
        raise S3Error("MalformedXML")
    return status, mfa


async def put_bucket_versioning(req: S3Request) -> S3Response:
    assert req.bucket is not None
    status, mfa = _configuration(await req.body.read(64 * 1024))
    bucket = await require_bucket(req)
    if mfa == "Enabled":
        # There are no MFA devices here, so no request can carry a valid x-amz-mfa token.
        raise S3Error("AccessDenied", "Mfa Authentication must be used for this request")
    if status is None:
        return S3Response()  # AWS accepts a configuration without Status and changes nothing
    if status == SUSPENDED and bucket.object_lock is not None:
        raise S3Error(
            "InvalidBucketState",
            "An Object Lock configuration is present on this bucket, so the versioning state cannot be "
            "changed.",
        )
    await req.services.meta.set_bucket_versioning(req.bucket, status)
    return S3Response()


async def get_bucket_versioning(req: S3Request) -> S3Response:
    """The empty configuration for a never-versioned bucket (clients such as s3fs ask before deleting
    a bucket), else its Status."""
    bucket = await require_bucket(req)
    root = xml.element("VersioningConfiguration")
    if bucket.versioning:
        xml.sub(root, "Status", bucket.versioning)
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


__all__ = ["HANDLERS", "new_version_id", "requested_version", "version_headers"]

HANDLERS = {
    "PutBucketVersioning": put_bucket_versioning,
    "GetBucketVersioning": get_bucket_versioning,
}
