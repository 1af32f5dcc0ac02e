"""CORS: PutBucketCors / GetBucketCors / DeleteBucketCors with AWS's validation, OPTIONS preflight
answered from the bucket's rules, and Access-Control-* headers on actual requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import Reply, client_error, request, send
from tests.support.server import RunningServer
from tests.support.users import unique_name, user_client

RULES = {
    "CORSRules": [
        {
            "ID": "app",
            "AllowedOrigins": ["https://app.example.com", "https://*.example.org"],
            "AllowedMethods": ["GET", "PUT", "HEAD"],
            "AllowedHeaders": ["content-type", "x-amz-*"],
            "ExposeHeaders": ["ETag", "x-amz-request-id"],
            "MaxAgeSeconds": 600,
        },
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]
}


@pytest.fixture
def configured(server: RunningServer) -> Iterator[tuple[str, Any]]:
    _, s3 = user_client(server)
    bucket = unique_name("cors")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<p>hi</p>")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES)
    yield bucket, s3
    s3.delete_object(Bucket=bucket, Key="page.html")
    s3.delete_bucket(Bucket=bucket)


def preflight(server: RunningServer, path: str, headers: dict[str, str]) -> Reply:
    return request(server, "OPTIONS", path, headers, b"")


def test_put_get_delete(configured: tuple[str, Any]) -> None:
    bucket, s3 = configured
    got = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert got == RULES["CORSRules"]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_cors(Bucket=bucket)
    assert client_error(err.value) == ("NoSuchCORSConfiguration", 404)
    s3.delete_bucket_cors(Bucket=bucket)


def test_preflight_allowed(server: RunningServer, configured: tuple[str, Any]) -> None:
    bucket, _ = configured
    reply = preflight(
        server,
        f"/{bucket}/page.html",
        {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type, X-Amz-Date",
        },
    )
    assert reply.status == 200, reply.body
    assert reply.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert reply.headers["Access-Control-Allow-Methods"] == "GET, PUT, HEAD"
    assert reply.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert reply.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert reply.headers["Access-Control-Max-Age"] == "600"
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in reply.headers["Vary"]
    assert reply.headers["x-amz-request-id"]

    # A wildcard origin rule, and the wildcard in the middle of another.
    wild = preflight(
        server, f"/{bucket}", {"Origin": "https://anyone.test", "Access-Control-Request-Method": "GET"}
    )
    assert wild.status == 200 and wild.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in wild.headers
    sub = preflight(
        server, f"/{bucket}/x", {"Origin": "https://cdn.example.org", "Access-Control-Request-Method": "HEAD"}
    )
    assert sub.status == 200 and sub.headers["Access-Control-Allow-Origin"] == "https://cdn.example.org"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example.net", "Access-Control-Request-Method": "PUT"},
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"},
        {
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization-extra",
        },
    ],
    ids=["origin", "method", "header"],
)
def test_preflight_refused(
    server: RunningServer, configured: tuple[str, Any], headers: dict[str, str]
) -> None:
    bucket, _ = configured
    reply = preflight(server, f"/{bucket}/page.html", headers)
    assert reply.status == 403
    assert reply.error_code() == "AccessForbidden"
    assert (reply.error_message() or "").startswith("CORSResponse: This CORS request is not allowed")
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_preflight_without_rules_or_headers(server: RunningServer) -> None:
    _, s3 = user_client(server)
    bucket = unique_name("nocors")
    s3.create_bucket(Bucket=bucket)
    try:
        reply = preflight(
            server, f"/{bucket}/k", {"Origin": "https://a.test", "Access-Control-Request-Method": "GET"}
        )
        assert reply.status == 403 and reply.error_code() == "AccessForbidden"
        assert reply.error_message() == "CORSResponse: CORS is not enabled for this bucket."
        reply = preflight(server, f"/{bucket}/k", {"Access-Control-Request-Method": "GET"})
        assert reply.status == 400 and reply.error_code() == "BadRequest"
        reply = preflight(server, f"/{bucket}/k", {"Origin": "https://a.test"})
        assert reply.status == 400 and reply.error_code() == "BadRequest"
        reply = preflight(
            server,
            f"/{unique_name('gone')}/k",
            {"Origin": "https://a.test", "Access-Control-Request-Method": "GET"},
        )
        assert reply.status == 404 and reply.error_code() == "NoSuchBucket"
    finally:
        s3.delete_bucket(Bucket=bucket)


def test_actual_requests_carry_cors_headers(server: RunningServer, configured: tuple[str, Any]) -> None:
    bucket, s3 = configured
    # Public reads, as a browser page would make them.
    s3.put_object_acl(Bucket=bucket, Key="page.html", ACL="public-read")
    reply = request(server, "GET", f"/{bucket}/page.html", {"Origin": "https://app.example.com"}, b"")
    assert reply.status == 200 and reply.body == b"<p>hi</p>"
    assert reply.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert reply.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    # An error is readable by the page too.
    denied = request(server, "PUT", f"/{bucket}/page.html", {"Origin": "https://app.example.com"}, b"x")
    assert denied.status == 403 and denied.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    # No matching rule, or no Origin at all: no CORS headers.
    other = request(server, "GET", f"/{bucket}/page.html", {"Origin": "https://evil.example.net"}, b"")
    assert other.status == 200 and other.headers["Access-Control-Allow-Origin"] == "*"  # the "*" GET rule
    put = send(server, "PUT", f"/{bucket}/x", headers={"Origin": "https://evil.example.net"}, body=b"x")
    assert put.status == 200 and "Access-Control-Allow-Origin" not in put.headers
    plain = request(server, "GET", f"/{bucket}/page.html", {}, b"")
    assert "Access-Control-Allow-Origin" not in plain.headers
    s3.delete_object(Bucket=bucket, Key="x")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<CORSConfiguration><oops", "MalformedXML"),
        (b"<CORSConfiguration></CORSConfiguration>", "MalformedXML"),
        (
            b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
            "MalformedXML",
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
            "MalformedXML",
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>"
            b"</CORSRule></CORSConfiguration>",
            "InvalidRequest",
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>https://*.*.com</AllowedOrigin>"
            b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
            "InvalidRequest",
        ),
        (
            b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            b"<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule></CORSConfiguration>",
            "MalformedXML",
        ),
        (
            b"<CORSConfiguration>"
            + b"<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>" * 101
            + b"</CORSConfiguration>",
            "MalformedXML",
        ),
    ],
    ids=[
        "not-xml",
        "no-rules",
        "no-origin",
        "no-method",
        "bad-method",
        "two-wildcards",
        "bad-max-age",
        "101-rules",
    ],
)
def test_invalid_configurations(server: RunningServer, body: bytes, code: str) -> None:
    _, s3 = user_client(server)
    bucket = unique_name("badcors")
    s3.create_bucket(Bucket=bucket)
    try:
        reply = send(server, "PUT", f"/{bucket}", query="cors", body=body)
        assert reply.status == 400, reply.body
        assert reply.error_code() == code
        with pytest.raises(ClientError) as err:
            s3.get_bucket_cors(Bucket=bucket)
        assert client_error(err.value) == ("NoSuchCORSConfiguration", 404)
    finally:
        s3.delete_bucket(Bucket=bucket)


def test_cors_configuration_is_the_owners(server: RunningServer, configured: tuple[str, Any]) -> None:
    bucket, _ = configured
    _, stranger = user_client(server)
    for call in (
        lambda: stranger.get_bucket_cors(Bucket=bucket),
        lambda: stranger.delete_bucket_cors(Bucket=bucket),
        lambda: stranger.put_bucket_cors(Bucket=bucket, CORSConfiguration=RULES),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert client_error(err.value) == ("AccessDenied", 403)
