"""The front door: the handler of every request (the runner hands each to it, no router between),
which resolves, authenticates, dispatches and renders. A 100 Continue goes out only when a handler
first reads the body (gateway.body.send_continue); other expectations are refused in the pipeline.

The stages run in a fixed order for every request: request id → target (bucket/key from host or
path) → operation (router table) → signature (identity, or anonymous) → rate limit → access decision
(`s3server.access.decide`, on the bucket's configuration as stored) → handler → response; any S3Error on
the way becomes AWS's XML error, anything unexpected a logged 500 InternalError, and one structured
access-log line and one metrics observation close every request. OPTIONS (a CORS preflight) is
answered from the bucket's CORS rules before any authentication.

`GET /metrics` is the Prometheus exposition unless a bucket named "metrics" exists ("metrics" is a
legal bucket name, whose path-style ListObjects it then stays); `/_admin/metrics` always is.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote

from aiohttp import web
from lxml import etree

from s3server.access.configs import BucketConfig, BucketConfigs
from s3server.access.cors import CorsRule
from s3server.access.decide import PER_KEY, SIGNED_ONLY, Authorizer, policy_context
from s3server.config import Settings, worker_count
from s3server.gateway import cors, router
from s3server.gateway.accesslog import AccessLog, quoted
from s3server.gateway.auth import AuthResult, authenticate, authenticate_form
from s3server.gateway.body import PlainBody, awaits_continue, signed_payload_sha256
from s3server.gateway.chunked import AwsChunkedBody, is_aws_chunked
from s3server.gateway.ids import new_host_id, new_request_id
from s3server.gateway.ratelimit import SharedRateLimiter, build_limiter
from s3server.gateway.request import RequestView
from s3server.gateway.sigv4 import parse_query
from s3server.identity.model import Credential
from s3server.metadata.errors import DomainError, MetadataError
from s3server.pgdb import is_postgres_url
from s3server.s3.context import Body, S3Request, S3Response, Services
from s3server.s3.errors import S3Error, from_domain
from s3server.s3.handlers import HANDLERS
from s3server.storage.base import StorageError

log = logging.getLogger("s3server")
access_log = logging.getLogger("s3server.access")


METRICS_PATH = "/metrics"
ADMIN_METRICS_PATH = "/_admin/metrics"
METRICS_BUCKET = "metrics"
PREFLIGHT = "Preflight"  # the metrics and log label of an OPTIONS request (it has no AWS name)


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


@dataclass(slots=True)
class Exchange:
    """What the access log and the metrics say about one request, filled in as it is learnt."""

    request_id: str
    host_id: str
    operation: str = "-"
    principal: str = "-"
    bucket: str | None = None
    key: str | None = None
    resource: str = "/"
    status: int = 500
    error: str = "-"
    sent: int = 0
    cors: dict[str, str] = field(default_factory=dict)  # Access-Control-* for the answer


class AdminEndpoint(Protocol):
    """The JSON admin API under /_admin/ (`ops.admin.AdminApi`), handed to the gateway by app.py."""

    def wants(self, raw_path: str, host: str, domain: str) -> bool:
        """Whether this request is the admin API's rather than an S3 request."""

    async def handle(self, request: web.Request) -> web.StreamResponse: ...


class Level(Protocol):
    def inc(self) -> None: ...

    def dec(self) -> None: ...


class MetricsSink(Protocol):
    """Where requests are counted (`ops.metrics.Metrics`), handed to the gateway by app.py."""

    @property
    def in_flight(self) -> Level: ...

    def observe(self, operation: str, status: int, seconds: float, received: int, sent: int) -> None: ...

    async def scrape(self) -> tuple[bytes, str]:
        """The exposition and its content type."""


