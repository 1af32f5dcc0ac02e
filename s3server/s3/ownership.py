"""Object Ownership: PutBucketOwnershipControls, GetBucketOwnershipControls, DeleteBucketOwnershipControls.

What the setting does to ACLs and to who owns written objects is `s3server.access.ownership`'s.
"""

from __future__ import annotations

from s3server.access import acl, ownership
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, clear_bucket_setting, require_bucket
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

MAX_OWNERSHIP_BODY = 16 * 1024


async def put_bucket_ownership_controls(req: S3Request) -> S3Response:
    assert req.bucket is not None
    bucket = await require_bucket(req)
    # More lenient than AWS: a body without Content-MD5 or a checksum is accepted, as for policies.
    value = ownership.parse_xml(await read_verified_body(req, MAX_OWNERSHIP_BODY, integrity_required=False))
    if value == ownership.ENFORCED and acl.grants_of(bucket.acl, bucket.owner) != acl.grants_of(
        acl.DEFAULT, bucket.owner
    ):
        # AWS refuses to disable ACLs while the bucket's own ACL still grants to someone else.
        raise S3Error("InvalidBucketAclWithObjectOwnership")
    await req.services.meta.set_bucket_ownership(req.bucket, value)
    return S3Response()


async def get_bucket_ownership_controls(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    if bucket.ownership is None:
        raise S3Error("OwnershipControlsNotFoundError", BucketName=bucket.name)
    return S3Response(body=ownership.render_xml(bucket.ownership), headers=dict(XML_HEADERS))


async def delete_bucket_ownership_controls(req: S3Request) -> S3Response:
    return await clear_bucket_setting(req, lambda meta, name: meta.set_bucket_ownership(name, None))


HANDLERS = {
    "PutBucketOwnershipControls": put_bucket_ownership_controls,
    "GetBucketOwnershipControls": get_bucket_ownership_controls,
    "DeleteBucketOwnershipControls": delete_bucket_ownership_controls,
}
