"""CopyObject against the live server: within and across buckets, directives, copy-source conditions,
odd keys, copying onto itself, and the CopyObjectResult document."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import S3_NS, client_error, object_path, send
from tests.support.blobs import stored_blobs
from tests.support.server import RunningServer

ODD_KEYS = [
    "with space and+plus.txt",
    "dir/sub dir/ünïcödé ☃.bin",
    "percent%20literal%2F",
    "question?mark#hash&amp=eq;semi",
    "emoji 😀/x",
    "trailing/",
    "  leading spaces",
    "a" * 1000,
]


def error_of(call) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        call()
    return client_error(info.value)


@pytest.fixture
def other_bucket(s3):  # type: ignore[no-untyped-def]
    name = f"copy-dest-{os.getpid()}"
    s3.create_bucket(Bucket=name)
    yield name
    for obj in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


def test_copy_within_and_across_buckets(s3, server: RunningServer, bucket: str, other_bucket: str) -> None:  # type: ignore[no-untyped-def]
    body = os.urandom(3 * 1024 * 1024 + 5)
    s3.put_object(
        Bucket=bucket,
        Key="src",
        Body=body,
        ContentType="image/png",
        Metadata={"camera": "leica"},
        CacheControl="no-cache",
        Tagging="t=1",
    )
    before = stored_blobs(server)
    result = s3.copy_object(Bucket=other_bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert result["CopyObjectResult"]["ETag"] == etag
    assert result["CopyObjectResult"]["LastModified"] > datetime.now(UTC) - timedelta(minutes=1)
    got = s3.get_object(Bucket=other_bucket, Key="dst")
    assert got["Body"].read() == body and got["ETag"] == etag
    # COPY (the default): metadata, representation headers and tags come with the bytes.
    assert got["ContentType"] == "image/png" and got["Metadata"] == {"camera": "leica"}
    assert got["CacheControl"] == "no-cache" and got["TagCount"] == 1
    # The copy has its own blob: deleting the source does not touch it.
    assert len(stored_blobs(server) - before) == 1
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=other_bucket, Key="dst")["Body"].read() == body

    s3.copy_object(Bucket=other_bucket, Key="dst2", CopySource=f"{other_bucket}/dst")
    assert s3.get_object(Bucket=other_bucket, Key="dst2")["Body"].read() == body


def test_copy_result_document(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="src", Body=b"hello", ChecksumAlgorithm="SHA256")
    reply = send(server, "PUT", object_path(bucket, "dst"), headers={"x-amz-copy-source": f"/{bucket}/src"})
    assert reply.status == 200 and reply.headers["Content-Type"] == "application/xml"
    root = reply.xml()
    assert root.tag == f"{S3_NS}CopyObjectResult"
    assert root.findtext(f"{S3_NS}ETag") == f'"{hashlib.md5(b"hello").hexdigest()}"'
    assert root.findtext(f"{S3_NS}LastModified").endswith("Z")
    assert root.findtext(f"{S3_NS}ChecksumSHA256") == "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
    assert root.findtext(f"{S3_NS}ChecksumType") == "FULL_OBJECT"


@pytest.mark.parametrize("key", ODD_KEYS, ids=range(len(ODD_KEYS)))
def test_copy_keys_with_odd_characters(s3, bucket: str, key: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket, "Key": key})
    assert s3.get_object(Bucket=bucket, Key=key + ".copy")["Body"].read() == key.encode()


def test_copy_source_forms(s3, server: RunningServer, bucket: str) -> None:  # type: ignore[no-untyped-def]
    key = "dir/the source+plus ☃"
    s3.put_object(Bucket=bucket, Key=key, Body=b"payload")
    sources = [
        f"{bucket}/{quote(key, safe='/')}",  # '+' sent as %2B
        f"/{bucket}/{quote(key, safe='')}",  # leading slash, '/' encoded
        f"{bucket}/dir/the%20source%2Bplus%20%E2%98%83?versionId=null",
        f"{bucket}/dir/the+source%2Bplus+%E2%98%83",  # '+' reads as a space, as on AWS
    ]
    for i, source in enumerate(sources):
        reply = send(server, "PUT", object_path(bucket, f"copy{i}"), headers={"x-amz-copy-source": source})
        assert reply.status == 200, (source, reply.body)
        assert s3.get_object(Bucket=bucket, Key=f"copy{i}")["Body"].read() == b"payload"
    for source, code, status in [
        (f"{bucket}", "InvalidArgument", 400),
        (f"{bucket}/", "InvalidArgument", 400),
        (f"{bucket}/missing", "NoSuchKey", 404),
        ("no-such-bucket-here/x", "NoSuchBucket", 404),
        (
            f"{bucket}/{quote(key, safe='/')}?versionId=3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            "NoSuchVersion",
            404,
        ),
    ]:
        reply = send(server, "PUT", object_path(bucket, "dst"), headers={"x-amz-copy-source": source})
        assert (reply.status, reply.error_code()) == (status, code), source


def test_metadata_and_tagging_directives(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(
        Bucket=bucket,
        Key="src",
        Body=b"x",
        ContentType="text/plain",
        Metadata={"old": "1"},
        Tagging="keep=yes",
    )
    s3.copy_object(
        Bucket=bucket,
        Key="copy",
        CopySource=f"{bucket}/src",
        Metadata={"ignored": "1"},
        ContentType="ignored/type",
    )
    head = s3.head_object(Bucket=bucket, Key="copy")
    assert head["Metadata"] == {"old": "1"} and head["ContentType"] == "text/plain"

    s3.copy_object(
        Bucket=bucket,
        Key="replaced",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"new": "2"},
        ContentType="application/json",
        TaggingDirective="REPLACE",
        Tagging="fresh=tag&second=",
    )
    head = s3.head_object(Bucket=bucket, Key="replaced")
    assert head["Metadata"] == {"new": "2"} and head["ContentType"] == "application/json"
    tags = s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"]
    assert tags == [{"Key": "fresh", "Value": "tag"}, {"Key": "second", "Value": ""}]
    assert s3.get_object_tagging(Bucket=bucket, Key="copy")["TagSet"] == [{"Key": "keep", "Value": "yes"}]

    s3.copy_object(Bucket=bucket, Key="untagged", CopySource=f"{bucket}/src", TaggingDirective="REPLACE")
    assert s3.get_object_tagging(Bucket=bucket, Key="untagged")["TagSet"] == []

    for header, value in (("x-amz-metadata-directive", "MERGE"), ("x-amz-tagging-directive", "KEEP")):
        code = error_of(
            lambda h=header, v=value: s3.copy_object(  # type: ignore[misc]
                Bucket=bucket,
                Key="bad",
                CopySource=f"{bucket}/src",
                **({"MetadataDirective": v} if h == "x-amz-metadata-directive" else {"TaggingDirective": v}),
            )
        )
        assert code == ("InvalidArgument", 400)


def test_copy_onto_itself_needs_replace(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="self", Body=b"same", Metadata={"v": "1"})
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self")
    assert client_error(info.value) == ("InvalidRequest", 400)
    assert info.value.response["Error"]["Message"] == (
        "This copy request is illegal because it is trying to copy an object to itself without changing the "
        "object's metadata, storage class, website redirect location or encryption attributes."
    )
    s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource=f"{bucket}/self",
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Metadata"] == {"v": "2"} and got["Body"].read() == b"same"
    s3.copy_object(Bucket=bucket, Key="self", CopySource=f"{bucket}/self", StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket=bucket, Key="self")["StorageClass"] == "STANDARD_IA"


def test_copy_source_conditions(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"conditional")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="src")["LastModified"].astimezone(UTC)
    earlier = format_datetime(modified - timedelta(hours=1), usegmt=True)
    later = format_datetime(modified + timedelta(hours=1), usegmt=True)

    def copy(**conditions: object) -> None:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", **conditions)

    copy(CopySourceIfMatch=etag)
    copy(CopySourceIfNoneMatch='"0123456789abcdef0123456789abcdef"')
    copy(CopySourceIfModifiedSince=earlier)
    copy(CopySourceIfUnmodifiedSince=later)
    # If-Match true wins over If-Unmodified-Since false, as RFC 7232 and AWS order them.
    copy(CopySourceIfMatch=etag, CopySourceIfUnmodifiedSince=earlier)
    for conditions in (
        {"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": later},
        {"CopySourceIfUnmodifiedSince": earlier},
        {"CopySourceIfNoneMatch": etag, "CopySourceIfModifiedSince": earlier},
    ):
        assert error_of(lambda c=conditions: copy(**c)) == ("PreconditionFailed", 412), conditions


def test_copy_keeps_a_multipart_source_whole(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    first, second = os.urandom(5 * 1024 * 1024), b"tail"
    etags = [
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=b)["ETag"]
        for n, b in ((1, first), (2, second))
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]},
    )
    result = s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource=f"{bucket}/mp")
    # The copy is written in one piece, so its ETag is the plain MD5.
    assert result["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(first + second).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="mp-copy")["Body"].read() == first + second


def test_copy_into_missing_bucket(s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    assert error_of(
        lambda: s3.copy_object(Bucket="no-such-bucket-here", Key="dst", CopySource=f"{bucket}/src")
    ) == ("NoSuchBucket", 404)


def _copy_source_outcome(
    if_match: bool | None, unmodified: bool | None, none_match: bool | None, modified: bool | None
) -> bool:
    """AWS's rule for x-amz-copy-source-if-*: each header holds or not (None: absent). If-Match, when
    present, decides instead of If-Unmodified-Since, and If-None-Match instead of If-Modified-Since
    (AWS documents the two mixed pairs: match true + unmodified false copies; none-match false +
    modified true is 412)."""
    first = if_match if if_match is not None else unmodified
    second = none_match if none_match is not None else modified
    return first is not False and second is not False


@pytest.mark.parametrize("operation", ["CopyObject", "UploadPartCopy"])
def test_copy_source_conditions_in_every_combination(s3, bucket: str, operation: str) -> None:  # type: ignore[no-untyped-def]
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"conditional")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="src")["LastModified"].astimezone(UTC)
    earlier = format_datetime(modified - timedelta(hours=1), usegmt=True)
    later = format_datetime(modified + timedelta(hours=1), usegmt=True)
    other = '"0123456789abcdef0123456789abcdef"'
    # For each header: the value that makes it hold, and the one that makes it fail.
    values = {
        "CopySourceIfMatch": (etag, other),
        "CopySourceIfUnmodifiedSince": (later, earlier),
        "CopySourceIfNoneMatch": (other, etag),
        "CopySourceIfModifiedSince": (earlier, later),
    }
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    states = (None, True, False)
    try:
        for combo in [(a, b, c, d) for a in states for b in states for c in states for d in states]:
            conditions = {
                name: values[name][0 if holds else 1]
                for name, holds in zip(values, combo, strict=True)
                if holds is not None
            }
            if operation == "CopyObject":
                call = lambda c=conditions: s3.copy_object(  # noqa: E731
                    Bucket=bucket, Key="dst", CopySource=f"{bucket}/src", **c
                )
            else:
                call = lambda c=conditions: s3.upload_part_copy(  # noqa: E731
                    Bucket=bucket,
                    Key="dst",
                    UploadId=upload_id,
                    PartNumber=1,
                    CopySource=f"{bucket}/src",
                    **c,
                )
            if _copy_source_outcome(*combo):
                call()
            else:
                assert error_of(call) == ("PreconditionFailed", 412), combo
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=upload_id)
