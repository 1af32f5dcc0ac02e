"""Who signed this request? Transport-independent S3 request authentication (SigV4 and SigV2).

The gateway middleware builds a ``RequestView`` from the wire request and calls ``authenticate`` with a
credential lookup. Four mechanisms are recognised, and exactly one may be used per request:

    Authorization: AWS4-HMAC-SHA256 …     sigv4.parse_header_auth
    ?X-Amz-Algorithm=…&X-Amz-Signature=…  sigv4.parse_query_auth   (presigned V4)
    Authorization: AWS key:sig            sigv2.parse_header_auth
    ?AWSAccessKeyId=…&Signature=…         sigv2.parse_query_auth   (presigned V2, boto3's default)

Every failure is an ``S3Error`` with AWS's code; the payload hash is only reported, never checked here
(bodies stream; the body reader verifies it). Browser-upload forms (PostObject) sign their policy field
instead of the request: ``authenticate_form`` checks those, once the handler has read the fields.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
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


# -- POST Object: the signature is over the form's base64 policy, not over the request

_POST_V4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "policy")
_POST_V2_FIELDS = ("awsaccesskeyid", "signature", "policy")


def _missing_field(name: str) -> S3Error:
    original = {"awsaccesskeyid": "AWSAccessKeyId"}.get(name, name)
    return S3Error(
        "InvalidArgument",
        f"Bucket POST must contain a field named '{original}'.  If it is specified, please check the order "
        "of the fields.",
        ArgumentName=original,
        ArgumentValue="",
    )


def _required(fields: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if not fields.get(name):
            raise _missing_field(name)


def _post_mismatch(access_key: str, policy: str, provided: str) -> S3Error:
    return S3Error(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=sigv4.xml_safe(access_key),
        StringToSign=sigv4.xml_safe(policy),
        SignatureProvided=sigv4.xml_safe(provided),
    )


async def authenticate_form(fields: Mapping[str, str], lookup: Lookup) -> AuthResult | None:
    """Who signed a browser-upload form (names lower-cased): SigV4 (x-amz-algorithm, x-amz-credential,
    x-amz-date, x-amz-signature) or SigV2 (AWSAccessKeyId, signature) over the policy field; None for
    an anonymous form. Expiry is the policy's business, so no clock check happens here."""
    if any(name in fields for name in ("x-amz-signature", "x-amz-credential", "x-amz-algorithm")):
        _required(fields, _POST_V4_FIELDS)
        if fields["x-amz-algorithm"] != sigv4.ALGORITHM:
            raise S3Error(
                "InvalidArgument",
                f'X-Amz-Algorithm only supports "{sigv4.ALGORITHM}"',
                ArgumentName="x-amz-algorithm",
                ArgumentValue=fields["x-amz-algorithm"],
            )
        prefix = "Error parsing the X-Amz-Credential parameter; "
        access_key, date, region, service = sigv4.parse_credential(
            fields["x-amz-credential"], "InvalidArgument", prefix
        )
        amz_date = fields["x-amz-date"]
        if sigv4.parse_amz_date(amz_date) is None or amz_date[:8] != date:
            raise S3Error(
                "InvalidArgument",
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and match the "
                "credential's date",
                ArgumentName="x-amz-date",
                ArgumentValue=amz_date,
            )
        credential = await _credential(access_key, lookup)
        signing_key = sigv4.derive_signing_key(credential.secret_key, date, region, service)
        policy, provided = fields["policy"], fields["x-amz-signature"]
        if not hmac.compare_digest(sigv4.sign(signing_key, policy), provided.lower()):
            raise _post_mismatch(access_key, policy, provided)
        return AuthResult(
            credential=credential,
            version=4,
            payload_hash=sigv4.UNSIGNED_PAYLOAD,
            signature=provided,
            amz_date=amz_date,
            scope=f"{date}/{region}/{service}/{sigv4.TERMINATOR}",
            signing_key=signing_key,
        )
    if "awsaccesskeyid" in fields or "signature" in fields or "policy" in fields:
        _required(fields, _POST_V2_FIELDS)
        access_key, policy, provided = fields["awsaccesskeyid"], fields["policy"], fields["signature"]
        credential = await _credential(access_key, lookup)
        if not hmac.compare_digest(sigv2.sign(credential.secret_key, policy), provided):
            raise _post_mismatch(access_key, policy, provided)
        return AuthResult(
            credential=credential, version=2, payload_hash=sigv4.UNSIGNED_PAYLOAD, signature=provided
        )
    return None
