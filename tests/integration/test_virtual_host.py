"""Virtual-hosted-style requests (BUCKET.DOMAIN) when --domain is set; path style keeps working."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_client
from tests.support.server import RunningServer, start_server
from tests.support.signer import sign_v4

DOMAIN = "s3.example.test"
UNSIGNED = "UNSIGNED-PAYLOAD"


@pytest.fixture(scope="module")
def domain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("vhost") / "data", args=["--domain", DOMAIN])
    yield running
    assert running.stop() == 0


def request(server: RunningServer, method: str, host: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send to the loopback port with another Host header, signed for that host."""
    url = f"http://{host}:{server.port}{path}"
    signed = sign_v4(
        method, url, {"Content-Length": str(len(body))}, UNSIGNED, server.access_key, server.secret_key
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in signed.headers.items():
            conn.putheader("Host" if name == "host" else name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_virtual_hosted_put_get_list(domain_server: RunningServer) -> None:
    make_client(domain_server).create_bucket(Bucket="vbucket")
    host = f"vbucket.{DOMAIN}"
    assert request(domain_server, "PUT", host, "/dir/a%20key", b"hello")[0] == 200
    status, body = request(domain_server, "GET", host, "/dir/a%20key")
    assert (status, body) == (200, b"hello")
    status, body = request(domain_server, "GET", host, "/?list-type=2&prefix=dir%2F")
    assert status == 200 and b"<Key>dir/a key</Key>" in body
    # The same object, path style, through boto3.
    got = make_client(domain_server).get_object(Bucket="vbucket", Key="dir/a key")
    assert got["Body"].read() == b"hello"


def test_bare_domain_is_path_style(domain_server: RunningServer) -> None:
    make_client(domain_server).create_bucket(Bucket="pbucket")
    assert request(domain_server, "PUT", DOMAIN, "/pbucket/k", b"x")[0] == 200
    assert request(domain_server, "GET", DOMAIN, "/pbucket/k") == (200, b"x")


def test_virtual_host_of_a_missing_bucket(domain_server: RunningServer) -> None:
    status, body = request(domain_server, "GET", f"nothere.{DOMAIN}", "/k")
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in body


def test_without_domain_host_is_ignored(server: RunningServer, tmp_path: Path) -> None:
    make_client(server).create_bucket(Bucket="hostless")
    # Without --domain, a bucket-looking Host does not change the meaning of the path.
    status, _ = request(server, "PUT", "hostless.localhost", "/hostless/k", b"y")
    assert status == 200
    assert make_client(server).get_object(Bucket="hostless", Key="k")["Body"].read() == b"y"
