"""The console's HTTP client for one S3 endpoint: signed S3 calls, the JSON admin API, streamed bodies.

The console is an ordinary client of the endpoint (SigV4 over HTTP or HTTPS), so it works against
any s3server. Errors come back as `S3CallError` carrying the S3 (or admin API) code and message.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import aiohttp
from lxml import etree
from yarl import URL

from ui.signing import EMPTY_SHA256, UNSIGNED_PAYLOAD, Keys, canonical_query, encode_path, presign_query
from ui.signing import sign_headers as _sign_headers

MAX_ERROR_BODY = 64 * 1024
# One parser for every XML answer: no entities, no network, no huge trees.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)

_STATUS_CODES = {
    400: "BadRequest",
    403: "AccessDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    429: "TooManyRequests",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


class S3CallError(Exception):
    """The endpoint answered with an error (S3 XML or admin JSON)."""

    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class EndpointUnreachable(Exception):
    """No HTTP answer from the endpoint (refused, reset, timed out)."""


def parse_xml(body: bytes) -> etree._Element:
    return etree.fromstring(body, _PARSER)


def find_text(node: etree._Element, path: str, default: str = "") -> str:
    """Text of the first element at `path` (steps without namespaces), or `default`."""
    found = node.find("/".join("{*}" + step for step in path.split("/")))
    return found.text or "" if found is not None else default


def find_all(node: etree._Element, name: str) -> list[etree._Element]:
    return list(node.iterfind("{*}" + name))


def error_from(status: int, body: bytes) -> S3CallError:
    """An S3CallError from an S3 XML error, an admin JSON error, or just the status."""
    code, message = _STATUS_CODES.get(status, f"HTTP{status}"), ""
    text = body[:MAX_ERROR_BODY]
    if text.lstrip().startswith(b"<"):
        try:
            root = parse_xml(text)
            code = find_text(root, "Code") or code
            message = find_text(root, "Message")
        except etree.XMLSyntaxError:
            pass
    elif text.lstrip().startswith(b"{"):
        try:
            err = json.loads(text).get("error", {})
            code = str(err.get("code") or code)
            message = str(err.get("message") or "")
        except (ValueError, AttributeError):
            pass
    return S3CallError(status, code, message)


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def xml(self) -> etree._Element:
        return parse_xml(self.body)


def decode_listing(value: str, encoded: bool) -> str:
    return unquote_plus(value) if encoded else value


class Endpoint:
    """One S3 endpoint and a connection pool to it."""

    def __init__(
        self,
        url: str,
        *,
        region: str = "us-east-1",
        ssl_context: ssl.SSLContext | None = None,
        read_timeout: float = 120.0,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the endpoint must be an http:// or https:// URL, not {url!r}")
        self.scheme = parts.scheme
        self.host = parts.netloc.rpartition("@")[2]
        self.base = f"{parts.scheme}://{self.host}"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.region = region
        self.ssl_context = ssl_context
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=64, ssl=self.ssl_context if self.ssl_context else True)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def pinned(self) -> aiohttp.ClientSession:
        """A one-connection session: every request it sends reaches the same server process."""
        connector = aiohttp.TCPConnector(limit=1, ssl=self.ssl_context if self.ssl_context else True)
        return aiohttp.ClientSession(connector=connector, timeout=self.timeout, auto_decompress=False)

    @staticmethod
    def path(bucket: str | None = None, key: str | None = None) -> str:
        if bucket is None:
            return "/"
        if key is None:
            return "/" + encode_path(bucket)
        return "/" + encode_path(bucket) + "/" + encode_path(key)

    def sign(
        self,
        keys: Keys | None,
        method: str,
        path: str,
        params: Iterable[tuple[str, str]],
        headers: Mapping[str, str] | None,
        payload_hash: str,
    ) -> dict[str, str]:
        """Signed headers, or (anonymous: keys None) just the given ones plus Host."""
        if keys is None:
            return {**(headers or {}), "host": self.host}
        return _sign_headers(
            keys,
            method=method,
            host=self.host,
            path=path,
            params=params,
            headers=headers,
            payload_hash=payload_hash,
            region=self.region,
        )

    def presign(self, keys: Keys, bucket: str, key: str, expires: int, base: str | None = None) -> str:
        """A presigned GET URL; `base` (scheme://host:port) when clients reach S3 by another address."""
        root = (base or self.base).rstrip("/")
        host = urlsplit(root).netloc
        path = self.path(bucket, key)
        query = presign_query(keys, method="GET", host=host, path=path, expires=expires, region=self.region)
        return f"{root}{path}?{query}"

    @asynccontextmanager
    async def open(
        self,
        keys: Keys | None,
        method: str,
        path: str,
        *,
        params: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        stream: AsyncIterable[bytes] | None = None,
        client: aiohttp.ClientSession | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a signed request and yield the response unread (for streaming it on)."""
        params = list(params)
        if stream is not None:
            payload_hash, data = UNSIGNED_PAYLOAD, stream
        elif body is not None:
            payload_hash, data = hashlib.sha256(body).hexdigest(), body
        else:
            payload_hash, data = EMPTY_SHA256, None
        signed = self.sign(keys, method, path, params, headers, payload_hash)
        query = canonical_query(params)
        url = URL(f"{self.base}{path}" + (f"?{query}" if query else ""), encoded=True)
        try:
            async with (client or self.session).request(method, url, headers=signed, data=data) as response:
                yield response
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise EndpointUnreachable(f"{self.base}: {exc or type(exc).__name__}") from exc

    async def call(
        self,
        keys: Keys | None,
        method: str,
        path: str,
        *,
        params: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        stream: AsyncIterable[bytes] | None = None,
        ok: Iterable[int] = (200, 201, 204, 206),
        client: aiohttp.ClientSession | None = None,
    ) -> Reply:
        """Send a signed request, read the (small) answer; an error status raises S3CallError."""
        async with self.open(
            keys, method, path, params=params, headers=headers, body=body, stream=stream, client=client
        ) as response:
            data = await response.read()
            if response.status not in set(ok):
                raise error_from(response.status, data)
            return Reply(response.status, response.headers, data)

    async def admin(
        self,
        keys: Keys,
        method: str,
        path: str,
        value: Any = None,
        *,
        params: Iterable[tuple[str, str]] = (),
        client: aiohttp.ClientSession | None = None,
    ) -> Any:
        """Call the JSON admin API (path under /_admin/); returns the decoded answer."""
        body = json.dumps(value).encode() if value is not None else None
        headers = {"content-type": "application/json"} if body is not None else None
        reply = await self.call(keys, method, path, params=params, headers=headers, body=body, client=client)
        return json.loads(reply.body) if reply.body.strip() else None
