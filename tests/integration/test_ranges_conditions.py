"""Range reads (206/416) and conditional reads (RFC 7232 precedence as S3 applies it), GET and HEAD."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import client_error, object_path, response_headers, send
from tests.support.server import RunningServer

DATA = bytes(range(256)) * 4 + b"tail-bytes"  # 1034 bytes, every offset distinguishable
SIZE = len(DATA)
ETAG = hashlib.md5(DATA).hexdigest()


@pytest.fixture
def obj(s3, bucket: str) -> tuple[str, str]:
    s3.put_object(Bucket=bucket, Key="ranged", Body=DATA)
    return bucket, "ranged"


RANGES = [
    pytest.param("bytes=0-9", 0, 9, id="first-ten"),
    pytest.param("bytes=5-", 5, SIZE - 1, id="open-ended"),
    pytest.param("bytes=-3", SIZE - 3, SIZE - 1, id="suffix"),
    pytest.param(f"bytes=1000-{SIZE + 500}", 1000, SIZE - 1, id="end-clamped"),
    pytest.param(f"bytes=-{SIZE + 100}", 0, SIZE - 1, id="suffix-longer-than-object"),
    pytest.param(f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1, id="last-byte"),
    pytest.param("bytes=0-0", 0, 0, id="first-byte"),
]


@pytest.mark.parametrize(("header", "start", "end"), RANGES)
def test_range_get(s3, obj: tuple[str, str], header: str, start: int, end: int) -> None:
    bucket, key = obj
    resp = s3.get_object(Bucket=bucket, Key=key, Range=header)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert resp["Body"].read() == DATA[start : end + 1]
    assert resp["ContentRange"] == f"bytes {start}-{end}/{SIZE}"
    assert resp["ContentLength"] == end - start + 1
    assert resp["ETag"] == f'"{ETAG}"'


@pytest.mark.parametrize(("header", "start", "end"), RANGES)
def test_range_head(s3, obj: tuple[str, str], header: str, start: int, end: int) -> None:
    bucket, key = obj
    resp = s3.head_object(Bucket=bucket, Key=key, Range=header)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert resp["ContentRange"] == f"bytes {start}-{end}/{SIZE}"
    assert resp["ContentLength"] == end - start + 1


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"bytes={SIZE}-", id="start-at-size"),
        pytest.param(f"bytes={SIZE + 10}-{SIZE + 20}", id="start-past-size"),
        pytest.param("bytes=-0", id="empty-suffix"),
    ],
)
def test_range_unsatisfiable(server: RunningServer, s3, obj: tuple[str, str], header: str) -> None:
    bucket, key = obj
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key=key, Range=header)
    assert client_error(info.value) == ("InvalidRange", 416)
    assert info.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == f"bytes */{SIZE}"
    raw = send(server, "GET", object_path(bucket, key), headers={"Range": header})
    assert (raw.status, raw.error_code()) == (416, "InvalidRange")
    assert raw.headers["Content-Range"] == f"bytes */{SIZE}"
    head = send(server, "HEAD", object_path(bucket, key), headers={"Range": header})
    assert head.status == 416
    assert head.body == b""


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("bytes=5-2", id="end-before-start"),
        pytest.param("items=0-3", id="other-unit"),
        pytest.param("bytes=0-1,4-5", id="multiple-ranges"),
        pytest.param("bytes=abc", id="garbage"),
    ],
)
def test_range_ignored_when_invalid_syntax(s3, obj: tuple[str, str], header: str) -> None:
    bucket, key = obj
    resp = s3.get_object(Bucket=bucket, Key=key, Range=header)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Body"].read() == DATA
    assert "ContentRange" not in resp


def test_range_on_empty_object(s3, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")
    assert client_error(info.value) == ("InvalidRange", 416)
    assert info.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */0"


def test_large_range_streams(s3, bucket: str) -> None:
    data = bytes(range(251)) * 8000  # ~2 MB, past the small-read path
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    resp = s3.get_object(Bucket=bucket, Key="big", Range="bytes=100000-1500000")
    assert resp["Body"].read() == data[100000:1500001]
    assert resp["ContentRange"] == f"bytes 100000-1500000/{len(data)}"


# --- conditional reads -------------------------------------------------------------------------------

MATCH = "match"
OTHER = "other"
PAST = "past"
FUTURE = "future"
EXACT = "exact"


def _condition_headers(
    last_modified: datetime, if_match: str | None, if_none_match: str | None, ims: str | None, ius: str | None
) -> dict[str, str]:
    def etag(which: str) -> str:
        return f'"{ETAG}"' if which == MATCH else '"0123456789abcdef0123456789abcdef"'

    def date(which: str) -> str:
        moment = {
            PAST: last_modified - timedelta(days=1),
            FUTURE: last_modified + timedelta(days=1),
            EXACT: last_modified,
        }[which]
        return format_datetime(moment, usegmt=True)

    headers = {}
    if if_match:
        headers["If-Match"] = etag(if_match)
    if if_none_match:
        headers["If-None-Match"] = etag(if_none_match)
    if ims:
        headers["If-Modified-Since"] = date(ims)
    if ius:
        headers["If-Unmodified-Since"] = date(ius)
    return headers


# (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since) → status
CONDITIONS = [
    pytest.param(MATCH, None, None, None, 200, id="if-match-true"),
    pytest.param(OTHER, None, None, None, 412, id="if-match-false"),
    pytest.param(None, MATCH, None, None, 304, id="if-none-match-false"),
    pytest.param(None, OTHER, None, None, 200, id="if-none-match-true"),
    pytest.param(None, None, PAST, None, 200, id="if-modified-since-true"),
    pytest.param(None, None, FUTURE, None, 304, id="if-modified-since-false"),
    pytest.param(None, None, EXACT, None, 304, id="if-modified-since-equal"),
    pytest.param(None, None, None, FUTURE, 200, id="if-unmodified-since-true"),
    pytest.param(None, None, None, EXACT, 200, id="if-unmodified-since-equal"),
    pytest.param(None, None, None, PAST, 412, id="if-unmodified-since-false"),
    pytest.param(MATCH, None, None, PAST, 200, id="if-match-true+if-unmodified-since-false"),
    pytest.param(OTHER, None, None, FUTURE, 412, id="if-match-false+if-unmodified-since-true"),
    pytest.param(None, MATCH, PAST, None, 304, id="if-none-match-false+if-modified-since-true"),
    pytest.param(None, OTHER, FUTURE, None, 200, id="if-none-match-true+if-modified-since-false"),
    pytest.param(MATCH, MATCH, None, None, 304, id="if-match-true+if-none-match-false"),
    pytest.param(OTHER, MATCH, None, None, 412, id="if-match-false+if-none-match-false"),
    pytest.param(None, None, FUTURE, PAST, 412, id="if-unmodified-since-false-wins-over-304"),
]


@pytest.mark.parametrize(("if_match", "if_none_match", "ims", "ius", "status"), CONDITIONS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_conditional_read(
    server: RunningServer,
    s3,
    obj: tuple[str, str],
    method: str,
    if_match: str | None,
    if_none_match: str | None,
    ims: str | None,
    ius: str | None,
    status: int,
) -> None:
    bucket, key = obj
    head = s3.head_object(Bucket=bucket, Key=key)
    last_modified = parsedate_to_datetime(response_headers(head)["last-modified"])
    headers = _condition_headers(last_modified, if_match, if_none_match, ims, ius)
    reply = send(server, method, object_path(bucket, key), headers=headers)
    assert reply.status == status, (headers, reply.status, reply.body[:300])
    assert reply.headers["x-amz-request-id"]
    if status == 200:
        assert reply.headers["ETag"] == f'"{ETAG}"'
        assert reply.headers["Content-Length"] == str(SIZE)
        if method == "GET":
            assert reply.body == DATA
    elif status == 304:
        assert reply.body == b""
        assert reply.headers["ETag"] == f'"{ETAG}"'
    elif method == "GET":
        assert reply.error_code() == "PreconditionFailed"
        assert reply.xml().findtext("Condition")
    else:
        assert reply.body == b""


def test_conditional_read_through_boto3(s3, obj: tuple[str, str]) -> None:
    bucket, key = obj
    head = s3.head_object(Bucket=bucket, Key=key)
    last_modified = head["LastModified"]
    assert s3.get_object(Bucket=bucket, Key=key, IfMatch=f'"{ETAG}"')["Body"].read() == DATA
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key=key, IfMatch='"deadbeef"')
    assert client_error(info.value) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key=key, IfNoneMatch=f'"{ETAG}"')
    assert client_error(info.value) == ("304", 304)
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key=key, IfModifiedSince=last_modified + timedelta(hours=1))
    assert client_error(info.value) == ("304", 304)
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key=key, IfUnmodifiedSince=last_modified - timedelta(hours=1))
    assert client_error(info.value) == ("412", 412)
    resp = s3.get_object(
        Bucket=bucket, Key=key, IfMatch=f'"{ETAG}"', IfUnmodifiedSince=last_modified - timedelta(hours=1)
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    ("value", "status"),
    [
        pytest.param("*", 200, id="star"),
        pytest.param(f'"aaaa", "{ETAG}"', 200, id="list-with-match"),
        pytest.param('"aaaa", "bbbb"', 412, id="list-without-match"),
    ],
)
def test_if_match_forms(server: RunningServer, obj: tuple[str, str], value: str, status: int) -> None:
    bucket, key = obj
    assert send(server, "GET", object_path(bucket, key), headers={"If-Match": value}).status == status


def test_if_none_match_star_is_304(server: RunningServer, obj: tuple[str, str]) -> None:
    bucket, key = obj
    assert send(server, "GET", object_path(bucket, key), headers={"If-None-Match": "*"}).status == 304


def test_condition_and_range_together(server: RunningServer, obj: tuple[str, str]) -> None:
    bucket, key = obj
    ok = send(
        server, "GET", object_path(bucket, key), headers={"If-Match": f'"{ETAG}"', "Range": "bytes=0-3"}
    )
    assert ok.status == 206
    assert ok.body == DATA[:4]
    failed = send(
        server, "GET", object_path(bucket, key), headers={"If-Match": '"nope"', "Range": f"bytes={SIZE}-"}
    )
    assert (failed.status, failed.error_code()) == (412, "PreconditionFailed")


def test_unparseable_date_is_ignored(server: RunningServer, obj: tuple[str, str]) -> None:
    bucket, key = obj
    reply = send(server, "GET", object_path(bucket, key), headers={"If-Modified-Since": "not a date"})
    assert reply.status == 200
