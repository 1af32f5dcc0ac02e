"""Authentication: presigned V2/V4 URLs, header SigV2/SigV4, expiry, skew, bad keys, payload hashes."""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import make_client
from tests.integration.helpers import (
    UNSIGNED_PAYLOAD,
    Reply,
    client_error,
    encode_query,
    fetch_url,
    find_all,
    object_path,
    request,
    send,
    sign,
)
from tests.support.server import RunningServer


def urlopen(
    url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """Fetch with urllib, returning error answers instead of raising."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return Reply(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, err.headers, err.read())


SIGNATURES = [
    pytest.param(None, "AWSAccessKeyId", id="v2-default"),
    pytest.param("s3v4", "X-Amz-Signature", id="v4"),
]


@pytest.mark.parametrize(("signature", "marker"), SIGNATURES)
def test_presigned_get(server: RunningServer, s3, bucket: str, signature: str | None, marker: str) -> None:
    data = b"shared download " * 100
    s3.put_object(Bucket=bucket, Key="dir/shared file+1.txt", Body=data, ContentType="text/plain")
    client = make_client(server) if signature is None else make_client(server, signature_version=signature)
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/shared file+1.txt"}, ExpiresIn=300
    )
    assert marker in parse_qs(urlsplit(url).query)
    reply = urlopen(url)
    assert reply.status == 200
    assert reply.body == data
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


@pytest.mark.parametrize(("signature", "marker"), SIGNATURES)
def test_presigned_get_with_response_override(
    server: RunningServer, s3, bucket: str, signature: str | None, marker: str
) -> None:
    s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n")
    client = make_client(server) if signature is None else make_client(server, signature_version=signature)
    url = client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "report.csv",
            "ResponseContentDisposition": 'attachment; filename="r.csv"',
            "ResponseContentType": "text/csv",
        },
    )
    reply = urlopen(url)
    assert reply.status == 200
    assert reply.headers["Content-Disposition"] == 'attachment; filename="r.csv"'
    assert reply.headers["Content-Type"] == "text/csv"


@pytest.mark.parametrize(("signature", "marker"), SIGNATURES)
def test_presigned_put(server: RunningServer, s3, bucket: str, signature: str | None, marker: str) -> None:
    client = make_client(server) if signature is None else make_client(server, signature_version=signature)
    key = "uploads/ключ 1.bin"
    url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key, "ContentType": "application/octet-stream"}
    )
    assert marker in parse_qs(urlsplit(url).query)
    data = bytes(range(256)) * 64
    reply = urlopen(url, method="PUT", data=data, headers={"Content-Type": "application/octet-stream"})
    assert reply.status == 200, reply.body
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/octet-stream"


@pytest.mark.parametrize(("signature", "marker"), SIGNATURES)
def test_presigned_put_without_content_type(
    server: RunningServer, s3, bucket: str, signature: str | None, marker: str
) -> None:
    client = make_client(server) if signature is None else make_client(server, signature_version=signature)
    url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "plain"})
    reply = fetch_url(url, "PUT", b"no type")
    assert reply.status == 200, reply.body
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"no type"


@pytest.mark.parametrize(("signature", "marker"), SIGNATURES)
def test_presigned_url_for_other_key_is_rejected(
    server: RunningServer, s3, bucket: str, signature: str | None, marker: str
) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"a")
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    client = make_client(server) if signature is None else make_client(server, signature_version=signature)
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"})
    tampered = url.replace(f"/{bucket}/a?", f"/{bucket}/b?")
    assert tampered != url
    reply = urlopen(tampered)
    assert (reply.status, reply.error_code()) == (403, "SignatureDoesNotMatch")


def test_presigned_urls_expire(server: RunningServer, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="soon-gone", Body=b"x")
    urls = {
        "v2": make_client(server).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "soon-gone"}, ExpiresIn=1
        ),
        "v4": make_client(server, signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "soon-gone"}, ExpiresIn=1
        ),
    }
    time.sleep(2.1)
    for version, url in urls.items():
        reply = urlopen(url)
        assert (reply.status, reply.error_code()) == (403, "AccessDenied"), version
        assert reply.error_message() == "Request has expired", version
        assert reply.headers["x-amz-request-id"]


def test_presigned_v4_expires_over_a_week(server: RunningServer, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    client = make_client(server, signature_version="s3v4")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604801)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["604801"]
    reply = urlopen(url)
    assert (reply.status, reply.error_code()) == (400, "AuthorizationQueryParametersError")
    assert "604800" in (reply.error_message() or "")
    week = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604800
    )
    assert urlopen(week).status == 200


@pytest.mark.parametrize("signature", ["s3v4", "s3"])
def test_wrong_secret(server: RunningServer, bucket: str, signature: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key="definitely-not-the-secret",
        region_name="us-east-1",
        config=Config(
            signature_version=signature, s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )
    with pytest.raises(ClientError) as info:
        client.list_objects_v2(Bucket=bucket)
    assert client_error(info.value) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key="nope", Body=b"x")
    assert client_error(info.value) == ("SignatureDoesNotMatch", 403)


@pytest.mark.parametrize("auth", ["v4", "v2"])
def test_wrong_secret_raw(server: RunningServer, bucket: str, auth: str) -> None:
    reply = send(server, "GET", f"/{bucket}", auth=auth, secret_key="wrong-secret")  # type: ignore[arg-type]
    assert (reply.status, reply.error_code()) == (403, "SignatureDoesNotMatch")
    assert reply.xml().findtext("AWSAccessKeyId") == server.access_key


@pytest.mark.parametrize("auth", ["v4", "v2"])
def test_unknown_access_key(server: RunningServer, bucket: str, auth: str) -> None:
    reply = send(server, "GET", f"/{bucket}", auth=auth, access_key="AKIDOESNOTEXIST00000")  # type: ignore[arg-type]
    assert (reply.status, reply.error_code()) == (403, "InvalidAccessKeyId")


def test_unknown_access_key_boto3(server: RunningServer) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id="AKIDOESNOTEXIST00000",
        aws_secret_access_key="whatever",
        region_name="us-east-1",
    )
    with pytest.raises(ClientError) as info:
        client.list_buckets()
    assert client_error(info.value) == ("InvalidAccessKeyId", 403)


@pytest.mark.parametrize(
    ("method", "path_kind"),
    [
        pytest.param("GET", "service", id="list-buckets"),
        pytest.param("GET", "bucket", id="list-objects"),
        pytest.param("GET", "object", id="get-object"),
        pytest.param("PUT", "object", id="put-object"),
        pytest.param("DELETE", "object", id="delete-object"),
    ],
)
def test_anonymous_is_denied(server: RunningServer, s3, bucket: str, method: str, path_kind: str) -> None:
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    path = {"service": "/", "bucket": f"/{bucket}", "object": object_path(bucket, "private")}[path_kind]
    reply = send(server, method, path, auth="none", body=b"x" if method == "PUT" else b"")
    assert (reply.status, reply.error_code()) == (403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="private")["Body"].read() == b"secret"


def test_anonymous_boto3(server: RunningServer, bucket: str) -> None:
    client = make_client(server, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as info:
        client.list_objects_v2(Bucket=bucket)
    assert client_error(info.value) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as info:
        client.head_object(Bucket=bucket, Key="anything")
    assert client_error(info.value) == ("403", 403)


@pytest.mark.parametrize("auth", ["v4", "v2"])
@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(timedelta(minutes=-16), id="16-min-behind"),
        pytest.param(timedelta(minutes=16), id="16-min-ahead"),
        pytest.param(timedelta(days=-1), id="a-day-behind"),
    ],
)
def test_clock_skew(server: RunningServer, bucket: str, auth: str, offset: timedelta) -> None:
    reply = send(server, "GET", f"/{bucket}", auth=auth, when=datetime.now(UTC) + offset)  # type: ignore[arg-type]
    assert (reply.status, reply.error_code()) == (403, "RequestTimeTooSkewed")


@pytest.mark.parametrize("auth", ["v4", "v2"])
def test_clock_skew_within_limit(server: RunningServer, bucket: str, auth: str) -> None:
    for offset in (timedelta(minutes=-10), timedelta(minutes=10)):
        reply = send(server, "GET", f"/{bucket}", auth=auth, when=datetime.now(UTC) + offset)  # type: ignore[arg-type]
        assert reply.status == 200, reply.body


def test_payload_hash_mismatch(server: RunningServer, s3, bucket: str) -> None:
    body = b"the real body"
    wrong = hashlib.sha256(b"a different body").hexdigest()
    reply = send(server, "PUT", object_path(bucket, "hashed"), body=body, payload_hash=wrong)
    assert (reply.status, reply.error_code()) == (400, "XAmzContentSHA256Mismatch")
    assert reply.xml().findtext("ClientComputedContentSHA256") == wrong
    assert reply.xml().findtext("S3ComputedContentSHA256") == hashlib.sha256(body).hexdigest()
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="hashed")
    assert client_error(info.value) == ("404", 404)


def test_payload_hash_mismatch_keeps_old_object(server: RunningServer, s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="hashed", Body=b"old")
    wrong = hashlib.sha256(b"other").hexdigest()
    reply = send(server, "PUT", object_path(bucket, "hashed"), body=b"new", payload_hash=wrong)
    assert reply.status == 400
    assert s3.get_object(Bucket=bucket, Key="hashed")["Body"].read() == b"old"


def test_payload_hash_correct(server: RunningServer, s3, bucket: str) -> None:
    reply = send(server, "PUT", object_path(bucket, "signed"), body=b"signed body")
    assert reply.status == 200
    assert s3.get_object(Bucket=bucket, Key="signed")["Body"].read() == b"signed body"


def test_unsigned_payload_accepted(server: RunningServer, s3, bucket: str) -> None:
    data = b"not hashed by the client" * 1000
    reply = send(server, "PUT", object_path(bucket, "unsigned"), body=data, payload_hash=UNSIGNED_PAYLOAD)
    assert reply.status == 200, reply.body
    assert reply.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == data


def test_malformed_payload_hash(server: RunningServer, bucket: str) -> None:
    reply = send(server, "PUT", object_path(bucket, "bad-hash"), body=b"x", payload_hash="not-a-hash")
    assert (reply.status, reply.error_code()) == (400, "InvalidArgument")


def test_sigv2_header_auth_raw(server: RunningServer, s3, bucket: str) -> None:
    put = send(
        server,
        "PUT",
        object_path(bucket, "v2/obj one"),
        body=b"v2 body",
        headers={"Content-Type": "text/plain", "x-amz-meta-who": "hmac"},
        auth="v2",
    )
    assert put.status == 200, put.body
    got = send(server, "GET", object_path(bucket, "v2/obj one"), auth="v2")
    assert (got.status, got.body) == (200, b"v2 body")
    assert got.headers["x-amz-meta-who"] == "hmac"
    listed = send(server, "GET", f"/{bucket}", query=encode_query({"prefix": "v2/"}), auth="v2")
    assert listed.status == 200
    assert [el.text for el in find_all(listed.xml(), "Contents/Key")] == ["v2/obj one"]
    listed_v2 = send(server, "GET", f"/{bucket}", query="list-type=2", auth="v2")
    assert [el.text for el in find_all(listed_v2.xml(), "Contents/Key")] == ["v2/obj one"]
    location = send(server, "GET", f"/{bucket}", query="location", auth="v2")
    assert location.status == 200
    gone = send(server, "DELETE", object_path(bucket, "v2/obj one"), auth="v2")
    assert gone.status == 204


def test_sigv2_client(server: RunningServer, bucket: str) -> None:
    client = make_client(server, signature_version="s3")
    data = b"through HmacV1Auth"
    client.put_object(Bucket=bucket, Key="odd key+&.txt", Body=data, Metadata={"a": "b"})
    assert client.get_object(Bucket=bucket, Key="odd key+&.txt")["Body"].read() == data
    assert client.head_object(Bucket=bucket, Key="odd key+&.txt")["Metadata"] == {"a": "b"}
    assert [o["Key"] for o in client.list_objects(Bucket=bucket)["Contents"]] == ["odd key+&.txt"]
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="odd")["Contents"]] == [
        "odd key+&.txt"
    ]
    assert client.get_object(Bucket=bucket, Key="odd key+&.txt", Range="bytes=0-6")["Body"].read() == data[:7]
    client.delete_object(Bucket=bucket, Key="odd key+&.txt")
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)


def test_sigv4_client_explicit(server: RunningServer, bucket: str) -> None:
    client = make_client(server, signature_version="s3v4")
    client.put_object(Bucket=bucket, Key="v4", Body=b"v4 body")
    assert client.get_object(Bucket=bucket, Key="v4")["Body"].read() == b"v4 body"


def test_tampered_signed_header(server: RunningServer, bucket: str) -> None:
    path = object_path(bucket, "meta")
    headers = sign(server, "PUT", path, body=b"x", headers={"x-amz-meta-a": "1"})
    headers["x-amz-meta-a"] = "2"
    reply = request(server, "PUT", path, headers, b"x")
    assert (reply.status, reply.error_code()) == (403, "SignatureDoesNotMatch")


def test_unsigned_amz_header_rejected(server: RunningServer, bucket: str) -> None:
    path = object_path(bucket, "meta")
    headers = sign(server, "PUT", path, body=b"x")
    headers["x-amz-meta-sneaky"] = "1"
    reply = request(server, "PUT", path, headers, b"x")
    assert reply.status == 403
    assert reply.error_code() in {"AccessDenied", "SignatureDoesNotMatch"}