class Gateway:
    """Owns the request pipeline; `handle` is the handler of every path and method."""

    def __init__(self, settings: Settings) -> None:
        self.domain = settings.domain.lower()
        self.access_log: AccessLog | None = None  # opened with the layers when --access-log is on
        self.log_requests = settings.access_log
        self.services: Services  # bound at startup, once the layers are open
        self.configs: BucketConfigs  # bucket access configuration, read per request
        self.authorizer: Authorizer
        self.in_flight = 0  # requests being handled, so shutdown can wait for them
        self.admin: AdminEndpoint | None = None  # the JSON API under /_admin/, bound at startup
        self.metrics: MetricsSink | None = None  # bound by the application
        self.metrics_auth = settings.metrics_auth
        self.console_origins = cors.ConsoleOrigins(
            "https" if settings.tls or settings.tls_cert else "http",
            None if settings.no_console else settings.console_port,
            settings.console_origins,
        )
        self.limiter = build_limiter(
            settings.rate_limit,
            shared=is_postgres_url(settings.metadata) or worker_count(settings.workers) > 1,
        )

    def bind(self, services: Services) -> None:
        """Attach the opened layers (at startup)."""
        self.services = services
        if self.log_requests and access_log.isEnabledFor(logging.INFO):
            self.access_log = AccessLog()
        self.configs = BucketConfigs(services.meta)
        self.authorizer = Authorizer(self.configs, services.meta)
        if isinstance(self.limiter, SharedRateLimiter):
            self.limiter.store = services.meta

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight.inc()
        try:
            if self.admin is not None and self.admin.wants(request.raw_path, request.host or "", self.domain):
                if (
                    request.path == ADMIN_METRICS_PATH
                    and request.method == "GET"
                    and self.metrics is not None
                ):
                    return await self._serve_metrics(request)
                return await self.admin.handle(request)
            if (
                request.raw_path == METRICS_PATH
                and request.method == "GET"
                and await self._metrics_path(request)
            ):
                return await self._serve_metrics(request)
            return await self._handle(request)
        finally:
            self.in_flight -= 1
            if metrics is not None:
                metrics.in_flight.dec()

    # -- /metrics

    async def _metrics_path(self, request: web.Request) -> bool:
        """GET /metrics is the exposition, unless it is a ListObjects of an existing bucket "metrics"."""
        if self.metrics is None or Target(request.raw_path, request.host or "", self.domain).virtual_bucket:
            return False
        try:
            return await self.configs.get(METRICS_BUCKET) is None
        except MetadataError:
            return True  # with the metadata down there is no bucket to list; metrics still help

    async def _serve_metrics(self, request: web.Request) -> web.StreamResponse:
        assert self.metrics is not None
        request_id = new_request_id()
        host_id = new_host_id()
        if self.metrics_auth:
            target = Target(request.raw_path, request.host or "", self.domain)
            try:
                auth = await self._authenticate(request, target)
                if auth is None or not auth.credential.is_admin:
                    raise S3Error("AccessDenied")
            except MetadataError:
                return self._error(request, S3Error("ServiceUnavailable"), request.path, request_id, host_id)
            except S3Error as err:
                return self._error(request, err, request.path, request_id, host_id)
        body, content_type = await self.metrics.scrape()
        return web.Response(
            body=body,
            headers={"Content-Type": content_type, "x-amz-request-id": request_id, "Server": "s3server"},
        )

    # -- the S3 pipeline

    async def _limit(self, caller: str) -> None:
        if self.limiter is not None and not await self.limiter.acquire(caller):
            raise S3Error("SlowDown")

    async def _authenticate(self, request: web.Request, target: Target) -> AuthResult | None:
        """The verified signer (None: anonymous), counted against the caller's rate limit: the access
        key once verified, else the client's address (anonymous requests, failed signatures)."""
        try:
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
        except S3Error:
            await self._limit(f"ip:{request.remote}")
            raise
        await self._limit(f"key:{auth.credential.access_key}" if auth is not None else f"ip:{request.remote}")
        return auth

    @staticmethod
    def _context(
        request: web.Request, target: Target, principal: Credential | None
    ) -> Callable[[], Mapping[str, str]]:
        """The policy condition keys, built only if a policy asks."""
        return functools.partial(
            policy_context, target.query, request.headers, principal, request.remote, request.secure
        )

    async def _authorize(
        self,
        request: web.Request,
        op: router.Operation,
        target: Target,
        principal: Credential | None,
        config: BucketConfig | None,
    ) -> None:
        """The access decision for the request's own resource (AccessDenied, or nothing)."""
        if op.name in SIGNED_ONLY or target.bucket is None:
            if principal is None:
                raise S3Error("AccessDenied")
            return
        if op.name not in PER_KEY:  # those are decided key by key by their handler
            context = self._context(request, target, principal)
            await self.authorizer.check_config(
                principal, op.permission, config, target.bucket, target.key, context
            )

    async def _also_authorize(
        self,
        principal: Credential | None,
        context: Callable[[], Mapping[str, str]],
        permission: str,
        bucket: str,
        key: str | None,
    ) -> None:
        """S3Request.authorize: the same decision for a second resource (a copy source, a key)."""
        await self.authorizer.check(principal, permission, bucket, key, context)

    async def _authorize_as(
        self,
        request: web.Request,
        target: Target,
        principal: Credential | None,
        permission: str,
        bucket: str,
        key: str | None,
        extra: Mapping[str, str],
    ) -> None:
        """S3Request.authorize_as: the decision for a principal the handler established."""

        def context() -> Mapping[str, str]:
            return {**self._context(request, target, principal)(), **extra}

        await self.authorizer.check(principal, permission, bucket, key, context)

    async def _dispatch(self, request: web.Request, target: Target, ex: Exchange) -> S3Response:
        """Resolve, authenticate, authorize and run the handler of one S3 request."""
        op = router.resolve(request.method, target.level, target.query, request.headers)
        if op is None:
            raise S3Error("MethodNotAllowed", Method=request.method, ResourceType=target.level.value.upper())
        ex.operation = op.name
        expect = request.headers.get("Expect")
        if expect is not None and expect.strip().lower() != "100-continue":
            raise S3Error("NotImplemented", Header="Expect")
        auth = await self._authenticate(request, target)
        principal = auth.credential if auth is not None else None
        ex.principal = principal.user if principal is not None else "anonymous"
        config = await self.configs.get(target.bucket) if target.bucket is not None else None
        try:
            await self._authorize(request, op, target, principal, config)
        finally:
            # Allowed or not, a browser may read the answer when the bucket's CORS rules say so.
            if target.bucket is not None and "Origin" in request.headers:
                console = self._console_rule(request, target)
                ex.cors = cors.actual_headers(config, request.headers.get("Origin"), request.method, console)
        handler = HANDLERS.get(op.name)
        if handler is None:
            raise S3Error("NotImplemented", f"{op.name} is not implemented by this server")
        payload_hash = auth.payload_hash if auth is not None else request.headers.get("x-amz-content-sha256")
        body: Body
        if is_aws_chunked(request.headers.get("Content-Encoding", ""), payload_hash):
            body = AwsChunkedBody(request, auth, payload_hash)
        else:
            body = PlainBody(request, signed_payload_sha256(auth.payload_hash) if auth is not None else None)
        return await handler(
            S3Request(
                operation=op.name,
                method=request.method,
                bucket=target.bucket,
                key=target.key,
                query=target.query,
                headers=request.headers,
                request_id=ex.request_id,
                principal=principal,
                body=body,
                services=self.services,
                resource=ex.resource,
                secure=request.secure,
                bucket_row=config.bucket if config is not None else None,
                authorize=functools.partial(
                    self._also_authorize, principal, self._context(request, target, principal)
                ),
                authorize_as=functools.partial(self._authorize_as, request, target),
                form_signer=self._form_signer,
            )
        )

    def _console_rule(self, request: web.Request, target: Target) -> CorsRule | None:
        """The web console's CORS rule, for a browser upload it posts here (see gateway.cors)."""
        return self.console_origins.rule(
            request.headers.get("Origin"), request.host or "", target.key, target.query
        )

    async def _form_signer(self, fields: Mapping[str, str]) -> Credential | None:
        """S3Request.form_signer: who signed a browser-upload form (None: anonymous)."""
        result = await authenticate_form(fields, self.services.identity.lookup)
        return None if result is None else result.credential

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        ex = Exchange(new_request_id(), new_host_id())
        try:
            try:
                target = Target(request.raw_path, request.host or "", self.domain)
                ex.resource, ex.bucket, ex.key = target.resource, target.bucket, target.key
                if request.method == "OPTIONS":
                    ex.operation = PREFLIGHT
                    await self._limit(f"ip:{request.remote}")
                    reply = await cors.preflight(
                        request.headers,
                        target.bucket,
                        target.key,
                        self.configs,
                        self._console_rule(request, target),
                    )
                else:
                    reply = await self._dispatch(request, target, ex)
            except MetadataError as exc:
                log.error("metadata unavailable (request %s): %s", ex.request_id, exc)
                raise from_domain(exc) from exc
            except StorageError as exc:
                log.error("storage unavailable (request %s): %s", ex.request_id, exc)
                raise from_domain(exc) from exc
            except DomainError as exc:
                raise from_domain(exc) from exc
            ex.status = reply.status
            reply.headers.update(ex.cors)
            response, ex.sent = await self._render(request, reply, ex.request_id, ex.host_id)
            return response
        except S3Error as err:
            ex.status, ex.error = err.status, err.code
            return self._error(request, err, ex.resource, ex.request_id, ex.host_id, ex.cors)
        except (asyncio.CancelledError, ConnectionResetError):
            ex.status = 499  # the client went away; nothing to answer
            raise
        except Exception:
            log.exception(
                "internal error (request %s, %s %s)", ex.request_id, request.method, request.raw_path
            )
            ex.status, ex.error = 500, "InternalError"
            error = S3Error("InternalError")
            return self._error(request, error, ex.resource, ex.request_id, ex.host_id, ex.cors)
        finally:
            self._record(request, ex, time.perf_counter() - started)

    def _record(self, request: web.Request, ex: Exchange, seconds: float) -> None:
        """One metrics observation and one access-log line per request."""
        received = request.content_length or 0
        if self.metrics is not None:
            self.metrics.observe(ex.operation, ex.status, seconds, received, ex.sent)
        if self.access_log is not None:
            # Written out rather than through logfmt(): this runs for every request. Only the
            # fields a client chooses can need quoting.
            self.access_log.write_line(
                f"request_id={ex.request_id} remote={quoted(request.remote or '-')}"
                f" principal={quoted(ex.principal)} method={quoted(request.method)}"
                f" operation={ex.operation} bucket={quoted(ex.bucket or '-')}"
                f" key={'-' if ex.key is None else quoted(ex.key)} status={ex.status}"
                f" error={ex.error} received={received} sent={ex.sent} duration_ms={seconds * 1000:.1f}"
            )

    def _error(
        self,
        request: web.Request,
        err: S3Error,
        resource: str,
        request_id: str,
        host_id: str,
        extra: Mapping[str, str] | None = None,
    ) -> web.Response:
        headers = {
            "x-amz-request-id": request_id,
            "x-amz-id-2": host_id,
            "Server": "s3server",
            **err.headers,
            **(extra or {}),
        }
        if err.status == 304 or request.method == "HEAD":
            return web.Response(status=err.status, headers=headers)
        headers["Content-Type"] = "application/xml"
        response = web.Response(
            status=err.status, headers=headers, body=error_body(err, resource, request_id, host_id)
        )
        if awaits_continue(request):
            # The client never sent its body and will not: the connection cannot carry another request.
            response.force_close()
        return response

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
