"""Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy, GetBucketPolicyStatus.

A document is validated (`s3server.access.policy.parse_policy`, MalformedPolicy) before it is
stored, and stored as sent: GetBucketPolicy returns it byte for byte.
"""

from __future__ import annotations

from s3server.access import public_block
from s3server.access.policy import MAX_POLICY_BYTES, malformed, parse_policy
from s3server.s3 import xml
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, clear_bucket_setting, require_bucket
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error


async def put_bucket_policy(req: S3Request) -> S3Response:
    assert req.bucket is not None
    bucket = await require_bucket(req)
    try:
        # One byte over the limit is enough for parse_policy to say the document is too large.
        body = await read_verified_body(req, MAX_POLICY_BYTES + 1, integrity_required=False)
    except S3Error as err:
        if err.code == "MalformedXML":  # the body reader's "too large"
            raise malformed("Policies must be 20 KB or smaller") from err
        raise
    policy = parse_policy(body, req.bucket)
    if policy.is_public and public_block.loads(bucket.public_access_block).block_public_policy:
        raise S3Error("AccessDenied")
    await req.services.meta.set_bucket_policy(req.bucket, policy.document)
    return S3Response(status=204)


async def _stored_policy(req: S3Request) -> str:
    bucket = await require_bucket(req)
    if not bucket.policy:
        raise S3Error("NoSuchBucketPolicy", BucketName=bucket.name)
    return bucket.policy


async def get_bucket_policy(req: S3Request) -> S3Response:
    document = await _stored_policy(req)
    return S3Response(body=document.encode("utf-8"), headers={"Content-Type": "application/json"})


async def delete_bucket_policy(req: S3Request) -> S3Response:
    return await clear_bucket_setting(req, lambda meta, name: meta.set_bucket_policy(name, None))


async def get_bucket_policy_status(req: S3Request) -> S3Response:
    assert req.bucket is not None
    policy = parse_policy(await _stored_policy(req), req.bucket)
    root = xml.element("PolicyStatus")
    xml.sub(root, "IsPublic", policy.is_public)
    return S3Response(body=xml.render(root), headers=dict(XML_HEADERS))


HANDLERS = {
    "PutBucketPolicy": put_bucket_policy,
    "GetBucketPolicy": get_bucket_policy,
    "DeleteBucketPolicy": delete_bucket_policy,
    "GetBucketPolicyStatus": get_bucket_policy_status,
}
