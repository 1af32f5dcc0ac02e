"""aws-chunked request bodies, decoded as a stream.

The framing is `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n` repeated, a zero-size final
chunk, then optional trailer lines (`x-amz-checksum-crc32:<b64>`, and for signed trailers
`x-amz-trailer-signature:<sig>`) and an empty line. Signed modes chain every chunk's signature from the
request's seed signature; a bad signature, bad framing, a truncated body or a decoded length other than
x-amz-decoded-content-length stops the stream with AWS's error, so the saga stores nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.client_exceptions import ClientPayloadError

from s3server.gateway import sigv4
from s3server.gateway.auth import AuthResult
from s3server.gateway.body import send_continue
from s3server.s3.errors import S3Error

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MODES = frozenset({SIGNED, SIGNED_TRAILER, UNSIGNED_TRAILER})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PIECE = 1024 * 1024
MAX_LINE = 4096
MAX_TRAILER_LINES = 16


def is_aws_chunked(content_encoding: str, payload_hash: str | None) -> bool:
    """aws-chunked when the signer said so, or when Content-Encoding says so (some SDKs sign unsigned)."""
    return payload_hash in MODES or "aws-chunked" in content_encoding.lower()


def _incomplete(message: str = "The request body terminated unexpectedly") -> S3Error:
    return S3Error("IncompleteBody", message)


class AwsChunkedBody:
    """A Body whose bytes are the decoded chunk data; `trailers` holds the trailer headers afterwards."""

    __slots__ = ("_auth", "_consumed", "_request", "_signed", "expected_sha256", "length", "mode", "trailers")

    def __init__(self, request: web.Request, auth: AuthResult | None, payload_hash: str | None) -> None:
        self._request = request
        self._auth = auth
        self.mode = payload_hash if payload_hash in MODES else UNSIGNED_TRAILER
        self._signed = self.mode in (SIGNED, SIGNED_TRAILER)
        if self._signed and (auth is None or auth.version != 4 or not auth.signing_key):
            raise S3Error("InvalidRequest", "Streaming signed payloads need AWS Signature Version 4")
        raw_length = request.headers.get("x-amz-decoded-content-length")
        if raw_length is None:
            raise S3Error("MissingContentLength", "You must provide the x-amz-decoded-content-length header.")
        try:
            self.length: int | None = int(raw_length)
        except ValueError as exc:
            raise S3Error("InvalidArgument", "x-amz-decoded-content-length is not a number") from exc
        if self.length < 0:
            raise S3Error("InvalidArgument", "x-amz-decoded-content-length is negative")
        self.expected_sha256: str | None = None  # each chunk is verified instead
        self.trailers: dict[str, str] = {}
        self._consumed = False

    async def _line(self) -> bytes:
        content = self._request.content
        try:
            line = await content.readuntil(b"\n")
        except (ValueError, asyncio.LimitOverrunError) as exc:  # a line longer than the buffer limit
            raise _incomplete() from exc
        if not line.endswith(b"\r\n") or len(line) > MAX_LINE:
            raise _incomplete()
        return line[:-2]

    async def _exactly(self, n: int) -> bytes:
        try:
            return await self._request.content.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            raise _incomplete() from exc

    def _check_signature(self, previous: str, provided: str | None, chunk_sha256: str) -> str:
        assert self._auth is not None
        if provided is None:
            raise _incomplete()
        expected = sigv4.sign(
            self._auth.signing_key,
            sigv4.chunk_string_to_sign(self._auth.amz_date, self._auth.scope, previous, chunk_sha256),
        )
        if not hmac.compare_digest(expected, provided):
            raise S3Error("SignatureDoesNotMatch")
        return expected

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._consumed:
            raise RuntimeError("body already consumed")
        self._consumed = True
        assert self.length is not None
        await send_continue(self._request)
        content = self._request.content
        previous = self._auth.signature if self._auth is not None else ""
        decoded = 0
        try:
            while True:
                header = (await self._line()).decode("latin-1")
                size_text, _, extension = header.partition(";")
                try:
                    size = int(size_text.strip(), 16)
                except ValueError as exc:
                    raise _incomplete() from exc
                signature = None
                if extension:
                    name, _, value = extension.strip().partition("=")
                    if name == "chunk-signature":
                        signature = value.strip()
                if decoded + size > self.length:
                    raise S3Error(
                        "IncompleteBody",
                        "You did not provide the number of bytes specified by the Content-Length HTTP header",
                        NumberBytesExpected=str(self.length),
                        NumberBytesProvided=str(decoded + size),
                    )
                digest = hashlib.sha256() if self._signed else None
                remaining = size
                while remaining:
                    piece = await content.read(min(remaining, PIECE))
                    if not piece:
                        raise _incomplete()
                    remaining -= len(piece)
                    if digest is not None:
                        digest.update(piece)
                    yield piece
                decoded += size
                if self._signed:
                    previous = self._check_signature(
                        previous, signature, digest.hexdigest() if digest is not None else EMPTY_SHA256
                    )
                if size == 0:
                    break
                if await self._exactly(2) != b"\r\n":
                    raise _incomplete()
            await self._read_trailers(previous)
        except (ClientPayloadError, ConnectionResetError) as exc:
            raise _incomplete() from exc
        if decoded != self.length:
            raise S3Error(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
                NumberBytesExpected=str(self.length),
                NumberBytesProvided=str(decoded),
            )

    async def _read_trailers(self, previous: str) -> None:
        """Trailer lines up to the empty line; the signed-trailer mode checks their signature."""
        lines: list[str] = []
        signature = None
        for _ in range(MAX_TRAILER_LINES + 1):
            try:
                line = (await self._line()).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _incomplete() from exc
            if not line:
                break
            name, sep, value = line.partition(":")
            if not sep:
                raise _incomplete()
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                signature = value.strip()
                continue
            self.trailers[name] = value.strip()
            lines.append(f"{name}:{value.strip()}\n")
        else:
            raise _incomplete()
        if self.mode == SIGNED_TRAILER and self.trailers:
            assert self._auth is not None
            if signature is None:
                raise S3Error("SignatureDoesNotMatch", "The trailer signature is missing")
            trailer_sha = hashlib.sha256("".join(lines).encode()).hexdigest()
            expected = sigv4.sign(
                self._auth.signing_key,
                sigv4.trailer_string_to_sign(self._auth.amz_date, self._auth.scope, previous, trailer_sha),
            )
            if not hmac.compare_digest(expected, signature):
                raise S3Error("SignatureDoesNotMatch")

    async def read(self, limit: int) -> bytes:
        if self.length is not None and self.length > limit:
            raise S3Error("MalformedXML", "The request body is too large")
        return b"".join([piece async for piece in self.chunks()])
