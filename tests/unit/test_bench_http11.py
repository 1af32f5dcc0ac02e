"""bench.http11: responses framed by Content-Length, chunked coding or EOF, whatever the pieces."""

from __future__ import annotations

import hashlib

import pytest

from bench.http11 import Connection, ProtocolError, Response


class FakeTransport:
    """Just enough of a transport: records writes and closing."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str) -> None:
        return None

    def set_write_buffer_limits(self, high: int) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def connected() -> tuple[Connection, FakeTransport]:
    conn, transport = Connection(), FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def feed(conn: Connection, data: bytes, piece: int) -> None:
    for start in range(0, len(data), piece):
        conn.data_received(data[start : start + piece])


BODY = bytes(range(256)) * 40
LENGTH = b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: "x"\r\n\r\n' % len(BODY) + BODY
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"%x;ext=1\r\n" % 1000 + BODY[:1000] + b"\r\n"
    b"%x\r\n" % (len(BODY) - 1000) + BODY[1000:] + b"\r\n"
    b"0\r\nx-trailer: yes\r\n\r\n"
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n" + LENGTH


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20], ids=["bytes", "sevens", "pages", "whole"])
@pytest.mark.parametrize("wire", [LENGTH, CHUNKED, CONTINUE], ids=["length", "chunked", "continue"])
async def test_bodies_whatever_the_pieces(wire: bytes, piece: int) -> None:
    conn, _ = connected()
    waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    feed(conn, wire, piece)
    response: Response = await waiter
    assert (response.status, response.body, response.length) == (200, BODY, len(BODY))
    assert response.keep_alive


async def test_sink_gets_the_body_instead() -> None:
    conn, _ = connected()
    md5 = hashlib.md5()
    waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n", sink=md5.update)
    feed(conn, LENGTH, 1000)
    response = await waiter
    assert (response.body, response.length) == (b"", len(BODY))
    assert md5.hexdigest() == hashlib.md5(BODY).hexdigest()


async def test_head_then_get_on_one_connection() -> None:
    conn, transport = connected()
    head = conn.send(b"HEAD / HTTP/1.1\r\n\r\n", head_only=True)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n")
    response = await head
    assert (response.status, response.headers[b"content-length"], response.body) == (200, b"4096", b"")
    get = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(LENGTH)
    assert (await get).body == BODY
    assert transport.written == b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"


async def test_204_has_no_body_and_close_is_honoured() -> None:
    conn, _ = connected()
    waiter = conn.send(b"DELETE /b/k HTTP/1.1\r\n\r\n")
    conn.data_received(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    response = await waiter
    assert (response.status, response.body, response.keep_alive) == (204, b"", False)


async def test_body_until_eof() -> None:
    conn, _ = connected()
    waiter = conn.send(b"GET / HTTP/1.0\r\n\r\n")
    conn.data_received(b"HTTP/1.0 200 OK\r\n\r\n" + BODY[:100])
    conn.data_received(BODY[100:])
    conn.connection_lost(None)
    response = await waiter
    assert (response.body, response.keep_alive) == (BODY, False)


async def test_cut_short_is_an_error() -> None:
    conn, _ = connected()
    waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(LENGTH[:-10])
    conn.connection_lost(None)
    with pytest.raises(ConnectionError):
        await waiter


async def test_garbage_is_a_protocol_error() -> None:
    conn, transport = connected()
    waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(ProtocolError):
        await waiter
    assert transport.closed and conn.closed
