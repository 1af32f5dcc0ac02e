"""A minimal HTTP/1.1 client connection for the load generator, on asyncio's Protocol API.

One persistent keep-alive connection carries one request at a time. Requests are written whole by
the caller; responses are parsed straight out of `data_received`, framed by Content-Length, chunked
transfer coding or the end of the connection, and either collected or fed to a sink (an MD5, say)
without being held. No redirects, no pipelining, no TLS: enough for a loopback benchmark, and cheap.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

KIB = 1024
MIB = 1024 * 1024


class ProtocolError(Exception):
    """The peer broke HTTP/1.1 framing."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[bytes, bytes]  # lower-case names
    body: bytes  # empty when a sink consumed it
    length: int  # body bytes received
    keep_alive: bool


_IDLE, _HEAD, _BODY, _UNTIL_EOF, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_CRLF, _TRAILER = range(8)
_MAX_HEAD = 64 * KIB


class Connection(asyncio.Protocol):
    """One persistent HTTP/1.1 connection carrying one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._state = _IDLE
        self._waiter: asyncio.Future[Response] | None = None
        self._head_only = False
        self._sink: Callable[[bytes], object] | None = None
        self._parts: list[bytes] = []
        self._length = 0
        self._remaining = 0
        self._status = 0
        self._headers: dict[bytes, bytes] = {}
        self._keep_alive = True
        self._paused = False
        self._drain: asyncio.Future[None] | None = None

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports only quack like one
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.set_write_buffer_limits(high=4 * MIB)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._state == _UNTIL_EOF:
            self._finish()
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection closed mid-response ({exc})"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(ConnectionError("connection closed while sending"))

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._state == _BODY and not self._buf:
            self._body_piece(data)  # the fast path of large bodies: no copy into the buffer
            return
        if self._state == _IDLE:
            self.closed = True  # unsolicited bytes: this connection cannot be trusted for the next request
            if self.transport is not None:
                self.transport.close()
            return
        self._buf += data
        try:
            self._parse()
        except (ProtocolError, ValueError) as exc:
            self._fail(ProtocolError(str(exc)))

    # requests

    def send(
        self, data: bytes, *, head_only: bool = False, sink: Callable[[bytes], object] | None = None
    ) -> asyncio.Future[Response]:
        """Write a whole request (head and body) and return the future of its response."""
        waiter = self.expect(head_only=head_only, sink=sink)
        assert self.transport is not None
        self.transport.write(data)
        return waiter

    def expect(
        self, *, head_only: bool = False, sink: Callable[[bytes], object] | None = None
    ) -> asyncio.Future[Response]:
        """Arm the parser for the next response (for callers that write the request themselves)."""
        if self.closed or self.transport is None:
            raise ConnectionError("connection is closed")
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._state = _HEAD
        self._head_only = head_only
        self._sink = sink
        self._parts = []
        self._length = 0
        return self._waiter

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionError("connection closed while sending")
        if self._paused:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # parsing

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self._state = _IDLE
        self.close()

    def _finish(self) -> None:
        body = b"".join(self._parts) if len(self._parts) != 1 else self._parts[0]
        response = Response(self._status, self._headers, body, self._length, self._keep_alive)
        self._state = _IDLE
        self._parts = []
        if self._buf:
            self._keep_alive = False  # bytes past the response: do not reuse
            response.keep_alive = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(response)

    def _body_piece(self, data: bytes) -> None:
        if len(data) >= self._remaining:
            piece, rest = data[: self._remaining], data[self._remaining :]
            self._take(piece)
            self._remaining = 0
            if rest:
                self._buf += rest
            self._finish()
        else:
            self._take(data)
            self._remaining -= len(data)

    def _take(self, piece: bytes) -> None:
        self._length += len(piece)
        if self._sink is not None:
            self._sink(piece)
        else:
            self._parts.append(piece)

    def _parse(self) -> None:
        buf = self._buf
        while buf:
            state = self._state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise ProtocolError("response head too long")
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._head(head)
            elif state == _BODY:
                take = min(len(buf), self._remaining)
                self._take(bytes(buf[:take]))
                del buf[:take]
                self._remaining -= take
                if not self._remaining:
                    self._finish()
            elif state == _UNTIL_EOF:
                self._take(bytes(buf))
                buf.clear()
            elif state in (_CHUNK_SIZE, _CHUNK_CRLF, _TRAILER):
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if state == _CHUNK_SIZE:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                    self._remaining = size
                    self._state = _CHUNK_DATA if size else _TRAILER
                elif state == _CHUNK_CRLF:
                    if line:
                        raise ProtocolError("chunk not followed by CRLF")
                    self._state = _CHUNK_SIZE
                elif not line:  # the empty line that ends the trailer section
                    self._finish()
            elif state == _CHUNK_DATA:
                take = min(len(buf), self._remaining)
                self._take(bytes(buf[:take]))
                del buf[:take]
                self._remaining -= take
                if not self._remaining:
                    self._state = _CHUNK_CRLF
            else:  # _IDLE with bytes left: handled by _finish
                return

    def _head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            return  # informational (100 Continue): the real response follows
        connection = headers.get(b"connection", b"").lower()
        if parts[0] == b"HTTP/1.0":
            self._keep_alive = connection == b"keep-alive"
        else:
            self._keep_alive = connection != b"close"
        self._status = status
        self._headers = headers
        if self._head_only or status in (204, 304):
            self._finish()
        elif b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            self._state = _CHUNK_SIZE
        elif b"content-length" in headers:
            self._remaining = int(headers[b"content-length"])
            self._state = _BODY
            if not self._remaining:
                self._finish()
        else:
            self._keep_alive = False
            self._state = _UNTIL_EOF
