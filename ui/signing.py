"""AWS Signature Version 4 for the console's own requests: Authorization headers, presigned URLs, and
the signed policies of browser-upload forms (PostObject).

The console signs on behalf of the signed-in user with the secret it keeps in the server-side session,
so the browser never sees a secret. Paths arrive already URI-encoded (S3 signs the path as sent, without
normalising it), queries as decoded (name, value) pairs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week


@dataclass(frozen=True, slots=True)
class Keys:
    """An access key pair; the secret stays out of reprs."""

    access_key: str
    secret_key: str = field(repr=False)


def encode_path(text: str) -> str:
    """URI-encode a path (bucket and key) the way S3 signs it: every byte but unreserved ones and '/'."""
    return quote(text, safe="/-_.~")


def encode_query(text: str) -> str:
    """URI-encode a query name or value: every byte but the unreserved ones."""
    return quote(text, safe="-_.~")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Encoded name=value pairs sorted by encoded name, then value."""
    pairs = sorted((encode_query(name), encode_query(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in pairs)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str) -> bytes:
    """kSigning: HMAC chain over the date, region, service and terminator."""
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, SERVICE)
    return _hmac(key, "aws4_request")


def _stamps(now: datetime | None) -> tuple[str, str]:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    return amz_date, amz_date[:8]


def _signature(
    keys: Keys,
    region: str,
    amz_date: str,
    canonical_request: str,
) -> tuple[str, str]:
    """(credential scope, hex signature) of a canonical request."""
    date = amz_date[:8]
    scope = f"{date}/{region}/{SERVICE}/aws4_request"
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    string_to_sign = "\n".join((ALGORITHM, amz_date, scope, digest))
    key = signing_key(keys.secret_key, date, region)
    return scope, hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def sign_headers(
    keys: Keys,
    *,
    method: str,
    host: str,
    path: str,
    params: Iterable[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
    payload_hash: str = EMPTY_SHA256,
    region: str = "us-east-1",
    now: datetime | None = None,
) -> dict[str, str]:
    """The request's headers plus Host, X-Amz-Date, X-Amz-Content-SHA256 and Authorization.

    Every header given is signed, so nothing a proxy could add changes what was signed.
    """
    amz_date, _ = _stamps(now)
    signed: dict[str, str] = {
        name.lower(): " ".join(str(value).split()) for name, value in (headers or {}).items()
    }
    signed["host"] = host
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_hash
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_names = ";".join(names)
    canonical = "\n".join(
        (method.upper(), path, canonical_query(params), canonical_headers, signed_names, payload_hash)
    )
    scope, signature = _signature(keys, region, amz_date, canonical)
    signed["authorization"] = (
        f"{ALGORITHM} Credential={keys.access_key}/{scope}, SignedHeaders={signed_names}, "
        f"Signature={signature}"
    )
    return signed


def presign_query(
    keys: Keys,
    *,
    method: str,
    host: str,
    path: str,
    expires: int,
    params: Iterable[tuple[str, str]] = (),
    region: str = "us-east-1",
    now: datetime | None = None,
) -> str:
    """The query string of a presigned URL (SigV4, only the Host header signed)."""
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expiry must be between 1 second and {MAX_PRESIGN_SECONDS} seconds")
    amz_date, date = _stamps(now)
    query = [
        *params,
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{keys.access_key}/{date}/{region}/{SERVICE}/aws4_request"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    canonical = "\n".join(
        (method.upper(), path, canonical_query(query), f"host:{host}\n", "host", UNSIGNED_PAYLOAD)
    )
    _, signature = _signature(keys, region, amz_date, canonical)
    return canonical_query([*query, ("X-Amz-Signature", signature)])


def post_form(
    keys: Keys,
    *,
    bucket: str,
    key: str,
    content_type: str,
    size: int,
    expires: int,
    region: str = "us-east-1",
    now: datetime | None = None,
) -> dict[str, str]:
    """The fields of a browser-upload form (without the file) that may store exactly `size` bytes as
    `key` in `bucket`, and nothing else, until `expires` seconds from now. The policy asks for a 201
    PostResponse, so the browser reads the new object's ETag from the answer's body."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date, date = _stamps(moment)
    fields = {
        "key": key,
        "Content-Type": content_type,
        "success_action_status": "201",
        "x-amz-algorithm": ALGORITHM,
        "x-amz-credential": f"{keys.access_key}/{date}/{region}/{SERVICE}/aws4_request",
        "x-amz-date": amz_date,
    }
    deadline = moment + timedelta(seconds=expires)
    policy = {
        "expiration": deadline.strftime("%Y-%m-%dT%H:%M:%S.") + f"{deadline.microsecond // 1000:03d}Z",
        "conditions": [
            {"bucket": bucket},
            *({name: value} for name, value in fields.items()),
            ["content-length-range", size, size],
        ],
    }
    encoded = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
    signature = hmac.new(signing_key(keys.secret_key, date, region), encoded.encode(), hashlib.sha256)
    return {**fields, "policy": encoded, "x-amz-signature": signature.hexdigest()}
