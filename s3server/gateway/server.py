"""The front door: one aiohttp catch-all route that resolves, authenticates, dispatches and renders.

The stages run in a fixed order for every request: request id → target (bucket/key from host or
path) → operation (router table) → signature (identity) → handler → response; any S3Error on the way
becomes AWS's XML error, anything unexpected a logged 500 InternalError, and one access-log line
closes every request.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections.abc import AsyncIterator
from urllib.parse import unquote

from aiohttp import web
from lxml import etree

from s3server.config import Settings
from s3server.gateway import router
from s3server.gateway.auth import RequestView, authenticate
from s3server.gateway.body import PlainBody, signed_payload_sha256
from s3server.gateway.chunked import AwsChunkedBody, is_aws_chunked
from s3server.gateway.sigv4 import parse_query
from s3server.metadata.base import MetadataError
from s3server.ops.admin import AdminApi, wants_admin
from s3server.s3.context import Body, S3Request, S3Response, Services
from s3server.s3.errors import S3Error
from s3server.s3.handlers import HANDLERS
from s3server.storage.base import StorageError

log = logging.getLogger("s3server")
access_log = logging.getLogger("s3server.access")


def new_request_id() -> str:
    return os.urandom(8).hex().upper()


class Target:
    """Where a request points: bucket and key decoded once, raw path and query kept for signing."""

    __slots__ = ("bucket", "key", "level", "query", "raw_path", "raw_query", "virtual_bucket")

    def __init__(self, raw: str, host: str, domain: str) -> None:
        self.raw_path, _, self.raw_query = raw.partition("?")
        self.virtual_bucket: str | None = None
        host_name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
        if domain and host_name.endswith("." + domain):
            self.virtual_bucket = host_name[: -len(domain) - 1]
            self.bucket: str | None = self.virtual_bucket
            rest = self.raw_path[1:] if self.raw_path.startswith("/") else self.raw_path
            self.key: str | None = _decode(rest) if rest else None
        else:
            path = self.raw_path[1:] if self.raw_path.startswith("/") else self.raw_path
            bucket, slash, rest = path.partition("/")
            self.bucket = _decode(bucket) if bucket else None
            self.key = _decode(rest) if slash and rest else None
        if self.bucket is None:
            self.level = router.Level.SERVICE
        elif self.key is None:
            self.level = router.Level.BUCKET
        else:
            self.level = router.Level.OBJECT
        self.query: dict[str, str] = {}
        # Decoded exactly as the signature checks decode it ('+' stays '+'), so what a handler
        # reads is what was signed.
        for name, value in parse_query(self.raw_query):
            self.query.setdefault(_decode(name), _decode(value) if value is not None else "")

    @property
    def resource(self) -> str:
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}/{self.key}" if self.key is not None else f"/{self.bucket}"


def _decode(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", status=400) from exc


def error_body(err: S3Error, resource: str, request_id: str, host_id: str) -> bytes:
    root = etree.Element("Error")
    etree.SubElement(root, "Code").text = err.code
    etree.SubElement(root, "Message").text = err.message
    for name, value in err.fields.items():
        etree.SubElement(root, name).text = value
    etree.SubElement(root, "Resource").text = resource
    etree.SubElement(root, "RequestId").text = request_id
    etree.SubElement(root, "HostId").text = host_id
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class Gateway:
    """Owns the request pipeline; `handle` is the aiohttp handler for every path and method."""

    def __init__(self, settings: Settings) -> None:
        self.domain = settings.domain.lower()
        self.log_requests = settings.access_log
        self.services: Services  # bound at startup, once the layers are open
        self.in_flight = 0  # requests being handled, so shutdown can wait for them
        self.admin: AdminApi | None = None  # the JSON API under /_admin/, bound at startup

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            if self.admin is not None and wants_admin(request.raw_path, request.host or "", self.domain):
                return await self.admin.handle(request)
            return await self._handle(request)
        finally:
            self.in_flight -= 1

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = new_request_id()
        host_id = base64.b64encode(os.urandom(24)).decode()
        op_name = "-"
        user = "-"
        resource = "/"
        status = 500
        sent = 0
        try:
            try:
                target = Target(request.raw_path, request.host or "", self.domain)
                resource = target.resource
                op = router.resolve(request.method, target.level, target.query, request.headers)
                if op is None:
                    raise S3Error(
                        "MethodNotAllowed", Method=request.method, ResourceType=target.level.value.upper()
                    )
                op_name = op.name
                auth = await authenticate(
                    RequestView(
                        method=request.method,
                        raw_path=target.raw_path,
                        raw_query=target.raw_query,
                        headers=request.headers,
                        virtual_bucket=target.virtual_bucket,
                    ),
                    self.services.identity.lookup,
                )
                if auth is None:
                    raise S3Error("AccessDenied")
                user = auth.credential.user
                handler = HANDLERS.get(op.name)
                if handler is None:
                    raise S3Error(
                        "NotImplemented",
                        f"{op.name} is not implemented by this server",
                    )
                body: Body
                if is_aws_chunked(request.headers.get("Content-Encoding", ""), auth.payload_hash):
                    body = AwsChunkedBody(request, auth, auth.payload_hash)
                else:
                    body = PlainBody(request, signed_payload_sha256(auth.payload_hash))
                reply = await handler(
                    S3Request(
                        operation=op.name,
                        method=request.method,
                        bucket=target.bucket,
                        key=target.key,
                        query=target.query,
                        headers=request.headers,
                        request_id=request_id,
                        principal=auth.credential,
                        body=body,
                        services=self.services,
                        resource=resource,
                    )
                )
            except MetadataError as exc:
                log.error("metadata unavailable (request %s): %s", request_id, exc)
                raise S3Error("ServiceUnavailable", "Metadata is unavailable, please retry") from exc
            except StorageError as exc:
                log.error("storage unavailable (request %s): %s", request_id, exc)
                raise S3Error("ServiceUnavailable", "Storage is unavailable, please retry") from exc
            status = reply.status
            response, sent = await self._render(request, reply, request_id, host_id)
            return response
        except S3Error as err:
            status = err.status
            return self._error(request, err, resource, request_id, host_id)
        except (asyncio.CancelledError, ConnectionResetError):
            status = 499  # the client went away; nothing to answer
            raise
        except Exception:
            log.exception("internal error (request %s, %s %s)", request_id, request.method, request.raw_path)
            status = 500
            return self._error(request, S3Error("InternalError"), resource, request_id, host_id)
        finally:
            if self.log_requests:
                access_log.info(
                    '%s %s "%s %s" %d %d %.1fms %s %s',
                    request.remote or "-",
                    user,
                    request.method,
                    request.raw_path,
                    status,
                    sent,
                    (time.perf_counter() - started) * 1000,
                    op_name,
                    request_id,
                )

    def _error(
        self, request: web.Request, err: S3Error, resource: str, request_id: str, host_id: str
    ) -> web.Response:
        headers = {"x-amz-request-id": request_id, "x-amz-id-2": host_id, "Server": "s3server", **err.headers}
        if err.status == 304 or request.method == "HEAD":
            return web.Response(status=err.status, headers=headers)
        headers["Content-Type"] = "application/xml"
        return web.Response(
            status=err.status, headers=headers, body=error_body(err, resource, request_id, host_id)
        )

    async def _render(
        self, request: web.Request, reply: S3Response, request_id: str, host_id: str
    ) -> tuple[web.StreamResponse, int]:
        headers = reply.headers
        headers["x-amz-request-id"] = request_id
        headers["x-amz-id-2"] = host_id
        headers["Server"] = "s3server"
        body = reply.body
        if body is None or isinstance(body, bytes):
            if request.method == "HEAD" or body is None:
                # aiohttp leaves Content-Length off body-less answers; clients need it on HEAD.
                response = web.Response(status=reply.status, headers=headers)
                if reply.length is not None:
                    response.headers["Content-Length"] = str(reply.length)
                elif reply.status not in (204, 304):
                    response.headers["Content-Length"] = "0"
                return response, 0
            return web.Response(status=reply.status, headers=headers, body=body), len(body)
        response = web.StreamResponse(status=reply.status, headers=headers)
        if reply.length is not None:
            response.content_length = reply.length
        await response.prepare(request)
        sent = 0
        stream: AsyncIterator[bytes] = body
        try:
            async for piece in stream:
                await response.write(piece)
                sent += len(piece)
        except Exception:
            # Headers are gone; the only honest signal left is to cut the connection.
            log.exception("stream failed after the response started (request %s)", request_id)
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("response stream aborted") from None
        await response.write_eof()
        return response, sent
