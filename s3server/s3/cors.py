"""A bucket's CORS configuration: PutBucketCors, GetBucketCors, DeleteBucketCors.

The rules are validated and kept by `s3server.access.cors`; preflight requests (OPTIONS) and the
Access-Control-* headers of actual requests are the gateway's (`s3server.gateway.cors`).
"""

from __future__ import annotations

from s3server.access import cors
from s3server.s3.bodies import read_verified_body
from s3server.s3.buckets import XML_HEADERS, clear_bucket_setting, require_bucket
from s3server.s3.context import S3Request, S3Response
from s3server.s3.errors import S3Error

MAX_CORS_BODY = 256 * 1024


async def put_bucket_cors(req: S3Request) -> S3Response:
    assert req.bucket is not None
    await require_bucket(req)
    body = await read_verified_body(req, MAX_CORS_BODY, integrity_required=False)
    rules = cors.parse_xml(body)
    await req.services.meta.set_bucket_cors(req.bucket, cors.dumps(rules))
    return S3Response()


async def get_bucket_cors(req: S3Request) -> S3Response:
    bucket = await require_bucket(req)
    if not bucket.cors:
        raise S3Error("NoSuchCORSConfiguration", BucketName=bucket.name)
    return S3Response(body=cors.render_xml(cors.loads(bucket.cors)), headers=dict(XML_HEADERS))


async def delete_bucket_cors(req: S3Request) -> S3Response:
    return await clear_bucket_setting(req, lambda meta, name: meta.set_bucket_cors(name, None))


HANDLERS = {
    "PutBucketCors": put_bucket_cors,
    "GetBucketCors": get_bucket_cors,
    "DeleteBucketCors": delete_bucket_cors,
}
