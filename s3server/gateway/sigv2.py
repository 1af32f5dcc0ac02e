"""AWS Signature Version 2 verification for S3 (HMAC-SHA1): ``Authorization: AWS key:sig`` and presigned
query strings (``AWSAccessKeyId``, ``Signature``, ``Expires``).

Still needed: boto3's ``generate_presigned_url`` and ``aws s3 presign`` produce V2 URLs by default.
As in ``sigv4``, parsing (no secret) and ``verify`` (secret) are separate steps.

Errors raised (all ``S3Error``):
    InvalidArgument         an ``AWS`` Authorization header without ``key:signature``
    AccessDenied            no usable (or a pre-epoch) date, missing query parameters, expired URL
    RequestTimeTooSkewed    header auth more than 15 minutes off the server clock
    SignatureDoesNotMatch   the HMAC differs
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING
from urllib.parse import unquote

from s3server.gateway.sigv4 import (
    canonical_uris,
    check_skew,
    iso8601,
    parse_amz_date,
    parse_http_date,
    xml_safe,
)
from s3server.s3.errors import S3Error

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from s3server.gateway.request import RequestView
    from s3server.gateway.sigv4 import QueryPairs

P_ACCESS_KEY = "AWSAccessKeyId"
P_SIGNATURE = "Signature"
P_EXPIRES = "Expires"
# Either of these in the query selects V2 query auth (Expires alone is an ordinary parameter).
QUERY_TRIGGERS = frozenset({P_ACCESS_KEY, P_SIGNATURE})
_QUERY_PARAMS = frozenset({P_ACCESS_KEY, P_SIGNATURE, P_EXPIRES})

# Query parameters that V2 includes in the CanonicalizedResource: AWS's documented list plus every
# one botocore's HmacV1Auth signs, since that is what real V2 clients produce.
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)

_MALFORMED_HEADER = "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"
_MISSING_QUERY_PARAMS = (
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
)
_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

AmzHeaders = dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class V2Request:
    """A SigV2 request whose shape and time have been checked; ``verify`` finishes it with the secret."""

    access_key: str
    signature: str  # base64, as the client sent it (query value already percent-decoded)
    expires: str | None  # presigned: the Expires value that takes the Date line's place


def sign(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 of the string to sign."""
    digest = hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8", "surrogateescape"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def string_to_sign(
    method: str, content_md5: str, content_type: str, date: str, amz_headers: str, resource: str
) -> str:
    """VERB, Content-MD5, Content-Type, Date (or Expires), CanonicalizedAmzHeaders, CanonicalizedResource."""
    return f"{method}\n{content_md5}\n{content_type}\n{date}\n{amz_headers}{resource}"


def canonical_amz_headers(amz_headers: AmzHeaders) -> str:
    """Sorted ``name:v1,v2\\n`` lines for the x-amz-* headers (names lower-cased, values trimmed)."""
    return "".join(f"{name}:{','.join(amz_headers[name])}\n" for name in sorted(amz_headers))


def collect_amz_headers(headers: Mapping[str, str]) -> AmzHeaders:
    """Every x-amz-* header by lower-cased name, repeated ones kept in arrival order."""
    found: AmzHeaders = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname.startswith("x-amz-"):
            found.setdefault(lname, []).append(value.strip())
    return found


def subresource_suffix(pairs: Sequence[tuple[str, str | None]]) -> str:
    """``?name[=value]&…`` for the signed sub-resources, names as sent, values percent-decoded, sorted
    by name (a stable sort, so repeated names keep their order)."""
    chosen = [
        (name, None if value is None else unquote(value)) for name, value in pairs if name in SUBRESOURCES
    ]
    if not chosen:
        return ""
    chosen.sort(key=itemgetter(0))
    return "?" + "&".join(name if value is None else f"{name}={value}" for name, value in chosen)


def canonical_resources(
    raw_path: str, pairs: Sequence[tuple[str, str | None]], virtual_bucket: str | None
) -> list[str]:
    """CanonicalizedResource candidates: "/bucket" (virtual-hosted) + path + sub-resources, with the path as
    sent first and then canonically re-encoded (more lenient than AWS, for clients that skip encoding).

    A path-style bucket request ("/bucket") is also tried as "/bucket/": botocore signs bucket-level
    operations with the trailing slash whatever the addressing style.
    """
    prefix = f"/{virtual_bucket}" if virtual_bucket else ""
    suffix = subresource_suffix(pairs)
    paths = list(canonical_uris(raw_path))
    if not virtual_bucket and raw_path.count("/") == 1 and len(raw_path) > 1 and raw_path[0] == "/":
        paths.append(raw_path + "/")
    return [f"{prefix}{path}{suffix}" for path in paths]


