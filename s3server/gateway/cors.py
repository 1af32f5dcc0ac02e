"""CORS at the front door: OPTIONS preflight requests, and Access-Control-* headers on actual requests.

A preflight is answered before authentication (browsers send no credentials with it) from the
bucket's rules alone, as S3 does: 200 with the matched rule's headers, 403 AccessForbidden when the
bucket has no CORS configuration or no rule allows the origin, method and requested headers. An
actual request carrying an Origin header gets the headers of the first rule allowing its origin and
method, on success and on error alike (so a browser script can read an S3 error).
"""

from __future__ import annotations

from collections.abc import Mapping

from s3server.access import cors
from s3server.access.configs import BucketConfig, BucketConfigs
from s3server.s3.context import S3Response
from s3server.s3.errors import S3Error

NOT_ENABLED = "CORSResponse: CORS is not enabled for this bucket."
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)


async def preflight(
    headers: Mapping[str, str], bucket: str | None, key: str | None, configs: BucketConfigs
) -> S3Response:
    """The answer to `OPTIONS /bucket[/key]`."""
    origin = headers.get("Origin")
    if not origin:
        raise S3Error("BadRequest", "Insufficient information. Origin request header needed.")
    method = headers.get("Access-Control-Request-Method")
    if method not in cors.METHODS:
        raise S3Error("BadRequest", f"Invalid Access-Control-Request-Method: {method or 'null'}")
    resource_type = "OBJECT" if key is not None else "BUCKET"
    if bucket is None:
        raise S3Error("AccessForbidden", NOT_ENABLED, Method=method, ResourceType="SERVICE")
    config = await configs.get(bucket)
    if config is None:
        raise S3Error("NoSuchBucket", BucketName=bucket)
    if not config.cors:
        raise S3Error("AccessForbidden", NOT_ENABLED, Method=method, ResourceType=resource_type)
    requested = cors.requested_headers(headers.get("Access-Control-Request-Headers"))
    rule = cors.match(config.cors, origin, method, requested)
    if rule is None:
        raise S3Error("AccessForbidden", NOT_ALLOWED, Method=method, ResourceType=resource_type)
    return S3Response(headers=cors.response_headers(rule, origin, preflight=True, headers=requested))


def actual_headers(config: BucketConfig | None, origin: str | None, method: str) -> dict[str, str]:
    """Access-Control-* headers for a request from `origin`, or none when no rule allows it."""
    if not origin or config is None or not config.cors:
        return {}
    rule = cors.match(config.cors, origin, method)
    return cors.response_headers(rule, origin, preflight=False) if rule is not None else {}
