"""Error shape and request ids on every answer; unsupported operations are 501; unknown methods 405."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import (
    Reply,
    client_error,
    encode_query,
    object_path,
    raw_exchange,
    send,
    sign,
)
from tests.support.server import RunningServer


def assert_ids(headers: object) -> None:
    get = headers.get  # type: ignore[attr-defined]
    assert get("x-amz-request-id"), "x-amz-request-id missing"
    assert get("x-amz-id-2"), "x-amz-id-2 missing"


def assert_error_xml(reply: Reply, code: str, status: int, resource: str) -> None:
    assert reply.status == status, reply.body[:400]
    assert reply.headers["Content-Type"].startswith("application/xml")
    root = reply.xml()
    assert root.tag == "Error"
    children = [child.tag for child in root]
    assert children[:2] == ["Code", "Message"]
    assert {"Resource", "RequestId"} <= set(children)
    assert root.findtext("Code") == code
    assert root.findtext("Message")
    assert root.findtext("Resource") == resource
    assert root.findtext("RequestId") == reply.headers["x-amz-request-id"]
    assert_ids(reply.headers)


@pytest.fixture
def with_object(s3, bucket: str) -> str:
    s3.put_object(Bucket=bucket, Key="present", Body=b"here")
    return bucket


SUCCESSES = [
    pytest.param("GET", "service", "", 200, id="list-buckets"),
    pytest.param("HEAD", "bucket", "", 200, id="head-bucket"),
    pytest.param("GET", "bucket", "list-type=2", 200, id="list-objects-v2"),
    pytest.param("GET", "bucket", "", 200, id="list-objects"),
    pytest.param("GET", "bucket", "location", 200, id="get-bucket-location"),
    pytest.param("GET", "object", "", 200, id="get-object"),
    pytest.param("HEAD", "object", "", 200, id="head-object"),
    pytest.param("PUT", "object", "", 200, id="put-object"),
    pytest.param("DELETE", "missing", "", 204, id="delete-object"),
]


@pytest.mark.parametrize(("method", "kind", "query", "status"), SUCCESSES)
def test_success_carries_request_ids(
    server: RunningServer, with_object: str, method: str, kind: str, query: str, status: int
) -> None:
    path = {
        "service": "/",
        "bucket": f"/{with_object}",
        "object": object_path(with_object, "present"),
        "missing": object_path(with_object, "missing"),
    }[kind]
    reply = send(server, method, path, query=query, body=b"here" if method == "PUT" else b"")
    assert reply.status == status
    assert_ids(reply.headers)


def test_request_ids_are_unique(server: RunningServer, with_object: str) -> None:
    ids = {send(server, "GET", f"/{with_object}").headers["x-amz-request-id"] for _ in range(5)}
    assert len(ids) == 5


ERRORS = [
    pytest.param("GET", "missing-key", "", "NoSuchKey", 404, id="no-such-key"),
    pytest.param("GET", "missing-bucket", "", "NoSuchBucket", 404, id="no-such-bucket"),
    pytest.param("DELETE", "bucket", "", "BucketNotEmpty", 409, id="bucket-not-empty"),
    pytest.param("GET", "bucket", "max-keys=nope", "InvalidArgument", 400, id="invalid-argument"),
    pytest.param("GET", "bucket", "website", "NotImplemented", 501, id="not-implemented"),
    pytest.param("PATCH", "object", "", "MethodNotAllowed", 405, id="method-not-allowed"),
]


@pytest.mark.parametrize(("method", "kind", "query", "code", "status"), ERRORS)
def test_error_body_shape(
    server: RunningServer, with_object: str, method: str, kind: str, query: str, code: str, status: int
) -> None:
    path = {
        "bucket": f"/{with_object}",
        "object": object_path(with_object, "present"),
        "missing-key": object_path(with_object, "absent-key"),
        "missing-bucket": "/no-such-bucket-here/key",
    }[kind]
    resource = {
        "bucket": f"/{with_object}",
        "object": f"/{with_object}/present",
        "missing-key": f"/{with_object}/absent-key",
        "missing-bucket": "/no-such-bucket-here/key",
    }[kind]
    assert_error_xml(send(server, method, path, query=query), code, status, resource)


def test_auth_errors_have_shape(server: RunningServer, with_object: str) -> None:
    assert_error_xml(
        send(server, "GET", f"/{with_object}", auth="none"), "AccessDenied", 403, f"/{with_object}"
    )
    assert_error_xml(
        send(server, "GET", f"/{with_object}", secret_key="wrong"),
        "SignatureDoesNotMatch",
        403,
        f"/{with_object}",
    )


def test_error_details_fields(server: RunningServer, with_object: str) -> None:
    root = send(server, "GET", object_path(with_object, "nope")).xml()
    assert root.findtext("Key") == "nope"
    root = send(server, "GET", "/no-such-bucket-here").xml()
    assert root.findtext("BucketName") == "no-such-bucket-here"


@pytest.mark.parametrize(
    "path_kind",
    [
        pytest.param("missing-key", id="missing-key"),
        pytest.param("missing-bucket", id="missing-bucket"),
        pytest.param("anonymous", id="anonymous"),
    ],
)
def test_head_errors_have_no_body(server: RunningServer, with_object: str, path_kind: str) -> None:
    path = {
        "missing-key": object_path(with_object, "absent"),
        "missing-bucket": "/no-such-bucket-here",
        "anonymous": object_path(with_object, "present"),
    }[path_kind]
    headers = sign(server, "HEAD", path, auth="none" if path_kind == "anonymous" else "v4")
    lines = [f"HEAD {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Connection: close", "", ""]
    raw = raw_exchange(server, "\r\n".join(lines).encode())
    head, _, rest = raw.partition(b"\r\n\r\n")
    expected = b"403" if path_kind == "anonymous" else b"404"
    assert head.split(b" ")[1] == expected, head
    assert rest == b""
    lowered = head.lower()
    assert b"\r\nx-amz-request-id: " in lowered
    assert b"\r\nx-amz-id-2: " in lowered


def test_head_errors_through_boto3(s3, with_object: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=with_object, Key="absent")
    assert client_error(info.value) == ("404", 404)
    headers = info.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-request-id"]
    assert headers["x-amz-id-2"]


UNSUPPORTED = [
    pytest.param(lambda s3, b: s3.get_bucket_replication(Bucket=b), id="GetBucketReplication"),
    pytest.param(lambda s3, b: s3.get_bucket_website(Bucket=b), id="GetBucketWebsite"),
    pytest.param(lambda s3, b: s3.get_bucket_logging(Bucket=b), id="GetBucketLogging"),
    pytest.param(
        lambda s3, b: s3.get_bucket_analytics_configuration(Bucket=b, Id="a"), id="GetBucketAnalytics"
    ),
    pytest.param(
        lambda s3, b: s3.restore_object(Bucket=b, Key="present", RestoreRequest={"Days": 1}),
        id="RestoreObject",
    ),
]


@pytest.mark.parametrize("call", UNSUPPORTED)
def test_unsupported_operation_is_501(s3, with_object: str, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call(s3, with_object)
    assert client_error(info.value) == ("NotImplemented", 501)
    assert s3.get_object(Bucket=with_object, Key="present")["Body"].read() == b"here"


@pytest.mark.parametrize(
    ("method", "kind", "query"),
    [
        pytest.param("GET", "bucket", "website", id="get-website"),
        pytest.param("PUT", "bucket", "replication", id="put-replication"),
        pytest.param("DELETE", "bucket", "website", id="delete-website"),
        pytest.param("PUT", "object", "renameObject", id="put-rename"),
        pytest.param("GET", "object", "torrent", id="get-torrent"),
    ],
)
def test_unsupported_raw_is_501_and_changes_nothing(
    server: RunningServer, s3, with_object: str, method: str, kind: str, query: str
) -> None:
    path = f"/{with_object}" if kind == "bucket" else object_path(with_object, "present")
    body = b"<x/>" if method == "PUT" else b""
    reply = send(server, method, path, query=query, body=body)
    assert_error_xml(reply, "NotImplemented", 501, path if kind == "bucket" else f"/{with_object}/present")
    assert s3.get_object(Bucket=with_object, Key="present")["Body"].read() == b"here"
    s3.head_bucket(Bucket=with_object)


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        pytest.param("PATCH", "object", id="patch-object"),
        pytest.param("PATCH", "bucket", id="patch-bucket"),
        pytest.param("PROPFIND", "object", id="propfind"),
        pytest.param("TRACE", "service", id="trace"),
        pytest.param("POST", "object", id="post-object-no-subresource"),
        pytest.param("DELETE", "service", id="delete-service"),
        pytest.param("PUT", "service", id="put-service"),
    ],
)
def test_unknown_method_is_405(server: RunningServer, with_object: str, method: str, kind: str) -> None:
    path = {"service": "/", "bucket": f"/{with_object}", "object": object_path(with_object, "present")}[kind]
    reply = send(server, method, path)
    assert (reply.status, reply.error_code()) == (405, "MethodNotAllowed"), reply.body[:300]
    assert_ids(reply.headers)
    anonymous = send(server, method, path, auth="none")
    assert anonymous.status in (403, 405)
    assert anonymous.error_code() in ("AccessDenied", "MethodNotAllowed")


def test_unsupported_bucket_subresource_is_not_a_listing(server: RunningServer, with_object: str) -> None:
    reply = send(server, "GET", f"/{with_object}", query=encode_query({"list-type": "2", "prefix": "p"}))
    assert reply.status == 200
    reply = send(server, "GET", f"/{with_object}", query="analytics")
    assert (reply.status, reply.error_code()) == (501, "NotImplemented")
