"""A small independent SigV4 signer for hand-built requests (aws-chunked bodies, odd headers)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


@dataclass
class Signed:
    headers: dict[str, str]
    signature: str
    signing_key: bytes
    amz_date: str
    scope: str


def sign_v4(
    method: str,
    url: str,
    headers: dict[str, str],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    *,
    region: str = "us-east-1",
    when: datetime | None = None,
) -> Signed:
    """Sign with the Authorization header; every given header (plus host and x-amz-*) is signed."""
    when = when or datetime.now(UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urlsplit(url)
    out = dict(headers)
    out["host"] = parts.netloc
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_hash
    names = sorted(k.lower() for k in out)
    lowered = {k.lower(): str(v).strip() for k, v in out.items()}
    canonical_headers = "".join(f"{n}:{lowered[n]}\n" for n in names)
    signed_headers = ";".join(names)
    query_pairs = []
    for part in parts.query.split("&") if parts.query else []:
        name, _, value = part.partition("=")
        query_pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    canonical_query = "&".join(f"{n}={v}" for n, v in sorted(query_pairs))
    canonical = "\n".join(
        [method, parts.path or "/", canonical_query, canonical_headers, signed_headers, payload_hash]
    )
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return Signed(out, signature, key, amz_date, scope)


def chunk_signature(signed: Signed, previous: str, data: bytes) -> str:
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            signed.amz_date,
            signed.scope,
            previous,
            EMPTY_SHA256,
            hashlib.sha256(data).hexdigest(),
        ]
    )
    return hmac.new(signed.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()


def trailer_signature(signed: Signed, previous: str, trailer_text: str) -> str:
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            signed.amz_date,
            signed.scope,
            previous,
            hashlib.sha256(trailer_text.encode()).hexdigest(),
        ]
    )
    return hmac.new(signed.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()


def signed_chunks(signed: Signed, chunks: list[bytes], trailers: dict[str, str] | None = None) -> bytes:
    """An aws-chunked body with chained chunk signatures (and a signed trailer when trailers are given)."""
    out = bytearray()
    previous = signed.signature
    for data in [*chunks, b""]:
        previous = chunk_signature(signed, previous, data)
        out += f"{len(data):x};chunk-signature={previous}\r\n".encode() + data + b"\r\n"
    if trailers:
        out = out[:-2]  # the trailer follows the final chunk header directly
        text = "".join(f"{k}:{v}\n" for k, v in trailers.items())
        for k, v in trailers.items():
            out += f"{k}:{v}\r\n".encode()
        out += f"x-amz-trailer-signature:{trailer_signature(signed, previous, text)}\r\n\r\n".encode()
    return bytes(out)


def unsigned_chunks(chunks: list[bytes], trailers: dict[str, str] | None = None) -> bytes:
    """An aws-chunked body without signatures, as STREAMING-UNSIGNED-PAYLOAD-TRAILER sends it."""
    out = bytearray()
    for data in chunks:
        out += f"{len(data):x}\r\n".encode() + data + b"\r\n"
    out += b"0\r\n"
    for k, v in (trailers or {}).items():
        out += f"{k}:{v}\r\n".encode()
    out += b"\r\n"
    return bytes(out)
