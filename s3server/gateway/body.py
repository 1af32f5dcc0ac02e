"""Plain request bodies (framed by Content-Length); aws-chunked bodies live in chunked.py."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.client_exceptions import ClientPayloadError

from s3server.s3.errors import S3Error

_HEX = frozenset("0123456789abcdef")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CONTINUED = "s3server.continued"  # request key: the 100 Continue went out


def awaits_continue(request: web.Request) -> bool:
    """The client is holding its body back until it hears 100 Continue, which it has not yet."""
    return request.headers.get("Expect", "").lower() == "100-continue" and CONTINUED not in request


async def send_continue(request: web.Request) -> None:
    """Answer `Expect: 100-continue` now that the body is wanted: a request refused earlier got its
    error instead, and its client never sent the body (the gateway defers aiohttp's early 100)."""
    if awaits_continue(request):
        request[CONTINUED] = True
        if request.version >= (1, 1):
            await request.writer.write(CONTINUE)
            request.writer.output_size = 0  # the response proper has not started (as aiohttp's hook does)


def signed_payload_sha256(payload_hash: str | None) -> str | None:
    """The hex SHA-256 the signer committed to, or None for UNSIGNED-PAYLOAD and streaming modes."""
    if payload_hash and len(payload_hash) == 64 and set(payload_hash.lower()) <= _HEX:
        return payload_hash.lower()
    return None


class PlainBody:
    """A body framed by Content-Length (or Transfer-Encoding: chunked, more lenient than AWS)."""

    __slots__ = ("_consumed", "_request", "expected_sha256", "length", "trailers")

    def __init__(self, request: web.Request, expected_sha256: str | None) -> None:
        self._request = request
        self.length = request.content_length
        self.expected_sha256 = expected_sha256
        self.trailers: dict[str, str] = {}  # plain bodies have none
        self._consumed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._consumed:
            raise RuntimeError("body already consumed")
        self._consumed = True
        await send_continue(self._request)
        content = self._request.content
        received = 0
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    break
                received += len(chunk)
                yield chunk
        except (ClientPayloadError, ConnectionResetError) as exc:
            raise S3Error("IncompleteBody") from exc
        if self.length is not None and received != self.length:
            raise S3Error("IncompleteBody")

    async def read(self, limit: int) -> bytes:
        if self.length is not None and self.length > limit:
            raise S3Error("MalformedXML", "The request body is too large")
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                raise S3Error("MalformedXML", "The request body is too large")
            parts.append(chunk)
        data = b"".join(parts)
        if self.expected_sha256 is not None:
            actual = hashlib.sha256(data).hexdigest()
            if actual != self.expected_sha256:
                raise S3Error(
                    "XAmzContentSHA256Mismatch",
                    ClientComputedContentSHA256=self.expected_sha256,
                    S3ComputedContentSHA256=actual,
                )
        return data
