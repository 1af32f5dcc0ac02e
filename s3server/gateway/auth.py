"""Who signed this request? Transport-independent S3 request authentication (SigV4 and SigV2).

The gateway middleware builds a ``RequestView`` from the wire request and calls ``authenticate`` with a
credential lookup. Four mechanisms are recognised, and exactly one may be used per request:

    Authorization: AWS4-HMAC-SHA256 …     sigv4.parse_header_auth
    ?X-Amz-Algorithm=…&X-Amz-Signature=…  sigv4.parse_query_auth   (presigned V4)
    Authorization: AWS key:sig            sigv2.parse_header_auth
    ?AWSAccessKeyId=…&Signature=…         sigv2.parse_query_auth   (presigned V2, boto3's default)

Every failure is an ``S3Error`` with AWS's code; the payload hash is only reported, never checked here
(bodies stream; the body reader verifies it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from s3server.gateway import sigv2, sigv4
from s3server.gateway.request import RequestView
from s3server.identity.model import Credential
from s3server.s3.errors import S3Error

__all__ = ["AuthResult", "Credential", "Lookup", "RequestView", "authenticate"]


@dataclass(frozen=True, slots=True)
class AuthResult:
    credential: Credential
    version: int  # 2 or 4
    payload_hash: str  # v4: x-amz-content-sha256 as committed to ("UNSIGNED-PAYLOAD" if absent, presigned)
    signature: str  # hex (v4) / base64 (v2); v4: the seed signature for aws-chunked bodies
    amz_date: str = ""  # v4: ISO 8601 basic timestamp (20260101T000000Z)
    scope: str = ""  # v4: "20260101/us-east-1/s3/aws4_request"
    signing_key: bytes = field(default=b"", repr=False)  # v4: derived key, for chunk/trailer signatures


Lookup = Callable[[str], Awaitable[Credential | None]]

_V4_SCHEME = sigv4.ALGORITHM
_V2_SCHEME = "AWS"
_ONE_MECHANISM = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    "parameter or the Authorization header should be specified"
)


def _only_one(authorization: str | None) -> S3Error:
    return S3Error(
        "InvalidArgument",
        _ONE_MECHANISM,
        ArgumentName="Authorization",
        ArgumentValue=sigv4.xml_safe(authorization or ""),
    )


async def _credential(access_key: str, lookup: Lookup) -> Credential:
    credential = await lookup(access_key)
    if credential is None or not credential.active:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=sigv4.xml_safe(access_key))
    return credential


async def authenticate(req: RequestView, lookup: Lookup, now: datetime | None = None) -> AuthResult | None:
    """None for an anonymous request (no Authorization header, no signature in the query).
    Raises S3Error on any failure."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)

    authorization = req.headers.get("Authorization")
    pairs = sigv4.parse_query(req.raw_query)
    v4_query = v2_query = False
    for name, _ in pairs:
        if name in sigv4.QUERY_TRIGGERS:
            v4_query = True
        elif name in sigv2.QUERY_TRIGGERS:
            v2_query = True

    if authorization is not None:
        if v4_query or v2_query:
            raise _only_one(authorization)
        scheme = authorization.strip().partition(" ")[0]
        if scheme == _V4_SCHEME:
            return await _authenticate_v4(
                req, sigv4.parse_header_auth(req, authorization, pairs, now), lookup
            )
        if scheme == _V2_SCHEME:
            return await _authenticate_v2(
                req, sigv2.parse_header_auth(req, authorization, now), pairs, lookup
            )
        raise S3Error(
            "InvalidArgument",
            "Unsupported Authorization Type",
            ArgumentName="Authorization",
            ArgumentValue=sigv4.xml_safe(authorization),
        )
    if v4_query and v2_query:
        raise _only_one(None)
    if v4_query:
        return await _authenticate_v4(req, sigv4.parse_query_auth(req, pairs, now), lookup)
    if v2_query:
        return await _authenticate_v2(req, sigv2.parse_query_auth(req, pairs, now), pairs, lookup)
    return None


async def _authenticate_v4(req: RequestView, parsed: sigv4.V4Request, lookup: Lookup) -> AuthResult:
    credential = await _credential(parsed.access_key, lookup)
    signing_key = sigv4.verify(req, parsed, credential.secret_key)
    return AuthResult(
        credential=credential,
        version=4,
        payload_hash=parsed.payload_hash,
        signature=parsed.signature,
        amz_date=parsed.amz_date,
        scope=parsed.scope,
        signing_key=signing_key,
    )


async def _authenticate_v2(
    req: RequestView, parsed: sigv2.V2Request, pairs: sigv4.QueryPairs, lookup: Lookup
) -> AuthResult:
    credential = await _credential(parsed.access_key, lookup)
    sigv2.verify(req, parsed, pairs, credential.secret_key)
    return AuthResult(
        credential=credential,
        version=2,
        payload_hash=sigv4.UNSIGNED_PAYLOAD,
        signature=parsed.signature,
    )