def parse_header_auth(req: RequestView, authorization: str, now: datetime) -> V2Request:
    """Parse ``AWS AKID:signature`` and check the request time (x-amz-date wins over Date)."""
    _, _, rest = authorization.strip().partition(" ")
    access_key, sep, signature = rest.strip().rpartition(":")
    if not (sep and access_key and signature):
        raise S3Error(
            "InvalidArgument", _MALFORMED_HEADER, ArgumentName="Authorization", ArgumentValue=authorization
        )
    headers = req.headers
    raw = headers.get("x-amz-date")
    if raw is None:
        raw = headers.get("date")
    moment = None
    if raw is not None:
        moment = parse_amz_date(raw.strip()) or parse_http_date(raw)
    # A date before the epoch is no valid date to S3 (it is not merely skewed).
    if raw is None or moment is None or moment < _EPOCH:
        raise S3Error("AccessDenied", _NO_DATE)
    check_skew(moment, raw, now)
    return V2Request(access_key=access_key, signature=signature, expires=None)


def parse_query_auth(req: RequestView, pairs: QueryPairs, now: datetime) -> V2Request:
    """Parse AWSAccessKeyId/Signature/Expires; refuse an expired URL (no skew check: Expires is absolute)."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in _QUERY_PARAMS:
            params.setdefault(name, unquote(value or ""))
    if len(params) != len(_QUERY_PARAMS) or not all(params.values()):
        raise S3Error("AccessDenied", _MISSING_QUERY_PARAMS)
    expires = params[P_EXPIRES]
    if not (expires.isascii() and expires.isdigit()):
        raise S3Error("AccessDenied", f"Invalid date (should be seconds since epoch): {xml_safe(expires)}")
    if now.timestamp() > int(expires):
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            Expires=iso8601(datetime.fromtimestamp(int(expires), UTC)),
            ServerTime=iso8601(now),
        )
    return V2Request(access_key=params[P_ACCESS_KEY], signature=params[P_SIGNATURE], expires=expires)


def _query_headers(pairs: QueryPairs) -> tuple[str | None, str | None, AmzHeaders]:
    """Headers a V2 presigner moved into the query (botocore copies Content-Type/MD5 and x-amz-*)."""
    content_md5: str | None = None
    content_type: str | None = None
    amz: AmzHeaders = {}
    for name, value in pairs:
        lname = name.lower()
        if lname == "content-md5":
            content_md5 = unquote(value or "")
        elif lname == "content-type":
            content_type = unquote(value or "")
        elif lname.startswith("x-amz-"):
            amz.setdefault(lname, []).append(unquote(value or "").strip())
    return content_md5, content_type, amz


def verify(req: RequestView, parsed: V2Request, pairs: QueryPairs, secret: str) -> None:
    """Recompute the signature with ``secret``; raise SignatureDoesNotMatch if no accepted form matches.

    Forms tried, first match wins: the Date header as botocore signs it, then an empty Date line when
    x-amz-date is present (AWS's documented rule); for presigned URLs, also the headers the presigner
    copied into the query standing in for ones the request does not carry.
    """
    headers = req.headers
    content_md5 = headers.get("content-md5", "").strip()
    content_type = headers.get("content-type", "").strip()
    amz = collect_amz_headers(headers)
    header_sets = [(content_md5, content_type, amz)]
    if parsed.expires is not None:
        dates = [parsed.expires]
        q_md5, q_type, q_amz = _query_headers(pairs)
        if q_md5 is not None or q_type is not None or q_amz:
            merged = dict(amz)
            for name, values in q_amz.items():
                merged.setdefault(name, values)
            header_sets.append((content_md5 or q_md5 or "", content_type or q_type or "", merged))
    else:
        date = headers.get("date", "").strip()
        dates = [date, ""] if date and "x-amz-date" in amz else [date]
    resources = canonical_resources(req.raw_path, pairs, req.virtual_bucket)

    provided = parsed.signature.encode("utf-8", "surrogateescape")
    first: str | None = None
    for md5, ctype, amz_set in header_sets:
        amz_block = canonical_amz_headers(amz_set)
        for date in dates:
            for resource in resources:
                to_sign = string_to_sign(req.method, md5, ctype, date, amz_block, resource)
                if hmac.compare_digest(sign(secret, to_sign).encode("ascii"), provided):
                    return
                if first is None:
                    first = to_sign
    raise S3Error(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=xml_safe(parsed.access_key),
        StringToSign=xml_safe(first or ""),
        SignatureProvided=xml_safe(parsed.signature),
    )
