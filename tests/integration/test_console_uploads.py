"""Browser uploads from the web console's origin (the one CORS allowance AWS does not have): the
console of `serve` (same host name, console port) and each `--console-origin` may send PostObject to
any bucket, preflight included, whatever the bucket's CORS rules; no other origin, operation or method
gains anything, and a bucket's own matching rule still answers first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import backend_args, make_client
from tests.integration.helpers import Reply, request
from tests.support.server import RunningServer, free_port, start_server
from tests.support.users import unique_name

LISTED = "https://console.example:8443"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def console_s3(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp(f"console-uploads-{request.param}") / "data"
    args = [*backend_args(request, request.param), "--console-origin", LISTED]
    running = start_server(data_dir, args=args, console_port=free_port())
    yield running
    assert running.stop() == 0, running.log()[-4000:]


@pytest.fixture
def bucket(console_s3: RunningServer) -> Iterator[tuple[str, Any]]:
    s3 = make_client(console_s3)
    name = unique_name("console-up")
    s3.create_bucket(Bucket=name)
    yield name, s3
    for entry in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=entry["Key"])
    s3.delete_bucket(Bucket=name)


def own_origin(server: RunningServer) -> str:
    assert server.console is not None
    return str(server.console)  # http://127.0.0.1:CONSOLE-PORT, the host name requests use too


def preflight(server: RunningServer, path: str, origin: str, method: str = "POST", **extra: str) -> Reply:
    headers = {"Origin": origin, "Access-Control-Request-Method": method, **extra}
    return request(server, "OPTIONS", path, headers, b"")


def test_preflight_from_the_console(console_s3: RunningServer, bucket: tuple[str, Any]) -> None:
    name, _ = bucket
    for origin in (own_origin(console_s3), LISTED):
        reply = preflight(
            console_s3, f"/{name}", origin, **{"Access-Control-Request-Headers": "content-type"}
        )
        assert reply.status == 200, reply.body
        assert reply.headers["Access-Control-Allow-Origin"] == origin
        assert reply.headers["Access-Control-Allow-Methods"] == "POST"
        assert reply.headers["Access-Control-Allow-Headers"] == "content-type"
        assert reply.headers["Access-Control-Max-Age"] == "600"
        assert "ETag" in reply.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    ("origin", "path", "method"),
    [
        pytest.param("{other_host}", "/{bucket}", "POST", id="another-host-name"),
        pytest.param("{other_port}", "/{bucket}", "POST", id="another-port"),
        pytest.param("{other_scheme}", "/{bucket}", "POST", id="another-scheme"),
        pytest.param("https://elsewhere.example", "/{bucket}", "POST", id="unlisted"),
        pytest.param("{own}", "/{bucket}", "PUT", id="not-post"),
        pytest.param("{own}", "/{bucket}/key", "POST", id="object-level"),
        pytest.param("{own}", "/{bucket}?delete", "POST", id="DeleteObjects"),
        pytest.param("{own}", "/{bucket}?uploads", "POST", id="sub-resource"),
    ],
)
def test_nothing_else_is_allowed(
    console_s3: RunningServer, bucket: tuple[str, Any], origin: str, path: str, method: str
) -> None:
    name, _ = bucket
    own = own_origin(console_s3)
    port = int(own.rsplit(":", 1)[1])
    sent = origin.format(
        own=own,
        other_host=f"http://localhost:{port}",
        other_port=f"http://127.0.0.1:{port + 1}",
        other_scheme=f"https://127.0.0.1:{port}",
    )
    reply = preflight(console_s3, path.format(bucket=name), sent, method)
    assert reply.status == 403 and reply.error_code() == "AccessForbidden"
    assert reply.error_message() == "CORSResponse: CORS is not enabled for this bucket."


def test_a_bucket_rule_answers_first(console_s3: RunningServer, bucket: tuple[str, Any]) -> None:
    name, s3 = bucket
    own = own_origin(console_s3)
    rules = [{"AllowedOrigins": [own], "AllowedMethods": ["POST", "PUT"], "MaxAgeSeconds": 5}]
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    reply = preflight(console_s3, f"/{name}", own)
    assert reply.status == 200
    assert reply.headers["Access-Control-Allow-Methods"] == "POST, PUT"
    assert reply.headers["Access-Control-Max-Age"] == "5"
    # A bucket whose rules allow someone else still lets the console post.
    s3.put_bucket_cors(
        Bucket=name,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["https://a.test"], "AllowedMethods": ["GET"]}]},
    )
    reply = preflight(console_s3, f"/{name}", own)
    assert reply.status == 200 and reply.headers["Access-Control-Max-Age"] == "600"
    reply = preflight(console_s3, f"/{name}", "https://b.test")
    assert reply.status == 403 and reply.error_code() == "AccessForbidden"


def test_the_upload_and_its_errors_are_readable(console_s3: RunningServer, bucket: tuple[str, Any]) -> None:
    name, s3 = bucket
    own = own_origin(console_s3)
    form = make_client(console_s3).generate_presigned_post(name, "posted.txt")
    resp = requests.post(
        form["url"],
        data=form["fields"],
        files={"file": ("f", b"form bytes")},
        headers={"Origin": own},
        timeout=30,
    )
    assert resp.status_code == 204, resp.text
    assert resp.headers["Access-Control-Allow-Origin"] == own
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
    assert s3.get_object(Bucket=name, Key="posted.txt")["Body"].read() == b"form bytes"
    # A refused form: the page can read S3's error.
    tampered = {**form["fields"], "key": "elsewhere.txt"}
    resp = requests.post(
        form["url"], data=tampered, files={"file": ("f", b"x")}, headers={"Origin": own}, timeout=30
    )
    assert resp.status_code == 403 and resp.headers["Access-Control-Allow-Origin"] == own
    assert "elsewhere.txt" not in [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    # Other requests from the console's origin get nothing.
    listed = request(console_s3, "GET", f"/{name}", {"Origin": own}, b"")
    assert "Access-Control-Allow-Origin" not in listed.headers
