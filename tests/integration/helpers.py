"""Raw S3 requests for the integration suite: signed with botocore's own signers, sent with http.client.

boto3 hides the wire (it retries, validates, decodes listings); these helpers send exactly the bytes a
test asks for and return exactly what the server answered.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import formatdate
from typing import Literal
from unittest import mock
from urllib.parse import quote, urlsplit

from botocore.auth import HmacV1Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.server import RunningServer

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

Auth = Literal["v4", "v2", "none"]


@dataclass
class Reply:
    """One HTTP answer, as received."""

    status: int
    headers: Message
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def error_code(self) -> str | None:
        if not self.body:
            return None
        return self.xml().findtext("Code")

    def error_message(self) -> str | None:
        return self.xml().findtext("Message") if self.body else None


def quote_key(key: str) -> str:
    """A key as botocore puts it in a path ('/' kept, everything else outside unreserved escaped)."""
    return quote(key, safe="/~")


def object_path(bucket: str, key: str) -> str:
    return f"/{bucket}/{quote_key(key)}"


def encode_query(params: Mapping[str, str | None] | Iterable[tuple[str, str | None]]) -> str:
    """RFC 3986 query string; a None value is a bare name (`?location`)."""
    pairs = params.items() if isinstance(params, Mapping) else params
    parts = []
    for name, value in pairs:
        if value is None:
            parts.append(quote(name, safe="-_.~"))
        else:
            parts.append(f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}")
    return "&".join(parts)


class _FixedPayloadSigV4(S3SigV4Auth):
    """S3 SigV4 that commits to a payload hash chosen by the test instead of the body's real one."""

    def __init__(self, credentials: Credentials, payload_hash: str) -> None:
        super().__init__(credentials, "s3", "us-east-1")
        self._payload_hash = payload_hash

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


class _DatedHmacV1(HmacV1Auth):
    """botocore's SigV2 header signer with a chosen Date."""

    def __init__(self, credentials: Credentials, when: datetime) -> None:
        super().__init__(credentials)
        self._when = when

    def _get_date(self) -> str:
        return formatdate(self._when.timestamp(), usegmt=True)


def sign(
    server: RunningServer,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    auth: Auth = "v4",
    access_key: str | None = None,
    secret_key: str | None = None,
    payload_hash: str | None = None,
    when: datetime | None = None,
) -> dict[str, str]:
    """The headers to send for a request, signed with botocore's SigV4 (S3) or HmacV1 (SigV2) signer."""
    out = dict(headers or {})
    if auth == "none":
        return out
    credentials = Credentials(access_key or server.access_key, secret_key or server.secret_key)
    url = server.endpoint + path + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers=out, data=body)
    moment = when or datetime.now(UTC)
    if auth == "v4":
        signer: S3SigV4Auth | HmacV1Auth = _FixedPayloadSigV4(
            credentials, payload_hash if payload_hash is not None else _sha256(body)
        )
        with mock.patch("botocore.auth.get_current_datetime", return_value=moment.replace(tzinfo=None)):
            signer.add_auth(request)
    else:
        signer = _DatedHmacV1(credentials, moment)
        signer.add_auth(request)
    return {name: value for name, value in request.headers.items()}


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def send(
    server: RunningServer,
    method: str,
    path: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    auth: Auth = "v4",
    access_key: str | None = None,
    secret_key: str | None = None,
    payload_hash: str | None = None,
    when: datetime | None = None,
) -> Reply:
    """Sign (unless auth="none") and send one request; the reply is returned whatever its status."""
    signed = sign(
        server,
        method,
        path,
        query=query,
        headers=headers,
        body=body,
        auth=auth,
        access_key=access_key,
        secret_key=secret_key,
        payload_hash=payload_hash,
        when=when,
    )
    target = path + (f"?{query}" if query else "")
    return request(server, method, target, signed, body)


def request(
    server: RunningServer, method: str, target: str, headers: Mapping[str, str], body: bytes
) -> Reply:
    """Send a prepared request with http.client (no retries, nothing added but Host and Content-Length)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body or method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body if body else None)
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, response.msg, data)
    finally:
        conn.close()


def fetch_url(
    url: str, method: str = "GET", body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> Reply:
    """Send a complete URL (a presigned one) exactly as given."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return Reply(response.status, response.msg, response.read())
    finally:
        conn.close()


def raw_exchange(server: RunningServer, head: bytes, timeout: float = 10) -> bytes:
    """Write raw request bytes (ending with `Connection: close`) and read everything until EOF."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head)
        chunks = []
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            chunks.append(piece)
    return b"".join(chunks)


def client_error(exc: ClientError) -> tuple[str, int]:
    """(S3 error code, HTTP status) of a botocore ClientError."""
    return exc.response["Error"]["Code"], exc.response["ResponseMetadata"]["HTTPStatusCode"]


def response_headers(resp: Mapping[str, object]) -> dict[str, str]:
    """The raw HTTP headers botocore saw (lower-cased names)."""
    meta = resp["ResponseMetadata"]
    assert isinstance(meta, dict)
    return dict(meta["HTTPHeaders"])


def find_all(root: ET.Element, path: str) -> list[ET.Element]:
    """Namespaced findall: "Contents/Key" → every S3-namespaced match."""
    return root.findall("/".join(S3_NS + part for part in path.split("/")))


def find_text(root: ET.Element, path: str) -> str | None:
    return root.findtext("/".join(S3_NS + part for part in path.split("/")))
