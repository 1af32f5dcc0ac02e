"""A small asyncio S3 client (aiohttp + our own SigV4 signer) for many concurrent requests, and for
the JSON admin API; boto3's threads are too heavy for hundreds of requests in flight."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from tests.support.server import RunningServer
from tests.support.signer import sign_v4

UNSIGNED = "UNSIGNED-PAYLOAD"


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]  # case-insensitive
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class S3Client:
    """Signed requests against one server; use as an async context manager."""

    def __init__(self, server: RunningServer, *, connections: int = 64, timeout: float = 120) -> None:
        self.server = server
        self._connections = connections
        self._timeout = timeout
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> S3Client:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=self._timeout),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    def _signed(self, method: str, url: str, headers: dict[str, str], payload_hash: str) -> dict[str, str]:
        return sign_v4(
            method, url, headers, payload_hash, self.server.access_key, self.server.secret_key
        ).headers

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        sign_payload: bool = False,
    ) -> Reply:
        assert self.session is not None
        url = self.server.endpoint + path
        payload_hash = hashlib.sha256(body).hexdigest() if sign_payload else UNSIGNED
        signed = self._signed(
            method, url, {**(headers or {}), "content-length": str(len(body))}, payload_hash
        )
        async with self.session.request(method, url, data=body, headers=signed) as resp:
            return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())

    async def put(self, bucket: str, key: str, body: bytes) -> Reply:
        return await self.request("PUT", f"/{bucket}/{key}", body)

    async def get(self, bucket: str, key: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", f"/{bucket}/{key}", headers=headers)

    async def delete(self, bucket: str, key: str) -> Reply:
        return await self.request("DELETE", f"/{bucket}/{key}")

    async def create_bucket(self, bucket: str) -> None:
        reply = await self.request("PUT", f"/{bucket}")
        assert reply.status == 200, reply

    async def admin(self, method: str, path: str, document: dict[str, Any] | None = None) -> Reply:
        """A JSON admin call, its body signed (not UNSIGNED-PAYLOAD)."""
        body = json.dumps(document).encode() if document is not None else b""
        headers = {"content-type": "application/json"} if document is not None else {}
        return await self.request(method, path, body, headers, sign_payload=True)

    async def stream(
        self, bucket: str, key: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, bool]:
        """GET, keeping whatever arrived before the connection broke: (status, bytes, complete)."""
        assert self.session is not None
        url = f"{self.server.endpoint}/{bucket}/{key}"
        signed = self._signed("GET", url, headers or {}, UNSIGNED)
        received = bytearray()
        async with self.session.get(url, headers=signed) as resp:
            try:
                async for piece in resp.content.iter_any():
                    received += piece
            except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, ConnectionError):
                return resp.status, bytes(received), False
            return resp.status, bytes(received), True
