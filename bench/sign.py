"""SigV4 header signing for the load generator, independent of the server's verifier and of botocore.

Written for speed rather than generality: the caller passes the path and query already URI-encoded
(keys and queries of the benchmark are plain ASCII), the signing key is derived once per
(secret, date, region, service), and the timestamp string is rebuilt once a second. Two payload modes:
`UNSIGNED-PAYLOAD`, and a signed payload whose x-amz-content-sha256 is the hex SHA-256 of the body.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from urllib.parse import quote

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ALGORITHM = "AWS4-HMAC-SHA256"


@functools.lru_cache(maxsize=64)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning: the HMAC chain over date, region, service and "aws4_request" (cached: it changes daily)."""
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def uri_encode(value: str, keep_slash: bool = False) -> str:
    """AWS's URI encoding: everything but unreserved characters (and '/' in paths) percent-encoded."""
    return quote(value, safe="/-_.~" if keep_slash else "-_.~")


def canonical_query(params: dict[str, str] | None) -> str:
    """Encoded, sorted `name=value&…`: valid both in the request line and in the canonical request."""
    if not params:
        return ""
    return "&".join(f"{n}={v}" for n, v in sorted((uri_encode(k), uri_encode(v)) for k, v in params.items()))


def payload_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Signer:
    """Signs requests for one endpoint and one key pair; returns the header lines to send."""

    def __init__(
        self, access_key: str, secret_key: str, host: str, region: str = "us-east-1", service: str = "s3"
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.host = host
        self.region = region
        self.service = service
        self._second = -1
        self._amz_date = ""

    def amz_date(self, now: float | None = None) -> str:
        """The x-amz-date for `now` (default: the clock), formatted once per second."""
        if now is not None:
            return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        return self._amz_date

    def headers(
        self,
        method: str,
        path: str,
        query: str,
        payload_hash: str,
        extra: dict[str, str] | None = None,
        now: float | None = None,
    ) -> str:
        """`Name: value\\r\\n` lines for Host, x-amz-date, x-amz-content-sha256, Authorization (and
        `extra`, which are signed too). `path` and `query` must already be in canonical form."""
        amz_date = self.amz_date(now)
        date = amz_date[:8]
        if extra:
            signed = {k.lower(): " ".join(v.split()) for k, v in extra.items()}
            signed.update({"host": self.host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date})
            names = sorted(signed)
            canonical_headers = "".join(f"{n}:{signed[n]}\n" for n in names)
            signed_headers = ";".join(names)
        else:
            canonical_headers = (
                f"host:{self.host}\nx-amz-content-sha256:{payload_hash}\nx-amz-date:{amz_date}\n"
            )
            signed_headers = "host;x-amz-content-sha256;x-amz-date"
        canonical = f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = signing_key(self.secret_key, date, self.region, self.service)
        signature = hmac.digest(key, to_sign.encode(), "sha256").hex()
        lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items()) if extra else ""
        return (
            f"Host: {self.host}\r\nx-amz-date: {amz_date}\r\nx-amz-content-sha256: {payload_hash}\r\n{lines}"
            f"Authorization: {ALGORITHM} Credential={self.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature}\r\n"
        )
