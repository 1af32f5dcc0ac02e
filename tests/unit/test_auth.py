"""authenticate(): mechanism dispatch, and golden tests with what real clients send.

The real-client tests drive boto3 and the aws cli in-process with the network cut at botocore's
before-send hook, so every request is exactly what those clients put on the wire.
"""

from __future__ import annotations

import contextlib
import email.utils
import importlib.util
import io
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from multidict import CIMultiDict, CIMultiDictProxy

from s3server.gateway import sigv4
from s3server.gateway.auth import AuthResult, Credential, RequestView, authenticate
from s3server.s3.errors import S3Error

AK = "AKIDTESTKEY123"
SK = "sEcReT/with+chars=and/slashes"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ENDPOINT = "http://localhost:7841"

CREDENTIALS = {AK: Credential(AK, SK, "alice", is_admin=True)}
LOOKED_UP: list[str] = []


async def lookup(access_key: str) -> Credential | None:
    LOOKED_UP.append(access_key)
    return CREDENTIALS.get(access_key)


@pytest.fixture(autouse=True)
def frozen_botocore_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pin every clock botocore's signers read to NOW."""
    stamp = NOW.timestamp()

    def clock(remove_tzinfo: bool = True) -> datetime:
        return NOW.replace(tzinfo=None) if remove_tzinfo else NOW

    # With awscrt installed boto3 signs V4 through botocore.crt.auth, which has its own clock import.
    monkeypatch.setattr("botocore.auth.get_current_datetime", clock)
    if importlib.util.find_spec("awscrt") is not None:
        monkeypatch.setattr("botocore.crt.auth.get_current_datetime", clock)
    monkeypatch.setattr(
        "botocore.auth.formatdate",
        lambda timeval=None, localtime=False, usegmt=False: email.utils.formatdate(
            stamp if timeval is None else timeval, localtime, usegmt
        ),
    )
    monkeypatch.setattr("botocore.auth.time", types.SimpleNamespace(time=lambda: stamp))
    LOOKED_UP.clear()
    yield


def view(
    method: str = "GET",
    path: str = "/bkt/k",
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    virtual_bucket: str | None = None,
) -> RequestView:
    return RequestView(method, path, query, CIMultiDictProxy(CIMultiDict(headers or [])), virtual_bucket)


async def reject(req: RequestView, now: datetime = NOW) -> S3Error:
    with pytest.raises(S3Error) as caught:
        await authenticate(req, lookup, now=now)
    return caught.value


# --------------------------------------------------------------------------------------------------------
# dispatch
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["", "list-type=2&prefix=a", "uploads", "Expires=123", "x-amz-date=20260101T000000Z", "signature=x"],
)
async def test_anonymous_request(query: str) -> None:
    assert await authenticate(view(query=query, headers=[("Host", "h")]), lookup, now=NOW) is None
    assert LOOKED_UP == []


V4_HEADER = (
    f"AWS4-HMAC-SHA256 Credential={AK}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"
)


@pytest.mark.parametrize(
    ("authorization", "query"),
    [
        (V4_HEADER, "X-Amz-Algorithm=AWS4-HMAC-SHA256"),
        (V4_HEADER, "X-Amz-Signature=00"),
        (V4_HEADER, "Signature=abc"),
        (f"AWS {AK}:abc=", "AWSAccessKeyId=AK&Signature=abc&Expires=1"),
        (f"AWS {AK}:abc=", "X-Amz-Credential=x"),
        (None, "X-Amz-Algorithm=AWS4-HMAC-SHA256&AWSAccessKeyId=AK&Signature=abc"),
    ],
    ids=[
        "v4-header+v4-query",
        "v4-header+signature",
        "v4-header+v2-query",
        "v2-both",
        "v2-header+v4",
        "v4+v2",
    ],
)
async def test_only_one_mechanism(authorization: str | None, query: str) -> None:
    headers = [("Host", "h")] + ([("Authorization", authorization)] if authorization else [])
    error = await reject(view(query=query, headers=headers))
    assert (error.code, error.status) == ("InvalidArgument", 400)
    assert error.message.startswith("Only one auth mechanism allowed")
    assert error.fields["ArgumentName"] == "Authorization"
    assert LOOKED_UP == []


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer token",
        "Basic YWxpY2U6c2VjcmV0",
        "AWS4-ECDSA-P256-SHA256 Credential=x",
        "aws4-hmac-sha256 x",
        "",
    ],
)
async def test_unsupported_authorization_type(authorization: str) -> None:
    error = await reject(view(headers=[("Host", "h"), ("Authorization", authorization)]))
    assert (error.code, error.message, error.status) == (
        "InvalidArgument",
        "Unsupported Authorization Type",
        400,
    )
    assert error.fields["ArgumentValue"] == authorization


