"""PutObject, GetObject, HeadObject, DeleteObject: bodies, headers, metadata, digests, dates."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import (
    client_error,
    find_all,
    object_path,
    raw_exchange,
    response_headers,
    send,
    sign,
)
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(0, id="empty"),
        pytest.param(1, id="one-byte"),
        pytest.param(64 * 1024 + 7, id="64k-odd"),
        pytest.param(1024 * 1024 + 3, id="1m-odd"),
        pytest.param(3 * 1024 * 1024, id="3m"),
    ],
)
def test_put_get_round_trip(s3, bucket: str, size: int) -> None:
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key="blob", Body=data)
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="blob")
    assert got["Body"].read() == data
    assert got["ContentLength"] == size
    assert got["ETag"] == etag
    head = s3.head_object(Bucket=bucket, Key="blob")
    assert head["ContentLength"] == size
    assert head["ETag"] == etag
    assert response_headers(head)["content-length"] == str(size)
    assert response_headers(got)["accept-ranges"] == "bytes"


def test_overwrite_replaces_content(s3, bucket: str) -> None:
    s3.put_object(
        Bucket=bucket, Key="k", Body=b"first version", ContentType="text/plain", Metadata={"v": "1"}
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second"
    assert got["ContentType"] == "binary/octet-stream"
    assert got["Metadata"] == {}
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", 6)]


def test_default_content_type(s3, bucket: str, server: RunningServer) -> None:
    reply = send(server, "PUT", object_path(bucket, "no-type"), body=b"abc")
    assert reply.status == 200
    assert s3.head_object(Bucket=bucket, Key="no-type")["ContentType"] == "binary/octet-stream"


STORED = {
    "ContentType": ("content-type", "text/html; charset=utf-8"),
    "ContentEncoding": ("content-encoding", "identity"),
    "ContentDisposition": ("content-disposition", 'attachment; filename="report.html"'),
    "ContentLanguage": ("content-language", "de-CH"),
    "CacheControl": ("cache-control", "max-age=3600, must-revalidate"),
}


def test_representation_headers_stored(s3, bucket: str) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket,
        Key="page.html",
        Body=b"<html></html>",
        Expires=expires,
        **{param: value for param, (_, value) in STORED.items()},
    )
    for resp in (
        s3.get_object(Bucket=bucket, Key="page.html"),
        s3.head_object(Bucket=bucket, Key="page.html"),
    ):
        headers = response_headers(resp)
        for param, (header, value) in STORED.items():
            assert resp[param] == value
            assert headers[header] == value
        assert parsedate_to_datetime(headers["expires"]) == expires


RESPONSE_OVERRIDES = [
    pytest.param("ResponseContentType", "ContentType", "content-type", "application/x-override", id="type"),
    pytest.param(
        "ResponseContentDisposition",
        "ContentDisposition",
        "content-disposition",
        'inline; filename="x.txt"',
        id="disposition",
    ),
    pytest.param("ResponseCacheControl", "CacheControl", "cache-control", "no-store", id="cache-control"),
    pytest.param("ResponseContentLanguage", "ContentLanguage", "content-language", "fr", id="language"),
    pytest.param("ResponseContentEncoding", "ContentEncoding", "content-encoding", "identity", id="encoding"),
    pytest.param("ResponseExpires", None, "expires", "Thu, 01 Jan 2037 00:00:00 GMT", id="expires"),
]


@pytest.mark.parametrize(("param", "field", "header", "value"), RESPONSE_OVERRIDES)
@pytest.mark.parametrize("signature", ["s3v4", "s3"])
def test_response_overrides(
    server: RunningServer, bucket: str, param: str, field: str | None, header: str, value: str, signature: str
) -> None:
    client = make_client(server, signature_version=signature)
    client.put_object(Bucket=bucket, Key="o", Body=b"override me", ContentType="text/plain")
    arg: object = value
    if param == "ResponseExpires":
        arg = parsedate_to_datetime(value)
    got = client.get_object(Bucket=bucket, Key="o", **{param: arg})
    assert got["Body"].read() == b"override me"
    headers = response_headers(got)
    if header == "expires":
        assert parsedate_to_datetime(headers[header]) == parsedate_to_datetime(value)
    else:
        assert headers[header] == value
    if field is not None:
        assert got[field] == value
    plain = client.get_object(Bucket=bucket, Key="o")
    assert response_headers(plain)["content-type"] == "text/plain"


def test_user_metadata_round_trip(s3, bucket: str) -> None:
    meta = {"color": "blue", "mixed-case": "Value With Spaces", "empty-ish": "-", "n": "42"}
    s3.put_object(Bucket=bucket, Key="m", Body=b"x", Metadata=meta)
    assert s3.head_object(Bucket=bucket, Key="m")["Metadata"] == meta
    got = s3.get_object(Bucket=bucket, Key="m")
    assert got["Metadata"] == meta
    assert response_headers(got)["x-amz-meta-color"] == "blue"


def test_user_metadata_names_are_lower_cased(server: RunningServer, s3, bucket: str) -> None:
    reply = send(
        server, "PUT", object_path(bucket, "case"), body=b"x", headers={"X-Amz-Meta-Camel-Case": "Yes"}
    )
    assert reply.status == 200
    assert s3.head_object(Bucket=bucket, Key="case")["Metadata"] == {"camel-case": "Yes"}


def test_user_metadata_under_limit(s3, bucket: str) -> None:
    meta = {"a": "x" * 1000, "b": "y" * 1000}
    s3.put_object(Bucket=bucket, Key="big-meta", Body=b"x", Metadata=meta)
    assert s3.head_object(Bucket=bucket, Key="big-meta")["Metadata"] == meta


@pytest.mark.parametrize(
    "meta",
    [
        pytest.param({"big": "v" * 2100}, id="one-value"),
        pytest.param({f"k{i}": "v" * 200 for i in range(11)}, id="many-values"),
    ],
)
def test_user_metadata_too_large(s3, bucket: str, meta: dict[str, str]) -> None:
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="too-big", Body=b"x", Metadata=meta)
    assert client_error(info.value) == ("MetadataTooLarge", 400)
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="too-big")
    assert client_error(info.value) == ("404", 404)


def test_content_md5_correct(s3, bucket: str) -> None:
    data = b"digest me"
    resp = s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=md5_b64(data))
    assert resp["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def test_content_md5_wrong_is_bad_digest(s3, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"digest me", ContentMD5=md5_b64(b"something else"))
    assert client_error(info.value) == ("BadDigest", 400)
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="md5")
    assert client_error(info.value) == ("404", 404)


def test_content_md5_wrong_keeps_previous_version(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="md5", Body=b"original")
    with pytest.raises(ClientError):
        s3.put_object(Bucket=bucket, Key="md5", Body=b"replacement", ContentMD5=md5_b64(b"nope"))
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == b"original"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not base64 at all!", id="not-base64"),
        pytest.param(base64.b64encode(b"short").decode(), id="wrong-length"),
        pytest.param("", id="empty"),
    ],
)
def test_content_md5_malformed_is_invalid_digest(server: RunningServer, s3, bucket: str, value: str) -> None:
    reply = send(server, "PUT", object_path(bucket, "md5"), body=b"digest me", headers={"Content-MD5": value})
    assert (reply.status, reply.error_code()) == (400, "InvalidDigest")
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="md5")
    assert client_error(info.value) == ("404", 404)


def test_etag_is_quoted_md5_everywhere(server: RunningServer, s3, bucket: str) -> None:
    data = b"etag check"
    expected = f'"{hashlib.md5(data).hexdigest()}"'
    put = s3.put_object(Bucket=bucket, Key="e", Body=data)
    assert response_headers(put)["etag"] == expected
    assert response_headers(s3.head_object(Bucket=bucket, Key="e"))["etag"] == expected
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["ETag"] == expected
    raw = send(server, "GET", f"/{bucket}", query="list-type=2")
    assert [el.text for el in find_all(raw.xml(), "Contents/ETag")] == [expected]


def test_last_modified_formats(server: RunningServer, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"time")
    now = datetime.now(UTC)
    header = response_headers(s3.head_object(Bucket=bucket, Key="t"))["last-modified"]
    assert header.endswith(" GMT")
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", header)
    assert abs(parsedate_to_datetime(header) - now) < timedelta(seconds=5)

    for query in ("list-type=2", ""):
        reply = send(server, "GET", f"/{bucket}", query=query)
        stamps = [el.text or "" for el in find_all(reply.xml(), "Contents/LastModified")]
        assert len(stamps) == 1
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", stamps[0]), stamps[0]
        listed = datetime.strptime(stamps[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert abs(listed - now) < timedelta(seconds=5)
        assert listed.replace(microsecond=0) == parsedate_to_datetime(header)


def test_get_missing_key(s3, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="nope")
    assert client_error(info.value) == ("NoSuchKey", 404)
    assert info.value.response["Error"].get("Key") == "nope"


def test_head_missing_key(s3, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="nope")
    assert client_error(info.value) == ("404", 404)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s3, b: s3.get_object(Bucket=b, Key="k"), id="get"),
        pytest.param(lambda s3, b: s3.put_object(Bucket=b, Key="k", Body=b"x"), id="put"),
        pytest.param(lambda s3, b: s3.delete_object(Bucket=b, Key="k"), id="delete"),
        pytest.param(lambda s3, b: s3.list_objects_v2(Bucket=b), id="list-v2"),
        pytest.param(lambda s3, b: s3.list_objects(Bucket=b), id="list-v1"),
    ],
)
def test_missing_bucket(s3, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call(s3, f"no-such-bucket-{os.getpid()}")
    assert client_error(info.value) == ("NoSuchBucket", 404)


def test_head_object_missing_bucket(s3) -> None:
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=f"no-such-bucket-{os.getpid()}", Key="k")
    assert client_error(info.value) == ("404", 404)


def test_delete_object(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    resp = s3.delete_object(Bucket=bucket, Key="gone")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="gone")
    assert client_error(info.value) == ("NoSuchKey", 404)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_delete_missing_key_is_idempotent(s3, bucket: str) -> None:
    for _ in range(2):
        resp = s3.delete_object(Bucket=bucket, Key="never-existed")
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_put_without_content_length(server: RunningServer, bucket: str) -> None:
    headers = sign(server, "PUT", object_path(bucket, "no-length"), payload_hash="UNSIGNED-PAYLOAD")
    lines = [f"PUT {object_path(bucket, 'no-length')} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Connection: close", "", ""]
    answer = raw_exchange(server, "\r\n".join(lines).encode())
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 411 " in status_line, answer[:400]
    assert b"<Code>MissingContentLength</Code>" in answer


def test_content_md5_malformed_through_boto3(s3, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"digest me", ContentMD5="not base64!!")
    assert client_error(info.value) == ("InvalidDigest", 400)


def test_head_never_opens_the_blob(server: RunningServer, s3, bucket: str) -> None:
    """HEAD answers from the object's record alone: with its blob file moved away it still answers
    (a plain and a ranged HEAD), while a GET, which must read it, fails."""
    before = stored_blobs(server)
    data = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key="headless", Body=data)
    (blob_id,) = stored_blobs(server) - before
    (path,) = [p for p in server.data_dir.rglob(blob_id) if "blobs" in {q.name for q in p.parents}]
    aside = path.with_name(path.name + ".aside")
    path.rename(aside)
    try:
        head = s3.head_object(Bucket=bucket, Key="headless")
        assert (head["ContentLength"], head["ETag"]) == (4096, f'"{hashlib.md5(data).hexdigest()}"')
        ranged = s3.head_object(Bucket=bucket, Key="headless", Range="bytes=10-19")
        assert (ranged["ContentLength"], ranged["ContentRange"]) == (10, "bytes 10-19/4096")
        with pytest.raises(ClientError):
            s3.get_object(Bucket=bucket, Key="headless")["Body"].read()
    finally:
        aside.rename(path)
    assert s3.get_object(Bucket=bucket, Key="headless")["Body"].read() == data
