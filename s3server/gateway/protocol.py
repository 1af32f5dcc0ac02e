"""aiohttp's own rejections, made before any handler runs, answered as S3 errors.

A request aiohttp cannot parse (a bad request line, an over-long header line, a negative or
non-numeric Content-Length) never reaches the gateway; aiohttp answers it from
`RequestHandler.handle_error` with a plain-text page. Here that answer is an S3 `<Error>` document
with a request id, like every other answer; the connection still closes, as aiohttp closes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from s3server.gateway.ids import new_host_id, new_request_id
from s3server.gateway.server import error_body
from s3server.s3.errors import S3Error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_UNPARSEABLE = "An error occurred when parsing the HTTP request."


def rejection(status: int, exc: BaseException | None) -> S3Error:
    """The S3 error for what aiohttp refused."""
    if isinstance(exc, LineTooLong):
        return S3Error("RequestHeaderSectionTooLarge")
    if status >= 500:
        return S3Error("InternalError")
    return S3Error("BadRequest", _UNPARSEABLE, status=status)


class S3RequestHandler(RequestHandler):
    """aiohttp's connection protocol, with its error pages replaced by S3 error documents."""

    _body: StreamReader | None = None  # the body of the last request parsed off this connection
    _half_closed = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._messages:
            self._body = self._messages[-1][1]

    def eof_received(self) -> bool:
        """The client stopped sending (a half-close). Mid-body, the body ends here, its handler answers
        IncompleteBody on the still-open write side, and then the connection closes; otherwise it
        closes now. (The event loop may report the same EOF more than once.)"""
        if self._half_closed:
            return True
        body = self._body
        if body is None or body.is_eof():
            return False
        self._half_closed = True
        body.feed_eof()
        self.close()  # no further request can arrive: close once this one is answered
        return True

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own version logs the error and refuses when a response has already started.
        super().handle_error(request, status, exc, message)
        err = rejection(status, exc)
        request_id, host_id = new_request_id(), new_host_id()
        response = web.Response(
            status=err.status,
            body=error_body(err, "/", request_id, host_id),
            headers={
                "Content-Type": "application/xml",
                "x-amz-request-id": request_id,
                "x-amz-id-2": host_id,
                "Server": "s3server",
            },
        )
        response.force_close()
        return response


class S3Server(web.Server):
    """aiohttp's low-level server, making S3RequestHandler connections."""

    def __call__(self) -> RequestHandler:
        return S3RequestHandler(self, loop=self._loop, **self._kwargs)


class S3AppRunner(web.AppRunner):
    """web.AppRunner whose connections answer parse errors as S3 errors; with `handler`, every
    request goes straight to it, past the application's router (the gateway has one catch-all
    route, and resolving it cost a small request about 5 % of its CPU)."""

    def __init__(self, app: web.Application, *, handler: Handler | None = None, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._handler = handler

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = S3Server  # the same server, with S3Server's connection factory
        if self._handler is not None:
            server.request_handler = self._handler  # type: ignore[assignment]
        return server
