"""CORS at the front door: OPTIONS preflight requests, and Access-Control-* headers on actual requests.

A preflight is answered before authentication (browsers send no credentials with it) from the
bucket's rules alone, as S3 does: 200 with the matched rule's headers, 403 AccessForbidden when the
bucket has no CORS configuration or no rule allows the origin, method and requested headers. An
actual request carrying an Origin header gets the headers of the first rule allowing its origin and
method, on success and on error alike (so a browser script can read an S3 error).

One addition AWS does not have: the server's own web console may send browser uploads (PostObject,
`POST /bucket` without a sub-resource) from its origin to any bucket, whatever the bucket's rules, as
the console runs on another port of the same host (`ConsoleOrigins`). Only that one operation is let
through: the upload is still authorised by its signed policy, and a browser sends no credentials
with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

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


CONSOLE_EXPOSED = ("ETag", "Location", "x-amz-version-id", "x-amz-request-id")
CONSOLE_MAX_AGE = 600


class ConsoleOrigins:
    """The origins of the web console that may post browser uploads: the listed ones, and (when the
    console runs next to this API) `scheme://HOST:console-port` for the host name the request used."""

    def __init__(self, scheme: str, port: int | None, listed: Sequence[str] = ()) -> None:
        self.scheme = scheme
        self.port = port
        self.listed = frozenset(origin.rstrip("/") for origin in listed)

    def allows(self, origin: str | None, host: str) -> bool:
        if not origin:
            return False
        if origin in self.listed:
            return True
        if self.port is None:
            return False
        try:
            sent, ours = urlsplit(origin), urlsplit("//" + host)
            return (
                sent.scheme == self.scheme
                and sent.port == self.port
                and sent.hostname is not None
                and sent.hostname == ours.hostname
                and not sent.path
            )
        except ValueError:
            return False

    def rule(
        self, origin: str | None, host: str, key: str | None, query: Mapping[str, str]
    ) -> cors.CorsRule | None:
        """The rule letting the console post a browser upload here, when this request is one."""
        if key is not None or query or origin is None or not self.allows(origin, host):
            return None
        return cors.CorsRule(
            allowed_origins=(origin,),
            allowed_methods=("POST",),
            allowed_headers=("*",),
            expose_headers=CONSOLE_EXPOSED,
            max_age=CONSOLE_MAX_AGE,
            rule_id="console",
        )


async def preflight(
    headers: Mapping[str, str],
    bucket: str | None,
    key: str | None,
    configs: BucketConfigs,
    console: cors.CorsRule | None = None,
) -> S3Response:
    """The answer to `OPTIONS /bucket[/key]`; `console` is the console's rule when it applies."""
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
    requested = cors.requested_headers(headers.get("Access-Control-Request-Headers"))
    rule = cors.match(config.cors, origin, method, requested) if config.cors else None
    if rule is None and console is not None and method == "POST":
        rule = console
    if rule is None and not config.cors:
        raise S3Error("AccessForbidden", NOT_ENABLED, Method=method, ResourceType=resource_type)
    if rule is None:
        raise S3Error("AccessForbidden", NOT_ALLOWED, Method=method, ResourceType=resource_type)
    return S3Response(headers=cors.response_headers(rule, origin, preflight=True, headers=requested))


def actual_headers(
    config: BucketConfig | None, origin: str | None, method: str, console: cors.CorsRule | None = None
) -> dict[str, str]:
    """Access-Control-* headers for a request from `origin`, or none when no rule allows it."""
    if not origin:
        return {}
    rule = cors.match(config.cors, origin, method) if config is not None and config.cors else None
    if rule is None and method == "POST":
        rule = console
    return cors.response_headers(rule, origin, preflight=False) if rule is not None else {}
