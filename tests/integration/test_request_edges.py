"""Requests at the edge of the protocol: odd Authorization headers, SigV2 dates, Expect, Content-Length
that lies, presigned expiry bounds, and what aiohttp rejects before any handler (answered as S3 XML)."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from tests.conftest import make_client
from tests.integration.helpers import fetch_url, object_path, raw_exchange, request, send, sign
from tests.support.server import RunningServer


def head_and_body(answer: bytes) -> tuple[str, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def assert_xml_error(answer: bytes, status: int, code: str) -> ET.Element:
    """A raw HTTP answer is an S3 <Error> with the status, the code and a request id."""
    head, body = head_and_body(answer)
    assert head.split(" ", 2)[1] == str(status), answer[:500]
    assert "x-amz-request-id:" in head.lower()
    assert "content-type: application/xml" in head.lower()
    root = ET.fromstring(body)
    assert root.tag == "Error"
    assert root.findtext("Code") == code
    assert root.findtext("RequestId")
    return root


def read_response(sock: socket.socket) -> bytes:
    """One complete HTTP answer (headers, then Content-Length bytes of body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return head + b"\r\n\r\n" + body


def request_lines(method: str, target: str, server: RunningServer, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- Authorization


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        pytest.param("", 400, "InvalidArgument", id="empty"),
        pytest.param("Bearer abc", 400, "InvalidArgument", id="unknown-scheme"),
        pytest.param("AWS4-HMAC-SHA256", 400, "AuthorizationHeaderMalformed", id="v4-no-components"),
        pytest.param(
            "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/aws4_request",
            400,
            "AuthorizationHeaderMalformed",
            id="v4-missing-signature",
        ),
        pytest.param("AWS AKIAONLY", 400, "InvalidArgument", id="v2-no-colon"),
    ],
)
def test_malformed_authorization(
    server: RunningServer, bucket: str, authorization: str, status: int, code: str
) -> None:
    headers = {"Authorization": authorization, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    headers["x-amz-date"] = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    reply = request(server, "GET", f"/{bucket}", headers, b"")
    assert (reply.status, reply.error_code()) == (status, code)


def _sigv2_without_date(server: RunningServer, bucket: str, date: str | None) -> int:
    headers = sign(server, "GET", f"/{bucket}", auth="v2")
    del headers["Date"]
    if date is not None:
        headers["Date"] = date
    reply = request(server, "GET", f"/{bucket}", headers, b"")
    assert reply.error_message() == "AWS authentication requires a valid Date or x-amz-date header"
    assert reply.error_code() == "AccessDenied"
    return reply.status


@pytest.mark.parametrize(
    "date",
    [
        pytest.param(None, id="missing"),
        pytest.param("yesterday", id="unparseable"),
        pytest.param("Wed, 31 Dec 1969 23:59:59 GMT", id="pre-epoch"),
    ],
)
def test_sigv2_needs_a_valid_date(server: RunningServer, bucket: str, date: str | None) -> None:
    assert _sigv2_without_date(server, bucket, date) == 403


# -- Expect


def test_expect_100_continue_is_answered_before_the_body(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    data = b"sent only after 100 Continue"
    path = object_path(bucket, "continued")
    headers = sign(server, "PUT", path, headers={"Expect": "100-continue"}, body=data)
    headers["Content-Length"] = str(len(data))
    headers["Connection"] = "close"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_lines("PUT", path, server, headers))
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), interim
        sock.sendall(data)
        answer = b""
        while piece := sock.recv(65536):
            answer += piece
    assert head_and_body(answer)[0].startswith("HTTP/1.1 200"), answer[:300]
    assert s3.get_object(Bucket=bucket, Key="continued")["Body"].read() == data