async def test_credential_lookup_receives_access_key() -> None:
    req = view(
        headers=[
            ("Host", "h"),
            ("Authorization", "AWS AKIDSOMEONE:c2ln"),
            ("Date", "Thu, 01 Jan 2026 12:00:00 GMT"),
        ]
    )
    error = await reject(req)
    assert error.code == "InvalidAccessKeyId"
    assert LOOKED_UP == ["AKIDSOMEONE"]


async def test_naive_now_is_utc() -> None:
    url = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        config=Config(signature_version="s3v4"),
    ).generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "k"}, ExpiresIn=60)
    split = urlsplit(url)
    req = view(path=split.path, query=split.query, headers=[("Host", split.netloc)])
    result = await authenticate(req, lookup, now=NOW.replace(tzinfo=None))
    assert result is not None
    error = await reject(req, now=(NOW + timedelta(minutes=2)).replace(tzinfo=None))
    assert error.message == "Request has expired"


def test_secrets_stay_out_of_reprs() -> None:
    credential = Credential(AK, SK, "alice")
    assert SK not in repr(credential)
    result = AuthResult(credential, 4, "UNSIGNED-PAYLOAD", "sig", signing_key=b"\x01secret-key")
    assert "secret-key" not in repr(result)


# --------------------------------------------------------------------------------------------------------
# real clients: boto3 (SigV4 and SigV2, path and virtual-hosted style), aws cli presign
# --------------------------------------------------------------------------------------------------------


class _EmptyBody:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""

    def read(self, *_: Any, **__: Any) -> bytes:
        return b""


def capturing_client(signature_version: str, addressing_style: str) -> tuple[Any, list[AWSPreparedRequest]]:
    """A boto3 S3 client whose requests are recorded instead of sent (every answer: 200, empty)."""
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        config=Config(signature_version=signature_version, s3={"addressing_style": addressing_style}),
    )
    sent: list[AWSPreparedRequest] = []

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, 200, {}, _EmptyBody())

    client.meta.events.register("before-send.s3", send)
    return client, sent


def wire_view(request: AWSPreparedRequest) -> RequestView:
    """What the server would see, with the virtual-hosted bucket taken from the Host as the router does."""
    split = urlsplit(request.url)
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        headers.add(name, value.decode("utf-8") if isinstance(value, bytes) else value)
    if "host" not in headers:
        headers["Host"] = split.netloc
    host = split.netloc.split(":")[0]
    virtual_bucket = host.removesuffix(".localhost") if host.endswith(".localhost") else None
    return RequestView(request.method, split.path, split.query, CIMultiDictProxy(headers), virtual_bucket)


KEY = "dir/a b+c%d/ü日本//x/"
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "ListBuckets": ("list_buckets", {}),
    "CreateBucket": ("create_bucket", {"Bucket": "bkt"}),
    "HeadBucket": ("head_bucket", {"Bucket": "bkt"}),
    "GetBucketLocation": ("get_bucket_location", {"Bucket": "bkt"}),
    "ListObjectsV2": ("list_objects_v2", {"Bucket": "bkt", "Prefix": "a/b c", "Delimiter": "/"}),
    "ListObjectVersions": ("list_object_versions", {"Bucket": "bkt", "KeyMarker": "k+1"}),
    "PutObject": (
        "put_object",
        {
            "Bucket": "bkt",
            "Key": KEY,
            "Body": b"hello",
            "ContentType": "text/plain",
            "Metadata": {"n": " a  b "},
        },
    ),
    "GetObject": (
        "get_object",
        {"Bucket": "bkt", "Key": KEY, "Range": "bytes=0-9", "ResponseContentType": "text/plain; x=1"},
    ),
    "CopyObject": (
        "copy_object",
        {"Bucket": "bkt", "Key": "copy", "CopySource": {"Bucket": "src", "Key": KEY}},
    ),
    "CreateMultipartUpload": ("create_multipart_upload", {"Bucket": "bkt", "Key": KEY}),
    "UploadPart": (
        "upload_part",
        {"Bucket": "bkt", "Key": KEY, "UploadId": "u+/=1", "PartNumber": 2, "Body": b"x"},
    ),
    "PutObjectTagging": (
        "put_object_tagging",
        {"Bucket": "bkt", "Key": "k", "Tagging": {"TagSet": [{"Key": "a", "Value": "b c"}]}},
    ),
    "DeleteObjects": (
        "delete_objects",
        {"Bucket": "bkt", "Delete": {"Objects": [{"Key": "a"}, {"Key": "b c"}]}},
    ),
    "DeleteObject": ("delete_object", {"Bucket": "bkt", "Key": "k", "VersionId": "v1+2"}),
}
CLIENTS = [("s3v4", "path"), ("s3v4", "virtual"), ("s3", "path"), ("s3", "virtual")]


