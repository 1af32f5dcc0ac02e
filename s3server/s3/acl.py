"""ACLs on buckets and objects: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl.

A canned ACL (x-amz-acl), grant headers (x-amz-grant-*) or an AccessControlPolicy body, as
`s3server.access.acl` reads and stores them. The gateway has already decided that the caller may do
this (the owner, or a READ_ACP / WRITE_ACP grantee).
"""

from __future__ import annotations

from s3server.access import acl, ownership
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, require_bucket, require_object
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error
from s3server.s3.versioning import version_headers

MAX_ACL_BODY = 64 * 1024


async def _requested_acl(req: S3Request) -> str:
    body = await read_verified_body(req, MAX_ACL_BODY, integrity_required=False)
    return await acl.requested(acl.from_request(req.headers, body), req.services.identity)


async def get_bucket_acl(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    return S3Response(body=acl.render(bucket.owner, bucket.acl), headers=dict(XML_HEADERS))


async def put_bucket_acl(req: S3Request) -> S3Response:
    assert req.bucket is not None
    bucket = await require_bucket(req)
    stored = ownership.admit_acl(bucket, await _requested_acl(req))
    await req.services.meta.set_bucket_acl(req.bucket, stored)
    return S3Response()


async def get_object_acl(req: S3Request) -> S3Response:
    record = await require_object(req)
    bucket = await require_bucket(req)
    if bucket.ownership == ownership.ENFORCED:  # ACLs are disabled: the bucket's owner has it all
        return S3Response(body=acl.render(bucket.owner, acl.DEFAULT), headers=dict(XML_HEADERS))
    return S3Response(body=acl.render(record.owner, record.acl), headers=dict(XML_HEADERS))


async def put_object_acl(req: S3Request) -> S3Response:
    assert req.bucket is not None and req.key is not None
    record = await require_object(req)
    bucket = await require_bucket(req)
    stored = ownership.admit_acl(bucket, await _requested_acl(req))
    if await req.services.meta.set_object_acl(req.bucket, req.key, stored, record.version_id) is None:
        raise S3Error("NoSuchKey", Key=req.key)  # deleted meanwhile
    return S3Response(headers=version_headers(None, record))


HANDLERS = {
    "GetBucketAcl": get_bucket_acl,
    "PutBucketAcl": put_bucket_acl,
    "GetObjectAcl": get_object_acl,
    "PutObjectAcl": put_object_acl,
}