def test_expect_100_continue_refused_without_reading_the_body(server: RunningServer) -> None:
    """A request refused on its headers gets the error instead of 100 Continue; no body was sent."""
    path = object_path("no-such-bucket-for-expect", "k")
    headers = sign(server, "PUT", path, headers={"Expect": "100-continue"}, body=b"x" * 1000)
    headers["Content-Length"] = "1000"
    headers["Connection"] = "close"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_lines("PUT", path, server, headers))
        answer = read_response(sock)
    assert not answer.startswith(b"HTTP/1.1 100"), answer[:200]
    root = assert_xml_error(answer, 404, "NoSuchBucket")
    assert root.findtext("BucketName") == "no-such-bucket-for-expect"
    # The body never came, so the connection cannot carry another request.
    assert "connection: close" in head_and_body(answer)[0].lower()


def test_other_expectations_are_not_implemented(server: RunningServer, bucket: str) -> None:
    reply = send(server, "PUT", object_path(bucket, "k"), headers={"Expect": "200-ok"}, body=b"x")
    assert (reply.status, reply.error_code()) == (501, "NotImplemented")
    assert reply.xml().findtext("Header") == "Expect"


# -- Content-Length


def test_content_length_larger_than_the_body(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    path = object_path(bucket, "short")
    headers = sign(server, "PUT", path, payload_hash="UNSIGNED-PAYLOAD")
    headers["Content-Length"] = "100"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_lines("PUT", path, server, headers) + b"only 20 bytes here..")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while piece := sock.recv(65536):
            answer += piece
    assert_xml_error(answer, 400, "IncompleteBody")
    assert "short" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_content_length_smaller_than_the_body(server: RunningServer, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    """The object is the first Content-Length bytes; what follows is read as the next request."""
    path = object_path(bucket, "long")
    headers = sign(server, "PUT", path, body=b"12345")
    headers["Content-Length"] = "5"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request_lines("PUT", path, server, headers) + b"12345")
        first = read_response(sock)
        sock.sendall(b"EXTRA\r\n\r\n")
        second = read_response(sock)
    assert first.startswith(b"HTTP/1.1 200"), first[:300]
    assert_xml_error(second, 400, "BadRequest")
    assert s3.get_object(Bucket=bucket, Key="long")["Body"].read() == b"12345"


# -- presigned URL bounds


def _with_expires(url: str, expires: str) -> str:
    parts = urlsplit(url)
    query = [(k, expires if k == "X-Amz-Expires" else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.mark.parametrize(
    ("expires", "status", "code"),
    [
        pytest.param("-1", 400, "AuthorizationQueryParametersError", id="negative"),
        pytest.param("0", 400, "AuthorizationQueryParametersError", id="zero"),
        pytest.param("604801", 400, "AuthorizationQueryParametersError", id="over-a-week"),
        pytest.param("soon", 400, "AuthorizationQueryParametersError", id="not-a-number"),
    ],
)
def test_presigned_expires_out_of_range(
    server: RunningServer,
    s3,
    bucket: str,
    expires: str,
    status: int,
    code: str,  # type: ignore[no-untyped-def]
) -> None:
    """The bounds are checked before the signature (which the changed value no longer matches)."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    client = make_client(server, signature_version="s3v4")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)  # type: ignore[attr-defined]
    reply = fetch_url(_with_expires(url, expires))
    assert (reply.status, reply.error_code()) == (status, code)


# -- what aiohttp rejects before the handler


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        pytest.param(b"GARBAGE\r\n\r\n", 400, "BadRequest", id="bad-request-line"),
        pytest.param(b"GET / HTTP/1.1 extra\r\n\r\n", 400, "BadRequest", id="bad-version"),
        pytest.param(
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            400,
            "BadRequest",
            id="negative-length",
        ),
        pytest.param(
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
            400,
            "BadRequest",
            id="non-numeric-length",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
            400,
            "RequestHeaderSectionTooLarge",
            id="oversized-header",
        ),
        pytest.param(
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
            "RequestHeaderSectionTooLarge",
            id="oversized-request-line",
        ),
    ],
)
def test_protocol_rejections_are_s3_errors(server: RunningServer, raw: bytes, status: int, code: str) -> None:
    assert_xml_error(raw_exchange(server, raw), status, code)
