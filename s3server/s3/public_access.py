"""The public access block: PutPublicAccessBlock, GetPublicAccessBlock, DeletePublicAccessBlock.

The switches are enforced by `s3server.access` (decisions, ACL and policy writes); this module
only keeps them.
"""

from __future__ import annotations

from s3server.access import public_block
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, clear_bucket_setting, require_bucket
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

MAX_BLOCK_BODY = 16 * 1024


async def put_public_access_block(req: S3Request) -> S3Response:
    assert req.bucket is not None
    await require_bucket(req)
    # More lenient than AWS: a body without Content-MD5 or a checksum is accepted, as for policies.
    block = public_block.parse_xml(await read_verified_body(req, MAX_BLOCK_BODY, integrity_required=False))
    await req.services.meta.set_public_access_block(req.bucket, public_block.dumps(block))
    return S3Response()


async def get_public_access_block(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    if bucket.public_access_block is None:
        raise S3Error("NoSuchPublicAccessBlockConfiguration", BucketName=bucket.name)
    block = public_block.loads(bucket.public_access_block)
    return S3Response(body=public_block.render_xml(block), headers=dict(XML_HEADERS))


async def delete_public_access_block(req: S3Request) -> S3Response:
    return await clear_bucket_setting(req, lambda meta, name: meta.set_public_access_block(name, None))


HANDLERS = {
    "PutPublicAccessBlock": put_public_access_block,
    "GetPublicAccessBlock": get_public_access_block,
    "DeletePublicAccessBlock": delete_public_access_block,
}