@pytest.mark.parametrize(("signature_version", "style"), CLIENTS, ids=[f"{v}-{s}" for v, s in CLIENTS])
@pytest.mark.parametrize("operation", list(CALLS), ids=list(CALLS))
async def test_boto3_requests_authenticate(signature_version: str, style: str, operation: str) -> None:
    client, sent = capturing_client(signature_version, style)
    method, params = CALLS[operation]
    with contextlib.suppress(Exception):  # the empty 200 answer may not parse; only the request matters
        getattr(client, method)(**params)
    assert sent, "the client sent nothing"
    req = wire_view(sent[-1])
    result = await authenticate(req, lookup, now=NOW + timedelta(seconds=3))
    assert result is not None
    assert result.version == (4 if signature_version == "s3v4" else 2)
    assert result.credential.user == "alice"
    if result.version == 4:
        assert result.payload_hash == req.headers["x-amz-content-sha256"]
        assert result.scope == "20260101/us-east-1/s3/aws4_request"
    # ...and the same request replayed with one signed thing changed is refused.
    tampered = RequestView(req.method, req.raw_path + "x", req.raw_query, req.headers, req.virtual_bucket)
    error = await reject(tampered)
    assert error.code == "SignatureDoesNotMatch"


PRESIGNED: dict[str, tuple[str, dict[str, Any], list[tuple[str, str]]]] = {
    "get": ("get_object", {"Bucket": "bkt", "Key": KEY}, []),
    "get-overrides": (
        "get_object",
        {
            "Bucket": "bkt",
            "Key": "k",
            "ResponseContentDisposition": 'attachment; filename="a b.txt"',
            "ResponseContentType": "text/plain",
            "VersionId": "3+4",
        },
        [],
    ),
    "put": ("put_object", {"Bucket": "bkt", "Key": KEY}, []),
    "put-content-type": (
        "put_object",
        {"Bucket": "bkt", "Key": "k", "ContentType": "image/png"},
        [("Content-Type", "image/png")],
    ),
    "upload-part": ("upload_part", {"Bucket": "bkt", "Key": "k", "UploadId": "u/1", "PartNumber": 3}, []),
}


@pytest.mark.parametrize(("signature_version", "style"), CLIENTS, ids=[f"{v}-{s}" for v, s in CLIENTS])
@pytest.mark.parametrize("case", list(PRESIGNED), ids=list(PRESIGNED))
async def test_boto3_presigned_urls(signature_version: str, style: str, case: str) -> None:
    client, _ = capturing_client(signature_version, style)
    method, params, headers = PRESIGNED[case]
    url = client.generate_presigned_url(method, Params=params, ExpiresIn=900)
    split = urlsplit(url)
    host = split.netloc.split(":")[0]
    req = view(
        method="PUT" if method != "get_object" else "GET",
        path=split.path,
        query=split.query,
        headers=[("Host", split.netloc), *headers],
        virtual_bucket="bkt" if host == "bkt.localhost" else None,
    )
    result = await authenticate(req, lookup, now=NOW + timedelta(minutes=14))
    assert result is not None
    assert result.version == (4 if signature_version == "s3v4" else 2)
    assert result.payload_hash == "UNSIGNED-PAYLOAD"
    expired = await reject(req, now=NOW + timedelta(seconds=901))
    assert (expired.code, expired.message) == ("AccessDenied", "Request has expired")


def test_boto3_presigns_v2_by_default() -> None:
    url = boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=AK, aws_secret_access_key=SK
    ).generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "k"})
    assert "AWSAccessKeyId=" in url and "X-Amz-Algorithm" not in url


async def test_aws_cli_presign(monkeypatch: pytest.MonkeyPatch) -> None:
    from awscli.clidriver import create_clidriver

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AK)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SK)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = create_clidriver().main(
            ["s3", "presign", f"s3://bkt/{KEY}", "--endpoint-url", ENDPOINT, "--expires-in", "600"]
        )
    assert code == 0
    split = urlsplit(out.getvalue().strip())
    req = view(path=split.path, query=split.query, headers=[("Host", split.netloc)])
    result = await authenticate(req, lookup, now=NOW + timedelta(minutes=5))
    assert result is not None and result.version == 2
    error = await reject(req, now=NOW + timedelta(seconds=601))
    assert error.message == "Request has expired"


async def test_v4_result_carries_chunk_signing_material() -> None:
    client, sent = capturing_client("s3v4", "path")
    client.put_object(Bucket="bkt", Key="k", Body=b"data")
    result = await authenticate(wire_view(sent[-1]), lookup, now=NOW)
    assert result is not None
    assert result.signing_key == sigv4.derive_signing_key(SK, "20260101", "us-east-1", "s3")
    assert result.amz_date == "20260101T120000Z"
    assert result.credential.is_admin
    # the decoder can chain a chunk signature from the seed with these values alone
    to_sign = sigv4.chunk_string_to_sign(result.amz_date, result.scope, result.signature, sigv4.EMPTY_SHA256)
    assert len(sigv4.sign(result.signing_key, to_sign)) == 64
